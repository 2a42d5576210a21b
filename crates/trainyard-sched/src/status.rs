//! The status decisions of a version's run: which status each step of its life moves it
//! from and to, and which status and reason its end gives it. The lifecycle owner carries
//! each move out as a compare-and-set in the store, so a race (a stop against an end) is
//! settled by the database; these tables only say what may happen.

use trainyard_api::JobStatus;

/// A compare-and-set of a version's status: when it is one of `from`, it becomes `to`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Move {
    /// The statuses the move applies to.
    pub from: &'static [JobStatus],
    /// The status it leaves.
    pub to: JobStatus,
}

/// A step of a run's life before its end, as its lifecycle owner records it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Step {
    /// The executor picks it to run: 1 or 7 -> 4.
    BeginStart,
    /// It waits behind others for this host's capacity: 1 -> 7.
    MarkWaiting,
    /// Its workers were launched: 4 -> 8; when it was stopped meanwhile, it stays 9 (with
    /// the run's handle, so that the stop reaches the run).
    Launched,
    /// Its backend queued it (Slurm): 4 -> 7; stopped meanwhile, it stays 9 as for
    /// [`Step::Launched`].
    Submitted,
    /// It was seen running (a Slurm job left the queue): 7 or 4 -> 8.
    SeenRunning,
    /// It could not be started: 1 or 4 (or 8, a next attempt) -> 5, or 9 -> 12 when it was
    /// being stopped.
    StartFailed,
    /// After a restart, nothing of it had started: 4 or 8 -> 1, to be started again.
    Requeue,
    /// A user (or a delete) stops it: pending or running -> 9.
    BeginStop,
    /// It was stopped before anything of it ran: 9 -> 12.
    StoppedBeforeStart,
    /// Its attempt failed and is retried ([`crate::retry`]): a running or starting version
    /// stays (or becomes) 8 until its next attempt; one being stopped is not retried.
    RetryScheduled,
    /// The workers of its next attempt were launched or submitted: it stays 8; stopped
    /// meanwhile, it stays 9 (with the handle, as for [`Step::Launched`]).
    Relaunched,
    /// A run it depends on ended in a way that never lets it start ([`crate::dep`]): 1 or 7
    /// -> 13 (cancelled: it never ran, and nobody stopped it).
    DependencyNeverMet,
}

impl Step {
    /// Every step, for tables.
    pub const ALL: [Step; 12] = [
        Step::BeginStart,
        Step::MarkWaiting,
        Step::Launched,
        Step::Submitted,
        Step::SeenRunning,
        Step::StartFailed,
        Step::Requeue,
        Step::BeginStop,
        Step::StoppedBeforeStart,
        Step::RetryScheduled,
        Step::Relaunched,
        Step::DependencyNeverMet,
    ];

    /// The moves the step tries, in order; the first whose `from` holds the version's status
    /// applies, and none applies to a status in none of them.
    pub fn moves(self) -> &'static [Move] {
        use JobStatus as S;
        const KEEP_STOP: Move = Move {
            from: &[S::KILLING],
            to: S::KILLING,
        };
        match self {
            Step::BeginStart => &[Move {
                from: &[S::INIT, S::WAITING],
                to: S::SUBMIT_TRYING,
            }],
            Step::MarkWaiting => &[Move {
                from: &[S::INIT],
                to: S::WAITING,
            }],
            Step::Launched => &[
                Move {
                    from: &[S::SUBMIT_TRYING],
                    to: S::RUNNING,
                },
                KEEP_STOP,
            ],
            Step::Submitted => &[
                Move {
                    from: &[S::SUBMIT_TRYING],
                    to: S::WAITING,
                },
                KEEP_STOP,
            ],
            Step::SeenRunning => &[Move {
                from: &[S::WAITING, S::SUBMIT_TRYING],
                to: S::RUNNING,
            }],
            Step::StartFailed => &[
                Move {
                    from: &[S::INIT, S::SUBMIT_TRYING, S::RUNNING],
                    to: S::SUBMIT_FAILED,
                },
                Move {
                    from: &[S::KILLING],
                    to: S::KILLED,
                },
            ],
            Step::Requeue => &[Move {
                from: &[S::SUBMIT_TRYING, S::RUNNING],
                to: S::INIT,
            }],
            Step::BeginStop => &[Move {
                from: JobStatus::STOPPABLE,
                to: S::KILLING,
            }],
            Step::StoppedBeforeStart => &[Move {
                from: &[S::KILLING],
                to: S::KILLED,
            }],
            Step::RetryScheduled => &[Move {
                from: &[S::SUBMIT_TRYING, S::WAITING, S::RUNNING, S::SCALING],
                to: S::RUNNING,
            }],
            Step::Relaunched => &[
                Move {
                    from: &[S::RUNNING],
                    to: S::RUNNING,
                },
                KEEP_STOP,
            ],
            Step::DependencyNeverMet => &[Move {
                from: &[S::INIT, S::WAITING],
                to: S::CANCELED,
            }],
        }
    }

    /// The step's first (and usually only) move.
    pub fn first(self) -> Move {
        self.moves()[0]
    }

    /// The move after the first: the fallback of a step that has one.
    pub fn fallback(self) -> Option<Move> {
        self.moves().get(1).copied()
    }
}

