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

/// One body and the rows it was built from.
struct Kept {
    job: Job,
    version: Version,
    body: Bytes,
}

impl DetailsCache {
    /// The body built from exactly these rows, if kept.
    pub fn get(&self, job: &Job, version: &Version) -> Option<Bytes> {
        let kept = self.kept.lock().expect("details cache lock");
        let k = kept.get(&version.id)?;
        (k.version == *version && k.job == *job).then(|| k.body.clone())
    }

    /// Keeps the body built from `job` and `version` when nothing but these rows can change
    /// it: the run has ended (its files are final) and its duration no longer grows with the
    /// clock.
    pub fn keep(&self, job: &Job, version: &Version, body: &Bytes) {
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
        cache.keep(&job, &version, &body);
        assert_eq!(cache.get(&job, &version), Some(body));
        let mut described = job.clone();
        described.description = "changed".into();
        assert_eq!(cache.get(&described, &version), None);
        let mut other_project = version.clone();
        other_project.project_id = "q".into();
        assert_eq!(cache.get(&job, &other_project), None);
    }

    #[test]
    fn a_running_or_unfinished_version_is_not_kept() {
        let cache = DetailsCache::default();
        let (job, running) = rows(JobStatus::RUNNING);
        cache.keep(&job, &running, &Bytes::from_static(b"{}"));
        assert_eq!(cache.get(&job, &running), None);
        let (job, mut lost) = rows(JobStatus::LOST);
        lost.end_time = None;
        cache.keep(&job, &lost, &Bytes::from_static(b"{}"));
        assert_eq!(cache.get(&job, &lost), None);
    }
}
