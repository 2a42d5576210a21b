//! Files below a directory handle, reached without following any symlink.
//!
//! Folders a job can write into may hold links it planted, swapped in at any moment. Every
//! lookup here is one `openat2(2)` relative to an open directory with `RESOLVE_BENEATH |
//! RESOLVE_NO_SYMLINKS`: a link anywhere on the way (the last component or a folder) fails the
//! call with `ELOOP` instead of leading elsewhere, and a path is never checked first and opened
//! later. Writes make a new file (`O_CREAT | O_EXCL`) and rename it into place, which replaces a
//! planted link instead of writing through it; removals unlink names, never what they point to.
//! Where `openat2` is missing (kernels before 5.6, seccomp filters) the same walk is done one
//! component at a time with `O_NOFOLLOW`, which is equivalent for the plain relative paths this
//! module accepts.

use nix::dir::Dir as DirStream;
use nix::errno::Errno;
use nix::fcntl::{OFlag, OpenHow, ResolveFlag};
use nix::sys::stat::{FileStat, Mode, SFlag};
use nix::unistd::UnlinkatFlags;
use std::ffi::{OsStr, OsString};
use std::fs::File;
use std::io;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::os::unix::ffi::OsStrExt;
use std::path::{Component, Path};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, SystemTime};

/// An open directory; paths given to its methods are relative to it and must stay below it.
#[derive(Debug)]
pub struct Dir {
    fd: OwnedFd,
}

impl AsRawFd for Dir {
    fn as_raw_fd(&self) -> RawFd {
        self.fd.as_raw_fd()
    }
}

/// What a directory entry is, as the entry itself (a symlink is never followed).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// A regular file.
    File,
    /// A directory.
    Dir,
    /// A symbolic link.
    Symlink,
    /// Anything else (FIFO, socket, device).
    Other,
}

/// One entry of a directory, with its own metadata (`lstat` semantics).
#[derive(Clone, Debug)]
pub struct Entry {
    /// The entry's name.
    pub name: OsString,
    /// What it is.
    pub kind: Kind,
    /// Its size in bytes.
    pub len: u64,
    /// Its modification time.
    pub modified: SystemTime,
}

/// Whether `e` says a symlink was in the way, or the path would have left the directory.
pub fn is_link(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ELOOP | libc::EXDEV))
}

/// Whether `e` says nothing is there (a missing name, or a file where a folder was expected).
pub fn is_missing(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::ENOENT | libc::ENOTDIR))
}

/// Whether `e` says the name is a folder where a file was expected.
pub fn is_dir(e: &io::Error) -> bool {
    e.raw_os_error() == Some(libc::EISDIR)
}

/// Set once `openat2` turned out to be unavailable here.
static NO_OPENAT2: AtomicBool = AtomicBool::new(false);

fn to_io(e: Errno) -> io::Error {
    io::Error::from_raw_os_error(e as i32)
}

/// `rel` as plain names: relative, no `.`, `..` or root. Empty means the directory itself.
fn components(rel: &Path) -> io::Result<Vec<&OsStr>> {
    rel.components()
        .map(|c| match c {
            Component::Normal(n) => Ok(n),
            _ => Err(io::Error::new(
                io::ErrorKind::InvalidInput,
                format!("{} is not a plain relative path", rel.display()),
            )),
        })
        .collect()
}

/// One plain name (no `/`).
fn name(n: &OsStr) -> io::Result<&OsStr> {
    match components(Path::new(n))?.as_slice() {
        [one] if one.len() == n.len() => Ok(n),
        _ => Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("{n:?} is not a plain name"),
        )),
    }
}

fn owned(fd: RawFd) -> OwnedFd {
    // SAFETY: `fd` was just returned by a successful open and is owned by no one else.
    unsafe { OwnedFd::from_raw_fd(fd) }
}

