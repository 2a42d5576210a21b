//! The new-version (v2) training API over the one engine: a v2 job is a stored job with
//! exactly one version (`Store::create_v2_job`), run, stopped, logged and measured as any v1
//! version; this module translates the v2 documents to and from it. What each request field
//! does is in `docs/api-v2.md`.

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

/// Annotation keys whose features this server does not serve yet: refused, never ignored.
const REFUSED_ANNOTATIONS: [&str; 10] = [
    "fault-tolerance/job-retry-num",
    "fault-tolerance/job-unconditional-retry",
    "fault-tolerance/hang-retry",
    "fault-tolerance/pod-retry-num",
    "fault-tolerance/hccl_op_retry",
    "jupyter-lab/enable",
    "tensorboard/enable",
    "mindstudio-insight/enable",
    "performance_diagnosis_enabled",
    "record/code-dir",
];

/// v1 field names in the checker's messages, as the v2 request names them.
const V1_NAMES: [(&str, &str); 9] = [
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
fn renamed(e: ApiError) -> V2Error {
    let mut e = V2Error::from(e);
    for (v1, v2) in V1_NAMES {
        e.msg = e.msg.replace(v1, v2);
    }
    e
}

/// The v2 id of an engine of the catalog: its version, lower-cased.
pub fn engine_id(e: &EngineConfig) -> String {
    e.version.to_ascii_lowercase()
}

/// `CPU`, `GPU` or `Ascend`.
fn flavor_type(s: &SpecConfig) -> &'static str {
    if s.gpu_type == ASCEND {
        "Ascend"
    } else if s.gpu_num > 0 {
        "GPU"
    } else {
        "CPU"
    }
}

/// A flavor entry (T2-13); `disk` as a string in job documents, a number in the list.
fn flavor_entry(s: &SpecConfig, in_job: bool) -> Value {
    let mut info = json!({
        "max_num": s.max_num,
        "cpu": {"arch": "x86", "core_num": s.core},
        "memory": {"size": s.cpu, "unit": "GB"},
    });
    match flavor_type(s) {
        "GPU" => {
            info["gpu"] = json!({"unit_num": s.gpu_num, "product_name": s.gpu_type, "memory": ""})
        }
        "Ascend" => {
            info["npu"] =
                json!({"unit_num": s.gpu_num.to_string(), "product_name": s.gpu_type, "memory": ""})
        }
        _ => {}
    }
    let name = match flavor_type(s) {
        "CPU" => format!("Computing CPU({}U) instance", s.core),
        t => format!("Computing {t}({}) instance", s.gpu_type),
    };
    let mut entry = json!({
        "flavor_id": s.spec_code,
        "flavor_name": name,
        "flavor_type": flavor_type(s),
        "billing": {"code": s.spec_code, "unit_num": s.unit_num},
        "flavor_info": info,
        "attributes": {},
    });
    if in_job {
        if let Some(m) = entry.as_object_mut() {
            m.remove("flavor_id");
            m.remove("flavor_name");
            m.remove("attributes");
        }
    } else {
        entry["max_num"] = json!(s.max_num);
    }
    entry
}

