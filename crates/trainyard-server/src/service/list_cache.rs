//! Pages of the training job list (TJ-02) kept in memory while nothing is committed.
//!
//! Why: a list page's query costs more than the rest of its request (on SQLite the hop to
//! sqlx's worker thread and back, the statement, one copy per column of each row; on
//! PostgreSQL a round trip and a statement), and the same pages are asked for again and
//! again while nothing is written. Each kept page carries the store's mark of the committed
//! state ([`Store::committed`]: moved on by every commit, of any code path, by any server
//! sharing the database) taken before it was read, and is served again only when a mark
//! taken after the request arrived is equal: so a create, delete, status change or any other
//! write, through this server or another replica, is on the next list call. Where the store
//! cannot tell (an SQLite commit in flight, a database that did not answer) the page is read.
//!
//! A mark is taken only for a page that is kept (on PostgreSQL it costs a round trip, shared
//! by the requests waiting together): a page's first read keeps it with no mark, the next
//! read gives it one.
//!
//! Only the stored rows are kept: what changes without a write (a running job's duration,
//! the queue's reasons) is computed per request from them. The live-duration sort is never
//! kept, since its order moves with the clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use trainyard_store::{Committed, Job, JobFilter, JobSort, Page, Store};

/// Most rows kept over all pages (each a few hundred bytes). A full cache is emptied: a miss
/// only costs a query.
const CAPACITY_ROWS: usize = 20_000;

/// A page's project and filter (the clock left out: it only orders the duration sort).
type Key = (String, JobFilter);

/// Kept list pages, by project and filter.
#[derive(Default)]
pub struct ListCache {
    kept: Mutex<Kept>,
}

/// The kept pages and how many rows they hold.
#[derive(Default)]
struct Kept {
    rows: usize,
    pages: HashMap<Key, KeptPage>,
}

/// One page and the store's mark taken before it was read.
struct KeptPage {
    seen: Option<Committed>,
    page: Arc<Page<Job>>,
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
        if f.sort == JobSort::Duration {
            return Ok(Arc::new(store.list_jobs(project, f).await?));
        }
        let key = (
            project.to_owned(),
            JobFilter {
                now: 0,
                ..f.clone()
            },
        );
        let held = self.lock().pages.contains_key(&key);
        // Taken after the request arrived and before the page is read: a commit after it
        // changes it.
        let seen = if held { store.committed().await } else { None };
        if let Some(now) = &seen {
            if let Some(k) = self.lock().pages.get(&key) {
                if k.seen.as_ref() == Some(now) {
                    return Ok(k.page.clone());
                }
            }
        }
        let page = Arc::new(store.list_jobs(project, f).await?);
        let mut kept = self.lock();
        if kept.rows + page.rows.len() > CAPACITY_ROWS {
            kept.pages.clear();
            kept.rows = 0;
        }
        kept.rows += page.rows.len();
        let page_kept = KeptPage {
            seen,
            page: page.clone(),
        };
        if let Some(old) = kept.pages.insert(key, page_kept) {
            kept.rows -= old.page.rows.len();
        }
        Ok(page)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Kept> {
        self.kept.lock().expect("list cache lock")
    }
}
