//! The status tables, every (status, event) pair written out: a change to a decision shows
//! here as a changed cell.

use super::utils::{cell, rows};
use crate::status::{end, next, End, Exit, Step, ENDS_FROM};
use trainyard_api::JobStatus;

/// Each step's resulting status for every status (columns 0..=22); `.`: the step does not
/// apply, and the store's compare-and-set leaves the version as it is.
const STEPS: &str = "
#                   0  1  2  3  4  5  6  7  8  9 10 11 12 13 14 15 16 17 18 19 20 21 22
BeginStart          .  4  .  .  .  .  .  4  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .
MarkWaiting         .  7  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .
Launched            .  .  .  .  8  .  .  .  .  9  .  .  .  .  .  .  .  .  .  .  .  .  .
Submitted           .  .  .  .  7  .  .  .  .  9  .  .  .  .  .  .  .  .  .  .  .  .  .
SeenRunning         .  .  .  .  8  .  .  8  .  .  .  .  .  .  .  .  .  .  .  .  .  .  .
StartFailed         .  5  .  .  5  .  .  .  5  12 .  .  .  .  .  .  .  .  .  .  .  .  .
Requeue             .  .  .  .  1  .  .  .  1  .  .  .  .  .  .  .  .  .  .  .  .  .  .
BeginStop           .  9  9  .  9  .  .  9  9  .  .  .  .  .  .  9  .  .  .  .  .  .  .
StoppedBeforeStart  .  .  .  .  .  .  .  .  .  12 .  .  .  .  .  .  .  .  .  .  .  .  .
RetryScheduled      .  .  .  .  8  .  .  8  8  .  .  .  .  .  .  8  .  .  .  .  .  .  .
Relaunched          .  .  .  .  .  .  .  .  8  9  .  .  .  .  .  .  .  .  .  .  .  .  .
DependencyNeverMet  .  13 .  .  .  .  .  13 .  .  .  .  .  .  .  .  .  .  .  .  .  .  .
";

#[test]
fn every_step_from_every_status() {
    let table = rows(STEPS);
    assert_eq!(table.len(), Step::ALL.len());
    for ((name, cells), step) in table.iter().zip(Step::ALL) {
        assert_eq!(*name, format!("{step:?}"));
        assert_eq!(cells.len(), JobStatus::ALL.len(), "{name}");
        for (status, want) in JobStatus::ALL.into_iter().zip(cells) {
            let got = cell(next(status, step));
            assert_eq!(&got, want, "{step:?} from {}", status.name());
        }
    }
}

#[test]
fn moves_are_consistent_with_the_table() {
    for step in Step::ALL {
        // The first move is what the lifecycle owner tries first; a fallback never takes a
        // status the first move takes.
        let first = step.first();
        if let Some(fallback) = step.fallback() {
            assert!(
                fallback.from.iter().all(|s| !first.from.contains(s)),
                "{step:?}"
            );
        }
        for m in step.moves() {
            for from in m.from {
                assert_eq!(next(*from, step), Some(m.to), "{step:?}");
            }
        }
    }
}

/// The ends a backend reports: every kind of exit, each in time and past the time limit.
fn ends() -> Vec<(&'static str, End)> {
    let exits = [
        ("ok", Exit::Succeeded),
        (
            "code",
            Exit::Failed {
                worker: 1,
                exit_code: Some(3),
                signal: None,
            },
        ),
        (
            "signal",
            Exit::Failed {
                worker: 0,
                exit_code: None,
                signal: Some(9),
            },
        ),
        (
            "failed",
            Exit::Failed {
                worker: 2,
                exit_code: None,
                signal: None,
            },
        ),
        ("stopped", Exit::Stopped),
        ("spawn", Exit::SpawnFailed("cannot spawn".to_owned())),
        ("upload", Exit::UploadFailed("cannot upload".to_owned())),
        ("loglimit", Exit::LogLimit("log too long".to_owned())),
        ("lost", Exit::Lost),
    ];
    let mut ends = Vec::new();
    for timed_out in [false, true] {
        for (name, exit) in &exits {
            let end = End {
                exit: exit.clone(),
                timed_out,
            };
            ends.push((*name, end));
        }
    }
    ends
}

