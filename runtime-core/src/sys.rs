//! The raw system calls the runtime makes, each a small wrapper returning the errno.
//!
//! Everything here is safe to call between clone and execve in a child of a multi-threaded
//! program: no wrapper allocates, takes a lock or formats. Paths are `&CStr`s prepared before the
//! clone; results are `OwnedFd`s (whose drop is a bare close(2)) or plain integers.

use std::ffi::CStr;
use std::os::fd::{AsRawFd, FromRawFd, IntoRawFd, OwnedFd, RawFd};
use std::sync::atomic::{AtomicI32, Ordering};

use nix::errno::Errno;

/// While the container's init does its mount work: fds numbered below this are left open by
/// [`defer_close`], for one sweep at the end. 0 (the default, and in every other process)
/// closes at once.
static DEFER_BELOW: AtomicI32 = AtomicI32::new(0);

/// From now on in this process (the init), [`defer_close`] leaves fds below `below` open.
pub(crate) fn defer_closes_below(below: RawFd) {
    DEFER_BELOW.store(below, Ordering::Relaxed);
}

/// Done with `fd`. In the init's mount work it stays open until the sweep that ends that
/// work (every fd there is close-on-exec, and the sweep closes them before the container's
/// rlimits apply): a close(2) each was about 60 syscalls per container. Elsewhere, or at
/// or above the bound (so that many mounts cannot exhaust RLIMIT_NOFILE), it closes now.
pub(crate) fn defer_close(fd: OwnedFd) {
    if fd.as_raw_fd() < DEFER_BELOW.load(Ordering::Relaxed) {
        let _ = fd.into_raw_fd();
    }
}

/// `struct clone_args` of clone3(2), up to the `cgroup` field (CLONE_ARGS_SIZE_VER2).
#[repr(C)]
#[derive(Default)]
struct CloneArgs {
    flags: u64,
    pidfd: u64,
    child_tid: u64,
    parent_tid: u64,
    exit_signal: u64,
    stack: u64,
    stack_size: u64,
    tls: u64,
    set_tid: u64,
    set_tid_size: u64,
    cgroup: u64,
}

/// Place the child in the cgroup2 directory given by `cgroup` (clone3's CLONE_INTO_CGROUP).
pub(crate) const CLONE_INTO_CGROUP: u64 = 0x2_0000_0000;
/// Reset every caught signal to its default in the child (clone3 only).
pub(crate) const CLONE_CLEAR_SIGHAND: u64 = 0x1_0000_0000;

/// What clone3 returned: in the parent the child's pid, in the child zero.
pub(crate) enum Forked {
    /// The parent's side, with the child's pid.
    Parent(i32),
    /// The child's side. `cleared_sighand` is false when the clone(2) fallback ran, which
    /// cannot reset the caller's signal handlers: the child must do it.
    Child { cleared_sighand: bool },
}

