//! cgroup v1 (and hybrid hosts, whose unified directory is created, joined and removed too).

use super::fs::{self, read, read_opt, write, Knob};
use super::stats::{parse_blkio_v1, CpuUsage, HugetlbStats, MemoryEntry, Stats};
use super::validate::validate;
use super::{CgroupError, CgroupManager, CgroupPaths};
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType, LinuxResources};
use std::path::{Path, PathBuf};

/// USER_HZ, the unit of cpuacct.stat.
const CLK_TCK: u64 = 100;

pub(crate) struct V1Manager {
    paths: CgroupPaths,
}

fn unsupported(ctrl: &str, file: &str, what: &str) -> CgroupError {
    CgroupError::Unsupported {
        what: what.to_string(),
        path: Path::new("/sys/fs/cgroup").join(ctrl).join(file),
    }
}

/// A device rule in the kernel's v1 syntax: "c 1:3 rwm".
pub(crate) fn device_rule_v1(d: &LinuxDeviceCgroup) -> String {
    let t = d.typ().unwrap_or(LinuxDeviceType::A).as_str().to_string();
    let num = |v: Option<i64>| match v {
        Some(x) if x >= 0 => x.to_string(),
        _ => "*".to_string(),
    };
    let access = d
        .access()
        .as_deref()
        .map(super::validate::device_access)
        .unwrap_or_else(|| "rwm".to_string());
    if t == "a" && d.major().is_none() && d.minor().is_none() {
        // The kernel only accepts the short form for "everything".
        return "a".to_string();
    }
    format!("{t} {}:{} {access}", num(d.major()), num(d.minor()))
}

impl V1Manager {
    pub(crate) fn new(paths: CgroupPaths) -> Self {
        V1Manager { paths }
    }

    fn dir(&self, ctrl: &str) -> Option<&Path> {
        self.paths.0.get(ctrl).map(PathBuf::as_path)
    }

    /// The directory of `ctrl`, or an error naming the file that cannot be written.
    fn need(&self, ctrl: &str, file: &str, what: &str) -> Result<&Path, CgroupError> {
        self.dir(ctrl).ok_or_else(|| unsupported(ctrl, file, what))
    }

    /// cpuset refuses tasks while cpus/mems are empty, and a new cgroup starts empty: copy
    /// them down from the nearest ancestor that has them (runc does the same). A leaf made
    /// just now (`leaf_made`) is known to be empty, or to hold its parent's values when the
    /// parent has cgroup.clone_children set: it is not read, and gets its parent's values.
    fn cpuset_fill(&self, leaf_made: bool) -> Result<(), CgroupError> {
        let Some(leaf) = self.dir("cpuset") else {
            return Ok(());
        };
        let mut chain = Vec::new();
        let mut cur = leaf.to_path_buf();
        if leaf_made {
            chain.push(cur.clone());
            cur.pop();
        }
        // The nearest ancestor's cpus, found on the way up, is what every empty cgroup below
        // it gets: read once, not again for each level.
        let mut source = None;
        loop {
            let cpus = read_opt(&cur, "cpuset.cpus")?;
            let Some(cpus) = cpus else { break };
            if !cpus.trim().is_empty() {
                source = Some((cur.clone(), cpus));
                break;
            }
            chain.push(cur.clone());
            if !cur.pop() {
                break;
            }
        }
        let Some(top) = chain.last() else {
            return Ok(());
        };
        // No ancestor with cpus: the read below names the file that is missing.
        let (src, cpus) = match source {
            Some(s) => s,
            None => {
                let parent = top.parent().unwrap_or(top);
                (parent.to_path_buf(), read(parent, "cpuset.cpus")?)
            }
        };
        let mems = read(&src, "cpuset.mems")?;
        for (i, d) in chain.iter().enumerate().rev() {
            // Every directory in the chain was seen with empty cpus, or is the new leaf.
            write(d, "cpuset.cpus", cpus.trim())?;
            if (i == 0 && leaf_made) || read(d, "cpuset.mems")?.trim().is_empty() {
                write(d, "cpuset.mems", mems.trim())?;
            }
        }
        Ok(())
    }

