//! Query parameters: trimmed, lenient, validated with ModelArts errors.

use crate::error::{ApiError, ApiResult};
use std::collections::HashMap;
use trainyard_api::lenient::parse_i64;

/// Query parameters of one request; names and values trimmed, first occurrence wins.
#[derive(Clone, Debug, Default)]
pub struct Params(HashMap<String, String>);

impl Params {
    /// From decoded pairs.
    pub fn from_pairs(pairs: impl IntoIterator<Item = (String, String)>) -> Self {
        let mut map = HashMap::new();
        for (k, v) in pairs {
            map.entry(k.trim().to_owned())
                .or_insert_with(|| v.trim().to_owned());
        }
        Self(map)
    }

    /// A non-empty value.
    pub fn get(&self, name: &str) -> Option<&str> {
        self.0
            .get(name)
            .map(String::as_str)
            .filter(|v| !v.is_empty())
    }

    /// An integer in `[min, max]`, or `default` when absent.
    pub fn int(&self, name: &str, default: i64, min: i64, max: i64) -> ApiResult<i64> {
        let Some(text) = self.get(name) else {
            return Ok(default);
        };
        let n = parse_i64(text)
            .ok_or_else(|| ApiError::param(format!("{name}:{text} is not an integer")))?;
        if n < min || n > max {
            return Err(ApiError::param(format!(
                "{name}:{n} must be in [{min},{max}]"
            )));
        }
        Ok(n)
    }

    /// `sortBy`, else `sort_by`, lower-cased.
    pub fn sort_by(&self) -> Option<String> {
        self.get("sortBy")
            .or_else(|| self.get("sort_by"))
            .map(str::to_ascii_lowercase)
    }

    /// `order`: true for `desc`.
    pub fn descending(&self, default_desc: bool) -> ApiResult<bool> {
        match self.get("order").map(str::to_ascii_lowercase).as_deref() {
            None => Ok(default_desc),
            Some("asc") => Ok(false),
            Some("desc") => Ok(true),
            Some(other) => Err(ApiError::param(format!(
                "order:{other} must be asc or desc"
            ))),
        }
    }

    /// `status`: one integer or a comma-separated list.
    pub fn statuses(&self) -> ApiResult<Vec<i64>> {
        let Some(text) = self.get("status") else {
            return Ok(Vec::new());
        };
        text.split(',')
            .filter(|s| !s.trim().is_empty())
            .map(|s| {
                parse_i64(s)
                    .filter(|n| (0..=22).contains(n))
                    .ok_or_else(|| {
                        ApiError::param(format!("status:{} is not a job status", s.trim()))
                    })
            })
            .collect()
    }

    /// `search_content`, at most 100 characters.
    pub fn search(&self) -> ApiResult<Option<String>> {
        match self.get("search_content") {
            Some(s) if s.chars().count() > 100 => Err(ApiError::ParameterError(
                "The length of search content should be in [0,100]".into(),
            )),
            other => Ok(other.map(str::to_owned)),
        }
    }
}
