//! Sweeps (trainyard extension, `/v1/{project_id}/sweeps`): one request creates a sweep's
//! runs up front, each an ordinary job whose version carries the sweep (its group in the
//! scheduler core, which runs at most `concurrency` of them at once); the sweep's answer
//! counts where its runs stand and names the best by the metric each wrote into
//! `metrics.json` in its `train_url`.

use crate::error::{ApiError, ApiResult};
use crate::service::sweep_space::{self, Combination, MAX_RUNS};
use crate::service::validate::{check_request_fields, Request};
use crate::service::{lifecycle, Service};
use crate::util::{now_ms, valid_name};
use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::{Path, PathBuf};
use trainyard_api::sweeps::{
    CreateSweepRequest, Objective, SweepInfo, SweepListResponse, SweepProgress, SweepResponse,
    SweepRun, METRICS_FILE,
};
use trainyard_api::training::{CreateJobRequest, Parameter, SweepMember};
use trainyard_api::JobStatus;
use trainyard_store::{NewSweep, Sweep, SweepRunRow, Version};

/// The largest `metrics.json` read.
const MAX_METRICS_BYTES: u64 = 1 << 20;

/// Whether lower or higher is better.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Goal {
    Min,
    Max,
}

/// A checked objective: its metric and goal.
fn objective(o: &Objective) -> ApiResult<(String, Goal)> {
    let metric = o
        .metric
        .clone()
        .filter(|m| !m.is_empty())
        .ok_or_else(|| ApiError::required("objective.metric"))?;
    let goal = match o.goal.as_deref().unwrap_or("max") {
        "max" => Goal::Max,
        "min" => Goal::Min,
        other => {
            return Err(ApiError::param(format!(
                "objective.goal:{other} must be min or max"
            )))
        }
    };
    Ok((metric, goal))
}

/// `parameter` with the values of `combo` (replacing parameters of the same label).
fn with_values(parameter: Option<Vec<Parameter>>, combo: &Combination) -> Vec<Parameter> {
    let mut params = parameter.unwrap_or_default();
    for (label, value) in combo {
        match params.iter_mut().find(|p| &p.label == label) {
            Some(p) => p.value = value.clone(),
            None => params.push(Parameter {
                label: label.clone(),
                value: value.clone(),
            }),
        }
    }
    params
}

/// Where a version's status counts in a sweep's progress.
fn count(progress: &mut SweepProgress, status: JobStatus) {
    // A run being started (4) holds its place of the sweep already: it counts as running.
    let slot = if status.is_pending() && status != JobStatus::SUBMIT_TRYING {
        &mut progress.queued
    } else if JobStatus::ACTIVE.contains(&status) {
        &mut progress.running
    } else if status == JobStatus::COMPLETED {
        &mut progress.completed
    } else if status == JobStatus::KILLED || status == JobStatus::CANCELED {
        &mut progress.stopped
    } else {
        &mut progress.failed
    };
    *slot += 1;
}

/// Metric `metric` of the `metrics.json` in `dir` (a folder of the project's storage below
/// `root`), opened without following links; none when it is missing, unreadable or not a
/// number.
fn read_metric(root: &Path, dir: &Path, metric: &str) -> Option<f64> {
    let rel = dir.strip_prefix(root).ok()?;
    let file = trainyard_exec::beneath::Dir::open(root)
        .ok()?
        .open_file(&rel.join(METRICS_FILE))
        .ok()?;
    let mut text = String::new();
    file.take(MAX_METRICS_BYTES)
        .read_to_string(&mut text)
        .ok()?;
    let metrics: serde_json::Value = serde_json::from_str(&text).ok()?;
    metrics.get(metric)?.as_f64().filter(|v| v.is_finite())
}

