//! A job's tags (T2-16): kept in its stored document (`metadata.tags`, sorted by key), so
//! they are shown with it; the project's keys and values gathered from its jobs.

use super::*;
use trainyard_api::v2::TagsV2;

/// Whether `c` may appear in a tag key (a value also takes `/`).
fn tag_char(c: char) -> bool {
    c.is_alphanumeric() || " _.:=+-@".contains(c)
}

/// The tags of a body, checked: keys 1-128 characters, values 0-255 (`value` required when
/// `adding`).
fn checked(body: &[u8], adding: bool) -> V2Result<Vec<(String, Option<String>)>> {
    let t: TagsV2 = parse_body(body)?;
    let tags = t
        .tags
        .filter(|t| !t.is_empty())
        .ok_or_else(|| V2Error::param("tags", "required, at least one"))?;
    let mut out = Vec::new();
    for (i, tag) in tags.into_iter().enumerate() {
        let key = tag.key.unwrap_or_default();
        let good = (1..=128).contains(&key.chars().count())
            && key.trim() == key
            && !key.starts_with("_sys_")
            && key.chars().all(tag_char);
        if !good {
            return Err(V2Error::param(
                &format!("tags[{i}].key"),
                "1-128 letters, digits, spaces or _ . : = + - @, no space at either end, not _sys_...",
            ));
        }
        if adding && tag.value.is_none() {
            return Err(V2Error::param(&format!("tags[{i}].value"), "required"));
        }
        if let Some(v) = &tag.value {
            if v.chars().count() > 255 || !v.chars().all(|c| tag_char(c) || c == '/') {
                return Err(V2Error::param(
                    &format!("tags[{i}].value"),
                    "0-255 letters, digits, spaces or _ . : = + - @ /",
                ));
            }
        }
        out.push((key, tag.value));
    }
    Ok(out)
}

/// The tags of a stored document, by key.
fn tags_of(doc: &Value) -> std::collections::BTreeMap<String, String> {
    doc["metadata"]["tags"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| {
            Some((
                t["key"].as_str()?.to_owned(),
                t["value"].as_str()?.to_owned(),
            ))
        })
        .collect()
}

impl Service {
    /// Adds tags to a job, replacing the values of keys it has (T2-16a); or removes the given
    /// keys (only where the value matches, when one is given; T2-16b).
    pub async fn v2_change_tags(
        &self,
        project: &str,
        id: &str,
        body: &[u8],
        adding: bool,
    ) -> V2Result<()> {
        let given = checked(body, adding)?;
        let j = self.v2_job(project, id).await?;
        let mut doc: Value = serde_json::from_str(&j.doc).unwrap_or_else(|_| json!({}));
        let mut tags = tags_of(&doc);
        for (key, value) in given {
            match (adding, value) {
                (true, Some(v)) => {
                    tags.insert(key, v);
                }
                (false, Some(v)) if tags.get(&key) != Some(&v) => {}
                (_, _) => {
                    tags.remove(&key);
                }
            }
        }
        if !doc["metadata"].is_object() {
            doc["metadata"] = json!({});
        }
        doc["metadata"]["tags"] = tags
            .iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        if !self
            .store
            .update_v2_job(project, id, &j.job.description, &doc.to_string())
            .await?
        {
            return Err(V2Error::not_found(id));
        }
        Ok(())
    }

    /// A job's tags (T2-16c).
    pub async fn v2_tags(&self, project: &str, id: &str) -> V2Result<Value> {
        let j = self.v2_job(project, id).await?;
        let doc: Value = serde_json::from_str(&j.doc).unwrap_or_else(|_| json!({}));
        let tags: Vec<Value> = tags_of(&doc)
            .into_iter()
            .map(|(k, v)| json!({"key": k, "value": v}))
            .collect();
        Ok(json!({ "tags": tags }))
    }

    /// The tag keys of the project's jobs, each with its values (T2-16d): `limit` key groups
    /// (1-1000, default 1000) from `offset`, by key.
    pub async fn v2_project_tags(&self, project: &str, q: &Params) -> V2Result<Value> {
        let limit = q.int("limit", 1000, 1, 1000).map_err(V2Error::from)?;
        let offset = q.int("offset", 0, 0, i64::MAX).map_err(V2Error::from)?;
        let mut keys: std::collections::BTreeMap<String, std::collections::BTreeSet<String>> =
            Default::default();
        for j in self.store.list_v2_jobs(project).await? {
            let doc: Value = serde_json::from_str(&j.doc).unwrap_or_else(|_| json!({}));
            for (k, v) in tags_of(&doc) {
                keys.entry(k).or_default().insert(v);
            }
        }
        let tags: Vec<Value> = keys
            .into_iter()
            .skip(usize::try_from(offset).unwrap_or(usize::MAX))
            .take(limit as usize)
            .map(|(k, v)| json!({"key": k, "values": v}))
            .collect();
        Ok(json!({ "tags": tags }))
    }
}

#[cfg(test)]
mod tests {
    use super::checked;

    #[test]
    fn tags_are_checked_as_the_contract_says() {
        let ok = checked(br#"{"tags": [{"key": "k 1.@", "value": "a/b"}]}"#, true).unwrap();
        assert_eq!(ok, [("k 1.@".to_owned(), Some("a/b".to_owned()))]);
        for bad in [
            r#"{"tags": []}"#,
            r#"{"tags": [{"key": " k", "value": "v"}]}"#,
            r#"{"tags": [{"key": "_sys_k", "value": "v"}]}"#,
            r#"{"tags": [{"key": "k/", "value": "v"}]}"#,
            r#"{"tags": [{"key": "k"}]}"#,
        ] {
            assert!(checked(bad.as_bytes(), true).is_err(), "{bad}");
        }
        assert!(checked(br#"{"tags": [{"key": "k"}]}"#, false).is_ok());
    }
}
