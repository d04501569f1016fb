//! `events`: resource usage (`--stats`) and OOM kills of a live container.

use crate::cgroups;
use crate::error::Result;
use crate::Runtime;

pub(crate) fn stats(rt: &Runtime, id: &str) -> Result<cgroups::Stats> {
    let (rec, _) = rt.live_record(id)?;
    let mut stats = cgroups::manager(&rec.cgroup, None).stats()?;
    // A container without a network namespace of its own has no interfaces to report.
    stats.network_interfaces = cgroups::network_interfaces(rec.pid).unwrap_or_default();
    Ok(stats)
}

pub(crate) fn watch_oom(rt: &Runtime, id: &str) -> Result<Option<cgroups::OomWatcher>> {
    let (rec, _) = rt.live_record(id)?;
    Ok(cgroups::OomWatcher::new(&rec.cgroup.paths)?)
}
