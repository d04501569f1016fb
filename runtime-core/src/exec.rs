//! `exec`: a new process in a running container's namespaces and cgroup.
//!
//! The runtime forks a helper, which joins the container's cgroup (done by the runtime) and all
//! of its namespaces in one setns on a pidfd, then clone3s the real process with CLONE_PARENT:
//! the new process is born inside the container's pid namespace yet is the runtime's child, so
//! `exec` can wait for it, and after a detached `exec` it goes to the caller (a subreaper).
//! The process reports a setup error over the socket; a successful execve closes the socket.

use std::os::fd::OwnedFd;
use std::path::PathBuf;

use nix::sched::CloneFlags;
use nix::sys::signal::{kill, Signal};
use nix::sys::socket::{socketpair, AddressFamily, SockFlag, SockType};
use nix::sys::wait::waitpid;
use nix::unistd::Pid;
use oci_spec::runtime::Process;

use crate::capabilities::CapPlan;
use crate::error::{Error, Result, SysContext};
use crate::process::{self, Finish, Never, MSG_ERROR, MSG_GO, MSG_READY};
use crate::state::Record;
use crate::sys::{self, Forked};

/// Options of `exec` (runc's flags of the same names).
///
/// ```no_run
/// # let process: oci_spec::runtime::Process = Default::default();
/// let opts = runtime_core::ExecOptions { process, detach: true, ..Default::default() };
/// ```
#[derive(Debug, Clone, Default)]
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
}

/// The namespaces of `pid` that differ from ours: those are the ones to join.
fn namespaces_to_join(pid: i32) -> CloneFlags {
    let mut flags = CloneFlags::empty();
    for (name, flag) in [
        ("mnt", CloneFlags::CLONE_NEWNS),
        ("uts", CloneFlags::CLONE_NEWUTS),
        ("ipc", CloneFlags::CLONE_NEWIPC),
        ("net", CloneFlags::CLONE_NEWNET),
        ("pid", CloneFlags::CLONE_NEWPID),
        ("cgroup", CloneFlags::CLONE_NEWCGROUP),
    ] {
        let theirs = std::fs::read_link(format!("/proc/{pid}/ns/{name}")).ok();
        let ours = std::fs::read_link(format!("/proc/self/ns/{name}")).ok();
        if theirs.is_some() && theirs != ours {
            flags |= flag;
        }
    }
    flags
}

