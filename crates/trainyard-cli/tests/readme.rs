//! The README's curl walk-through runs as written against a fresh server on its defaults.

mod common;

use common::*;

fn walkthrough() -> String {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../README.md")).unwrap();
    let after = readme.split("<!-- walkthrough -->").nth(1).expect("walkthrough marker");
    let block = after.split("```sh\n").nth(1).expect("sh block");
    block.split("\n```").next().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readme_walkthrough_runs_as_written() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let server = ServerProcess::start_args(&["--data-dir".as_ref(), data.as_os_str()], &dir.path().join("server.log"), port).await;
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
    assert!(out.status.success(), "walkthrough failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
    assert!(stdout.contains("status 10"), "{stdout}");
    assert!(stdout.contains("[\"demo.0\", \"demo.1\"]") || stdout.contains("[\"demo.0\",\"demo.1\"]"), "{stdout}");
    assert!(stdout.contains("rank 1 of 2"), "{stdout}");
    assert!(stdout.contains("stopped version: status 12"), "{stdout}");
}
