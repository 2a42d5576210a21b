//! The Python SDK (`sdk/python`) against a real `trainyard serve`: a fresh virtualenv gets the
//! package as a wheel built by `python -m build` (as users install it), pytest and the
//! independent `huaweicloudsdkcore` signer from PyPI, then pytest runs
//! `sdk/python/tests` with the endpoint and credentials in the environment. The server's log must
//! not contain any secret afterwards.
//!
//! `tests/test_visualization.py` runs against real TensorBoard processes (see `common::viz_config`).

mod common;

use common::*;
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
    let dir = tempfile::tempdir().unwrap();
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
         [executor]\ncores = 64\nmemory_gb = 256\nstop_grace_seconds = 2\n\n{viz}",
        data = data.display(),
        sk = sk_file.display(),
        viz = viz_config(""),
    );
    let config_path = dir.path().join("config.toml");
    std::fs::write(&config_path, config).unwrap();
    let port = free_port();
    let server = ServerProcess::start(&config_path, port).await;

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
            "sdk/python/tests",
        ])
        .current_dir(&root)
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
    drop(server);
    kill_runs(&data.join("runs"));
    assert_eq!(out.status.code(), Some(0), "pytest failed:\n{report}");
    assert!(report.contains(" passed"), "{report}");

    let log = std::fs::read_to_string(config_path.with_extension("log")).unwrap();
    for secret in [SK, OTHER_SK, PASSWORD] {
        assert!(!log.contains(secret), "a secret appears in the server log");
    }
}
