//! `exec`: a new process in a running container's namespaces and cgroup.
//!
//! The runtime forks a helper, which joins the container's cgroup (done by the runtime) and all
//! of its namespaces in one setns on a pidfd, enters the container's root, then clone3s the real
//! process with CLONE_PARENT: the new process is born inside the container's pid namespace yet
//! is the runtime's child, so `exec` can wait for it, and after a detached `exec` it goes to
//! the caller (a subreaper). The process reports a setup error over the socket; a successful
//! execve closes the socket. Like the init, both children only make syscalls on data prepared
//! here (see `crate::child`).

use std::ffi::CString;
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::PathBuf;
use std::time::Duration;

use nix::fcntl::OFlag;
use nix::sys::stat::Mode;
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use crate::child::{self, msg, CResult, ChildError, OrFail};
use crate::error::{Error, Result, SysContext};
use crate::process::attrs::ContainerAttrs;
use crate::process::finish::{self, ProcessPlan};
use crate::process::{self, Child};
use crate::state::Record;
use crate::sys::{self, Forked};

/// How long the helper and the process may take to report, by default.
const SETUP_TIMEOUT: Duration = Duration::from_secs(60);

/// Options of `exec` (runc's flags of the same names).
///
/// ```no_run
/// # let process: oci_spec::runtime::Process = Default::default();
/// let mut opts = runtime_core::ExecOptions::new(process);
/// opts.detach = true;
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct ExecOptions {
    /// The process to run (process.json's content).
    pub process: Process,
    /// Return once the process runs instead of waiting for it.
    pub detach: bool,
    /// Where to write the process's host pid.
    pub pid_file: Option<PathBuf>,
    /// Where to send the terminal's master when `process.terminal` is true.
    pub console_socket: Option<PathBuf>,
    /// Pass fds 3..3+N of the caller to the process.
    pub preserve_fds: u32,
    /// Exec even into a paused container (the process runs once it is resumed).
    pub ignore_paused: bool,
    /// Existing sub-cgroups of the container's to run the process in (runc's `--cgroup`):
    /// `sub` for every hierarchy, or `ctrl[,ctrl...]:sub` for v1 controllers.
    pub cgroup: Vec<String>,
    /// A unix socket to send a pidfd of the process to (payload `setns`).
    pub pidfd_socket: Option<PathBuf>,
}

impl ExecOptions {
    /// Options to run `process`, attached, with every other flag at runc's default.
    ///
    /// ```
    /// let o = runtime_core::ExecOptions::new(Default::default());
    /// assert!(!o.detach);
    /// ```
    pub fn new(process: Process) -> ExecOptions {
        ExecOptions {
            process,
            ..Default::default()
        }
    }
}

/// The namespaces of `pid` to join: those that differ from ours.
fn namespaces_to_join(pid: i32) -> i32 {
    let link = |who: &str, name: &str| std::fs::read_link(format!("/proc/{who}/ns/{name}")).ok();
    let differs = |name: &str| {
        let theirs = link(&pid.to_string(), name);
        theirs.is_some() && theirs != link("self", name)
    };
    // Root of the host may join any namespace, and joining one it is in already changes
    // nothing, except for a user namespace (setns refuses it) and the time namespace, which a
    // kernel may not have: the other 12 readlinks of the comparison are skipped. Anyone else
    // may lack the right to join a namespace it shares (rootless podman's --network=host is
    // the host's, owned by a user namespace above it), so each one is compared.
    let ours_user = link("self", "user");
    if nix::unistd::geteuid().is_root()
        && ours_user.as_deref() == Some(std::path::Path::new(crate::namespaces::INIT_USER_NS))
    {
        let mut flags = libc::CLONE_NEWNS
            | libc::CLONE_NEWUTS
            | libc::CLONE_NEWIPC
            | libc::CLONE_NEWNET
            | libc::CLONE_NEWPID
            | libc::CLONE_NEWCGROUP;
        if link(&pid.to_string(), "user") != ours_user {
            flags |= libc::CLONE_NEWUSER;
        }
        if differs("time") {
            flags |= libc::CLONE_NEWTIME;
        }
        return flags;
    }
    let mut flags = 0;
    // setns(2) on a pidfd joins a user namespace first, whatever the order here.
    for (name, flag) in [
        ("user", libc::CLONE_NEWUSER),
        ("time", libc::CLONE_NEWTIME),
        ("mnt", libc::CLONE_NEWNS),
        ("uts", libc::CLONE_NEWUTS),
        ("ipc", libc::CLONE_NEWIPC),
        ("net", libc::CLONE_NEWNET),
        ("pid", libc::CLONE_NEWPID),
        ("cgroup", libc::CLONE_NEWCGROUP),
    ] {
        if differs(name) {
            flags |= flag;
        }
    }
    flags
}

