//! Signals: runc's signal names, and the forwarding loop of an attached `run`.

use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::wait::{waitpid, WaitPidFlag, WaitStatus};
use nix::unistd::Pid;

use crate::error::{Error, Result, SysContext};

/// Parse a signal as runc does: a number, or a name with or without the `SIG` prefix in any
/// case (`KILL`, `sigkill`, `SIGRTMIN+3`). 0 is valid: like kill(2), it only checks that the
/// target exists (engines use it to probe).
///
/// ```
/// use runtime_core::signal::parse;
/// assert_eq!(parse("KILL").unwrap(), libc::SIGKILL);
/// assert_eq!(parse("SIGTERM").unwrap(), libc::SIGTERM);
/// assert_eq!(parse("9").unwrap(), 9);
/// assert_eq!(parse("0").unwrap(), 0);
/// assert!(parse("SIGNOPE").is_err());
/// ```
pub fn parse(raw: &str) -> Result<i32> {
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
    name.parse::<Signal>()
        .map(|s| s as i32)
        .map_err(|_| unknown())
}

/// Signals a fault raises synchronously in the faulting thread: never blocked.
const SYNCHRONOUS: [Signal; 6] = [
    Signal::SIGSEGV,
    Signal::SIGBUS,
    Signal::SIGFPE,
    Signal::SIGILL,
    Signal::SIGTRAP,
    Signal::SIGSYS,
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

/// Forward every signal we receive to `pid` until it exits; reap it (and any other child) and
/// return its exit status, 128+n when it was killed by signal n.
pub(crate) fn forward_until_exit(pid: i32, f: &Forwarding) -> Result<i32> {
    let target = Pid::from_raw(pid);
    loop {
        if let Some(code) = reap(target)? {
            return Ok(code);
        }
        let sig = f.set.wait().ctx(|| "wait for signals".into())?;
        if sig != Signal::SIGCHLD {
            // The init may have just exited; ESRCH then is no error, the next reap sees it.
            let _ = kill(target, sig);
        }
    }
}

fn reap(target: Pid) -> Result<Option<i32>> {
    loop {
        match waitpid(None, Some(WaitPidFlag::WNOHANG)) {
            Ok(WaitStatus::Exited(p, code)) if p == target => return Ok(Some(code)),
            Ok(WaitStatus::Signaled(p, sig, _)) if p == target => {
                return Ok(Some(128 + sig as i32))
            }
            Ok(WaitStatus::StillAlive) => return Ok(None),
            Ok(_) => continue,
            Err(nix::errno::Errno::ECHILD) => {
                return Err(Error::Other(format!(
                    "lost track of the init (pid {target})"
                )))
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(e) => return Err(Error::sys("waitpid", e)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_numbers_and_realtime() {
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
