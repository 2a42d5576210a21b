//! Every front door as hard as the API (issue 25): sign-in throttling on every credential check,
//! caps on what sign-ins hand out, connection limits on plain HTTP and TLS (with real raw
//! sockets), and the `Host`/public-origin check. Each test drives a running server.

use crate::harness::*;
use serde_json::{json, Value};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

const USERS: &str = "users = [{ name = \"alice\", password = \"pw-alice\" }, { name = \"bob\", password = \"pw-bob\" }]\naccess_keys = [{ ak = \"AKFRONT\", sk = \"sk-front\" }]";

fn login_body(user: &str, password: &str) -> Value {
    json!({"auth": {
        "identity": {"methods": ["password"], "password": {"user": {"name": user, "password": password}}},
        "scope": {"project": {"id": PROJECT}},
    }})
}

/// `POST /v3/auth/tokens`: status, `Retry-After`, body, `X-Subject-Token`.
async fn login(api: &Api, user: &str, password: &str) -> (u16, Option<u64>, Value, String) {
    let resp = api
        .http
        .post(format!("{}/v3/auth/tokens", api.base))
        .json(&login_body(user, password))
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = retry_after(resp.headers());
    let token = resp
        .headers()
        .get("x-subject-token")
        .map(|v| v.to_str().unwrap().to_owned())
        .unwrap_or_default();
    let body = resp.json().await.unwrap();
    (status, retry, body, token)
}