/// Start `opts.process` in the container of `rec`. Returns the process's host pid (detached)
/// or its exit status (attached; 128+n when killed by signal n).
pub(crate) fn exec(rec: &Record, opts: &ExecOptions) -> Result<i32> {
    let p = &opts.process;
    crate::spec::validate_process(p)?;
    let terminal = crate::check_console(p, opts.console_socket.as_deref())?;
    let seccomp = match &rec.seccomp {
        Some(profile) => Some(crate::seccomp::compile(profile)?),
        None => None,
    };
    let exec_plan = process::plan_exec(p)?;
    let caps = CapPlan::new(p.capabilities().as_ref())?;
    let pidfd = sys::pidfd_open(rec.pid).ctx(|| format!("pidfd_open {}", rec.pid))?;
    if !crate::state::is_alive(rec.pid, rec.start_time) {
        return Err(Error::NotRunning(rec.id.clone()));
    }
    let join = namespaces_to_join(rec.pid);
    let console = match &terminal {
        Some(path) => Some(crate::console::connect(path)?),
        None => None,
    };
    let cgroup = crate::cgroups::manager(&rec.cgroup_paths);
    let (parent_sock, child_sock) = socketpair(
        AddressFamily::Unix,
        SockType::SeqPacket,
        None,
        SockFlag::SOCK_CLOEXEC,
    )
    .ctx(|| "socketpair for exec".into())?;
    let forwarding = if opts.detach {
        None
    } else {
        Some(crate::signal::block_forwarded()?)
    };
    let fin = Finish {
        process: p,
        exec: &exec_plan,
        caps: &caps,
        seccomp: seccomp.as_ref(),
        preserve_fds: opts.preserve_fds,
    };
    // SAFETY: single-threaded here; the child leaves through _exit (after its own clone3).
    let helper = match unsafe { sys::clone3(0, None) } {
        Err(e) => return Err(Error::sys("fork the exec helper", e)),
        Ok(Forked::Child) => {
            drop(parent_sock);
            let code = match helper_main(&pidfd, join, &child_sock, console.as_ref(), &fin) {
                Ok(()) => 0,
                Err(e) => {
                    process::send(&child_sock, MSG_ERROR, &e.to_string());
                    1
                }
            };
            sys::exit_now(code)
        }
        Ok(Forked::Parent(pid)) => pid,
    };
    drop(child_sock);
    drop(console);
    let result = parent_side(rec, helper, &parent_sock, cgroup.as_ref(), opts);
    let _ = waitpid(Pid::from_raw(helper), None);
    let outcome = match result {
        Ok(pid) if opts.detach => Ok(pid),
        Ok(pid) => match &forwarding {
            Some(f) => crate::signal::forward_until_exit(pid, f),
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
    helper: i32,
    sock: &OwnedFd,
    cgroup: &dyn crate::cgroups::CgroupManager,
    opts: &ExecOptions,
) -> Result<i32> {
    let go = cgroup
        .add_pid(helper)
        .map_err(Error::from)
        .and_then(|()| process::send_checked(sock, MSG_GO));
    if let Err(e) = go {
        let _ = kill(Pid::from_raw(helper), Signal::SIGKILL);
        return Err(e);
    }
    let mut pid = None;
    let mut failure = None;
    loop {
        let (kind, text) = process::recv(sock).ctx(|| "read from the exec'd process".into())?;
        match kind {
            Some(MSG_READY) => pid = text.parse::<i32>().ok(),
            Some(MSG_ERROR) => failure = Some(text),
            Some(_) => {}
            // Everyone closed the socket: the helper exited and the process exec'd (or died).
            None => break,
        }
    }
    if let Some(msg) = failure {
        if let Some(pid) = pid {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
        }
        return Err(Error::Init(msg));
    }
    let pid = pid.ok_or_else(|| {
        Error::Other(format!(
            "exec in container {}: the helper process exited without starting it",
            rec.id
        ))
    })?;
    if let Some(pf) = &opts.pid_file {
        // The caller cannot track a process whose pid it was not given: end it (runc does).
        if let Err(e) = crate::write_pid_file(pf, pid) {
            let _ = kill(Pid::from_raw(pid), Signal::SIGKILL);
            let _ = waitpid(Pid::from_raw(pid), None);
            return Err(e);
        }
    }
    Ok(pid)
}

/// The helper: wait until it is in the cgroup, join the namespaces, spawn the process.
fn helper_main(
    pidfd: &OwnedFd,
    join: CloneFlags,
    sock: &OwnedFd,
    console: Option<&OwnedFd>,
    fin: &Finish,
) -> Result<()> {
    nix::sys::prctl::set_dumpable(false).ctx(|| "prctl(PR_SET_DUMPABLE)".into())?;
    match process::recv(sock).ctx(|| "read from the runtime".into())? {
        (Some(MSG_GO), _) => {}
        _ => return Err(Error::Other("the runtime went away".into())),
    }
    nix::sched::setns(pidfd, join).ctx(|| "join the container's namespaces".into())?;
    // SAFETY: the helper is single-threaded; the child ends in execve or _exit.
    match unsafe { sys::clone3(libc::CLONE_PARENT as u64, None) }
        .ctx(|| "clone3 the exec'd process".into())?
    {
        Forked::Child => {
            let code = match process_main(console, fin) {
                Ok(never) => match never {},
                Err(e) => {
                    process::report_failure(sock, &e);
                    1
                }
            };
            sys::exit_now(code)
        }
        Forked::Parent(pid) => {
            process::send(sock, MSG_READY, &pid.to_string());
            Ok(())
        }
    }
}

fn process_main(console: Option<&OwnedFd>, fin: &Finish) -> Result<Never> {
    // Same reason as in the init: no fd on the host's /dev/null inside the container.
    process::reopen_dev_null()?;
    if let Some(c) = console {
        crate::console::setup(c, fin.process.console_size().as_ref(), false)?;
    }
    let (exe, env) = fin.prepare()?;
    fin.exec(&exe, &env)
}
