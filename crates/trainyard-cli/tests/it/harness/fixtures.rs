//! What tests set up around a server: folders the projects' job users may use, apps and
//! TensorBoard event files, the offline container image, the Slurm dev cluster.

use super::config::tensorboard;
use super::server::TestServer;
use std::path::{Path, PathBuf};

/// A temporary folder that the projects' job users may pass through (not list), as a
/// server running as root requires of the folders above its data (tempfile makes them 0700).
pub fn tempdir() -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir()?;
    std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o711))?;
    Ok(dir)
}

/// Creates `path`, a folder every user may write (sticky, as /tmp): where a job, running as
/// its project's user, leaves files for the test.
pub fn shared_dir(path: &Path) -> PathBuf {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(path).unwrap();
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o1777)).unwrap();
    path.to_owned()
}

/// Writes `files` (name, content) into folder `app` below `storage`.
pub fn write_app(storage: &Path, app: &str, files: &[(&str, &str)]) {
    let dir = storage.join(app);
    std::fs::create_dir_all(&dir).unwrap();
    for (name, content) in files {
        std::fs::write(dir.join(name), content).unwrap();
    }
}

/// Writes real scalar event files (tag `loss`, steps 0..steps, value 1/(step+1)) into `dir`
/// with TensorBoard's own writer, using the Python of TensorBoard's environment.
pub fn write_scalars(dir: &Path, steps: usize) {
    let python = tensorboard().parent().unwrap().join("python3");
    let script = [
        "import sys",
        "from tensorboard.summary.writer.event_file_writer import EventFileWriter",
        "from tensorboard.compat.proto.event_pb2 import Event",
        "from tensorboard.compat.proto.summary_pb2 import Summary",
        "w = EventFileWriter(sys.argv[1])",
        "for step in range(int(sys.argv[2])):",
        "    s = Summary(value=[Summary.Value(tag='loss', simple_value=1.0 / (step + 1))])",
        "    w.add_event(Event(wall_time=1000.0 + step, step=step, summary=s))",
        "w.flush(); w.close()",
    ]
    .join("\n");
    std::fs::create_dir_all(dir).unwrap();
    let out = std::process::Command::new(python)
        .arg("-c")
        .arg(script)
        .arg(dir)
        .arg(steps.to_string())
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "writing events failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The offline test image (busybox, bash, Python), made once per test process by
/// `scripts/make-test-image.sh` (which installs podman when missing).
pub fn test_image() -> String {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let script = concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../scripts/make-test-image.sh"
            );
            let out = std::process::Command::new("bash")
                .arg(script)
                .output()
                .expect("run make-test-image.sh");
            assert!(
                out.status.success(),
                "make-test-image.sh: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            String::from_utf8_lossy(&out.stdout).trim().to_owned()
        })
        .clone()
}

/// Gives `image` a second name (e.g. the registry reference of a contract sample).
pub fn tag_image(image: &str, name: &str) {
    let status = std::process::Command::new("podman")
        .args(["tag", image, name])
        .status()
        .unwrap();
    assert!(status.success(), "podman tag {image} {name}");
}

/// Names of the containers on this host, running or not.
pub fn containers() -> Vec<String> {
    let out = std::process::Command::new("podman")
        .args(["ps", "--all", "--format", "{{.Names}}"])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(str::to_owned)
        .collect()
}

/// Asserts that no container of any run under `runs` exists any more.
pub fn assert_no_containers_in(runs: &Path) {
    let left = containers();
    for e in std::fs::read_dir(runs).unwrap().flatten() {
        let dir = std::fs::canonicalize(e.path()).unwrap();
        for i in 0..8 {
            let name = trainyard_exec::container::name(&dir, i);
            assert!(
                !left.contains(&name),
                "container {name} of {} left",
                dir.display()
            );
        }
    }
}

/// Asserts that no container of `srv`'s runs exists any more.
pub fn assert_no_containers_of(srv: &TestServer) {
    assert_no_containers_in(&srv.dir.path().join("data/runs"));
}

/// Starts the single-node Slurm dev cluster (scripts/slurm-dev-cluster.sh) unless it runs; one
/// start at a time, as the suites share this process.
pub async fn start_slurm_dev_cluster() {
    static STARTING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let _one = STARTING.lock().await;
    let script = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../scripts/slurm-dev-cluster.sh"
    );
    let out = tokio::process::Command::new("bash")
        .arg(script)
        .arg("start")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "dev cluster: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Slurm dev cluster's one node (2 cores), held by one test at a time: every test that
/// submits Slurm jobs, whatever its suite, holds it for its length.
pub struct SlurmNode {
    _held: tokio::sync::MutexGuard<'static, ()>,
}

/// Waits for the dev cluster's node to be free, starts the cluster unless it runs, and holds
/// the node until the value is dropped.
pub async fn slurm_node() -> SlurmNode {
    static NODE: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());
    let held = NODE.lock().await;
    start_slurm_dev_cluster().await;
    SlurmNode { _held: held }
}

impl Drop for SlurmNode {
    fn drop(&mut self) {
        // A test that failed half-way may leave jobs queued on the one node, which would
        // hold up the next test; the node is ours while it is held.
        let _ = std::process::Command::new("scancel")
            .args(["--user", "root"])
            .status();
    }
}