fn retry_after(h: &reqwest::header::HeaderMap) -> Option<u64> {
    h.get("retry-after")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

#[track_caller]
fn assert_throttled(status: u16, retry: Option<u64>, body: &Value) -> u64 {
    Reply {
        status,
        body: body.clone(),
    }
    .assert_error(429, "ModelArts.2799");
    let secs = retry.expect("Retry-After");
    assert!(secs >= 1, "Retry-After {secs}");
    secs
}

/// Tries `attempt` until it stops answering 429, within `within`; returns how long it took.
async fn until_open<F, Fut>(within: Duration, mut attempt: F) -> (Duration, u16)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = u16>,
{
    let start = Instant::now();
    loop {
        let status = attempt().await;
        if status != 429 {
            return (start.elapsed(), status);
        }
        assert!(start.elapsed() < within, "still throttled after {within:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn wrong_passwords_back_off_per_user_and_per_address_and_the_log_names_the_client() {
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(
        &config,
        config_text_with(
            &dir.path().join("data"),
            USERS,
            "[sign_in]\nfree_failures = 2\nfree_failures_per_address = 5\n",
        ),
    )
    .unwrap();
    let server = ServerProcess::start(&config, free_port()).await;
    let api = &server.api;
    for _ in 0..2 {
        let (status, _, body, _) = login(api, "alice", "guess").await;
        Reply { status, body }.assert_error(401, "ModelArts.0208");
    }
    // The right password, too early: refused without being checked.
    let (status, retry, body, token) = login(api, "alice", "pw-alice").await;
    let secs = assert_throttled(status, retry, &body);
    assert!(token.is_empty());
    // After the window the right password works.
    let (waited, status) = until_open(Duration::from_secs(secs + 3), || async {
        login(api, "alice", "pw-alice").await.0
    })
    .await;
    assert_eq!(status, 201);
    assert!(
        waited >= Duration::from_millis(500),
        "opened after {waited:?}"
    );
    let log = config.with_extension("log");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let text = std::fs::read_to_string(&log).unwrap_or_default();
        let refused = text
            .lines()
            .find(|l| l.contains("sign-in refused") && l.contains("client.address"));
        if let Some(line) = refused {
            assert!(line.contains("127.0.0.1"), "{line}");
            break;
        }
        assert!(Instant::now() < deadline, "no refusal logged:\n{text}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    // Guesses at other users from the same address close it for everyone (2 + 3 = 5).
    for user in ["u1", "u2", "u3"] {
        assert_eq!(login(api, user, "guess").await.0, 401);
    }
    let (status, retry, body, _) = login(api, "bob", "pw-bob").await;
    assert_throttled(status, retry, &body);
}

/// A signed `GET /v1/{project}/training-jobs` (`SDK-HMAC-SHA256`).
async fn signed_list(api: &Api, ak: &str, sk: &str) -> (u16, Option<u64>, Value) {
    use trainyard_api::signature::{canonical_request, sign, string_to_sign, SignedRequest};
    let path = format!("/v1/{PROJECT}/training-jobs");
    let host = api.base.trim_start_matches("http://").to_owned();
    let date = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let req = SignedRequest {
        method: "GET",
        path: &path,
        query: "",
        headers: vec![
            ("host".into(), host.clone()),
            ("x-sdk-date".into(), date.clone()),
        ],
        body_hash: trainyard_api::signature::EMPTY_HASH.to_owned(),
    };
    let sig = sign(
        sk.as_bytes(),
        &string_to_sign(&canonical_request(&req), &date),
    );
    let resp = api
        .http
        .get(format!("{}{path}", api.base))
        .header("x-sdk-date", &date)
        .header(
            "authorization",
            format!("SDK-HMAC-SHA256 Access={ak}, SignedHeaders=host;x-sdk-date, Signature={sig}"),
        )
        .send()
        .await
        .unwrap();
    let status = resp.status().as_u16();
    let retry = retry_after(resp.headers());
    (status, retry, resp.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_signatures_and_unknown_tokens_back_off_on_the_api() {
    let srv = TestServer::start_with_project(
        USERS,
        "[sign_in]\nfree_failures = 2\nfree_failures_per_address = 4\n",
    )
    .await;
    let api = &srv.api;
    // Per access key: two bad signatures close it; a good one is refused until it opens.
    for _ in 0..2 {
        let (status, _, body) = signed_list(api, "AKFRONT", "not-the-secret").await;
        Reply { status, body }.assert_error(401, "ModelArts.0208");
    }
    let (status, retry, body) = signed_list(api, "AKFRONT", "sk-front").await;
    let secs = assert_throttled(status, retry, &body);
    let (_, status) = until_open(Duration::from_secs(secs + 3), || async {
        signed_list(api, "AKFRONT", "sk-front").await.0
    })
    .await;
    assert_eq!(status, 200);
    // Per address: unknown tokens (2 bad signatures + 2 tokens = 4) close the API for a valid
    // token from that address too.
    for _ in 0..2 {
        api.raw("GET", &api.url("/training-jobs"), None, Some("guessed"))
            .await
            .assert_error(401, "ModelArts.0203");
    }
    let resp = api
        .http
        .get(api.url("/training-jobs"))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    let (status, retry) = (resp.status().as_u16(), retry_after(resp.headers()));
    assert_throttled(status, retry, &resp.json().await.unwrap());
}

#[tokio::test(flavor = "multi_thread")]
async fn console_sign_in_and_security_tokens_back_off() {
    let srv = TestServer::start_with_project(
        USERS,
        "[sign_in]\nfree_failures = 2\nfree_failures_per_address = 3\n",
    )
    .await;
    let api = &srv.api;
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let sign_in = |user: &'static str, password: &'static str| {
        let http = http.clone();
        let url = format!("{}/console/sign-in", api.base);
        async move {
            let form = [("method", "user"), ("user", user), ("password", password)];
            let resp = http.post(url).form(&form).send().await.unwrap();
            (resp.status().as_u16(), retry_after(resp.headers()))
        }
    };
    assert_eq!(sign_in("alice", "guess").await.0, 401);
    assert_eq!(sign_in("alice", "guess").await.0, 401);
    let (status, retry) = sign_in("alice", "pw-alice").await;
    assert_eq!(status, 429, "the right password too early");
    let secs = retry.expect("Retry-After");
    let (_, status) = until_open(Duration::from_secs(secs + 3), || async {
        sign_in("alice", "pw-alice").await.0
    })
    .await;
    assert_eq!(status, 303, "signed in after the window");
    // `/v3.0/OS-CREDENTIAL/securitytokens`: the third failure from this address closes it.
    let mint = |token: &'static str| {
        let http = http.clone();
        let url = format!("{}/v3.0/OS-CREDENTIAL/securitytokens", api.base);
        async move {
            let resp = http
                .post(url)
                .header("X-Auth-Token", token)
                .json(&json!({"auth": {"identity": {"methods": ["token"]}}}))
                .send()
                .await
                .unwrap();
            let status = resp.status().as_u16();
            let retry = retry_after(resp.headers());
            (status, retry, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, _, body) = mint("guessed").await;
    Reply { status, body }.assert_error(401, "ModelArts.0203");
    let (status, retry, body) = mint(TOKEN).await;
    assert_throttled(status, retry, &body);
}

/// Signs `GET /` (ListBuckets) the AWS SigV4 way with a temporary key and its token.
async fn list_buckets(base: &str, ak: &str, sk: &str, security_token: &str) -> u16 {
    use trainyard_api::signature::{sha256_hex, sign, EMPTY_HASH};
    fn unhex(s: &str) -> Vec<u8> {
        (0..s.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
            .collect()
    }
    let host = base.trim_start_matches("http://");
    let now = jiff::Timestamp::now();
    let amz_date = now.strftime("%Y%m%dT%H%M%SZ").to_string();
    let day = now.strftime("%Y%m%d").to_string();
    let scope = format!("{day}/us-east-1/s3/aws4_request");
    let signed = "host;x-amz-content-sha256;x-amz-date;x-amz-security-token";
    let canonical = format!(
        "GET\n/\n\nhost:{host}\nx-amz-content-sha256:{EMPTY_HASH}\nx-amz-date:{amz_date}\nx-amz-security-token:{security_token}\n\n{signed}\n{EMPTY_HASH}"
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{scope}\n{}",
        sha256_hex(canonical.as_bytes())
    );
    let mut key = format!("AWS4{sk}").into_bytes();
    for part in [day.as_str(), "us-east-1", "s3", "aws4_request"] {
        key = unhex(&sign(&key, part));
    }
    let sig = sign(&key, &to_sign);
    reqwest::Client::new()
        .get(format!("{base}/"))
        .header("x-amz-content-sha256", EMPTY_HASH)
        .header("x-amz-date", &amz_date)
        .header("x-amz-security-token", security_token)
        .header(
            "authorization",
            format!(
                "AWS4-HMAC-SHA256 Credential={ak}/{scope}, SignedHeaders={signed}, Signature={sig}"
            ),
        )
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_temporary_keys_and_console_sessions_are_capped_per_identity() {
    let srv = TestServer::start_with_project(
        USERS,
        "[sign_in]\nmax_tokens_per_identity = 2\nmax_temporary_keys_per_identity = 2\nmax_console_sessions_per_identity = 2\n",
    )
    .await;
    let api = &srv.api;
    let mut tokens = Vec::new();
    for _ in 0..3 {
        let (status, _, _, token) = login(api, "alice", "pw-alice").await;
        assert_eq!(status, 201);
        tokens.push(token);
    }
    let (_, _, _, bob) = login(api, "bob", "pw-bob").await;
    let projects = |token: String| {
        let http = api.http.clone();
        let url = format!("{}/v3/projects", api.base);
        async move {
            let r = http.get(url).header("X-Auth-Token", token).send().await;
            r.unwrap().status().as_u16()
        }
    };
    assert_eq!(projects(tokens[0].clone()).await, 401, "the oldest went");
    assert_eq!(projects(tokens[1].clone()).await, 200);
    assert_eq!(projects(tokens[2].clone()).await, 200);
    assert_eq!(projects(bob).await, 200, "another user's tokens are apart");

    let mut keys = Vec::new();
    for _ in 0..3 {
        let resp = api
            .http
            .post(format!("{}/v3.0/OS-CREDENTIAL/securitytokens", api.base))
            .header("X-Auth-Token", &tokens[2])
            .json(&json!({"auth": {"identity": {"methods": ["token"]}}}))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 201);
        let body: Value = resp.json().await.unwrap();
        let c = &body["credential"];
        keys.push(["access", "secret", "securitytoken"].map(|f| c[f].as_str().unwrap().to_owned()));
    }
    let [ak, sk, st] = &keys[0];
    assert_eq!(list_buckets(&api.base, ak, sk, st).await, 403, "oldest key");
    let [ak, sk, st] = &keys[2];
    assert_eq!(list_buckets(&api.base, ak, sk, st).await, 200, "newest key");

    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let mut cookies = Vec::new();
    for _ in 0..3 {
        let resp = http
            .post(format!("{}/console/sign-in", api.base))
            .form(&[("method", "token"), ("token", TOKEN)])
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status().as_u16(), 303);
        let cookie = resp.headers()["set-cookie"].to_str().unwrap();
        cookies.push(cookie.split(';').next().unwrap().to_owned());
    }
    let page = |cookie: String| {
        let http = http.clone();
        let url = format!("{}/console/jobs", api.base);
        async move {
            let r = http.get(url).header("cookie", cookie).send().await.unwrap();
            r.status().as_u16()
        }
    };
    assert_eq!(page(cookies[0].clone()).await, 303, "oldest session ended");
    assert_eq!(page(cookies[2].clone()).await, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn minting_temporary_keys_counts_against_the_project_rate() {
    let srv = TestServer::start_with_project("requests_per_second = 3", "").await;
    let api = &srv.api;
    let mut statuses = Vec::new();
    for _ in 0..12 {
        let resp = api
            .http
            .post(format!("{}/v3.0/OS-CREDENTIAL/securitytokens", api.base))
            .header("X-Auth-Token", TOKEN)
            .json(&json!({"auth": {"identity": {"methods": ["token"]}}}))
            .send()
            .await
            .unwrap();
        let status = resp.status().as_u16();
        if status == 429 {
            let body: Value = resp.json().await.unwrap();
            Reply { status, body }.assert_error(429, "ModelArts.2799");
        }
        statuses.push(status);
    }
    let minted = statuses.iter().filter(|s| **s == 201).count();
    assert!((3..=5).contains(&minted), "{statuses:?}");
    assert_eq!(minted + statuses.iter().filter(|s| **s == 429).count(), 12);
}

// ---- connections ----

fn addr_of(api: &Api) -> String {
    api.base.trim_start_matches("http://").to_owned()
}

/// Reads one HTTP response (headers and a `Content-Length` body) within `within`; `None` when
/// nothing complete arrived (timeout or closed).
async fn read_response(s: &mut TcpStream, within: Duration) -> Option<String> {
    let mut buf = Vec::new();
    let deadline = tokio::time::Instant::now() + within;
    loop {
        let text = String::from_utf8_lossy(&buf).into_owned();
        if let Some(end) = text.find("\r\n\r\n") {
            let len = text[..end]
                .lines()
                .find_map(|l| {
                    let (k, v) = l.split_once(':')?;
                    k.eq_ignore_ascii_case("content-length")
                        .then(|| v.trim().parse::<usize>().ok())?
                })
                .unwrap_or(0);
            if buf.len() >= end + 4 + len {
                return Some(text);
            }
        }
        let mut chunk = [0u8; 4096];
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(n)) if n > 0 => buf.extend_from_slice(&chunk[..n]),
            _ => return None,
        }
    }
}

/// Whether the server closes `s` within `within` (end of stream or reset).
async fn closed_within(s: &mut TcpStream, within: Duration) -> bool {
    let mut chunk = [0u8; 4096];
    let deadline = tokio::time::Instant::now() + within;
    loop {
        match tokio::time::timeout_at(deadline, s.read(&mut chunk)).await {
            Ok(Ok(0)) | Ok(Err(_)) => return true,
            Ok(Ok(_)) => continue,
            Err(_) => return false,
        }
    }
}

fn health_request(addr: &str) -> String {
    format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n\r\n")
}

#[tokio::test(flavor = "multi_thread")]
async fn half_sent_requests_idle_connections_and_stalled_bodies_are_closed() {
    let srv = TestServer::start_with(
        "[server]\nheader_read_timeout_seconds = 1\nidle_timeout_seconds = 1.5\nbody_read_timeout_seconds = 1\n",
    )
    .await;
    let addr = addr_of(&srv.api);
    let start = Instant::now();
    // Slowloris: headers that never end.
    let mut slow = TcpStream::connect(&addr).await.unwrap();
    slow.write_all(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\nX-A: 1\r\n").as_bytes())
        .await
        .unwrap();
    // A connection that sends nothing at all.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    // A keep-alive connection after one answered request.
    let mut idle = TcpStream::connect(&addr).await.unwrap();
    idle.write_all(health_request(&addr).as_bytes())
        .await
        .unwrap();
    let answer = read_response(&mut idle, Duration::from_secs(5)).await;
    assert!(answer.is_some_and(|a| a.starts_with("HTTP/1.1 200")));
    // A body that stops halfway.
    let mut stalled = TcpStream::connect(&addr).await.unwrap();
    stalled
        .write_all(
            format!("POST /v3/auth/tokens HTTP/1.1\r\nHost: {addr}\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{{\"auth\":").as_bytes(),
        )
        .await
        .unwrap();
    for (name, s) in [
        ("half-sent headers", &mut slow),
        ("silent", &mut silent),
        ("idle keep-alive", &mut idle),
        ("stalled body", &mut stalled),
    ] {
        assert!(
            closed_within(s, Duration::from_secs(6)).await,
            "{name} connection still open after {:?}",
            start.elapsed()
        );
    }
    // The idle connection was kept for its timeout, not closed at once.
    assert!(start.elapsed() >= Duration::from_secs(1));
}

#[tokio::test(flavor = "multi_thread")]
async fn over_the_connection_cap_new_connections_wait_and_admitted_ones_keep_answering() {
    let srv = TestServer::start_with("[server]\nmax_connections = 4\n").await;
    let addr = addr_of(&srv.api);
    let mut admitted = TcpStream::connect(&addr).await.unwrap();
    admitted
        .write_all(health_request(&addr).as_bytes())
        .await
        .unwrap();
    assert!(read_response(&mut admitted, Duration::from_secs(5))
        .await
        .is_some());
    let mut holders = Vec::new();
    for _ in 0..3 {
        holders.push(TcpStream::connect(&addr).await.unwrap());
    }
    // The listen queue is first come, first served: a fifth waits behind the three.
    let mut waiting = TcpStream::connect(&addr).await.unwrap();
    waiting
        .write_all(health_request(&addr).as_bytes())
        .await
        .unwrap();
    assert!(
        read_response(&mut waiting, Duration::from_millis(1500))
            .await
            .is_none(),
        "a fifth connection was served over a cap of four"
    );
    admitted
        .write_all(health_request(&addr).as_bytes())
        .await
        .unwrap();
    let again = read_response(&mut admitted, Duration::from_secs(5)).await;
    assert!(again.is_some_and(|a| a.starts_with("HTTP/1.1 200")));
    drop(holders.pop());
    let served = read_response(&mut waiting, Duration::from_secs(5)).await;
    assert!(
        served.is_some_and(|a| a.starts_with("HTTP/1.1 200")),
        "served once a place was free"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn idle_sockets_beyond_the_file_limit_do_not_stop_health_checks() {
    // `trainyard serve` with 128 file descriptors and 200 sockets that never send anything:
    // the connection cap (half the limit by default) keeps descriptors free and the header
    // timeout frees places, so `/health` answers.
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(
        &config,
        config_text(
            &dir.path().join("data"),
            "[server]\nheader_read_timeout_seconds = 1\n",
        ),
    )
    .unwrap();
    let port = free_port();
    let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
    let mut child = std::process::Command::new("sh")
        .arg("-c")
        .arg("ulimit -n 128 && exec \"$0\" \"$@\"")
        .arg(bin())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--config",
        ])
        .arg(&config)
        .stdout(log.try_clone().unwrap())
        .stderr(log)
        .spawn()
        .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .build()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http
        .get(format!("{base}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(Instant::now() < deadline, "server did not come up");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let mut idle = Vec::new();
    for _ in 0..200 {
        idle.push(
            TcpStream::connect(("127.0.0.1", port))
                .await
                .expect("connect"),
        );
    }
    let started = Instant::now();
    let fresh = reqwest::Client::builder()
        .timeout(Duration::from_secs(20))
        .pool_max_idle_per_host(0)
        .build()
        .unwrap();
    let health = fresh.get(format!("{base}/health")).send().await;
    let log = std::fs::read_to_string(dir.path().join("server.log")).unwrap_or_default();
    let _ = child.kill();
    let _ = child.wait();
    assert!(
        health.is_ok_and(|r| r.status().is_success()),
        "/health failed after {:?}; log:\n{}",
        started.elapsed(),
        log.lines().rev().take(20).collect::<Vec<_>>().join("\n")
    );
    drop(idle);
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_connections_have_the_same_limits() {
    let srv = TestServer::start_with(
        "[tls]\nself_signed = true\n[server]\nheader_read_timeout_seconds = 1\nidle_timeout_seconds = 1\n",
    )
    .await;
    let addr = addr_of(&srv.api);
    let cert = srv.dir.path().join("data/tls/cert.pem");
    // No handshake at all.
    let mut silent = TcpStream::connect(&addr).await.unwrap();
    // A handshake, then headers that never end; and a handshake, one request, then idle.
    let tls = |request: String| {
        let addr = addr.clone();
        let cert = cert.clone();
        tokio::task::spawn_blocking(move || -> (bool, Duration, String) {
            use rustls::pki_types::pem::PemObject;
            use std::io::{Read, Write};
            let mut roots = rustls::RootCertStore::empty();
            roots
                .add(rustls::pki_types::CertificateDer::from_pem_file(&cert).unwrap())
                .unwrap();
            let config = rustls::ClientConfig::builder_with_provider(std::sync::Arc::new(
                rustls::crypto::ring::default_provider(),
            ))
            .with_safe_default_protocol_versions()
            .unwrap()
            .with_root_certificates(roots)
            .with_no_client_auth();
            let name = rustls::pki_types::ServerName::try_from("127.0.0.1").unwrap();
            let conn = rustls::ClientConnection::new(std::sync::Arc::new(config), name).unwrap();
            let sock = std::net::TcpStream::connect(&addr).unwrap();
            sock.set_read_timeout(Some(Duration::from_secs(8))).unwrap();
            let mut s = rustls::StreamOwned::new(conn, sock);
            s.write_all(request.as_bytes()).unwrap();
            s.flush().unwrap();
            let start = Instant::now();
            let mut got = Vec::new();
            let mut buf = [0u8; 4096];
            let closed = loop {
                match s.read(&mut buf) {
                    Ok(0) => break true,
                    Ok(n) => got.extend_from_slice(&buf[..n]),
                    Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => break false,
                    Err(e) if e.kind() == std::io::ErrorKind::TimedOut => break false,
                    Err(_) => break true,
                }
            };
            (
                closed,
                start.elapsed(),
                String::from_utf8_lossy(&got).into_owned(),
            )
        })
    };
    let slow = tls(format!("GET /health HTTP/1.1\r\nHost: {addr}\r\n"));
    let idle = tls(health_request(&addr));
    assert!(
        closed_within(&mut silent, Duration::from_secs(6)).await,
        "a connection without a handshake stayed open"
    );
    let (closed, after, _) = slow.await.unwrap();
    assert!(
        closed,
        "half-sent headers over TLS still open after {after:?}"
    );
    let (closed, after, got) = idle.await.unwrap();
    assert!(got.starts_with("HTTP/1.1 200"), "{got}");
    assert!(closed, "idle TLS connection still open after {after:?}");
}

// ---- Host and origins ----

#[tokio::test(flavor = "multi_thread")]
async fn requests_naming_another_host_are_refused_and_the_console_checks_configured_origins() {
    let srv =
        TestServer::start_with("[server]\npublic_urls = [\"https://ml.example.com\"]\n").await;
    let api = &srv.api;
    let port = api.base.rsplit(':').next().unwrap().to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let get = |host: String| {
        let http = http.clone();
        let url = api.url("/training-jobs");
        async move {
            let r = http
                .get(url)
                .header("Host", host)
                .header("X-Auth-Token", TOKEN)
                .send()
                .await
                .unwrap();
            let status = r.status().as_u16();
            Reply {
                status,
                body: r.json().await.unwrap(),
            }
        }
    };
    // A DNS-rebinding page reaches the loopback server under its own name.
    get(format!("rebind.evil.example:{port}"))
        .await
        .assert_error(400, "ModelArts.0101");
    get(format!("127.0.0.2:{port}"))
        .await
        .assert_error(400, "ModelArts.0101");
    for ok in [
        format!("127.0.0.1:{port}"),
        format!("localhost:{port}"),
        // A local proxy in front, on a port of its own.
        "127.0.0.1:1".to_owned(),
        "ml.example.com".to_owned(),
    ] {
        get(ok).await.assert_ok();
    }
    // The console: an `Origin` that matches the request's own (rebound) `Host` is not enough.
    let sign_in = |host: String, origin: &'static str| {
        let http = http.clone();
        let url = format!("{}/console/sign-in", api.base);
        async move {
            http.post(url)
                .header("Host", host)
                .header("Origin", origin)
                .form(&[("method", "token"), ("token", TOKEN)])
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(
        sign_in(
            format!("rebind.evil.example:{port}"),
            "http://rebind.evil.example"
        )
        .await,
        400
    );
    assert_eq!(
        sign_in("ml.example.com".into(), "http://ml.example.com").await,
        403,
        "scheme differs from the configured origin"
    );
    assert_eq!(
        sign_in("ml.example.com".into(), "https://ml.example.com").await,
        303
    );
    assert_eq!(
        sign_in(format!("127.0.0.1:{port}"), "https://ml.example.com").await,
        303,
        "any configured origin"
    );
}
