//! The PostgreSQL engine: one database shared by several servers, and what they need to
//! share it: duties held by one server at a time (session advisory locks) and notices from
//! one server to the others (`LISTEN`/`NOTIFY`).

use crate::advisory::duty_key;
use crate::snapshots::Snapshots;
use crate::{Committed, Engine, Error, Result, StoreOptions};
use sqlx::postgres::{PgConnectOptions, PgListener, PgPool, PgPoolOptions};
use sqlx::{Connection, PgConnection};
use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

/// The `LISTEN`/`NOTIFY` channel servers use to tell each other about work.
const CHANNEL: &str = "trainyard";

/// A pooled connection idle this long is pinged before it is used again.
const PING_IDLE: Duration = Duration::from_secs(1);

/// How long a liveness check of a duty's session may take before the duty counts as lost.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// The pool's size unless configured: twice this host's cores, 4 to 16. A request holds a
/// connection for one statement, so more connections than the server can keep busy only add
/// database processes competing for the same cores (on 2 cores, 16 served a list page at
/// three quarters of the rate 4 did; `bench/results.md`).
fn default_pool_size() -> u32 {
    let cores = std::thread::available_parallelism().map_or(2, |n| n.get() as u32);
    (2 * cores).clamp(4, 16)
}

/// A pooled connection a batch of statements runs on (see [`PgStore::batch`]).
pub(crate) struct PgBatch(sqlx::pool::PoolConnection<sqlx::Postgres>);

impl PgBatch {
    /// The batch ran with `result`; PostgreSQL ends a failed string's implicit transaction
    /// itself.
    pub(crate) async fn end<T>(self, result: sqlx::Result<T>) -> Result<T> {
        result.map_err(Into::into)
    }
}

impl std::ops::Deref for PgBatch {
    type Target = PgConnection;

    fn deref(&self) -> &PgConnection {
        &self.0
    }
}

impl std::ops::DerefMut for PgBatch {
    fn deref_mut(&mut self) -> &mut PgConnection {
        &mut self.0
    }
}

/// The PostgreSQL store. Cheap to clone.
#[derive(Clone, Debug)]
pub struct PgStore {
    pool: PgPool,
    snapshots: Arc<Snapshots>,
}

impl PgStore {
    const ENGINE: Engine = Engine::Postgres;

    /// Connects to `url` (`postgres://user@host:port/db`) and applies the migrations. sqlx's
    /// migrator holds a session advisory lock (keyed by the database name) while it works, so
    /// servers that start together wait for each other and apply each migration once.
    pub async fn open(url: &str, opts: &StoreOptions) -> Result<Self> {
        let connect = PgConnectOptions::from_str(url)
            .map_err(Error::Db)?
            .application_name("trainyard");
        let pool = PgPoolOptions::new()
            .max_connections(opts.max_connections.unwrap_or_else(default_pool_size))
            .acquire_timeout(Duration::from_secs(10))
            // sqlx pings a connection when it goes back to the pool, and by default again when
            // it is taken out: a second round trip per statement, for a check the first one
            // made moments ago on a busy server. Only a connection idle for a while (during
            // which the database may have restarted) is pinged before use.
            .test_before_acquire(false)
            .before_acquire(|conn, meta| {
                Box::pin(async move {
                    if meta.idle_for >= PING_IDLE {
                        conn.ping().await?;
                    }
                    Ok(true)
                })
            })
            .connect_with(connect)
            .await?;
        Error::migrate(&sqlx::migrate!("migrations/postgres"), &pool).await?;
        Ok(Self {
            snapshots: Snapshots::new(pool.clone()),
            pool,
        })
    }

    /// A transaction (sqlx's; PostgreSQL survives a failed statement without leaving the
    /// connection unusable, unlike SQLite on a full disk).
    async fn write_tx(&self) -> Result<sqlx::Transaction<'static, sqlx::Postgres>> {
        Ok(self.pool.begin().await?)
    }

    /// A connection for a string of several statements ([`PgBatch`]). `ops.rs` sends such
    /// strings on SQLite only: PostgreSQL prepares one statement per string that carries
    /// parameters, so its writes go statement by statement in a [`Self::write_tx`].
    async fn batch(&self) -> Result<PgBatch> {
        Ok(PgBatch(self.pool.acquire().await?))
    }

    /// Other servers commit to this database unseen: a snapshot of the cluster taken after
    /// this call, one round trip shared with the calls waiting beside it (`snapshots.rs`).
    async fn committed_mark(&self) -> Option<Committed> {
        self.snapshots.after_now().await.map(Committed::snapshot)
    }

    /// Several servers may share this database.
    fn coordinator(&self) -> Option<Coordinator> {
        Some(Coordinator {
            pool: self.pool.clone(),
        })
    }
}

