//! Spawning container processes: one clone3 carrying the new namespaces (a new network
//! namespace is made ahead, see `namespaces::NetnsAhead`), a small exchange over a socketpair,
//! and (in `init` and `finish`) the child's own steps up to execve.
//!
//! The parent never re-executes our binary: the child is a clone of the calling process. The
//! parent turns the spec into plain data first (`init::Init`, `finish::ProcessPlan`,
//! `rootfs::RootfsPlan`), so that the child only makes syscalls (see `crate::child`); the child
//! reports "ready" or an error over the socket, and ends in execve or `_exit`. The parent never
//! waits for it without a bound.

pub(crate) mod attrs;
pub(crate) mod finish;
pub(crate) mod init;

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd, RawFd};
use std::path::Path;
use std::time::{Duration, Instant};

use nix::fcntl::OFlag;
use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use nix::sys::socket::{socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use nix::sys::stat::Mode;
use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::cgroups::{CgroupManager, CgroupPaths};
use crate::child::msg;
use crate::container_hooks::HookSet;
use crate::error::{Error, Result, SysContext};
use crate::rootfs::RootfsPlan;
use crate::seccomp::Program;
use crate::spec::Bundle;
use crate::state::EXEC_FIFO;
use crate::sys::{self, Forked};
use finish::ProcessPlan;
use init::{Init, Join};

/// Everything needed to start a container's init.
pub(crate) struct Launch<'a> {
    pub id: &'a str,
    pub bundle: &'a Bundle,
    pub state_dir: &'a Path,
    pub no_pivot: bool,
    pub no_new_keyring: bool,
    pub preserve_fds: u32,
    pub cgroup_paths: &'a CgroupPaths,
    pub cgroup: &'a dyn CgroupManager,
    pub seccomp: Option<Program>,
    /// The connected `--console-socket`, when the process has a terminal.
    pub console: Option<OwnedFd>,
    /// How long the init may take to report, hooks it runs itself not counted.
    pub timeout: Duration,
    /// linux.netDevices, moved into the init's network namespace when it asks for its
    /// runtime hooks.
    pub net_devices: &'a [crate::netdev::Device],
    /// Makes the cgroup (directories and resources), when the caller left that to us: after
    /// clone3, while the init makes its namespaces, where the init joins by itself (cgroup
    /// v1, see [`CgroupManager::self_join_files`]); before it everywhere else.
    pub make_cgroup: Option<&'a dyn Fn() -> Result<()>>,
    /// The init waits on an exec fifo for `start` once released; without one (`run`), it goes
    /// straight on to execve.
    pub exec_fifo: bool,
    /// The spec's new network namespace, being made since create began: the init joins it
    /// instead of making it.
    pub netns: Option<crate::namespaces::NetnsAhead>,
}

fn ns_flag(t: LinuxNamespaceType) -> i32 {
    match t {
        LinuxNamespaceType::Mount => libc::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => libc::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => libc::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => libc::CLONE_NEWIPC,
        LinuxNamespaceType::User => libc::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => libc::CLONE_NEWPID,
        LinuxNamespaceType::Network => libc::CLONE_NEWNET,
        LinuxNamespaceType::Time => libc::CLONE_NEWTIME,
    }
}

/// setns(2) would refuse a namespace of another type with a bare EINVAL, from the child: say
/// before the clone what the path is instead (a path that is no namespace at all, too).
fn check_ns_type(fd: &OwnedFd, want: i32, typ: LinuxNamespaceType, path: &Path) -> Result<()> {
    const NS_GET_NSTYPE: libc::c_ulong = 0xb703;
    // SAFETY: an ioctl without arguments on an fd we own.
    let got = unsafe { libc::ioctl(fd.as_raw_fd(), NS_GET_NSTYPE) };
    if got == want {
        return Ok(());
    }
    let seen = [
        LinuxNamespaceType::Mount,
        LinuxNamespaceType::Cgroup,
        LinuxNamespaceType::Uts,
        LinuxNamespaceType::Ipc,
        LinuxNamespaceType::User,
        LinuxNamespaceType::Pid,
        LinuxNamespaceType::Network,
        LinuxNamespaceType::Time,
    ]
    .into_iter()
    .find(|t| ns_flag(*t) == got)
    .map_or_else(
        || "not a namespace at all".to_string(),
        |t| format!("of type {t}"),
    );
    Err(Error::Spec(format!(
        "linux.namespaces: {} is not a {typ} namespace (it is {seen})",
        path.display()
    )))
}

