//! Running trainyard: the shipped release profile, the example configuration, the container
//! image, backup and restore, and the run supervisor's own log (docs/operations.md).

use crate::harness::*;
use serde_json::json;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// `trainyard <args>`, which must succeed; its stderr.
fn trainyard_ok(args: &[&std::ffi::OsStr]) -> String {
    let out = Command::new(bin()).args(args).output().unwrap();
    let said = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(out.status.success(), "trainyard {args:?}: {said}");
    said
}

/// The release profile ships a binary without DWARF (symbols kept for backtraces): what
/// `cargo build --release` makes is what the docs tell users to install.
#[test]
fn the_release_profile_strips_debug_info() {
    let text = std::fs::read_to_string(repo_root().join("Cargo.toml")).unwrap();
    let manifest: toml::Table = toml::from_str(&text).unwrap();
    let release = &manifest["profile"]["release"];
    assert_eq!(
        release.get("strip"),
        Some(&toml::Value::from("debuginfo")),
        "{release}"
    );
    assert!(
        matches!(
            release.get("debug"),
            None | Some(toml::Value::Boolean(false))
        ),
        "debug info is compiled only to be stripped: {release}"
    );
}

/// `config.example.toml` as shipped starts a server (its paths given by flags, as the systemd
/// unit's data folder would be), which answers `/health`. That it names every key is the
/// server crate's `the_example_config_names_every_key`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_config_starts_a_server() {
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    let example = std::fs::read_to_string(repo_root().join("config.example.toml")).unwrap();
    write_config(&config, example).unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let port = free_port();
    let server = ServerProcess::start_args(
        &[
            "--config".as_ref(),
            config.as_os_str(),
            "--data-dir".as_ref(),
            data.as_os_str(),
        ],
        &log,
        port,
    )
    .await;
    let health: serde_json::Value = reqwest::get(format!("{}/health", server.api.base))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(health["status"], "ok", "{health}");
    // No projects configured: the first start made one, as the example says.
    assert!(data.join("credentials.toml").is_file());
}

/// The run supervisor logs (object-store transfers, container runtime failures, each worker's
/// end) into `shim.log` in the run folder at the server's level; TJ-10 lists it when asked
/// (`shim_log=true`) and TJ-12 reads it, while the plain list stays one file per worker.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_shim_log_is_written_at_the_servers_level_and_listed_when_asked() {
    let srv = TestServer::start().await;
    srv.write_app("talks", &[("boot.py", "print('hello', flush=True)\n")]);
    let (job, ver) = srv.api.create_job("talks", "talks", json!({})).await;
    let (end, _) = srv
        .api
        .run_to_end(job, ver, "talks.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED);
    let names = format!("/training-jobs/{job}/versions/{ver}/log/file-names");
    assert_eq!(
        srv.api.get(&names).await.assert_ok()["log_file_list"],
        json!(["talks.0"])
    );
    assert_eq!(
        srv.api
            .get(&format!("{names}?shim_log=true"))
            .await
            .assert_ok()["log_file_list"],
        json!(["talks.0", "shim.log"])
    );
    srv.api
        .get(&format!("{names}?shim_log=maybe"))
        .await
        .assert_error(400, "ModelArts.0104");
    let shim = srv.api.log(job, ver, "shim.log").await;
    assert!(shim.contains(" INFO "), "{shim}");
    for line in ["worker started", "worker exited", "run finished"] {
        assert!(shim.contains(line), "no {line:?} in {shim}");
    }
    // The raw stream reads it too.
    let r = reqwest::Client::new()
        .get(srv.api.url(&format!(
            "/training-jobs/{job}/versions/{ver}/log/stream?log_file=shim.log&follow=false"
        )))
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    assert!(r.text().await.unwrap().contains("run finished"));
}

