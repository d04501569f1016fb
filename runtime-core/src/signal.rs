//! Signals: the [`Signal`] that [`Runtime::kill`](crate::Runtime::kill) sends, runc's signal
//! names, and the forwarding loop of an attached `run`.

use nix::sys::signal::{SigSet, SigmaskHow, Signal as NixSignal};

use crate::error::{Error, Result, SysContext};

/// A signal to send to a container's processes: a signal number of this host, or 0, which
/// (as with kill(2)) sends nothing and only checks that the target exists.
///
/// ```
/// use runtime_core::signal::Signal;
/// assert_eq!(Signal::KILL.as_raw(), libc::SIGKILL);
/// assert_eq!("SIGUSR1".parse::<Signal>().unwrap(), Signal::new(libc::SIGUSR1).unwrap());
/// assert!(Signal::new(-1).is_err());
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Signal(i32);

impl Signal {
    /// SIGKILL.
    pub const KILL: Signal = Signal(libc::SIGKILL);
    /// SIGTERM, what `kill` sends by default.
    pub const TERM: Signal = Signal(libc::SIGTERM);

    /// The signal numbered `n`: 0 to SIGRTMAX.
    ///
    /// ```
    /// assert!(runtime_core::signal::Signal::new(9).is_ok());
    /// ```
    pub fn new(n: i32) -> Result<Signal> {
        if (0..=libc::SIGRTMAX()).contains(&n) {
            Ok(Signal(n))
        } else {
            Err(Error::Other(format!("unknown signal {n}")))
        }
    }

    /// Its number.
    ///
    /// ```
    /// assert_eq!(runtime_core::signal::Signal::TERM.as_raw(), 15);
    /// ```
    pub fn as_raw(self) -> i32 {
        self.0
    }
}

/// How a container's process ended: what [`Runtime::run`](crate::Runtime::run) waited for.
/// (A shell's `$?`, 128+n for a signal, is the caller's convention to apply: `baleia run`
/// exits with it, as runc does.)
///
/// ```
/// use runtime_core::signal::{ExitStatus, Signal};
/// let s = ExitStatus::Signaled(Signal::KILL);
/// assert_eq!((s.code(), s.signal()), (None, Some(Signal::KILL)));
/// assert_eq!(ExitStatus::Exited(3).code(), Some(3));
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum ExitStatus {
    /// The process exited with this code.
    Exited(i32),
    /// A signal killed the process.
    Signaled(Signal),
}

impl ExitStatus {
    /// The exit code, when the process exited.
    ///
    /// ```
    /// assert_eq!(runtime_core::signal::ExitStatus::Exited(0).code(), Some(0));
    /// ```
    pub fn code(self) -> Option<i32> {
        match self {
            ExitStatus::Exited(c) => Some(c),
            ExitStatus::Signaled(_) => None,
        }
    }

    /// The signal that killed the process, when one did.
    ///
    /// ```
    /// assert_eq!(runtime_core::signal::ExitStatus::Exited(1).signal(), None);
    /// ```
    pub fn signal(self) -> Option<Signal> {
        match self {
            ExitStatus::Signaled(s) => Some(s),
            ExitStatus::Exited(_) => None,
        }
    }
}

impl std::fmt::Display for Signal {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}", self.0)
    }
}

impl std::str::FromStr for Signal {
    type Err = Error;

    /// As [`parse`].
    fn from_str(s: &str) -> Result<Signal> {
        parse(s)
    }
}

/// Parse a signal as runc does: a number, or a name with or without the `SIG` prefix in any
/// case (`KILL`, `sigkill`, `SIGRTMIN+3`). 0 is valid: like kill(2), it only checks that the
/// target exists (engines use it to probe).
///
/// ```
/// use runtime_core::signal::{parse, Signal};
/// assert_eq!(parse("KILL").unwrap(), Signal::KILL);
/// assert_eq!(parse("SIGTERM").unwrap(), Signal::TERM);
/// assert_eq!(parse("9").unwrap().as_raw(), 9);
/// assert_eq!(parse("0").unwrap().as_raw(), 0);
/// assert!(parse("SIGNOPE").is_err());
/// ```
pub fn parse(raw: &str) -> Result<Signal> {
    parse_raw(raw).map(Signal)
}

fn parse_raw(raw: &str) -> Result<i32> {
    let unknown = || Error::Other(format!("unknown signal {raw:?}"));
    if let Ok(n) = raw.parse::<i32>() {
        return if (0..=libc::SIGRTMAX()).contains(&n) {
            Ok(n)
        } else {
            Err(unknown())
        };
    }
    let upper = raw.to_ascii_uppercase();
    let name = if upper.starts_with("SIG") {
        upper
    } else {
        format!("SIG{upper}")
    };
    let rt = |base: i32, off: &str, sign: i32| -> Result<i32> {
        let n: i32 = if off.is_empty() {
            0
        } else {
            off.parse().map_err(|_| unknown())?
        };
        let s = base + sign * n;
        if (libc::SIGRTMIN()..=libc::SIGRTMAX()).contains(&s) {
            Ok(s)
        } else {
            Err(unknown())
        }
    };
    if let Some(off) = name.strip_prefix("SIGRTMIN") {
        return rt(libc::SIGRTMIN(), off.trim_start_matches('+'), 1);
    }
    if let Some(off) = name.strip_prefix("SIGRTMAX") {
        return rt(libc::SIGRTMAX(), off.trim_start_matches('-'), -1);
    }
    name.parse::<NixSignal>()
        .map(|s| s as i32)
        .map_err(|_| unknown())
}

