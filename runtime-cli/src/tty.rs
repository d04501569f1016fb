//! A foreground `run` or `exec` whose process has a terminal and no `--console-socket`: like
//! runc, the CLI takes the pty master itself and proxies it to its own stdio.
//!
//! The library only knows console sockets, so the CLI listens on one of its own (in a private
//! directory), lets `create`/`exec` send the master to it, and receives it once they return.
//! Then one loop, with no threads, polls stdin, the master and a signalfd: bytes both ways,
//! SIGWINCH copies our window size to the master, SIGCHLD reaps the process, every other
//! signal is forwarded to it. The caller's terminal is in raw mode meanwhile (the container's
//! own terminal does the echo and line editing) and restored however the loop ends.

use std::io::{IoSliceMut, Write};
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, FromRawFd, OwnedFd, RawFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};

use nix::errno::Errno;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::signal::{SigSet, SigmaskHow, Signal};
use nix::sys::signalfd::{SfdFlags, SignalFd};
use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
use nix::sys::termios::{self, SetArg, Termios};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;
use runtime_core::Error;

type Result<T> = std::result::Result<T, Error>;

fn sys(what: &str, e: Errno) -> Error {
    Error::Other(format!("{what}: {e}"))
}

/// A console socket of our own: a listening unix socket in a directory only we can enter,
/// removed on drop.
pub struct OwnConsole {
    dir: PathBuf,
    path: PathBuf,
    listener: UnixListener,
}

