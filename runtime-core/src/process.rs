//! Spawning the container's init: one clone3 carrying every new namespace, a typed exchange over
//! a socketpair, and the init's own steps up to the exec fifo and execve.
//!
//! The parent never re-executes our binary: the child is a clone of the calling process that runs
//! Rust code, reports either "ready" or an error over the socket, and ends in execve or `_exit`.
//! The child never returns into the caller's code and never unwinds.

use std::ffi::CString;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::fcntl::OFlag;
use nix::sched::CloneFlags;
use nix::sys::signal::{kill, SigSet, SigmaskHow, Signal};
use nix::sys::socket::{socketpair, AddressFamily, MsgFlags, SockFlag, SockType};
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::{LinuxNamespaceType, Process, Spec};

use crate::capabilities::{self, CapPlan};
use crate::cgroups::{CgroupManager, CgroupPaths};
use crate::error::{Error, Result, SysContext};
use crate::rootfs::{self, RootfsPlan};
use crate::seccomp::Program;
use crate::spec::Bundle;
use crate::state::EXEC_FIFO;
use crate::sys::{self, Forked};

/// Messages on the sync socket. One byte of kind, then an optional UTF-8 text.
pub(crate) const MSG_READY: u8 = b'R';
pub(crate) const MSG_HOOKS: u8 = b'H';
pub(crate) const MSG_GO: u8 = b'G';
pub(crate) const MSG_ERROR: u8 = b'E';

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
    pub seccomp: Option<&'a Program>,
    /// The connected `--console-socket`, when the process has a terminal.
    pub console: Option<&'a OwnedFd>,
}

/// How the namespaces of the spec map onto clone flags and setns calls.
struct NsPlan {
    /// New namespaces created by clone3 itself.
    clone_flags: CloneFlags,
    /// Namespaces joined by path, in the child (all but pid).
    joins: Vec<(OwnedFd, CloneFlags, PathBuf)>,
    /// A pid namespace joined by path: the parent enters it for its children before clone.
    pid_join: Option<OwnedFd>,
    /// A new cgroup namespace must be unshared after the child is in its cgroup, so that the
    /// namespace's root is the container's cgroup.
    late_cgroupns: bool,
    /// Whether the spec sets the UTS namespace (required for hostname/domainname).
    has_uts: bool,
}

