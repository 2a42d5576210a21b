//! Async client for the trainyard job service (the ModelArts training-management v1 API plus
//! trainyard's extensions), typed over the shared wire types of [`trainyard_api`].
//!
//! One method per endpoint, errors that carry the HTTP status and the ModelArts
//! `error_code`/`error_message` ([`Error::Api`]), and the helpers every user writes
//! otherwise: [`Client::wait_version`] and [`Client::wait_viz`] (poll to a status with a
//! deadline), [`Client::list_all_jobs`] and friends (every page of a list), [`Client::follow_log`]
//! (stream a log as it grows, resuming after a broken connection without losing or repeating
//! a byte) and [`Client::upload_dir`] (put a local code folder into the project's storage).
//!
//! ```no_run
//! use std::time::Duration;
//! use trainyard_api::training::{CreateJobRequest, JobConfig};
//! use trainyard_api::visualization::{CreateVisualizationRequest, ScheduleInput};
//! use trainyard_api::JobStatus;
//! use trainyard_client::Client;
//!
//! # async fn demo() -> trainyard_client::Result<()> {
//! let client = Client::new("http://127.0.0.1:8600", "my-project", Some("my-token".into()));
//! client.upload_dir("./src".as_ref(), "/code/demo/").await?;
//! let created = client
//!     .create_job(&CreateJobRequest {
//!         job_name: Some("demo".into()),
//!         config: Some(JobConfig {
//!             worker_server_num: Some(2),
//!             app_url: Some("/code/demo/".into()),
//!             boot_file_url: Some("/code/demo/train.py".into()),
//!             data_url: Some("/data/".into()),
//!             spec_id: Some(1),
//!             ..Default::default()
//!         }),
//!         ..Default::default()
//!     })
//!     .await?;
//! let version = created.version_id.expect("a first version");
//! let mut log = client.follow_log(created.job_id, version, "demo.0", 0);
//! while let Some(chunk) = log.next_chunk().await? {
//!     print!("{}", String::from_utf8_lossy(&chunk));
//! }
//! let done = client
//!     .wait_version(created.job_id, version, Duration::from_secs(600), |v| eprintln!("status {}", v.status))
//!     .await?;
//! assert_eq!(done.status, 10);
//!
//! // A TensorBoard over the job's output, stopped after an hour without being asked.
//! let viz = client
//!     .create_viz(&CreateVisualizationRequest {
//!         job_name: Some("demo-tb".into()),
//!         train_url: done.train_url.clone(),
//!         schedule: vec![ScheduleInput::stop_after("HOURS", 1)],
//!         ..Default::default()
//!     })
//!     .await?;
//! let running = client.wait_viz(viz.job_id, &[JobStatus::RUNNING], Duration::from_secs(60), |_| {}).await?;
//! println!("open {}", running.service_url);
//! # Ok(()) }
//! ```

mod error;
mod logs;
pub mod query;
mod sign;
mod upload;

pub use error::{Error, Result};
pub use logs::LogFollower;
pub use reqwest::Method;
pub use sign::AccessKey;
pub use upload::{pack_dir, upload_entries, UploadEntry, IGNORE_FILE};

use query::{AlgorithmQuery, ConfigListQuery, JobListQuery, LogQuery, PageQuery, VizListQuery};
use reqwest::{RequestBuilder, StatusCode};
use serde::de::DeserializeOwned;
use serde::Serialize;
use std::path::Path;
use std::time::{Duration, Instant};
use trainyard_api::catalog::{EngineListResponse, SpecListResponse};
use trainyard_api::extensions::{
    FileListResponse, UploadLimits, UploadResponse, FILES_PATH, FILE_PATH, UPLOAD_PATH,
};
use trainyard_api::training::{
    AomLogResponse, BuiltInAlgorithmsResponse, CreateJobRequest, CreateJobResponse,
    CreateVersionRequest, JobListResponse, JobSummary, LogFileNamesResponse, StopRequest, Success,
    UpdateDescriptionRequest, VersionInfo, VersionListResponse,
};
use trainyard_api::training_config::{
    ConfigDetail, ConfigListResponse, ConfigRequest, ConfigSummary,
};
use trainyard_api::visualization::{
    CreateVisualizationRequest, CreateVisualizationResponse, VisualizationDetails,
    VisualizationJob, VisualizationListResponse,
};
use trainyard_api::{ErrorBody, JobStatus};

