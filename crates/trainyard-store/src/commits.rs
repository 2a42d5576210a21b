//! This server's commits to its SQLite file, counted as each becomes visible, so answers
//! read from the database can be kept in memory until the next commit (the list pages of
//! `trainyard-server`'s `service::list_cache`).
//!
//! The count is taken from SQLite's write-ahead-log hook, which every connection of the pool
//! carries: SQLite calls it after a transaction has committed and released the write lock,
//! whatever statement or code path wrote. Neither a store method (a new one, one cut off
//! when its caller went away, a trigger's writes) nor a plain statement on the pool can
//! commit without it. The commit hook would be too early: it runs before the commit is
//! visible, so a reader could count the new commit and still read the old rows.
//!
//! Only this process's connections count: an SQLite file belongs to one server (its data
//! lock), and PostgreSQL, which other servers may write, has no count ([`crate::Store::commits`]).

use libsqlite3_sys as ffi;
use std::ffi::{c_char, c_int, c_void};
use std::sync::atomic::{AtomicU64, Ordering};

/// The number of write transactions committed through a store's connections.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Commits(&'static AtomicU64);

/// SQLite's own automatic checkpoint threshold (`SQLITE_DEFAULT_WAL_AUTOCHECKPOINT`), in WAL
/// frames. A connection has one write-ahead-log hook, and the automatic checkpoint is that
/// hook, so ours replaces it and checkpoints at the same point.
const AUTOCHECKPOINT_FRAMES: c_int = 1000;

impl Commits {
    /// A new count at 0. Its cell lives as long as the process: connections of the pool hold a
    /// raw pointer to it until they close, which may be after the store is dropped.
    pub(crate) fn new() -> Self {
        Self(Box::leak(Box::new(AtomicU64::new(0))))
    }

    /// The commits counted so far. Read it before a query: an answer is then current while
    /// the count is unchanged.
    pub(crate) fn count(self) -> u64 {
        self.0.load(Ordering::SeqCst)
    }

    /// Counts the commits of `conn` from now on (a fresh connection of the pool).
    pub(crate) async fn watch(self, conn: &mut sqlx::SqliteConnection) -> sqlx::Result<()> {
        let mut handle = conn.lock_handle().await?;
        let db = handle.as_raw_handle().as_ptr();
        let cell: *const AtomicU64 = self.0;
        // SAFETY: `db` is this connection's open handle, used by no other thread while the
        // lock is held; `cell` is valid for the rest of the process (leaked in `new`), and the
        // hook only reads it as a shared `AtomicU64`.
        unsafe {
            ffi::sqlite3_wal_hook(db, Some(committed), cell.cast_mut().cast::<c_void>());
        }
        Ok(())
    }
}

/// SQLite's write-ahead-log hook: a transaction of `db` committed, `frames` frames are now in
/// the log. Counts it, then checkpoints as SQLite's default hook would.
///
/// # Safety
/// Called by SQLite only, with the `cell` that [`Commits::watch`] registered.
unsafe extern "C" fn committed(
    cell: *mut c_void,
    db: *mut ffi::sqlite3,
    schema: *const c_char,
    frames: c_int,
) -> c_int {
    // SAFETY: `cell` is the leaked `AtomicU64` that `Commits::watch` registered.
    let count = unsafe { &*cell.cast::<AtomicU64>() };
    count.fetch_add(1, Ordering::SeqCst);
    if frames >= AUTOCHECKPOINT_FRAMES {
        // SAFETY: SQLite passes its open handle and the schema name for the duration of the
        // call; checkpointing from this hook is what SQLite's own hook does. A checkpoint
        // that cannot run now (readers) is tried again on a later commit.
        unsafe {
            ffi::sqlite3_wal_checkpoint(db, schema);
        }
    }
    ffi::SQLITE_OK
}
