//! Custom-image jobs in real podman containers, with an image built here without a registry
//! (`scripts/make-test-image.sh`: busybox, bash and Python, imported with `podman import`).
//! The scenarios every backend shares are in `backends.rs`; these are the container-only ones.

use crate::harness::*;
use serde_json::json;
use std::time::{Duration, Instant};

/// The TJ-01 custom-image sample, as the contract's EN sample sends it (its image reference is
/// given to the test image with `podman tag`, so the request runs unchanged).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_tj01_custom_image_sample_runs_in_a_container() {
    let image = test_image();
    tag_image(&image, "100.125.5.235:20202/jobmng/custom-cpu-base:1.0");
    let srv = TestServer::start().await;
    let softmax = "import os, sys\n\
        print('cwd=' + os.getcwd())\n\
        print('argv=' + ' '.join(sys.argv[1:]))\n\
        data = sys.argv[sys.argv.index('--data_url') + 1]\n\
        print('data=' + ','.join(sorted(os.listdir(data))))\n\
        print('rank=' + os.environ['RANK'] + ' world=' + os.environ['WORLD_SIZE'])\n\
        print('CUSTOM_PARAM1=' + os.environ.get('CUSTOM_PARAM1', 'unset'))\n";
    srv.write_app("usr/app/mnist", &[("mnist_softmax.py", softmax)]);
    srv.write_app("usr/app/mnist_data", &[("train-images.idx", "pixels")]);
    srv.write_app("usr/app", &[("boot.py", "print('boot')\n")]);
    srv.write_app("usr/data", &[("x.csv", "1\n")]);
    let sample = json!({
        "job_name": "TestModelArtsJob2",
        "job_desc": "This is a ModelArts job",
        "workspace_id": "af261af2218841ec960b01ab3cf1a5fa",
        "config": {
            "worker_server_num": 1,
            "data_url": "/usr/data/",
            "app_url": "/usr/app/",
            "boot_file_url": "/usr/app/boot.py",
            "parameter": [{"label": "CUSTOM_PARAM1", "value": "1"}],
            "spec_id": 1,
            "user_command": "bash -x /home/work/run_train.sh python /home/work/user-job-dir/app/mnist/mnist_softmax.py --data_url /home/work/user-job-dir/app/mnist_data",
            "user_image_url": "100.125.5.235:20202/jobmng/custom-cpu-base:1.0",
            "train_url": "/usr/train/",
            "log_url": "/usr/log/",
            "model_id": 1,
            "pool_id": "testpool",
            "engine_id": 1
        }
    });
    let r = srv.api.post("/training-jobs", sample).await;
    let b = r.assert_ok();
    let (job, ver) = (
        b["job_id"].as_i64().unwrap(),
        b["version_id"].as_i64().unwrap(),
    );
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "TestModelArtsJob2.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    // run_train.sh (trainyard's, mounted) reports the documented working directory and the
    // command it runs; `bash -x` traces it; the boot file sees the code and data it was given.
    assert!(
        log.contains("[run_train.sh] working directory: /home/work/user-job-dir"),
        "{log}"
    );
    assert!(
        log.contains("exec python /home/work/user-job-dir/app/mnist/mnist_softmax.py --data_url /home/work/user-job-dir/app/mnist_data"),
        "{log}"
    );
    assert!(log.contains("cwd=/home/work/user-job-dir\n"), "{log}");
    assert!(
        log.contains("argv=--data_url /home/work/user-job-dir/app/mnist_data\n"),
        "{log}"
    );
    assert!(log.contains("data=train-images.idx\n"), "{log}");
    assert!(log.contains("rank=0 world=1\n"), "{log}");
    // Its parameters are the container's environment variables too (api.md §2.1).
    assert!(log.contains("CUSTOM_PARAM1=1\n"), "{log}");
    // Logs reach log_url as for host jobs.
    let copied = srv.storage().join("usr/log/TestModelArtsJob2.0");
    assert!(
        std::fs::read_to_string(&copied).is_ok_and(|l| l.contains("cwd=")),
        "{}",
        copied.display()
    );
    assert_no_containers_of(&srv);
}

