//! The serialized details (TJ-03) of ended versions, reused while their stored rows stay the
//! same.
//!
//! Why: building a version's details reads the run's samples and model metrics from its run
//! directory (a hop to a blocking thread) and serializes a few KB of JSON, most of a details
//! request's time; an ended run's files no longer change. A kept body is served in two ways:
//! - **Unread**, while nothing was committed since its rows were read: it carries the store's
//!   mark of the committed state ([`Store::committed`]) taken before they were read, and is
//!   served, to the project and job it was built for, when a mark taken after the request
//!   arrived is equal. SQLite counts its own commits (no database access); PostgreSQL, which
//!   other servers write unseen, compares snapshots of the cluster (one round trip shared by
//!   the requests waiting together), so a change any replica acknowledged before the request
//!   arrived is always seen.
//! - **Read**, when the mark differs (or the store cannot tell): the rows are read again and
//!   the body served if they are equal to the ones it was built from; it then carries the new
//!   mark. So a deleted version (no row), a changed description, status, priority or tag, and
//!   another project's request (its query finds no row) never get a kept body.
//!
//! A mark is taken only for a version whose body is kept (on PostgreSQL it costs a round
//! trip): the first read of an ended version keeps its body with no mark, the next one reads
//! the rows again and gives it one.
//!
//! [`Store::committed`]: trainyard_store::Store::committed

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use trainyard_api::JobStatus;
use trainyard_store::{Committed, Job, Version};

/// Most bodies kept (a few KB each). A full cache is emptied: a miss only costs a rebuild.
const CAPACITY: usize = 2048;

/// Kept bodies by version id.
#[derive(Default)]
pub struct DetailsCache {
    kept: Mutex<HashMap<i64, Kept>>,
}

/// One body, the rows it was built from, and the store's mark taken before they were read.
struct Kept {
    job: Job,
    version: Version,
    body: Bytes,
    seen: Option<Committed>,
}

impl DetailsCache {
    /// Whether a body of version `version_id` is kept (then a mark is worth taking).
    pub fn holds(&self, version_id: i64) -> bool {
        self.kept
            .lock()
            .expect("details cache lock")
            .contains_key(&version_id)
    }

    /// The body of version `version_id` of job `job_id` in `project`, if it was kept with the
    /// mark `now` (taken after the request arrived: nothing committed since its rows were read).
    pub fn fresh(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
        now: &Committed,
    ) -> Option<Bytes> {
        let kept = self.kept.lock().expect("details cache lock");
        let k = kept.get(&version_id)?;
        (k.seen.as_ref() == Some(now)
            && k.job.id == job_id
            && k.job.project_id == project
            && k.version.project_id == project)
            .then(|| k.body.clone())
    }

    /// The body built from exactly these rows, if kept; it then carries `seen` (the mark taken
    /// before the rows were read).
    pub fn get(&self, job: &Job, version: &Version, seen: Option<Committed>) -> Option<Bytes> {
        let mut kept = self.kept.lock().expect("details cache lock");
        let k = kept.get_mut(&version.id)?;
        if k.version != *version || k.job != *job {
            return None;
        }
        k.seen = seen;
        Some(k.body.clone())
    }

    /// Keeps the body built from `job` and `version` (read after the store's mark `seen`
    /// was taken) when nothing but these rows can change it: the run has ended (its files
    /// are final) and its duration no longer grows with the clock.
    pub fn keep(&self, job: &Job, version: &Version, body: &Bytes, seen: Option<Committed>) {
        if !Self::cacheable(version) {
            return;
        }
        let mut kept = self.kept.lock().expect("details cache lock");
        if kept.len() >= CAPACITY && !kept.contains_key(&version.id) {
            kept.clear();
        }
        kept.insert(
            version.id,
            Kept {
                job: job.clone(),
                version: version.clone(),
                body: body.clone(),
                seen,
            },
        );
    }

