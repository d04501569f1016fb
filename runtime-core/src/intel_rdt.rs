//! `linux.intelRdt`: the container's processes in a resctrl group (Intel RDT / AMD QoS cache
//! and memory-bandwidth allocation), as runc does it.
//!
//! - The group is `<resctrl>/<closID>`, or `<resctrl>/<container id>` without a closID. A
//!   group of the container's own is made and its schemata written (l3CacheSchema, then
//!   memBwSchema, then every `schemata` line, which win); an existing closID group is shared:
//!   it is used as it is, and a schema the spec gives must match the one it has.
//! - `enableMonitoring` (or the deprecated enableCMT/enableMBM) also makes
//!   `<group>/mon_groups/<container id>` and puts the processes there.
//! - The init's pid goes into the group's `tasks` (its children inherit the group), as does
//!   each exec helper's; `delete` removes what the container made.
//!
//! The resctrl mount is found in /proc/self/mountinfo (fstype `resctrl`); without one a spec
//! with intelRdt is an error naming what is missing.
//!
//! ```no_run
//! let rdt: oci_spec::runtime::LinuxIntelRdt = serde_json::from_str(r#"{"closID":"gold"}"#)?;
//! let root = runtime_core::intel_rdt::resctrl_root()?;
//! let plan = runtime_core::intel_rdt::Plan::new(&rdt, "web", &root)?;
//! let group = plan.apply(std::process::id() as i32)?;
//! group.remove()?;
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

use std::path::{Path, PathBuf};

use crate::error::{Error, Result};

/// Where resctrl is mounted (the first `resctrl` entry of /proc/self/mountinfo).
///
/// ```no_run
/// println!("{}", runtime_core::intel_rdt::resctrl_root()?.display());
/// # Ok::<(), runtime_core::Error>(())
/// ```
pub fn resctrl_root() -> Result<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo")
        .map_err(|e| Error::io("read /proc/self/mountinfo", e))?;
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        if right.split(' ').next() == Some("resctrl") {
            if let Some(mp) = left.split(' ').nth(4) {
                return Ok(PathBuf::from(mp.replace("\\040", " ")));
            }
        }
    }
    Err(Error::Spec(
        "linux.intelRdt: the resctrl filesystem is not mounted (Intel RDT needs it, usually at \
         /sys/fs/resctrl; this host may have no RDT/QoS hardware)"
            .into(),
    ))
}

/// The resctrl group(s) a container uses, as recorded in its state for `exec` and `delete`.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Group {
    /// The CLOS directory (`tasks`, `schemata`).
    pub clos: PathBuf,
    /// Whether the container made `clos` (and so removes it).
    pub own_clos: bool,
    /// The monitoring group, when monitoring is on.
    pub mon: Option<PathBuf>,
}

impl Group {
    /// Where a process joins: the monitoring group if any, else the CLOS.
    fn tasks_dir(&self) -> &Path {
        self.mon.as_deref().unwrap_or(&self.clos)
    }

    /// Put `pid` (and the children it will have) into the group.
    pub fn add(&self, pid: i32) -> Result<()> {
        let p = self.tasks_dir().join("tasks");
        std::fs::write(&p, pid.to_string()).map_err(|e| last_cmd(&self.clos, &p, e))
    }

    /// Remove what the container made (its monitoring group, its own CLOS); a shared
    /// closID group stays.
    pub fn remove(&self) -> Result<()> {
        if let Some(m) = &self.mon {
            remove_dir(m)?;
        }
        if self.own_clos {
            remove_dir(&self.clos)?;
        }
        Ok(())
    }
}

/// rmdir is how resctrl removes a group (its files are the kernel's); a directory that is
/// not resctrl's (a copy of the tree, in tests) is emptied first.
fn remove_dir(d: &Path) -> Result<()> {
    match std::fs::remove_dir(d) {
        Err(e) if e.raw_os_error() == Some(libc::ENOTEMPTY) => {
            std::fs::remove_dir_all(d).map_err(|e| Error::path("remove", d, e))
        }
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => Err(Error::path("remove", d, e)),
        _ => Ok(()),
    }
}

/// The kernel explains a refused write in `info/last_cmd_status`.
fn last_cmd(clos: &Path, file: &Path, e: std::io::Error) -> Error {
    let root = clos.parent().unwrap_or(clos);
    let status = std::fs::read_to_string(root.join("info/last_cmd_status"))
        .map(|s| format!(" (resctrl: {})", s.trim()))
        .unwrap_or_default();
    Error::Other(format!("write {}: {e}{status}", file.display()))
}

impl Group {
    /// `update --l3-cache-schema/--mem-bw-schema`: new schema lines for the container's own
    /// group (a shared closID group is not the container's to change).
    pub fn update(&self, lines: &[String]) -> Result<()> {
        if !self.own_clos {
            return Err(Error::Other(format!(
                "Intel RDT: {} is a shared closID group; its schemata are not changed by update",
                self.clos.display()
            )));
        }
        let p = self.clos.join("schemata");
        std::fs::write(&p, lines.join("\n") + "\n").map_err(|e| last_cmd(&self.clos, &p, e))
    }
}

/// `linux.intelRdt` checked against a resctrl mount, before anything is made.
#[derive(Debug, Clone)]
pub struct Plan {
    clos: PathBuf,
    /// The group is a shared closID that already exists.
    exists: bool,
    lines: Vec<String>,
    mon: Option<PathBuf>,
}