/// Header carrying the project token.
const TOKEN_HEADER: &str = "X-Auth-Token";

/// How often [`Client::wait_version`] and [`Client::wait_viz`] look at the job.
const WAIT_POLL: Duration = Duration::from_millis(200);

/// Page size the `list_all_*` helpers ask for.
const ALL_PAGE_SIZE: i64 = 100;

/// A client bound to one server, one project and one token. Cheap to clone.
#[derive(Clone, Debug)]
pub struct Client {
    http: reqwest::Client,
    base: String,
    project: String,
    token: Option<String>,
    access_key: Option<AccessKey>,
}

impl Client {
    /// A client for `base` (e.g. `http://127.0.0.1:8600`), acting in `project` with `token`.
    pub fn new(base: impl Into<String>, project: impl Into<String>, token: Option<String>) -> Self {
        Self::with_http(reqwest::Client::new(), base, project, token)
    }

    /// Like [`Client::new`] over a configured `reqwest::Client` (timeouts, proxies...).
    pub fn with_http(
        http: reqwest::Client,
        base: impl Into<String>,
        project: impl Into<String>,
        token: Option<String>,
    ) -> Self {
        let base = base.into().trim_end_matches('/').to_owned();
        Self {
            http,
            base,
            project: project.into(),
            token,
            access_key: None,
        }
    }

    /// Signs every request with an access key pair (AK/SK, `SDK-HMAC-SHA256`) instead of
    /// sending a token.
    pub fn with_access_key(mut self, key: AccessKey) -> Self {
        self.token = None;
        self.access_key = Some(key);
        self
    }

    /// The server's base URL.
    pub fn base(&self) -> &str {
        &self.base
    }

    /// The project this client acts in.
    pub fn project(&self) -> &str {
        &self.project
    }

