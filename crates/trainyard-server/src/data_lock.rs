//! One server per data folder on the embedded database. A second `trainyard serve` on the same
//! folder would reattach the same runs and claim the same scheduling duty (SQLite has no session
//! lock for replicas to share it, as PostgreSQL's advisory lock does), so it refuses to start
//! before it touches anything, naming the server that holds the folder.

use nix::fcntl::{Flock, FlockArg};
use std::fs::File;
use std::io::{Read, Seek, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

/// The lock file below the data folder; it also says who holds it.
pub const LOCK_FILE: &str = "serve.lock";

/// The file below the data folder in which a running server writes the URL a client on this
/// machine reaches it at (`http://127.0.0.1:8600`), so `trainyard login` finds it.
pub const URL_FILE: &str = "server.url";

/// Writes `url` into the data folder's [`URL_FILE`] (a new file renamed into place).
pub fn write_url(data_dir: &Path, url: &str) -> std::io::Result<()> {
    let tmp = data_dir.join(format!(".{URL_FILE}.tmp"));
    std::fs::write(&tmp, format!("{url}\n"))?;
    std::fs::rename(&tmp, data_dir.join(URL_FILE))
}

/// The URL a server serving `data_dir` wrote, if any.
pub fn read_url(data_dir: &Path) -> Option<String> {
    let text = std::fs::read_to_string(data_dir.join(URL_FILE)).ok()?;
    Some(text.trim().to_owned()).filter(|u| !u.is_empty())
}

/// The data folder, held until dropped (the kernel lets go when the process ends, however).
#[derive(Debug)]
pub struct DataLock {
    _held: Flock<File>,
}

/// Why the data folder could not be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// Another server holds it.
    #[error("another trainyard server ({holder}) serves the data folder {}; stop it first, or give this server another data_dir", dir.display())]
    Held {
        /// The data folder.
        dir: PathBuf,
        /// What the holder wrote: its pid and address.
        holder: String,
    },
    /// The lock file could not be used.
    #[error("{}: {source}", path.display())]
    Io {
        /// The lock file.
        path: PathBuf,
        /// Why.
        source: std::io::Error,
    },
}

/// Takes `data_dir` for this process, which serves on `listen`.
pub fn take(data_dir: &Path, listen: SocketAddr) -> Result<DataLock, LockError> {
    let path = data_dir.join(LOCK_FILE);
    let io = |source| LockError::Io {
        path: path.clone(),
        source,
    };
    let file = File::options()
        .create(true)
        .truncate(false)
        .read(true)
        .write(true)
        .open(&path)
        .map_err(io)?;
    let mut lock = match Flock::lock(file, FlockArg::LockExclusiveNonblock) {
        Ok(lock) => lock,
        Err((mut file, nix::errno::Errno::EWOULDBLOCK)) => {
            let mut holder = String::new();
            let _ = file.read_to_string(&mut holder);
            let holder = match holder.trim() {
                "" => "one starting now".to_owned(),
                said => said.to_owned(),
            };
            return Err(LockError::Held {
                dir: data_dir.to_owned(),
                holder,
            });
        }
        Err((_, errno)) => return Err(io(errno.into())),
    };
    let me = format!("pid {}, listening on {listen}\n", std::process::id());
    lock.set_len(0)
        .and_then(|()| lock.rewind())
        .and_then(|()| lock.write_all(me.as_bytes()))
        .map_err(io)?;
    Ok(DataLock { _held: lock })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_taker_is_refused_with_the_first_ones_address_until_it_lets_go() {
        let dir = tempfile::tempdir().unwrap();
        let first: SocketAddr = "127.0.0.1:8600".parse().unwrap();
        let held = take(dir.path(), first).unwrap();
        let refused = take(dir.path(), "127.0.0.1:8601".parse().unwrap()).unwrap_err();
        let text = refused.to_string();
        assert!(
            text.contains(&format!("pid {}", std::process::id()))
                && text.contains("listening on 127.0.0.1:8600"),
            "{text}"
        );
        drop(held);
        take(dir.path(), "127.0.0.1:8601".parse().unwrap()).unwrap();
    }
}
