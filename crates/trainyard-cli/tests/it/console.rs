//! The web console in a real headless Chromium (Debian's `chromium`, driven by playwright-core
//! through `tests/console/driver.mjs`) against a real server: sign-in, live job list, job page
//! with logs, stop, new version, resource charts, configurations, TensorBoard in a new tab, a
//! 1 GB log, a waiting version's queue fields and priority change, accessibility (axe-core)
//! and screenshots of every page.
//!
//! One server and one browser for the whole suite; the steps run in order and name themselves
//! in the output. Screenshots go to `$CARGO_TARGET_TMPDIR/console-screenshots/` (inside the
//! target folder, so never in git); `TRAINYARD_SCREENSHOTS` picks another folder.

use crate::harness::*;
use serde_json::{json, Value};
use std::path::{Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader, Lines};
use tokio::process::{Child, ChildStdin, ChildStdout};

/// The jobs list's address. The page writes its list state into the query (`?page=1&...`)
/// as soon as its first page arrives, which can be before the wait for the address looks.
const JOBS_LIST: &str = "/console/jobs(\\?[^/]*)?$";

/// Longest any one browser command may take (each has its own, shorter, wait inside).
const COMMAND_LIMIT: Duration = Duration::from_secs(90);

/// The browser driver: one Chromium, remote-controlled one JSON command per line. Chromium
/// is a CPU-heavy part of the suite: each command holds [`Busy`], except those of a
/// measurement (which holds the CPU to itself).
struct Browser {
    child: Child,
    stdin: ChildStdin,
    out: Lines<BufReader<ChildStdout>>,
    measuring: Option<Measuring>,
}

fn driver_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/console")
}

/// Installs the driver's npm packages (playwright-core, axe-core) from its lock file when
/// they are missing, as `test_image()` makes its image: `.ci/run` has done it already.
fn ensure_driver_packages() {
    let dir = driver_dir();
    if dir.join("node_modules/playwright-core").is_dir()
        && dir.join("node_modules/axe-core").is_dir()
    {
        return;
    }
    let out = std::process::Command::new("npm")
        .args(["ci", "--no-audit", "--no-fund"])
        .current_dir(&dir)
        .output()
        .unwrap_or_else(|e| {
            panic!("npm is needed for the console tests (apt-get install npm): {e}")
        });
    assert!(
        out.status.success(),
        "npm ci in {}: {}",
        dir.display(),
        String::from_utf8_lossy(&out.stderr)
    );
}

impl Browser {
    async fn launch(base: &str, shots: &Path) -> Self {
        ensure_driver_packages();
        let mut child = tokio::process::Command::new("node")
            .arg(driver_dir().join("driver.mjs"))
            .env("BASE_URL", base)
            .env("SCREENSHOT_DIR", shots)
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()
            .unwrap_or_else(|e| panic!("node is needed for the console tests: {e}"));
        let stdin = child.stdin.take().unwrap();
        let out = BufReader::new(child.stdout.take().unwrap()).lines();
        let mut b = Self {
            child,
            stdin,
            out,
            measuring: None,
        };
        // A first command proves the browser started (a missing Chromium fails here, loudly).
        b.cmd(json!({"op": "url", "page": "main"})).await;
        b
    }

    /// Sends one command; its value, or a panic with the driver's error.
    async fn cmd(&mut self, cmd: Value) -> Value {
        let _heavy = match self.measuring {
            Some(_) => None,
            None => Some(busy().await),
        };
        let line = format!("{cmd}\n");
        self.stdin.write_all(line.as_bytes()).await.unwrap();
        let answer = tokio::time::timeout(COMMAND_LIMIT, self.out.next_line())
            .await
            .unwrap_or_else(|_| panic!("browser command timed out: {cmd}"))
            .expect("reading the browser driver");
        let Some(answer) = answer else {
            let status = self.child.wait().await;
            panic!("the browser driver exited ({status:?}) during {cmd}: is `chromium` installed (apt-get install chromium)?");
        };
        let v: Value = serde_json::from_str(&answer)
            .unwrap_or_else(|_| panic!("driver said {answer:?} to {cmd}"));
        assert_eq!(
            v["ok"],
            json!(true),
            "browser: {} (command {cmd})",
            v["error"]
        );
        v["value"].clone()
    }

    /// Until [`Self::end_measurement`], nothing CPU-heavy of another test runs.
    async fn start_measurement(&mut self) {
        self.measuring = Some(measuring_alone().await);
    }
    fn end_measurement(&mut self) {
        self.measuring = None;
    }