impl Service {
    /// Creates a sweep and all its runs.
    pub async fn create_sweep(
        &self,
        project: &str,
        who: &str,
        req: CreateSweepRequest,
    ) -> ApiResult<SweepResponse> {
        let name = req
            .sweep_name
            .ok_or_else(|| ApiError::required("sweep_name"))?;
        if !valid_name(&name, 59) {
            return Err(ApiError::ParameterError(format!(
                "Illegal name: {name} (sweep_name: [A-Za-z0-9_-], at most 59 characters)"
            )));
        }
        let base = req.config.ok_or_else(|| ApiError::required("config"))?;
        check_request_fields(&base, Request::NewJob)?;
        if base.create_version == Some(false) {
            return Err(ApiError::InvalidArgument(
                "config.create_version: a sweep's runs always run".into(),
            ));
        }
        let space = req
            .parameters
            .ok_or_else(|| ApiError::required("parameters"))?;
        let combos = sweep_space::expand(&space, req.samples, req.seed.unwrap_or(0))
            .map_err(ApiError::param)?;
        let concurrency = req.concurrency.unwrap_or(1);
        if !(1..=MAX_RUNS as i64).contains(&concurrency) {
            return Err(ApiError::param(format!(
                "concurrency:{concurrency} must be in [1,{MAX_RUNS}]"
            )));
        }
        if let Some(o) = &req.objective {
            objective(o)?;
        }
        let objective_json = req
            .objective
            .as_ref()
            .map(serde_json::to_string)
            .transpose()
            .map_err(ApiError::internal)?;
        let sweep_id = self
            .store
            .create_sweep(&NewSweep {
                project_id: project.to_owned(),
                name: name.clone(),
                concurrency,
                objective: objective_json,
                create_time: now_ms(),
            })
            .await?;
        let member = SweepMember {
            sweep_id,
            concurrency,
        };
        for (i, combo) in combos.iter().enumerate() {
            let mut cfg = base.clone();
            cfg.parameter = Some(with_values(cfg.parameter.take(), combo));
            cfg.train_url = cfg
                .train_url
                .take()
                .map(|u| format!("{}/{i}/", u.trim_end_matches('/')));
            let job = CreateJobRequest {
                job_name: Some(format!("{name}-{i}")),
                job_desc: req.job_desc.clone(),
                config: Some(cfg),
                workspace_id: None,
                notification: None,
            };
            let created = match self.create_job_in(project, who, job, Some(member)).await {
                Ok(created) => created,
                Err(e) => {
                    // The runs made so far stay the sweep's (stopped), to look at or delete.
                    tracing::warn!(sweep.id = sweep_id, error = %e, "a sweep's run could not be created; its other runs are stopped");
                    let _ = self.stop_sweep(project, sweep_id).await;
                    return Err(e);
                }
            };
            let row = SweepRunRow {
                index: i as i64,
                job_id: created.job_id,
                version_id: created.version_id.unwrap_or_default(),
                parameters: serde_json::to_string(combo).map_err(ApiError::internal)?,
            };
            self.store.add_sweep_run(sweep_id, &row).await?;
        }
        tracing::info!(
            sweep.id = sweep_id,
            runs = combos.len(),
            concurrency,
            "sweep created"
        );
        self.sweep_response(project, sweep_id).await
    }

    /// Sweep `sweep_id` with its runs.
    pub async fn get_sweep(&self, project: &str, sweep_id: i64) -> ApiResult<SweepResponse> {
        self.sweep_response(project, sweep_id).await
    }

    /// The project's sweeps, newest first, without their runs.
    pub async fn list_sweeps(&self, project: &str) -> ApiResult<SweepListResponse> {
        let mut sweeps = Vec::new();
        for s in self.store.list_sweeps(project).await? {
            let mut info = self.sweep_info(project, &s).await?;
            info.runs = None;
            sweeps.push(info);
        }
        Ok(SweepListResponse {
            is_success: true,
            sweep_count: sweeps.len() as i64,
            sweeps,
        })
    }

    /// Stops every run of the sweep that has not ended: the waiting ones first (so that no
    /// one starts in the place of a run stopped), then the running ones.
    pub async fn stop_sweep(&self, project: &str, sweep_id: i64) -> ApiResult<SweepResponse> {
        let sweep = self.sweep(project, sweep_id).await?;
        let mut running = Vec::new();
        for run in &sweep.runs {
            let Some(v) = self.store.version_by_id(run.version_id).await? else {
                continue;
            };
            if v.status.is_pending() {
                self.begin_stop(&v, self.grace, crate::service::events::StopBy::User)
                    .await?;
            } else if v.status.is_stoppable() {
                running.push(v);
            }
        }
        for v in running {
            self.begin_stop(&v, self.grace, crate::service::events::StopBy::User)
                .await?;
        }
        self.sweep_response(project, sweep_id).await
    }

