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
    /// Whether the value is one of the 23 documented codes.
    pub fn is_known(self) -> bool {
        (0..=22).contains(&self.0)
    }
}
