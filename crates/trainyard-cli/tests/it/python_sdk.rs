//! The Python SDK (`sdk/python`) against a real `trainyard serve`: a fresh virtualenv gets the
//! package as a wheel built by `python -m build` (as users install it), pytest and the
//! independent `huaweicloudsdkcore` signer from PyPI, then pytest runs
//! `sdk/python/tests` with the endpoint and credentials in the environment. The server's log must
//! not contain any secret afterwards.
//!
//! `tests/test_visualization.py` runs against real TensorBoard processes (see `harness::viz_config`).

use crate::harness::*;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::Command;

const AK: &str = "AKTRAINYARDPROJA";
const SK: &str = "sk-a-0f3c9d1e7b2a4c5d";
const OTHER_AK: &str = "AKTRAINYARDPROJB";
const OTHER_SK: &str = "sk-b-9a8b7c6d5e4f";
const USER: &str = "alice";
const ACCOUNT: &str = "acme";
const PASSWORD: &str = "pw-alice-4d2c1b";
const REGION: &str = "cn-north-7";

/// The topic `test_training.py::test_fit_sends_a_notification` names: a webhook nobody
/// listens at (its deliveries are listed, not received).
const SDK_TOPIC_CONFIG: &str = "[[webhooks]]\nname = \"sdk-hook\"\nproject = \"{PROJECT}\"\nurl = \"http://127.0.0.1:9/hook\"\n\n\
     [[topics]]\nname = \"sdk-alerts\"\nproject = \"{PROJECT}\"\nwebhooks = [\"sdk-hook\"]\n\n";

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

fn run(cmd: &mut Command, what: &str) -> String {
    let out = cmd
        .output()
        .unwrap_or_else(|e| panic!("{what}: cannot start: {e}"));
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        out.status.success(),
        "{what} failed ({}):\n{text}",
        out.status
    );
    text
}