/// `{python_file_parameter}` expands to the run's arguments as the container sees them; the
/// data folder is read-only there and the output folder writable.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_file_parameter_names_the_mounted_folders() {
    let image = test_image();
    let srv = TestServer::start().await;
    let train = "import os, sys\n\
        args = dict(a[2:].split('=', 1) for a in sys.argv[1:])\n\
        print('args=' + repr(sorted(args.items())))\n\
        print('data=' + open(os.path.join(args['data_url'], 'x.csv')).read().strip())\n\
        try:\n    open(os.path.join(args['data_url'], 'w'), 'w')\n    print('data writable')\n\
        except OSError as e:\n    print('data read-only', e.errno)\n\
        open(os.path.join(args['train_url'], 'model.txt'), 'w').write('weights ' + args['lr'])\n";
    srv.write_app("code", &[("train.py", train)]);
    srv.write_app("data", &[("x.csv", "42\n")]);
    let (job, ver) = srv
        .api
        .create_job(
            "params",
            "code",
            json!({
                "user_image_url": image,
                "user_command": "python /home/work/user-job-dir/code/train.py {python_file_parameter}",
                "parameter": [{"label": "lr", "value": "0.1 and more"}],
                "engine_id": null,
                "boot_file_url": null,
            }),
        )
        .await;
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "params.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(
        log.contains("args=[('data_url', '/home/work/data_url'), ('lr', '0.1 and more'), ('train_url', '/home/work/train_url')]"),
        "{log}"
    );
    assert!(log.contains("data=42"), "{log}");
    assert!(log.contains("data read-only 30"), "EROFS expected: {log}");
    let model = std::fs::read_to_string(srv.storage().join("out/params/model.txt")).unwrap();
    assert_eq!(model, "weights 0.1 and more");
}

/// A missing image with no registry to pull it from fails the version (11) within 30 s, with
/// the reason in its log; nothing hangs.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_image_fails_the_job_with_the_reason_in_its_log() {
    test_image();
    let srv = TestServer::start().await;
    srv.write_app("code", &[("train.py", "print('never')\n")]);
    srv.write_app("data", &[("x", "")]);
    let started = Instant::now();
    let (job, ver) = srv
        .api
        .create_job(
            "noimage",
            "code",
            json!({
                "user_image_url": "100.125.5.235:20202/jobmng/not-here:9.9",
                "user_command": "python /home/work/user-job-dir/code/train.py",
            }),
        )
        .await;
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "noimage.0", Duration::from_secs(30))
        .await;
    assert_eq!(end, JobStatus::FAILED, "{log}");
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(
        log.contains("image 100.125.5.235:20202/jobmng/not-here:9.9 is not on this host"),
        "{log}"
    );
    assert!(!log.contains("never"), "{log}");
}

/// An engine that names an image runs its boot file in that image, with the engine's command.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_engine_with_an_image_runs_boot_files_in_it() {
    let image = test_image();
    let engines = format!(
        "[[engines]]\nid = 7\nname = \"Python\"\nversion = \"in-image\"\ncommand = [\"python3\", \"-u\"]\nimage = \"{image}\"\n"
    );
    let srv = TestServer::start_with(&engines).await;
    let boot = "import os, sys\nprint('file=' + os.path.abspath(sys.argv[0]))\nprint('exe=' + sys.executable)\n";
    srv.write_app("eng", &[("boot.py", boot)]);
    srv.write_app("data", &[("x", "")]);
    let (job, ver) = srv
        .api
        .create_job("inimage", "eng", json!({"engine_id": 7}))
        .await;
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "inimage.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(
        log.contains("file=/home/work/user-job-dir/eng/boot.py"),
        "{log}"
    );
    assert!(log.contains("exe=/usr/bin/python3"), "{log}");
}

