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
    /// With the signal comes the value it was queued with (`sigqueue`), if it was: a stop
    /// request's grace in seconds (see [`crate::request_stop`]).
    pub fn wait(&self, timeout: Duration) -> Option<(Signal, Option<u64>)> {
        let ts = libc::timespec {
            tv_sec: timeout.as_secs().min(i64::MAX as u64) as libc::time_t,
            tv_nsec: timeout.subsec_nanos() as libc::c_long,
        };
        // SAFETY: zeroed siginfo_t is a valid out-parameter.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: the set, siginfo and timespec are valid for the call.
        let rc = unsafe { libc::sigtimedwait(self.set.as_ref(), &mut info, &ts) };
        if rc < 0 {
            return None;
        }
        let queued = (info.si_code == libc::SI_QUEUE)
            // SAFETY: a queued signal's siginfo carries the sender's value.
            .then(|| unsafe { info.si_value() }.sival_ptr as usize as u64);
        Some((Signal::try_from(rc).ok()?, queued))
    }
}