/// True when the spec gives the container its own pid namespace (new or joined).
pub(crate) fn has_pid_ns(spec: &Spec) -> bool {
    namespaces(spec).any(|n| n.typ() == LinuxNamespaceType::Pid)
}

fn namespaces(spec: &Spec) -> impl Iterator<Item = &oci_spec::runtime::LinuxNamespace> {
    spec.linux()
        .as_ref()
        .and_then(|l| l.namespaces().as_ref())
        .into_iter()
        .flatten()
}

/// How the namespaces of the spec map onto clone flags and setns calls.
struct NsPlan {
    /// New namespaces created by clone3 itself.
    clone_flags: i32,
    /// Namespaces joined by path, in the child (all but pid).
    joins: Vec<Join>,
    /// A pid namespace joined by path: the parent enters it for its children before clone.
    pid_join: Option<OwnedFd>,
    /// A new cgroup namespace must be unshared after the child is in its cgroup, so that the
    /// namespace's root is the container's cgroup.
    late_cgroupns: bool,
    has_mnt: bool,
    /// A new user namespace (its flag is not in `clone_flags`).
    new_user: bool,
    /// A new time namespace's offsets, as /proc/self/timens_offsets wants them.
    time_offsets: Option<String>,
}

impl NsPlan {
    /// Whether one clone3 can make the namespaces (see `init::TwoStep` for why not).
    fn two_step(&self) -> bool {
        let joins_user = self.joins.iter().any(|j| j.nstype == libc::CLONE_NEWUSER);
        joins_user || (self.new_user && !self.joins.is_empty()) || self.time_offsets.is_some()
    }
}

fn plan_namespaces(spec: &Spec, born_in_cgroup: bool) -> Result<NsPlan> {
    let mut plan = NsPlan {
        clone_flags: 0,
        joins: Vec::new(),
        pid_join: None,
        late_cgroupns: false,
        has_mnt: false,
        new_user: false,
        time_offsets: None,
    };
    let mut has_uts = false;
    for ns in namespaces(spec) {
        let flag = ns_flag(ns.typ());
        plan.has_mnt |= ns.typ() == LinuxNamespaceType::Mount;
        has_uts |= ns.typ() == LinuxNamespaceType::Uts;
        match ns.path() {
            Some(path) => {
                let fd = nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                    .ctx(|| format!("open namespace {} {}", ns.typ(), path.display()))?;
                check_ns_type(&fd, flag, ns.typ(), path)?;
                if flag == libc::CLONE_NEWPID {
                    plan.pid_join = Some(fd);
                } else {
                    plan.joins.push(Join {
                        fd,
                        nstype: flag,
                        shown: format!("{} {}", ns.typ(), path.display()),
                    });
                }
            }
            None if flag == libc::CLONE_NEWCGROUP && !born_in_cgroup => {
                plan.late_cgroupns = true;
            }
            None if flag == libc::CLONE_NEWUSER => plan.new_user = true,
            None => plan.clone_flags |= flag,
        }
    }
    // A joined user namespace owns what else is joined: it goes first.
    plan.joins.sort_by_key(|j| {
        if j.nstype == libc::CLONE_NEWUSER {
            0
        } else {
            1
        }
    });
    if let Some(offsets) = spec
        .linux()
        .as_ref()
        .and_then(|l| l.time_offsets().as_ref())
    {
        plan.time_offsets = Some(crate::namespaces::render_offsets(offsets)?);
    }
    if (spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
        || spec.domainname().as_deref().is_some_and(|h| !h.is_empty()))
        && !has_uts
    {
        return Err(Error::Spec(
            "unable to set hostname without a private UTS namespace".into(),
        ));
    }
    Ok(plan)
}

/// A cgroup v2 directory, for clone3's CLONE_INTO_CGROUP.
pub(crate) fn open_cgroup_dir(dir: &Path) -> Result<OwnedFd> {
    nix::fcntl::open(
        dir,
        OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open cgroup {}", dir.display()))
}

/// `fd` renumbered to at least `min` (the fds below are the ones passed to the container).
fn above(fd: OwnedFd, min: RawFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    sys::dup_at_least(fd.as_raw_fd(), min).ctx(|| format!("move fd {} above {min}", fd.as_raw_fd()))
}

/// The fd ranges to close in a child that keeps stdio, `passed` fds from 3, and `keep`.
/// See `Init::defer_fds_below`.
fn defer_fds_below() -> RawFd {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit fills a local struct.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return 0;
    }
    (lim.rlim_cur / 2).min(256) as RawFd
}

