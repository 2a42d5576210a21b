//! `[storage] backend = "s3"`: every path of a job names a folder of a bucket in a real S3
//! server (`s3s-fs` from crates.io, which keeps each bucket as a folder of files: the tests
//! put objects in and read them back there, beside the store, not through trainyard).

use crate::harness::*;
use serde_json::{json, Value};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const ACCESS_KEY: &str = "trainyard-test";
const SECRET_KEY: &str = "trainyard-test-secret";

/// A real S3 server on loopback, over the folder `root` (one folder per bucket).
pub(crate) struct S3Server {
    root: tempfile::TempDir,
    port: u16,
    child: Option<Child>,
}

impl S3Server {
    /// Starts one with `buckets` (created as folders before it starts).
    pub(crate) fn start(buckets: &[&str]) -> Self {
        let root = tempdir().unwrap();
        for b in buckets {
            std::fs::create_dir_all(root.path().join(b)).unwrap();
        }
        let mut s = Self {
            root,
            port: free_port(),
            child: None,
        };
        s.restart();
        s
    }

    fn program() -> PathBuf {
        if let Some(p) = std::env::var_os("TRAINYARD_S3S_FS") {
            return p.into();
        }
        let home = PathBuf::from(std::env::var_os("HOME").unwrap_or_default());
        let installed = home.join(".cargo/bin/s3s-fs");
        assert!(
            installed.exists(),
            "s3s-fs is not installed: `bash scripts/install-s3s-fs.sh` (run by .ci/run) installs it"
        );
        installed
    }

    /// (Re)starts the server on the same port and folder.
    pub(crate) fn restart(&mut self) {
        let child = Command::new(Self::program())
            .args(["--host", "127.0.0.1", "--port", &self.port.to_string()])
            .args(["--access-key", ACCESS_KEY, "--secret-key", SECRET_KEY])
            .arg(self.root.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("s3s-fs");
        self.child = Some(child);
        let deadline = Instant::now() + Duration::from_secs(10);
        while TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(Instant::now() < deadline, "s3s-fs did not listen");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Kills the server (SIGKILL): requests fail until [`Self::restart`].
    pub(crate) fn kill(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }

    /// `[storage]` for this server.
    fn storage_config(&self, extra: &str) -> String {
        format!(
            "[storage]\nbackend = \"s3\"\nendpoint = \"http://127.0.0.1:{}\"\nregion = \"us-east-1\"\n\
             access_key = \"{ACCESS_KEY}\"\nsecret_key = \"{SECRET_KEY}\"\npath_style = true\n{extra}\n",
            self.port
        )
    }

    /// Puts an object (a file in the bucket's folder).
    pub(crate) fn put(&self, key: &str, body: &[u8]) {
        let path = self.root.path().join(key);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, body).unwrap();
    }

    /// Where the object `key` is kept (a file of the server's folder).
    pub(crate) fn path(&self, key: &str) -> PathBuf {
        self.root.path().join(key)
    }

    /// The object `key`, if it exists.
    pub(crate) fn get(&self, key: &str) -> Option<Vec<u8>> {
        std::fs::read(self.root.path().join(key)).ok()
    }

    /// Every object below `prefix` (relative keys).
    fn keys(&self, prefix: &str) -> Vec<String> {
        let top = self.root.path().join(prefix);
        let mut out = Vec::new();
        let mut todo = vec![top.clone()];
        while let Some(dir) = todo.pop() {
            for e in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
                if e.path().is_dir() {
                    todo.push(e.path());
                } else {
                    out.push(e.path().strip_prefix(&top).unwrap().display().to_string());
                }
            }
        }
        out.sort();
        out
    }
}

