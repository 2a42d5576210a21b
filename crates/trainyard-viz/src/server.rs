//! The command line and run spec of one visualization server.

use std::path::{Path, PathBuf};
use trainyard_exec::{RunSpec, WorkerSpec};

/// How to start a server of one kind.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Launcher {
    /// A `tensorboard` executable: `--logdir D --host 127.0.0.1 --port P --path_prefix X`.
    TensorBoard(PathBuf),
    /// A command template; `{logdir}`, `{port}`, `{host}` and `{prefix}` are substituted in
    /// every word. It must stay in the foreground.
    Template(Vec<String>),
}

/// What one server serves.
#[derive(Clone, Debug)]
pub struct Target<'a> {
    /// Folder of the event files.
    pub logdir: &'a Path,
    /// Loopback port to bind.
    pub port: u16,
    /// Public path prefix without a trailing slash, e.g. `/modelarts2/tensorboard/p/7`.
    pub prefix: &'a str,
}

impl Launcher {
    /// Program and arguments for `target`.
    pub fn command(&self, target: &Target<'_>) -> (String, Vec<String>) {
        match self {
            Self::TensorBoard(bin) => (
                bin.display().to_string(),
                vec![
                    "--logdir".into(),
                    target.logdir.display().to_string(),
                    "--host".into(),
                    "127.0.0.1".into(),
                    "--port".into(),
                    target.port.to_string(),
                    "--path_prefix".into(),
                    target.prefix.to_owned(),
                ],
            ),
            Self::Template(words) => {
                let fill = |w: &String| {
                    w.replace("{logdir}", &target.logdir.display().to_string())
                        .replace("{port}", &target.port.to_string())
                        .replace("{host}", "127.0.0.1")
                        .replace("{prefix}", target.prefix)
                };
                let mut it = words.iter().map(fill);
                let program = it.next().unwrap_or_default();
                (program, it.collect())
            }
        }
    }

    /// Whether the program can be started: an existing executable file (a bare name of a
    /// template is looked up in `path`).
    pub fn available(&self, path: &str) -> Result<(), Unavailable> {
        let program = match self {
            Self::TensorBoard(bin) => bin.clone(),
            Self::Template(words) => match words.first() {
                Some(w) if w.contains('/') => PathBuf::from(w),
                Some(w) => match std::env::split_paths(path)
                    .map(|d| d.join(w))
                    .find(|p| is_executable(p))
                {
                    Some(p) => p,
                    None => return Err(Unavailable::NotOnPath(w.clone())),
                },
                None => return Err(Unavailable::EmptyCommand),
            },
        };
        if is_executable(&program) {
            Ok(())
        } else {
            Err(Unavailable::NotExecutable(program))
        }
    }
}

/// Why a visualization server program cannot be started.
#[derive(Debug, thiserror::Error)]
pub enum Unavailable {
    /// A bare program name not found on `PATH`.
    #[error("{0} is not on PATH")]
    NotOnPath(String),
    /// The configured command has no words.
    #[error("the command is empty")]
    EmptyCommand,
    /// The program file is missing or not executable.
    #[error("{} does not exist or is not executable", .0.display())]
    NotExecutable(PathBuf),
}

fn is_executable(p: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(p).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

/// A run spec with one worker: the server, its output in `<run_dir>/server.log`.
pub fn run_spec(
    launcher: &Launcher,
    target: &Target<'_>,
    run_dir: &Path,
    env: Vec<(String, String)>,
    grace_seconds: u64,
) -> RunSpec {
    let (program, args) = launcher.command(target);
    RunSpec {
        run_dir: run_dir.to_owned(),
        cwd: run_dir.to_owned(),
        workers: vec![WorkerSpec {
            program,
            args,
            env,
            log_file: log_file(run_dir),
            container: None,
        }],
        grace_seconds,
        sample_interval_ms: None,
        objects: None,
        run_as: None,
        network: Default::default(),
        log_limit: None,
    }
}

/// The server's stdout and stderr.
pub fn log_file(run_dir: &Path) -> PathBuf {
    run_dir.join("server.log")
}

/// How long the server's log is now: where the output of a server started next begins.
pub fn log_len(run_dir: &Path) -> u64 {
    std::fs::metadata(log_file(run_dir)).map_or(0, |m| m.len())
}

/// Whether the server's output from byte `since` on says its port was in use: TensorBoard's
/// "could not bind to port N, it was already in use", or the system's "Address already in
/// use". Whatever held the port may be gone by the time anyone looks (TensorBoard's own data
/// server, binding port 0, can be handed the port first and dies with it), so a look at the
/// port alone can miss it.
pub fn said_port_in_use(run_dir: &Path, since: u64) -> bool {
    use std::io::{Read, Seek, SeekFrom};
    let mut text = Vec::new();
    let read = std::fs::File::open(log_file(run_dir)).and_then(|mut f| {
        f.seek(SeekFrom::Start(since))?;
        f.read_to_end(&mut text)
    });
    read.is_ok() && String::from_utf8_lossy(&text).contains("already in use")
}

/// The last `n` lines of the server's log (for a failure reason).
pub fn log_tail(run_dir: &Path, n: usize) -> String {
    let text = std::fs::read(log_file(run_dir))
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    let lines: Vec<&str> = text.lines().filter(|l| !l.trim().is_empty()).collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_port_in_use_is_read_from_the_latest_servers_output_only() {
        let dir = tempfile::tempdir().unwrap();
        assert!(!said_port_in_use(dir.path(), 0));
        std::fs::write(
            log_file(dir.path()),
            "ERROR: TensorBoard could not bind to port 4100, it was already in use\n",
        )
        .unwrap();
        assert!(said_port_in_use(dir.path(), 0));
        let next = log_len(dir.path());
        assert!(!said_port_in_use(dir.path(), next));
        let mut log = std::fs::OpenOptions::new()
            .append(true)
            .open(log_file(dir.path()))
            .unwrap();
        std::io::Write::write_all(&mut log, b"OSError: [Errno 98] Address already in use\n")
            .unwrap();
        assert!(said_port_in_use(dir.path(), next));
        assert!(!said_port_in_use(dir.path(), log_len(dir.path())));
    }

    #[test]
    fn tensorboard_command() {
        let t = Target {
            logdir: Path::new("/d"),
            port: 7001,
            prefix: "/modelarts2/tensorboard/p/3",
        };
        let (p, a) = Launcher::TensorBoard("/v/bin/tensorboard".into()).command(&t);
        assert_eq!(p, "/v/bin/tensorboard");
        assert_eq!(
            a.join(" "),
            "--logdir /d --host 127.0.0.1 --port 7001 --path_prefix /modelarts2/tensorboard/p/3"
        );
        let tpl = Launcher::Template(vec![
            "mi".into(),
            "--dir={logdir}".into(),
            "{host}:{port}{prefix}".into(),
        ]);
        let (p, a) = tpl.command(&t);
        assert_eq!(
            (p.as_str(), a[0].as_str(), a[1].as_str()),
            (
                "mi",
                "--dir=/d",
                "127.0.0.1:7001/modelarts2/tensorboard/p/3"
            )
        );
        assert!(Launcher::TensorBoard("/nonexistent/tensorboard".into())
            .available("/bin")
            .is_err());
        assert!(Launcher::Template(vec!["sh".into()])
            .available("/usr/bin:/bin")
            .is_ok());
    }
}
