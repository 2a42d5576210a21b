//! The SQLite engine: one file, one server, the embedded default.

use crate::commits::{Commits, Committed};
use crate::{Coordinator, Engine, Error, Result, StoreOptions};
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, Sqlite, SqliteConnection, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A write transaction on a pooled connection, run with plain `BEGIN IMMEDIATE`/`COMMIT`
/// statements rather than sqlx's transaction manager.
///
/// Why: after SQLITE_FULL or an I/O error SQLite may have rolled the transaction back on its
/// own; sqlx's `ROLLBACK` then fails, its transaction depth stays at 1 and the connection goes
/// back to the pool unusable ("begin_with at non-zero transaction depth") until a restart.
/// Here a connection goes back to the pool only once it is known to be out of any
/// transaction (committed, or rolled back without error); otherwise it is closed, which
/// rolls back whatever SQLite still holds, and the pool opens a fresh one.
///
/// It holds this server's turn to write ([`Writers`]) until it ends.
pub(crate) struct WriteTx {
    conn: Option<PoolConnection<Sqlite>>,
    turn: Option<OwnedSemaphorePermit>,
}

/// This server's writers, in line: one write transaction at a time, first come first served.
///
/// SQLite lets one writer in; the others wait in its busy handler, which sleeps 1, 2, 5, ...
/// up to 100 ms between tries rather than waking when the lock is free, so under a burst of
/// creates a run's start or end (the executor's writes) waited for up to 1.5 s while the lock
/// was free most of that time. Here each writer waits for those ahead of it and is woken as
/// soon as the last one commits. The busy handler still settles writers outside this queue
/// (another process, statements outside a `WriteTx`).
#[derive(Clone, Debug)]
struct Writers(Arc<Semaphore>);

impl Writers {
    fn new() -> Self {
        Self(Arc::new(Semaphore::new(1)))
    }

    /// Waits for this writer's turn. Bounded as the busy handler was: a write transaction
    /// opened while the same task holds another (a bug) fails as busy after the timeout
    /// instead of waiting for ever.
    async fn turn(&self) -> Result<OwnedSemaphorePermit> {
        match tokio::time::timeout(BUSY_TIMEOUT, self.0.clone().acquire_owned()).await {
            Ok(Ok(turn)) => Ok(turn),
            Ok(Err(_)) | Err(_) => Err(Error::Unavailable(sqlx::Error::PoolTimedOut)),
        }
    }
}

/// How long a writer waits for the lock (in line, then in SQLite's busy handler).
const BUSY_TIMEOUT: Duration = Duration::from_secs(10);

impl WriteTx {
    async fn begin(pool: &SqlitePool, writers: &Writers) -> Result<Self> {
        let turn = writers.turn().await?;
        let mut conn = pool.acquire().await?;
        if let Err(e) = conn.execute("BEGIN IMMEDIATE").await {
            discard(conn);
            return Err(e.into());
        }
        Ok(Self {
            conn: Some(conn),
            turn: Some(turn),
        })
    }

    /// Commits; on failure the connection is closed (see the type's docs).
    pub(crate) async fn commit(mut self) -> Result<()> {
        let mut conn = self
            .conn
            .take()
            .expect("a WriteTx holds its connection until it ends");
        match conn.execute("COMMIT").await {
            Ok(_) => Ok(()),
            Err(e) => {
                discard(conn);
                Err(e.into())
            }
        }
    }
}

impl std::ops::Deref for WriteTx {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.conn
            .as_ref()
            .expect("a WriteTx holds its connection until it ends")
    }
}

impl std::ops::DerefMut for WriteTx {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .expect("a WriteTx holds its connection until it ends")
    }
}

impl Drop for WriteTx {
    /// Not committed (an early return or an error): roll back in a task, and keep the
    /// connection only if that worked.
    fn drop(&mut self) {
        let Some(mut conn) = self.conn.take() else {
            return;
        };
        // The turn passes on once the rollback has released the lock.
        let turn = self.turn.take();
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if conn.execute("ROLLBACK").await.is_err() {
                        discard(conn);
                    }
                    drop(turn);
                });
            }
            Err(_) => discard(conn),
        }
    }
}

