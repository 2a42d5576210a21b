//! The trainyard server: configuration, store, executor and the HTTP API, wired by `build`.

pub mod backup;
pub mod catalog;
pub mod config;
pub mod conn;
pub mod credentials;
pub mod data_lock;
pub mod error;
pub mod http;
pub mod identity;
pub mod job_users;
pub mod obs;
pub mod origin;
pub mod service;
pub mod storage;
pub mod telemetry;
pub mod throttle;
pub mod tls;
pub mod url_key;
pub mod util;

use crate::catalog::Catalog;
use crate::config::Config;
use crate::http::state::AppState;
use crate::service::executor::Executor;
use crate::service::lifecycle::RunContext;
use crate::service::Service;
use crate::storage::Storage;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// A built server, ready to serve.
pub struct App {
    /// The routes; [`serve`] puts the layers every request passes in front (`http::front`).
    pub router: axum::Router,
    /// Shared state.
    pub state: AppState,
    /// Address from the configuration.
    pub listen: std::net::SocketAddr,
    /// Credentials generated on this start (first start without projects), to print once.
    pub generated: Option<credentials::Generated>,
    /// The data directory in use.
    pub data_dir: PathBuf,
    /// HTTPS acceptor when `[tls]` is configured.
    pub tls: Option<tokio_rustls::TlsAcceptor>,
    /// The certificate served, when `[tls]` is configured.
    pub tls_cert: Option<tls::CertInfo>,
    /// The OBS/S3 endpoint over project storage, served on the same port (see [`obs`]).
    pub obs: obs::Endpoint,
    /// Connection limits of `[server]`.
    pub limits: conn::Limits,
    /// The data folder, this server's alone on the embedded database ([`data_lock`]).
    pub data_lock: Option<data_lock::DataLock>,
}

impl App {
    /// `https` when serving TLS, else `http`.
    pub fn scheme(&self) -> &'static str {
        if self.tls.is_some() {
            "https"
        } else {
            "http"
        }
    }
}

