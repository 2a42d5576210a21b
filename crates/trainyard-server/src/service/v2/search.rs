//! The job search (T2-03): filters, sorting and paging over a project's v2 jobs.

use super::*;

impl Service {
    /// Lists jobs with filters, sorting and paging (T2-03).
    pub async fn v2_list(&self, project: &str, body: &[u8], q: &Params) -> V2Result<Value> {
        let s: JobSearchV2 = parse_body(body)?;
        let query_int = |name: &str| -> V2Result<Option<i64>> {
            q.get(name)
                .map(|t| {
                    trainyard_api::lenient::parse_i64(t)
                        .ok_or_else(|| V2Error::query(name, "an integer"))
                })
                .transpose()
        };
        let limit = match s.limit {
            Some(l) => l,
            None => query_int("limit")?.unwrap_or(10),
        };
        let offset = match s.offset {
            Some(o) => o,
            None => query_int("offset")?.unwrap_or(0),
        };
        if !(1..=50).contains(&limit) {
            return Err(V2Error::new(
                400,
                "ModelArts.2764",
                format!("Invalid query parameter (limit {limit}: 1-50)."),
            ));
        }
        if offset < 0 {
            return Err(V2Error::param("offset", "at least 0"));
        }
        let sort_by = s.sort_by.clone().unwrap_or_else(|| "create_time".into());
        if !["create_time", "name", "duration", "phase"].contains(&sort_by.as_str()) {
            return Err(V2Error::new(
                400,
                "ModelArts.2790",
                format!("Unsupported sorting item. ({sort_by})"),
            ));
        }
        let order = s.order.clone().unwrap_or_else(|| "desc".into());
        if order != "desc" && order != "asc" {
            return Err(V2Error::param("order", "desc or asc"));
        }
        if s.tags.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(V2Error::param("tags", "tag filters are not served"));
        }
        if s.host_ips.as_ref().is_some_and(|t| !t.is_empty()) {
            return Err(V2Error::param("host_ips", "host filters are not served"));
        }
        let workspace = s
            .workspace_id
            .clone()
            .filter(|w| !w.is_empty())
            .unwrap_or_else(|| "0".into());
        let train_type = s.train_type.clone().unwrap_or_else(|| "job".into());
        let now = now_ms();
        let mut conditions = Vec::new();
        for (i, f) in s.filters.iter().flatten().enumerate() {
            let key = f.key.clone().unwrap_or_default();
            let op = f.operator.clone().unwrap_or_default();
            let values: Vec<String> = f
                .value
                .iter()
                .flatten()
                .filter(|v| !v.is_empty())
                .cloned()
                .collect();
            if ![
                "id",
                "name",
                "create_time",
                "phase",
                "algorithm_name",
                "kind",
                "user_id",
                "runtime_type",
            ]
            .contains(&key.as_str())
            {
                return Err(V2Error::new(
                    400,
                    "ModelArts.2807",
                    format!("Unsupported condition key ({key})"),
                ));
            }
            if !["between", "like", "in", "not"].contains(&op.as_str()) {
                return Err(V2Error::new(
                    400,
                    "ModelArts.2808",
                    format!("Unsupported condition operator ({op})"),
                ));
            }
            let raw: Vec<String> = f.value.clone().unwrap_or_default();
            if key == "runtime_type" || values.is_empty() {
                continue;
            }
            if key == "phase" {
                for v in &values {
                    if phase_named(v).is_none() {
                        return Err(V2Error::new(
                            400,
                            "ModelArts.2809",
                            format!("Unsupported condition value ({v})"),
                        ));
                    }
                }
            }
            if key == "create_time" {
                if op != "between" || raw.len() != 2 {
                    return Err(V2Error::new(
                        400,
                        "ModelArts.2809",
                        format!("Unsupported condition value (filters[{i}]: create_time takes between with two values)"),
                    ));
                }
                for v in values.iter() {
                    if trainyard_api::lenient::parse_i64(v).is_none() {
                        return Err(V2Error::new(
                            400,
                            "ModelArts.2809",
                            format!("Unsupported condition value ({v})"),
                        ));
                    }
                }
            }
            conditions.push((key, op, raw, values));
        }
        // In SQL unless a condition or the sort needs the stored document or the phase
        // names (algorithm_name, sort_by phase), or nothing can match (ftjob).
        let in_sql = train_type != "ftjob"
            && sort_by != "phase"
            && conditions.iter().all(|(key, ..)| key != "algorithm_name");
        if in_sql {
            let search = trainyard_store::V2Search {
                workspace_id: workspace.clone(),
                conditions: conditions
                    .iter()
                    .filter_map(|(key, op, raw, values)| sql_condition(key, op, raw, values))
                    .collect(),
                sort: match sort_by.as_str() {
                    "name" => trainyard_store::V2Sort::Name,
                    "duration" => trainyard_store::V2Sort::Duration,
                    _ => trainyard_store::V2Sort::CreateTime,
                },
                descending: order == "desc",
                now,
                offset,
                limit,
            };
            let found = self.store.search_v2_jobs(project, &search).await?;
            let total = if conditions.is_empty() {
                found.total
            } else {
                found.live
            };
            let page: Vec<Value> = self.v2_documents(&found.rows).await;
            return Ok(json!({
                "total": total,
                "count": found.total,
                "limit": limit,
                "offset": offset,
                "sort_by": sort_by,
                "order": order,
                "group_by": s.group_by.unwrap_or_default(),
                "workspace_id": workspace,
                "ai_project": "default-ai-project",
                "train_type": train_type,
                "items": page,
            }));
        }
        let all: Vec<V2Job> = self
            .store
            .list_v2_jobs(project)
            .await?
            .into_iter()
            .filter(|j| j.job.workspace_id == workspace)
            .collect();
        let total_all = all.len() as i64;
        let holds = |j: &V2Job| -> bool {
            conditions.iter().all(|(key, op, raw, values)| {
                let field: String = match key.as_str() {
                    "id" => j.uuid.clone(),
                    "name" => j.job.name.clone(),
                    "phase" => phase(j.version.status).0.to_owned(),
                    "kind" => "job".to_owned(),
                    "user_id" => String::new(),
                    "algorithm_name" => serde_json::from_str::<Value>(&j.doc)
                        .ok()
                        .and_then(|d| d["algorithm"]["name"].as_str().map(str::to_owned))
                        .unwrap_or_default(),
                    _ => String::new(),
                };
                if key == "create_time" {
                    let lo = raw[0].parse::<i64>().unwrap_or(i64::MIN);
                    let hi = raw[1].parse::<i64>().unwrap_or(i64::MAX);
                    return (lo..=hi).contains(&j.job.create_time);
                }
                let norm = |v: &str| -> String {
                    if key == "phase" {
                        phase_named(v).unwrap_or_default().to_owned()
                    } else {
                        v.to_owned()
                    }
                };
                let matches = match op.as_str() {
                    "like" => values
                        .iter()
                        .any(|v| field.to_lowercase().contains(&v.to_lowercase())),
                    _ => values.iter().any(|v| norm(v) == field),
                };
                if op == "not" {
                    !matches
                } else {
                    matches
                }
            })
        };
        let mut items: Vec<V2Job> = if train_type == "ftjob" {
            Vec::new()
        } else {
            all.into_iter().filter(holds).collect()
        };
        items.sort_by(|a, b| {
            let o = match sort_by.as_str() {
                "name" => a.job.name.cmp(&b.job.name),
                "duration" => {
                    trainyard_store::duration_ms(a.version.start_time, a.version.end_time, now).cmp(
                        &trainyard_store::duration_ms(
                            b.version.start_time,
                            b.version.end_time,
                            now,
                        ),
                    )
                }
                "phase" => phase(a.version.status).0.cmp(phase(b.version.status).0),
                _ => a.job.create_time.cmp(&b.job.create_time),
            }
            .then(a.job.id.cmp(&b.job.id));
            if order == "desc" {
                o.reverse()
            } else {
                o
            }
        });
        let count = items.len() as i64;
        let total = if conditions.is_empty() {
            count
        } else {
            total_all
        };
        let page: Vec<Value> = self
            .v2_documents(items.iter().skip(offset as usize).take(limit as usize))
            .await;
        Ok(json!({
            "total": total,
            "count": count,
            "limit": limit,
            "offset": offset,
            "sort_by": sort_by,
            "order": order,
            "group_by": s.group_by.unwrap_or_default(),
            "workspace_id": workspace,
            "ai_project": "default-ai-project",
            "train_type": train_type,
            "items": page,
        }))
    }
}