/// The status `step` leaves a version in `status` in; `None` when it does not apply.
pub fn next(status: JobStatus, step: Step) -> Option<JobStatus> {
    step.moves()
        .iter()
        .find(|m| m.from.contains(&status))
        .map(|m| m.to)
}

/// How a run's workers ended, as its backend reported it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Exit {
    /// Every worker exited with code 0.
    Succeeded,
    /// A worker failed; this is the first one that did.
    Failed {
        /// Its index.
        worker: usize,
        /// Its exit code, when it exited.
        exit_code: Option<i32>,
        /// Its signal, when it was killed.
        signal: Option<i32>,
    },
    /// A stop was asked for (SIGTERM to its supervisor).
    Stopped,
    /// A worker could not be started.
    SpawnFailed(String),
    /// The workers succeeded but their output could not be uploaded.
    UploadFailed(String),
    /// A worker's log reached its cap and the run was stopped for it.
    LogLimit(String),
    /// Lost: its supervisor vanished without an exit record (what it left was killed).
    Lost,
    /// Stopped by the server as hung: no output and no CPU for a while
    /// ([`crate::hang`]); the workers' own exit (killed by the stop) does not count.
    Hung(crate::hang::Hung),
}

/// How a run ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct End {
    /// How its workers ended.
    pub exit: Exit,
    /// Its backend stopped it for exceeding its time limit.
    pub timed_out: bool,
}

/// What the end of a run records.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ending {
    /// The version's terminal status.
    pub to: JobStatus,
    /// Its failure reason, if any.
    pub reason: Option<String>,
    /// A line for worker 0's log, if any.
    pub log: Option<String>,
}

/// The statuses an end is recorded from: a run in any of them may own processes. The move
/// is made from all of them whatever status the decision saw, so an end that races a stop
/// is still recorded.
pub const ENDS_FROM: &[JobStatus] = JobStatus::ACTIVE;

/// What the end of a run whose version is in `status` records: a version being stopped is
/// stopped (12) however its run ended; else a run over its time limit (`max_runtime_seconds`)
/// failed; else its exit says. `None` when the version is not active: it ended before, and
/// nothing changes.
pub fn end(status: JobStatus, end: &End, max_runtime_seconds: Option<i64>) -> Option<Ending> {
    if !ENDS_FROM.contains(&status) {
        return None;
    }
    let ending = |to, reason: Option<String>, log| Some(Ending { to, reason, log });
    if status == JobStatus::KILLING {
        return ending(JobStatus::KILLED, None, None);
    }
    if end.timed_out {
        let limit = max_runtime_seconds.unwrap_or_default();
        let reason = format!("stopped after exceeding max_runtime_seconds={limit}");
        let log = format!("[trainyard] {reason}");
        return ending(JobStatus::FAILED, Some(reason), Some(log));
    }
    match &end.exit {
        Exit::Succeeded => ending(JobStatus::COMPLETED, None, None),
        Exit::Failed {
            worker,
            exit_code,
            signal,
        } => {
            let what = match (exit_code, signal) {
                (Some(c), _) => format!("exited with code {c}"),
                (None, Some(s)) => format!("was killed by signal {s}"),
                (None, None) => "failed".to_owned(),
            };
            ending(
                JobStatus::FAILED,
                Some(format!("worker {worker} {what}")),
                None,
            )
        }
        Exit::SpawnFailed(message) | Exit::UploadFailed(message) | Exit::LogLimit(message) => {
            ending(JobStatus::FAILED, Some(message.clone()), None)
        }
        Exit::Stopped => ending(JobStatus::KILLED, None, None),
        Exit::Hung(hung) => {
            let reason = crate::hang::reason(*hung);
            let log = format!("[trainyard] {reason}: stopped");
            ending(JobStatus::FAILED, Some(reason), Some(log))
        }
        Exit::Lost => ending(
            JobStatus::LOST,
            Some("processes vanished".to_owned()),
            Some(
                "[trainyard] the job's processes vanished without an exit record: lost \
                 (its remaining processes were killed)"
                    .to_owned(),
            ),
        ),
    }
}
