//! Helpers of the core's tests.

use crate::{reactor, Comm, Core, Decision, Resources};
use trainyard_api::JobStatus;

/// `cores`, `memory_gb`, `gpus`.
pub fn res(cores: u32, memory_gb: u32, gpus: u32) -> Resources {
    Resources {
        cores,
        memory_gb,
        gpus,
    }
}

/// A core of 8 cores, 16 GB and GPUs 0..4, with routes that are plain numbers.
pub fn core() -> (Core<u32>, Comm<u32>) {
    (Core::new(res(8, 16, 4), vec![0, 1, 2, 3]), Comm::new())
}

/// Runs a scheduling pass and returns what it decided.
pub fn schedule(core: &mut Core<u32>, comm: &mut Comm<u32>) -> Vec<Decision<u32>> {
    reactor::schedule(core, comm);
    comm.take()
}

/// The status written as a table cell: its code, or `.` for none.
pub fn cell(status: Option<JobStatus>) -> String {
    status.map_or(".".to_owned(), |s| s.code().to_string())
}

/// Parses a table whose rows are `name cell...` into (name, cells), skipping blank lines and
/// `#` comments.
pub fn rows(table: &str) -> Vec<(&str, Vec<&str>)> {
    table
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(|l| {
            let mut words = l.split_whitespace();
            let name = words.next().expect("a row name");
            (name, words.collect())
        })
        .collect()
}