/// A write sent to SQLite's worker thread as one string of statements, its transaction
/// included (`BEGIN IMMEDIATE; ...; COMMIT`): one round trip where a [`WriteTx`] makes one per
/// statement plus two. Each round trip hands the work to sqlx's worker thread and back, and
/// the writer's turn is held for all of them, so under a burst the queue of writers moves at
/// the pace of those hand-offs.
///
/// Like a [`WriteTx`] it holds this server's turn to write. A batch that failed part-way may
/// have left its transaction open: [`Self::end`] rolls it back, and the connection goes back
/// to the pool only if that worked (as a dropped `WriteTx`).
pub(crate) struct Batch {
    conn: Option<PoolConnection<Sqlite>>,
    turn: Option<OwnedSemaphorePermit>,
}

impl Batch {
    async fn begin(pool: &SqlitePool, writers: &Writers) -> Result<Self> {
        let turn = writers.turn().await?;
        let conn = pool.acquire().await?;
        Ok(Self {
            conn: Some(conn),
            turn: Some(turn),
        })
    }

    /// The batch ran with `result`: on an error its transaction, if still open, is rolled
    /// back before the turn passes on.
    pub(crate) async fn end<T>(mut self, result: sqlx::Result<T>) -> Result<T> {
        let mut conn = self
            .conn
            .take()
            .expect("a Batch holds its connection until it ends");
        let turn = self.turn.take();
        if result.is_err() {
            let open = match conn.lock_handle().await {
                // SAFETY: a valid handle, locked for this call.
                Ok(mut h) => Some(unsafe {
                    libsqlite3_sys::sqlite3_get_autocommit(h.as_raw_handle().as_ptr()) == 0
                }),
                Err(_) => None,
            };
            match open {
                Some(false) => {}
                Some(true) if conn.execute("ROLLBACK").await.is_ok() => {}
                // Closing the connection rolls back whatever SQLite still holds.
                _ => discard(conn),
            }
        }
        drop(turn);
        result.map_err(Into::into)
    }
}

impl std::ops::Deref for Batch {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        self.conn
            .as_ref()
            .expect("a Batch holds its connection until it ends")
    }
}

impl std::ops::DerefMut for Batch {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        self.conn
            .as_mut()
            .expect("a Batch holds its connection until it ends")
    }
}

impl Drop for Batch {
    /// Dropped before it ended (its future cancelled mid-batch): the connection cannot be
    /// known out of a transaction, so it is closed.
    fn drop(&mut self) {
        if let Some(conn) = self.conn.take() {
            discard(conn);
        }
    }
}

/// Closes a connection instead of returning it to the pool: SQLite rolls back what it holds.
fn discard(conn: PoolConnection<Sqlite>) {
    drop(conn.detach());
}

/// The SQLite store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct SqliteStore {
    pool: SqlitePool,
    writers: Writers,
    commits: Arc<Commits>,
}

impl SqliteStore {
    const ENGINE: Engine = Engine::Sqlite;

