//! User and time namespaces: what the spec may ask of them, and the parent's part (writing a
//! new user namespace's id maps, rendering time offsets) while the child waits; and a new
//! network namespace made ahead, beside the rest of create's work.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::path::Path;

use oci_spec::runtime::{Linux, LinuxIdMapping, LinuxNamespaceType, LinuxTimeOffset, Process};

use crate::error::{Error, Result};

/// Whether this process runs in a user namespace other than the host's, as it was at the first
/// call: create asks twice (rootless by default, and whether the rootfs may mknod), and a
/// process does not change its user namespace while it has other threads.
pub(crate) fn in_user_namespace() -> bool {
    static ANSWER: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
    *ANSWER.get_or_init(|| {
        // No link: a kernel without user namespaces.
        std::fs::read_link("/proc/self/ns/user").is_ok_and(|l| l.as_os_str() != INIT_USER_NS)
    })
}

/// /proc/self/ns/user of a process in the initial user namespace: its inode number is fixed
/// (PROC_USER_INIT_INO, include/linux/proc_ns.h).
pub(crate) const INIT_USER_NS: &str = "user:[4026531837]";

/// Check the spec's id mappings and time offsets against its namespaces.
pub(crate) fn validate(linux: &Linux, process: Option<&Process>) -> Result<()> {
    let ns = |t: LinuxNamespaceType| linux.namespaces().iter().flatten().find(|n| n.typ() == t);
    let user = ns(LinuxNamespaceType::User);
    let uid_maps = linux.uid_mappings().as_deref().unwrap_or(&[]);
    let gid_maps = linux.gid_mappings().as_deref().unwrap_or(&[]);
    let has_maps = !uid_maps.is_empty() || !gid_maps.is_empty();
    match user {
        None if has_maps => {
            return Err(Error::Spec(
                "linux.uidMappings/gidMappings need a user namespace (linux.namespaces has no \"user\")"
                    .into(),
            ))
        }
        Some(u) if u.path().is_some() && has_maps => {
            return Err(Error::Spec(
                "linux.uidMappings/gidMappings cannot be given with a user namespace joined by path"
                    .into(),
            ))
        }
        Some(u) if u.path().is_none() => {
            if uid_maps.is_empty() || gid_maps.is_empty() {
                return Err(Error::Spec(
                    "a new user namespace needs both linux.uidMappings and linux.gidMappings".into(),
                ));
            }
            check_maps("linux.uidMappings", uid_maps)?;
            check_maps("linux.gidMappings", gid_maps)?;
            if let Some(p) = process {
                let u = p.user();
                covered("process.user.uid", u.uid(), "linux.uidMappings", uid_maps)?;
                covered("process.user.gid", u.gid(), "linux.gidMappings", gid_maps)?;
                for g in u.additional_gids().iter().flatten() {
                    covered("process.user.additionalGids", *g, "linux.gidMappings", gid_maps)?;
                }
            }
        }
        _ => {}
    }
    let time = ns(LinuxNamespaceType::Time);
    if let Some(offsets) = linux.time_offsets() {
        match time {
            None => {
                return Err(Error::Spec(
                    "linux.timeOffsets need a time namespace (linux.namespaces has no \"time\")"
                        .into(),
                ))
            }
            Some(t) if t.path().is_some() => {
                return Err(Error::Spec(
                    "linux.timeOffsets cannot be given with a time namespace joined by path".into(),
                ))
            }
            Some(_) => {
                render_offsets(offsets)?;
            }
        }
    }
    Ok(())
}

fn check_maps(field: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    for (i, m) in maps.iter().enumerate() {
        if m.size() == 0 {
            return Err(Error::Spec(format!("{field}[{i}]: size must not be 0")));
        }
        for (side, start) in [("containerID", m.container_id()), ("hostID", m.host_id())] {
            if start as u64 + m.size() as u64 > u32::MAX as u64 {
                return Err(Error::Spec(format!(
                    "{field}[{i}]: {side} {start} + size {} is beyond the id range",
                    m.size()
                )));
            }
        }
        for (j, o) in maps.iter().enumerate().take(i) {
            let overlap = |a: u32, b: u32| {
                (a as u64) < b as u64 + o.size() as u64 && (b as u64) < a as u64 + m.size() as u64
            };
            if overlap(m.container_id(), o.container_id()) || overlap(m.host_id(), o.host_id()) {
                return Err(Error::Spec(format!("{field}[{i}] overlaps {field}[{j}]")));
            }
        }
    }
    Ok(())
}

