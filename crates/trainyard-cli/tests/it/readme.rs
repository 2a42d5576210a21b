//! Every code block of the README and of the guides in `docs/` ([`DOCS`], in that order: the
//! order their sections had in the README before they moved out), as written, twice, against
//! `trainyard serve` on a fresh data directory (defaults: `$HOME/.local/share/trainyard` of a
//! fresh `$HOME`).
//!
//! - `sh` blocks run verbatim, concatenated into one bash script, as a user pasting them into
//!   one shell would (variables and `cd` carry over); `python` blocks run in that same script
//!   with `python3` (the SDK's virtualenv, activated by the block before them).
//! - The environment is what the quick start leaves: the `export` lines the first `serve`
//!   printed are pasted (taken from its real output), `trainyard` is on `PATH`.
//! - `toml` blocks are checked for what they are: configuration fragments through the server's
//!   own parser and validation, the profile example through `trainyard profiles`.
//! - `text` blocks are sample output: the first start's `export` lines must match them.
//! - Blocks marked `<!-- readme-test: setup (...) -->` are the quick start the test performs
//!   itself (starting the server) or the test command; any other unmarked block must run.

use crate::harness::*;
use std::path::{Path, PathBuf};

/// The documents whose blocks run, in the order they run: the README, then the guides in the
/// order of their sections when they were one file.
const DOCS: [&str; 15] = [
    "README.md",
    "docs/cli.md",
    "docs/console.md",
    "docs/user-guide.md",
    "docs/api-compatibility.md",
    "docs/security.md",
    "docs/sdk.md",
    "docs/storage.md",
    "docs/slurm.md",
    "docs/replicas.md",
    "docs/configuration.md",
    "docs/operations.md",
    "docs/benchmarks.md",
    "docs/development.md",
    "docs/api-v2.md",
];

