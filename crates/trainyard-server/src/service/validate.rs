//! What a job creation (TJ-01), a new version (TJ-06) and a configuration (TC-01, TC-03) must
//! hold: one algorithm source, one data input, a compute
//! selector, workers within the spec, every path inside the project's storage.

use crate::catalog::Catalog;
use crate::config::ContainerRuntime;
use crate::error::{ApiError, ApiResult};
use crate::service::capacity::{demand, Resources};
use crate::storage::{Location, PathError, Storage};
use std::collections::HashSet;
use std::path::{Path, PathBuf};
use trainyard_api::training::{DataSource, HostPathVolume, JobConfig, Volume};

/// Upper bound of `max_runtime_seconds`: a year. The contract gives none; a bound keeps
/// every deadline computable (a larger value once wedged the executor).
pub const MAX_RUNTIME_SECONDS: i64 = 366 * 24 * 3600;

/// Upper bound of `worker_server_num` when no spec bounds it (a pool-only request).
pub const MAX_WORKERS: i64 = 1024;

/// What the configuration is for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Purpose {
    /// A version that will run now: code must exist, resources must be possible.
    Run,
    /// A stored training job configuration: inputs optional, nothing must exist yet.
    Stored,
}

/// Which request a configuration came with: some fields belong to one of them only.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Request {
    /// A new training job (TJ-01).
    NewJob,
    /// A new version of an existing job (TJ-06).
    NewVersion,
    /// A stored training configuration, created or replaced (TC-01, TC-03).
    Configuration,
    /// A job of the new-version (v2) API.
    V2Job,
}

/// Refuses fields sent with a request they do not belong to, rather than dropping them:
/// `pre_version_id` names an earlier version (TJ-06 only), `create_version: false` asks TJ-01
/// for a job without a version.
pub fn check_request_fields(cfg: &JobConfig, request: Request) -> ApiResult<()> {
    let pre_version = cfg.pre_version_id.is_some() && request != Request::NewVersion;
    if pre_version {
        return Err(ApiError::InvalidArgument(
            "pre_version_id: only a new version of an existing job has an earlier version; \
             send it with TJ-06 (POST /v1/{project_id}/training-jobs/{job_id}/versions)"
                .into(),
        ));
    }
    if cfg.environments.is_some() && request != Request::V2Job {
        return Err(ApiError::InvalidArgument(
            "environments: not a field of this API; the v2 API's algorithm.environments sets \
             a job's environment variables"
                .into(),
        ));
    }
    if cfg.preemptible.is_some() && request != Request::V2Job {
        return Err(ApiError::InvalidArgument(
            "preemptible: not a field of this API; the v2 API's \
             spec.schedule_policy.preemptible sets it"
                .into(),
        ));
    }
    if cfg.sweep.is_some() {
        return Err(ApiError::InvalidArgument(
            "sweep: set by the server for a sweep's runs; create a sweep with POST \
             /v1/{project_id}/sweeps"
                .into(),
        ));
    }
    let runs = matches!(request, Request::NewJob | Request::NewVersion);
    if cfg.depends_on.is_some() && !runs {
        return Err(ApiError::InvalidArgument(
            "config.depends_on: only a new job (TJ-01) or a new version (TJ-06) may wait for \
             other runs"
                .into(),
        ));
    }
    if cfg.create_version == Some(false) && request != Request::NewJob {
        return Err(ApiError::InvalidArgument(
            "create_version: false only applies to TJ-01 (a job created without a version); \
             this request always makes a version, or makes none"
                .into(),
        ));
    }
    Ok(())
}

/// Everything validation needs to look at.
pub struct Checker<'a> {
    /// Catalogs.
    pub catalog: &'a Catalog,
    /// Storage for path checks.
    pub storage: &'a Storage,
    /// Project whose storage the paths are in.
    pub project: &'a str,
    /// The executor's total resources.
    pub total: Resources,
    /// The container runtime for custom images, if any.
    pub containers: Option<&'a ContainerRuntime>,
    /// Resource pools; when none is configured any `pool_id` runs locally.
    pub pools: &'a [crate::config::PoolConfig],
    /// Host folders the project may mount as `host_path` volumes.
    pub host_paths: &'a [PathBuf],
    /// NFS exports mounted on the hosts (`[[nfs]]`): every project may mount them.
    pub nfs: &'a [crate::config::NfsConfig],
}

