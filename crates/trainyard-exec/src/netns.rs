//! Network namespaces of a run's own ([`crate::Network::Isolated`]): a worker that serves on
//! its loopback (a visualization server) is reachable only by a process that enters its
//! namespace, which takes root: the trainyard server, never a job of any project.

use std::io;
use std::net::{Ipv4Addr, SocketAddr, TcpStream};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// Moves the calling process into a new network namespace and brings its loopback up: the
/// process can reach nothing outside it and nothing outside reaches it. Meant for a `pre_exec`
/// hook: only async-signal-safe calls. Needs `CAP_SYS_ADMIN` (a root shim, before it drops
/// to the job's user).
pub fn enter_own() -> io::Result<()> {
    // SAFETY: plain libc calls with valid arguments; `req` is a zeroed, properly sized ifreq.
    unsafe {
        if libc::unshare(libc::CLONE_NEWNET) != 0 {
            return Err(io::Error::last_os_error());
        }
        let fd = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if fd < 0 {
            return Err(io::Error::last_os_error());
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        req.ifr_name[0] = b'l' as libc::c_char;
        req.ifr_name[1] = b'o' as libc::c_char;
        let mut result = libc::ioctl(fd, libc::SIOCGIFFLAGS, &mut req);
        if result == 0 {
            req.ifr_ifru.ifru_flags |= libc::IFF_UP as libc::c_short;
            result = libc::ioctl(fd, libc::SIOCSIFFLAGS, &req);
        }
        let error = io::Error::last_os_error();
        libc::close(fd);
        if result != 0 {
            return Err(error);
        }
    }
    Ok(())
}

/// A process whose network namespace is entered: its pid and start time (so a reused pid is
/// never taken for it).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct NetNs {
    /// The process.
    pub pid: i32,
    /// Its start time ([`crate::proc::start_time`]).
    pub start_time: u64,
}

impl NetNs {
    /// The network namespace of a run's first worker, from the run folder's record (`shim.json`)
    /// (written by the root shim, never by the job). `None` before the worker started.
    pub fn of_run(run_dir: &std::path::Path) -> Option<Self> {
        let first = crate::run_dir::read_workers(run_dir).into_iter().next()?;
        Some(Self {
            pid: first.pid,
            start_time: first.start_time,
        })
    }

    /// Connects to `127.0.0.1:port` inside this namespace. Blocking: a thread of its own enters
    /// the namespace (entering changes only the calling thread, and the socket keeps the
    /// namespace it was made in), so no thread of the caller's is ever left inside.
    pub fn connect(self, port: u16, timeout: Duration) -> io::Result<TcpStream> {
        std::thread::Builder::new()
            .name("netns-connect".to_owned())
            .spawn(move || self.connect_here(port, timeout))?
            .join()
            .map_err(|_| io::Error::other("the connecting thread panicked"))?
    }

    fn connect_here(self, port: u16, timeout: Duration) -> io::Result<TcpStream> {
        let ns = std::fs::File::open(format!("/proc/{}/ns/net", self.pid))?;
        // Checked after the open: the handle is the namespace of the very process recorded.
        if crate::proc::start_time(self.pid) != Some(self.start_time) {
            return Err(io::Error::new(
                io::ErrorKind::NotFound,
                format!("process {} has ended", self.pid),
            ));
        }
        // SAFETY: `ns` is an open namespace file; setns changes only this thread, which ends
        // when this function returns.
        if unsafe { libc::setns(ns.as_raw_fd(), libc::CLONE_NEWNET) } != 0 {
            return Err(io::Error::last_os_error());
        }
        TcpStream::connect_timeout(&SocketAddr::from((Ipv4Addr::LOCALHOST, port)), timeout)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;

    /// A child in a namespace of its own serves on its loopback: entering reaches it, the
    /// host's loopback does not. Needs root (skipped without it, as the feature is).
    #[test]
    fn only_a_connection_made_inside_reaches_a_server_in_its_own_namespace() {
        if !crate::sandbox::privileged() {
            eprintln!("skipped: needs root");
            return;
        }
        let (ready_r, ready_w) = std::io::pipe().unwrap();
        let script = "import socket,sys\ns=socket.socket()\ns.bind(('127.0.0.1',0))\ns.listen()\nprint(s.getsockname()[1],flush=True)\nc,_=s.accept()\nc.sendall(b'hi')\n";
        let mut cmd = std::process::Command::new("python3");
        cmd.args(["-c", script]).stdout(ready_w);
        // SAFETY: enter_own is async-signal-safe.
        unsafe {
            std::os::unix::process::CommandExt::pre_exec(&mut cmd, enter_own);
        }
        let mut child = cmd.spawn().unwrap();
        drop(cmd);
        let mut line = String::new();
        std::io::BufRead::read_line(&mut std::io::BufReader::new(ready_r), &mut line).unwrap();
        let port: u16 = line.trim().parse().unwrap();
        let ns = NetNs {
            pid: child.id() as i32,
            start_time: crate::proc::start_time(child.id() as i32).unwrap(),
        };
        // The host's loopback has no such server (or, by chance, another one: never this one).
        if let Ok(mut s) = TcpStream::connect(("127.0.0.1", port)) {
            let mut got = Vec::new();
            let _ = s.set_read_timeout(Some(Duration::from_millis(200)));
            let _ = s.read_to_end(&mut got);
            assert_ne!(got, b"hi");
        }
        let stale = NetNs {
            start_time: ns.start_time + 1,
            ..ns
        };
        assert!(stale.connect(port, Duration::from_secs(2)).is_err());
        let mut s = ns.connect(port, Duration::from_secs(2)).unwrap();
        let mut got = Vec::new();
        s.read_to_end(&mut got).unwrap();
        assert_eq!(got, b"hi");
        child.wait().unwrap();
    }
}
