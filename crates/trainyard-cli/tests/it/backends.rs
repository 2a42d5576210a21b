//! The backend scenarios, written once and run on every execution backend: host processes
//! (`local`), podman containers (`container`, an image made here without a registry), the
//! Slurm dev cluster (`slurm`, scripts/slurm-dev-cluster.sh), and containers on the Slurm node
//! (`slurm_container`).
//!
//! Boot files reach the test only through their arguments: gates are files the test creates
//! in the job's `data_url`, markers are files the job writes to its `train_url`, so the same
//! boot file works on the host, in a container and on a Slurm node.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backend {
    Local,
    Container,
    Slurm,
    /// Containers on the Slurm node: each task runs its container there.
    SlurmContainer,
}

/// A Slurm pool on the dev cluster's one node (2 cores): spec 1 takes a core, spec 2 the node.
const SLURM_POOL: &str = "[[pools]]\nid = \"cluster\"\nbackend = \"slurm\"\npartition = \"debug\"\npoll_interval_seconds = 0.2\n\n\
    [[specs]]\nspec_id = 1\nspec_code = \"modelarts.vm.cpu.1u\"\ncore = 1\ncpu = 1\nmax_num = 2\n\n\
    [[specs]]\nspec_id = 2\nspec_code = \"modelarts.vm.cpu.node\"\ncore = 2\ncpu = 1\nmax_num = 1\n";

/// A host with one core: spec 1 (one core) fills it.
const ONE_CORE: &str = "[executor]\ncores = 1\nmemory_gb = 4\nstop_grace_seconds = 2\n";

impl Backend {
    /// Makes the backend ready (the image, the cluster); a Slurm backend holds the dev
    /// cluster's node until the value is dropped.
    async fn prepare(self) -> Option<SlurmNode> {
        match self {
            Backend::Local => None,
            Backend::Container => {
                test_image();
                None
            }
            Backend::Slurm | Backend::SlurmContainer => {
                if self == Backend::SlurmContainer {
                    test_image();
                }
                Some(slurm_node().await)
            }
        }
    }

    /// Server configuration; `full` makes one job of [`Self::whole_spec`] fill the capacity.
    fn config(self, full: bool) -> &'static str {
        match (self, full) {
            (Backend::Slurm | Backend::SlurmContainer, _) => SLURM_POOL,
            (_, true) => ONE_CORE,
            (_, false) => "",
        }
    }

    /// The spec that takes all of the capacity of [`Self::config`]`(true)`.
    fn whole_spec(self) -> i64 {
        match self {
            Backend::Slurm | Backend::SlurmContainer => 2,
            _ => 1,
        }
    }

    /// What a job needs, beyond `create_job`'s defaults, to run `<app>/boot.py` here.
    fn job(self, app: &str) -> Value {
        match self {
            Backend::Local => json!({}),
            Backend::Container => json!({
                "user_image_url": test_image(),
                "user_command": format!("python3 /home/work/user-job-dir/{app}/boot.py {{python_file_parameter}}"),
                "engine_id": null,
                "boot_file_url": null,
            }),
            Backend::Slurm => json!({"pool_id": "cluster"}),
            Backend::SlurmContainer => {
                let mut job = Backend::Container.job(app);
                job["pool_id"] = json!("cluster");
                job
            }
        }
    }

    /// How many one-core jobs run at once here (the Slurm dev node has two cores).
    fn slots(self) -> usize {
        match self {
            Backend::Slurm | Backend::SlurmContainer => 2,
            _ => 3,
        }
    }

    /// How long a stop may take beyond its grace here. A container's stop waits on two runtime
    /// calls (`podman kill` when the grace is over, then `podman run --rm`'s removal), each
    /// up to a second on a loaded 2-core machine; the default grace (10 s) stays well beyond.
    fn stop_margin(self) -> Duration {
        match self {
            Backend::Container | Backend::SlurmContainer => Duration::from_secs(3),
            Backend::Local | Backend::Slurm => Duration::from_secs(1),
        }
    }

    /// How long a job may take to start here.
    fn start_within(self) -> Duration {
        match self {
            Backend::Slurm | Backend::SlurmContainer => Duration::from_secs(60),
            _ => Duration::from_secs(30),
        }
    }
}

