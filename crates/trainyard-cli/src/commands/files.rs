//! `trainyard files`: the project's storage from here: list a folder, download a job's outputs
//! (and its logs) into a local folder, upload a local folder. Progress bars on a terminal only.

use crate::cli::{FilesCommand, FilesGetArgs, VersionArg};
use crate::global::Output;
use crate::output::{self, Table};
use crate::CliError;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::path::{Component, Path, PathBuf};
use trainyard_api::extensions::StorageFile;
use trainyard_client::Client;

/// Runs a `files` command.
pub async fn run(client: &Client, out: Output, cmd: FilesCommand) -> Result<(), CliError> {
    match cmd {
        FilesCommand::Ls { path } => ls(client, out, &path).await,
        FilesCommand::Get(args) => get(client, args).await,
        FilesCommand::Put { local, remote } => put(client, out, &local, &remote).await,
    }
}

async fn ls(client: &Client, out: Output, path: &str) -> Result<(), CliError> {
    let list = client.list_files(path).await?;
    if out == Output::Json {
        return output::json(&list);
    }
    let mut t = Table::new(&["PATH", "SIZE", "MODIFIED"])
        .keep(&["PATH", "SIZE"])
        .optional(&["MODIFIED"]);
    for f in &list.files {
        t.row(vec![
            f.path.clone(),
            f.size.to_string(),
            output::time_ms(f.modified),
        ]);
    }
    t.print()?;
    if list.truncated {
        eprintln!("(only the first {} files)", list.files.len());
    }
    Ok(())
}

/// A bar on stderr when it is a terminal, else nothing drawn.
fn bar(len: u64, what: &str) -> ProgressBar {
    let pb = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(len), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("{msg} [{bar:30}] {bytes}/{total_bytes} {bytes_per_sec}")
    {
        pb.set_style(style.progress_chars("=> "));
    }
    pb.set_message(what.to_owned());
    pb
}

/// Where `file` (below the storage folder `base`) goes below `dest`: its path relative to
/// `base`, as plain names only.
fn local_path(dest: &Path, base: &str, file: &str) -> Result<PathBuf, CliError> {
    let rel = file
        .strip_prefix(base.trim_end_matches('/'))
        .unwrap_or(file)
        .trim_start_matches('/');
    let rel = if rel.is_empty() {
        file.rsplit('/').next().unwrap_or(file)
    } else {
        rel
    };
    let mut path = dest.to_owned();
    for c in Path::new(rel).components() {
        match c {
            Component::Normal(n) => path.push(n),
            _ => {
                return Err(CliError::Failed(format!(
                    "the server listed an unusable path {file}"
                )))
            }
        }
    }
    Ok(path)
}

/// Downloads `files` (below the storage folder `base`) into `dest`, keeping their layout.
async fn download(
    client: &Client,
    base: &str,
    files: &[StorageFile],
    dest: &Path,
) -> Result<u64, CliError> {
    let total: u64 = files.iter().map(|f| f.size).sum();
    let pb = bar(total, &format!("{} files", files.len()));
    for f in files {
        let path = local_path(dest, base, &f.path)?;
        let local = |e: std::io::Error| CliError::Failed(format!("{}: {e}", path.display()));
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).map_err(local)?;
        }
        let mut file = std::fs::File::create(&path).map_err(local)?;
        let mut body = client.read_file(&f.path).await?;
        while let Some(chunk) = body.next_chunk().await? {
            file.write_all(&chunk).map_err(local)?;
            pb.inc(chunk.len() as u64);
        }
    }
    pb.finish_and_clear();
    Ok(total)
}

