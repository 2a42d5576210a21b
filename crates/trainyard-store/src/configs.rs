//! Training job configurations (TC-01..TC-05).

use crate::{ConfigSort, Result, Store, StoredConfig};
use sqlx::Row;

fn config_from_row(row: &sqlx::sqlite::SqliteRow) -> Result<StoredConfig> {
    let config: String = row.try_get("config")?;
    Ok(StoredConfig {
        project_id: row.try_get("project_id")?,
        name: row.try_get("name")?,
        description: row.try_get("description")?,
        config: serde_json::from_str(&config)?,
        create_time: row.try_get("create_time")?,
    })
}

impl Store {
    /// TC-01: a taken name gives `Error::Conflict`.
    pub async fn create_config(&self, c: &StoredConfig) -> Result<()> {
        sqlx::query("INSERT INTO configs (project_id, name, description, config, create_time) VALUES (?, ?, ?, ?, ?)")
            .bind(&c.project_id)
            .bind(&c.name)
            .bind(&c.description)
            .bind(serde_json::to_string(&c.config)?)
            .bind(c.create_time)
            .execute(&self.pool)
            .await?;
        Ok(())
    }

    /// TC-05.
    pub async fn get_config(&self, project_id: &str, name: &str) -> Result<Option<StoredConfig>> {
        let row = sqlx::query("SELECT * FROM configs WHERE project_id = ? AND name = ?")
            .bind(project_id)
            .bind(name)
            .fetch_optional(&self.pool)
            .await?;
        row.as_ref().map(config_from_row).transpose()
    }

    /// TC-03: full replacement of description and configuration; false when unknown.
    pub async fn update_config(&self, c: &StoredConfig) -> Result<bool> {
        let r = sqlx::query(
            "UPDATE configs SET description = ?, config = ? WHERE project_id = ? AND name = ?",
        )
        .bind(&c.description)
        .bind(serde_json::to_string(&c.config)?)
        .bind(&c.project_id)
        .bind(&c.name)
        .execute(&self.pool)
        .await?;
        Ok(r.rows_affected() == 1)
    }

    /// TC-04; false when unknown.
    pub async fn delete_config(&self, project_id: &str, name: &str) -> Result<bool> {
        let r = sqlx::query("DELETE FROM configs WHERE project_id = ? AND name = ?")
            .bind(project_id)
            .bind(name)
            .execute(&self.pool)
            .await?;
        Ok(r.rows_affected() == 1)
    }

    /// TC-02: a page of the project's configurations and the total matching.
    pub async fn list_configs(
        &self,
        project_id: &str,
        search: Option<&str>,
        sort: ConfigSort,
        descending: bool,
        offset: i64,
        limit: i64,
    ) -> Result<(Vec<StoredConfig>, i64)> {
        let key = match sort {
            ConfigSort::Name => "name",
            ConfigSort::Desc => "description",
            ConfigSort::CreateTime => "create_time",
        };
        let dir = if descending { "DESC" } else { "ASC" };
        let filter = "project_id = ? AND (? IS NULL OR instr(lower(name), lower(?)) > 0)";
        let rows = sqlx::query(&format!("SELECT * FROM configs WHERE {filter} ORDER BY {key} {dir}, name {dir} LIMIT ? OFFSET ?"))
            .bind(project_id)
            .bind(search)
            .bind(search)
            .bind(limit)
            .bind(offset)
            .fetch_all(&self.pool)
            .await?;
        let total: i64 =
            sqlx::query_scalar(&format!("SELECT count(*) FROM configs WHERE {filter}"))
                .bind(project_id)
                .bind(search)
                .bind(search)
                .fetch_one(&self.pool)
                .await?;
        Ok((
            rows.iter().map(config_from_row).collect::<Result<_>>()?,
            total,
        ))
    }
}
