//! Spawning container processes: one clone3 carrying every new namespace, a small exchange
//! over a socketpair, and (in `init` and `finish`) the child's own steps up to execve.
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
}

fn plan_namespaces(spec: &Spec, born_in_cgroup: bool) -> Result<NsPlan> {
    let mut plan = NsPlan {
        clone_flags: 0,
        joins: Vec::new(),
        pid_join: None,
        late_cgroupns: false,
        has_mnt: false,
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
            None => plan.clone_flags |= flag,
        }
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

/// `fd` renumbered to at least `min` (the fds below are the ones passed to the container).
fn above(fd: OwnedFd, min: RawFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    sys::dup_at_least(fd.as_raw_fd(), min).ctx(|| format!("move fd {} above {min}", fd.as_raw_fd()))
}

/// The fd ranges to close in a child that keeps stdio, `passed` fds from 3, and `keep`.
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

/// Spawn the init and wait until it is ready and blocked on the exec fifo. Returns its host pid.
///
/// `on_hooks` runs the prestart and createRuntime hooks in the parent when the init asks for it
/// (after its mounts, before pivot_root).
pub(crate) fn spawn_init(l: Launch, on_hooks: &dyn Fn(i32) -> Result<()>) -> Result<i32> {
    let spec = &l.bundle.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Spec("process must be specified".into()))?;
    let min_fd = 3 + l.preserve_fds as RawFd;
    let cgroup_dir = match l.cgroup_paths.unified_only() {
        Some(dir) => Some(
            nix::fcntl::open(
                dir,
                OFlag::O_DIRECTORY | OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ctx(|| format!("open cgroup {}", dir.display()))?,
        ),
        None => None,
    };
    let ns = plan_namespaces(spec, cgroup_dir.is_some())?;
    let rootfs = RootfsPlan::new(
        spec,
        &l.bundle.dir,
        &l.bundle.rootfs,
        l.no_pivot,
        l.cgroup_paths,
        ns.has_mnt,
    )?;
    let passwd = finish::passwd_for_create(spec, &l.bundle.dir, &l.bundle.rootfs);
    let linux = spec.linux().as_ref();
    let container = attrs::ContainerAttrs::new(
        linux.and_then(|l| l.memory_policy().as_ref()),
        linux.and_then(|l| l.personality().as_ref()),
    )?;
    let mut plan = ProcessPlan::new(process, l.seccomp, passwd.as_deref(), false, container)?;
    let hooks = spec.hooks().as_ref();
    let annotations = spec.annotations().clone().unwrap_or_default();
    let state =
        |status: &str| crate::hook_state_value(l.id, status, 0, &l.bundle.dir, &annotations);
    let create_hooks = HookSet::new(
        "createContainer",
        hooks.and_then(|h| h.create_container().as_ref()),
        state("created"),
        &l.bundle.dir,
    )?;
    let start_hooks = HookSet::new(
        "startContainer",
        hooks.and_then(|h| h.start_container().as_ref()),
        state("running"),
        &l.bundle.dir,
    )?;
    let runtime_hooks = hooks.is_some_and(|h| {
        #[allow(deprecated)]
        let prestart = h.prestart().as_ref().is_some_and(|v| !v.is_empty());
        prestart || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });
    // The init's own hooks run while we wait for it: their timeouts extend ours.
    let hook_time: i64 = hooks
        .and_then(|h| h.create_container().as_ref())
        .into_iter()
        .flatten()
        .map(|h| h.timeout().unwrap_or(0).max(0))
        .sum();
    let timeout = l.timeout + Duration::from_secs(hook_time as u64);

    let fifo = l.state_dir.join(EXEC_FIFO);
    let fifo_c = cstring(&fifo.to_string_lossy(), "state directory")?;
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622))
        .ctx(|| format!("mkfifo {}", fifo.display()))?;
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
    let mut joins = Vec::new();
    for j in ns.joins {
        joins.push(Join {
            fd: above(j.fd, min_fd)?,
            ..j
        });
    }
    let mut keep: Vec<RawFd> = vec![child_sock.as_raw_fd()];
    keep.extend(console.as_ref().map(|c| c.as_raw_fd()));
    keep.extend(joins.iter().map(|j| j.fd.as_raw_fd()));
    let init = Init {
        close_ranges: close_ranges(l.preserve_fds, &keep),
        sock: child_sock,
        passed_fds: l.preserve_fds,
        keyring: if l.no_new_keyring {
            None
        } else {
            init::keyring_name(l.id)
        },
        joins,
        hostname: match spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            Some(h) => Some(cstring(h, "hostname")?),
            None => None,
        },
        domainname: match spec.domainname().as_deref().filter(|h| !h.is_empty()) {
            Some(d) => Some(cstring(d, "domainname")?),
            None => None,
        },
        fifo: fifo_c,
        rootfs,
        wait_for_cgroup: cgroup_dir.is_none(),
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
            ns.clone_flags as u64,
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
    let result = restored.and_then(|()| {
        init_side(
            l.cgroup,
            &mut child,
            cgroup_dir.is_none(),
            on_hooks,
            agent.as_ref(),
        )
    });
    match result {
        Ok(()) => Ok(child.disown()),
        Err(e) => Err(e),
    }
}

fn init_side(
    cgroup: &dyn CgroupManager,
    child: &mut Child,
    join_cgroup: bool,
    on_hooks: &dyn Fn(i32) -> Result<()>,
    agent: Option<&crate::seccomp::agent::Agent>,
) -> Result<()> {
    if join_cgroup {
        cgroup
            .add_pid(child.pid)
            .map_err(Error::from)
            .and_then(|()| child.send(msg::GO))
            .map_err(|e| child.error_or(e))?;
    }
    loop {
        let (kind, text) = child.recv_raw("finish its setup")?;
        match child.kind(kind, text.clone())? {
            msg::READY => return Ok(()),
            msg::HOOKS => {
                on_hooks(child.pid)?;
                child.send(msg::GO).map_err(|e| child.error_or(e))?;
            }
            msg::SECCOMP => {
                let agent = agent.ok_or_else(|| {
                    Error::Other("the init made a seccomp listener nobody asked for".into())
                })?;
                agent.hand_over(child.pid, seccomp_fd(&text)?)?;
                child.send(msg::GO).map_err(|e| child.error_or(e))?;
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
        }
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

    /// A message's kind, with an error or the end of the stream turned into ours.
    pub(crate) fn kind(&self, kind: Option<u8>, text: String) -> Result<u8> {
        match kind {
            Some(msg::ERROR) => Err(Error::Init(text)),
            Some(k) => Ok(k),
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
                Ok(n) if n > 0 && buf[0] == msg::ERROR => {
                    return Error::Init(String::from_utf8_lossy(&buf[1..n]).into_owned())
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
