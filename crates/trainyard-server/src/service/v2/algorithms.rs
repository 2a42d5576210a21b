//! The algorithm management subset the official SDK calls (`create_algorithm`,
//! `list_algorithms`, `show_algorithm_by_uuid`, `change_algorithm`, `delete_algorithm`):
//! algorithms stored per project, and a job's `algorithm.id` resolved from them.

use super::*;
use trainyard_api::v2::{AlgorithmCreateV2, AlgorithmV2, ParameterV2};
use trainyard_store::V2Algorithm;

/// `8-4-4-4-12` hexadecimal digits: the form of the ids the v2 API hands out.
fn is_uuid(s: &str) -> bool {
    let parts: Vec<&str> = s.split('-').collect();
    parts.iter().map(|p| p.len()).eq([8, 4, 4, 4, 12])
        && parts
            .iter()
            .all(|p| p.chars().all(|c| c.is_ascii_hexdigit()))
}

/// 2755, the spec's answer to an algorithm id the project does not have.
fn not_found() -> V2Error {
    V2Error::new(400, "ModelArts.2755", "algorithm not found.")
}

impl Service {
    /// Checks an algorithm body and renders its stored document; `id` and times are given.
    fn algorithm_document(
        &self,
        a: &AlgorithmCreateV2,
        id: &str,
        create_time: i64,
        update_time: i64,
    ) -> V2Result<(String, Value)> {
        let meta = a.metadata.clone().unwrap_or_default();
        let name = meta
            .name
            .clone()
            .filter(|n| valid_name(n, 64) && !n.contains('.'))
            .ok_or_else(|| V2Error::param("metadata.name", "1-64 letters, digits, '_' or '-'"))?;
        let desc = meta.description.clone().unwrap_or_default();
        if desc.chars().count() > 256 {
            return Err(V2Error::param(
                "metadata.description",
                "at most 256 characters",
            ));
        }
        let jc = a.job_config.clone().unwrap_or_default();
        let engine = jc.engine.clone().unwrap_or_default();
        let echo_engine = if let Some(image) = &engine.image_url {
            if jc.command.as_deref().is_none_or(|c| c.trim().is_empty()) {
                return Err(V2Error::new(
                    400,
                    "ModelArts.2806",
                    "Custom image jobs command and engine.url cannot be empty.",
                ));
            }
            json!({"image_url": image})
        } else {
            for (field, v) in [
                ("job_config.code_dir", &jc.code_dir),
                ("job_config.boot_file", &jc.boot_file),
            ] {
                if v.as_deref().is_none_or(str::is_empty) {
                    return Err(V2Error::param(field, "required without engine.image_url"));
                }
            }
            if jc.command.is_some() {
                return Err(V2Error::param(
                    "job_config.command",
                    "a command is run in a custom image (engine.image_url); a preset engine runs the boot file",
                ));
            }
            let e = self.find_engine(&engine)?;
            json!({
                "engine_id": super::catalog::engine_id(e),
                "engine_name": e.name,
                "engine_version": e.version,
            })
        };
        let mut seen = std::collections::BTreeSet::new();
        for (i, p) in jc.parameters.iter().flatten().enumerate() {
            let field = format!("job_config.parameters[{i}].name");
            let n = p
                .name
                .clone()
                .filter(|n| !n.trim().is_empty())
                .ok_or_else(|| V2Error::param(&field, "required"))?;
            if !seen.insert(n.clone()) {
                return Err(V2Error::param(&field, format!("{n} appears twice")));
            }
        }
        let mut job_config = serde_json::to_value(&jc).map_err(ApiError::internal)?;
        job_config["engine"] = echo_engine;
        job_config["parameters"] = json!(jc.parameters.clone().unwrap_or_default());
        job_config["inputs"] = jc.inputs.clone().unwrap_or_else(|| json!([]));
        job_config["outputs"] = jc.outputs.clone().unwrap_or_else(|| json!([]));
        job_config["parameters_customization"] = json!(jc.parameters_customization.unwrap_or(true));
        let mut doc = json!({
            "metadata": {
                "id": id,
                "name": name,
                "description": desc,
                "workspace_id": meta.workspace_id.clone().filter(|w| !w.is_empty()).unwrap_or_else(|| "0".into()),
                "ai_project": meta.ai_project.clone().unwrap_or_else(|| "default-ai-project".into()),
                "user_name": "",
                "domain_id": "",
                "source": "custom",
                "api_version": "v2",
                "is_valid": true,
                "state": "",
                "tags": [],
                "attr_list": [],
                "version_num": 0,
                "size": 0,
                "create_time": create_time,
                "update_time": update_time,
            },
            "job_config": job_config,
            "resource_requirements": a.resource_requirements.clone().unwrap_or_else(|| json!([])),
            "advanced_config": a.advanced_config.clone().unwrap_or_else(|| json!({})),
        });
        strip_nulls(&mut doc);
        Ok((name, doc))
    }

