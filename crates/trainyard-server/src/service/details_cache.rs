//! The serialized details (TJ-03) of ended versions, reused while their stored rows stay the
//! same.
//!
//! Why: building a version's details reads the run's samples and model metrics from its run
//! directory (a hop to a blocking thread) and serializes a few KB of JSON, most of a details
//! request's time; an ended run's files no longer change. The stored rows are still read on
//! every request — they are the record, and another server on the same PostgreSQL database may
//! have changed them — and a kept body is served only when the job and version rows just read
//! are equal to the ones it was built from. So a deleted version (no row), a changed
//! description, status, priority or tag, and another project's request (its query finds no
//! row) never get a kept body.
//!
//! Where the store can tell that nothing was committed since a body's rows were read
//! (`Store::committed`: SQLite, whose every commit passes through this server), the body is
//! served without reading the rows again: it carries the generation taken before they were
//! read, and is served while the store still reports that generation, to the project and job
//! it was built for. PostgreSQL reports none, so its rows are read on every request.

use bytes::Bytes;
use std::collections::HashMap;
use std::sync::Mutex;
use trainyard_api::JobStatus;
use trainyard_store::{Job, Version};

/// Most bodies kept (a few KB each). A full cache is emptied: a miss only costs a rebuild.
const CAPACITY: usize = 2048;

/// Kept bodies by version id.
#[derive(Default)]
pub struct DetailsCache {
    kept: Mutex<HashMap<i64, Kept>>,
}

/// One body, the rows it was built from, and the store's generation they were read under.
struct Kept {
    job: Job,
    version: Version,
    body: Bytes,
    generation: Option<u64>,
}

impl DetailsCache {
    /// The body of version `version_id` of job `job_id` in `project`, if it was kept under
    /// `generation` (the store's now: nothing committed since its rows were read).
    pub fn fresh(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
        generation: u64,
    ) -> Option<Bytes> {
        let kept = self.kept.lock().expect("details cache lock");
        let k = kept.get(&version_id)?;
        (k.generation == Some(generation)
            && k.job.id == job_id
            && k.job.project_id == project
            && k.version.project_id == project)
            .then(|| k.body.clone())
    }

    /// The body built from exactly these rows, if kept; it is then current as of `generation`
    /// (taken before the rows were read).
    pub fn get(&self, job: &Job, version: &Version, generation: Option<u64>) -> Option<Bytes> {
        let mut kept = self.kept.lock().expect("details cache lock");
        let k = kept.get_mut(&version.id)?;
        if k.version != *version || k.job != *job {
            return None;
        }
        k.generation = generation;
        Some(k.body.clone())
    }

    /// Keeps the body built from `job` and `version` (read under the store's `generation`)
    /// when nothing but these rows can change it: the run has ended (its files are final) and
    /// its duration no longer grows with the clock.
    pub fn keep(&self, job: &Job, version: &Version, body: &Bytes, generation: Option<u64>) {
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
                generation,
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
    fn a_body_is_served_unread_only_under_its_generation_to_its_project_and_job() {
        let cache = DetailsCache::default();
        let (job, version) = rows(JobStatus::COMPLETED);
        let body = Bytes::from_static(b"{}");
        cache.keep(&job, &version, &body, Some(7));
        assert_eq!(cache.fresh("p", 1, 2, 7), Some(body.clone()));
        assert_eq!(cache.fresh("p", 1, 2, 8), None, "a commit since");
        assert_eq!(cache.fresh("q", 1, 2, 7), None, "another project");
        assert_eq!(cache.fresh("p", 9, 2, 7), None, "another job");
        // Rows read again and found equal: served under the newer generation.
        assert_eq!(cache.get(&job, &version, Some(8)), Some(body.clone()));
        assert_eq!(cache.fresh("p", 1, 2, 8), Some(body));
        assert_eq!(cache.fresh("p", 1, 2, 7), None);
    }

    #[test]
    fn a_running_or_unfinished_version_is_not_kept() {
        let cache = DetailsCache::default();
        let (job, running) = rows(JobStatus::RUNNING);
        cache.keep(&job, &running, &Bytes::from_static(b"{}"), Some(1));
        assert_eq!(cache.get(&job, &running, Some(1)), None);
        assert_eq!(cache.fresh("p", 1, 2, 1), None);
        let (job, mut lost) = rows(JobStatus::LOST);
        lost.end_time = None;
        cache.keep(&job, &lost, &Bytes::from_static(b"{}"), None);
        assert_eq!(cache.get(&job, &lost, None), None);
    }
}
