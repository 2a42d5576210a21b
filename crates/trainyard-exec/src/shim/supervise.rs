//! The shim's main loop: reap workers, fail fast, honour stop requests, escalate to SIGKILL.

use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::sys::signal::Signal;

use super::metrics::Recorder;
use super::signals::Signals;
use super::worker::{exit_from_status, exit_message, Worker};
use crate::{proc, run_dir, signal, RunExit, RunOutcome, RunSpec, StopRequest};

/// Longest single `sigtimedwait`; bounds how stale the loop can get if a signal is missed.
const MAX_WAIT: Duration = Duration::from_secs(1);
/// How long container workers get to end after their containers were killed, before their
/// `podman run` is killed too (which leaves the removal to the shim).
const CONTAINER_KILL_WAIT: Duration = Duration::from_secs(2);
/// How long the shim waits, after the final SIGKILL, for the worker groups to disappear.
const SWEEP_LIMIT: Duration = Duration::from_secs(5);

/// Supervises the started workers until all of them are reaped.
pub struct Supervisor {
    run_dir: PathBuf,
    grace: Duration,
    workers: Vec<Worker>,
    signals: Signals,
    /// Decided outcome; `None` while every worker is fine (=> Succeeded at the end).
    outcome: Option<RunOutcome>,
    /// When the SIGTERM grace is over and groups get SIGKILL.
    deadline: Option<Instant>,
    escalated: bool,
    /// Resource sampling of the workers (`metrics.jsonl`).
    metrics: Recorder,
    /// Told when a stop is requested: the checkpoint folder goes up within the grace.
    on_stop: Option<super::transfer::Waker>,
}

impl Supervisor {
    /// A supervisor for the `workers` of `spec`, the run in `run_dir`, using the spec's grace
    /// for failures and stops without `stop.json`.
    pub fn new(run_dir: PathBuf, spec: &RunSpec, workers: Vec<Worker>, signals: Signals) -> Self {
        Self {
            metrics: Recorder::open(&run_dir, spec),
            run_dir,
            grace: Duration::from_secs(spec.grace_seconds),
            workers,
            signals,
            outcome: None,
            deadline: None,
            escalated: false,
            on_stop: None,
        }
    }

    /// Wakes `waker` when a stop is requested (a checkpoint upload before the SIGKILL).
    pub fn on_stop(mut self, waker: Option<super::transfer::Waker>) -> Self {
        self.on_stop = waker;
        self
    }

    /// Ends a run whose start failed: SIGKILL for what was started, then the usual clean-up.
    pub fn abort(mut self, message: String) -> RunExit {
        self.outcome = Some(RunOutcome::SpawnFailed { message });
        self.deadline = Some(Instant::now());
        self.run()
    }

    /// Runs until every worker is reaped and no process of their groups is left.
    pub fn run(mut self) -> RunExit {
        loop {
            self.reap();
            if self.workers.iter().all(|w| !w.running()) {
                break;
            }
            self.check_log_limits();
            let now = Instant::now();
            let mut timeout = MAX_WAIT.min(self.metrics.tick(&self.workers));
            if let Some(deadline) = self.deadline.filter(|_| !self.escalated) {
                if now >= deadline {
                    self.escalate();
                    continue;
                }
                timeout = timeout.min(deadline - now);
            }
            if let Some((Signal::SIGTERM | Signal::SIGINT, grace)) = self.signals.wait(timeout) {
                self.on_stop_request(grace);
            }
        }
        self.sweep();
        for w in &self.workers {
            w.flush_log();
        }
        let outcome = self.outcome.take().unwrap_or(RunOutcome::Succeeded);
        if outcome == RunOutcome::Stopped {
            for w in &self.workers {
                w.log_line("[trainyard] stopped");
            }
        }
        let workers = self.workers.iter().filter_map(|w| w.exit.clone()).collect();
        RunExit { outcome, workers }
    }

    /// Reaps every child that has exited. A worker's group is SIGKILLed while its leader is
    /// still a zombie (so the group ID cannot have been reused), then the leader is reaped.
    /// Other children are grandchildren re-parented to us (we are a subreaper).
    fn reap(&mut self) {
        loop {
            // SAFETY: zeroed siginfo_t is a valid out-parameter for waitid.
            let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
            let flags = libc::WEXITED | libc::WNOHANG | libc::WNOWAIT;
            // SAFETY: `info` is a valid, writable siginfo_t.
            let rc = unsafe { libc::waitid(libc::P_ALL, 0, &mut info, flags) };
            if rc < 0 {
                if std::io::Error::last_os_error().raw_os_error() == Some(libc::EINTR) {
                    continue;
                }
                return; // ECHILD: no children left
            }
            // SAFETY: waitid filled `info` for a child event (or left it zeroed).
            let pid = unsafe { info.si_pid() };
            if pid == 0 {
                return; // children exist but none has exited
            }
            let worker = self
                .workers
                .iter()
                .position(|w| w.pid == pid && w.running());
            if worker.is_some() {
                if let Err(e) = signal::group(pid, Signal::SIGKILL) {
                    tracing::warn!(proc.pgid = pid, error = %e, "cannot kill worker group");
                }
            }
            let mut status: libc::c_int = 0;
            // SAFETY: plain waitpid on a child known to be waitable.
            let reaped = unsafe { libc::waitpid(pid, &mut status, 0) };
            if let (Some(i), true) = (worker, reaped == pid) {
                self.on_exit(i, status);
            }
        }
    }