fn covered(what: &str, id: u32, field: &str, maps: &[LinuxIdMapping]) -> Result<()> {
    let inside = maps
        .iter()
        .any(|m| id >= m.container_id() && (id as u64) < m.container_id() as u64 + m.size() as u64);
    if inside {
        Ok(())
    } else {
        Err(Error::Spec(format!("{what} {id} is not mapped by {field}")))
    }
}

/// An id map as /proc/<pid>/uid_map wants it: one "inside outside count" line per range.
pub(crate) fn map_text(maps: &[LinuxIdMapping]) -> String {
    let mut s = String::new();
    for m in maps {
        let _ = writeln!(s, "{} {} {}", m.container_id(), m.host_id(), m.size());
    }
    s
}

/// The host uid (or gid) that `id` inside the namespace maps to.
pub(crate) fn host_id(maps: &[LinuxIdMapping], id: u32) -> Option<u32> {
    maps.iter().find_map(|m| {
        (id >= m.container_id() && (id as u64) < m.container_id() as u64 + m.size() as u64)
            .then(|| m.host_id() + (id - m.container_id()))
    })
}

/// /proc/self/timens_offsets content for the spec's offsets: monotonic and boottime only (the
/// kernel cannot offset the realtime clock).
pub(crate) fn render_offsets(offsets: &HashMap<String, LinuxTimeOffset>) -> Result<String> {
    let mut keys: Vec<&String> = offsets.keys().collect();
    keys.sort();
    let mut s = String::new();
    for k in keys {
        let o = &offsets[k];
        if k != "monotonic" && k != "boottime" {
            return Err(Error::Spec(format!(
                "linux.timeOffsets: {k:?} cannot be offset (only \"monotonic\" and \"boottime\")"
            )));
        }
        let nanos = o.nanosecs().unwrap_or(0);
        if nanos >= 1_000_000_000 {
            return Err(Error::Spec(format!(
                "linux.timeOffsets.{k}.nanosecs {nanos} must be below 1000000000"
            )));
        }
        let _ = writeln!(s, "{k} {} {nanos}", o.secs().unwrap_or(0));
    }
    Ok(s)
}

/// Write a new user namespace's maps for `pid` (the process that created it), as root: any
/// ranges are allowed, and setgroups stays allowed for the container's own groups.
pub(crate) fn write_maps(pid: i32, uid: &str, gid: &str) -> Result<()> {
    for (file, text) in [("uid_map", uid), ("gid_map", gid)] {
        write_proc(pid, file, text)?;
    }
    Ok(())
}

fn write_proc(pid: i32, file: &str, text: &str) -> Result<()> {
    let path = format!("/proc/{pid}/{file}");
    std::fs::write(&path, text.as_bytes()).map_err(|e| Error::path("write", Path::new(&path), e))
}

/// How one id map of a new user namespace gets written.
#[derive(Debug, Clone, PartialEq, Eq)]
enum MapWriter {
    /// By us: as root any ranges, as another user only our own id.
    Direct,
    /// By the setuid helper (`newuidmap`/`newgidmap` of Debian's uidmap package), which
    /// checks the ranges against /etc/subuid and /etc/subgid: a non-root caller mapping more
    /// than its own id.
    Helper(std::path::PathBuf),
}

/// The id maps of a new user namespace and how they are written, decided before the clone
/// (the container's process must know whether it may call setgroups).
#[derive(Debug)]
pub(crate) struct MapPlan {
    uid: String,
    gid: String,
    uid_writer: MapWriter,
    gid_writer: MapWriter,
    /// A non-root caller writing its own gid: the kernel wants setgroups denied first, and the
    /// container then cannot set groups (as with runc, rootless).
    deny_setgroups: bool,
}

impl MapPlan {
    pub(crate) fn new(uid_maps: &[LinuxIdMapping], gid_maps: &[LinuxIdMapping]) -> Result<MapPlan> {
        let root = nix::unistd::geteuid().is_root();
        let own = |maps: &[LinuxIdMapping], id: u32| matches!(maps, [m] if m.host_id() == id && m.size() == 1);
        let writer = |maps: &[LinuxIdMapping], id: u32, helper: &str| -> Result<MapWriter> {
            if root || own(maps, id) {
                return Ok(MapWriter::Direct);
            }
            find_helper(helper).map(MapWriter::Helper).ok_or_else(|| {
                Error::Spec(format!(
                    "mapping ids other than your own ({id}) as a non-root user needs {helper} \
                     (Debian package uidmap), which is not in PATH"
                ))
            })
        };
        let gid_writer = writer(gid_maps, nix::unistd::getegid().as_raw(), "newgidmap")?;
        Ok(MapPlan {
            uid: map_text(uid_maps),
            gid: map_text(gid_maps),
            uid_writer: writer(uid_maps, nix::unistd::geteuid().as_raw(), "newuidmap")?,
            deny_setgroups: !root && gid_writer == MapWriter::Direct,
            gid_writer,
        })
    }