/// Signals a fault raises synchronously in the faulting thread: never blocked.
const SYNCHRONOUS: [NixSignal; 6] = [
    NixSignal::SIGSEGV,
    NixSignal::SIGBUS,
    NixSignal::SIGFPE,
    NixSignal::SIGILL,
    NixSignal::SIGTRAP,
    NixSignal::SIGSYS,
];

/// The signal mask before `run` blocked the signals it forwards.
#[derive(Debug)]
pub struct Forwarding {
    old: SigSet,
    set: SigSet,
}

/// Block every signal `run` forwards (and SIGCHLD), so that none is lost between creating the
/// container and waiting for it. The init unblocks them before execve.
pub(crate) fn block_forwarded() -> Result<Forwarding> {
    let mut set = SigSet::all();
    for s in SYNCHRONOUS {
        set.remove(s);
    }
    let mut old = SigSet::empty();
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_BLOCK, Some(&set), Some(&mut old))
        .ctx(|| "block signals to forward".into())?;
    Ok(Forwarding { old, set })
}

/// Put back the signal mask `block_forwarded` replaced.
pub(crate) fn restore(f: &Forwarding) -> Result<()> {
    nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&f.old), None)
        .ctx(|| "restore the signal mask".into())
}

/// Forward every signal we receive to `pid` (our child) until it exits; reap it and return
/// how it ended.
///
/// Waits on a pidfd of that one process and reads the blocked signals from a signalfd, so it
/// never reaps another child of an embedding program and does not depend on which thread
/// the kernel picks for SIGCHLD.
pub(crate) fn forward_until_exit(pid: i32, f: &Forwarding) -> Result<ExitStatus> {
    use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
    use nix::sys::signalfd::{SfdFlags, SignalFd};
    use std::os::fd::{AsFd, AsRawFd};

    let pidfd = crate::sys::pidfd_open(pid).ctx(|| format!("pidfd_open {pid}"))?;
    let mut sigs = f.set;
    sigs.remove(NixSignal::SIGCHLD);
    let sfd = SignalFd::with_flags(&sigs, SfdFlags::SFD_CLOEXEC | SfdFlags::SFD_NONBLOCK)
        .ctx(|| "signalfd for the signals to forward".into())?;
    loop {
        let mut fds = [
            PollFd::new(pidfd.as_fd(), PollFlags::POLLIN),
            PollFd::new(sfd.as_fd(), PollFlags::POLLIN),
        ];
        match poll(&mut fds, PollTimeout::NONE) {
            Ok(_) => {}
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("wait for the container process", e)),
        }
        while let Ok(Some(info)) = sfd.read_signal() {
            // The process may have just exited; ESRCH then is no error, the pidfd tells.
            let _ = crate::sys::pidfd_send_signal(&pidfd, info.ssi_signo as i32);
        }
        if fds[0]
            .revents()
            .is_some_and(|r| r.contains(PollFlags::POLLIN))
        {
            return reap(pid, pidfd.as_raw_fd());
        }
    }
}

/// waitid(P_PIDFD) of our exited child.
fn reap(pid: i32, pidfd: i32) -> Result<ExitStatus> {
    loop {
        // SAFETY: an all-zero siginfo is valid for the kernel to fill.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        // SAFETY: waitid on a pidfd of our own child, writing into `info`.
        let r =
            unsafe { libc::waitid(libc::P_PIDFD, pidfd as libc::id_t, &mut info, libc::WEXITED) };
        if r < 0 {
            match nix::errno::Errno::last() {
                nix::errno::Errno::EINTR => continue,
                e => return Err(Error::sys(format!("wait for pid {pid}"), e)),
            }
        }
        // SAFETY: waitid filled the child fields of `info`.
        let status = unsafe { info.si_status() };
        return Ok(match info.si_code {
            libc::CLD_EXITED => ExitStatus::Exited(status),
            _ => ExitStatus::Signaled(Signal(status)),
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_realtime() {
        let parse = |s| parse(s).map(Signal::as_raw);
        assert_eq!(parse("kill").unwrap(), libc::SIGKILL);
        assert_eq!(parse("SigUsr1").unwrap(), libc::SIGUSR1);
        assert_eq!(parse("15").unwrap(), 15);
        assert_eq!(parse("0").unwrap(), 0);
        assert_eq!(parse("RTMIN+2").unwrap(), libc::SIGRTMIN() + 2);
        assert_eq!(parse("SIGRTMAX").unwrap(), libc::SIGRTMAX());
        for bad in ["65", "-1", "FOO", "SIG", "RTMIN+99", ""] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }
}
