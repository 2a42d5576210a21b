//! `trainyard viz ...` against a real server with a real TensorBoard: create/list/get/open/
//! stop/restart/delete through the binary, `-o json` as the API types, the URL printed by
//! `open` serving TensorBoard's run list, exit codes.

use crate::harness::*;
use serde_json::Value;
use std::path::Path;
use std::time::{Duration, Instant};
use trainyard_api::training::Success;
use trainyard_api::visualization::{
    CreateVisualizationResponse, ScheduleOutput, VisualizationDetails, VisualizationListResponse,
};

/// Runs `trainyard args...` against `base` with the test project's credentials; `$BROWSER`
/// is a script that would leave `browser-ran` in `home` (stdout is never a terminal here).
async fn run_at(base: &str, home: &Path, args: &[&str]) -> Out {
    let browser = home.join("browser.sh");
    if !browser.exists() {
        std::fs::create_dir_all(home).unwrap();
        std::fs::write(
            &browser,
            format!("#!/bin/sh\necho \"$@\" > {}/browser-ran\n", home.display()),
        )
        .unwrap();
        std::fs::set_permissions(
            &browser,
            std::os::unix::fs::PermissionsExt::from_mode(0o755),
        )
        .unwrap();
    }
    let browser = browser.to_str().unwrap();
    trainyard(base, home, args, &[("BROWSER", browser)]).await
}

async fn run(srv: &TestServer, args: &[&str]) -> Out {
    run_at(&srv.api.base, &srv.dir.path().join("home"), args).await
}

