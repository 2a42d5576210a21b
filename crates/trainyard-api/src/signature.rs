//! The `SDK-HMAC-SHA256` request signature, as the Huawei Cloud / API Gateway
//! SDK signers compute it: the canonical request and the signature, shared by the server
//! (which checks signatures) and the client (which makes them), so both always agree.
//!
//! ```text
//! CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n hex(sha256(body))
//! StringToSign     = "SDK-HMAC-SHA256" \n X-Sdk-Date \n hex(sha256(CanonicalRequest))
//! Signature        = hex(hmac_sha256(SK, StringToSign))
//! ```

use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// The one algorithm accepted.
pub const ALGORITHM: &str = "SDK-HMAC-SHA256";
/// SHA-256 of an empty body, hex.
pub const EMPTY_HASH: &str = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855";

/// Every byte but `A-Za-z0-9-._~` is escaped (Python's `quote(s, safe='~')`, RFC 3986
/// unreserved characters kept).
const ESCAPED: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'.')
    .remove(b'_')
    .remove(b'~');

fn encode(bytes: &[u8]) -> String {
    percent_encoding::percent_encode(bytes, ESCAPED).to_string()
}

/// Decodes `%XX` (a malformed escape stays as written); `+` is not a space.
fn decode(s: &str) -> Vec<u8> {
    percent_encoding::percent_decode_str(s).collect()
}

/// The canonical URI: each segment decoded then encoded, always ending in `/`.
pub fn canonical_uri(path: &str) -> String {
    let mut uri = path
        .split('/')
        .map(|seg| encode(&decode(seg)))
        .collect::<Vec<_>>()
        .join("/");
    if !uri.ends_with('/') {
        uri.push('/');
    }
    uri
}

/// The canonical query: pairs decoded, sorted by name then value, encoded, joined by `&`.
pub fn canonical_query(query: &str) -> String {
    let mut pairs: Vec<(Vec<u8>, Vec<u8>)> = query
        .split('&')
        .filter(|p| !p.is_empty())
        .map(|p| match p.split_once('=') {
            Some((k, v)) => (decode(k), decode(v)),
            None => (decode(p), Vec::new()),
        })
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{}={}", encode(k), encode(v)))
        .collect::<Vec<_>>()
        .join("&")
}

/// Hex SHA-256.
pub fn sha256_hex(data: &[u8]) -> String {
    hex::encode(Sha256::digest(data))
}

/// The parts of a request a signature covers.
pub struct SignedRequest<'a> {
    /// HTTP method.
    pub method: &'a str,
    /// Path as sent (before any normalization).
    pub path: &'a str,
    /// Raw query string (without `?`), empty if none.
    pub query: &'a str,
    /// `(lower-case name, value)` of every signed header, in `SignedHeaders` order.
    pub headers: Vec<(String, String)>,
    /// Hex SHA-256 of the body ([`EMPTY_HASH`] when empty).
    pub body_hash: String,
}

/// The canonical request text.
pub fn canonical_request(r: &SignedRequest<'_>) -> String {
    let headers: String = r
        .headers
        .iter()
        .map(|(k, v)| format!("{k}:{}\n", v.trim()))
        .collect();
    let names = r
        .headers
        .iter()
        .map(|(k, _)| k.as_str())
        .collect::<Vec<_>>()
        .join(";");
    format!(
        "{}\n{}\n{}\n{}\n{}\n{}",
        r.method.to_ascii_uppercase(),
        canonical_uri(r.path),
        canonical_query(r.query),
        headers,
        names,
        r.body_hash
    )
}

/// The string to sign for `date` (`X-Sdk-Date`).
pub fn string_to_sign(canonical: &str, date: &str) -> String {
    format!("{ALGORITHM}\n{date}\n{}", sha256_hex(canonical.as_bytes()))
}

/// Hex HMAC-SHA256 of `data` under `secret`.
pub fn sign(secret: &[u8], data: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(data.as_bytes());
    hex::encode(mac.finalize().into_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn canonical_uri_always_ends_in_slash_and_encodes_segments() {
        assert_eq!(canonical_uri("/v1/p/training-jobs"), "/v1/p/training-jobs/");
        assert_eq!(
            canonical_uri("/v1/p/training-jobs/"),
            "/v1/p/training-jobs/"
        );
        assert_eq!(canonical_uri("/a b/c%20d/e~f"), "/a%20b/c%20d/e~f/");
        assert_eq!(canonical_uri("/x%2fy"), "/x%2Fy/");
        assert_eq!(canonical_uri("/"), "/");
    }

    #[test]
    fn canonical_query_sorts_and_encodes() {
        assert_eq!(canonical_query(""), "");
        assert_eq!(canonical_query("b=2&a=1&a=0"), "a=0&a=1&b=2");
        assert_eq!(canonical_query("q=a b&flag"), "flag=&q=a%20b");
        assert_eq!(canonical_query("q=a%20b*"), "q=a%20b%2A");
        assert_eq!(
            canonical_query("sortBy=create_time&order=asc"),
            "order=asc&sortBy=create_time"
        );
    }
}