/// The runtime can be turned off: custom images are then refused with 2810, naming podman.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_container_runtime_custom_images_are_refused() {
    let srv = TestServer::start_with(
        "[executor]\ncores = 4\nmemory_gb = 8\ncontainer_runtime = \"none\"\n",
    )
    .await;
    srv.write_app("code", &[("train.py", "")]);
    srv.write_app("data", &[("x", "")]);
    let r = srv
        .api
        .post(
            "/training-jobs",
            json!({"job_name": "img", "config": {
                "worker_server_num": 1, "data_url": "/data/", "spec_id": 1,
                "user_image_url": "localhost/anything:1",
                "user_command": "python x.py"}}),
        )
        .await;
    r.assert_error(400, "ModelArts.2810");
    assert!(
        r.body["error_message"].as_str().unwrap().contains("podman"),
        "{}",
        r.body
    );
}

/// `host_path` volumes of container jobs: the host folder is seen at `dest_path`, written
/// through when read-write, read-only when asked; folders outside the project's `host_paths`
/// (also through a symlink) are refused like a path traversal, NFS and host jobs with what
/// would make them work.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_path_volumes_are_mounted_within_the_allowed_folders() {
    let image = test_image();
    let hosts = tempdir().unwrap();
    let allowed = hosts.path().join("shared");
    let (datasets, scratch) = (allowed.join("datasets"), allowed.join("scratch"));
    std::fs::create_dir_all(&datasets).unwrap();
    std::fs::create_dir_all(&scratch).unwrap();
    std::fs::write(datasets.join("train.csv"), "1,2,3\n").unwrap();
    let secret = hosts.path().join("secret");
    std::fs::create_dir_all(&secret).unwrap();
    std::os::unix::fs::symlink(&secret, allowed.join("link-out")).unwrap();
    let srv = TestServer::start_with_project(
        &format!("host_paths = [{:?}]", allowed.display().to_string()),
        "",
    )
    .await;
    let train = "import os\n\
        print('data=' + open('/home/work/nas/train.csv').read().strip())\n\
        try:\n    open('/home/work/nas/new', 'w')\n    print('nas writable')\n\
        except OSError as e:\n    print('nas read-only', e.errno)\n\
        open('/mnt/scratch/out.txt', 'w').write('written in the container')\n";
    srv.write_app("vol", &[("train.py", train)]);
    srv.write_app("data", &[("x", "")]);
    // The container's root is the project's user: a folder it writes is given to that user,
    // as an operator sharing a scratch folder with a project would.
    let uid = project_uid(&srv.dir.path().join("data"), PROJECT);
    std::os::unix::fs::chown(&scratch, Some(uid), Some(uid)).unwrap();
    let job = |volumes: serde_json::Value| {
        json!({
            "user_image_url": image,
            "user_command": "python3 /home/work/user-job-dir/vol/train.py",
            "volumes": volumes,
        })
    };
    let volumes = json!([
        {"host_path": {"src_path": datasets.display().to_string(), "dest_path": "/home/work/nas", "read_only": true}},
        {"host_path": {"src_path": scratch.display().to_string(), "dest_path": "/mnt/scratch", "read_only": false}},
    ]);
    let (j, v) = srv.api.create_job("volumes", "vol", job(volumes)).await;
    let (end, log) = srv
        .api
        .run_to_end(j, v, "volumes.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("data=1,2,3"), "{log}");
    assert!(log.contains("nas read-only 30"), "EROFS expected: {log}");
    assert_eq!(
        std::fs::read_to_string(scratch.join("out.txt")).unwrap(),
        "written in the container"
    );
    assert!(!datasets.join("new").exists());

    // Refused, each with its error.
    let create = |name: &str, config: serde_json::Value| {
        let mut body =
            json!({"worker_server_num": 1, "app_url": "/vol/", "data_url": "/data/", "spec_id": 1});
        for (k, v) in config.as_object().unwrap() {
            body[k] = v.clone();
        }
        srv.api
            .post("/training-jobs", json!({"job_name": name, "config": body}))
    };
    let vol = |src: &str| json!([{"host_path": {"src_path": src, "dest_path": "/home/work/nas"}}]);
    for (name, src) in [
        ("outside", secret.display().to_string()),
        ("dotdot", format!("{}/../secret", allowed.display())),
        ("relative", "shared/datasets".to_owned()),
        ("linkout", allowed.join("link-out").display().to_string()),
    ] {
        let r = create(name, job(vol(&src))).await;
        r.assert_error(400, "ModelArts.0101");
        let message = r.body["error_message"].as_str().unwrap();
        assert!(
            message.contains("volumes[0].host_path.src_path") && message.contains("host_paths"),
            "{name}: {message}"
        );
    }
    let r = create(
        "nfs",
        job(json!([{"nfs": {"id": "43b37236", "src_path": "10.0.0.1:/share", "dest_path": "/home/work/nas"}}])),
    )
    .await;
    r.assert_error(400, "ModelArts.0101");
    assert!(
        r.body["error_message"]
            .as_str()
            .unwrap()
            .contains("volumes[0].nfs")
            && r.body["error_message"]
                .as_str()
                .unwrap()
                .contains("host_path"),
        "{}",
        r.body
    );
    let r = create(
        "hostjob",
        json!({"boot_file_url": "/vol/train.py", "engine_id": 1,
               "volumes": vol(&datasets.display().to_string())}),
    )
    .await;
    r.assert_error(400, "ModelArts.0101");
    assert!(
        r.body["error_message"]
            .as_str()
            .unwrap()
            .contains("container runtime"),
        "{}",
        r.body
    );
    let r = create(
        "relativedest",
        job(json!([{"host_path": {"src_path": datasets.display().to_string(), "dest_path": "nas"}}])),
    )
    .await;
    r.assert_error(400, "ModelArts.0101");
}