fn modified(st: &FileStat) -> SystemTime {
    let secs = Duration::new(st.st_mtime.unsigned_abs(), st.st_mtime_nsec as u32);
    if st.st_mtime >= 0 {
        SystemTime::UNIX_EPOCH + secs
    } else {
        SystemTime::UNIX_EPOCH - secs
    }
}

fn kind(st: &FileStat) -> Kind {
    match SFlag::from_bits_truncate(st.st_mode & SFlag::S_IFMT.bits()) {
        SFlag::S_IFREG => Kind::File,
        SFlag::S_IFDIR => Kind::Dir,
        SFlag::S_IFLNK => Kind::Symlink,
        _ => Kind::Other,
    }
}

impl Dir {
    /// Opens the directory at `path`, a path the caller trusts (its last component must not
    /// be a symlink).
    pub fn open(path: &Path) -> io::Result<Self> {
        use std::os::unix::fs::OpenOptionsExt;
        let file = std::fs::OpenOptions::new()
            .read(true)
            .custom_flags(libc::O_DIRECTORY | libc::O_NOFOLLOW)
            .open(path)?;
        Ok(Self { fd: file.into() })
    }

    /// Opens `rel` below this directory with `flags` (plus `O_CLOEXEC`), no link followed.
    fn open_at(&self, rel: &Path, flags: OFlag, mode: Mode) -> io::Result<OwnedFd> {
        let parts = components(rel)?;
        let flags = flags | OFlag::O_CLOEXEC;
        if !NO_OPENAT2.load(Ordering::Relaxed) {
            let path: &Path = if parts.is_empty() {
                Path::new(".")
            } else {
                rel
            };
            let how = OpenHow::new()
                .flags(flags)
                .mode(mode)
                .resolve(ResolveFlag::RESOLVE_BENEATH | ResolveFlag::RESOLVE_NO_SYMLINKS);
            // EAGAIN: a concurrent rename raced the scoped lookup; the kernel asks for a retry.
            for _ in 0..64 {
                match nix::fcntl::openat2(self.fd.as_raw_fd(), path, how) {
                    Ok(fd) => return Ok(owned(fd)),
                    Err(Errno::EAGAIN) => continue,
                    Err(Errno::ENOSYS | Errno::EPERM) => {
                        NO_OPENAT2.store(true, Ordering::Relaxed);
                        break;
                    }
                    Err(e) => return Err(to_io(e)),
                }
            }
            if !NO_OPENAT2.load(Ordering::Relaxed) {
                return Err(to_io(Errno::EAGAIN));
            }
        }
        self.open_walk(&parts, flags, mode)
    }

    /// The same lookup without `openat2`: one `O_NOFOLLOW` open per component.
    fn open_walk(&self, parts: &[&OsStr], flags: OFlag, mode: Mode) -> io::Result<OwnedFd> {
        let Some((last, folders)) = parts.split_last() else {
            let fd =
                nix::fcntl::openat(Some(self.fd.as_raw_fd()), ".", flags, mode).map_err(to_io)?;
            return Ok(owned(fd));
        };
        let mut held: Option<OwnedFd> = None;
        for part in folders {
            let at = held
                .as_ref()
                .map_or(self.fd.as_raw_fd(), AsRawFd::as_raw_fd);
            let fd = nix::fcntl::openat(
                Some(at),
                *part,
                OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .map_err(to_io)?;
            held = Some(owned(fd));
        }
        let at = held
            .as_ref()
            .map_or(self.fd.as_raw_fd(), AsRawFd::as_raw_fd);
        let fd =
            nix::fcntl::openat(Some(at), *last, flags | OFlag::O_NOFOLLOW, mode).map_err(to_io)?;
        Ok(owned(fd))
    }

    /// Opens the directory `rel` (empty: a new handle on this one).
    pub fn open_dir(&self, rel: &Path) -> io::Result<Self> {
        let fd = self.open_at(rel, OFlag::O_RDONLY | OFlag::O_DIRECTORY, Mode::empty())?;
        Ok(Self { fd })
    }

    /// Opens the regular file `rel` for reading. A folder fails with `EISDIR`, anything else
    /// that is not a regular file (a FIFO a reader would block on) with `ENXIO`.
    pub fn open_file(&self, rel: &Path) -> io::Result<File> {
        let fd = self.open_at(rel, OFlag::O_RDONLY | OFlag::O_NONBLOCK, Mode::empty())?;
        let st = nix::sys::stat::fstat(fd.as_raw_fd()).map_err(to_io)?;
        match kind(&st) {
            Kind::File => {
                // Reads of a regular file never block; clear the flag for ordinary use.
                let fl = nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::F_GETFL).map_err(to_io)?;
                let fl = OFlag::from_bits_truncate(fl) - OFlag::O_NONBLOCK;
                nix::fcntl::fcntl(fd.as_raw_fd(), nix::fcntl::F_SETFL(fl)).map_err(to_io)?;
                Ok(File::from(fd))
            }
            Kind::Dir => Err(to_io(Errno::EISDIR)),
            Kind::Symlink | Kind::Other => Err(to_io(Errno::ENXIO)),
        }
    }