/// Removes `null` members everywhere in `v`.
fn strip_nulls(v: &mut Value) {
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
fn text_of(v: &Value) -> Option<String> {
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
fn new_uuid() -> String {
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

/// What a create request resolves to: the run's configuration and what the answer echoes.
struct Resolved {
    config: JobConfig,
    engine: Value,
    flavor: Option<SpecConfig>,
}

impl Service {
    /// Translates a v2 create body into the engine's run configuration; every field either
    /// lands in it or is refused here, naming the field.
    fn resolve_v2(&self, job: &JobV2) -> V2Result<Resolved> {
        if let Some(kind) = job.kind.as_deref().filter(|k| *k != "job") {
            return Err(V2Error::new(
                400,
                "ModelArts.2858",
                format!("Current operation not supported, (kind {kind}: only job)."),
            ));
        }
        if job.tasks.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(V2Error::new(
                400,
                "ModelArts.2858",
                "Current operation not supported, (tasks: heterogeneous jobs).",
            ));
        }
        if job.endpoints.as_ref().is_some_and(|e| !is_empty(e)) {
            return Err(V2Error::param(
                "endpoints",
                "SSH access to tasks is not served by this server",
            ));
        }
        let meta = job.metadata.clone().unwrap_or_default();
        for (key, value) in meta.annotations.iter().flatten() {
            if key == "job_template" {
                return Err(V2Error::new(
                    400,
                    "ModelArts.2858",
                    "Current operation not supported, (metadata.annotations.job_template).",
                ));
            }
            if REFUSED_ANNOTATIONS.contains(&key.as_str()) {
                return Err(V2Error::param(
                    &format!("metadata.annotations.{key}"),
                    "this feature (fault tolerance, tools in the job, diagnosis, code backup) \
                     is not served by this server yet",
                ));
            }
            if text_of(value).is_none() {
                return Err(V2Error::param(
                    &format!("metadata.annotations.{key}"),
                    "annotation values are strings",
                ));
            }
        }
        let alg = job.algorithm.clone().unwrap_or_default();
        if alg.id.is_some() || alg.subscription_id.is_some() || alg.item_version_id.is_some() {
            return Err(V2Error::new(
                400,
                "ModelArts.2755",
                "algorithm not found. (algorithm management is not served: give code_dir and \
                 boot_file with an engine, or engine.image_url with a command)",
            ));
        }
        for (field, set) in [
            ("algorithm.local_code_dir", alg.local_code_dir.is_some()),
            ("algorithm.working_dir", alg.working_dir.is_some()),
        ] {
            if set {
                let code = if field.ends_with("local_code_dir") {
                    "ModelArts.2857"
                } else {
                    "ModelArts.2859"
                };
                return Err(V2Error::new(
                    400,
                    code,
                    format!("The {field} parameter verification failed for reason(the code runs from the run's own folder here; leave it unset)"),
                ));
            }
        }
        if alg.summary.as_ref().is_some_and(|s| !is_empty(s)) {
            return Err(V2Error::param(
                "algorithm.summary",
                "use a visualization job (v1 visualization-jobs) for TensorBoard",
            ));
        }
        if let Some(p) = alg.policies.as_ref() {
            let search = p.get("auto_search").filter(|a| !is_empty(a));
            if search.is_some()
                || p.as_object()
                    .is_some_and(|m| m.keys().any(|k| k != "auto_search"))
            {
                return Err(V2Error::param(
                    "algorithm.policies",
                    "hyper-parameter search is not served",
                ));
            }
        }
        let mut cfg = JobConfig {
            environments: environments(alg.environments.as_ref())?,
            ..JobConfig::default()
        };
        let engine = alg.engine.clone().unwrap_or_default();
        if engine.install_sys_packages == Some(true) {
            return Err(V2Error::param(
                "algorithm.engine.install_sys_packages",
                "no platform packages to install here",
            ));
        }
        if engine.image_repo_id.is_some() {
            return Err(V2Error::param(
                "algorithm.engine.image_repo_id",
                "images are pulled by name from the registries the container runtime knows",
            ));
        }
        let echo_engine;
        match &engine.image_url {
            Some(image) => {
                if engine.engine_id.is_some()
                    || engine.engine_name.is_some()
                    || engine.engine_version.is_some()
                {
                    return Err(V2Error::param(
                        "algorithm.engine.engine_id",
                        "a custom image (image_url) runs its own command; give no preset engine with it",
                    ));
                }
                let command = alg
                    .command
                    .clone()
                    .filter(|c| !c.trim().is_empty())
                    .ok_or_else(|| {
                        V2Error::new(
                            400,
                            "ModelArts.2806",
                            "Custom image jobs command and engine.url cannot be empty.",
                        )
                    })?;
                cfg.user_image_url = Some(image.clone());
                cfg.user_command = Some(command);
                cfg.app_url = alg.code_dir.clone();
                if alg.code_dir.is_some() {
                    cfg.boot_file_url = alg.boot_file.clone();
                } else if alg.boot_file.is_some() {
                    return Err(V2Error::param(
                        "algorithm.boot_file",
                        "a boot file needs its code_dir",
                    ));
                }
                echo_engine = json!({"image_url": image});
            }
            None => {
                if alg.command.is_some() {
                    return Err(V2Error::param(
                        "algorithm.command",
                        "a command is run in a custom image (engine.image_url); a preset engine runs the boot file",
                    ));
                }
                let code_dir = alg
                    .code_dir
                    .clone()
                    .ok_or_else(|| V2Error::param("algorithm.code_dir", "required"))?;
                let boot_file = alg
                    .boot_file
                    .clone()
                    .ok_or_else(|| V2Error::param("algorithm.boot_file", "required"))?;
                let e = self.find_engine(&engine)?;
                cfg.app_url = Some(code_dir);
                cfg.boot_file_url = Some(boot_file);
                cfg.engine_id = Some(e.id);
                echo_engine = json!({
                    "engine_id": engine_id(e),
                    "engine_name": e.name,
                    "engine_version": e.version,
                });
            }
        }
        let mut params = Vec::new();
        for (i, p) in alg.parameters.iter().flatten().enumerate() {
            let name = p
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| {
                    V2Error::param(&format!("algorithm.parameters[{i}].name"), "required")
                })?;
            if params.iter().any(|q: &Parameter| q.label == name) {
                return Err(V2Error::param(
                    &format!("algorithm.parameters[{i}].name"),
                    format!("{name} appears twice"),
                ));
            }
            params.push(Parameter {
                label: name,
                value: p.value.clone().unwrap_or_default(),
            });
        }
        cfg.parameter = (!params.is_empty()).then_some(params);
        for (list, field, name) in [
            (&alg.inputs, "algorithm.inputs", "data_url"),
            (&alg.outputs, "algorithm.outputs", "train_url"),
        ] {
            let list = list.as_deref().unwrap_or_default();
            if list.len() > 1 {
                return Err(V2Error::param(
                    field,
                    format!("one channel, named {name}, is served"),
                ));
            }
            let Some(ch) = list.first() else { continue };
            if ch.name.as_deref() != Some(name) {
                return Err(V2Error::param(
                    &format!("{field}[0].name"),
                    format!("the channel is named {name} here (passed as --{name}=<path>)"),
                ));
            }
            if ch.local_dir.is_some() {
                return Err(V2Error::param(
                    &format!("{field}[0].local_dir"),
                    "the data is in the run's own folder, passed as a parameter; leave it unset",
                ));
            }
            if ch
                .access_method
                .as_deref()
                .is_some_and(|m| m != "parameter")
            {
                return Err(V2Error::param(
                    &format!("{field}[0].access_method"),
                    "only parameter is served",
                ));
            }
            let remote = ch.remote.clone().unwrap_or_default();
            if remote.dataset.as_ref().is_some_and(|d| !is_empty(d)) {
                return Err(V2Error::param(
                    &format!("{field}[0].remote.dataset"),
                    "datasets are not served; give remote.obs.obs_url",
                ));
            }
            let url = remote
                .obs
                .and_then(|o| o.obs_url)
                .filter(|u| !u.is_empty())
                .ok_or_else(|| {
                    V2Error::param(&format!("{field}[0].remote.obs.obs_url"), "required")
                })?;
            if name == "data_url" {
                cfg.data_url = Some(url);
            } else {
                cfg.train_url = Some(url);
            }
        }
        if cfg.data_url.is_none() {
            // An input is optional in v2: the job runs without one.
            cfg.enable_check = Some(false);
        }
        let spec = job.spec.clone().unwrap_or_default();
        if spec.volumes.as_ref().is_some_and(|v| !v.is_empty()) {
            return Err(V2Error::param(
                "spec.volumes",
                "volumes (NFS, PFS, OBS mounts) are not served by the v2 API here",
            ));
        }
        if spec.notification.as_ref().is_some_and(|n| !is_empty(n)) {
            return Err(V2Error::param(
                "spec.notification",
                "notifications are not sent by this server; read the job's events",
            ));
        }
        if spec.custom_metrics.as_ref().is_some_and(|n| !is_empty(n)) {
            return Err(V2Error::param(
                "spec.custom_metrics",
                "custom metrics are not collected by this server",
            ));
        }
        if let Some(log) = &spec.log_export_path {
            if log.host_path.is_some() {
                return Err(V2Error::param(
                    "spec.log_export_path.host_path",
                    "logs are copied to object storage only (obs_url)",
                ));
            }
            cfg.log_url = log.obs_url.clone().filter(|u| !u.is_empty());
        }
        if let Some(stop) = &spec.auto_stop {
            if stop.time_unit.as_deref() != Some("HOURS") {
                return Err(V2Error::param("spec.auto_stop.time_unit", "only HOURS"));
            }
            let hours = stop
                .duration
                .filter(|d| *d >= 1)
                .ok_or_else(|| V2Error::param("spec.auto_stop.duration", "an integer >= 1"))?;
            cfg.max_runtime_seconds = Some(hours.saturating_mul(3600));
        }
        if let Some(policy) = &spec.schedule_policy {
            match policy.priority {
                None | Some(0) | Some(1) => {}
                Some(p @ 2..=3) => {
                    return Err(V2Error::param(
                        "spec.schedule_policy.priority",
                        format!("{p}: jobs start first-in first-out here, so only the default priority 1 is accepted until priorities are served"),
                    ))
                }
                Some(p) => {
                    return Err(V2Error::new(
                        400,
                        "ModelArts.2816",
                        format!("The parameter(spec.schedule_policy.priority) exceeds the upper limit 3 ({p})."),
                    ))
                }
            }
            if policy.preemptible == Some(true) {
                return Err(V2Error::param(
                    "spec.schedule_policy.preemptible",
                    "jobs are not preempted here",
                ));
            }
            for (field, v) in [
                (
                    "spec.schedule_policy.required_affinity",
                    &policy.required_affinity,
                ),
                (
                    "spec.schedule_policy.preferred_affinity",
                    &policy.preferred_affinity,
                ),
            ] {
                if v.as_ref().is_some_and(|v| !is_empty(v)) {
                    return Err(V2Error::param(field, "affinity is not served"));
                }
            }
        }
        let res = spec.resource.clone().unwrap_or_default();
        if res.pool_group_id.is_some() {
            return Err(V2Error::param(
                "spec.resource.pool_group_id",
                "pool federation is not served",
            ));
        }
        if res
            .main_container_customized_flavor
            .as_ref()
            .is_some_and(|v| !is_empty(v))
        {
            return Err(V2Error::param(
                "spec.resource.main_container_customized_flavor",
                "choose a flavor (flavor_id)",
            ));
        }
        let nodes = res.node_count.unwrap_or(1);
        if nodes < 1 {
            return Err(V2Error::new(
                400,
                "ModelArts.2793",
                format!("The number of flavor instances ({nodes}) must be at least 1."),
            ));
        }
        let mut flavor = None;
        match (&res.flavor_id, &res.pool_id) {
            (None, None) => {
                return Err(V2Error::param(
                    "spec.resource.flavor_id",
                    "give a flavor (flavor_id) or a pool (pool_id)",
                ))
            }
            (Some(f), _) => {
                let s = self.catalog.spec_by_code(f).ok_or_else(|| {
                    V2Error::new(400, "ModelArts.2781", format!("Flavor ({f}) not found."))
                })?;
                if nodes > s.max_num {
                    return Err(V2Error::new(
                        400,
                        "ModelArts.2793",
                        format!(
                            "The number of flavor instances ({nodes}) exceeds the maximum ({}).",
                            s.max_num
                        ),
                    ));
                }
                cfg.spec_id = Some(s.spec_id);
                flavor = Some(s.clone());
            }
            (None, Some(_)) => {}
        }
        cfg.pool_id = res.pool_id.clone();
        cfg.worker_server_num = Some(nodes);
        Ok(Resolved {
            config: cfg,
            engine: echo_engine,
            flavor,
        })
    }

    /// The catalog engine an `algorithm.engine` names: `engine_id`, or name and version.
    fn find_engine(&self, e: &trainyard_api::v2::EngineV2) -> V2Result<&EngineConfig> {
        let engines = &self.catalog.engines;
        let found = match (&e.engine_id, &e.engine_name, &e.engine_version) {
            (Some(id), _, _) => engines.iter().find(|x| engine_id(x) == *id),
            (None, Some(n), Some(v)) => engines.iter().find(|x| x.name == *n && x.version == *v),
            (None, Some(_), None) => {
                return Err(V2Error::param(
                    "algorithm.engine.engine_version",
                    "required with engine_name",
                ))
            }
            _ => {
                return Err(V2Error::param(
                    "algorithm.engine",
                    "give engine_id (from the engine list) or engine_name and engine_version",
                ))
            }
        };
        found.ok_or_else(|| {
            let id = e
                .engine_id
                .clone()
                .or_else(|| e.engine_name.clone())
                .unwrap_or_default();
            V2Error::new(
                400,
                "ModelArts.2780",
                format!("AI engine(id:{id}) not found."),
            )
        })
    }

    /// Number of live v2 jobs of the project.
    async fn count_v2(&self, project: &str) -> V2Result<i64> {
        Ok(self.store.list_v2_jobs(project).await?.len() as i64)
    }

    /// Creates a v2 job and queues its run (T2-01).
    pub async fn v2_create(&self, project: &str, body: &[u8]) -> V2Result<Value> {
        let job: JobV2 = parse_body(body)?;
        let meta = job.metadata.clone().unwrap_or_default();
        let name = meta
            .name
            .clone()
            .ok_or_else(|| V2Error::param("metadata.name", "required"))?;
        if !valid_name(&name, 64) || name.contains('.') {
            return Err(V2Error::param(
                "metadata.name",
                "1-64 letters, digits, '_' or '-'",
            ));
        }
        let desc = meta.description.clone().unwrap_or_default();
        if desc.chars().count() > 256 {
            return Err(V2Error::param(
                "metadata.description",
                "at most 256 characters",
            ));
        }
        let workspace = meta
            .workspace_id
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "0".to_owned());
        let resolved = self.resolve_v2(&job)?;
        check_request_fields(&resolved.config, Request::V2Job).map_err(renamed)?;
        let cfg = self
            .checker(project)
            .check(resolved.config, Purpose::Run)
            .map_err(renamed)?;
        let (_, limit) = self.quotas(project);
        if self.count_v2(project).await? >= limit {
            return Err(V2Error::new(
                400,
                "ModelArts.2815",
                "Exceed quota limit of resource(job-num).",
            ));
        }
        self.check_quota(project, false)
            .await
            .map_err(V2Error::from)?;
        // What is echoed: the request as parsed (unknown and response-only fields dropped),
        // with the engine and flavor resolved.
        let mut doc = serde_json::to_value(&job).map_err(ApiError::internal)?;
        strip_nulls(&mut doc);
        doc["kind"] = json!("job");
        if let Some(alg) = doc.get_mut("algorithm").and_then(Value::as_object_mut) {
            alg.insert("engine".into(), resolved.engine.clone());
            alg.insert(
                "environments".into(),
                json!(cfg.environments.clone().unwrap_or_default()),
            );
        } else {
            doc["algorithm"] = json!({"engine": resolved.engine});
        }
        if let Some(f) = &resolved.flavor {
            doc["flavor_code"] = json!(f.spec_code);
        }
        let now = now_ms();
        let staging = self.snapshot(project, &cfg).await.map_err(V2Error::from)?;
        let new_job = NewJob {
            project_id: project.to_owned(),
            name: name.clone(),
            description: desc.clone(),
            workspace_id: workspace,
            create_time: now,
        };
        let v2 = NewV2 {
            uuid: new_uuid(),
            doc: doc.to_string(),
        };
        let first = NewVersion {
            description: desc,
            pre_version_id: None,
            status: JobStatus::INIT,
            config: cfg,
            resource_id: resource_id(),
            run_dir_template: self.run_dir_template(),
            create_time: now,
        };
        let created = match self.store.create_v2_job(&new_job, &v2, &first).await {
            Ok(j) => j,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(match e {
                    trainyard_store::Error::Conflict => V2Error::new(
                        400,
                        "ModelArts.2751",
                        format!("Duplicate training job (name {name})."),
                    ),
                    other => other.into(),
                });
            }
        };
        self.start_version(&staging, &created.version)
            .await
            .map_err(V2Error::from)?;
        Ok(self.v2_document(&created))
    }

    /// A live v2 job of the project, else 2775.
    pub async fn v2_job(&self, project: &str, id: &str) -> V2Result<V2Job> {
        self.store
            .get_v2_job(project, id)
            .await?
            .ok_or_else(|| V2Error::not_found(id))
    }

    /// The job document of T2-01/02/03/07.
    pub fn v2_document(&self, j: &V2Job) -> Value {
        let mut doc: Value = serde_json::from_str(&j.doc).unwrap_or_else(|_| json!({}));
        let stored = doc.as_object_mut().map(std::mem::take).unwrap_or_default();
        let v = &j.version;
        let now = now_ms();
        let (phase, secondary) = phase(v.status);
        let nodes = trainyard_sched::plan::worker_count(v.config.worker_server_num);
        let tasks: Vec<String> = (0..nodes).map(|i| format!("worker-{i}")).collect();
        let mut status = json!({
            "phase": phase,
            "secondary_phase": secondary,
            "duration": trainyard_store::duration_ms(v.start_time, v.end_time, now),
            "start_time": v.start_time.unwrap_or(0),
            "node_count_metrics": Value::Null,
            "tasks": tasks,
        });
        if let Some(start) = v.start_time {
            let mut points = vec![json!([start, nodes])];
            if let Some(end) = v.end_time {
                points.push(json!([end, 0]));
            }
            status["node_count_metrics"] = Value::Array(points);
        }
        if v.status.is_terminal() && v.start_time.is_some() {
            let code = match v.status {
                JobStatus::COMPLETED => 0,
                _ => -1,
            };
            let message = v.failure_reason.clone().unwrap_or_default();
            status["task_statuses"] = Value::Array(
                tasks
                    .iter()
                    .map(|t| json!({"task": t, "exit_code": code, "message": message}))
                    .collect(),
            );
        }
        let mut metadata = stored.get("metadata").cloned().unwrap_or_else(|| json!({}));
        metadata["id"] = json!(j.uuid);
        metadata["name"] = json!(j.job.name);
        metadata["description"] = json!(j.job.description);
        metadata["workspace_id"] = json!(j.job.workspace_id);
        metadata["create_time"] = json!(j.job.create_time);
        metadata["user_name"] = json!("");
        if let Some(a) = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
        {
            for value in a.values_mut() {
                if let Some(t) = text_of(value) {
                    *value = Value::String(t);
                }
            }
        }
        let mut algorithm = stored
            .get("algorithm")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if algorithm.get("environments").is_none() {
            algorithm["environments"] = json!({});
        }
        let mut spec = stored.get("spec").cloned().unwrap_or_else(|| json!({}));
        let mut resource = spec.get("resource").cloned().unwrap_or_else(|| json!({}));
        resource["policy"] = json!("regular");
        resource["node_count"] = json!(nodes);
        let flavor = stored
            .get("flavor_code")
            .and_then(Value::as_str)
            .and_then(|c| self.catalog.spec_by_code(c));
        if let Some(f) = flavor {
            let entry = flavor_entry(f, false);
            resource["flavor_name"] = entry["flavor_name"].clone();
            let mut detail = flavor_entry(f, true);
            if let Some(info) = detail["flavor_info"].as_object_mut() {
                info.insert("disk".into(), json!({"size": "0", "unit": "GB"}));
            }
            resource["flavor_detail"] = detail;
        }
        if let Some(pool) = resource.get("pool_id").and_then(Value::as_str) {
            resource["pool_name"] = json!(pool);
        }
        spec["resource"] = resource;
        json!({
            "kind": "job",
            "metadata": metadata,
            "status": status,
            "algorithm": algorithm,
            "spec": spec,
        })
    }

    /// Shows a job (T2-02).
    pub async fn v2_show(&self, project: &str, id: &str) -> V2Result<Value> {
        Ok(self.v2_document(&self.v2_job(project, id).await?))
    }

    /// Lists jobs with filters, sorting and paging (T2-03).
    pub async fn v2_list(&self, project: &str, body: &[u8], q: &Params) -> V2Result<Value> {
        let s: JobSearchV2 = parse_body(body)?;
        let query_int = |name: &str| -> V2Result<Option<i64>> {
            q.get(name)
                .map(|t| {
                    trainyard_api::lenient::parse_i64(t)
                        .ok_or_else(|| V2Error::query(name, "an integer"))
                })
                .transpose()
        };
        let limit = match s.limit {
            Some(l) => l,
            None => query_int("limit")?.unwrap_or(10),
        };
        let offset = match s.offset {
            Some(o) => o,
            None => query_int("offset")?.unwrap_or(0),
        };
        if !(1..=50).contains(&limit) {
            return Err(V2Error::new(
                400,
                "ModelArts.2764",
                format!("Invalid query parameter (limit {limit}: 1-50)."),
            ));
        }
        if offset < 0 {
            return Err(V2Error::param("offset", "at least 0"));
        }
        let sort_by = s.sort_by.clone().unwrap_or_else(|| "create_time".into());
        if !["create_time", "name", "duration", "phase"].contains(&sort_by.as_str()) {
            return Err(V2Error::new(
                400,
                "ModelArts.2790",
                format!("Unsupported sorting item. ({sort_by})"),
            ));
        }
        let order = s.order.clone().unwrap_or_else(|| "desc".into());
        if order != "desc" && order != "asc" {
            return Err(V2Error::param("order", "desc or asc"));
        }
        if s.tags.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(V2Error::param("tags", "tag filters are not served"));
        }
        if s.host_ips.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(V2Error::param("host_ips", "host filters are not served"));
        }
        let workspace = s
            .workspace_id
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "0".into());
        let train_type = s.train_type.clone().unwrap_or_else(|| "job".into());
        let now = now_ms();
        let all: Vec<V2Job> = self
            .store
            .list_v2_jobs(project)
            .await?
            .into_iter()
            .filter(|j| j.job.workspace_id == workspace)
            .collect();
        let total_all = all.len() as i64;
        let mut conditions = Vec::new();
        for (i, f) in s.filters.iter().flatten().enumerate() {
            let key = f.key.clone().unwrap_or_default();
            let op = f.operator.clone().unwrap_or_default();
            let values: Vec<String> = f
                .value
                .iter()
                .flatten()
                .filter(|v| !v.is_empty())
                .cloned()
                .collect();
            if ![
                "id",
                "name",
                "create_time",
                "phase",
                "algorithm_name",
                "kind",
                "user_id",
                "runtime_type",
            ]
            .contains(&key.as_str())
            {
                return Err(V2Error::new(
                    400,
                    "ModelArts.2807",
                    format!("Unsupported condition key ({key})"),
                ));
            }
            if !["between", "like", "in", "not"].contains(&op.as_str()) {
                return Err(V2Error::new(
                    400,
                    "ModelArts.2808",
                    format!("Unsupported condition operator ({op})"),
                ));
            }
            let raw: Vec<String> = f.value.clone().unwrap_or_default();
            if key == "runtime_type" || values.is_empty() {
                continue;
            }
            if key == "phase" {
                for v in &values {
                    if phase_named(v).is_none() {
                        return Err(V2Error::new(
                            400,
                            "ModelArts.2809",
                            format!("Unsupported condition value ({v})"),
                        ));
                    }
                }
            }
            if key == "create_time" {
                if op != "between" || raw.len() != 2 {
                    return Err(V2Error::new(
                        400,
                        "ModelArts.2809",
                        format!("Unsupported condition value (filters[{i}]: create_time takes between with two values)"),
                    ));
                }
                for v in values.iter() {
                    if trainyard_api::lenient::parse_i64(v).is_none() {
                        return Err(V2Error::new(
                            400,
                            "ModelArts.2809",
                            format!("Unsupported condition value ({v})"),
                        ));
                    }
                }
            }
            conditions.push((key, op, raw, values));
        }
        let holds = |j: &V2Job| -> bool {
            conditions.iter().all(|(key, op, raw, values)| {
                let field: String = match key.as_str() {
                    "id" => j.uuid.clone(),
                    "name" => j.job.name.clone(),
                    "phase" => phase(j.version.status).0.to_owned(),
                    "kind" => "job".to_owned(),
                    "user_id" => String::new(),
                    "algorithm_name" => serde_json::from_str::<Value>(&j.doc)
                        .ok()
                        .and_then(|d| d["algorithm"]["name"].as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                if key == "create_time" {
                    let lo = raw[0].parse::<i64>().unwrap_or(i64::MIN);
                    let hi = raw[1].parse::<i64>().unwrap_or(i64::MAX);
                    return (lo..=hi).contains(&j.job.create_time);
                }
                let norm = |v: &str| -> String {
                    if key == "phase" {
                        phase_named(v).unwrap_or_default().to_owned()
                    } else {
                        v.to_owned()
                    }
                };
                let matches = match op.as_str() {
                    "like" => values
                        .iter()
                        .any(|v| field.to_lowercase().contains(&v.to_lowercase())),
                    _ => values.iter().any(|v| norm(v) == field),
                };
                if op == "not" {
                    !matches
                } else {
                    matches
                }
            })
        };
        let mut items: Vec<V2Job> = if train_type == "ftjob" {
            Vec::new()
        } else {
            all.into_iter().filter(holds).collect()
        };
        items.sort_by(|a, b| {
            let o = match sort_by.as_str() {
                "name" => a.job.name.cmp(&b.job.name),
                "duration" => {
                    trainyard_store::duration_ms(a.version.start_time, a.version.end_time, now).cmp(
                        &trainyard_store::duration_ms(
                            b.version.start_time,
                            b.version.end_time,
                            now,
                        ),
                    )
                }
                "phase" => phase(a.version.status).0.cmp(phase(b.version.status).0),
                _ => a.job.create_time.cmp(&b.job.create_time),
            }
            .then(a.job.id.cmp(&b.job.id));
            if order == "desc" {
                o.reverse()
            } else {
                o
            }
        });
        let count = items.len() as i64;
        let total = if conditions.is_empty() {
            count
        } else {
            total_all
        };
        let page: Vec<Value> = items
            .iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|j| self.v2_document(j))
            .collect();
        Ok(json!({
            "total": total,
            "count": count,
            "limit": limit,
            "offset": offset,
            "sort_by": sort_by,
            "order": order,
            "group_by": s.group_by.unwrap_or_default(),
            "workspace_id": workspace,
            "ai_project": "default-ai-project",
            "train_type": train_type,
            "items": page,
        }))
    }

    /// Changes a job's description (T2-04).
    pub async fn v2_update(&self, project: &str, id: &str, body: &[u8]) -> V2Result<()> {
        let u: JobUpdateV2 = parse_body(body)?;
        let j = self.v2_job(project, id).await?;
        for (field, v) in [
            ("spec", &u.spec),
            ("endpoints", &u.endpoints),
            ("metadata", &u.metadata),
        ] {
            if v.as_ref().is_some_and(|v| !is_empty(v)) {
                return Err(V2Error::param(
                    field,
                    "only the description can be changed here (notifications, priorities, SSH keys and annotations are not served)",
                ));
            }
        }
        let Some(desc) = u.description else {
            return Ok(());
        };
        if desc.chars().count() > 256 {
            return Err(V2Error::param("description", "at most 256 characters"));
        }
        let mut doc: Value = serde_json::from_str(&j.doc).unwrap_or_else(|_| json!({}));
        if !doc["metadata"].is_object() {
            doc["metadata"] = json!({});
        }
        doc["metadata"]["description"] = json!(desc);
        if !self
            .store
            .update_v2_job(project, id, &desc, &doc.to_string())
            .await?
        {
            return Err(V2Error::not_found(id));
        }
        Ok(())
    }

    /// Deletes a job in any phase, stopping it first (T2-05).
    pub async fn v2_delete(&self, project: &str, id: &str) -> V2Result<()> {
        let j = self.v2_job(project, id).await?;
        self.v2_remove(project, &j).await
    }

    async fn v2_remove(&self, project: &str, j: &V2Job) -> V2Result<()> {
        let ids = lifecycle::delete_any_job(&self.run_ctx, project, j.job.id, self.grace).await?;
        self.delete_versions(&ids).await.map_err(V2Error::from)?;
        self.store.purge_empty_jobs().await?;
        Ok(())
    }

    /// Deletes several jobs, all or none (T2-06).
    pub async fn v2_batch_delete(&self, project: &str, body: &[u8]) -> V2Result<()> {
        let b: BatchDeleteV2 = parse_body(body)?;
        let items = b.jobs.unwrap_or_default();
        if items.is_empty() {
            return Err(V2Error::param("jobs", "1-100 jobs"));
        }
        if items.len() > 100 {
            return Err(V2Error::new(
                400,
                "ModelArts.2816",
                "The parameter(jobs) exceeds the upper limit 100.",
            ));
        }
        let mut jobs = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if item.kind.as_deref().is_some_and(|k| k != "job") {
                return Err(V2Error::param(&format!("jobs[{i}].kind"), "only job"));
            }
            let id = item
                .metadata
                .as_ref()
                .and_then(|m| m.id.clone())
                .filter(|id| !id.is_empty())
                .ok_or_else(|| V2Error::param(&format!("jobs[{i}].metadata.id"), "required"))?;
            jobs.push(self.v2_job(project, &id).await?);
        }
        for j in &jobs {
            self.v2_remove(project, j).await?;
        }
        Ok(())
    }

    /// Terminates a job that is creating, pending or running (T2-07).
    pub async fn v2_action(&self, project: &str, id: &str, body: &[u8]) -> V2Result<Value> {
        let a: JobActionV2 = parse_body(body)?;
        let action = a
            .action_type
            .ok_or_else(|| V2Error::param("action_type", "required"))?;
        if action != "terminate" {
            return Err(V2Error::new(
                400,
                "ModelArts.2812",
                format!("Unsupported action type:{action}"),
            ));
        }
        let j = self.v2_job(project, id).await?;
        let stopped = j.version.status.is_stoppable()
            && self
                .begin_stop(&j.version, self.grace)
                .await
                .map_err(V2Error::from)?;
        if !stopped {
            return Err(V2Error::new(
                409,
                "ModelArts.2796",
                "The job cannot be terminated.",
            ));
        }
        self.v2_show(project, id).await
    }

    /// The task index a `worker-N` names, else 2788.
    fn v2_task(j: &V2Job, task: &str) -> V2Result<usize> {
        let n = trainyard_sched::plan::worker_count(j.version.config.worker_server_num);
        task.strip_prefix("worker-")
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < n && task == format!("worker-{i}"))
            .ok_or_else(|| {
                V2Error::param(
                    "task_id",
                    format!("{task}: this job has worker-0..worker-{}", n - 1),
                )
            })
    }

    /// The task instances of the job's run (T2-08): none before it started.
    pub async fn v2_tasks(&self, project: &str, id: &str) -> V2Result<Value> {
        let j = self.v2_job(project, id).await?;
        if j.version.start_time.is_none() {
            return Ok(json!([]));
        }
        let n = trainyard_sched::plan::worker_count(j.version.config.worker_server_num);
        Ok(Value::Array(
            (0..n)
                .map(|i| {
                    json!({"task": format!("worker-{i}"), "ip": "127.0.0.1", "host_ip": "127.0.0.1", "schedule_count": 1})
                })
                .collect(),
        ))
    }

    /// The log file of a task, checked to exist (2818 before it is written).
    pub async fn v2_log_path(
        &self,
        project: &str,
        id: &str,
        task: &str,
    ) -> V2Result<std::path::PathBuf> {
        let j = self.v2_job(project, id).await?;
        let i = Self::v2_task(&j, task)?;
        let path = trainyard_sched::plan::logs_dir(Path::new(&j.version.run_dir))
            .join(trainyard_sched::plan::log_name(&j.job.name, i));
        if !path.is_file() {
            return Err(ApiError::LogFileNotGenerated.into());
        }
        Ok(path)
    }

    /// The end of a task's log (T2-09).
    pub async fn v2_log_preview(&self, project: &str, id: &str, task: &str) -> V2Result<Value> {
        let path = self.v2_log_path(project, id, task).await?;
        let (content, full) =
            tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
                use std::io::{Read, Seek, SeekFrom};
                let mut f = std::fs::File::open(&path)?;
                let full = f.metadata()?.len();
                let from = full.saturating_sub(PREVIEW_BYTES);
                f.seek(SeekFrom::Start(from))?;
                let mut bytes = Vec::new();
                f.take(PREVIEW_BYTES).read_to_end(&mut bytes)?;
                Ok((String::from_utf8_lossy(&bytes).into_owned(), full))
            })
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        Ok(json!({"content": content, "current_size": content.len(), "full_size": full}))
    }

    /// The MAC of a log URL: over what it opens and until when.
    fn v2_log_mac(
        &self,
        project: &str,
        id: &str,
        task: &str,
        expires: i64,
    ) -> hmac::Hmac<sha2::Sha256> {
        use hmac::Mac;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.url_key).expect("HMAC takes any key");
        mac.update(format!("{project}\n{id}\n{task}\n{expires}").as_bytes());
        mac
    }

    /// The query of a temporary log URL (T2-10): valid [`LOG_URL_SECONDS`], on this server.
    pub async fn v2_log_url_query(
        &self,
        project: &str,
        id: &str,
        task: &str,
        content_type: &str,
    ) -> V2Result<String> {
        self.v2_log_path(project, id, task).await?;
        let download = match content_type {
            "text/plain" => false,
            "application/octet-stream" => true,
            other => {
                return Err(V2Error::query(
                    "Content-Type",
                    format!("{other}: text/plain or application/octet-stream"),
                ))
            }
        };
        let expires = now_ms() / 1000 + LOG_URL_SECONDS;
        let sig = {
            use hmac::Mac;
            hex::encode(
                self.v2_log_mac(project, id, task, expires)
                    .finalize()
                    .into_bytes(),
            )
        };
        Ok(format!(
            "expires={expires}&download={download}&signature={sig}"
        ))
    }

    /// The log a temporary URL opens, when its signature holds and it has not expired.
    pub async fn v2_log_raw(
        &self,
        project: &str,
        id: &str,
        task: &str,
        expires: i64,
        signature: &str,
    ) -> V2Result<std::path::PathBuf> {
        use hmac::Mac;
        let fresh = now_ms() / 1000 <= expires;
        let signed = hex::decode(signature).is_ok_and(|sig| {
            self.v2_log_mac(project, id, task, expires)
                .verify_slice(&sig)
                .is_ok()
        });
        if !fresh || !signed {
            return Err(V2Error::new(
                403,
                "ModelArts.0208",
                "The log URL is invalid or has expired; ask for a new one.",
            ));
        }
        self.v2_log_path(project, id, task).await
    }

    /// The usage series of one task (T2-11): one point per sampling interval.
    pub async fn v2_metrics(&self, project: &str, id: &str, task: &str) -> V2Result<Value> {
        let j = self.v2_job(project, id).await?;
        let i = Self::v2_task(&j, task)?;
        let catalog = self.catalog.clone();
        let v = j.version.clone();
        let series = tokio::task::spawn_blocking(move || {
            crate::service::view::system_metrics(&catalog, &v, Some(i))
        })
        .await
        .map_err(ApiError::internal)?;
        let numbers = |name: &str| -> Vec<f64> {
            series[name]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| x.as_str().and_then(|s| s.parse().ok()).unwrap_or(-1.0))
                .collect()
        };
        let cpu = numbers("cpuUsage");
        let n = cpu.len();
        let or_none = |v: Vec<f64>| if v.len() == n { v } else { vec![-1.0; n] };
        Ok(json!({"metrics": [
            {"metric": "cpuUsage", "value": cpu},
            {"metric": "memUsage", "value": or_none(numbers("memUsage"))},
            {"metric": "gpuUtil", "value": or_none(numbers("gpuUtil"))},
            {"metric": "gpuMemUsage", "value": or_none(numbers("gpuMemUsage"))},
            {"metric": "npuUtil", "value": vec![-1.0; n]},
            {"metric": "npuMemUsage", "value": vec![-1.0; n]},
        ]}))
    }

    /// The job's events (T2-12), derived from the times its run recorded.
    pub async fn v2_events(&self, project: &str, id: &str, q: &Params) -> V2Result<Value> {
        let j = self.v2_job(project, id).await?;
        let int = |name: &str, default: i64, min: i64, max: i64| -> V2Result<i64> {
            match q.get(name) {
                None => Ok(default),
                Some(t) => trainyard_api::lenient::parse_i64(t)
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| V2Error::query(name, format!("an integer in [{min},{max}]"))),
            }
        };
        let offset = int("offset", 0, 0, i64::MAX)?;
        let limit = int("limit", 50, 1, 100)?;
        let order = q.get("order").unwrap_or("desc");
        if order != "asc" && order != "desc" {
            return Err(V2Error::query("order", "asc or desc"));
        }
        let window = match (q.get("start_time"), q.get("end_time")) {
            (None, None) => None,
            (Some(s), Some(e)) => {
                let s = trainyard_api::lenient::parse_i64(s)
                    .ok_or_else(|| V2Error::query("start_time", "ms timestamp"))?;
                let e = trainyard_api::lenient::parse_i64(e)
                    .ok_or_else(|| V2Error::query("end_time", "ms timestamp"))?;
                Some((s, e))
            }
            _ => {
                return Err(V2Error::query(
                    "start_time",
                    "start_time and end_time go together",
                ))
            }
        };
        let level = q.get("level").filter(|l| !l.is_empty());
        if let Some(l) = level {
            if !["Info", "Warning", "Error", "Fatal"].contains(&l) {
                return Err(V2Error::query("level", "Info, Warning or Error"));
            }
        }
        let pattern = q.get("pattern").filter(|p| !p.is_empty());
        let source = q.get("source").filter(|p| !p.is_empty());
        let mut events = job_events(&j);
        events.retain(|(t, lvl, src, msg)| {
            window.is_none_or(|(s, e)| (s..=e).contains(t))
                && level.is_none_or(|l| l == *lvl)
                && pattern.is_none_or(|p| msg.contains(p))
                && source.is_none_or(|s| s.eq_ignore_ascii_case(src))
        });
        if order == "desc" {
            events.reverse();
        }
        let total = events.len();
        let page: Vec<Value> = events
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|(t, lvl, src, msg)| json!({"time": rfc3339(t), "level": lvl, "source": src, "message": msg}))
            .collect();
        let (start, end) = window.unwrap_or((j.job.create_time, now_ms()));
        Ok(json!({
            "total": total,
            "limit": limit,
            "offset": offset,
            "order": order,
            "start_time": rfc3339(start),
            "end_time": rfc3339(end),
            "events": page,
        }))
    }

    /// Public flavors (T2-13): the spec catalog.
    pub fn v2_flavors(&self, q: &Params) -> V2Result<Value> {
        let want = q.get("flavor_type").filter(|t| !t.is_empty());
        if let Some(t) = want {
            if !["CPU", "GPU", "Ascend"].contains(&t) {
                return Err(V2Error::query("flavor_type", "CPU, GPU or Ascend"));
            }
        }
        let flavors: Vec<Value> = self
            .catalog
            .specs
            .iter()
            .filter(|s| want.is_none_or(|t| flavor_type(s) == t))
            .map(|s| {
                let mut e = flavor_entry(s, false);
                e["flavor_info"]["disk"] = json!({"size": 0, "unit": "GB"});
                e
            })
            .collect();
        Ok(json!({"total_count": flavors.len(), "flavors": flavors}))
    }

    /// Preset engines (T2-14): the engine catalog.
    pub fn v2_engines(&self) -> Value {
        let items: Vec<Value> = self
            .catalog
            .engines
            .iter()
            .map(|e| {
                let image = e.image.clone().unwrap_or_default();
                json!({
                    "engine_id": engine_id(e),
                    "engine_name": e.name,
                    "engine_version": e.version,
                    "v1_compatible": true,
                    "run_user": "",
                    "image_info": {"cpu_image_url": image, "gpu_image_url": image, "image_version": ""},
                })
            })
            .collect();
        json!({"total": items.len(), "items": items})
    }

    /// The job-count quota (T2-15).
    pub async fn v2_quotas(&self, project: &str, q: &Params) -> V2Result<Value> {
        if let Some(r) = q
            .get("resource")
            .filter(|r| !r.is_empty() && *r != "job-num")
        {
            return Err(V2Error::query("resource", format!("{r}: only job-num")));
        }
        let (_, limit) = self.quotas(project);
        let used = self.count_v2(project).await?;
        Ok(json!({"quotas": [{"resource": "job-num", "quota": limit, "used": used}]}))
    }
}

