//! The retry decision: each rule of `retry::decide`, the pauses and the policy checks.

use crate::retry::{self, Cause, Used};
use crate::status::{End, Exit};
use std::time::Duration;
use trainyard_api::training::RetryPolicy;
use trainyard_api::JobStatus;

const RUNNING: JobStatus = JobStatus::RUNNING;

fn policy(max: i64) -> RetryPolicy {
    RetryPolicy {
        max_retries: Some(max),
        on_exit_codes: Some(vec![3]),
        backoff_seconds: Some(2),
        ..RetryPolicy::default()
    }
}

fn exit(code: i32) -> End {
    End {
        exit: Exit::Failed {
            worker: 1,
            exit_code: Some(code),
            signal: None,
        },
        timed_out: false,
    }
}

fn ended(exit: Exit) -> End {
    End {
        exit,
        timed_out: false,
    }
}

fn first() -> Used {
    Used {
        attempt: 1,
        consecutive_any: 0,
    }
}

#[test]
fn a_listed_exit_code_is_retried_and_another_is_not() {
    let p = policy(2);
    let r = retry::decide(Some(&p), RUNNING, &exit(3), &[], first()).expect("retried");
    assert_eq!(r.next_attempt, 2);
    assert_eq!(r.cause, Cause::ExitCode);
    assert_eq!(r.delay, Duration::from_secs(2));
    assert_eq!(r.reason, "worker 1 exited with code 3");
    assert_eq!(
        r.log_line(2),
        "[trainyard] attempt 1 of 3 failed (worker 1 exited with code 3); attempt 2 starts in 2 s"
    );
    assert_eq!(
        retry::decide(Some(&p), RUNNING, &exit(4), &[], first()),
        None
    );
}

#[test]
fn no_policy_or_zero_retries_never_retries() {
    assert_eq!(retry::decide(None, RUNNING, &exit(3), &[], first()), None);
    assert_eq!(
        retry::decide(Some(&policy(0)), RUNNING, &ended(Exit::Lost), &[], first()),
        None
    );
    assert_eq!(
        retry::decide(
            Some(&RetryPolicy::default()),
            RUNNING,
            &ended(Exit::Lost),
            &[],
            first()
        ),
        None
    );
}

#[test]
fn retries_end_when_the_budget_is_used() {
    let p = policy(2);
    let second = Used {
        attempt: 2,
        consecutive_any: 0,
    };
    let r = retry::decide(Some(&p), RUNNING, &exit(3), &[], second).expect("a second retry");
    assert_eq!(r.next_attempt, 3);
    assert_eq!(r.delay, Duration::from_secs(4), "doubled");
    let third = Used {
        attempt: 3,
        consecutive_any: 0,
    };
    assert_eq!(retry::decide(Some(&p), RUNNING, &exit(3), &[], third), None);
}

#[test]
fn lost_runs_and_signals_are_always_retried_while_attempts_are_left() {
    let p = RetryPolicy {
        max_retries: Some(1),
        ..RetryPolicy::default()
    };
    let r = retry::decide(Some(&p), RUNNING, &ended(Exit::Lost), &[], first()).expect("lost");
    assert_eq!(r.cause, Cause::Lost);
    assert_eq!(
        r.delay,
        Duration::from_secs(retry::DEFAULT_BACKOFF_SECONDS as u64)
    );
    let killed = ended(Exit::Failed {
        worker: 0,
        exit_code: None,
        signal: Some(9),
    });
    let r = retry::decide(Some(&p), RUNNING, &killed, &[], first()).expect("killed");
    assert_eq!(r.cause, Cause::Lost);
    assert_eq!(r.reason, "worker 0 was killed by signal 9");
}

