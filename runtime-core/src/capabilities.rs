//! The container process's identity and privileges: user and groups, capability sets and
//! no_new_privs, applied in the order the kernel requires.
//!
//! The parent turns the spec into bit masks ([`CapPlan`], [`UserPlan`]); the child applies them
//! with raw syscalls. Raw, not libc's wrappers: glibc's setresuid/setgroups broadcast the change
//! to every thread it knows of, and in a clone of a multi-threaded program those threads are
//! the parent's, which would make the child wait for them forever.

use std::fmt::Write as _;

use caps::Capability;
use nix::errno::Errno;
use oci_spec::runtime::{LinuxCapabilities, Process};

use crate::child::{CResult, OrFail};
use crate::error::{Error, Result};
use crate::sys;

/// The spec's capability sets as kernel bit masks, computed in the parent.
#[derive(Debug, Clone, Default)]
pub(crate) struct CapPlan {
    /// None: the spec has no `capabilities`, the process keeps what it has.
    sets: Option<Sets>,
}

#[derive(Debug, Clone, Copy, Default)]
struct Sets {
    /// Capabilities to drop from the bounding set (those we have and the spec does not list).
    drop_bounding: u64,
    effective: u64,
    permitted: u64,
    inheritable: u64,
    /// Ambient capabilities the kernel can take (listed, permitted and inheritable); runc's
    /// default spec lists ambient capabilities without inheritable ones, and runc skips those.
    ambient: u64,
}

/// A set the spec leaves out is empty: `"capabilities": {}` drops every capability, as in runc.
fn mask(set: &Option<oci_spec::runtime::Capabilities>) -> Result<u64> {
    let mut m = 0u64;
    for c in set.iter().flatten() {
        let name = serde_json::to_value(c)
            .ok()
            .and_then(|v| v.as_str().map(str::to_string))
            .ok_or_else(|| Error::Spec(format!("capability {c:?} has no name")))?;
        let cap: Capability = name
            .parse()
            .map_err(|_| Error::Spec(format!("unknown capability {name:?}")))?;
        m |= 1u64 << cap.index();
    }
    Ok(m)
}

/// The capabilities in this process's bounding set: the CapBnd line of /proc/self/status
/// (one read, where asking the kernel bit by bit costs a prctl per capability), or, without
/// /proc, PR_CAPBSET_READ.
fn current_bounding() -> u64 {
    // One record (the kernel prints it at once, single_open): a short read is the end.
    let from_status = crate::readfile::read_whole("/proc/self/status")
        .ok()
        .and_then(|s| {
            String::from_utf8_lossy(&s)
                .lines()
                .find_map(|l| l.strip_prefix("CapBnd:"))
                .and_then(|v| u64::from_str_radix(v.trim(), 16).ok())
        });
    if let Some(m) = from_status {
        return m;
    }
    let mut m = 0;
    for bit in 0..64u64 {
        // SAFETY: PR_CAPBSET_READ takes a capability number and returns 0/1 or -1 (EINVAL
        // past the last capability the kernel knows).
        match unsafe { libc::prctl(libc::PR_CAPBSET_READ, bit as libc::c_ulong, 0, 0, 0) } {
            1 => m |= 1 << bit,
            0 => {}
            _ => break,
        }
    }
    m
}

impl CapPlan {
    /// Convert the spec's capabilities; `None` leaves the process's sets alone.
    pub(crate) fn new(caps: Option<&LinuxCapabilities>) -> Result<CapPlan> {
        let Some(c) = caps else {
            return Ok(CapPlan::default());
        };
        let bounding = mask(c.bounding())?;
        let permitted = mask(c.permitted())?;
        let inheritable = mask(c.inheritable())?;
        Ok(CapPlan {
            sets: Some(Sets {
                drop_bounding: current_bounding() & !bounding,
                effective: mask(c.effective())?,
                permitted,
                inheritable,
                ambient: mask(c.ambient())? & permitted & inheritable,
            }),
        })
    }
}

/// Who the process runs as, computed in the parent.
#[derive(Debug, Clone)]
pub(crate) struct UserPlan {
    pub uid: u32,
    pub gid: u32,
    /// Exactly the spec's additionalGids, as runc: the engine has already resolved the image's
    /// /etc/group (or chose not to, for a numeric --user), so nothing is added.
    pub groups: Vec<libc::gid_t>,
    /// False in a user namespace whose setgroups is denied (a rootless one whose gid map we
    /// wrote ourselves): the call would fail, and there are no groups to set.
    pub set_groups: bool,
    pub no_new_privs: bool,
}

impl UserPlan {
    pub(crate) fn new(p: &Process) -> UserPlan {
        let user = p.user();
        let mut groups = Vec::new();
        for g in user.additional_gids().iter().flatten() {
            if !groups.contains(g) {
                groups.push(*g);
            }
        }
        UserPlan {
            uid: user.uid(),
            gid: user.gid(),
            groups,
            set_groups: true,
            no_new_privs: p.no_new_privileges() == Some(true),
        }
    }
}