fn ns_flag(t: LinuxNamespaceType) -> CloneFlags {
    match t {
        LinuxNamespaceType::Mount => CloneFlags::CLONE_NEWNS,
        LinuxNamespaceType::Cgroup => CloneFlags::CLONE_NEWCGROUP,
        LinuxNamespaceType::Uts => CloneFlags::CLONE_NEWUTS,
        LinuxNamespaceType::Ipc => CloneFlags::CLONE_NEWIPC,
        LinuxNamespaceType::User => CloneFlags::CLONE_NEWUSER,
        LinuxNamespaceType::Pid => CloneFlags::CLONE_NEWPID,
        LinuxNamespaceType::Network => CloneFlags::CLONE_NEWNET,
        LinuxNamespaceType::Time => CloneFlags::from_bits_retain(libc::CLONE_NEWTIME),
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

fn plan_namespaces(spec: &Spec, born_in_cgroup: bool) -> Result<NsPlan> {
    let mut plan = NsPlan {
        clone_flags: CloneFlags::empty(),
        joins: Vec::new(),
        pid_join: None,
        late_cgroupns: false,
        has_uts: false,
    };
    let mut has_mnt = false;
    for ns in namespaces(spec) {
        let flag = ns_flag(ns.typ());
        has_mnt |= ns.typ() == LinuxNamespaceType::Mount;
        plan.has_uts |= ns.typ() == LinuxNamespaceType::Uts;
        match ns.path() {
            Some(path) => {
                let fd = nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
                    .ctx(|| format!("open namespace {} {}", ns.typ(), path.display()))?;
                if flag == CloneFlags::CLONE_NEWPID {
                    plan.pid_join = Some(fd);
                } else {
                    plan.joins.push((fd, flag, path.clone()));
                }
            }
            None if flag == CloneFlags::CLONE_NEWCGROUP && !born_in_cgroup => {
                plan.late_cgroupns = true;
            }
            None => plan.clone_flags |= flag,
        }
    }
    if !has_mnt {
        return Err(Error::Spec(
            "the container needs a mount namespace (linux.namespaces has no \"mount\")".into(),
        ));
    }
    if (spec.hostname().as_deref().is_some_and(|h| !h.is_empty())
        || spec.domainname().as_deref().is_some_and(|h| !h.is_empty()))
        && !plan.has_uts
    {
        return Err(Error::Spec(
            "unable to set hostname without a private UTS namespace".into(),
        ));
    }
    Ok(plan)
}

/// The container's argv and envp, prepared before the fork.
pub(crate) struct ExecPlan {
    args: Vec<CString>,
    env: Vec<CString>,
    has_home: bool,
    path_var: Option<String>,
}

fn cstring(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Spec(format!("{what} {s:?} contains a NUL byte")))
}

pub(crate) fn plan_exec(p: &Process) -> Result<ExecPlan> {
    let args = p
        .args()
        .iter()
        .flatten()
        .map(|a| cstring(a, "argument"))
        .collect::<Result<Vec<_>>>()?;
    let env_list: Vec<&String> = p.env().iter().flatten().collect();
    let env = env_list
        .iter()
        .map(|e| cstring(e, "environment variable"))
        .collect::<Result<Vec<_>>>()?;
    Ok(ExecPlan {
        args,
        env,
        has_home: env_list.iter().any(|e| e.starts_with("HOME=")),
        path_var: env_list
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .map(str::to_string),
    })
}

/// Spawn the init and wait until it is ready and blocked on the exec fifo. Returns its host pid.
///
/// `on_hooks` runs the prestart and createRuntime hooks in the parent when the init asks for it
/// (after its mounts, before pivot_root).
pub(crate) fn spawn_init(l: &Launch, on_hooks: &dyn Fn(i32) -> Result<()>) -> Result<i32> {
    let spec = &l.bundle.spec;
    let process = spec
        .process()
        .as_ref()
        .ok_or_else(|| Error::Spec("process must be specified".into()))?;
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
    let exec = plan_exec(process)?;
    let caps = CapPlan::new(process.capabilities().as_ref())?;
    let wants_hooks = spec.hooks().as_ref().is_some_and(|h| {
        #[allow(deprecated)]
        let prestart = h.prestart().as_ref().is_some_and(|v| !v.is_empty());
        prestart || h.create_runtime().as_ref().is_some_and(|v| !v.is_empty())
    });

    let fifo = l.state_dir.join(EXEC_FIFO);
    nix::unistd::mkfifo(&fifo, Mode::from_bits_truncate(0o622))
        .ctx(|| format!("mkfifo {}", fifo.display()))?;
    let (parent_sock, child_sock) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "socketpair for the init".into())?;

    let own_pidns = match &ns.pid_join {
        Some(target) => {
            let own = nix::fcntl::open(
                "/proc/self/ns/pid",
                OFlag::O_RDONLY | OFlag::O_CLOEXEC,
                Mode::empty(),
            )
            .ctx(|| "open /proc/self/ns/pid".into())?;
            nix::sched::setns(target, CloneFlags::CLONE_NEWPID)
                .ctx(|| "join the spec's pid namespace".into())?;
            Some(own)
        }
        None => None,
    };
    // SAFETY: the runtime is single-threaded here (no threads are started before this point);
    // the child only runs `init` and leaves through execve or _exit.
    let forked = unsafe {
        sys::clone3(
            ns.clone_flags.bits() as u64,
            cgroup_dir.as_ref().map(|fd| fd.as_raw_fd()),
        )
    };
    let pid = match forked {
        Err(e) => {
            if let Some(own) = own_pidns {
                let _ = nix::sched::setns(own, CloneFlags::CLONE_NEWPID);
            }
            return Err(Error::sys("clone3 the container's init", e));
        }
        Ok(Forked::Child) => {
            drop(parent_sock);
            let init = Init {
                launch: l,
                process,
                ns: &ns,
                exec: &exec,
                caps: &caps,
                sock: &child_sock,
                fifo: &fifo,
                wait_for_cgroup: cgroup_dir.is_none(),
                wants_hooks,
            };
            let code = match init.run() {
                Ok(never) => match never {},
                Err(e) => {
                    report_failure(&child_sock, &e);
                    1
                }
            };
            sys::exit_now(code)
        }
        Ok(Forked::Parent(pid)) => pid,
    };
    drop(child_sock);
    // Only the parent goes back: the child must stay in the joined namespace.
    let restored = match own_pidns {
        Some(own) => nix::sched::setns(own, CloneFlags::CLONE_NEWPID)
            .ctx(|| "return to our own pid namespace".into()),
        None => Ok(()),
    };
    let result =
        restored.and_then(|()| parent_side(l, pid, &parent_sock, cgroup_dir.is_none(), on_hooks));
    if result.is_err() {
        let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
        let _ = waitpid(Pid::from_raw(pid), None);
    }
    result.map(|()| pid)
}

