//! The `trainyard` command line against a real server: submit from a local folder, follow
//! logs across cut connections, upload refusals, JSON output, exit codes, profiles.

use crate::harness::*;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};
use trainyard_api::catalog::{EngineListResponse, SpecListResponse};
use trainyard_api::training::{
    AomLogResponse, BuiltInAlgorithmsResponse, CreateJobResponse, JobListResponse,
    LogFileNamesResponse, Success, VersionInfo, VersionListResponse,
};
use trainyard_api::training_config::{ConfigDetail, ConfigListResponse};

/// Specs with room for several workers, whatever this host has.
const SPECS: &str = "[[specs]]\nspec_id = 1\nspec_code = \"modelarts.vm.cpu.1u\"\ncore = 1\ncpu = 1\nmax_num = 4\n\n\
[[specs]]\nspec_id = 2\nspec_code = \"modelarts.vm.cpu.2u\"\ncore = 2\ncpu = 2\nmax_num = 4\n";

/// Runs `trainyard args...` against `base` with the test project's credentials.
async fn run_at(base: &str, config_home: &Path, args: &[&str]) -> Out {
    trainyard(base, config_home, args, &[]).await
}

async fn run(srv: &TestServer, args: &[&str]) -> Out {
    run_at(&srv.api.base, &srv.dir.path().join("config-home"), args).await
}

fn local_dir(root: &Path, files: &[(&str, &str)]) -> std::path::PathBuf {
    let dir = root.join(format!("local-{}", rand_suffix()));
    for (name, content) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
    dir
}

