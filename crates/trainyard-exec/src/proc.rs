//! Helpers that read `/proc` (Linux only).
//!
//! A PID alone does not identify a process: PIDs are reused. Everything that signals a stored
//! PID first compares the start time recorded at spawn with the one in `/proc/<pid>/stat`.

use std::fs;

/// The fields of `/proc/<pid>/stat` we use.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Stat {
    /// Field 3: one-letter state (`R`, `S`, `D`, `Z`, `T`, ...).
    pub state: char,
    /// Field 4: parent PID.
    pub ppid: i32,
    /// Field 5: process group ID.
    pub pgid: i32,
    /// Field 22: start time in clock ticks since boot.
    pub start_time: u64,
}

/// Reads and parses `/proc/<pid>/stat`; `None` when the process does not exist.
pub fn stat(pid: i32) -> Option<Stat> {
    if pid <= 0 {
        return None;
    }
    let text = fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    parse_stat(&text)
}

/// Parses the text of a `/proc/<pid>/stat` file.
///
/// The command name (field 2) is in parentheses and may contain spaces and `)`, so fields are
/// counted from the last `)`.
pub fn parse_stat(text: &str) -> Option<Stat> {
    let rest = &text[text.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    // fields[0] is field 3 of the file, so field N is fields[N - 3].
    Some(Stat {
        state: fields.first()?.chars().next()?,
        ppid: fields.get(1)?.parse().ok()?,
        pgid: fields.get(2)?.parse().ok()?,
        start_time: fields.get(19)?.parse().ok()?,
    })
}

/// Start time of `pid` (field 22 of `/proc/<pid>/stat`), or `None` if there is no such process.
pub fn start_time(pid: i32) -> Option<u64> {
    stat(pid).map(|s| s.start_time)
}

/// True when `pid` exists, is not a zombie and started at `start_time` (so it is the same process).
pub fn is_alive(pid: i32, start_time: u64) -> bool {
    match stat(pid) {
        Some(s) => s.start_time == start_time && s.state != 'Z' && s.state != 'X',
        None => false,
    }
}

/// A pidfd of a process that is not our child: readable once it has exited, so a follower
/// is woken by the kernel instead of polling `/proc`.
#[derive(Debug)]
pub struct Exited(std::os::fd::OwnedFd);

impl Exited {
    /// The pidfd of `pid`; `None` when there is no such process or the kernel has no pidfds
    /// (Linux before 5.3). Check the process's start time *after* opening it: the PID may
    /// have been reused before.
    pub fn open(pid: i32) -> Option<Self> {
        use std::os::fd::FromRawFd;
        if pid <= 0 {
            return None;
        }
        // SAFETY: pidfd_open takes a pid and flags; it returns a new descriptor or -1.
        let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
        let fd = i32::try_from(fd).ok().filter(|fd| *fd >= 0)?;
        // SAFETY: the kernel just gave us this descriptor; nothing else owns it.
        Some(Self(unsafe { std::os::fd::OwnedFd::from_raw_fd(fd) }))
    }
}

impl std::os::fd::AsRawFd for Exited {
    fn as_raw_fd(&self) -> std::os::fd::RawFd {
        self.0.as_raw_fd()
    }
}

/// True while any process (a zombie included) is in one of the process groups `pgids`.
///
/// One `kill(-pgid, 0)` per group: the kernel looks the group up directly, where
/// [`members_of_groups`] reads the `stat` of every process on the host (measured here: one
/// such scan per run's end dominated the shim's CPU time with ~100 processes on the host).
/// A group the caller may not signal still has members: it answers `EPERM`, not `ESRCH`.
pub fn any_group_alive(pgids: &[i32]) -> bool {
    use nix::errno::Errno;
    use nix::unistd::Pid;
    pgids.iter().any(|&pgid| {
        pgid > 0
            && !matches!(
                nix::sys::signal::kill(Pid::from_raw(-pgid), None),
                Err(Errno::ESRCH)
            )
    })
}

/// PIDs of every process (zombies included) whose process group is `pgid`.
pub fn group_members(pgid: i32) -> Vec<i32> {
    members_of_groups(&[pgid])
}

/// PIDs of every process (zombies included) whose process group is one of `pgids`; one scan of
/// `/proc`.
pub fn members_of_groups(pgids: &[i32]) -> Vec<i32> {
    let Ok(entries) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<i32>().ok())
        .filter(|&pid| stat(pid).is_some_and(|s| pgids.contains(&s.pgid)))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_names_with_parens_and_spaces() {
        let line =
            "1234 (a) b (c)) S 1 1234 1234 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        let s = parse_stat(line).unwrap();
        assert_eq!(
            s,
            Stat {
                state: 'S',
                ppid: 1,
                pgid: 1234,
                start_time: 987654
            }
        );
    }

    #[test]
    fn a_group_is_alive_while_it_has_a_member_a_zombie_included() {
        use std::os::unix::process::CommandExt;
        let mut child = std::process::Command::new("true")
            .process_group(0)
            .spawn()
            .unwrap();
        let pgid = child.id() as i32;
        // Exited but not reaped: a zombie, still a member of its group.
        while stat(pgid).is_some_and(|s| s.state != 'Z') {
            std::thread::sleep(std::time::Duration::from_millis(1));
        }
        assert!(any_group_alive(&[pgid]));
        assert_eq!(members_of_groups(&[pgid]), vec![pgid]);
        child.wait().unwrap();
        assert!(!any_group_alive(&[pgid]));
        assert!(members_of_groups(&[pgid]).is_empty());
        assert!(!any_group_alive(&[]));
    }

    #[test]
    fn a_pidfd_becomes_readable_when_its_process_exits() {
        use std::os::fd::AsRawFd;
        let readable = |fd: &Exited, ms: i32| {
            let mut p = libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            };
            // SAFETY: one valid pollfd.
            unsafe { libc::poll(&mut p, 1, ms) == 1 }
        };
        let mut child = std::process::Command::new("sleep")
            .arg("0.3")
            .spawn()
            .unwrap();
        let exited = Exited::open(child.id() as i32).expect("pidfd_open (Linux >= 5.3)");
        assert!(!readable(&exited, 0), "readable while the process runs");
        assert!(readable(&exited, 10_000), "not readable once it exited");
        child.wait().unwrap();
        assert!(Exited::open(child.id() as i32).is_none());
    }

    #[test]
    fn own_process_is_alive() {
        let pid = std::process::id() as i32;
        let st = start_time(pid).unwrap();
        assert!(is_alive(pid, st));
        assert!(!is_alive(pid, st + 1));
        assert!(!is_alive(-5, st));
    }
}
