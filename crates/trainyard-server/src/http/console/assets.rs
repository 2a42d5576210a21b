//! The console's static files, compiled into the binary so `trainyard serve` alone serves the
//! console, offline (no CDN, no files next to the binary). Vendored libraries come from npm
//! through `scripts/vendor-console-assets.sh`; `cargo build` needs no npm.

use axum::extract::Path;
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};

macro_rules! asset {
    ($path:literal, $content_type:expr) => {
        (
            $path,
            $content_type,
            include_bytes!(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/assets/console/",
                $path
            )) as &[u8],
        )
    };
}

const JS: &str = "text/javascript; charset=utf-8";
const CSS: &str = "text/css; charset=utf-8";

/// `(path below /console/assets/, content type, bytes)`.
const ASSETS: &[(&str, &str, &[u8])] = &[
    asset!("console.css", CSS),
    asset!("icon.svg", "image/svg+xml"),
    asset!("js/lib.js", JS),
    asset!("js/main.js", JS),
    asset!("js/jobs.js", JS),
    asset!("js/job.js", JS),
    asset!("js/log-view.js", JS),
    asset!("js/charts.js", JS),
    asset!("js/config-form.js", JS),
    asset!("js/configs.js", JS),
    asset!("js/viz.js", JS),
    asset!("js/catalog.js", JS),
    asset!("js/v2job.js", JS),
    asset!("js/usage.js", JS),
    asset!("vendor/uPlot.iife.min.js", JS),
    asset!("vendor/uPlot.min.css", CSS),
    asset!("vendor/LICENSE.uPlot", "text/plain; charset=utf-8"),
];

/// The embedded file at `path`, if any.
pub fn find(path: &str) -> Option<(&'static str, &'static [u8])> {
    ASSETS
        .iter()
        .find(|(p, _, _)| *p == path)
        .map(|(_, t, b)| (*t, *b))
}

/// `GET /console/assets/{*file}`: the file with a content hash as `ETag`, revalidated on each
/// use (`no-cache`), so a new binary's assets are picked up at once and unchanged ones cost a
/// 304.
pub async fn serve(Path(file): Path<String>, headers: HeaderMap) -> Response {
    let Some((content_type, bytes)) = find(&file) else {
        return (StatusCode::NOT_FOUND, "no such console asset").into_response();
    };
    let etag = format!("\"{}\"", &hex::encode(Sha256::digest(bytes))[..16]);
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut resp = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        ([(header::CONTENT_TYPE, content_type)], bytes).into_response()
    };
    let h = resp.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    super::harden(&mut resp);
    resp
}

#[cfg(test)]
mod tests {
    #[test]
    fn every_asset_has_a_content_type_of_its_kind() {
        for (path, content_type, bytes) in super::ASSETS {
            assert!(!bytes.is_empty(), "{path} is empty");
            let want = match path.rsplit('.').next() {
                Some("js") => super::JS,
                Some("css") => super::CSS,
                Some("svg") => "image/svg+xml",
                _ => "text/plain; charset=utf-8",
            };
            assert_eq!(*content_type, want, "{path}");
        }
    }
}