/// Follows `url` as a browser would (the secret becomes a cookie), then polls TensorBoard's
/// run list until it names `run`, with a deadline. Returns the list.
async fn runs_via(url: &str, run: &str) -> Value {
    let http = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap();
    let r = http.get(url).send().await.unwrap();
    assert_eq!(r.status(), 303, "{url}");
    let cookie = r.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_owned();
    let base = url.split('?').next().unwrap();
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let r = http
            .get(format!("{base}data/runs"))
            .header("cookie", &cookie)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 200, "{base}data/runs");
        let runs: Value = r.json().await.unwrap();
        if runs.as_array().is_some_and(|a| a.iter().any(|r| r == run)) {
            return runs;
        }
        assert!(
            Instant::now() < deadline,
            "TensorBoard never listed run {run:?}: {runs}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viz_commands_drive_a_real_tensorboard() {
    let srv = TestServer::start_bound(&viz_config("")).await;
    write_scalars(&srv.storage().join("out/run1"), 5);

    // create --wait: the VJ-03 details once it runs, with the auto-stop rule.
    let created: VisualizationDetails = run(
        &srv,
        &[
            "viz",
            "create",
            "--train-url",
            "/out/run1/",
            "--name",
            "tb-cli",
            "--desc",
            "first",
            "--auto-stop-hours",
            "2",
            "--wait",
            "-o",
            "json",
        ],
    )
    .await
    .json();
    let job = &created.job;
    let id = job.job_id;
    let ids = id.to_string();
    assert!(created.is_success);
    assert_eq!(
        (job.status, job.job_name.as_str(), job.train_url.as_str()),
        (8, "tb-cli", "/out/run1/")
    );
    assert_eq!(
        job.schedule,
        vec![ScheduleOutput {
            kind: "stop".into(),
            time_unit: "HOURS".into(),
            duration: 2
        }]
    );
    let left = job
        .remaining_duration
        .expect("an auto-stop deadline while running");
    assert!(left > 7_000_000 && left <= 7_200_000, "{left}");

    // Without --wait: the VJ-01 answer as sent, status 1.
    let second: CreateVisualizationResponse = run(
        &srv,
        &[
            "viz",
            "create",
            "--train-url",
            "/out/none/",
            "--auto-stop-minutes",
            "20",
            "-o",
            "json",
        ],
    )
    .await
    .json();
    assert!(
        second.is_success && JobStatus::from_code(second.status) == JobStatus::INIT,
        "{second:?}"
    );
    assert!(
        second.job_name.starts_with("tb-") && second.job_name.len() <= 20,
        "{}",
        second.job_name
    );
    let sids = second.job_id.to_string();

    // list: JSON is VJ-02 (every page), the table shows names and statuses; paging and sorting.
    let list: VisualizationListResponse = run(&srv, &["viz", "list", "-o", "json"]).await.json();
    assert_eq!(list.job_total_count, 2);
    assert_eq!(
        list.jobs.iter().map(|j| j.job_id).collect::<Vec<_>>(),
        vec![id, second.job_id]
    );
    assert_eq!(list.quotas, 10);
    let table = run(&srv, &["viz", "list"]).await;
    let table = table.ok();
    assert!(
        table.starts_with("ID")
            && table.contains("tb-cli")
            && table.contains("RUNNING(8)")
            && table.contains("/out/run1/"),
        "{table}"
    );
    assert!(
        !table.contains("trainyard_secret"),
        "tables keep the secret out: {table}"
    );
    let page: VisualizationListResponse = run(
        &srv,
        &[
            "viz",
            "list",
            "--page",
            "1",
            "--per-page",
            "1",
            "--sort-by",
            "job_id",
            "--order",
            "desc",
            "-o",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(
        (page.job_total_count, page.jobs.len(), page.jobs[0].job_id),
        (2, 1, second.job_id)
    );
    let found: VisualizationListResponse = run(
        &srv,
        &[
            "viz", "list", "--search", "cli", "--status", "8", "-o", "json",
        ],
    )
    .await
    .json();
    assert_eq!(
        found.jobs.iter().map(|j| j.job_id).collect::<Vec<_>>(),
        vec![id]
    );
    // Statuses by name too.
    let by_name: VisualizationListResponse = run(
        &srv,
        &[
            "viz",
            "list",
            "--search",
            "cli",
            "--status",
            "running,killed",
            "-o",
            "json",
        ],
    )
    .await
    .json();
    assert_eq!(
        by_name.jobs.iter().map(|j| j.job_id).collect::<Vec<_>>(),
        vec![id]
    );

    // get: JSON as VJ-03 (what the API answers), the table without the secret.
    let got: VisualizationDetails = run(&srv, &["viz", "get", &ids, "-o", "json"]).await.json();
    let api: VisualizationDetails = srv.api.client().get_viz(id).await.unwrap();
    assert_eq!(
        (got.job.service_url.as_str(), got.job.job_desc.as_str()),
        (api.job.service_url.as_str(), "first")
    );
    let shown = run(&srv, &["viz", "get", &ids]).await;
    let shown = shown.ok();
    assert!(
        shown.contains("RUNNING(8)") && shown.contains(&format!("trainyard viz open {id}")),
        "{shown}"
    );
    assert!(!shown.contains("trainyard_secret"), "{shown}");

    // open: the URL with its secret, which serves TensorBoard's run list; no terminal, so no
    // browser even though $BROWSER is set.
    let opened = run(&srv, &["viz", "open", &ids, "--browser"]).await;
    let url = opened.ok().trim().to_owned();
    assert_eq!(url, api.job.service_url);
    assert!(url.contains("?trainyard_secret="), "{url}");
    runs_via(&url, ".").await;
    assert!(
        !srv.dir.path().join("home/browser-ran").exists(),
        "a browser was started without a terminal"
    );
    let as_json: VisualizationDetails =
        run(&srv, &["viz", "open", &ids, "-o", "json"]).await.json();
    assert_eq!(as_json.job.service_url, url);
    // The project's token opens the same path (API clients).
    let runs = format!("{}data/runs", url.split('?').next().unwrap());
    let r = srv
        .api
        .http
        .get(&runs)
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);

    // describe-update (VJ-04).
    let ok: Success = run(
        &srv,
        &["viz", "describe-update", &ids, "second look", "-o", "json"],
    )
    .await
    .json();
    assert!(ok.is_success);
    assert_eq!(
        srv.api.client().get_viz(id).await.unwrap().job.job_desc,
        "second look"
    );

    // Restart while running: refused as the API refuses it, exit 1.
    run(&srv, &["viz", "restart", &ids]).await.fails(
        1,
        "error: ModelArts.0105: This job can't be resubmit. job status: 8",
    );

    // stop --wait: ends in 12; the URL then answers 503, and `open` says why on stderr.
    let stopped = run(&srv, &["viz", "stop", &ids, "--wait"]).await;
    assert!(stopped.ok().contains("KILLED(12)"), "{}", stopped.stdout);
    assert!(stopped.stderr.contains("KILLED(12)"), "{}", stopped.stderr);
    let r = srv
        .api
        .http
        .get(&runs)
        .header("X-Auth-Token", TOKEN)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 503);
    let again = run(&srv, &["viz", "open", &ids]).await;
    assert_eq!(again.ok().trim(), url);
    assert!(
        again.stderr.contains("KILLED(12)") && again.stderr.contains("viz restart"),
        "{}",
        again.stderr
    );

    // restart --wait: running again at the same URL, serving the same runs.
    let restarted: VisualizationDetails =
        run(&srv, &["viz", "restart", &ids, "--wait", "-o", "json"])
            .await
            .json();
    assert_eq!(
        (restarted.job.status, restarted.job.service_url.as_str()),
        (8, url.as_str())
    );
    runs_via(&url, ".").await;

    // Stop without waiting, then poll with a deadline.
    let ok: Success = run(&srv, &["viz", "stop", &sids, "-o", "json"])
        .await
        .json();
    assert!(ok.is_success);
    let done = srv
        .api
        .client()
        .wait_viz(second.job_id, &[], Duration::from_secs(30), |_| {})
        .await
        .unwrap();
    assert_eq!(JobStatus::from_code(done.status), JobStatus::KILLED);

    // delete: the running one is stopped first; both are gone.
    let deleted = run(&srv, &["viz", "delete", &ids]).await;
    assert_eq!(deleted.ok(), format!("deleted visualization job {id}\n"));
    let ok: Success = run(&srv, &["viz", "delete", &sids, "-o", "json"])
        .await
        .json();
    assert!(ok.is_success);
    let list: VisualizationListResponse = run(&srv, &["viz", "list", "-o", "json"]).await.json();
    assert_eq!(list.job_total_count, 0);
    run(&srv, &["viz", "get", &ids]).await.fails(
        1,
        &format!("error: ModelArts.0105: Job id:{id} is not existed"),
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn viz_refusals_usage_and_exit_codes() {
    // A "mindinsight" that exits at once: create --wait sees it fail and exits 1.
    let server = r#"mindinsight = ["/bin/sh", "-c", "echo broken >&2; exit 3", "{logdir}", "{host}", "{port}", "{prefix}"]"#;
    let srv = TestServer::start_bound(&viz_config(server)).await;
    let out = run(
        &srv,
        &[
            "viz",
            "create",
            "--train-url",
            "/out/x/",
            "--name",
            "mi",
            "--type",
            "mindinsight",
            "--wait",
            "--timeout",
            "60",
        ],
    )
    .await;
    out.fails(1, "ended FAILED(11) instead of running");
    assert!(
        out.stderr.contains("INIT(1)") || out.stderr.contains("WAITING(7)"),
        "progress on stderr: {}",
        out.stderr
    );

    // Server refusals keep the ModelArts code: duplicate name, bad schedule.
    run(
        &srv,
        &["viz", "create", "--train-url", "/out/x/", "--name", "mi"],
    )
    .await
    .fails(1, "error: ModelArts.0103");
    run(
        &srv,
        &[
            "viz",
            "create",
            "--train-url",
            "/out/x/",
            "--auto-stop-hours",
            "25",
        ],
    )
    .await
    .fails(1, "error: ModelArts.0104");
    run(&srv, &["viz", "stop", "999"])
        .await
        .fails(1, "error: ModelArts.0105");

    // Usage errors: exit 2 before any request.
    run(&srv, &["viz", "create"]).await.fails(2, "--train-url");
    run(
        &srv,
        &[
            "viz",
            "create",
            "--train-url",
            "/x/",
            "--auto-stop-hours",
            "1",
            "--auto-stop-minutes",
            "1",
        ],
    )
    .await
    .fails(2, "cannot be used with");
    run(&srv, &["viz", "list", "--order", "up"])
        .await
        .fails(2, "invalid value");
    // Not a number: a name, and no job has it (1).
    run(&srv, &["viz", "get", "abc"])
        .await
        .fails(1, "no visualization job named 'abc'");

    // Unreachable server: exit 3.
    let closed = format!("http://127.0.0.1:{}", free_port());
    run_at(&closed, &srv.dir.path().join("home"), &["viz", "list"])
        .await
        .fails(3, "cannot reach the server");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viz_job_without_flavor_reports_the_default_flavor_code() {
    let specs = "[[specs]]\nspec_id = 5\nspec_code = \"modelarts.vm.cpu.4u\"\ncore = 4\ncpu = 4\nmax_num = 1\n\n\
[[specs]]\nspec_id = 2\nspec_code = \"modelarts.vm.cpu.2u\"\ncore = 2\ncpu = 2\nmax_num = 1\n";
    let srv = TestServer::start_bound(&format!("{specs}\n{}", viz_config(""))).await;
    let r = srv
        .api
        .post(
            "/visualization-jobs",
            serde_json::json!({"job_name": "noflavor", "train_url": "/out/"}),
        )
        .await;
    let id = r.assert_ok()["job_id"].as_i64().unwrap();
    let d = srv.api.get(&format!("/visualization-jobs/{id}")).await;
    assert_eq!(
        d.assert_ok()["flavor"]["code"],
        serde_json::json!("modelarts.vm.cpu.2u"),
        "the CPU spec with the lowest id"
    );
    srv.api
        .delete(&format!("/visualization-jobs/{id}"))
        .await
        .assert_ok();
}
