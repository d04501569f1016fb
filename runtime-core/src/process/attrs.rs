//! The process attributes that are one system call on the container process itself: the
//! scheduler (`process.scheduler`, sched_setattr), the I/O priority (`process.ioPriority`,
//! ioprio_set), the CPU affinity (`process.execCPUAffinity` and the reset of the runtime's own
//! affinity), the NUMA memory policy (`linux.memoryPolicy`, set_mempolicy) and the execution
//! domain (`linux.personality`).
//!
//! Everything is parsed and checked here, in the parent, with errors that name the field; the
//! child only hands the prepared values to the kernel ([`Attrs::apply`], [`Attrs::initial`]).
//!
//! When: the affinity is reset once the process is in the container's cgroup (the kernel then
//! clamps "all CPUs" to the cgroup's cpuset, as runc's reset does), so that the CPUs the runtime
//! happened to be pinned to do not leak into the container. An exec'd process first runs on
//! `execCPUAffinity.initial` while it is moved into the cgroup, then on `final` (or the reset).
//! The spec says execCPUAffinity does not apply to the init, and CRI-O relies on that: it pins
//! exec'd shells away from the workload's CPUs, not the workload itself. All of it happens
//! before the seccomp filter and while we still hold CAP_SYS_NICE / CAP_SYS_ADMIN (a real-time
//! policy, a negative nice, the real-time I/O class need them), so profiles need not allow any
//! of these calls. runc sets the personality after its filter; here it goes before, for the
//! same reason.

use std::fmt::Write as _;

use nix::errno::Errno;
use oci_spec::runtime::{
    IOPriorityClass, LinuxMemoryPolicy, LinuxPersonality, LinuxPersonalityDomain,
    LinuxSchedulerFlag, LinuxSchedulerPolicy, MemoryPolicyFlagType, MemoryPolicyModeType, Process,
};

use crate::child::{CResult, OrFail};
use crate::error::{Error, Result};

/// CPUs and NUMA nodes a mask can name (the kernel's CONFIG_NR_CPUS is at most 8192; runc's
/// masks stop at 1024 too).
const MASK_BITS: usize = 1024;
const MASK_WORDS: usize = MASK_BITS / 64;

/// A set of CPUs or NUMA nodes as the kernel takes it.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Mask {
    words: [u64; MASK_WORDS],
    /// The list as the spec wrote it, for messages.
    shown: String,
}

impl std::fmt::Debug for Mask {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.shown)
    }
}

impl Mask {
    fn all() -> Mask {
        Mask {
            words: [u64::MAX; MASK_WORDS],
            shown: "all".into(),
        }
    }

    fn contains(&self, i: usize) -> bool {
        i < MASK_BITS && self.words[i / 64] & (1 << (i % 64)) != 0
    }

    fn members(&self) -> impl Iterator<Item = usize> + '_ {
        (0..MASK_BITS).filter(|i| self.contains(*i))
    }

    fn is_empty(&self) -> bool {
        self.words.iter().all(|w| *w == 0)
    }
}

/// Parse a kernel list ("0-3,7"); `field` names the spec field for errors. An empty list is an
/// empty mask.
pub(crate) fn parse_list(text: &str, field: &str) -> Result<Mask> {
    let bad = |why: String| Error::Spec(format!("{field} {text:?}: {why}"));
    let mut words = [0u64; MASK_WORDS];
    for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (lo, hi) = match part.split_once('-') {
            Some((a, b)) => (a.trim(), b.trim()),
            None => (part, part),
        };
        let num = |s: &str| {
            s.parse::<usize>()
                .map_err(|_| bad(format!("{s:?} is not a number")))
        };
        let (lo, hi) = (num(lo)?, num(hi)?);
        if lo > hi {
            return Err(bad(format!("the range {part} runs backwards")));
        }
        if hi >= MASK_BITS {
            return Err(bad(format!(
                "{hi} is beyond the largest supported ({})",
                MASK_BITS - 1
            )));
        }
        for i in lo..=hi {
            words[i / 64] |= 1 << (i % 64);
        }
    }
    Ok(Mask {
        words,
        shown: text.to_string(),
    })
}

