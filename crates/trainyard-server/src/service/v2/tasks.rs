//! A job's tasks, their logs (preview and signed URL), metrics and the job's events
//! (T2-08 to T2-12).

use super::document::job_events;
use super::*;

impl Service {
    /// The task index a `worker-N` names, else 2788.
    pub(super) fn v2_task(j: &V2Job, task: &str) -> V2Result<usize> {
        let n = trainyard_sched::plan::worker_count(j.version.config.worker_server_num);
        task.strip_prefix("worker-")
            .and_then(|i| i.parse::<usize>().ok())
            .filter(|i| *i < n && task == format!("worker-{i}"))
            .ok_or_else(|| {
                V2Error::param(
                    "task_id",
                    format!("{task}: this job has worker-0..worker-{}", n - 1),
                )
            })
    }

    /// The task instances of the job's run (T2-08): none before it started.
    pub async fn v2_tasks(&self, project: &str, id: &str) -> V2Result<Value> {
        let j = self.v2_job(project, id).await?;
        if j.version.start_time.is_none() {
            return Ok(json!([]));
        }
        let n = trainyard_sched::plan::worker_count(j.version.config.worker_server_num);
        Ok(Value::Array(
            (0..n)
                .map(|i| {
                    json!({"task": format!("worker-{i}"), "ip": "127.0.0.1", "host_ip": "127.0.0.1", "schedule_count": 1})
                })
                .collect(),
        ))
    }

    /// The log file of a task, checked to exist (2818 before it is written).
    pub async fn v2_log_path(
        &self,
        project: &str,
        id: &str,
        task: &str,
    ) -> V2Result<std::path::PathBuf> {
        let j = self.v2_job(project, id).await?;
        let i = Self::v2_task(&j, task)?;
        let path = trainyard_sched::plan::logs_dir(Path::new(&j.version.run_dir))
            .join(trainyard_sched::plan::log_name(&j.job.name, i));
        if !path.is_file() {
            return Err(ApiError::LogFileNotGenerated.into());
        }
        Ok(path)
    }

    /// The end of a task's log (T2-09).
    pub async fn v2_log_preview(&self, project: &str, id: &str, task: &str) -> V2Result<Value> {
        let path = self.v2_log_path(project, id, task).await?;
        let (content, full) =
            tokio::task::spawn_blocking(move || -> std::io::Result<(String, u64)> {
                use std::io::{Read, Seek, SeekFrom};
                let mut f = std::fs::File::open(&path)?;
                let full = f.metadata()?.len();
                let from = full.saturating_sub(PREVIEW_BYTES);
                f.seek(SeekFrom::Start(from))?;
                let mut bytes = Vec::new();
                f.take(PREVIEW_BYTES).read_to_end(&mut bytes)?;
                Ok((String::from_utf8_lossy(&bytes).into_owned(), full))
            })
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
        Ok(json!({"content": content, "current_size": content.len(), "full_size": full}))
    }

    /// The MAC of a log URL: over what it opens and until when.
    pub(super) fn v2_log_mac(
        &self,
        project: &str,
        id: &str,
        task: &str,
        expires: i64,
    ) -> hmac::Hmac<sha2::Sha256> {
        use hmac::Mac;
        let mut mac =
            hmac::Hmac::<sha2::Sha256>::new_from_slice(&self.url_key).expect("HMAC takes any key");
        mac.update(format!("{project}\n{id}\n{task}\n{expires}").as_bytes());
        mac
    }

    /// The query of a temporary log URL (T2-10): valid [`LOG_URL_SECONDS`], on this server.
    pub async fn v2_log_url_query(
        &self,
        project: &str,
        id: &str,
        task: &str,
        content_type: &str,
    ) -> V2Result<String> {
        self.v2_log_path(project, id, task).await?;
        let download = match content_type {
            "text/plain" => false,
            "application/octet-stream" => true,
            other => {
                return Err(V2Error::query(
                    "Content-Type",
                    format!("{other}: text/plain or application/octet-stream"),
                ))
            }
        };
        let expires = now_ms() / 1000 + LOG_URL_SECONDS;
        let sig = {
            use hmac::Mac;
            hex::encode(
                self.v2_log_mac(project, id, task, expires)
                    .finalize()
                    .into_bytes(),
            )
        };
        Ok(format!(
            "expires={expires}&download={download}&signature={sig}"
        ))
    }

    /// The log a temporary URL opens, when its signature holds and it has not expired.
    pub async fn v2_log_raw(
        &self,
        project: &str,
        id: &str,
        task: &str,
        expires: i64,
        signature: &str,
    ) -> V2Result<std::path::PathBuf> {
        use hmac::Mac;
        let fresh = now_ms() / 1000 <= expires;
        let signed = hex::decode(signature).is_ok_and(|sig| {
            self.v2_log_mac(project, id, task, expires)
                .verify_slice(&sig)
                .is_ok()
        });
        if !fresh || !signed {
            return Err(V2Error::new(
                403,
                "ModelArts.0208",
                "The log URL is invalid or has expired; ask for a new one.",
            ));
        }
        self.v2_log_path(project, id, task).await
    }

