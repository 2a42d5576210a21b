//! The job status enum shared by training versions and visualization jobs (0..=22).

use serde::{Deserialize, Serialize};

/// A status code as on the wire (the table is in `docs/api.md`): an integer, kept private so
/// that code names statuses ([`JobStatus::RUNNING`]) and sets ([`JobStatus::ACTIVE`]) rather
/// than numbers. [`JobStatus::from_code`] reads one from the wire or a database row,
/// [`JobStatus::code`] gives the number back.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobStatus(i64);

/// Declares every documented status once: its constant, its wire name, and [`JobStatus::ALL`].
macro_rules! statuses {
    ($($(#[$doc:meta])* $name:ident = $code:literal, $wire:literal;)*) => {
        impl JobStatus {
            $($(#[$doc])* pub const $name: Self = Self($code);)*

            /// All 23 documented statuses, in code order.
            pub const ALL: [Self; 23] = [$(Self::$name),*];

            /// The short name of every code (`RUNNING`), indexed by code.
            pub const NAMES: [&'static str; 23] = [$(stringify!($name)),*];

            /// The documented wire name (`JOBSTAT_RUNNING`, ...); `None` for an undocumented
            /// code.
            pub fn wire_name(self) -> Option<&'static str> {
                match self.0 {
                    $($code => Some($wire),)*
                    _ => None,
                }
            }
        }
    };
}

statuses! {
    /// 0: status unknown (a job created without a version).
    UNKNOWN = 0, "JOBSTAT_UNKNOWN";
    /// 1: initializing.
    INIT = 1, "JOBSTAT_INIT";
    /// 2: the job's image is being built.
    IMAGE_CREATING = 2, "JOBSTAT_IMAGE_CREATING";
    /// 3: building the image failed.
    IMAGE_FAILED = 3, "JOBSTAT_IMAGE_FAILED";
    /// 4: being submitted to the executor.
    SUBMIT_TRYING = 4, "JOBSTAT_SUBMIT_TRYING";
    /// 5: submission failed.
    SUBMIT_FAILED = 5, "JOBSTAT_SUBMIT_FAILED";
    /// 6: deletion failed.
    DELETE_FAILED = 6, "JOBSTAT_DELETE_FAILED";
    /// 7: queued for resources.
    WAITING = 7, "JOBSTAT_WAITING";
    /// 8: running.
    RUNNING = 8, "JOBSTAT_RUNNING";
    /// 9: being stopped.
    KILLING = 9, "JOBSTAT_KILLING";
    /// 10: completed.
    COMPLETED = 10, "JOBSTAT_COMPLETED";
    /// 11: failed.
    FAILED = 11, "JOBSTAT_FAILED";
    /// 12: stopped.
    KILLED = 12, "JOBSTAT_KILLED";
    /// 13: cancelled.
    CANCELED = 13, "JOBSTAT_CANCELED";
    /// 14: lost: its processes vanished.
    LOST = 14, "JOBSTAT_LOST";
    /// 15: being scaled (running).
    SCALING = 15, "JOBSTAT_SCALING";
    /// 16: submitting the model failed.
    SUBMIT_MODEL_FAILED = 16, "JOBSTAT_SUBMIT_MODEL_FAILED";
    /// 17: deploying the service failed.
    DEPLOY_SERVICE_FAILED = 17, "JOBSTAT_DEPLOY_SERVICE_FAILED";
    /// 18: review job initializing.
    CHECK_INIT = 18, "JOBSTAT_CHECK_INIT";
    /// 19: review job running.
    CHECK_RUNNING = 19, "JOBSTAT_CHECK_RUNNING";
    /// 20: review job completed.
    CHECK_RUNNING_COMPLETED = 20, "JOBSTAT_CHECK_RUNNING_COMPLETED";
    /// 21: review job failed.
    CHECK_FAILED = 21, "JOBSTAT_CHECK_FAILED";
    /// 22: mounting a volume failed.
    MOUNT_FAILED = 22, "MOUNT_FAILED";
}

impl JobStatus {
    /// The status of a code read from the wire or a store (an undocumented code included:
    /// [`JobStatus::is_known`] tells).
    pub const fn from_code(code: i64) -> Self {
        Self(code)
    }

    /// The code, as on the wire and in the stores.
    pub const fn code(self) -> i64 {
        self.0
    }

    /// Queued: waiting for the executor's capacity (1, 7).
    pub const QUEUED: &'static [Self] = &[Self::INIT, Self::WAITING];
    /// Pending: waiting to run (1, 2, 4, 7).
    pub const PENDING: &'static [Self] = &[
        Self::INIT,
        Self::IMAGE_CREATING,
        Self::SUBMIT_TRYING,
        Self::WAITING,
    ];
    /// In progress: running or scaling (8, 15).
    pub const IN_PROGRESS: &'static [Self] = &[Self::RUNNING, Self::SCALING];
    /// Stoppable: pending or in progress; a stop (or a delete) moves these to 9.
    pub const STOPPABLE: &'static [Self] = &[
        Self::INIT,
        Self::IMAGE_CREATING,
        Self::SUBMIT_TRYING,
        Self::WAITING,
        Self::RUNNING,
        Self::SCALING,
    ];
    /// Active for the executor: stoppable or being stopped; a run in one of these may own
    /// processes, so its end is recorded from any of them.
    pub const ACTIVE: &'static [Self] = &[
        Self::INIT,
        Self::IMAGE_CREATING,
        Self::SUBMIT_TRYING,
        Self::WAITING,
        Self::RUNNING,
        Self::SCALING,
        Self::KILLING,
    ];
    /// Terminal: the run is over (0 counts as terminal for action checks).
    pub const TERMINAL: &'static [Self] = &[
        Self::UNKNOWN,
        Self::IMAGE_FAILED,
        Self::SUBMIT_FAILED,
        Self::DELETE_FAILED,
        Self::COMPLETED,
        Self::FAILED,
        Self::KILLED,
        Self::CANCELED,
        Self::LOST,
        Self::SUBMIT_MODEL_FAILED,
        Self::DEPLOY_SERVICE_FAILED,
        Self::CHECK_RUNNING_COMPLETED,
        Self::CHECK_FAILED,
        Self::MOUNT_FAILED,
    ];

    /// Pending: in [`Self::PENDING`].
    pub fn is_pending(self) -> bool {
        Self::PENDING.contains(&self)
    }
    /// Running: in [`Self::IN_PROGRESS`].
    pub fn is_running(self) -> bool {
        Self::IN_PROGRESS.contains(&self)
    }
    /// Stop (and stop-then-delete) is allowed: in [`Self::STOPPABLE`].
    pub fn is_stoppable(self) -> bool {
        Self::STOPPABLE.contains(&self)
    }
    /// Terminal for action checks: in [`Self::TERMINAL`].
    pub fn is_terminal(self) -> bool {
        Self::TERMINAL.contains(&self)
    }
    /// The short name (`RUNNING`), or `?` for an undocumented code.
    pub fn name(self) -> &'static str {
        usize::try_from(self.0)
            .ok()
            .and_then(|i| Self::NAMES.get(i))
            .copied()
            .unwrap_or("?")
    }

    /// Whether the value is one of the 23 documented codes.
    pub fn is_known(self) -> bool {
        self.wire_name().is_some()
    }

    /// A status by its documented name (`JOBSTAT_RUNNING`), its short form (`running`,
    /// any case) or its code (`8`).
    pub fn parse(text: &str) -> Option<Self> {
        let t = text.trim();
        if let Ok(code) = t.parse::<i64>() {
            return Some(Self(code)).filter(|s| s.is_known());
        }
        Self::ALL.into_iter().find(|s| {
            s.name().eq_ignore_ascii_case(t)
                || s.wire_name().is_some_and(|w| w.eq_ignore_ascii_case(t))
        })
    }
}