fn parent_side(
    l: &Launch,
    pid: i32,
    sock: &OwnedFd,
    join_cgroup: bool,
    on_hooks: &dyn Fn(i32) -> Result<()>,
) -> Result<()> {
    if join_cgroup {
        l.cgroup
            .add_pid(pid)
            .map_err(Error::from)
            .and_then(|()| send_checked(sock, MSG_GO))
            .map_err(|e| init_error_or(sock, e))?;
    }
    loop {
        let (kind, text) = recv(sock).ctx(|| format!("read from the init (pid {pid})"))?;
        match kind {
            Some(MSG_READY) => return Ok(()),
            Some(MSG_HOOKS) => {
                on_hooks(pid)?;
                send_checked(sock, MSG_GO).map_err(|e| init_error_or(sock, e))?;
            }
            Some(MSG_ERROR) => return Err(Error::Init(text)),
            Some(other) => {
                return Err(Error::Other(format!(
                    "unexpected message {other:#x} from the init (pid {pid})"
                )))
            }
            None => {
                return Err(Error::Other(format!(
                    "the container's init (pid {pid}) exited during setup"
                )))
            }
        }
    }
}

/// When talking to the init failed, the init has usually failed first: its error message is
/// then already queued on the socket, and is what the caller must see (not our EPIPE/ESRCH).
/// Never blocks: an init that is alive and silent leaves `ours` as the error.
fn init_error_or(sock: &OwnedFd, ours: Error) -> Error {
    let mut buf = vec![0u8; 16 * 1024];
    for _ in 0..2 {
        match nix::sys::socket::recv(sock.as_raw_fd(), &mut buf, MsgFlags::MSG_DONTWAIT) {
            Ok(n) if n > 0 && buf[0] == MSG_ERROR => {
                return Error::Init(String::from_utf8_lossy(&buf[1..n]).into_owned())
            }
            // Reported once ahead of the queued messages (see recv): try again.
            Err(nix::errno::Errno::ECONNRESET) => continue,
            _ => break,
        }
    }
    ours
}

pub(crate) fn send(sock: &OwnedFd, kind: u8, text: &str) {
    let mut msg = Vec::with_capacity(1 + text.len());
    msg.push(kind);
    msg.extend_from_slice(text.as_bytes());
    let _ = nix::unistd::write(sock, &msg);
}

