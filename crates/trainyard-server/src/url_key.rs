//! The key that signs the v2 API's temporary log URLs (T2-10): made once and kept, so a URL
//! stays valid across restarts and on every replica. Alone (SQLite) it is a file of the data
//! directory (`v2-log-url.key`, mode 0600); on a shared PostgreSQL database it is a shared
//! record every replica reads (the first server's wins a race).

use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::Path;

/// The name of the key's file in the data directory, and of its shared record.
pub const NAME: &str = "v2-log-url.key";

/// The key, hex-encoded, as stored.
fn parse(text: &str) -> Option<[u8; 32]> {
    hex::decode(text.trim()).ok()?.try_into().ok()
}

/// An error about the key's file (or record) `what`.
fn failed(what: &str, source: std::io::Error) -> crate::BuildError {
    crate::BuildError::Io {
        what: format!("the v2 log URL key ({what})"),
        source,
    }
}

/// Not a key: the stored text is not 32 hex-encoded bytes.
fn not_a_key() -> std::io::Error {
    std::io::Error::new(std::io::ErrorKind::InvalidData, "not 32 hex-encoded bytes")
}

/// The key of this server: the shared record when `coordinator` is given, else the data
/// directory's file, made when missing (and set to mode 0600 when found wider).
pub async fn load(
    data_dir: &Path,
    coordinator: Option<&trainyard_store::Coordinator>,
) -> Result<[u8; 32], crate::BuildError> {
    let fresh = hex::encode(rand::random::<[u8; 32]>());
    if let Some(c) = coordinator {
        let kept = c.share_once(NAME, &fresh).await?;
        return parse(&kept).ok_or_else(|| failed("shared record", not_a_key()));
    }
    let path = data_dir.join(NAME);
    let what = path.display().to_string();
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                .map_err(|e| failed(&what, e))?;
            parse(&text).ok_or_else(|| failed(&what, not_a_key()))
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            let tmp = data_dir.join(format!("{NAME}.tmp"));
            let write = || -> std::io::Result<()> {
                let mut f = std::fs::OpenOptions::new()
                    .write(true)
                    .create(true)
                    .truncate(true)
                    .mode(0o600)
                    .open(&tmp)?;
                f.write_all(fresh.as_bytes())?;
                f.sync_all()?;
                std::fs::rename(&tmp, &path)
            };
            write().map_err(|e| failed(&what, e))?;
            parse(&fresh).ok_or_else(|| failed(&what, not_a_key()))
        }
        Err(e) => Err(failed(&what, e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_key_is_kept_in_the_data_dir_readable_by_its_owner_alone() {
        let dir = tempfile::tempdir().unwrap();
        let first = load(dir.path(), None).await.unwrap();
        let path = dir.path().join(NAME);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o644)).unwrap();
        assert_eq!(load(dir.path(), None).await.unwrap(), first);
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        std::fs::write(&path, "short").unwrap();
        assert!(load(dir.path(), None).await.is_err());
    }
}
