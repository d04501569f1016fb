//! `pause` and `resume`: freeze and thaw every process of a container through its cgroup.

use crate::cgroups;
use crate::error::{Error, Result};
use crate::state::Status;
use crate::Runtime;

pub(crate) fn pause(rt: &Runtime, id: &str) -> Result<()> {
    let _lock = rt.store.lock(id)?;
    let (rec, status) = rt.live_record(id)?;
    match status {
        Status::Running => Ok(cgroups::manager(&rec.cgroup, None).freeze()?),
        Status::Paused => Err(Error::Paused(id.into())),
        _ => Err(Error::NotRunning(id.into())),
    }
}

pub(crate) fn resume(rt: &Runtime, id: &str) -> Result<()> {
    let _lock = rt.store.lock(id)?;
    let (rec, status) = rt.live_record(id)?;
    match status {
        Status::Paused => Ok(cgroups::manager(&rec.cgroup, None).thaw()?),
        _ => Err(Error::InvalidState("container not paused".into())),
    }
}
