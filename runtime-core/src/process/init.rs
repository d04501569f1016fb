//! The container's init, between clone3 and execve: a list of small steps, top to bottom.
//!
//! Everything here runs in a clone of the caller (see `crate::child`): it walks the [`Init`]
//! plan the parent made and only makes syscalls. It reports "ready" (or an error) over the sync
//! socket, blocks on the exec fifo until `start`, and ends in execve or `_exit`.

use std::ffi::CString;
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use super::finish::{self, ProcessPlan};
use crate::child::{self, msg, CResult, ChildError, OrFail};
use crate::container_hooks::HookSet;
use crate::rootfs::{self, RootfsPlan};
use crate::sys::{self, Forked, CWD};

/// A namespace joined by path.
pub(crate) struct Join {
    pub fd: OwnedFd,
    pub nstype: i32,
    pub shown: String,
}

/// When one clone3 cannot make the container's namespaces, its child ("the middle") makes them
/// and forks the init into them: joining namespaces owned by the host must come before a new
/// user namespace (which would own the new ones), a joined user namespace must come before
/// anything it owns, and a new pid or time namespace made by unshare (time offsets must be
/// written before any process is in it) only applies to the children of the unsharer. The init
/// is forked with CLONE_PARENT, so that it is the runtime's child as in the one-clone case.
pub(crate) struct TwoStep {
    /// New namespaces to unshare after the joins (and the user namespace).
    pub unshare: i32,
    /// /proc/self/timens_offsets content, for a new time namespace with offsets.
    pub time_offsets: Option<CString>,
    /// New namespaces the init is forked into: CLONE_NEWPID and/or CLONE_NEWTIME.
    pub fork_into: i32,
    /// Wait for the parent to put us in the (v1) cgroup before forking the init.
    pub wait_for_cgroup: bool,
}

/// Everything the init needs, prepared by the parent.
pub(crate) struct Init {
    /// The init's end of the sync socket.
    pub sock: OwnedFd,
    /// fds 3..3+N the container is given (LISTEN_FDS, --preserve-fds).
    pub passed_fds: u32,
    /// Ranges of fds to close right after the clone (everything but stdio, the passed fds and
    /// our own working fds).
    pub close_ranges: Vec<(u32, u32)>,
    /// The cgroup files the init writes "0" into to join its cgroup itself (v1 `tasks`,
    /// without a user namespace); empty when the runtime moves it.
    pub cgroup_self_join: Vec<CString>,
    /// The runtime makes the cgroup while we make our namespaces: join it once it says GO
    /// (`wait_for_cgroup`), not first thing.
    pub join_after_go: bool,
    /// New namespaces we unshare ourselves first thing, instead of clone3 making them in the
    /// runtime's time (see `join_after_go`).
    pub unshare_first: i32,
    /// The GO that says the cgroup is made carries our new network namespace (made on a thread
    /// of the runtime, see `NetnsAhead`): join it then.
    pub netns_at_go: bool,
    /// The mount work's fds below this stay open until it ends (see `sys::defer_close`):
    /// half the caller's RLIMIT_NOFILE, at most 256.
    pub defer_fds_below: RawFd,
    /// The session keyring to join (none with --no-new-keyring).
    pub keyring: Option<CString>,
    pub joins: Vec<Join>,
    /// The network namespace is new (not joined): its `lo` is ours to bring up.
    pub new_netns: bool,
    /// The parent that writes our id maps is not root: it (and newuidmap) can only open our
    /// /proc files while we are dumpable.
    pub dumpable_for_maps: bool,
    pub hostname: Option<CString>,
    pub domainname: Option<CString>,
    /// The exec fifo, opened read-write by the parent (before any user namespace could keep
    /// us from opening the host's state directory); none for `run`, which does not wait.
    pub fifo: Option<OwnedFd>,
    pub rootfs: RootfsPlan,
    /// The parent moves us into the cgroup (v1) while we mount, or makes it while we make our
    /// namespaces (`join_after_go`): wait for its word.
    pub wait_for_cgroup: bool,
    /// The cgroup does not exist before the parent puts us in it: wait for that before
    /// preparing the mounts.
    pub cgroup_before_mounts: bool,
    /// We are in a new user namespace (made by clone3, or by the middle process of
    /// `two_step`): the parent writes its id maps when asked, then we become its root.
    pub new_user: bool,
    /// Namespaces the kernel will not let one clone3 make: the clone's child joins and
    /// unshares them, then forks the init (see [`TwoStep`]).
    pub two_step: Option<TwoStep>,
    /// A new cgroup namespace, unshared once we are in the cgroup.
    pub late_cgroupns: bool,
    /// prestart/createRuntime hooks: the parent runs them when we ask.
    pub runtime_hooks: bool,
    pub create_hooks: HookSet,
    pub start_hooks: HookSet,
    pub console: Option<OwnedFd>,
    /// The host's /dev/null device, for stdio to be reopened on the container's.
    pub host_null: Option<libc::dev_t>,
    pub process: ProcessPlan,
}