    async fn goto(&mut self, page: &str, url: &str) -> String {
        let v = self
            .cmd(json!({"op": "goto", "page": page, "url": url}))
            .await;
        v.as_str().unwrap().to_owned()
    }
    /// Opens `url` in a new page of browser context `context` (its own cookies: a browser of
    /// its own, as far as the server can tell).
    async fn goto_in(&mut self, page: &str, context: &str, url: &str) -> String {
        let v = self
            .cmd(json!({"op": "goto", "page": page, "context": context, "url": url}))
            .await;
        v.as_str().unwrap().to_owned()
    }
    async fn wait_url(&mut self, page: &str, pattern: &str) -> String {
        let v = self
            .cmd(json!({"op": "waitUrl", "page": page, "pattern": pattern}))
            .await;
        v.as_str().unwrap().to_owned()
    }
    async fn fill(&mut self, page: &str, selector: &str, value: &str) {
        self.cmd(json!({"op": "fill", "page": page, "selector": selector, "value": value}))
            .await;
    }
    async fn click(&mut self, page: &str, selector: &str) {
        self.cmd(json!({"op": "click", "page": page, "selector": selector}))
            .await;
    }
    async fn wait_text(&mut self, page: &str, selector: &str, text: &str, secs: u64) -> String {
        let v = self
            .cmd(json!({"op": "waitText", "page": page, "selector": selector, "text": text, "timeout": secs * 1000}))
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }
    async fn wait_for(&mut self, page: &str, expr: &str, secs: u64) -> Value {
        self.cmd(json!({"op": "waitFor", "page": page, "expr": expr, "timeout": secs * 1000}))
            .await
    }
    async fn eval(&mut self, page: &str, expr: &str) -> Value {
        self.cmd(json!({"op": "eval", "page": page, "expr": expr}))
            .await
    }

    /// axe-core finds no serious or critical violation, and the page is photographed at
    /// 1280×800 and 390×844, light and dark.
    async fn check_page(&mut self, page: &str, name: &str) {
        let violations = self.cmd(json!({"op": "axe", "page": page})).await;
        assert_eq!(
            violations,
            json!([]),
            "accessibility violations on {name}: {violations:#}"
        );
        self.cmd(json!({"op": "screenshots", "page": page, "name": name}))
            .await;
        step(&format!(
            "  page {name}: no serious accessibility issue, screenshots taken"
        ));
    }
}

fn step(what: &str) {
    eprintln!("[console] {what}");
}

/// Where the screenshots go.
fn screenshot_dir() -> PathBuf {
    std::env::var_os("TRAINYARD_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_TARGET_TMPDIR")).join("console-screenshots"))
}

/// The last number in a URL (`/console/jobs/12` -> 12, `?version=7` -> 7).
fn last_number(url: &str) -> i64 {
    let digits: String = url
        .chars()
        .rev()
        .skip_while(|c| !c.is_ascii_digit())
        .take_while(|c| c.is_ascii_digit())
        .collect();
    digits.chars().rev().collect::<String>().parse().unwrap()
}

/// Whether process `pid` still exists (a zombie waiting to be reaped counts as gone).
fn process_exists(pid: i32) -> bool {
    match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(stat) => stat
            .rfind(')')
            .and_then(|i| stat[i + 2..].chars().next())
            .is_some_and(|state| state != 'Z'),
        Err(_) => false,
    }
}

/// Appends 1 GiB of 64-byte lines and one last line to `path`, quickly (1 MiB writes).
fn grow_to_a_gigabyte(path: &Path, last: &str) -> u64 {
    use std::io::Write;
    let line = format!(
        "{:<63}\n",
        "a line of a large log, padded to sixty-four bytes"
    );
    let per_chunk = (1 << 20) / line.len();
    let chunk = line.repeat(per_chunk).into_bytes();
    let mut f = std::fs::OpenOptions::new().append(true).open(path).unwrap();
    for _ in 0..1024 {
        f.write_all(&chunk).unwrap();
    }
    writeln!(f, "{last}").unwrap();
    (per_chunk * 1024) as u64 + 1
}

