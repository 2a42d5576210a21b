//! Hang detection: samples and log sizes in, hung or not out; and the end a hung run records.

use crate::hang::{reason, Hung, Rule, Usage, Watch, DEFAULT_CPU_PERCENT};
use crate::status::{end, End, Exit, ENDS_FROM};
use trainyard_api::JobStatus;

const RULE: Rule = Rule {
    timeout_ms: 6_000,
    cpu_percent: DEFAULT_CPU_PERCENT,
};

fn idle(t: i64) -> Usage {
    Usage {
        t,
        cpu: 0.3,
        gpu: None,
    }
}

fn busy(t: i64) -> Usage {
    Usage {
        t,
        cpu: 97.0,
        gpu: None,
    }
}

/// Samples every second from `from` to `to` (inclusive), made by `f`.
fn every_second(from: i64, to: i64, f: fn(i64) -> Usage) -> Vec<Usage> {
    (from..=to).step_by(1000).map(f).collect()
}

#[test]
fn minutes_make_a_rule_and_nothing_else_does() {
    assert_eq!(Rule::of_minutes(0.1), Some(RULE));
    assert_eq!(Rule::of_minutes(2.0).unwrap().timeout_ms, 120_000);
    for none in [0.0, -1.0, f64::NAN, f64::INFINITY] {
        assert_eq!(Rule::of_minutes(none), None, "{none}");
    }
}

#[test]
fn a_silent_idle_run_is_hung_once_the_timeout_has_passed() {
    let mut w = Watch::new(RULE, 0, 0);
    let samples = every_second(1000, 5000, idle);
    assert_eq!(w.look(5000, 0, &samples), None);
    let samples = every_second(1000, 6000, idle);
    assert_eq!(w.look(6000, 0, &samples), Some(Hung { quiet_s: 6 }));
    assert_eq!(
        reason(Hung { quiet_s: 6 }),
        "hung: no output and no CPU for 6 s"
    );
}

#[test]
fn output_restarts_the_clock() {
    let mut w = Watch::new(RULE, 0, 0);
    // A line every second: never hung, however long.
    for t in (1000..60_000).step_by(1000) {
        let bytes = (t / 1000) as u64 * 10;
        assert_eq!(w.look(t, bytes, &every_second(1000, t, idle)), None, "{t}");
    }
    // Then silence: hung 6 s after the last line.
    let last = 59_000;
    let samples = every_second(1000, 70_000, idle);
    assert_eq!(w.look(64_000, 590, &samples), None);
    assert_eq!(
        w.look(last + 6_000, 590, &samples),
        Some(Hung { quiet_s: 6 })
    );
}

#[test]
fn a_busy_sample_restarts_the_clock() {
    let mut w = Watch::new(RULE, 0, 0);
    let mut samples = every_second(1000, 8000, idle);
    samples[3] = busy(4000);
    // Quiet since the busy sample at 4 s only.
    assert_eq!(w.look(8000, 0, &samples), None);
    samples.extend(every_second(9000, 10_000, idle));
    assert_eq!(w.look(10_000, 0, &samples), Some(Hung { quiet_s: 6 }));
    // A GPU at work counts as busy too.
    let mut w = Watch::new(RULE, 0, 0);
    let mut samples = every_second(1000, 7000, idle);
    samples[5].gpu = Some(80.0);
    assert_eq!(w.look(7000, 0, &samples), None);
}

#[test]
fn no_samples_no_verdict() {
    // Without a sample since the quiet began, idle CPU is not known: never hung.
    let mut w = Watch::new(RULE, 0, 0);
    assert_eq!(w.look(600_000, 0, &[]), None);
    // Old samples (before the quiet began) say nothing either.
    let mut w = Watch::new(RULE, 10_000, 0);
    assert_eq!(w.look(20_000, 0, &every_second(1000, 9000, idle)), None);
    assert_eq!(
        w.look(20_000, 0, &[idle(11_000)]),
        Some(Hung { quiet_s: 10 })
    );
}

