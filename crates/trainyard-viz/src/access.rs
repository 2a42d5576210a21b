//! Who may open a job's UI: the per-job secret of `service_url`, and the HttpOnly,
//! path-scoped cookie the proxy trades it for on the first visit.

use http::HeaderMap;

/// Query parameter of `service_url` that carries the secret.
pub const SECRET_PARAM: &str = "trainyard_secret";

/// A new random secret: 32 hex characters.
pub fn new_secret() -> String {
    hex::encode(rand::random::<[u8; 16]>())
}

/// Name of the cookie of job `id`.
pub fn cookie_name(id: i64) -> String {
    format!("trainyard_viz_{id}")
}

/// The `Set-Cookie` value for job `id`, scoped to `path` (the job's public path, with a
/// trailing slash); `secure` when the UI is served over HTTPS, so the browser never sends it
/// in clear.
pub fn set_cookie(id: i64, secret: &str, path: &str, secure: bool) -> String {
    cookie::Cookie::build((cookie_name(id), secret))
        .path(path)
        .http_only(true)
        .same_site(cookie::SameSite::Lax)
        .secure(secure)
        .build()
        .to_string()
}

/// The value of cookie `name` in the request's `Cookie` headers.
pub fn cookie<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers
        .get_all(http::header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(cookie::Cookie::split_parse)
        .filter_map(Result::ok)
        .find(|c| c.name_raw() == Some(name))
        .and_then(|c| c.value_raw())
}

/// Compares secrets in time independent of where they differ.
pub fn same_secret(a: &str, b: &str) -> bool {
    subtle::ConstantTimeEq::ct_eq(a.as_bytes(), b.as_bytes()).into()
}

/// Splits the secret out of a query string: `(secret, the rest of the query)`.
pub fn take_secret(query: Option<&str>) -> (Option<String>, Option<String>) {
    let Some(q) = query else { return (None, None) };
    let mut secret = None;
    let rest: Vec<&str> = q
        .split('&')
        .filter(|pair| match pair.split_once('=') {
            Some((k, v)) if k == SECRET_PARAM => {
                secret = Some(v.to_owned());
                false
            }
            _ => !pair.is_empty(),
        })
        .collect();
    (
        secret,
        if rest.is_empty() {
            None
        } else {
            Some(rest.join("&"))
        },
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cookies_and_secrets() {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::COOKIE,
            "a=1; trainyard_viz_7=abc; b=2".parse().unwrap(),
        );
        assert_eq!(cookie(&h, &cookie_name(7)), Some("abc"));
        assert_eq!(cookie(&h, &cookie_name(8)), None);
        assert!(
            same_secret("abc", "abc") && !same_secret("abc", "abd") && !same_secret("abc", "ab")
        );
        assert_eq!(
            take_secret(Some("x=1&trainyard_secret=s&y=2")),
            (Some("s".into()), Some("x=1&y=2".into()))
        );
        assert_eq!(
            take_secret(Some("trainyard_secret=s")),
            (Some("s".into()), None)
        );
        assert_eq!(new_secret().len(), 32);
        let plain = set_cookie(7, "s", "/p/", false);
        assert!(plain.starts_with("trainyard_viz_7=s;"), "{plain}");
        assert!(
            plain.contains("Path=/p/")
                && plain.contains("HttpOnly")
                && plain.contains("SameSite=Lax"),
            "{plain}"
        );
        assert!(!plain.contains("Secure"), "{plain}");
        assert!(set_cookie(7, "s", "/p/", true).contains("Secure"));
    }
}
