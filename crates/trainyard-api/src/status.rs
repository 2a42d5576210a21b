//! The job status enum shared by training versions and visualization jobs (0..=22).

use serde::{Deserialize, Serialize};

/// A status code as on the wire (statuses-and-errors.md §1).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobStatus(pub i64);

impl JobStatus {
    /// 0: no version.
    pub const UNKNOWN: Self = Self(0);
    /// 1: initializing.
    pub const INIT: Self = Self(1);
    /// 4: being submitted to the executor.
    pub const SUBMIT_TRYING: Self = Self(4);
    /// 5: submission failed.
    pub const SUBMIT_FAILED: Self = Self(5);
    /// 7: queued for resources.
    pub const WAITING: Self = Self(7);
    /// 8: running.
    pub const RUNNING: Self = Self(8);
    /// 9: being stopped.
    pub const KILLING: Self = Self(9);
    /// 10: completed.
    pub const COMPLETED: Self = Self(10);
    /// 11: failed.
    pub const FAILED: Self = Self(11);
    /// 12: stopped.
    pub const KILLED: Self = Self(12);
    /// 14: processes vanished.
    pub const LOST: Self = Self(14);

    /// Pending: 1, 2, 4, 7.
    pub fn is_pending(self) -> bool {
        matches!(self.0, 1 | 2 | 4 | 7)
    }
    /// Running: 8, 15.
    pub fn is_running(self) -> bool {
        matches!(self.0, 8 | 15)
    }
    /// Stop (and stop-then-delete) is allowed.
    pub fn is_stoppable(self) -> bool {
        self.is_pending() || self.is_running()
    }
    /// Terminal for action checks (0 included).
    pub fn is_terminal(self) -> bool {
        matches!(
            self.0,
            0 | 3 | 5 | 6 | 10 | 11 | 12 | 13 | 14 | 16 | 17 | 20 | 21 | 22
        )
    }
    /// The documented name of every code, indexed by code (statuses-and-errors.md §1).
    pub const NAMES: [&'static str; 23] = [
        "UNKNOWN",
        "INIT",
        "IMAGE_CREATING",
        "IMAGE_FAILED",
        "SUBMIT_TRYING",
        "SUBMIT_FAILED",
        "DELETE_FAILED",
        "WAITING",
        "RUNNING",
        "KILLING",
        "COMPLETED",
        "FAILED",
        "KILLED",
        "CANCELED",
        "LOST",
        "SCALING",
        "SUBMIT_MODEL_FAILED",
        "DEPLOY_SERVICE_FAILED",
        "CHECK_INIT",
        "CHECK_RUNNING",
        "CHECK_RUNNING_COMPLETED",
        "CHECK_FAILED",
        "MOUNT_FAILED",
    ];

    /// The documented name (`RUNNING`), or `?` for an undocumented code.
    pub fn name(self) -> &'static str {
        usize::try_from(self.0)
            .ok()
            .and_then(|i| Self::NAMES.get(i))
            .copied()
            .unwrap_or("?")
    }

    /// A status from its name in any case (`running`, `RUNNING`) or its number (`8`).
    pub fn parse(text: &str) -> Option<Self> {
        let text = text.trim();
        if let Ok(n) = text.parse::<i64>() {
            return Some(Self(n)).filter(|s| s.is_known());
        }
        Self::NAMES
            .iter()
            .position(|n| n.eq_ignore_ascii_case(text))
            .map(|i| Self(i as i64))
    }

    /// Whether the value is one of the 23 documented codes.
    pub fn is_known(self) -> bool {
        (0..=22).contains(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::JobStatus;

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
