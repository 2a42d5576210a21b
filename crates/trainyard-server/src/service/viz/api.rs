//! The visualization job API (VJ-01..VJ-07): validation, quotas and the store; the
//! supervising tasks do the rest.

use super::start::upstream;
use super::supervise::purge;
use crate::error::{ApiError, ApiResult};
use crate::service::lifecycle::viz as lifecycle;
use crate::service::query::Params;
use crate::service::Service;
use crate::storage::PathError;
use crate::util::{now_ms, resource_id, valid_name};
use std::path::Path;
use trainyard_api::training::Flavor;
use trainyard_api::visualization::{
    CreateVisualizationRequest, CreateVisualizationResponse, ScheduleInput, ScheduleOutput,
    VisualizationDetails, VisualizationJob, VisualizationListResponse,
};
use trainyard_api::JobStatus;
use trainyard_store::{
    duration_ms, NewVizJob, VizDeletion, VizFilter, VizJob, VizRestart, VizSort,
};
use trainyard_viz::server::Launcher;

fn not_found(id: i64) -> ApiError {
    ApiError::NotFound(format!("Job id:{id} is not existed"))
}

fn path_error(e: PathError) -> ApiError {
    ApiError::InvalidArgument(format!("train_url: {e}"))
}

/// Validated `schedule`: (unit, amount) or none. One item (the auto-stop) is all a job
/// has; more are refused rather than some of them dropped.
fn check_schedule(items: &[ScheduleInput]) -> ApiResult<Option<(String, i64)>> {
    if items.len() > 1 {
        return Err(ApiError::param(format!(
            "schedule: {} items given; a visualization job has one (type stop)",
            items.len()
        )));
    }
    let Some(s) = items.first() else {
        return Ok(None);
    };
    match s.kind.as_deref() {
        Some(k) if k.eq_ignore_ascii_case("stop") => {}
        Some(k) => return Err(ApiError::param(format!("schedule.type:{k} must be stop"))),
        None => return Err(ApiError::required("schedule.type")),
    }
    let unit = match s
        .time_unit
        .as_deref()
        .map(str::to_ascii_uppercase)
        .as_deref()
    {
        Some("HOURS") => "HOURS",
        Some("MINUTES") => "MINUTES",
        Some(other) => {
            return Err(ApiError::param(format!(
                "schedule.time_unit:{other} must be HOURS or MINUTES"
            )))
        }
        None => return Err(ApiError::required("schedule.time_unit")),
    };
    let amount = s
        .duration
        .ok_or_else(|| ApiError::required("schedule.duration"))?;
    if !(0..=24).contains(&amount) {
        return Err(ApiError::param(format!(
            "schedule.duration:{amount} must be in [0,24]"
        )));
    }
    Ok(Some((unit.to_owned(), amount)))
}

impl Service {
    fn viz_view(&self, job: &VizJob, now: i64) -> VisualizationJob {
        let ctx = self.viz.ctx();
        let schedule = match (&job.schedule_unit, job.schedule_duration) {
            (Some(unit), Some(n)) => vec![ScheduleOutput {
                kind: "stop".into(),
                time_unit: unit.clone(),
                duration: n,
            }],
            _ => Vec::new(),
        };
        VisualizationJob {
            job_id: job.id,
            job_name: job.name.clone(),
            status: job.status.code(),
            create_time: job.create_time,
            duration: duration_ms(job.start_time, job.end_time, now),
            job_desc: job.description.clone(),
            service_url: ctx.service_url(job),
            train_url: job.train_url.clone(),
            resource_id: job.resource_id.clone(),
            job_type: job.job_type.clone(),
            flavor: Flavor {
                code: job.flavor_code.clone(),
            },
            schedule,
            remaining_duration: match job.deadline {
                Some(d) if job.status.is_running() => Some((d - now).max(0)),
                _ => None,
            },
        }
    }

    async fn check_viz_quota(&self, project: &str, creating: bool) -> ApiResult<()> {
        let ctx = self.viz.ctx();
        let (all, active) = self.store.count_viz(project).await?;
        if creating && all >= ctx.job_count_limit {
            return Err(ApiError::Quota("number of visualization jobs"));
        }
        if active >= ctx.quotas {
            return Err(ApiError::Quota("number of running visualization jobs"));
        }
        Ok(())
    }

    fn check_launcher(&self, job_type: &str) -> ApiResult<()> {
        let ctx = self.viz.ctx();
        let env = crate::service::launch::base_environment();
        let path = env
            .iter()
            .find(|(k, _)| k == "PATH")
            .map(|(_, v)| v.clone())
            .unwrap_or_default();
        match ctx.launcher(job_type) {
            None => Err(ApiError::VizUnavailable(
                "MindInsight is not configured on this server: set [viz] mindinsight to its command line".into(),
            )),
            Some(l @ Launcher::TensorBoard(bin)) => l.available(&path).map_err(|_| {
                let venv = bin.parent().and_then(Path::parent).map(|p| p.display().to_string()).unwrap_or_default();
                ApiError::VizUnavailable(format!(
                    "TensorBoard is not installed: {} is missing. Run scripts/install-tensorboard.sh {venv} or set [viz] tensorboard to a tensorboard executable",
                    bin.display()
                ))
            }),
            Some(l) => l
                .available(&path)
                .map_err(|e| ApiError::VizUnavailable(format!("MindInsight cannot be started: {e}; check [viz] mindinsight"))),
        }
    }