    /// The usage series of one task (T2-11): one point per sampling interval.
    pub async fn v2_metrics(&self, project: &str, id: &str, task: &str) -> V2Result<Value> {
        let j = self.v2_job(project, id).await?;
        let i = Self::v2_task(&j, task)?;
        let catalog = self.catalog.clone();
        let v = j.version.clone();
        let series = tokio::task::spawn_blocking(move || {
            crate::service::view::system_metrics(&catalog, &v, Some(i))
        })
        .await
        .map_err(ApiError::internal)?;
        let numbers = |name: &str| -> Vec<f64> {
            series[name]
                .as_array()
                .into_iter()
                .flatten()
                .map(|x| x.as_str().and_then(|s| s.parse().ok()).unwrap_or(-1.0))
                .collect()
        };
        let cpu = numbers("cpuUsage");
        let n = cpu.len();
        let or_none = |v: Vec<f64>| if v.len() == n { v } else { vec![-1.0; n] };
        Ok(json!({"metrics": [
            {"metric": "cpuUsage", "value": cpu},
            {"metric": "memUsage", "value": or_none(numbers("memUsage"))},
            {"metric": "gpuUtil", "value": or_none(numbers("gpuUtil"))},
            {"metric": "gpuMemUsage", "value": or_none(numbers("gpuMemUsage"))},
            {"metric": "npuUtil", "value": vec![-1.0; n]},
            {"metric": "npuMemUsage", "value": vec![-1.0; n]},
        ]}))
    }

    /// The job's events (T2-12): its run's event log; for a job older than the log, derived
    /// from the times its run recorded.
    pub async fn v2_events(&self, project: &str, id: &str, q: &Params) -> V2Result<Value> {
        let j = self.v2_job(project, id).await?;
        let logged = self.store.run_events(j.version.id).await?;
        let int = |name: &str, default: i64, min: i64, max: i64| -> V2Result<i64> {
            match q.get(name) {
                None => Ok(default),
                Some(t) => trainyard_api::lenient::parse_i64(t)
                    .filter(|n| (min..=max).contains(n))
                    .ok_or_else(|| V2Error::query(name, format!("an integer in [{min},{max}]"))),
            }
        };
        let offset = int("offset", 0, 0, i64::MAX)?;
        let limit = int("limit", 50, 1, 100)?;
        let order = q.get("order").unwrap_or("desc");
        if order != "asc" && order != "desc" {
            return Err(V2Error::query("order", "asc or desc"));
        }
        let window = match (q.get("start_time"), q.get("end_time")) {
            (None, None) => None,
            (Some(s), Some(e)) => {
                let s = trainyard_api::lenient::parse_i64(s)
                    .ok_or_else(|| V2Error::query("start_time", "ms timestamp"))?;
                let e = trainyard_api::lenient::parse_i64(e)
                    .ok_or_else(|| V2Error::query("end_time", "ms timestamp"))?;
                Some((s, e))
            }
            _ => {
                return Err(V2Error::query(
                    "start_time",
                    "start_time and end_time go together",
                ))
            }
        };
        let level = q.get("level").filter(|l| !l.is_empty());
        if let Some(l) = level {
            if !["Info", "Warning", "Error", "Fatal"].contains(&l) {
                return Err(V2Error::query("level", "Info, Warning or Error"));
            }
        }
        let pattern = q.get("pattern").filter(|p| !p.is_empty());
        let source = q.get("source").filter(|p| !p.is_empty());
        let mut events = if logged.is_empty() {
            job_events(&j)
        } else {
            let n = trainyard_sched::plan::worker_count(j.version.config.worker_server_num);
            logged
                .iter()
                .map(crate::service::events::info)
                .flat_map(|e| {
                    if e.kind != "started" {
                        let (level, source) = (level_of(&e.level), source_of(&e.source));
                        return vec![(e.time, level, source, e.message)];
                    }
                    // As ModelArts says it: the job runs, then each task started.
                    let running = (e.time, "Info", "Job", "Training job is running.".to_owned());
                    let tasks = (0..n).map(|i| {
                        let message = format!("[worker-{i}] training started.");
                        (e.time, "Info", "Task", message)
                    });
                    std::iter::once(running).chain(tasks).collect()
                })
                .collect()
        };
        events.retain(|(t, lvl, src, msg)| {
            window.is_none_or(|(s, e)| (s..=e).contains(t))
                && level.is_none_or(|l| l == *lvl)
                && pattern.is_none_or(|p| msg.contains(p))
                && source.is_none_or(|s| s.eq_ignore_ascii_case(src))
        });
        if order == "desc" {
            events.reverse();
        }
        let total = events.len();
        let page: Vec<Value> = events
            .into_iter()
            .skip(offset as usize)
            .take(limit as usize)
            .map(|(t, lvl, src, msg)| json!({"time": rfc3339(t), "level": lvl, "source": src, "message": msg}))
            .collect();
        let (start, end) = window.unwrap_or((j.job.create_time, now_ms()));
        Ok(json!({
            "total": total,
            "limit": limit,
            "offset": offset,
            "order": order,
            "start_time": rfc3339(start),
            "end_time": rfc3339(end),
            "events": page,
        }))
    }
}

/// A served level as the static string the derived events use.
fn level_of(level: &str) -> &'static str {
    match level {
        "Error" => "Error",
        "Warning" => "Warning",
        _ => "Info",
    }
}

/// A served source as the static string the derived events use.
fn source_of(source: &str) -> &'static str {
    match source {
        "Task" => "Task",
        _ => "Job",
    }
}
