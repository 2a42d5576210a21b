//! The shim's signal handling: the signals it cares about are blocked and fetched
//! synchronously with `sigtimedwait`, so nothing is lost and nothing busy-polls.

use std::time::Duration;

use nix::sys::signal::{sigprocmask, SigHandler, SigSet, SigmaskHow, Signal};

/// The blocked set (SIGCHLD, SIGTERM, SIGINT) that [`Signals::wait`] waits on.
pub struct Signals {
    set: SigSet,
}

impl Signals {
    /// Resets the three signals to their default action and blocks them for the process.
    ///
    /// Must run before any child is spawned; the shim is single-threaded. Children get an
    /// empty mask again from `std::process::Command`.
    pub fn block() -> nix::Result<Self> {
        let mut set = SigSet::empty();
        for sig in [Signal::SIGCHLD, Signal::SIGTERM, Signal::SIGINT] {
            // SAFETY: installs the default disposition, no handler code runs. An inherited
            // SIG_IGN for SIGCHLD would make the kernel reap our children behind our back.
            unsafe { nix::sys::signal::signal(sig, SigHandler::SigDfl) }?;
            set.add(sig);
        }
        sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), None)?;
        Ok(Self { set })
    }

    /// Waits up to `timeout` for one of the blocked signals; `None` on timeout or interruption.
    pub fn wait(&self, timeout: Duration) -> Option<Signal> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: the set and timespec are valid for the call; a null siginfo pointer is allowed.
        let rc = unsafe { libc::sigtimedwait(self.set.as_ref(), std::ptr::null_mut(), &ts) };
        if rc < 0 {
            return None;
        }
        Signal::try_from(rc).ok()
    }
}