fn path_error(field: &str, e: PathError) -> ApiError {
    match e {
        PathError::Io(io) => ApiError::InvalidArgument(format!("{field}: {io}")),
        other => ApiError::InvalidArgument(format!("{field}: {other}")),
    }
}

/// Strips scheme and slashes so two storage paths compare lexically.
fn lexical(url: &str) -> PathBuf {
    let t = url.trim();
    let t = t
        .strip_prefix("obs://")
        .or_else(|| t.strip_prefix("s3://"))
        .unwrap_or(t);
    t.split('/')
        .filter(|p| !p.is_empty() && *p != ".")
        .collect()
}

/// The boot file relative to the code directory, if it lies inside it.
pub fn boot_relative(app_url: &str, boot_url: &str) -> Option<PathBuf> {
    let rel = lexical(boot_url)
        .strip_prefix(lexical(app_url))
        .ok()?
        .to_path_buf();
    (!rel.as_os_str().is_empty()).then_some(rel)
}

impl Checker<'_> {
    /// Resolves a storage path of `field` to a local folder (local storage only).
    pub fn resolve(&self, field: &str, url: &str) -> ApiResult<PathBuf> {
        self.storage
            .resolve(self.project, url)
            .map_err(|e| path_error(field, e))
    }

    /// Where a storage path of `field` is: a local folder or a folder of a granted bucket.
    pub fn locate(&self, field: &str, url: &str) -> ApiResult<Location> {
        self.storage
            .locate(self.project, url)
            .map_err(|e| path_error(field, e))
    }

    /// Where a dataset version lives: `datasets/<dataset_id>/<version_id>/` in the project.
    pub fn dataset_dir(&self, dataset_id: &str, version: &str) -> ApiResult<Location> {
        for (field, part) in [("dataset_id", dataset_id), ("dataset_version_id", version)] {
            if part.contains('/') || part.contains("..") || part.contains('\0') {
                return Err(ApiError::InvalidArgument(format!(
                    "{field}: {part} is not a valid id"
                )));
            }
        }
        self.locate("dataset_id", &format!("/datasets/{dataset_id}/{version}/"))
    }

    /// Validates and normalizes `cfg`.
    pub fn check(&self, mut cfg: JobConfig, purpose: Purpose) -> ApiResult<JobConfig> {
        let workers = cfg
            .worker_server_num
            .ok_or_else(|| ApiError::required("worker_server_num"))?;
        if !(1..=MAX_WORKERS).contains(&workers) {
            return Err(ApiError::param(format!(
                "worker_server_num:{workers} must be in [1,{MAX_WORKERS}]"
            )));
        }
        self.check_algorithm(&mut cfg, purpose)?;
        self.check_data(&mut cfg, purpose)?;
        self.check_compute(&mut cfg, purpose, workers)?;
        for (field, value) in [("train_url", &cfg.train_url), ("log_url", &cfg.log_url)] {
            if let Some(url) = value {
                self.locate(field, url)?;
            }
        }
        if let Some(params) = &cfg.parameter {
            let mut seen = HashSet::new();
            for p in params {
                if p.label.trim().is_empty() {
                    return Err(ApiError::param("parameter label must not be empty"));
                }
                // `--label=value` and a container's `label=value` variable split at the first '='.
                if p.label.contains(['=', '\0']) {
                    return Err(ApiError::param(format!(
                        "parameter label {} must not contain '='",
                        p.label
                    )));
                }
                if !seen.insert(p.label.as_str()) {
                    return Err(ApiError::param(format!(
                        "parameter label {} appears twice",
                        p.label
                    )));
                }
            }
        }
        if let Some(volumes) = &cfg.volumes {
            self.check_volumes(volumes, self.runs_in_container(&cfg), purpose)?;
        }
        if [&cfg.nas_type, &cfg.nas_share_addr, &cfg.nas_mount_path]
            .iter()
            .any(|f| f.is_some())
        {
            return Err(ApiError::InvalidArgument(
                "nas_type, nas_share_addr, nas_mount_path: NAS (NFS) mounts are not supported by \
                 this server; mount the share on the hosts and give it as a host_path volume of a \
                 container job (allowed by the project's host_paths in the server configuration)"
                    .into(),
            ));
        }
        if let Some(priority) = cfg
            .priority
            .filter(|p| !trainyard_sched::fair::valid_priority(*p))
        {
            return Err(ApiError::param(format!(
                "priority:{priority} must be 1 (low), 2 (middle) or 3 (high)"
            )));
        }
        if let Some(trainyard_api::training::Minutes(m)) = cfg.hang_timeout_minutes {
            let max = crate::config::MAX_HANG_TIMEOUT_MINUTES;
            if !(m.is_finite() && m > 0.0 && m <= max) {
                return Err(ApiError::param(format!(
                    "hang_timeout_minutes:{m} must be in (0,{max}]"
                )));
            }
        }
        if let Some(problem) = cfg
            .retry_policy
            .as_ref()
            .and_then(trainyard_sched::retry::invalid)
        {
            return Err(ApiError::param(problem));
        }
        if let Some(max) = cfg.max_runtime_seconds {
            if !(1..=MAX_RUNTIME_SECONDS).contains(&max) {
                return Err(ApiError::param(format!(
                    "max_runtime_seconds:{max} must be in [1,{MAX_RUNTIME_SECONDS}]"
                )));
            }
        }
        Ok(cfg)
    }

    /// Whether the job's workers run in containers (its own image, or its engine's).
    fn runs_in_container(&self, cfg: &JobConfig) -> bool {
        cfg.user_image_url.is_some()
            || cfg
                .engine_id
                .and_then(|id| self.catalog.engine(id))
                .is_some_and(|e| e.image.is_some() && cfg.model_id.is_none())
    }

    /// `volumes`: `host_path` volumes of container jobs, inside the project's
    /// `host_paths`; everything else is refused with what would make it work. A stored
    /// configuration keeps what it is given (a job created from it is checked then).
    fn check_volumes(
        &self,
        volumes: &[Volume],
        container: bool,
        purpose: Purpose,
    ) -> ApiResult<()> {
        for (i, v) in volumes.iter().enumerate() {
            if purpose == Purpose::Stored {
                if v.nfs.is_some() == v.host_path.is_some() {
                    return Err(ApiError::param(
                        "each volume must have exactly one of nfs or host_path",
                    ));
                }
                continue;
            }
            match (&v.nfs, &v.host_path) {
                (Some(_), None) => {
                    return Err(ApiError::InvalidArgument(format!(
                        "volumes[{i}].nfs: NFS volumes are not supported by this server; mount the \
                         share on the hosts and give it as a host_path volume (allowed by the \
                         project's host_paths in the server configuration)"
                    )))
                }
                (None, Some(h)) => {
                    if !container {
                        return Err(ApiError::InvalidArgument(format!(
                            "volumes[{i}].host_path: volumes are mounted into containers only; run the \
                             job in an image (user_image_url, or an engine with an image) on a server \
                             with a container runtime (podman)"
                        )));
                    }
                    self.host_volume(i, h, purpose)?;
                }
                _ => {
                    return Err(ApiError::param(
                        "each volume must have exactly one of nfs or host_path",
                    ))
                }
            }
        }
        Ok(())
    }

    /// The host folder of a `host_path` volume, checked: `dest_path` absolute and plain,
    /// `src_path` inside one of the project's `host_paths` (symlinks resolved, so a link
    /// cannot lead out). A folder that must exist now (`Purpose::Run`) is resolved.
    pub fn host_volume(
        &self,
        i: usize,
        h: &HostPathVolume,
        purpose: Purpose,
    ) -> ApiResult<PathBuf> {
        let field = |name: &str| format!("volumes[{i}].host_path.{name}");
        let dest = Path::new(&h.dest_path);
        if !dest.is_absolute()
            || dest
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(ApiError::InvalidArgument(format!(
                "{}: {} must be an absolute path without '..'",
                field("dest_path"),
                h.dest_path
            )));
        }
        let src = Path::new(&h.src_path);
        let outside = || {
            ApiError::InvalidArgument(format!(
                "{}: {} is not inside a folder this project may mount (the project's host_paths in the server configuration)",
                field("src_path"),
                h.src_path
            ))
        };
        if !src.is_absolute()
            || src
                .components()
                .any(|c| matches!(c, std::path::Component::ParentDir))
        {
            return Err(outside());
        }
        let resolved = match std::fs::canonicalize(src) {
            Ok(p) => p,
            Err(_) if purpose == Purpose::Stored => src.to_path_buf(),
            Err(e) => {
                return Err(ApiError::InvalidArgument(format!(
                    "{}: {}: {e}",
                    field("src_path"),
                    h.src_path
                )))
            }
        };
        let allowed = self
            .host_paths
            .iter()
            .chain(self.nfs.iter().map(|n| &n.host_path))
            .filter_map(|a| std::fs::canonicalize(a).ok())
            .any(|a| resolved.starts_with(a));
        if allowed {
            Ok(resolved)
        } else {
            Err(outside())
        }
    }

    /// Refuses a job that needs a container when this server has no container runtime.
    fn check_container_runtime(&self) -> ApiResult<()> {
        match self.containers {
            Some(_) => Ok(()),
            None => Err(ApiError::ImageUnavailable(
                "Custom image jobs need a container runtime, and this server has none: \
                 podman was not found on PATH (or [executor] container_runtime = \"none\"). \
                 Install podman (apt-get install podman runc), or run the job from a code directory (app_url)."
                    .into(),
            )),
        }
    }

    fn check_algorithm(&self, cfg: &mut JobConfig, purpose: Purpose) -> ApiResult<()> {
        // A custom image is the most specific source: the EN sample sends it with model_id.
        if cfg.user_image_url.is_some() {
            if cfg.user_command.is_none() {
                return Err(ApiError::required("user_command"));
            }
            if purpose == Purpose::Run {
                self.check_container_runtime()?;
                // The code folder is optional; when named, it is mounted, so it must exist.
                // (A folder of a bucket is checked when it is fetched.)
                if let Some(app) = &cfg.app_url {
                    if let Location::Local(dir) = self.locate("app_url", app)? {
                        if !dir.is_dir() {
                            return Err(ApiError::InvalidArgument(format!(
                                "app_url: {app} does not exist"
                            )));
                        }
                    }
                }
            }
            return Ok(());
        }
        if let Some(model_id) = cfg.model_id {
            if self.catalog.builtin(model_id).is_none() {
                return Err(ApiError::param(format!(
                    "model_id:{model_id} is not existed"
                )));
            }
            return Ok(());
        }
        match (&cfg.app_url, &cfg.boot_file_url) {
            (None, None) => return Err(ApiError::required("app_url")),
            (Some(_), None) | (None, Some(_)) => {
                return Err(ApiError::InvalidCombination("app_url", "boot_file_url"))
            }
            (Some(app), Some(boot)) => {
                let app_dir = self.locate("app_url", app)?;
                let boot_path = self.locate("boot_file_url", boot)?;
                let rel = boot_relative(app, boot).ok_or_else(|| {
                    ApiError::InvalidArgument(format!(
                        "boot_file_url {boot} must be a file inside app_url {app}"
                    ))
                })?;
                // Local folders are checked now; a bucket's when the code is fetched.
                if let (Purpose::Run, Location::Local(app_dir), Location::Local(boot_path)) =
                    (purpose, app_dir, boot_path)
                {
                    if !app_dir.is_dir() {
                        return Err(ApiError::InvalidArgument(format!(
                            "app_url: {app} does not exist"
                        )));
                    }
                    if !boot_path.is_file()
                        || !boot_path.starts_with(&app_dir)
                        || app_dir.join(&rel) != boot_path
                    {
                        return Err(ApiError::InvalidArgument(format!(
                            "boot_file_url: {boot} is not a file in app_url"
                        )));
                    }
                }
            }
        }
        let engine_id = *cfg.engine_id.get_or_insert(1);
        match self.catalog.engine(engine_id) {
            None => Err(ApiError::param(format!(
                "engine_id:{engine_id} is not existed"
            ))),
            Some(e) if e.image.is_some() && purpose == Purpose::Run => {
                self.check_container_runtime()
            }
            Some(_) => Ok(()),
        }
    }

    fn check_data(&self, cfg: &mut JobConfig, purpose: Purpose) -> ApiResult<()> {
        let sources = cfg.data_source.as_ref().is_some_and(|d| !d.is_empty());
        let dataset = cfg.dataset_id.is_some() || cfg.dataset_version_id.is_some();
        let given = [cfg.data_url.is_some(), dataset, sources]
            .iter()
            .filter(|b| **b)
            .count();
        if given > 1 {
            return Err(ApiError::InvalidArgument(
                "exactly one of data_url, dataset_id+dataset_version_id or data_source may be given".into(),
            ));
        }
        if given == 0 {
            // The official SDK sends `enable_check: false` with a job that names no data.
            let needs_data = cfg.model_id.is_none() && cfg.enable_check != Some(false);
            return match purpose {
                Purpose::Run if needs_data => Err(ApiError::InvalidArgument(
                    "data_url is required (or dataset_id and dataset_version_id, or data_source; \
                     enable_check: false runs a job without a data input)"
                        .into(),
                )),
                _ => Ok(()),
            };
        }
        if let Some(n) = cfg.data_source.as_ref().map(Vec::len).filter(|n| *n > 1) {
            return Err(ApiError::InvalidArgument(format!(
                "data_source: {n} items, but a job reads one data input; give one item (or data_url)"
            )));
        }
        if let Some(url) = &cfg.data_url {
            self.locate("data_url", url)?;
        }
        if dataset {
            match (&cfg.dataset_id, &cfg.dataset_version_id) {
                (Some(id), Some(v)) => {
                    self.dataset_dir(id, v)?;
                }
                (None, _) => return Err(ApiError::required("dataset_id")),
                (_, None) => return Err(ApiError::required("dataset_version_id")),
            }
        }
        if let Some(items) = &mut cfg.data_source {
            for item in items.iter_mut() {
                self.check_data_source(item)?;
            }
        }
        Ok(())
    }

    fn check_data_source(&self, item: &mut DataSource) -> ApiResult<()> {
        let kind = match item.kind.as_deref().map(str::to_ascii_lowercase) {
            Some(k) => k,
            None if item.data_url.is_some() => "obs".to_owned(),
            None if item.dataset_id.is_some() || item.dataset_version.is_some() => {
                "dataset".to_owned()
            }
            None => return Err(ApiError::required("data_source.type")),
        };
        match kind.as_str() {
            "obs" => {
                if item.dataset_id.is_some() || item.dataset_version.is_some() {
                    return Err(ApiError::InvalidCombination("data_url", "dataset_id"));
                }
                let url = item
                    .data_url
                    .as_ref()
                    .ok_or_else(|| ApiError::required("data_source.data_url"))?;
                self.locate("data_source.data_url", url)?;
            }
            "dataset" => {
                if item.data_url.is_some() {
                    return Err(ApiError::InvalidCombination("data_url", "dataset_id"));
                }
                let id = item
                    .dataset_id
                    .as_ref()
                    .ok_or_else(|| ApiError::required("data_source.dataset_id"))?;
                let v = item
                    .dataset_version
                    .as_ref()
                    .ok_or_else(|| ApiError::required("data_source.dataset_version"))?;
                self.dataset_dir(id, v)?;
            }
            other => {
                return Err(ApiError::param(format!(
                    "data_source.type:{other} is not one of obs, dataset"
                )))
            }
        }
        item.kind = Some(kind);
        Ok(())
    }

    fn check_compute(&self, cfg: &mut JobConfig, purpose: Purpose, workers: i64) -> ApiResult<()> {
        if let Some(pool) = &cfg.pool_id {
            if !self.pools.is_empty() && !self.pools.iter().any(|p| &p.id == pool) {
                return Err(ApiError::PoolNotFound(pool.clone()));
            }
        }
        let local = crate::service::pools::slurm_pool_of(self.pools, cfg).is_none();
        if cfg.spec_id.is_none() {
            if let Some(code) = cfg.flavor.as_ref().and_then(|f| f.code.clone()) {
                let spec = self
                    .catalog
                    .spec_by_code(&code)
                    .ok_or_else(|| ApiError::param(format!("flavor.code:{code} is not existed")))?;
                cfg.spec_id = Some(spec.spec_id);
            }
        }
        let Some(spec_id) = cfg.spec_id else {
            return match cfg.pool_id {
                Some(_) => Ok(()),
                None => Err(ApiError::required("spec_id")),
            };
        };
        let spec = self
            .catalog
            .spec(spec_id)
            .ok_or_else(|| ApiError::param(format!("spec_id:{spec_id} is not existed")))?;
        // Hook (issue 17): flavors of the catalog this server cannot run at all.
        if let Some(why) = crate::catalog::unavailable(spec) {
            return Err(ApiError::NoResource(why));
        }
        if workers > spec.max_num {
            return Err(ApiError::param(format!(
                "worker_server_num:{workers} exceeds the maximum {} of {}",
                spec.max_num, spec.spec_code
            )));
        }
        if purpose == Purpose::Run && local && !demand(Some(spec), workers).fits_in(&self.total) {
            return Err(ApiError::NoResource(format!(
                "{workers} x {} needs more than this executor has ({} cores, {} GB, {} GPUs).",
                spec.spec_code, self.total.cores, self.total.memory_gb, self.total.gpus
            )));
        }
        Ok(())
    }
}

