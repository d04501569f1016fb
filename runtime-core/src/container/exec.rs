//! `exec`: a new process in a live container (the mechanism, helper and child, is in
//! `crate::exec`).

use crate::error::{Error, Result};
use crate::state::{derive_status, Status};
use crate::{exec, selfexe, ExecOptions, Runtime};

/// Into a live container only, and a paused one only when asked.
pub(crate) fn exec(rt: &Runtime, id: &str, opts: &ExecOptions) -> Result<i32> {
    selfexe::require_protection()?;
    let rec = rt.record(id)?;
    match derive_status(&rt.store, &rec) {
        Status::Stopped => Err(Error::InvalidState(
            "cannot exec in a stopped container".into(),
        )),
        // runc's words; --ignore-paused lets the process join the frozen cgroup and run
        // once thawed.
        Status::Paused if !opts.ignore_paused => Err(Error::InvalidState(
            "cannot exec in a paused container (use --ignore-paused to override)".into(),
        )),
        _ => exec::exec(&rec, opts, rt.store.root()),
    }
}