    /// `BASE/v1/PROJECT` + `path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}/v1/{}{}", self.base, self.project, path)
    }

    fn request(&self, method: Method, path: &str) -> RequestBuilder {
        let mut req = self.http.request(method, self.url(path));
        if let Some(t) = &self.token {
            req = req.header(TOKEN_HEADER, t);
        }
        req
    }

    /// Maps a transport error: no connection at all is [`Error::Unreachable`].
    fn transport(&self, e: reqwest::Error) -> Error {
        if e.is_connect() {
            Error::Unreachable {
                url: self.base.clone(),
                source: e,
            }
        } else {
            Error::Transport(e)
        }
    }

    /// Sends `req` and returns the response if its status is a success, else the API error.
    async fn send_raw(&self, req: RequestBuilder) -> Result<reqwest::Response> {
        let mut request = req.build().map_err(Error::Transport)?;
        if let Some(key) = &self.access_key {
            sign::sign(&mut request, key);
        }
        let resp = self
            .http
            .execute(request)
            .await
            .map_err(|e| self.transport(e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.transport(e))?;
        Err(api_error(status, &text))
    }

    async fn send<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T> {
        let resp = self.send_raw(req).await?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.transport(e))?;
        serde_json::from_str(&text).map_err(|e| Error::Unexpected {
            status: status.as_u16(),
            detail: format!(
                "{e}; body starts {:?}",
                text.chars().take(200).collect::<String>()
            ),
        })
    }

    async fn get<T: DeserializeOwned>(&self, path: &str, query: &impl Serialize) -> Result<T> {
        self.send(self.request(Method::GET, path).query(query))
            .await
    }

    async fn with_body<T: DeserializeOwned>(
        &self,
        method: Method,
        path: &str,
        body: &impl Serialize,
    ) -> Result<T> {
        self.send(self.request(method, path).json(body)).await
    }

    async fn delete(&self, path: &str) -> Result<Success> {
        self.send(self.request(Method::DELETE, path)).await
    }

    async fn post_empty(&self, path: &str) -> Result<Success> {
        self.send(self.request(Method::POST, path)).await
    }

    // ---- the new-version (v2) API, as JSON documents ----

    /// Sends `method` to `BASE/v2/PROJECT` + `path` with an optional JSON body; the answer's
    /// JSON (`null` when it has none).
    pub async fn v2(
        &self,
        method: Method,
        path: &str,
        body: Option<&serde_json::Value>,
    ) -> Result<serde_json::Value> {
        let url = format!("{}/v2/{}{}", self.base, self.project, path);
        let mut req = self.http.request(method, url);
        if let Some(t) = &self.token {
            req = req.header(TOKEN_HEADER, t);
        }
        if let Some(b) = body {
            req = req.json(b);
        }
        let resp = self.send_raw(req).await?;
        let status = resp.status();
        let text = resp.text().await.map_err(|e| self.transport(e))?;
        if text.trim().is_empty() {
            return Ok(serde_json::Value::Null);
        }
        serde_json::from_str(&text).map_err(|e| Error::Unexpected {
            status: status.as_u16(),
            detail: format!(
                "{e}; body starts {:?}",
                text.chars().take(200).collect::<String>()
            ),
        })
    }

    /// Every v2 job of the project (T2-03, page by page), newest first.
    pub async fn v2_jobs(&self) -> Result<Vec<serde_json::Value>> {
        let mut out = Vec::new();
        loop {
            let body = serde_json::json!({"offset": out.len(), "limit": 50});
            let page = self
                .v2(Method::POST, "/training-job-searches", Some(&body))
                .await?;
            let items = page["items"].as_array().cloned().unwrap_or_default();
            let total = page["total"].as_u64().unwrap_or(0) as usize;
            let empty = items.is_empty();
            out.extend(items);
            if empty || out.len() >= total {
                return Ok(out);
            }
        }
    }

    // ---- training jobs (TJ-01..TJ-12) ----

    /// TJ-01: creates a training job (and, unless `config.create_version` is false, its first
    /// version, which starts right away).
    pub async fn create_job(&self, req: &CreateJobRequest) -> Result<CreateJobResponse> {
        self.with_body(Method::POST, "/training-jobs", req).await
    }

    /// TJ-02: one page of training jobs.
    pub async fn list_jobs(&self, query: &JobListQuery) -> Result<JobListResponse> {
        self.get("/training-jobs", query).await
    }

    /// TJ-03: one version in detail.
    pub async fn get_version(&self, job_id: i64, version_id: i64) -> Result<VersionInfo> {
        self.get(
            &format!("/training-jobs/{job_id}/versions/{version_id}"),
            &(),
        )
        .await
    }

    /// TJ-04: deletes a version (stopping it first if active).
    pub async fn delete_version(&self, job_id: i64, version_id: i64) -> Result<Success> {
        self.delete(&format!("/training-jobs/{job_id}/versions/{version_id}"))
            .await
    }

    /// TJ-05: one page of a job's versions, newest first.
    pub async fn list_versions(
        &self,
        job_id: i64,
        query: &PageQuery,
    ) -> Result<VersionListResponse> {
        self.get(&format!("/training-jobs/{job_id}/versions"), query)
            .await
    }

    /// TJ-06: creates (and starts) a new version of a job.
    pub async fn create_version(
        &self,
        job_id: i64,
        req: &CreateVersionRequest,
    ) -> Result<CreateJobResponse> {
        self.with_body(
            Method::POST,
            &format!("/training-jobs/{job_id}/versions"),
            req,
        )
        .await
    }

    /// TJ-07: stops a version; `grace_period_seconds` overrides the server's SIGTERM-to-SIGKILL
    /// grace (trainyard extension).
    pub async fn stop_version(
        &self,
        job_id: i64,
        version_id: i64,
        grace_period_seconds: Option<i64>,
    ) -> Result<Success> {
        let body = StopRequest {
            grace_period_seconds,
        };
        self.with_body(
            Method::POST,
            &format!("/training-jobs/{job_id}/versions/{version_id}/stop"),
            &body,
        )
        .await
    }

    /// Extension: changes the priority (1 low .. 3 high) of a version waiting to start.
    pub async fn set_priority(
        &self,
        job_id: i64,
        version_id: i64,
        priority: i64,
    ) -> Result<Success> {
        let body = trainyard_api::extensions::PriorityRequest { priority };
        self.with_body(
            Method::PUT,
            &format!("/training-jobs/{job_id}/versions/{version_id}/priority"),
            &body,
        )
        .await
    }

    /// TJ-08: replaces a job's description.
    pub async fn update_job_description(&self, job_id: i64, job_desc: &str) -> Result<Success> {
        let body = UpdateDescriptionRequest {
            job_desc: Some(job_desc.to_owned()),
        };
        self.with_body(Method::PUT, &format!("/training-jobs/{job_id}"), &body)
            .await
    }

    /// TJ-09: deletes a job with all its versions (stopping active ones).
    pub async fn delete_job(&self, job_id: i64) -> Result<Success> {
        self.delete(&format!("/training-jobs/{job_id}")).await
    }

    /// TJ-10: the log file names of a version, one per worker (`<job_name>.<index>`).
    pub async fn log_file_names(
        &self,
        job_id: i64,
        version_id: i64,
    ) -> Result<LogFileNamesResponse> {
        self.get(
            &format!("/training-jobs/{job_id}/versions/{version_id}/log/file-names"),
            &(),
        )
        .await
    }

    /// The event log of a version's run, oldest first (a trainyard extension).
    pub async fn run_events(
        &self,
        job_id: i64,
        version_id: i64,
    ) -> Result<trainyard_api::events::RunEventsResponse> {
        self.get(
            &format!("/training-jobs/{job_id}/versions/{version_id}/events"),
            &(),
        )
        .await
    }

    /// What the project's runs used in `since..until` (ms since the epoch; `until` none:
    /// now), summed `by` project, user or job (a trainyard extension).
    pub async fn usage(
        &self,
        since: i64,
        until: Option<i64>,
        by: trainyard_api::usage::UsageBy,
    ) -> Result<trainyard_api::usage::UsageResponse> {
        let mut query = vec![("since", since.to_string()), ("by", by.as_str().to_owned())];
        if let Some(until) = until {
            query.push(("until", until.to_string()));
        }
        self.get("/usage", &query).await
    }

    /// The project's webhook deliveries, newest first, each with its attempts (trainyard
    /// extension); only job `job_id`'s when given.
    pub async fn webhook_deliveries(
        &self,
        job_id: Option<i64>,
    ) -> Result<trainyard_api::webhooks::DeliveryListResponse> {
        let query: Vec<(&str, String)> = job_id
            .map(|id| ("job_id", id.to_string()))
            .into_iter()
            .collect();
        self.get(trainyard_api::webhooks::DELIVERIES_PATH, &query)
            .await
    }

    /// Extension: creates a sweep and all its runs.
    pub async fn create_sweep(
        &self,
        req: &trainyard_api::sweeps::CreateSweepRequest,
    ) -> Result<trainyard_api::sweeps::SweepResponse> {
        self.with_body(Method::POST, trainyard_api::sweeps::SWEEPS_PATH, req)
            .await
    }

    /// Extension: the project's sweeps, newest first.
    pub async fn list_sweeps(&self) -> Result<trainyard_api::sweeps::SweepListResponse> {
        let none: [(&str, String); 0] = [];
        self.get(trainyard_api::sweeps::SWEEPS_PATH, &none).await
    }

    /// Extension: a sweep with its runs.
    pub async fn get_sweep(&self, sweep_id: i64) -> Result<trainyard_api::sweeps::SweepResponse> {
        let none: [(&str, String); 0] = [];
        let path = format!("{}/{sweep_id}", trainyard_api::sweeps::SWEEPS_PATH);
        self.get(&path, &none).await
    }

    /// Extension: stops every run of a sweep that has not ended.
    pub async fn stop_sweep(&self, sweep_id: i64) -> Result<trainyard_api::sweeps::SweepResponse> {
        let path = format!("{}/{sweep_id}/stop", trainyard_api::sweeps::SWEEPS_PATH);
        self.send(self.request(Method::POST, &path)).await
    }

    /// Extension: deletes a sweep and its runs' jobs.
    pub async fn delete_sweep(&self, sweep_id: i64) -> Result<Success> {
        self.delete(&format!(
            "{}/{sweep_id}",
            trainyard_api::sweeps::SWEEPS_PATH
        ))
        .await
    }

    /// TJ-11: built-in algorithms.
    pub async fn built_in_algorithms(
        &self,
        query: &AlgorithmQuery,
    ) -> Result<BuiltInAlgorithmsResponse> {
        self.get("/built-in-algorithms", query).await
    }

    /// TJ-12: one page of a worker log, by line.
    pub async fn read_log(
        &self,
        job_id: i64,
        version_id: i64,
        query: &LogQuery,
    ) -> Result<AomLogResponse> {
        self.get(
            &format!("/training-jobs/{job_id}/versions/{version_id}/aom-log"),
            query,
        )
        .await
    }

    // ---- training job configurations (TC-01..TC-05) ----

    /// TC-01: stores a configuration (`config_name` required).
    pub async fn create_config(&self, req: &ConfigRequest) -> Result<Success> {
        self.with_body(Method::POST, "/training-job-configs", req)
            .await
    }

    /// TC-02: one page of configurations.
    pub async fn list_configs(&self, query: &ConfigListQuery) -> Result<ConfigListResponse> {
        self.get("/training-job-configs", query).await
    }

    /// TC-03: replaces a configuration.
    pub async fn update_config(&self, name: &str, req: &ConfigRequest) -> Result<Success> {
        self.with_body(Method::PUT, &format!("/training-job-configs/{name}"), req)
            .await
    }

    /// TC-04: deletes a configuration.
    pub async fn delete_config(&self, name: &str) -> Result<Success> {
        self.delete(&format!("/training-job-configs/{name}")).await
    }

    /// TC-05: one configuration in detail.
    pub async fn get_config(&self, name: &str) -> Result<ConfigDetail> {
        self.get(&format!("/training-job-configs/{name}"), &())
            .await
    }

    // ---- specifications (RS-01, RS-02) ----

    /// RS-01: resource specifications, with whether one worker fits now.
    pub async fn resource_specs(&self) -> Result<SpecListResponse> {
        self.get("/job/resource-specs", &()).await
    }

    /// RS-02: AI engines.
    pub async fn ai_engines(&self) -> Result<EngineListResponse> {
        self.get("/job/ai-engines", &()).await
    }

    // ---- visualization jobs (VJ-01..VJ-07) ----

    /// VJ-01: creates a visualization job (a TensorBoard over `train_url`). It starts
    /// asynchronously: the answer has status 1 and the `service_url` (which carries the job's
    /// access secret); [`Client::wait_viz`] waits for 8 RUNNING.
    ///
    /// ```no_run
    /// # use trainyard_api::visualization::{CreateVisualizationRequest, ScheduleInput};
    /// # async fn demo(client: trainyard_client::Client) -> trainyard_client::Result<()> {
    /// let created = client
    ///     .create_viz(&CreateVisualizationRequest {
    ///         job_name: Some("tb".into()),
    ///         train_url: Some("/trainyard/out/demo/".into()),
    ///         schedule: vec![ScheduleInput::stop_after("MINUTES", 30)],
    ///         ..Default::default()
    ///     })
    ///     .await?;
    /// println!("{} at {}", created.job_id, created.service_url);
    /// # Ok(()) }
    /// ```
    pub async fn create_viz(
        &self,
        req: &CreateVisualizationRequest,
    ) -> Result<CreateVisualizationResponse> {
        self.with_body(Method::POST, "/visualization-jobs", req)
            .await
    }

    /// VJ-02: one page of visualization jobs, with the project's `quotas` and what is left of
    /// its `job_count_limit`.
    ///
    /// ```no_run
    /// # use trainyard_client::query::VizListQuery;
    /// # async fn demo(client: trainyard_client::Client) -> trainyard_client::Result<()> {
    /// let running = client
    ///     .list_viz(&VizListQuery { status: Some("8".into()), sort_by: Some("create_time".into()), ..Default::default() })
    ///     .await?;
    /// for job in &running.jobs {
    ///     println!("{} {}", job.job_name, job.service_url);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn list_viz(&self, query: &VizListQuery) -> Result<VisualizationListResponse> {
        self.get("/visualization-jobs", query).await
    }

    /// VJ-03: one visualization job in detail.
    ///
    /// ```no_run
    /// # async fn demo(client: trainyard_client::Client) -> trainyard_client::Result<()> {
    /// let details = client.get_viz(197).await?;
    /// println!("status {}, {:?} ms left before auto-stop", details.job.status, details.job.remaining_duration);
    /// # Ok(()) }
    /// ```
    pub async fn get_viz(&self, job_id: i64) -> Result<VisualizationDetails> {
        self.get(&format!("/visualization-jobs/{job_id}"), &())
            .await
    }

    /// VJ-04: replaces a visualization job's description.
    ///
    /// ```no_run
    /// # async fn demo(client: trainyard_client::Client) -> trainyard_client::Result<()> {
    /// client.update_viz_description(197, "loss curves of run 3").await?;
    /// # Ok(()) }
    /// ```
    pub async fn update_viz_description(&self, job_id: i64, job_desc: &str) -> Result<Success> {
        let body = UpdateDescriptionRequest {
            job_desc: Some(job_desc.to_owned()),
        };
        self.with_body(Method::PUT, &format!("/visualization-jobs/{job_id}"), &body)
            .await
    }

    /// VJ-05: deletes a visualization job, stopping it first if active (refused while it is
    /// stopping, status 9).
    ///
    /// ```no_run
    /// # async fn demo(client: trainyard_client::Client) -> trainyard_client::Result<()> {
    /// client.delete_viz(197).await?;
    /// # Ok(()) }
    /// ```
    pub async fn delete_viz(&self, job_id: i64) -> Result<Success> {
        self.delete(&format!("/visualization-jobs/{job_id}")).await
    }

    /// VJ-06: stops a visualization job (asynchronous: 9 KILLING, then 12 KILLED).
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn demo(client: trainyard_client::Client) -> trainyard_client::Result<()> {
    /// client.stop_viz(197).await?;
    /// let stopped = client.wait_viz(197, &[], Duration::from_secs(30), |_| {}).await?;
    /// assert_eq!(stopped.status, 12);
    /// # Ok(()) }
    /// ```
    pub async fn stop_viz(&self, job_id: i64) -> Result<Success> {
        self.post_empty(&format!("/visualization-jobs/{job_id}/stop"))
            .await
    }

    /// VJ-07: restarts a visualization job that has ended (back to 1, same `service_url`, a
    /// fresh auto-stop deadline); refused while it is active.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # use trainyard_api::JobStatus;
    /// # async fn demo(client: trainyard_client::Client) -> trainyard_client::Result<()> {
    /// client.restart_viz(197).await?;
    /// client.wait_viz(197, &[JobStatus::RUNNING], Duration::from_secs(60), |j| eprintln!("status {}", j.status)).await?;
    /// # Ok(()) }
    /// ```
    pub async fn restart_viz(&self, job_id: i64) -> Result<Success> {
        self.post_empty(&format!("/visualization-jobs/{job_id}/restart"))
            .await
    }

    // ---- trainyard extensions ----

    /// Replaces the storage folder `remote` (e.g. `/code/demo/`) with the tree of the tar
    /// archive `archive`, atomically (see [`pack_dir`] for the format).
    pub async fn upload_tar(&self, remote: &str, archive: Vec<u8>) -> Result<UploadResponse> {
        let req = self
            .request(Method::PUT, UPLOAD_PATH)
            .query(&[("path", remote)])
            .header(reqwest::header::CONTENT_TYPE, "application/x-tar")
            .body(archive);
        self.send(req).await
    }

    /// Removes the storage folder `remote` (trainyard extension), e.g. the upload of a submit
    /// whose job the server then refused. A folder that is not there is no error.
    pub async fn delete_upload(&self, remote: &str) -> Result<Success> {
        let req = self
            .request(Method::DELETE, UPLOAD_PATH)
            .query(&[("path", remote)]);
        self.send(req).await
    }

    /// The limits the server holds an upload to (trainyard extension): a client checks the
    /// size of a packed folder against `max_upload_bytes` before sending it.
    pub async fn upload_limits(&self) -> Result<UploadLimits> {
        self.get(UPLOAD_PATH, &()).await
    }

    /// The regular files below the storage folder `remote` at every depth, or that one file
    /// (trainyard extension; at most 10,000, `truncated` beyond).
    pub async fn list_files(&self, remote: &str) -> Result<FileListResponse> {
        self.get(FILES_PATH, &[("path", remote)]).await
    }

    /// Opens the stored file `remote` for download (trainyard extension): its size and its
    /// bytes, chunk by chunk.
    pub async fn read_file(&self, remote: &str) -> Result<FileDownload> {
        let resp = self
            .send_raw(
                self.request(Method::GET, FILE_PATH)
                    .query(&[("path", remote)]),
            )
            .await?;
        Ok(FileDownload {
            len: resp.content_length(),
            resp,
        })
    }

    /// Uploads the local folder `dir` to the storage folder `remote`, replacing what was there
    /// in one step; `.git`, virtual environments and ignored files stay home (see
    /// [`upload_entries`]). Symlinks are sent as symlinks; the server refuses those leading out
    /// of the tree, paths with `..`, and archives over its size limit, leaving nothing behind.
    pub async fn upload_dir(&self, dir: &Path, remote: &str) -> Result<UploadResponse> {
        let dir = dir.to_owned();
        let archive = tokio::task::spawn_blocking(move || pack_dir(&dir))
            .await
            .map_err(|e| Error::Invalid(format!("packing failed: {e}")))??;
        self.upload_tar(remote, archive).await
    }

    /// Opens the live stream of a worker log from byte `offset` (trainyard extension); see
    /// [`LogFollower`]. The stream ends once the version is terminal and the log fully sent.
    pub fn follow_log(
        &self,
        job_id: i64,
        version_id: i64,
        log_file: &str,
        offset: u64,
    ) -> LogFollower {
        LogFollower::new(self.clone(), job_id, version_id, log_file, offset, true)
    }

    /// Like [`Client::follow_log`], but ends at the current end of the log.
    pub fn read_log_bytes(
        &self,
        job_id: i64,
        version_id: i64,
        log_file: &str,
        offset: u64,
    ) -> LogFollower {
        LogFollower::new(self.clone(), job_id, version_id, log_file, offset, false)
    }

    // ---- helpers ----

    /// Polls a version until its status is terminal, calling `on_change` with the version
    /// each time its status differs from the last one seen (the first look included).
    /// Fails with [`Error::Timeout`] after `timeout`.
    pub async fn wait_version(
        &self,
        job_id: i64,
        version_id: i64,
        timeout: Duration,
        mut on_change: impl FnMut(&VersionInfo),
    ) -> Result<VersionInfo> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            let v = self.get_version(job_id, version_id).await?;
            if last != Some(v.status) {
                last = Some(v.status);
                on_change(&v);
            }
            if JobStatus::from_code(v.status).is_terminal() {
                return Ok(v);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout(
                    timeout,
                    format!("version {version_id} of job {job_id}"),
                ));
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }

    /// Polls a visualization job until its status is one of `wanted` (e.g. `&[8]` for
    /// running), or any terminal status when `wanted` is empty. A terminal status not in
    /// `wanted` also ends the wait (a job that failed to start will not run later), so compare
    /// the returned status. `on_change` sees the job each time its status differs from the last
    /// one seen (the first look included). Fails with [`Error::Timeout`] after `timeout`.
    ///
    /// ```no_run
    /// # use std::time::Duration;
    /// # async fn demo(client: trainyard_client::Client) -> trainyard_client::Result<()> {
    /// use trainyard_api::JobStatus;
    /// let job = client.wait_viz(197, &[JobStatus::RUNNING], Duration::from_secs(60), |j| eprintln!("status {}", j.status)).await?;
    /// if JobStatus::from_code(job.status) != JobStatus::RUNNING {
    ///     eprintln!("visualization job ended with status {}", job.status);
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn wait_viz(
        &self,
        job_id: i64,
        wanted: &[JobStatus],
        timeout: Duration,
        mut on_change: impl FnMut(&VisualizationJob),
    ) -> Result<VisualizationJob> {
        let deadline = Instant::now() + timeout;
        let mut last = None;
        loop {
            let job = self.get_viz(job_id).await?.job;
            if last != Some(job.status) {
                last = Some(job.status);
                on_change(&job);
            }
            if wanted.contains(&JobStatus::from_code(job.status))
                || JobStatus::from_code(job.status).is_terminal()
            {
                return Ok(job);
            }
            if Instant::now() >= deadline {
                return Err(Error::Timeout(
                    timeout,
                    format!("visualization job {job_id}"),
                ));
            }
            tokio::time::sleep(WAIT_POLL).await;
        }
    }

    /// Every visualization job matching `query` (its `page`/`per_page` are ignored), page by
    /// page, with the `quotas` and `job_count_limit` of the last page.
    pub async fn list_all_viz(&self, query: &VizListQuery) -> Result<VisualizationListResponse> {
        let mut q = query.clone();
        q.per_page = Some(ALL_PAGE_SIZE);
        let mut jobs = Vec::new();
        let mut page = 1;
        loop {
            q.page = Some(page);
            let resp = self.list_viz(&q).await?;
            let n = resp.jobs.len();
            jobs.extend(resp.jobs);
            if n == 0 || jobs.len() as i64 >= resp.job_total_count {
                return Ok(VisualizationListResponse { jobs, ..resp });
            }
            page += 1;
        }
    }

    /// The latest version id of a job (the first entry of TJ-05, newest first).
    pub async fn latest_version(&self, job_id: i64) -> Result<VersionInfo> {
        let page = self
            .list_versions(
                job_id,
                &PageQuery {
                    page: Some(1),
                    per_page: Some(1),
                },
            )
            .await?;
        page.versions
            .into_iter()
            .next()
            .ok_or_else(|| Error::Invalid(format!("job {job_id} has no version")))
    }

    /// Every job matching `query` (its `page`/`per_page` are ignored), page by page.
    pub async fn list_all_jobs(&self, query: &JobListQuery) -> Result<Vec<JobSummary>> {
        let mut q = query.clone();
        q.per_page = Some(ALL_PAGE_SIZE);
        let mut all = Vec::new();
        for page in 1.. {
            q.page = Some(page);
            let resp = self.list_jobs(&q).await?;
            let n = resp.jobs.len();
            all.extend(resp.jobs);
            if n == 0 || all.len() as i64 >= resp.job_total_count {
                break;
            }
        }
        Ok(all)
    }

    /// Every version of a job, newest first, page by page.
    pub async fn list_all_versions(&self, job_id: i64) -> Result<Vec<VersionInfo>> {
        let mut all = Vec::new();
        for page in 1.. {
            let resp = self
                .list_versions(
                    job_id,
                    &PageQuery {
                        page: Some(page),
                        per_page: Some(ALL_PAGE_SIZE),
                    },
                )
                .await?;
            let n = resp.versions.len();
            all.extend(resp.versions);
            if n == 0 || all.len() as i64 >= resp.version_count {
                break;
            }
        }
        Ok(all)
    }

    /// Every configuration matching `query` (its `page`/`per_page` are ignored), page by page.
    pub async fn list_all_configs(&self, query: &ConfigListQuery) -> Result<Vec<ConfigSummary>> {
        let mut q = query.clone();
        q.per_page = Some(ALL_PAGE_SIZE);
        let mut all = Vec::new();
        for page in 1.. {
            q.page = Some(page);
            let resp = self.list_configs(&q).await?;
            let n = resp.configs.len();
            all.extend(resp.configs);
            if n == 0 || all.len() as i64 >= resp.config_total_count {
                break;
            }
        }
        Ok(all)
    }
}