pub(crate) fn close_ranges(passed: u32, keep: &[RawFd]) -> Vec<(u32, u32)> {
    let mut keep: Vec<u32> = keep.iter().map(|&f| f as u32).collect();
    keep.sort_unstable();
    let mut ranges = Vec::new();
    let mut start = 3 + passed;
    for k in keep {
        if k < start {
            continue;
        }
        if k > start {
            ranges.push((start, k - 1));
        }
        start = k + 1;
    }
    ranges.push((start, u32::MAX));
    ranges
}

fn cstring(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Spec(format!("{what} {s:?} contains a NUL byte")))
}

/// A SEQPACKET socketpair (parent end, child end), both close-on-exec.
pub(crate) fn sync_pair() -> Result<(OwnedFd, OwnedFd)> {
    socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "socketpair for the container process".into())
}

/// An init that is set up and waits for the runtime's last word before it blocks on the exec
/// fifo: the runtime records the container first, then [`ReadyInit::release`]s it. If the
/// runtime dies before that, the init sees its socket close and exits, instead of waiting on
/// the fifo forever with nothing on disk that names it. Dropped unreleased, it is killed.
pub(crate) struct ReadyInit {
    // Dropped first: the devices leave the namespace before the init is killed.
    net: NetGuard,
    child: Child,
}

impl ReadyInit {
    /// The init's host pid.
    pub(crate) fn pid(&self) -> i32 {
        self.child.pid
    }

    /// Let the init go on to wait for `start`. On failure the init is killed (by drop).
    pub(crate) fn release(self) -> Result<()> {
        let ReadyInit { mut net, child } = self;
        if let Err(e) = child.send(msg::GO) {
            let e = child.error_or(e);
            drop(net);
            drop(child);
            return Err(e);
        }
        // The devices are the container's now; delete moves them back.
        net.ns = None;
        child.disown();
        Ok(())
    }
}

