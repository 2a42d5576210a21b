//! Admission and recovery for every status, and the time and stop limits.

use super::utils::rows;
use crate::run::{
    admit, handed_over, recover, stop_grace, stopping, time_left, Admission, Recovery, HANDOVER_MS,
    MAY_RUN, QUEUED,
};
use std::time::Duration;
use trainyard_api::JobStatus;

/// Whether the executor takes a version, for every status (rows) and every situation
/// (columns): a lone server, then a shared database with the version young or old, its run
/// directory there (`dir`) or not. `Q` queue, `I` ignore, `L` leave to its creator.
const ADMISSION: &str = "
#     lone  lone   young  young  old  old
#     dir   -      dir    -      dir  -
0     I     I      I      I      I    I
1     Q     Q      Q      L      Q    Q
2     Q     Q      Q      Q      Q    Q
3     I     I      I      I      I    I
4     Q     Q      Q      Q      Q    Q
5     I     I      I      I      I    I
6     I     I      I      I      I    I
7     Q     Q      Q      Q      Q    Q
8     I     I      I      I      I    I
9     I     I      I      I      I    I
10    I     I      I      I      I    I
11    I     I      I      I      I    I
12    I     I      I      I      I    I
13    I     I      I      I      I    I
14    I     I      I      I      I    I
15    I     I      I      I      I    I
16    I     I      I      I      I    I
17    I     I      I      I      I    I
18    I     I      I      I      I    I
19    I     I      I      I      I    I
20    I     I      I      I      I    I
21    I     I      I      I      I    I
22    I     I      I      I      I    I
";

#[test]
fn admission_of_every_status() {
    let situations = [
        (false, 0, true),
        (false, 0, false),
        (true, HANDOVER_MS - 1, true),
        (true, HANDOVER_MS - 1, false),
        (true, HANDOVER_MS, true),
        (true, HANDOVER_MS, false),
    ];
    let table = rows(ADMISSION);
    assert_eq!(table.len(), JobStatus::ALL.len());
    for ((name, cells), status) in table.iter().zip(JobStatus::ALL) {
        assert_eq!(*name, status.code().to_string());
        assert_eq!(cells.len(), situations.len());
        for ((shared, age, dir), want) in situations.into_iter().zip(cells) {
            let got = match admit(status, shared, age, || dir) {
                Admission::Queue => "Q",
                Admission::Ignore => "I",
                Admission::LeaveToCreator => "L",
            };
            assert_eq!(
                got,
                *want,
                "{} shared={shared} age={age} dir={dir}",
                status.name()
            );
        }
    }
}

#[test]
fn admission_looks_at_the_run_directory_only_when_it_matters() {
    for status in JobStatus::ALL {
        for (shared, age) in [(false, 0), (true, 0), (true, HANDOVER_MS)] {
            let mut asked = false;
            admit(status, shared, age, || {
                asked = true;
                true
            });
            let matters = shared && status == JobStatus::INIT && age < HANDOVER_MS;
            assert_eq!(asked, matters, "{}", status.name());
        }
    }
}

/// What becomes of a run after a restart, for every status its version may be in (found by
/// its backend, not found). Only [`MAY_RUN`]'s statuses are asked about.
const RECOVERY: &str = "
#    found   not-found
4    F       R
8    F       R
15   F       R
9    F       S
";

#[test]
fn recovery_of_every_status() {
    let table = rows(RECOVERY);
    assert_eq!(table.len(), MAY_RUN.len());
    for ((name, cells), status) in table.iter().zip(MAY_RUN) {
        assert_eq!(*name, status.code().to_string());
        for (found, want) in [true, false].into_iter().zip(cells) {
            let got = match recover(*status, found) {
                Recovery::Follow => "F",
                Recovery::StoppedBeforeStart => "S",
                Recovery::Requeue => "R",
            };
            assert_eq!(got, *want, "{} found={found}", status.name());
        }
    }
    // Every other status: a found run is followed; one not found is queued again, but for a
    // version being stopped.
    for status in JobStatus::ALL {
        assert_eq!(recover(status, true), Recovery::Follow);
        let lost = recover(status, false);
        assert_eq!(
            lost == Recovery::StoppedBeforeStart,
            status == JobStatus::KILLING
        );
    }
    // The recovered sets do not overlap, and neither holds a terminal status.
    for s in MAY_RUN.iter().chain(QUEUED) {
        assert!(!s.is_terminal());
        assert!(!(MAY_RUN.contains(s) && QUEUED.contains(s)));
    }
}

#[test]
fn stop_grace_of_every_status() {
    assert_eq!(stop_grace(None), Duration::ZERO);
    assert_eq!(stop_grace(Some(-5)), Duration::ZERO);
    assert_eq!(stop_grace(Some(7)), Duration::from_secs(7));
    for status in JobStatus::ALL {
        let want = (status == JobStatus::KILLING).then(|| Duration::from_secs(3));
        assert_eq!(stopping(status, Some(3)), want, "{}", status.name());
    }
}

#[test]
fn time_left_counts_from_the_start() {
    let s = Duration::from_secs;
    assert_eq!(time_left(None, Some(0), 10_000), None);
    assert_eq!(time_left(Some(-1), Some(0), 10_000), None);
    assert_eq!(time_left(Some(60), Some(0), 10_000), Some(s(50)));
    assert_eq!(time_left(Some(60), None, 10_000), Some(s(60)));
    assert_eq!(time_left(Some(5), Some(0), 10_000), Some(Duration::ZERO));
    // A start in the future (clocks) leaves the whole limit.
    assert_eq!(time_left(Some(60), Some(20_000), 10_000), Some(s(60)));
    assert_eq!(
        time_left(Some(60), Some(i64::MIN), i64::MAX),
        Some(Duration::ZERO)
    );
}

#[test]
fn only_a_waiting_version_with_a_backend_job_was_handed_over() {
    for code in 0..=22 {
        let status = JobStatus::from_code(code);
        assert!(!handed_over(status, false), "{}", status.name());
        assert_eq!(
            handed_over(status, true),
            status == JobStatus::WAITING,
            "{}",
            status.name()
        );
    }
    // What is handed over is neither queued again nor looked for as running: it is followed
    // because the recovery asks for it by name.
    assert!(QUEUED.contains(&JobStatus::WAITING) && !MAY_RUN.contains(&JobStatus::WAITING));
}