/// Where a version reads its data from, if anywhere.
pub fn data_dir(checker: &Checker<'_>, cfg: &JobConfig) -> ApiResult<Option<Location>> {
    if let Some(url) = &cfg.data_url {
        return checker.locate("data_url", url).map(Some);
    }
    if let (Some(id), Some(v)) = (&cfg.dataset_id, &cfg.dataset_version_id) {
        return checker.dataset_dir(id, v).map(Some);
    }
    if let Some(first) = cfg.data_source.as_ref().and_then(|d| d.first()) {
        if let Some(url) = &first.data_url {
            return checker.locate("data_source.data_url", url).map(Some);
        }
        if let (Some(id), Some(v)) = (&first.dataset_id, &first.dataset_version) {
            return checker.dataset_dir(id, v).map(Some);
        }
    }
    Ok(None)
}

/// Whether `path` is inside `root` (used for logs and snapshots).
pub fn inside(root: &Path, path: &Path) -> bool {
    path.starts_with(root)
}

#[cfg(test)]
mod tests {
    use super::boot_relative;
    use std::path::PathBuf;

    #[test]
    fn boot_file_must_be_inside_app() {
        assert_eq!(
            boot_relative("/usr/app/", "/usr/app/boot.py"),
            Some(PathBuf::from("boot.py"))
        );
        assert_eq!(
            boot_relative("obs://b/app", "obs://b/app/sub/t.py"),
            Some(PathBuf::from("sub/t.py"))
        );
        assert_eq!(boot_relative("/usr/app/", "/usr/other/boot.py"), None);
        assert_eq!(boot_relative("/usr/app/", "/usr/app/"), None);
    }
}