/// Report a container process's failure: to the runtime while it listens, else (after
/// `start`, when nobody reads the socket any more) on the process's own stderr, which is
/// the only place left where the user can see why the container ended.
pub(crate) fn report_failure(sock: &OwnedFd, e: &Error) {
    let text = e.to_string();
    let mut msg = Vec::with_capacity(1 + text.len());
    msg.push(MSG_ERROR);
    msg.extend_from_slice(text.as_bytes());
    // MSG_NOSIGNAL: by now SIGPIPE may be back to its default, which would kill us silently.
    let sent = nix::sys::socket::send(sock.as_raw_fd(), &msg, MsgFlags::MSG_NOSIGNAL);
    if sent.is_err() {
        let line = format!("baleia: {text}\n");
        // SAFETY: fd 2 is the process's stderr; a failed write has nowhere else to go.
        let _ = nix::unistd::write(
            unsafe { std::os::fd::BorrowedFd::borrow_raw(2) },
            line.as_bytes(),
        );
    }
}

pub(crate) fn send_checked(sock: &OwnedFd, kind: u8) -> Result<()> {
    nix::unistd::write(sock, &[kind])
        .map(drop)
        .ctx(|| "write to the init's sync socket".into())
}

/// One message: kind and text, or `None` at end of stream.
pub(crate) fn recv(sock: &OwnedFd) -> nix::Result<(Option<u8>, String)> {
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

/// The container's init, between clone3 and execve.
struct Init<'a> {
    launch: &'a Launch<'a>,
    process: &'a Process,
    ns: &'a NsPlan,
    exec: &'a ExecPlan,
    caps: &'a CapPlan,
    sock: &'a OwnedFd,
    fifo: &'a Path,
    wait_for_cgroup: bool,
    wants_hooks: bool,
}

/// A container process's success type: it never returns, it execs.
pub(crate) enum Never {}

