//! `kill`: a signal to the init through a pidfd checked against the recorded start time, or to
//! every process through the cgroup.

use crate::cgroups;
use crate::error::{Error, Result};
use crate::state::{self, derive_status, Record, Status};
use crate::{signal, sys, Runtime};

pub(crate) fn kill(rt: &Runtime, id: &str, signal: signal::Signal, all: bool) -> Result<()> {
    let signal = signal.as_raw();
    let rec = rt.record(id)?;
    let status = derive_status(&rt.store, &rec);
    if status == Status::Stopped {
        if !all {
            return Err(Error::NotRunning(id.into()));
        }
        let cgroup = cgroups::manager(&rec.cgroup, None);
        // An empty (or already removed) cgroup has nothing to signal; freezing it to walk
        // an empty list would only fail on a removed one.
        if cgroup.pids()?.is_empty() {
            return Ok(());
        }
        return Ok(cgroup.kill_all(signal)?);
    }
    send(&rec, signal, all)?;
    // A frozen (cgroup v1) process gets nothing until thawed: a SIGKILL to a paused
    // container's init thaws the cgroup so that it dies, as runc does (kill_all already
    // thaws for SIGKILL).
    if status == Status::Paused && signal == libc::SIGKILL && !all {
        cgroups::manager(&rec.cgroup, None).thaw()?;
    }
    Ok(())
}

/// The signal itself, the checks done (also `start`'s kill after a failing poststart hook).
pub(crate) fn send(rec: &Record, signal: i32, all: bool) -> Result<()> {
    log::debug!(
        "container {}: send signal {signal} to {}",
        rec.id,
        if all {
            "every process in its cgroup".to_string()
        } else {
            format!("the init (pid {})", rec.pid)
        }
    );
    // With the host's pid namespace, killing the init leaves the rest running: only the
    // cgroup knows every process.
    if all || (rec.host_pid_ns && signal == libc::SIGKILL) {
        cgroups::manager(&rec.cgroup, None).kill_all(signal)?;
        if !all {
            return Ok(());
        }
    }
    let pidfd = match sys::pidfd_open(rec.pid) {
        Ok(fd) => fd,
        Err(nix::errno::Errno::ESRCH) if all => return Ok(()),
        Err(nix::errno::Errno::ESRCH) => return Err(Error::NotRunning(rec.id.clone())),
        Err(e) => return Err(Error::sys(format!("pidfd_open {}", rec.pid), e)),
    };
    // The pidfd pins the process: check it is still ours before signalling it.
    if !state::is_alive(rec.pid, rec.start_time) {
        return if all {
            Ok(())
        } else {
            Err(Error::NotRunning(rec.id.clone()))
        };
    }
    match sys::pidfd_send_signal(&pidfd, signal) {
        Ok(()) => Ok(()),
        Err(nix::errno::Errno::ESRCH) if all => Ok(()),
        Err(nix::errno::Errno::ESRCH) => Err(Error::NotRunning(rec.id.clone())),
        Err(e) => Err(Error::sys(
            format!("send signal {signal} to pid {}", rec.pid),
            e,
        )),
    }
}