    /// Stores an algorithm (`POST /v2/{project_id}/algorithms`): 201 with it. A client may
    /// choose its id (`metadata.id`, a UUID), as the SDK's model has the field.
    pub async fn v2_create_algorithm(&self, project: &str, body: &[u8]) -> V2Result<Value> {
        let a: AlgorithmCreateV2 = parse_body(body)?;
        let id = match a.metadata.as_ref().and_then(|m| m.id.clone()) {
            Some(id) if !id.is_empty() => {
                if !is_uuid(&id) {
                    return Err(V2Error::param(
                        "metadata.id",
                        "a UUID (8-4-4-4-12 hexadecimal digits), or leave it unset",
                    ));
                }
                id.to_ascii_lowercase()
            }
            _ => new_uuid(),
        };
        let now = now_ms();
        let (name, doc) = self.algorithm_document(&a, &id, now, now)?;
        let row = V2Algorithm {
            project_id: project.to_owned(),
            uuid: id,
            name: name.clone(),
            create_time: now,
            update_time: now,
            doc: doc.to_string(),
        };
        match self.store.create_v2_algorithm(&row).await {
            Ok(()) => Ok(doc),
            Err(trainyard_store::Error::Conflict) => Err(V2Error::param(
                "metadata",
                format!("an algorithm of this id or name ({name}) exists in the project"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// An algorithm of the project, else 2755.
    async fn v2_algorithm_row(&self, project: &str, id: &str) -> V2Result<V2Algorithm> {
        self.store
            .get_v2_algorithm(project, &id.to_ascii_lowercase())
            .await?
            .ok_or_else(not_found)
    }

    /// Shows an algorithm (`GET .../algorithms/{algorithm_id}`).
    pub async fn v2_show_algorithm(&self, project: &str, id: &str) -> V2Result<Value> {
        let row = self.v2_algorithm_row(project, id).await?;
        serde_json::from_str(&row.doc).map_err(|e| ApiError::internal(e).into())
    }

    /// Replaces an algorithm's metadata and job configuration (`PUT`): 200 with it.
    pub async fn v2_change_algorithm(
        &self,
        project: &str,
        id: &str,
        body: &[u8],
    ) -> V2Result<Value> {
        let mut row = self.v2_algorithm_row(project, id).await?;
        let a: AlgorithmCreateV2 = parse_body(body)?;
        let now = now_ms();
        let (name, doc) = self.algorithm_document(&a, &row.uuid, row.create_time, now)?;
        row.name = name.clone();
        row.doc = doc.to_string();
        row.update_time = now;
        match self.store.update_v2_algorithm(&row).await {
            Ok(true) => Ok(doc),
            Ok(false) => Err(not_found()),
            Err(trainyard_store::Error::Conflict) => Err(V2Error::param(
                "metadata.name",
                format!("another algorithm of the project is named {name}"),
            )),
            Err(e) => Err(e.into()),
        }
    }

    /// Removes an algorithm (`DELETE`); jobs made from it keep what they copied.
    pub async fn v2_delete_algorithm(&self, project: &str, id: &str) -> V2Result<()> {
        if self
            .store
            .delete_v2_algorithm(project, &id.to_ascii_lowercase())
            .await?
        {
            Ok(())
        } else {
            Err(not_found())
        }
    }

    /// Lists the project's algorithms (`GET .../algorithms`): `offset`, `limit` (1-1000,
    /// default 10), `sort_by` (`create_time`, `name`), `order`, `searches` (`name:TEXT`, a
    /// substring), `workspace_id`.
    pub async fn v2_list_algorithms(&self, project: &str, q: &Params) -> V2Result<Value> {
        let offset = q.int("offset", 0, 0, i64::MAX).map_err(V2Error::from)?;
        let limit = q.int("limit", 10, 1, 1000).map_err(V2Error::from)?;
        let sort_by = q.get("sort_by").unwrap_or("create_time").to_owned();
        let order = q.get("order").unwrap_or("desc").to_owned();
        if order != "asc" && order != "desc" {
            return Err(V2Error::query("order", "asc or desc"));
        }
        if q.get("group_by").is_some_and(|g| !g.is_empty()) {
            return Err(V2Error::query("group_by", "grouping is not served"));
        }
        let name_has = match q.get("searches").filter(|s| !s.is_empty()) {
            None => None,
            Some(s) => Some(
                s.strip_prefix("name:")
                    .ok_or_else(|| V2Error::query("searches", "name:TEXT is served"))?
                    .to_owned(),
            ),
        };
        let workspace = q.get("workspace_id").filter(|w| !w.is_empty());
        let mut items: Vec<Value> = Vec::new();
        for row in self.store.list_v2_algorithms(project).await? {
            if name_has
                .as_ref()
                .is_some_and(|n| !row.name.contains(n.as_str()))
            {
                continue;
            }
            let doc: Value = serde_json::from_str(&row.doc).map_err(ApiError::internal)?;
            if workspace.is_some_and(|w| doc["metadata"]["workspace_id"] != w) {
                continue;
            }
            items.push(doc);
        }
        match sort_by.as_str() {
            "create_time" => items.sort_by_key(|d| d["metadata"]["create_time"].as_i64()),
            "name" => items.sort_by(|a, b| {
                a["metadata"]["name"]
                    .as_str()
                    .cmp(&b["metadata"]["name"].as_str())
            }),
            _ => return Err(V2Error::query("sort_by", "create_time or name")),
        }
        if order == "desc" {
            items.reverse();
        }
        let count = items.len();
        let items: Vec<Value> = items
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(limit as usize)
            .collect();
        Ok(json!({
            "total": count,
            "count": count,
            "limit": limit,
            "offset": offset,
            "sort_by": sort_by,
            "order": order,
            "group_by": "",
            "items": items,
        }))
    }

    /// A job's `algorithm` with what its `id` names filled in: code, boot file, command and
    /// engine where the job leaves them unset, and the algorithm's parameters, the job's own
    /// of the same name winning. No `id`: the algorithm as given.
    pub(super) async fn with_algorithm(
        &self,
        project: &str,
        alg: Option<AlgorithmV2>,
    ) -> V2Result<Option<AlgorithmV2>> {
        let Some(mut alg) = alg else { return Ok(None) };
        let Some(id) = alg.id.clone().filter(|i| !i.is_empty()) else {
            return Ok(Some(alg));
        };
        let row = self
            .store
            .get_v2_algorithm(project, &id.to_ascii_lowercase())
            .await?
            .ok_or_else(not_found)?;
        let doc: Value = serde_json::from_str(&row.doc).map_err(ApiError::internal)?;
        let jc: trainyard_api::v2::AlgorithmJobConfigV2 =
            serde_json::from_value(doc["job_config"].clone()).map_err(ApiError::internal)?;
        alg.name = Some(row.name);
        let engine_set = alg.engine.as_ref().is_some_and(|e| {
            e.engine_id.is_some() || e.engine_name.is_some() || e.image_url.is_some()
        });
        if !engine_set && alg.code_dir.is_none() && alg.command.is_none() {
            alg.engine = jc.engine;
            alg.code_dir = jc.code_dir;
            alg.boot_file = jc.boot_file;
            alg.command = jc.command;
        }
        let own = alg.parameters.take().unwrap_or_default();
        let mut params: Vec<ParameterV2> = jc
            .parameters
            .unwrap_or_default()
            .into_iter()
            .filter(|p| !own.iter().any(|o| o.name == p.name))
            .collect();
        params.extend(own);
        alg.parameters = Some(params);
        Ok(Some(alg))
    }
}

#[cfg(test)]
mod tests {
    use super::is_uuid;

    #[test]
    fn client_ids_are_uuids() {
        assert!(is_uuid("3f5d6706-7b67-408d-8ba0-ec08048c45ed"));
        assert!(!is_uuid("3f5d6706-7b67-408d-8ba0-ec08048c45e"));
        assert!(!is_uuid("12"));
        assert!(!is_uuid("3f5d6706-7b67-408d-8ba0-ec08048c45eg"));
    }
}