impl Init<'_> {
    fn expect_go(&self) -> Result<()> {
        match recv(self.sock).ctx(|| "read from the runtime".into())? {
            (Some(MSG_GO), _) => Ok(()),
            _ => Err(Error::Other("the runtime went away during setup".into())),
        }
    }

    fn run(&self) -> Result<Never> {
        let spec = &self.launch.bundle.spec;
        // Keep other users of the host from ptrace-ing or reading /proc of the init while it
        // still holds runtime fds (CVE-2019-5736); execve restores dumpability.
        nix::sys::prctl::set_dumpable(false).ctx(|| "prctl(PR_SET_DUMPABLE)".into())?;
        // Before any mount changes, /proc is the host's: /proc/self names our host pid, which
        // the createContainer hooks must be given.
        let host_pid = std::fs::read_link("/proc/self")
            .ok()
            .and_then(|p| p.to_str().and_then(|s| s.parse().ok()))
            .unwrap_or(0);
        if !self.launch.no_new_keyring {
            join_session_keyring(self.launch.id)?;
        }
        for (fd, flag, path) in &self.ns.joins {
            nix::sched::setns(fd, *flag).ctx(|| format!("join namespace {}", path.display()))?;
        }
        if self.ns.clone_flags.contains(CloneFlags::CLONE_NEWNET) {
            crate::netlink::loopback_up().ctx(|| "bring up the loopback interface".into())?;
        }
        if let Some(h) = spec.hostname().as_deref().filter(|h| !h.is_empty()) {
            nix::unistd::sethostname(h).ctx(|| format!("sethostname {h:?}"))?;
        }
        if let Some(d) = spec.domainname().as_deref().filter(|d| !d.is_empty()) {
            // SAFETY: d points to d.len() valid bytes.
            let rc = unsafe { libc::setdomainname(d.as_ptr().cast(), d.len()) };
            if rc != 0 {
                return Err(Error::sys(
                    format!("setdomainname {d:?}"),
                    nix::errno::Errno::last(),
                ));
            }
        }
        // Read-write, so that opening never blocks and the init counts as a writer itself: the
        // read below then waits for `start`'s byte instead of seeing end-of-file.
        let fifo = nix::fcntl::open(self.fifo, OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
            .ctx(|| format!("open {}", self.fifo.display()))?;

        let plan = RootfsPlan {
            spec,
            bundle: &self.launch.bundle.dir,
            rootfs: &self.launch.bundle.rootfs,
            no_pivot: self.launch.no_pivot,
            cgroup_paths: self.launch.cgroup_paths,
        };
        let annotations = spec.annotations().clone().unwrap_or_default();
        rootfs::prepare(&plan)?;
        // Moving a process between cgroup v1 hierarchies costs the parent an RCU grace period
        // (milliseconds); it runs while we mount, and we only wait for it here, before
        // anything that must happen inside the cgroup: the cgroup namespace, hooks, execve.
        if self.wait_for_cgroup {
            self.expect_go()?;
        }
        if self.ns.late_cgroupns {
            nix::sched::unshare(CloneFlags::CLONE_NEWCGROUP)
                .ctx(|| "unshare the cgroup namespace".into())?;
        }
        if self.wants_hooks {
            send_checked(self.sock, MSG_HOOKS)?;
            self.expect_go()?;
        }
        if let Some(hooks) = spec.hooks() {
            let state = crate::hook_state(
                self.launch.id,
                "created",
                host_pid,
                &self.launch.bundle.dir,
                &annotations,
            );
            crate::hooks::run("createContainer", hooks.create_container().as_ref(), &state)?;
        }
        rootfs::enter(&plan)?;
        reopen_dev_null()?;
        rootfs::finish(spec)?;
        if let Some(sock) = self.launch.console {
            crate::console::setup(sock, self.process.console_size().as_ref(), true)?;
        }
        let fin = Finish {
            process: self.process,
            exec: self.exec,
            caps: self.caps,
            seccomp: self.launch.seccomp,
            preserve_fds: self.launch.preserve_fds,
        };
        let (exe, env) = fin.prepare()?;
        send_checked(self.sock, MSG_READY)?;

        let mut byte = [0u8; 1];
        loop {
            match nix::unistd::read(fifo.as_fd(), &mut byte) {
                Err(nix::errno::Errno::EINTR) => continue,
                r => break r.map(drop).ctx(|| "wait on the exec fifo".into())?,
            }
        }
        drop(fifo);
        if let Some(hooks) = spec.hooks() {
            let state = crate::hook_state(
                self.launch.id,
                "running",
                host_pid,
                &self.launch.bundle.dir,
                &annotations,
            );
            crate::hooks::run("startContainer", hooks.start_container().as_ref(), &state)?;
        }
        fin.exec(&exe, &env)
    }
}

/// The last steps of every container process (the init and exec'd ones), inside the
/// container's namespaces: limits, seccomp, user and capabilities, cwd, umask, then execve.
pub(crate) struct Finish<'a> {
    pub process: &'a Process,
    pub exec: &'a ExecPlan,
    pub caps: &'a CapPlan,
    pub seccomp: Option<&'a Program>,
    pub preserve_fds: u32,
}