fn raw(r: libc::c_long) -> std::result::Result<(), Errno> {
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

#[repr(C)]
struct CapHeader {
    version: u32,
    pid: i32,
}

#[repr(C)]
#[derive(Clone, Copy, Default)]
struct CapData {
    effective: u32,
    permitted: u32,
    inheritable: u32,
}

fn capset(e: u64, p: u64, i: u64) -> std::result::Result<(), Errno> {
    const VERSION_3: u32 = 0x2008_0522;
    let mut hdr = CapHeader {
        version: VERSION_3,
        pid: 0,
    };
    let lo = |m: u64| m as u32;
    let hi = |m: u64| (m >> 32) as u32;
    let data = [
        CapData {
            effective: lo(e),
            permitted: lo(p),
            inheritable: lo(i),
        },
        CapData {
            effective: hi(e),
            permitted: hi(p),
            inheritable: hi(i),
        },
    ];
    // SAFETY: a version-3 header and two data structs, as capset(2) wants.
    raw(unsafe { libc::syscall(libc::SYS_capset, &mut hdr as *mut CapHeader, data.as_ptr()) })
}

/// In the child: drop the bounding set (needs CAP_SETPCAP, so before the user switch), switch
/// to the spec's user keeping capabilities across the uid change, then set the capability
/// sets and no_new_privs.
pub(crate) fn switch_user(user: &UserPlan, caps: &CapPlan) -> CResult<()> {
    if let Some(s) = &caps.sets {
        for bit in 0..64u64 {
            if s.drop_bounding & (1 << bit) != 0 {
                sys::prctl(libc::PR_CAPBSET_DROP, bit, 0, 0, 0)
                    .or_fail(|b| write!(b, "drop capability {bit} from the bounding set"))?;
            }
        }
    }
    sys::prctl(libc::PR_SET_KEEPCAPS, 1, 0, 0, 0)
        .or_fail(|b| write!(b, "prctl(PR_SET_KEEPCAPS)"))?;
    if user.set_groups {
        // SAFETY: raw setgroups with a pointer to `groups.len()` gids.
        raw(unsafe { libc::syscall(libc::SYS_setgroups, user.groups.len(), user.groups.as_ptr()) })
            .or_fail(|b| write!(b, "setgroups {:?}", user.groups))?;
    }
    // SAFETY: raw syscalls with integer arguments.
    raw(unsafe { libc::syscall(libc::SYS_setresgid, user.gid, user.gid, user.gid) })
        .or_fail(|b| write!(b, "setgid {}", user.gid))?;
    // SAFETY: as above.
    raw(unsafe { libc::syscall(libc::SYS_setresuid, user.uid, user.uid, user.uid) })
        .or_fail(|b| write!(b, "setuid {}", user.uid))?;
    sys::prctl(libc::PR_SET_KEEPCAPS, 0, 0, 0, 0)
        .or_fail(|b| write!(b, "prctl(PR_SET_KEEPCAPS, 0)"))?;
    if let Some(s) = &caps.sets {
        capset(s.effective, s.permitted, s.inheritable).or_fail(|b| {
            write!(
                b,
                "set capabilities (effective {:#x}, permitted {:#x}, inheritable {:#x})",
                s.effective, s.permitted, s.inheritable
            )
        })?;
        sys::prctl(
            libc::PR_CAP_AMBIENT,
            libc::PR_CAP_AMBIENT_CLEAR_ALL as u64,
            0,
            0,
            0,
        )
        .or_fail(|b| write!(b, "clear ambient capabilities"))?;
        for bit in 0..64u64 {
            if s.ambient & (1 << bit) != 0 {
                sys::prctl(
                    libc::PR_CAP_AMBIENT,
                    libc::PR_CAP_AMBIENT_RAISE as u64,
                    bit,
                    0,
                    0,
                )
                .or_fail(|b| write!(b, "raise ambient capability {bit}"))?;
            }
        }
    }
    if user.no_new_privs {
        sys::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
            .or_fail(|b| write!(b, "prctl(PR_SET_NO_NEW_PRIVS)"))?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn masks_from_names_and_ambient_needs_permitted_and_inheritable() {
        let c: LinuxCapabilities = serde_json::from_value(serde_json::json!({
            "bounding": ["CAP_KILL", "CAP_CHOWN"],
            "effective": ["CAP_KILL"],
            "permitted": ["CAP_KILL", "CAP_CHOWN"],
            "ambient": ["CAP_KILL", "CAP_CHOWN"],
            "inheritable": ["CAP_KILL"],
        }))
        .expect("caps");
        let plan = CapPlan::new(Some(&c)).expect("plan");
        let s = plan.sets.expect("sets");
        let kill = 1u64 << Capability::CAP_KILL.index();
        let chown = 1u64 << Capability::CAP_CHOWN.index();
        assert_eq!(s.effective, kill);
        assert_eq!(s.permitted, kill | chown);
        assert_eq!(s.ambient, kill);
        assert_eq!(s.drop_bounding & (kill | chown), 0);
        assert!(CapPlan::new(None).expect("none").sets.is_none());
    }
}