#[test]
fn stops_timeouts_and_failed_starts_are_never_retried() {
    let p = RetryPolicy {
        max_retries: Some(5),
        on_any_failure: Some(true),
        ..RetryPolicy::default()
    };
    // A stop asked for: the version is 9 whatever the workers did.
    assert_eq!(
        retry::decide(
            Some(&p),
            JobStatus::KILLING,
            &ended(Exit::Lost),
            &[],
            first()
        ),
        None
    );
    assert_eq!(
        retry::decide(Some(&p), JobStatus::KILLING, &exit(3), &[], first()),
        None
    );
    let timed_out = End {
        exit: Exit::Stopped,
        timed_out: true,
    };
    assert_eq!(
        retry::decide(Some(&p), RUNNING, &timed_out, &[], first()),
        None
    );
    for exit in [
        Exit::Succeeded,
        Exit::Stopped,
        Exit::SpawnFailed("no such file".into()),
        Exit::UploadFailed("bucket gone".into()),
        Exit::LogLimit("log cap".into()),
    ] {
        assert_eq!(
            retry::decide(Some(&p), RUNNING, &ended(exit), &[], first()),
            None
        );
    }
}

#[test]
fn a_log_pattern_matches_the_last_lines() {
    let p = RetryPolicy {
        max_retries: Some(1),
        on_log_pattern: Some("NCCL (timeout|error)".into()),
        ..RetryPolicy::default()
    };
    let tail = vec!["step 7".to_owned(), "RuntimeError: NCCL timeout".to_owned()];
    let r = retry::decide(Some(&p), RUNNING, &exit(1), &tail, first()).expect("matched");
    assert_eq!(r.cause, Cause::LogPattern);
    let other = vec!["ValueError".to_owned()];
    assert_eq!(
        retry::decide(Some(&p), RUNNING, &exit(1), &other, first()),
        None
    );
}

#[test]
fn any_failure_is_limited_to_consecutive_retries() {
    let p = RetryPolicy {
        max_retries: Some(8),
        on_any_failure: Some(true),
        max_consecutive_any: Some(3),
        ..RetryPolicy::default()
    };
    let mut used = first();
    for n in 1..=3 {
        let r = retry::decide(Some(&p), RUNNING, &exit(1), &[], used).expect("unconditional");
        assert_eq!((r.cause, r.consecutive_any), (Cause::AnyFailure, n));
        used = Used {
            attempt: r.next_attempt,
            consecutive_any: r.consecutive_any,
        };
    }
    assert_eq!(retry::decide(Some(&p), RUNNING, &exit(1), &[], used), None);
    // A lost run is still retried, and resets the count.
    let r = retry::decide(Some(&p), RUNNING, &ended(Exit::Lost), &[], used).expect("lost");
    assert_eq!(r.consecutive_any, 0);
    // A listed code neither counts nor is limited.
    let coded = RetryPolicy {
        on_exit_codes: Some(vec![1]),
        ..p.clone()
    };
    let r = retry::decide(Some(&coded), RUNNING, &exit(1), &[], used).expect("listed");
    assert_eq!((r.cause, r.consecutive_any), (Cause::ExitCode, 3));
}

#[test]
fn pauses_double_up_to_the_cap() {
    let p = RetryPolicy {
        backoff_seconds: Some(1000),
        ..RetryPolicy::default()
    };
    assert_eq!(retry::delay(&p, 2), Duration::from_secs(1000));
    assert_eq!(retry::delay(&p, 3), Duration::from_secs(2000));
    assert_eq!(retry::delay(&p, 4), retry::BACKOFF_CAP);
    assert_eq!(retry::delay(&p, 200), retry::BACKOFF_CAP);
    let none = RetryPolicy {
        backoff_seconds: Some(0),
        ..RetryPolicy::default()
    };
    assert_eq!(retry::delay(&none, 5), Duration::ZERO);
}

#[test]
fn invalid_policies_are_named() {
    let bad = |p: RetryPolicy| retry::invalid(&p).expect("invalid");
    assert!(bad(RetryPolicy {
        max_retries: Some(129),
        ..Default::default()
    })
    .contains("max_retries:129"));
    assert!(bad(RetryPolicy {
        backoff_seconds: Some(-1),
        ..Default::default()
    })
    .contains("backoff_seconds:-1"));
    assert!(bad(RetryPolicy {
        on_log_pattern: Some("(".into()),
        ..Default::default()
    })
    .contains("on_log_pattern"));
    assert!(bad(RetryPolicy {
        max_consecutive_any: Some(0),
        ..Default::default()
    })
    .contains("max_consecutive_any"));
    assert_eq!(retry::invalid(&policy(2)), None);
}