impl Finish<'_> {
    fn nnp(&self) -> bool {
        self.process.no_new_privileges() == Some(true)
    }

    /// Everything up to the executable lookup; returns the path to exec and the environment.
    pub(crate) fn prepare(&self) -> Result<(CString, Vec<CString>)> {
        capabilities::apply_limits(self.process)?;
        if let (Some(prog), false) = (self.seccomp, self.nnp()) {
            // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN: do it before the
            // capabilities are dropped.
            prog.install()?;
        }
        fix_stdio_ownership(self.process.user().uid())?;
        capabilities::switch_user(self.process, self.caps)?;
        let cwd = self.process.cwd();
        nix::unistd::chdir(cwd).ctx(|| format!("chdir to cwd {}", cwd.display()))?;
        let umask = self.process.user().umask().unwrap_or(0o022);
        nix::sys::stat::umask(Mode::from_bits_truncate(umask));
        let mut env = self.exec.env.clone();
        if !self.exec.has_home {
            let home = capabilities::passwd_entry(self.process.user().uid())
                .map(|(_, h)| h)
                .unwrap_or_else(|| "/".into());
            env.push(cstring(&format!("HOME={home}"), "HOME")?);
        }
        let exe = resolve_executable(&self.exec.args[0], self.exec.path_var.as_deref())?;
        sys::cloexec_from(3 + self.preserve_fds)
            .ctx(|| "mark the runtime's fds close-on-exec".into())?;
        for fd in 3..3 + self.preserve_fds as i32 {
            // The caller's fds must survive execve even when it opened them close-on-exec.
            // SAFETY: fcntl on an fd number that may not be open only returns EBADF.
            let _ = nix::fcntl::fcntl(
                unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) },
                nix::fcntl::FcntlArg::F_SETFD(nix::fcntl::FdFlag::empty()),
            );
        }
        Ok((exe, env))
    }

    /// Reset signals, install seccomp when it goes last, and execve.
    pub(crate) fn exec(&self, exe: &CString, env: &[CString]) -> Result<Never> {
        // Rust ignores SIGPIPE and ignored signals survive execve: give the container defaults.
        // SAFETY: resetting a signal disposition to its default is always sound.
        unsafe {
            let _ = nix::sys::signal::signal(Signal::SIGPIPE, nix::sys::signal::SigHandler::SigDfl);
        }
        let _ =
            nix::sys::signal::sigprocmask(SigmaskHow::SIG_SETMASK, Some(&SigSet::empty()), None);
        if let (Some(prog), true) = (self.seccomp, self.nnp()) {
            // With no_new_privs the filter goes last, so that setup syscalls are not filtered.
            prog.install()?;
        }
        let e = match nix::unistd::execve(exe, &self.exec.args, env) {
            Err(e) => e,
            Ok(never) => match never {},
        };
        Err(Error::sys(format!("exec {exe:?}"), e))
    }
}

/// Give the container's user its stdio (pipes from the engine are root's), so that a non-root
/// process can reopen /dev/stdout or /proc/self/fd/1, as under runc. Only the owner changes,
/// /dev/null is left alone, and a refusal (read-only /dev, unmapped ids) is not an error.
fn fix_stdio_ownership(uid: u32) -> Result<()> {
    let null = dev_null_rdev();
    for fd in 0..3 {
        let Some(st) = stdio_stat(fd)? else { continue };
        if st.st_uid == uid || is_char_dev(&st, null) {
            continue;
        }
        // SAFETY: fd is one of our open standard fds (checked just above).
        let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
        match nix::unistd::fchown(bfd, Some(nix::unistd::Uid::from_raw(uid)), None) {
            Ok(())
            | Err(
                nix::errno::Errno::EINVAL | nix::errno::Errno::EPERM | nix::errno::Errno::EROFS,
            ) => {}
            Err(e) => return Err(Error::sys(format!("chown stdio fd {fd} to {uid}"), e)),
        }
    }
    Ok(())
}

/// The device number of `/dev/null` as this process sees it, if there is one.
fn dev_null_rdev() -> Option<libc::dev_t> {
    nix::sys::stat::stat("/dev/null")
        .ok()
        .filter(|st| st.st_mode & libc::S_IFMT == libc::S_IFCHR)
        .map(|st| st.st_rdev)
}

/// fstat of a standard fd; `None` when it is closed.
fn stdio_stat(fd: i32) -> Result<Option<nix::sys::stat::FileStat>> {
    // SAFETY: fds 0-2 belong to this process; the borrow ends with the call.
    let bfd = unsafe { std::os::fd::BorrowedFd::borrow_raw(fd) };
    match nix::sys::stat::fstat(bfd) {
        Ok(st) => Ok(Some(st)),
        Err(nix::errno::Errno::EBADF) => Ok(None),
        Err(e) => Err(Error::sys(format!("fstat stdio fd {fd}"), e)),
    }
}

