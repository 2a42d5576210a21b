//! Who a job runs as, and file operations that a job cannot redirect.
//!
//! A job is untrusted code. When the server runs as root, each project's workers run as that
//! project's own unprivileged user ([`RunAs`]): the shim starts them as that user, and a
//! container's root is mapped onto it. Whatever the server or a
//! shim does in a folder that a job can write either runs *as the job's user*
//! ([`FsUser`]: the kernel then checks every path, symlinks included, as that user, so a link
//! planted by the job leads nowhere the job could not already go), or opens each component
//! below a trusted directory without following links ([`create_dirs`]).

use std::io;
use std::os::fd::AsRawFd;
use std::path::{Component, Path, PathBuf};

use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use crate::beneath::Dir;

/// How many user and group ids a project holds: its container's ids 0..65535 map onto them,
/// its host jobs run as the first.
pub const IDS_PER_PROJECT: u32 = 65_536;

/// The unprivileged user and group a project's jobs run as.
#[derive(Clone, Copy, Debug, Serialize, Deserialize, PartialEq, Eq, Hash)]
pub struct RunAs {
    /// User id (the first of the project's [`IDS_PER_PROJECT`]).
    pub uid: u32,
    /// Group id.
    pub gid: u32,
}

impl RunAs {
    /// The `podman run` arguments that map the container's ids 0.. onto the project's ids,
    /// so the container's root is the project's user on the host.
    pub fn container_args(&self) -> Vec<String> {
        vec![
            format!("--uidmap=0:{}:{IDS_PER_PROJECT}", self.uid),
            format!("--gidmap=0:{}:{IDS_PER_PROJECT}", self.gid),
        ]
    }
}

/// From now on, files and folders this process creates are its own alone (umask 077).
pub fn private_files() {
    nix::sys::stat::umask(Mode::from_bits_truncate(0o077));
}