    fn set_memory(&self, r: &LinuxResources, update: bool) -> Result<(), CgroupError> {
        let Some(m) = r.memory() else { return Ok(()) };
        let need = |f: &str| self.need("memory", f, "memory limits");
        let limit = m.limit().unwrap_or(0);
        let mut swap = m.swap().unwrap_or(0);
        if let (Some(true), true) = (m.check_before_update(), limit > 0) {
            let d = need("memory.usage_in_bytes")?;
            let usage = fs::read_u64(d, "memory.usage_in_bytes")?;
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
        if limit != 0 || swap != 0 {
            let d = need("memory.limit_in_bytes")?;
            let has_memsw = d.join("memory.memsw.limit_in_bytes").exists();
            // runc: an unlimited memory limit without a swap value lifts swap too, when the
            // kernel accounts swap at all.
            if limit == -1 && swap == 0 && has_memsw && !update {
                swap = -1;
            }
            if limit != 0 && swap != 0 {
                let cur = fs::read_u64(d, "memory.limit_in_bytes")?;
                // memsw must stay >= memory at every step: raise memsw first when growing.
                if swap == -1 || (cur as i128) < swap as i128 {
                    write(d, "memory.memsw.limit_in_bytes", &swap.to_string())?;
                    write(d, "memory.limit_in_bytes", &limit.to_string())?;
                } else {
                    write(d, "memory.limit_in_bytes", &limit.to_string())?;
                    write(d, "memory.memsw.limit_in_bytes", &swap.to_string())?;
                }
            } else if limit != 0 {
                write(d, "memory.limit_in_bytes", &limit.to_string())?;
            } else if swap != 0 {
                write(d, "memory.memsw.limit_in_bytes", &swap.to_string())?;
            }
        }
        if let Some(v) = m.reservation() {
            if v != 0 {
                write(
                    need("memory.soft_limit_in_bytes")?,
                    "memory.soft_limit_in_bytes",
                    &v.to_string(),
                )?;
            }
        }
        if let Some(v) = m.kernel() {
            // runc no longer sets kernel memory limits (deprecated in the kernel, which from
            // 6.x accepts and ignores them); we write it only where the file still exists.
            if let (Some(d), true) = (self.dir("memory"), v != 0) {
                if d.join("memory.kmem.limit_in_bytes").exists() {
                    write(d, "memory.kmem.limit_in_bytes", &v.to_string())?;
                }
            }
        }
        if let Some(v) = m.kernel_tcp() {
            if v != 0 {
                let f = "memory.kmem.tcp.limit_in_bytes";
                write(need(f)?, f, &v.to_string())?;
            }
        }
        if let Some(v) = m.swappiness() {
            write(
                need("memory.swappiness")?,
                "memory.swappiness",
                &v.to_string(),
            )?;
        }
        if let Some(true) = m.disable_oom_killer() {
            write(need("memory.oom_control")?, "memory.oom_control", "1")?;
        }
        // useHierarchy: runc ignores it (kernels since 5.x always use the hierarchy and
        // refuse 0), so do we.
        Ok(())
    }

    fn set_cpu(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let Some(c) = r.cpu() else { return Ok(()) };
        let need = |f: &str| self.need("cpu", f, "cpu limits");
        if let Some(s) = c.shares() {
            if s != 0 {
                write(need("cpu.shares")?, "cpu.shares", &s.to_string())?;
            }
        }
        let period = c.period().unwrap_or(0);
        let quota = c.quota().unwrap_or(0);
        if period != 0 {
            let d = need("cpu.cfs_period_us")?;
            if let Err(e) = write(d, "cpu.cfs_period_us", &period.to_string()) {
                // A smaller period can conflict with the current quota: quota first then.
                if quota == 0 {
                    return Err(e);
                }
                write(d, "cpu.cfs_quota_us", &quota.to_string())?;
                write(d, "cpu.cfs_period_us", &period.to_string())?;
            }
        }
        if quota != 0 {
            write(
                need("cpu.cfs_quota_us")?,
                "cpu.cfs_quota_us",
                &quota.to_string(),
            )?;
        }
        if let Some(b) = c.burst() {
            write(
                need("cpu.cfs_burst_us")?,
                "cpu.cfs_burst_us",
                &b.to_string(),
            )?;
        }
        // The kernel checks runtime against period: set the period first.
        if let Some(p) = c.realtime_period() {
            if p != 0 {
                write(
                    need("cpu.rt_period_us")?,
                    "cpu.rt_period_us",
                    &p.to_string(),
                )?;
            }
        }
        if let Some(rt) = c.realtime_runtime() {
            if rt != 0 {
                write(
                    need("cpu.rt_runtime_us")?,
                    "cpu.rt_runtime_us",
                    &rt.to_string(),
                )?;
            }
        }
        if let Some(i) = c.idle() {
            write(need("cpu.idle")?, "cpu.idle", &i.to_string())?;
        }
        for (f, v) in [("cpuset.cpus", c.cpus()), ("cpuset.mems", c.mems())] {
            if let Some(v) = v {
                if !v.is_empty() {
                    write(self.need("cpuset", f, "cpuset")?, f, v)?;
                }
            }
        }
        Ok(())
    }

    fn set_blkio(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let Some(b) = r.block_io() else { return Ok(()) };
        let Some(d) = self.dir("blkio") else {
            return Err(unsupported("blkio", "blkio.weight", "block I/O limits"));
        };
        // Kernels with BFQ name the weight files blkio.bfq.*; the CFQ names went with CFQ.
        let weight_file = if d.join("blkio.weight").exists() || !d.join("blkio.bfq.weight").exists()
        {
            "blkio.weight"
        } else {
            "blkio.bfq.weight"
        };
        if let Some(w) = b.weight() {
            if w != 0 {
                write(d, weight_file, &w.to_string())?;
            }
        }
        if let Some(w) = b.leaf_weight() {
            if w != 0 {
                write(d, "blkio.leaf_weight", &w.to_string())?;
            }
        }
        for wd in b.weight_device().iter().flatten() {
            if let Some(w) = wd.weight() {
                write(
                    d,
                    &format!("{weight_file}_device"),
                    &format!("{}:{} {w}", wd.major(), wd.minor()),
                )?;
            }
            if let Some(w) = wd.leaf_weight() {
                write(
                    d,
                    "blkio.leaf_weight_device",
                    &format!("{}:{} {w}", wd.major(), wd.minor()),
                )?;
            }
        }
        for (f, list) in [
            (
                "blkio.throttle.read_bps_device",
                b.throttle_read_bps_device(),
            ),
            (
                "blkio.throttle.write_bps_device",
                b.throttle_write_bps_device(),
            ),
            (
                "blkio.throttle.read_iops_device",
                b.throttle_read_iops_device(),
            ),
            (
                "blkio.throttle.write_iops_device",
                b.throttle_write_iops_device(),
            ),
        ] {
            for t in list.iter().flatten() {
                write(d, f, &format!("{}:{} {}", t.major(), t.minor(), t.rate()))?;
            }
        }
        Ok(())
    }

    fn set_misc(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        if let Some(p) = r.pids() {
            let l = p.limit();
            if l != 0 {
                let v = if l > 0 {
                    l.to_string()
                } else {
                    "max".to_string()
                };
                write(self.need("pids", "pids.max", "pids limit")?, "pids.max", &v)?;
            }
        }
        for h in r.hugepage_limits().iter().flatten() {
            let v1_file = format!("hugetlb.{}.limit_in_bytes", h.page_size());
            let v = if h.limit() < 0 {
                "-1".to_string()
            } else {
                h.limit().to_string()
            };
            if let Some(d) = self.dir("hugetlb") {
                write(d, &v1_file, &v)?;
                continue;
            }
            // Hybrid hosts may carry hugetlb on the unified hierarchy only (this CI machine
            // does). Use it when it is already delegated to our directory; enabling it
            // would mean writing the parent's subtree_control, which is not ours.
            let v2_file = format!("hugetlb.{}.max", h.page_size());
            match self.dir("") {
                Some(u) if u.join(&v2_file).exists() => {
                    let v = if h.limit() < 0 {
                        "max".to_string()
                    } else {
                        h.limit().to_string()
                    };
                    write(u, &v2_file, &v)?;
                }
                _ => return Err(unsupported("hugetlb", &v1_file, "hugetlb limits")),
            }
        }
        if let Some(n) = r.network() {
            if let Some(id) = n.class_id() {
                let d = self.need("net_cls", "net_cls.classid", "network class id")?;
                write(d, "net_cls.classid", &id.to_string())?;
            }
            for p in n.priorities().iter().flatten() {
                let d = self.need("net_prio", "net_prio.ifpriomap", "network priorities")?;
                write(
                    d,
                    "net_prio.ifpriomap",
                    &format!("{} {}", p.name(), p.priority()),
                )?;
            }
        }
        for (dev, l) in r.rdma().iter().flatten() {
            let d = self.need("rdma", "rdma.max", "rdma limits")?;
            write(
                d,
                "rdma.max",
                &rdma_line(dev, l.hca_handles(), l.hca_objects()),
            )?;
        }
        Ok(())
    }

    fn set_devices(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        let Some(devs) = r.devices() else {
            return Ok(());
        };
        let d = self.need("devices", "devices.deny", "device rules")?;
        // Start from nothing, then replay the rules in order (later rules override
        // earlier ones, as in the kernel's own list). Specs usually begin with that same
        // deny-all: it is written once.
        let mut deny = Knob::open(d, "devices.deny", "a")?;
        let mut allow = None;
        let rules: Vec<(bool, String)> = devs
            .iter()
            .map(|r| (r.allow(), device_rule_v1(r)))
            .collect();
        let skip = usize::from(matches!(rules.first(), Some((false, a)) if a == "a"));
        deny.put("a")?;
        for (allowed, rule) in &rules[skip..] {
            if *allowed {
                let knob = match &mut allow {
                    Some(k) => k,
                    None => allow.insert(Knob::open(d, "devices.allow", rule)?),
                };
                knob.put(rule)?;
            } else {
                deny.put(rule)?;
            }
        }
        Ok(())
    }

    fn set_all(&self, r: &LinuxResources, update: bool) -> Result<(), CgroupError> {
        validate(r, false)?;
        if !update {
            self.set_devices(r)?;
        }
        self.set_memory(r, update)?;
        self.set_cpu(r)?;
        self.set_blkio(r)?;
        self.set_misc(r)
    }

    fn freezer(&self) -> Result<&Path, CgroupError> {
        self.need("freezer", "freezer.state", "freezing")
    }
}

/// The distinct directories of `paths`, for log lines.
pub(crate) fn display_dirs(paths: &CgroupPaths) -> String {
    paths
        .dirs()
        .iter()
        .map(|d| d.display().to_string())
        .collect::<Vec<_>>()
        .join(" ")
}

pub(crate) fn rdma_line(dev: &str, handles: Option<u32>, objects: Option<u32>) -> String {
    let mut s = dev.to_string();
    if let Some(h) = handles {
        s.push_str(&format!(" hca_handle={h}"));
    }
    if let Some(o) = objects {
        s.push_str(&format!(" hca_object={o}"));
    }
    s
}

impl CgroupManager for V1Manager {
    fn create(&self) -> Result<(), CgroupError> {
        log::debug!("cgroup: create {}", display_dirs(&self.paths));
        let mut cpuset_made = false;
        for d in self.paths.dirs() {
            let made = fs::made_dir(&d)?;
            cpuset_made |= made && self.dir("cpuset") == Some(d.as_path());
        }
        self.cpuset_fill(cpuset_made)
    }

    fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        log::debug!("cgroup: move pid {pid} into {}", display_dirs(&self.paths));
        for d in self.paths.dirs() {
            write(&d, "cgroup.procs", &pid.to_string())?;
        }
        Ok(())
    }

    fn apply_resources(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        log::debug!("cgroup: apply the spec's resources");
        self.set_all(r, false)
    }

    fn update(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        self.set_all(r, true)
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        // Every hierarchy holds the same processes; prefer one that always exists.
        let d = ["pids", "freezer", "memory", "cpu", "name=systemd", ""]
            .iter()
            .find_map(|c| self.dir(c))
            .or_else(|| self.paths.0.values().next().map(PathBuf::as_path));
        let mut v = Vec::new();
        if let Some(d) = d {
            fs::pids_recursive(d, &mut v)?;
        }
        v.sort_unstable();
        v.dedup();
        Ok(v)
    }

    fn freeze(&self) -> Result<(), CgroupError> {
        let d = self.freezer()?;
        log::debug!("cgroup: freeze {}", d.display());
        write(d, "freezer.state", "FROZEN")?;
        fs::wait_until(&d.join("freezer.state"), "FROZEN", || {
            let s = read(d, "freezer.state")?;
            if s.trim() == "FROZEN" {
                return Ok(true);
            }
            // A task in an uninterruptible sleep can leave it FREEZING: ask again.
            write(d, "freezer.state", "FROZEN")?;
            Ok(false)
        })
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        let d = self.freezer()?;
        log::debug!("cgroup: thaw {}", d.display());
        write(d, "freezer.state", "THAWED")?;
        fs::wait_until(&d.join("freezer.state"), "THAWED", || {
            Ok(read(d, "freezer.state")?.trim() == "THAWED")
        })
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        let d = self.freezer()?;
        Ok(read(d, "freezer.state")?.trim() != "THAWED")
    }