/// clone3 with `flags` (CLONE_NEW* and friends), SIGCHLD as exit signal, and optionally born in
/// the cgroup2 directory `cgroup_fd`. Every caught signal is reset to its default in the child.
///
/// Falls back to clone(2) where clone3 is missing or filtered (ENOSYS: an old kernel, or the
/// seccomp profile of an outer container); the caller then joins the cgroup itself, which is
/// why the fallback is refused when `cgroup_fd` is given and clone3 fails for another reason.
///
/// # Safety
/// Like fork: the child runs a copy of the calling thread only. It must restrict itself to
/// async-signal-safe work (syscalls on memory prepared before the clone) until execve or _exit.
pub(crate) unsafe fn clone3(flags: u64, cgroup_fd: Option<RawFd>) -> Result<Forked, Errno> {
    // With CLONE_PARENT the child inherits our exit signal and clone3 wants none given.
    let exit_signal = if flags & libc::CLONE_PARENT as u64 != 0 {
        0
    } else {
        libc::SIGCHLD as u64
    };
    let mut args = CloneArgs {
        flags: flags | CLONE_CLEAR_SIGHAND,
        exit_signal,
        ..Default::default()
    };
    if let Some(fd) = cgroup_fd {
        args.flags |= CLONE_INTO_CGROUP;
        args.cgroup = fd as u64;
    }
    // SAFETY: args is a valid clone_args of the size passed; no stack is given, so the child
    // continues on a copy of ours, as with fork.
    let ret = unsafe {
        libc::syscall(
            libc::SYS_clone3,
            &mut args as *mut CloneArgs,
            std::mem::size_of::<CloneArgs>(),
        )
    };
    match ret {
        -1 if Errno::last() == Errno::ENOSYS && cgroup_fd.is_none() => {
            // SAFETY: as above; clone(2) with a null stack behaves like fork.
            let r = unsafe {
                libc::syscall(
                    libc::SYS_clone,
                    (flags as libc::c_ulong) | exit_signal as libc::c_ulong,
                    0usize,
                    0usize,
                    0usize,
                    0usize,
                )
            };
            match r {
                -1 => Err(Errno::last()),
                0 => Ok(Forked::Child {
                    cleared_sighand: false,
                }),
                pid => Ok(Forked::Parent(pid as i32)),
            }
        }
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child {
            cleared_sighand: true,
        }),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// A plain fork for a short-lived helper of a child (a hook run from inside the container),
/// through clone(2) rather than clone3 so that a seccomp profile of Linux 5.4's days allows
/// it; returns a pidfd for the helper in the parent.
///
/// # Safety
/// As [`clone3`].
pub(crate) unsafe fn fork_with_pidfd() -> Result<Option<(i32, OwnedFd)>, Errno> {
    let mut pidfd: libc::c_int = -1;
    // SAFETY: clone(2) with a null stack is fork; CLONE_PIDFD stores the pidfd at parent_tid.
    let r = unsafe {
        libc::syscall(
            libc::SYS_clone,
            (libc::CLONE_PIDFD | libc::SIGCHLD) as libc::c_ulong,
            0usize,
            &mut pidfd as *mut libc::c_int,
            0usize,
            0usize,
        )
    };
    match r {
        -1 => Err(Errno::last()),
        0 => Ok(None),
        // SAFETY: the kernel just stored a fresh pidfd that nobody else owns.
        pid => Ok(Some((pid as i32, unsafe { OwnedFd::from_raw_fd(pidfd) }))),
    }
}

fn check(r: libc::c_long) -> Result<libc::c_long, Errno> {
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(r)
    }
}

fn check_fd(r: libc::c_long) -> Result<OwnedFd, Errno> {
    // SAFETY: a non-negative return of an fd-creating syscall is a fresh fd that we own.
    check(r).map(|fd| unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// A pidfd for `pid`: signals sent through it reach that process even if the pid is reused later.
pub(crate) fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments.
    check_fd(unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) })
}

/// Send `sig` to the process behind `pidfd`.
pub(crate) fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall; a null siginfo means "as kill(2) would".
    check(unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    })
    .map(drop)
}

/// close_range(2): close (flags 0) or mark close-on-exec every fd in `first..=last`.
pub(crate) fn close_range(first: u32, last: u32, flags: u32) -> Result<(), Errno> {
    // SAFETY: plain syscall with integer arguments.
    check(unsafe { libc::syscall(libc::SYS_close_range, first, last, flags) }).map(drop)
}

/// Clear close-on-exec on `fd` (an fd the container is given).
pub(crate) fn clear_cloexec(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: fcntl on an integer fd; a closed one only returns EBADF.
    check(unsafe { libc::fcntl(fd, libc::F_SETFD, 0) } as libc::c_long).map(drop)
}

/// Terminate the calling process at once, without running destructors or atexit handlers:
/// the only safe way out of a forked child.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}

/// The dirfd meaning "relative to the current directory".
pub(crate) const CWD: RawFd = libc::AT_FDCWD;

/// openat2's resolve flags we use.
pub(crate) const RESOLVE_NO_MAGICLINKS: u64 = 0x02;
/// Resolve as if `dirfd` were the root: `..` and absolute symlinks stay inside it.
pub(crate) const RESOLVE_IN_ROOT: u64 = 0x10;

