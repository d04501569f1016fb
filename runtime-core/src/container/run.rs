//! `run`: create and start, then (attached) forward signals to the init until it exits.

use super::delete;
use crate::error::Result;
use crate::signal::{self, ExitStatus};
use crate::{CreateOptions, Runtime};

pub(crate) fn run(rt: &Runtime, id: &str, opts: &CreateOptions, keep: bool) -> Result<ExitStatus> {
    let forwarded = signal::block_forwarded()?;
    let pid = match rt.create(id, opts) {
        Ok(pid) => pid,
        Err(e) => {
            let _ = signal::restore(&forwarded);
            return Err(e);
        }
    };
    if let Err(e) = rt.start(id) {
        let _ = delete::delete(rt, id, true);
        let _ = signal::restore(&forwarded);
        return Err(e);
    }
    let status = signal::forward_until_exit(pid, &forwarded);
    if !keep {
        let _ = delete::delete(rt, id, true);
    }
    let _ = signal::restore(&forwarded);
    status
}

pub(crate) fn run_detached(rt: &Runtime, id: &str, opts: &CreateOptions) -> Result<i32> {
    let pid = rt.create(id, opts)?;
    if let Err(e) = rt.start(id) {
        let _ = delete::delete(rt, id, true);
        return Err(e);
    }
    Ok(pid)
}
