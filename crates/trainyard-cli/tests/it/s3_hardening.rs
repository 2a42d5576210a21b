//! The OBS/S3 endpoint as hard as the API (issue #25) and never led out of a project by a link
//! (issue #24), on a real `trainyard serve` with real S3 clients: boto3 and botocore's signers
//! (SigV2, SigV4, presigned URLs, temporary keys) in `s3_hardening/probe.py`, run in a
//! virtualenv made once per build directory.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

const AK: &str = "AKS3HARDENPROJA";
const SK: &str = "sk-s3h-a-5e0f9c2b7d1a";
const LIMITED_AK: &str = "AKS3HARDENPROJB";
const LIMITED_SK: &str = "sk-s3h-b-3c4d8e1f0a9b";
const USER: &str = "alice";
const PASSWORD: &str = "pw-s3h-alice-6b2e";

/// A Python with boto3: a virtualenv in the build directory, made on first use.
fn python() -> PathBuf {
    static VENV: std::sync::OnceLock<PathBuf> = std::sync::OnceLock::new();
    VENV.get_or_init(|| {
        let venv = Path::new(env!("CARGO_TARGET_TMPDIR")).join("s3-hardening-venv");
        let py = venv.join("bin/python");
        let ready = |py: &Path| {
            Command::new(py)
                .args(["-c", "import boto3"])
                .output()
                .is_ok_and(|o| o.status.success())
        };
        if !ready(&py) {
            let _ = std::fs::remove_dir_all(&venv);
            let system = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
            let made = Command::new(&system)
                .args(["-m", "venv"])
                .arg(&venv)
                .status()
                .unwrap()
                .success()
                && Command::new(venv.join("bin/pip"))
                    .args(["install", "-q", "--disable-pip-version-check", "boto3"])
                    .status()
                    .unwrap()
                    .success();
            assert!(made && ready(&py), "could not make a virtualenv with boto3");
        }
        py
    })
    .clone()
}

/// Runs `probe.py COMMAND ARGS` and returns its JSON answer.
fn probe(command: &str, args: &Value) -> Value {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/s3_hardening/probe.py");
    let out = Command::new(python())
        .arg(script)
        .arg(command)
        .arg(args.to_string())
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "probe {command} failed:\n{stdout}\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_str(&stdout).unwrap_or_else(|e| panic!("probe {command}: {e}: {stdout}"))
}

/// A server with project A (keys, a user) and project B (keys), `extra` appended to the
/// config, `env` added to its environment.
struct S3Server {
    dir: tempfile::TempDir,
    srv: ServerProcess,
    log: PathBuf,
}

impl S3Server {
    async fn start(b_extra: &str, extra: &str, env: &[(&str, std::ffi::OsString)]) -> Self {
        let dir = tempdir().unwrap();
        let config = format!(
            "data_dir = \"{data}\"\n\n\
             [[projects]]\nid = \"{PROJECT}\"\ntokens = [\"{TOKEN}\"]\n\
             access_keys = [{{ ak = \"{AK}\", sk = \"{SK}\" }}]\n\
             users = [{{ name = \"{USER}\", domain = \"acme\", password = \"{PASSWORD}\" }}]\n\n\
             [[projects]]\nid = \"{OTHER_PROJECT}\"\ntokens = [\"{OTHER_TOKEN}\"]\n\
             access_keys = [{{ ak = \"{LIMITED_AK}\", sk = \"{LIMITED_SK}\" }}]\n{b_extra}\n\n\
             [executor]\ncores = 64\nmemory_gb = 256\nstop_grace_seconds = 2\n\n{extra}\n\n\
             [metrics]\nscrape_token = \"{METRICS_TOKEN}\"\n",
            data = dir.path().join("data").display(),
        );
        let path = dir.path().join("config.toml");
        write_config(&path, config).unwrap();
        let log = dir.path().join("server.log");
        let srv = ServerProcess::start_env(
            &["--config".as_ref(), path.as_os_str()],
            &log,
            free_port(),
            env,
        )
        .await;
        Self { dir, srv, log }
    }

    fn storage(&self) -> PathBuf {
        self.dir.path().join("data/obs").join(PROJECT)
    }

    fn args(&self) -> Value {
        json!({"endpoint": self.srv.api.base, "ak": AK, "sk": SK})
    }

    fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap()
    }

    /// A temporary key of project A for `duration` (`None`: no body), as the HTTP answer.
    async fn temporary_key(&self, duration: Option<Value>) -> (u16, Value, String) {
        let http = &self.srv.api.http;
        let base = &self.srv.api.base;
        let login = http
            .post(format!("{base}/v3/auth/tokens"))
            .json(
                &json!({"auth": {"identity": {"methods": ["password"], "password": {"user": {
                "name": USER, "password": PASSWORD, "domain": {"name": "acme"}}}}}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), 201);
        let token = login.headers()["x-subject-token"]
            .to_str()
            .unwrap()
            .to_owned();
        let mut req = http
            .post(format!("{base}/v3.0/OS-CREDENTIAL/securitytokens"))
            .header("x-auth-token", &token);
        if let Some(d) = duration {
            req = req.json(&json!({"auth": {"identity": {"methods": ["token"],
                "token": {"duration_seconds": d}}}}));
        }
        let resp = req.send().await.unwrap();
        let status = resp.status().as_u16();
        (status, resp.json().await.unwrap(), token)
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        kill_runs(&self.dir.path().join("data/runs"));
    }
}

fn put_file(path: &Path, content: &str) {
    std::fs::create_dir_all(path.parent().unwrap()).unwrap();
    std::fs::write(path, content).unwrap();
}

/// Project B is limited to 3 requests/s: a burst of S3 requests is refused with S3's
/// `SlowDown` (503), as the API answers 429. A PUT or a part over `[obs] max_object_bytes` is
/// refused with `EntityTooLarge` (400); larger objects go up in parts. S3 answers carry the
/// request id, each request has an access log line and is counted in `/metrics`.
#[tokio::test(flavor = "multi_thread")]
async fn s3_requests_get_the_api_layers_and_an_object_size_limit() {
    let s = S3Server::start(
        "requests_per_second = 3",
        "[obs]\nmax_object_bytes = 1048576",
        &[],
    )
    .await;
    let mut args = s.args();
    args["limited_ak"] = json!(LIMITED_AK);
    args["limited_sk"] = json!(LIMITED_SK);
    args["max_object_bytes"] = json!(1_048_576);
    let out = probe("layers", &args);

    let burst: Vec<&str> = out["burst"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c.as_str().unwrap())
        .collect();
    let admitted = burst.iter().filter(|c| **c == "ok").count();
    let slowed = burst.iter().filter(|c| **c == "SlowDown").count();
    eprintln!("30 S3 requests at 3/s: {admitted} answered, {slowed} SlowDown");
    assert!((3..=12).contains(&admitted), "{burst:?}");
    assert_eq!(admitted + slowed, 30, "{burst:?}");

    assert_eq!(out["at_limit"]["code"], "ok", "{out}");
    assert_eq!(out["over_limit"]["code"], "EntityTooLarge", "{out}");
    assert_eq!(out["over_limit"]["status"], 400, "{out}");
    assert_eq!(out["big_part"]["code"], "EntityTooLarge", "{out}");
    assert_eq!(out["complete"]["code"], "ok", "{out}");
    assert_eq!(out["joined_size"], 1_048_576 * 5 / 2, "{out}");
    assert_eq!(out["joined_ok"], true);
    assert_eq!(out["missing"]["code"], "NoSuchKey", "{out}");
    assert!(!s.storage().join("big/over.bin").exists());
    let id = out["request_id"].as_str().unwrap_or("");
    assert_eq!(id.len(), 36, "x-request-id of an S3 answer: {out}");

    let log = s.log();
    let line = log
        .lines()
        .find(|l| l.contains("S3 request answered") && l.contains(id))
        .unwrap_or_else(|| panic!("no access log line for request {id}:\n{log}"));
    assert!(
        line.contains("ListObjectsV2") && line.contains(PROJECT),
        "{line}"
    );

    let m = scrape(&s.srv.api).await;
    let count = |route: &str, code: &str| {
        metric(
            &m,
            "trainyard_http_requests_total",
            &[("route", route), ("code", code)],
        )
    };
    assert_eq!(count("s3:ListBuckets", "503"), slowed as f64);
    assert_eq!(count("s3:ListBuckets", "200"), admitted as f64);
    assert!(count("s3:PutObject", "400") >= 1.0);
    assert!(count("s3:UploadPart", "200") >= 3.0);
    assert!(
        metric(
            &m,
            "trainyard_http_request_duration_seconds",
            &[("route", "s3:CompleteMultipartUpload")]
        ) >= 1.0
    );
}