/// Spawn the init and wait until it is ready, short of blocking on the exec fifo.
///
/// `on_hooks` runs the prestart and createRuntime hooks in the parent when the init asks for it
/// (after its mounts, before pivot_root).
pub(crate) fn spawn_init(l: Launch, on_hooks: &dyn Fn(i32) -> Result<()>) -> Result<ReadyInit> {
    let spec = &l.bundle.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Spec("process must be specified".into()))?;
    let min_fd = 3 + l.preserve_fds as RawFd;
    let v1 = l.cgroup.unified_dir().is_none();
    let mut ns = plan_namespaces(spec, !v1)?;
    let new_user = ns.new_user;
    let two_step = ns.two_step();
    // Without a user namespace of its own the init may write the cgroup files: it joins by
    // itself (see CgroupManager::self_join_files), and nobody waits for the runtime's move.
    let self_join = match l.cgroup.self_join_files() {
        Some(files) if v1 && !new_user => files
            .iter()
            .map(|f| crate::rootfs::path_cstring(f))
            .collect::<Result<Vec<_>>>()?,
        _ => Vec::new(),
    };
    // The v1 cgroup (a directory per hierarchy, the cpuset copied, the device rules: about
    // 1 ms) is made while the init unshares its namespaces (a network namespace alone is about
    // 1 ms), which clone3 would otherwise make in our time. The init needs the cgroup only
    // when it mounts (the cgroup mount binds it) and joins it then.
    let make_later = l.make_cgroup.filter(|_| !self_join.is_empty() && !two_step);
    if make_later.is_none() {
        if let Some(make) = l.make_cgroup {
            make()?;
        }
    }
    let cgroup_dir = l.cgroup.unified_dir().map(open_cgroup_dir).transpose()?;
    let container_maps = match (ns.new_user, spec.linux().as_ref()) {
        (true, Some(linux)) => Some(crate::namespaces::MapPlan::new(
            linux.uid_mappings().as_deref().unwrap_or(&[]),
            linux.gid_mappings().as_deref().unwrap_or(&[]),
        )?),
        _ => None,
    };
    let mut rootfs = RootfsPlan::new(
        spec,
        &l.bundle.dir,
        &l.bundle.rootfs,
        l.no_pivot,
        l.cgroup_paths,
        crate::rootfs::NsView {
            mount: ns.has_mnt,
            // A rootless engine (podman) runs us as root of its own user namespace and asks
            // for none: mknod is refused there all the same, and bind flags are locked.
            user: ns.new_user
                || ns.joins.iter().any(|j| j.nstype == libc::CLONE_NEWUSER)
                || crate::namespaces::in_user_namespace(),
            maps: container_maps
                .as_ref()
                .map(|m| (m.uid_text(), m.gid_text())),
        },
    )?;
    rootfs.prepare_idmapped_mounts()?;
    let passwd = finish::passwd_for_create(spec, &l.bundle.dir, &l.bundle.rootfs);
    let linux = spec.linux().as_ref();
    let container = attrs::ContainerAttrs::new(
        linux.and_then(|l| l.memory_policy().as_ref()),
        linux.and_then(|l| l.personality().as_ref()),
    )?;
    let mut plan = ProcessPlan::new(process, l.seccomp, passwd.as_deref(), false, container)?;
    if container_maps
        .as_ref()
        .is_some_and(|m| m.setgroups_denied())
    {
        plan.without_setgroups()?;
    }
    let hooks = spec.hooks().as_ref();
    let annotations = spec.annotations().clone().unwrap_or_default();
    let state =
        |status: &str| crate::hooks::state_value(l.id, status, 0, &l.bundle.dir, &annotations);
    let create_hooks = HookSet::new(
        "createContainer",
        hooks.and_then(|h| h.create_container().as_ref()),
        state("created"),
        Some(&l.bundle.rootfs),
    )?;
    let start_hooks = HookSet::new(
        "startContainer",
        hooks.and_then(|h| h.start_container().as_ref()),
        state("running"),
        None,
    )?;
    let runtime_hooks = hooks.is_some_and(|h| {
        #[allow(deprecated)]
        let prestart = h.prestart().as_ref().is_some_and(|v| !v.is_empty());
        prestart || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    }) || !l.net_devices.is_empty();
    // The init's own hooks run while we wait for it: their timeouts extend ours.
    let hook_time: i64 = hooks
        .and_then(|h| h.create_container().as_ref())
        .into_iter()
        .flatten()
        .map(|h| h.timeout().unwrap_or(0).max(0))
        .sum();
    let timeout = l.timeout + Duration::from_secs(hook_time as u64);

    let fifo_fd = if l.exec_fifo {
        let fifo = l.state_dir.join(EXEC_FIFO);
        nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622))
            .ctx(|| format!("mkfifo {}", fifo.display()))?;
        // Read-write, so that opening never blocks and the init counts as a writer itself: its
        // read then waits for `start`'s byte instead of seeing end-of-file.
        let fd = nix::fcntl::open(&fifo, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .ctx(|| format!("open {}", fifo.display()))?;
        Some(above(fd, min_fd)?)
    } else {
        None
    };
    let (parent_sock, child_sock) = sync_pair()?;
    let child_sock = above(child_sock, min_fd)?;
    plan.sync_sock = Some(child_sock.as_raw_fd());
    let agent = crate::seccomp::agent::Agent::of(
        linux.and_then(|l| l.seccomp().as_ref()),
        l.id,
        &l.bundle.dir,
        &annotations,
        "creating",
        0,
    );
    let console = match l.console {
        Some(c) => Some(above(c, min_fd)?),
        None => None,
    };
    // NetnsAhead::start has checked the spec's namespaces; a plan that would still make one
    // itself says the same. Where the init waits for the cgroup anyway, the namespace comes
    // with the GO that says the cgroup is made; otherwise the init joins it like one named by
    // path. Either way its thread has had the longest time.
    let mut netns_at_go = None;
    if let Some(ahead) = l.netns.filter(|_| ns.clone_flags & libc::CLONE_NEWNET != 0) {
        if make_later.is_some() {
            netns_at_go = Some(ahead);
        } else {
            ns.joins.push(Join {
                fd: ahead.take()?,
                nstype: libc::CLONE_NEWNET,
                shown: "network (new)".into(),
            });
        }
        ns.clone_flags &= !libc::CLONE_NEWNET;
    }
    let mut joins = Vec::new();
    for j in ns.joins {
        joins.push(Join {
            fd: above(j.fd, min_fd)?,
            ..j
        });
    }
    let mut keep: Vec<RawFd> = vec![child_sock.as_raw_fd()];
    keep.extend(fifo_fd.as_ref().map(|f| f.as_raw_fd()));
    keep.extend(rootfs.move_fds_above(min_fd)?);
    keep.extend(console.as_ref().map(|c| c.as_raw_fd()));
    keep.extend(joins.iter().map(|j| j.fd.as_raw_fd()));
    let moved_by_us = v1 && !new_user && self_join.is_empty();
    let mut clone_flags = ns.clone_flags;
    let mut unshare_first = 0;
    if make_later.is_some() {
        // A pid or time namespace that unshare made would only be our children's.
        unshare_first = clone_flags & !(libc::CLONE_NEWPID | libc::CLONE_NEWTIME);
        clone_flags &= libc::CLONE_NEWPID | libc::CLONE_NEWTIME;
    }
    let two = if two_step {
        let fork_into = clone_flags & (libc::CLONE_NEWPID | libc::CLONE_NEWTIME);
        let unshare = clone_flags & !fork_into;
        clone_flags = 0;
        Some(init::TwoStep {
            unshare,
            time_offsets: match &ns.time_offsets {
                Some(t) => Some(cstring(t, "time offsets")?),
                None => None,
            },
            fork_into,
            wait_for_cgroup: moved_by_us,
        })
    } else {
        if new_user {
            clone_flags |= libc::CLONE_NEWUSER;
        }
        None
    };
    let maps = container_maps;
    let oom = plan.oom_score_adj().map(|c| c.to_bytes().to_vec());
    // Only root can give the cgroup away; a user's own delegated cgroup already belongs to the
    // container's root when that is the user's id, and is left as it is otherwise.
    if let (true, true, Some(dir), Some(linux)) = (
        new_user,
        nix::unistd::geteuid().is_root(),
        l.cgroup.unified_dir(),
        spec.linux(),
    ) {
        delegate_cgroup(dir, linux)?;
    }
    let init = Init {
        close_ranges: close_ranges(l.preserve_fds, &keep),
        defer_fds_below: defer_fds_below(),
        sock: child_sock,
        passed_fds: l.preserve_fds,
        keyring: if l.no_new_keyring {
            None
        } else {
            init::keyring_name(l.id)
        },
        joins,
        new_netns: ns.clone_flags & libc::CLONE_NEWNET != 0,
        dumpable_for_maps: new_user && !nix::unistd::geteuid().is_root(),
        new_user,
        two_step: two,
        hostname: match spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            Some(h) => Some(cstring(h, "hostname")?),
            None => None,
        },
        domainname: match spec.domainname().as_deref().filter(|h| !h.is_empty()) {
            Some(d) => Some(cstring(d, "domainname")?),
            None => None,
        },
        fifo: fifo_fd,
        rootfs,
        wait_for_cgroup: (moved_by_us || make_later.is_some()) && !two_step,
        join_after_go: make_later.is_some(),
        netns_at_go: netns_at_go.is_some(),
        cgroup_self_join: self_join,
        unshare_first,
        // Every hierarchy's directory is made at once, or none is (a systemd scope, made with
        // the init): one probe says which.
        cgroup_before_mounts: make_later.is_some()
            || (v1 && !l.cgroup_paths.0.values().next().is_some_and(|d| d.exists())),
        late_cgroupns: ns.late_cgroupns,
        runtime_hooks,
        create_hooks,
        start_hooks,
        console,
        host_null: finish::host_dev_null(),
        process: plan,
    };

    let own_pidns = match &ns.pid_join {
        Some(target) => {
            let own = nix::fcntl::open(
                "/proc/self/ns/pid",
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ctx(|| "open /proc/self/ns/pid".into())?;
            nix::sched::setns(target, nix::sched::CloneFlags::CLONE_NEWPID)
                .ctx(|| "join the spec's pid namespace".into())?;
            Some(own)
        }
        None => None,
    };
    // SAFETY: the child only runs `init::main`, which makes syscalls on the prepared plan and
    // leaves through execve or _exit.
    let forked = unsafe {
        sys::clone3(
            clone_flags as u64,
            cgroup_dir.as_ref().map(|fd| fd.as_raw_fd()),
        )
    };
    let pid = match forked {
        Err(e) => {
            if let Some(own) = own_pidns {
                let _ = nix::sched::setns(own, nix::sched::CloneFlags::CLONE_NEWPID);
            }
            return Err(Error::sys("clone3 the container's init", e));
        }
        Ok(Forked::Child { cleared_sighand }) => init::main(&init, cleared_sighand),
        Ok(Forked::Parent(pid)) => pid,
    };
    // The child's ends of the socket and the joined namespaces, in our copy.
    drop(init);
    let mut child = Child::new(pid, parent_sock, timeout);
    // Only the parent goes back: the child must stay in the joined namespace.
    let restored = match own_pidns {
        Some(own) => nix::sched::setns(own, nix::sched::CloneFlags::CLONE_NEWPID)
            .ctx(|| "return to our own pid namespace".into()),
        None => Ok(()),
    };
    let setup = Setup {
        make_cgroup: make_later,
        netns: std::cell::RefCell::new(netns_at_go),
        cgroup: l.cgroup,
        proactive_cgroup: moved_by_us,
        v1,
        maps,
        oom,
        agent: agent.as_ref(),
        net_devices: l.net_devices,
        net_ns: std::cell::RefCell::new(None),
    };
    let result = restored.and_then(|()| init_side(&setup, &mut child, on_hooks));
    // Our fd keeps the namespace (and the devices in it) alive even if the init died: until
    // the init is released, dropping this moves them back.
    let net = NetGuard {
        ns: setup.net_ns.into_inner(),
        devices: crate::netdev::names(l.net_devices),
    };
    result?;
    Ok(ReadyInit { net, child })
}