impl Drop for S3Server {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A trainyard server whose project may use `buckets` of `s3`.
pub(crate) async fn server(s3: &S3Server, buckets: &[&str], storage_extra: &str) -> TestServer {
    TestServer::start_with_project(
        &format!("buckets = {buckets:?}"),
        &s3.storage_config(storage_extra),
    )
    .await
}

/// Creates a training job (TJ-01 `body`); its job and version ids.
pub(crate) async fn create(srv: &TestServer, body: Value) -> (i64, i64) {
    let r = srv.api.post("/training-jobs", body).await;
    let b = r.assert_ok();
    (
        b["job_id"].as_i64().unwrap(),
        b["version_id"].as_i64().unwrap(),
    )
}

/// Creates a new version of `job` (TJ-06 with `config`) and waits until it completed.
async fn new_version_runs(srv: &TestServer, job: i64, config: &Value) {
    let r = srv
        .api
        .post(
            &format!("/training-jobs/{job}/versions"),
            json!({"config": config}),
        )
        .await;
    let ver = r.assert_ok()["version_id"].as_i64().unwrap();
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "TestModelArtsJob.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
}

/// The TJ-01 sample (the ZH version of sample 1: dataset input, no built-in algorithm, no
/// pool), verbatim: its paths name the buckets `usr` and `datasets`.
fn tj01_sample() -> Value {
    json!({
        "job_name": "TestModelArtsJob",
        "job_desc": "This is a ModelArts job",
        "workspace_id": "af261af2218841ec960b01ab3cf1a5fa",
        "config": {
            "worker_server_num": 1,
            "app_url": "/usr/app/",
            "boot_file_url": "/usr/app/boot.py",
            "parameter": [
                {"label": "learning_rate", "value": "0.01"},
                {"label": "batch_size", "value": "32"}
            ],
            "dataset_id": "38277e62-9e59-48f4-8d89-c8cf41622c24",
            "dataset_version_id": "2ff0d6ba-c480-45ae-be41-09a8369bfc90",
            "spec_id": 1,
            "engine_id": 1,
            "train_url": "/usr/train/",
            "log_url": "/usr/log/"
        }
    })
}

const DATASET: &str =
    "datasets/38277e62-9e59-48f4-8d89-c8cf41622c24/2ff0d6ba-c480-45ae-be41-09a8369bfc90";

/// The boot file: reads its data, writes a checkpoint large enough for a multipart upload
/// (20 MiB) and a small result to its train_url.
const TRAIN: &str = "import os, sys\n\
    args = dict(a[2:].split('=', 1) for a in sys.argv[1:])\n\
    print('data=' + ','.join(sorted(os.listdir(args['data_url']))), flush=True)\n\
    print('lr=' + args['learning_rate'], flush=True)\n\
    os.makedirs(os.path.join(args['train_url'], 'ckpt'), exist_ok=True)\n\
    open(os.path.join(args['train_url'], 'ckpt', 'model.bin'), 'wb').write(b'w' * (20 << 20))\n\
    open(os.path.join(args['train_url'], 'done.txt'), 'w').write('trained')\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tj01_sample_with_every_path_in_a_bucket_runs_and_uploads() {
    let s3 = S3Server::start(&["usr", "datasets"]);
    s3.put("usr/app/boot.py", TRAIN.as_bytes());
    s3.put(&format!("{DATASET}/mnist.csv"), b"1,2,3\n");
    let srv = server(&s3, &["usr", "datasets"], "upload_interval_seconds = 0.5").await;
    let (job, ver) = create(&srv, tj01_sample()).await;
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "TestModelArtsJob.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("data=mnist.csv\nlr=0.01\n"), "{log}");
    // The outputs are objects of train_url, the checkpoint uploaded in parts; the logs are in
    // log_url (without the server's index files).
    assert_eq!(
        s3.get("usr/train/done.txt").as_deref(),
        Some(&b"trained"[..])
    );
    let model = s3.get("usr/train/ckpt/model.bin").expect("the checkpoint");
    assert!(model.len() == 20 << 20 && model.iter().all(|b| *b == b'w'));
    assert_eq!(s3.keys("usr/log"), ["TestModelArtsJob.0"]);
    let uploaded = String::from_utf8(s3.get("usr/log/TestModelArtsJob.0").unwrap()).unwrap();
    assert!(uploaded.contains("data=mnist.csv"), "{uploaded}");
    // The run's spec carries the store's keys for its shim, so only its owner may read it.
    let spec = srv.dir.path().join(format!("data/runs/{ver}/spec.json"));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&spec).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(std::fs::read_to_string(&spec).unwrap().contains(SECRET_KEY));
    // The version shows the paths as given.
    let d = srv
        .api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await;
    assert_eq!(d.assert_ok()["train_url"], "/usr/train/");

    // A second version over the same objects reuses the cached data folder; a changed object
    // makes a new one. The cache is the project's own: root's, passable by its group alone.
    let cache = srv.dir.path().join("data/cache").join(PROJECT);
    {
        use std::os::unix::fs::MetadataExt;
        let meta = std::fs::metadata(&cache).unwrap();
        let uid = project_uid(&srv.dir.path().join("data"), PROJECT);
        assert_eq!(
            (meta.uid(), meta.gid(), meta.mode() & 0o777),
            (0, uid, 0o710)
        );
    }
    let entries = |cache: &Path| {
        std::fs::read_dir(cache)
            .unwrap()
            .flatten()
            .filter(|e| e.path().is_dir() && !e.file_name().to_string_lossy().starts_with('.'))
            .count()
    };
    assert_eq!(entries(&cache), 1);
    // The job read its data through the cache (above); a user of no project's group gets in
    // nowhere there.
    let listed_by_other = Command::new("setpriv")
        .args(["--reuid=65534", "--regid=65534", "--clear-groups", "ls"])
        .arg(&cache)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .unwrap();
    assert!(
        !listed_by_other.success(),
        "another user lists the project's data cache"
    );
    let mut again = tj01_sample()["config"].clone();
    again["pre_version_id"] = json!(ver);
    new_version_runs(&srv, job, &again).await;
    assert_eq!(entries(&cache), 1, "the unchanged data was fetched again");
    s3.put(&format!("{DATASET}/mnist.csv"), b"4,5,6,7\n");
    new_version_runs(&srv, job, &again).await;
    assert_eq!(entries(&cache), 2, "a changed object must be fetched anew");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_version_keeps_what_it_wrote_before_the_stop() {
    let s3 = S3Server::start(&["team-a"]);
    let train = "import os, sys, time\n\
        args = dict(a[2:].split('=', 1) for a in sys.argv[1:])\n\
        open(os.path.join(args['train_url'], 'ckpt-1.bin'), 'wb').write(b'epoch 1')\n\
        print('ckpt-1 saved', flush=True)\n\
        time.sleep(120)\n";
    s3.put("team-a/code/boot.py", train.as_bytes());
    s3.put("team-a/data/x", b"x");
    let srv = server(&s3, &["team-a"], "upload_interval_seconds = 0.5").await;
    let config = json!({
        "worker_server_num": 1, "app_url": "/team-a/code/", "boot_file_url": "/team-a/code/boot.py",
        "data_url": "/team-a/data/", "train_url": "/team-a/out/", "spec_id": 1, "engine_id": 1,
    });
    let (job, ver) = create(&srv, json!({"job_name": "long", "config": config})).await;
    srv.api.wait_log(job, ver, "long.0", "ckpt-1 saved").await;
    srv.api
        .post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            json!({"grace_period_seconds": 1}),
        )
        .await
        .assert_ok();
    let end = srv
        .api
        .wait_status(job, ver, JobStatus::TERMINAL, Duration::from_secs(30))
        .await;
    assert_eq!(end, JobStatus::KILLED);
    assert_eq!(
        s3.get("team-a/out/ckpt-1.bin").as_deref(),
        Some(&b"epoch 1"[..])
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buckets_the_project_is_not_granted_are_refused_like_path_traversal() {
    let s3 = S3Server::start(&["team-a", "team-b"]);
    s3.put("team-a/code/boot.py", b"print('ok')\n");
    s3.put("team-b/code/boot.py", b"print('stolen')\n");
    let srv = server(&s3, &["team-a"], "").await;
    let job = |config: Value| json!({"job_name": "j", "config": config});
    let base = json!({
        "worker_server_num": 1, "app_url": "/team-a/code/", "boot_file_url": "/team-a/code/boot.py",
        "data_url": "/team-a/data/", "train_url": "/team-a/out/", "spec_id": 1, "engine_id": 1,
    });
    let traversal = srv
        .api
        .post(
            "/training-jobs",
            job({
                let mut c = base.clone();
                c["train_url"] = json!("/team-a/../team-b/out/");
                c
            }),
        )
        .await;
    traversal.assert_error(400, "ModelArts.0101");
    for (field, value) in [
        ("app_url", "/team-b/code/"),
        ("train_url", "/team-b/out/"),
        ("data_url", "s3://team-b/data/"),
        ("log_url", "obs://team-b/log/"),
    ] {
        let mut c = base.clone();
        c[field] = json!(value);
        if field == "app_url" {
            c["boot_file_url"] = json!("/team-b/code/boot.py");
        }
        let r = srv.api.post("/training-jobs", job(c)).await;
        r.assert_error(400, "ModelArts.0101");
        let message = r.body["error_message"].as_str().unwrap();
        assert!(
            message.contains("team-b") && message.contains("bucket"),
            "{message}"
        );
    }
    // The other project is granted no bucket at all.
    srv.other
        .post("/training-jobs", job(base.clone()))
        .await
        .assert_error(400, "ModelArts.0101");
    // Nothing was written to the refused bucket.
    assert_eq!(s3.keys("team-b"), ["code/boot.py"]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_upload_outlives_an_s3_outage_or_reports_the_failure() {
    let mut s3 = S3Server::start(&["team-a"]);
    // The output (64 MiB: eight parts) goes up only at the end (no pass while it runs).
    let train = "import os, sys, time\n\
        args = dict(a[2:].split('=', 1) for a in sys.argv[1:])\n\
        open(os.path.join(args['train_url'], 'big.bin'), 'wb').write(b'z' * (64 << 20))\n\
        print('written', flush=True)\n\
        time.sleep(1)\n";
    s3.put("team-a/code/boot.py", train.as_bytes());
    s3.put("team-a/data/x", b"x");
    let srv = server(
        &s3,
        &["team-a"],
        "upload_interval_seconds = 3600\nretry_seconds = 60",
    )
    .await;
    let config = |out: &str| {
        json!({
            "worker_server_num": 1, "app_url": "/team-a/code/", "boot_file_url": "/team-a/code/boot.py",
            "data_url": "/team-a/data/", "train_url": out, "spec_id": 1, "engine_id": 1,
            "log_url": format!("{out}logs/"),
        })
    };
    let (job, ver) = create(
        &srv,
        json!({"job_name": "outage", "config": config("/team-a/out/")}),
    )
    .await;
    srv.api.wait_log(job, ver, "outage.0", "written").await;
    s3.kill();
    tokio::time::sleep(Duration::from_secs(4)).await;
    assert_eq!(
        srv.api.status(job, ver).await,
        JobStatus::RUNNING,
        "the upload waits for the store"
    );
    s3.restart();
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "outage.0", Duration::from_secs(90))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    let big = s3
        .get("team-a/out/big.bin")
        .expect("the output, once the store is back");
    assert_eq!(big.len(), 64 << 20);
    assert!(s3.get("team-a/out/logs/outage.0").is_some());

    // A store that stays away: the version fails with the reason in its log, and no object
    // stands at the output's key.
    drop(srv);
    let srv = server(
        &s3,
        &["team-a"],
        "upload_interval_seconds = 3600\nretry_seconds = 3",
    )
    .await;
    let (job, ver) = create(
        &srv,
        json!({"job_name": "lost", "config": config("/team-a/lost/")}),
    )
    .await;
    srv.api.wait_log(job, ver, "lost.0", "written").await;
    s3.kill();
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "lost.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::FAILED, "{log}");
    assert!(
        log.contains("[trainyard] upload to s3://team-a/lost/ failed"),
        "{log}"
    );
    s3.restart();
    assert_eq!(s3.get("team-a/lost/big.bin"), None);
}

/// On a Slurm pool each task's shim fetches the data and uploads the output on its node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slurm_tasks_fetch_and_upload_on_their_node() {
    let _node = slurm_node().await;
    let s3 = S3Server::start(&["team-a"]);
    let train = "import os, sys\n\
        args = dict(a[2:].split('=', 1) for a in sys.argv[1:])\n\
        rank = os.environ['RANK']\n\
        seen = ','.join(sorted(os.listdir(args['data_url'])))\n\
        open(os.path.join(args['train_url'], 'rank-' + rank + '.txt'), 'w').write(seen)\n";
    s3.put("team-a/code/boot.py", train.as_bytes());
    s3.put("team-a/data/shard.csv", b"1\n");
    let pool = "[[pools]]\nid = \"cluster\"\nbackend = \"slurm\"\npartition = \"debug\"\npoll_interval_seconds = 0.2\n\n\
        [[specs]]\nspec_id = 1\nspec_code = \"modelarts.vm.cpu.1u\"\ncore = 1\ncpu = 1\nmax_num = 2\n";
    let srv = server(
        &s3,
        &["team-a"],
        &format!("upload_interval_seconds = 0.5\n\n{pool}"),
    )
    .await;
    let config = json!({
        "worker_server_num": 2, "app_url": "/team-a/code/", "boot_file_url": "/team-a/code/boot.py",
        "data_url": "/team-a/data/", "train_url": "/team-a/out/", "spec_id": 1, "engine_id": 1,
        "pool_id": "cluster", "log_url": "/team-a/logs/",
    });
    let (job, ver) = create(&srv, json!({"job_name": "onslurm", "config": config})).await;
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "onslurm.0", Duration::from_secs(90))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    for rank in ["0", "1"] {
        assert_eq!(
            s3.get(&format!("team-a/out/rank-{rank}.txt")).as_deref(),
            Some(&b"shard.csv"[..]),
            "rank {rank}"
        );
    }
    assert_eq!(s3.keys("team-a/logs"), ["onslurm.0", "onslurm.1"]);
}

