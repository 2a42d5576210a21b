//! The v2 job document answered by create, show and search, and the events of a job.

use super::catalog::flavor_entry;
use super::*;

/// A job's events as (time ms, level, source, message), oldest first: one per transition
/// its run recorded (created, started, ended), each task's start and end beside the job's.
pub fn job_events(j: &V2Job) -> Vec<(i64, &'static str, &'static str, String)> {
    let v = &j.version;
    let n = trainyard_sched::plan::worker_count(v.config.worker_server_num);
    let mut out = vec![(
        j.job.create_time,
        "Info",
        "Job",
        "Training job created.".to_owned(),
    )];
    if let Some(start) = v.start_time {
        out.push((start, "Info", "Job", "Training job is running.".to_owned()));
        for i in 0..n {
            out.push((
                start,
                "Info",
                "Task",
                format!("[worker-{i}] training started."),
            ));
        }
    }
    if v.status == JobStatus::KILLING {
        // No time is stored for the request: the event carries the latest known one.
        let t = v.start_time.unwrap_or(j.job.create_time);
        out.push((t, "Info", "Job", "Training job is terminating.".to_owned()));
    }
    if let Some(end) = v.end_time {
        let reason = v.failure_reason.clone().unwrap_or_default();
        let (level, message) = match phase(v.status).0 {
            "Completed" => ("Info", "Training job completed.".to_owned()),
            "Failed" => (
                "Error",
                format!("Training job failed. {reason}").trim().to_owned(),
            ),
            "Terminated" => ("Info", "Training job terminated.".to_owned()),
            _ => (
                "Error",
                format!("Training job is abnormal. {reason}")
                    .trim()
                    .to_owned(),
            ),
        };
        if v.start_time.is_some() {
            let code = if v.status == JobStatus::COMPLETED {
                "0"
            } else {
                "-1"
            };
            for i in 0..n {
                out.push((
                    end,
                    "Info",
                    "Task",
                    format!("[worker-{i}] Training finished. Exit code {code}."),
                ));
            }
        }
        out.push((end, level, "Job", message));
    }
    out
}

impl Service {
    /// The job documents of `jobs`, those waiting in this host's queue with why: their
    /// `status.secondary_phase` reads `Queuing: <reason>` (a trainyard extension of the
    /// phase's text) and `status.queue_position` / `status.queue_reason` say the same as
    /// the v1 extension fields.
    pub async fn v2_documents<'a>(&self, jobs: impl IntoIterator<Item = &'a V2Job>) -> Vec<Value> {
        let jobs: Vec<&V2Job> = jobs.into_iter().collect();
        let waiting: Vec<i64> = jobs
            .iter()
            .filter(|j| JobStatus::QUEUED.contains(&j.version.status))
            .map(|j| j.version.id)
            .collect();
        let waits = self.executor.waits(waiting).await;
        jobs.into_iter()
            .map(|j| {
                let mut doc = self.v2_document(j);
                if let Some(w) = waits.get(&j.version.id) {
                    let status = &mut doc["status"];
                    if j.version.status == JobStatus::WAITING {
                        status["secondary_phase"] = json!(format!("Queuing: {w}"));
                    }
                    status["queue_position"] = json!(w.ahead);
                    status["queue_reason"] = json!(w.to_string());
                }
                doc
            })
            .collect()
    }

    /// The job document of T2-01/02/03/07.
    pub fn v2_document(&self, j: &V2Job) -> Value {
        let mut doc: Value = serde_json::from_str(&j.doc).unwrap_or_else(|_| json!({}));
        let stored = doc.as_object_mut().map(std::mem::take).unwrap_or_default();
        let v = &j.version;
        let now = now_ms();
        let (phase, secondary) = phase(v.status);
        let nodes = trainyard_sched::plan::worker_count(v.config.worker_server_num);
        let tasks: Vec<String> = (0..nodes).map(|i| format!("worker-{i}")).collect();
        let mut status = json!({
            "phase": phase,
            "secondary_phase": secondary,
            "duration": trainyard_store::duration_ms(v.start_time, v.end_time, now),
            "start_time": v.start_time.unwrap_or(0),
            "node_count_metrics": Value::Null,
            "tasks": tasks,
        });
        if let Some(start) = v.start_time {
            let mut points = vec![json!([start, nodes])];
            if let Some(end) = v.end_time {
                points.push(json!([end, 0]));
            }
            status["node_count_metrics"] = Value::Array(points);
        }
        if v.status.is_terminal() && v.start_time.is_some() {
            let code = match v.status {
                JobStatus::COMPLETED => 0,
                _ => -1,
            };
            let message = v.failure_reason.clone().unwrap_or_default();
            status["task_statuses"] = Value::Array(
                tasks
                    .iter()
                    .map(|t| json!({"task": t, "exit_code": code, "message": message}))
                    .collect(),
            );
        }
        let mut metadata = stored.get("metadata").cloned().unwrap_or_else(|| json!({}));
        metadata["id"] = json!(j.uuid);
        metadata["name"] = json!(j.job.name);
        metadata["description"] = json!(j.job.description);
        metadata["workspace_id"] = json!(j.job.workspace_id);
        metadata["create_time"] = json!(j.job.create_time);
        metadata["user_name"] = json!("");
        if let Some(a) = metadata
            .get_mut("annotations")
            .and_then(Value::as_object_mut)
        {
            for value in a.values_mut() {
                if let Some(t) = text_of(value) {
                    *value = Value::String(t);
                }
            }
        }
        let mut algorithm = stored
            .get("algorithm")
            .cloned()
            .unwrap_or_else(|| json!({}));
        if algorithm.get("environments").is_none() {
            algorithm["environments"] = json!({});
        }
        let mut spec = stored.get("spec").cloned().unwrap_or_else(|| json!({}));
        let mut resource = spec.get("resource").cloned().unwrap_or_else(|| json!({}));
        resource["policy"] = json!("regular");
        resource["node_count"] = json!(nodes);
        let flavor = stored
            .get("flavor_code")
            .and_then(Value::as_str)
            .and_then(|c| self.catalog.spec_by_code(c));
        if let Some(f) = flavor {
            let entry = flavor_entry(f, false);
            resource["flavor_name"] = entry["flavor_name"].clone();
            let mut detail = flavor_entry(f, true);
            if let Some(info) = detail["flavor_info"].as_object_mut() {
                info.insert("disk".into(), json!({"size": "0", "unit": "GB"}));
            }
            resource["flavor_detail"] = detail;
        }
        if let Some(pool) = resource.get("pool_id").and_then(Value::as_str) {
            resource["pool_name"] = json!(pool);
        }
        spec["resource"] = resource;
        json!({
            "kind": "job",
            "metadata": metadata,
            "status": status,
            "algorithm": algorithm,
            "spec": spec,
        })
    }
}
