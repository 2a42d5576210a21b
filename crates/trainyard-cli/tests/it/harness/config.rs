//! What test servers are configured with: the two projects and their tokens, the metrics
//! token, configuration text and files, the test TensorBoard.

use std::path::{Path, PathBuf};

/// The main project of every test server, and its token.
pub const PROJECT: &str = "proj-a";
pub const TOKEN: &str = "token-a";
/// The second project of every test server (what the main one must not see), and its token.
pub const OTHER_PROJECT: &str = "proj-b";
pub const OTHER_TOKEN: &str = "token-b";
/// `[metrics] scrape_token` of every test server.
pub const METRICS_TOKEN: &str = "metrics-token";

/// Writes a configuration file readable by its owner alone, as the server requires of one
/// that holds secrets.
pub fn write_config(path: &Path, text: impl AsRef<[u8]>) -> std::io::Result<()> {
    use std::io::Write;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)?
        .write_all(text.as_ref())
}

/// Config text for a test server; `extra` is appended (e.g. an `[executor]` table).
pub fn config_text(data_dir: &Path, extra: &str) -> String {
    config_text_with(data_dir, "", extra)
}

/// Like [`config_text`], with `project_extra` (keys) added to the main project's table.
pub fn config_text_with(data_dir: &Path, project_extra: &str, extra: &str) -> String {
    let executor = if extra.contains("[executor]") {
        String::new()
    } else {
        "[executor]\ncores = 64\nmemory_gb = 256\nstop_grace_seconds = 2\n".to_owned()
    };
    // Every server's /metrics needs a token, loopback included.
    let extra = if extra.contains("[metrics]\n") {
        extra.replacen(
            "[metrics]\n",
            &format!("[metrics]\nscrape_token = \"{METRICS_TOKEN}\"\n"),
            1,
        )
    } else {
        format!("{extra}\n[metrics]\nscrape_token = \"{METRICS_TOKEN}\"\n")
    };
    format!(
        "data_dir = \"{}\"\n\n[[projects]]\nid = \"{PROJECT}\"\ntokens = [\"{TOKEN}\"]\n{project_extra}\n\n[[projects]]\nid = \"{OTHER_PROJECT}\"\ntokens = [\"{OTHER_TOKEN}\"]\n\n{executor}{extra}\n",
        data_dir.display()
    )
}

/// The TensorBoard executable for tests: `$TRAINYARD_TENSORBOARD`, else `<repo>/.venv/bin/tensorboard`
/// (`.ci/run` installs it). Missing TensorBoard fails the test: it is part of the product.
pub fn tensorboard() -> PathBuf {
    let path = std::env::var_os("TRAINYARD_TENSORBOARD")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            Path::new(env!("CARGO_MANIFEST_DIR")).join("../../.venv/bin/tensorboard")
        });
    assert!(
        path.is_file(),
        "TensorBoard not found at {}: run `scripts/install-tensorboard.sh .venv` (or .ci/run), or set TRAINYARD_TENSORBOARD",
        path.display()
    );
    path
}

/// `[viz]` table using the test TensorBoard; `more` adds keys.
pub fn viz_config(more: &str) -> String {
    format!(
        "[viz]\ntensorboard = \"{}\"\n{more}\n",
        tensorboard().display()
    )
}