fn is_char_dev(st: &nix::sys::stat::FileStat, rdev: Option<libc::dev_t>) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && Some(st.st_rdev) == rdev
}

/// After the pivot: stdio fds that are the host's /dev/null (an engine's "no stdin") are
/// reopened on the container's /dev/null, as runc does. Otherwise the container holds an fd
/// on a host inode: its root (CAP_FOWNER) could chmod/chown the host's /dev/null through
/// /proc/self/fd/0.
pub(crate) fn reopen_dev_null() -> Result<()> {
    let Some(rdev) = dev_null_rdev() else {
        return Ok(());
    };
    let null = nix::fcntl::open("/dev/null", OFlag::O_RDWR | OFlag::O_CLOEXEC, Mode::empty())
        .ctx(|| "open the container's /dev/null".into())?;
    for fd in 0..3 {
        if stdio_stat(fd)?.is_some_and(|st| is_char_dev(&st, Some(rdev))) {
            // SAFETY: dup3 onto a standard fd that this process owns; flags 0 clears CLOEXEC.
            if unsafe { libc::dup3(null.as_raw_fd(), fd, 0) } < 0 {
                return Err(Error::sys(
                    format!("reopen /dev/null on fd {fd}"),
                    nix::errno::Errno::last(),
                ));
            }
        }
    }
    Ok(())
}

/// Find the executable as execvp would, in the container's PATH; the error texts are runc's,
/// which podman and Docker match to choose exit codes 126 and 127.
fn resolve_executable(arg0: &CString, path_var: Option<&str>) -> Result<CString> {
    let name = arg0.to_string_lossy().into_owned();
    let check = |p: &Path| -> std::result::Result<(), nix::errno::Errno> {
        let meta = std::fs::metadata(p)
            .map_err(|e| nix::errno::Errno::from_raw(e.raw_os_error().unwrap_or(libc::ENOENT)))?;
        if meta.is_dir() {
            return Err(nix::errno::Errno::EACCES);
        }
        nix::unistd::access(p, nix::unistd::AccessFlags::X_OK)
    };
    if name.contains('/') {
        return match check(Path::new(&name)) {
            Ok(()) => Ok(arg0.clone()),
            Err(nix::errno::Errno::ENOENT) => Err(Error::Other(format!(
                "exec: \"{name}\": stat {name}: no such file or directory"
            ))),
            Err(e) => Err(Error::Other(format!(
                "exec: \"{name}\": {}",
                e.desc().to_lowercase()
            ))),
        };
    }
    let mut denied = false;
    for dir in path_var.unwrap_or("").split(':') {
        let dir = if dir.is_empty() { "." } else { dir };
        let candidate = Path::new(dir).join(&name);
        match check(&candidate) {
            Ok(()) => return cstring(&candidate.to_string_lossy(), "executable path"),
            Err(nix::errno::Errno::EACCES) => denied = true,
            Err(_) => {}
        }
    }
    if denied {
        return Err(Error::Other(format!("exec: \"{name}\": permission denied")));
    }
    Err(Error::Other(format!(
        "exec: \"{name}\": executable file not found in $PATH"
    )))
}

/// Give the container a session keyring of its own, so it cannot read the host's keys.
fn join_session_keyring(id: &str) -> Result<()> {
    const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
    let name = cstring(&format!("_ses.{id}"), "keyring name")?;
    // SAFETY: keyctl reads a NUL-terminated name.
    let r = unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
    match r {
        // Keyrings may be unavailable (ENOSYS) or disallowed by a seccomp filter of an outer
        // container: runc treats that as "no keyring", not as an error.
        -1 if matches!(
            nix::errno::Errno::last(),
            nix::errno::Errno::ENOSYS | nix::errno::Errno::EPERM
        ) =>
        {
            Ok(())
        }
        -1 => Err(Error::sys(
            "join a new session keyring",
            nix::errno::Errno::last(),
        )),
        _ => Ok(()),
    }
}
