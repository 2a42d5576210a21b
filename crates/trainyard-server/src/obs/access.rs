//! Who may use the OBS/S3 endpoint, and how often: secret keys for `s3s`'s signature checks,
//! then, once a signature holds, the rules AWS and OBS add to it (request time, presigned
//! lifetimes, temporary keys' security tokens), the project's request rate and the size of
//! an object body.

use super::{Caller, Seen};
use crate::http::rate::RateLimits;
use crate::identity::{Identity, S3Key};
use s3s::access::{S3Access, S3AccessContext};
use s3s::{s3_error, S3Result};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

/// How far a signed request's date may be from the server's clock, either way (AWS and OBS:
/// 15 minutes).
pub const MAX_SKEW: Duration = Duration::from_secs(15 * 60);

/// The longest a presigned URL may stay valid (AWS SigV4's limit, 7 days; applied to SigV2's
/// `Expires` too).
pub const MAX_PRESIGNED: Duration = Duration::from_secs(7 * 24 * 3600);

/// Secret keys of the projects' access keys, configured and temporary.
pub struct ObsAuth {
    /// Where keys are looked up.
    pub identity: Arc<Identity>,
}

#[async_trait::async_trait]
impl s3s::auth::S3Auth for ObsAuth {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<s3s::auth::SecretKey> {
        match self.identity.s3_key(access_key, SystemTime::now()) {
            S3Key::Valid { secret, .. } => Ok(String::from_utf8_lossy(&secret).into_owned().into()),
            S3Key::Expired => Err(s3_error!(
                ExpiredToken,
                "The provided token has expired (the temporary access key's duration_seconds has passed)"
            )),
            S3Key::Unknown => Err(s3_error!(InvalidAccessKeyId)),
        }
    }
}

/// The checks of a request whose signature `s3s` has verified.
pub struct ObsAccess {
    /// Where keys are looked up.
    pub identity: Arc<Identity>,
    /// The projects' `requests_per_second`, shared with the API.
    pub rate_limits: Arc<RateLimits>,
    /// Largest body of one PUT or part (`[obs] max_object_bytes`).
    pub max_object_bytes: u64,
}

#[async_trait::async_trait]
impl S3Access for ObsAccess {
    async fn check(&self, cx: &mut S3AccessContext<'_>) -> S3Result<()> {
        let op = cx.s3_op().name().to_owned();
        let Some(access_key) = cx.credentials().map(|c| c.access_key.clone()) else {
            return Err(s3_error!(AccessDenied, "Signature is required"));
        };
        let now = SystemTime::now();
        let (project, token) = match self.identity.s3_key(&access_key, now) {
            S3Key::Valid {
                project,
                security_token,
                ..
            } => (project, security_token),
            S3Key::Expired => {
                return Err(s3_error!(ExpiredToken, "The provided token has expired"))
            }
            S3Key::Unknown => return Err(s3_error!(InvalidAccessKeyId)),
        };
        if let Some(Seen(slot)) = cx.extensions_mut().get::<Seen>() {
            let mut seen = slot.lock().expect("S3 request slot");
            seen.op = Some(op.clone());
            seen.project = Some(project.clone());
        }
        let query = cx.uri().query().unwrap_or("");
        check_time(cx.headers(), query, now)?;
        if let Some(token) = token {
            check_security_token(cx.headers(), query, &token)?;
        }
        if !self.rate_limits.admit(&project) {
            return Err(s3_error!(
                SlowDown,
                "Please reduce your request rate (this project's requests_per_second)"
            ));
        }
        if matches!(op.as_str(), "PutObject" | "UploadPart") {
            let declared = header(cx.headers(), "x-amz-decoded-content-length")
                .or_else(|| header(cx.headers(), "content-length"))
                .and_then(|v| v.parse::<u64>().ok());
            if declared.is_some_and(|n| n > self.max_object_bytes) {
                return Err(too_large(self.max_object_bytes));
            }
        }
        cx.extensions_mut().insert(Caller { project });
        Ok(())
    }
}