#[test]
fn a_hung_run_fails_with_the_reason_unless_it_was_being_stopped() {
    let e = End {
        exit: Exit::Hung(Hung { quiet_s: 7 }),
        timed_out: false,
    };
    for status in JobStatus::ALL {
        let got = end(status, &e, None);
        if !ENDS_FROM.contains(&status) {
            assert_eq!(got, None);
            continue;
        }
        let got = got.unwrap();
        if status == JobStatus::KILLING {
            assert_eq!(got.to, JobStatus::KILLED);
            continue;
        }
        assert_eq!(got.to, JobStatus::FAILED);
        assert_eq!(
            got.reason.as_deref(),
            Some("hung: no output and no CPU for 7 s")
        );
        assert_eq!(
            got.log.as_deref(),
            Some("[trainyard] hung: no output and no CPU for 7 s: stopped")
        );
    }
}

/// A hung run that runs here is stopped; a queued or unknown one is left alone (its status is
/// not the hang detection's to change).
#[test]
fn a_hung_run_is_stopped_only_when_it_runs_here() {
    use super::utils::{core, res, schedule};
    use crate::reactor::{on_enqueue, on_hung};
    use crate::{Decision, Place};
    use std::time::Duration;
    let (mut core, mut comm) = core();
    on_enqueue(
        &mut core,
        &mut comm,
        1,
        Place::Here(res(1, 1, 0)),
        false,
        10,
    );
    on_enqueue(
        &mut core,
        &mut comm,
        2,
        Place::Here(res(100, 1, 0)),
        false,
        20,
    );
    schedule(&mut core, &mut comm);
    while comm.pop().is_some() {}
    let grace = Duration::from_secs(3);
    on_hung(&mut core, &mut comm, 1, grace);
    assert_eq!(
        comm.pop(),
        Some(Decision::StopRun {
            id: 1,
            route: 10,
            grace
        })
    );
    on_hung(&mut core, &mut comm, 2, grace);
    on_hung(&mut core, &mut comm, 99, grace);
    assert!(comm.is_empty());
    core.check().unwrap();
}

/// A hung attempt is retried with `on_hang` or `on_any_failure`, never otherwise, and at most
/// `max_consecutive_any` times in a row.
#[test]
fn a_hung_attempt_is_retried_under_on_hang_or_on_any_failure() {
    use crate::retry::{decide, Cause, Used};
    use trainyard_api::training::RetryPolicy;
    let e = End {
        exit: Exit::Hung(Hung { quiet_s: 7 }),
        timed_out: false,
    };
    let used = Used {
        attempt: 1,
        consecutive_any: 0,
    };
    let codes = RetryPolicy {
        max_retries: Some(2),
        on_exit_codes: Some(vec![3]),
        ..Default::default()
    };
    assert_eq!(
        decide(Some(&codes), JobStatus::RUNNING, &e, &[], used),
        None
    );
    let any = RetryPolicy {
        max_retries: Some(2),
        on_any_failure: Some(true),
        ..Default::default()
    };
    let retry = decide(Some(&any), JobStatus::RUNNING, &e, &[], used).unwrap();
    assert_eq!(retry.cause, Cause::Hang);
    assert_eq!(retry.reason, "hung: no output and no CPU for 7 s");
    assert_eq!((retry.next_attempt, retry.consecutive_any), (2, 1));
    let hang = RetryPolicy {
        max_retries: Some(5),
        on_hang: Some(true),
        max_consecutive_any: Some(3),
        ..Default::default()
    };
    let retry = decide(Some(&hang), JobStatus::RUNNING, &e, &[], used).unwrap();
    assert_eq!((retry.cause, retry.consecutive_any), (Cause::Hang, 1));
    // `on_hang` alone does not retry an exit code.
    let failed = End {
        exit: Exit::Failed {
            worker: 0,
            exit_code: Some(1),
            signal: None,
        },
        timed_out: false,
    };
    assert_eq!(
        decide(Some(&hang), JobStatus::RUNNING, &failed, &[], used),
        None
    );
    let third_in_a_row = Used {
        attempt: 4,
        consecutive_any: 3,
    };
    assert_eq!(
        decide(Some(&hang), JobStatus::RUNNING, &e, &[], third_in_a_row),
        None
    );
}
