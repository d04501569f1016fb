//! cgroup v2 (pure unified hosts).

use super::bpf::{attach_device_program, DeviceRule};
use super::fs::{self, read, read_opt, write};
use super::stats::{parse_io_stat, HugetlbStats, MemoryEntry, Stats};
use super::v1::{hugetlb_sizes, rdma_line};
use super::validate::validate;
use super::{CgroupError, CgroupManager, CgroupPaths};
use oci_spec::runtime::LinuxResources;
use std::path::{Path, PathBuf};

pub(crate) struct V2Manager {
    paths: CgroupPaths,
    dir: PathBuf,
}

/// runc's conversion of cpu.shares (2..262144, default 1024) to cpu.weight (1..10000).
pub(crate) fn shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262142
}

/// runc's conversion of blkio.weight (10..1000) to io.weight (1..10000).
pub(crate) fn blkio_to_io_weight(w: u16) -> u64 {
    if w == 0 {
        return 0;
    }
    1 + (u64::from(w).saturating_sub(10) * 9999) / 990
}

/// runc's conversion of the spec's memory+swap total to memory.swap.max (swap alone).
pub(crate) fn swap_to_v2(swap: i64, limit: i64) -> Result<Option<String>, CgroupError> {
    match swap {
        0 => Ok(None),
        -1 => Ok(Some("max".into())),
        _ if limit == 0 || limit == -1 => Err(CgroupError::InvalidResource {
            field: "memory.swap".into(),
            reason: "a swap limit needs a memory limit on cgroup v2".into(),
        }),
        _ if swap < limit => Err(CgroupError::InvalidResource {
            field: "memory.swap".into(),
            reason: format!("memory+swap limit {swap} is below the memory limit {limit}"),
        }),
        _ => Ok(Some((swap - limit).to_string())),
    }
}

fn max_or(v: i64) -> String {
    if v < 0 {
        "max".into()
    } else {
        v.to_string()
    }
}

impl V2Manager {
    pub(crate) fn new(paths: CgroupPaths) -> Self {
        let dir = paths.0.get("").cloned().unwrap_or_default();
        V2Manager { paths, dir }
    }

    /// Enables in each ancestor's subtree_control the controllers it has, so that the
    /// container's cgroup gets every knob (runc's fs2 does this too). Failures are ignored
    /// controller by controller: an ancestor with processes in it cannot delegate, and the
    /// limits that then cannot be set fail later with the file's name.
    fn enable_controllers(&self) -> Result<(), CgroupError> {
        let mounts = super::mountinfo::cgroup_mounts()?;
        let Some(root) = mounts
            .iter()
            .filter(|m| m.v2 && self.dir.starts_with(&m.mount_point))
            .map(|m| m.mount_point.clone())
            .max_by_key(|p| p.as_os_str().len())
        else {
            return Ok(());
        };
        let mut cur = root;
        let rel: Vec<_> = match self.dir.strip_prefix(&cur) {
            Ok(r) => r.components().map(|c| c.as_os_str().to_owned()).collect(),
            Err(_) => return Ok(()),
        };
        for comp in rel {
            let avail = read_opt(&cur, "cgroup.controllers")?.unwrap_or_default();
            let enabled = read_opt(&cur, "cgroup.subtree_control")?.unwrap_or_default();
            let missing: Vec<String> = avail
                .split_whitespace()
                .filter(|c| !enabled.split_whitespace().any(|e| e == *c))
                .map(|c| format!("+{c}"))
                .collect();
            if !missing.is_empty()
                && write(&cur, "cgroup.subtree_control", &missing.join(" ")).is_err()
            {
                for c in &missing {
                    let _ = write(&cur, "cgroup.subtree_control", c);
                }
            }
            cur.push(comp);
        }
        Ok(())
    }

