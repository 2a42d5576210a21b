//! The new-version (v2) training API over the one engine: a v2 job is a stored job with
//! exactly one version (`Store::create_v2_job`), run, stopped, logged and measured as any v1
//! version; this module translates the v2 documents to and from it. What each request field
//! does is in `docs/api-v2.md`.

mod algorithms;
mod catalog;
mod document;
mod jobs;
mod resolve;
mod search;
mod tags;
mod tasks;

use crate::catalog::ASCEND;
use crate::config::{EngineConfig, SpecConfig};
use crate::error::{ApiError, V2Error, V2Result};
use crate::service::lifecycle;
use crate::service::query::Params;
use crate::service::validate::{check_request_fields, Purpose, Request};
use crate::service::Service;
use crate::util::{now_ms, resource_id, valid_name};
use serde_json::{json, Value};
use std::path::Path;
use trainyard_api::training::{JobConfig, Parameter};
use trainyard_api::v2::{
    phase, phase_named, BatchDeleteV2, JobActionV2, JobSearchV2, JobUpdateV2, JobV2,
};
use trainyard_api::JobStatus;
use trainyard_store::{NewJob, NewV2, NewVersion, V2Job};

/// Most bytes of a log a preview returns (its end).
pub const PREVIEW_BYTES: u64 = 5 * 1024 * 1024;

/// How long a log URL of T2-10 stays valid.
pub const LOG_URL_SECONDS: i64 = 300;

/// v1 field names in the checker's messages, as the v2 request names them.
pub(super) const V1_NAMES: [(&str, &str); 9] = [
    ("boot_file_url", "algorithm.boot_file"),
    ("app_url", "algorithm.code_dir"),
    ("user_image_url", "algorithm.engine.image_url"),
    ("user_command", "algorithm.command"),
    ("worker_server_num", "spec.resource.node_count"),
    ("log_url", "spec.log_export_path.obs_url"),
    ("max_runtime_seconds", "spec.auto_stop"),
    ("engine_id", "algorithm.engine.engine_id"),
    ("spec_id", "spec.resource.flavor_id"),
];

/// An error of the v1 checker, naming the v2 fields.
pub(super) fn renamed(e: ApiError) -> V2Error {
    let mut e = V2Error::from(e);
    for (v1, v2) in V1_NAMES {
        e.msg = e.msg.replace(v1, v2);
    }
    // The host_path volumes the v2 nfs volumes became.
    if e.msg.contains(".host_path.") {
        e.msg = e
            .msg
            .replace("volumes[", "spec.volumes[")
            .replace(
                ".host_path.src_path",
                ".nfs.nfs_server_path (the export's host folder)",
            )
            .replace(".host_path.dest_path", ".nfs.local_path");
    }
    e
}

/// Removes `null` members everywhere in `v`.
pub(super) fn strip_nulls(v: &mut Value) {
    match v {
        Value::Object(m) => {
            m.retain(|_, x| !x.is_null());
            m.values_mut().for_each(strip_nulls);
        }
        Value::Array(a) => a.iter_mut().for_each(strip_nulls),
        _ => {}
    }
}

/// A string, or a number/bool as its text (map values of annotations and environments).
pub(super) fn text_of(v: &Value) -> Option<String> {
    match v {
        Value::String(s) => Some(s.clone()),
        Value::Number(n) => Some(n.to_string()),
        Value::Bool(b) => Some(b.to_string()),
        _ => None,
    }
}

/// A v2 body: not JSON or not an object -> 2787; a known field of the wrong type -> 2825.
pub fn parse_body<T: serde::de::DeserializeOwned + Default>(bytes: &[u8]) -> V2Result<T> {
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    let value: Value = serde_json::from_slice(bytes)
        .map_err(|_| V2Error::new(400, "ModelArts.2787", "Invalid JSON request body."))?;
    if value.is_null() {
        return Ok(T::default());
    }
    if !value.is_object() {
        return Err(V2Error::new(
            400,
            "ModelArts.2787",
            "Invalid JSON request body.",
        ));
    }
    serde_json::from_value(value).map_err(|e| {
        V2Error::new(
            400,
            "ModelArts.2825",
            format!("The parameter ({e}) value type error."),
        )
    })
}

/// A fresh UUID (version 4) as text.
pub(super) fn new_uuid() -> String {
    let mut b: [u8; 16] = rand::random();
    b[6] = (b[6] & 0x0f) | 0x40;
    b[8] = (b[8] & 0x3f) | 0x80;
    let h = hex::encode(b);
    format!(
        "{}-{}-{}-{}-{}",
        &h[0..8],
        &h[8..12],
        &h[12..16],
        &h[16..20],
        &h[20..32]
    )
}

/// Whether a JSON value sets nothing (`null`, `""`, `{}`, `[]`, an object of such).
pub(super) fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(is_empty),
        Value::Object(m) => m.values().all(is_empty),
        _ => false,
    }
}

/// `2022-11-26T08:03:41+00:00` (UTC) of a ms timestamp.
pub(super) fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string())
        .unwrap_or_default()
}

impl Service {
    /// Number of live v2 jobs of the project.
    pub(super) async fn count_v2(&self, project: &str) -> V2Result<i64> {
        Ok(self.store.list_v2_jobs(project).await?.len() as i64)
    }

    /// A live v2 job of the project, else 2775.
    pub async fn v2_job(&self, project: &str, id: &str) -> V2Result<V2Job> {
        self.store
            .get_v2_job(project, id)
            .await?
            .ok_or_else(|| V2Error::not_found(id))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_in_utc() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00+00:00");
        assert_eq!(rfc3339(1_669_449_696_964), "2022-11-26T08:01:36+00:00");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00+00:00");
    }

    #[test]
    fn uuids_are_version_4() {
        let u = new_uuid();
        assert_eq!(u.len(), 36);
        assert_eq!(&u[14..15], "4");
        assert_ne!(u, new_uuid());
    }

    #[test]
    fn bodies_are_objects_of_the_right_types() {
        assert_eq!(
            parse_body::<JobV2>(b"[1]").unwrap_err().code,
            "ModelArts.2787"
        );
        assert_eq!(
            parse_body::<JobV2>(b"{").unwrap_err().code,
            "ModelArts.2787"
        );
        let e = parse_body::<JobV2>(br#"{"metadata": 5}"#).unwrap_err();
        assert_eq!(e.code, "ModelArts.2825");
        assert!(parse_body::<JobV2>(b"").is_ok());
    }
}