    /// Opens (creating if missing) the database at `url` (`sqlite://path` or a plain path) and
    /// applies the migrations.
    pub async fn open(url: &str, opts: &StoreOptions) -> Result<Self> {
        if Engine::of_url(url)? != Engine::Sqlite {
            return Err(Error::UnsupportedEngine(
                url.split("://").next().unwrap_or_default().to_owned(),
            ));
        }
        let url = if url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite://{url}")
        };
        let opts_sqlite = SqliteConnectOptions::from_str(&url)
            .map_err(Error::Db)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(BUSY_TIMEOUT);
        let commits = Arc::new(Commits::default());
        let watcher = commits.clone();
        let settler = commits.clone();
        let pool = SqlitePoolOptions::new()
            .max_connections(opts.max_connections.unwrap_or(8))
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings a connection each time it leaves the pool: on SQLite a round trip to
            // the connection's worker thread per statement, checking a file that cannot go
            // away as a network peer can (a failed statement still reports its error).
            .test_before_acquire(false)
            .after_connect(move |conn, _| {
                let commits = watcher.clone();
                Box::pin(async move {
                    commits.watch(&mut conn.lock_handle().await?);
                    Ok(())
                })
            })
            .after_release(move |conn, _| {
                let commits = settler.clone();
                Box::pin(async move {
                    if commits.unsettled() {
                        commits.released(&mut conn.lock_handle().await?);
                    }
                    Ok(true)
                })
            })
            .connect_with(opts_sqlite)
            .await
            .map_err(Error::Db)?;
        Error::migrate(&sqlx::migrate!("migrations/sqlite"), &pool).await?;
        Ok(Self {
            pool,
            writers: Writers::new(),
            commits,
        })
    }

    /// Writes a consistent copy of the database file `db` into the new file `dest`
    /// (`VACUUM INTO`) while servers go on using it: the copy is one read transaction's view,
    /// compacted, with no write-ahead log beside it. Nothing is migrated: the copy has the
    /// schema version of the original.
    pub async fn snapshot(db: &Path, dest: &Path) -> Result<()> {
        use sqlx::Connection as _;
        let opts = SqliteConnectOptions::new()
            .filename(db)
            .create_if_missing(false)
            .busy_timeout(Duration::from_secs(30));
        let mut conn = SqliteConnection::connect_with(&opts)
            .await
            .map_err(Error::Db)?;
        sqlx::query("VACUUM INTO ?")
            .bind(dest.to_string_lossy().into_owned())
            .execute(&mut conn)
            .await
            .map_err(Error::Db)?;
        conn.close().await.map_err(Error::Db)
    }

    /// Opens the database file `path`.
    pub async fn open_path(path: &Path) -> Result<Self> {
        Self::open(
            &format!("sqlite://{}", path.display()),
            &StoreOptions::default(),
        )
        .await
    }

    /// A write transaction that takes the write lock up front (`BEGIN IMMEDIATE`), so two
    /// concurrent read-then-write transactions wait for each other instead of failing busy.
    async fn write_tx(&self) -> Result<WriteTx> {
        WriteTx::begin(&self.pool, &self.writers).await
    }

    /// A write of several statements in one round trip ([`Batch`]): the statements' string
    /// opens and commits its own transaction.
    async fn batch(&self) -> Result<Batch> {
        Batch::begin(&self.pool, &self.writers).await
    }

    /// Every commit passes through this pool (`commits`).
    fn committed(&self) -> Option<u64> {
        self.commits.current()
    }

    /// [`Self::committed`] as the store's engine-neutral mark.
    async fn committed_mark(&self) -> Option<Committed> {
        self.committed().map(Committed::generation)
    }

    /// An SQLite file belongs to one server: nobody to coordinate with.
    fn coordinator(&self) -> Option<Coordinator> {
        None
    }
}