/// linux.netDevices in an init's namespace that is not the container's yet: dropped, they
/// go back to the runtime's namespace (before the init is killed).
struct NetGuard {
    ns: Option<OwnedFd>,
    devices: Vec<(String, String)>,
}

impl Drop for NetGuard {
    fn drop(&mut self) {
        if let Some(ns) = self.ns.take() {
            let _ = crate::netdev::restore(&ns, &self.devices);
        }
    }
}

/// A cgroup v2 of a container with its own user namespace belongs to the container's root, so
/// that it can manage its own subtree (as runc hands it over).
fn delegate_cgroup(dir: &Path, linux: &oci_spec::runtime::Linux) -> Result<()> {
    let uid = crate::namespaces::host_id(linux.uid_mappings().as_deref().unwrap_or(&[]), 0);
    let gid = crate::namespaces::host_id(linux.gid_mappings().as_deref().unwrap_or(&[]), 0);
    let (Some(uid), Some(gid)) = (uid, gid) else {
        return Ok(());
    };
    for f in [
        "",
        "cgroup.procs",
        "cgroup.subtree_control",
        "cgroup.threads",
    ] {
        let p = if f.is_empty() {
            dir.to_path_buf()
        } else {
            dir.join(f)
        };
        match std::os::unix::fs::chown(&p, Some(uid), Some(gid)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => {
                return Err(Error::path(
                    "give the cgroup to the container's root: chown",
                    &p,
                    e,
                ))
            }
        }
    }
    Ok(())
}

