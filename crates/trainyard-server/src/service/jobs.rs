//! Training jobs and versions: create, list, read, stop, delete.

use crate::error::{ApiError, ApiResult};
use crate::service::depends;
use crate::service::launch::code_dir;
use crate::service::lifecycle::{self, cleanup_if_deleted};
use crate::service::query::Params;
use crate::service::validate::boot_relative;
use crate::service::validate::{check_request_fields, Purpose, Request};
use crate::service::view::{job_summary, version_info};
use crate::service::Service;
use crate::storage::{Location, PathError};
use crate::util::{now_ms, resource_id, valid_name};
use std::path::{Path, PathBuf};
use std::time::Duration;
use trainyard_api::training::{
    CreateJobRequest, CreateJobResponse, CreateVersionRequest, JobConfig, JobListResponse,
    VersionInfo, VersionListResponse,
};
use trainyard_api::JobStatus;
use trainyard_exec::objects::ObjectDir;
use trainyard_store::{
    Job, JobDeletion, JobFilter, JobSort, NewJob, NewVersion, QuotaLimit, Version, VersionDeletion,
    VersionQuota,
};

const DEFAULT_QUOTAS: i64 = 100;
const DEFAULT_JOB_COUNT_LIMIT: i64 = 1000;

fn check_desc(desc: &str) -> ApiResult<()> {
    if desc.chars().count() > 256 {
        return Err(ApiError::param("job_desc must be at most 256 characters"));
    }
    Ok(())
}

fn job_not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("Job id:{id} is not existed"))
}

fn version_not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("Version id:{id} is not existed"))
}

impl Service {
    pub(crate) fn quotas(&self, project: &str) -> (i64, i64) {
        let p = self.project(project);
        (
            p.and_then(|p| p.quotas).unwrap_or(DEFAULT_QUOTAS),
            p.and_then(|p| p.job_count_limit)
                .unwrap_or(DEFAULT_JOB_COUNT_LIMIT),
        )
    }

    /// Copies the version's code into a fresh folder next to the runs, before the version
    /// exists, so a half-copied tree is never used; `adopt_snapshot` moves it in place. The
    /// run folder lets the project's user pass (not list); the code is that user's.
    pub(crate) async fn snapshot(&self, project: &str, cfg: &JobConfig) -> ApiResult<PathBuf> {
        let staging = self
            .runs_dir
            .join(format!("staging-{:016x}", rand::random::<u64>()));
        let owner = self.storage.owner(project);
        let made = (|| {
            use std::os::unix::fs::PermissionsExt;
            std::fs::create_dir(&staging)?;
            std::fs::set_permissions(&staging, std::fs::Permissions::from_mode(0o711))?;
            trainyard_exec::sandbox::create_dirs(&staging, Path::new("code"), owner)
        })();
        made.map_err(ApiError::internal)?;
        let staging = self.copy_code(project, cfg, staging, owner).await?;
        if let Some(owner) = owner {
            let code = code_dir(&staging);
            tokio::task::spawn_blocking(move || trainyard_exec::sandbox::chown_tree(&code, owner))
                .await
                .map_err(ApiError::internal)?
                .map_err(ApiError::internal)?;
        }
        Ok(staging)
    }

