//! AK/SK request signing (`SDK-HMAC-SHA256`, as the ModelArts / Huawei Cloud SDK signers make
//! it and the server checks it): HMAC-SHA256 with the secret key over the method, the
//! canonical path and query, the signed headers (`host`, `x-sdk-date`) and the body's SHA-256.

use trainyard_api::signature::{
    self, canonical_request, sha256_hex, string_to_sign, SignedRequest,
};

/// An access key pair; `Debug` never shows the secret.
#[derive(Clone)]
pub struct AccessKey {
    /// Access key id.
    pub ak: String,
    /// Secret key.
    pub sk: String,
}

impl std::fmt::Debug for AccessKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AccessKey")
            .field("ak", &self.ak)
            .finish_non_exhaustive()
    }
}

/// Adds `Host`, `X-Sdk-Date` and `Authorization` to `req` (its body must be in memory).
pub fn sign(req: &mut reqwest::Request, key: &AccessKey) {
    let date = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let url = req.url().clone();
    let host = match url.port() {
        Some(port) => format!("{}:{port}", url.host_str().unwrap_or_default()),
        None => url.host_str().unwrap_or_default().to_owned(),
    };
    let body = req.body().and_then(|b| b.as_bytes()).unwrap_or_default();
    let request = SignedRequest {
        method: req.method().as_str(),
        path: url.path(),
        query: url.query().unwrap_or(""),
        headers: vec![
            ("host".into(), host.clone()),
            ("x-sdk-date".into(), date.clone()),
        ],
        body_hash: sha256_hex(body),
    };
    let to_sign = string_to_sign(&canonical_request(&request), &date);
    let signature = signature::sign(key.sk.as_bytes(), &to_sign);
    let headers = req.headers_mut();
    let mut set = |name: &'static str, value: String| {
        if let Ok(v) = reqwest::header::HeaderValue::from_str(&value) {
            headers.insert(name, v);
        }
    };
    set("host", host);
    set("x-sdk-date", date);
    set(
        "authorization",
        format!(
            "SDK-HMAC-SHA256 Access={}, SignedHeaders=host;x-sdk-date, Signature={signature}",
            key.ak
        ),
    );
}