/// What the parent does for the init while it sets itself up.
struct Setup<'a> {
    /// Make the cgroup, and say GO (the init waits for that word before it mounts).
    make_cgroup: Option<&'a dyn Fn() -> Result<()>>,
    /// The init's new network namespace, sent with that GO.
    netns: std::cell::RefCell<Option<crate::namespaces::NetnsAhead>>,
    cgroup: &'a dyn CgroupManager,
    /// Put the init in the (v1) cgroup at once, and say GO (it waits for that word later).
    proactive_cgroup: bool,
    v1: bool,
    /// uid_map and gid_map of a new user namespace.
    maps: Option<crate::namespaces::MapPlan>,
    oom: Option<Vec<u8>>,
    /// Where the listener of a seccomp filter with notifications goes.
    agent: Option<&'a crate::seccomp::agent::Agent>,
    net_devices: &'a [crate::netdev::Device],
    /// The init's network namespace once the devices are in it.
    net_ns: std::cell::RefCell<Option<OwnedFd>>,
}

fn init_side(s: &Setup, child: &mut Child, on_hooks: &dyn Fn(i32) -> Result<()>) -> Result<()> {
    if let Some(make) = s.make_cgroup {
        make()
            .and_then(|()| match s.netns.borrow_mut().take() {
                Some(ahead) => child.send_with_fd(msg::GO, ahead.take()?.as_raw_fd()),
                None => child.send(msg::GO),
            })
            .map_err(|e| child.error_or(e))?;
    }
    if s.proactive_cgroup {
        s.cgroup
            .add_pid(child.pid)
            .map_err(Error::from)
            .and_then(|()| child.send(msg::GO))
            .map_err(|e| child.error_or(e))?;
    }
    let set_oom = |pid: i32| -> Result<()> {
        match &s.oom {
            Some(v) => {
                let path = format!("/proc/{pid}/oom_score_adj");
                std::fs::write(&path, v).map_err(|e| Error::path("write", Path::new(&path), e))
            }
            None => Ok(()),
        }
    };
    let mut oom_done = false;
    loop {
        match child.recv("finish its setup")? {
            msg::READY => {
                if !oom_done {
                    set_oom(child.pid)?;
                }
                return Ok(());
            }
            msg::HOOKS => {
                if !s.net_devices.is_empty() && s.net_ns.borrow().is_none() {
                    let ns = crate::netdev::move_in(child.pid, s.net_devices)
                        .map_err(|e| child.error_or(e))?;
                    *s.net_ns.borrow_mut() = Some(ns);
                }
                on_hooks(child.pid)?;
                child.send(msg::GO).map_err(|e| child.error_or(e))?;
            }
            msg::SECCOMP => {
                let agent = s.agent.ok_or_else(|| {
                    Error::Other("the init made a seccomp listener nobody asked for".into())
                })?;
                agent.hand_over(child.pid, seccomp_fd(&child.last_text())?)?;
                child.send(msg::GO).map_err(|e| child.error_or(e))?;
            }
            msg::USERNS => {
                let maps = s.maps.as_ref().ok_or_else(|| {
                    Error::Other("the container's init asked for id maps it has none of".into())
                })?;
                maps.write(child.pid).map_err(|e| child.error_or(e))?;
                if s.v1 {
                    s.cgroup.add_pid(child.pid).map_err(Error::from)?;
                }
                child.send(msg::GO).map_err(|e| child.error_or(e))?;
            }
            msg::PID => {
                let pid = child.last_text().parse::<i32>().map_err(|_| {
                    Error::Other(format!(
                        "bad pid from the container's setup (pid {})",
                        child.pid
                    ))
                })?;
                child.adopt(pid);
                set_oom(pid)?;
                oom_done = true;
            }
            other => {
                return Err(Error::Other(format!(
                    "unexpected message {other:#x} from the container's init (pid {})",
                    child.pid
                )))
            }
        }
    }
}

