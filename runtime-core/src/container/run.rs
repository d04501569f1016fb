//! `run`: create and start, then (attached) forward signals to the init until it exits.

use super::{create, delete, start};
use crate::error::Result;
use crate::signal::{self, ExitStatus};
use crate::{CreateOptions, Runtime};

pub(crate) fn run(rt: &Runtime, id: &str, opts: &CreateOptions, keep: bool) -> Result<ExitStatus> {
    let forwarded = signal::block_forwarded()?;
    let pid = match create_and_start(rt, id, opts) {
        Ok(pid) => pid,
        Err(e) => {
            let _ = signal::restore(&forwarded);
            return Err(e);
        }
    };
    let status = signal::forward_until_exit(pid, &forwarded);
    if !keep {
        let _ = delete::delete(rt, id, true);
    }
    let _ = signal::restore(&forwarded);
    status
}

pub(crate) fn run_detached(rt: &Runtime, id: &str, opts: &CreateOptions) -> Result<i32> {
    create_and_start(rt, id, opts)
}

/// Create, then start from the record create saved instead of reading it back and deriving
/// its status (it was created an instant ago), under the lock create took: no other command
/// comes in between. The init has no exec fifo to wait on: released by create, it goes on to
/// execve, and what is left of `start` is the poststart hooks.
fn create_and_start(rt: &Runtime, id: &str, opts: &CreateOptions) -> Result<i32> {
    let (rec, lock) = create::create_record(rt, id, opts, false)?;
    let started = start::poststart(&rec);
    drop(lock);
    if let Err(e) = started {
        let _ = delete::delete(rt, id, true);
        return Err(e);
    }
    Ok(rec.pid)
}