    /// Fills `staging`'s code folder: a built-in algorithm, a bucket's objects, or a copy of a
    /// folder of the project's storage, read as the project's user (a link there leads
    /// nowhere its jobs could not read themselves).
    async fn copy_code(
        &self,
        project: &str,
        cfg: &JobConfig,
        staging: PathBuf,
        owner: Option<trainyard_exec::RunAs>,
    ) -> ApiResult<PathBuf> {
        let code = code_dir(&staging);
        // A custom image is the most specific source (the EN sample sends it with model_id).
        let builtin = cfg
            .model_id
            .filter(|_| cfg.user_image_url.is_none())
            .and_then(|id| self.catalog.builtin(id));
        if let Some(b) = builtin {
            std::fs::create_dir_all(&code).map_err(ApiError::internal)?;
            std::fs::write(code.join(b.boot_file), b.source).map_err(ApiError::internal)?;
            return Ok(staging);
        }
        let app = match &cfg.app_url {
            Some(app) => Some((app, self.checker(project).locate("app_url", app)?)),
            None => None,
        };
        if let Some((app, Location::Object(dir))) = &app {
            self.fetch_code(app, dir, cfg, &staging).await?;
            return Ok(staging);
        }
        match app {
            Some((_, Location::Local(src))) => {
                let storage = self.storage.clone();
                let project = project.to_owned();
                let dest = code.clone();
                let limit = self.max_upload_bytes;
                let copied = tokio::task::spawn_blocking(move || {
                    storage.project_root(&project)?;
                    trainyard_exec::sandbox::as_user(owner, || {
                        storage.snapshot(&project, &src, &dest, limit)
                    })
                })
                .await
                .map_err(ApiError::internal)?;
                if let Err(e) = copied {
                    let _ = std::fs::remove_dir_all(&staging);
                    return Err(match e {
                        PathError::Io(io) if crate::error::is_out_of_space(&io) => {
                            ApiError::internal(io)
                        }
                        other => ApiError::InvalidArgument(format!("app_url: {other}")),
                    });
                }
            }
            _ => std::fs::create_dir_all(&code).map_err(ApiError::internal)?,
        }
        Ok(staging)
    }

    /// The code of a bucket's `app_url`, fetched into `staging`'s code folder; its boot file
    /// must be among what was fetched.
    async fn fetch_code(
        &self,
        app: &str,
        dir: &ObjectDir,
        cfg: &JobConfig,
        staging: &Path,
    ) -> ApiResult<()> {
        let objects = self.storage.objects().ok_or_else(|| {
            ApiError::internal("a bucket path without an object store behind paths")
        })?;
        let code = code_dir(staging);
        let fail = |e: ApiError| {
            let _ = std::fs::remove_dir_all(staging);
            e
        };
        let fetched = objects
            .client
            .download(dir, &code, self.max_upload_bytes)
            .await
            .map_err(|e| fail(ApiError::InvalidArgument(format!("app_url: {e}"))))?;
        let boot = cfg
            .boot_file_url
            .as_deref()
            .and_then(|b| boot_relative(app, b));
        let missing = match &boot {
            Some(rel) => !code.join(rel).is_file(),
            // A custom image may run without code; an empty folder is then fine.
            None => cfg.user_image_url.is_none() && fetched == 0,
        };
        if missing {
            return Err(fail(ApiError::InvalidArgument(format!(
                "boot_file_url: {} is not an object below app_url {}",
                cfg.boot_file_url.as_deref().unwrap_or_default(),
                dir.url()
            ))));
        }
        std::fs::create_dir_all(&code).map_err(|e| fail(ApiError::internal(e)))?;
        Ok(())
    }

    pub(crate) fn run_dir_template(&self) -> String {
        self.runs_dir.join("{id}").display().to_string()
    }

    fn adopt_snapshot(&self, staging: &Path, v: &Version) -> ApiResult<()> {
        std::fs::rename(staging, &v.run_dir).map_err(ApiError::internal)
    }

    /// Refuses a create over the project's limits: its job count (`new_job`), its pending
    /// and running versions, its queued versions (`quota.queued`), and, for a version to
    /// `run`, one larger than the project's quota of cores, GPUs or memory allows at all
    /// (it would wait for ever).
    ///
    /// The counts here are read before the create's transaction, so that the usual refusal
    /// comes before any work (the code's snapshot); concurrent creates can pass them together.
    /// The store counts again in the create's write transaction ([`Self::version_quota`],
    /// [`NewJob::quota`]), one create after another, which is what holds the limits; its
    /// refusal answers the same ([`quota_refused`]).
    pub(crate) async fn check_quota(
        &self,
        project: &str,
        new_job: bool,
        run: Option<&JobConfig>,
    ) -> ApiResult<()> {
        if let Some(cfg) = run {
            self.check_fits_quota(project, cfg)?;
        }
        let (quotas, limit) = self.quotas(project);
        // A new job's two counts in one query.
        let (jobs, active) = if new_job {
            self.store.quota_counts(project).await?
        } else {
            (0, self.store.count_active_versions(project).await?)
        };
        if new_job && jobs >= limit {
            return Err(ApiError::Quota("training job count"));
        }
        if active >= quotas {
            return Err(ApiError::Quota("number of running training jobs"));
        }
        if let Some(cap) = self.project(project).and_then(|p| p.quota.queued) {
            if self.count_queued(project).await? >= i64::from(cap) {
                return Err(ApiError::Quota(
                    "number of queued training jobs (the project's quota.queued)",
                ));
            }
        }
        Ok(())
    }