    /// Creates a visualization job (VJ-01).
    pub async fn create_viz(
        &self,
        project: &str,
        req: CreateVisualizationRequest,
    ) -> ApiResult<CreateVisualizationResponse> {
        let name = req.job_name.ok_or_else(|| ApiError::required("job_name"))?;
        if !valid_name(&name, 20) {
            return Err(ApiError::ParameterError(format!("Illegal name: {name}")));
        }
        let desc = req.job_desc.unwrap_or_default();
        if desc.chars().count() > 256 {
            return Err(ApiError::param("job_desc must be at most 256 characters"));
        }
        let train_url = req
            .train_url
            .ok_or_else(|| ApiError::required("train_url"))?;
        self.storage
            .locate(project, &train_url)
            .map_err(path_error)?;
        let job_type = req
            .job_type
            .unwrap_or_else(|| "tensorboard".into())
            .to_ascii_lowercase();
        if job_type != "tensorboard" && job_type != "mindinsight" {
            return Err(ApiError::param(format!(
                "job_type:{job_type} must be tensorboard or mindinsight"
            )));
        }
        let flavor_code = req.flavor.and_then(|f| f.code);
        if let Some(code) = &flavor_code {
            if self.catalog.spec_by_code(code).is_none() {
                return Err(ApiError::param(format!(
                    "flavor.code:{code} is not existed"
                )));
            }
        }
        // None given: the job reports the default flavor it gets (the spec types `flavor.code`
        // as a string, never null).
        let flavor_code = flavor_code.or_else(|| {
            self.catalog
                .default_viz_flavor()
                .map(|s| s.spec_code.clone())
        });
        let schedule = check_schedule(&req.schedule)?;
        self.check_launcher(&job_type)?;
        self.check_viz_quota(project, true).await?;
        let new = NewVizJob {
            project_id: project.to_owned(),
            name: name.clone(),
            description: desc,
            train_url,
            job_type,
            flavor_code,
            resource_id: resource_id(),
            secret: trainyard_viz::access::new_secret(),
            create_time: now_ms(),
            schedule_unit: schedule.as_ref().map(|s| s.0.clone()),
            schedule_duration: schedule.map(|s| s.1),
            run_dir_template: self.runs_dir.join("viz-{id}").display().to_string(),
        };
        let job = self.store.create_viz(&new).await.map_err(|e| match e {
            trainyard_store::Error::Conflict => {
                ApiError::NameExists(format!("Job name:{name} is existed"))
            }
            other => other.into(),
        })?;
        self.cluster.viz_start(job.id).await;
        Ok(CreateVisualizationResponse {
            is_success: true,
            job_id: job.id,
            job_name: job.name.clone(),
            status: job.status.code(),
            create_time: job.create_time,
            service_url: self.viz.ctx().service_url(&job),
        })
    }

    /// Lists visualization jobs (VJ-02).
    pub async fn list_viz(
        &self,
        project: &str,
        q: &Params,
    ) -> ApiResult<VisualizationListResponse> {
        let per_page = q.int("per_page", 10, 1, 1000)?;
        let page = q.int("page", 1, 1, 65535)?;
        let sort = match q.sort_by().as_deref() {
            None | Some("job_id") => VizSort::Id,
            Some("job_name") => VizSort::Name,
            Some("job_desc") => VizSort::Desc,
            Some("create_time") => VizSort::CreateTime,
            Some("status") => VizSort::Status,
            Some("duration") => VizSort::Duration,
            Some("log_dir") | Some("train_url") => VizSort::TrainUrl,
            Some(other) => return Err(ApiError::param(format!("sortBy:{other} is not supported"))),
        };
        let now = now_ms();
        let filter = VizFilter {
            statuses: q.statuses()?,
            search: q.search()?,
            sort,
            descending: q.descending(false)?,
            offset: (page - 1) * per_page,
            limit: per_page,
            now,
        };
        let page = self.store.list_viz(project, &filter).await?;
        let ctx = self.viz.ctx();
        Ok(VisualizationListResponse {
            is_success: true,
            job_total_count: page.total,
            job_count_limit: (ctx.job_count_limit - page.live).max(0),
            jobs: page.rows.iter().map(|j| self.viz_view(j, now)).collect(),
            quotas: ctx.quotas,
        })
    }