/// Creates job `name` running `boot` on `backend`, with `extra` config.
async fn submit(
    api: &Api,
    storage: &Path,
    backend: Backend,
    name: &str,
    boot: &str,
    extra: Value,
) -> (i64, i64) {
    write_app(storage, name, &[("boot.py", boot)]);
    std::fs::create_dir_all(storage.join("data")).unwrap();
    let mut config = backend.job(name);
    for (k, v) in extra.as_object().unwrap() {
        config[k] = v.clone();
    }
    api.create_job(name, name, config).await
}

/// The boot files' shared start: the arguments, and gates in `data_url`.
const PRELUDE: &str = r#"
import os, sys, time, signal, socket
args = dict(a[2:].split("=", 1) for a in sys.argv[1:] if a.startswith("--") and "=" in a)
data, out = args["data_url"], args["train_url"]
def wait_gate(name):
    while not os.path.exists(os.path.join(data, name)):
        time.sleep(0.05)
def mark(name, text=""):
    open(os.path.join(out, name), "a").write(text + "\n")
"#;

fn boot(body: &str) -> String {
    format!("{PRELUDE}{body}")
}

/// Opens gate `name` of the jobs (a file in their `data_url`).
fn open_gate(storage: &Path, name: &str) {
    std::fs::write(storage.join("data").join(name), "").unwrap();
}

async fn wait_file(path: &Path, within: Duration) {
    let deadline = Instant::now() + within;
    while !path.exists() {
        assert!(
            Instant::now() < deadline,
            "{} never appeared",
            path.display()
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Asserts that nothing of the runs under `runs` is left: no shim, no worker process, no
/// container (nor its conmon), no Slurm task.
fn assert_nothing_left(runs: &Path) {
    let dirs: Vec<PathBuf> = std::fs::read_dir(runs)
        .unwrap()
        .flatten()
        .map(|e| std::fs::canonicalize(e.path()).unwrap())
        .collect();
    assert_no_containers_in(runs);
    let left = leftovers(&dirs);
    assert!(left.is_empty(), "left running: {left:?}");
}

/// What still runs of the runs in `dirs`: processes whose command line names a run directory
/// (Slurm tasks) or one of its containers (podman, conmon), processes working in one (local
/// shims, workers), and recorded worker groups.
fn leftovers(dirs: &[PathBuf]) -> Vec<String> {
    let names: Vec<String> = dirs
        .iter()
        .flat_map(|d| (0..4).map(|i| trainyard_exec::container::name(d, i)))
        .collect();
    let mut left = Vec::new();
    for (pid, cmdline) in processes() {
        // A local run's shim gets its folder on stdin and works in it: its command line does
        // not name it, its working directory is in it.
        let cwd = std::fs::read_link(format!("/proc/{pid}/cwd")).unwrap_or_default();
        let of_run = dirs
            .iter()
            .any(|d| cmdline.contains(&d.display().to_string()) || cwd.starts_with(d));
        if of_run || names.iter().any(|n| cmdline.contains(n)) {
            left.push(format!("{pid}: {cmdline}"));
        }
    }
    for d in dirs {
        for rec in trainyard_exec::run_dir::read_workers(d) {
            if !group_alive(rec.pgid).is_empty() {
                left.push(format!("worker group {} of {}", rec.pgid, d.display()));
            }
        }
    }
    left
}

/// Every process on the host with its command line.
fn processes() -> Vec<(i32, String)> {
    std::fs::read_dir("/proc")
        .unwrap()
        .flatten()
        .filter_map(|e| {
            let pid: i32 = e.file_name().to_str()?.parse().ok()?;
            let raw = std::fs::read(e.path().join("cmdline")).ok()?;
            let cmdline = String::from_utf8_lossy(&raw).replace('\0', " ");
            (!cmdline.is_empty()).then_some((pid, cmdline))
        })
        .collect()
}

/// A boot file that succeeds: it writes its model to `train_url` and prints its environment.
async fn succeeds_with_output_and_logs(backend: Backend) {
    let _held = backend.prepare().await;
    let srv = TestServer::start_with(backend.config(false)).await;
    let body = "mark('model.txt', 'trained')\n\
        print('hello from', os.environ.get('RANK'), os.environ.get('WORLD_SIZE'), flush=True)\n";
    let (job, ver) = submit(
        &srv.api,
        &srv.storage(),
        backend,
        "succeeds",
        &boot(body),
        json!({"parameter": [{"label": "lr", "value": "0.01"}]}),
    )
    .await;
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "succeeds.0", backend.start_within())
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("hello from 0 1"), "{log}");
    assert!(log.contains("exited with code 0"), "{log}");
    let model = srv.storage().join("out/succeeds/model.txt");
    assert_eq!(std::fs::read_to_string(&model).unwrap(), "trained\n");
    // The job ran as its project's user, on every backend (a container's root is mapped
    // onto that user): what it wrote is that user's, not root's.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        std::fs::metadata(&model).unwrap().uid(),
        project_uid(&srv.dir.path().join("data"), PROJECT),
        "the job did not run as its project's user"
    );
    let names = srv
        .api
        .get(&format!(
            "/training-jobs/{job}/versions/{ver}/log/file-names"
        ))
        .await;
    assert_eq!(names.assert_ok()["log_file_list"], json!(["succeeds.0"]));
    let v = srv
        .api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await;
    assert!(v.assert_ok()["duration"].as_i64().unwrap() >= 0);
    assert_nothing_left(&srv.dir.path().join("data/runs"));
}

