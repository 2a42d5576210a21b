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

use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::SqlitePool;
use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

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
    pub(crate) async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Sqlite>> {
        Ok(self.pool.begin_with("BEGIN IMMEDIATE").await?)
    }

    /// Opens the database file `path`.
    pub async fn open_path(path: &Path) -> Result<Self> {
        Self::open(&format!("sqlite://{}", path.display())).await
    }
}
