//! Throwaway databases for tests (feature `test-support`): an SQLite file in a temporary
//! folder, or a fresh database on a test PostgreSQL, each test its own.
//!
//! PostgreSQL comes from `TRAINYARD_TEST_DATABASE_URL` (a URL whose user may create
//! databases), else from `scripts/pg-dev.sh start` (a throwaway cluster: initdb + pg_ctl on a
//! temporary folder; installs Debian's postgresql as root). When neither works the
//! PostgreSQL half of a suite is skipped with a `SKIPPED` line, except under `CI=true`, where
//! it fails: CI must run both engines.

use crate::{Engine, Store, StoreOptions};
use sqlx::Connection;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

/// The PostgreSQL URL that test databases are created through; `None` when there is none
/// (not under CI).
pub fn postgres_admin_url() -> Option<String> {
    static URL: OnceLock<Result<String, String>> = OnceLock::new();
    let found = URL.get_or_init(|| {
        if let Ok(url) = std::env::var("TRAINYARD_TEST_DATABASE_URL") {
            return Ok(url);
        }
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../scripts/pg-dev.sh");
        match std::process::Command::new("bash")
            .arg(script)
            .arg("start")
            .output()
        {
            Ok(out) if out.status.success() => {
                Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
            }
            Ok(out) => Err(format!(
                "scripts/pg-dev.sh start failed: {}",
                String::from_utf8_lossy(&out.stderr).trim()
            )),
            Err(e) => Err(format!("cannot run scripts/pg-dev.sh: {e}")),
        }
    });
    match found {
        Ok(url) => Some(url.clone()),
        Err(why) if std::env::var("CI").is_ok_and(|v| v == "true") => {
            panic!("CI=true needs PostgreSQL for the tests: {why} (or set TRAINYARD_TEST_DATABASE_URL)")
        }
        Err(_) => None,
    }
}

/// A database that exists for one test; a PostgreSQL one is dropped with this value.
#[derive(Debug)]
pub struct TestDatabase {
    /// Its URL.
    pub url: String,
    engine: Engine,
    _dir: Option<tempfile::TempDir>,
    /// Admin URL and database name, to drop it.
    postgres: Option<(String, String)>,
}

impl TestDatabase {
    /// A fresh database of `engine`; `None` (with a `SKIPPED` line naming `test`) when that
    /// engine is PostgreSQL and none is available outside CI.
    pub async fn new(engine: Engine, test: &str) -> Option<Self> {
        match engine {
            Engine::Sqlite => Some(Self::sqlite()),
            Engine::Postgres => {
                let db = Self::postgres().await;
                if db.is_none() {
                    println!("SKIPPED {test} on postgres: no PostgreSQL (set TRAINYARD_TEST_DATABASE_URL, or run as root so scripts/pg-dev.sh can install one)");
                }
                db
            }
        }
    }

    /// A fresh SQLite file.
    pub fn sqlite() -> Self {
        let dir = tempfile::tempdir().expect("temporary folder");
        Self {
            url: format!("sqlite://{}", dir.path().join("t.db").display()),
            engine: Engine::Sqlite,
            _dir: Some(dir),
            postgres: None,
        }
    }

    /// A fresh, empty database on the test PostgreSQL; `None` when there is none.
    pub async fn postgres() -> Option<Self> {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        let admin = postgres_admin_url()?;
        let name = format!(
            "trainyard_test_{}_{}_{:08x}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed),
            rand_u32()
        );
        let mut conn = sqlx::PgConnection::connect(&admin)
            .await
            .unwrap_or_else(|e| panic!("connecting to the test PostgreSQL {admin}: {e}"));
        sqlx::query(&format!("CREATE DATABASE \"{name}\""))
            .execute(&mut conn)
            .await
            .unwrap_or_else(|e| panic!("creating database {name}: {e}"));
        let _ = conn.close().await;
        let base = admin.split('?').next().unwrap_or(&admin);
        let base = base.rsplit_once('/').map_or(base, |(b, _)| b);
        Some(Self {
            url: format!("{base}/{name}"),
            engine: Engine::Postgres,
            _dir: None,
            postgres: Some((admin, name)),
        })
    }

    /// The engine of this database.
    pub fn engine(&self) -> Engine {
        self.engine
    }

    /// Opens (and migrates) the store.
    pub async fn open(&self) -> Arc<dyn Store> {
        crate::open(&self.url, &StoreOptions::default())
            .await
            .unwrap_or_else(|e| panic!("opening {}: {e}", self.url))
    }
}

impl Drop for TestDatabase {
    /// Drops a PostgreSQL test database (closing its sessions), from a thread of its own: this
    /// may run inside or outside a runtime.
    fn drop(&mut self) {
        let Some((admin, name)) = self.postgres.take() else {
            return;
        };
        let dropped = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .ok()?;
            rt.block_on(async {
                let mut conn = sqlx::PgConnection::connect(&admin).await.ok()?;
                sqlx::query(&format!("DROP DATABASE IF EXISTS \"{name}\" WITH (FORCE)"))
                    .execute(&mut conn)
                    .await
                    .ok()?;
                let _ = conn.close().await;
                Some(())
            })
        });
        let _ = dropped.join();
    }
}

/// A mark of the committed state for tests of what keeps bodies by mark: marks of equal `n`
/// are equal (an SQLite generation).
pub fn committed_mark(n: u64) -> crate::Committed {
    crate::Committed::generation(n)
}

/// A little randomness for database names (two test processes may share one PostgreSQL).
fn rand_u32() -> u32 {
    use std::hash::{BuildHasher, Hasher};
    let mut h = std::collections::hash_map::RandomState::new().build_hasher();
    h.write_u128(
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos()),
    );
    h.finish() as u32
}

/// Writes one test body, run on every engine: `engine_suite! { async fn name(store) { ... } }`
/// gives `sqlite::name` and `postgres::name`, each with a fresh database opened as `store`
/// (an `Arc<dyn Store>`) and the [`TestDatabase`] as `db` for tests that reopen it.
#[macro_export]
macro_rules! engine_suite {
    ($(
        $(#[$meta:meta])*
        async fn $name:ident($store:ident, $db:ident) $body:block
    )*) => {
        $crate::engine_suite!(@engine sqlite, $crate::Engine::Sqlite; $($(#[$meta])* async fn $name($store, $db) $body)*);
        $crate::engine_suite!(@engine postgres, $crate::Engine::Postgres; $($(#[$meta])* async fn $name($store, $db) $body)*);
    };
    (@engine $module:ident, $engine:expr; $(
        $(#[$meta:meta])*
        async fn $name:ident($store:ident, $db:ident) $body:block
    )*) => {
        mod $module {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$meta])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() {
                    let Some($db) = $crate::testing::TestDatabase::new($engine, stringify!($name)).await else {
                        return;
                    };
                    #[allow(unused_variables)]
                    let $store = $db.open().await;
                    $body
                }
            )*
        }
    };
}