/// Exit code 3 fails the version (11), with the code in the log.
async fn exit_code_fails_the_version(backend: Backend) {
    let _held = backend.prepare().await;
    let srv = TestServer::start_with(backend.config(false)).await;
    let body = "print('about to fail', flush=True)\nsys.exit(3)\n";
    let (job, ver) = submit(
        &srv.api,
        &srv.storage(),
        backend,
        "fails",
        &boot(body),
        json!({}),
    )
    .await;
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "fails.0", backend.start_within())
        .await;
    assert_eq!(end, JobStatus::FAILED, "{log}");
    assert!(log.contains("about to fail"), "{log}");
    assert!(log.contains("exited with code 3"), "{log}");
    let list = srv.api.get("/training-jobs").await;
    assert_eq!(
        list.assert_ok()["jobs"][0]["status"],
        json!(JobStatus::FAILED)
    );
}

/// A failing worker ends the version (11) and its sibling is stopped, not waited for.
async fn a_failing_worker_stops_its_sibling(backend: Backend) {
    let _held = backend.prepare().await;
    let srv = TestServer::start_with(backend.config(false)).await;
    let body = "if os.environ['RANK'] == '1':\n    sys.exit(5)\ntime.sleep(120)\n";
    let (job, ver) = submit(
        &srv.api,
        &srv.storage(),
        backend,
        "sib",
        &boot(body),
        json!({"worker_server_num": 2}),
    )
    .await;
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "sib.1", backend.start_within())
        .await;
    assert_eq!(end, JobStatus::FAILED, "{log}");
    assert!(log.contains("exited with code 5"), "{log}");
    assert_nothing_left(&srv.dir.path().join("data/runs"));
}