impl OwnConsole {
    pub fn new() -> Result<OwnConsole> {
        let template = std::env::temp_dir().join("baleia-tty-XXXXXX");
        // mkdtemp makes the directory 0700: nobody else can connect to our socket.
        let dir = nix::unistd::mkdtemp(&template)
            .map_err(|e| sys(&format!("make a directory like {}", template.display()), e))?;
        let path = dir.join("console.sock");
        let listener = match UnixListener::bind(&path) {
            Ok(l) => l,
            Err(e) => {
                let _ = std::fs::remove_dir(&dir);
                return Err(Error::Other(format!(
                    "listen on console socket {}: {e}",
                    path.display()
                )));
            }
        };
        Ok(OwnConsole {
            dir,
            path,
            listener,
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The master the container sent while it was being set up (it connected and sent before
    /// `create`/`exec` returned, so nothing here waits for long).
    pub fn receive_master(&self) -> Result<OwnedFd> {
        let no_master = || Error::Other("the container did not send its terminal".into());
        self.listener
            .set_nonblocking(true)
            .map_err(|e| Error::Other(format!("console socket: {e}")))?;
        let (stream, _) = self.listener.accept().map_err(|_| no_master())?;
        let fd = stream.as_fd();
        let mut pfd = [PollFd::new(fd, PollFlags::POLLIN)];
        let limit = PollTimeout::try_from(10_000).unwrap_or(PollTimeout::MAX);
        if poll(&mut pfd, limit).map_err(|e| sys("wait for the terminal", e))? == 0 {
            return Err(no_master());
        }
        let mut buf = [0u8; 64];
        let mut iov = [IoSliceMut::new(&mut buf)];
        let mut cmsg = nix::cmsg_space!([RawFd; 1]);
        let msg = recvmsg::<()>(
            fd.as_raw_fd(),
            &mut iov,
            Some(&mut cmsg),
            MsgFlags::MSG_CMSG_CLOEXEC,
        )
        .map_err(|e| sys("receive the terminal", e))?;
        for c in msg.cmsgs().map_err(|e| sys("receive the terminal", e))? {
            if let ControlMessageOwned::ScmRights(fds) = c {
                if let Some(&first) = fds.first() {
                    // SAFETY: the kernel just installed these fds in our table; we own them.
                    let master = unsafe { OwnedFd::from_raw_fd(first) };
                    for &extra in &fds[1..] {
                        // SAFETY: as above; extra fds are not ours to keep.
                        drop(unsafe { OwnedFd::from_raw_fd(extra) });
                    }
                    return Ok(master);
                }
            }
        }
        Err(no_master())
    }
}

impl Drop for OwnConsole {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
        let _ = std::fs::remove_dir(&self.dir);
    }
}

/// Signals stay blocked from before the container exists until the proxy ends, so that none is
/// lost; the loop receives them on a signalfd. The container's process unblocks them itself
/// before execve.
pub struct Blocked {
    old: SigSet,
    set: SigSet,
}

impl Blocked {
    pub fn new() -> Result<Blocked> {
        let mut set = SigSet::all();
        // Faults are raised in the faulting thread and cannot wait in a queue.
        for s in [
            Signal::SIGSEGV,
            Signal::SIGBUS,
            Signal::SIGFPE,
            Signal::SIGILL,
            Signal::SIGTRAP,
            Signal::SIGSYS,
        ] {
            set.remove(s);
        }
        let mut old = SigSet::empty();
        nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
            .map_err(|e| sys("block signals", e))?;
        Ok(Blocked { old, set })
    }
}

impl Drop for Blocked {
    fn drop(&mut self) {
        let _ = nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&self.old), None);
    }
}

/// The caller's terminal in raw mode, put back as it was on drop.
struct RawMode {
    saved: Termios,
}

impl RawMode {
    /// Raw mode on stdin when it is a terminal; `None` when it is not (a pipe, /dev/null).
    fn enter() -> Result<Option<RawMode>> {
        let stdin = std::io::stdin();
        let saved = match termios::tcgetattr(stdin.as_fd()) {
            Ok(t) => t,
            Err(Errno::ENOTTY) | Err(Errno::EINVAL) => return Ok(None),
            Err(e) => return Err(sys("read the terminal settings of stdin", e)),
        };
        let mut raw = saved.clone();
        termios::cfmakeraw(&mut raw);
        termios::tcsetattr(stdin.as_fd(), SetArg::TCSANOW, &raw)
            .map_err(|e| sys("put stdin in raw mode", e))?;
        Ok(Some(RawMode { saved }))
    }
}

impl Drop for RawMode {
    fn drop(&mut self) {
        // TCSADRAIN: what we wrote in raw mode is shown before the settings change back.
        let _ = termios::tcsetattr(std::io::stdin().as_fd(), SetArg::TCSADRAIN, &self.saved);
    }
}

/// Copies the window size of our stdin's terminal to the container's.
fn copy_size(master: BorrowedFd) {
    // SAFETY: TIOCGWINSZ/TIOCSWINSZ read and write one winsize; failures (stdin not a tty)
    // leave the container's size as the spec set it.
    unsafe {
        let mut ws: libc::winsize = std::mem::zeroed();
        if libc::ioctl(0, libc::TIOCGWINSZ, &mut ws) == 0 && ws.ws_row > 0 && ws.ws_col > 0 {
            libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws);
        }
    }
}

fn set_nonblocking(fd: BorrowedFd) -> Result<()> {
    use nix::fcntl::{fcntl, FcntlArg, OFlag};
    let fl = fcntl(fd, FcntlArg::F_GETFL).map_err(|e| sys("fcntl the terminal", e))?;
    fcntl(
        fd,
        FcntlArg::F_SETFL(OFlag::from_bits_retain(fl) | OFlag::O_NONBLOCK),
    )
    .map_err(|e| sys("fcntl the terminal", e))?;
    Ok(())
}

/// Copy whatever the master holds to stdout. Returns false once the terminal is closed on the
/// container's side (EIO: no process holds the slave any more).
fn pump_master(master: BorrowedFd, buf: &mut [u8]) -> Result<bool> {
    loop {
        match nix::unistd::read(master, buf) {
            Ok(0) | Err(Errno::EIO) => return Ok(false),
            Ok(n) => {
                let mut out = std::io::stdout().lock();
                // A caller that stopped reading our stdout loses the output, not the status.
                if out.write_all(&buf[..n]).and_then(|()| out.flush()).is_err() {
                    return Ok(true);
                }
            }
            Err(Errno::EAGAIN) => return Ok(true),
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(sys("read the terminal", e)),
        }
    }
}