    /// Makes the folders of `rel` that are missing (mode 0755 before the umask) and opens the
    /// last. A file or a symlink on the way fails (`ENOTDIR`, `ELOOP`).
    pub fn create_dir_all(&self, rel: &Path) -> io::Result<Self> {
        let mut cur = self.open_dir(Path::new(""))?;
        for part in components(rel)? {
            match nix::sys::stat::mkdirat(
                Some(cur.fd.as_raw_fd()),
                part,
                Mode::from_bits_truncate(0o755),
            ) {
                Ok(()) => cur.inherit_owner(part)?,
                Err(Errno::EEXIST) => {}
                Err(e) => return Err(to_io(e)),
            }
            cur = cur.open_dir(Path::new(part))?;
        }
        Ok(cur)
    }

    /// Makes the folder `name` here; `EEXIST` when something is there.
    pub fn create_dir(&self, name: &OsStr) -> io::Result<()> {
        let name = self::name(name)?;
        nix::sys::stat::mkdirat(
            Some(self.fd.as_raw_fd()),
            name,
            Mode::from_bits_truncate(0o755),
        )
        .map_err(to_io)?;
        self.inherit_owner(name)
    }

    /// Gives the new entry `name` this folder's owner: what the server creates in a project's
    /// folder is the project's user's, as what its jobs create there is (a root server's
    /// files would otherwise be private to root under its umask). The entry itself, never
    /// what a link there points to.
    fn inherit_owner(&self, name: &OsStr) -> io::Result<()> {
        // SAFETY: geteuid cannot fail.
        if unsafe { libc::geteuid() } != 0 {
            return Ok(());
        }
        let st = nix::sys::stat::fstat(self.fd.as_raw_fd()).map_err(to_io)?;
        if st.st_uid == 0 {
            return Ok(());
        }
        let cname = std::ffi::CString::new(std::os::unix::ffi::OsStrExt::as_bytes(name))
            .map_err(|_| to_io(Errno::EINVAL))?;
        // SAFETY: valid descriptor and NUL-terminated name.
        let rc = unsafe {
            libc::fchownat(
                self.fd.as_raw_fd(),
                cname.as_ptr(),
                st.st_uid,
                st.st_gid,
                libc::AT_SYMLINK_NOFOLLOW,
            )
        };
        if rc != 0 {
            return Err(io::Error::last_os_error());
        }
        Ok(())
    }

    /// Creates the new file `name` here for writing (mode 0644 before the umask); fails when
    /// anything, a symlink included, is there already.
    pub fn create_new(&self, name: &OsStr) -> io::Result<File> {
        let name = self::name(name)?;
        let fd = nix::fcntl::openat(
            Some(self.fd.as_raw_fd()),
            name,
            OFlag::O_WRONLY | OFlag::O_CREAT | OFlag::O_EXCL | OFlag::O_NOFOLLOW | OFlag::O_CLOEXEC,
            Mode::from_bits_truncate(0o644),
        )
        .map_err(to_io)?;
        self.inherit_owner(name)?;
        Ok(File::from(owned(fd)))
    }