/// A visualization job over a bucket's `train_url` serves its real scalars through
/// `service_url`, and sees event files that arrive in the bucket while it runs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_visualization_job_over_a_bucket_serves_its_scalars() {
    let s3 = S3Server::start(&["team-a"]);
    // Real event files, written by TensorBoard's own writer, put in the bucket.
    let events = tempdir().unwrap();
    write_scalars(&events.path().join("first"), 5);
    let put_dir = |from: &Path, prefix: &str| {
        for e in std::fs::read_dir(from).unwrap().flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            s3.put(
                &format!("{prefix}/{name}"),
                &std::fs::read(e.path()).unwrap(),
            );
        }
    };
    put_dir(&events.path().join("first"), "team-a/tb/run1");
    let srv = server(
        &s3,
        &["team-a"],
        &format!("upload_interval_seconds = 0.5\n\n{}", viz_config("")),
    )
    .await;
    let r = srv
        .api
        .post(
            "/visualization-jobs",
            json!({"job_name": "tb-s3", "train_url": "/team-a/tb/"}),
        )
        .await;
    let b = r.assert_ok();
    let service_url = b["service_url"].as_str().unwrap().to_owned();
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let opened = http.get(&service_url).send().await.unwrap();
    assert_eq!(opened.status(), 303);
    let cookie = opened.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let base = service_url.split('?').next().unwrap().to_owned();
    let losses = |run: &'static str| {
        let (http, base, cookie) = (http.clone(), base.clone(), cookie.clone());
        async move {
            let deadline = Instant::now() + Duration::from_secs(60);
            loop {
                let r = http
                    .get(format!(
                        "{base}data/plugin/scalars/scalars?run={run}&tag=loss"
                    ))
                    .header("cookie", &cookie)
                    .send()
                    .await;
                if let Some(r) = r.ok().filter(|r| r.status() == 200) {
                    let points: Value = r.json().await.unwrap();
                    if points.as_array().is_some_and(|p| p.len() == 5) {
                        return points;
                    }
                }
                assert!(
                    Instant::now() < deadline,
                    "no scalars of {run} through {base}"
                );
                tokio::time::sleep(Duration::from_millis(300)).await;
            }
        }
    };
    let points = losses("run1").await;
    assert_eq!(points[4][1].as_i64(), Some(4));
    assert!(
        (points[4][2].as_f64().unwrap() - 0.2).abs() < 1e-6,
        "{points}"
    );
    // A run that lands in the bucket later shows up too (the mirror is kept fresh).
    write_scalars(&events.path().join("second"), 5);
    put_dir(&events.path().join("second"), "team-a/tb/run2");
    losses("run2").await;
}

