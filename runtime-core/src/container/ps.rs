//! `ps`: the host pids of a container's processes, from its cgroup.

use crate::cgroups;
use crate::error::Result;
use crate::Runtime;

pub(crate) fn pids(rt: &Runtime, id: &str) -> Result<Vec<i32>> {
    let rec = rt.record(id)?;
    Ok(cgroups::manager(&rec.cgroup, None).pids()?)
}