    /// uid_map's text.
    pub(crate) fn uid_text(&self) -> &str {
        &self.uid
    }

    /// gid_map's text.
    pub(crate) fn gid_text(&self) -> &str {
        &self.gid
    }

    /// Whether the container's user namespace will have setgroups denied.
    pub(crate) fn setgroups_denied(&self) -> bool {
        self.deny_setgroups
    }

    /// Write the maps of the user namespace `pid` created.
    pub(crate) fn write(&self, pid: i32) -> Result<()> {
        write_one(pid, "uid_map", &self.uid, &self.uid_writer)?;
        if self.deny_setgroups {
            write_proc(pid, "setgroups", "deny")?;
        }
        write_one(pid, "gid_map", &self.gid, &self.gid_writer)
    }
}

fn write_one(pid: i32, file: &str, text: &str, writer: &MapWriter) -> Result<()> {
    let helper = match writer {
        MapWriter::Direct => return write_proc(pid, file, text),
        MapWriter::Helper(h) => h,
    };
    let args = text.split_whitespace();
    let out = std::process::Command::new(helper)
        .arg(pid.to_string())
        .args(args)
        .stdin(std::process::Stdio::null())
        .output()
        .map_err(|e| Error::path("run", helper, e))?;
    if out.status.success() {
        return Ok(());
    }
    Err(Error::Other(format!(
        "{} {pid} {}: {} ({})",
        helper.display(),
        text.split_whitespace().collect::<Vec<_>>().join(" "),
        String::from_utf8_lossy(&out.stderr).trim(),
        out.status
    )))
}

/// `name` in PATH (or the usual system directories when PATH is unset).
fn find_helper(name: &str) -> Option<std::path::PathBuf> {
    let path = std::env::var_os("PATH").unwrap_or_else(|| "/usr/bin:/bin:/usr/sbin:/sbin".into());
    std::env::split_paths(&path)
        .map(|d| d.join(name))
        .find(|p| p.is_file())
}

/// A user namespace holding the given id maps, for an id-mapped mount: a helper is cloned
/// into a new user namespace, its maps are written, and its namespace is kept by fd.
pub(crate) fn userns_with_maps(uid: &str, gid: &str) -> Result<std::os::fd::OwnedFd> {
    use std::os::fd::AsRawFd;
    let (r, w) = crate::sys::pipe(0).map_err(|e| Error::sys("pipe for an id-mapping helper", e))?;
    // SAFETY: the child only closes, reads a pipe and leaves through _exit.
    let forked = unsafe { crate::sys::clone3(libc::CLONE_NEWUSER as u64, None) };
    let pid = match forked {
        Err(e) => {
            return Err(Error::sys(
                "clone a user namespace for an id-mapped mount",
                e,
            ))
        }
        Ok(crate::sys::Forked::Child { .. }) => {
            // SAFETY: our copy of the write end; the plan is never dropped here.
            unsafe { libc::close(w.as_raw_fd()) };
            let mut b = [0u8; 1];
            let _ = crate::sys::read(r.as_raw_fd(), &mut b);
            crate::sys::exit_now(0)
        }
        Ok(crate::sys::Forked::Parent(pid)) => pid,
    };
    drop(r);
    let made = write_maps(pid, uid, gid).and_then(|()| {
        let path = format!("/proc/{pid}/ns/user");
        nix::fcntl::open(
            path.as_str(),
            nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| Error::sys(format!("open {path}"), e))
    });
    drop(w);
    let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    made
}

/// A new network namespace, made on a thread of its own while create does the rest of its
/// work, and joined by the init like one named by path.
///
/// Making one is the kernel's slowest namespace (about 1 ms of per-namespace registrations:
/// sysctl tables, the loopback device), and clone3 or the init would otherwise make it on the
/// container's critical path, with the other core idle. Only for a container without a user
/// namespace of its own or joined: a new network namespace belongs to the user namespace of its
/// maker, and ours is the runtime's.
pub(crate) struct NetnsAhead(Option<std::thread::JoinHandle<Result<std::os::fd::OwnedFd>>>);