/// A stop ends a job that traps SIGTERM within the grace (12 within grace + 1 s), and nothing
/// of it is left running; a second stop is refused.
async fn stop_ends_a_term_trapping_job_within_the_grace(backend: Backend) {
    let _held = backend.prepare().await;
    let srv = TestServer::start_with(backend.config(false)).await;
    let body =
        "signal.signal(signal.SIGTERM, lambda *a: print('got SIGTERM, ignoring', flush=True))\n\
        print('ready', flush=True)\nwhile True:\n    time.sleep(0.1)\n";
    let (job, ver) = submit(
        &srv.api,
        &srv.storage(),
        backend,
        "trapper",
        &boot(body),
        json!({}),
    )
    .await;
    srv.api
        .wait_status(job, ver, &[JobStatus::RUNNING], backend.start_within())
        .await;
    srv.api.wait_log(job, ver, "trapper.0", "ready").await;
    let grace = 2;
    let measuring = measuring_alone().await;
    let started = Instant::now();
    srv.api
        .post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            json!({"grace_period_seconds": grace}),
        )
        .await
        .assert_ok();
    assert_eq!(srv.api.status(job, ver).await, JobStatus::KILLING);
    srv.api
        .wait_status(
            job,
            ver,
            &[JobStatus::KILLED],
            Duration::from_secs(grace + 10),
        )
        .await;
    let took = started.elapsed();
    drop(measuring);
    assert!(
        took <= Duration::from_secs(grace) + backend.stop_margin(),
        "stop took {took:?} with a grace of {grace} s"
    );
    let log = srv.api.log(job, ver, "trapper.0").await;
    assert!(log.contains("got SIGTERM"), "{log}");
    assert_nothing_left(&srv.dir.path().join("data/runs"));
    let again = srv
        .api
        .post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            json!({}),
        )
        .await;
    again.assert_error(400, "ModelArts.0105");
}

/// Two workers see the distributed environment and meet at MASTER_ADDR:MASTER_PORT.
async fn two_workers_meet_at_master_addr(backend: Backend) {
    let _held = backend.prepare().await;
    let srv = TestServer::start_with(backend.config(false)).await;
    let body = r#"
rank, world = int(os.environ["RANK"]), int(os.environ["WORLD_SIZE"])
addr, port = os.environ["MASTER_ADDR"], int(os.environ["MASTER_PORT"])
for k in ["RANK", "WORLD_SIZE", "LOCAL_RANK", "DLS_TASK_INDEX", "DLS_TASK_NUMBER", "BATCH_CUSTOM1_HOSTS"]:
    print(f"{k}={os.environ.get(k)}", flush=True)
print("ARGS=" + " ".join(sys.argv[1:]), flush=True)
if rank == 0:
    s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind(("0.0.0.0", port)); s.listen(1); s.settimeout(60)
    conn, _ = s.accept(); print("master got:", conn.recv(100).decode(), flush=True)
else:
    deadline = time.time() + 60
    while True:
        try:
            c = socket.create_connection((addr, port), timeout=5); break
        except OSError:
            if time.time() > deadline: raise
            time.sleep(0.1)
    c.sendall(f"hello from rank {rank}".encode()); print("sent to master", flush=True)
"#;
    let (job, ver) = submit(
        &srv.api,
        &srv.storage(),
        backend,
        "rdv",
        &boot(body),
        json!({"worker_server_num": "2", "parameter": [{"label": "lr", "value": 0.01}]}),
    )
    .await;
    let end = srv
        .api
        .wait_status(job, ver, JobStatus::TERMINAL, Duration::from_secs(90))
        .await;
    let l0 = srv.api.log(job, ver, "rdv.0").await;
    let l1 = srv.api.log(job, ver, "rdv.1").await;
    assert_eq!(end, JobStatus::COMPLETED, "{l0}\n{l1}");
    for (rank, log) in [(0, &l0), (1, &l1)] {
        for line in [
            format!("RANK={rank}\n"),
            format!("DLS_TASK_INDEX={rank}\n"),
            "WORLD_SIZE=2\n".to_owned(),
            "DLS_TASK_NUMBER=2\n".to_owned(),
            "--lr=0.01".to_owned(),
            "--data_url=".to_owned(),
            "--train_url=".to_owned(),
        ] {
            assert!(log.contains(&line), "{line:?} missing: {log}");
        }
        assert!(!log.contains("BATCH_CUSTOM1_HOSTS=None"), "{log}");
        assert!(!log.contains("LOCAL_RANK=None"), "{log}");
    }
    assert!(l0.contains("master got: hello from rank 1"), "{l0}");
}

