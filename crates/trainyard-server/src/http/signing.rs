//! AK/SK request signatures, `SDK-HMAC-SHA256` as the Huawei Cloud / API Gateway SDK signers
//! compute them : pure functions, no HTTP types.
//!
//! ```text
//! CanonicalRequest = METHOD \n CanonicalURI \n CanonicalQuery \n CanonicalHeaders \n SignedHeaders \n hex(sha256(body))
//! StringToSign     = "SDK-HMAC-SHA256" \n X-Sdk-Date \n hex(sha256(CanonicalRequest))
//! Signature        = hex(hmac_sha256(SK, StringToSign))
//! Authorization: SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex
//! ```

use hmac::{Hmac, Mac};
use sha2::Sha256;
pub use trainyard_api::signature::{
    canonical_request, sha256_hex, sign, string_to_sign, SignedRequest, ALGORITHM, EMPTY_HASH,
};

/// Largest accepted distance between `X-Sdk-Date` and the server clock, in seconds.
pub const MAX_SKEW_SECS: i64 = 15 * 60;

/// A parsed `Authorization` header.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Authorization {
    /// Access key id (`Access=` or the first part of `Credential=`).
    pub access_key: String,
    /// Lower-case header names, in the order given.
    pub signed_headers: Vec<String>,
    /// Hex signature as sent.
    pub signature: String,
}

