//! The container process's identity and privileges: rlimits, oom_score_adj, user and groups,
//! capability sets and no_new_privs, applied in the order the kernel requires.

use std::fs;

use caps::{CapSet, Capability, CapsHashSet};
use nix::unistd::{Gid, Uid};
use oci_spec::runtime::{LinuxCapabilities, PosixRlimitType, Process};

use crate::error::{Error, Result, SysContext};

/// The spec's capability sets converted to the kernel's names, computed in the parent.
#[derive(Debug, Clone, Default)]
pub(crate) struct CapPlan {
    bounding: Option<CapsHashSet>,
    effective: Option<CapsHashSet>,
    permitted: Option<CapsHashSet>,
    inheritable: Option<CapsHashSet>,
    ambient: Option<CapsHashSet>,
}

/// A set the spec leaves out is empty: `"capabilities": {}` drops every capability, as in runc.
fn convert(set: &Option<oci_spec::runtime::Capabilities>) -> Result<Option<CapsHashSet>> {
    let Some(set) = set else {
        return Ok(Some(CapsHashSet::new()));
    };
    let mut out = CapsHashSet::new();
    for c in set {
        let name = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .ok_or_else(|| Error::Spec(format!("capability {c:?} has no name")))?;
        let cap: Capability = name
            .parse()
            .map_err(|_| Error::Spec(format!("unknown capability {name:?}")))?;
        out.insert(cap);
    }
    Ok(Some(out))
}

impl CapPlan {
    /// Convert the spec's capabilities; `None` in the spec leaves the process's sets alone.
    pub(crate) fn new(caps: Option<&LinuxCapabilities>) -> Result<CapPlan> {
        let Some(c) = caps else {
            return Ok(CapPlan::default());
        };
        Ok(CapPlan {
            bounding: convert(c.bounding())?,
            effective: convert(c.effective())?,
            permitted: convert(c.permitted())?,
            inheritable: convert(c.inheritable())?,
            ambient: convert(c.ambient())?,
        })
    }

    /// Drop from the bounding set everything not listed. Must run while we still hold
    /// CAP_SETPCAP, i.e. before switching user.
    pub(crate) fn apply_bounding(&self) -> Result<()> {
        let Some(keep) = &self.bounding else {
            return Ok(());
        };
        for cap in caps::runtime::thread_all_supported() {
            if !keep.contains(&cap) {
                caps::drop(None, CapSet::Bounding, cap)
                    .map_err(|e| Error::Other(format!("drop {cap} from the bounding set: {e}")))?;
            }
        }
        Ok(())
    }

    /// Set permitted, inheritable, effective and ambient, after the user switch.
    pub(crate) fn apply_sets(&self) -> Result<()> {
        let set = |which: CapSet, v: &Option<CapsHashSet>, name: &str| -> Result<()> {
            match v {
                Some(v) => caps::set(None, which, v)
                    .map_err(|e| Error::Other(format!("set {name} capabilities: {e}"))),
                None => Ok(()),
            }
        };
        // effective must stay within permitted at every step: shrink effective first.
        if let (Some(e), Some(p)) = (&self.effective, &self.permitted) {
            let both: CapsHashSet = e.intersection(p).copied().collect();
            set(CapSet::Effective, &Some(both), "effective")?;
        }
        set(CapSet::Permitted, &self.permitted, "permitted")?;
        set(CapSet::Inheritable, &self.inheritable, "inheritable")?;
        set(CapSet::Effective, &self.effective, "effective")?;
        if let Some(amb) = &self.ambient {
            caps::clear(None, CapSet::Ambient)
                .map_err(|e| Error::Other(format!("clear ambient capabilities: {e}")))?;
            // The kernel only lets a capability be ambient when it is both permitted and
            // inheritable; runc's default spec lists ambient capabilities without inheritable
            // ones, and the kernel would refuse them: those are skipped, as runc does.
            let perm = caps::read(None, CapSet::Permitted).unwrap_or_default();
            let inh = caps::read(None, CapSet::Inheritable).unwrap_or_default();
            for cap in amb {
                if perm.contains(cap) && inh.contains(cap) {
                    caps::raise(None, CapSet::Ambient, *cap)
                        .map_err(|e| Error::Other(format!("raise ambient {cap}: {e}")))?;
                }
            }
        }
        Ok(())
    }
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// rlimits and oom_score_adj: set while still privileged, inherited across execve.
pub(crate) fn apply_limits(p: &Process) -> Result<()> {
    for r in p.rlimits().iter().flatten() {
        let lim = libc::rlimit {
            rlim_cur: r.soft(),
            rlim_max: r.hard(),
        };
        // SAFETY: setrlimit reads a valid rlimit struct.
        let rc = unsafe { libc::setrlimit(rlimit_resource(r.typ()), &lim) };
        if rc != 0 {
            return Err(Error::sys(
                format!(
                    "setrlimit {:?} (soft {}, hard {})",
                    r.typ(),
                    r.soft(),
                    r.hard()
                ),
                nix::errno::Errno::last(),
            ));
        }
    }
    if let Some(adj) = p.oom_score_adj() {
        fs::write("/proc/self/oom_score_adj", adj.to_string())
            .map_err(|e| Error::io(format!("write oom_score_adj {adj}"), e))?;
    }
    Ok(())
}

/// The container user's passwd entry (name, home), if /etc/passwd has one.
pub(crate) fn passwd_entry(uid: u32) -> Option<(String, String)> {
    let text = fs::read_to_string("/etc/passwd").ok()?;
    text.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| (f[0].to_string(), f[5].to_string()))
    })
}

/// Switch to the spec's user keeping capabilities across the uid change, then set the
/// capability sets. Runs after the pivot (so /etc/group is the container's).
pub(crate) fn switch_user(p: &Process, caps: &CapPlan) -> Result<()> {
    let user = p.user();
    caps.apply_bounding()?;
    nix::sys::prctl::set_keepcaps(true).ctx(|| "prctl(PR_SET_KEEPCAPS)".into())?;
    // Exactly the spec's additionalGids, as runc: the engine has already resolved the
    // image's /etc/group (or chose not to, for a numeric --user), so we add nothing.
    let mut groups: Vec<Gid> = Vec::new();
    for g in user.additional_gids().iter().flatten() {
        if !groups.contains(&Gid::from_raw(*g)) {
            groups.push(Gid::from_raw(*g));
        }
    }
    nix::unistd::setgroups(&groups).ctx(|| format!("setgroups {groups:?}"))?;
    nix::unistd::setresgid(
        Gid::from_raw(user.gid()),
        Gid::from_raw(user.gid()),
        Gid::from_raw(user.gid()),
    )
    .ctx(|| format!("setgid {}", user.gid()))?;
    nix::unistd::setresuid(
        Uid::from_raw(user.uid()),
        Uid::from_raw(user.uid()),
        Uid::from_raw(user.uid()),
    )
    .ctx(|| format!("setuid {}", user.uid()))?;
    nix::sys::prctl::set_keepcaps(false).ctx(|| "prctl(PR_SET_KEEPCAPS, 0)".into())?;
    caps.apply_sets()?;
    if p.no_new_privileges() == Some(true) {
        nix::sys::prctl::set_no_new_privs().ctx(|| "prctl(PR_SET_NO_NEW_PRIVS)".into())?;
    }
    Ok(())
}