/// openat2(2) with `resolve` flags.
pub(crate) fn openat2(
    dirfd: RawFd,
    path: &CStr,
    flags: i32,
    mode: u32,
    resolve: u64,
) -> Result<OwnedFd, Errno> {
    /// `struct open_how` (libc's is non-exhaustive).
    #[repr(C)]
    struct OpenHow {
        flags: u64,
        mode: u64,
        resolve: u64,
    }
    let how = OpenHow {
        flags: (flags | libc::O_CLOEXEC) as u64,
        mode: mode as u64,
        resolve,
    };
    loop {
        // SAFETY: path is NUL-terminated and how is a valid open_how of the size passed.
        let r = unsafe {
            libc::syscall(
                libc::SYS_openat2,
                dirfd,
                path.as_ptr(),
                &how as *const OpenHow,
                std::mem::size_of::<OpenHow>(),
            )
        };
        match check_fd(r) {
            // openat2 asks callers to retry when a rename raced with RESOLVE_IN_ROOT.
            Err(Errno::EAGAIN) | Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// openat(2), always close-on-exec.
pub(crate) fn openat(dirfd: RawFd, path: &CStr, flags: i32, mode: u32) -> Result<OwnedFd, Errno> {
    loop {
        // SAFETY: path is NUL-terminated.
        let r = unsafe { libc::openat(dirfd, path.as_ptr(), flags | libc::O_CLOEXEC, mode) };
        match check_fd(r as libc::c_long) {
            Err(Errno::EINTR) => continue,
            other => return other,
        }
    }
}

/// mkdirat(2).
pub(crate) fn mkdirat(dirfd: RawFd, name: &CStr, mode: u32) -> Result<(), Errno> {
    // SAFETY: name is NUL-terminated.
    check(unsafe { libc::mkdirat(dirfd, name.as_ptr(), mode) } as libc::c_long).map(drop)
}

/// mknodat(2).
pub(crate) fn mknodat(dirfd: RawFd, name: &CStr, mode: u32, dev: u64) -> Result<(), Errno> {
    // SAFETY: name is NUL-terminated.
    check(unsafe { libc::mknodat(dirfd, name.as_ptr(), mode, dev) } as libc::c_long).map(drop)
}

/// symlinkat(2): `name` in `dirfd` pointing at `target`.
pub(crate) fn symlinkat(target: &CStr, dirfd: RawFd, name: &CStr) -> Result<(), Errno> {
    // SAFETY: both strings are NUL-terminated.
    check(unsafe { libc::symlinkat(target.as_ptr(), dirfd, name.as_ptr()) } as libc::c_long)
        .map(drop)
}

/// unlinkat(2) of a non-directory.
pub(crate) fn unlinkat(dirfd: RawFd, name: &CStr) -> Result<(), Errno> {
    // SAFETY: name is NUL-terminated.
    check(unsafe { libc::unlinkat(dirfd, name.as_ptr(), 0) } as libc::c_long).map(drop)
}

/// fstatat(2); `flags` such as AT_SYMLINK_NOFOLLOW or AT_EMPTY_PATH.
pub(crate) fn fstatat(dirfd: RawFd, path: &CStr, flags: i32) -> Result<libc::stat, Errno> {
    // SAFETY: an all-zero stat is a valid value for the kernel to overwrite.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: path is NUL-terminated, st is writable.
    check(unsafe { libc::fstatat(dirfd, path.as_ptr(), &mut st, flags) } as libc::c_long)?;
    Ok(st)
}

/// fstat(2) of an fd.
pub(crate) fn fstat(fd: RawFd) -> Result<libc::stat, Errno> {
    fstatat(fd, c"", libc::AT_EMPTY_PATH)
}

/// fchownat(2) with flags (AT_EMPTY_PATH to chown the fd itself, AT_SYMLINK_NOFOLLOW).
pub(crate) fn fchownat(
    dirfd: RawFd,
    path: &CStr,
    uid: u32,
    gid: u32,
    flags: i32,
) -> Result<(), Errno> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::fchownat(dirfd, path.as_ptr(), uid, gid, flags) } as libc::c_long)
        .map(drop)
}

/// faccessat(2) (not faccessat2: profiles of Linux 5.4's days lack it).
pub(crate) fn faccessat(dirfd: RawFd, path: &CStr, mode: i32) -> Result<(), Errno> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::syscall(libc::SYS_faccessat, dirfd, path.as_ptr(), mode) }).map(drop)
}

/// readlinkat(2) into `buf`; returns the length written (not NUL-terminated).
pub(crate) fn readlinkat(dirfd: RawFd, path: &CStr, buf: &mut [u8]) -> Result<usize, Errno> {
    // SAFETY: buf is writable for its length.
    let r = unsafe { libc::readlinkat(dirfd, path.as_ptr(), buf.as_mut_ptr().cast(), buf.len()) };
    check(r as libc::c_long).map(|n| n as usize)
}

