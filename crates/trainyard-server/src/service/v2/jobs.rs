//! Create, show, update, delete, batch delete and terminate (T2-01, T2-02, T2-04 to T2-07).

use super::*;

impl Service {
    /// Creates a v2 job and queues its run (T2-01).
    pub async fn v2_create(&self, project: &str, who: &str, body: &[u8]) -> V2Result<Value> {
        let mut job: JobV2 = parse_body(body)?;
        let meta = job.metadata.clone().unwrap_or_default();
        let name = meta
            .name
            .clone()
            .ok_or_else(|| V2Error::param("metadata.name", "required"))?;
        if !valid_name(&name, 64) || name.contains('.') {
            return Err(V2Error::param(
                "metadata.name",
                "1-64 letters, digits, '_' or '-'",
            ));
        }
        let desc = meta.description.clone().unwrap_or_default();
        if desc.chars().count() > 256 {
            return Err(V2Error::param(
                "metadata.description",
                "at most 256 characters",
            ));
        }
        let workspace = meta
            .workspace_id
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "0".to_owned());
        job.algorithm = self.with_algorithm(project, job.algorithm.take()).await?;
        let resolved = self.resolve_v2(&job)?;
        let notification = self.v2_notification(project, &job)?;
        check_request_fields(&resolved.config, Request::V2Job).map_err(renamed)?;
        let cfg = self
            .checker(project)
            .check(resolved.config, Purpose::Run)
            .map_err(renamed)?;
        let (_, limit) = self.quotas(project);
        // Counted again in the create's transaction (`NewJob::quota`), which holds it.
        if self.count_v2(project).await? >= limit {
            return Err(job_num_quota());
        }
        self.check_quota(project, false, Some(&cfg))
            .await
            .map_err(V2Error::from)?;
        // What is echoed: the request as parsed (unknown and response-only fields dropped),
        // with the engine and flavor resolved.
        let mut doc = serde_json::to_value(&job).map_err(ApiError::internal)?;
        strip_nulls(&mut doc);
        doc["kind"] = json!("job");
        if let Some(alg) = doc.get_mut("algorithm").and_then(Value::as_object_mut) {
            alg.insert("engine".into(), resolved.engine.clone());
            alg.insert(
                "environments".into(),
                json!(cfg.environments.clone().unwrap_or_default()),
            );
        } else {
            doc["algorithm"] = json!({"engine": resolved.engine});
        }
        if let Some(f) = &resolved.flavor {
            doc["flavor_code"] = json!(f.spec_code);
        }
        let now = now_ms();
        let staging = self.snapshot(project, &cfg).await.map_err(V2Error::from)?;
        let new_job = NewJob {
            project_id: project.to_owned(),
            name: name.clone(),
            description: desc.clone(),
            workspace_id: workspace,
            create_time: now,
            quota: Some(limit),
        };
        let v2 = NewV2 {
            uuid: new_uuid(),
            doc: doc.to_string(),
        };
        let first = NewVersion {
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
        let created = match self.store.create_v2_job(&new_job, &v2, &first).await {
            Ok(j) => j,
            Err(e) => {
                let _ = std::fs::remove_dir_all(&staging);
                return Err(match e {
                    trainyard_store::Error::Conflict => V2Error::new(
                        400,
                        "ModelArts.2751",
                        format!("Duplicate training job (name {name})."),
                    ),
                    trainyard_store::Error::Quota(trainyard_store::QuotaLimit::Jobs) => {
                        job_num_quota()
                    }
                    other => crate::service::jobs::quota_refused(other).into(),
                });
            }
        };
        self.keep_notification(&created.version, &staging, notification.as_ref())
            .await
            .map_err(V2Error::from)?;
        self.start_version(&staging, &created.version)
            .await
            .map_err(V2Error::from)?;
        Ok(self.v2_documents([&created]).await.remove(0))
    }