/// The server is SIGKILLed while jobs run: after a restart they are followed again, two end
/// 10 with their real outcome (one where the node has only two cores), a third one stopped
/// after the restart ends 12, and nothing of the runs is left afterwards.
async fn server_sigkill_and_reattach(backend: Backend) {
    let _held = backend.prepare().await;
    let dir = tempdir().unwrap();
    let config = dir.path().join("config.toml");
    write_config(
        &config,
        config_text(&dir.path().join("data"), backend.config(false)),
    )
    .unwrap();
    let storage = dir.path().join("data/obs").join(PROJECT);
    let runs = dir.path().join("data/runs");
    let _teardown = Teardown(runs.clone());
    let body = "mark('started')\nsignal.signal(signal.SIGTERM, lambda *a: sys.exit(143))\n\
        wait_gate('go')\nprint('finishing after restart', flush=True)\n";
    let mut server = ServerProcess::start(&config, free_port()).await;
    let mut jobs = Vec::new();
    let names = ["stopme", "keep1", "keep2"];
    for name in &names[..backend.slots()] {
        let j = submit(&server.api, &storage, backend, name, &boot(body), json!({})).await;
        jobs.push((name, j));
    }
    for (name, (job, ver)) in &jobs {
        server
            .api
            .wait_status(*job, *ver, &[JobStatus::RUNNING], backend.start_within())
            .await;
        let started = storage.join("out").join(name).join("started");
        wait_file(&started, backend.start_within()).await;
    }
    server.kill9();
    let server = ServerProcess::start(&config, free_port()).await;
    let (_, (sj, sv)) = jobs[0];
    assert_eq!(server.api.status(sj, sv).await, JobStatus::RUNNING);
    server
        .api
        .post(
            &format!("/training-jobs/{sj}/versions/{sv}/stop"),
            json!({"grace_period_seconds": 2}),
        )
        .await
        .assert_ok();
    assert_eq!(
        server
            .api
            .wait_status(sj, sv, JobStatus::TERMINAL, Duration::from_secs(30))
            .await,
        JobStatus::KILLED
    );
    open_gate(&storage, "go");
    for (name, (job, ver)) in &jobs[1..] {
        let end = server
            .api
            .wait_status(*job, *ver, JobStatus::TERMINAL, Duration::from_secs(60))
            .await;
        let log = server.api.log(*job, *ver, &format!("{name}.0")).await;
        assert_eq!(end, JobStatus::COMPLETED, "{log}");
        assert!(log.contains("finishing after restart"), "{log}");
    }
    assert_nothing_left(&runs);
}

/// Kills what a test that failed half-way left running.
struct Teardown(PathBuf);

impl Drop for Teardown {
    fn drop(&mut self) {
        kill_runs(&self.0);
    }
}