    /// Shows one visualization job (VJ-03).
    pub async fn get_viz(&self, project: &str, id: i64) -> ApiResult<VisualizationDetails> {
        let job = self
            .store
            .get_viz(project, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        Ok(VisualizationDetails {
            is_success: true,
            job: self.viz_view(&job, now_ms()),
        })
    }

    /// Replaces a visualization job's description (VJ-04).
    pub async fn update_viz_description(
        &self,
        project: &str,
        id: i64,
        desc: Option<String>,
    ) -> ApiResult<()> {
        let desc = desc.ok_or_else(|| ApiError::required("job_desc"))?;
        if desc.chars().count() > 256 {
            return Err(ApiError::param("job_desc must be at most 256 characters"));
        }
        if !self
            .store
            .update_viz_description(project, id, &desc)
            .await?
        {
            return Err(not_found(id));
        }
        Ok(())
    }

    /// Stops a visualization job (VJ-06): a stoppable job (1/2/4/7/8) -> 9, then 12 once the
    /// server is gone.
    pub async fn stop_viz(&self, project: &str, id: i64) -> ApiResult<()> {
        let job = self
            .store
            .get_viz(project, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if !lifecycle::begin_stop(self.store.as_ref(), id).await? {
            let status = self
                .store
                .viz_by_id(id)
                .await?
                .map(|j| j.status)
                .unwrap_or(job.status);
            return Err(ApiError::WrongStatus {
                action: "stop",
                status,
            });
        }
        self.cluster.viz_stop(id).await;
        Ok(())
    }

    /// Restarts a visualization job (VJ-07): from a terminal status back to 1 with a fresh server
    /// and deadline.
    pub async fn restart_viz(&self, project: &str, id: i64) -> ApiResult<()> {
        let job = self
            .store
            .get_viz(project, id)
            .await?
            .ok_or_else(|| not_found(id))?;
        if !job.status.is_terminal() {
            return Err(ApiError::WrongStatus {
                action: "resubmit",
                status: job.status,
            });
        }
        self.check_launcher(&job.job_type)?;
        self.check_viz_quota(project, false).await?;
        match lifecycle::restart(self.store.as_ref(), project, id).await? {
            VizRestart::Unknown => return Err(not_found(id)),
            VizRestart::Refused(status) => {
                return Err(ApiError::WrongStatus {
                    action: "resubmit",
                    status,
                })
            }
            VizRestart::Restarted => {}
        }
        self.cluster.viz_start(id).await;
        Ok(())
    }

    /// Deletes a visualization job (VJ-05): refused while stopping (9); an active job is stopped,
    /// then removed.
    pub async fn delete_viz(&self, project: &str, id: i64) -> ApiResult<()> {
        let status = match self
            .store
            .mark_viz_deleted(project, id, &[JobStatus::KILLING])
            .await?
        {
            VizDeletion::Unknown => return Err(not_found(id)),
            VizDeletion::Refused(status) => {
                return Err(ApiError::WrongStatus {
                    action: "delete",
                    status,
                })
            }
            VizDeletion::Hidden { was } => was,
        };
        if status.is_terminal() {
            if let Some(job) = self.store.viz_by_id(id).await? {
                purge(self.viz.ctx(), &job).await;
            }
            return Ok(());
        }
        if lifecycle::begin_stop(self.store.as_ref(), id).await? {
            self.cluster.viz_stop(id).await;
        } else if let Some(job) = self.store.viz_by_id(id).await? {
            if job.status.is_terminal() {
                purge(self.viz.ctx(), &job).await;
            }
        }
        Ok(())
    }

    /// For the console's "open": the live job `id` of `project`, whatever its type.
    pub async fn viz_of_project(&self, project: &str, id: i64) -> ApiResult<Option<VizJob>> {
        Ok(self.store.get_viz(project, id).await?)
    }

    /// For the proxy: where `job`'s server listens on `port` (see [`upstream`]).
    pub fn viz_upstream(&self, job: &VizJob, port: u16) -> Option<trainyard_viz::Upstream> {
        upstream(&self.storage, job, port)
    }

    /// For the proxy: the live job `id` of `project` whose public path uses `job_type`.
    pub async fn viz_for_proxy(
        &self,
        project: &str,
        job_type: &str,
        id: i64,
    ) -> ApiResult<Option<VizJob>> {
        Ok(self
            .store
            .get_viz(project, id)
            .await?
            .filter(|j| j.job_type == job_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn item(kind: &str, unit: &str, n: i64) -> ScheduleInput {
        ScheduleInput {
            kind: Some(kind.into()),
            time_unit: Some(unit.into()),
            duration: Some(n),
        }
    }

    #[test]
    fn schedules() {
        assert_eq!(check_schedule(&[]).unwrap(), None);
        assert_eq!(
            check_schedule(&[item("STOP", "hours", 2)]).unwrap(),
            Some(("HOURS".into(), 2))
        );
        assert_eq!(
            check_schedule(&[item("stop", "Minutes", 1)]).unwrap(),
            Some(("MINUTES".into(), 1))
        );
        assert!(check_schedule(&[item("start", "HOURS", 1)]).is_err());
        assert!(check_schedule(&[item("stop", "DAYS", 1)]).is_err());
        assert!(check_schedule(&[item("stop", "HOURS", 25)]).is_err());
        assert!(check_schedule(&[item("stop", "HOURS", -1)]).is_err());
    }
}