/// The kernel's list of online CPUs or nodes (`/sys/devices/system/{cpu,node}/online`).
fn online(path: &str, field: &str) -> Result<Mask> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| Error::Other(format!("{field}: read {path}: {e}")))?;
    parse_list(text.trim(), path)
}

/// Every member of `m` must be in `online`.
fn check_online(m: &Mask, online: &Mask, field: &str, what: &str) -> Result<()> {
    if let Some(i) = m.members().find(|i| !online.contains(*i)) {
        return Err(Error::Spec(format!(
            "{field} {:?}: {what} {i} is not online (online: {})",
            m.shown, online.shown
        )));
    }
    Ok(())
}

/// `struct sched_attr` (SCHED_ATTR_SIZE_VER0, the part every kernel since 3.14 takes).
#[repr(C)]
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub(crate) struct SchedAttr {
    pub size: u32,
    pub policy: u32,
    pub flags: u64,
    pub nice: i32,
    pub priority: u32,
    pub runtime: u64,
    pub deadline: u64,
    pub period: u64,
}

const SCHED_OTHER: u32 = 0;
const SCHED_FIFO: u32 = 1;
const SCHED_RR: u32 = 2;
const SCHED_BATCH: u32 = 3;
const SCHED_IDLE: u32 = 5;
const SCHED_DEADLINE: u32 = 6;

fn sched_flag(f: LinuxSchedulerFlag) -> u64 {
    match f {
        LinuxSchedulerFlag::SchedResetOnFork => 0x01,
        LinuxSchedulerFlag::SchedFlagReclaim => 0x02,
        LinuxSchedulerFlag::SchedFlagDLOverrun => 0x04,
        LinuxSchedulerFlag::SchedFlagKeepPolicy => 0x08,
        LinuxSchedulerFlag::SchedFlagKeepParams => 0x10,
        LinuxSchedulerFlag::SchedFlagUtilClampMin => 0x20,
        LinuxSchedulerFlag::SchedFlagUtilClampMax => 0x40,
    }
}

/// `process.scheduler` checked as runc checks it (nice in -20..19, a priority only for the
/// real-time policies, runtime/deadline/period only for SCHED_DEADLINE), plus what the kernel
/// would refuse anyway, said with the field's name.
pub(crate) fn sched_attr(s: &oci_spec::runtime::Scheduler) -> Result<SchedAttr> {
    let f = "process.scheduler";
    let policy = match s.policy() {
        LinuxSchedulerPolicy::SchedOther => SCHED_OTHER,
        LinuxSchedulerPolicy::SchedFifo => SCHED_FIFO,
        LinuxSchedulerPolicy::SchedRr => SCHED_RR,
        LinuxSchedulerPolicy::SchedBatch => SCHED_BATCH,
        LinuxSchedulerPolicy::SchedIdle => SCHED_IDLE,
        LinuxSchedulerPolicy::SchedDeadline => SCHED_DEADLINE,
        LinuxSchedulerPolicy::SchedIso => {
            return Err(Error::Spec(format!(
                "{f}.policy SCHED_ISO: Linux does not implement it"
            )))
        }
    };
    let nice = s.nice().unwrap_or(0);
    if !(-20..=19).contains(&nice) {
        return Err(Error::Spec(format!(
            "{f}.nice {nice} is out of range (-20 to 19)"
        )));
    }
    let priority = s.priority().unwrap_or(0);
    let realtime = matches!(policy, SCHED_FIFO | SCHED_RR);
    if realtime && !(1..=99).contains(&priority) {
        return Err(Error::Spec(format!(
            "{f}.priority {priority} is out of range for {} (1 to 99)",
            s.policy()
        )));
    }
    if !realtime && priority != 0 {
        return Err(Error::Spec(format!(
            "{f}.priority can only be set for SCHED_FIFO or SCHED_RR, not {}",
            s.policy()
        )));
    }
    let (runtime, deadline, period) = (
        s.runtime().unwrap_or(0),
        s.deadline().unwrap_or(0),
        s.period().unwrap_or(0),
    );
    if policy != SCHED_DEADLINE && (runtime, deadline, period) != (0, 0, 0) {
        return Err(Error::Spec(format!(
            "{f}.runtime/deadline/period can only be set for SCHED_DEADLINE, not {}",
            s.policy()
        )));
    }
    if policy == SCHED_DEADLINE {
        let period_or_deadline = if period == 0 { deadline } else { period };
        if runtime == 0 || runtime > deadline || deadline > period_or_deadline {
            return Err(Error::Spec(format!(
                "{f}: SCHED_DEADLINE needs 0 < runtime <= deadline <= period (period 0 means \
                 the deadline), got runtime {runtime}, deadline {deadline}, period {period}"
            )));
        }
    }
    let flags = s.flags().iter().flatten().map(|f| sched_flag(*f)).sum();
    Ok(SchedAttr {
        size: std::mem::size_of::<SchedAttr>() as u32,
        policy,
        flags,
        nice,
        priority: priority as u32,
        runtime,
        deadline,
        period,
    })
}

