//! Built-in algorithms (TJ-11).

use crate::error::{ApiError, ApiResult};
use crate::service::query::Params;
use crate::service::Service;
use trainyard_api::training::{BuiltInAlgorithm, BuiltInAlgorithmsResponse};

impl Service {
    /// Lists the built-in algorithms (TJ-11): search, sort and page the built-in algorithms.
    pub fn built_in_algorithms(&self, q: &Params) -> ApiResult<BuiltInAlgorithmsResponse> {
        let per_page = q.int("per_page", 10, 1, 100)?;
        let page = q.int("page", 1, 1, 65535)?;
        let descending = q.descending(true)?;
        let search = q.search()?.map(|s| s.to_lowercase());
        let mut models: Vec<BuiltInAlgorithm> = self
            .catalog
            .builtins
            .iter()
            .map(|b| b.info.clone())
            .filter(|m| {
                search
                    .as_ref()
                    .is_none_or(|s| m.model_name.to_lowercase().contains(s))
            })
            .collect();
        let key = q.sort_by().unwrap_or_else(|| "engine".to_owned());
        match key.as_str() {
            "engine" => models.sort_by(|a, b| a.engine_name.cmp(&b.engine_name)),
            "model_name" => models.sort_by(|a, b| a.model_name.cmp(&b.model_name)),
            "model_precision" => models.sort_by(|a, b| a.model_precision.cmp(&b.model_precision)),
            "model_usage" => models.sort_by_key(|m| m.model_usage),
            "model_size" => models.sort_by_key(|m| m.model_size),
            "create_time" => models.sort_by_key(|m| m.create_time),
            "parameter" => models.sort_by(|a, b| a.parameter.cmp(&b.parameter)),
            other => return Err(ApiError::param(format!("sortBy:{other} is not supported"))),
        }
        if descending {
            models.reverse();
        }
        let total = models.len() as i64;
        let models = models
            .into_iter()
            .skip(((page - 1) * per_page) as usize)
            .take(per_page as usize)
            .collect();
        Ok(BuiltInAlgorithmsResponse {
            is_success: true,
            model_total_count: total,
            models,
        })
    }
}
