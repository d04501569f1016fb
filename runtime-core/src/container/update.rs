//! `update`: new resource limits for a live container, with runc's semantics (omitted fields
//! keep their values), and new Intel RDT schemata.

use crate::cgroups;
use crate::error::{Error, Result};
use crate::Runtime;

pub(crate) fn update(
    rt: &Runtime,
    id: &str,
    resources: &oci_spec::runtime::LinuxResources,
) -> Result<()> {
    let _lock = rt.store.lock(id)?;
    let (rec, _) = rt.live_record(id)?;
    cgroups::validate_resources(resources)?;
    Ok(cgroups::manager(&rec.cgroup, None).update(resources)?)
}

pub(crate) fn update_intel_rdt(rt: &Runtime, id: &str, lines: &[String]) -> Result<()> {
    let _lock = rt.store.lock(id)?;
    let (rec, _) = rt.live_record(id)?;
    match &rec.intel_rdt {
        Some(g) => g.update(lines),
        None => Err(Error::Other(format!(
            "container {id} has no linux.intelRdt: Intel RDT is not enabled for it"
        ))),
    }
}