    /// Renames `from` to `to`, both names in this directory; `to` is replaced whatever it is
    /// (a symlink is replaced, not followed), except a folder (`EISDIR`).
    pub fn rename(&self, from: &OsStr, to: &OsStr) -> io::Result<()> {
        let (from, to) = (name(from)?, name(to)?);
        let fd = self.fd.as_raw_fd();
        nix::fcntl::renameat(Some(fd), from, Some(fd), to).map_err(to_io)
    }

    /// Removes the name `name` (a file or a symlink; never what a link points to).
    pub fn remove_file(&self, name: &OsStr) -> io::Result<()> {
        let name = self::name(name)?;
        nix::unistd::unlinkat(Some(self.fd.as_raw_fd()), name, UnlinkatFlags::NoRemoveDir)
            .map_err(to_io)
    }

    /// Removes the empty folder `name`.
    pub fn remove_dir(&self, name: &OsStr) -> io::Result<()> {
        let name = self::name(name)?;
        nix::unistd::unlinkat(Some(self.fd.as_raw_fd()), name, UnlinkatFlags::RemoveDir)
            .map_err(to_io)
    }

    /// Removes the folder `name` and everything below it; links are removed, not followed.
    pub fn remove_dir_all(&self, name: &OsStr) -> io::Result<()> {
        let name = self::name(name)?;
        let dir = self.open_dir(Path::new(name))?;
        for e in dir.entries()? {
            let gone = match e.kind {
                Kind::Dir => dir.remove_dir_all(&e.name),
                _ => dir.remove_file(&e.name),
            };
            match gone {
                Err(err) if err.raw_os_error() != Some(libc::ENOENT) => return Err(err),
                _ => {}
            }
        }
        self.remove_dir(name)
    }

    /// The entry `name` here, as itself (a symlink is reported, not followed).
    pub fn entry(&self, name: &OsStr) -> io::Result<Entry> {
        let name = self::name(name)?;
        let st = nix::sys::stat::fstatat(
            Some(self.fd.as_raw_fd()),
            name,
            nix::fcntl::AtFlags::AT_SYMLINK_NOFOLLOW,
        )
        .map_err(to_io)?;
        Ok(Entry {
            name: name.to_owned(),
            kind: kind(&st),
            len: st.st_size as u64,
            modified: modified(&st),
        })
    }

    /// Metadata of this directory itself.
    pub fn metadata(&self) -> io::Result<Entry> {
        let st = nix::sys::stat::fstat(self.fd.as_raw_fd()).map_err(to_io)?;
        Ok(Entry {
            name: OsString::new(),
            kind: kind(&st),
            len: st.st_size as u64,
            modified: modified(&st),
        })
    }

