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

/// The column of a page's rows that holds how many rows match the filter.
pub const TOTAL: &str = "list_total";

/// The column of a page's rows that holds how many live rows the project has.
pub const LIVE: &str = "list_live";

/// The list queries of TJ-02 and VJ-02: one project's live rows, filtered, sorted by a key
/// then id (so pages never overlap), one page of them, and the totals the answer carries
/// beside the page (how many match, how many the project has).
///
/// The totals ride on the page as scalar subqueries, so a page costs one round trip: on
/// PostgreSQL each statement is a round trip (and sqlx adds a ping per connection handed
/// back), and three of them made a list page cost twice a details request.
#[derive(Clone, Debug)]
pub struct ListQuery {
    dialect: Dialect,
    table: &'static str,
    columns: &'static str,
    filter: String,
    filter_args: Vec<Arg>,
    order: String,
    order_args: Vec<Arg>,
    totals: Vec<(&'static str, String, Vec<Arg>)>,
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
            totals: Vec::new(),
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

    /// Only rows where `condition` (SQL with `?` placeholders for `args`) holds.
    pub fn condition(mut self, condition: &str, args: Vec<Arg>) -> Self {
        self.filter.push_str(&format!(" AND ({condition})"));
        self.filter_args.extend(args);
        self
    }

    /// Sorted by `key` (an expression binding `key_args`), then by id, in one direction.
    pub fn sort(mut self, key: &str, key_args: Vec<Arg>, descending: bool) -> Self {
        let dir = if descending { "DESC" } else { "ASC" };
        self.order = format!("{key} {dir}, id {dir}");
        self.order_args = key_args;
        self
    }

    /// The count of the rows matching the filter, as a total's query (`?` placeholders) and
    /// its values.
    pub fn matching(&self) -> (String, Vec<Arg>) {
        (
            format!("SELECT count(*) FROM {} WHERE {}", self.table, self.filter),
            self.filter_args.clone(),
        )
    }

    /// Answers the page's two totals beside its rows, as the columns [`TOTAL`] and [`LIVE`]:
    /// `total` and `live` are single-integer queries (`?` placeholders) and their values.
    pub fn counting(mut self, total: (String, Vec<Arg>), live: (String, Vec<Arg>)) -> Self {
        for (name, (query, args)) in [(TOTAL, total), (LIVE, live)] {
            self.totals.push((name, query, args));
        }
        self
    }

    /// The page `offset..offset + limit`, each row with the totals as columns of their names:
    /// SQL in the engine's placeholders and its values.
    ///
    /// The limit is written into the SQL, and so is a first page's (absent) offset: PostgreSQL
    /// plans a prepared statement anew on every run unless its generic plan is as cheap, and
    /// with the limit a parameter it never is (it assumes a tenth of the table), so each page
    /// paid three times its run time in planning. A first page's statement with its numbers
    /// written in gets its generic plan after five runs; deeper pages keep the offset a
    /// parameter, so paging through does not prepare a statement per page.
    pub fn page(&self, offset: i64, limit: i64) -> (String, Vec<Arg>) {
        let mut args = Vec::new();
        let totals = self.total_columns(&mut args);
        let (table, columns, filter, order) = (self.table, self.columns, &self.filter, &self.order);
        args.extend(self.filter_args.iter().cloned());
        args.extend(self.order_args.iter().cloned());
        if offset == 0 {
            let sql = format!(
                "SELECT {columns}{totals} FROM {table} WHERE {filter} ORDER BY {order} LIMIT {limit}"
            );
            return (self.dialect.sql(&sql).into_owned(), args);
        }
        // A deeper page skips its offset over the ids alone, which the list indexes hold, and
        // reads whole rows for the page only: PostgreSQL otherwise fetches every skipped row
        // from the table (an index-only scan instead: 1.8x the requests/s at 100k jobs,
        // OFFSET 49,990; SQLite, which reads no column of a skipped row, is unchanged).
        let sql = format!(
            "SELECT {columns}{totals} FROM {table} WHERE id IN \
             (SELECT id FROM {table} WHERE {filter} ORDER BY {order} LIMIT {limit} OFFSET ?) \
             ORDER BY {order}"
        );
        args.push(Arg::Int(offset));
        args.extend(self.order_args.iter().cloned());
        (self.dialect.sql(&sql).into_owned(), args)
    }

    /// The totals alone, in one row: for a page with no row to carry them.
    pub fn totals(&self) -> (String, Vec<Arg>) {
        let mut args = Vec::new();
        let totals = self.total_columns(&mut args);
        let sql = format!("SELECT {}", totals.trim_start_matches(", "));
        (self.dialect.sql(&sql).into_owned(), args)
    }

    /// `, (query) AS name` for each total, collecting their values.
    fn total_columns(&self, args: &mut Vec<Arg>) -> String {
        let mut out = String::new();
        for (name, query, values) in &self.totals {
            out.push_str(&format!(", ({query}) AS {name}"));
            args.extend(values.iter().cloned());
        }
        out
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
    fn one_builder_gives_the_page_with_its_totals_and_their_values() {
        let base = ListQuery::new(Dialect::Postgres, "jobs", "id", "p")
            .one_of("latest_status", &[8, 10])
            .containing("name", Some("Ab"))
            .equal("workspace_id", None)
            .sort("COALESCE(end_time, ?)", vec![Arg::Int(5)], true);
        let matching = base.matching();
        let q = base.counting(
            matching,
            (
                "SELECT n FROM counts WHERE project_id = ?".into(),
                vec![Arg::Text("p".into())],
            ),
        );
        let (page, args) = q.page(20, 10);
        assert_eq!(
            page,
            "SELECT id, (SELECT count(*) FROM jobs WHERE project_id = $1 AND deleted = 0 \
             AND latest_status IN ($2,$3) AND strpos(lower(name), lower($4)) > 0) AS list_total, \
             (SELECT n FROM counts WHERE project_id = $5) AS list_live \
             FROM jobs WHERE id IN (SELECT id FROM jobs WHERE project_id = $6 AND deleted = 0 \
             AND latest_status IN ($7,$8) AND strpos(lower(name), lower($9)) > 0 \
             ORDER BY COALESCE(end_time, $10) DESC, id DESC LIMIT 10 OFFSET $11) \
             ORDER BY COALESCE(end_time, $12) DESC, id DESC"
        );
        let filter = [
            Arg::Text("p".into()),
            Arg::Int(8),
            Arg::Int(10),
            Arg::Text("Ab".into()),
        ];
        let mut want = filter.to_vec();
        want.push(Arg::Text("p".into()));
        want.extend(filter.iter().cloned());
        want.extend([Arg::Int(5), Arg::Int(20), Arg::Int(5)]);
        assert_eq!(args, want);
        let (first, first_args) = q.page(0, 10);
        assert!(first.ends_with("DESC LIMIT 10"), "{first}");
        assert!(!first.contains("id IN"), "{first}");
        assert_eq!(first_args.len(), want.len() - 2);
        let (totals, args) = q.totals();
        assert!(
            totals.starts_with("SELECT (SELECT count(*) FROM jobs"),
            "{totals}"
        );
        assert!(totals.ends_with("AS list_live"), "{totals}");
        assert_eq!(args.len(), 5);
    }
}
