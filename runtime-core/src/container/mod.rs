//! The operations of [`Runtime`], one file each as in youki's libcontainer (`create.rs`,
//! `start.rs`, ...); this file holds what they share: finding a container's record, the pid
//! file, the pidfd socket, the console socket check.

pub(crate) mod create;
pub(crate) mod delete;
pub(crate) mod events;
pub(crate) mod exec;
pub(crate) mod kill;
pub(crate) mod list;
pub(crate) mod pause;
pub(crate) mod ps;
pub(crate) mod run;
pub(crate) mod start;
pub(crate) mod update;

use std::path::Path;

use crate::error::{self, Error, Result};
use crate::state::{self, derive_status, Record, Status};
use crate::{sys, Runtime};

impl Runtime {
    /// The record of container `id`; one whose `create` has not recorded it yet is refused.
    pub(crate) fn record(&self, id: &str) -> Result<Record> {
        state::validate_id(id)?;
        self.store
            .load(id)?
            .ok_or_else(|| Error::InvalidState(format!("container {id} is being created")))
    }

    /// A record of a container whose init is alive (created, running or paused).
    pub(crate) fn live_record(&self, id: &str) -> Result<(Record, Status)> {
        let rec = self.record(id)?;
        match derive_status(&self.store, &rec) {
            Status::Stopped => Err(Error::NotRunning(id.into())),
            s => Ok((rec, s)),
        }
    }
}

/// A terminal needs a console socket to send its master to, and a console socket is only
/// meaningful with a terminal (runc refuses both mismatches). Returns the socket to use.
/// (The `baleia` CLI gives a foreground `run -t` or `exec -t` a socket of its own and proxies
/// the terminal to its stdio, as runc does.)
pub(crate) fn check_console<'a>(
    p: &oci_spec::runtime::Process,
    socket: Option<&'a Path>,
) -> Result<Option<&'a Path>> {
    match (p.terminal() == Some(true), socket) {
        (true, None) => Err(Error::Spec(
            "cannot allocate a terminal: process.terminal is true but no --console-socket was given to send it to".into(),
        )),
        (false, Some(_)) => Err(Error::Spec(
            "cannot use a console socket if the process has no terminal (process.terminal is false)".into(),
        )),
        (true, Some(s)) => Ok(Some(s)),
        (false, None) => Ok(None),
    }
}

/// Write a pid file as engines want it: the decimal host pid, no newline, atomically (a
/// relative path is relative to our cwd, as in runc).
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("getcwd", e))?;
    state::write_atomic(
        &error::absolute(&cwd, path),
        pid.to_string().as_bytes(),
        0o644,
    )
}

/// Connect to a `--pidfd-socket` before anything is made, so that a wrong path fails early.
pub(crate) fn connect_pidfd_socket(path: &Path) -> Result<std::os::fd::OwnedFd> {
    std::os::unix::net::UnixStream::connect(path)
        .map(Into::into)
        .map_err(|e| Error::io(format!("connect to pidfd socket {}", path.display()), e))
}

/// Send a pidfd of `pid` (our child, so not yet reusable) as runc does: payload `kind`
/// ("standard" for the init, "setns" for an exec'd process) and one SCM_RIGHTS fd.
pub(crate) fn send_pidfd(sock: &std::os::fd::OwnedFd, pid: i32, kind: &str) -> Result<()> {
    use std::os::fd::AsRawFd;
    let pidfd = sys::pidfd_open(pid).map_err(|e| Error::sys(format!("pidfd_open {pid}"), e))?;
    sys::send_fd(sock.as_raw_fd(), kind.as_bytes(), pidfd.as_raw_fd())
        .map_err(|e| Error::sys(format!("send the pidfd of {pid} to the pidfd socket"), e))
}
