//! Reading a worker log as it grows, resuming exactly where a broken connection left off.

use crate::error::{Error, Result};
use crate::Client;
use bytes::Bytes;
use std::time::Duration;
use trainyard_api::extensions::STREAM_OFFSET_PARAM;

/// Consecutive failed (re)connections after which [`LogFollower::next_chunk`] gives up.
const DEFAULT_RETRIES: u32 = 8;

/// A worker log streamed from the server from a byte offset on.
///
/// The follower counts the bytes it has handed out; when the connection breaks it reconnects
/// from that offset, so nothing is lost or repeated. It ends (`Ok(None)`) when the server
/// ends the stream: for a followed log, once the version is terminal and the log fully sent.
///
/// ```no_run
/// # async fn demo(client: trainyard_client::Client) -> trainyard_client::Result<()> {
/// let mut log = client.follow_log(1, 1, "demo.0", 0);
/// while let Some(chunk) = log.next_chunk().await? {
///     print!("{}", String::from_utf8_lossy(&chunk));
/// }
/// println!("read {} bytes", log.offset());
/// # Ok(()) }
/// ```
pub struct LogFollower {
    client: Client,
    path: String,
    log_file: String,
    offset: u64,
    follow: bool,
    response: Option<reqwest::Response>,
    retries: u32,
    reconnects: u64,
    done: bool,
}

impl LogFollower {
    pub(crate) fn new(
        client: Client,
        job_id: i64,
        version_id: i64,
        log_file: &str,
        offset: u64,
        follow: bool,
    ) -> Self {
        Self {
            client,
            path: format!("/training-jobs/{job_id}/versions/{version_id}/log/stream"),
            log_file: log_file.to_owned(),
            offset,
            follow,
            response: None,
            retries: DEFAULT_RETRIES,
            reconnects: 0,
            done: false,
        }
    }

    /// Sets how many consecutive failed reconnections are tolerated (default 8, with
    /// backoff from 100 ms up to 2 s between them).
    pub fn with_retries(mut self, retries: u32) -> Self {
        self.retries = retries;
        self
    }

    /// Byte offset of the next byte to come: where a new follower would resume.
    pub fn offset(&self) -> u64 {
        self.offset
    }

    /// How many times the stream was reopened after a broken connection.
    pub fn reconnects(&self) -> u64 {
        self.reconnects
    }

    /// The log file this follower reads.
    pub fn log_file(&self) -> &str {
        &self.log_file
    }

    async fn open(&self) -> Result<reqwest::Response> {
        let req = self
            .client
            .request(reqwest::Method::GET, &self.path)
            .query(&[
                ("log_file", self.log_file.as_str()),
                ("follow", if self.follow { "true" } else { "false" }),
            ])
            .query(&[(STREAM_OFFSET_PARAM, self.offset)]);
        self.client.send_raw(req).await
    }

    /// The next bytes of the log, `None` at its end. API errors (unknown version or log
    /// file...) are returned as they are; transport errors only after the retries are spent.
    pub async fn next_chunk(&mut self) -> Result<Option<Bytes>> {
        let mut failures = 0u32;
        loop {
            if self.done {
                return Ok(None);
            }
            let err = match self.response.as_mut() {
                None => match self.open().await {
                    Ok(resp) => {
                        self.response = Some(resp);
                        continue;
                    }
                    Err(e) => e,
                },
                Some(resp) => match resp.chunk().await {
                    Ok(Some(bytes)) if bytes.is_empty() => continue,
                    Ok(Some(bytes)) => {
                        self.offset += bytes.len() as u64;
                        return Ok(Some(bytes));
                    }
                    Ok(None) => {
                        self.done = true;
                        self.response = None;
                        return Ok(None);
                    }
                    Err(e) => Error::Transport(e),
                },
            };
            if !err.is_unreachable() {
                return Err(err);
            }
            self.response = None;
            failures += 1;
            if failures > self.retries {
                return Err(err);
            }
            self.reconnects += 1;
            let backoff =
                Duration::from_millis(100u64 << failures.min(5)).min(Duration::from_secs(2));
            tokio::time::sleep(backoff).await;
        }
    }
}