/// fchdir(2).
pub(crate) fn fchdir(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: plain syscall.
    check(unsafe { libc::fchdir(fd) } as libc::c_long).map(drop)
}

/// chdir(2) to a prepared path.
pub(crate) fn chdir(path: &CStr) -> Result<(), Errno> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::chdir(path.as_ptr()) } as libc::c_long).map(drop)
}

/// getcwd(2) into `buf`; returns the path without its NUL. The kernel prefixes a directory
/// outside the caller's root with "(unreachable)".
pub(crate) fn getcwd(buf: &mut [u8]) -> Result<&[u8], Errno> {
    // SAFETY: buf is writable for its length; the raw syscall returns the length with the NUL.
    let r = unsafe { libc::syscall(libc::SYS_getcwd, buf.as_mut_ptr(), buf.len()) };
    let n = check(r)? as usize;
    Ok(&buf[..n.saturating_sub(1)])
}

/// dup3(2); `flags` 0 or O_CLOEXEC.
pub(crate) fn dup3(old: RawFd, new: RawFd, flags: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall on integer fds.
    check(unsafe { libc::dup3(old, new, flags) } as libc::c_long).map(drop)
}

/// fcntl(F_DUPFD_CLOEXEC): a copy of `fd` numbered at least `min`.
pub(crate) fn dup_at_least(fd: RawFd, min: RawFd) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall on integer fds.
    check_fd(unsafe { libc::fcntl(fd, libc::F_DUPFD_CLOEXEC, min) } as libc::c_long)
}

