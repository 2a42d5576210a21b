//! Which committed state of its SQLite database this server reads: a generation that every
//! commit on any of the pool's connections moves on, so a body built from rows read under one
//! generation may be served again, without reading them, while the generation stays the same.
//!
//! Why SQLite only: the file belongs to one server (`serve.lock` in the data folder), so every
//! commit passes through this process's pool. The hooks sit on each pooled connection (set when
//! the pool opens it), not on the write paths, so no write can miss them: a `WriteTx`, a single
//! statement on the pool, a migration alike.
//!
//! Ordering: SQLite calls the commit hook before a commit becomes visible. From then until the
//! commit is known to be over, it counts as in flight and no generation is handed out; when it
//! is over the generation moves on, then it stops being in flight. A commit is over when SQLite
//! calls the WAL hook (after the commit, the write lock released, before the statement returns
//! to sqlx), or the rollback hook, or when its connection is back in the pool or closed (no
//! statement runs on it then). The last two cover the commits the WAL hook misses: one that
//! wrote nothing, and a single statement that commits when sqlx resets it after its first row
//! (`fetch_one` of an `UPDATE .. RETURNING` outside a transaction), whose WAL hook SQLite would
//! only call at the connection's next statement.
//!
//! So a generation is only handed out while no commit is in flight, and any commit that follows
//! moves it on before it stops being in flight: rows read after [`Commits::current`] returned
//! `g` are still the stored rows while it returns `g`.
//!
//! [`Committed`] is what [`crate::Store::committed`] hands out on either engine: this
//! generation on SQLite, a snapshot of the cluster on PostgreSQL (`snapshots.rs`).

use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex, Weak};

use libsqlite3_sys as ffi;
use sqlx::sqlite::LockedSqliteHandle;

/// A mark of the committed state of a store's database ([`crate::Store::committed`]): two
/// equal marks mean that nothing was committed between the moments they were taken.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Committed(Mark);

/// What a [`Committed`] holds, per engine.
#[derive(Clone, Debug, PartialEq, Eq)]
enum Mark {
    /// SQLite: the generation of [`Commits::current`].
    Generation(u64),
    /// PostgreSQL: a statement's `pg_current_snapshot()`, as text (`xmin:xmax:xip,...`).
    Snapshot(Arc<str>),
}

impl Committed {
    /// SQLite's generation `g`.
    pub(crate) fn generation(g: u64) -> Self {
        Self(Mark::Generation(g))
    }

    /// PostgreSQL's snapshot `s`.
    pub(crate) fn snapshot(s: Arc<str>) -> Self {
        Self(Mark::Snapshot(s))
    }
}

/// SQLite's default `wal_autocheckpoint` (pages): a WAL hook of our own replaces SQLite's, which
/// checkpointed at this size, so ours does.
const AUTOCHECKPOINT_PAGES: c_int = 1000;

/// The commits of one database, over all its connections.
#[derive(Debug, Default)]
pub(crate) struct Commits {
    /// Commits over since the store opened.
    done: AtomicU64,
    /// Commits past their commit hook and not yet over.
    in_flight: AtomicU64,
    /// The watched connections by their `sqlite3` handle.
    connections: Mutex<HashMap<usize, Weak<Connection>>>,
}

impl Commits {
    /// The generation of the committed state now, or `None` while a commit is in flight.
    pub(crate) fn current(&self) -> Option<u64> {
        let done = self.done.load(SeqCst);
        (self.in_flight.load(SeqCst) == 0).then_some(done)
    }

    /// Whether some commit is not known to be over yet.
    pub(crate) fn unsettled(&self) -> bool {
        self.in_flight.load(SeqCst) > 0
    }

    /// `conn` is back in the pool: whatever it committed is over.
    pub(crate) fn released(&self, conn: &mut LockedSqliteHandle<'_>) {
        let key = conn.as_raw_handle().as_ptr() as usize;
        let watched = self
            .connections
            .lock()
            .expect("commits lock")
            .get(&key)
            .cloned();
        if let Some(c) = watched.and_then(|w| w.upgrade()) {
            c.over();
        }
    }

    /// Watches the commits of `conn` (a new pooled connection).
    pub(crate) fn watch(self: &Arc<Self>, conn: &mut LockedSqliteHandle<'_>) {
        let db = conn.as_raw_handle().as_ptr();
        let watch = Arc::new(Connection {
            commits: self.clone(),
            committing: AtomicBool::new(false),
            key: db as usize,
        });
        self.connections
            .lock()
            .expect("commits lock")
            .insert(db as usize, Arc::downgrade(&watch));
        let arg = Arc::as_ptr(&watch).cast_mut().cast::<c_void>();
        // SAFETY: `arg` points at the `Connection` the two hook closures below own; sqlx drops
        // them when the connection closes, after its last statement, and SQLite calls the WAL
        // hook only while a statement of this connection runs.
        unsafe {
            ffi::sqlite3_wal_hook(db, Some(wal_hook), arg);
        }
        let on_commit = watch.clone();
        conn.set_commit_hook(move || {
            if !on_commit.committing.swap(true, SeqCst) {
                on_commit.commits.in_flight.fetch_add(1, SeqCst);
            }
            true
        });
        conn.set_rollback_hook(move || watch.over());
    }
}

/// One connection's part: whether a commit of it is not known to be over.
struct Connection {
    commits: Arc<Commits>,
    committing: AtomicBool,
    key: usize,
}

impl Connection {
    /// The commit of this connection, if one is in flight, is over: the generation moves on,
    /// then it stops being in flight.
    fn over(&self) {
        if self.committing.load(SeqCst) {
            self.commits.done.fetch_add(1, SeqCst);
            if self.committing.swap(false, SeqCst) {
                self.commits.in_flight.fetch_sub(1, SeqCst);
            }
        }
    }
}

impl Drop for Connection {
    /// The connection closed (its hooks are dropped after its last statement).
    fn drop(&mut self) {
        self.over();
        if let Ok(mut c) = self.commits.connections.lock() {
            c.remove(&self.key);
        }
    }
}

/// After a commit that wrote to the WAL: it is over; then checkpoints as SQLite's own hook did.
unsafe extern "C" fn wal_hook(
    arg: *mut c_void,
    db: *mut ffi::sqlite3,
    name: *const c_char,
    pages: c_int,
) -> c_int {
    // SAFETY: `arg` is the `Connection` of `Commits::watch`, alive while the connection is.
    let conn = unsafe { &*arg.cast::<Connection>() };
    conn.commits.done.fetch_add(1, SeqCst);
    conn.over();
    if pages >= AUTOCHECKPOINT_PAGES {
        // SAFETY: the handle and name SQLite passed in, as its default hook uses them.
        unsafe {
            ffi::sqlite3_wal_checkpoint(db, name);
        }
    }
    ffi::SQLITE_OK
}