    /// `spec.notification` checked against the project's topics, as kept (none when it asks
    /// for nothing).
    fn v2_notification(
        &self,
        project: &str,
        job: &JobV2,
    ) -> V2Result<Option<trainyard_store::JobNotification>> {
        const FIELD: &str = "spec.notification";
        let Some(raw) = job.spec.as_ref().and_then(|s| s.notification.clone()) else {
            return Ok(None);
        };
        let n: trainyard_api::training::Notification =
            serde_json::from_value(raw).map_err(|e| V2Error::param(FIELD, e))?;
        self.run_ctx
            .hooks
            .check(project, Some(&n))
            .map_err(|e| V2Error::param(FIELD, e))
    }

    /// Shows a job (T2-02).
    pub async fn v2_show(&self, project: &str, id: &str) -> V2Result<Value> {
        let job = self.v2_job(project, id).await?;
        Ok(self.v2_documents([&job]).await.remove(0))
    }

    /// Changes a job's description, and the priority of a job that waits to start (T2-04).
    /// The priority goes the way of v1's `PUT .../priority` ([`Service::reprioritize`]):
    /// stored with the version, then its place in the queue; a job not waiting is refused
    /// with `ModelArts.2858`. Nothing changes when any part is refused.
    pub async fn v2_update(&self, project: &str, id: &str, body: &[u8]) -> V2Result<()> {
        let u: JobUpdateV2 = parse_body(body)?;
        let j = self.v2_job(project, id).await?;
        let priority = priority_change(u.spec.as_ref())?;
        for (field, v) in [("endpoints", &u.endpoints), ("metadata", &u.metadata)] {
            if v.as_ref().is_some_and(|v| !is_empty(v)) {
                return Err(V2Error::param(
                    field,
                    "only the description and spec.schedule_policy.priority can be changed here (notifications, SSH keys and annotations are not served)",
                ));
            }
        }
        if u.description
            .as_ref()
            .is_some_and(|d| d.chars().count() > 256)
        {
            return Err(V2Error::param("description", "at most 256 characters"));
        }
        if u.description.is_none() && priority.is_none() {
            return Ok(());
        }
        if let Some(p) = priority {
            match self.reprioritize(&j.version, p).await {
                Ok(()) => {}
                Err(ApiError::WrongStatus { .. }) => {
                    return Err(V2Error::new(
                        400,
                        "ModelArts.2858",
                        "Current operation not supported, (priority change outside Pending).",
                    ))
                }
                Err(e) => return Err(e.into()),
            }
        }
        let mut doc: Value = serde_json::from_str(&j.doc).unwrap_or_else(|_| json!({}));
        if let Some(p) = priority {
            // The document echoes the priority the job runs at now.
            if !doc["spec"].is_object() {
                doc["spec"] = json!({});
            }
            if !doc["spec"]["schedule_policy"].is_object() {
                doc["spec"]["schedule_policy"] = json!({});
            }
            doc["spec"]["schedule_policy"]["priority"] = json!(p);
        }
        if !doc["metadata"].is_object() {
            doc["metadata"] = json!({});
        }
        let desc = match u.description {
            Some(desc) => {
                doc["metadata"]["description"] = json!(desc);
                desc
            }
            None => j.job.description.clone(),
        };
        if !self
            .store
            .update_v2_job(project, id, &desc, &doc.to_string())
            .await?
        {
            return Err(V2Error::not_found(id));
        }
        Ok(())
    }

    /// Deletes a job in any phase, stopping it first (T2-05).
    pub async fn v2_delete(&self, project: &str, id: &str) -> V2Result<()> {
        let j = self.v2_job(project, id).await?;
        self.v2_remove(project, &j).await
    }

    pub(super) async fn v2_remove(&self, project: &str, j: &V2Job) -> V2Result<()> {
        let ids = lifecycle::delete_any_job(&self.run_ctx, project, j.job.id, self.grace).await?;
        self.delete_versions(&ids).await.map_err(V2Error::from)?;
        self.store.purge_empty_jobs().await?;
        Ok(())
    }

