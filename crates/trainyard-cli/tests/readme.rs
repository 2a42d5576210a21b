//! The README's curl and CLI walk-throughs run as written against a fresh server on its defaults.

mod common;

use common::*;

fn walkthrough() -> String {
    block("<!-- walkthrough -->")
}

/// The first `sh` block after `marker` in the README.
fn block(marker: &str) -> String {
    let readme =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let after = readme.split(marker).nth(1).expect("walkthrough marker");
    let block = after.split("```sh\n").nth(1).expect("sh block");
    block.split("\n```").next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let server = ServerProcess::start_args(
        &["--data-dir".as_ref(), data.as_os_str()],
        &dir.path().join("server.log"),
        port,
    )
    .await;
    let script = dir.path().join("walkthrough.sh");
    std::fs::write(&script, walkthrough()).unwrap();
    let out = tokio::process::Command::new("bash")
        .arg(&script)
        .env("TRAINYARD_DATA_DIR", &data)
        .env("TRAINYARD_URL", &server.api.base)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    kill_runs(&data.join("runs"));
    assert!(
        out.status.success(),
        "walkthrough failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(stdout.contains("status 10"), "{stdout}");
    assert!(
        stdout.contains("[\"demo.0\", \"demo.1\"]") || stdout.contains("[\"demo.0\",\"demo.1\"]"),
        "{stdout}"
    );
    assert!(stdout.contains("rank 1 of 2"), "{stdout}");
    assert!(stdout.contains("stopped version: status 12"), "{stdout}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_cli_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    // TensorBoard where the server looks by default (DATA_DIR/tensorboard-venv), as the
    // walk-through's preamble asks.
    std::fs::create_dir_all(&data).unwrap();
    let venv = tensorboard().parent().unwrap().parent().unwrap().to_owned();
    std::os::unix::fs::symlink(&venv, data.join("tensorboard-venv")).unwrap();
    let port = free_port();
    let server = ServerProcess::start_args(
        &["--data-dir".as_ref(), data.as_os_str()],
        &dir.path().join("server.log"),
        port,
    )
    .await;
    let work = dir.path().join("work");
    std::fs::create_dir_all(&work).unwrap();
    let script = dir.path().join("cli-walkthrough.sh");
    std::fs::write(&script, block("<!-- cli-walkthrough -->")).unwrap();
    let bin_dir = bin().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let mut cmd = tokio::process::Command::new("bash");
    cmd.arg(&script)
        .current_dir(&work)
        .env("PATH", path)
        .env("TRAINYARD_DATA_DIR", &data)
        .env("TRAINYARD_URL", &server.api.base)
        .env("XDG_CONFIG_HOME", dir.path().join("config"));
    for k in [
        "TRAINYARD_SERVER",
        "TRAINYARD_PROJECT",
        "TRAINYARD_TOKEN",
        "TRAINYARD_PROFILE",
        "TRAINYARD_PROFILE_FILE",
    ] {
        cmd.env_remove(k);
    }
    let out = cmd.output().await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    kill_runs(&data.join("runs"));
    assert!(
        out.status.success(),
        "cli walkthrough failed\nstdout:\n{stdout}\nstderr:\n{stderr}"
    );
    assert!(
        stdout.contains("[0] rank 0 of 2 args ['--lr=0.01']"),
        "{stdout}"
    );
    assert!(
        stdout.contains("[1] rank 1 of 2 args ['--lr=0.01']"),
        "{stdout}"
    );
    assert!(
        stdout.contains("cli-demo") && stdout.contains("COMPLETED(10)"),
        "{stdout}"
    );
    assert!(
        stdout.contains("\nrank 1 of 2 args"),
        "logs --worker 1 prints unprefixed lines: {stdout}"
    );
    assert!(stdout.contains("cli-long ended (exit 1)"), "{stdout}");
    assert!(stdout.contains("deleted job"), "{stdout}");
    assert!(
        stdout.contains("cli-tb") && stdout.contains("/trainyard/out/cli-demo/"),
        "viz list: {stdout}"
    );
    assert!(stdout.contains("TensorBoard UI: HTTP 200"), "{stdout}");
    assert!(stdout.contains("TensorBoard runs: ["), "{stdout}");
    assert!(
        stdout.contains("stopped: KILLED(12)") && stdout.contains("deleted visualization job"),
        "{stdout}"
    );
    assert!(
        stderr.contains("RUNNING(8)") && stderr.contains("KILLED(12)"),
        "{stderr}"
    );
}