    /// Every entry of this directory but `.` and `..`, unsorted. An entry removed while
    /// listing is left out.
    pub fn entries(&self) -> io::Result<Vec<Entry>> {
        // A fresh open file description, so each listing starts at the beginning.
        let fd = self.open_at(
            Path::new(""),
            OFlag::O_RDONLY | OFlag::O_DIRECTORY,
            Mode::empty(),
        )?;
        let raw = fd.into_raw_fd();
        let mut stream = DirStream::from_fd(raw).map_err(|e| {
            // SAFETY: `from_fd` failed, so the descriptor is still ours to close.
            drop(owned(raw));
            to_io(e)
        })?;
        let mut out = Vec::new();
        for e in stream.iter() {
            let e = e.map_err(to_io)?;
            let bytes = e.file_name().to_bytes();
            if bytes == b"." || bytes == b".." {
                continue;
            }
            match self.entry(OsStr::from_bytes(bytes)) {
                Ok(entry) => out.push(entry),
                Err(err) if err.raw_os_error() == Some(libc::ENOENT) => {}
                Err(err) => return Err(err),
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::{Read, Write};
    use std::os::unix::fs::symlink;

    fn tree() -> (tempfile::TempDir, Dir) {
        let t = tempfile::tempdir().unwrap();
        let root = t.path().join("root");
        std::fs::create_dir_all(root.join("a/b")).unwrap();
        std::fs::write(root.join("a/b/f"), "inside").unwrap();
        std::fs::write(t.path().join("canary"), "outside").unwrap();
        std::fs::create_dir(t.path().join("out")).unwrap();
        symlink(t.path().join("canary"), root.join("a/link")).unwrap();
        symlink(t.path().join("out"), root.join("a/dirlink")).unwrap();
        symlink("b", root.join("a/inner")).unwrap();
        let dir = Dir::open(&root).unwrap();
        (t, dir)
    }

    fn read(f: &mut File) -> String {
        let mut s = String::new();
        f.read_to_string(&mut s).unwrap();
        s
    }

    #[test]
    fn opens_plain_paths_and_refuses_every_link() {
        let (_t, dir) = tree();
        assert_eq!(
            read(&mut dir.open_file(Path::new("a/b/f")).unwrap()),
            "inside"
        );
        for rel in ["a/link", "a/dirlink/x", "a/inner/f"] {
            let e = dir.open_file(Path::new(rel)).unwrap_err();
            assert!(is_link(&e), "{rel}: {e}");
        }
        assert!(is_missing(&dir.open_file(Path::new("a/none")).unwrap_err()));
        assert!(is_dir(&dir.open_file(Path::new("a/b")).unwrap_err()));
        for rel in ["../root/a/b/f", "/etc/passwd", "a/../a/b/f"] {
            assert!(dir.open_file(Path::new(rel)).is_err(), "{rel}");
        }
        let e = dir.create_dir_all(Path::new("a/dirlink/new")).unwrap_err();
        assert!(is_link(&e), "{e}");
    }

    #[test]
    fn the_walk_without_openat2_refuses_links_too() {
        let (_t, dir) = tree();
        let flags = OFlag::O_RDONLY | OFlag::O_CLOEXEC;
        let parts = |s: &'static str| components(Path::new(s)).unwrap();
        let fd = dir
            .open_walk(&parts("a/b/f"), flags, Mode::empty())
            .unwrap();
        assert_eq!(read(&mut File::from(fd)), "inside");
        for rel in ["a/link", "a/dirlink/x", "a/inner/f"] {
            let e = dir
                .open_walk(&parts(rel), flags, Mode::empty())
                .unwrap_err();
            assert!(
                is_link(&e) || e.raw_os_error() == Some(libc::ENOTDIR),
                "{rel}: {e}"
            );
        }
    }

    #[test]
    fn writes_replace_a_planted_link_instead_of_following_it() {
        let (t, dir) = tree();
        let a = dir.open_dir(Path::new("a")).unwrap();
        assert!(a.create_new(OsStr::new("link")).is_err());
        let mut f = a.create_new(OsStr::new("tmp")).unwrap();
        f.write_all(b"new").unwrap();
        a.rename(OsStr::new("tmp"), OsStr::new("link")).unwrap();
        assert_eq!(
            std::fs::read_to_string(t.path().join("canary")).unwrap(),
            "outside"
        );
        assert_eq!(read(&mut a.open_file(Path::new("link")).unwrap()), "new");
        let kinds: std::collections::BTreeMap<_, _> = a
            .entries()
            .unwrap()
            .into_iter()
            .map(|e| (e.name.into_string().unwrap(), e.kind))
            .collect();
        assert_eq!(kinds["b"], Kind::Dir);
        assert_eq!(kinds["dirlink"], Kind::Symlink);
        assert_eq!(kinds["link"], Kind::File);
        // Removing a tree removes links in it, never what they point to.
        dir.remove_dir_all(OsStr::new("a")).unwrap();
        assert!(t.path().join("out").is_dir());
        assert!(!t.path().join("root/a").exists());
    }
}