/// The refusal of a body over `max` bytes.
pub fn too_large(max: u64) -> s3s::S3Error {
    s3_error!(
        EntityTooLarge,
        "Your proposed upload exceeds the maximum allowed size of {max} bytes ([obs] max_object_bytes); upload larger objects in parts"
    )
}

fn header<'a>(headers: &'a http::HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
}

/// The value of query parameter `name` (case-insensitive), percent-decoded.
fn query_param(query: &str, name: &str) -> Option<String> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(k, _)| k.eq_ignore_ascii_case(name))
        .map(|(_, v)| v.into_owned())
}

fn seconds(t: SystemTime) -> i64 {
    match t.duration_since(SystemTime::UNIX_EPOCH) {
        Ok(d) => i64::try_from(d.as_secs()).unwrap_or(i64::MAX),
        Err(e) => -i64::try_from(e.duration().as_secs()).unwrap_or(i64::MAX),
    }
}

/// A request date: RFC 1123/2822 (`Date`, SigV2's `x-amz-date`) or ISO 8601 basic
/// (`20261206T200000Z`, SigV4's), as Unix seconds.
fn parse_date(text: &str) -> Option<i64> {
    if let Ok(t) = jiff::fmt::rfc2822::DateTimeParser::new().parse_timestamp(text) {
        return Some(t.as_second());
    }
    jiff::fmt::strtime::parse("%Y%m%dT%H%M%SZ", text)
        .ok()?
        .to_datetime()
        .ok()?
        .to_zoned_datetime(jiff::tz::TimeZone::UTC)
        .ok()
        .map(|z| z.timestamp().as_second())
}

/// The request's date is within [`MAX_SKEW`] of `now` (header signatures), and a presigned
/// URL is valid for at most [`MAX_PRESIGNED`].
fn check_time(headers: &http::HeaderMap, query: &str, now: SystemTime) -> S3Result<()> {
    let now = seconds(now);
    let skew = MAX_SKEW.as_secs() as i64;
    let week = MAX_PRESIGNED.as_secs() as i64;
    let too_skewed = || {
        s3_error!(
            RequestTimeTooSkewed,
            "The difference between the request time and the server's time is too large (more than 15 minutes)"
        )
    };
    if let Some(expires) =
        query_param(query, "Expires").filter(|_| query_param(query, "Signature").is_some())
    {
        // SigV2 presigned: `Expires` is an absolute time (s3s refuses it once passed).
        let at: i64 = expires
            .parse()
            .map_err(|_| s3_error!(AuthorizationQueryParametersError, "Expires is not a number"))?;
        if at - now > week {
            return Err(s3_error!(
                AuthorizationQueryParametersError,
                "Expires must be less than a week (604800 seconds) from now"
            ));
        }
        return Ok(());
    }
    if let Some(expires) = query_param(query, "X-Amz-Expires") {
        // SigV4 presigned: s3s checks X-Amz-Date + X-Amz-Expires against the clock.
        let secs: i64 = expires.parse().map_err(|_| {
            s3_error!(
                AuthorizationQueryParametersError,
                "X-Amz-Expires is not a number"
            )
        })?;
        if !(1..=week).contains(&secs) {
            return Err(s3_error!(
                AuthorizationQueryParametersError,
                "X-Amz-Expires must be less than a week (in seconds) that is 604800"
            ));
        }
        return Ok(());
    }
    if query_param(query, "X-Amz-Signature").is_some() {
        return Err(s3_error!(
            AuthorizationQueryParametersError,
            "X-Amz-Expires is required"
        ));
    }
    // Header signatures: SigV2 signs `x-amz-date` when present, else `Date`; SigV4 `x-amz-date`.
    let date = header(headers, "x-amz-date").or_else(|| header(headers, "date"));
    let Some(at) = date.and_then(parse_date) else {
        return Err(s3_error!(
            AccessDenied,
            "AWS authentication requires a valid Date or x-amz-date header"
        ));
    };
    if (now - at).abs() > skew {
        return Err(too_skewed());
    }
    Ok(())
}