/// Errors building the server.
#[derive(Debug, thiserror::Error)]
pub enum BuildError {
    /// Bad configuration.
    #[error(transparent)]
    Config(#[from] config::ConfigError),
    /// The `[tls]` certificate or key cannot be used.
    #[error(transparent)]
    Tls(#[from] tls::TlsError),
    /// Database could not be opened or migrated.
    #[error("database: {0}")]
    Store(#[from] trainyard_store::Error),
    /// Files could not be created.
    #[error("{what}: {source}")]
    Io {
        what: String,
        source: std::io::Error,
    },
    /// Recovery of earlier runs failed.
    #[error("recovering earlier jobs: {0}")]
    Recover(String),
    /// Another server holds the data folder.
    #[error(transparent)]
    DataLock(#[from] data_lock::LockError),
}

/// Lets the projects' users pass through (not list) the folders above their runs and their
/// storage (the server's umask makes them private), and checks that the folders above those
/// let them pass too: a job must reach its code and its storage.
fn open_to_job_users(dirs: &[&std::path::Path]) -> Result<(), BuildError> {
    use std::os::unix::fs::PermissionsExt;
    if !trainyard_exec::sandbox::privileged() {
        return Ok(());
    }
    for dir in dirs {
        let dir = dir
            .canonicalize()
            .map_err(io(format!("{}", dir.display())))?;
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o711))
            .map_err(io(format!("{}", dir.display())))?;
        for above in dir.ancestors().skip(1) {
            let mode = std::fs::metadata(above)
                .map_err(io(format!("{}", above.display())))?
                .permissions()
                .mode();
            if mode & 0o001 == 0 {
                return Err(config::ConfigError::Invalid(format!(
                    "jobs run as their projects' users, who cannot pass through {} (mode {:o}) to reach {}: choose a data_dir (or storage root) below folders that others may pass (chmod o+x), e.g. /var/lib/trainyard",
                    above.display(),
                    mode & 0o7777,
                    dir.display()
                ))
                .into());
            }
        }
    }
    Ok(())
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> BuildError {
    let what = what.into();
    move |source| BuildError::Io { what, source }
}

/// Wires store, storage, catalogs, executor and router from `config`. `shim_program` is the
/// binary that has the hidden `shim` and `slurm-task` subcommands (the running `trainyard`);
/// local runs start under `trainyard-shim` beside it when it is installed.
pub async fn build(mut config: Config, shim_program: PathBuf) -> Result<App, BuildError> {
    config.validate()?;
    let data_dir = config.data_dir();
    std::fs::create_dir_all(&data_dir)
        .map_err(io(format!("cannot create data dir {}", data_dir.display())))?;
    // Before anything is read or reattached: replicas share a folder only over PostgreSQL.
    let embedded = config
        .database_url
        .as_deref()
        .is_none_or(|url| url.starts_with("sqlite:"));
    let data_lock = match embedded {
        true => Some(data_lock::take(&data_dir, config.listen())?),
        false => None,
    };
    let generated = if config.projects.is_empty() {
        let stored = credentials::load_or_create(&data_dir).map_err(io("credentials.toml"))?;
        config.projects = stored.projects;
        config
            .metrics
            .scrape_token
            .get_or_insert(stored.metrics_token);
        stored.generated
    } else {
        None
    };
    let db_url = config
        .database_url
        .clone()
        .unwrap_or_else(|| format!("sqlite://{}", data_dir.join("trainyard.db").display()));
    let store_opts = trainyard_store::StoreOptions {
        max_connections: config.database_pool_size,
    };
    let store = trainyard_store::open(&db_url, &store_opts).await?;
    let storage_root = config
        .storage
        .root
        .clone()
        .unwrap_or_else(|| data_dir.join("obs"));
    let users = job_users::JobUsers::load(&config, &data_dir)?;
    let mut storage = Storage::new(storage_root.clone())
        .map_err(io("storage root"))?
        .with_users(users)
        .map_err(io("project folders"))?
        .with_quotas(&config.projects);
    if let Some(s3) = config.storage.s3()? {
        let cache = data_dir.join("cache");
        std::fs::create_dir_all(&cache).map_err(io("data cache"))?;
        storage = storage
            .with_objects(storage::ObjectStorage {
                client: trainyard_exec::objects::Objects::new(s3.clone()),
                s3,
                buckets: config
                    .projects
                    .iter()
                    .map(|p| (p.id.clone(), p.buckets.clone()))
                    .collect(),
                cache,
                cache_max_bytes: config
                    .storage
                    .cache_max_bytes
                    .unwrap_or(config::DEFAULT_CACHE_MAX_BYTES),
                upload_interval: Duration::from_secs_f64(
                    config
                        .storage
                        .upload_interval_seconds
                        .unwrap_or(30.0)
                        .max(0.1),
                ),
                checkpoint_interval: Duration::from_secs_f64(
                    config
                        .storage
                        .checkpoint_interval_seconds
                        .unwrap_or(config::DEFAULT_CHECKPOINT_INTERVAL_SECONDS),
                ),
            })
            .map_err(io("data cache"))?;
    }
    let runs_dir = data_dir.join("runs");
    std::fs::create_dir_all(&runs_dir).map_err(io("runs dir"))?;
    let mut passable = vec![
        data_dir.as_path(),
        runs_dir.as_path(),
        storage_root.as_path(),
    ];
    // Jobs follow their data links into the cache (their project's folder there keeps
    // other projects out).
    if let Some(objects) = storage.objects() {
        passable.push(&objects.cache);
    }
    open_to_job_users(&passable)?;
    clean_staging(&runs_dir);

    let (total, gpus) = service::capacity::total(&config.executor);
    let catalog = Arc::new(Catalog::from_config(
        &config,
        total.cores,
        total.memory_gb,
        total.gpus,
    ));
    let grace = config.executor.stop_grace();
    let telemetry = Arc::new(telemetry::Telemetry::new(
        config.metrics.sample_interval_ms(),
        config.metrics.scrape_token.clone(),
        config.metrics.loopback_without_token,
    ));
    let containers = config
        .executor
        .container_runtime()?
        .map(|program| config::ContainerRuntime {
            program,
            pull_timeout_seconds: config
                .executor
                .image_pull_timeout_seconds
                .unwrap_or(config::DEFAULT_IMAGE_PULL_TIMEOUT_SECONDS),
        });
    let hooks = Arc::new(service::notify::Hooks::from_config(&config)?);
    if !hooks.is_empty() {
        tokio::spawn(service::notify::send::run(store.clone(), hooks.clone()));
    }
    let run_ctx = Arc::new(RunContext::new(
        &config,
        store.clone(),
        catalog.clone(),
        storage.clone(),
        shim_program,
        telemetry.clone(),
        containers,
        hooks,
    ));
    let followers = run_ctx.followers().clone();
    // On a database other servers share, the executor and the visualization jobs wait until
    // this server takes the scheduling duty (service::cluster); alone, it has it now.
    let coordinator = store.coordinator();
    let url_key = url_key::load(&data_dir, coordinator.as_ref()).await?;
    let executor = match coordinator {
        None => Executor::start(run_ctx.clone(), gpus)
            .await
            .map_err(|e| BuildError::Recover(e.to_string()))?,
        Some(_) => Executor::new(run_ctx.clone(), gpus),
    };
    let (tls, tls_cert) = match &config.tls {
        None => (None, None),
        Some(t) => {
            let (cert, key) = t.files(&data_dir);
            let generated = t.self_signed && tls::ensure_self_signed(&cert, &key, config.listen())?;
            let (acceptor, fingerprint) = tls::acceptor(&cert, &key)?;
            let info = tls::CertInfo {
                cert,
                fingerprint,
                generated,
                self_signed: t.self_signed,
            };
            (Some(acceptor), Some(info))
        }
    };
    if tls.is_some() && config.viz.public_base.is_none() {
        config.viz.public_base = Some(format!("https://{}", config.listen()));
    }
    let mut viz_ctx = service::viz::VizContext::new(
        &config.viz,
        &data_dir,
        config.listen(),
        store.clone(),
        storage.clone(),
        executor.clone(),
        run_ctx.local_shim().to_path_buf(),
        runs_dir.clone(),
    );
    viz_ctx.flavor_demand = catalog
        .specs
        .iter()
        .map(|s| {
            (
                s.spec_code.to_ascii_lowercase(),
                service::capacity::demand(Some(s), 1),
            )
        })
        .collect();
    viz_ctx.default_flavor = catalog.default_viz_flavor().map(|s| s.spec_code.clone());
    let (viz, cluster) = match coordinator {
        None => {
            let viz = service::viz::VizManager::start(viz_ctx)
                .await
                .map_err(|e| BuildError::Recover(e.to_string()))?;
            let cluster = service::cluster::Cluster::single(executor.clone(), viz.clone());
            (viz, cluster)
        }
        Some(coordinator) => {
            let viz = service::viz::VizManager::new(viz_ctx);
            let cluster =
                service::cluster::Cluster::shared(executor.clone(), viz.clone(), coordinator);
            (viz, cluster)
        }
    };
    let identity = identity::Identity::from_projects(&config.projects)?.with_caps(
        config
            .sign_in
            .max_tokens_per_identity
            .unwrap_or(config::DEFAULT_MAX_ISSUED_PER_IDENTITY),
        config
            .sign_in
            .max_temporary_keys_per_identity
            .unwrap_or(config::DEFAULT_MAX_ISSUED_PER_IDENTITY),
    );
    let public = origin::PublicUrls::new(
        config.listen(),
        tls.is_some(),
        &config.server.public_urls,
        config.viz.public_base.as_deref(),
    );
    let svc = Service::new(service::Parts {
        store,
        catalog,
        storage,
        executor,
        run_ctx,
        runs_dir,
        projects: config
            .projects
            .iter()
            .map(|p| (p.id.clone(), p.clone()))
            .collect(),
        grace,
        max_upload_bytes: config
            .storage
            .max_upload_bytes
            .unwrap_or(config::DEFAULT_MAX_UPLOAD_BYTES),
        viz,
        cluster,
        followers,
        url_key,
    });
    let state = AppState::new(svc, identity, &config, telemetry, public);
    if let Some(quotas) = state.svc().storage().quotas() {
        let every = config
            .storage
            .quota_scan_seconds
            .unwrap_or(storage::quota::DEFAULT_SCAN_SECONDS);
        tokio::spawn(service::quota::enforce(
            Arc::downgrade(state.svc()),
            quotas.clone(),
            std::time::Duration::from_secs_f64(every),
        ));
    }
    let router = http::router(state.clone());
    let obs = obs::endpoint(&state, obs::Limits::from_config(&config.obs));
    Ok(App {
        router,
        state,
        listen: config.listen(),
        generated,
        data_dir,
        tls,
        tls_cert,
        obs,
        limits: conn::Limits::from_config(&config.server),
        data_lock,
    })
}

/// Removes half-made code snapshots left by a crash.
fn clean_staging(runs_dir: &std::path::Path) {
    if let Ok(rd) = std::fs::read_dir(runs_dir) {
        for e in rd.flatten() {
            if e.file_name()
                .to_str()
                .is_some_and(|n| n.starts_with("staging-"))
            {
                let _ = std::fs::remove_dir_all(e.path());
            }
        }
    }
}

/// Serves `app` on `listener` until `shutdown` resolves; running jobs keep running. Ends with
/// an error when this server lost a duty it held on a shared database (another server may
/// hold it now, so this one must not go on acting on it).
pub async fn serve(
    app: App,
    listener: tokio::net::TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let api = http::front(app.router, &app.state);
    // S3-signed requests go to the OBS endpoint before the API's path normalization.
    let svc = obs::Dispatch::new(app.obs, api);
    // The signal also ends open log streams, which would otherwise hold the graceful shutdown
    // until their versions end.
    let stop = app.state.shutdown().clone();
    let lost = app.state.svc().cluster().lost();
    let lost_why = Arc::new(std::sync::Mutex::new(None));
    let lost_slot = lost_why.clone();
    let shutdown = async move {
        tokio::select! {
            () = shutdown => {}
            why = lost => *lost_slot.lock().expect("lost lock") = Some(why),
        }
        stop.send_replace(true);
    };
    let public = app.state.public().clone();
    if let Ok(addr) = listener.local_addr() {
        public.bound(addr);
    }
    let served = conn::serve(listener, app.tls, svc, app.limits, public, shutdown).await;
    served?;
    let lost = lost_why.lock().expect("lost lock").take();
    match lost {
        Some(why) => Err(std::io::Error::other(format!(
            "lost the scheduler duty: {why}"
        ))),
        None => Ok(()),
    }
}