    /// Deletes several jobs, all or none (T2-06).
    pub async fn v2_batch_delete(&self, project: &str, body: &[u8]) -> V2Result<()> {
        let b: BatchDeleteV2 = parse_body(body)?;
        let items = b.jobs.unwrap_or_default();
        if items.is_empty() {
            return Err(V2Error::param("jobs", "1-100 jobs"));
        }
        if items.len() > 100 {
            return Err(V2Error::new(
                400,
                "ModelArts.2816",
                "The parameter(jobs) exceeds the upper limit 100.",
            ));
        }
        let mut jobs = Vec::new();
        for (i, item) in items.iter().enumerate() {
            if item.kind.as_deref().is_some_and(|k| k != "job") {
                return Err(V2Error::param(&format!("jobs[{i}].kind"), "only job"));
            }
            let id = item
                .metadata
                .as_ref()
                .and_then(|m| m.id.clone())
                .filter(|id| !id.is_empty())
                .ok_or_else(|| V2Error::param(&format!("jobs[{i}].metadata.id"), "required"))?;
            jobs.push(self.v2_job(project, &id).await?);
        }
        for j in &jobs {
            self.v2_remove(project, j).await?;
        }
        Ok(())
    }

    /// Terminates a job that is creating, pending or running (T2-07).
    pub async fn v2_action(&self, project: &str, id: &str, body: &[u8]) -> V2Result<Value> {
        let a: JobActionV2 = parse_body(body)?;
        let action = a
            .action_type
            .ok_or_else(|| V2Error::param("action_type", "required"))?;
        if action != "terminate" {
            return Err(V2Error::new(
                400,
                "ModelArts.2812",
                format!("Unsupported action type:{action}"),
            ));
        }
        let j = self.v2_job(project, id).await?;
        let stopped = j.version.status.is_stoppable()
            && self
                .begin_stop(&j.version, self.grace, crate::service::events::StopBy::User)
                .await
                .map_err(V2Error::from)?;
        if !stopped {
            return Err(V2Error::new(
                409,
                "ModelArts.2796",
                "The job cannot be terminated.",
            ));
        }
        self.v2_show(project, id).await
    }
}

/// The priority a T2-04 body's `spec` asks for: `spec.schedule_policy.priority`, 1-3 (else
/// `ModelArts.2816`); any other change under `spec` is refused, naming it.
fn priority_change(spec: Option<&Value>) -> V2Result<Option<i64>> {
    const FIELD: &str = "spec.schedule_policy.priority";
    let Some(spec) = spec.filter(|s| !is_empty(s)) else {
        return Ok(None);
    };
    let mut rest = spec.clone();
    let priority = rest
        .pointer_mut("/schedule_policy")
        .and_then(Value::as_object_mut)
        .and_then(|p| p.remove("priority"))
        .filter(|p| !p.is_null());
    if !is_empty(&rest) {
        return Err(V2Error::param(
            "spec",
            "only spec.schedule_policy.priority and the description can be changed here (notifications, preemption, SSH keys and annotations are not served)",
        ));
    }
    let Some(raw) = priority else {
        return Ok(None);
    };
    let p = raw
        .as_i64()
        .or_else(|| raw.as_str().and_then(|t| t.trim().parse().ok()))
        .ok_or_else(|| V2Error::param(FIELD, "an integer, 1 (low) to 3 (high)"))?;
    if !trainyard_sched::fair::valid_priority(p) {
        return Err(V2Error::new(
            400,
            "ModelArts.2816",
            format!("The parameter({FIELD}) exceeds the upper limit 3 ({p})."),
        ));
    }
    Ok(Some(p))
}

/// A v2 create refused at the project's job count.
fn job_num_quota() -> V2Error {
    V2Error::new(
        400,
        "ModelArts.2815",
        "Exceed quota limit of resource(job-num).",
    )
}
