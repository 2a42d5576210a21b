//! Jobs are sandboxed: attacks run as real jobs of project B against project A, the server
//! and the host, on one server started as root the way an operator starts it (`trainyard
//! serve`, its umask included). Each attack must fail and leave A's files as they were.

use crate::harness::*;
use serde_json::json;
use std::path::Path;
use std::time::{Duration, Instant};
use trainyard_api::JobStatus;

/// What the attacking job tries, one `name path` per line; it prints `DENIED name` or
/// `LEAKED name` for reads, `BLOCKED name` or `WROTE name` for writes.
const ATTACK: &str = r#"
import os, sys, urllib.request, urllib.error
targets = [l.split(" ", 2) for l in open(os.path.join(os.path.dirname(__file__), "targets.txt")).read().splitlines() if l]
for kind, name, path in targets:
    if kind == "read":
        try:
            data = open(path, "rb").read(64)
            print("LEAKED", name, data[:16], flush=True)
        except OSError as e:
            print("DENIED", name, e.errno, flush=True)
    elif kind == "write":
        try:
            with open(path, "w") as f:
                f.write("pwned")
            print("WROTE", name, flush=True)
        except OSError as e:
            print("BLOCKED", name, e.errno, flush=True)
    elif kind == "link":
        # Plant a link where the server will act later, pointing at the canary.
        link, target = path.split(" ")
        os.makedirs(os.path.dirname(link), exist_ok=True)
        if os.path.lexists(link):
            os.remove(link)
        os.symlink(target, link)
        print("PLANTED", name, flush=True)
    elif kind == "url":
        try:
            code = urllib.request.urlopen(path, timeout=3).status
        except urllib.error.HTTPError as e:
            code = e.code
        except Exception as e:
            code = type(e).__name__
        print("URL", name, code, flush=True)
print("ATTACK DONE", os.getuid(), flush=True)
"#;

