//! Packs a local folder as the tar archive the upload endpoint takes, leaving out what does not
//! belong to the code: version control, virtual environments and ignored files.

use crate::error::{Error, Result};
use std::path::{Path, PathBuf};

/// The ignore file of trainyard's own (gitignore syntax), read in every folder of the tree.
pub const IGNORE_FILE: &str = ".trainyardignore";

/// One entry of an upload: its path relative to the folder, and whether it is a folder.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UploadEntry {
    /// Path inside the uploaded folder.
    pub path: PathBuf,
    /// A folder (its files follow as their own entries).
    pub is_dir: bool,
}

/// What an upload of `dir` sends, sorted: every file and folder except `.git`, `__pycache__`,
/// virtual environments (folders holding `pyvenv.cfg`), and what `.gitignore`, `.ignore` and
/// `.trainyardignore` files in the tree exclude (gitignore syntax; a git repository is not
/// needed). Symlinks are listed, never followed.
pub fn upload_entries(dir: &Path) -> Result<Vec<UploadEntry>> {
    let local = |source: std::io::Error| Error::Local {
        path: dir.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(dir).map_err(local)?;
    if !meta.is_dir() {
        return Err(Error::Invalid(format!("{} is not a folder", dir.display())));
    }
    let walker = ignore::WalkBuilder::new(dir)
        .hidden(false)
        .parents(false)
        .ignore(true)
        .git_ignore(true)
        .git_global(false)
        .git_exclude(false)
        .require_git(false)
        .follow_links(false)
        .add_custom_ignore_filename(IGNORE_FILE)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(|e| {
            let is_dir = e.file_type().is_some_and(|t| t.is_dir());
            !(is_dir
                && e.depth() > 0
                && (e.file_name() == ".git"
                    || e.file_name() == "__pycache__"
                    || e.path().join("pyvenv.cfg").is_file()))
        })
        .build();
    let mut out = Vec::new();
    for entry in walker {
        let entry = entry.map_err(|e| Error::Invalid(format!("{}: {e}", dir.display())))?;
        if entry.depth() == 0 {
            continue;
        }
        let rel = entry
            .path()
            .strip_prefix(dir)
            .map_err(|e| Error::Invalid(e.to_string()))?
            .to_owned();
        out.push(UploadEntry {
            path: rel,
            is_dir: entry.file_type().is_some_and(|t| t.is_dir()),
        });
    }
    Ok(out)
}

/// Packs the tree at `dir` (its contents, not the folder itself; the entries of
/// [`upload_entries`]) into a tar archive in memory. Symlinks are stored as symlinks, never
/// followed, so one pointing out of the tree is sent as such and refused by the server rather
/// than leaking the file it points to.
pub fn pack_dir(dir: &Path) -> Result<Vec<u8>> {
    let local = |source: std::io::Error| Error::Local {
        path: dir.display().to_string(),
        source,
    };
    let entries = upload_entries(dir)?;
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Deterministic);
    for e in entries {
        let path = dir.join(&e.path);
        if e.is_dir {
            builder.append_dir(&e.path, &path).map_err(local)?;
        } else {
            builder
                .append_path_with_name(&path, &e.path)
                .map_err(local)?;
        }
    }
    builder.into_inner().map_err(local)
}