const IOPRIO_CLASS_SHIFT: u32 = 13;
const IOPRIO_WHO_PROCESS: libc::c_long = 1;

/// The `ioprio` value of `process.ioPriority` (class << 13 | level).
pub(crate) fn ioprio(p: &oci_spec::runtime::LinuxIOPriority) -> Result<u32> {
    let class = match p.class() {
        IOPriorityClass::IoprioClassRt => 1,
        IOPriorityClass::IoprioClassBe => 2,
        IOPriorityClass::IoprioClassIdle => 3,
    };
    let level = p.priority();
    if !(0..=7).contains(&level) {
        return Err(Error::Spec(format!(
            "process.ioPriority.priority {level} is out of range (0 to 7)"
        )));
    }
    Ok(class << IOPRIO_CLASS_SHIFT | level as u32)
}

/// `process.execCPUAffinity`: (initial, final), each checked against the online CPUs.
fn exec_affinity(p: &Process) -> Result<(Option<Mask>, Option<Mask>)> {
    let Some(a) = p.exec_cpu_affinity() else {
        return Ok((None, None));
    };
    let mut out = [None, None];
    let online_cpus = online("/sys/devices/system/cpu/online", "process.execCPUAffinity")?;
    for (slot, (name, v)) in out
        .iter_mut()
        .zip([("initial", a.initial()), ("final", a.cpu_affinity_final())])
    {
        let Some(text) = v.as_deref().filter(|t| !t.trim().is_empty()) else {
            continue;
        };
        let field = format!("process.execCPUAffinity.{name}");
        let m = parse_list(text, &field)?;
        if m.is_empty() {
            continue;
        }
        check_online(&m, &online_cpus, &field, "CPU")?;
        *slot = Some(m);
    }
    let [initial, fin] = out;
    Ok((initial, fin))
}

/// A memory policy ready for set_mempolicy(mode | flags, nodes, MASK_BITS + 1).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct MemPolicy {
    pub mode: i32,
    pub nodes: Option<Mask>,
}

const MPOL_F_NUMA_BALANCING: i32 = 1 << 13;
const MPOL_F_RELATIVE_NODES: i32 = 1 << 14;
const MPOL_F_STATIC_NODES: i32 = 1 << 15;