/// The Containerfile builds with `podman build` from the binary under test (on a base made
/// offline by scripts/make-base-image.sh), and its container serves `/health`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_container_image_builds_and_serves_health() {
    let root = repo_root();
    let base = "localhost/trainyard-base:1";
    let made = Command::new("bash")
        .arg(root.join("scripts/make-base-image.sh"))
        .arg(base)
        .arg(bin())
        .output()
        .unwrap();
    assert!(
        made.status.success(),
        "make-base-image.sh: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let context = tempdir().unwrap();
    let shim = PathBuf::from(env!("CARGO_BIN_EXE_trainyard-shim"));
    for (from, name) in [(bin(), "trainyard"), (shim, "trainyard-shim")] {
        let to = context.path().join(name);
        if std::fs::hard_link(&from, &to).is_err() {
            std::fs::copy(&from, &to).unwrap();
        }
    }
    let tag = format!("localhost/trainyard-it:{}", std::process::id());
    let built = Command::new("podman")
        .args(["build", "-q", "-f"])
        .arg(root.join("Containerfile"))
        .args(["--build-arg", &format!("BASE={base}"), "-t", &tag])
        .arg(context.path())
        .output()
        .unwrap();
    assert!(
        built.status.success(),
        "podman build: {}",
        String::from_utf8_lossy(&built.stderr)
    );
    let name = format!("trainyard-it-{}", std::process::id());
    let port = free_port();
    let run = Command::new("podman")
        .args(["run", "-d", "--rm", "--network", "host", "--name", &name])
        .args(["-e", &format!("TRAINYARD_LISTEN=127.0.0.1:{port}"), &tag])
        .output()
        .unwrap();
    struct Cleanup(String, String);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            let _ = Command::new("podman")
                .args(["rm", "-f", "-t", "0", &self.0])
                .output();
            let _ = Command::new("podman").args(["rmi", "-f", &self.1]).output();
        }
    }
    let _cleanup = Cleanup(name.clone(), tag.clone());
    assert!(
        run.status.success(),
        "podman run: {}",
        String::from_utf8_lossy(&run.stderr)
    );
    wait_healthy(&format!("http://127.0.0.1:{port}")).await;
    let logs = Command::new("podman")
        .args(["logs", &name])
        .output()
        .unwrap();
    let said = String::from_utf8_lossy(&logs.stderr);
    assert!(said.contains("data_dir=/var/lib/trainyard"), "{said}");
}

/// `trainyard backup` while the server runs, the data folder wiped, `trainyard restore`: the
/// restarted server has the job, its outcome, its worker and supervisor logs and its project
/// storage back, with the files' owners (the project's job user) kept.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_then_wipe_then_restore_brings_back_jobs_and_logs() {
    let dir = tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    write_config(&config, config_text(&data, "")).unwrap();
    let storage = data.join("obs").join(PROJECT);
    write_app(
        &storage,
        "kept",
        &[(
            "boot.py",
            "for i in range(3):\n    print('line', i, 'of the past', flush=True)\n",
        )],
    );
    let port = free_port();
    let mut server = ServerProcess::start(&config, port).await;
    let (job, ver) = server.api.create_job("kept", "kept", json!({})).await;
    let (end, log) = server
        .api
        .run_to_end(job, ver, "kept.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED);
    assert!(log.contains("line 2 of the past"), "{log}");
    let shim_log = server.api.log(job, ver, "shim.log").await;
    let log_owner = {
        use std::os::unix::fs::MetadataExt;
        let logs = data.join(format!("runs/{ver}"));
        let file = walk(&logs)
            .into_iter()
            .find(|p| p.ends_with("kept.0"))
            .unwrap();
        std::fs::metadata(file).unwrap().uid()
    };

    // Online: the server still runs and answers.
    let archive = dir.path().join("backup.tar");
    let cfg = ["--config".as_ref(), config.as_os_str()];
    let said = trainyard_ok(&[&["backup".as_ref(), archive.as_os_str()][..], &cfg[..]].concat());
    assert!(said.contains("with the database"), "{said}");
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&archive).unwrap().permissions().mode();
        assert_eq!(mode & 0o777, 0o600, "the archive holds keys");
    }
    assert_eq!(server.api.status(job, ver).await, JobStatus::COMPLETED);
    server.kill9();
    drop(server);

    std::fs::remove_dir_all(&data).unwrap();
    trainyard_ok(&[&["restore".as_ref(), archive.as_os_str()][..], &cfg[..]].concat());
    // A second restore would mix two servers' data: refused.
    let again = Command::new(bin())
        .args(["restore".as_ref(), archive.as_os_str()])
        .args(cfg)
        .output()
        .unwrap();
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("is not empty"));

    let server = ServerProcess::start(&config, port).await;
    let jobs = server.api.get("/training-jobs").await;
    let listed = &jobs.assert_ok()["jobs"];
    assert_eq!(listed[0]["job_id"], json!(job), "{listed}");
    assert_eq!(server.api.status(job, ver).await, JobStatus::COMPLETED);
    assert_eq!(server.api.log(job, ver, "kept.0").await, log);
    assert_eq!(server.api.log(job, ver, "shim.log").await, shim_log);
    assert!(storage.join("kept/boot.py").is_file());
    {
        use std::os::unix::fs::MetadataExt;
        let logs = data.join(format!("runs/{ver}"));
        let file = walk(&logs)
            .into_iter()
            .find(|p| p.ends_with("kept.0"))
            .unwrap();
        assert_eq!(std::fs::metadata(file).unwrap().uid(), log_owner);
    }
    // And it runs new jobs, numbered after the restored ones.
    let (job2, ver2) = server.api.create_job("again", "kept", json!({})).await;
    assert!(job2 > job && ver2 > ver);
    let (end, _) = server
        .api
        .run_to_end(job2, ver2, "again.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED);
}

