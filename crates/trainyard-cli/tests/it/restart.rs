//! Durability: jobs survive a kill -9 of the server and are reattached or finalized on start.

use crate::harness::*;
use serde_json::json;
use std::time::{Duration, Instant};

struct Setup {
    dir: tempfile::TempDir,
    config: std::path::PathBuf,
}

fn setup() -> Setup {
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(&config, config_text(&dir.path().join("data"), "")).unwrap();
    Setup { dir, config }
}

impl Drop for Setup {
    fn drop(&mut self) {
        kill_runs(&self.dir.path().join("data/runs"));
    }
}

fn storage(s: &Setup) -> std::path::PathBuf {
    s.dir.path().join("data/obs").join(PROJECT)
}

async fn wait_file(path: &std::path::Path) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn reattached_job_reports_its_real_failure_code() {
    let s = setup();
    let gate = s.dir.path().join("gate");
    let boot = format!(
        "import os, sys, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.05)\nsys.exit(7)\n",
        gate.display().to_string()
    );
    write_app(&storage(&s), "sevens", &[("boot.py", &boot)]);
    let port = free_port();
    let mut server = ServerProcess::start(&s.config, port).await;
    let (job, ver) = server.api.create_job("sevens", "sevens", json!({})).await;
    server
        .api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    server.kill9();
    let server = ServerProcess::start(&s.config, port).await;
    // Reattached: still running until released.
    assert_eq!(server.api.status(job, ver).await, JobStatus::RUNNING);
    std::fs::write(&gate, "").unwrap();
    assert_eq!(
        server
            .api
            .wait_status(
                job,
                ver,
                &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::LOST],
                Duration::from_secs(30)
            )
            .await,
        JobStatus::FAILED
    );
    assert!(server
        .api
        .log(job, ver, "sevens.0")
        .await
        .contains("exited with code 7"));
}

/// A second `trainyard serve` on the data folder a running server holds refuses to start,
/// naming that server's pid and address; one on the address it serves fails naming the
/// address. Neither touches the first one's job.
/// The children of `server` that are spare shims, waiting for a run (`<shim> shim -`).
fn spares_of(server: u32) -> Vec<i32> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| e.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| {
            let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
            let fields: Vec<&str> = stat
                .rsplit_once(')')
                .map_or("", |(_, rest)| rest)
                .split_whitespace()
                .collect();
            let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
            fields.get(1) == Some(&server.to_string().as_str()) && cmdline.ends_with(b"\0shim\0-\0")
        })
        .collect()
}