    fn set_memory(&self, r: &LinuxResources, update: bool) -> Result<(), CgroupError> {
        let Some(m) = r.memory() else { return Ok(()) };
        let d = &self.dir;
        let limit = m.limit().unwrap_or(0);
        if let (Some(true), true) = (m.check_before_update(), limit > 0) {
            let usage = fs::read_u64(d, "memory.current")?;
            if usage as i64 > limit {
                return Err(CgroupError::InvalidResource {
                    field: "memory.limit".into(),
                    reason: format!(
                        "{limit} is below the current usage {usage} ({})",
                        d.display()
                    ),
                });
            }
        }
        let swap = m.swap().unwrap_or(0);
        // update with a swap total but no memory limit: the total is relative to the limit
        // in force.
        let base = if update && limit == 0 && swap > 0 {
            let cur = fs::read_u64(d, "memory.max")?;
            if cur == u64::MAX {
                -1
            } else {
                cur as i64
            }
        } else {
            limit
        };
        if let Some(v) = swap_to_v2(swap, base)? {
            // Written before memory.max as runc does; a kernel without swap accounting has no
            // file, which only matters when a limit was asked for.
            match write(d, "memory.swap.max", &v) {
                Err(CgroupError::Unsupported { .. }) if v == "max" => {}
                other => other?,
            }
        }
        if limit != 0 {
            write(d, "memory.max", &max_or(limit))?;
        }
        if let Some(v) = m.reservation() {
            if v != 0 {
                write(d, "memory.low", &max_or(v))?;
            }
        }
        // kernel, kernelTCP, swappiness, disableOOMKiller, useHierarchy have no cgroup v2
        // files; runc ignores them on v2, and so do we.
        Ok(())
    }

    fn set_cpu(&self, r: &LinuxResources, update: bool) -> Result<(), CgroupError> {
        let Some(c) = r.cpu() else { return Ok(()) };
        let d = &self.dir;
        if let Some(s) = c.shares() {
            if s != 0 {
                write(d, "cpu.weight", &shares_to_weight(s).to_string())?;
            }
        }
        let quota = c.quota().unwrap_or(0);
        let period = c.period().unwrap_or(0);
        if quota != 0 || period != 0 {
            // cpu.max holds both; an update of one keeps the other.
            let cur = if update {
                read_opt(d, "cpu.max")?.unwrap_or_default()
            } else {
                String::new()
            };
            let mut it = cur.split_whitespace();
            let (cur_q, cur_p) = (
                it.next().unwrap_or("max").to_string(),
                it.next().map(str::to_string),
            );
            let q = if quota != 0 {
                max_or(quota)
            } else if update {
                cur_q
            } else {
                "max".into()
            };
            let mut v = q;
            if period != 0 {
                v.push_str(&format!(" {period}"));
            } else if let Some(p) = cur_p {
                v.push_str(&format!(" {p}"));
            }
            write(d, "cpu.max", &v)?;
        }
        if let Some(b) = c.burst() {
            write(d, "cpu.max.burst", &b.to_string())?;
        }
        if let Some(i) = c.idle() {
            write(d, "cpu.idle", &i.to_string())?;
        }
        if c.realtime_period().unwrap_or(0) != 0 || c.realtime_runtime().unwrap_or(0) != 0 {
            return Err(CgroupError::Unsupported {
                what: "cpu.realtimeRuntime/realtimePeriod (cgroup v2 has no real-time group scheduling)".into(),
                path: d.join("cpu.rt_runtime_us"),
            });
        }
        for (f, v) in [("cpuset.cpus", c.cpus()), ("cpuset.mems", c.mems())] {
            if let Some(v) = v {
                if !v.is_empty() {
                    write(d, f, v)?;
                }
            }
        }
        Ok(())
    }

    fn set_io(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let Some(b) = r.block_io() else { return Ok(()) };
        let d = &self.dir;
        let bfq = d.join("io.bfq.weight").exists();
        if let Some(w) = b.weight() {
            if w != 0 {
                if bfq {
                    write(d, "io.bfq.weight", &w.to_string())?;
                } else {
                    write(d, "io.weight", &blkio_to_io_weight(w).to_string())?;
                }
            }
        }
        // leafWeight has no v2 counterpart; runc ignores it there.
        for wd in b.weight_device().iter().flatten() {
            if let Some(w) = wd.weight() {
                let dev = format!("{}:{}", wd.major(), wd.minor());
                if bfq {
                    write(d, "io.bfq.weight", &format!("{dev} {w}"))?;
                } else {
                    write(d, "io.weight", &format!("{dev} {}", blkio_to_io_weight(w)))?;
                }
            }
        }
        for (key, list) in [
            ("rbps", b.throttle_read_bps_device()),
            ("wbps", b.throttle_write_bps_device()),
            ("riops", b.throttle_read_iops_device()),
            ("wiops", b.throttle_write_iops_device()),
        ] {
            for t in list.iter().flatten() {
                // 0 removes a v1 throttle; "max" is the v2 way of saying the same.
                let rate = if t.rate() == 0 {
                    "max".to_string()
                } else {
                    t.rate().to_string()
                };
                write(
                    d,
                    "io.max",
                    &format!("{}:{} {key}={rate}", t.major(), t.minor()),
                )?;
            }
        }
        Ok(())
    }