/// Reads `path` as the unrelated local user `nobody` (65534): whether that worked.
fn readable_by_nobody(path: &Path) -> bool {
    std::process::Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "cat"])
        .arg(path)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .status()
        .unwrap()
        .success()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_of_project_b_reaches_nothing_of_project_a_the_server_or_the_host() {
    let dir = tempdir().unwrap();
    let data = dir.path().join("data");
    let runs = data.join("runs");
    struct Cleanup(std::path::PathBuf);
    impl Drop for Cleanup {
        fn drop(&mut self) {
            kill_runs(&self.0);
        }
    }
    let _cleanup = Cleanup(runs.clone());

    // A first start without projects writes credentials.toml and a self-signed TLS key, as
    // a fresh install does; the real server then runs with two projects on the same data.
    {
        let log = std::fs::File::create(dir.path().join("first.log")).unwrap();
        let mut first = std::process::Command::new(bin())
            .args(["serve", "--tls-self-signed", "--listen"])
            .arg(format!("127.0.0.1:{}", free_port()))
            .arg("--data-dir")
            .arg(&data)
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .spawn()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(20);
        while !(data.join("credentials.toml").exists() && data.join("tls/key.pem").exists()) {
            assert!(
                Instant::now() < deadline,
                "first start wrote no credentials"
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
        let _ = first.kill();
        let _ = first.wait();
    }
    let config = dir.path().join("config.toml");
    write_config(&config, config_text(&data, "")).unwrap();
    let port = free_port();
    let server = ServerProcess::start(&config, port).await;
    let a = server.api.clone();
    let b = Api {
        project: OTHER_PROJECT.into(),
        token: OTHER_TOKEN.into(),
        ..a.clone()
    };
    let storage_a = data.join("obs").join(PROJECT);
    let storage_b = data.join("obs").join(OTHER_PROJECT);

    // A: a stored object and a running job whose log holds a secret.
    write_app(&storage_a, "secret", &[("object.txt", "A-SECRET-OBJECT")]);
    write_app(
        &storage_a,
        "app",
        &[(
            "boot.py",
            "import time\nprint('A-SECRET-LOG', flush=True)\ntime.sleep(60)\n",
        )],
    );
    std::fs::create_dir_all(storage_a.join("data")).unwrap();
    let (ja, va) = a.create_job("victim", "app", json!({})).await;
    a.wait_log(ja, va, "victim.0", "A-SECRET-LOG").await;
    let run_a = runs.join(va.to_string());
    let shim_a = trainyard_exec::run_dir::read_claim(&run_a).expect("shim.json");
    let workers_a = trainyard_exec::run_dir::read_workers(&run_a);

    // A canary outside every project, private to root as the server's files are.
    let canary = dir.path().join("canary.txt");
    write_config(&canary, "CANARY").unwrap();

    // B: the attacker.
    let log_url_b = storage_b.join("logs/b");
    let train_b = storage_b.join("out/attacker");
    let server_pid = server.child.id();
    let targets = [
        ("read", "a-object", storage_a.join("secret/object.txt")),
        ("read", "a-log", run_a.join("logs/victim.0")),
        ("read", "a-spec", run_a.join("spec.json")),
        ("read", "database", data.join("trainyard.db")),
        ("read", "config", config.clone()),
        ("read", "credentials", data.join("credentials.toml")),
        ("read", "v2-log-url-key", data.join("v2-log-url.key")),
        ("read", "tls-key", data.join("tls/key.pem")),
        ("read", "canary", canary.clone()),
        (
            "read",
            "server-environ",
            format!("/proc/{server_pid}/environ").into(),
        ),
        (
            "read",
            "a-shim-environ",
            format!("/proc/{}/environ", shim_a.pid).into(),
        ),
        (
            "read",
            "a-worker-environ",
            format!("/proc/{}/environ", workers_a[0].pid).into(),
        ),
        ("write", "a-storage", storage_a.join("secret/pwned.txt")),
        (
            "write",
            "a-object-overwrite",
            storage_a.join("secret/object.txt"),
        ),
        ("write", "a-run-folder", run_a.join("pwned.txt")),
        ("write", "a-code", run_a.join("code/boot.py")),
        ("write", "data-folder", data.join("pwned.txt")),
    ];
    let mut lines: Vec<String> = targets
        .iter()
        .map(|(kind, name, path)| format!("{kind} {name} {}", path.display()))
        .collect();
    // Links where the server acts after the run: the log copy to log_url, and the next
    // snapshot of the code folder.
    lines.push(format!(
        "link log-url {} {}",
        log_url_b.join("attacker.0").display(),
        canary.display()
    ));
    lines.push(format!(
        "link code {} {}",
        storage_b.join("app/leak.txt").display(),
        canary.display()
    ));
    lines.push(format!(
        "url metrics-without-token http://127.0.0.1:{port}/metrics"
    ));
    write_app(
        &storage_b,
        "app",
        &[("boot.py", ATTACK), ("targets.txt", &lines.join("\n"))],
    );
    std::fs::create_dir_all(storage_b.join("data")).unwrap();
    // B's code folder is B's own, as one it uploaded would be.
    let uid_b = project_uid(&data, OTHER_PROJECT);
    assert_ne!(uid_b, project_uid(&data, PROJECT));
    for f in ["app", "app/boot.py", "app/targets.txt"] {
        std::os::unix::fs::chown(storage_b.join(f), Some(uid_b), Some(uid_b)).unwrap();
    }
    let (jb, vb) = b
        .create_job("attacker", "app", json!({"log_url": "/logs/b/"}))
        .await;
    let (end, log) = b
        .run_to_end(jb, vb, "attacker.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("ATTACK DONE"), "{log}");
    let uid_line = log.lines().find(|l| l.starts_with("ATTACK DONE")).unwrap();
    assert_ne!(uid_line, "ATTACK DONE 0", "the job ran as root: {log}");
    for (kind, name, _) in &targets {
        let want = if *kind == "read" { "DENIED" } else { "BLOCKED" };
        assert!(
            log.lines()
                .any(|l| l.starts_with(&format!("{want} {name} "))),
            "{name}: {log}"
        );
    }
    assert!(!log.contains("LEAKED") && !log.contains("WROTE"), "{log}");
    assert!(
        log.contains("URL metrics-without-token 401"),
        "/metrics answered a job without its token: {log}"
    );

    // Nothing of A's changed, and the canary is intact after the log copy went through the
    // planted link's name.
    assert_eq!(
        std::fs::read_to_string(storage_a.join("secret/object.txt")).unwrap(),
        "A-SECRET-OBJECT"
    );
    assert!(!storage_a.join("secret/pwned.txt").exists());
    assert!(!run_a.join("pwned.txt").exists());
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "CANARY");
    let copied = log_url_b.join("attacker.0");
    let meta = std::fs::symlink_metadata(&copied).unwrap();
    assert!(
        meta.is_file(),
        "the planted link was not replaced by the log"
    );
    assert!(std::fs::read_to_string(&copied)
        .unwrap()
        .contains("ATTACK DONE"));

    // A new version snapshots the code folder with the planted link: the canary is not
    // copied (the link leads where B's user cannot read).
    let r = b
        .post(
            &format!("/training-jobs/{jb}/versions"),
            json!({"config": {"worker_server_num": 1, "app_url": "/app/", "boot_file_url": "/app/boot.py",
                "data_url": "/data/", "train_url": "/out/attacker2/", "spec_id": 1, "engine_id": 1},
                "pre_version_id": vb}),
        )
        .await;
    if r.status == 200 {
        let v2 = r.body["version_id"].as_i64().unwrap();
        let leak = runs.join(v2.to_string()).join("code/leak.txt");
        assert!(
            std::fs::read_to_string(&leak).map_or(true, |t| !t.contains("CANARY")),
            "the snapshot copied the canary"
        );
        b.wait_status(jb, v2, JobStatus::TERMINAL, Duration::from_secs(60))
            .await;
    }
    assert_eq!(std::fs::read_to_string(&canary).unwrap(), "CANARY");
    assert!(train_b.is_dir());

    // The data folder keeps an unrelated local user out.
    for private in [
        data.join("trainyard.db"),
        data.join("credentials.toml"),
        data.join("v2-log-url.key"),
        data.join("tls/key.pem"),
        config.clone(),
        storage_a.join("secret/object.txt"),
        run_a.join("logs/victim.0"),
    ] {
        assert!(private.exists(), "{}", private.display());
        assert!(
            !readable_by_nobody(&private),
            "{} is readable",
            private.display()
        );
    }
    a.post(
        &format!("/training-jobs/{ja}/versions/{va}/stop"),
        json!({}),
    )
    .await;
    a.wait_status(ja, va, JobStatus::TERMINAL, Duration::from_secs(30))
        .await;
}

/// A container job of project B, on its run's own network, reaches neither the server's
/// `/metrics` nor project A's TensorBoard, by loopback or by the host's address as seen from
/// the container (slirp4netns' gateway); a host job of B does not reach that TensorBoard on
/// the host's loopback either (it has a network namespace of its own; the proxy enters it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_job_reaches_neither_metrics_nor_another_projects_tensorboard() {
    let image = test_image();
    let srv = TestServer::start_bound(&viz_config("")).await;
    let (a, b) = (&srv.api, &srv.other);
    let port = a.base.rsplit(':').next().unwrap().to_owned();

    write_scalars(&srv.storage().join("logs/run1"), 3);
    let r = a
        .post(
            "/visualization-jobs",
            json!({"job_name": "tb-a", "train_url": "/logs/run1/"}),
        )
        .await;
    let viz = r.assert_ok()["job_id"].as_i64().unwrap();
    let data = srv.dir.path().join("data");
    let deadline = Instant::now() + Duration::from_secs(30);
    let tb_port = loop {
        let spec = std::fs::read(data.join(format!("runs/viz-{viz}/spec.json")));
        let up = a.get(&format!("/visualization-jobs/{viz}")).await.body["status"]
            == json!(JobStatus::RUNNING.code());
        if let (Ok(spec), true) = (spec, up) {
            let spec: serde_json::Value = serde_json::from_slice(&spec).unwrap();
            let args: Vec<String> =
                serde_json::from_value(spec["workers"][0]["args"].clone()).unwrap();
            break args[args.iter().position(|a| a == "--port").unwrap() + 1].clone();
        }
        assert!(Instant::now() < deadline, "TensorBoard did not start");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    // The server's proxy reaches it (so the refusals below are the sandbox's doing), and
    // nothing on the host's own loopback does: it listens in a network namespace of its own.
    let service_url = a.get(&format!("/visualization-jobs/{viz}")).await.body["service_url"]
        .as_str()
        .unwrap()
        .to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let opened = http.get(&service_url).send().await.unwrap();
    assert_eq!(opened.status(), 303);
    let cookie = opened.headers()["set-cookie"].to_str().unwrap();
    let page = http
        .get(service_url.split('?').next().unwrap())
        .header("cookie", cookie.split(';').next().unwrap())
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), 200, "the proxy does not reach TensorBoard");
    assert!(
        tokio::net::TcpStream::connect(format!("127.0.0.1:{tb_port}"))
            .await
            .is_err(),
        "TensorBoard listens on the host's loopback"
    );

    let storage_b = srv.dir.path().join("data/obs").join(OTHER_PROJECT);
    let targets = [
        (
            "metrics-loopback",
            format!("http://127.0.0.1:{port}/metrics"),
        ),
        ("metrics-host", format!("http://10.0.2.2:{port}/metrics")),
        (
            "tensorboard-loopback",
            format!("http://127.0.0.1:{tb_port}/"),
        ),
        ("tensorboard-host", format!("http://10.0.2.2:{tb_port}/")),
    ];
    let lines: Vec<String> = targets
        .iter()
        .map(|(name, url)| format!("url {name} {url}"))
        .collect();
    write_app(
        &storage_b,
        "app",
        &[("boot.py", ATTACK), ("targets.txt", &lines.join("\n"))],
    );
    std::fs::create_dir_all(storage_b.join("data")).unwrap();
    let (jb, vb) = b
        .create_job(
            "attacker",
            "app",
            json!({"user_image_url": image,
                "user_command": "python3 /home/work/user-job-dir/app/boot.py"}),
        )
        .await;
    let (end, log) = b
        .run_to_end(jb, vb, "attacker.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("ATTACK DONE 0"), "{log}");
    for (name, _) in &targets {
        let line = log
            .lines()
            .find(|l| l.starts_with(&format!("URL {name} ")))
            .unwrap_or_else(|| panic!("{name}: {log}"));
        let answer = line.rsplit(' ').next().unwrap();
        assert!(
            answer.parse::<u16>().is_err(),
            "{name} answered {answer}: {log}"
        );
    }
    // A host job of B, on the host's network, does not reach A's TensorBoard either.
    let host_targets = [(
        "tensorboard-loopback",
        format!("http://127.0.0.1:{tb_port}/"),
    )];
    let lines: Vec<String> = host_targets
        .iter()
        .map(|(name, url)| format!("url {name} {url}"))
        .collect();
    write_app(
        &storage_b,
        "host-app",
        &[("boot.py", ATTACK), ("targets.txt", &lines.join("\n"))],
    );
    let (jh, vh) = b.create_job("host-attacker", "host-app", json!({})).await;
    let (end, host_log) = b
        .run_to_end(jh, vh, "host-attacker.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{host_log}");
    let line = host_log
        .lines()
        .find(|l| l.starts_with("URL tensorboard-loopback "))
        .unwrap_or_else(|| panic!("{host_log}"));
    let answer = line.rsplit(' ').next().unwrap();
    assert!(
        answer.parse::<u16>().is_err(),
        "A's TensorBoard answered a host job of B with {answer}: {host_log}"
    );
    // The run's code is B's user's, the user the container's root is mapped onto.
    let code = srv.dir.path().join(format!("data/runs/{vb}/code"));
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&code).unwrap().uid(),
        project_uid(&srv.dir.path().join("data"), OTHER_PROJECT)
    );
    srv.api
        .post(&format!("/visualization-jobs/{viz}/stop"), json!({}))
        .await;
}