/// The operations (`ops.rs`) on this engine.
mod ops {
    crate::ops::store_ops!(super::SqliteStore, sqlx::Sqlite, Dialect::Sqlite);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A new store in a folder of its own (kept while the folder lives).
    async fn fresh() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let store = SqliteStore::open_path(&dir.path().join("t.db"))
            .await
            .unwrap();
        (dir, store)
    }

    /// The v1 job list answers every sort key but the live duration from its index: a page
    /// skips its offset over index entries alone (no table row read per skipped job) and
    /// sorts nothing. Fails when a list filter column (such as `api`) is missing from the
    /// indexes: a deep page at 100k jobs then cost 3.4x as much.
    #[tokio::test]
    async fn job_list_pages_come_from_the_list_indexes() {
        use crate::sql::{Arg, Dialect};
        use crate::{JobFilter, JobSort};
        let (_dir, store) = fresh().await;
        for sort in [
            JobSort::Name,
            JobSort::Desc,
            JobSort::Status,
            JobSort::VersionCount,
            JobSort::CreateTime,
        ] {
            for descending in [false, true] {
                let f = JobFilter {
                    statuses: Vec::new(),
                    search: None,
                    workspace_id: Some("0".into()),
                    sort,
                    descending,
                    offset: 40,
                    limit: 10,
                    now: 0,
                };
                let list = crate::ops::job_list(Dialect::Sqlite, "p", &f);
                for offset in [0, 40] {
                    let (sql, args) = list.page(offset, 10);
                    let explain = format!("EXPLAIN QUERY PLAN {sql}");
                    let mut query = sqlx::query(&explain);
                    for a in &args {
                        query = match a {
                            Arg::Int(i) => query.bind(*i),
                            Arg::Text(t) => query.bind(t.as_str()),
                        };
                    }
                    let plan: Vec<String> = query
                        .fetch_all(&store.pool)
                        .await
                        .unwrap()
                        .iter()
                        .map(|r| sqlx::Row::get(r, "detail"))
                        .collect();
                    let plan = plan.join("\n");
                    // A deeper page sorts its ten rows once more, after the index gave their ids.
                    let scan = if offset == 0 {
                        assert!(!plan.contains("TEMP B-TREE"), "{sort:?} sorts:\n{plan}");
                        "USING INDEX jobs_list_"
                    } else {
                        "USING COVERING INDEX jobs_list_"
                    };
                    assert!(
                        plan.lines()
                            .any(|l| l.contains(scan) && l.contains("api=? AND workspace_id=?")),
                        "{sort:?} at offset {offset} is not answered by its list index:\n{plan}"
                    );
                }
            }
        }
    }

    /// The generation once no commit is in flight (a commit is over at the latest when its
    /// connection is back in the pool, which sqlx does in a task).
    async fn settled(store: &SqliteStore) -> u64 {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        loop {
            if let Some(g) = store.committed() {
                return g;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "a commit never settled"
            );
            tokio::time::sleep(Duration::from_millis(2)).await;
        }
    }

    /// Every commit moves the generation on, whichever way it was written, and none stays in
    /// flight: a transaction that changed nothing or was rolled back, a statement that commits
    /// when sqlx resets it after its first row.
    #[tokio::test]
    async fn every_commit_moves_the_generation_and_none_stays_in_flight() {
        let (_dir, store) = fresh().await;
        let g0 = settled(&store).await;
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&store.pool)
            .await
            .unwrap();
        let g1 = settled(&store).await;
        assert!(g1 > g0, "a statement on the pool");
        sqlx::query("SELECT * FROM t")
            .fetch_all(&store.pool)
            .await
            .unwrap();
        assert_eq!(settled(&store).await, g1, "a read");

        let mut tx = store.write_tx().await.unwrap();
        sqlx::query("UPDATE t SET x = 1 WHERE x = 2")
            .execute(&mut *tx)
            .await
            .unwrap();
        tx.commit().await.unwrap();
        settled(&store).await; // a transaction that changed nothing

        let mut tx = store.write_tx().await.unwrap();
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut *tx)
            .await
            .unwrap();
        drop(tx); // rolled back in a task, which holds the turn until it has
        let mut tx = store.write_tx().await.unwrap();
        let before = settled(&store).await;
        sqlx::query("INSERT INTO t VALUES (2)")
            .execute(&mut *tx)
            .await
            .unwrap();
        assert_eq!(store.committed(), Some(before), "not committed yet");
        tx.commit().await.unwrap();
        let g2 = settled(&store).await;
        assert!(g2 > before, "a write transaction");

        let id: i64 = sqlx::query_scalar("INSERT INTO t VALUES (3) RETURNING rowid")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert!(id > 0);
        let g3 = settled(&store).await;
        assert!(g3 > g2, "a statement reset after its first row");
        let total: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&store.pool)
            .await
            .unwrap();
        assert_eq!(total, 2);
        assert_eq!(settled(&store).await, g3);
    }

    /// The commits' write-ahead-log hook replaces SQLite's automatic checkpoint, so it checkpoints itself:
    /// the write-ahead log stays near its 1000-frame threshold under many commits instead of
    /// growing with each of them.
    #[tokio::test]
    async fn the_write_ahead_log_is_still_checkpointed() {
        let (dir, store) = fresh().await;
        sqlx::query("CREATE TABLE filler (x BLOB)")
            .execute(&store.pool)
            .await
            .unwrap();
        // Each commit writes a few 4 KiB frames: 3,000 of them would make a log of tens of MB.
        for _ in 0..3000 {
            sqlx::query("INSERT INTO filler (x) VALUES (zeroblob(3000))")
                .execute(&store.pool)
                .await
                .unwrap();
        }
        let wal = std::fs::metadata(dir.path().join("t.db-wal"))
            .unwrap()
            .len();
        assert!(wal < 8 << 20, "the log grew to {wal} bytes");
    }

    /// A database a newer trainyard migrated further is refused by name, not misread.
    #[tokio::test]
    async fn a_database_from_a_newer_binary_is_refused_with_what_to_do() {
        let (dir, store) = fresh().await;
        let path = dir.path().join("t.db");
        sqlx::query(
            "INSERT INTO _sqlx_migrations (version, description, success, checksum, execution_time) \
             VALUES (9999, 'from the future', 1, x'00', 0)",
        )
        .execute(&store.pool)
        .await
        .unwrap();
        store.pool.close().await;
        let refused = SqliteStore::open_path(&path).await.err().unwrap();
        match &refused {
            Error::NewerDatabase { found: 9999, known } => assert!(*known >= 5),
            other => panic!("{other:?}"),
        }
        assert!(refused
            .to_string()
            .contains("upgraded by a newer trainyard"));
    }
}