/// pipe2(2) with O_CLOEXEC (and `flags`): (read end, write end).
pub(crate) fn pipe(flags: i32) -> Result<(OwnedFd, OwnedFd), Errno> {
    let mut fds = [0 as libc::c_int; 2];
    // SAFETY: fds is writable for two ints.
    check(unsafe { libc::pipe2(fds.as_mut_ptr(), flags | libc::O_CLOEXEC) } as libc::c_long)?;
    // SAFETY: the kernel just gave us these two fds.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// write(2) of all of `buf`, retrying on EINTR and short writes.
pub(crate) fn write_all(fd: RawFd, mut buf: &[u8]) -> Result<(), Errno> {
    while !buf.is_empty() {
        // SAFETY: buf is readable for its length.
        let r = unsafe { libc::write(fd, buf.as_ptr().cast(), buf.len()) };
        match check(r as libc::c_long) {
            Ok(n) => buf = &buf[n as usize..],
            Err(Errno::EINTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}

/// read(2), retrying on EINTR.
pub(crate) fn read(fd: RawFd, buf: &mut [u8]) -> Result<usize, Errno> {
    loop {
        // SAFETY: buf is writable for its length.
        let r = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
        match check(r as libc::c_long) {
            Err(Errno::EINTR) => continue,
            other => return other.map(|n| n as usize),
        }
    }
}

/// send(2) of the concatenation of `parts` as one message (one datagram on a SEQPACKET
/// socket), with MSG_NOSIGNAL so that a vanished peer is an EPIPE, not a fatal SIGPIPE.
pub(crate) fn send_parts(fd: RawFd, parts: &[&[u8]]) -> Result<(), Errno> {
    let mut iov = [libc::iovec {
        iov_base: std::ptr::null_mut(),
        iov_len: 0,
    }; 4];
    let n = parts.len().min(iov.len());
    for (slot, part) in iov.iter_mut().zip(parts) {
        slot.iov_base = part.as_ptr() as *mut libc::c_void;
        slot.iov_len = part.len();
    }
    // SAFETY: an all-zero msghdr is valid; it points at iov, which outlives the call.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov.as_mut_ptr();
    msg.msg_iovlen = n;
    loop {
        // SAFETY: msg is a valid msghdr.
        let r = unsafe { libc::sendmsg(fd, &msg, libc::MSG_NOSIGNAL) };
        match check(r as libc::c_long) {
            Err(Errno::EINTR) => continue,
            other => return other.map(drop),
        }
    }
}

/// The control data of a message carrying one fd (SCM_RIGHTS).
#[repr(C)]
struct OneFd {
    hdr: libc::cmsghdr,
    fd: libc::c_int,
    _pad: libc::c_int,
}

/// A msghdr of one buffer, `iov`, with `cmsg` as its control data; both must outlive its use.
fn one_fd_msg(iov: &mut libc::iovec, cmsg: &mut OneFd) -> libc::msghdr {
    // SAFETY: an all-zero msghdr is valid; the pointers are set below.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = iov;
    msg.msg_iovlen = 1;
    msg.msg_control = (cmsg as *mut OneFd).cast();
    // SAFETY: CMSG_SPACE is a pure computation.
    msg.msg_controllen =
        unsafe { libc::CMSG_SPACE(std::mem::size_of::<libc::c_int>() as u32) } as _;
    msg
}

/// recv(2) of one message into `buf`, with the fd it carries (SCM_RIGHTS, close-on-exec), if
/// any: the byte count and the fd. Syscalls and a stack buffer only (the child calls it).
pub(crate) fn recv_fd(sock: RawFd, buf: &mut [u8]) -> Result<(usize, Option<RawFd>), Errno> {
    // SAFETY: an all-zero cmsghdr + int is valid; the kernel fills it.
    let mut cmsg: OneFd = unsafe { std::mem::zeroed() };
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut msg = one_fd_msg(&mut iov, &mut cmsg);
    let n = loop {
        // SAFETY: msg and everything it points at are valid for the call.
        let r = unsafe { libc::recvmsg(sock, &mut msg, libc::MSG_CMSG_CLOEXEC) };
        match check(r as libc::c_long) {
            Err(Errno::EINTR) => continue,
            other => break other? as usize,
        }
    };
    let carried = msg.msg_controllen as usize >= std::mem::size_of::<libc::cmsghdr>()
        && cmsg.hdr.cmsg_level == libc::SOL_SOCKET
        && cmsg.hdr.cmsg_type == libc::SCM_RIGHTS;
    Ok((n, carried.then_some(cmsg.fd)))
}

/// Send `payload` with one fd attached (SCM_RIGHTS), as a console socket receiver expects.
pub(crate) fn send_fd(sock: RawFd, payload: &[u8], fd: RawFd) -> Result<(), Errno> {
    // SAFETY: an all-zero cmsghdr + int is valid; the fields are set below.
    let mut cmsg: OneFd = unsafe { std::mem::zeroed() };
    // SAFETY: CMSG_LEN is a pure computation.
    cmsg.hdr.cmsg_len = unsafe { libc::CMSG_LEN(std::mem::size_of::<libc::c_int>() as u32) } as _;
    cmsg.hdr.cmsg_level = libc::SOL_SOCKET;
    cmsg.hdr.cmsg_type = libc::SCM_RIGHTS;
    cmsg.fd = fd;
    let mut iov = libc::iovec {
        iov_base: payload.as_ptr() as *mut libc::c_void,
        iov_len: payload.len(),
    };
    let msg = one_fd_msg(&mut iov, &mut cmsg);
    loop {
        // SAFETY: msg and everything it points at are valid for the call.
        let r = unsafe { libc::sendmsg(sock, &msg, libc::MSG_NOSIGNAL) };
        match check(r as libc::c_long) {
            Err(Errno::EINTR) => continue,
            other => return other.map(drop),
        }
    }
}

/// mount(2) with prepared strings.
pub(crate) fn mount(
    source: Option<&CStr>,
    target: &CStr,
    fstype: Option<&CStr>,
    flags: libc::c_ulong,
    data: Option<&CStr>,
) -> Result<(), Errno> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: every pointer is null or a NUL-terminated string.
    check(
        unsafe { libc::mount(p(source), target.as_ptr(), p(fstype), flags, p(data).cast()) }
            as libc::c_long,
    )
    .map(drop)
}

/// umount2(2).
pub(crate) fn umount2(target: &CStr, flags: i32) -> Result<(), Errno> {
    // SAFETY: target is NUL-terminated.
    check(unsafe { libc::umount2(target.as_ptr(), flags) } as libc::c_long).map(drop)
}

/// open_tree(2) flags.
pub(crate) const OPEN_TREE_CLONE: u32 = 1;
/// Apply to the whole tree (open_tree, mount_setattr).
pub(crate) const AT_RECURSIVE: u32 = 0x8000;

/// open_tree(2): with OPEN_TREE_CLONE, a detached copy of the mount at `path` (a bind mount
/// not yet attached anywhere), always close-on-exec.
pub(crate) fn open_tree(dirfd: RawFd, path: &CStr, flags: u32) -> Result<OwnedFd, Errno> {
    // SAFETY: path is NUL-terminated.
    check_fd(unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            dirfd,
            path.as_ptr(),
            flags | libc::O_CLOEXEC as u32,
        )
    })
}

/// Attach the detached mount `from` onto the file or directory `to` refers to.
pub(crate) fn move_mount_fd(from: RawFd, to: RawFd) -> Result<(), Errno> {
    const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
    const MOVE_MOUNT_T_EMPTY_PATH: u32 = 0x40;
    // SAFETY: empty NUL-terminated paths with the EMPTY_PATH flags: the fds are the objects.
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            c"".as_ptr(),
            to,
            c"".as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH | MOVE_MOUNT_T_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// Attach the detached mount `from` onto `name` in the directory `dir`; only for directories
/// nobody else can reach (a tmpfs of ours not yet attached to the container's tree), where a
/// name needs no in-root resolution.
pub(crate) fn move_mount_at(from: RawFd, dir: RawFd, name: &CStr) -> Result<(), Errno> {
    const MOVE_MOUNT_F_EMPTY_PATH: u32 = 0x4;
    // SAFETY: NUL-terminated paths; `from` is the object (F_EMPTY_PATH).
    check(unsafe {
        libc::syscall(
            libc::SYS_move_mount,
            from,
            c"".as_ptr(),
            dir,
            name.as_ptr(),
            MOVE_MOUNT_F_EMPTY_PATH,
        )
    })
    .map(drop)
}

/// Mount attributes (mount_setattr, fsmount).
pub(crate) mod attr {
    /// Read-only.
    pub const RDONLY: u64 = 0x1;
    /// Ignore set-user-id bits.
    pub const NOSUID: u64 = 0x2;
    /// No device files.
    pub const NODEV: u64 = 0x4;
    /// No execution.
    pub const NOEXEC: u64 = 0x8;
    /// The atime mode field (relatime is 0).
    pub const ATIME_MASK: u64 = 0x70;
    /// Never update atime.
    pub const NOATIME: u64 = 0x10;
    /// Always update atime.
    pub const STRICTATIME: u64 = 0x20;
    /// No atime on directories.
    pub const NODIRATIME: u64 = 0x80;
    /// Do not follow symlinks.
    pub const NOSYMFOLLOW: u64 = 0x20_0000;
}

#[repr(C)]
struct MountAttr {
    attr_set: u64,
    attr_clr: u64,
    propagation: u64,
    userns_fd: u64,
}

/// mount_setattr(2) on the mount `fd` refers to (AT_EMPTY_PATH), with AT_RECURSIVE when
/// `recursive`. `propagation` is 0 or one of MS_SHARED/MS_SLAVE/MS_PRIVATE/MS_UNBINDABLE.
pub(crate) fn mount_setattr(
    fd: RawFd,
    recursive: bool,
    set: u64,
    clr: u64,
    propagation: u64,
) -> Result<(), Errno> {
    mount_setattr_full(fd, recursive, set, clr, propagation, 0)
}

/// Make the detached mount `fd` an id-mapped one, with the id maps of the user namespace
/// `userns`.
pub(crate) fn mount_setattr_idmap(fd: RawFd, recursive: bool, userns: RawFd) -> Result<(), Errno> {
    const MOUNT_ATTR_IDMAP: u64 = 0x10_0000;
    mount_setattr_full(fd, recursive, MOUNT_ATTR_IDMAP, 0, 0, userns as u64)
}

fn mount_setattr_full(
    fd: RawFd,
    recursive: bool,
    set: u64,
    clr: u64,
    propagation: u64,
    userns_fd: u64,
) -> Result<(), Errno> {
    let a = MountAttr {
        attr_set: set,
        attr_clr: clr,
        propagation,
        userns_fd,
    };
    let flags = libc::AT_EMPTY_PATH as u32 | if recursive { AT_RECURSIVE } else { 0 };
    // SAFETY: a is a valid mount_attr of the size passed; the path is empty.
    check(unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            fd,
            c"".as_ptr(),
            flags,
            &a as *const MountAttr,
            std::mem::size_of::<MountAttr>(),
        )
    })
    .map(drop)
}

