//! `start`: release a created container's init (one byte into its exec fifo), then run the
//! poststart hooks.

use super::kill;
use crate::error::{Error, Result};
use crate::state::{self, derive_status, Record, Status};
use crate::{hooks, Runtime};

pub(crate) fn start(rt: &Runtime, id: &str) -> Result<()> {
    let _lock = rt.store.lock(id)?;
    let rec = rt.record(id)?;
    match derive_status(&rt.store, &rec) {
        Status::Created => {}
        Status::Stopped => {
            return Err(Error::InvalidState(
                "cannot start a container that has stopped".into(),
            ))
        }
        Status::Paused => return Err(Error::Paused(id.into())),
        _ => {
            return Err(Error::InvalidState(
                "cannot start an already running container".into(),
            ))
        }
    }
    release(rt, &rec)
}

/// Start a container known to be created, whose lock the caller holds.
fn release(rt: &Runtime, rec: &Record) -> Result<()> {
    let id = rec.id.as_str();
    let fifo = rt.store.dir(id).join(state::EXEC_FIFO);
    // Non-blocking: with no reader left (the init died) this fails at once instead of hanging.
    let fd = nix::fcntl::open(
        &fifo,
        nix::fcntl::OFlag::O_WRONLY | nix::fcntl::OFlag::O_NONBLOCK | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| match e {
        nix::errno::Errno::ENXIO => {
            Error::InvalidState("cannot start a container that has stopped".into())
        }
        e => Error::sys(format!("open {}", fifo.display()), e),
    })?;
    nix::unistd::write(&fd, b"0")
        .map_err(|e| Error::sys(format!("write {}", fifo.display()), e))?;
    drop(fd);
    std::fs::remove_file(&fifo).map_err(|e| Error::path("remove", &fifo, e))?;
    poststart(rec)
}

/// The poststart hooks of a container whose init was just let go; if one fails, the container
/// is killed.
pub(crate) fn poststart(rec: &Record) -> Result<()> {
    if let Some(h) = rec.hooks.as_ref().and_then(|h| h.poststart().as_ref()) {
        if let Err(e) = hooks::run_from_bundle(
            "poststart",
            Some(h),
            &hooks::record_state(rec, "running", rec.pid),
            &rec.bundle,
        ) {
            let _ = kill::send(rec, libc::SIGKILL, true);
            return Err(e);
        }
    }
    Ok(())
}