    /// The limits a version's create holds to in its write transaction: the project's
    /// pending and running versions and its `quota.queued` (see [`Self::check_quota`]).
    pub(crate) fn version_quota(&self, project: &str) -> VersionQuota {
        VersionQuota {
            active: Some(self.quotas(project).0),
            queued: self
                .project(project)
                .and_then(|p| p.quota.queued)
                .map(i64::from),
        }
    }

    /// Refuses a version that needs more than the project's quota allows at all, on this
    /// host or on a Slurm pool (the quota holds back Slurm submissions too).
    fn check_fits_quota(&self, project: &str, cfg: &JobConfig) -> ApiResult<()> {
        let Some(p) = self.project(project) else {
            return Ok(());
        };
        let spec = cfg.spec_id.and_then(|id| self.catalog.spec(id));
        let need = crate::service::capacity::demand(spec, cfg.worker_server_num.unwrap_or(1));
        let none = crate::service::capacity::Resources::default();
        use trainyard_sched::fair::Limit;
        match p.fair_share().quota.exceeded_by(none, 0, need) {
            None => Ok(()),
            Some(Limit::Cores) => Err(ApiError::Quota(
                "cores of one job (the project's quota.cores)",
            )),
            Some(Limit::Gpus) => Err(ApiError::Quota(
                "GPUs of one job (the project's quota.gpus)",
            )),
            Some(Limit::Memory) => Err(ApiError::Quota(
                "memory of one job (the project's quota.memory_gb)",
            )),
            Some(Limit::Running) => Err(ApiError::Quota(
                "number of running training jobs (the project's quota.running)",
            )),
        }
    }

    /// The project's versions waiting to start (1 or 7).
    async fn count_queued(&self, project: &str) -> ApiResult<i64> {
        Ok(self
            .store
            .version_counts()
            .await?
            .into_iter()
            .filter(|(p, status, _)| {
                p == project && JobStatus::QUEUED.iter().any(|s| s.code() == *status)
            })
            .map(|(_, _, n)| n)
            .sum())
    }

    /// Creates a training job, by default with its first version (TJ-01).
    pub async fn create_job(
        &self,
        project: &str,
        who: &str,
        req: CreateJobRequest,
    ) -> ApiResult<CreateJobResponse> {
        self.create_job_in(project, who, req, None).await
    }