/// A stored file being downloaded ([`Client::read_file`]).
#[derive(Debug)]
pub struct FileDownload {
    /// Its size in bytes, when the server said.
    pub len: Option<u64>,
    resp: reqwest::Response,
}

impl FileDownload {
    /// The next chunk of its bytes; `None` at the end.
    pub async fn next_chunk(&mut self) -> Result<Option<bytes::Bytes>> {
        self.resp.chunk().await.map_err(Error::Transport)
    }
}

/// The error of a non-success answer: the ModelArts body if there is one.
fn api_error(status: StatusCode, text: &str) -> Error {
    /// The v2 API's error body.
    #[derive(serde::Deserialize)]
    struct V2Body {
        error_code: String,
        error_msg: String,
    }
    if let Ok(body) = serde_json::from_str::<V2Body>(text) {
        return Error::Api {
            status: status.as_u16(),
            code: body.error_code,
            message: body.error_msg,
        };
    }
    match serde_json::from_str::<ErrorBody>(text) {
        Ok(body) => Error::Api {
            status: status.as_u16(),
            code: body.error_code,
            message: body.error_message,
        },
        Err(_) => Error::Unexpected {
            status: status.as_u16(),
            detail: format!(
                "no ModelArts error body: {:?}",
                text.chars().take(200).collect::<String>()
            ),
        },
    }
}
