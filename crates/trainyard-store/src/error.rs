//! Store errors.

/// Store result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unique name is taken (job name, config name).
    #[error("name already exists")]
    Conflict,
    /// A create would take the project past one of its limits ([`crate::NewJob::quota`],
    /// [`crate::VersionQuota`]), counted in the create's own write transaction; nothing
    /// was written.
    #[error("the project's quota of {0:?} is reached")]
    Quota(crate::QuotaLimit),
    /// The pool is exhausted, the database is busy or cannot be reached for now, or a
    /// concurrent writer won a deadlock: trying again later may work.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The disk holding the database is full (SQLITE_FULL, PostgreSQL's 53100); writes work
    /// again once space is freed.
    #[error("database disk full: {0}")]
    Full(#[source] sqlx::Error),
    /// Any other database error.
    #[error("database error: {0}")]
    Db(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The database holds a migration this binary does not know: a newer trainyard wrote it,
    /// and this one would misread it.
    #[error("the database was upgraded by a newer trainyard (it has migration {found}; this binary knows migrations up to {known}): run that newer trainyard, or restore a backup made before the upgrade")]
    NewerDatabase {
        /// The unknown migration's version.
        found: i64,
        /// The newest migration this binary has.
        known: i64,
    },
    /// A stored JSON column could not be read.
    #[error("corrupt stored value: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The database URL names an engine we do not have.
    #[error("unsupported database engine '{0}' (supported: sqlite://PATH, postgres://USER@HOST:PORT/DB)")]
    UnsupportedEngine(String),
}

impl Error {
    /// Runs `migrator` on `pool`, telling a database from a newer binary apart from a failure.
    pub(crate) async fn migrate<'a, A>(
        migrator: &sqlx::migrate::Migrator,
        pool: A,
    ) -> Result<(), Self>
    where
        A: sqlx::Acquire<'a>,
        <A::Connection as std::ops::Deref>::Target: sqlx::migrate::Migrate,
    {
        match migrator.run(pool).await {
            Err(sqlx::migrate::MigrateError::VersionMissing(found)) => Err(Self::NewerDatabase {
                found,
                known: migrator.iter().map(|m| m.version).max().unwrap_or(0),
            }),
            other => Ok(other?),
        }
    }
}

/// What an engine's error code says about the error.
enum Kind {
    Busy,
    Full,
    Other,
}

/// SQLite's primary result codes (the low byte of extended ones): 5 SQLITE_BUSY (locked past
/// busy_timeout), 13 SQLITE_FULL.
fn sqlite_kind(code: &str) -> Kind {
    match code.parse::<i32>().map(|n| n & 0xff) {
        Ok(5) => Kind::Busy,
        Ok(13) => Kind::Full,
        _ => Kind::Other,
    }
}

/// PostgreSQL SQLSTATEs: class 08 connection exceptions, 40001 serialization failure, 40P01
/// deadlock (PostgreSQL aborted this side; a retry succeeds), 53300 too many connections,
/// 57P01..57P03 the server is shutting down or starting; 53100 disk full.
fn postgres_kind(code: &str) -> Kind {
    match code {
        "53100" => Kind::Full,
        "40001" | "40P01" | "53300" | "57P01" | "57P02" | "57P03" => Kind::Busy,
        c if c.starts_with("08") => Kind::Busy,
        _ => Kind::Other,
    }
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        let kind = match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => return Error::Conflict,
            sqlx::Error::PoolTimedOut | sqlx::Error::PoolClosed | sqlx::Error::Io(_) => {
                return Error::Unavailable(e)
            }
            sqlx::Error::Database(db) => match db.code() {
                Some(code) if db.try_downcast_ref::<sqlx::sqlite::SqliteError>().is_some() => {
                    sqlite_kind(&code)
                }
                Some(code)
                    if db
                        .try_downcast_ref::<sqlx::postgres::PgDatabaseError>()
                        .is_some() =>
                {
                    postgres_kind(&code)
                }
                _ => Kind::Other,
            },
            _ => Kind::Other,
        };
        match kind {
            Kind::Busy => Error::Unavailable(e),
            Kind::Full => Error::Full(e),
            Kind::Other => Error::Db(e),
        }
    }
}
