//! The command line's everyday frictions (issue 31), at `COLUMNS=80` as a small terminal
//! shows them: identifiers never cut, short subcommand help with examples, a failed job's
//! outcome in `jobs get`, `files ls|get|put` over the project's storage, `--dry-run` held to
//! the server's upload limit, and `login` finding a server on any port from its data folder.

use crate::harness::*;
use std::path::Path;
use trainyard_api::catalog::SpecListResponse;

/// `trainyard args...` against `srv` as the test project, on an 80-column "terminal" (stdout
/// is a pipe: `COLUMNS` sets the width), with `env` added.
async fn run_env(srv: &TestServer, args: &[&str], env: &[(&str, &str)]) -> Out {
    let env: Vec<(&str, &str)> = [("COLUMNS", "80")]
        .into_iter()
        .chain(env.iter().copied())
        .collect();
    trainyard(
        &srv.api.base,
        &srv.dir.path().join("config-home"),
        args,
        &env,
    )
    .await
}

async fn run(srv: &TestServer, args: &[&str]) -> Out {
    run_env(srv, args, &[]).await
}

#[track_caller]
fn assert_fits(text: &str) {
    for line in text.lines() {
        assert!(
            line.chars().count() <= 80,
            "line of {} columns > 80:\n{line}\nin:\n{text}",
            line.chars().count()
        );
    }
}