    /// An ended run (status 0 excepted: it is not a known end) with a fixed duration.
    fn cacheable(v: &Version) -> bool {
        v.status != JobStatus::UNKNOWN
            && v.status.is_terminal()
            && (v.end_time.is_some() || v.start_time.is_none())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use trainyard_api::training::JobConfig;
    use trainyard_store::testing::committed_mark as mark;

    fn rows(status: JobStatus) -> (Job, Version) {
        let job = Job {
            id: 1,
            project_id: "p".into(),
            name: "j".into(),
            description: "d".into(),
            workspace_id: "0".into(),
            create_time: 1,
            latest_version_id: Some(2),
            latest_status: status.code(),
            latest_start_time: Some(10),
            latest_end_time: Some(20),
            version_count: 1,
        };
        let version = Version {
            id: 2,
            job_id: 1,
            project_id: "p".into(),
            name: "V0001".into(),
            description: String::new(),
            pre_version_id: None,
            status,
            config: JobConfig::default(),
            resource_id: "r".into(),
            run_dir: "/nonexistent".into(),
            create_time: 1,
            start_time: Some(10),
            end_time: Some(20),
            handle: None,
            stop_grace: None,
            failure_reason: None,
            deleted: false,
            attempt: 1,
            retry_at: None,
            retry_consecutive_any: 0,
            created_by: "token".into(),
            attempt_start_time: Some(10),
            attempt_queue_time: None,
        };
        (job, version)
    }

    #[test]
    fn a_kept_body_is_served_only_for_the_same_rows() {
        let cache = DetailsCache::default();
        let (job, version) = rows(JobStatus::COMPLETED);
        let body = Bytes::from_static(b"{}");
        cache.keep(&job, &version, &body, None);
        assert_eq!(cache.get(&job, &version, None), Some(body));
        let mut described = job.clone();
        described.description = "changed".into();
        assert_eq!(cache.get(&described, &version, None), None);
        let mut other_project = version.clone();
        other_project.project_id = "q".into();
        assert_eq!(cache.get(&job, &other_project, None), None);
    }

    #[test]
    fn a_body_is_served_unread_only_under_its_mark_to_its_project_and_job() {
        let cache = DetailsCache::default();
        let (job, version) = rows(JobStatus::COMPLETED);
        let body = Bytes::from_static(b"{}");
        assert!(!cache.holds(2));
        cache.keep(&job, &version, &body, Some(mark(7)));
        assert!(cache.holds(2));
        assert_eq!(cache.fresh("p", 1, 2, &mark(7)), Some(body.clone()));
        assert_eq!(cache.fresh("p", 1, 2, &mark(8)), None, "a commit since");
        assert_eq!(cache.fresh("q", 1, 2, &mark(7)), None, "another project");
        assert_eq!(cache.fresh("p", 9, 2, &mark(7)), None, "another job");
        // Rows read again and found equal: served under the newer mark.
        assert_eq!(cache.get(&job, &version, Some(mark(8))), Some(body.clone()));
        assert_eq!(cache.fresh("p", 1, 2, &mark(8)), Some(body.clone()));
        assert_eq!(cache.fresh("p", 1, 2, &mark(7)), None);
        // Kept without a mark (the first read): served only after its rows are read again.
        cache.keep(&job, &version, &body, None);
        assert_eq!(cache.fresh("p", 1, 2, &mark(8)), None);
    }

    #[test]
    fn a_running_or_unfinished_version_is_not_kept() {
        let cache = DetailsCache::default();
        let (job, running) = rows(JobStatus::RUNNING);
        cache.keep(&job, &running, &Bytes::from_static(b"{}"), Some(mark(1)));
        assert_eq!(cache.get(&job, &running, Some(mark(1))), None);
        assert_eq!(cache.fresh("p", 1, 2, &mark(1)), None);
        let (job, mut lost) = rows(JobStatus::LOST);
        lost.end_time = None;
        cache.keep(&job, &lost, &Bytes::from_static(b"{}"), None);
        assert_eq!(cache.get(&job, &lost, None), None);
    }
}