/// fsopen(2): a filesystem context for `fstype`, close-on-exec.
pub(crate) fn fsopen(fstype: &CStr) -> Result<OwnedFd, Errno> {
    const FSOPEN_CLOEXEC: u32 = 1;
    // SAFETY: fstype is NUL-terminated.
    check_fd(unsafe { libc::syscall(libc::SYS_fsopen, fstype.as_ptr(), FSOPEN_CLOEXEC) })
}

/// fsconfig(2) commands.
pub(crate) mod fsconfig_cmd {
    /// A flag parameter (`ro`, `newinstance`).
    pub const SET_FLAG: u32 = 0;
    /// A `key=value` parameter.
    pub const SET_STRING: u32 = 1;
    /// Create the superblock.
    pub const CMD_CREATE: u32 = 6;
}

/// fsconfig(2).
pub(crate) fn fsconfig(
    fd: RawFd,
    cmd: u32,
    key: Option<&CStr>,
    value: Option<&CStr>,
) -> Result<(), Errno> {
    let p = |s: Option<&CStr>| s.map_or(std::ptr::null(), CStr::as_ptr);
    // SAFETY: key and value are null or NUL-terminated; aux is unused by these commands.
    check(unsafe { libc::syscall(libc::SYS_fsconfig, fd, cmd, p(key), p(value), 0) }).map(drop)
}