/// The operations (`ops.rs`) on this engine.
mod ops {
    crate::ops::store_ops!(super::PgStore, sqlx::Postgres, Dialect::Postgres);
}

/// What the servers sharing one PostgreSQL database use to divide work. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Coordinator {
    pool: PgPool,
}

impl Coordinator {
    /// A session of its own (outside the pool, so the pool never recycles it) on which this
    /// server competes for duties.
    pub async fn duty_session(&self) -> Result<DutySession> {
        let conn = self.pool.acquire().await?.detach();
        Ok(DutySession { conn })
    }

    /// Sends `payload` to every server listening (this one included). Delivered only if the
    /// sender's statement commits, and only to servers listening at that moment.
    pub async fn notify(&self, payload: &str) -> Result<()> {
        sqlx::query("SELECT pg_notify($1, $2)")
            .bind(CHANNEL)
            .bind(payload)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// Records `value` under `name` for the other servers (last write wins).
    pub async fn share(&self, name: &str, value: &str) -> Result<()> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        sqlx::query(
            "INSERT INTO shared_records (name, value, update_time) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO UPDATE SET value = excluded.value, update_time = excluded.update_time",
        )
        .bind(name)
        .bind(value)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(())
    }

    /// Records `value` under `name` unless a value is there already, and answers the value
    /// kept: the first server's, whichever servers race (a secret every server must share).
    pub async fn share_once(&self, name: &str, value: &str) -> Result<String> {
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_millis() as i64);
        sqlx::query(
            "INSERT INTO shared_records (name, value, update_time) VALUES ($1, $2, $3) \
             ON CONFLICT (name) DO NOTHING",
        )
        .bind(name)
        .bind(value)
        .bind(now)
        .execute(&self.pool)
        .await?;
        Ok(self.shared(name).await?.unwrap_or_else(|| value.to_owned()))
    }

    /// What a server last recorded under `name`.
    pub async fn shared(&self, name: &str) -> Result<Option<String>> {
        Ok(
            sqlx::query_scalar("SELECT value FROM shared_records WHERE name = $1")
                .bind(name)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    /// Starts listening for notices (on a connection of its own).
    pub async fn listen(&self) -> Result<Notices> {
        let mut listener = PgListener::connect_with(&self.pool).await?;
        listener.listen(CHANNEL).await?;
        Ok(Notices { listener })
    }
}

/// A database session on which duties are held: a duty is a session-level advisory lock, so
/// it is released by PostgreSQL the moment the session ends, including when the server holding
/// it dies (its connection closes) — which is what lets another server take it over.
#[derive(Debug)]
pub struct DutySession {
    conn: PgConnection,
}

/// A duty this session holds (it is released with the session).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DutyHold {
    key: i64,
}

impl DutySession {
    /// Takes `duty` if no other session holds it (`pg_try_advisory_lock`, never waiting).
    pub async fn try_take(&mut self, duty: &str) -> Result<Option<DutyHold>> {
        let key = duty_key(duty);
        let taken: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1)")
            .bind(key)
            .fetch_one(&mut self.conn)
            .await?;
        Ok(taken.then_some(DutyHold { key }))
    }

    /// Checks that the session, and with it every duty it holds, is still alive: the lock is
    /// still listed as this session's in `pg_locks`. An error (or a timeout) means the duties
    /// may already be another server's.
    pub async fn check(&mut self, hold: DutyHold) -> Result<bool> {
        let check = sqlx::query_scalar(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted \
             AND pid = pg_backend_pid() AND objid = ($1::bigint & 4294967295)::oid \
             AND classid = (($1::bigint >> 32) & 4294967295)::oid)",
        )
        .bind(hold.key)
        .fetch_one(&mut self.conn);
        match tokio::time::timeout(CHECK_TIMEOUT, check).await {
            Ok(held) => Ok(held?),
            Err(_) => Err(Error::Unavailable(sqlx::Error::PoolTimedOut)),
        }
    }

    /// Ends the session, releasing its duties.
    pub async fn close(self) {
        let _ = self.conn.close().await;
    }
}

/// Notices sent by [`Coordinator::notify`], as this server receives them.
#[derive(Debug)]
pub struct Notices {
    listener: PgListener,
}

impl Notices {
    /// The next notice. `Ok(None)`: the connection was lost and is being re-established;
    /// notices sent meanwhile are lost, so the caller looks at the database itself once.
    pub async fn recv(&mut self) -> Result<Option<String>> {
        Ok(self
            .listener
            .try_recv()
            .await?
            .map(|n| n.payload().to_owned()))
    }
}