/// The init's whole life. Never returns.
pub(crate) fn main(init: &Init, cleared_sighand: bool) -> ! {
    let sock = init.sock.as_raw_fd();
    child::run(Some(sock), || init.run(cleared_sighand))
}

/// A signal handler for the time before execve: a created container's init must die on the
/// signals that end a program by default (runc's init, a Go program, does), although as the
/// pid namespace's init it would otherwise ignore them.
extern "C" fn die(sig: libc::c_int) {
    sys::exit_now(128 + sig)
}

impl Init {
    fn run(&self, cleared_sighand: bool) -> CResult<std::convert::Infallible> {
        self.keep_only_our_fds()?;
        // First: whatever the init allocates from here on is charged to the container, and the
        // process forked in two-step mode inherits the cgroup.
        if !self.join_after_go {
            join_cgroup_by_self(&self.cgroup_self_join)?;
        }
        sys::defer_closes_below(self.defer_fds_below);
        self.take_signals(cleared_sighand)?;
        self.die_with_parent()?;
        sys::prctl(libc::PR_SET_DUMPABLE, 0, 0, 0, 0)
            .or_fail(|b| write!(b, "prctl(PR_SET_DUMPABLE)"))?;
        match &self.two_step {
            Some(t) => self.make_namespaces_and_fork(t)?,
            None => {
                if self.new_user {
                    self.become_root_of_new_user_namespace()?;
                }
                if self.unshare_first != 0 {
                    sys::unshare(self.unshare_first)
                        .or_fail(|b| write!(b, "unshare the container's namespaces"))?;
                }
                self.join_namespaces()?;
            }
        }
        // Only the hooks' state needs it.
        let host_pid = if self.create_hooks.is_empty() && self.start_hooks.is_empty() {
            0
        } else {
            host_pid()?
        };
        self.join_keyring()?;
        self.bring_up_loopback()?;
        self.set_names()?;
        // A cgroup made only once we exist (a systemd scope) must be there before the cgroup
        // mount binds it; otherwise joining it runs while we mount.
        if self.cgroup_before_mounts {
            self.wait_for_cgroup()?;
        }
        let prepared = rootfs::prepare(&self.rootfs)?;
        if !self.cgroup_before_mounts {
            self.wait_for_cgroup()?;
        }
        self.unshare_cgroupns()?;
        self.run_runtime_hooks()?;
        self.create_hooks.run(host_pid)?;
        rootfs::enter(&self.rootfs, &prepared)?;
        finish::reopen_dev_null(self.host_null)?;
        rootfs::finish(&self.rootfs, prepared)?;
        self.close_mount_work_fds()?;
        if let Some(c) = &self.console {
            crate::console::setup(c, self.process.console_size, true)?;
            // SAFETY: the plan is never dropped in the child (it ends in execve or _exit), so
            // closing the socket here cannot be repeated; nothing in the container may reach it.
            unsafe { libc::close(c.as_raw_fd()) };
        }
        let exe = self.process.prepare()?;
        self.ready()?;
        // Until the runtime has recorded us (see ReadyInit): a runtime killed before that
        // closes the socket, and we exit here rather than wait on the fifo unrecorded.
        expect_go(self.sock.as_raw_fd())?;
        match &self.fifo {
            // `start` comes from another process: by then `create` has exited, so a failure's
            // report cannot be sent and goes to stderr.
            Some(fifo) => wait_for_start(fifo)?,
            // `run` goes on without waiting and keeps its end open: shut ours, so that a
            // failure from here on (an execve that fails) reaches stderr, not a socket that
            // nobody reads any more.
            None => sys::shutdown_write(self.sock.as_raw_fd())
                .or_fail(|b| write!(b, "shutdown of the socket to the runtime"))?,
        }
        self.start_hooks.run(host_pid)?;
        self.process.exec(exe)
    }

