//! Packs a local folder as the tar archive the upload endpoint takes.

use crate::error::{Error, Result};
use std::path::Path;

/// Packs the tree at `dir` (its contents, not the folder itself) into a tar archive in
/// memory. Symlinks are stored as symlinks, never followed, so one pointing out of the tree
/// is sent as such and refused by the server rather than leaking the file it points to.
pub fn pack_dir(dir: &Path) -> Result<Vec<u8>> {
    let local = |source: std::io::Error| Error::Local {
        path: dir.display().to_string(),
        source,
    };
    let meta = std::fs::metadata(dir).map_err(local)?;
    if !meta.is_dir() {
        return Err(Error::Invalid(format!("{} is not a folder", dir.display())));
    }
    let mut builder = tar::Builder::new(Vec::new());
    builder.follow_symlinks(false);
    builder.mode(tar::HeaderMode::Deterministic);
    append_tree(&mut builder, dir, Path::new("")).map_err(local)?;
    builder.into_inner().map_err(local)
}

fn append_tree(b: &mut tar::Builder<Vec<u8>>, dir: &Path, rel: &Path) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<std::io::Result<_>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let path = e.path();
        let name = rel.join(e.file_name());
        let kind = e.file_type()?;
        if kind.is_dir() {
            b.append_dir(&name, &path)?;
            append_tree(b, &path, &name)?;
        } else {
            b.append_path_with_name(&path, &name)?;
        }
    }
    Ok(())
}
