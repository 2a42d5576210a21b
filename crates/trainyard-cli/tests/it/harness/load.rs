//! The machine's CPU, which the suites of this one process share: a test that measures how
//! much CPU a job got, or how long something took, does so while no CPU-heavy part of another
//! test runs.
//!
//! A CPU-heavy part (a browser command, a whole README run, kill -9 bursts) holds [`Busy`]; a
//! measurement holds [`Measuring`]. A measurement waits until no `Busy` is held (new ones wait
//! behind it), then runs alone among them. One that needs the CPU most ([`measuring_alone`]:
//! a second's margin, or most of a core) also keeps new servers from starting
//! ([`between_measurements`]) until it ends; the tests under way run on beside it. Never wait
//! for a measurement while holding `Busy` or `Measuring` (that waits for itself).

use std::sync::Mutex;
use tokio::sync::Notify;

struct State {
    /// `Busy` values held.
    busy: usize,
    /// Measurements waiting for the CPU-heavy parts under way to end.
    waiting: usize,
    /// A measurement holds the CPU.
    measuring: bool,
    /// ... and no server may start.
    alone: bool,
}

static STATE: Mutex<State> = Mutex::new(State {
    busy: 0,
    waiting: 0,
    measuring: false,
    alone: false,
});
static CHANGED: Notify = Notify::const_new();

/// Waits until `take` (called with the state locked) succeeds.
async fn wait_for(mut take: impl FnMut(&mut State) -> bool) {
    loop {
        let changed = CHANGED.notified();
        tokio::pin!(changed);
        changed.as_mut().enable();
        if take(&mut STATE.lock().unwrap()) {
            return;
        }
        changed.await;
    }
}

/// Changes the state and wakes everyone who waits for it.
fn change(f: impl FnOnce(&mut State)) {
    f(&mut STATE.lock().unwrap());
    CHANGED.notify_waiters();
}

/// A CPU-heavy part of a test, under way while this is held.
pub struct Busy(());

/// Marks a CPU-heavy part of a test; waits while a measurement runs or waits to run.
pub async fn busy() -> Busy {
    wait_for(|s| {
        let free = !s.measuring && s.waiting == 0;
        if free {
            s.busy += 1;
        }
        free
    })
    .await;
    Busy(())
}

impl Drop for Busy {
    fn drop(&mut self) {
        change(|s| s.busy -= 1);
    }
}

/// A measurement of CPU use or time, under way while this is held.
pub struct Measuring(());

/// Counts a waiting measurement until it runs or its wait is given up.
struct Waiting;

impl Drop for Waiting {
    fn drop(&mut self) {
        change(|s| s.waiting -= 1);
    }
}

/// Waits until no CPU-heavy part and no other measurement runs, and holds off new ones until
/// the value is dropped.
pub async fn measuring() -> Measuring {
    measure(false).await
}

/// Like [`measuring`], and no server starts until the value is dropped either.
pub async fn measuring_alone() -> Measuring {
    measure(true).await
}

async fn measure(alone: bool) -> Measuring {
    change(|s| s.waiting += 1);
    let waiting = Waiting;
    wait_for(|s| {
        let free = !s.measuring && s.busy == 0;
        if free {
            s.measuring = true;
            s.alone = alone;
        }
        free
    })
    .await;
    drop(waiting);
    Measuring(())
}

impl Drop for Measuring {
    fn drop(&mut self) {
        change(|s| {
            s.measuring = false;
            s.alone = false;
        });
    }
}

/// Waits while a measurement that needs the CPU most runs: where a test starts a server.
pub async fn between_measurements() {
    wait_for(|s| !s.alone).await;
}