/// `linux.memoryPolicy`: the modes that take nodes must have some, the ones that do not must
/// have none, and every node must exist (be online).
pub(crate) fn mem_policy(m: &LinuxMemoryPolicy) -> Result<MemPolicy> {
    let f = "linux.memoryPolicy";
    let (mode, needs_nodes) = match m.mode() {
        MemoryPolicyModeType::MpolDefault => (0, Some(false)),
        MemoryPolicyModeType::MpolPreferred => (1, None),
        MemoryPolicyModeType::MpolBind => (2, Some(true)),
        MemoryPolicyModeType::MpolInterleave => (3, Some(true)),
        MemoryPolicyModeType::MpolLocal => (4, Some(false)),
        MemoryPolicyModeType::MpolPreferredMany => (5, Some(true)),
        MemoryPolicyModeType::MpolWeightedInterleave => (6, Some(true)),
    };
    let nodes = match m.nodes().as_deref().filter(|n| !n.trim().is_empty()) {
        Some(text) => Some(parse_list(text, &format!("{f}.nodes"))?).filter(|m| !m.is_empty()),
        None => None,
    };
    match (needs_nodes, &nodes) {
        (Some(true), None) => {
            return Err(Error::Spec(format!(
                "{f}.nodes: {} needs at least one node",
                m.mode()
            )))
        }
        (Some(false), Some(n)) => {
            return Err(Error::Spec(format!(
                "{f}.nodes {:?}: {} takes no nodes",
                n.shown,
                m.mode()
            )))
        }
        _ => {}
    }
    if let Some(n) = &nodes {
        // A kernel without NUMA has no node directory and only node 0.
        let online_nodes = match std::fs::metadata("/sys/devices/system/node") {
            Ok(_) => online("/sys/devices/system/node/online", f)?,
            Err(_) => parse_list("0", f)?,
        };
        check_online(n, &online_nodes, &format!("{f}.nodes"), "NUMA node")?;
    }
    let mut flags = 0;
    for fl in m.flags().iter().flatten() {
        flags |= match fl {
            MemoryPolicyFlagType::MpolFNumaBalancing => MPOL_F_NUMA_BALANCING,
            MemoryPolicyFlagType::MpolFRelativeNodes => MPOL_F_RELATIVE_NODES,
            MemoryPolicyFlagType::MpolFStaticNodes => MPOL_F_STATIC_NODES,
        };
    }
    if flags & MPOL_F_STATIC_NODES != 0 && flags & MPOL_F_RELATIVE_NODES != 0 {
        return Err(Error::Spec(format!(
            "{f}.flags: MPOL_F_STATIC_NODES and MPOL_F_RELATIVE_NODES exclude each other"
        )));
    }
    if flags & (MPOL_F_STATIC_NODES | MPOL_F_RELATIVE_NODES) != 0 && nodes.is_none() {
        return Err(Error::Spec(format!(
            "{f}.flags: MPOL_F_STATIC_NODES/MPOL_F_RELATIVE_NODES need nodes"
        )));
    }
    Ok(MemPolicy {
        mode: mode | flags,
        nodes,
    })
}

/// `linux.personality`: the domain; runtime-spec 1.3 defines no flags, so any is an error
/// rather than silently dropped (runc only warns).
pub(crate) fn personality(p: &LinuxPersonality) -> Result<u64> {
    if let Some(flags) = p.flags().as_ref().filter(|f| !f.is_empty()) {
        return Err(Error::Spec(format!(
            "linux.personality.flags {flags:?}: runtime-spec 1.3 defines no personality flags"
        )));
    }
    Ok(match p.domain() {
        LinuxPersonalityDomain::PerLinux => 0x0000,
        LinuxPersonalityDomain::PerLinux32 => 0x0008,
    })
}

/// The container-wide settings (from `linux`) every process of the container gets, the init
/// and exec'd ones alike.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct ContainerAttrs {
    pub mem_policy: Option<MemPolicy>,
    pub personality: Option<u64>,
}

impl ContainerAttrs {
    /// Check and prepare the spec's `linux.memoryPolicy` and `linux.personality`.
    pub(crate) fn new(
        mem: Option<&LinuxMemoryPolicy>,
        pers: Option<&LinuxPersonality>,
    ) -> Result<ContainerAttrs> {
        Ok(ContainerAttrs {
            mem_policy: mem.map(mem_policy).transpose()?,
            personality: pers.map(personality).transpose()?,
        })
    }
}

