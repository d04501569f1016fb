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
/// its status (it was created an instant ago). The lock is taken again in between, so a
/// `delete` or `kill` from another process may come first, as between two commands; then
/// starting fails as `start` would.
fn create_and_start(rt: &Runtime, id: &str, opts: &CreateOptions) -> Result<i32> {
    let rec = create::create_record(rt, id, opts)?;
    let started = rt.store.lock(id).and_then(|_lock| start::release(rt, &rec));
    if let Err(e) = started {
        let _ = delete::delete(rt, id, true);
        return Err(e);
    }
    Ok(rec.pid)
}