/// A container process being set up, seen from the parent: its pid, a pidfd, the sync socket
/// and a deadline. Dropped before `disown`, it kills and reaps the process.
pub(crate) struct Child {
    pub pid: i32,
    pidfd: Option<OwnedFd>,
    sock: OwnedFd,
    deadline: Instant,
    timeout: Duration,
    owned: bool,
    /// The payload of the last message `recv` returned.
    last: std::cell::RefCell<String>,
}

impl Child {
    pub(crate) fn new(pid: i32, sock: OwnedFd, timeout: Duration) -> Child {
        Child {
            pid,
            pidfd: sys::pidfd_open(pid).ok(),
            sock,
            deadline: Instant::now() + timeout,
            timeout,
            owned: true,
            last: std::cell::RefCell::new(String::new()),
        }
    }

    /// The payload of the last message.
    pub(crate) fn last_text(&self) -> String {
        self.last.borrow().clone()
    }

    /// The process we forked handed over to `pid` (its child, and ours by CLONE_PARENT) and
    /// is exiting: reap it, and own `pid` from now on.
    pub(crate) fn adopt(&mut self, pid: i32) {
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None);
        self.pid = pid;
        self.pidfd = sys::pidfd_open(pid).ok();
    }

    /// The process is set up: stop owning it.
    pub(crate) fn disown(mut self) -> i32 {
        self.owned = false;
        self.pid
    }

    pub(crate) fn send(&self, kind: u8) -> Result<()> {
        nix::unistd::write(&self.sock, &[kind])
            .map(drop)
            .ctx(|| format!("write to the container process (pid {})", self.pid))
    }

    /// `send`, with `fd` attached (the child gets its own copy).
    pub(crate) fn send_with_fd(&self, kind: u8, fd: RawFd) -> Result<()> {
        sys::send_fd(self.sock.as_raw_fd(), &[kind], fd)
            .ctx(|| format!("write to the container process (pid {})", self.pid))
    }

    /// The next message's kind, with the error a child reports turned into ours; `waiting`
    /// names what we wait for, for the message when the deadline passes.
    pub(crate) fn recv(&self, waiting: &str) -> Result<u8> {
        let (kind, text) = self.recv_raw(waiting)?;
        match kind {
            Some(k) => {
                *self.last.borrow_mut() = crate::child::failure(k, text)?;
                Ok(k)
            }
            None => Err(Error::Other(format!(
                "the container process (pid {}) exited during setup",
                self.pid
            ))),
        }
    }

    /// One message: kind and payload, or `None` at end of stream.
    pub(crate) fn recv_raw(&self, waiting: &str) -> Result<(Option<u8>, String)> {
        let left = self.deadline.saturating_duration_since(Instant::now());
        let ms = left.as_millis().min(i32::MAX as u128) as i32;
        let mut fds = [PollFd::new(self.sock.as_fd(), PollFlags::POLLIN)];
        loop {
            match poll(
                &mut fds,
                PollTimeout::try_from(ms).unwrap_or(PollTimeout::MAX),
            ) {
                Ok(0) => {
                    return Err(Error::Other(format!(
                        "the container process (pid {}) did not {waiting} within {}s: killed",
                        self.pid,
                        self.timeout.as_secs()
                    )))
                }
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(Error::sys("wait for the container process", e)),
            }
        }
        recv(&self.sock).ctx(|| format!("read from the container process (pid {})", self.pid))
    }

    /// When talking to the child failed, the child has usually failed first: its error is
    /// then already queued on the socket, and is what the caller must see.
    pub(crate) fn error_or(&self, ours: Error) -> Error {
        let mut buf = vec![0u8; 16 * 1024];
        for _ in 0..2 {
            match nix::sys::socket::recv(self.sock.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
                Ok(n) if n > 0 => {
                    let text = String::from_utf8_lossy(&buf[1..n]).into_owned();
                    match crate::child::failure(buf[0], text) {
                        Err(e) => return e,
                        Ok(_) => break,
                    }
                }
                // Reported once ahead of the queued messages (see recv): try again.
                Err(nix::errno::Errno::ECONNRESET) => continue,
                _ => break,
            }
        }
        ours
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if !self.owned {
            return;
        }
        match &self.pidfd {
            Some(fd) => {
                let _ = sys::pidfd_send_signal(fd, libc::SIGKILL);
            }
            None => {
                let _ = nix::sys::signal::kill(
                    nix::unistd::Pid::from_raw(self.pid),
                    nix::sys::signal::Signal::SIGKILL,
                );
            }
        }
        let _ = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(self.pid), None);
    }
}