/// `algorithm.environments`: a map, or an array of maps merged in order; at most 100
/// variables named `[A-Za-z_][A-Za-z0-9_]*`; values are strings (numbers and booleans as text).
fn environments(v: Option<&Value>) -> V2Result<Option<std::collections::BTreeMap<String, String>>> {
    const FIELD: &str = "algorithm.environments";
    let maps: Vec<&serde_json::Map<String, Value>> = match v {
        None | Some(Value::Null) => return Ok(None),
        Some(Value::Object(m)) => vec![m],
        Some(Value::Array(a)) => a
            .iter()
            .map(|m| {
                m.as_object().ok_or_else(|| {
                    V2Error::new(
                        400,
                        "ModelArts.2825",
                        format!("The parameter ({FIELD}) value type error."),
                    )
                })
            })
            .collect::<V2Result<_>>()?,
        Some(_) => {
            return Err(V2Error::new(
                400,
                "ModelArts.2825",
                format!("The parameter ({FIELD}) value type error."),
            ))
        }
    };
    let mut out = std::collections::BTreeMap::new();
    for (key, value) in maps.into_iter().flatten() {
        let good = key.len() <= 8192
            && key.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && key.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !good {
            return Err(V2Error::param(
                &format!("{FIELD}.{key}"),
                "names start with a letter or '_' and have letters, digits and '_' only",
            ));
        }
        let text = text_of(value)
            .filter(|t| t.len() <= 4096 && !t.contains('\0'))
            .ok_or_else(|| {
                V2Error::param(
                    &format!("{FIELD}.{key}"),
                    "a string of at most 4096 characters",
                )
            })?;
        out.insert(key.clone(), text);
    }
    if out.len() > 100 {
        return Err(V2Error::new(
            400,
            "ModelArts.2816",
            format!("The parameter({FIELD}) exceeds the upper limit 100."),
        ));
    }
    Ok((!out.is_empty()).then_some(out))
}