    /// Close every fd the container must not have: the caller's, the state store's lock, the
    /// cgroup directory... (CVE-2024-21626 was a leaked fd). Our own working fds are kept (they
    /// are close-on-exec), and the passed ones lose close-on-exec.
    fn keep_only_our_fds(&self) -> CResult<()> {
        for &(first, last) in &self.close_ranges {
            sys::close_range(first, last, 0).or_fail(|b| write!(b, "close fds {first}..{last}"))?;
        }
        for fd in 3..3 + self.passed_fds as RawFd {
            match sys::clear_cloexec(fd) {
                Ok(()) | Err(Errno::EBADF) => {}
                Err(e) => return Err(ChildError::sys(e, format_args!("pass fd {fd}"))),
            }
        }
        Ok(())
    }

    /// The sweep that ends the mount work: the fds it left open are all in the ranges closed
    /// at the start (whatever it opened took the lowest free numbers, and the fds we keep are
    /// outside those ranges). Nothing owns them any more: the mount work handed them to
    /// `sys::defer_close`, and from here on fds close at once again.
    fn close_mount_work_fds(&self) -> CResult<()> {
        sys::defer_closes_below(0);
        for &(first, last) in &self.close_ranges {
            sys::close_range(first, last, 0)
                .or_fail(|b| write!(b, "close the mount work's fds {first}..{last}"))?;
        }
        Ok(())
    }

    fn take_signals(&self, cleared_sighand: bool) -> CResult<()> {
        if !cleared_sighand {
            // The clone(2) fallback keeps the caller's handlers, which must never run here.
            for sig in 1..=64 {
                // SAFETY: resetting a disposition to the default is always sound; the kernel
                // refuses SIGKILL/SIGSTOP and invalid numbers, which we ignore.
                unsafe {
                    let mut old: libc::sigaction = std::mem::zeroed();
                    if libc::sigaction(sig, std::ptr::null(), &mut old) == 0
                        && old.sa_sigaction != libc::SIG_IGN
                        && old.sa_sigaction != libc::SIG_DFL
                    {
                        libc::signal(sig, libc::SIG_DFL);
                    }
                }
            }
        }
        for sig in [libc::SIGTERM, libc::SIGINT, libc::SIGHUP, libc::SIGQUIT] {
            // SAFETY: `die` only calls _exit, which is async-signal-safe.
            unsafe {
                let mut sa: libc::sigaction = std::mem::zeroed();
                sa.sa_sigaction = die as extern "C" fn(libc::c_int) as usize;
                libc::sigemptyset(&mut sa.sa_mask);
                if libc::sigaction(sig, &sa, std::ptr::null_mut()) != 0 {
                    return Err(Errno::last()).or_fail(|b| write!(b, "sigaction {sig}"));
                }
            }
        }
        // `run` blocks the signals it forwards before creating us; the init takes them.
        // SAFETY: emptying the signal mask is always sound.
        unsafe {
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        }
        Ok(())
    }