/// False once `pid` is gone or a zombie.
fn running(pid: i32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|stat| {
        !stat
            .rsplit_once(')')
            .is_some_and(|(_, rest)| rest.trim_start().starts_with('Z'))
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn spare_shims_exit_by_themselves_when_their_server_is_killed() {
    let s = setup();
    write_app(&storage(&s), "quick", &[("boot.py", "print('quick')\n")]);
    let port = free_port();
    let mut server = ServerProcess::start(&s.config, port).await;
    let (job, ver) = server.api.create_job("quick", "quick", json!({})).await;
    let done = [JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::LOST];
    let status = server
        .api
        .wait_status(job, ver, &done, Duration::from_secs(30))
        .await;
    assert_eq!(status, JobStatus::COMPLETED);
    // Started once the first run had its shim, kept for the next runs.
    let pid = server.child.id();
    let deadline = Instant::now() + Duration::from_secs(10);
    while spares_of(pid).is_empty() {
        assert!(
            Instant::now() < deadline,
            "the server started no spare shim"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let spares = spares_of(pid);
    server.kill9();
    let deadline = Instant::now() + Duration::from_secs(10);
    while spares.iter().any(|&p| running(p)) {
        assert!(
            Instant::now() < deadline,
            "spare shims outlived their server: {spares:?}"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_server_on_a_held_data_folder_or_a_taken_address_refuses_before_reattaching() {
    let s = setup();
    write_app(
        &storage(&s),
        "sleeper",
        &[(
            "boot.py",
            "import time\nprint('up', flush=True)\ntime.sleep(120)\n",
        )],
    );
    let port = free_port();
    let server = ServerProcess::start(&s.config, port).await;
    let (job, ver) = server.api.create_job("sleeper", "sleeper", json!({})).await;
    server
        .api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    // Its worker is up (it prints once Python has started) before the second servers try.
    server.api.wait_log(job, ver, "sleeper.0", "up").await;
    let lock = s.dir.path().join("data/serve.lock");
    let first = format!("pid {}, listening on 127.0.0.1:{port}", server.child.id());
    assert_eq!(std::fs::read_to_string(&lock).unwrap().trim(), first);
    let second = |listen: String| {
        std::process::Command::new(bin())
            .arg("serve")
            .arg("--config")
            .arg(&s.config)
            .args(["--listen", &listen])
            .output()
            .unwrap()
    };

    let held = second(format!("127.0.0.1:{}", free_port()));
    let said = String::from_utf8_lossy(&held.stderr);
    assert!(!held.status.success(), "{said}");
    assert!(
        said.contains(&format!(
            "another trainyard server ({first}) serves the data folder"
        )),
        "{said}"
    );
    let taken = second(format!("127.0.0.1:{port}"));
    let said = String::from_utf8_lossy(&taken.stderr);
    assert!(!taken.status.success(), "{said}");
    assert!(
        said.contains(&format!("cannot listen on 127.0.0.1:{port}")),
        "{said}"
    );

    // The first server still holds its folder and its job runs on, under its first shim.
    assert_eq!(std::fs::read_to_string(&lock).unwrap().trim(), first);
    assert_eq!(server.api.status(job, ver).await, JobStatus::RUNNING);
    assert!(server.api.log(job, ver, "sleeper.0").await.contains("up"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_finished_while_the_server_was_down_is_finalized_on_start() {
    let s = setup();
    let gate = s.dir.path().join("gate");
    let boot = format!(
        "import os, sys, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.05)\nsys.exit(0)\n",
        gate.display().to_string()
    );
    write_app(&storage(&s), "offline", &[("boot.py", &boot)]);
    let port = free_port();
    let mut server = ServerProcess::start(&s.config, port).await;
    let (job, ver) = server.api.create_job("offline", "offline", json!({})).await;
    server
        .api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    server.kill9();
    std::fs::write(&gate, "").unwrap();
    wait_file(&s.dir.path().join(format!("data/runs/{ver}/exit.json"))).await;
    let server = ServerProcess::start(&s.config, port).await;
    assert_eq!(
        server
            .api
            .wait_status(
                job,
                ver,
                &[JobStatus::COMPLETED, JobStatus::FAILED, JobStatus::LOST],
                Duration::from_secs(10)
            )
            .await,
        JobStatus::COMPLETED
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn job_killed_while_the_server_was_down_is_lost() {
    let s = setup();
    write_app(
        &storage(&s),
        "doomed",
        &[("boot.py", "import time\ntime.sleep(300)\n")],
    );
    let port = free_port();
    let mut server = ServerProcess::start(&s.config, port).await;
    let (job, ver) = server.api.create_job("doomed", "doomed", json!({})).await;
    server
        .api
        .wait_status(job, ver, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    let run_dir = s.dir.path().join(format!("data/runs/{ver}"));
    let deadline = Instant::now() + Duration::from_secs(20);
    while trainyard_exec::run_dir::read_workers(&run_dir).is_empty() {
        assert!(Instant::now() < deadline, "no worker was ever recorded");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    server.kill9();
    // Kill the shim and every worker, leaving no exit record.
    trainyard_exec::kill_run(&run_dir);
    let server = ServerProcess::start(&s.config, port).await;
    assert_eq!(
        server
            .api
            .wait_status(
                job,
                ver,
                &[
                    JobStatus::COMPLETED,
                    JobStatus::FAILED,
                    JobStatus::KILLED,
                    JobStatus::LOST
                ],
                Duration::from_secs(10)
            )
            .await,
        JobStatus::LOST
    );
    assert!(!run_dir.join("exit.json").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn queued_jobs_survive_a_restart_and_start_in_order() {
    let s = setup();
    std::fs::write(
        &s.config,
        config_text(
            &s.dir.path().join("data"),
            "[executor]\ncores = 1\nmemory_gb = 4\nstop_grace_seconds = 1\n",
        ),
    )
    .unwrap();
    let gate = s.dir.path().join("gate");
    let boot = format!(
        "import os, time\nwhile not os.path.exists({:?}):\n    time.sleep(0.05)\n",
        gate.display().to_string()
    );
    write_app(&storage(&s), "gated", &[("boot.py", &boot)]);
    let port = free_port();
    let mut server = ServerProcess::start(&s.config, port).await;
    let (j1, v1) = server.api.create_job("one", "gated", json!({})).await;
    server
        .api
        .wait_status(j1, v1, &[JobStatus::RUNNING], Duration::from_secs(30))
        .await;
    let (j2, v2) = server.api.create_job("two", "gated", json!({})).await;
    server
        .api
        .wait_status(j2, v2, &[JobStatus::WAITING], Duration::from_secs(10))
        .await;
    server.kill9();
    let server = ServerProcess::start(&s.config, port).await;
    assert_eq!(server.api.status(j1, v1).await, JobStatus::RUNNING);
    assert_eq!(server.api.status(j2, v2).await, JobStatus::WAITING);
    std::fs::write(&gate, "").unwrap();
    assert_eq!(
        server
            .api
            .wait_status(
                j1,
                v1,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(30)
            )
            .await,
        JobStatus::COMPLETED
    );
    assert_eq!(
        server
            .api
            .wait_status(
                j2,
                v2,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(30)
            )
            .await,
        JobStatus::COMPLETED
    );
}

/// Starts `trainyard serve --data-dir <data>` with captured stdout, waits for /health, then
/// stops it with SIGTERM and returns its stdout (graceful shutdown: exit status 0).
async fn serve_once(data: &std::path::Path) -> String {
    serve_once_on(data, free_port()).await
}

async fn serve_once_on(data: &std::path::Path, port: u16) -> String {
    let child = std::process::Command::new(bin())
        .args([
            "serve",
            "--listen",
            &format!("127.0.0.1:{port}"),
            "--data-dir",
        ])
        .arg(data)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    wait_healthy(&format!("http://127.0.0.1:{port}")).await;
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id() as i32),
        nix::sys::signal::Signal::SIGTERM,
    )
    .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "graceful shutdown exits 0: {:?}",
        output.status
    );
    String::from_utf8_lossy(&output.stdout).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn first_start_creates_credentials_once() {
    let dir = tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let stdout = serve_once_on(&data, port).await;
    let creds = data.join("credentials.toml");
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&creds).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let text = std::fs::read_to_string(&creds).unwrap();
    let parsed: toml_like::File = toml_like::parse(&text);
    assert_eq!(parsed.id.len(), 32);
    assert!(parsed.id.chars().all(|c| c.is_ascii_hexdigit()));
    assert!(
        stdout.contains(&parsed.id) && stdout.contains(&parsed.token),
        "{stdout}"
    );
    // Ready-to-paste lines for the CLI and the SDK, the AK/SK pair saved beside the token.
    for line in [
        format!("export TRAINYARD_SERVER=http://127.0.0.1:{port}\n"),
        format!("export TRAINYARD_PROJECT={}\n", parsed.id),
        format!("export TRAINYARD_TOKEN={}\n", parsed.token),
        format!("export MODELARTS_ACCESS_KEY={}\n", parsed.ak),
        format!("export MODELARTS_SECRET_KEY={}", parsed.sk),
    ] {
        assert!(stdout.contains(&line), "{line:?} missing: {stdout}");
    }
    assert!(parsed.ak.len() == 20 && parsed.sk.len() == 40, "{text}");

    // A second start reuses them and prints nothing new.
    let stdout = serve_once(&data).await;
    assert!(!stdout.contains("export "), "{stdout}");
    assert_eq!(std::fs::read_to_string(&creds).unwrap(), text);
}

/// Just enough parsing of credentials.toml for the test.
mod toml_like {
    pub struct File {
        pub id: String,
        pub token: String,
        pub ak: String,
        pub sk: String,
    }
    pub fn parse(text: &str) -> File {
        let grab = |key: &str| {
            text.lines()
                .find(|l| l.trim_start().starts_with(key))
                .and_then(|l| l.split('"').nth(1))
                .unwrap_or_default()
                .to_owned()
        };
        File {
            id: grab("id"),
            token: grab("tokens"),
            ak: grab("ak "),
            sk: grab("sk "),
        }
    }
}

/// The systemd unit in `deploy/` passes `systemd-analyze verify` (with this build as its
/// binary), and stops only the server (`KillMode=process`): jobs outlive a restart.
#[test]
fn the_systemd_unit_verifies_and_leaves_jobs_running_on_stop() {
    let unit = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/trainyard.service"),
    )
    .unwrap();
    assert!(unit.lines().any(|l| l == "KillMode=process"), "{unit}");
    let dir = tempdir().unwrap();
    let here = dir.path().join("trainyard.service");
    std::fs::write(
        &here,
        unit.replace("/usr/local/bin/trainyard", bin().to_str().unwrap()),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&here)
        .output()
        .expect("systemd-analyze (Debian's systemd; .ci/run installs it)");
    let said = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success() && said.trim().is_empty(), "{said}");
}