/// Whether a JSON value sets nothing (`null`, `""`, `{}`, `[]`, an object of such).
fn is_empty(v: &Value) -> bool {
    match v {
        Value::Null => true,
        Value::String(s) => s.is_empty(),
        Value::Array(a) => a.iter().all(is_empty),
        Value::Object(m) => m.values().all(is_empty),
        _ => false,
    }
}

/// `2022-11-26T08:03:41+00:00` (UTC) of a ms timestamp.
fn rfc3339(ms: i64) -> String {
    jiff::Timestamp::from_millisecond(ms)
        .map(|t| t.strftime("%Y-%m-%dT%H:%M:%S+00:00").to_string())
        .unwrap_or_default()
}

/// A job's events as (time ms, level, source, message), oldest first: one per transition
/// its run recorded (created, started, ended), each task's start and end beside the job's.
pub fn job_events(j: &V2Job) -> Vec<(i64, &'static str, &'static str, String)> {
    let v = &j.version;
    let n = trainyard_sched::plan::worker_count(v.config.worker_server_num);
    let mut out = vec![(
        j.job.create_time,
        "Info",
        "Job",
        "Training job created.".to_owned(),
    )];
    if let Some(start) = v.start_time {
        out.push((start, "Info", "Job", "Training job is running.".to_owned()));
        for i in 0..n {
            out.push((
                start,
                "Info",
                "Task",
                format!("[worker-{i}] training started."),
            ));
        }
    }
    if v.status == JobStatus::KILLING {
        // No time is stored for the request: the event carries the latest known one.
        let t = v.start_time.unwrap_or(j.job.create_time);
        out.push((t, "Info", "Job", "Training job is terminating.".to_owned()));
    }
    if let Some(end) = v.end_time {
        let reason = v.failure_reason.clone().unwrap_or_default();
        let (level, message) = match phase(v.status).0 {
            "Completed" => ("Info", "Training job completed.".to_owned()),
            "Failed" => (
                "Error",
                format!("Training job failed. {reason}").trim().to_owned(),
            ),
            "Terminated" => ("Info", "Training job terminated.".to_owned()),
            _ => (
                "Error",
                format!("Training job is abnormal. {reason}")
                    .trim()
                    .to_owned(),
            ),
        };
        if v.start_time.is_some() {
            let code = if v.status == JobStatus::COMPLETED {
                "0"
            } else {
                "-1"
            };
            for i in 0..n {
                out.push((
                    end,
                    "Info",
                    "Task",
                    format!("[worker-{i}] Training finished. Exit code {code}."),
                ));
            }
        }
        out.push((end, level, "Job", message));
    }
    out
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