    /// A runtime killed during setup must not leave a half-made init behind. Cleared once the
    /// init is ready, since `create` then exits. (A parent that died before this prctl is seen
    /// on the sync socket, which the init reads or writes before it is ready.)
    fn die_with_parent(&self) -> CResult<()> {
        sys::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL as u64, 0, 0, 0)
            .map(drop)
            .or_fail(|b| write!(b, "prctl(PR_SET_PDEATHSIG)"))
    }

    fn join_keyring(&self) -> CResult<()> {
        let Some(name) = &self.keyring else {
            return Ok(());
        };
        const KEYCTL_JOIN_SESSION_KEYRING: libc::c_long = 1;
        // SAFETY: keyctl reads a NUL-terminated name.
        let r =
            unsafe { libc::syscall(libc::SYS_keyctl, KEYCTL_JOIN_SESSION_KEYRING, name.as_ptr()) };
        match r {
            // Keyrings may be unavailable (ENOSYS) or disallowed by a seccomp filter of an outer
            // container: runc treats that as "no keyring", not as an error.
            -1 if matches!(Errno::last(), Errno::ENOSYS | Errno::EPERM) => Ok(()),
            -1 => Err(Errno::last()).or_fail(|b| write!(b, "join a new session keyring")),
            _ => Ok(()),
        }
    }

    fn join_namespaces(&self) -> CResult<()> {
        for j in &self.joins {
            sys::setns(j.fd.as_raw_fd(), j.nstype)
                .or_fail(|b| write!(b, "join namespace {}", j.shown))?;
            // SAFETY: the plan is never dropped in the child (it ends in execve or _exit), so
            // this close is the only one; closing early keeps a host namespace out of reach of
            // anything in the container.
            unsafe { libc::close(j.fd.as_raw_fd()) };
        }
        Ok(())
    }

    /// runc and crun bring `lo` up in a network namespace they create, never in a joined one:
    /// anything that talks to 127.0.0.1 inside needs it.
    fn bring_up_loopback(&self) -> CResult<()> {
        if self.new_netns {
            crate::netlink::loopback_up()
                .or_fail(|b| write!(b, "bring up the loopback interface"))?;
        }
        Ok(())
    }

    fn set_names(&self) -> CResult<()> {
        if let Some(h) = &self.hostname {
            // SAFETY: h points to h.len() valid bytes.
            if unsafe { libc::sethostname(h.as_ptr(), h.as_bytes().len()) } != 0 {
                return Err(Errno::last()).or_fail(|b| write!(b, "sethostname {h:?}"));
            }
        }
        if let Some(d) = &self.domainname {
            // SAFETY: d points to d.len() valid bytes.
            if unsafe { libc::setdomainname(d.as_ptr(), d.as_bytes().len()) } != 0 {
                return Err(Errno::last()).or_fail(|b| write!(b, "setdomainname {d:?}"));
            }
        }
        Ok(())
    }

    /// Ask the parent to write our new user namespace's id maps, then become its root (until
    /// then we have no ids in it; the kernel uid is still the host's).
    fn become_root_of_new_user_namespace(&self) -> CResult<()> {
        // Only for the moment of the writes, as runc does: nothing of the container runs yet,
        // and we have no ids in the namespace until they are written.
        let dumpable = |on: u64| {
            sys::prctl(libc::PR_SET_DUMPABLE, on, 0, 0, 0)
                .or_fail(|b| write!(b, "prctl(PR_SET_DUMPABLE, {on})"))
        };
        if self.dumpable_for_maps {
            dumpable(1)?;
        }
        send(self.sock.as_raw_fd(), msg::USERNS)?;
        expect_go(self.sock.as_raw_fd())?;
        if self.dumpable_for_maps {
            dumpable(0)?;
        }
        become_root("the user namespace")
    }

    /// The middle process of [`TwoStep`]: join, make the user namespace, unshare the rest,
    /// fork the init into them, and (in the middle) tell the parent its pid and leave.
    fn make_namespaces_and_fork(&self, t: &TwoStep) -> CResult<()> {
        self.join_namespaces()?;
        if self.new_user {
            sys::unshare(libc::CLONE_NEWUSER)
                .or_fail(|b| write!(b, "unshare the user namespace"))?;
        }
        if t.fork_into & libc::CLONE_NEWTIME != 0 {
            // Before we become the user namespace's root: /proc/self of a non-dumpable process
            // stays the host root's, which we still are.
            sys::unshare(libc::CLONE_NEWTIME)
                .or_fail(|b| write!(b, "unshare the time namespace"))?;
            if let Some(offsets) = &t.time_offsets {
                let fd = sys::openat(CWD, c"/proc/self/timens_offsets", libc::O_WRONLY, 0)
                    .or_fail(|b| write!(b, "open /proc/self/timens_offsets"))?;
                sys::write_all(fd.as_raw_fd(), offsets.to_bytes())
                    .or_fail(|b| write!(b, "write the time offsets {offsets:?}"))?;
            }
        }
        if self.new_user {
            self.become_root_of_new_user_namespace()?;
        } else if self.joins.iter().any(|j| j.nstype == libc::CLONE_NEWUSER) {
            // setns(2) keeps our host ids, which a joined namespace does not map: files we
            // made in it (the /dev tmpfs's nodes) would fail with EOVERFLOW.
            become_root("the joined user namespace")?;
        }
        if t.unshare != 0 {
            sys::unshare(t.unshare).or_fail(|b| write!(b, "unshare the container's namespaces"))?;
        }
        if t.fork_into & libc::CLONE_NEWPID != 0 {
            sys::unshare(libc::CLONE_NEWPID).or_fail(|b| write!(b, "unshare the pid namespace"))?;
        }
        if t.wait_for_cgroup {
            expect_go(self.sock.as_raw_fd())?;
        }
        // SAFETY: the child goes on with the init's steps (syscalls only); the middle leaves
        // through _exit.
        match unsafe { sys::clone3(libc::CLONE_PARENT as u64, None) }
            .or_fail(|b| write!(b, "fork the container's init"))?
        {
            Forked::Child { .. } => self.die_with_parent(),
            Forked::Parent(pid) => {
                let mut digits = [0u8; 20];
                let text = child::itoa(pid as u64, &mut digits);
                let _ = sys::send_parts(self.sock.as_raw_fd(), &[&[msg::PID], text]);
                sys::exit_now(0)
            }
        }
    }

    /// Moving a process between cgroup v1 hierarchies costs the parent an RCU grace period
    /// (milliseconds); it runs while we mount, and we only wait for it here, before anything
    /// that must happen inside the cgroup: the cgroup namespace, hooks, execve.
    fn wait_for_cgroup(&self) -> CResult<()> {
        if self.netns_at_go {
            self.join_netns_sent_with_go()?;
        } else if self.wait_for_cgroup {
            expect_go(self.sock.as_raw_fd())?;
        }
        if self.join_after_go {
            join_cgroup_by_self(&self.cgroup_self_join)?;
        }
        Ok(())
    }

    fn join_netns_sent_with_go(&self) -> CResult<()> {
        let mut b = [0u8; 1];
        let (n, fd) = sys::recv_fd(self.sock.as_raw_fd(), &mut b)
            .or_fail(|b| write!(b, "read from the runtime"))?;
        let Some(fd) = fd.filter(|_| n == 1 && b[0] == msg::GO) else {
            return Err(if n == 0 {
                ChildError::msg(format_args!("the runtime went away during setup"))
            } else {
                ChildError::msg(format_args!(
                    "the runtime's GO (message {:?}) came without the network namespace",
                    b[0] as char
                ))
            });
        };
        sys::setns(fd, libc::CLONE_NEWNET)
            .or_fail(|b| write!(b, "join the container's new network namespace"))?;
        // SAFETY: our own fd, just received; nothing else refers to it.
        unsafe { libc::close(fd) };
        Ok(())
    }

    fn unshare_cgroupns(&self) -> CResult<()> {
        if self.late_cgroupns {
            sys::unshare(libc::CLONE_NEWCGROUP)
                .or_fail(|b| write!(b, "unshare the cgroup namespace"))?;
        }
        Ok(())
    }

    fn run_runtime_hooks(&self) -> CResult<()> {
        if self.runtime_hooks {
            send(self.sock.as_raw_fd(), msg::HOOKS)?;
            expect_go(self.sock.as_raw_fd())?;
        }
        Ok(())
    }

    /// Tell the runtime we are ready, and stop dying with it: `create` exits now.
    fn ready(&self) -> CResult<()> {
        sys::prctl(libc::PR_SET_PDEATHSIG, 0, 0, 0, 0)
            .or_fail(|b| write!(b, "prctl(PR_SET_PDEATHSIG, 0)"))?;
        send(self.sock.as_raw_fd(), msg::READY)
    }
}