/// Everything of this module one process needs, prepared in the parent.
#[derive(Clone, Debug)]
pub(crate) struct Attrs {
    sched: Option<SchedAttr>,
    ioprio: Option<u32>,
    initial: Option<Mask>,
    /// The affinity once in the cgroup: `final`, or every CPU (the cgroup's cpuset).
    settled: Mask,
    container: ContainerAttrs,
}

impl Attrs {
    /// Check and prepare `p`'s attributes; `exec` is true for an exec'd process (the only
    /// kind execCPUAffinity applies to).
    pub(crate) fn new(p: &Process, exec: bool, container: ContainerAttrs) -> Result<Attrs> {
        let (initial, fin) = exec_affinity(p)?;
        let (initial, fin) = if exec { (initial, fin) } else { (None, None) };
        Ok(Attrs {
            sched: p.scheduler().as_ref().map(sched_attr).transpose()?,
            ioprio: p.io_priority().as_ref().map(ioprio).transpose()?,
            initial,
            settled: fin.unwrap_or_else(Mask::all),
            container,
        })
    }

    /// Only checks `p` (and `container`): what `create` and `exec` refuse before they make
    /// anything.
    pub(crate) fn check(p: &Process) -> Result<()> {
        Attrs::new(p, true, ContainerAttrs::default()).map(drop)
    }

    /// `execCPUAffinity.initial`, which the parent applies to the exec helper before it moves
    /// it into the container's cgroup.
    pub(crate) fn initial_cpus(&self) -> Option<Mask> {
        self.initial.clone()
    }

    /// In the child, in the container's cgroup, before seccomp and the user switch.
    pub(crate) fn apply(&self) -> CResult<()> {
        let what = if self.settled.shown == "all" {
            "the CPU affinity reset to the cgroup's CPUs"
        } else {
            "process.execCPUAffinity.final"
        };
        set_affinity(&self.settled, what)?;
        if let Some(m) = &self.container.mem_policy {
            let (ptr, maxnode) = match &m.nodes {
                Some(n) => (n.words.as_ptr(), MASK_BITS as libc::c_ulong + 1),
                None => (std::ptr::null(), 0),
            };
            // SAFETY: set_mempolicy reads maxnode-1 bits from a mask we own (or none).
            let r = unsafe { libc::syscall(libc::SYS_set_mempolicy, m.mode, ptr, maxnode) };
            if r != 0 {
                let shown = m.nodes.as_ref().map(|n| n.shown.as_str()).unwrap_or("");
                return Err(Errno::last()).or_fail(|b| {
                    write!(
                        b,
                        "set_mempolicy (linux.memoryPolicy mode {:#x}, nodes {shown:?})",
                        m.mode
                    )
                });
            }
        }
        if let Some(p) = self.container.personality {
            // SAFETY: personality only changes this process's execution domain.
            if unsafe { libc::personality(p as libc::c_ulong) } == -1 {
                return Err(Errno::last())
                    .or_fail(|b| write!(b, "personality {p:#x} (linux.personality)"));
            }
        }
        if let Some(v) = self.ioprio {
            // SAFETY: ioprio_set on ourselves with a plain value.
            let r = unsafe { libc::syscall(libc::SYS_ioprio_set, IOPRIO_WHO_PROCESS, 0, v) };
            if r != 0 {
                return Err(Errno::last()).or_fail(|b| {
                    write!(
                        b,
                        "ioprio_set class {} level {} (process.ioPriority)",
                        v >> IOPRIO_CLASS_SHIFT,
                        v & 7
                    )
                });
            }
        }
        if let Some(a) = &self.sched {
            // SAFETY: sched_setattr reads `size` bytes of the struct we own.
            let r = unsafe { libc::syscall(libc::SYS_sched_setattr, 0, a as *const SchedAttr, 0) };
            if r != 0 {
                return Err(Errno::last()).or_fail(|b| {
                    write!(
                        b,
                        "sched_setattr policy {} nice {} priority {} flags {:#x} (process.scheduler)",
                        a.policy, a.nice, a.priority, a.flags
                    )
                });
            }
        }
        Ok(())
    }
}