#[derive(Debug)]
struct Block {
    /// The document, e.g. `docs/cli.md`.
    doc: &'static str,
    lang: String,
    body: String,
    setup: bool,
    line: usize,
}

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The fenced blocks of every document of [`DOCS`], in order (indented fences inside list
/// items included).
fn blocks() -> Vec<Block> {
    DOCS.iter().flat_map(|doc| blocks_of(doc)).collect()
}

/// Guides whose blocks another test runs: the official v2 clients' page needs the HTTPS
/// server and the clients' virtualenv of `python_sdk::official_v2_clients_against_a_real_server`,
/// whose pytest module runs its blocks.
const RUN_ELSEWHERE: [&str; 1] = ["docs/api-v2-clients.md"];

/// Every markdown file in `docs/` with a code block is one of [`DOCS`] or [`RUN_ELSEWHERE`]:
/// a guide added without running its blocks fails here.
#[test]
fn every_guide_runs_in_the_docs_test() {
    for e in std::fs::read_dir(repo_root().join("docs"))
        .unwrap()
        .flatten()
    {
        let name = format!("docs/{}", e.file_name().to_string_lossy());
        let text = std::fs::read_to_string(e.path()).unwrap();
        assert!(
            DOCS.contains(&name.as_str())
                || RUN_ELSEWHERE.contains(&name.as_str())
                || !text.contains("```"),
            "{name} has code blocks but is not in readme.rs's DOCS"
        );
    }
}

/// The fenced blocks of `doc`.
fn blocks_of(doc: &'static str) -> Vec<Block> {
    let readme = std::fs::read_to_string(repo_root().join(doc)).unwrap();
    let mut out = Vec::new();
    let mut lines = readme.lines().enumerate().peekable();
    let mut previous = "";
    while let Some((n, line)) = lines.next() {
        let trimmed = line.trim_start();
        if let Some(lang) = trimmed.strip_prefix("```") {
            let indent = line.len() - trimmed.len();
            let mut body = String::new();
            for (_, l) in lines.by_ref() {
                if l.trim_start().starts_with("```") {
                    break;
                }
                body.push_str(l.get(indent..).unwrap_or(l.trim_start()));
                body.push('\n');
            }
            let setup = previous.trim_start().starts_with("<!-- readme-test: setup");
            out.push(Block {
                doc,
                lang: lang.trim().to_owned(),
                body,
                setup,
                line: n + 1,
            });
            previous = "";
            continue;
        }
        if !line.trim().is_empty() {
            previous = line;
        }
    }
    out
}

/// Starts `trainyard serve` with only `--listen`, everything else default under `home`; returns
/// the process and what it printed on stdout (read once it answers /health).
async fn serve(home: &Path, port: u16, stdout: &Path) -> std::process::Child {
    let log = std::fs::File::create(stdout).unwrap();
    let child = std::process::Command::new(bin())
        .args(["serve", "--listen", &format!("127.0.0.1:{port}")])
        .env("HOME", home)
        .env_remove("TRAINYARD_DATA_DIR")
        .env_remove("TRAINYARD_CONFIG")
        // The data folder under this HOME, also for root (whose default is /var/lib).
        .env("XDG_DATA_HOME", home.join(".local/share"))
        .env_remove("XDG_CONFIG_HOME")
        .stdout(log)
        .stderr(std::fs::File::create(stdout.with_extension("stderr")).unwrap())
        .spawn()
        .unwrap();
    wait_healthy(&format!("http://127.0.0.1:{port}")).await;
    child
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_readme_block_runs_as_written_twice() {
    // Two whole README runs (servers, virtualenvs, every command): CPU-heavy throughout.
    let _heavy = busy().await;
    let dir = tempdir().unwrap();
    let home = dir.path().join("home");
    let data = home.join(".local/share/trainyard");
    std::fs::create_dir_all(&data).unwrap();
    // The CLI walk-through installs TensorBoard into DATA_DIR/tensorboard-venv; the copy CI
    // installed stands in for the download (the script finds it and only checks it).
    let venv = tensorboard().parent().unwrap().parent().unwrap().to_owned();
    std::os::unix::fs::symlink(&venv, data.join("tensorboard-venv")).unwrap();

    let port = free_port();
    let stdout_path = dir.path().join("serve.out");
    let _server = Running(serve(&home, port, &stdout_path).await, data.join("runs"));
    let printed = std::fs::read_to_string(&stdout_path).unwrap();
    let exports: Vec<(String, String)> = printed
        .lines()
        .filter_map(|l| l.strip_prefix("export "))
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
    let names: Vec<&str> = exports.iter().map(|(k, _)| k.as_str()).collect();
    assert_eq!(
        names,
        [
            "TRAINYARD_SERVER",
            "TRAINYARD_PROJECT",
            "TRAINYARD_TOKEN",
            "MODELARTS_ACCESS_KEY",
            "MODELARTS_SECRET_KEY"
        ],
        "{printed}"
    );
    assert_eq!(exports[0].1, format!("http://127.0.0.1:{port}"));

    let mut script = String::from("# generated from README.md and docs/ by tests/it/readme.rs\n");
    let mut ran = 0;
    for b in blocks() {
        if b.setup {
            continue;
        }
        match b.lang.as_str() {
            "sh" => script.push_str(&format!("# {} line {}\n{}\n", b.doc, b.line, b.body)),
            "python" => script.push_str(&format!(
                "# {} line {}\npython3 - <<'README_PYTHON'\n{}README_PYTHON\n",
                b.doc, b.line, b.body
            )),
            "toml" if b.body.contains("[default]") => {
                let file = dir.path().join("profiles-example.toml");
                std::fs::write(&file, &b.body).unwrap();
                let out = std::process::Command::new(bin())
                    .args(["profiles", "-o", "json"])
                    .env("TRAINYARD_PROFILE_FILE", &file)
                    .output()
                    .unwrap();
                let text = String::from_utf8_lossy(&out.stdout);
                assert!(
                    out.status.success() && text.contains("\"lab\""),
                    "profile example ({} line {}): {text}",
                    b.doc,
                    b.line
                );
            }
            "toml" => {
                let cfg = trainyard_server::config::Config::from_toml(&b.body)
                    .unwrap_or_else(|e| panic!("config block at {} line {}: {e}", b.doc, b.line));
                cfg.validate()
                    .unwrap_or_else(|e| panic!("config block at {} line {}: {e}", b.doc, b.line));
            }
            "text" => {
                for line in b.body.lines() {
                    let key = line.split('=').next().unwrap();
                    assert!(
                        printed.lines().any(|l| l.starts_with(&format!("{key}="))),
                        "{line}: not printed: {printed}"
                    );
                }
            }
            "" => {} // plain text (the layout tree)
            other => panic!(
                "{} line {}: a ```{other} block the test does not know how to run",
                b.doc, b.line
            ),
        }
        ran += 1;
    }
    assert!(ran >= 8, "only {ran} blocks found");
    let script_path = dir.path().join("readme.sh");
    std::fs::write(&script_path, &script).unwrap();

    let bin_dir = bin().parent().unwrap().to_owned();
    let path = format!(
        "{}:{}",
        bin_dir.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    for round in 1..=2 {
        let mut cmd = tokio::process::Command::new("bash");
        cmd.arg(&script_path)
            .current_dir(repo_root())
            .env("PATH", &path)
            .env("HOME", &home);
        for (k, _) in std::env::vars() {
            if k == "COLUMNS"
                || k == "NO_COLOR"
                || k.starts_with("TRAINYARD_")
                || k.starts_with("MODELARTS_")
                || k.starts_with("XDG_")
                || k == "VIRTUAL_ENV"
            {
                cmd.env_remove(k);
            }
        }
        for (k, v) in &exports {
            cmd.env(k, v);
        }
        // As the server was started: its data folder under this HOME.
        cmd.env("XDG_DATA_HOME", home.join(".local/share"));
        let out = cmd.output().await.unwrap();
        let stdout = String::from_utf8_lossy(&out.stdout);
        let stderr = String::from_utf8_lossy(&out.stderr);
        if !out.status.success() {
            panic!("README run {round} failed\nstdout:\n{stdout}\nstderr:\n{stderr}");
        }
        // The curl walk-through.
        assert!(stdout.contains("status 10"), "{stdout}");
        assert!(
            stdout.contains("[\"demo.0\", \"demo.1\"]")
                || stdout.contains("[\"demo.0\",\"demo.1\"]"),
            "{stdout}"
        );
        assert!(stdout.contains("rank 1 of 2"), "{stdout}");
        assert!(stdout.contains("stopped version: status 12"), "{stdout}");
        // The CLI walk-through.
        assert!(
            stdout.contains("[0] rank 0 of 2 args ['--lr=0.01']"),
            "{stdout}"
        );
        assert!(
            stdout.contains("[1] rank 1 of 2 args ['--lr=0.01']"),
            "{stdout}"
        );
        assert!(
            stdout.contains("cli-demo") && stdout.contains("COMPLETED"),
            "{stdout}"
        );
        assert!(
            stdout.contains("\nrank 1 of 2 args"),
            "logs --worker 1 prints unprefixed lines: {stdout}"
        );
        assert!(stdout.contains("cli-long ended (exit 1)"), "{stdout}");
        assert!(stdout.contains("deleted job"), "{stdout}");
        assert!(
            stdout.contains("cli-tb") && stdout.contains("/trainyard/out/cli-demo/"),
            "viz list: {stdout}"
        );
        assert!(stdout.contains("TensorBoard UI: HTTP 200"), "{stdout}");
        assert!(stdout.contains("TensorBoard runs: ["), "{stdout}");
        assert!(
            stdout.contains("stopped: KILLED") && stdout.contains("deleted visualization job"),
            "{stdout}"
        );
        assert!(
            stderr.contains("RUNNING") && stderr.contains("KILLED"),
            "{stderr}"
        );
        // The server's log, redirected to a file, carries no terminal colour codes.
        let serve_log = std::fs::read_to_string(stdout_path.with_extension("stderr")).unwrap();
        assert!(
            serve_log.contains("trainyard listening") && !serve_log.contains('\x1b'),
            "{serve_log}"
        );
        // Login and the SDK sample (AK/SK of the first start).
        assert!(stderr.contains("saved as profile 'default'"), "{stderr}");
        assert!(
            stdout.contains("'is_success': True"),
            "SDK sample: {stdout}"
        );
    }
}

/// The server and the runs it started end with the test, whatever its outcome.
struct Running(std::process::Child, PathBuf);

impl Drop for Running {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
        kill_runs(&self.1);
    }
}
