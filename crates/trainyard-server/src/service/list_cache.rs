//! Pages of the training job list (TJ-02) kept in memory until the database's next commit.
//!
//! Why: on SQLite a list page's query costs more than the rest of its request (the hop to
//! sqlx's worker thread and back, the statement, one copy per column of each row), and the
//! same pages are asked for again and again while nothing is written. The store tells the
//! generation of its committed state ([`Store::committed`], moved on by every commit of any
//! code path); a page read after it was `g` is served again only while it is still `g`, so a
//! create, delete, status change or any other write is on the next list call. Where the store
//! cannot tell (a commit in flight; PostgreSQL, which other servers may write) nothing is kept.
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

/// The pages read at one generation of the committed state.
#[derive(Default)]
struct Kept {
    generation: u64,
    rows: usize,
    pages: HashMap<(String, JobFilter), Arc<Page<Job>>>,
}

impl Kept {
    /// Moves on to `generation` (never back), dropping the pages of an older one; whether the
    /// kept pages are of `generation`.
    fn at(&mut self, generation: u64) -> bool {
        if generation > self.generation {
            self.pages.clear();
            self.rows = 0;
            self.generation = generation;
        }
        generation == self.generation
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
        // Taken before the query: the page then holds every commit up to generation `before`.
        let Some(before) = store.committed().filter(|_| f.sort != JobSort::Duration) else {
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
