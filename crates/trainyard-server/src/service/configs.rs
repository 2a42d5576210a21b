//! Training job configurations (TC-01..TC-05), plus the read-only sample configurations.

use crate::catalog::PYTHON_ENGINE_ID;
use crate::error::{ApiError, ApiResult};
use crate::service::query::Params;
use crate::service::validate::{check_request_fields, Purpose, Request};
use crate::service::view::{config_detail, config_summary};
use crate::service::Service;
use crate::util::{now_ms, valid_name};
use trainyard_api::training::{DataSource, JobConfig, Parameter};
use trainyard_api::training_config::{ConfigDetail, ConfigListResponse, ConfigRequest};
use trainyard_store::{ConfigSort, StoredConfig};

fn not_found(name: &str) -> ApiError {
    ApiError::NotFound(format!("Config name:{name} is not existed"))
}

/// The sample configurations (`config_type=sample`): read-only, the same for every project.
pub fn samples() -> Vec<StoredConfig> {
    vec![StoredConfig {
        project_id: String::new(),
        name: "linear_regression_sample".into(),
        description: "Built-in linear regression on the CSV files of data_url".into(),
        config: JobConfig {
            worker_server_num: Some(1),
            model_id: Some(1),
            engine_id: Some(PYTHON_ENGINE_ID),
            spec_id: Some(1),
            parameter: Some(vec![Parameter {
                label: "epochs".into(),
                value: "20".into(),
            }]),
            data_source: Some(vec![DataSource {
                kind: Some("obs".into()),
                data_url: Some("/samples/linear-regression/data/".into()),
                ..Default::default()
            }]),
            train_url: Some("/samples/linear-regression/output/".into()),
            ..Default::default()
        },
        create_time: 1_735_689_600_000,
    }]
}

fn is_sample(q: &Params) -> ApiResult<bool> {
    match q.get("config_type").map(str::to_ascii_lowercase).as_deref() {
        None | Some("custom") => Ok(false),
        Some("sample") => Ok(true),
        Some(other) => Err(ApiError::param(format!(
            "config_type:{other} must be custom or sample"
        ))),
    }
}

impl Service {
    fn checked_config(
        &self,
        project: &str,
        name: String,
        req: ConfigRequest,
        create_time: i64,
    ) -> ApiResult<StoredConfig> {
        let desc = req.config_desc.unwrap_or_default();
        if desc.chars().count() > 256 {
            return Err(ApiError::param(
                "config_desc must be at most 256 characters",
            ));
        }
        check_request_fields(&req.config, Request::Configuration)?;
        let mut config = self.checker(project).check(req.config, Purpose::Stored)?;
        config.create_version = None;
        config.pre_version_id = None;
        Ok(StoredConfig {
            project_id: project.to_owned(),
            name,
            description: desc,
            config,
            create_time,
        })
    }

    /// Creates a training configuration (TC-01).
    pub async fn create_config(&self, project: &str, req: ConfigRequest) -> ApiResult<()> {
        let name = req
            .config_name
            .clone()
            .ok_or_else(|| ApiError::required("config_name"))?;
        if !valid_name(&name, 64) {
            return Err(ApiError::ParameterError(format!("Illegal name: {name}")));
        }
        let stored = self.checked_config(project, name.clone(), req, now_ms())?;
        let limit = self
            .project(project)
            .and_then(|p| p.job_count_limit)
            .unwrap_or(1000);
        let (_, total) = self
            .store
            .list_configs(project, None, ConfigSort::Name, false, 0, 1)
            .await?;
        if total >= limit {
            return Err(ApiError::Quota("training job configuration count"));
        }
        match self.store.create_config(&stored).await {
            Err(trainyard_store::Error::Conflict) => Err(ApiError::NameExists(format!(
                "Config name:{name} is existed"
            ))),
            other => Ok(other?),
        }
    }

    /// Lists training configurations (TC-02).
    pub async fn list_configs(&self, project: &str, q: &Params) -> ApiResult<ConfigListResponse> {
        let per_page = q.int("per_page", 10, 1, 1000)?;
        let page = q.int("page", 1, 1, 65535)?;
        let sample = is_sample(q)?;
        let sort = match q.sort_by().as_deref() {
            None | Some("config_name") => ConfigSort::Name,
            Some("config_desc") => ConfigSort::Desc,
            Some("create_time") if !sample => ConfigSort::CreateTime,
            Some(other) => return Err(ApiError::param(format!("sortBy:{other} is not supported"))),
        };
        let descending = q.descending(true)?;
        let search = q.search()?;
        let (configs, total) = if sample {
            let mut all: Vec<StoredConfig> = samples()
                .into_iter()
                .filter(|c| {
                    search
                        .as_ref()
                        .is_none_or(|s| c.name.to_lowercase().contains(&s.to_lowercase()))
                })
                .collect();
            all.sort_by(|a, b| match sort {
                ConfigSort::Desc => a.description.cmp(&b.description),
                _ => a.name.cmp(&b.name),
            });
            if descending {
                all.reverse();
            }
            let total = all.len() as i64;
            (
                all.into_iter()
                    .skip(((page - 1) * per_page) as usize)
                    .take(per_page as usize)
                    .collect(),
                total,
            )
        } else {
            self.store
                .list_configs(
                    project,
                    search.as_deref(),
                    sort,
                    descending,
                    (page - 1) * per_page,
                    per_page,
                )
                .await?
        };
        Ok(ConfigListResponse {
            is_success: true,
            config_total_count: total,
            configs: configs
                .iter()
                .map(|c| config_summary(&self.catalog, c))
                .collect(),
        })
    }

    /// Shows one training configuration (TC-05).
    pub async fn get_config(
        &self,
        project: &str,
        name: &str,
        q: &Params,
    ) -> ApiResult<ConfigDetail> {
        let found = if is_sample(q)? {
            samples().into_iter().find(|c| c.name == name)
        } else {
            self.store.get_config(project, name).await?
        };
        let c = found.ok_or_else(|| not_found(name))?;
        Ok(config_detail(&self.catalog, &c))
    }

    /// Replaces a training configuration in full (TC-03).
    pub async fn update_config(
        &self,
        project: &str,
        name: &str,
        req: ConfigRequest,
    ) -> ApiResult<()> {
        if samples().iter().any(|c| c.name == name)
            && self.store.get_config(project, name).await?.is_none()
        {
            return Err(ApiError::NotFound(format!(
                "Config name:{name} is a sample configuration and cannot be modified"
            )));
        }
        let existing = self
            .store
            .get_config(project, name)
            .await?
            .ok_or_else(|| not_found(name))?;
        let stored = self.checked_config(project, name.to_owned(), req, existing.create_time)?;
        if !self.store.update_config(&stored).await? {
            return Err(not_found(name));
        }
        Ok(())
    }

    /// Deletes a training configuration (TC-04).
    pub async fn delete_config(&self, project: &str, name: &str) -> ApiResult<()> {
        if !self.store.delete_config(project, name).await? {
            return Err(not_found(name));
        }
        Ok(())
    }
}