#[tokio::test(flavor = "multi_thread")]
async fn python_sdk_samples_against_a_real_server() {
    let dir = tempdir().unwrap();
    let data = dir.path().join("data");
    let sk_file = dir.path().join("sk-a");
    std::fs::write(&sk_file, format!("{SK}\n")).unwrap();
    std::fs::set_permissions(&sk_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let config = format!(
        "data_dir = \"{data}\"\n\n\
         [[projects]]\nid = \"{PROJECT}\"\nname = \"{REGION}\"\ntokens = [\"{TOKEN}\"]\n\
         access_keys = [{{ ak = \"{AK}\", sk_file = \"{sk}\" }}]\n\
         users = [{{ name = \"{USER}\", domain = \"{ACCOUNT}\", password = \"{PASSWORD}\" }}]\n\n\
         [[projects]]\nid = \"{OTHER_PROJECT}\"\ntokens = [\"{OTHER_TOKEN}\"]\n\
         access_keys = [{{ ak = \"{OTHER_AK}\", sk = \"{OTHER_SK}\" }}]\n\n\
         [executor]\ncores = 64\nmemory_gb = 256\nstop_grace_seconds = 2\n\n{hooks}{viz}",
        data = data.display(),
        sk = sk_file.display(),
        hooks = SDK_TOPIC_CONFIG.replace("{PROJECT}", PROJECT),
        viz = viz_config(""),
    );
    let config_path = dir.path().join("config.toml");
    write_config(&config_path, config).unwrap();
    let port = free_port();
    let server = ServerProcess::start(&config_path, port).await;

    // The official SDK's test (tests/test_official_sdk.py) needs HTTPS and a private region
    // name: a second server with a self-signed certificate, started only when its wheel is given.
    let official_wheel = std::env::var("TRAINYARD_MODELARTS_WHEEL")
        .ok()
        .filter(|w| !w.trim().is_empty());
    let tls_server = match &official_wheel {
        Some(_) => Some(TlsServer::start(dir.path(), &sk_file, "").await),
        None => {
            eprintln!(
                "SKIPPED: the official modelarts SDK test (TRAINYARD_MODELARTS_WHEEL is not set)"
            );
            None
        }
    };

    let venv = dir.path().join("venv");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    );
    let pip = venv.join("bin/pip");
    let root = repo_root();
    // The package as users get it: a wheel built with `python -m build`, then pip-installed.
    run(
        Command::new(&pip).args(["install", "-q", "--disable-pip-version-check", "build"]),
        "pip install build",
    );
    let wheels = dir.path().join("wheels");
    run(
        Command::new(venv.join("bin/python"))
            .args(["-m", "build", "--wheel", "--outdir"])
            .arg(&wheels)
            .arg(root.join("sdk/python")),
        "python -m build --wheel",
    );
    let wheel = std::fs::read_dir(&wheels)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .find(|p| p.extension().is_some_and(|e| e == "whl"))
        .expect("a wheel");
    let wheel_name = wheel.file_name().unwrap().to_string_lossy().into_owned();
    assert!(
        wheel_name.starts_with("trainyard_modelarts-0.1.0-py3-none-any"),
        "{wheel_name}"
    );
    run(
        Command::new(&pip)
            .args(["install", "-q", "--disable-pip-version-check"])
            .arg(&wheel)
            // boto3 and Huawei's OBS client (as the official SDK uses it) talk to the OBS/S3
            // endpoint in tests/test_compat.py.
            .args(["pytest", "huaweicloudsdkcore", "boto3", "esdk-obs-python"]),
        "pip install",
    );
    // The tests import the installed package, not the source tree.
    let where_from = run(
        Command::new(venv.join("bin/python"))
            .args(["-c", "import modelarts; print(modelarts.__file__)"])
            .current_dir(dir.path()),
        "import modelarts",
    );
    assert!(where_from.contains("site-packages"), "{where_from}");

    let out = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "-rs",
            "sdk/python/tests",
            // Run by `official_v2_clients_against_a_real_server`, in a venv of its own.
            "--ignore=sdk/python/tests/test_v2_official_sdk.py",
        ])
        .current_dir(&root)
        .envs(tls_server.iter().flat_map(|t| {
            [
                ("TRAINYARD_TLS_ENDPOINT", t.url.clone()),
                ("TRAINYARD_TLS_REGION", PRIVATE_REGION.to_owned()),
            ]
        }))
        .env("MODELARTS_ENDPOINT", &server.api.base)
        .env("MODELARTS_POLL_INTERVAL", "0.2")
        .env("MODELARTS_LOCAL_DIR", dir.path().join("local-jobs"))
        .env("TRAINYARD_STORAGE_ROOT", data.join("obs"))
        .env("TRAINYARD_PROJECT", PROJECT)
        .env("TRAINYARD_OTHER_PROJECT", OTHER_PROJECT)
        .env("TRAINYARD_REGION", REGION)
        .env("TRAINYARD_TOKEN", TOKEN)
        .env("TRAINYARD_AK", AK)
        .env("TRAINYARD_SK", SK)
        .env("TRAINYARD_OTHER_AK", OTHER_AK)
        .env("TRAINYARD_OTHER_SK", OTHER_SK)
        .env("TRAINYARD_USER", USER)
        .env("TRAINYARD_ACCOUNT", ACCOUNT)
        .env("TRAINYARD_PASSWORD", PASSWORD)
        // The CLI (tests/test_ux.py saves a profile with `trainyard login`), and no profile of
        // the machine's own.
        .env("TRAINYARD_BIN", bin())
        .env(
            "TRAINYARD_PROFILE_FILE",
            dir.path().join("no-profiles.toml"),
        )
        .env_remove("TRAINYARD_PROFILE")
        .env_remove("MODELARTS_ACCESS_KEY")
        .env_remove("MODELARTS_TOKEN")
        .env_remove("MODELARTS_IAM_ENDPOINT")
        .output()
        .expect("run pytest");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    // pytest's summary (with -rs, the reasons of skipped tests) shows in the test's output.
    let tail: Vec<&str> = report.lines().rev().take(6).collect();
    eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    drop(server);
    kill_runs(&data.join("runs"));
    if let Some(t) = tls_server {
        drop(t.child);
        kill_runs(&t.data.join("runs"));
    }
    assert_eq!(out.status.code(), Some(0), "pytest failed:\n{report}");
    assert!(report.contains(" passed"), "{report}");

    let log = std::fs::read_to_string(config_path.with_extension("log")).unwrap();
    for secret in [SK, OTHER_SK, PASSWORD] {
        assert!(!log.contains(secret), "a secret appears in the server log");
    }
}

/// A region name the official SDK does not know, so it uses the endpoints it is given.
const PRIVATE_REGION: &str = "trainyard-local";

/// `trainyard serve --tls-self-signed` with project A named [`PRIVATE_REGION`].
struct TlsServer {
    child: KillOnDrop,
    url: String,
    data: PathBuf,
}

/// Kills the server when dropped, whatever the test's outcome.
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

