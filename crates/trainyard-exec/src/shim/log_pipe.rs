//! A worker's output through the shim, for runs with a log size cap (`RunSpec::log_limit`).
//!
//! Why a pipe and not `RLIMIT_FSIZE`: past that limit the kernel sends `SIGXFSZ`, which kills
//! the worker by default (one that ignores it gets `EFBIG` on every write, and most programs
//! die of that too), so a run that should only lose its surplus output would end; and the
//! limit would bind every file the worker writes (its checkpoints), not only its log. Here
//! the worker's stdout and stderr are the write end of a pipe; a thread of the shim copies
//! what comes out into the log file with a counter. Past the cap it writes the marker line
//! once and then reads and discards (the worker never blocks on a full pipe), or, with
//! `fail`, tells the supervisor, which stops the run. The log stays a plain file that only
//! grows, so the log readers and their index sidecars work on it as before. The shim runs in
//! its own session, so it goes on draining when the server is gone; the worker's exit, and
//! so the job's, is what it was. Runs without a cap keep the log file as stdout and stderr.

use std::fs::File;
use std::io::{self, Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use crate::LogLimit;

/// Largest read from the pipe.
const CHUNK: usize = 64 * 1024;
/// Reads per hold of the lock, so the shim's own lines never wait long behind a flood.
const READS_PER_HOLD: usize = 16;

/// The shim's side of one worker's log pipe. Cheap to clone.
#[derive(Clone)]
pub struct LogPipe {
    shared: Arc<Shared>,
}

struct Shared {
    /// Read end, non-blocking: read only with `state` locked, so bytes and the shim's own
    /// lines reach the log in the order they were written.
    pipe: File,
    state: Mutex<State>,
    limit: LogLimit,
    /// The cap was reached with `fail` set.
    hit: AtomicBool,
}

struct State {
    log: File,
    written: u64,
    /// The log's last byte is a line end (or the log is empty).
    at_line_start: bool,
    /// The marker is written: the worker's further output is discarded.
    cut: bool,
    /// Every writer closed the pipe.
    eof: bool,
    /// A write to the log failed (reported once).
    warned: bool,
    /// Read buffer, allocated once (not on the copier's small stack).
    buf: Vec<u8>,
}

/// Whether the pipe is drained for now or closed for good.
enum Drained {
    ForNow,
    Closed,
}

impl LogPipe {
    /// Opens `log` for appending and makes the pipe; returns the write end, to be the
    /// worker's stdout and stderr (the caller closes its copy once the worker is started).
    pub fn open(log: &Path, limit: LogLimit) -> io::Result<(Self, File)> {
        let mut file = crate::run_dir::open_log(log)?;
        let written = file.metadata()?.len();
        let at_line_start = written == 0 || last_byte(log)? == Some(b'\n');
        file.flush()?;
        let (read, write) = nix::unistd::pipe2(nix::fcntl::OFlag::O_CLOEXEC)?;
        set_nonblocking(&read)?;
        let pipe = Self {
            shared: Arc::new(Shared {
                pipe: File::from(read),
                state: Mutex::new(State {
                    log: file,
                    written,
                    at_line_start,
                    cut: false,
                    eof: false,
                    warned: false,
                    buf: vec![0u8; CHUNK],
                }),
                limit,
                hit: AtomicBool::new(false),
            }),
        };
        Ok((pipe, File::from(write)))
    }

    /// Starts the thread that copies the pipe into the log until every writer has closed it.
    /// It inherits the shim's blocked signals, so they keep going to the supervisor.
    pub fn spawn_copier(&self) -> io::Result<()> {
        let me = self.clone();
        std::thread::Builder::new()
            .name("log-copier".to_owned())
            .stack_size(128 * 1024)
            .spawn(move || loop {
                let mut fds = libc::pollfd {
                    fd: me.shared.pipe.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                };
                // SAFETY: one valid pollfd, no timeout.
                let rc = unsafe { libc::poll(&mut fds, 1, -1) };
                if rc < 0 && io::Error::last_os_error().kind() != io::ErrorKind::Interrupted {
                    return;
                }
                if let Drained::Closed = me.drain() {
                    return;
                }
            })
            .map(drop)
    }

    /// True once the cap was reached on a run that fails then.
    pub fn limit_hit(&self) -> bool {
        self.shared.hit.load(Ordering::Acquire)
    }

    /// The cap.
    pub fn limit(&self) -> LogLimit {
        self.shared.limit
    }

    /// Appends a line of the shim's own (never cut), after what the worker wrote before it.
    pub fn write_line(&self, line: &str) {
        let mut st = self.drain_locked();
        let mut text = String::with_capacity(line.len() + 2);
        if !st.at_line_start {
            text.push('\n');
        }
        text.push_str(line);
        text.push('\n');
        let result = st.log.write_all(text.as_bytes());
        st.note(result, text.len());
    }

    /// Copies what the pipe holds now into the log.
    pub fn flush(&self) {
        drop(self.drain_locked());
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.shared
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Drains the pipe (the caller wants what was written before it) and keeps the lock.
    /// Bounded: once the worker has exited the pipe holds at most its capacity, while live
    /// writers (grandchildren) could keep it full forever.
    fn drain_locked(&self) -> MutexGuard<'_, State> {
        let mut st = self.lock();
        self.read_some(&mut st, 64);
        st
    }

    /// One round of the copier: a bounded number of reads under the lock.
    fn drain(&self) -> Drained {
        let mut st = self.lock();
        self.read_some(&mut st, READS_PER_HOLD)
    }

    /// Reads up to `reads` chunks, until the pipe is empty or closed.
    fn read_some(&self, st: &mut State, reads: usize) -> Drained {
        if st.eof {
            return Drained::Closed;
        }
        let mut buf = std::mem::take(&mut st.buf);
        let mut drained = Drained::ForNow;
        for _ in 0..reads {
            match (&self.shared.pipe).read(&mut buf) {
                Ok(0) => {
                    st.eof = true;
                    drained = Drained::Closed;
                    break;
                }
                Ok(n) => self.copy(st, &buf[..n]),
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => break,
                Err(_) => {
                    st.eof = true;
                    drained = Drained::Closed;
                    break;
                }
            }
        }
        st.buf = buf;
        drained
    }

    /// Appends worker output, cutting it at the cap.
    fn copy(&self, st: &mut State, data: &[u8]) {
        if st.cut {
            return;
        }
        let LogLimit { max_bytes, fail } = self.shared.limit;
        let room = max_bytes.saturating_sub(st.written);
        if data.len() as u64 <= room {
            let result = st.log.write_all(data);
            st.note(result, data.len());
            if let Some(&last) = data.last() {
                st.at_line_start = last == b'\n';
            }
            return;
        }
        let keep = &data[..room as usize];
        let result = st.log.write_all(keep);
        st.note(result, keep.len());
        if let Some(&last) = keep.last() {
            st.at_line_start = last == b'\n';
        }
        st.cut = true;
        let then = if fail {
            "stopping the job (on_log_limit = \"fail\")"
        } else {
            "further output of this worker is discarded (on_log_limit = \"truncate\")"
        };
        let marker = format!(
            "{}[trainyard] log limit of {max_bytes} bytes reached (max_log_bytes); {then}\n",
            if st.at_line_start { "" } else { "\n" }
        );
        let result = st.log.write_all(marker.as_bytes());
        st.note(result, marker.len());
        st.at_line_start = true;
        if fail {
            self.shared.hit.store(true, Ordering::Release);
            // Wakes the supervisor out of its wait for signals: it looks at the caps after
            // each wake (a SIGCHLD with no child to reap is harmless).
            // SAFETY: kill with our own pid and a valid signal number.
            unsafe { libc::kill(libc::getpid(), libc::SIGCHLD) };
        }
    }
}

impl State {
    /// Counts a write into the log; a failed one (a full disk) is reported once and the
    /// output dropped, so the worker never blocks on the pipe.
    fn note(&mut self, result: io::Result<()>, len: usize) {
        match result {
            Ok(()) => self.written += len as u64,
            Err(e) if !self.warned => {
                self.warned = true;
                tracing::warn!(error = %e, "cannot write to a worker log; dropping its output");
            }
            Err(_) => {}
        }
    }
}

fn set_nonblocking(fd: &OwnedFd) -> io::Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let flags = OFlag::from_bits_retain(fcntl(fd.as_raw_fd(), FcntlArg::F_GETFL)?);
    fcntl(fd.as_raw_fd(), FcntlArg::F_SETFL(flags | OFlag::O_NONBLOCK))?;
    Ok(())
}

fn last_byte(path: &Path) -> io::Result<Option<u8>> {
    use std::os::unix::fs::FileExt;
    let f = File::open(path)?;
    let len = f.metadata()?.len();
    if len == 0 {
        return Ok(None);
    }
    let mut b = [0u8];
    f.read_exact_at(&mut b, len - 1)?;
    Ok(Some(b[0]))
}
