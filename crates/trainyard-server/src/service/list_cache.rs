//! Pages of the training job list (TJ-02) kept in memory until the database's next commit.
//!
//! Why: on SQLite a list page's query costs more than the rest of its request (the hop to
//! sqlx's worker thread and back, the statement, one copy per column of each row), and the
//! same pages are asked for again and again while nothing is written. The store counts its
//! commits as each becomes visible ([`Store::commits`]); a page read after the count was `n`
//! is served again only while the count is still `n`, so a create, delete, status change or
//! any other write (by any code path) is on the next list call. Where the store cannot count
//! every commit (PostgreSQL, which other servers may write) nothing is kept.
//!
//! Only the stored rows are kept: what changes without a write (a running job's duration,
//! the queue's reasons) is computed per request from them. The live-duration sort is never
//! kept, since its order moves with the clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use trainyard_store::{Job, JobFilter, JobSort, Page, Store};

/// Most rows kept over all pages (each a few hundred bytes). A full cache is emptied: a miss
/// only costs a query.
const CAPACITY_ROWS: usize = 20_000;

/// Kept list pages, by project and filter.
#[derive(Default)]
pub struct ListCache {
    kept: Mutex<Kept>,
}

/// The pages read at one commit count.
#[derive(Default)]
struct Kept {
    commits: u64,
    rows: usize,
    pages: HashMap<(String, JobFilter), Arc<Page<Job>>>,
}

impl Kept {
    /// Moves on to `commits` (never back), dropping the pages of an older count; whether the
    /// kept pages are of `commits`.
    fn at(&mut self, commits: u64) -> bool {
        if commits > self.commits {
            self.pages.clear();
            self.rows = 0;
            self.commits = commits;
        }
        commits == self.commits
    }
}

impl ListCache {
    /// The page `f` of `project`'s jobs: a kept one while nothing has been committed since it
    /// was read, else from `store` (and kept).
    pub async fn jobs(
        &self,
        store: &dyn Store,
        project: &str,
        f: &JobFilter,
    ) -> trainyard_store::Result<Arc<Page<Job>>> {
        // Counted before the query: the page then holds every commit counted up to `before`.
        let Some(before) = store.commits().filter(|_| f.sort != JobSort::Duration) else {
            return Ok(Arc::new(store.list_jobs(project, f).await?));
        };
        // The clock only orders the duration sort, which is not kept.
        let key = (
            project.to_owned(),
            JobFilter {
                now: 0,
                ..f.clone()
            },
        );
        {
            let mut kept = self.kept.lock().expect("list cache lock");
            if kept.at(before) {
                if let Some(page) = kept.pages.get(&key) {
                    return Ok(page.clone());
                }
            }
        }
        let page = Arc::new(store.list_jobs(project, f).await?);
        let mut kept = self.kept.lock().expect("list cache lock");
        if kept.at(before) {
            if kept.rows + page.rows.len() > CAPACITY_ROWS {
                kept.pages.clear();
                kept.rows = 0;
            }
            kept.rows += page.rows.len();
            if let Some(old) = kept.pages.insert(key, page.clone()) {
                kept.rows -= old.rows.len();
            }
        }
        Ok(page)
    }
}