impl Plan {
    /// Check `rdt` for container `id` against the resctrl mount at `root`.
    pub fn new(rdt: &oci_spec::runtime::LinuxIntelRdt, id: &str, root: &Path) -> Result<Plan> {
        let f = "linux.intelRdt";
        let name = match rdt.clos_id().as_deref() {
            Some(c) if c.is_empty() || c == "." || c == ".." || c.contains('/') => {
                return Err(Error::Spec(format!("{f}.closID {c:?} is not a group name")))
            }
            Some(c) => c.to_string(),
            None => id.to_string(),
        };
        let mut lines = Vec::new();
        for (field, v) in [
            ("l3CacheSchema", rdt.l3_cache_schema()),
            ("memBwSchema", rdt.mem_bw_schema()),
        ] {
            if let Some(s) = v.as_deref().filter(|s| !s.trim().is_empty()) {
                if !s.contains(':') {
                    return Err(Error::Spec(format!(
                        "{f}.{field} {s:?} is not a schema line (RESOURCE:id=value;...)"
                    )));
                }
                lines.push(s.trim().to_string());
            }
        }
        for s in rdt.schemata().iter().flatten() {
            if !s.contains(':') {
                return Err(Error::Spec(format!(
                    "{f}.schemata {s:?} is not a schema line (RESOURCE:id=value;...)"
                )));
            }
            lines.push(s.trim().to_string());
        }
        #[allow(deprecated)]
        let monitoring = rdt.enable_monitoring() == &Some(true)
            || rdt.enable_cmt() == &Some(true)
            || rdt.enable_mbm() == &Some(true);
        let clos = root.join(&name);
        let exists = rdt.clos_id().is_some() && clos.is_dir();
        if exists && !lines.is_empty() {
            let have = std::fs::read_to_string(clos.join("schemata"))
                .map_err(|e| Error::path("read", &clos.join("schemata"), e))?;
            for l in &lines {
                if !schema_matches(&have, l) {
                    return Err(Error::Spec(format!(
                        "{f}: the existing group {} has another schema than {l:?} ({:?})",
                        clos.display(),
                        have.trim()
                    )));
                }
            }
        }
        if monitoring && !root.join("info/L3_MON").exists() && !root.join("mon_groups").exists() {
            return Err(Error::Spec(format!(
                "{f}.enableMonitoring: resctrl at {} has no monitoring (no info/L3_MON)",
                root.display()
            )));
        }
        Ok(Plan {
            mon: monitoring.then(|| clos.join("mon_groups").join(id)),
            clos,
            exists,
            lines,
        })
    }

    /// Make the group (unless it is a shared one that exists), write its schemata, and put
    /// `pid` in it. On failure, what was made is removed.
    pub fn apply(&self, pid: i32) -> Result<Group> {
        let own = !self.exists && !self.clos.exists();
        if own {
            std::fs::create_dir(&self.clos).map_err(|e| Error::path("mkdir", &self.clos, e))?;
        }
        let group = Group {
            clos: self.clos.clone(),
            own_clos: own,
            mon: self.mon.clone(),
        };
        let made = self.fill(&group, pid);
        if made.is_err() {
            let _ = group.remove();
        }
        made.map(|()| group)
    }

    fn fill(&self, g: &Group, pid: i32) -> Result<()> {
        if g.own_clos && !self.lines.is_empty() {
            // One write, one line per resource: a later line for the same resource wins.
            let p = self.clos.join("schemata");
            std::fs::write(&p, self.lines.join("\n") + "\n")
                .map_err(|e| last_cmd(&self.clos, &p, e))?;
        }
        if let Some(m) = &g.mon {
            if let Some(parent) = m.parent() {
                if !parent.is_dir() {
                    std::fs::create_dir(parent).map_err(|e| Error::path("mkdir", parent, e))?;
                }
            }
            std::fs::create_dir(m).map_err(|e| Error::path("mkdir", m, e))?;
        }
        g.add(pid)
    }
}

/// Whether `have` (a schemata file) says what `line` says for its resource: same resource,
/// same domain=value pairs, ignoring case and spaces.
fn schema_matches(have: &str, line: &str) -> bool {
    let norm = |s: &str| -> (String, Vec<String>) {
        let s: String = s.chars().filter(|c| !c.is_whitespace()).collect();
        let (res, rest) = s.split_once(':').unwrap_or((&s, ""));
        let mut parts: Vec<String> = rest
            .split(';')
            .filter(|p| !p.is_empty())
            .map(|p| {
                let (d, v) = p.split_once('=').unwrap_or((p, ""));
                let v = v.trim_start_matches('0');
                format!("{d}={}", if v.is_empty() { "0" } else { v }).to_lowercase()
            })
            .collect();
        parts.sort();
        (res.to_uppercase(), parts)
    };
    let want = norm(line);
    have.lines().any(|h| norm(h) == want)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn schema_comparison_ignores_case_spaces_order_and_leading_zeros() {
        let have = "    L3:0=ff;1=0f0\n    MB:0=100;1=100\n";
        assert!(schema_matches(have, "L3:1=f0;0=FF"));
        assert!(schema_matches(have, "mb:0=100; 1=100"));
        assert!(!schema_matches(have, "L3:0=f;1=f0"));
        assert!(!schema_matches(have, "L2:0=ff"));
    }
}