/// A job that does not fit waits in 7 while the capacity is taken, and runs once it is free.
async fn waits_in_7_while_the_capacity_is_full(backend: Backend) {
    let _held = backend.prepare().await;
    let srv = TestServer::start_with(backend.config(true)).await;
    let whole = json!({"spec_id": backend.whole_spec()});
    let (j1, v1) = submit(
        &srv.api,
        &srv.storage(),
        backend,
        "first",
        &boot("wait_gate('release')\nprint('released', flush=True)\n"),
        whole.clone(),
    )
    .await;
    srv.api
        .wait_status(j1, v1, &[JobStatus::RUNNING], backend.start_within())
        .await;
    let (j2, v2) = submit(
        &srv.api,
        &srv.storage(),
        backend,
        "second",
        &boot("print('second ran', flush=True)\n"),
        whole,
    )
    .await;
    srv.api
        .wait_status(j2, v2, &[JobStatus::WAITING], Duration::from_secs(20))
        .await;
    tokio::time::sleep(Duration::from_millis(1500)).await;
    assert_eq!(
        srv.api.status(j2, v2).await,
        JobStatus::WAITING,
        "still waiting while the capacity is taken"
    );
    if matches!(backend, Backend::Local | Backend::Container) {
        // RS-01 tells the truth while the only core is taken.
        let specs = srv.api.get("/job/resource-specs").await;
        let spec1 = specs.assert_ok()["specs"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["spec_id"] == json!(1))
            .unwrap()
            .clone();
        assert_eq!(spec1["no_resource"], json!(true));
    }
    open_gate(&srv.storage(), "release");
    for (job, ver) in [(j1, v1), (j2, v2)] {
        assert_eq!(
            srv.api
                .wait_status(job, ver, JobStatus::TERMINAL, backend.start_within())
                .await,
            JobStatus::COMPLETED
        );
    }
    assert!(srv.api.log(j2, v2, "second.0").await.contains("second ran"));
    // Its event log says why it waited and where it ran.
    let deadline = Instant::now() + Duration::from_secs(20);
    let events = loop {
        let r = srv
            .api
            .get(&format!("/training-jobs/{j2}/versions/{v2}/events"))
            .await;
        let events = r.assert_ok()["events"].as_array().unwrap().clone();
        if events.last().is_some_and(|e| e["kind"] == "ended") {
            break events;
        }
        assert!(Instant::now() < deadline, "{events:#?}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    let of = |kind: &str| -> Vec<&Value> { events.iter().filter(|e| e["kind"] == kind).collect() };
    let why: Vec<&str> = of("queued")
        .iter()
        .map(|e| e["detail"]["why"].as_str().unwrap())
        .collect();
    let started = &of("started")[0]["detail"];
    if matches!(backend, Backend::Local | Backend::Container) {
        assert!(
            why.iter().any(|w| w.starts_with("waiting for resources")),
            "{why:?}"
        );
        assert_eq!(started["backend"], "local");
        assert!(
            started["place"].as_str().unwrap().starts_with("host "),
            "{started}"
        );
    } else {
        assert!(why.iter().any(|w| w.contains("(Slurm job ")), "{why:?}");
        assert_eq!(started["backend"], "slurm");
        assert!(
            started["place"].as_str().unwrap().starts_with("Slurm job "),
            "{started}"
        );
    }
}

/// Deleting a running job stops it and removes it: gone from the API at once, then its
/// processes (containers, Slurm tasks) and its run directory; the name is free again.
async fn delete_stops_and_removes_a_running_job(backend: Backend) {
    let _held = backend.prepare().await;
    let srv = TestServer::start_with(backend.config(false)).await;
    let body = "mark('started')\ntime.sleep(300)\n";
    let (job, ver) = submit(
        &srv.api,
        &srv.storage(),
        backend,
        "victim",
        &boot(body),
        json!({}),
    )
    .await;
    srv.api
        .wait_status(job, ver, &[JobStatus::RUNNING], backend.start_within())
        .await;
    wait_file(
        &srv.storage().join("out/victim/started"),
        backend.start_within(),
    )
    .await;
    let run_dir = std::fs::canonicalize(srv.dir.path().join(format!("data/runs/{ver}"))).unwrap();
    assert!(!leftovers(std::slice::from_ref(&run_dir)).is_empty());
    srv.api
        .delete(&format!("/training-jobs/{job}"))
        .await
        .assert_ok();
    srv.api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await
        .assert_error(400, "ModelArts.0105");
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let left = leftovers(std::slice::from_ref(&run_dir));
        if left.is_empty() && !run_dir.exists() {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "left behind: {left:?}, run dir exists: {}",
            run_dir.exists()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let left = containers();
    for i in 0..2 {
        let name = trainyard_exec::container::name(&run_dir, i);
        assert!(!left.contains(&name), "container {name} left");
    }
    submit(
        &srv.api,
        &srv.storage(),
        backend,
        "victim",
        &boot("print('again')\n"),
        json!({}),
    )
    .await;
}

/// A read-only `host_path` volume inside the project's `host_paths`: a container worker (on
/// this host or on the Slurm node) reads it at `dest_path` and cannot write there; a host job
/// is refused, naming the container runtime, with nothing created.
async fn host_path_volumes_follow_the_backend(backend: Backend) {
    let _held = backend.prepare().await;
    let hosts = tempdir().unwrap();
    std::fs::write(hosts.path().join("train.csv"), "4,5,6\n").unwrap();
    let srv = TestServer::start_with_project(
        &format!("host_paths = [{:?}]", hosts.path().display().to_string()),
        backend.config(false),
    )
    .await;
    let volumes = json!([{"host_path": {
        "src_path": hosts.path().display().to_string(),
        "dest_path": "/home/work/nas",
        "read_only": true,
    }}]);
    let body = "print('nas=' + open('/home/work/nas/train.csv').read().strip(), flush=True)\n\
        try:\n    open('/home/work/nas/new', 'w')\n    print('nas writable')\n\
        except OSError as e:\n    print('nas read-only', e.errno)\n";
    if matches!(backend, Backend::Local | Backend::Slurm) {
        write_app(&srv.storage(), "volume", &[("boot.py", &boot(body))]);
        let mut config = backend.job("volume");
        config["volumes"] = volumes;
        for (k, v) in [
            ("worker_server_num", json!(1)),
            ("app_url", json!("/volume/")),
            ("boot_file_url", json!("/volume/boot.py")),
            ("data_url", json!("/volume/")),
            ("spec_id", json!(1)),
        ] {
            config[k] = v;
        }
        let r = srv
            .api
            .post(
                "/training-jobs",
                json!({"job_name": "volume", "config": config}),
            )
            .await;
        r.assert_error(400, "ModelArts.0101");
        let message = r.body["error_message"].as_str().unwrap();
        assert!(
            message.contains("volumes[0].host_path") && message.contains("podman"),
            "{message}"
        );
        let list = srv.api.get("/training-jobs?per_page=10&page=1").await;
        assert_eq!(list.assert_ok()["job_total_count"], json!(0));
        return;
    }
    let (job, ver) = submit(
        &srv.api,
        &srv.storage(),
        backend,
        "volume",
        &boot(body),
        json!({"volumes": volumes}),
    )
    .await;
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "volume.0", backend.start_within())
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("nas=4,5,6"), "{log}");
    assert!(log.contains("nas read-only 30"), "EROFS expected: {log}");
    assert!(!hosts.path().join("new").exists());
    assert_nothing_left(&srv.dir.path().join("data/runs"));
}

/// Runs every scenario on one backend, as a module of tests named after the scenarios.
macro_rules! on_backend {
    ($module:ident, $backend:expr) => {
        mod $module {
            on_backend!(@tests $backend;
                succeeds_with_output_and_logs,
                exit_code_fails_the_version,
                a_failing_worker_stops_its_sibling,
                stop_ends_a_term_trapping_job_within_the_grace,
                two_workers_meet_at_master_addr,
                server_sigkill_and_reattach,
                waits_in_7_while_the_capacity_is_full,
                delete_stops_and_removes_a_running_job,
                host_path_volumes_follow_the_backend,
            );
        }
    };
    (@tests $backend:expr; $($scenario:ident,)*) => {
        $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
            async fn $scenario() {
                super::$scenario($backend).await
            }
        )*
    };
}

on_backend!(local, super::Backend::Local);
on_backend!(container, super::Backend::Container);
on_backend!(slurm, super::Backend::Slurm);
on_backend!(slurm_container, super::Backend::SlurmContainer);