/// A temporary key's request carries its security token: `x-amz-security-token` or
/// `x-obs-security-token` (header), `X-Amz-Security-Token` (presigned URL).
fn check_security_token(headers: &http::HeaderMap, query: &str, want: &str) -> S3Result<()> {
    let given = header(headers, "x-amz-security-token")
        .or_else(|| header(headers, "x-obs-security-token"))
        .map(str::to_owned)
        .or_else(|| query_param(query, "X-Amz-Security-Token"));
    let Some(given) = given else {
        return Err(s3_error!(
            InvalidToken,
            "A temporary access key needs its security token (x-amz-security-token or x-obs-security-token)"
        ));
    };
    if bool::from(subtle::ConstantTimeEq::ct_eq(
        given.as_bytes(),
        want.as_bytes(),
    )) {
        Ok(())
    } else {
        Err(s3_error!(
            InvalidToken,
            "The provided token is malformed or otherwise invalid"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> http::HeaderMap {
        let mut h = http::HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, v.parse().unwrap());
        }
        h
    }

    fn code(r: S3Result<()>) -> String {
        r.map_or_else(|e| e.code().as_str().to_owned(), |()| "ok".into())
    }

    #[test]
    fn request_times_and_presigned_lifetimes() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(1_796_500_000);
        let at = |s: i64| jiff::Timestamp::from_second(1_796_500_000 + s).unwrap();
        let v2 = |s| at(s).strftime("%a, %d %b %Y %H:%M:%S GMT").to_string();
        let v4 = |s| at(s).strftime("%Y%m%dT%H%M%SZ").to_string();
        assert_eq!(
            code(check_time(&headers(&[("date", &v2(0))]), "", now)),
            "ok"
        );
        assert_eq!(
            code(check_time(&headers(&[("date", &v2(-899))]), "", now)),
            "ok"
        );
        for s in [-901, 901, -400_000_000] {
            assert_eq!(
                code(check_time(&headers(&[("date", &v2(s))]), "", now)),
                "RequestTimeTooSkewed"
            );
            assert_eq!(
                code(check_time(&headers(&[("x-amz-date", &v4(s))]), "", now)),
                "RequestTimeTooSkewed"
            );
        }
        // x-amz-date wins over Date (it is the one SigV2 signs when present).
        let both = headers(&[("date", &v2(0)), ("x-amz-date", &v2(-3600))]);
        assert_eq!(code(check_time(&both, "", now)), "RequestTimeTooSkewed");
        assert_eq!(code(check_time(&headers(&[]), "", now)), "AccessDenied");
        let v2q = |exp: i64| {
            format!(
                "AWSAccessKeyId=AK&Signature=x&Expires={}",
                1_796_500_000 + exp
            )
        };
        assert_eq!(code(check_time(&headers(&[]), &v2q(604_800), now)), "ok");
        assert_eq!(
            code(check_time(&headers(&[]), &v2q(604_801), now)),
            "AuthorizationQueryParametersError"
        );
        let v4q = |exp: u64| format!("X-Amz-Signature=x&X-Amz-Expires={exp}");
        assert_eq!(code(check_time(&headers(&[]), &v4q(604_800), now)), "ok");
        for bad in [604_801, 4_294_967_295] {
            assert_eq!(
                code(check_time(&headers(&[]), &v4q(bad), now)),
                "AuthorizationQueryParametersError"
            );
        }
    }

    #[test]
    fn temporary_keys_need_their_token() {
        let ok = headers(&[("x-obs-security-token", "tok")]);
        assert_eq!(code(check_security_token(&ok, "", "tok")), "ok");
        assert_eq!(
            code(check_security_token(
                &headers(&[]),
                "X-Amz-Security-Token=tok",
                "tok"
            )),
            "ok"
        );
        assert_eq!(
            code(check_security_token(&headers(&[]), "", "tok")),
            "InvalidToken"
        );
        let wrong = headers(&[("x-amz-security-token", "other")]);
        assert_eq!(
            code(check_security_token(&wrong, "", "tok")),
            "InvalidToken"
        );
    }
}