const PRINTS_WHILE_RUNNING: &str = "import time\nprint('hello from the console job', flush=True)\ntime.sleep(8)\nprint('bye', flush=True)\n";
const SLEEPS: &str = "import os, sys, time\nout = [a.split('=', 1)[1] for a in sys.argv if a.startswith('--train_url=')][0]\nopen(os.path.join(out, 'pid'), 'w').write(str(os.getpid()))\nprint('sleeping', flush=True)\ntime.sleep(600)\n";
const PRINTS_ARGS: &str = "import sys\nprint('args', ' '.join(sys.argv[1:]), flush=True)\n";
const BURNS_CPU: &str = "import time\nt = time.time()\nwhile time.time() - t < 4:\n    pass\nprint('burnt', flush=True)\n";
const ONE_LINE: &str = "print('first line of a big log', flush=True)\n";

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn console_in_a_real_browser() {
    let srv = TestServer::start_with_project(
        "access_keys = [{ ak = \"CONSOLEAK\", sk = \"console-sk\" }]\n\
         users = [{ name = \"alice\", password = \"alice-pw\" }]",
        &format!("{}[metrics]\nsample_interval_seconds = 1\n", viz_config("")),
    )
    .await;
    let api = srv.api.clone();
    for (app, code) in [
        ("con-print", PRINTS_WHILE_RUNNING),
        ("con-long", SLEEPS),
        ("con-args", PRINTS_ARGS),
        ("con-burn", BURNS_CPU),
        ("con-big", ONE_LINE),
    ] {
        srv.write_app(app, &[("boot.py", code)]);
    }
    let shots = screenshot_dir();
    let _ = std::fs::remove_dir_all(&shots);
    let mut b = Browser::launch(&api.base, &shots).await;

    // --- Sign-in: a wrong token shows the API's message, the right one opens the console.
    step("sign in");
    b.goto("main", "/").await;
    b.wait_url("main", "/console/sign-in").await;
    b.check_page("main", "sign-in").await;
    b.fill("main", "#token", "not-a-token").await;
    b.click("main", "#token-form button[type=submit]").await;
    let shown = b.wait_text("main", "#sign-in-error", "token", 10).await;
    let refused = api
        .raw("GET", &api.url("/training-jobs"), None, Some("not-a-token"))
        .await;
    assert_eq!(
        shown.trim(),
        refused.body["error_message"].as_str().unwrap(),
        "the page shows the API's message"
    );
    b.check_page("main", "sign-in-error").await;
    b.fill("main", "#token", TOKEN).await;
    b.click("main", "#token-form button[type=submit]").await;
    b.wait_url("main", JOBS_LIST).await;

    // The session cookie: HttpOnly, SameSite=Strict, with an expiry; scripts cannot read it.
    let cookies = b.cmd(json!({"op": "cookies", "page": "main"})).await;
    let session = cookies
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "trainyard_console")
        .cloned()
        .unwrap_or_else(|| panic!("no session cookie: {cookies}"));
    assert_eq!(session["httpOnly"], json!(true), "{session}");
    assert_eq!(session["sameSite"], json!("Strict"), "{session}");
    assert!(session["expires"].as_f64().unwrap() > 0.0, "{session}");
    assert_eq!(b.eval("main", "document.cookie").await, json!(""));
    let csrf = b
        .eval(
            "main",
            "document.querySelector('meta[name=trainyard-csrf]').content",
        )
        .await;
    let csrf = csrf.as_str().unwrap().to_owned();
    // The cookie alone opens nothing: without the session's CSRF token the API refuses, and
    // with it the session still sees only its own project.
    let status = b
        .eval(
            "main",
            &format!("fetch('/v1/{PROJECT}/training-jobs').then(r => r.status)"),
        )
        .await;
    assert_eq!(status, json!(401), "cookie without CSRF token");
    let status = b
        .eval(
            "main",
            &format!("fetch('/v1/{OTHER_PROJECT}/training-jobs', {{headers: {{'X-Console-CSRF': '{csrf}'}}}}).then(r => r.status)"),
        )
        .await;
    assert_eq!(status, json!(403), "another project's API");

    // The other ways in: an AK/SK pair (a wrong secret shows the API's message) and a user,
    // each in a browser context of its own; both open the same project.
    b.goto_in("ak", "ak", "/console/sign-in").await;
    b.click("ak", "details:has(#aksk-form) summary").await;
    b.fill("ak", "#access_key", "CONSOLEAK").await;
    b.fill("ak", "#secret_key", "wrong").await;
    b.click("ak", "#aksk-form button[type=submit]").await;
    b.wait_text("ak", "#sign-in-error", "Invalid AK/SK.", 10)
        .await;
    // The refused form is open again next to the message, its access key kept.
    assert_eq!(
        b.eval("ak", "document.querySelector('details:has(#aksk-form)').open && document.querySelector('#access_key').value").await,
        json!("CONSOLEAK")
    );
    b.fill("ak", "#secret_key", "console-sk").await;
    b.click("ak", "#aksk-form button[type=submit]").await;
    b.wait_url("ak", JOBS_LIST).await;
    b.wait_text("ak", "header .project", PROJECT, 10).await;
    b.goto_in("user", "user", "/console/sign-in").await;
    b.click("user", "details:has(#user-form) summary").await;
    b.fill("user", "#user", "alice").await;
    b.fill("user", "#password", "alice-pw").await;
    b.click("user", "#user-form button[type=submit]").await;
    b.wait_url("user", JOBS_LIST).await;
    b.wait_text("user", "header .project", PROJECT, 10).await;

    // --- Another project's job is not found.
    step("another project's job");
    write_app(
        &srv.dir.path().join("data/obs").join(OTHER_PROJECT),
        "b-app",
        &[("boot.py", "print('b')\n")],
    );
    let (b_job, _) = srv.other.create_job("b-job", "b-app", json!({})).await;
    b.goto("main", &format!("/console/jobs/{b_job}")).await;
    b.wait_text("main", "#job-name", "Not found", 10).await;
    b.wait_text("main", ".errors", "is not existed", 10).await;
    b.check_page("main", "job-not-found").await;

    // --- A job from the form: the list (open in another tab, never reloaded) shows it
    // running and then completed; its page shows the line it printed while it runs.
    step("submit a job from the form");
    b.goto("list", "/console/jobs").await;
    b.wait_for(
        "list",
        "document.querySelector('#jobs-summary')?.textContent",
        10,
    )
    .await;
    // A mark in the list's window: a reload would lose it.
    b.eval("list", "window.consoleTestMark = 'still the same page'")
        .await;
    b.goto("main", "/console/jobs/new").await;
    b.wait_for("main", "document.querySelector('#spec_id option')", 10)
        .await;
    b.check_page("main", "job-new").await;
    for (field, value) in [
        ("#job_name", "console-form"),
        ("#job_desc", "made in the browser"),
        ("#app_url", "/con-print/"),
        ("#boot_file_url", "/con-print/boot.py"),
        ("#data_url", "/data/"),
        ("#train_url", "/out/console-form/"),
        ("#parameter", "lr=0.01"),
    ] {
        b.fill("main", field, value).await;
    }
    b.click("main", "#new-job button[type=submit]").await;
    let url = b.wait_url("main", "/console/jobs/\\d+$").await;
    let form_job = last_number(&url);
    let badge = "document.querySelector('tr[data-job-name=\"console-form\"] .badge')?.textContent";
    b.wait_for(
        "list",
        &format!("['WAITING', 'RUNNING'].includes({badge})"),
        15,
    )
    .await;
    b.wait_for(
        "main",
        "document.querySelector('#log')?.textContent.includes('hello from the console job') \
         && document.querySelector('#version-details .badge')?.textContent === 'RUNNING'",
        15,
    )
    .await;
    b.check_page("main", "job-running").await;
    b.wait_for("list", &format!("{badge} === 'COMPLETED'"), 30)
        .await;
    assert_eq!(
        b.eval("list", "window.consoleTestMark").await,
        json!("still the same page"),
        "the list changed without a reload"
    );
    b.check_page("list", "jobs").await;
    // Times are the browser's local time (the driver's browser runs in Asia/Tokyo, the
    // machine in its own zone): the list shows the API's create_time in that zone.
    let listed = api.get("/training-jobs?search_content=console-form").await;
    let created = listed.assert_ok()["jobs"][0]["create_time"]
        .as_i64()
        .unwrap();
    let tokyo = jiff::Timestamp::from_millisecond(created)
        .unwrap()
        .in_tz("Asia/Tokyo")
        .unwrap()
        .strftime("%-m/%-d/%Y, %-I:%M:%S %p")
        .to_string();
    let shown = b
        .text_of("list", "tr[data-job-name=\"console-form\"] time")
        .await;
    // (Chromium puts a narrow no-break space before AM/PM.)
    assert_eq!(
        shown.replace('\u{202f}', " "),
        tokyo,
        "created time in the browser's zone"
    );
    let versions = api
        .get(&format!("/training-jobs/{form_job}/versions"))
        .await;
    let form_version = versions.assert_ok()["versions"][0]["version_id"]
        .as_i64()
        .unwrap();
    let (end, log) = api
        .run_to_end(
            form_job,
            form_version,
            "console-form.0",
            Duration::from_secs(5),
        )
        .await;
    assert_eq!(end, JobStatus::COMPLETED);
    assert!(log.contains("hello from the console job"), "{log}");
    b.wait_text("main", "#outcome", "completed", 10).await;
    // The timeline: the run's events from its creation to its end, in order.
    let timeline = b
        .wait_text("main", "#timeline", "Training job completed.", 10)
        .await;
    let created = timeline.find("Training job created.").expect("created");
    let running = timeline
        .find("Training job is running on")
        .expect("started");
    assert!(created < running && running < timeline.find("Training job completed.").unwrap());
    b.check_page("main", "job").await;

    // The description, edited in place.
    b.click("main", "#job-desc + button").await;
    b.fill("main", "#job-desc-input", "edited in the console")
        .await;
    b.cmd(json!({"op": "press", "page": "main", "selector": "#job-desc-input", "key": "Enter"}))
        .await;
    b.wait_text("main", "#job-desc", "edited in the console", 10)
        .await;
    let versions = api
        .get(&format!("/training-jobs/{form_job}/versions"))
        .await;
    assert_eq!(versions.body["job_desc"], json!("edited in the console"));

    // An error of the API is shown as the API's message: the name is taken now.
    b.goto("main", "/console/jobs/new").await;
    b.wait_for("main", "document.querySelector('#spec_id option')", 10)
        .await;
    for (field, value) in [
        ("#job_name", "console-form"),
        ("#app_url", "/con-print/"),
        ("#boot_file_url", "/con-print/boot.py"),
        ("#data_url", "/data/"),
    ] {
        b.fill("main", field, value).await;
    }
    b.click("main", "#new-job button[type=submit]").await;
    let shown = b.wait_text("main", ".errors", "console-form", 10).await;
    let refused = api
        .post(
            "/training-jobs",
            json!({"job_name": "console-form", "config": {"worker_server_num": 1, "app_url": "/con-print/",
                   "boot_file_url": "/con-print/boot.py", "data_url": "/data/", "spec_id": 1, "engine_id": 1}}),
        )
        .await;
    let message = refused.body["error_message"].as_str().unwrap();
    assert!(
        shown.contains(message),
        "page shows {shown:?}, the API said {message:?}"
    );
    b.check_page("main", "job-new-error").await;

    // The engine defaults to the CLI's (Python); an error about one field shows at that
    // field, in the form's words.
    step("new-job form: default engine, field errors, code upload");
    b.goto("main", "/console/jobs/new").await;
    b.wait_for("main", "document.querySelector('#spec_id option')", 10)
        .await;
    let engine = b
        .eval(
            "main",
            "document.querySelector('#engine_id').selectedOptions[0].textContent",
        )
        .await;
    assert!(
        engine.as_str().unwrap_or("").starts_with("Python"),
        "{engine}"
    );
    b.fill("main", "#job_name", "console-nocode").await;
    b.click("main", "#new-job button[type=submit]").await;
    let shown = b
        .wait_text("main", "#app_url-error", "Code folder", 10)
        .await;
    assert!(!shown.contains("app_url"), "{shown}");
    assert_eq!(
        b.eval(
            "main",
            "document.querySelector('#app_url').getAttribute('aria-invalid')"
        )
        .await,
        json!("true")
    );
    // A local folder chosen in the form is uploaded and runs, its boot file named relative
    // to it.
    let folder = srv.dir.path().join("console-upload/proj");
    std::fs::create_dir_all(folder.join("pkg")).unwrap();
    std::fs::write(
        folder.join("train.py"),
        "import pkg.util\nprint('uploaded from the browser', pkg.util.X, flush=True)\n",
    )
    .unwrap();
    std::fs::write(folder.join("pkg/__init__.py"), "").unwrap();
    std::fs::write(folder.join("pkg/util.py"), "X = 42\n").unwrap();
    b.cmd(json!({"op": "setFiles", "page": "main", "selector": "#code-folder", "files": folder.to_str().unwrap()}))
        .await;
    b.wait_text("main", "#code-chosen", "3 files", 10).await;
    for (field, value) in [
        ("#job_name", "console-upload"),
        ("#boot_file_url", "train.py"),
        ("#data_url", "/data/"),
        ("#train_url", "/out/console-upload/"),
    ] {
        b.fill("main", field, value).await;
    }
    b.click("main", "#new-job button[type=submit]").await;
    let url = b.wait_url("main", "/console/jobs/\\d+$").await;
    let upload_job = last_number(&url);
    b.wait_for(
        "main",
        "document.querySelector('#log')?.textContent.includes('uploaded from the browser 42')",
        30,
    )
    .await;
    assert!(
        srv.storage()
            .join("trainyard/code/console-upload/pkg/util.py")
            .is_file(),
        "the folder's content is in storage"
    );
    // A .tar archive dropped on the form.
    let archive = {
        let mut t = tar::Builder::new(Vec::new());
        let body = b"print('dropped archive ran', flush=True)\n";
        let mut header = tar::Header::new_gnu();
        header.set_size(body.len() as u64);
        header.set_mode(0o644);
        header.set_cksum();
        t.append_data(&mut header, "run.py", &body[..]).unwrap();
        t.into_inner().unwrap()
    };
    b.goto("main", "/console/jobs/new").await;
    b.wait_for("main", "document.querySelector('#spec_id option')", 10)
        .await;
    b.eval(
        "main",
        &format!(
            "(() => {{ const dt = new DataTransfer(); \
             dt.items.add(new File([new Uint8Array({})], 'code.tar', {{ type: 'application/x-tar' }})); \
             document.querySelector('#code-drop').dispatchEvent(new DragEvent('drop', {{ dataTransfer: dt, bubbles: true, cancelable: true }})); \
             return true; }})()",
            serde_json::to_string(&archive).unwrap()
        ),
    )
    .await;
    b.wait_text("main", "#code-chosen", "code.tar", 10).await;
    for (field, value) in [
        ("#job_name", "console-dropped"),
        ("#boot_file_url", "run.py"),
        ("#data_url", "/data/"),
    ] {
        b.fill("main", field, value).await;
    }
    b.click("main", "#new-job button[type=submit]").await;
    b.wait_url("main", "/console/jobs/\\d+$").await;
    b.wait_for(
        "main",
        "document.querySelector('#log')?.textContent.includes('dropped archive ran')",
        30,
    )
    .await;

    // --- Stop a running version from its page: KILLED, and its process is gone.
    step("stop a running version");
    let (long_job, long_version) = api.create_job("console-long", "con-long", json!({})).await;
    api.wait_log(long_job, long_version, "console-long.0", "sleeping")
        .await;
    let pid: i32 = std::fs::read_to_string(srv.storage().join("out/console-long/pid"))
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(process_exists(pid), "the job runs as pid {pid}");
    b.goto("main", &format!("/console/jobs/{long_job}")).await;
    b.wait_for("main", "document.querySelector('#stop-version')", 10)
        .await;
    b.fill("main", "#stop-grace", "1").await;
    b.click("main", "#stop-version").await;
    b.wait_text("main", "#version-details", "KILLED", 20).await;
    b.wait_text(
        "main",
        "#timeline",
        "Training job is terminating (by a user).",
        10,
    )
    .await;
    assert_eq!(api.status(long_job, long_version).await, JobStatus::KILLED);
    assert!(!process_exists(pid), "pid {pid} still runs after the stop");
    assert!(
        group_alive(pid).is_empty(),
        "group {pid}: {:?}",
        group_alive(pid)
    );
    b.check_page("main", "job-killed").await;

    // --- A new version from the page with an edited parameter runs with it.
    step("new version with an edited parameter");
    let (args_job, args_v1) = api
        .create_job(
            "console-args",
            "con-args",
            json!({"parameter": [{"label": "lr", "value": "0.01"}, {"label": "epochs", "value": "2"}]}),
        )
        .await;
    api.run_to_end(args_job, args_v1, "console-args.0", Duration::from_secs(30))
        .await;
    b.goto("main", &format!("/console/jobs/{args_job}")).await;
    b.wait_for("main", "document.querySelector('#new-version')", 10)
        .await;
    b.click("main", "#new-version").await;
    b.fill("main", "#nv-parameter", "lr=0.5\nepochs=2").await;
    b.check_page("main", "job-new-version").await;
    b.click("main", "#new-version-form button[type=submit]")
        .await;
    let url = b.wait_url("main", "version=\\d+$").await;
    let args_v2 = last_number(&url);
    assert_ne!(args_v2, args_v1);
    b.wait_text("main", "#log", "--lr=0.5", 30).await;
    let (end, log) = api
        .run_to_end(args_job, args_v2, "console-args.0", Duration::from_secs(30))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(
        log.contains("--lr=0.5") && log.contains("--epochs=2"),
        "{log}"
    );
    assert!(!log.contains("--lr=0.01"), "{log}");

    // --- Resource chart of a finished CPU-burning run.
    step("resource chart");
    let (burn_job, burn_v) = api.create_job("console-burn", "con-burn", json!({})).await;
    let (end, _) = api
        .run_to_end(burn_job, burn_v, "console-burn.0", Duration::from_secs(60))
        .await;
    assert_eq!(end, JobStatus::COMPLETED);
    b.goto("main", &format!("/console/jobs/{burn_job}")).await;
    let points = b
        .wait_for(
            "main",
            "(() => { const f = document.querySelector('figure[data-chart=cpuUsage]'); \
             return f && f.querySelector('canvas') && Number(f.dataset.points); })()",
            15,
        )
        .await;
    let detail = api
        .get(&format!("/training-jobs/{burn_job}/versions/{burn_v}"))
        .await;
    let cpu: Vec<f64> = detail.assert_ok()["system_metric_list"]["cpuUsage"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_str().unwrap().parse().unwrap())
        .collect();
    assert!(
        !cpu.is_empty() && points.as_u64() == Some(cpu.len() as u64),
        "chart {points} vs {cpu:?}"
    );
    assert!(cpu.iter().any(|c| *c > 0.0), "the run burnt CPU: {cpu:?}");
    let said = b
        .text_of("main", "figure[data-chart=cpuUsage] .visually-hidden")
        .await;
    assert!(said.starts_with(&format!("{} points", cpu.len())), "{said}");
    b.check_page("main", "job-charts").await;
    // Deleting the job from its page.
    b.click("main", ".page-head .confirm button").await;
    b.click("main", ".page-head .confirm button.danger").await;
    b.wait_url("main", JOBS_LIST).await;
    api.get(&format!("/training-jobs/{burn_job}/versions"))
        .await
        .assert_error(400, "ModelArts.0105");

    // --- Configurations: create, view, edit, start a job from it, delete.
    step("configurations");
    b.goto("main", "/console/configs/new").await;
    b.wait_for("main", "document.querySelector('#spec_id option')", 10)
        .await;
    for (field, value) in [
        ("#config_name", "console-cfg"),
        ("#config_desc", "first"),
        ("#app_url", "/con-args/"),
        ("#boot_file_url", "/con-args/boot.py"),
        ("#data_url", "/data/"),
        ("#train_url", "/out/console-cfg/"),
        ("#parameter", "epochs=3"),
    ] {
        b.fill("main", field, value).await;
    }
    b.check_page("main", "config-new").await;
    b.click("main", "#config-form button[type=submit]").await;
    b.wait_url("main", "/console/configs/console-cfg$").await;
    b.wait_text("main", "dl.details", "epochs=3", 10).await;
    b.check_page("main", "config").await;
    b.click("main", "#edit-config").await;
    b.fill("main", "#config-form #config_desc", "second").await;
    b.click("main", "#config-form button[type=submit]").await;
    b.wait_text("main", "dl.details", "second", 10).await;
    let cfg = api.get("/training-job-configs/console-cfg").await;
    assert_eq!(cfg.assert_ok()["config_desc"], json!("second"));
    b.click("main", "#job-from-config").await;
    b.wait_url("main", "/console/jobs/new\\?config=console-cfg$")
        .await;
    b.wait_for(
        "main",
        "document.querySelector('#app_url')?.value === '/con-args/'",
        10,
    )
    .await;
    b.fill("main", "#job_name", "from-config").await;
    b.click("main", "#new-job button[type=submit]").await;
    let url = b.wait_url("main", "/console/jobs/\\d+$").await;
    let cfg_job = last_number(&url);
    let v = api.get(&format!("/training-jobs/{cfg_job}/versions")).await;
    let cfg_v = v.assert_ok()["versions"][0]["version_id"].as_i64().unwrap();
    let (end, log) = api
        .run_to_end(cfg_job, cfg_v, "from-config.0", Duration::from_secs(30))
        .await;
    assert_eq!(end, JobStatus::COMPLETED, "{log}");
    assert!(log.contains("--epochs=3"), "{log}");
    b.goto("main", "/console/configs").await;
    b.wait_text("main", "main", "console-cfg", 10).await;
    b.check_page("main", "configs").await;
    b.goto("main", "/console/configs/console-cfg").await;
    b.wait_for(
        "main",
        "document.querySelector('.actions .confirm button')",
        10,
    )
    .await;
    b.click("main", ".actions .confirm button").await;
    b.click("main", ".actions .confirm button.danger").await;
    b.wait_url("main", "/console/configs$").await;
    api.get("/training-job-configs/console-cfg")
        .await
        .assert_error(400, "ModelArts.0105");

    // --- A visualization job opens TensorBoard in a new tab showing a real scalar, and the
    // secret is never in the address bar.
    step("visualization job");
    write_scalars(&srv.storage().join("out/tb"), 5);
    b.goto("main", "/console/viz").await;
    b.fill("main", "#viz-train-url", "/out/tb/").await;
    b.fill("main", "#viz-name", "console-tb").await;
    b.click("main", "#new-viz button[type=submit]").await;
    let row = "tr[data-viz-name=\"console-tb\"]";
    b.wait_for(
        "main",
        &format!("document.querySelector('{row} .badge')?.textContent === 'RUNNING'"),
        40,
    )
    .await;
    b.wait_text("main", &format!("{row} .auto-stop"), "59m", 10)
        .await;
    b.check_page("main", "viz").await;
    let opened = b
        .cmd(json!({"op": "popup", "page": "main", "selector": format!("{row} form.open-viz button"), "as": "tb"}))
        .await;
    let tb_url = b.wait_url("tb", "/modelarts2/tensorboard/").await;
    for url in [opened.as_str().unwrap(), &tb_url] {
        assert!(
            !url.contains("trainyard_secret"),
            "secret in the address bar: {url}"
        );
    }
    b.cmd(json!({"op": "waitVisibleText", "page": "tb", "text": "loss", "timeout": 40000}))
        .await;
    let scalars = b
        .eval(
            "tb",
            "fetch('data/plugin/scalars/scalars?run=.&tag=loss').then(r => r.json())",
        )
        .await;
    let values: Vec<f64> = scalars
        .as_array()
        .unwrap_or_else(|| panic!("scalars: {scalars}"))
        .iter()
        .map(|p| p[2].as_f64().unwrap())
        .collect();
    assert_eq!(values.len(), 5, "{scalars}");
    assert!(
        (values[0] - 1.0).abs() < 1e-6 && (values[4] - 0.2).abs() < 1e-6,
        "{values:?}"
    );
    b.cmd(json!({"op": "screenshots", "page": "tb", "name": "tensorboard", "settle": 800}))
        .await;
    // Stop, restart and delete from the list.
    b.click("main", &format!("{row} button[aria-label^=Stop]"))
        .await;
    b.wait_for(
        "main",
        &format!("document.querySelector('{row} .badge')?.textContent === 'KILLED'"),
        20,
    )
    .await;
    b.click("main", &format!("{row} button[aria-label^=Restart]"))
        .await;
    b.wait_for(
        "main",
        &format!("document.querySelector('{row} .badge')?.textContent === 'RUNNING'"),
        40,
    )
    .await;
    b.click("main", &format!("{row} .confirm button")).await;
    b.click("main", &format!("{row} .confirm button.danger"))
        .await;
    b.wait_for("main", &format!("!document.querySelector('{row}')"), 20)
        .await;
    let left = api.get("/visualization-jobs").await;
    assert_eq!(
        left.assert_ok()["job_total_count"],
        json!(0),
        "{}",
        left.body
    );

    // "Open TensorBoard on this output" from a job's page: a visualization job over its
    // train_url, shown on the Visualizations page.
    step("TensorBoard from a job page");
    b.goto("main", &format!("/console/jobs/{upload_job}")).await;
    b.click("main", "#open-tensorboard").await;
    let url = b.wait_url("main", "/console/viz\\?created=\\d+$").await;
    let viz = last_number(&url);
    b.wait_for(
        "main",
        &format!("document.querySelector('tr[data-viz-id=\"{viz}\"]')?.textContent.includes('/out/console-upload/')"),
        20,
    )
    .await;
    let detail = api.get(&format!("/visualization-jobs/{viz}")).await;
    assert_eq!(
        detail.assert_ok()["train_url"],
        json!("/out/console-upload/"),
        "{}",
        detail.body
    );
    api.delete(&format!("/visualization-jobs/{viz}"))
        .await
        .assert_ok();

    // --- A 1 GB log opens in under a second, and "Jump to end" shows its last line.
    step("1 GB log");
    let (big_job, big_v) = api.create_job("console-big", "con-big", json!({})).await;
    let (end, _) = api
        .run_to_end(big_job, big_v, "console-big.0", Duration::from_secs(30))
        .await;
    assert_eq!(end, JobStatus::COMPLETED);
    let log_path = srv
        .dir
        .path()
        .join(format!("data/runs/{big_v}/logs/console-big.0"));
    let last = "the last line of a 1 GB log";
    grow_to_a_gigabyte(&log_path, last);
    assert!(std::fs::metadata(&log_path).unwrap().len() >= 1 << 30);
    b.start_measurement().await;
    b.goto("big", &format!("/console/jobs/{big_job}")).await;
    let ms = b
        .cmd(json!({"op": "timeUntil", "page": "big", "expr":
            "document.querySelector('#log')?.textContent.includes('first line of a big log')"}))
        .await;
    b.end_measurement();
    let ms = ms.as_f64().unwrap();
    step(&format!(
        "  the 1 GB log showed its first page {ms:.0} ms after navigation"
    ));
    // Not a speed target (those live in bench/): a bound that a whole-file scan of the log
    // (~16 s per GB unoptimized) cannot meet, loose enough for a loaded 2-core machine where
    // this test shares the one test binary with others.
    assert!(ms < 5000.0, "the 1 GB log took {ms:.0} ms to open");
    b.click("big", "#log-end").await;
    b.wait_text("big", "#log", last, 10).await;
    let text = b.text_of("big", "#log").await;
    assert!(
        text.trim_end().ends_with(last),
        "the last line is at the end"
    );
    b.check_page("big", "job-1gb-log-end").await;

    // --- A sweep: one row on the jobs page with its progress, opened to its runs.
    step("sweep");
    let sweep = api
        .post(
            "/sweeps",
            json!({"sweep_name": "con-sweep", "concurrency": 1,
                   "parameters": {"lr": ["0.1", "0.2"]},
                   "config": {"worker_server_num": 1, "app_url": "/con-args/",
                              "boot_file_url": "/con-args/boot.py", "data_url": "/data/",
                              "train_url": "/out/con-sweep/", "spec_id": 1, "engine_id": 1}}),
        )
        .await;
    let sweep_id = sweep.assert_ok()["sweep_id"].as_i64().unwrap();
    b.goto("sweeps", "/console/jobs").await;
    let row = format!("#sweeps details[data-sweep-id=\"{sweep_id}\"]");
    b.wait_text("sweeps", &format!("{row} summary"), "con-sweep", 10)
        .await;
    // It polls: the row moves on to both runs ended without a reload.
    b.wait_text(
        "sweeps",
        &format!("{row} .sweep-progress"),
        "2 of 2 ended: 2 completed",
        60,
    )
    .await;
    b.click("sweeps", &format!("{row} summary")).await;
    b.wait_text("sweeps", &format!("{row} .sweep-runs"), "con-sweep-1", 10)
        .await;
    let runs = b.text_of("sweeps", &format!("{row} .sweep-runs")).await;
    assert!(
        runs.contains("con-sweep-0") && runs.contains("lr=0.1") && runs.contains("lr=0.2"),
        "{runs}"
    );
    b.check_page("sweeps", "jobs-with-a-sweep").await;

    // --- Catalog: specs with free capacity, engines.
    step("catalog");
    b.goto("main", "/console/catalog").await;
    b.wait_text("main", "#capacity", "64 total", 10).await;
    b.wait_text("main", "#specs", "modelarts.vm.cpu", 10).await;
    b.check_page("main", "catalog").await;

    // --- A waiting version: its priority, queue position and the reason it waits on its
    // page and in the list; a priority changed from its page moves it ahead.
    step("queue");
    let blocker = api
        .create_job("console-blocker", "con-long", json!({}))
        .await;
    api.wait_status(
        blocker.0,
        blocker.1,
        &[JobStatus::RUNNING],
        Duration::from_secs(30),
    )
    .await;
    // Each needs the whole host (spec 100), so both wait while the blocker runs.
    let mut waiting = Vec::new();
    for k in 0..2 {
        let run = api
            .create_job(
                &format!("console-wait{k}"),
                "con-args",
                json!({"spec_id": 100}),
            )
            .await;
        api.wait_status(run.0, run.1, &[JobStatus::WAITING], Duration::from_secs(10))
            .await;
        waiting.push(run);
    }
    let (job, ver) = waiting[1];
    b.goto("main", &format!("/console/jobs/{job}")).await;
    b.wait_text("main", "#priority", "1 (low)", 10).await;
    b.wait_text("main", "#queue-position", "1 ahead", 10).await;
    b.wait_text("main", "#queue-reason", "1 run ahead", 10)
        .await;
    b.check_page("main", "job-waiting").await;
    b.cmd(json!({"op": "select", "page": "main", "selector": "#priority-select", "value": "3"}))
        .await;
    b.click("main", "#set-priority").await;
    b.wait_text("main", "#priority", "3 (high)", 10).await;
    b.wait_text("main", "#queue-position", "next to start", 10)
        .await;
    b.wait_text("main", "#queue-reason", "waiting for", 10)
        .await;
    let v = api
        .get(&format!("/training-jobs/{job}/versions/{ver}"))
        .await;
    assert_eq!(v.assert_ok()["priority"], json!(3));
    // The list says why each waits: the other one is behind it now.
    b.goto("main", "/console/jobs").await;
    let other = format!("tr[data-job-id=\"{}\"] td.queue", waiting[0].0);
    b.wait_text("main", &other, "1 run ahead", 10).await;
    b.check_page("main", "jobs-with-a-queue").await;
    // The waiting ones are stopped first, so that nothing starts in the blocker's place.
    for (job, ver) in waiting.iter().chain([&blocker]) {
        api.post(
            &format!("/training-jobs/{job}/versions/{ver}/stop"),
            json!({}),
        )
        .await
        .assert_ok();
        api.wait_status(*job, *ver, JobStatus::TERMINAL, Duration::from_secs(30))
            .await;
    }

    // --- Usage: linked from the nav; the project's ended runs of the window, by job.
    step("usage");
    b.goto("main", "/console/usage?window=24h&by=job").await;
    b.wait_text("main", "#usage-table", "console-big", 10).await;
    b.wait_text("main", "#usage-summary", "runs ended", 10)
        .await;
    let current = b
        .eval(
            "main",
            "document.querySelector('nav a[data-nav=\"usage\"]')?.getAttribute('aria-current')",
        )
        .await;
    assert_eq!(current, json!("page"));
    b.check_page("main", "usage").await;

    // --- Signing out ends the session on the server: the old cookie opens nothing.
    step("sign out");
    let cookie = format!("trainyard_console={}", session["value"].as_str().unwrap());
    let with_session = |url: String| {
        api.http
            .get(url)
            .header("Cookie", cookie.clone())
            .header("X-Console-CSRF", csrf.clone())
            .send()
    };
    let before = with_session(api.url("/training-jobs")).await.unwrap();
    assert_eq!(before.status(), 200);
    b.goto("main", "/console/jobs").await;
    b.click("main", "form[action='/console/sign-out'] button")
        .await;
    b.wait_url("main", "/console/sign-in").await;
    let after = with_session(api.url("/training-jobs")).await.unwrap();
    assert_eq!(after.status(), 401);
    let body: Value = after.json().await.unwrap();
    assert_eq!(body["error_code"], json!("ModelArts.0202"), "{body}");
    b.goto("main", "/console/jobs").await;
    b.wait_url("main", "/console/sign-in\\?next=").await;
    step(&format!("screenshots in {}", shots.display()));
}

impl Browser {
    async fn text_of(&mut self, page: &str, selector: &str) -> String {
        let v = self
            .cmd(json!({"op": "text", "page": page, "selector": selector}))
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }
}
