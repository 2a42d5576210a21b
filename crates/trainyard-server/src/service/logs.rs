//! Training logs: file names (TJ-10) and paging by line (TJ-12).

use crate::error::{ApiError, ApiResult};
use crate::service::launch::logs_dir;
use crate::service::query::Params;
use crate::service::Service;
use std::path::{Path, PathBuf};
use trainyard_api::lenient::parse_i64;
use trainyard_api::training::AomLogResponse;
use trainyard_exec::logs::Order;

/// The worker log files of a run, by worker index.
fn log_files(run_dir: &Path, job_name: &str) -> Vec<(String, PathBuf)> {
    let prefix = format!("{job_name}.");
    let mut files: Vec<(usize, String, PathBuf)> = std::fs::read_dir(logs_dir(run_dir))
        .map(|rd| {
            rd.flatten()
                .filter_map(|e| {
                    let name = e.file_name().to_str()?.to_owned();
                    let index = name.strip_prefix(&prefix)?.parse::<usize>().ok()?;
                    Some((index, name, e.path()))
                })
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files.into_iter().map(|(_, n, p)| (n, p)).collect()
}

/// The log of the run's supervisor (`shim.log` in the run folder: object-store transfers and
/// their retries, the container runtime's failures, how each worker ended), when it has one.
/// Readable as a log file by this name; listed by TJ-10 only when asked (`shim_log=true`), so
/// that the list stays one file per worker, as ModelArts clients expect.
fn shim_log(run_dir: &Path) -> Option<PathBuf> {
    let path = trainyard_exec::run_dir::file(run_dir, trainyard_exec::run_dir::SHIM_LOG);
    path.is_file().then_some(path)
}

impl Service {
    /// Lists a version's log file names (TJ-10); with `shim_log`, the supervisor's log
    /// (`shim.log`) after the workers' when the run has one.
    pub async fn log_file_names(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
        with_shim_log: bool,
    ) -> ApiResult<Vec<String>> {
        let (job, v) = self.job_and_version(project, job_id, version_id).await?;
        let run_dir = Path::new(&v.run_dir);
        // The current attempt's, then the earlier attempts' (`attempt-<n>/<job>.<index>`).
        let mut names: Vec<String> = log_files(run_dir, &job.name)
            .into_iter()
            .chain(crate::service::attempts::earlier_logs(run_dir, &job.name))
            .map(|(n, _)| n)
            .collect();
        if with_shim_log && shim_log(run_dir).is_some() {
            names.push(trainyard_exec::run_dir::SHIM_LOG.to_owned());
        }
        Ok(names)
    }

    /// Pages a worker log by line (TJ-12); with `start_byte`/`offset` and no `base_line`/`lines`, a
    /// byte window.
    pub async fn read_log(
        &self,
        project: &str,
        job_id: i64,
        version_id: i64,
        q: &Params,
    ) -> ApiResult<AomLogResponse> {
        let (job, v) = self.job_and_version(project, job_id, version_id).await?;
        let name = q
            .get("log_file")
            .ok_or_else(|| ApiError::required("log_file"))?;
        let mut files = log_files(Path::new(&v.run_dir), &job.name);
        files.extend(crate::service::attempts::earlier_logs(
            Path::new(&v.run_dir),
            &job.name,
        ));
        let shim =
            shim_log(Path::new(&v.run_dir)).filter(|_| name == trainyard_exec::run_dir::SHIM_LOG);
        let path = match files.into_iter().find(|(n, _)| n == name) {
            Some((_, p)) => p,
            None if shim.is_some() => shim.unwrap_or_default(),
            None if name
                .strip_prefix(&format!("{}.", job.name))
                .and_then(|i| i.parse::<i64>().ok())
                .is_some_and(|i| i >= 0 && i < v.config.worker_server_num.unwrap_or(1)) =>
            {
                return Err(ApiError::LogFileNotGenerated)
            }
            None => return Err(ApiError::param(format!("log_file:{name} is not existed"))),
        };
        let byte_mode = (q.get("start_byte").is_some() || q.get("offset").is_some())
            && q.get("base_line").is_none()
            && q.get("lines").is_none();
        if byte_mode {
            let start = q.int("start_byte", 0, -1, i64::MAX)?;
            let offset = q.int("offset", 2048, -2048, 2048)?;
            let text = tokio::task::spawn_blocking(move || {
                trainyard_exec::logs::read_bytes(&path, start, offset)
            })
            .await
            .map_err(ApiError::internal)?
            .map_err(ApiError::internal)?;
            let lines = text.lines().count() as i64;
            return Ok(AomLogResponse {
                is_success: true,
                content: text,
                lines,
                start_line: start.to_string(),
                end_line: start.to_string(),
            });
        }
        let lines = q.int("lines", 50, 0, 500)? as usize;
        let base =
            match q.get("base_line") {
                None => None,
                Some(t) => Some(parse_i64(t).filter(|n| *n >= 0).ok_or_else(|| {
                    ApiError::param(format!("base_line:{t} is not a position token"))
                })? as u64),
            };
        let order = match q.get("order").map(str::to_ascii_lowercase).as_deref() {
            None | Some("desc") => Order::Desc,
            Some("asc") => Order::Asc,
            Some(other) => {
                return Err(ApiError::param(format!(
                    "order:{other} must be asc or desc"
                )))
            }
        };
        let page = tokio::task::spawn_blocking(move || {
            trainyard_exec::logs::read_page(&path, base, lines, order)
        })
        .await
        .map_err(ApiError::internal)?
        .map_err(ApiError::internal)?;
        Ok(AomLogResponse {
            is_success: true,
            content: page.content,
            lines: page.lines as i64,
            start_line: page.start_line.to_string(),
            end_line: page.end_line.to_string(),
        })
    }
}

/// Largest chunk a log stream sends at once.
const STREAM_CHUNK: usize = 64 * 1024;

/// The bytes of one worker log from an offset on (trainyard extension): with `follow`, the
/// stream waits for the file to grow and ends once the version is terminal and everything
/// is sent; without, it ends at the current end of the file. Each open stream takes one of
/// the project's `[logs] max_streams_per_project` slots until it ends or its client goes.
pub async fn log_stream(
    svc: std::sync::Arc<Service>,
    project: &str,
    job_id: i64,
    version_id: i64,
    name: &str,
    offset: u64,
    follow: bool,
) -> ApiResult<impl futures_util::Stream<Item = std::io::Result<bytes::Bytes>> + Send + 'static> {
    let (job, v) = svc.job_and_version(project, job_id, version_id).await?;
    let is_worker = name
        .strip_prefix(&format!("{}.", job.name))
        .and_then(|i| i.parse::<i64>().ok())
        .is_some_and(|i| i >= 0 && i < v.config.worker_server_num.unwrap_or(1).max(1));
    let earlier = crate::service::attempts::earlier_logs(Path::new(&v.run_dir), &job.name)
        .into_iter()
        .find(|(n, _)| n == name);
    let path = match shim_log(Path::new(&v.run_dir)) {
        _ if is_worker => logs_dir(Path::new(&v.run_dir)).join(name),
        _ if earlier.is_some() => earlier.map(|(_, p)| p).unwrap_or_default(),
        Some(shim) if name == trainyard_exec::run_dir::SHIM_LOG => shim,
        _ => return Err(ApiError::param(format!("log_file:{name} is not existed"))),
    };
    // A resuming client sends the count of bytes it already has; a larger offset is a bad
    // request, refused before any byte of a 200 is sent.
    let len = tokio::fs::metadata(&path)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    if offset > len {
        return Err(ApiError::param(format!(
            "offset:{offset} is past the end of {name} ({len} bytes)"
        )));
    }
    let sub = svc
        .followers
        .open(project, v.id, path.clone())
        .map_err(|e| ApiError::TooManyStreams(e.0))?;
    // Subscribed first, then looked: an end recorded in between is in `sub.ended`.
    let ending = !follow
        || v.status.is_terminal()
        || svc
            .job_and_version(project, job_id, version_id)
            .await
            .map_or(true, |(_, v)| v.status.is_terminal());
    let tail = Tail {
        sub,
        path,
        offset,
        file: None,
        ending,
    };
    Ok(futures_util::stream::unfold(tail, |mut tail| async move {
        match tail.next_chunk().await {
            Ok(Some(bytes)) => Some((Ok(bytes), tail)),
            Ok(None) => None,
            Err(e) => {
                tail.file = None;
                tail.path = PathBuf::new();
                Some((Err(e), tail))
            }
        }
    }))
}

/// State of one log stream.
struct Tail {
    /// Its slot, and what wakes it: a change of the file, the end of the version.
    sub: crate::service::follow::Subscription,
    path: PathBuf,
    offset: u64,
    file: Option<std::fs::File>,
    /// The version is terminal (or not followed): what the file holds now is all there is.
    ending: bool,
}

impl Tail {
    /// Waits until the file may have changed or the version ended.
    async fn wait(&mut self) {
        tokio::select! {
            _ = self.sub.changed.changed() => {}
            _ = self.sub.ended.changed() => {}
        }
    }

    /// Reads directly, not through `tokio::fs`: an `fstat` and one `pread` of at most
    /// [`STREAM_CHUNK`] bytes of a log being written (in the page cache) take microseconds,
    /// while a trip through the blocking pool per follower per change is what hundreds of
    /// followers of one log would cost (and a 64 KiB buffer zeroed for each of them).
    async fn next_chunk(&mut self) -> std::io::Result<Option<bytes::Bytes>> {
        use std::os::unix::fs::FileExt;
        if self.path.as_os_str().is_empty() {
            return Ok(None);
        }
        loop {
            // Seen before looking: a change after this look wakes the wait below.
            self.sub.changed.borrow_and_update();
            if *self.sub.ended.borrow_and_update() && !self.ending {
                // Terminal means every worker has exited: one more look after seeing it
                // gets whatever was written before, then the stream ends.
                self.ending = true;
            }
            if self.file.is_none() {
                match std::fs::File::open(&self.path) {
                    Ok(f) => self.file = Some(f),
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                        if self.ending {
                            return Ok(None);
                        }
                        self.wait().await;
                        continue;
                    }
                    Err(e) => return Err(e),
                }
            }
            let file = self.file.as_ref().expect("opened above");
            let len = file.metadata()?.len();
            if len > self.offset {
                let want = ((len - self.offset) as usize).min(STREAM_CHUNK);
                let mut buf = vec![0u8; want];
                let n = file.read_at(&mut buf, self.offset)?;
                if n > 0 {
                    buf.truncate(n);
                    self.offset += n as u64;
                    return Ok(Some(bytes::Bytes::from(buf)));
                }
            }
            if self.replaced(file) {
                // A next attempt of the run (retries) writes a new file under this name; the
                // earlier one was moved aside whole: go on with the new one from its start.
                self.file = None;
                self.offset = 0;
                continue;
            }
            if self.ending {
                return Ok(None);
            }
            self.wait().await;
        }
    }

    /// Whether the path now names another file than the one this stream reads.
    fn replaced(&self, file: &std::fs::File) -> bool {
        use std::os::unix::fs::MetadataExt;
        match (std::fs::metadata(&self.path), file.metadata()) {
            (Ok(now), Ok(open)) => (now.dev(), now.ino()) != (open.dev(), open.ino()),
            _ => false,
        }
    }
}