    /// Deletes the sweep and its runs' jobs (runs not ended are stopped first, as a job's
    /// delete does).
    pub async fn delete_sweep(&self, project: &str, sweep_id: i64) -> ApiResult<()> {
        let sweep = self.sweep(project, sweep_id).await?;
        self.stop_sweep(project, sweep_id).await?;
        for run in &sweep.runs {
            let deleted =
                lifecycle::delete_any_job(&self.run_ctx, project, run.job_id, self.grace).await?;
            self.delete_versions(&deleted).await?;
        }
        self.store.purge_empty_jobs().await?;
        self.store.delete_sweep(project, sweep_id).await?;
        Ok(())
    }

    async fn sweep(&self, project: &str, sweep_id: i64) -> ApiResult<Sweep> {
        self.store
            .get_sweep(project, sweep_id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("sweep {sweep_id} does not exist")))
    }

    async fn sweep_response(&self, project: &str, sweep_id: i64) -> ApiResult<SweepResponse> {
        let sweep = self.sweep(project, sweep_id).await?;
        Ok(SweepResponse {
            is_success: true,
            sweep: self.sweep_info(project, &sweep).await?,
        })
    }

    /// The versions of the sweep's runs, as they all stood at one moment: one statement reads
    /// them all. Read one by one, an answer could show a run still running and, read later,
    /// the run that started in its place once it ended: more runs at once than the sweep's
    /// concurrency.
    async fn versions_at_one_moment(&self, sweep: &Sweep) -> ApiResult<Vec<Option<Version>>> {
        let mut read: HashMap<i64, Version> = self
            .store
            .sweep_versions(sweep.id)
            .await?
            .into_iter()
            .map(|v| (v.id, v))
            .collect();
        Ok(sweep
            .runs
            .iter()
            .map(|row| read.remove(&row.version_id))
            .collect())
    }

    /// A sweep's progress, best run and runs, from its versions' statuses and the metrics
    /// files of those that completed.
    async fn sweep_info(&self, project: &str, sweep: &Sweep) -> ApiResult<SweepInfo> {
        let objective: Option<Objective> = sweep
            .objective
            .as_deref()
            .and_then(|o| serde_json::from_str(o).ok());
        let goal = objective.as_ref().and_then(|o| self::objective(o).ok());
        let mut progress = SweepProgress::default();
        let mut runs = Vec::new();
        let mut to_read: Vec<(usize, PathBuf)> = Vec::new();
        let versions = self.versions_at_one_moment(sweep).await?;
        for (row, v) in sweep.runs.iter().zip(versions) {
            let status = v.as_ref().map_or(JobStatus::KILLED, |v| v.status);
            count(&mut progress, status);
            if let (Some(v), true) = (&v, status == JobStatus::COMPLETED && goal.is_some()) {
                let dir = v
                    .config
                    .train_url
                    .as_deref()
                    .and_then(|u| self.storage.resolve(project, u).ok());
                if let Some(dir) = dir {
                    to_read.push((runs.len(), dir));
                }
            }
            runs.push(SweepRun {
                index: row.index,
                job_id: row.job_id,
                job_name: format!("{}-{}", sweep.name, row.index),
                version_id: row.version_id,
                status: status.code(),
                parameters: serde_json::from_str::<BTreeMap<String, String>>(&row.parameters)
                    .unwrap_or_default(),
                metric: None,
            });
        }
        if let Some((metric, _)) = &goal {
            let root = self
                .storage
                .project_root(project)
                .map_err(ApiError::internal)?;
            let metric = metric.clone();
            let values = tokio::task::spawn_blocking(move || {
                to_read
                    .into_iter()
                    .map(|(i, dir)| (i, read_metric(&root, &dir, &metric)))
                    .collect::<Vec<_>>()
            })
            .await
            .map_err(ApiError::internal)?;
            for (i, value) in values {
                runs[i].metric = value;
            }
        }
        let best = goal.and_then(|(_, g)| {
            runs.iter()
                .filter(|r| r.metric.is_some())
                .min_by(|a, b| {
                    let (a, b) = (a.metric.unwrap_or(0.0), b.metric.unwrap_or(0.0));
                    match g {
                        Goal::Min => a.total_cmp(&b),
                        Goal::Max => b.total_cmp(&a),
                    }
                })
                .cloned()
        });
        Ok(SweepInfo {
            sweep_id: sweep.id,
            sweep_name: sweep.name.clone(),
            create_time: sweep.create_time,
            concurrency: sweep.concurrency,
            run_count: sweep.runs.len() as i64,
            progress,
            objective,
            best,
            runs: Some(runs),
        })
    }
}