/// In the parent: run `pid` (our child) on the CPUs of `m` (`execCPUAffinity.initial`).
pub(crate) fn set_affinity_of(pid: i32, m: &Mask) -> Result<()> {
    // SAFETY: the kernel reads size bytes of the mask we own.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            pid,
            std::mem::size_of_val(&m.words),
            m.words.as_ptr(),
        )
    };
    if r != 0 {
        return Err(Error::sys(
            format!(
                "sched_setaffinity {:?} for pid {pid} (process.execCPUAffinity.initial)",
                m.shown
            ),
            Errno::last(),
        ));
    }
    Ok(())
}

fn set_affinity(m: &Mask, what: &str) -> CResult<()> {
    // SAFETY: the kernel reads size bytes of the mask we own.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_setaffinity,
            0,
            std::mem::size_of_val(&m.words),
            m.words.as_ptr(),
        )
    };
    if r != 0 {
        return Err(Errno::last())
            .or_fail(|b| write!(b, "sched_setaffinity {:?} ({what})", m.shown));
    }
    Ok(())
}

/// The names runtime-spec gives the scheduler flags, and the ones oci-spec 0.10 reads (two of
/// its names are misspelt: it would refuse a correct config).
const SCHED_FLAG_NAMES: [(&str, &str); 7] = [
    ("SCHED_FLAG_RESET_ON_FORK", "SCHED_RESET_ON_FORK"),
    ("SCHED_FLAG_RECLAIM", "SCHED_FLAG_RECLAIM"),
    ("SCHED_FLAG_DL_OVERRUN", "SCHED_FLAG_D_L_OVERRUN"),
    ("SCHED_FLAG_KEEP_POLICY", "SCHED_FLAG_KEEP_POLICY"),
    ("SCHED_FLAG_KEEP_PARAMS", "SCHED_FLAG_KEEP_PARAMS"),
    ("SCHED_FLAG_UTIL_CLAMP_MIN", "SCHED_FLAG_UTIL_CLAMP_MIN"),
    ("SCHED_FLAG_UTIL_CLAMP_MAX", "SCHED_FLAG_UTIL_CLAMP_MAX"),
];

/// The string values of the enumerated fields this module reads, by JSON pointer under the
/// process (`p`) or `linux` (`l`) object.
const ENUMS: [(char, &str, &str, &[&str]); 6] = [
    (
        'p',
        "/scheduler/policy",
        "process.scheduler.policy",
        &[
            "SCHED_OTHER",
            "SCHED_FIFO",
            "SCHED_RR",
            "SCHED_BATCH",
            "SCHED_ISO",
            "SCHED_IDLE",
            "SCHED_DEADLINE",
        ],
    ),
    (
        'p',
        "/ioPriority/class",
        "process.ioPriority.class",
        &["IOPRIO_CLASS_RT", "IOPRIO_CLASS_BE", "IOPRIO_CLASS_IDLE"],
    ),
    (
        'l',
        "/memoryPolicy/mode",
        "linux.memoryPolicy.mode",
        &[
            "MPOL_DEFAULT",
            "MPOL_PREFERRED",
            "MPOL_BIND",
            "MPOL_INTERLEAVE",
            "MPOL_LOCAL",
            "MPOL_PREFERRED_MANY",
            "MPOL_WEIGHTED_INTERLEAVE",
        ],
    ),
    (
        'l',
        "/memoryPolicy/flags",
        "linux.memoryPolicy.flags",
        &[
            "MPOL_F_NUMA_BALANCING",
            "MPOL_F_RELATIVE_NODES",
            "MPOL_F_STATIC_NODES",
        ],
    ),
    (
        'l',
        "/personality/domain",
        "linux.personality.domain",
        &["LINUX", "LINUX32"],
    ),
    (
        'p',
        "/scheduler/flags",
        "process.scheduler.flags",
        &[
            "SCHED_FLAG_RESET_ON_FORK",
            "SCHED_FLAG_RECLAIM",
            "SCHED_FLAG_DL_OVERRUN",
            "SCHED_FLAG_KEEP_POLICY",
            "SCHED_FLAG_KEEP_PARAMS",
            "SCHED_FLAG_UTIL_CLAMP_MIN",
            "SCHED_FLAG_UTIL_CLAMP_MAX",
        ],
    ),
];