/// Proxies the terminal `master` of process `pid` (our child) until it exits; returns its exit
/// status, 128+n when killed by signal n.
pub fn proxy(master: OwnedFd, pid: i32, blocked: &Blocked) -> Result<i32> {
    let target = Pid::from_raw(pid);
    let sigfd = SignalFd::with_flags(&blocked.set, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .map_err(|e| sys("signalfd", e))?;
    set_nonblocking(master.as_fd())?;
    let _raw = RawMode::enter()?;
    copy_size(master.as_fd());
    let mut stdin_open = true;
    let mut master_open = true;
    // Bytes read from stdin that the master did not take yet: never block on the master,
    // or a container that is busy writing could wait on us while we wait on it.
    let mut pending: Vec<u8> = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    let status = loop {
        // Signals first: a resize the caller made before typing applies before the input.
        let mut exited = None;
        while let Some(info) = sigfd.read_signal().map_err(|e| sys("read signals", e))? {
            match Signal::try_from(info.ssi_signo as i32) {
                Ok(Signal::SIGCHLD) => {}
                Ok(Signal::SIGWINCH) => copy_size(master.as_fd()),
                // The process may have just exited: ESRCH is no error, the reap sees it.
                // (libc: nix's Signal has no real-time signals, which are forwarded too.)
                // SAFETY: kill(2) has no memory effects.
                _ => unsafe {
                    libc::kill(pid, info.ssi_signo as i32);
                },
            }
        }
        loop {
            match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
                Ok(WaitStatus::Exited(p, code)) if p == target => exited = Some(code),
                Ok(WaitStatus::Signaled(p, sig, _)) if p == target => {
                    exited = Some(128 + sig as i32)
                }
                Ok(WaitStatus::StillAlive) | Err(Errno::ECHILD) => break,
                Ok(_) | Err(Errno::EINTR) => continue,
                Err(e) => return Err(sys("waitpid", e)),
            }
        }
        if let Some(code) = exited {
            // What the process wrote last is still in the terminal: show it.
            if master_open {
                pump_master(master.as_fd(), &mut buf)?;
            }
            break code;
        }
        let stdin = std::io::stdin();
        let mut fds = vec![PollFd::new(sigfd.as_fd(), PollFlags::POLLIN)];
        let mut master_events = PollFlags::empty();
        if master_open {
            master_events |= PollFlags::POLLIN;
        }
        if !pending.is_empty() {
            master_events |= PollFlags::POLLOUT;
        }
        let master_at = if master_events.is_empty() {
            None
        } else {
            fds.push(PollFd::new(master.as_fd(), master_events));
            Some(fds.len() - 1)
        };
        let stdin_at = if stdin_open && pending.is_empty() {
            fds.push(PollFd::new(stdin.as_fd(), PollFlags::POLLIN));
            Some(fds.len() - 1)
        } else {
            None
        };
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) | Err(Errno::EINTR) => {}
            Err(e) => return Err(sys("poll the terminal", e)),
        }
        let revents = |i: Option<usize>| {
            i.and_then(|i| fds[i].revents())
                .unwrap_or(PollFlags::empty())
        };
        let (m, i) = (revents(master_at), revents(stdin_at));
        drop(fds);
        if m.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            master_open = pump_master(master.as_fd(), &mut buf)?;
        }
        if m.contains(PollFlags::POLLOUT) && !pending.is_empty() {
            match nix::unistd::write(&master, &pending) {
                Ok(n) => {
                    pending.drain(..n);
                }
                Err(Errno::EAGAIN) | Err(Errno::EINTR) => {}
                // Nobody reads the terminal any more: drop the input.
                Err(_) => pending.clear(),
            }
        }
        if i.intersects(PollFlags::POLLIN | PollFlags::POLLHUP | PollFlags::POLLERR) {
            match nix::unistd::read(stdin.as_fd(), &mut buf) {
                // runc leaves the terminal open when its stdin ends; so do we.
                Ok(0) => stdin_open = false,
                Ok(n) => pending.extend_from_slice(&buf[..n]),
                Err(Errno::EINTR) | Err(Errno::EAGAIN) => {}
                Err(_) => stdin_open = false,
            }
        }
    };
    Ok(status)
}