/// The status each end records from every status: columns are the exits of [`ends`], first
/// in time, then (after `|`) past the time limit.
const ENDS: &str = "
#        ok code signal failed stopped spawn upload loglimit lost | ok code signal failed stopped spawn upload loglimit lost
0        .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
1        10 11   11     11     12      11    11     11       14   | 11 11   11     11     11      11    11     11       11
2        10 11   11     11     12      11    11     11       14   | 11 11   11     11     11      11    11     11       11
3        .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
4        10 11   11     11     12      11    11     11       14   | 11 11   11     11     11      11    11     11       11
5        .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
6        .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
7        10 11   11     11     12      11    11     11       14   | 11 11   11     11     11      11    11     11       11
8        10 11   11     11     12      11    11     11       14   | 11 11   11     11     11      11    11     11       11
9        12 12   12     12     12      12    12     12       12   | 12 12   12     12     12      12    12     12       12
10       .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
11       .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
12       .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
13       .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
14       .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
15       10 11   11     11     12      11    11     11       14   | 11 11   11     11     11      11    11     11       11
16       .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
17       .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
18       .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
19       .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
20       .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
21       .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
22       .  .    .      .      .       .     .      .        .    | .  .    .      .      .       .     .      .        .
";

#[test]
fn every_end_from_every_status() {
    let ends = ends();
    let table = rows(ENDS);
    assert_eq!(table.len(), JobStatus::ALL.len());
    for ((name, cells), status) in table.iter().zip(JobStatus::ALL) {
        assert_eq!(*name, status.code().to_string());
        let cells: Vec<&&str> = cells.iter().filter(|c| **c != "|").collect();
        assert_eq!(cells.len(), ends.len(), "status {name}");
        for ((what, end), want) in ends.iter().zip(cells) {
            let got = cell(end_status(status, end));
            assert_eq!(
                &got,
                *want,
                "{what} (timed out: {}) from {}",
                end.timed_out,
                status.name()
            );
        }
    }
}

fn end_status(status: JobStatus, e: &End) -> Option<JobStatus> {
    end(status, e, Some(60)).map(|ending| ending.to)
}

/// The reason and log line of each end, for a version not being stopped (being stopped, an
/// end records neither; not active, nothing at all).
#[test]
fn every_end_says_why() {
    let timeout = "stopped after exceeding max_runtime_seconds=60";
    let lost_log = "[trainyard] the job's processes vanished without an exit record: lost \
                    (its remaining processes were killed)";
    let want: [(Option<&str>, Option<&str>); 9] = [
        (None, None),
        (Some("worker 1 exited with code 3"), None),
        (Some("worker 0 was killed by signal 9"), None),
        (Some("worker 2 failed"), None),
        (None, None),
        (Some("cannot spawn"), None),
        (Some("cannot upload"), None),
        (Some("log too long"), None),
        (Some("processes vanished"), Some(lost_log)),
    ];
    let timeout_log = format!("[trainyard] {timeout}");
    for status in JobStatus::ALL {
        for (i, (what, e)) in ends().into_iter().enumerate() {
            let got = end(status, &e, Some(60));
            let Some(got) = got else {
                assert!(
                    !ENDS_FROM.contains(&status),
                    "{what} from {}",
                    status.name()
                );
                continue;
            };
            let (reason, log) = match (status, e.timed_out) {
                (JobStatus::KILLING, _) => (None, None),
                (_, true) => (Some(timeout), Some(timeout_log.as_str())),
                (_, false) => want[i % want.len()],
            };
            assert_eq!(
                got.reason.as_deref(),
                reason,
                "{what} from {}",
                status.name()
            );
            assert_eq!(got.log.as_deref(), log, "{what} from {}", status.name());
        }
    }
    // A run without a limit that is reported timed out anyway reads limit 0.
    let e = End {
        exit: Exit::Succeeded,
        timed_out: true,
    };
    let got = end(JobStatus::RUNNING, &e, None).expect("active");
    assert_eq!(
        got.reason.as_deref(),
        Some("stopped after exceeding max_runtime_seconds=0")
    );
}

#[test]
fn no_step_and_no_end_moves_a_terminal_status() {
    for status in JobStatus::TERMINAL.iter().copied() {
        for step in Step::ALL {
            assert_eq!(next(status, step), None, "{step:?} from {}", status.name());
        }
        for (what, e) in ends() {
            assert_eq!(end(status, &e, None), None, "{what} from {}", status.name());
        }
    }
}

#[test]
fn every_end_is_terminal_and_every_step_keeps_a_status_active() {
    for status in JobStatus::ALL {
        for (_, e) in ends() {
            if let Some(ending) = end(status, &e, None) {
                assert!(ending.to.is_terminal());
            }
        }
        for step in Step::ALL {
            if let Some(to) = next(status, step) {
                // Ends before a start: could not start, stopped, or a dependency never met.
                let failed = [
                    JobStatus::SUBMIT_FAILED,
                    JobStatus::KILLED,
                    JobStatus::CANCELED,
                ]
                .contains(&to);
                assert!(to.is_known() && (JobStatus::ACTIVE.contains(&to) || failed));
            }
        }
    }
}
