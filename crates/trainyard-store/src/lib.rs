//! Persistence of training jobs, versions and configurations.
//!
//! The store speaks domain verbs (create a job, move a version from one status to another with
//! compare-and-set, list with filters) and keeps each job's summary of its newest version in
//! the same transaction as the change that alters it.

mod configs;
mod error;
mod jobs;
mod model;
mod viz;

pub use error::{Error, Result};
pub use jobs::job_duration;
pub use model::*;
pub use viz::{NewVizJob, VizFilter, VizJob, VizSet, VizSort};

use sqlx::pool::PoolConnection;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Executor, Sqlite, SqliteConnection, SqlitePool};
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

/// A write transaction on a pooled connection, run with plain `BEGIN IMMEDIATE`/`COMMIT`
/// statements rather than sqlx's transaction manager.
///
/// Why: after SQLITE_FULL or an I/O error SQLite may have rolled the transaction back on its
/// own; sqlx's `ROLLBACK` then fails, its transaction depth stays at 1 and the connection goes
/// back to the pool unusable ("begin_with at non-zero transaction depth") until a restart.
/// Here a connection goes back to the pool only once it is known to be out of any
/// transaction (committed, or rolled back without error); otherwise it is closed, which
/// rolls back whatever SQLite still holds, and the pool opens a fresh one.
pub(crate) struct WriteTx {
    conn: Option<PoolConnection<Sqlite>>,
}

impl WriteTx {
    async fn begin(pool: &SqlitePool) -> Result<Self> {
        let mut conn = pool.acquire().await?;
        if let Err(e) = conn.execute("BEGIN IMMEDIATE").await {
            discard(conn);
            return Err(e.into());
        }
        Ok(Self { conn: Some(conn) })
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
        match tokio::runtime::Handle::try_current() {
            Ok(rt) => {
                rt.spawn(async move {
                    if conn.execute("ROLLBACK").await.is_err() {
                        discard(conn);
                    }
                });
            }
            Err(_) => discard(conn),
        }
    }
}

/// Closes a connection instead of returning it to the pool: SQLite rolls back what it holds.
fn discard(conn: PoolConnection<Sqlite>) {
    drop(conn.detach());
}

/// The SQLite store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Store {
    pool: SqlitePool,
}

impl Store {
    /// Opens (creating if missing) the database at `url` (`sqlite://path` or a plain path) and
    /// applies the migrations.
    pub async fn open(url: &str) -> Result<Self> {
        let url = if url.contains("://") || url.starts_with("sqlite:") {
            url.to_owned()
        } else {
            format!("sqlite://{url}")
        };
        if !url.starts_with("sqlite:") {
            let scheme = url.split("://").next().unwrap_or_default();
            return Err(Error::UnsupportedEngine(scheme.to_owned()));
        }
        let opts = SqliteConnectOptions::from_str(&url)
            .map_err(Error::Db)?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(10));
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(opts)
            .await
            .map_err(Error::Db)?;
        sqlx::migrate!("migrations/sqlite").run(&pool).await?;
        Ok(Self { pool })
    }

    /// A write transaction that takes the write lock up front (`BEGIN IMMEDIATE`), so two
    /// concurrent read-then-write transactions wait for each other instead of failing busy.
    pub(crate) async fn write_tx(&self) -> Result<WriteTx> {
        WriteTx::begin(&self.pool).await
    }

    /// Opens the database file `path`.
    pub async fn open_path(path: &Path) -> Result<Self> {
        Self::open(&format!("sqlite://{}", path.display())).await
    }
}