/// A set of statuses as the inside of an SQL `IN (...)`, so stores filter on the named sets
/// rather than on numbers of their own.
pub fn sql_list(set: &[JobStatus]) -> String {
    set.iter()
        .map(|s| s.0.to_string())
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    use super::JobStatus;

    #[test]
    fn every_status_is_named_and_in_exactly_one_class() {
        assert_eq!(JobStatus::ALL.len(), 23);
        for (code, s) in JobStatus::ALL.iter().enumerate() {
            assert_eq!(s.0, code as i64);
            let classes = [
                s.is_pending(),
                s.is_running(),
                s.is_terminal(),
                *s == JobStatus::KILLING,
                [18, 19].contains(&s.0),
            ];
            assert_eq!(classes.iter().filter(|c| **c).count(), 1, "{s:?}");
            assert_eq!(JobStatus::parse(s.wire_name().unwrap()), Some(*s));
            assert_eq!(JobStatus::parse(s.name()), Some(*s));
            assert_eq!(JobStatus::parse(&code.to_string()), Some(*s));
        }
        assert_eq!(JobStatus::parse("running"), Some(JobStatus::RUNNING));
        assert_eq!(
            JobStatus::parse("Mount_Failed"),
            Some(JobStatus::MOUNT_FAILED)
        );
        assert_eq!(JobStatus::parse("23"), None);
        assert_eq!(JobStatus::parse("sleeping"), None);
    }

    #[test]
    fn names_and_numbers_parse() {
        assert_eq!(JobStatus::parse("running"), Some(JobStatus::RUNNING));
        assert_eq!(JobStatus::parse("KILLED"), Some(JobStatus::KILLED));
        assert_eq!(JobStatus::parse("10"), Some(JobStatus::COMPLETED));
        assert_eq!(JobStatus::parse("99"), None);
        assert_eq!(JobStatus::parse("sleeping"), None);
        assert_eq!(JobStatus::LOST.name(), "LOST");
        assert_eq!(JobStatus(99).name(), "?");
    }
}