/// Every file below `dir`.
fn walk(dir: &Path) -> Vec<PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        if p.is_dir() {
            out.extend(walk(&p));
        } else {
            out.push(p);
        }
    }
    out
}

/// A job swaps a file of its run folder for a link to a root-only canary outside, and a
/// folder for a link to the canary's folder, in a tight loop while the server is backed up
/// three times: the canary's bytes never reach an archive (the backup opens nothing by a
/// path a job could have replaced).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_never_follows_links_a_job_swaps_in() {
    let dir = tempdir().unwrap();
    let data = dir.path().join("data");
    let config = dir.path().join("config.toml");
    write_config(&config, config_text(&data, "")).unwrap();
    let outside = dir.path().join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let canary = "CANARY-of-the-host-0123456789";
    std::fs::write(outside.join("secret.txt"), canary).unwrap();
    let boot = format!(
        r#"import os, time
real = "x-" * 15
os.makedirs("d-real", exist_ok=True)
with open("d-real/secret.txt", "w") as f:
    f.write(real)
print("swapping", flush=True)
end = time.time() + 60
while time.time() < end and not os.path.exists("stop"):
    os.symlink({file:?}, "secret.txt.l"); os.replace("secret.txt.l", "secret.txt")
    with open("secret.txt.f", "w") as f:
        f.write(real)
    os.replace("secret.txt.f", "secret.txt")
    os.symlink({folder:?}, "d.l"); os.replace("d.l", "d")
    os.symlink("d-real", "d.l"); os.replace("d.l", "d")
"#,
        file = outside.join("secret.txt").display().to_string(),
        folder = outside.display().to_string(),
    );
    write_app(
        &data.join("obs").join(PROJECT),
        "swapper",
        &[("boot.py", &boot)],
    );
    let server = ServerProcess::start(&config, free_port()).await;
    let (job, ver) = server.api.create_job("swapper", "swapper", json!({})).await;
    server.api.wait_log(job, ver, "swapper.0", "swapping").await;
    let cfg = ["--config".as_ref(), config.as_os_str()];
    for round in 0..3 {
        let archive = dir.path().join(format!("backup-{round}.tar"));
        trainyard_ok(&[&["backup".as_ref(), archive.as_os_str()][..], &cfg[..]].concat());
        let bytes = std::fs::read(&archive).unwrap();
        assert!(
            !bytes.windows(canary.len()).any(|w| w == canary.as_bytes()),
            "the canary is in backup {round}"
        );
    }
}