/// Signatures as AWS and OBS check them: a SigV2 or SigV4 date more than 15 minutes off is
/// `RequestTimeTooSkewed`; a presigned URL may live 7 days at most; a temporary key needs its
/// security token and lasts its `duration_seconds` (IAM's range, 900..=86400).
#[tokio::test(flavor = "multi_thread")]
async fn s3_signatures_follow_aws_time_and_token_rules() {
    let s = S3Server::start("", "", &[]).await;
    put_file(&s.storage().join("sig/hello.txt"), "hello");

    for bad in [json!(899), json!(86_401), json!("900"), json!(-1)] {
        let (status, body, _) = s.temporary_key(Some(bad.clone())).await;
        assert_eq!(status, 400, "{bad}: {body}");
        assert_eq!(body["is_success"], false, "{body}");
        let message = body["error_message"].as_str().unwrap_or("");
        assert!(message.contains("duration_seconds"), "{body}");
    }
    let lifetime = |body: &Value| {
        let at: jiff::Timestamp = body["credential"]["expires_at"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap();
        at.duration_since(jiff::Timestamp::now()).as_secs()
    };
    let (status, body, _) = s.temporary_key(None).await;
    assert_eq!(status, 201, "{body}");
    assert!(
        (840..=900).contains(&lifetime(&body)),
        "IAM's default: {body}"
    );
    let (status, body, _) = s.temporary_key(Some(json!(3600))).await;
    assert_eq!(status, 201, "{body}");
    assert!((3540..=3600).contains(&lifetime(&body)), "{body}");

    let mut args = s.args();
    args["temp"] = body["credential"].clone();
    let out = probe("signatures", &args);
    let code = |name: &str| out[name]["code"].as_str().unwrap_or("").to_owned();
    for ok in [
        "v2_now",
        "pre_v2_hour",
        "pre_v4_week",
        "temp_v4",
        "temp_v2",
        "temp_presigned",
        "temp_obs_header",
    ] {
        assert_eq!(code(ok), "ok", "{ok}: {out}");
    }
    for skewed in ["v2_past", "v2_future", "v2_2010", "v4_past", "v4_future"] {
        assert_eq!(code(skewed), "RequestTimeTooSkewed", "{skewed}: {out}");
        assert_eq!(out[skewed]["status"], 403, "{skewed}: {out}");
    }
    for long in ["pre_v2_8d", "pre_v2_forever", "pre_v4_over", "pre_v4_max"] {
        assert_eq!(
            code(long),
            "AuthorizationQueryParametersError",
            "{long}: {out}"
        );
    }
    for tokenless in ["temp_no_token", "temp_wrong_token"] {
        assert_eq!(code(tokenless), "InvalidToken", "{tokenless}: {out}");
    }
}

/// `ListMultipartUploads` and `ListParts` answer; a project's open uploads are capped
/// (`[obs] max_open_uploads`); uploads older than `[obs] multipart_expiry_seconds` are removed
/// with their parts by the periodic sweep, newer ones stay.
#[tokio::test(flavor = "multi_thread")]
async fn abandoned_multipart_uploads_are_listed_capped_and_swept() {
    let s = S3Server::start(
        "",
        "[obs]\nmultipart_expiry_seconds = 5\nmax_open_uploads = 3",
        &[],
    )
    .await;
    let mut args = s.args();
    args["bucket"] = json!("mpu");
    args["keys"] = json!(["k1", "k2", "dir/k3"]);
    let out = probe("multipart", &args);
    assert_eq!(out["cap"]["code"], "InvalidRequest", "{out}");
    assert_eq!(out["cap"]["status"], 400, "{out}");
    let ids = &out["ids"];
    let listed = json!([
        ["dir/k3", ids["dir/k3"]],
        ["k1", ids["k1"]],
        ["k2", ids["k2"]]
    ]);
    assert_eq!(out["listed"], listed, "{out}");
    assert_eq!(out["parts"], json!([[1, 1000], [2, 2000]]), "{out}");
    assert_eq!(out["parts_other_key"]["code"], "NoSuchUpload", "{out}");

    let uploads = s.storage().join("mpu/.trainyard-multipart");
    let open = || {
        std::fs::read_dir(&uploads)
            .map(|rd| rd.flatten().count())
            .unwrap_or(0)
    };
    assert_eq!(open(), 3);
    let swept_by = Instant::now() + Duration::from_secs(30);
    while open() > 0 {
        assert!(Instant::now() < swept_by, "uploads were never swept");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let after = probe("uploads", &args);
    assert_eq!(after["listed"], json!([]), "{after}");
    assert_eq!(after["more"], "ok", "{after}");
    assert_eq!(open(), 1, "a fresh upload is not swept");
    assert!(s.log().contains("removed abandoned multipart uploads"));
}

/// With `RUST_LOG=debug`, failed and successful requests of every kind (SigV2, SigV4,
/// presigned SigV2 and SigV4, a temporary key in headers and in a presigned URL) leave no
/// secret key, no signature the server expected and no security token in the log.
#[tokio::test(flavor = "multi_thread")]
async fn secrets_stay_out_of_the_debug_log() {
    let s = S3Server::start("", "", &[("RUST_LOG", "debug".into())]).await;
    put_file(&s.storage().join("sec/hello.txt"), "hello");
    let (status, body, token) = s.temporary_key(Some(json!(900))).await;
    assert_eq!(status, 201, "{body}");
    let mut args = s.args();
    args["temp"] = body["credential"].clone();
    let out = probe("secrets", &args);
    for (name, status) in out["results"].as_object().unwrap() {
        let want = if name.ends_with("_good") {
            json!(200)
        } else if name == "wrong_secret" {
            json!("SignatureDoesNotMatch")
        } else {
            json!(403)
        };
        assert_eq!(*status, want, "{name}: {out}");
    }
    let log = s.log();
    assert!(
        log.contains("DEBUG"),
        "the server did not log at debug level"
    );
    let mut secrets: Vec<String> = out["secrets"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().to_owned())
        .collect();
    secrets.extend([token, PASSWORD.to_owned(), LIMITED_SK.to_owned()]);
    for secret in &secrets {
        assert!(secret.len() >= 16, "{secret}");
        assert!(
            !log.contains(secret.as_str()),
            "a secret ({}...) is in the debug log",
            &secret[..6]
        );
    }
    // The requests were logged, each with one access line.
    assert!(log.matches("S3 request answered").count() >= 15, "{log}");
}

/// A job swaps a file of its `train_url` for a symlink to a canary outside the project in a
/// tight loop (and a folder for a link to a folder outside) while the project GETs that
/// object 200 times through the endpoint: the canary never comes back. PUT, LIST, multipart
/// and DELETE never go through planted links either.
#[tokio::test(flavor = "multi_thread")]
async fn a_job_swapping_symlinks_never_leaks_through_s3() {
    let s = S3Server::start("", "", &[]).await;
    let outside = s.dir.path().join("outside");
    // Same length as the object's own content, so a leak cannot fail on its size.
    let (safe, canary) = ("SAFE-obj-0123456789", "CANARY-0123456789AB");
    put_file(&outside.join("canary.txt"), canary);
    put_file(&outside.join("obj.txt"), canary);
    let boot = format!(
        r#"import os, sys, time
train = [a.split("=", 1)[1] for a in sys.argv if a.startswith("--train_url=")][0]
os.makedirs(os.path.join(train, "real"), exist_ok=True)
with open(os.path.join(train, "real", "obj.txt"), "w") as f:
    f.write({safe:?})
target, sub = os.path.join(train, "obj.txt"), os.path.join(train, "sub")
print("swapping", flush=True)
n, end = 0, time.time() + 120
while time.time() < end and not os.path.exists(os.path.join(train, "stop")):
    os.symlink({canary_path:?}, target + ".l")
    os.replace(target + ".l", target)
    os.symlink("real", sub + ".l")
    os.replace(sub + ".l", sub)
    with open(target + ".f", "w") as f:
        f.write({safe:?})
    os.replace(target + ".f", target)
    os.symlink({outside_dir:?}, sub + ".l")
    os.replace(sub + ".l", sub)
    n += 1
print("swaps", n, flush=True)
"#,
        canary_path = outside.join("canary.txt").display().to_string(),
        outside_dir = outside.display().to_string(),
    );
    write_app(&s.storage(), "swapper", &[("boot.py", &boot)]);
    std::fs::create_dir_all(s.storage().join("data")).unwrap();
    let api = &s.srv.api;
    let (job, version) = api.create_job("swap", "swapper", json!({})).await;
    api.wait_log(job, version, "swap.0", "swapping").await;

    let mut args = s.args();
    args["bucket"] = json!("out");
    args["count"] = json!(200);
    args["key"] = json!("swap/obj.txt");
    // Rounds of 200 GETs until both states of the file were met (served when it was the
    // file, refused when a link): on a loaded machine the swapping job may get little CPU.
    let mut rounds = vec![probe("race", &args)];
    let both = |seen: &[serde_json::Value]| {
        [safe, "error:AccessDenied"]
            .iter()
            .all(|body| seen.iter().any(|r| r.get(body).is_some()))
    };
    while !both(&rounds) && rounds.len() < 10 {
        rounds.push(probe("race", &args));
    }
    args["key"] = json!("swap/sub/obj.txt");
    let folder = probe("race", &args);
    std::fs::write(s.storage().join("out/swap/stop"), "").unwrap();
    let (end, log) = api
        .run_to_end(job, version, "swap.0", Duration::from_secs(60))
        .await;
    eprintln!("GETs of a swapped file: {rounds:?}; through a swapped folder: {folder}; job: {log}");
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    for seen in rounds.iter().chain([&folder]) {
        let seen = seen.as_object().unwrap();
        assert_eq!(seen.values().map(|n| n.as_u64().unwrap()).sum::<u64>(), 200);
        assert!(
            seen.keys().all(|body| !body.contains("CANARY")),
            "the canary leaked: {seen:?}"
        );
    }
    assert!(both(&rounds), "{rounds:?}");

    let planted = s.storage().join("links/planted");
    put_file(&planted.join("real.txt"), "real");
    std::os::unix::fs::symlink(outside.join("canary.txt"), planted.join("file-link")).unwrap();
    std::os::unix::fs::symlink(outside.join("canary.txt"), planted.join("other-link")).unwrap();
    std::os::unix::fs::symlink(&outside, planted.join("dir-link")).unwrap();
    args["bucket"] = json!("links");
    let out = probe("links", &args);
    assert_eq!(out["put_on_link"]["code"], "ok", "{out}");
    for refused in [
        "put_below_dir_link",
        "get_below_dir_link",
        "mpu_below_dir_link",
    ] {
        assert_eq!(out[refused]["code"], "AccessDenied", "{refused}: {out}");
    }
    assert_eq!(
        out["listed"],
        json!(["planted/file-link", "planted/real.txt"]),
        "{out}"
    );
    assert_eq!(out["delete_link"]["code"], "ok", "{out}");
    assert_eq!(
        std::fs::read_to_string(outside.join("canary.txt")).unwrap(),
        canary
    );
    assert_eq!(
        std::fs::read_to_string(planted.join("file-link")).unwrap(),
        "written by PUT"
    );
    assert!(!planted.join("file-link").is_symlink());
    assert!(!outside.join("x").exists() && !outside.join("y").exists());
    assert!(std::fs::symlink_metadata(planted.join("other-link")).is_err());
}

/// Failed S3 signatures count like failed sign-ins: past the free failures of an access key,
/// its requests are refused (`SlowDown`, with `Retry-After`) before any signature is checked,
/// and the refusal is logged with the client's address.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_s3_signatures_back_off_per_access_key() {
    let s = S3Server::start(
        "",
        "[sign_in]\nfree_failures = 2\nfree_failures_per_address = 100\n",
        &[],
    )
    .await;
    let http = reqwest::Client::new();
    let url = format!("{}/bucket/key.txt", s.srv.api.base);
    let date = httpdate_now();
    let mut codes = Vec::new();
    for _ in 0..4 {
        let r = http
            .get(&url)
            .header("Date", &date)
            .header(
                "Authorization",
                format!("AWS {AK}:d3JvbmctYnV0LXdlbGwtZm9ybWVk"),
            )
            .send()
            .await
            .unwrap();
        let retry = r.headers().get("retry-after").cloned();
        let status = r.status().as_u16();
        let body = r.text().await.unwrap();
        codes.push((
            status,
            retry.is_some(),
            body.contains("<Code>SlowDown</Code>"),
        ));
    }
    assert_eq!(
        codes,
        [
            (403, false, false),
            (403, false, false),
            (503, true, true),
            (503, true, true)
        ],
        "wrong signatures of one key"
    );
    let log = std::fs::read_to_string(&s.log).unwrap();
    assert!(
        log.contains("too many failed attempts") && log.contains("127.0.0.1"),
        "{log}"
    );
}

/// `Date` as HTTP writes it, now.
fn httpdate_now() -> String {
    jiff::Timestamp::now()
        .strftime("%a, %d %b %Y %H:%M:%S GMT")
        .to_string()
}