impl NetnsAhead {
    /// Start making the network namespace `spec` asks for, when it asks for a new one and no
    /// user namespace; `None` otherwise, or when no thread could be started (the init then
    /// makes it as it would have).
    pub(crate) fn start(spec: &oci_spec::runtime::Spec) -> Option<NetnsAhead> {
        let namespaces = spec.linux().as_ref()?.namespaces().as_ref()?;
        let wanted = |t: LinuxNamespaceType| namespaces.iter().find(|n| n.typ() == t);
        if wanted(LinuxNamespaceType::User).is_some()
            || wanted(LinuxNamespaceType::Network)?.path().is_some()
        {
            return None;
        }
        std::thread::Builder::new()
            // unshare, a netlink exchange and an open: no deep calls.
            .stack_size(64 * 1024)
            .spawn(make_netns)
            .ok()
            .map(|h| NetnsAhead(Some(h)))
    }

    /// The namespace, once made (waits for the thread).
    pub(crate) fn take(mut self) -> Result<std::os::fd::OwnedFd> {
        match self.0.take().map(|h| h.join()) {
            Some(Ok(made)) => made,
            _ => Err(Error::Other(
                "the thread making the network namespace failed".into(),
            )),
        }
    }
}

impl Drop for NetnsAhead {
    /// A create that fails before its init exists waits for the thread, so that it leaves none
    /// behind (the namespace goes with the fd).
    fn drop(&mut self) {
        if let Some(h) = self.0.take() {
            let _ = h.join();
        }
    }
}

/// On the thread of [`NetnsAhead`]: unshare its network namespace (a thread's own), bring
/// `lo` up in it (runc and crun do so in a namespace they make), and keep it by fd.
fn make_netns() -> Result<std::os::fd::OwnedFd> {
    nix::sched::unshare(nix::sched::CloneFlags::CLONE_NEWNET)
        .map_err(|e| Error::sys("unshare the container's network namespace", e))?;
    crate::netlink::loopback_up()
        .map_err(|e| Error::sys("bring up the loopback interface of the container", e))?;
    nix::fcntl::open(
        "/proc/thread-self/ns/net",
        nix::fcntl::OFlag::O_RDONLY | nix::fcntl::OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )
    .map_err(|e| Error::sys("open /proc/thread-self/ns/net", e))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn map(c: u32, h: u32, n: u32) -> LinuxIdMapping {
        serde_json::from_value(serde_json::json!({"containerID": c, "hostID": h, "size": n}))
            .expect("mapping")
    }

    #[test]
    fn maps_are_checked_and_rendered() {
        assert!(check_maps("m", &[map(0, 100000, 65536)]).is_ok());
        assert!(check_maps("m", &[map(0, 100000, 0)]).is_err());
        let e = check_maps("m", &[map(0, 100000, 10), map(5, 200000, 10)]).unwrap_err();
        assert!(e.to_string().contains("m[1] overlaps m[0]"), "{e}");
        assert!(check_maps("m", &[map(0, u32::MAX - 1, 10)]).is_err());
        assert_eq!(
            map_text(&[map(0, 100000, 65536), map(70000, 300000, 1)]),
            "0 100000 65536\n70000 300000 1\n"
        );
        assert_eq!(host_id(&[map(0, 100000, 65536)], 1000), Some(101000));
        assert_eq!(host_id(&[map(0, 100000, 10)], 1000), None);
        assert!(covered("uid", 1000, "m", &[map(0, 100000, 65536)]).is_ok());
        assert!(covered("uid", 70000, "m", &[map(0, 100000, 65536)]).is_err());
    }

    #[test]
    fn offsets_refuse_realtime() {
        let o: HashMap<String, LinuxTimeOffset> = serde_json::from_value(serde_json::json!({
            "boottime": {"secs": 86400}, "monotonic": {"secs": 10, "nanosecs": 5}
        }))
        .expect("offsets");
        assert_eq!(
            render_offsets(&o).expect("render"),
            "boottime 86400 0\nmonotonic 10 5\n"
        );
        let bad: HashMap<String, LinuxTimeOffset> =
            serde_json::from_value(serde_json::json!({"realtime": {"secs": 1}})).expect("offsets");
        assert!(render_offsets(&bad).is_err());
    }
}