fn write_files(dir: &Path, files: &[(&str, &[u8])]) {
    for (name, content) in files {
        let p = dir.join(name);
        std::fs::create_dir_all(p.parent().unwrap()).unwrap();
        std::fs::write(p, content).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn at_80_columns_names_and_spec_codes_stay_whole_and_help_is_short() {
    let srv = TestServer::start().await;
    // Every spec code whole (1u, 2u and 8u must not look the same), in 80 columns.
    let specs: SpecListResponse =
        serde_json::from_str(run(&srv, &["specs", "-o", "json"]).await.ok()).unwrap();
    assert!(specs.specs.len() >= 3);
    let table = run(&srv, &["specs"]).await;
    let table = table.ok();
    assert_fits(table);
    for s in &specs.specs {
        assert!(
            table.contains(&s.spec_code),
            "{} cut:\n{table}",
            s.spec_code
        );
    }
    assert!(table.contains("MAX_WORKERS"), "{table}");

    // A long job name whole; the dates give way, the description is cut.
    srv.write_app("app", &[("boot.py", "print('hi')\n")]);
    let long_name = "a-long-job-name-for-a-sweep-over-the-rates";
    let (job, version) = srv
        .api
        .create_job(long_name, "app", serde_json::json!({}))
        .await;
    srv.api
        .wait_status(
            job,
            version,
            &[trainyard_api::JobStatus::COMPLETED],
            std::time::Duration::from_secs(30),
        )
        .await;
    let desc = "a description long enough that it cannot fit beside the other columns";
    run(&srv, &["jobs", "describe-update", long_name, desc])
        .await
        .ok();
    let out = run(&srv, &["jobs", "list"]).await;
    let table = out.ok();
    assert_fits(table);
    assert!(table.contains(long_name), "{table}");
    assert!(table.contains("COMPLETED(10)"), "{table}");
    // The description is cut, or left out where not even a few characters of it fit.
    assert!(!table.contains(desc), "{table}");
    // With room, the dates are back.
    let wide = run_env(&srv, &["jobs", "list"], &[("COLUMNS", "200")]).await;
    assert!(wide.ok().contains("CREATED") && wide.ok().contains(desc));
    // Versions show the spec code whole.
    let versions = run(&srv, &["jobs", "versions", long_name]).await;
    assert!(
        versions.ok().contains("modelarts.vm.cpu.") && !versions.ok().contains('…'),
        "{}",
        versions.stdout
    );

    // A subcommand's help: its own options, the global ones in a few lines under their own
    // heading, and examples.
    for args in [
        &["jobs", "get", "--help"][..],
        &["jobs", "logs", "--help"],
        &["jobs", "submit", "--help"],
        &["files", "get", "--help"],
    ] {
        let out = run(&srv, args).await;
        let help = out.ok();
        assert_fits(help);
        assert!(help.contains("Global options:"), "{help}");
        assert!(help.contains("Examples:"), "{help}");
        let globals = help
            .split("Global options:")
            .nth(1)
            .unwrap()
            .split("Examples:")
            .next()
            .unwrap();
        assert!(
            globals.lines().count() <= 16,
            "{args:?}: {} lines of global options:\n{help}",
            globals.lines().count()
        );
    }
    let help = run(&srv, &["jobs", "get", "--help"]).await;
    assert!(
        help.ok().lines().count() <= 40,
        "{} lines:\n{}",
        help.stdout.lines().count(),
        help.stdout
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn files_fetch_outputs_and_logs_a_failed_job_shows_why_and_dry_run_checks_the_size() {
    let srv = TestServer::start_with("[storage]\nmax_upload_bytes = 65536\n").await;
    let local = srv.dir.path().join("local");
    // A run that writes outputs, then fails.
    let boot = "import os, sys\n\
        out = [a.split('=', 1)[1] for a in sys.argv if a.startswith('--train_url=')][0]\n\
        os.makedirs(os.path.join(out, 'sub'), exist_ok=True)\n\
        open(os.path.join(out, 'model.txt'), 'w').write('weights\\n')\n\
        open(os.path.join(out, 'sub', 'metrics.json'), 'w').write('{\"loss\": 1}\\n')\n\
        print('epoch 1', flush=True)\n\
        print('loss is nan', flush=True)\n\
        sys.exit(3)\n";
    let code = local.join("code");
    write_files(&code, &[("train.py", boot.as_bytes())]);
    let c = code.to_str().unwrap();

    // --dry-run: the size as the server will count it, against the server's limit.
    let out = run(
        &srv,
        &["jobs", "submit", c, "--boot", "train.py", "--dry-run"],
    )
    .await;
    out.ok();
    assert!(out.stderr.contains("of 65536 allowed"), "{}", out.stderr);
    let big = local.join("big");
    write_files(
        &big,
        &[
            ("train.py", b"print(1)\n"),
            ("weights.bin", &[7u8; 100_000]),
        ],
    );
    let out = run(
        &srv,
        &[
            "jobs",
            "submit",
            big.to_str().unwrap(),
            "--boot",
            "train.py",
            "--dry-run",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);
    assert!(
        out.stderr
            .contains("over the server's upload limit of 65536 bytes"),
        "{}",
        out.stderr
    );
    // ... which the real submit meets as said.
    let out = run(
        &srv,
        &[
            "jobs",
            "submit",
            big.to_str().unwrap(),
            "--boot",
            "train.py",
        ],
    )
    .await;
    assert_eq!(out.code, 1, "{}", out.stderr);

    let out = run(
        &srv,
        &[
            "jobs", "submit", c, "--boot", "train.py", "--name", "ux-fail",
        ],
    )
    .await;
    out.ok();
    let out = run(&srv, &["jobs", "wait", "ux-fail"]).await;
    assert_eq!(out.code, 1, "{}", out.stderr);

    // `jobs get` of the failed run: its outcome, exit code and last lines.
    let out = run(&srv, &["jobs", "get", "ux-fail"]).await;
    let text = out.ok();
    assert!(
        text.contains("outcome") && text.contains("FAILED(11): worker 0 exited with code 3"),
        "{text}"
    );
    assert!(
        text.contains("last lines of ux-fail.0:") && text.contains("  loss is nan"),
        "{text}"
    );

    // `files ls`: every file below the job's output folder.
    let train_url = "/trainyard/out/ux-fail/";
    let out = run(&srv, &["files", "ls", train_url]).await;
    let table = out.ok();
    assert_fits(table);
    for f in [
        "/trainyard/out/ux-fail/model.txt",
        "/trainyard/out/ux-fail/sub/metrics.json",
    ] {
        assert!(table.contains(f), "{table}");
    }

    // `files get --job`: outputs and logs into a local folder; no progress bar into a pipe.
    let dest = local.join("fetched");
    let out = run(
        &srv,
        &[
            "files",
            "get",
            "--job",
            "ux-fail",
            "-d",
            dest.to_str().unwrap(),
        ],
    )
    .await;
    out.ok();
    assert!(!out.stderr.contains('\r'), "{:?}", out.stderr);
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{p:?}: {e}"));
    assert_eq!(read(&dest.join("outputs/model.txt")), "weights\n");
    assert_eq!(
        read(&dest.join("outputs/sub/metrics.json")),
        "{\"loss\": 1}\n"
    );
    assert!(read(&dest.join("logs/ux-fail.0")).contains("loss is nan"));

    // `files get PATH`: a folder keeps its layout, a file lands by its name.
    let dest = local.join("by-path");
    run(
        &srv,
        &["files", "get", train_url, "-d", dest.to_str().unwrap()],
    )
    .await
    .ok();
    assert_eq!(read(&dest.join("sub/metrics.json")), "{\"loss\": 1}\n");
    let one = local.join("one");
    run(
        &srv,
        &[
            "files",
            "get",
            "/trainyard/out/ux-fail/sub/metrics.json",
            "-d",
            one.to_str().unwrap(),
        ],
    )
    .await
    .ok();
    assert_eq!(read(&one.join("metrics.json")), "{\"loss\": 1}\n");

    // `files put`: a folder (or a file) becomes a storage folder's content.
    let data = local.join("data");
    write_files(&data, &[("a.csv", b"1,2\n"), ("deep/b.csv", b"3,4\n")]);
    run(
        &srv,
        &["files", "put", data.to_str().unwrap(), "/datasets/ux/"],
    )
    .await
    .ok();
    assert_eq!(
        std::fs::read_to_string(srv.storage().join("datasets/ux/deep/b.csv")).unwrap(),
        "3,4\n"
    );
    run(
        &srv,
        &[
            "files",
            "put",
            data.join("a.csv").to_str().unwrap(),
            "/datasets/single/",
        ],
    )
    .await
    .ok();
    let out = run(&srv, &["files", "ls", "/datasets/", "-o", "json"]).await;
    let list: trainyard_api::extensions::FileListResponse = serde_json::from_str(out.ok()).unwrap();
    let paths: Vec<&str> = list.files.iter().map(|f| f.path.as_str()).collect();
    assert_eq!(
        paths,
        [
            "/datasets/single/a.csv",
            "/datasets/ux/a.csv",
            "/datasets/ux/deep/b.csv"
        ]
    );
    // Paths out of the project, and missing ones, are refused.
    let out = run(&srv, &["files", "ls", "/datasets/../../"]).await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    let out = run(&srv, &["files", "get", "/nothing/here/"]).await;
    assert_eq!(out.code, 1, "{}", out.stdout);
    assert!(
        out.stderr.contains("not in the project's storage"),
        "{}",
        out.stderr
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn login_finds_a_server_on_another_port_from_its_data_folder() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let port = free_port();
    let srv = ServerProcess::start_env(
        &["--data-dir".as_ref(), data.as_os_str()],
        &dir.path().join("serve.log"),
        port,
        &[("XDG_CONFIG_HOME", dir.path().join("no-config").into())],
    )
    .await;
    let url = format!("http://127.0.0.1:{port}");
    assert_eq!(
        std::fs::read_to_string(data.join("server.url")).unwrap(),
        format!("{url}\n")
    );
    let profiles = dir.path().join("profiles.toml");
    for how in ["flag", "env"] {
        let mut c = std::process::Command::new(bin());
        c.arg("login");
        for k in [
            "TRAINYARD_SERVER",
            "TRAINYARD_PROJECT",
            "TRAINYARD_TOKEN",
            "TRAINYARD_PROFILE",
            "TRAINYARD_DATA_DIR",
        ] {
            c.env_remove(k);
        }
        match how {
            "flag" => c.arg("--data-dir").arg(&data),
            _ => c.env("TRAINYARD_DATA_DIR", &data),
        };
        let out = c.env("TRAINYARD_PROFILE_FILE", &profiles).output().unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(out.status.success(), "{how}: {stderr}");
        assert!(stderr.contains(&format!("logged in to {url}")), "{stderr}");
    }
    let out = std::process::Command::new(bin())
        .args(["jobs", "list", "-o", "json"])
        .env_remove("TRAINYARD_SERVER")
        .env_remove("TRAINYARD_PROJECT")
        .env_remove("TRAINYARD_TOKEN")
        .env_remove("TRAINYARD_PROFILE")
        .env("TRAINYARD_PROFILE_FILE", &profiles)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(srv);
}
