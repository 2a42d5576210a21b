//! Waiting on real conditions (a status, a log line), polled with a deadline; never a bare
//! sleep.

use super::api::Api;
use std::time::{Duration, Instant};
use trainyard_api::JobStatus;

impl Api {
    /// Polls until the version reaches one of `wanted`, with a deadline.
    pub async fn wait_status(
        &self,
        job: i64,
        version: i64,
        wanted: &[JobStatus],
        within: Duration,
    ) -> JobStatus {
        let deadline = Instant::now() + within;
        loop {
            let s = self.status(job, version).await;
            if wanted.contains(&s) {
                return s;
            }
            assert!(
                Instant::now() < deadline,
                "version {job}/{version} stuck in {}, wanted {wanted:?}",
                s.name()
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }

    /// Waits until the version ends (a terminal status, within `within`) and reads worker
    /// log `file`: `(status, log)`.
    pub async fn run_to_end(
        &self,
        job: i64,
        version: i64,
        file: &str,
        within: Duration,
    ) -> (JobStatus, String) {
        let end = self
            .wait_status(job, version, JobStatus::TERMINAL, within)
            .await;
        (end, self.log(job, version, file).await)
    }

    /// Polls a worker's log until it contains `needle`, with a deadline.
    pub async fn wait_log(&self, job: i64, version: i64, file: &str, needle: &str) {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            let path = format!(
                "/training-jobs/{job}/versions/{version}/aom-log?log_file={file}&lines=500"
            );
            let r = self.get(&path).await;
            if r.status == 200
                && r.body["content"]
                    .as_str()
                    .is_some_and(|c| c.contains(needle))
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "{file} never showed {needle:?}: {}",
                r.body
            );
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
    }
}

/// Waits (up to 20 s) until the server at `base` (`http://host:port`) answers `/health`.
pub async fn wait_healthy(base: &str) {
    let http = reqwest::Client::new();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !http
        .get(format!("{base}/health"))
        .send()
        .await
        .is_ok_and(|r| r.status().is_success())
    {
        assert!(
            Instant::now() < deadline,
            "server at {base} did not come up"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