/// fsmount(2): the context's superblock as a detached mount with `attrs`, close-on-exec.
pub(crate) fn fsmount(fsfd: RawFd, attrs: u64) -> Result<OwnedFd, Errno> {
    const FSMOUNT_CLOEXEC: u32 = 1;
    // SAFETY: plain syscall with integer arguments.
    check_fd(unsafe { libc::syscall(libc::SYS_fsmount, fsfd, FSMOUNT_CLOEXEC, attrs) })
}

/// pivot_root(2).
pub(crate) fn pivot_root(new_root: &CStr, put_old: &CStr) -> Result<(), Errno> {
    // SAFETY: both paths are NUL-terminated.
    check(unsafe { libc::syscall(libc::SYS_pivot_root, new_root.as_ptr(), put_old.as_ptr()) })
        .map(drop)
}

/// chroot(2).
pub(crate) fn chroot(path: &CStr) -> Result<(), Errno> {
    // SAFETY: path is NUL-terminated.
    check(unsafe { libc::chroot(path.as_ptr()) } as libc::c_long).map(drop)
}

/// setns(2).
pub(crate) fn setns(fd: RawFd, nstype: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall.
    check(unsafe { libc::setns(fd, nstype) } as libc::c_long).map(drop)
}

/// shutdown(2) of the sending side of a socket: later sends fail (EPIPE) instead of queueing.
pub(crate) fn shutdown_write(fd: RawFd) -> Result<(), Errno> {
    // SAFETY: plain syscall.
    check(unsafe { libc::shutdown(fd, libc::SHUT_WR) } as libc::c_long).map(drop)
}

/// unshare(2).
pub(crate) fn unshare(flags: i32) -> Result<(), Errno> {
    // SAFETY: plain syscall.
    check(unsafe { libc::unshare(flags) } as libc::c_long).map(drop)
}

/// prctl(2) with up to four integer arguments.
pub(crate) fn prctl(option: i32, a2: u64, a3: u64, a4: u64, a5: u64) -> Result<i32, Errno> {
    // SAFETY: the options we pass take integer arguments.
    check(unsafe { libc::prctl(option, a2, a3, a4, a5) } as libc::c_long).map(|r| r as i32)
}

/// A prepared, NULL-terminated array of C strings for execve.
pub(crate) struct CArgv {
    _strings: Vec<std::ffi::CString>,
    ptrs: Vec<*const libc::c_char>,
}

impl CArgv {
    /// Take ownership of `strings` and point at them.
    pub(crate) fn new(strings: Vec<std::ffi::CString>) -> CArgv {
        let mut ptrs: Vec<*const libc::c_char> = strings.iter().map(|s| s.as_ptr()).collect();
        ptrs.push(std::ptr::null());
        CArgv {
            _strings: strings,
            ptrs,
        }
    }

    fn as_ptr(&self) -> *const *const libc::c_char {
        self.ptrs.as_ptr()
    }
}

/// execve(2) with prepared arrays; returns only on failure.
pub(crate) fn execve(path: &CStr, argv: &CArgv, envp: &CArgv) -> Errno {
    // SAFETY: every array is NULL-terminated and points at live NUL-terminated strings.
    unsafe { libc::execve(path.as_ptr(), argv.as_ptr(), envp.as_ptr()) };
    Errno::last()
}