/// Before the JSON becomes a spec: an unknown value of one of these fields is an error naming
/// the field and the values it takes (serde would only say "unknown variant" with a line and
/// column), and the scheduler flags are renamed for oci-spec. `process` and `linux` are JSON
/// pointers to the objects (`""` for a process.json).
pub(crate) fn prepare_json(
    root: &mut serde_json::Value,
    process: &str,
    linux: Option<&str>,
) -> Result<()> {
    for (base, ptr, field, allowed) in ENUMS {
        let at = match base {
            'p' => format!("{process}{ptr}"),
            _ => match linux {
                Some(l) => format!("{l}{ptr}"),
                None => continue,
            },
        };
        let Some(v) = root.pointer_mut(&at) else {
            continue;
        };
        let one = |v: &serde_json::Value| -> Result<()> {
            match v.as_str() {
                Some(s) if allowed.contains(&s) => Ok(()),
                _ => Err(Error::Spec(format!(
                    "{field}: {v} is not one of {}",
                    allowed.join(", ")
                ))),
            }
        };
        match v {
            serde_json::Value::Array(items) => {
                for i in items.iter() {
                    one(i)?;
                }
                if ptr == "/scheduler/flags" {
                    for i in items.iter_mut() {
                        let spec_name = i.as_str().unwrap_or_default().to_string();
                        if let Some((_, ours)) =
                            SCHED_FLAG_NAMES.iter().find(|(n, _)| *n == spec_name)
                        {
                            *i = serde_json::Value::String((*ours).to_string());
                        }
                    }
                }
            }
            v => one(v)?,
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_parse_like_the_kernels() {
        let m = parse_list("0-2,7, 9", "f").unwrap();
        assert_eq!(m.members().collect::<Vec<_>>(), vec![0, 1, 2, 7, 9]);
        assert!(parse_list("", "f").unwrap().is_empty());
        let e = parse_list("3-1", "process.x").unwrap_err().to_string();
        assert!(e.contains("process.x") && e.contains("backwards"), "{e}");
        assert!(parse_list("a", "f").is_err());
        assert!(parse_list("1024", "f").is_err());
    }

    #[test]
    fn offline_cpu_is_named() {
        let online = parse_list("0-1", "o").unwrap();
        let m = parse_list("0,5", "p").unwrap();
        let e = check_online(&m, &online, "process.execCPUAffinity.final", "CPU")
            .unwrap_err()
            .to_string();
        assert!(e.contains("CPU 5 is not online (online: 0-1)"), "{e}");
    }

    fn sched(json: &str) -> Result<SchedAttr> {
        sched_attr(&serde_json::from_str(json).unwrap())
    }

    #[test]
    fn scheduler_rules() {
        let a = sched(r#"{"policy":"SCHED_BATCH","nice":5}"#).unwrap();
        assert_eq!((a.policy, a.nice, a.size), (SCHED_BATCH, 5, 48));
        let a = sched(r#"{"policy":"SCHED_FIFO","priority":10}"#).unwrap();
        assert_eq!((a.policy, a.priority), (SCHED_FIFO, 10));
        assert!(sched(r#"{"policy":"SCHED_OTHER","nice":20}"#).is_err());
        assert!(sched(r#"{"policy":"SCHED_OTHER","priority":3}"#).is_err());
        assert!(sched(r#"{"policy":"SCHED_RR"}"#).is_err());
        assert!(sched(r#"{"policy":"SCHED_IDLE","runtime":5}"#).is_err());
        assert!(sched(r#"{"policy":"SCHED_ISO"}"#).is_err());
        let d = sched(
            r#"{"policy":"SCHED_DEADLINE","runtime":1000000,"deadline":2000000,"period":4000000}"#,
        )
        .unwrap();
        assert_eq!(d.period, 4_000_000);
        assert!(sched(r#"{"policy":"SCHED_DEADLINE","runtime":5,"deadline":4}"#).is_err());
    }

    #[test]
    fn ioprio_values() {
        let p = |j: &str| ioprio(&serde_json::from_str(j).unwrap());
        assert_eq!(
            p(r#"{"class":"IOPRIO_CLASS_IDLE","priority":0}"#).unwrap(),
            3 << 13
        );
        assert_eq!(
            p(r#"{"class":"IOPRIO_CLASS_BE","priority":4}"#).unwrap(),
            2 << 13 | 4
        );
        assert!(p(r#"{"class":"IOPRIO_CLASS_RT","priority":8}"#).is_err());
    }

    #[test]
    fn memory_policies() {
        let m = |j: &str| mem_policy(&serde_json::from_str(j).unwrap());
        assert_eq!(m(r#"{"mode":"MPOL_BIND","nodes":"0"}"#).unwrap().mode, 2);
        assert!(m(r#"{"mode":"MPOL_BIND"}"#).is_err());
        assert!(m(r#"{"mode":"MPOL_LOCAL","nodes":"0"}"#).is_err());
        let e = m(r#"{"mode":"MPOL_INTERLEAVE","nodes":"0,1000"}"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("NUMA node 1000 is not online"), "{e}");
        let f =
            m(r#"{"mode":"MPOL_PREFERRED","nodes":"0","flags":["MPOL_F_STATIC_NODES"]}"#).unwrap();
        assert_eq!(f.mode, 1 | MPOL_F_STATIC_NODES);
        assert!(m(r#"{"mode":"MPOL_PREFERRED","nodes":"0","flags":["MPOL_F_STATIC_NODES","MPOL_F_RELATIVE_NODES"]}"#).is_err());
    }

    #[test]
    fn json_enums_are_checked_and_flags_renamed() {
        let mut v = serde_json::json!({"process": {"scheduler": {"policy": "SCHED_BATCH",
            "flags": ["SCHED_FLAG_RESET_ON_FORK", "SCHED_FLAG_DL_OVERRUN"]}}});
        prepare_json(&mut v, "/process", Some("/linux")).unwrap();
        let s: oci_spec::runtime::Scheduler =
            serde_json::from_value(v["process"]["scheduler"].clone()).unwrap();
        let flags = s.flags().clone().unwrap();
        assert_eq!(sched_flag(flags[0]) | sched_flag(flags[1]), 0x05);
        let mut bad = serde_json::json!({"scheduler": {"policy": "SCHED_FOO"}});
        let e = prepare_json(&mut bad, "", None).unwrap_err().to_string();
        assert!(
            e.contains("process.scheduler.policy: \"SCHED_FOO\" is not one of SCHED_OTHER"),
            "{e}"
        );
        let mut bad =
            serde_json::json!({"linux": {"memoryPolicy": {"mode": "MPOL_BIND", "flags": ["X"]}}});
        let e = prepare_json(&mut bad, "/process", Some("/linux"))
            .unwrap_err()
            .to_string();
        assert!(e.contains("linux.memoryPolicy.flags: \"X\""), "{e}");
    }

    #[test]
    fn personalities() {
        let p = |j: &str| personality(&serde_json::from_str(j).unwrap());
        assert_eq!(p(r#"{"domain":"LINUX32"}"#).unwrap(), 8);
        assert_eq!(p(r#"{"domain":"LINUX"}"#).unwrap(), 0);
        assert!(p(r#"{"domain":"LINUX","flags":["X"]}"#).is_err());
    }
}