/// True when this process may act as other users (it runs as root).
pub fn privileged() -> bool {
    // SAFETY: geteuid cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// Drops the calling process to `who`: no supplementary groups, then its group, then its user
/// (in this order: each step needs the privileges the next one gives up). For a `pre_exec`
/// hook: only async-signal-safe calls.
pub fn become_user(who: RunAs) -> std::io::Result<()> {
    // SAFETY: plain libc calls with valid arguments.
    let failed = unsafe {
        libc::setgroups(0, std::ptr::null()) != 0
            || libc::setgid(who.gid) != 0
            || libc::setuid(who.uid) != 0
    };
    if failed {
        return Err(std::io::Error::last_os_error());
    }
    Ok(())
}

/// The calling *thread* acts on files as `who` until dropped (Linux's file-system ids are per
/// thread): every open, create and lookup is checked as that user, and what it creates is
/// that user's. `None` changes nothing (an unprivileged server: jobs are its own user).
pub struct FsUser {
    previous: Option<(u32, u32)>,
}

impl FsUser {
    /// Switches this thread's file-system ids to `who`.
    pub fn enter(who: Option<RunAs>) -> Self {
        let Some(who) = who.filter(|_| privileged()) else {
            return Self { previous: None };
        };
        // SAFETY: setfsuid/setfsgid only change this thread's credentials; they return the
        // previous value. Group first: once the fsuid is not 0 the group may not change.
        let previous = unsafe {
            let gid = libc::setfsgid(who.gid) as u32;
            let uid = libc::setfsuid(who.uid) as u32;
            (uid, gid)
        };
        Self {
            previous: Some(previous),
        }
    }
}

impl Drop for FsUser {
    fn drop(&mut self) {
        if let Some((uid, gid)) = self.previous {
            // SAFETY: as in `enter`; user first, so that the group may change back.
            unsafe {
                libc::setfsuid(uid);
                libc::setfsgid(gid);
            }
        }
    }
}

/// Runs `f` with this thread's file access as `who` (see [`FsUser`]). Blocking work only: the
/// thread must not switch tasks while it acts as another user.
pub fn as_user<T>(who: Option<RunAs>, f: impl FnOnce() -> T) -> T {
    let _user = FsUser::enter(who);
    f()
}

/// Creates the folders of `rel` below the trusted folder `root`, one component at a time and
/// never through a symlink (a link anywhere on the way fails, a `..` is refused). Folders it
/// creates belong to `owner` when given; ones that exist are left as they are. Returns
/// `root.join(rel)`. Blocking.
pub fn create_dirs(root: &Path, rel: &Path, owner: Option<RunAs>) -> io::Result<PathBuf> {
    open_dirs(root, rel, owner).map(|(path, _)| path)
}

/// Like [`create_dirs`], also returning the last folder, opened.
pub fn open_dirs(root: &Path, rel: &Path, owner: Option<RunAs>) -> io::Result<(PathBuf, Dir)> {
    let mut dir = Dir::open(root)?;
    let mut path = root.to_owned();
    for comp in rel.components() {
        let name = match comp {
            Component::Normal(name) => name,
            Component::RootDir | Component::CurDir => continue,
            Component::ParentDir | Component::Prefix(_) => {
                return Err(io::Error::new(
                    io::ErrorKind::InvalidInput,
                    "a path component leaves its folder",
                ))
            }
        };
        let made = match dir.create_dir(name) {
            Ok(()) => true,
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => false,
            Err(e) => return Err(e),
        };
        dir = dir.open_dir(Path::new(name))?;
        if let (true, Some(o)) = (made, owner) {
            give(&dir, o)?;
        }
        path.push(name);
    }
    Ok((path, dir))
}

/// Puts a new file `name` holding what `from` reads into the folder `dir` (opened by
/// [`open_dirs`]): written to a fresh file, given to `owner`, then renamed over whatever was
/// there, a symlink included, which is replaced rather than followed. Blocking.
pub fn replace_file(
    dir: &Dir,
    name: &std::ffi::OsStr,
    from: &mut impl io::Read,
    owner: Option<RunAs>,
) -> io::Result<u64> {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let tmp = std::ffi::OsString::from(format!(".trainyard-tmp-{}-{n}", std::process::id()));
    let result = (|| {
        let mut file = dir.create_new(&tmp)?;
        if let Some(o) = owner {
            give(&file, o)?;
        }
        let copied = io::copy(from, &mut file)?;
        dir.rename(&tmp, name)?;
        Ok(copied)
    })();
    if result.is_err() {
        let _ = dir.remove_file(&tmp);
    }
    result
}

/// Gives the open file or folder `fd` to `who` (nothing on an unprivileged server).
fn give(fd: &impl AsRawFd, who: RunAs) -> io::Result<()> {
    if !privileged() {
        return Ok(());
    }
    // SAFETY: valid descriptor.
    if unsafe { libc::fchown(fd.as_raw_fd(), who.uid, who.gid) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// Gives the tree at `path` (a trusted location no job can reach, such as a staging folder
/// of the server) to `owner`: every entry, links themselves rather than their targets.
/// Blocking.
pub fn chown_tree(path: &Path, owner: RunAs) -> io::Result<()> {
    if !privileged() {
        return Ok(());
    }
    std::os::unix::fs::lchown(path, Some(owner.uid), Some(owner.gid))?;
    let meta = std::fs::symlink_metadata(path)?;
    if meta.is_dir() {
        for entry in std::fs::read_dir(path)? {
            chown_tree(&entry?.path(), owner)?;
        }
    }
    Ok(())
}

/// The environment of a process started for a job (the shim, and through it the workers'
/// base): the search path and locale only. Nothing else of the server's environment (its
/// keys, tokens, database URL) reaches a job.
pub fn clean_env() -> Vec<(String, String)> {
    let mut env = vec![(
        "PATH".to_owned(),
        std::env::var("PATH").unwrap_or_else(|_| {
            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin".into()
        }),
    )];
    for key in ["LANG", "LC_ALL", "TZ"] {
        if let Ok(value) = std::env::var(key) {
            env.push((key.to_owned(), value));
        }
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn create_dirs_refuses_a_link_on_the_way() {
        let tmp = tempfile::tempdir().unwrap();
        let root = tmp.path().join("root");
        std::fs::create_dir(&root).unwrap();
        let outside = tmp.path().join("outside");
        std::fs::create_dir(&outside).unwrap();
        std::os::unix::fs::symlink(&outside, root.join("link")).unwrap();

        let made = create_dirs(&root, Path::new("/a/b"), None).unwrap();
        assert_eq!(made, root.join("a/b"));
        assert!(made.is_dir());
        assert!(
            create_dirs(&root, Path::new("a/b"), None).is_ok(),
            "existing folders are fine"
        );

        let err = create_dirs(&root, Path::new("link/x"), None).unwrap_err();
        assert!(
            matches!(err.raw_os_error(), Some(libc::ELOOP | libc::ENOTDIR)),
            "{err}"
        );
        assert!(!outside.join("x").exists());
        assert!(create_dirs(&root, Path::new("a/../../x"), None).is_err());
    }

    #[test]
    fn fs_user_is_undone_on_drop() {
        // SAFETY: reading this thread's ids (setfsuid with an invalid id changes nothing).
        let before = unsafe { libc::setfsuid(u32::MAX) };
        {
            let _user = FsUser::enter(Some(RunAs {
                uid: 4_000_000,
                gid: 4_000_000,
            }));
            if privileged() {
                // SAFETY: as above.
                assert_eq!(unsafe { libc::setfsuid(u32::MAX) }, 4_000_000);
            }
        }
        // SAFETY: as above.
        assert_eq!(unsafe { libc::setfsuid(u32::MAX) }, before);
    }
}
