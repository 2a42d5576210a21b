//! Store errors.

/// Store result.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// What can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// A unique name is taken (job name, config name).
    #[error("name already exists")]
    Conflict,
    /// The pool is exhausted or the database is busy.
    #[error("database unavailable: {0}")]
    Unavailable(#[source] sqlx::Error),
    /// The disk holding the database is full (SQLITE_FULL); writes work again once space is
    /// freed.
    #[error("database disk full: {0}")]
    Full(#[source] sqlx::Error),
    /// Any other database error.
    #[error("database error: {0}")]
    Db(#[source] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed: {0}")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// A stored JSON column could not be read.
    #[error("corrupt stored value: {0}")]
    Corrupt(#[from] serde_json::Error),
    /// The database URL names an engine we do not have.
    #[error("unsupported database engine '{0}' (supported: sqlite)")]
    UnsupportedEngine(String),
}

impl From<sqlx::Error> for Error {
    fn from(e: sqlx::Error) -> Self {
        match &e {
            sqlx::Error::Database(db) if db.is_unique_violation() => Error::Conflict,
            sqlx::Error::PoolTimedOut => Error::Unavailable(e),
            // SQLITE_BUSY and its extended codes: the database stayed locked past busy_timeout.
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| c == "5" || c.parse::<i32>().is_ok_and(|n| n & 0xff == 5)) =>
            {
                Error::Unavailable(e)
            }
            // SQLITE_FULL (13): the disk is full, or the database hit its size limit.
            sqlx::Error::Database(db)
                if db
                    .code()
                    .is_some_and(|c| c.parse::<i32>().is_ok_and(|n| n & 0xff == 13)) =>
            {
                Error::Full(e)
            }
            _ => Error::Db(e),
        }
    }
}