fn send(sock: RawFd, kind: u8) -> CResult<()> {
    sys::send_parts(sock, &[&[kind]]).or_fail(|b| write!(b, "write to the runtime"))
}

/// Join a cgroup by writing "0" (this thread) into each of `files`: see
/// `CgroupManager::self_join_files`. The caller is single-threaded, so this moves the process.
pub(crate) fn join_cgroup_by_self(files: &[CString]) -> CResult<()> {
    for f in files {
        let fd = sys::openat(CWD, f, libc::O_WRONLY, 0)
            .or_fail(|b| write!(b, "join the cgroup: open {f:?}"))?;
        sys::write_all(fd.as_raw_fd(), b"0").or_fail(|b| write!(b, "join the cgroup {f:?}"))?;
    }
    Ok(())
}

fn expect_go(sock: RawFd) -> CResult<()> {
    match child::recv_kind(sock)? {
        msg::GO => Ok(()),
        _ => Err(ChildError::msg(format_args!(
            "the runtime went away during setup"
        ))),
    }
}

/// Block until `start` writes its byte into the fifo.
fn wait_for_start(fifo: &OwnedFd) -> CResult<()> {
    let mut byte = [0u8; 1];
    sys::read(fifo.as_raw_fd(), &mut byte).or_fail(|b| write!(b, "wait on the exec fifo"))?;
    Ok(())
}

