//! `trainyard backup` and `trainyard restore` (trainyard-server's `backup` module).

use crate::cli::ServerFiles;
use anyhow::Context as _;
use std::path::Path;
use trainyard_server::backup;

fn config(server: ServerFiles) -> anyhow::Result<trainyard_server::config::Config> {
    crate::serve::load_config(server.config, server.data_dir, server.database_url)
}

fn mib(bytes: u64) -> String {
    format!("{:.1} MiB", bytes as f64 / f64::from(1 << 20))
}

/// Writes the backup and says what it holds (on stderr).
pub async fn backup(file: &Path, without_storage: bool, server: ServerFiles) -> anyhow::Result<()> {
    let cfg = config(server)?;
    // What the archive holds (keys, logs) is for the server's owner alone.
    trainyard_exec::sandbox::private_files();
    let done = backup::backup(&cfg, file, without_storage)
        .await
        .with_context(|| format!("backing up into {}", file.display()))?;
    eprintln!(
        "backup written to {}: {} entries, {}{}{}",
        file.display(),
        done.entries,
        mib(done.bytes),
        if done.database {
            ", with the database"
        } else {
            "; the PostgreSQL database is not in it: back it up with pg_dump (docs/operations.md)"
        },
        if without_storage {
            "; without the project storage"
        } else {
            ""
        },
    );
    Ok(())
}

/// Restores the backup into the configured (empty) data folder.
pub fn restore(file: &Path, server: ServerFiles) -> anyhow::Result<()> {
    let cfg = config(server)?;
    trainyard_exec::sandbox::private_files();
    let (manifest, done) =
        backup::restore(&cfg, file).with_context(|| format!("restoring {}", file.display()))?;
    eprintln!(
        "restored {} (trainyard {}) into {}: {} entries, {}{}; start the server with the same configuration",
        file.display(),
        manifest.trainyard_version,
        cfg.data_dir().display(),
        done.entries,
        mib(done.bytes),
        if done.database {
            ""
        } else {
            "; no database in it: restore the PostgreSQL dump with pg_restore first"
        },
    );
    Ok(())
}