/// The listener's fd number in a SECCOMP message.
pub(crate) fn seccomp_fd(text: &str) -> Result<i32> {
    text.trim()
        .parse()
        .map_err(|_| Error::Other(format!("bad seccomp listener message {text:?}")))
}

/// One message: kind and text, or `None` at end of stream.
fn recv(sock: &OwnedFd) -> nix::Result<(Option<u8>, String)> {
    let mut buf = vec![0u8; 16 * 1024];
    let mut reset_seen = false;
    let n = loop {
        match nix::unistd::read(sock, &mut buf) {
            Err(nix::errno::Errno::EINTR) => continue,
            // A peer that exited with one of our messages unread makes the next read fail
            // once with ECONNRESET, ahead of the messages it sent before: read again.
            Err(nix::errno::Errno::ECONNRESET) if !reset_seen => {
                reset_seen = true;
                continue;
            }
            r => break r?,
        }
    };
    if n == 0 {
        return Ok((None, String::new()));
    }
    Ok((
        Some(buf[0]),
        String::from_utf8_lossy(&buf[1..n]).into_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_skip_stdio_passed_and_kept_fds() {
        assert_eq!(close_ranges(0, &[]), vec![(3, u32::MAX)]);
        assert_eq!(close_ranges(2, &[9, 5, 6]), vec![(7, 8), (10, u32::MAX)]);
        assert_eq!(close_ranges(0, &[3]), vec![(4, u32::MAX)]);
    }
}