/// Our pid as the host sees it (the hooks' state needs it): before any mount changes, /proc is
/// the host's and /proc/self names it.
fn host_pid() -> CResult<i32> {
    let mut buf = [0u8; 32];
    let n = sys::readlinkat(CWD, c"/proc/self", &mut buf)
        .or_fail(|b| write!(b, "readlink /proc/self"))?;
    Ok(child::parse_u64(&buf[..n]).unwrap_or(0) as i32)
}

/// The C string for a keyring name, prepared in the parent.
pub(crate) fn keyring_name(id: &str) -> Option<CString> {
    CString::new(format!("_ses.{id}")).ok()
}

/// Become uid and gid 0 of the user namespace we are in (`which` names it in the error).
fn become_root(which: &'static str) -> CResult<()> {
    // Raw syscalls: glibc's would wait for the caller's other threads (see capabilities).
    // SAFETY: plain syscalls with integer arguments.
    unsafe {
        if libc::syscall(libc::SYS_setresgid, 0, 0, 0) != 0 {
            return Err(Errno::last()).or_fail(|b| write!(b, "become gid 0 in {which}"));
        }
        if libc::syscall(libc::SYS_setresuid, 0, 0, 0) != 0 {
            return Err(Errno::last()).or_fail(|b| write!(b, "become uid 0 in {which}"));
        }
    }
    Ok(())
}