    fn refuse_frozen(&self) -> Result<(), CgroupError> {
        let v1 = match self.dir("freezer") {
            Some(d) => fs::v1_frozen_ancestor(d)?,
            None => None,
        };
        // Hybrid hosts: the unified hierarchy can freeze its members too.
        let v2 = match (v1.is_none(), self.dir("")) {
            (true, Some(u)) => fs::v2_frozen_ancestor(u)?,
            _ => None,
        };
        match v1.or(v2) {
            Some(path) => Err(CgroupError::Frozen { path }),
            None => Ok(()),
        }
    }

    fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        // Freeze so that nothing forks between reading the list and signalling it.
        let frozen = self.dir("freezer").is_some();
        let was_frozen = frozen && self.is_frozen()?;
        if frozen && !was_frozen {
            self.freeze()?;
        }
        let result = self.pids().and_then(|pids| {
            log::debug!("cgroup: send signal {signal} to pids {pids:?}");
            pids.iter().try_for_each(|p| fs::kill_pid(*p, signal))
        });
        // A paused container that is sent SIGKILL is thawed so that it can die (runc thaws
        // after signalling too); other signals leave a paused container paused.
        if frozen && (!was_frozen || signal == libc::SIGKILL) {
            self.thaw()?;
        }
        result
    }

    fn destroy(&self) -> Result<(), CgroupError> {
        log::debug!("cgroup: remove {}", display_dirs(&self.paths));
        let mut first = None;
        for d in self.paths.dirs() {
            if let Err(e) = fs::remove_tree(&d) {
                first.get_or_insert(e);
            }
        }
        first.map_or(Ok(()), Err)
    }

    fn self_join_files(&self) -> Option<Vec<PathBuf>> {
        let mut files: Vec<PathBuf> = Vec::new();
        for (ctrl, dir) in &self.paths.0 {
            // A hybrid host's unified hierarchy has no `tasks`: its cgroup.procs takes "0" too
            // (with the lock, but it holds no controllers there).
            let file = dir.join(if ctrl.is_empty() {
                "cgroup.procs"
            } else {
                "tasks"
            });
            if !files.iter().any(|f| f.parent() == Some(dir.as_path())) {
                files.push(file);
            }
        }
        Some(files)
    }

    fn remove_if_empty(&self) -> Result<bool, CgroupError> {
        fs::rmdir_each(&self.paths.dirs())
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        let mut s = Stats::default();
        if let Some(d) = self.dir("cpuacct") {
            let nums = |f: &str| -> Result<Vec<u64>, CgroupError> {
                Ok(read_opt(d, f)?
                    .unwrap_or_default()
                    .split_whitespace()
                    .filter_map(|x| x.parse().ok())
                    .collect())
            };
            let st = fs::read_keyed(d, "cpuacct.stat")?;
            s.cpu.usage = CpuUsage {
                total: fs::read_u64(d, "cpuacct.usage")?,
                percpu: nums("cpuacct.usage_percpu")?,
                percpu_kernel: nums("cpuacct.usage_percpu_sys")?,
                percpu_user: nums("cpuacct.usage_percpu_user")?,
                kernel: fs::keyed(&st, "system") * (1_000_000_000 / CLK_TCK),
                user: fs::keyed(&st, "user") * (1_000_000_000 / CLK_TCK),
            };
        }
        if let Some(d) = self.dir("cpu") {
            let st = fs::read_keyed(d, "cpu.stat")?;
            s.cpu.throttling.periods = fs::keyed(&st, "nr_periods");
            s.cpu.throttling.throttled_periods = fs::keyed(&st, "nr_throttled");
            s.cpu.throttling.throttled_time = fs::keyed(&st, "throttled_time");
        }
        if let Some(d) = self.dir("memory") {
            let entry = |prefix: &str| -> Result<MemoryEntry, CgroupError> {
                let g =
                    |f: &str| fs::read_u64_opt(d, &format!("{prefix}.{f}")).map(|v| v.unwrap_or(0));
                Ok(MemoryEntry {
                    limit: g("limit_in_bytes")?,
                    usage: g("usage_in_bytes")?,
                    max: g("max_usage_in_bytes")?,
                    failcnt: g("failcnt")?,
                })
            };
            s.memory.usage = entry("memory")?;
            s.memory.swap = entry("memory.memsw")?;
            s.memory.kernel = entry("memory.kmem")?;
            s.memory.kernel_tcp = entry("memory.kmem.tcp")?;
            s.memory.raw = fs::read_keyed(d, "memory.stat")?.into_iter().collect();
            s.memory.cache = s.memory.raw.get("total_cache").copied().unwrap_or(0);
        }
        if let Some(d) = self.dir("pids") {
            s.pids.current = fs::read_u64(d, "pids.current")?;
            let l = fs::read_u64(d, "pids.max")?;
            s.pids.limit = if l == u64::MAX { 0 } else { l };
        }
        if let Some(d) = self.dir("blkio") {
            let f = |n: &str| -> Result<_, CgroupError> {
                Ok(parse_blkio_v1(&read_opt(d, n)?.unwrap_or_default()))
            };
            s.blkio.io_service_bytes_recursive = f("blkio.throttle.io_service_bytes_recursive")?;
            s.blkio.io_serviced_recursive = f("blkio.throttle.io_serviced_recursive")?;
        }
        let (hdir, v1) = match (self.dir("hugetlb"), self.dir("")) {
            (Some(d), _) => (Some(d), true),
            (None, Some(u)) => (Some(u), false),
            _ => (None, true),
        };
        if let Some(d) = hdir {
            for size in hugetlb_sizes(d, v1)? {
                let g = |f: &str| {
                    fs::read_u64_opt(d, &format!("hugetlb.{size}.{f}")).map(|v| v.unwrap_or(0))
                };
                let h = if v1 {
                    HugetlbStats {
                        usage: g("usage_in_bytes")?,
                        max: g("max_usage_in_bytes")?,
                        failcnt: g("failcnt")?,
                    }
                } else {
                    let ev = fs::read_keyed(d, &format!("hugetlb.{size}.events"))?;
                    HugetlbStats {
                        usage: g("current")?,
                        max: 0,
                        failcnt: fs::keyed(&ev, "max"),
                    }
                };
                s.hugetlb.insert(size, h);
            }
        }
        Ok(s)
    }

    fn paths(&self) -> &CgroupPaths {
        &self.paths
    }
}

/// Page sizes that have hugetlb files in `d` ("2MB", "1GB").
pub(crate) fn hugetlb_sizes(d: &Path, v1: bool) -> Result<Vec<String>, CgroupError> {
    let suffix = if v1 { ".limit_in_bytes" } else { ".max" };
    let rd = match std::fs::read_dir(d) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(fs::io_err("read directory", d, e)),
    };
    let mut v = Vec::new();
    for ent in rd.flatten() {
        let n = ent.file_name().to_string_lossy().into_owned();
        if let Some(rest) = n.strip_prefix("hugetlb.") {
            if let Some(size) = rest.strip_suffix(suffix) {
                if !size.contains('.') {
                    v.push(size.to_string());
                }
            }
        }
    }
    v.sort();
    Ok(v)
}
