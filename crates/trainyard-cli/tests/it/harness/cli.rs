//! The `trainyard` binary run by a suite: [`trainyard`] and what it printed ([`Out`]).

use super::config::{PROJECT, TOKEN};
use super::server::bin;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Exit code and output of one `trainyard` run.
pub struct Out {
    pub code: i32,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    /// Stdout of a run that succeeded (else a panic with both outputs).
    #[track_caller]
    pub fn ok(&self) -> &str {
        assert_eq!(
            self.code, 0,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        &self.stdout
    }

    /// Stdout of a run that succeeded, as JSON.
    #[track_caller]
    pub fn json<T: DeserializeOwned>(&self) -> T {
        serde_json::from_str(self.ok()).unwrap_or_else(|e| panic!("{e}: {}", self.stdout))
    }

    /// The run exited with `code` and said `needle` on stderr.
    #[track_caller]
    pub fn fails(&self, code: i32, needle: &str) {
        assert_eq!(
            self.code, code,
            "stdout:\n{}\nstderr:\n{}",
            self.stdout, self.stderr
        );
        assert!(
            self.stderr.contains(needle),
            "wanted {needle:?} in stderr:\n{}",
            self.stderr
        );
    }
}

/// `trainyard args...` against `base` with the test project's credentials and its
/// configuration under `config_home`; nothing of the developer's (profiles, `NO_COLOR`,
/// `COLUMNS`) reaches it, then `env` is added.
pub async fn trainyard(base: &str, config_home: &Path, args: &[&str], env: &[(&str, &str)]) -> Out {
    let out = tokio::process::Command::new(bin())
        .args(args)
        .env_remove("TRAINYARD_PROFILE")
        .env_remove("TRAINYARD_PROFILE_FILE")
        .env_remove("NO_COLOR")
        .env_remove("COLUMNS")
        .env("XDG_CONFIG_HOME", config_home)
        .env("TRAINYARD_SERVER", base)
        .env("TRAINYARD_PROJECT", PROJECT)
        .env("TRAINYARD_TOKEN", TOKEN)
        .envs(env.iter().copied())
        .output()
        .await
        .unwrap();
    Out {
        code: out.status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}