/// A code upload (`PUT .../storage/upload`, what `jobs submit DIR` sends) lands in the bucket:
/// it replaces the folder's objects, a file symlink is stored as its file, and a job runs it;
/// `trainyard files` lists and downloads the bucket's objects.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn uploads_land_in_the_bucket_and_jobs_run_them() {
    let s3 = S3Server::start(&["team-a", "team-b"]);
    s3.put("team-a/code/stale.py", b"old");
    s3.put("team-a/data/x", b"x");
    let srv = TestServer::start_with_project(
        "buckets = [\"team-a\"]\naccess_keys = [{ ak = \"AKOBS\", sk = \"SKOBS\" }]",
        &s3.storage_config(""),
    )
    .await;
    let local = tempdir().unwrap();
    std::fs::create_dir_all(local.path().join("pkg")).unwrap();
    std::fs::write(local.path().join("pkg/util.py"), "WORD = 'uploaded'\n").unwrap();
    std::fs::write(
        local.path().join("train.py"),
        "from pkg.util import WORD\nprint('word=' + WORD)\n",
    )
    .unwrap();
    std::os::unix::fs::symlink("pkg/util.py", local.path().join("alias.py")).unwrap();
    let client = srv.api.client();
    let up = client
        .upload_dir(local.path(), "/team-a/code/")
        .await
        .unwrap();
    assert_eq!(up.files, 2);
    assert_eq!(
        s3.keys("team-a/code"),
        ["alias.py", "pkg/util.py", "train.py"]
    );
    assert_eq!(
        s3.get("team-a/code/alias.py").unwrap(),
        b"WORD = 'uploaded'\n"
    );
    let config = json!({
        "worker_server_num": 1, "app_url": "/team-a/code/",
        "boot_file_url": "/team-a/code/train.py", "data_url": "/team-a/data/",
        "spec_id": 1, "engine_id": 1,
    });
    let (job, ver) = create(&srv, json!({"job_name": "uploaded", "config": config})).await;
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "uploaded.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("word=uploaded"), "{log}");

    // The storage listing and download (what `trainyard files` uses) read the bucket: a
    // folder's objects at every depth, one object, its bytes; other buckets are refused.
    let list = client.list_files("/team-a/code/").await.unwrap();
    let paths: Vec<&str> = list.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/team-a/code/alias.py",
            "/team-a/code/pkg/util.py",
            "/team-a/code/train.py"
        ]
    );
    assert_eq!(list.files[1].size, 18);
    assert!(
        list.files.iter().all(|f| f.modified > 0),
        "{:?}",
        list.files
    );
    let one = client
        .list_files("s3://team-a/code/pkg/util.py")
        .await
        .unwrap();
    assert_eq!(one.files.len(), 1);
    assert_eq!(one.files[0].path, "/team-a/code/pkg/util.py");
    let mut body = client.read_file("/team-a/code/pkg/util.py").await.unwrap();
    let mut bytes = Vec::new();
    while let Some(chunk) = body.next_chunk().await.unwrap() {
        bytes.extend_from_slice(&chunk);
    }
    assert_eq!(bytes, b"WORD = 'uploaded'\n");
    for (path, code) in [
        ("/team-a/nothing/", "ModelArts.0105"),
        ("/team-b/code/", "ModelArts.0101"),
        ("/team-a/../team-b/", "ModelArts.0101"),
    ] {
        let e = client.list_files(path).await.unwrap_err();
        assert_eq!(e.code(), Some(code), "{path}: {e}");
    }
    let e = client.read_file("/team-a/code").await.unwrap_err();
    assert_eq!(e.code(), Some("ModelArts.0101"), "{e}");
    assert!(e.to_string().contains("is a folder"), "{e}");
    let e = client.read_file("/team-a/code/none.py").await.unwrap_err();
    assert_eq!(e.code(), Some("ModelArts.0105"), "{e}");
    let got = srv.dir.path().join("got");
    let out = trainyard(
        &srv.api.base,
        &srv.dir.path().join("config-home"),
        &["files", "get", "/team-a/code/", "-d", got.to_str().unwrap()],
        &[],
    )
    .await;
    out.ok();
    assert_eq!(
        std::fs::read_to_string(got.join("pkg/util.py")).unwrap(),
        "WORD = 'uploaded'\n"
    );

    // Another bucket, or the bucket itself, cannot be replaced; removal empties the folder.
    for path in ["/team-b/code/", "/team-a/"] {
        let e = client.upload_dir(local.path(), path).await.unwrap_err();
        assert!(e.to_string().contains("ModelArts.0101"), "{path}: {e}");
    }
    assert_eq!(s3.keys("team-b"), Vec::<String>::new());
    client.delete_upload("/team-a/code/").await.unwrap();
    assert_eq!(s3.keys("team-a/code"), Vec::<String>::new());

    // trainyard's own OBS/S3 endpoint serves local storage only: it refuses, naming why.
    let endpoint = trainyard_exec::objects::Objects::new(trainyard_exec::objects::S3Config {
        endpoint: Some(srv.api.base.clone()),
        region: "us-east-1".into(),
        access_key: "AKOBS".into(),
        secret_key: "SKOBS".into(),
        path_style: true,
        retry_seconds: 0,
    });
    let refused = endpoint
        .list(&trainyard_exec::objects::ObjectDir::new("team-a", "code"))
        .await
        .unwrap_err()
        .to_string();
    assert!(refused.contains("object store"), "{refused}");
}