/// Why a signature is refused; the HTTP layer maps each to its ModelArts code.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
pub enum SignError {
    /// `Authorization` or `X-Sdk-Date` cannot be parsed.
    #[error("malformed authorization: {0}")]
    Malformed(&'static str),
    /// `X-Sdk-Date` further than [`MAX_SKEW_SECS`] from now.
    #[error("signature expired")]
    Expired,
    /// The signature does not match.
    #[error("signature mismatch")]
    Mismatch,
}

/// Parses `SDK-HMAC-SHA256 Access=AK, SignedHeaders=a;b, Signature=hex` (also
/// `Credential=AK/date//service/sdk_request` instead of `Access=`).
pub fn parse_authorization(value: &str) -> Result<Authorization, SignError> {
    let rest = value
        .trim()
        .strip_prefix(ALGORITHM)
        .ok_or(SignError::Malformed("unknown algorithm"))?;
    if !rest.starts_with(' ') {
        return Err(SignError::Malformed("unknown algorithm"));
    }
    let (mut ak, mut headers, mut sig) = (None, None, None);
    for part in rest.split(',') {
        let (k, v) = part
            .trim()
            .split_once('=')
            .ok_or(SignError::Malformed("field without '='"))?;
        let v = v.trim();
        match k.trim() {
            "Access" => ak = Some(v.to_owned()),
            "Credential" => ak = v.split('/').next().map(str::to_owned),
            "SignedHeaders" => {
                headers = Some(
                    v.split(';')
                        .map(|h| h.trim().to_ascii_lowercase())
                        .collect::<Vec<_>>(),
                )
            }
            "Signature" => sig = Some(v.to_owned()),
            _ => return Err(SignError::Malformed("unknown field")),
        }
    }
    let access_key = ak
        .filter(|a| !a.is_empty())
        .ok_or(SignError::Malformed("no access key"))?;
    let signed_headers = headers
        .filter(|h| !h.is_empty() && h.iter().all(|n| !n.is_empty()))
        .ok_or(SignError::Malformed("no signed headers"))?;
    let signature = sig
        .filter(|s| !s.is_empty())
        .ok_or(SignError::Malformed("no signature"))?;
    Ok(Authorization {
        access_key,
        signed_headers,
        signature,
    })
}

/// Seconds since the Unix epoch of `YYYYMMDDTHHMMSSZ` (UTC).
pub fn parse_sdk_date(s: &str) -> Result<i64, SignError> {
    let bad = || SignError::Malformed("X-Sdk-Date must be YYYYMMDDTHHMMSSZ");
    // jiff's %Y also reads signs and other widths; the header has exactly this shape.
    if s.len() != 16
        || !s
            .bytes()
            .enumerate()
            .all(|(i, c)| matches!((i, c), (8, b'T') | (15, b'Z')) || c.is_ascii_digit())
    {
        return Err(bad());
    }
    let civil = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", s).map_err(|_| bad())?;
    let zoned = civil
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .map_err(|_| bad())?;
    Ok(zoned.timestamp().as_second())
}

/// Verifies `auth` over `req` with `secret`, `date` being the `X-Sdk-Date` value and `now` the
/// server clock (seconds since the epoch).
pub fn verify(
    auth: &Authorization,
    req: &SignedRequest<'_>,
    date: &str,
    secret: &[u8],
    now: i64,
) -> Result<(), SignError> {
    let t = parse_sdk_date(date)?;
    if (now - t).abs() > MAX_SKEW_SECS {
        return Err(SignError::Expired);
    }
    let signature = hex::decode(auth.signature.trim()).map_err(|_| SignError::Mismatch)?;
    let mut mac = Hmac::<Sha256>::new_from_slice(secret).expect("HMAC takes keys of any length");
    mac.update(string_to_sign(&canonical_request(req), date).as_bytes());
    // Constant time (the `Mac` trait's own comparison).
    mac.verify_slice(&signature)
        .map_err(|_| SignError::Mismatch)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn authorization_header_forms() {
        let a = parse_authorization(
            "SDK-HMAC-SHA256 Access=AK1, SignedHeaders=host;x-sdk-date, Signature=ab12",
        )
        .unwrap();
        assert_eq!(a.access_key, "AK1");
        assert_eq!(a.signed_headers, vec!["host", "x-sdk-date"]);
        assert_eq!(a.signature, "ab12");
        let a = parse_authorization(
            "SDK-HMAC-SHA256 Credential=ZIRRKMTWPTQFQI1WKNKB/20150907//ec2/sdk_request, SignedHeaders=content-type;host;x-sdk-date, Signature=5574",
        )
        .unwrap();
        assert_eq!(a.access_key, "ZIRRKMTWPTQFQI1WKNKB");
        for bad in [
            "Bearer x",
            "SDK-HMAC-SHA256",
            "SDK-HMAC-SHA256 Access=a",
            "SDK-HMAC-SHA256x Access=a, SignedHeaders=h, Signature=s",
        ] {
            assert!(
                matches!(parse_authorization(bad), Err(SignError::Malformed(_))),
                "{bad}"
            );
        }
    }

    #[test]
    fn sdk_dates() {
        assert_eq!(parse_sdk_date("19700101T000000Z").unwrap(), 0);
        assert_eq!(parse_sdk_date("20190307T101459Z").unwrap(), 1_551_953_699);
        assert_eq!(parse_sdk_date("20240229T235959Z").unwrap(), 1_709_251_199);
        for bad in [
            "2019-03-07T10:14:59Z",
            "20190307T101459",
            "20191307T101459Z",
            "2019030xT101459Z",
            "",
        ] {
            assert!(parse_sdk_date(bad).is_err(), "{bad}");
        }
    }

    /// A vector computed independently with Python's hashlib/hmac following the
    /// huaweicloudsdkcore `Signer` (see the `python_sdk` integration test for the live check).
    #[test]
    fn known_vector() {
        let body = br#"{"job_desc": "x"}"#;
        let req = SignedRequest {
            method: "PUT",
            path: "/v1/proj-a/training-jobs/7",
            query: "",
            headers: vec![
                ("content-type".into(), "application/json".into()),
                ("host".into(), "127.0.0.1:8600".into()),
                ("x-sdk-date".into(), "20240102T030405Z".into()),
            ],
            body_hash: sha256_hex(body),
        };
        let canonical = canonical_request(&req);
        assert_eq!(
            canonical,
            format!(
                "PUT\n/v1/proj-a/training-jobs/7/\n\ncontent-type:application/json\nhost:127.0.0.1:8600\nx-sdk-date:20240102T030405Z\n\ncontent-type;host;x-sdk-date\n{}",
                sha256_hex(body)
            )
        );
        let sig = sign(b"secret", &string_to_sign(&canonical, "20240102T030405Z"));
        assert_eq!(
            sig,
            "4ec17c5a474d0972a41754fa3f0ca423835332dc6f91e16ce95775654d03b84f"
        );
        let auth = Authorization {
            access_key: "AK".into(),
            signed_headers: vec![],
            signature: sig.clone(),
        };
        let now = parse_sdk_date("20240102T030405Z").unwrap();
        assert_eq!(
            verify(&auth, &req, "20240102T030405Z", b"secret", now),
            Ok(())
        );
        assert_eq!(
            verify(&auth, &req, "20240102T030405Z", b"secret", now + 16 * 60),
            Err(SignError::Expired)
        );
        assert_eq!(
            verify(&auth, &req, "20240102T030405Z", b"secret", now - 16 * 60),
            Err(SignError::Expired)
        );
        assert_eq!(
            verify(&auth, &req, "20240102T030405Z", b"other", now),
            Err(SignError::Mismatch)
        );
        assert_eq!(
            verify(&auth, &req, "20240102T030406Z", b"secret", now),
            Err(SignError::Mismatch)
        );
    }

    #[test]
    fn hmac_rfc4231_case_2() {
        assert_eq!(
            sign(b"Jefe", "what do ya want for nothing?"),
            "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843"
        );
    }
}