/// The statuses whose phase is one of `phases`.
fn statuses_in(phases: &[&str]) -> Vec<i64> {
    (0..=22)
        .filter(|c| phases.contains(&phase(JobStatus::from_code(*c)).0))
        .collect()
}

/// A checked search condition (key, operator, raw values, non-empty values) in SQL terms:
/// `None` when it always holds; one that never holds selects nothing.
fn sql_condition(
    key: &str,
    op: &str,
    raw: &[String],
    values: &[String],
) -> Option<trainyard_store::V2Cond> {
    use trainyard_store::{V2Cond, V2Text};
    let never = Some(V2Cond::Nothing);
    let constant = |field: &str| -> Option<V2Cond> {
        let matches = match op {
            "like" => values.iter().any(|v| field.contains(&v.to_lowercase())),
            _ => values.iter().any(|v| v == field),
        };
        if matches != (op == "not") {
            None
        } else {
            never.clone()
        }
    };
    let text = |column: V2Text| -> Option<V2Cond> {
        let v = values.to_vec();
        Some(match op {
            "like" => V2Cond::Like(column, v),
            "not" => V2Cond::NotIn(column, v),
            _ => V2Cond::In(column, v),
        })
    };
    match key {
        "id" => text(V2Text::Uuid),
        "name" => text(V2Text::Name),
        "kind" => constant("job"),
        "user_id" => constant(""),
        "create_time" => Some(V2Cond::CreatedWithin(
            raw[0].parse::<i64>().unwrap_or(i64::MIN),
            raw[1].parse::<i64>().unwrap_or(i64::MAX),
        )),
        "phase" => {
            let names: Vec<&str> = if op == "like" {
                [
                    "Creating",
                    "Pending",
                    "Running",
                    "Terminating",
                    "Completed",
                    "Failed",
                    "Terminated",
                    "Abnormal",
                ]
                .into_iter()
                .filter(|p| {
                    values
                        .iter()
                        .any(|v| p.to_lowercase().contains(&v.to_lowercase()))
                })
                .collect()
            } else {
                values.iter().filter_map(|v| phase_named(v)).collect()
            };
            let statuses = statuses_in(&names);
            match (statuses.is_empty(), op == "not") {
                (true, true) => None,
                (true, false) => never,
                (false, not) => Some(V2Cond::Status(statuses, !not)),
            }
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainyard_store::{V2Cond, V2Text};

    #[test]
    fn conditions_become_sql_or_hold_always_or_never() {
        let v = |s: &[&str]| s.iter().map(|x| x.to_string()).collect::<Vec<_>>();
        let never = Some(V2Cond::Nothing);
        assert_eq!(
            sql_condition("kind", "in", &v(&["job"]), &v(&["job"])),
            None
        );
        assert_eq!(
            sql_condition("kind", "not", &v(&["job"]), &v(&["job"])),
            never
        );
        assert_eq!(
            sql_condition("user_id", "like", &v(&["u"]), &v(&["u"])),
            never
        );
        assert_eq!(
            sql_condition("user_id", "not", &v(&["u"]), &v(&["u"])),
            None
        );
        assert_eq!(
            sql_condition("name", "like", &v(&["a"]), &v(&["a"])),
            Some(V2Cond::Like(V2Text::Name, v(&["a"])))
        );
        assert_eq!(
            sql_condition("phase", "in", &v(&["completed"]), &v(&["completed"])),
            Some(V2Cond::Status(vec![10, 20], true))
        );
        assert_eq!(
            sql_condition("create_time", "between", &v(&["", "5"]), &v(&["5"])),
            Some(V2Cond::CreatedWithin(i64::MIN, 5))
        );
        assert_eq!(
            sql_condition("phase", "like", &v(&["zz"]), &v(&["zz"])),
            never
        );
    }
}
