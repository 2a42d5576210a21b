//! Scenario `sandbox`: what the job sandbox costs at start, measured beside what it replaced, in
//! one run with one binary.
//! - Host jobs: a server run as root (each job as its project's own user: ids switched, folders
//!   handed over, `PR_SET_NO_NEW_PRIVS`) beside a server run as an ordinary user (jobs run as
//!   that user, with none of it: how every job ran before the sandbox).
//! - Container jobs: a run's own network (slirp4netns) beside the host's (`[[projects]]
//!   host_network = true`), when podman and the test image are here.

use crate::scenarios::{now_ns, wait_file, START_SH};
use crate::server::{shared_dir, Options, Server, PROJECT};
use crate::stats::{Row, Samples};
use anyhow::{Context, Result};
use std::path::Path;
use std::process::Command;
use std::time::Duration;

/// The image of the container half (scripts/make-test-image.sh).
const IMAGE: &str = "localhost/trainyard-test:1";

/// The ordinary user the unsandboxed server runs as.
const NOBODY: u32 = 65534;

/// The scenario's rows; empty when not run as root (there is no sandbox to measure then).
pub async fn rows(bin: &Path, work: &Path, n: usize) -> Result<Vec<Row>> {
    // `/proc/self` is the process's (effective) user's.
    let root = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self")?) == 0;
    if !root {
        eprintln!("sandbox: not root, nothing to compare");
        return Ok(Vec::new());
    }
    let marks = work.join("sandbox-marks");
    shared_dir(&marks)?;
    let mut rows = Vec::new();

    let sandboxed = Server::start(bin, &work.join("sandbox-root"), 2).await?;
    let plain = Server::start_with_options(
        bin,
        &work.join("sandbox-nobody"),
        2,
        &Options {
            user: Some(NOBODY),
            ..Options::default()
        },
    )
    .await?;
    // Interleaved, so both see the same machine.
    let (mut ours, mut theirs) = (Samples::default(), Samples::default());
    for i in 0..n {
        ours.push(start_once(&sandboxed, &marks, &format!("root-{i}"), false).await?);
        theirs.push(start_once(&plain, &marks, &format!("nobody-{i}"), false).await?);
    }
    rows.push(Row {
        name: "sandbox: host job start, as its project's user".into(),
        unit: "ms",
        ours,
        peers: vec![("no sandbox (server and job as one ordinary user)", theirs)],
        higher_is_better: false,
    });
    drop((sandboxed, plain));

    if !image_here() {
        eprintln!("sandbox: no podman image {IMAGE}; container half skipped");
        return Ok(rows);
    }
    let own = Server::start(bin, &work.join("sandbox-own-net"), 2).await?;
    let host = Server::start_with_options(
        bin,
        &work.join("sandbox-host-net"),
        2,
        &Options {
            project: "host_network = true",
            ..Options::default()
        },
    )
    .await?;
    let (mut ours, mut theirs) = (Samples::default(), Samples::default());
    for i in 0..n {
        ours.push(start_once(&own, &marks, &format!("own-{i}"), true).await?);
        theirs.push(start_once(&host, &marks, &format!("host-{i}"), true).await?);
    }
    rows.push(Row {
        name: "sandbox: container job start, on its run's own network".into(),
        unit: "ms",
        ours,
        peers: vec![("host network", theirs)],
        higher_is_better: false,
    });
    Ok(rows)
}

/// Submits one job that writes the time its first instruction ran (on the host, to a shared
/// folder; in a container, to its train_url); submit → that time.
pub(crate) async fn start_once(
    srv: &Server,
    marks: &Path,
    name: &str,
    container: bool,
) -> Result<Duration> {
    let app = srv.storage().join("app");
    if !app.join("start.sh").exists() {
        std::fs::create_dir_all(&app)?;
        // The data_url of every job (a container mounts it).
        std::fs::create_dir_all(srv.storage().join("data"))?;
        std::fs::write(app.join("start.sh"), START_SH)?;
        std::fs::write(app.join("start.py"), START_PY)?;
        srv.give_storage_to_server()?;
    }
    let t0 = now_ns();
    let (out, (job, version)) = if container {
        let command = "python3 /home/work/user-job-dir/app/start.py /home/work/train_url/mark";
        let train_url = format!("/out/{name}/");
        let ids = srv
            .create_in_image(name, "app", command, &train_url, IMAGE)
            .await?;
        (srv.storage().join("out").join(name).join("mark"), ids)
    } else {
        let out = marks.join(name);
        let ids = srv
            .create(
                name,
                "app",
                "start.sh",
                &[("out", out.display().to_string())],
            )
            .await?;
        (out, ids)
    };
    let written = wait_file(&out, Duration::from_secs(60)).await;
    let status = srv.status(job, version).await.unwrap_or(-1);
    let t1: u128 = written
        .with_context(|| {
            // The worker's log, for the reason.
            let log = Command::new("sh")
                .arg("-c")
                .arg(format!(
                    "tail -n 5 {}/*/logs/{name}.0",
                    srv.data.join("runs").display()
                ))
                .output()
                .map(|o| String::from_utf8_lossy(&o.stdout).into_owned())
                .unwrap_or_default();
            format!("job {name} of {PROJECT} (status {status}): {log}")
        })?
        .trim()
        .parse()?;
    Ok(Duration::from_nanos(t1.saturating_sub(t0) as u64))
}

/// The container's first instruction: the time, written whole (its busybox `date` has no
/// nanoseconds).
const START_PY: &str = "import os, sys, time\nt = str(time.time_ns())\nopen(sys.argv[1] + '.tmp', 'w').write(t)\nos.replace(sys.argv[1] + '.tmp', sys.argv[1])\n";

fn image_here() -> bool {
    Command::new("podman")
        .args(["image", "exists", IMAGE])
        .status()
        .is_ok_and(|s| s.success())
}
