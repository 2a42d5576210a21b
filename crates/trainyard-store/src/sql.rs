//! What differs between the engines' SQL, and the one builder of the list queries (TJ-02 and
//! VJ-02).
//!
//! The statements are written once, with `?` placeholders, in the subset both engines speak
//! (integers for times and flags, `RETURNING`, partial indexes); [`Dialect`] supplies the few
//! pieces that differ: PostgreSQL's numbered placeholders, its substring function and the row
//! locks its concurrent writers need where SQLite's single writer needs none.

use std::borrow::Cow;

/// The SQL flavour of an engine.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Dialect {
    /// SQLite: `?` placeholders, one writer at a time (`BEGIN IMMEDIATE`), no row locks.
    Sqlite,
    /// PostgreSQL: `$n` placeholders, concurrent writers.
    Postgres,
}

impl Dialect {
    /// `sql` with this engine's placeholders: unchanged for SQLite; each `?` numbered `$1`,
    /// `$2`, ... for PostgreSQL. Our statements never hold a `?` inside a string literal.
    pub fn sql(self, sql: &str) -> Cow<'_, str> {
        match self {
            Dialect::Sqlite => Cow::Borrowed(sql),
            Dialect::Postgres => {
                let mut out = String::with_capacity(sql.len() + 16);
                let mut n = 0;
                for c in sql.chars() {
                    if c == '?' {
                        n += 1;
                        out.push('$');
                        out.push_str(&n.to_string());
                    } else {
                        out.push(c);
                    }
                }
                Cow::Owned(out)
            }
        }
    }

    /// A condition: `column` contains the bound text, ignoring case (one `?`).
    pub fn contains(self, column: &str) -> String {
        match self {
            Dialect::Sqlite => format!("instr(lower({column}), lower(?)) > 0"),
            Dialect::Postgres => format!("strpos(lower({column}), lower(?)) > 0"),
        }
    }

    /// Appended to a `SELECT` whose rows a transaction reads and then changes. PostgreSQL
    /// runs writers concurrently, so the rows are locked until commit; SQLite's writer holds
    /// the whole database from `BEGIN IMMEDIATE` on and has no such clause.
    pub fn for_update(self) -> &'static str {
        match self {
            Dialect::Sqlite => "",
            Dialect::Postgres => " FOR UPDATE",
        }
    }
}

/// A value bound to a list query.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Arg {
    /// An integer (status, time, limit).
    Int(i64),
    /// A text (project, search, workspace).
    Text(String),
}

/// The list queries of TJ-02 and VJ-02: one project's live rows, filtered, sorted by a key
/// then id (so pages never overlap), one page of them, and the count of all that match.
#[derive(Clone, Debug)]
pub struct ListQuery {
    dialect: Dialect,
    table: &'static str,
    columns: &'static str,
    filter: String,
    filter_args: Vec<Arg>,
    order: String,
    order_args: Vec<Arg>,
}

impl ListQuery {
    /// The live rows of `project_id` in `table`, as `columns`.
    pub fn new(
        dialect: Dialect,
        table: &'static str,
        columns: &'static str,
        project_id: &str,
    ) -> Self {
        Self {
            dialect,
            table,
            columns,
            filter: "project_id = ? AND deleted = 0".to_owned(),
            filter_args: vec![Arg::Text(project_id.to_owned())],
            order: "id ASC".to_owned(),
            order_args: Vec::new(),
        }
    }

    /// Only rows whose `column` is one of `values` (none given: no filter).
    pub fn one_of(mut self, column: &str, values: &[i64]) -> Self {
        if !values.is_empty() {
            let marks = vec!["?"; values.len()].join(",");
            self.filter.push_str(&format!(" AND {column} IN ({marks})"));
            self.filter_args
                .extend(values.iter().copied().map(Arg::Int));
        }
        self
    }

    /// Only rows whose `column` contains `text`, ignoring case (`None`: no filter).
    pub fn containing(mut self, column: &str, text: Option<&str>) -> Self {
        if let Some(text) = text {
            self.filter
                .push_str(&format!(" AND {}", self.dialect.contains(column)));
            self.filter_args.push(Arg::Text(text.to_owned()));
        }
        self
    }

    /// Only rows whose `column` equals `value` (`None`: no filter).
    pub fn equal(mut self, column: &str, value: Option<&str>) -> Self {
        if let Some(value) = value {
            self.filter.push_str(&format!(" AND {column} = ?"));
            self.filter_args.push(Arg::Text(value.to_owned()));
        }
        self
    }

    /// Sorted by `key` (an expression binding `key_args`), then by id, in one direction.
    pub fn sort(mut self, key: &str, key_args: Vec<Arg>, descending: bool) -> Self {
        let dir = if descending { "DESC" } else { "ASC" };
        self.order = format!("{key} {dir}, id {dir}");
        self.order_args = key_args;
        self
    }

    /// The page `offset..offset + limit`: SQL in the engine's placeholders and its values.
    pub fn page(&self, offset: i64, limit: i64) -> (String, Vec<Arg>) {
        let sql = format!(
            "SELECT {} FROM {} WHERE {} ORDER BY {} LIMIT ? OFFSET ?",
            self.columns, self.table, self.filter, self.order
        );
        let mut args = self.filter_args.clone();
        args.extend(self.order_args.iter().cloned());
        args.extend([Arg::Int(limit), Arg::Int(offset)]);
        (self.dialect.sql(&sql).into_owned(), args)
    }

    /// The number of rows matching the filter: SQL and its values.
    pub fn count(&self) -> (String, Vec<Arg>) {
        let sql = format!("SELECT count(*) FROM {} WHERE {}", self.table, self.filter);
        (
            self.dialect.sql(&sql).into_owned(),
            self.filter_args.clone(),
        )
    }

    /// Whether a filter beyond project and liveness applies.
    pub fn filtered(&self) -> bool {
        self.filter_args.len() > 1
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn postgres_numbers_placeholders_in_order() {
        assert_eq!(
            Dialect::Postgres.sql("a = ? AND b IN (?, ?)"),
            "a = $1 AND b IN ($2, $3)"
        );
        assert_eq!(Dialect::Sqlite.sql("a = ?"), "a = ?");
    }

    #[test]
    fn one_builder_gives_page_and_count_with_their_values() {
        let q = ListQuery::new(Dialect::Postgres, "jobs", "id", "p")
            .one_of("latest_status", &[8, 10])
            .containing("name", Some("Ab"))
            .equal("workspace_id", None)
            .sort("COALESCE(end_time, ?)", vec![Arg::Int(5)], true);
        let (page, args) = q.page(20, 10);
        assert_eq!(
            page,
            "SELECT id FROM jobs WHERE project_id = $1 AND deleted = 0 AND latest_status IN ($2,$3) \
             AND strpos(lower(name), lower($4)) > 0 ORDER BY COALESCE(end_time, $5) DESC, id DESC LIMIT $6 OFFSET $7"
        );
        assert_eq!(
            args,
            vec![
                Arg::Text("p".into()),
                Arg::Int(8),
                Arg::Int(10),
                Arg::Text("Ab".into()),
                Arg::Int(5),
                Arg::Int(10),
                Arg::Int(20)
            ]
        );
        let (count, args) = q.count();
        assert!(
            count.ends_with("strpos(lower(name), lower($4)) > 0"),
            "{count}"
        );
        assert_eq!(args.len(), 4);
        assert!(q.filtered());
    }
}