/// A container worker's resources are sampled from its container's processes (not from the
/// `podman run` that the shim supervises): a container burning a core shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_container_workers_cpu_is_sampled_from_its_container() {
    let image = test_image();
    let srv = TestServer::start_with("[metrics]\nsample_interval_seconds = 1\n").await;
    let burn = "import time\nt0 = time.time()\nblock = b'x' * (64 << 20)\n\
        while time.time() - t0 < 6:\n    pass\nprint('burnt', len(block))\n";
    srv.write_app("burn", &[("burn.py", burn)]);
    srv.write_app("data", &[("x", "")]);
    // What the container burns is what its samples show: nothing heavy runs beside it.
    let measuring = measuring_alone().await;
    let (job, ver) = srv
        .api
        .create_job(
            "burner",
            "burn",
            json!({
                "user_image_url": image,
                "user_command": "python3 /home/work/user-job-dir/burn/burn.py",
            }),
        )
        .await;
    let (end, log) = srv
        .api
        .run_to_end(job, ver, "burner.0", Duration::from_secs(60))
        .await;
    drop(measuring);
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    let samples = std::fs::read_to_string(
        srv.dir
            .path()
            .join(format!("data/runs/{ver}/metrics.jsonl")),
    )
    .unwrap();
    let (mut cpu, mut mem) = (0f64, 0f64);
    for line in samples.lines() {
        let s: serde_json::Value = serde_json::from_str(line).unwrap();
        for w in s["w"].as_array().unwrap() {
            cpu = cpu.max(w["cpu"].as_f64().unwrap_or(0.0));
            mem = mem.max(w["mem"].as_f64().unwrap_or(0.0));
        }
    }
    // `podman run` itself idles near 0 %; the burn gets what the machine leaves it (37 % was
    // seen with other builds running beside the suite).
    assert!(cpu > 15.0, "highest CPU sample {cpu} %: {samples}");
    assert!(
        mem > 60.0 * 1024.0 * 1024.0,
        "highest memory sample {mem} B: {samples}"
    );
}