/// What the helper and the process need, prepared before the fork.
struct Helper {
    sock: OwnedFd,
    close_ranges: Vec<(u32, u32)>,
    passed_fds: u32,
    /// The container's init, whose namespaces we join.
    pidfd: OwnedFd,
    join: i32,
    /// The container's root (`/proc/<pid>/root`): a --no-pivot container's root is a chroot,
    /// which joining the mount namespace does not give.
    root: OwnedFd,
    console: Option<OwnedFd>,
    host_null: Option<libc::dev_t>,
    plan: ProcessPlan,
    /// The cgroup files the helper writes "0" into to join the container's cgroup itself
    /// (cgroup v1); empty when the runtime moves it.
    cgroup_self_join: Vec<CString>,
    /// The cgroup v2 directory the process is forked into (clone3 CLONE_INTO_CGROUP): then
    /// nobody moves it, and the helper stays out of the cgroup.
    born_in: Option<OwnedFd>,
}

fn above(fd: OwnedFd, min: RawFd) -> Result<OwnedFd> {
    if fd.as_raw_fd() >= min {
        return Ok(fd);
    }
    sys::dup_at_least(fd.as_raw_fd(), min).ctx(|| format!("move fd {} above {min}", fd.as_raw_fd()))
}

/// Start `opts.process` in the container of `rec`. Returns the process's host pid (detached)
/// or its exit status (attached; 128+n when killed by signal n).
/// `root` is the state root (for the cache of compiled seccomp programs).
pub(crate) fn exec(rec: &Record, opts: &ExecOptions, root: &std::path::Path) -> Result<i32> {
    let p = &opts.process;
    crate::spec::validate_process(p)?;
    let terminal = crate::container::check_console(p, opts.console_socket.as_deref())?;
    let seccomp = match &rec.seccomp {
        Some(profile) => Some(crate::seccomp::compile_cached(profile, root)?),
        None => None,
    };
    let min_fd = 3 + opts.preserve_fds as RawFd;
    let pidfd = sys::pidfd_open(rec.pid).ctx(|| format!("pidfd_open {}", rec.pid))?;
    if !crate::state::is_alive(rec.pid, rec.start_time) {
        return Err(Error::NotRunning(rec.id.clone()));
    }
    let root_path = format!("/proc/{}/root", rec.pid);
    let root = nix::fcntl::open(
        root_path.as_str(),
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open {root_path}"))?;
    let passwd = finish::read_passwd(root.as_raw_fd());
    let container = ContainerAttrs::new(rec.memory_policy.as_ref(), rec.personality.as_ref())?;
    let plan = ProcessPlan::new(p, seccomp, passwd.as_deref(), true, container)?;
    let initial_cpus = plan.attrs.initial_cpus();
    let mut plan = plan;
    let setgroups = format!("/proc/{}/setgroups", rec.pid);
    if crate::readfile::read_to_string(&setgroups).is_ok_and(|s| s.trim() == "deny") {
        plan.without_setgroups()?;
    }
    let agent = crate::seccomp::agent::Agent::of(
        rec.seccomp.as_ref(),
        &rec.id,
        &rec.bundle,
        &rec.annotations,
        "running",
        rec.pid,
    );
    let console = match &terminal {
        Some(path) => Some(above(crate::console::connect(path)?, min_fd)?),
        None => None,
    };
    let cgroup = crate::cgroups::manager(&rec.cgroup.with_sub_cgroups(&opts.cgroup)?, None);
    // execCPUAffinity.initial must be in force before the move: then the runtime moves it.
    let cgroup_self_join = match cgroup.self_join_files() {
        Some(files) if initial_cpus.is_none() => files
            .iter()
            .map(|f| crate::rootfs::path_cstring(f))
            .collect::<Result<Vec<_>>>()?,
        _ => Vec::new(),
    };
    let join = namespaces_to_join(rec.pid);
    // Forked into its cgroup, the process skips the move, whose write lock on the cgroup tree
    // waits out an RCU grace period. Not with an initial CPU affinity (the cgroup's would
    // replace it at once), nor by a helper that joined the container's user namespace: its
    // ids there may not write the cgroup tree above the container's.
    let born_in = match cgroup.unified_dir() {
        Some(dir) if initial_cpus.is_none() && join & libc::CLONE_NEWUSER == 0 => {
            Some(process::open_cgroup_dir(dir)?)
        }
        _ => None,
    };
    let moved_by_us = cgroup_self_join.is_empty() && born_in.is_none();
    let pidfd_sock = opts
        .pidfd_socket
        .as_deref()
        .map(crate::container::connect_pidfd_socket)
        .transpose()?;
    let (parent_sock, child_sock) = process::sync_pair()?;
    let child_sock = above(child_sock, min_fd)?;
    plan.sync_sock = Some(child_sock.as_raw_fd());
    let pidfd = above(pidfd, min_fd)?;
    let root = above(root, min_fd)?;
    let born_in = born_in.map(|fd| above(fd, min_fd)).transpose()?;
    let mut keep = vec![child_sock.as_raw_fd(), pidfd.as_raw_fd(), root.as_raw_fd()];
    keep.extend(console.as_ref().map(|c| c.as_raw_fd()));
    keep.extend(born_in.as_ref().map(|c| c.as_raw_fd()));
    let helper = Helper {
        close_ranges: process::close_ranges(opts.preserve_fds, &keep),
        sock: child_sock,
        passed_fds: opts.preserve_fds,
        pidfd,
        join,
        root,
        console,
        host_null: finish::host_dev_null(),
        plan,
        cgroup_self_join,
        born_in,
    };
    let forwarding = if opts.detach {
        None
    } else {
        Some(crate::signal::block_forwarded()?)
    };
    // SAFETY: the child only runs `helper_main`, which makes syscalls on the prepared data and
    // leaves through _exit (after its own clone3).
    let helper_pid = match unsafe { sys::clone3(0, None) } {
        Err(e) => {
            if let Some(f) = &forwarding {
                let _ = crate::signal::restore(f);
            }
            return Err(Error::sys("fork the exec helper", e));
        }
        Ok(Forked::Child { .. }) => helper_main(&helper),
        Ok(Forked::Parent(pid)) => pid,
    };
    drop(helper);
    let child = Child::new(helper_pid, parent_sock, SETUP_TIMEOUT);
    let result = parent_side(
        rec,
        &child,
        moved_by_us.then_some(cgroup.as_ref()),
        opts,
        initial_cpus.as_ref(),
        agent.as_ref(),
    )
    .and_then(|pid| match &pidfd_sock {
        Some(sock) => crate::container::send_pidfd(sock, pid, "setns")
            .map(|()| pid)
            .inspect_err(|_| {
                let _ =
                    nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
                let _ = waitpid(Pid::from_raw(pid), None);
            }),
        None => Ok(pid),
    });
    // The helper has done its part (or failed): reap it, never leave it to the caller.
    drop(child);
    let outcome = match result {
        Ok(pid) if opts.detach => Ok(pid),
        Ok(pid) => match &forwarding {
            // exec's one i32 is a pid or a status: a shell's status until it gets an
            // ExitStatus of its own as `run` has.
            Some(f) => crate::signal::forward_until_exit(pid, f).map(|s| match s {
                crate::signal::ExitStatus::Signaled(sig) => 128 + sig.as_raw(),
                crate::signal::ExitStatus::Exited(code) => code,
            }),
            None => Ok(pid),
        },
        Err(e) => Err(e),
    };
    if let Some(f) = &forwarding {
        let _ = crate::signal::restore(f);
    }
    outcome
}

fn parent_side(
    rec: &Record,
    helper: &Child,
    cgroup: Option<&dyn crate::cgroups::CgroupManager>,
    opts: &ExecOptions,
    initial_cpus: Option<&crate::process::attrs::Mask>,
    agent: Option<&crate::seccomp::agent::Agent>,
) -> Result<i32> {
    // execCPUAffinity.initial: where the helper runs while it is moved into the cgroup. Set
    // here, on the helper's pid, so that it is in force before the move without a round trip.
    if let Some(m) = initial_cpus {
        crate::process::attrs::set_affinity_of(helper.pid, m).map_err(|e| helper.error_or(e))?;
    }
    // Not when the helper joins the cgroup by itself (cgroup v1): it does so before it waits.
    cgroup
        .map_or(Ok(()), |c| c.add_pid(helper.pid))
        .map_err(Error::from)
        .and_then(|()| match &rec.intel_rdt {
            Some(g) => g.add(helper.pid),
            None => Ok(()),
        })
        .and_then(|()| helper.send(msg::GO))
        .map_err(|e| helper.error_or(e))?;
    let mut pid = None;
    let mut failure = None;
    // The process may report its listener before the helper reports its pid.
    let mut listener: Option<i32> = None;
    loop {
        let (kind, text) = helper.recv_raw("start the exec'd process")?;
        match kind {
            Some(msg::READY) => pid = text.parse::<i32>().ok(),
            Some(k @ (msg::ERROR | msg::NOT_FOUND)) => {
                failure = crate::child::failure(k, text).err()
            }
            Some(msg::SECCOMP) => listener = Some(process::seccomp_fd(&text)?),
            Some(_) => {}
            // Everyone closed the socket: the helper exited and the process exec'd (or died).
            None => break,
        }
        if let (Some(fd), Some(p), None) = (listener, pid, &failure) {
            listener = None;
            let handed = agent
                .ok_or_else(|| Error::Other("a seccomp listener nobody asked for".into()))
                .and_then(|a| a.hand_over(p, fd))
                .and_then(|()| helper.send(msg::GO));
            if let Err(e) = handed {
                let _ = nix::sys::signal::kill(Pid::from_raw(p), nix::sys::signal::Signal::SIGKILL);
                let _ = waitpid(Pid::from_raw(p), None);
                return Err(e);
            }
        }
    }
    if let Some(e) = failure {
        if let Some(pid) = pid {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        return Err(e);
    }
    let pid = pid.ok_or_else(|| {
        Error::Other(format!(
            "exec in container {}: the helper process exited without starting it",
            rec.id
        ))
    })?;
    if let Some(pf) = &opts.pid_file {
        // The caller cannot track a process whose pid it was not given: end it (runc does).
        if let Err(e) = crate::container::write_pid_file(pf, pid) {
            let _ = nix::sys::signal::kill(Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
            return Err(e);
        }
    }
    Ok(pid)
}

/// The helper: keep only its fds, wait until it is in the cgroup, join the namespaces and the
/// root, spawn the process.
fn helper_main(h: &Helper) -> ! {
    let sock = h.sock.as_raw_fd();
    child::run(Some(sock), || {
        for &(first, last) in &h.close_ranges {
            sys::close_range(first, last, 0).or_fail(|b| write!(b, "close fds {first}..{last}"))?;
        }
        for fd in 3..3 + h.passed_fds as RawFd {
            let _ = sys::clear_cloexec(fd);
        }
        sys::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0)
            .or_fail(|b| write!(b, "prctl(PR_SET_DUMPABLE)"))?;
        h.plan.set_oom_score_adj()?;
        crate::process::init::join_cgroup_by_self(&h.cgroup_self_join)?;
        match child::recv_kind(sock)? {
            msg::GO => {}
            _ => return Err(ChildError::msg(format_args!("the runtime went away"))),
        }
        sys::setns(h.pidfd.as_raw_fd(), h.join)
            .or_fail(|b| write!(b, "join the container's namespaces"))?;
        sys::fchdir(h.root.as_raw_fd()).or_fail(|b| write!(b, "enter the container's root"))?;
        sys::chroot(c".").or_fail(|b| write!(b, "chroot into the container's root"))?;
        // SAFETY: the child only runs `process_main` and leaves through execve or _exit.
        match unsafe {
            sys::clone3(
                libc::CLONE_PARENT as u64,
                h.born_in.as_ref().map(|fd| fd.as_raw_fd()),
            )
        }
        .or_fail(|b| write!(b, "clone3 the exec'd process"))?
        {
            Forked::Child { .. } => child::run(Some(sock), || process_main(h)),
            Forked::Parent(pid) => {
                let mut digits = [0u8; 20];
                let text = child::itoa(pid as u64, &mut digits);
                let _ = sys::send_parts(sock, &[&[msg::READY], text]);
                sys::exit_now(0)
            }
        }
    })
}

fn process_main(h: &Helper) -> CResult<std::convert::Infallible> {
    // The helper's handles on the init and the root are not the process's.
    // SAFETY: the plan is never dropped in this child (it ends in execve or _exit), so these
    // closes are the only ones.
    unsafe {
        libc::close(h.pidfd.as_raw_fd());
        libc::close(h.root.as_raw_fd());
        if let Some(fd) = &h.born_in {
            libc::close(fd.as_raw_fd());
        }
    }
    sys::chdir(c"/").or_fail(|b| write!(b, "chdir /"))?;
    finish::reopen_dev_null(h.host_null)?;
    if let Some(c) = &h.console {
        crate::console::setup(c, h.plan.console_size, false)?;
        // SAFETY: as above.
        unsafe { libc::close(c.as_raw_fd()) };
    }
    let exe = h.plan.prepare()?;
    h.plan.exec(exe)
}