    /// [`Self::create_job`], its version a run of `sweep` when given.
    pub(crate) async fn create_job_in(
        &self,
        project: &str,
        who: &str,
        req: CreateJobRequest,
        sweep: Option<trainyard_api::training::SweepMember>,
    ) -> ApiResult<CreateJobResponse> {
        let name = req.job_name.ok_or_else(|| ApiError::required("job_name"))?;
        if !valid_name(&name, 64) {
            return Err(ApiError::ParameterError(format!("Illegal name: {name}")));
        }
        let desc = req.job_desc.unwrap_or_default();
        check_desc(&desc)?;
        let cfg = req.config.ok_or_else(|| ApiError::required("config"))?;
        let notification = self
            .run_ctx
            .hooks
            .check(project, req.notification.as_ref())
            .map_err(|e| ApiError::InvalidArgument(format!("notification: {e}")))?;
        check_request_fields(&cfg, Request::NewJob)?;
        let with_version = cfg.create_version.unwrap_or(true);
        let mut cfg = self.checker(project).check(
            cfg,
            if with_version {
                Purpose::Run
            } else {
                Purpose::Stored
            },
        )?;
        cfg.create_version = None;
        cfg.pre_version_id = None;
        cfg.sweep = sweep;
        depends::resolve(self.store.as_ref(), project, None, &mut cfg).await?;
        let run = with_version.then_some(&cfg);
        self.check_quota(project, true, run).await?;
        let now = now_ms();
        let job = NewJob {
            project_id: project.to_owned(),
            name: name.clone(),
            description: desc.clone(),
            workspace_id: req.workspace_id.unwrap_or_else(|| "0".to_owned()),
            create_time: now,
            quota: Some(self.quotas(project).1),
        };
        if !with_version {
            let (job, _) = self
                .store
                .create_job(&job, None)
                .await
                .map_err(|e| duplicate(e, &name))?;
            if let Some(n) = &notification {
                self.store.set_job_notification(job.id, n).await?;
            }
            return Ok(CreateJobResponse {
                is_success: true,
                job_id: job.id,
                job_name: job.name,
                status: JobStatus::UNKNOWN.code(),
                create_time: job.create_time,
                version_id: None,
                resource_id: None,
                version_name: None,
            });
        }
        let staging = self.snapshot(project, &cfg).await?;
        let new_version = NewVersion {
            description: desc,
            pre_version_id: None,
            status: JobStatus::INIT,
            config: cfg,
            resource_id: resource_id(),
            run_dir_template: self.run_dir_template(),
            create_time: now,
            created_by: who.to_owned(),
            quota: self.version_quota(project),
        };
        let created = self.store.create_job(&job, Some(&new_version)).await;
        let (job, version) = match created {
            Ok((job, Some(v))) => (job, v),
            Ok((_, None)) => unreachable!("a version was asked for"),
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(duplicate(e, &name));
            }
        };
        self.keep_notification(&version, &staging, notification.as_ref())
            .await?;
        self.start_version(&staging, &version).await?;
        Ok(CreateJobResponse {
            is_success: true,
            job_id: job.id,
            job_name: job.name,
            status: version.status.code(),
            create_time: job.create_time,
            version_id: Some(version.id),
            resource_id: Some(version.resource_id),
            version_name: Some(version.name),
        })
    }

    /// Keeps a new job's `notification` before the first event of its first version `v`
    /// (which it may ask for); when it cannot be kept, `v`'s start fails and its snapshot
    /// `staging` goes.
    pub(crate) async fn keep_notification(
        &self,
        v: &Version,
        staging: &Path,
        n: Option<&trainyard_store::JobNotification>,
    ) -> ApiResult<()> {
        let Some(n) = n else { return Ok(()) };
        if let Err(e) = self.store.set_job_notification(v.job_id, n).await {
            lifecycle::start_failed(&self.run_ctx, v, &e.to_string()).await;
            let _ = std::fs::remove_dir_all(staging);
            return Err(e.into());
        }
        Ok(())
    }

    pub(crate) async fn start_version(&self, staging: &Path, v: &Version) -> ApiResult<()> {
        self.run_ctx.telemetry.version_created();
        use crate::service::events::{record, Event};
        record(&self.run_ctx, v.id, Event::Created);
        if let Err(e) = self.adopt_snapshot(staging, v) {
            lifecycle::start_failed(&self.run_ctx, v, &e.to_string()).await;
            return Err(e);
        }
        tracing::info!(job.id = v.job_id, version.id = v.id, "job queued");
        let why = "waiting for its start".to_owned();
        record(&self.run_ctx, v.id, Event::Queued { why });
        self.cluster.enqueue_created(v).await;
        Ok(())
    }

    /// Creates a new version of a job (TJ-06).
    pub async fn create_version(
        &self,
        project: &str,
        who: &str,
        job_id: i64,
        req: CreateVersionRequest,
    ) -> ApiResult<CreateJobResponse> {
        let job = self
            .store
            .get_job(project, job_id)
            .await?
            .ok_or_else(|| job_not_found(job_id))?;
        let desc = req.job_desc.unwrap_or_default();
        check_desc(&desc)?;
        let mut cfg = req.config.ok_or_else(|| ApiError::required("config"))?;
        check_request_fields(&cfg, Request::NewVersion)?;
        let pre = match cfg.pre_version_id {
            Some(id) => Some(
                self.store
                    .get_version(project, job_id, id)
                    .await?
                    .ok_or_else(|| {
                        ApiError::param(format!("pre_version_id:{id} is not existed"))
                    })?,
            ),
            None => match job.latest_version_id {
                Some(id) => self.store.get_version(project, job_id, id).await?,
                None => None,
            },
        };
        if cfg.train_url.is_none() {
            cfg.train_url = pre.as_ref().and_then(|p| p.config.train_url.clone());
        }
        let mut cfg = self.checker(project).check(cfg, Purpose::Run)?;
        cfg.create_version = None;
        cfg.pre_version_id = None;
        depends::resolve(self.store.as_ref(), project, Some(job_id), &mut cfg).await?;
        self.check_quota(project, false, Some(&cfg)).await?;
        let staging = self.snapshot(project, &cfg).await?;
        let new_version = NewVersion {
            description: desc,
            pre_version_id: pre.map(|p| p.id),
            status: JobStatus::INIT,
            config: cfg,
            resource_id: resource_id(),
            run_dir_template: self.run_dir_template(),
            create_time: now_ms(),
            created_by: who.to_owned(),
            quota: self.version_quota(project),
        };
        let created = self
            .store
            .create_version(project, job_id, &new_version)
            .await;
        let created = created.inspect_err(|_| {
            let _ = std::fs::remove_dir_all(&staging);
        });
        let Some(version) = created.map_err(quota_refused)? else {
            let _ = std::fs::remove_dir_all(&staging);
            return Err(job_not_found(job_id));
        };
        // A version's description becomes the job's only when the job has none.
        if job.description.is_empty() && !version.description.is_empty() {
            self.store
                .update_job_description(project, job_id, &version.description)
                .await?;
        }
        self.start_version(&staging, &version).await?;
        Ok(CreateJobResponse {
            is_success: true,
            job_id,
            job_name: job.name,
            status: version.status.code(),
            create_time: version.create_time,
            version_id: Some(version.id),
            resource_id: Some(version.resource_id),
            version_name: Some(version.name),
        })
    }

    /// Lists training jobs (TJ-02).
    pub async fn list_jobs(&self, project: &str, q: &Params) -> ApiResult<JobListResponse> {
        let per_page = q.int("per_page", 10, 1, 1000)?;
        let page = q.int("page", 1, 1, 65535)?;
        let sort = match q.sort_by().as_deref() {
            None | Some("job_name") => JobSort::Name,
            Some("job_desc") => JobSort::Desc,
            Some("status") => JobSort::Status,
            Some("duration") => JobSort::Duration,
            Some("version_count") => JobSort::VersionCount,
            Some("create_time") => JobSort::CreateTime,
            Some("engine_type") => JobSort::Name,
            Some(other) => return Err(ApiError::param(format!("sortBy:{other} is not supported"))),
        };
        let now = now_ms();
        let filter = JobFilter {
            statuses: q.statuses()?,
            search: q.search()?,
            workspace_id: Some(q.get("workspace_id").unwrap_or("0").to_owned()),
            sort,
            descending: q.descending(false)?,
            offset: (page - 1) * per_page,
            limit: per_page,
            now,
        };
        let page = self.lists.jobs(&*self.store, project, &filter).await?;
        let (quotas, limit) = self.quotas(project);
        let mut jobs: Vec<_> = page.rows.iter().map(|j| job_summary(j, now)).collect();
        let waiting: Vec<i64> = jobs
            .iter()
            .filter(|j| JobStatus::QUEUED.iter().any(|s| s.code() == j.status))
            .filter_map(|j| j.version_id)
            .collect();
        let waits = self.executor.waits(waiting).await;
        for j in &mut jobs {
            j.queue_reason = j
                .version_id
                .and_then(|v| waits.get(&v))
                .map(ToString::to_string);
        }
        Ok(JobListResponse {
            is_success: true,
            job_total_count: page.total,
            job_count_limit: (limit - page.live).max(0),
            jobs,
            quotas,
        })
    }

    /// A live job and version of the project, or the not-found error.
    pub async fn job_and_version(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
    ) -> ApiResult<(Job, Version)> {
        if let Some(found) = self
            .store
            .get_job_version(project, job_id, version_id)
            .await?
        {
            return Ok(found);
        }
        // Not found: say which of the two is missing.
        match self.store.get_job(project, job_id).await? {
            None => Err(job_not_found(job_id)),
            Some(_) => Err(version_not_found(version_id)),
        }
    }

    /// Shows one version in detail (TJ-03): its JSON body, reused for an ended version whose
    /// stored rows are unchanged (`details_cache`).
    pub async fn get_version(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
    ) -> ApiResult<bytes::Bytes> {
        // Taken after the request arrived and before the rows are read, for a version whose
        // body is kept: a commit after it changes it (`Store::committed`).
        let seen = if self.details.holds(version_id) {
            self.store.committed().await
        } else {
            None
        };
        if let Some(body) = seen
            .as_ref()
            .and_then(|now| self.details.fresh(project, job_id, version_id, now))
        {
            return Ok(body);
        }
        let (job, v) = self.job_and_version(project, job_id, version_id).await?;
        if let Some(body) = self.details.get(&job, &v, seen.clone()) {
            return Ok(body);
        }
        let catalog = self.catalog.clone();
        // Reads the run's samples file: off the async threads.
        let (job, v, mut info) = tokio::task::spawn_blocking(move || {
            let info = version_info(&catalog, &job, &v, now_ms(), true);
            (job, v, info)
        })
        .await
        .map_err(ApiError::internal)?;
        self.add_queue_waits(std::slice::from_mut(&mut info)).await;
        let body = bytes::Bytes::from(serde_json::to_vec(&info).map_err(ApiError::internal)?);
        self.details.keep(&job, &v, &body, seen);
        Ok(body)
    }

    /// Fills in `queue_position` and `queue_reason` of the versions that wait to start, as
    /// this server's executor knows them (a server not holding the scheduling duty leaves
    /// them out).
    pub(crate) async fn add_queue_waits(&self, infos: &mut [VersionInfo]) {
        let waiting: Vec<i64> = infos
            .iter()
            .filter(|i| JobStatus::QUEUED.iter().any(|s| s.code() == i.status))
            .map(|i| i.version_id)
            .collect();
        let waits = self.executor.waits(waiting).await;
        for info in infos {
            if let Some(w) = waits.get(&info.version_id) {
                info.queue_position = Some(w.ahead);
                info.queue_reason = Some(w.to_string());
            }
        }
    }

    /// Changes the priority of a version waiting to start (trainyard extension): stored
    /// with its configuration, then its place in the queue.
    pub async fn set_priority(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
        priority: i64,
    ) -> ApiResult<()> {
        if !trainyard_sched::fair::valid_priority(priority) {
            return Err(ApiError::param(format!(
                "priority:{priority} must be 1 (low), 2 (middle) or 3 (high)"
            )));
        }
        let (_, v) = self.job_and_version(project, job_id, version_id).await?;
        self.reprioritize(&v, priority).await
    }

    /// Changes the priority of version `v` (`priority` valid) while it waits to start, of a
    /// v1 or a v2 job: stored with its configuration, then its place in the queue; refused
    /// with [`ApiError::WrongStatus`] once it no longer waits.
    pub(crate) async fn reprioritize(&self, v: &Version, priority: i64) -> ApiResult<()> {
        if !self.store.set_queued_priority(v.id, priority).await? {
            let now = self
                .store
                .version_by_id(v.id)
                .await?
                .map_or(v.status, |x| x.status);
            return Err(ApiError::WrongStatus {
                action: "reprioritized unless it waits to start (status 1 or 7)",
                status: now,
            });
        }
        let p = u8::try_from(priority).unwrap_or(trainyard_sched::fair::LOWEST);
        tracing::info!(
            job.id = v.job_id,
            version.id = v.id,
            priority = p,
            "job priority changed"
        );
        self.cluster.set_priority(v.id, p).await;
        Ok(())
    }

    /// The event log of a version's run, oldest first.
    pub async fn run_events(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
    ) -> ApiResult<trainyard_api::events::RunEventsResponse> {
        let (_, v) = self.job_and_version(project, job_id, version_id).await?;
        let rows = self.store.run_events(v.id).await?;
        Ok(trainyard_api::events::RunEventsResponse {
            is_success: true,
            job_id,
            version_id,
            events: rows.iter().map(crate::service::events::info).collect(),
        })
    }

    /// The usage series of one worker (`pod_name` = `worker-<index>`) of a version.
    pub async fn pod_metrics(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
        pod_name: &str,
    ) -> ApiResult<trainyard_api::training::PodMetricsResponse> {
        let (_, v) = self.job_and_version(project, job_id, version_id).await?;
        let workers = v.config.worker_server_num.unwrap_or(1).max(1);
        let index = pod_name
            .strip_prefix("worker-")
            .and_then(|i| i.parse::<i64>().ok())
            .filter(|i| (0..workers).contains(i))
            .ok_or_else(|| {
                ApiError::NotFound(format!(
                    "Pod {pod_name} is not existed; this version has worker-0..worker-{}",
                    workers - 1
                ))
            })?;
        let catalog = self.catalog.clone();
        let series = tokio::task::spawn_blocking(move || {
            crate::service::view::system_metrics(&catalog, &v, Some(index as usize))
        })
        .await
        .map_err(ApiError::internal)?;
        Ok(trainyard_api::training::PodMetricsResponse {
            is_success: true,
            job_id,
            version_id,
            pod_name: pod_name.to_owned(),
            system_metric_list: series,
        })
    }

    /// Lists a job's versions (TJ-05).
    pub async fn list_versions(
        &self,
        project: &str,
        job_id: i64,
        q: &Params,
    ) -> ApiResult<VersionListResponse> {
        let job = self
            .store
            .get_job(project, job_id)
            .await?
            .ok_or_else(|| job_not_found(job_id))?;
        let per_page = q.int("per_page", 10, 1, 1000)?;
        let page = q.int("page", 0, 0, 65535)?;
        let (offset, limit) = if page == 0 {
            (0, None)
        } else {
            ((page - 1) * per_page, Some(per_page))
        };
        let versions = self.store.list_versions(job_id, offset, limit).await?;
        let now = now_ms();
        let catalog = self.catalog.clone();
        // Reads each run's samples file: off the async threads.
        let (job, mut versions) = tokio::task::spawn_blocking(move || {
            let infos: Vec<_> = versions
                .iter()
                .map(|v| version_info(&catalog, &job, v, now, false))
                .collect();
            (job, infos)
        })
        .await
        .map_err(ApiError::internal)?;
        self.add_queue_waits(&mut versions).await;
        Ok(VersionListResponse {
            is_success: true,
            job_id,
            job_name: job.name.clone(),
            job_desc: job.description.clone(),
            version_count: job.version_count,
            versions,
        })
    }

    /// Replaces a job's description (TJ-08).
    pub async fn update_job_description(
        &self,
        project: &str,
        job_id: i64,
        desc: Option<String>,
    ) -> ApiResult<()> {
        let desc = desc.ok_or_else(|| ApiError::required("job_desc"))?;
        check_desc(&desc)?;
        if !self
            .store
            .update_job_description(project, job_id, &desc)
            .await?
        {
            return Err(job_not_found(job_id));
        }
        Ok(())
    }

    fn grace(&self, requested: Option<i64>) -> ApiResult<Duration> {
        match requested {
            None => Ok(self.grace),
            Some(s) if (0..=86_400).contains(&s) => Ok(Duration::from_secs(s as u64)),
            Some(s) => Err(ApiError::param(format!(
                "grace_period_seconds:{s} must be in [0,86400]"
            ))),
        }
    }

    /// Moves an active version to 9 and tells the executor; false when it was not active.
    pub(crate) async fn begin_stop(
        &self,
        v: &Version,
        grace: Duration,
        by: crate::service::events::StopBy,
    ) -> ApiResult<bool> {
        if !lifecycle::begin_stop(&self.run_ctx, v, grace, by).await? {
            return Ok(false);
        }
        tracing::info!(job.id = v.job_id, version.id = v.id, "job stopping");
        self.cluster.stop(v.id, grace).await;
        Ok(true)
    }

    /// Stops a version (TJ-07).
    pub async fn stop_version(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
        grace: Option<i64>,
    ) -> ApiResult<()> {
        let grace = self.grace(grace)?;
        let (_, v) = self.job_and_version(project, job_id, version_id).await?;
        let by = crate::service::events::StopBy::User;
        if !v.status.is_stoppable() || !self.begin_stop(&v, grace, by).await? {
            let now = self
                .store
                .version_by_id(v.id)
                .await?
                .map(|x| x.status)
                .unwrap_or(v.status);
            return Err(ApiError::WrongStatus {
                action: "stop",
                status: now,
            });
        }
        Ok(())
    }

    /// Finishes a deletion: stop active versions (cleanup follows their end) or clean now.
    pub(crate) async fn delete_versions(&self, ids: &[i64]) -> ApiResult<()> {
        for id in ids {
            let Some(v) = self.store.version_by_id(*id).await? else {
                continue;
            };
            // Marking it deleted moved a pending or running version to 9 already.
            if v.status == JobStatus::KILLING {
                tracing::info!(job.id = v.job_id, version.id = v.id, "deleted job stopping");
                let by = crate::service::events::StopBy::Delete;
                let stop = crate::service::events::Event::StopRequested { by };
                crate::service::events::record(&self.run_ctx, v.id, stop);
                self.cluster.stop(v.id, self.grace).await;
                continue;
            }
            cleanup_if_deleted(&self.run_ctx, v.id).await;
        }
        Ok(())
    }

    /// Deletes a version (TJ-04).
    pub async fn delete_version(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
    ) -> ApiResult<()> {
        let (_, v) = self.job_and_version(project, job_id, version_id).await?;
        if let VersionDeletion::Refused(status) =
            lifecycle::delete_version(&self.run_ctx, v.id, self.grace).await?
        {
            return Err(ApiError::WrongStatus {
                action: "delete",
                status,
            });
        }
        self.delete_versions(&[v.id]).await
    }

    /// Deletes a job with all its versions (TJ-09).
    pub async fn delete_job(&self, project: &str, job_id: i64) -> ApiResult<()> {
        let job = self
            .store
            .get_job(project, job_id)
            .await?
            .ok_or_else(|| job_not_found(job_id))?;
        // Code the CLI uploaded for this job (`jobs submit` puts it in /trainyard/code/NAME/,
        // a folder named after the job alone) goes with the job; versions run from copies.
        // The SDK's uploads (/sdk-code/NAME-RANDOM/, one per call) go too unless a stored
        // configuration still names them.
        let uploaded = format!("{CLI_CODE_PREFIX}{}/", job.name);
        let app_urls: std::collections::BTreeSet<String> = self
            .store
            .list_versions(job_id, 0, None)
            .await?
            .into_iter()
            .filter_map(|v| v.config.app_url)
            .filter(|u| *u == uploaded || u.starts_with(SDK_CODE_PREFIX))
            .collect();
        match lifecycle::delete_job(&self.run_ctx, project, job_id, self.grace).await? {
            JobDeletion::Refused(status) => Err(ApiError::WrongStatus {
                action: "delete",
                status,
            }),
            JobDeletion::Hidden(ids) => {
                self.delete_versions(&ids).await?;
                self.store.purge_empty_jobs().await?;
                if !app_urls.is_empty() {
                    let (configs, _) = self
                        .store
                        .list_configs(
                            project,
                            None,
                            trainyard_store::ConfigSort::Name,
                            false,
                            0,
                            i64::MAX,
                        )
                        .await?;
                    for url in &app_urls {
                        let kept = configs
                            .iter()
                            .any(|c| c.config.app_url.as_deref() == Some(url.as_str()));
                        if !kept {
                            self.delete_upload(project, url).await?;
                        }
                    }
                }
                Ok(())
            }
        }
    }
}

/// Where `trainyard jobs submit` uploads a job's code: this prefix and the job's name.
pub const CLI_CODE_PREFIX: &str = "/trainyard/code/";

/// Where the Python SDK uploads local code folders (`/sdk-code/NAME-RANDOM/`).
pub const SDK_CODE_PREFIX: &str = "/sdk-code/";

fn duplicate(e: trainyard_store::Error, name: &str) -> ApiError {
    match e {
        trainyard_store::Error::Conflict => {
            ApiError::NameExists(format!("Job name:{name} is existed"))
        }
        other => quota_refused(other),
    }
}

/// A create the store refused at one of the project's limits, answered as
/// [`Service::check_quota`] answers it; other errors as they are.
pub(crate) fn quota_refused(e: trainyard_store::Error) -> ApiError {
    match e {
        trainyard_store::Error::Quota(QuotaLimit::Jobs) => ApiError::Quota("training job count"),
        trainyard_store::Error::Quota(QuotaLimit::Active) => {
            ApiError::Quota("number of running training jobs")
        }
        trainyard_store::Error::Quota(QuotaLimit::Queued) => {
            ApiError::Quota("number of queued training jobs (the project's quota.queued)")
        }
        other => other.into(),
    }
}
