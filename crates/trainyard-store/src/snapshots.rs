//! Which committed state of its PostgreSQL database this server reads, exactly, though other
//! servers commit to it unseen: a snapshot of the cluster (`pg_current_snapshot()`) taken by a
//! statement that started after the caller asked.
//!
//! Why equal snapshots mean nothing was committed in between: a snapshot says which
//! transactions had completed when it was taken (every id below its `xmax` but those it lists
//! as in progress), and that set only grows. A transaction that wrote anything holds an id,
//! and when it completes it leaves the in-progress list or moves `xmax` on, so the next
//! snapshot differs; a read-only one takes no id and changes nothing. So if the snapshot of a
//! check taken after a request arrived equals one taken before some rows were read, no write
//! transaction completed from before the read until the check, on any server: the rows read
//! are the stored ones. And a write any server acknowledged before the request arrived had
//! completed when the check's snapshot was taken.
//!
//! Cost: one statement serves every caller waiting when it starts. A caller joins the check
//! that starts after it asked, never the one running (which may have taken its snapshot
//! before), so at 16 requests in flight one round trip answers several of them. The checks
//! run on a connection of their own, outside the pool: a pooled statement costs a second
//! round trip, the ping sqlx sends when the connection goes back to the pool.
//!
//! Any write transaction on the cluster changes the snapshot, one on another database of it
//! too: a mark then differs, which is correct, only less often equal.

use sqlx::{PgConnection, PgPool};
use std::sync::{Arc, Mutex};
use tokio::sync::watch;

/// How long one check may take before its connection is given up (its callers then read
/// the rows, and meet the database's trouble there).
const CHECK_TIMEOUT: std::time::Duration = crate::PING_TIMEOUT;

/// The checks of one PostgreSQL store, one at a time.
#[derive(Debug)]
pub(crate) struct Snapshots {
    pool: PgPool,
    checks: Mutex<Checks>,
    done: watch::Sender<Check>,
}

/// Which checks have started.
#[derive(Debug, Default)]
struct Checks {
    /// Checks started so far, numbered from 1; the last one is running when `running`.
    started: u64,
    running: bool,
    /// Some caller waits for the check after the running one.
    next_wanted: bool,
    /// The checks' connection while no check runs (`None` before the first, and after one
    /// failed).
    conn: Option<PgConnection>,
}

/// A check that is over: its number and snapshot (`None`: the database did not answer).
#[derive(Clone, Debug, Default)]
struct Check {
    number: u64,
    snapshot: Option<Arc<str>>,
}

impl Snapshots {
    /// Checks on connections of `pool`.
    pub(crate) fn new(pool: PgPool) -> Arc<Self> {
        Arc::new(Self {
            pool,
            checks: Mutex::default(),
            done: watch::Sender::new(Check::default()),
        })
    }

    /// A snapshot taken by a statement that started after this call: of the check started
    /// now, or of the next one when a check is already running. `None` when the database did
    /// not answer.
    pub(crate) async fn after_now(self: &Arc<Self>) -> Option<Arc<str>> {
        let mut done = self.done.subscribe();
        let wanted = {
            let mut checks = self.checks.lock().expect("snapshot checks lock");
            if checks.running {
                checks.next_wanted = true;
                checks.started + 1
            } else {
                checks.started += 1;
                checks.running = true;
                // A task of its own: a caller that goes away (its request cut off) would
                // leave the others waiting for a check that never ends.
                tokio::spawn(self.clone().run(checks.started));
                checks.started
            }
        };
        let check = done.wait_for(|c| c.number >= wanted).await.ok()?;
        check.snapshot.clone()
    }

    /// Runs check `number`, then the next ones as long as some caller waits for one.
    async fn run(self: Arc<Self>, mut number: u64) {
        let mut conn = self
            .checks
            .lock()
            .expect("snapshot checks lock")
            .conn
            .take();
        loop {
            let snapshot = self.take(&mut conn).await;
            let mut checks = self.checks.lock().expect("snapshot checks lock");
            self.done.send_replace(Check { number, snapshot });
            if !std::mem::take(&mut checks.next_wanted) {
                checks.running = false;
                checks.conn = conn;
                return;
            }
            checks.started += 1;
            number = checks.started;
        }
    }

    /// The snapshot of one statement on `conn` (connected first if `None`; dropped when the
    /// statement fails).
    async fn take(&self, conn: &mut Option<PgConnection>) -> Option<Arc<str>> {
        let check = async {
            if conn.is_none() {
                *conn = Some(self.pool.acquire().await?.detach());
            }
            let c = conn.as_mut().expect("connected above");
            sqlx::query_scalar::<_, String>("SELECT pg_current_snapshot()::text")
                .fetch_one(c)
                .await
        };
        let failed = match tokio::time::timeout(CHECK_TIMEOUT, check).await {
            Ok(Ok(s)) => return Some(s.into()),
            Ok(Err(e)) => e.to_string(),
            Err(_) => format!("no answer within {CHECK_TIMEOUT:?}"),
        };
        tracing::debug!(error = %failed, "no snapshot of the database");
        *conn = None; // closed: a statement cut off midway leaves it unusable
        None
    }
}