    fn on_exit(&mut self, i: usize, status: libc::c_int) {
        let exit = exit_from_status(self.workers[i].index, status);
        let w = &mut self.workers[i];
        w.log_line(&exit_message(&exit));
        tracing::info!(proc.pid = w.pid, worker = w.index, code = ?exit.exit_code, signal = ?exit.signal, "worker exited");
        let failed = !exit.success();
        w.exit = Some(exit.clone());
        if failed && self.outcome.is_none() {
            self.outcome = Some(RunOutcome::Failed {
                worker: exit.index,
                exit_code: exit.exit_code,
                signal: exit.signal,
            });
            let note = format!(
                "[trainyard] worker {} failed; stopping this worker",
                exit.index
            );
            self.terminate_running(&note, self.grace);
        }
    }

    /// A worker's log reached its cap on a run that fails then (`on_log_limit = "fail"`):
    /// the run stops as for a failed worker.
    fn check_log_limits(&mut self) {
        if self.outcome.is_some() {
            return;
        }
        let Some((index, limit)) = self
            .workers
            .iter()
            .find_map(|w| w.log_limit_hit().map(|limit| (w.index, limit)))
        else {
            return;
        };
        let message = format!("worker {index}'s log reached max_log_bytes = {limit}");
        tracing::info!(worker = index, limit, "log limit reached; stopping the run");
        self.outcome = Some(RunOutcome::LogLimit {
            message: message.clone(),
        });
        self.terminate_running(&format!("[trainyard] {message}; stopping"), self.grace);
    }

    /// SIGTERM or SIGINT arrived: stop every worker, with the grace the stop request queued
    /// with the signal (`queued`, seconds), else the one in `stop.json` (a plain signal, from
    /// outside), else the spec's.
    fn on_stop_request(&mut self, queued: Option<u64>) {
        let grace = queued.map(Duration::from_secs).unwrap_or_else(|| {
            run_dir::read_json::<StopRequest>(&run_dir::file(&self.run_dir, run_dir::STOP))
                .ok()
                .flatten()
                .map_or(self.grace, |s| Duration::from_secs(s.grace_seconds))
        });
        tracing::info!(grace_s = grace.as_secs(), "stop requested");
        if let Some(w) = &self.on_stop {
            w.checkpoint_now();
        }
        if self.outcome.is_none() {
            self.outcome = Some(RunOutcome::Stopped);
        }
        let note = format!(
            "[trainyard] stop requested; sending SIGTERM (grace {}s)",
            grace.as_secs()
        );
        self.terminate_running(&note, grace);
    }

    /// Sends SIGTERM to every running worker group and (re)arms the SIGKILL deadline.
    fn terminate_running(&mut self, note: &str, grace: Duration) {
        for w in self.workers.iter().filter(|w| w.running()) {
            w.log_line(note);
            if let Err(e) = w.terminate() {
                tracing::warn!(proc.pgid = w.pid, error = %e, "cannot terminate worker group");
            }
        }
        let deadline = Instant::now() + grace;
        self.deadline = Some(self.deadline.map_or(deadline, |d| d.min(deadline)));
    }

    /// The grace period is over: SIGKILL every running worker group.
    fn escalate(&mut self) {
        self.escalated = true;
        for w in self.workers.iter().filter(|w| w.running()) {
            w.log_line("[trainyard] sending SIGKILL");
            w.kill_container();
        }
        // The container runtimes get a moment to see their containers end, and remove them.
        let deadline = Instant::now() + CONTAINER_KILL_WAIT;
        while Instant::now() < deadline
            && self
                .workers
                .iter()
                .any(|w| w.running() && w.container.is_some())
        {
            self.signals.wait(Duration::from_millis(20));
            self.reap();
        }
        for w in self.workers.iter().filter(|w| w.running()) {
            if let Err(e) = signal::group(w.pid, Signal::SIGKILL) {
                tracing::warn!(proc.pgid = w.pid, error = %e, "cannot kill worker group");
            }
        }
    }

    /// One more SIGKILL per group for stray grandchildren, then reap until the groups are empty.
    fn sweep(&mut self) {
        let pgids: Vec<i32> = self.workers.iter().map(|w| w.pid).collect();
        for w in &self.workers {
            // `podman run --rm` removes its container, unless podman was killed first.
            w.remove_leftover_container();
            let _ = signal::worker_group_checked(&w.record(), Signal::SIGKILL);
        }
        let limit = Instant::now() + SWEEP_LIMIT;
        loop {
            self.reap();
            if !proc::any_group_alive(&pgids) {
                return;
            }
            if Instant::now() >= limit {
                let left = proc::members_of_groups(&pgids);
                tracing::warn!(pids = ?left, "worker group processes still present at shim exit");
                return;
            }
            // Stragglers that are not our children are reaped by their own parent or init.
            self.signals.wait(Duration::from_millis(20));
        }
    }
}