    fn set_misc(&self, r: &LinuxResources, update: bool) -> Result<(), CgroupError> {
        let d = &self.dir;
        if let Some(p) = r.pids() {
            if p.limit() != 0 {
                write(d, "pids.max", &max_or(p.limit()))?;
            }
        }
        for h in r.hugepage_limits().iter().flatten() {
            let v = max_or(h.limit());
            write(d, &format!("hugetlb.{}.max", h.page_size()), &v)?;
            // Reservations are charged separately; limit them alike where the kernel has it.
            let rsvd = format!("hugetlb.{}.rsvd.max", h.page_size());
            if d.join(&rsvd).exists() {
                write(d, &rsvd, &v)?;
            }
        }
        // network (classID, priorities): cgroup v2 has no net_cls/net_prio; runc ignores them.
        for (dev, l) in r.rdma().iter().flatten() {
            write(
                d,
                "rdma.max",
                &rdma_line(dev, l.hca_handles(), l.hca_objects()),
            )?;
        }
        if let Some(u) = r.unified() {
            for (k, v) in u {
                write(d, k, v)?;
            }
        }
        if !update {
            if let Some(devs) = r.devices() {
                let rules: Vec<DeviceRule> = devs.iter().map(DeviceRule::from_spec).collect();
                attach_device_program(d, &rules)?;
            }
        }
        Ok(())
    }

    fn set_all(&self, r: &LinuxResources, update: bool) -> Result<(), CgroupError> {
        validate(r, true)?;
        if let Some(u) = r.unified() {
            // Refuse unknown keys before writing anything.
            for k in u.keys() {
                if !self.dir.join(k).exists() {
                    return Err(CgroupError::Unsupported {
                        what: format!("unified[{k:?}] (is its controller enabled?)"),
                        path: self.dir.join(k),
                    });
                }
            }
        }
        self.set_memory(r, update)?;
        self.set_cpu(r, update)?;
        self.set_io(r)?;
        self.set_misc(r, update)
    }

    fn populated(&self) -> Result<bool, CgroupError> {
        let ev = fs::read_keyed(&self.dir, "cgroup.events")?;
        Ok(fs::keyed(&ev, "populated") == 1)
    }
}

impl CgroupManager for V2Manager {
    fn create(&self) -> Result<(), CgroupError> {
        log::debug!("cgroup: create {}", self.dir.display());
        fs::mkdir_p(&self.dir)?;
        self.enable_controllers()
    }

    fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        log::debug!("cgroup: move pid {pid} into {}", self.dir.display());
        write(&self.dir, "cgroup.procs", &pid.to_string())
    }

    fn apply_resources(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        log::debug!(
            "cgroup: apply the spec's resources to {}",
            self.dir.display()
        );
        self.set_all(r, false)
    }

    fn update(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        self.set_all(r, true)
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        let mut v = Vec::new();
        fs::pids_recursive(&self.dir, &mut v)?;
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }

    fn freeze(&self) -> Result<(), CgroupError> {
        let d = &self.dir;
        log::debug!("cgroup: freeze {}", d.display());
        write(d, "cgroup.freeze", "1")?;
        fs::wait_until(&d.join("cgroup.events"), "frozen", || {
            let ev = fs::read_keyed(d, "cgroup.events")?;
            Ok(fs::keyed(&ev, "frozen") == 1)
        })
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        let d = &self.dir;
        log::debug!("cgroup: thaw {}", d.display());
        write(d, "cgroup.freeze", "0")?;
        fs::wait_until(&d.join("cgroup.events"), "thawed", || {
            let ev = fs::read_keyed(d, "cgroup.events")?;
            Ok(fs::keyed(&ev, "frozen") == 0)
        })
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        if read(&self.dir, "cgroup.freeze")?.trim() == "1" {
            return Ok(true);
        }
        // Frozen through an ancestor: cgroup.freeze shows only our own setting, the
        // effective state is in cgroup.events (an exec into it would wait forever).
        let ev = fs::read_keyed(&self.dir, "cgroup.events")?;
        Ok(fs::keyed(&ev, "frozen") == 1)
    }

    fn refuse_frozen(&self) -> Result<(), CgroupError> {
        match fs::v2_frozen_ancestor(&self.dir)? {
            Some(path) => Err(CgroupError::Frozen { path }),
            None => Ok(()),
        }
    }

    fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        let d = &self.dir;
        if signal == libc::SIGKILL && d.join("cgroup.kill").exists() {
            log::debug!("cgroup: kill every process in {}", d.display());
            write(d, "cgroup.kill", "1")?;
            // The kill is asynchronous: wait until the tasks are gone so that a following
            // rmdir does not race them.
            return fs::wait_until(&d.join("cgroup.events"), "unpopulated", || {
                Ok(!self.populated()?)
            });
        }
        let was_frozen = self.is_frozen()?;
        if !was_frozen {
            self.freeze()?;
        }
        let result = self.pids().and_then(|pids| {
            log::debug!("cgroup: send signal {signal} to pids {pids:?}");
            pids.iter().try_for_each(|p| fs::kill_pid(*p, signal))
        });
        // A paused container that is sent SIGKILL is thawed so that it can die (runc thaws
        // after signalling too); other signals leave a paused container paused.
        if !was_frozen || signal == libc::SIGKILL {
            self.thaw()?;
        }
        result
    }

    fn destroy(&self) -> Result<(), CgroupError> {
        log::debug!("cgroup: remove {}", self.dir.display());
        fs::remove_tree(&self.dir)
    }

    fn remove_if_empty(&self) -> Result<bool, CgroupError> {
        fs::rmdir_each(std::slice::from_ref(&self.dir))
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        let d = &self.dir;
        let mut s = Stats::default();
        let cpu = fs::read_keyed(d, "cpu.stat")?;
        s.cpu.usage.total = fs::keyed(&cpu, "usage_usec") * 1000;
        s.cpu.usage.user = fs::keyed(&cpu, "user_usec") * 1000;
        s.cpu.usage.kernel = fs::keyed(&cpu, "system_usec") * 1000;
        s.cpu.throttling.periods = fs::keyed(&cpu, "nr_periods");
        s.cpu.throttling.throttled_periods = fs::keyed(&cpu, "nr_throttled");
        s.cpu.throttling.throttled_time = fs::keyed(&cpu, "throttled_usec") * 1000;
        let opt = |f: &str| fs::read_u64_opt(d, f).map(|v| v.unwrap_or(0));
        if d.join("memory.current").exists() {
            let ev = fs::read_keyed(d, "memory.events")?;
            s.memory.usage = MemoryEntry {
                limit: opt("memory.max")?,
                usage: opt("memory.current")?,
                max: opt("memory.peak")?,
                failcnt: fs::keyed(&ev, "max"),
            };
            let sev = fs::read_keyed(d, "memory.swap.events")?;
            // runc reports swap as memory+swap, like v1's memsw.
            let swap_usage = opt("memory.swap.current")?;
            let swap_max = opt("memory.swap.max")?;
            s.memory.swap = MemoryEntry {
                limit: swap_max.saturating_add(s.memory.usage.limit),
                usage: swap_usage + s.memory.usage.usage,
                max: 0,
                failcnt: fs::keyed(&sev, "fail"),
            };
            s.memory.raw = fs::read_keyed(d, "memory.stat")?.into_iter().collect();
            s.memory.cache = s.memory.raw.get("file").copied().unwrap_or(0);
        }
        if d.join("pids.current").exists() {
            s.pids.current = opt("pids.current")?;
            let l = opt("pids.max")?;
            s.pids.limit = if l == u64::MAX { 0 } else { l };
        }
        if let Some(io) = read_opt(d, "io.stat")? {
            let (b, o) = parse_io_stat(&io);
            s.blkio.io_service_bytes_recursive = b;
            s.blkio.io_serviced_recursive = o;
        }
        for size in hugetlb_sizes(d, false)? {
            let ev = fs::read_keyed(d, &format!("hugetlb.{size}.events"))?;
            s.hugetlb.insert(
                size.clone(),
                HugetlbStats {
                    usage: opt(&format!("hugetlb.{size}.current"))?,
                    max: 0,
                    failcnt: fs::keyed(&ev, "max"),
                },
            );
        }
        Ok(s)
    }

    fn paths(&self) -> &CgroupPaths {
        &self.paths
    }

    fn unified_dir(&self) -> Option<&Path> {
        Some(&self.dir)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conversions_match_runc() {
        assert_eq!(shares_to_weight(2), 1);
        assert_eq!(shares_to_weight(1024), 39);
        assert_eq!(shares_to_weight(262144), 10000);
        assert_eq!(blkio_to_io_weight(10), 1);
        assert_eq!(blkio_to_io_weight(500), 4950);
        assert_eq!(blkio_to_io_weight(1000), 10000);
        assert_eq!(swap_to_v2(-1, 100).unwrap().as_deref(), Some("max"));
        assert_eq!(swap_to_v2(300, 100).unwrap().as_deref(), Some("200"));
        assert!(swap_to_v2(50, 100).is_err());
        assert!(swap_to_v2(50, 0).is_err());
        assert_eq!(swap_to_v2(0, 100).unwrap(), None);
    }
}