fn rand_suffix() -> u64 {
    static N: AtomicU64 = AtomicU64::new(0);
    N.fetch_add(1, Ordering::Relaxed)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_follow_streams_every_worker_and_exits_with_the_outcome() {
    let srv = TestServer::start_with(SPECS).await;
    // The run lasts past a few status polls (200 ms apart) so --follow reports RUNNING(8) too.
    let ok = "import os, time\nfor i in range(3):\n    print('rank', os.environ['RANK'], 'step', i, flush=True)\ntime.sleep(1)\n";
    let dir = local_dir(
        srv.dir.path(),
        &[("train.py", ok), ("pkg/util.py", "X = 1\n")],
    );
    let d = dir.to_str().unwrap();
    let out = run(
        &srv,
        &[
            "jobs",
            "submit",
            d,
            "--boot",
            "train.py",
            "--param",
            "lr=0.01",
            "--workers",
            "2",
            "--spec",
            "modelarts.vm.cpu.2u",
            "--name",
            "ok",
            "--follow",
        ],
    )
    .await;
    out.ok();
    for rank in 0..2 {
        for step in 0..3 {
            assert!(
                out.stdout
                    .contains(&format!("[{rank}] rank {rank} step {step}\n")),
                "{}",
                out.stdout
            );
        }
    }
    assert!(
        out.stderr.contains("RUNNING(8)") && out.stderr.contains("COMPLETED(10)"),
        "{}",
        out.stderr
    );
    // --follow shows the run's events too.
    assert!(
        out.stderr
            .contains(": event: Training job is running on host "),
        "{}",
        out.stderr
    );
    assert_eq!(
        std::fs::read_to_string(srv.storage().join("trainyard/code/ok/pkg/util.py")).unwrap(),
        "X = 1\n"
    );

    // A failing job: --follow and wait exit 1.
    let dir = local_dir(
        srv.dir.path(),
        &[("train.py", "import sys\nprint('bye')\nsys.exit(3)\n")],
    );
    let out = run(
        &srv,
        &[
            "jobs",
            "submit",
            dir.to_str().unwrap(),
            "--boot",
            "train.py",
            "--name",
            "bad",
            "--follow",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("[0] bye"), "{}", out.stdout);
    assert!(
        out.stderr.contains("error: job") && out.stderr.contains("FAILED(11)"),
        "{}",
        out.stderr
    );
    let jobs: JobListResponse = run(&srv, &["jobs", "list", "-o", "json"]).await.json();
    let bad = jobs
        .jobs
        .iter()
        .find(|j| j.job_name == "bad")
        .unwrap()
        .job_id
        .to_string();
    let out = run(&srv, &["jobs", "wait", &bad]).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    let ok_id = jobs
        .jobs
        .iter()
        .find(|j| j.job_name == "ok")
        .unwrap()
        .job_id
        .to_string();
    let out = run(&srv, &["jobs", "wait", &ok_id, "-o", "json"]).await;
    assert_eq!(out.json::<VersionInfo>().status, 10);
}

/// A TCP proxy that cuts every open connection once the bytes sent to clients pass each of
/// `cuts`; new connections are forwarded normally.
async fn cutting_proxy(target: String, cuts: Vec<u64>) -> (String, Arc<AtomicU64>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = format!("http://{}", listener.local_addr().unwrap());
    let sent = Arc::new(AtomicU64::new(0));
    let cut_count = Arc::new(AtomicU64::new(0));
    let (cut_tx, _) = tokio::sync::broadcast::channel::<()>(4);
    let cuts = Arc::new(cuts);
    let (sent2, count2) = (sent.clone(), cut_count.clone());
    tokio::spawn(async move {
        loop {
            let Ok((mut client, _)) = listener.accept().await else {
                return;
            };
            let target = target.trim_start_matches("http://").to_owned();
            let (sent, count, cuts, cut_tx) =
                (sent2.clone(), count2.clone(), cuts.clone(), cut_tx.clone());
            let mut cut_rx = cut_tx.subscribe();
            tokio::spawn(async move {
                use tokio::io::{AsyncReadExt, AsyncWriteExt};
                let Ok(mut server) = tokio::net::TcpStream::connect(&target).await else {
                    return;
                };
                let (mut cr, mut cw) = client.split();
                let (mut sr, mut sw) = server.split();
                let up = tokio::io::copy(&mut cr, &mut sw);
                let down = async {
                    let mut buf = vec![0u8; 4096];
                    loop {
                        let n = sr.read(&mut buf).await?;
                        if n == 0 {
                            return Ok::<_, std::io::Error>(());
                        }
                        cw.write_all(&buf[..n]).await?;
                        let total = sent.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
                        let done = count.load(Ordering::SeqCst) as usize;
                        if done < cuts.len() && total >= cuts[done] {
                            count.fetch_add(1, Ordering::SeqCst);
                            let _ = cut_tx.send(());
                        }
                    }
                };
                tokio::select! {
                    _ = up => {}
                    _ = down => {}
                    _ = cut_rx.recv() => {}
                }
            });
        }
    });
    (addr, cut_count)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_follow_of_ten_thousand_lines_survives_cut_connections() {
    let srv = TestServer::start_with(SPECS).await;
    let boot = "import time\nfor i in range(10000):\n    print(f'line {i:05d}', flush=(i % 100 == 0))\n    \
                if i % 400 == 0:\n        time.sleep(0.05)\n";
    let dir = local_dir(srv.dir.path(), &[("boot.py", boot)]);
    let created: CreateJobResponse = run(
        &srv,
        &[
            "jobs",
            "submit",
            dir.to_str().unwrap(),
            "--boot",
            "boot.py",
            "--name",
            "numbers",
            "-o",
            "json",
        ],
    )
    .await
    .json();
    let job = created.job_id.to_string();
    let (proxy, cuts) = cutting_proxy(srv.api.base.clone(), vec![30_000, 70_000, 100_000]).await;
    let out = run_at(
        &proxy,
        &srv.dir.path().join("config-home"),
        &["jobs", "logs", &job, "--follow"],
    )
    .await;
    let text = out.ok();
    assert!(
        cuts.load(Ordering::SeqCst) >= 2,
        "the proxy never cut: {}",
        out.stderr
    );
    let lines: Vec<&str> = text
        .lines()
        .filter(|l| !l.starts_with("[trainyard]"))
        .collect();
    let expected: Vec<String> = (0..10000).map(|i| format!("line {i:05}")).collect();
    assert_eq!(lines.len(), expected.len(), "lost or duplicated lines");
    assert!(
        lines.iter().zip(&expected).all(|(a, b)| a == b),
        "lines out of order or altered"
    );
    assert!(
        text.ends_with("[trainyard] worker 0 exited with code 0\n"),
        "{}",
        &text[text.len() - 100..]
    );

    // The client resumes from any offset exactly.
    let client = srv.api.client();
    let version = created.version_id.unwrap();
    let full = read_all(client.read_log_bytes(created.job_id, version, "numbers.0", 0)).await;
    assert_eq!(full, text.as_bytes());
    for offset in [
        0u64,
        1,
        11,
        54_321,
        full.len() as u64 - 1,
        full.len() as u64,
    ] {
        let rest =
            read_all(client.read_log_bytes(created.job_id, version, "numbers.0", offset)).await;
        assert_eq!(rest, &full[offset as usize..], "offset {offset}");
    }
}

async fn read_all(mut log: trainyard_client::LogFollower) -> Vec<u8> {
    let mut all = Vec::new();
    while let Some(chunk) = log.next_chunk().await.unwrap() {
        all.extend_from_slice(&chunk);
    }
    all
}

fn tar_with(build: impl FnOnce(&mut tar::Builder<Vec<u8>>)) -> Vec<u8> {
    let mut b = tar::Builder::new(Vec::new());
    build(&mut b);
    b.into_inner().unwrap()
}

fn raw_file(b: &mut tar::Builder<Vec<u8>>, path: &str, data: &[u8]) {
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_entry_type(tar::EntryType::Regular);
    h.as_old_mut().name[..path.len()].copy_from_slice(path.as_bytes());
    h.set_cksum();
    b.append(&h, data).unwrap();
}

fn symlink(b: &mut tar::Builder<Vec<u8>>, path: &str, target: &str) {
    let mut h = tar::Header::new_gnu();
    h.set_entry_type(tar::EntryType::Symlink);
    h.set_size(0);
    b.append_link(&mut h, path, target).unwrap();
}

/// Every file below `dir`, with content.
fn tree(dir: &Path) -> Vec<(String, String)> {
    let mut out = Vec::new();
    let mut stack = vec![dir.to_owned()];
    while let Some(d) = stack.pop() {
        for e in std::fs::read_dir(&d).unwrap().flatten() {
            let p = e.path();
            if p.is_dir() {
                stack.push(p);
            } else {
                let rel = p.strip_prefix(dir).unwrap().display().to_string();
                out.push((rel, std::fs::read_to_string(&p).unwrap_or_default()));
            }
        }
    }
    out.sort();
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostile_or_oversized_uploads_are_refused_and_leave_nothing() {
    let srv = TestServer::start_with("[storage]\nmax_upload_bytes = 65536\n").await;
    let client = srv.api.client();
    let good = tar_with(|b| raw_file(b, "boot.py", b"print('v1')\n"));
    client.upload_tar("/app/", good).await.unwrap();
    let before = tree(&srv.storage());
    let staging = srv.dir.path().join("data/obs/.staging");
    let refused: Vec<(&str, Vec<u8>, &str)> = vec![
        (
            "dot-dot",
            tar_with(|b| {
                raw_file(b, "ok.py", b"x");
                raw_file(b, "../escaped.py", b"x")
            }),
            "ModelArts.0101",
        ),
        (
            "deep dot-dot",
            tar_with(|b| raw_file(b, "a/../../escaped.py", b"x")),
            "ModelArts.0101",
        ),
        (
            "absolute",
            tar_with(|b| raw_file(b, "/tmp/escaped.py", b"x")),
            "ModelArts.0101",
        ),
        (
            "symlink out",
            tar_with(|b| {
                raw_file(b, "boot.py", b"x");
                symlink(b, "pw", "/etc/passwd")
            }),
            "ModelArts.0101",
        ),
        (
            "symlink up",
            tar_with(|b| symlink(b, "up", "../../other")),
            "ModelArts.0101",
        ),
        (
            "too large",
            tar_with(|b| raw_file(b, "big.bin", &vec![7u8; 100_000])),
            "ModelArts.2816",
        ),
        (
            "not tar",
            b"hello, this is not a tar archive at all".repeat(20),
            "ModelArts.0101",
        ),
    ];
    for (what, archive, code) in refused {
        let err = client.upload_tar("/app/", archive).await.expect_err(what);
        assert_eq!(err.code(), Some(code), "{what}: {err}");
        assert_eq!(tree(&srv.storage()), before, "{what} changed the storage");
        assert!(
            !srv.dir.path().join("data/obs/escaped.py").exists()
                && !Path::new("/tmp/escaped.py").exists()
        );
        assert_eq!(
            std::fs::read_dir(&staging).map(|d| d.count()).unwrap_or(0),
            0,
            "{what} left staging behind"
        );
    }
    // Through the CLI: a local symlink out of the tree is sent as a symlink and refused (1).
    let dir = local_dir(srv.dir.path(), &[("train.py", "print(1)\n")]);
    std::os::unix::fs::symlink("/etc/passwd", dir.join("pw")).unwrap();
    let out = run(
        &srv,
        &[
            "jobs",
            "submit",
            dir.to_str().unwrap(),
            "--boot",
            "train.py",
            "--name",
            "sneaky",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr.contains("error: ModelArts.0101:") && out.stderr.contains("outside"),
        "{}",
        out.stderr
    );
    assert!(!srv.storage().join("trainyard/code/sneaky").exists());
    // Outside the project's folder or at its root: refused.
    for path in ["/../proj-b/app/", "/", "obs://../x/"] {
        let err = client
            .upload_tar(path, tar_with(|b| raw_file(b, "a", b"x")))
            .await
            .expect_err(path);
        assert_eq!(err.code(), Some("ModelArts.0101"), "{path}: {err}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_created_during_uploads_sees_one_whole_tree() {
    let srv = TestServer::start_with(SPECS).await;
    let client = srv.api.client();
    let version_tree = |v: usize| {
        tar_with(|b| {
            raw_file(b, "boot.py", b"pass\n");
            for i in 0..40 {
                raw_file(
                    b,
                    &format!("d{}/f{i}.txt", i % 4),
                    format!("v{v}").repeat(200).as_bytes(),
                );
            }
        })
    };
    client
        .upload_tar("/shared/", version_tree(0))
        .await
        .unwrap();
    let uploads = {
        let client = client.clone();
        tokio::spawn(async move {
            for v in 1..=12 {
                client
                    .upload_tar("/shared/", version_tree(v))
                    .await
                    .unwrap();
            }
        })
    };
    let mut created = Vec::new();
    for i in 0..12 {
        created.push(
            srv.api
                .create_job(&format!("snap{i}"), "shared", serde_json::json!({}))
                .await,
        );
    }
    uploads.await.unwrap();
    for (job, version) in &created {
        srv.api
            .wait_status(
                *job,
                *version,
                &[JobStatus::COMPLETED, JobStatus::FAILED],
                Duration::from_secs(60),
            )
            .await;
    }
    let runs = srv.dir.path().join("data/runs");
    let mut seen = 0;
    for run in std::fs::read_dir(&runs).unwrap().flatten() {
        let code = run.path().join("code");
        if !code.is_dir() {
            continue;
        }
        let files = tree(&code);
        let contents: std::collections::BTreeSet<&str> = files
            .iter()
            .filter(|(n, _)| n.ends_with(".txt"))
            .map(|(_, c)| c.as_str())
            .collect();
        assert_eq!(files.len(), 41, "{}: partial tree", run.path().display());
        assert_eq!(
            contents.len(),
            1,
            "{}: a mix of uploads",
            run.path().display()
        );
        seen += 1;
    }
    assert_eq!(seen, created.len());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn json_output_parses_as_the_api_types_and_exit_codes_are_as_documented() {
    let srv = TestServer::start_with(SPECS).await;
    let dir = local_dir(srv.dir.path(), &[("train.py", "print('hello')\n")]);
    let created: CreateJobResponse = run(
        &srv,
        &[
            "jobs",
            "submit",
            dir.to_str().unwrap(),
            "--boot",
            "train.py",
            "--name",
            "j",
            "-o",
            "json",
        ],
    )
    .await
    .json();
    let job = created.job_id.to_string();
    let _: VersionInfo = run(&srv, &["jobs", "wait", &job, "-o", "json"])
        .await
        .json();
    let list: JobListResponse = run(&srv, &["jobs", "list", "-o", "json"]).await.json();
    assert_eq!(list.jobs.len(), 1);
    let _: JobListResponse = run(
        &srv,
        &[
            "jobs",
            "list",
            "--page",
            "1",
            "--per-page",
            "5",
            "-o",
            "json",
        ],
    )
    .await
    .json();
    let v: VersionInfo = run(&srv, &["jobs", "get", &job, "-o", "json"]).await.json();
    assert_eq!(v.status, 10);
    let vs: VersionListResponse = run(&srv, &["jobs", "versions", &job, "-o", "json"])
        .await
        .json();
    assert_eq!(vs.versions.len(), 1);
    let names: LogFileNamesResponse = run(&srv, &["jobs", "logs", &job, "--list", "-o", "json"])
        .await
        .json();
    assert_eq!(names.log_file_list, vec!["j.0"]);
    let tail: AomLogResponse = run(&srv, &["jobs", "logs", &job, "--tail", "5", "-o", "json"])
        .await
        .json();
    assert!(tail.content.contains("hello"));
    assert_eq!(
        run(&srv, &["jobs", "logs", &job]).await.ok().lines().next(),
        Some("hello")
    );
    let _: SpecListResponse = run(&srv, &["specs", "-o", "json"]).await.json();
    let _: EngineListResponse = run(&srv, &["engines", "-o", "json"]).await.json();
    let _: BuiltInAlgorithmsResponse = run(&srv, &["algorithms", "-o", "json"]).await.json();
    let _: Success = run(
        &srv,
        &["jobs", "describe-update", &job, "new words", "-o", "json"],
    )
    .await
    .json();
    let cfg = srv.dir.path().join("cfg.json");
    std::fs::write(&cfg, r#"{"config_desc": "d", "worker_server_num": 1, "app_url": "/a/", "boot_file_url": "/a/b.py", "spec_id": 1}"#).unwrap();
    let _: Success = run(
        &srv,
        &[
            "configs",
            "create",
            "c1",
            "--file",
            cfg.to_str().unwrap(),
            "-o",
            "json",
        ],
    )
    .await
    .json();
    let configs: ConfigListResponse = run(&srv, &["configs", "list", "-o", "json"]).await.json();
    assert_eq!(configs.configs.len(), 1);
    let detail: ConfigDetail = run(&srv, &["configs", "get", "c1", "-o", "json"])
        .await
        .json();
    assert_eq!(detail.config_desc, "d");
    let _: Success = run(&srv, &["configs", "delete", "c1", "-o", "json"])
        .await
        .json();
    // Tables print too.
    assert!(run(&srv, &["jobs", "list"])
        .await
        .ok()
        .contains("COMPLETED(10)"));
    assert!(run(&srv, &["specs"])
        .await
        .ok()
        .contains("modelarts.vm.cpu.2u"));

    // 1: the server refused, with the ModelArts code.
    let out = run(&srv, &["jobs", "get", "999"]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.starts_with("error: ModelArts.0105: "),
        "{}",
        out.stderr
    );
    let out = run(&srv, &["jobs", "stop", &job]).await;
    assert_eq!(out.code, 1, "stopping a completed version: {}", out.stderr);
    // 2: usage.
    assert_eq!(run(&srv, &["jobs", "frobnicate"]).await.code, 2);
    // A job that is not a number is a name; none has it: refused (1).
    let out = run(&srv, &["jobs", "get", "not-a-number"]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no job named 'not-a-number'"),
        "{}",
        out.stderr
    );
    // 3: nothing listens there.
    let down = format!("http://127.0.0.1:{}", free_port());
    let home = srv.dir.path().join("config-home");
    for args in [
        &["jobs", "list"][..],
        &["jobs", "get", "1"],
        &["specs", "-o", "json"],
        &["jobs", "logs", "1", "--follow"],
    ] {
        let out = run_at(&down, &home, args).await;
        assert_eq!(out.code, 3, "{args:?}: {}", out.stderr);
        assert!(
            out.stderr.starts_with("error: cannot reach the server"),
            "{}",
            out.stderr
        );
    }
    // 0 for delete, then the job is gone (1).
    let _: Success = run(&srv, &["jobs", "delete", &job, "-o", "json"])
        .await
        .json();
    assert_eq!(run(&srv, &["jobs", "get", &job]).await.code, 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn profiles_env_and_flags_combine_and_completions_print() {
    let srv = TestServer::start().await;
    let home = srv.dir.path().join("home");
    std::fs::create_dir_all(home.join("trainyard")).unwrap();
    let token_file = srv.dir.path().join("token");
    std::fs::write(&token_file, format!("{TOKEN}\n")).unwrap();
    std::fs::write(
        home.join("trainyard/profiles.toml"),
        format!(
            "[default]\nserver = \"{}\"\nproject = \"{PROJECT}\"\ntoken = \"{TOKEN}\"\n\n[other]\nserver = \"{}\"\nproject = \"{OTHER_PROJECT}\"\ntoken_file = \"{}\"\n",
            srv.api.base,
            srv.api.base,
            token_file.display()
        ),
    )
    .unwrap();
    let cli = |args: &[&str]| {
        let mut c = std::process::Command::new(bin());
        c.args(args).env("XDG_CONFIG_HOME", &home);
        for k in [
            "TRAINYARD_SERVER",
            "TRAINYARD_PROJECT",
            "TRAINYARD_TOKEN",
            "TRAINYARD_PROFILE",
            "TRAINYARD_PROFILE_FILE",
        ] {
            c.env_remove(k);
        }
        c
    };
    let run_blocking =
        |mut c: std::process::Command| tokio::task::spawn_blocking(move || c.output().unwrap());
    // The default profile alone.
    let out = run_blocking(cli(&["engines", "-o", "json"])).await.unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // A named profile: the token of proj-a does not open proj-b (1, 0210).
    let out = run_blocking(cli(&["--profile", "other", "engines"]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ModelArts.0210"));
    // Flags beat the profile; env beats the profile.
    let out = run_blocking(cli(&[
        "--profile",
        "other",
        "--project",
        PROJECT,
        "engines",
    ]))
    .await
    .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut c = cli(&["engines"]);
    c.env("TRAINYARD_TOKEN", "wrong");
    let out = run_blocking(c).await.unwrap();
    assert!(String::from_utf8_lossy(&out.stderr).contains("ModelArts.0203"));
    // An unknown profile is a usage error.
    let out = run_blocking(cli(&["--profile", "nope", "engines"]))
        .await
        .unwrap();
    assert_eq!(out.status.code(), Some(2));

    for shell in ["bash", "zsh", "fish"] {
        let out = run_blocking(cli(&["completions", shell])).await.unwrap();
        assert!(out.status.success());
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(
            text.contains("trainyard") && text.contains("COMPLETE"),
            "{shell}: {text}"
        );
    }
    let help = run_blocking(cli(&["--help"])).await.unwrap();
    assert!(String::from_utf8_lossy(&help.stdout).contains("3 server unreachable"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_checks_the_credentials_and_saves_a_private_profile() {
    use std::os::unix::fs::PermissionsExt;
    let srv = TestServer::start().await;
    let file = srv.dir.path().join("profiles/profiles.toml");
    let cli = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = std::process::Command::new(bin());
        c.args(args).env("TRAINYARD_PROFILE_FILE", &file);
        for k in [
            "TRAINYARD_SERVER",
            "TRAINYARD_PROJECT",
            "TRAINYARD_TOKEN",
            "TRAINYARD_PROFILE",
            "TRAINYARD_DATA_DIR",
        ] {
            c.env_remove(k);
        }
        c.envs(env.iter().copied());
        c.output().unwrap()
    };
    // A wrong token is refused by the server and nothing is written.
    let out = cli(
        &["login", "--profile", "lab"],
        &[
            ("TRAINYARD_SERVER", &srv.api.base),
            ("TRAINYARD_PROJECT", PROJECT),
            ("TRAINYARD_TOKEN", "wrong"),
        ],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("ModelArts.0203"));
    assert!(!file.exists());
    // Good credentials: saved with mode 0600; the profile then works alone.
    let out = cli(
        &[
            "login",
            "--profile",
            "lab",
            "-s",
            &srv.api.base,
            "-p",
            PROJECT,
        ],
        &[("TRAINYARD_TOKEN", TOKEN)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        std::fs::metadata(&file).unwrap().permissions().mode() & 0o777,
        0o600
    );
    let out = cli(&["--profile", "lab", "jobs", "list", "-o", "json"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // On the server's machine, project and token come from its data dir.
    let data = srv.dir.path().join("local-data");
    std::fs::create_dir_all(&data).unwrap();
    std::fs::write(
        data.join("credentials.toml"),
        format!("[[projects]]\nid = \"{PROJECT}\"\ntokens = [\"{TOKEN}\"]\n"),
    )
    .unwrap();
    let out = cli(
        &["login", "--data-dir", data.to_str().unwrap()],
        &[("TRAINYARD_SERVER", &srv.api.base)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Both profiles listed, no token shown.
    let out = cli(&["profiles"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success());
    assert!(
        text.contains("lab") && text.contains("default") && text.contains(PROJECT),
        "{text}"
    );
    assert!(!text.contains(TOKEN), "{text}");
}

/// Runs `trainyard args...` like `run`, with extra environment variables.
async fn run_env(srv: &TestServer, args: &[&str], env: &[(&str, &str)]) -> Out {
    trainyard(
        &srv.api.base,
        &srv.dir.path().join("config-home"),
        args,
        env,
    )
    .await
}

/// Every line of `text` fits in `width` columns (one char = one column here).
#[track_caller]
fn assert_fits(text: &str, width: usize) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= width,
            "line of {} columns > {width}:\n{line}\nin:\n{text}",
            line.chars().count()
        );
    }
}

/// Data rows of a table (after the header), as their first cell.
fn first_column(table: &str) -> Vec<String> {
    table
        .lines()
        .skip(1)
        .map(|l| l.split_whitespace().next().unwrap_or("").to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_list_is_newest_first_sorts_filters_limits_and_fits_80_columns() {
    let srv = TestServer::start_with(SPECS).await;
    srv.write_app("app", &[("boot.py", "print('hi')\n")]);
    let long_name = "a-rather-long-job-name-for-a-sweep-over-learning-rates-and-seeds";
    let mut ids = Vec::new();
    for name in ["sweep-lr-1", "sweep-lr-10", "sweep-lr-2", long_name] {
        let (job, version) = srv.api.create_job(name, "app", serde_json::json!({})).await;
        srv.api
            .wait_status(
                job,
                version,
                &[JobStatus::COMPLETED],
                Duration::from_secs(30),
            )
            .await;
        ids.push(job);
    }
    let desc = "a description long enough that it cannot fit beside the other columns of the table";
    run(
        &srv,
        &["jobs", "describe-update", &ids[3].to_string(), desc],
    )
    .await
    .ok();
    let cols80 = [("COLUMNS", "80")];

    // Default: newest first, one line per job, the name never cut (identifiers stay whole,
    // even past 80 columns), the description cut with an ellipsis or, where not even a few
    // characters of it fit, left out.
    let out = run_env(&srv, &["jobs", "list"], &cols80).await;
    let table = out.ok();
    assert_eq!(table.lines().count(), 5, "{table}");
    let newest_first: Vec<String> = ids.iter().rev().map(|i| i.to_string()).collect();
    assert_eq!(first_column(table), newest_first, "{table}");
    assert!(
        !table.contains(desc) && table.contains(long_name),
        "{table}"
    );
    assert!(
        table.contains("COMPLETED(10)"),
        "statuses are never cut: {table}"
    );
    assert!(!table.contains('\x1b'), "no colour into a pipe: {table:?}");

    // Sorting, limits, status names or codes.
    let sorted: JobListResponse = run(
        &srv,
        &[
            "jobs",
            "list",
            "--sort-by",
            "job_name",
            "--order",
            "asc",
            "-o",
            "json",
        ],
    )
    .await
    .json();
    let names: Vec<&str> = sorted.jobs.iter().map(|j| j.job_name.as_str()).collect();
    assert_eq!(
        names,
        [long_name, "sweep-lr-1", "sweep-lr-10", "sweep-lr-2"]
    );
    let out = run_env(&srv, &["jobs", "list", "--limit", "2"], &cols80).await;
    assert_eq!(first_column(out.ok()), newest_first[..2], "{}", out.stdout);
    assert!(out.stderr.contains("2 of 4 jobs"), "{}", out.stderr);
    let by_name: JobListResponse = run(
        &srv,
        &["jobs", "list", "--status", "completed", "-o", "json"],
    )
    .await
    .json();
    let by_code: JobListResponse = run(&srv, &["jobs", "list", "--status", "10", "-o", "json"])
        .await
        .json();
    assert_eq!(by_name.jobs.len(), 4);
    assert_eq!(by_code.jobs.len(), 4);
    let running: JobListResponse =
        run(&srv, &["jobs", "list", "--status", "RUNNING", "-o", "json"])
            .await
            .json();
    assert!(running.jobs.is_empty());
    let out = run(&srv, &["jobs", "list", "--status", "sleepy"]).await;
    assert_eq!(out.code, 2);
    assert!(
        out.stderr.contains("running") && out.stderr.contains("completed"),
        "{}",
        out.stderr
    );
    // --per-page alone is the first page.
    let page: JobListResponse = run(&srv, &["jobs", "list", "--per-page", "1", "-o", "json"])
        .await
        .json();
    assert_eq!(page.jobs.len(), 1);

    // -o wide: every column, nothing cut, whatever the width.
    let out = run_env(&srv, &["jobs", "list", "-o", "wide"], &cols80).await;
    assert!(
        out.ok().contains(long_name)
            && out.stdout.contains(desc)
            && out.stdout.contains("VERSIONS"),
        "{}",
        out.stdout
    );

    // Colours: --color always; never with NO_COLOR under auto; never with --color never.
    let out = run_env(&srv, &["jobs", "list", "--color", "always"], &cols80).await;
    assert!(
        out.ok().contains("\x1b[") && out.stdout.contains("COMPLETED(10)"),
        "{:?}",
        out.stdout
    );
    assert!(
        strip_ansi(&out.stdout).contains(long_name),
        "{}",
        out.stdout
    );
    let out = run_env(&srv, &["jobs", "list", "--color", "never"], &[]).await;
    assert!(!out.ok().contains('\x1b'));
    let out = run_env(
        &srv,
        &["jobs", "get", &ids[0].to_string(), "--color", "always"],
        &[("NO_COLOR", "1")],
    )
    .await;
    assert!(
        out.ok().contains("\x1b[32mCOMPLETED(10)"),
        "always beats NO_COLOR: {:?}",
        out.stdout
    );

    // Times: local (TZ) by default, --utc in RFC 3339.
    let jobs: JobListResponse = run(&srv, &["jobs", "list", "-o", "json"]).await.json();
    let created = jiff::Timestamp::from_millisecond(jobs.jobs[0].create_time).unwrap();
    let tokyo = created
        .to_zoned_datetime(jiff::tz::TimeZone::get("Asia/Tokyo").unwrap())
        .strftime("%Y-%m-%d %H:%M:%S")
        .to_string();
    let out = run_env(
        &srv,
        &["jobs", "list", "-o", "wide"],
        &[("TZ", "Asia/Tokyo")],
    )
    .await;
    assert!(out.ok().contains(&tokyo), "{tokyo} in {}", out.stdout);
    let utc = created.strftime("%Y-%m-%dT%H:%M:%SZ").to_string();
    let out = run_env(
        &srv,
        &["jobs", "list", "-o", "wide", "--utc"],
        &[("TZ", "Asia/Tokyo")],
    )
    .await;
    assert!(out.ok().contains(&utc), "{utc} in {}", out.stdout);

    // Other tables fit too.
    for args in [
        &["jobs", "versions", &ids[3].to_string()][..],
        &["specs"],
        &["engines"],
        &["configs", "list"],
    ] {
        let out = run_env(&srv, args, &cols80).await;
        assert_fits(out.ok(), 80);
    }

    // --watch redraws until interrupted.
    let mut child = tokio::process::Command::new(bin())
        .args(["jobs", "list", "--watch", "--interval", "0.2"])
        .env("TRAINYARD_SERVER", &srv.api.base)
        .env("TRAINYARD_PROJECT", PROJECT)
        .env("TRAINYARD_TOKEN", TOKEN)
        .env_remove("TRAINYARD_PROFILE")
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines =
        tokio::io::AsyncBufReadExt::lines(tokio::io::BufReader::new(child.stdout.take().unwrap()));
    let mut headers = 0;
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while headers < 2 {
        let line = tokio::time::timeout_at(deadline.into(), lines.next_line())
            .await
            .expect("two snapshots")
            .unwrap()
            .unwrap();
        if line.starts_with("ID ") {
            headers += 1;
        }
    }
    nix::sys::signal::kill(
        nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
        nix::sys::signal::Signal::SIGINT,
    )
    .unwrap();
    let status = tokio::time::timeout(Duration::from_secs(10), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert!(status.success(), "Ctrl-C ends --watch cleanly: {status:?}");
}

/// `text` without ANSI SGR sequences.
fn strip_ansi(text: &str) -> String {
    let mut out = String::new();
    let mut chars = text.chars();
    while let Some(c) = chars.next() {
        if c == '\x1b' {
            for d in chars.by_ref() {
                if d == 'm' {
                    break;
                }
            }
        } else {
            out.push(c);
        }
    }
    out
}

/// A test CA and a server certificate for `localhost` and `127.0.0.1` signed by it, written
/// as PEM files into `dir`: (ca.pem, cert.pem, key.pem).
fn test_ca(dir: &Path) -> (std::path::PathBuf, std::path::PathBuf, std::path::PathBuf) {
    use rcgen::{BasicConstraints, CertificateParams, DnType, IsCa, KeyPair, KeyUsagePurpose};
    let mut ca_params = CertificateParams::new(Vec::<String>::new()).unwrap();
    ca_params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
    ca_params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
    ca_params
        .distinguished_name
        .push(DnType::CommonName, "trainyard test CA");
    let ca_key = KeyPair::generate().unwrap();
    let ca = ca_params.self_signed(&ca_key).unwrap();
    let leaf_params =
        CertificateParams::new(vec!["localhost".to_owned(), "127.0.0.1".to_owned()]).unwrap();
    let leaf_key = KeyPair::generate().unwrap();
    let leaf = leaf_params.signed_by(&leaf_key, &ca, &ca_key).unwrap();
    let (ca_pem, cert_pem, key_pem) = (
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    );
    std::fs::write(&ca_pem, ca.pem()).unwrap();
    std::fs::write(&cert_pem, leaf.pem()).unwrap();
    std::fs::write(&key_pem, leaf_key.serialize_pem()).unwrap();
    (ca_pem, cert_pem, key_pem)
}

/// Kills a child process when dropped (whatever the test's outcome).
struct KillOnDrop(std::process::Child);

impl Drop for KillOnDrop {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn cli_and_sdk_talk_https_to_serve_with_a_test_ca() {
    let dir = tempdir().unwrap();
    let (ca, cert, key) = test_ca(dir.path());
    let data = dir.path().join("data");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink(
        tensorboard().parent().unwrap().parent().unwrap(),
        data.join("tensorboard-venv"),
    )
    .unwrap();
    let port = free_port();
    let out_path = dir.path().join("serve.out");
    let server = KillOnDrop(
        std::process::Command::new(bin())
            .args([
                "serve",
                "--listen",
                &format!("127.0.0.1:{port}"),
                "--data-dir",
            ])
            .arg(&data)
            .arg("--tls-cert")
            .arg(&cert)
            .arg("--tls-key")
            .arg(&key)
            .env_remove("TRAINYARD_CONFIG")
            .env("XDG_CONFIG_HOME", dir.path().join("no-config"))
            .stdout(std::fs::File::create(&out_path).unwrap())
            .stderr(std::fs::File::create(dir.path().join("serve.err")).unwrap())
            .spawn()
            .unwrap(),
    );
    let https = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .build()
        .unwrap();
    let deadline = std::time::Instant::now() + Duration::from_secs(20);
    while !https
        .get(format!("https://localhost:{port}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            std::time::Instant::now() < deadline,
            "HTTPS server did not come up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    // Plain HTTP is not served on the TLS port.
    assert!(reqwest::get(format!("http://127.0.0.1:{port}/health"))
        .await
        .is_err());
    let printed = std::fs::read_to_string(&out_path).unwrap();
    let exports: Vec<(String, String)> = printed
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    assert_eq!(
        exports[0],
        (
            "TRAINYARD_SERVER".to_owned(),
            format!("https://127.0.0.1:{port}")
        ),
        "{printed}"
    );

    let cli = |args: &[&str], trust: bool| {
        let mut c = std::process::Command::new(bin());
        c.args(args)
            .env("XDG_CONFIG_HOME", dir.path().join("cli-config"));
        for k in [
            "TRAINYARD_PROFILE",
            "TRAINYARD_PROFILE_FILE",
            "SSL_CERT_FILE",
            "SSL_CERT_DIR",
        ] {
            c.env_remove(k);
        }
        c.envs(exports.iter().map(|(k, v)| (k.as_str(), v.as_str())));
        if trust {
            c.env("SSL_CERT_FILE", &ca);
        }
        c.output().unwrap()
    };
    // The CLI trusts the CA through SSL_CERT_FILE, and refuses the server without it.
    let out = cli(&["jobs", "list", "-o", "json"], true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["jobs", "list"], false);
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr).to_lowercase();
    assert!(err.contains("certificate") || err.contains("tls"), "{err}");

    // The SDK (AK/SK of the first start, endpoint from TRAINYARD_SERVER) over the same CA.
    let sdk = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../sdk/python");
    let out = std::process::Command::new("python3")
        .arg("-c")
        .arg(
            "import os\nfrom modelarts.session import Session\nfrom modelarts.estimator import Estimator\n\
             s = Session(access_key=os.environ['MODELARTS_ACCESS_KEY'], secret_key=os.environ['MODELARTS_SECRET_KEY'], \
             project_id=os.environ['TRAINYARD_PROJECT'], region_name='r')\n\
             assert s.endpoint.startswith('https://'), s.endpoint\n\
             print(Estimator.get_job_list(modelarts_session=s, per_page=1, page=1)['is_success'])\n",
        )
        .env("PYTHONPATH", &sdk)
        .env("SSL_CERT_FILE", &ca)
        .env_remove("MODELARTS_ENDPOINT")
        .envs(exports.iter().map(|(k, v)| (k.as_str(), v.as_str())))
        .output()
        .unwrap();
    assert!(
        out.status.success() && String::from_utf8_lossy(&out.stdout).trim() == "True",
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );

    // Behind HTTPS the viz URL is https and its cookie Secure.
    let out = cli(
        &[
            "viz",
            "create",
            "--train-url",
            "/out/",
            "--name",
            "tls-tb",
            "-o",
            "json",
        ],
        true,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let created: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let id = created["job_id"].as_i64().unwrap().to_string();
    let out = cli(&["viz", "open", &id], true);
    let url = String::from_utf8_lossy(&out.stdout).trim().to_owned();
    assert!(
        url.starts_with(&format!("https://127.0.0.1:{port}/")),
        "{url}"
    );
    let no_redirect = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let resp = no_redirect.get(&url).send().await.unwrap();
    assert_eq!(resp.status(), 303);
    let cookie = resp.headers()["set-cookie"].to_str().unwrap().to_owned();
    assert!(
        cookie.contains("Secure") && cookie.contains("HttpOnly"),
        "{cookie}"
    );
    let out = cli(&["viz", "delete", &id], true);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(server);
    kill_runs(&data.join("runs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_leave_out_git_virtualenvs_and_ignored_files_and_failed_submits_leave_nothing() {
    let srv = TestServer::start_with(SPECS).await;
    let dir = local_dir(
        srv.dir.path(),
        &[
            ("train.py", "print('trained')\n"),
            ("pkg/model.py", "W = 1\n"),
            (".git/HEAD", "ref: refs/heads/main\n"),
            (".git/objects/ab/cdef", "blob"),
            (".venv/pyvenv.cfg", "home = /usr/bin\n"),
            (".venv/lib/site.py", "# a virtualenv\n"),
            ("env2/pyvenv.cfg", "home = /usr/bin\n"),
            ("env2/bin/python", "#!/bin/sh\n"),
            (".gitignore", "*.log\n/data/\n"),
            ("run.log", "noise\n"),
            ("data/big.bin", "0123456789"),
            (".trainyardignore", "secrets.txt\ncheckpoints/\n"),
            ("secrets.txt", "hunter2\n"),
            ("checkpoints/epoch1.pt", "weights"),
            ("pkg/__pycache__/model.cpython-311.pyc", "bytecode"),
        ],
    );
    let d = dir.to_str().unwrap();

    // --dry-run lists what would go and creates nothing.
    let out = run(
        &srv,
        &[
            "jobs",
            "submit",
            d,
            "--boot",
            "train.py",
            "--name",
            "dry",
            "--dry-run",
        ],
    )
    .await;
    out.ok();
    assert!(
        out.stderr.contains("would upload 4 files"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("pkg/model.py") && !out.stderr.contains("secrets.txt"),
        "{}",
        out.stderr
    );
    assert!(!srv.storage().join("trainyard/code/dry").exists());
    let jobs: JobListResponse = run(&srv, &["jobs", "list", "-o", "json"]).await.json();
    assert!(jobs.jobs.is_empty());

    // A bad spec code is refused before uploading, naming the valid codes.
    let out = run(
        &srv,
        &[
            "jobs",
            "submit",
            d,
            "--boot",
            "train.py",
            "--name",
            "badspec",
            "--spec",
            "modelarts.vm.gpu.p100",
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("modelarts.vm.cpu.1u") && out.stderr.contains("modelarts.vm.cpu.2u"),
        "{}",
        out.stderr
    );
    assert!(
        !srv.storage().join("trainyard/code/badspec").exists(),
        "nothing uploaded"
    );
    // Too many workers and an unknown engine: refused the same way.
    let out = run(
        &srv,
        &[
            "jobs",
            "submit",
            d,
            "--boot",
            "train.py",
            "--name",
            "many",
            "--workers",
            "9",
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    let out = run(
        &srv,
        &[
            "jobs", "submit", d, "--boot", "train.py", "--name", "eng", "--engine", "424242",
        ],
    )
    .await;
    assert_eq!(out.code, 2, "{}", out.stderr);
    assert!(
        out.stderr.contains("1000"),
        "valid engines listed: {}",
        out.stderr
    );
    // Refused by the server after the upload (data path outside the storage): taken back.
    let out = run(
        &srv,
        &[
            "jobs",
            "submit",
            d,
            "--boot",
            "train.py",
            "--name",
            "late",
            "--data",
            "/../../etc/",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(out.stderr.contains("ModelArts."), "{}", out.stderr);
    assert!(
        !srv.storage().join("trainyard/code/late").exists(),
        "the upload was removed"
    );

    // The real submit: only the code reaches the server.
    let out = run(
        &srv,
        &[
            "jobs", "submit", d, "--boot", "train.py", "--name", "clean", "--follow",
        ],
    )
    .await;
    out.ok();
    let mut uploaded = tree(&srv.storage().join("trainyard/code/clean"));
    uploaded.sort();
    let names: Vec<&str> = uploaded.iter().map(|(p, _)| p.as_str()).collect();
    assert_eq!(
        names,
        [".gitignore", ".trainyardignore", "pkg/model.py", "train.py"],
        "{uploaded:?}"
    );
    // A second submit of the same name is refused before uploading, pointing at rerun.
    let out = run(
        &srv,
        &["jobs", "submit", d, "--boot", "train.py", "--name", "clean"],
    )
    .await;
    assert_eq!(out.code, 2);
    assert!(out.stderr.contains("jobs rerun clean"), "{}", out.stderr);

    // Deleting the job (by name) removes its uploaded code.
    run(&srv, &["jobs", "delete", "clean"]).await.ok();
    assert!(!srv.storage().join("trainyard/code/clean").exists());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_work_wherever_ids_do_and_rerun_and_configs_make_new_runs() {
    let srv = TestServer::start_with(SPECS).await;
    let train = "import sys\nprint('args', sys.argv[3:], flush=True)\n";
    let dir = local_dir(srv.dir.path(), &[("train.py", train)]);
    let d = dir.to_str().unwrap();
    let out = run(
        &srv,
        &[
            "jobs", "submit", d, "--boot", "train.py", "--name", "sweep", "--param", "lr=0.1",
            "--param", "seed=1", "--follow",
        ],
    )
    .await;
    out.ok();
    assert!(
        out.stdout.contains("'--lr=0.1', '--seed=1'"),
        "{}",
        out.stdout
    );

    // Names in place of ids.
    let v: VersionInfo = run(&srv, &["jobs", "get", "sweep", "-o", "json"])
        .await
        .json();
    assert_eq!(v.job_name.as_deref(), Some("sweep"));
    let out = run(&srv, &["jobs", "logs", "sweep"]).await;
    assert!(out.ok().contains("args"), "{}", out.stdout);
    let out = run(&srv, &["jobs", "get", "no-such-job"]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("no job named 'no-such-job'"),
        "{}",
        out.stderr
    );

    // rerun: a new version from the latest, one parameter changed, the others kept.
    let out = run(
        &srv,
        &["jobs", "rerun", "sweep", "--param", "lr=0.2", "--follow"],
    )
    .await;
    out.ok();
    assert!(
        out.stdout.contains("'--lr=0.2', '--seed=1'"),
        "{}",
        out.stdout
    );
    let versions: VersionListResponse = run(&srv, &["jobs", "versions", "sweep", "-o", "json"])
        .await
        .json();
    assert_eq!(versions.versions.len(), 2);
    assert_eq!(
        versions.versions[0].pre_version_id,
        Some(versions.versions[1].version_id)
    );
    // From a given version.
    let first = versions.versions[1].version_id.to_string();
    let out = run(
        &srv,
        &[
            "jobs",
            "rerun",
            "sweep",
            "--version",
            &first,
            "--param",
            "seed=2",
            "--follow",
        ],
    )
    .await;
    assert!(
        out.ok().contains("'--lr=0.1', '--seed=2'"),
        "{}",
        out.stdout
    );

    // submit --config: a stored configuration with flags on top (code already in storage).
    srv.write_app("cfgcode", &[("boot.py", train)]);
    srv.write_app("cfgdata", &[("x.csv", "1")]);
    let body = serde_json::json!({
        "config_desc": "saved run",
        "worker_server_num": 1,
        "app_url": "/cfgcode/",
        "boot_file_url": "/cfgcode/boot.py",
        "data_source": [{"type": "obs", "data_url": "/cfgdata/"}],
        "spec_id": 1,
        "engine_id": 1000,
        "parameter": [{"label": "lr", "value": "0.5"}, {"label": "epochs", "value": "3"}]
    });
    let file = srv.dir.path().join("cfg.json");
    std::fs::write(&file, body.to_string()).unwrap();
    run(
        &srv,
        &[
            "configs",
            "create",
            "saved",
            "--file",
            file.to_str().unwrap(),
        ],
    )
    .await
    .ok();
    let out = run(
        &srv,
        &[
            "jobs",
            "submit",
            "--config",
            "saved",
            "--name",
            "from-config",
            "--param",
            "epochs=5",
            "--follow",
        ],
    )
    .await;
    out.ok();
    assert!(
        out.stdout.contains("'--lr=0.5', '--epochs=5'"),
        "{}",
        out.stdout
    );
    // The configuration's data input is the run's (not a default data_url).
    let list = srv
        .api
        .get("/training-jobs?search_content=from-config&per_page=10&page=1")
        .await;
    let job = &list.assert_ok()["jobs"][0];
    let detail = srv
        .api
        .get(&format!(
            "/training-jobs/{}/versions/{}",
            job["job_id"], job["version_id"]
        ))
        .await;
    let detail = detail.assert_ok();
    assert_eq!(
        detail["data_source"][0]["data_url"], "/cfgdata/",
        "{detail}"
    );
    let out = run(&srv, &["jobs", "submit", "--config", "nope", "--name", "x"]).await;
    assert_eq!(out.code, 1, "{}", out.stderr);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_version_names_the_worker_its_exit_and_its_last_lines() {
    let srv = TestServer::start_with(SPECS).await;
    let boot = "import os, sys, time\nif os.environ['RANK'] == '1':\n    print('loading shard', flush=True)\n    print('out of memory', flush=True)\n    sys.exit(7)\ntime.sleep(30)\n";
    let dir = local_dir(srv.dir.path(), &[("train.py", boot)]);
    let out = run(
        &srv,
        &[
            "jobs",
            "submit",
            dir.to_str().unwrap(),
            "--boot",
            "train.py",
            "--name",
            "oom",
            "--workers",
            "2",
            "--follow",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("FAILED(11): worker 1 exited with code 7"),
        "{}",
        out.stderr
    );
    assert!(
        out.stderr.contains("last lines of oom.1:") && out.stderr.contains("  out of memory"),
        "{}",
        out.stderr
    );
    let out = run(&srv, &["jobs", "wait", "oom"]).await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("worker 1 exited with code 7"),
        "{}",
        out.stderr
    );
    // A signal is named as such.
    let boot = "import os, signal\nos.kill(os.getpid(), signal.SIGKILL)\n";
    let dir = local_dir(srv.dir.path(), &[("train.py", boot)]);
    let out = run(
        &srv,
        &[
            "jobs",
            "submit",
            dir.to_str().unwrap(),
            "--boot",
            "train.py",
            "--name",
            "sig",
            "--follow",
        ],
    )
    .await;
    assert_eq!(out.code, 1);
    assert!(
        out.stderr.contains("worker 0 killed by signal"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_on_follow_detaches_and_a_second_one_stops_the_job() {
    use tokio::io::AsyncBufReadExt;
    let srv = TestServer::start_with(SPECS).await;
    let boot = "import time\nprint('started', flush=True)\ntime.sleep(120)\n";
    let dir = local_dir(srv.dir.path(), &[("train.py", boot)]);
    let follow = |name: &str| {
        let mut c = tokio::process::Command::new(bin());
        c.args([
            "jobs",
            "submit",
            dir.to_str().unwrap(),
            "--boot",
            "train.py",
            "--name",
            name,
            "--follow",
        ])
        .env_remove("TRAINYARD_PROFILE")
        .env("TRAINYARD_SERVER", &srv.api.base)
        .env("TRAINYARD_PROJECT", PROJECT)
        .env("TRAINYARD_TOKEN", TOKEN)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
        c.spawn().unwrap()
    };
    let sigint = |child: &tokio::process::Child| {
        nix::sys::signal::kill(
            nix::unistd::Pid::from_raw(child.id().unwrap() as i32),
            nix::sys::signal::Signal::SIGINT,
        )
        .unwrap()
    };
    async fn started(child: &mut tokio::process::Child) {
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        while let Some(line) = tokio::time::timeout(Duration::from_secs(30), lines.next_line())
            .await
            .unwrap()
            .unwrap()
        {
            if line.contains("started") {
                return;
            }
        }
        panic!("the job never started");
    }
    // One Ctrl-C: detached, the job goes on, exit 130 with directions.
    let mut child = follow("detach");
    started(&mut child).await;
    sigint(&child);
    let out = tokio::time::timeout(Duration::from_secs(20), child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(130), "{err}");
    assert!(
        err.contains("keeps running")
            && err.contains("trainyard jobs stop")
            && err.contains("--follow"),
        "{err}"
    );
    let v: VersionInfo = run(&srv, &["jobs", "get", "detach", "-o", "json"])
        .await
        .json();
    assert_eq!(v.status, 8, "still running");
    run(&srv, &["jobs", "stop", "detach"]).await.ok();

    // Two Ctrl-C within 2 s: the version is stopped.
    let mut child = follow("stopme");
    started(&mut child).await;
    sigint(&child);
    let mut err_lines = tokio::io::BufReader::new(child.stderr.take().unwrap()).lines();
    while let Some(line) = tokio::time::timeout(Duration::from_secs(10), err_lines.next_line())
        .await
        .unwrap()
        .unwrap()
    {
        if line.contains("Ctrl-C again") {
            break;
        }
    }
    sigint(&child);
    let status = tokio::time::timeout(Duration::from_secs(20), child.wait())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(status.code(), Some(130));
    let id = run(&srv, &["jobs", "get", "stopme", "-o", "json"])
        .await
        .json::<VersionInfo>()
        .job_id
        .unwrap();
    let version = srv
        .api
        .client()
        .latest_version(id)
        .await
        .unwrap()
        .version_id;
    srv.api
        .wait_status(id, version, &[JobStatus::KILLED], Duration::from_secs(30))
        .await;
    let detach = run(&srv, &["jobs", "get", "detach", "-o", "json"])
        .await
        .json::<VersionInfo>();
    srv.api
        .wait_status(
            detach.job_id.unwrap(),
            detach.version_id,
            &[JobStatus::KILLED],
            Duration::from_secs(30),
        )
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn completions_offer_job_names_and_spec_codes_and_man_pages_and_help_fit() {
    let srv = TestServer::start_with(SPECS).await;
    srv.write_app("app", &[("boot.py", "print(1)\n")]);
    srv.api
        .create_job("completion-target", "app", serde_json::json!({}))
        .await;
    // What the shell runs on <TAB> (fish protocol: the last word is completed).
    async fn complete(srv: &TestServer, words: &[&str]) -> String {
        let out = tokio::process::Command::new(bin())
            .arg("--")
            .args(words)
            .env("COMPLETE", "fish")
            .env_remove("TRAINYARD_PROFILE")
            .env("XDG_CONFIG_HOME", srv.dir.path().join("none"))
            .env("TRAINYARD_SERVER", &srv.api.base)
            .env("TRAINYARD_PROJECT", PROJECT)
            .env("TRAINYARD_TOKEN", TOKEN)
            .output()
            .await
            .unwrap();
        String::from_utf8_lossy(&out.stdout).into_owned()
    }
    let jobs = complete(&srv, &["trainyard", "jobs", "get", "compl"]).await;
    assert!(
        jobs.lines().any(|l| l.starts_with("completion-target")),
        "{jobs}"
    );
    let specs = complete(
        &srv,
        &["trainyard", "jobs", "submit", "--spec", "modelarts"],
    )
    .await;
    assert!(
        specs.contains("modelarts.vm.cpu.1u") && specs.contains("modelarts.vm.cpu.2u"),
        "{specs}"
    );

    // Man pages, one per command.
    let dir = srv.dir.path().join("man");
    let out = run(&srv, &["man", "--out-dir", dir.to_str().unwrap()]).await;
    out.ok();
    for page in [
        "trainyard.1",
        "trainyard-jobs.1",
        "trainyard-jobs-submit.1",
        "trainyard-viz-open.1",
    ] {
        let text =
            std::fs::read_to_string(dir.join(page)).unwrap_or_else(|e| panic!("{page}: {e}"));
        assert!(text.contains(".TH"), "{page}");
    }
    assert!(run(&srv, &["man"]).await.ok().contains(".SH NAME"));

    // Help wraps to the width and lists the global options under their own heading.
    for args in [
        &["--help"][..],
        &["jobs", "submit", "--help"],
        &["jobs", "list", "--help"],
    ] {
        let out = run_env(&srv, args, &[("COLUMNS", "80")]).await;
        assert_fits(out.ok(), 80);
        assert!(out.stdout.contains("Global options:"), "{}", out.stdout);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn submit_runs_on_the_python_engine_unless_told() {
    let srv = TestServer::start_with(SPECS).await;
    let dir = local_dir(srv.dir.path(), &[("train.py", "print('hi')\n")]);
    let d = dir.to_str().unwrap();
    run(
        &srv,
        &["jobs", "submit", d, "--boot", "train.py", "--name", "py"],
    )
    .await
    .ok();
    let v: VersionInfo = run(&srv, &["jobs", "get", "py", "-o", "json"]).await.json();
    assert_eq!(
        (v.engine_id, v.engine_name.as_deref()),
        (Some(1000), Some("Python"))
    );
    run(
        &srv,
        &[
            "jobs", "submit", d, "--boot", "train.py", "--name", "tf", "--engine", "4",
        ],
    )
    .await
    .ok();
    let v: VersionInfo = run(&srv, &["jobs", "get", "tf", "-o", "json"]).await.json();
    assert_eq!(v.engine_id, Some(4));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_with_an_access_key_signs_every_request() {
    // A fresh server: its first start prints the AK/SK pair.
    let dir = tempdir().unwrap();
    let data = dir.path().join("data");
    let log = dir.path().join("serve.log");
    let port = free_port();
    let _server =
        ServerProcess::start_args(&["--data-dir".as_ref(), data.as_os_str()], &log, port).await;
    let printed = std::fs::read_to_string(&log).unwrap();
    let export = |name: &str| {
        printed
            .lines()
            .find_map(|l| l.strip_prefix(&format!("export {name}=")))
            .unwrap_or_else(|| panic!("{name} not printed: {printed}"))
            .to_owned()
    };
    let (server, project, ak, sk) = (
        export("TRAINYARD_SERVER"),
        export("TRAINYARD_PROJECT"),
        export("MODELARTS_ACCESS_KEY"),
        export("MODELARTS_SECRET_KEY"),
    );
    let sk_file = dir.path().join("sk");
    std::fs::write(&sk_file, format!("{sk}\n")).unwrap();
    let profiles = dir.path().join("profiles.toml");
    let cli = |args: &[&str], env: &[(&str, &str)]| {
        let mut c = std::process::Command::new(bin());
        c.args(args).env("TRAINYARD_PROFILE_FILE", &profiles);
        for k in [
            "TRAINYARD_SERVER",
            "TRAINYARD_PROJECT",
            "TRAINYARD_TOKEN",
            "TRAINYARD_PROFILE",
            "TRAINYARD_SECRET_KEY",
        ] {
            c.env_remove(k);
        }
        c.envs(env.iter().copied());
        c.output().unwrap()
    };
    // A wrong secret is refused by the server (0208) and nothing is saved.
    let bad = dir.path().join("bad-sk");
    std::fs::write(&bad, "not-the-secret").unwrap();
    let out = cli(
        &[
            "login",
            "-s",
            &server,
            "-p",
            &project,
            "--access-key",
            &ak,
            "--secret-key-file",
            bad.to_str().unwrap(),
        ],
        &[],
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("ModelArts.0208"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(!profiles.exists());
    // The right one, from a file; then from the environment into another profile.
    let out = cli(
        &[
            "login",
            "-s",
            &server,
            "-p",
            &project,
            "--access-key",
            &ak,
            "--secret-key-file",
            sk_file.to_str().unwrap(),
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(
        &[
            "login",
            "--profile",
            "env",
            "-s",
            &server,
            "-p",
            &project,
            "--access-key",
            &ak,
        ],
        &[("TRAINYARD_SECRET_KEY", &sk)],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    // Signed requests of every kind: GET with a query, POST with a body, an upload, a delete.
    let code = dir.path().join("code");
    std::fs::create_dir_all(&code).unwrap();
    std::fs::write(code.join("train.py"), "print('signed')\n").unwrap();
    // Larger than max_body_bytes (1 MiB): a signed upload may be as large as uploads are.
    std::fs::write(code.join("weights.bin"), vec![7u8; 3 << 20]).unwrap();
    let out = cli(
        &[
            "jobs",
            "submit",
            code.to_str().unwrap(),
            "--boot",
            "train.py",
            "--name",
            "signed",
            "--follow",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(String::from_utf8_lossy(&out.stdout).contains("signed"));
    let out = cli(
        &[
            "--profile",
            "env",
            "jobs",
            "list",
            "--status",
            "completed",
            "-o",
            "json",
        ],
        &[],
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["jobs", "delete", "signed"], &[]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let out = cli(&["profiles"], &[]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("access_key") && !text.contains(&sk), "{text}");
    kill_runs(&data.join("runs"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn serve_generates_a_self_signed_pair_once_and_prints_its_fingerprint() {
    let dir = tempdir().unwrap();
    let data = dir.path().join("data");
    let start = |n: usize| {
        let port = free_port();
        let out_path = dir.path().join(format!("serve{n}.out"));
        let child = KillOnDrop(
            std::process::Command::new(bin())
                .args([
                    "serve",
                    "--listen",
                    &format!("127.0.0.1:{port}"),
                    "--tls-self-signed",
                    "--data-dir",
                ])
                .arg(&data)
                .env_remove("TRAINYARD_CONFIG")
                .env("XDG_CONFIG_HOME", dir.path().join("no-config"))
                .stdout(std::fs::File::create(&out_path).unwrap())
                .stderr(std::fs::File::create(dir.path().join(format!("serve{n}.err"))).unwrap())
                .spawn()
                .unwrap(),
        );
        (child, port, out_path)
    };
    let cert_path = data.join("tls/cert.pem");
    let mut fingerprints = Vec::new();
    for n in 0..2 {
        let (child, port, out_path) = start(n);
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let printed = loop {
            let printed = std::fs::read_to_string(&out_path).unwrap_or_default();
            if printed.contains("SHA-256 fingerprint") {
                break printed;
            }
            assert!(std::time::Instant::now() < deadline, "{printed}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        };
        let verb = if n == 0 { "generated a" } else { "using the" };
        assert!(
            printed.contains(&format!(
                "# TLS: {verb} self-signed certificate {}",
                cert_path.display()
            )),
            "{printed}"
        );
        let printed_fp = printed
            .lines()
            .find_map(|l| l.strip_prefix("# SHA-256 fingerprint "))
            .unwrap()
            .to_owned();
        // The printed fingerprint is the certificate's, and clients trusting the file connect.
        let pem = std::fs::read(&cert_path).unwrap();
        let der = {
            use rustls::pki_types::pem::PemObject;
            rustls::pki_types::CertificateDer::from_pem_slice(&pem).unwrap()
        };
        let digest: String = {
            use std::fmt::Write;
            let d = <sha2::Sha256 as sha2::Digest>::digest(&der);
            d.iter().fold(String::new(), |mut s, b| {
                if !s.is_empty() {
                    s.push(':');
                }
                write!(s, "{b:02X}").unwrap();
                s
            })
        };
        assert_eq!(printed_fp, digest);
        let key_mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(data.join("tls/key.pem"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(key_mode & 0o077, 0, "the key is private");
        let https = reqwest::Client::builder()
            .add_root_certificate(reqwest::Certificate::from_pem(&pem).unwrap())
            .build()
            .unwrap();
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        while !https
            .get(format!("https://localhost:{port}/health"))
            .send()
            .await
            .is_ok_and(|r| r.status().is_success())
        {
            assert!(
                std::time::Instant::now() < deadline,
                "HTTPS did not come up"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        fingerprints.push(printed_fp);
        drop(child);
    }
    assert_eq!(fingerprints[0], fingerprints[1], "the pair is made once");
}

/// Versions are named as `jobs list` shows them (`V0001`, `v1`) as well as by id; `logs --tail`
/// takes any number of lines, with `--follow` too (the tail, then what follows); the short
/// aliases work; stopping a version that is already stopping succeeds.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn versions_by_name_any_tail_with_follow_aliases_and_a_second_stop_succeeds() {
    let srv = TestServer::start_with(SPECS).await;
    let gate = srv.dir.path().join("gate");
    let train = format!(
        "import os, time\nfor i in range(1, 701):\n    print(f'line {{i}}', flush=True)\n\
         while not os.path.exists({:?}):\n    time.sleep(0.05)\nprint('after gate', flush=True)\n",
        gate.display().to_string()
    );
    let dir = local_dir(srv.dir.path(), &[("train.py", &train)]);
    let d = dir.to_str().unwrap();
    run(
        &srv,
        &["jobs", "submit", d, "--boot", "train.py", "--name", "tails"],
    )
    .await
    .ok();
    let deadline = Instant::now() + Duration::from_secs(30);
    while !run(&srv, &["jobs", "logs", "tails", "--tail", "1"])
        .await
        .stdout
        .contains("line 700")
    {
        assert!(Instant::now() < deadline, "the job did not print its lines");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // More than the API's 500-line page.
    let out = run(&srv, &["jobs", "logs", "tails", "--tail", "600"]).await;
    let lines: Vec<&str> = out.ok().lines().collect();
    assert_eq!(lines.len(), 600, "{}", out.stdout);
    assert_eq!((lines[0], lines[599]), ("line 101", "line 700"));
    // By version name, either spelling.
    for name in ["V0001", "v1"] {
        let out = run(
            &srv,
            &["jobs", "logs", "tails", "--version", name, "--tail", "2"],
        )
        .await;
        assert_eq!(out.ok(), "line 699\nline 700\n");
    }
    let out = run(&srv, &["jobs", "logs", "tails", "--version", "V0007"]).await;
    assert_ne!(out.code, 0);
    assert!(
        out.stderr.contains("has no version V0007"),
        "{}",
        out.stderr
    );
    let out = run(&srv, &["jobs", "logs", "tails", "--version", "seven"]).await;
    assert_ne!(out.code, 0);
    assert!(out.stderr.contains("nor a version name"), "{}", out.stderr);

    // The tail, then what follows until the run ends: the gate opens once the tail is out.
    let mut follow = tokio::process::Command::new(bin())
        .args(["jobs", "logs", "tails", "-f", "--tail", "2"])
        .env_remove("TRAINYARD_PROFILE")
        .env("XDG_CONFIG_HOME", srv.dir.path().join("config-home"))
        .env("TRAINYARD_SERVER", &srv.api.base)
        .env("TRAINYARD_PROJECT", PROJECT)
        .env("TRAINYARD_TOKEN", TOKEN)
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let followed = tokio::time::timeout(Duration::from_secs(30), async {
        use tokio::io::AsyncReadExt;
        let mut stdout = follow.stdout.take().unwrap();
        let mut out = Vec::new();
        let mut chunk = [0u8; 4096];
        while !String::from_utf8_lossy(&out).contains("line 700\n") {
            let n = stdout.read(&mut chunk).await.unwrap();
            assert!(
                n > 0,
                "logs -f ended before the tail: {:?}",
                String::from_utf8_lossy(&out)
            );
            out.extend_from_slice(&chunk[..n]);
        }
        std::fs::write(&gate, "").unwrap();
        stdout.read_to_end(&mut out).await.unwrap();
        (follow.wait().await.unwrap(), out)
    })
    .await
    .expect("logs -f did not end with the run");
    assert!(followed.0.success());
    assert_eq!(
        String::from_utf8_lossy(&followed.1),
        "line 699\nline 700\nafter gate\n[trainyard] worker 0 exited with code 0\n"
    );

    // A version that ignores SIGTERM stays stopping for the grace period: a second stop is
    // no error.
    let stubborn = "import signal, time\nsignal.signal(signal.SIGTERM, signal.SIG_IGN)\n\
                    print('up', flush=True)\ntime.sleep(300)\n";
    let dir = local_dir(&srv.dir.path().join("stubborn"), &[("train.py", stubborn)]);
    let d = dir.to_str().unwrap();
    run(
        &srv,
        &[
            "jobs", "submit", d, "--boot", "train.py", "--name", "stubborn",
        ],
    )
    .await
    .ok();
    // `show` and `status` are `get`, `ls` and `ps` are `list`, `cancel` is `stop`.
    let v: VersionInfo = run(&srv, &["jobs", "show", "stubborn", "-o", "json"])
        .await
        .json();
    let same: VersionInfo = run(&srv, &["jobs", "status", "stubborn", "-o", "json"])
        .await
        .json();
    assert_eq!(same.version_id, v.version_id);
    for list in ["ls", "ps"] {
        let listed: JobListResponse = run(&srv, &["jobs", list, "-o", "json"]).await.json();
        assert_eq!(listed.jobs.len(), 2, "{list}");
    }
    let job = v.job_id.unwrap();
    srv.api
        .wait_status(
            job,
            v.version_id,
            &[JobStatus::RUNNING],
            Duration::from_secs(30),
        )
        .await;
    run(&srv, &["jobs", "stop", "stubborn", "--grace", "30"])
        .await
        .ok();
    assert_eq!(srv.api.status(job, v.version_id).await, JobStatus::KILLING);
    let again = run(&srv, &["jobs", "cancel", "stubborn"]).await;
    assert!(again.ok().contains("stopping"), "{}", again.stdout);
}