impl TlsServer {
    /// The server, with `extra` (tables) appended to its configuration.
    async fn start(dir: &Path, sk_file: &Path, extra: &str) -> Self {
        let data = dir.join("data-tls");
        let config = format!(
            "data_dir = \"{data}\"\n\n\
             [[projects]]\nid = \"{PROJECT}\"\nname = \"{PRIVATE_REGION}\"\ntokens = [\"{TOKEN}\"]\n\
             access_keys = [{{ ak = \"{AK}\", sk_file = \"{sk}\" }}]\n\
             users = [{{ name = \"{USER}\", domain = \"{ACCOUNT}\", password = \"{PASSWORD}\" }}]\n\n\
             [executor]\ncores = 64\nmemory_gb = 256\nstop_grace_seconds = 2\n\n{viz}\n{extra}",
            data = data.display(),
            sk = sk_file.display(),
            viz = viz_config(""),
        );
        let config_path = dir.join("config-tls.toml");
        write_config(&config_path, config).unwrap();
        let port = free_port();
        let log = std::fs::File::create(dir.join("config-tls.log")).unwrap();
        let child = KillOnDrop(
            Command::new(bin())
                .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
                .arg("--config")
                .arg(&config_path)
                .arg("--tls-self-signed")
                .stdout(log.try_clone().unwrap())
                .stderr(log)
                .spawn()
                .unwrap(),
        );
        let cert = data.join("tls/cert.pem");
        let url = format!("https://127.0.0.1:{port}");
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(30);
        loop {
            if let Ok(pem) = std::fs::read(&cert) {
                let client = reqwest::Client::builder()
                    .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
                    .build()
                    .unwrap();
                if client
                    .get(format!("{url}/health"))
                    .send()
                    .await
                    .is_ok_and(|r| r.status().is_success())
                {
                    break;
                }
            }
            assert!(
                std::time::Instant::now() < deadline,
                "the HTTPS server did not come up"
            );
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
        Self { child, url, data }
    }
}

/// The Slurm pool of the new-version API test (the dev cluster's partition).
const V2_POOL: &str = "[[pools]]\nid = \"cluster\"\nbackend = \"slurm\"\npartition = \"debug\"\npoll_interval_seconds = 0.2\n";

/// The official clients of the new-version (v2) training API from PyPI, unchanged, against
/// trainyard over its own HTTPS: `huaweicloudsdkmodelarts` (pinned) through
/// `sdk/python/tests/test_v2_official_sdk.py`, whose jobs run locally, in a container and on
/// a Slurm pool, and the ModelArts CLI `modelarts-macli` through the console's REST prefix,
/// signed in with a console session; the module also runs every block of
/// `docs/api-v2-clients.md`.
#[tokio::test(flavor = "multi_thread")]
async fn official_v2_clients_against_a_real_server() {
    let image = test_image();
    let dir = tempdir().unwrap();
    let venv = dir.path().join("venv");
    let python = std::env::var("PYTHON").unwrap_or_else(|_| "python3".into());
    run(
        Command::new(&python).args(["-m", "venv"]).arg(&venv),
        "python3 -m venv",
    );
    run(
        Command::new(venv.join("bin/pip"))
            .args(["install", "-q", "--disable-pip-version-check", "pytest"])
            .args([
                "huaweicloudsdkcore==3.1.219",
                "huaweicloudsdkmodelarts==3.1.219",
                "modelarts-macli==0.2.0",
            ]),
        "pip install the official clients",
    );
    // The Slurm node only from here: the other Slurm tests wait for it, not for pip.
    let _node = slurm_node().await;
    let sk_file = dir.path().join("sk-a");
    std::fs::write(&sk_file, format!("{SK}\n")).unwrap();
    std::fs::set_permissions(&sk_file, std::fs::Permissions::from_mode(0o600)).unwrap();
    let server = TlsServer::start(dir.path(), &sk_file, V2_POOL).await;
    let out = Command::new(venv.join("bin/python"))
        .args([
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            "--noconftest",
            "-rs",
        ])
        .arg("sdk/python/tests/test_v2_official_sdk.py")
        .current_dir(repo_root())
        .env("TRAINYARD_V2_ENDPOINT", &server.url)
        .env("TRAINYARD_V2_CA", server.data.join("tls/cert.pem"))
        .env("TRAINYARD_V2_STORAGE", server.data.join("obs"))
        .env("TRAINYARD_V2_POOL", "cluster")
        .env("TRAINYARD_TEST_IMAGE", &image)
        .env("TRAINYARD_PROJECT", PROJECT)
        .env("TRAINYARD_AK", AK)
        .env("TRAINYARD_SK", SK)
        .env("TRAINYARD_USER", USER)
        .env("TRAINYARD_ACCOUNT", ACCOUNT)
        .env("TRAINYARD_PASSWORD", PASSWORD)
        .output()
        .expect("run pytest");
    let report = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    let tail: Vec<&str> = report.lines().rev().take(6).collect();
    eprintln!("{}", tail.into_iter().rev().collect::<Vec<_>>().join("\n"));
    drop(server.child);
    kill_runs(&server.data.join("runs"));
    assert_eq!(out.status.code(), Some(0), "pytest failed:\n{report}");
    assert!(
        report.contains(" passed") && !report.contains("skipped"),
        "{report}"
    );
    assert_no_containers_in(&server.data.join("runs"));
    let log = std::fs::read_to_string(dir.path().join("config-tls.log")).unwrap();
    for secret in [SK, PASSWORD] {
        assert!(!log.contains(secret), "a secret appears in the server log");
    }
}