async fn get(client: &Client, args: FilesGetArgs) -> Result<(), CliError> {
    match (&args.path, &args.job) {
        (Some(path), None) => {
            let list = client.list_files(path).await?;
            let dest = args.dest.unwrap_or_else(|| PathBuf::from("."));
            let bytes = download(client, path, &list.files, &dest).await?;
            eprintln!(
                "downloaded {} files ({bytes} bytes) from {path} to {}",
                list.files.len(),
                dest.display()
            );
            if list.truncated {
                eprintln!("warning: the listing stopped at {} files", list.files.len());
            }
            Ok(())
        }
        (None, Some(job)) => get_job(client, job, &args.version, args.dest).await,
        _ => Err(CliError::Usage(
            "give a storage PATH, or --job JOB for a job's outputs and logs".into(),
        )),
    }
}

/// A job version's outputs (its `train_url`) into `DEST/outputs/` and each worker's log into
/// `DEST/logs/`; `DEST` defaults to the job's name.
async fn get_job(
    client: &Client,
    job: &str,
    version: &VersionArg,
    dest: Option<PathBuf>,
) -> Result<(), CliError> {
    let job = super::jobs::job_id(client, job).await?;
    let version = super::jobs::version_of(client, job, version).await?;
    let v = client.get_version(job, version).await?;
    let name = v.job_name.clone().unwrap_or_else(|| job.to_string());
    let dest = dest.unwrap_or_else(|| PathBuf::from(&name));
    let mut fetched = 0;
    if let Some(train_url) = v.train_url.as_deref().filter(|u| !u.is_empty()) {
        match client.list_files(train_url).await {
            Ok(list) => {
                download(client, train_url, &list.files, &dest.join("outputs")).await?;
                fetched += list.files.len();
            }
            // Nothing written there yet (NotFound is the API's 0105).
            Err(e) if e.code() == Some("ModelArts.0105") => {
                eprintln!("no outputs yet at {train_url}");
            }
            Err(e) => return Err(e.into()),
        }
    }
    let logs = dest.join("logs");
    let names = client.log_file_names(job, version).await?;
    for file in &names.log_file_list {
        let path = logs.join(file);
        let local = |e: std::io::Error| CliError::Failed(format!("{}: {e}", path.display()));
        std::fs::create_dir_all(&logs).map_err(local)?;
        let mut out = std::fs::File::create(&path).map_err(local)?;
        let mut log = client.read_log_bytes(job, version, file, 0);
        while let Some(chunk) = log.next_chunk().await? {
            out.write_all(&chunk).map_err(local)?;
        }
        fetched += 1;
    }
    eprintln!(
        "downloaded {fetched} files of job {job} version {version} into {}",
        dest.display()
    );
    Ok(())
}

async fn put(client: &Client, out: Output, local: &Path, remote: &str) -> Result<(), CliError> {
    let mut remote = remote.to_owned();
    if !remote.ends_with('/') {
        remote.push('/');
    }
    let meta = std::fs::metadata(local)
        .map_err(|e| CliError::Usage(format!("{}: {e}", local.display())))?;
    let archive = if meta.is_dir() {
        trainyard_client::pack_dir(local)?
    } else {
        let name = local
            .file_name()
            .ok_or_else(|| CliError::Usage(format!("{} names no file", local.display())))?;
        let mut b = tar::Builder::new(Vec::new());
        b.append_path_with_name(local, name)
            .and_then(|()| b.into_inner())
            .map_err(|e| CliError::Failed(format!("{}: {e}", local.display())))?
    };
    let limit = client.upload_limits().await?.max_upload_bytes;
    if archive.len() as u64 > limit {
        return Err(CliError::Usage(format!(
            "{} packs to {} bytes, over the server's upload limit of {limit} bytes ([storage] max_upload_bytes)",
            local.display(),
            archive.len()
        )));
    }
    let pb = bar(archive.len() as u64, "uploading");
    let resp = client.upload_tar(&remote, archive).await;
    pb.finish_and_clear();
    let resp = resp?;
    if out == Output::Json {
        return output::json(&resp);
    }
    eprintln!(
        "uploaded {} ({} files, {} bytes) to {remote}",
        local.display(),
        resp.files,
        resp.bytes
    );
    Ok(())
}
