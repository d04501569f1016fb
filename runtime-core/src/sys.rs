//! The few raw system calls that neither nix nor libc wrap: clone3, pidfd_open,
//! pidfd_send_signal, close_range. Each wrapper is small and returns the errno.

use std::os::fd::{FromRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

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

/// What clone3 returned: in the parent the child's pid, in the child zero.
pub(crate) enum Forked {
    Parent(i32),
    Child,
}

/// clone3 with `flags` (CLONE_NEW* and friends), SIGCHLD as exit signal, and optionally born in
/// the cgroup2 directory `cgroup_fd`.
///
/// # Safety
/// Like fork: the child runs a copy of the calling thread only. The caller must be
/// single-threaded, or the child must restrict itself to async-signal-safe work until execve.
pub(crate) unsafe fn clone3(flags: u64, cgroup_fd: Option<RawFd>) -> Result<Forked, Errno> {
    // With CLONE_PARENT the child inherits our exit signal and clone3 wants none given.
    let exit_signal = if flags & libc::CLONE_PARENT as u64 != 0 {
        0
    } else {
        libc::SIGCHLD as u64
    };
    let mut args = CloneArgs {
        flags,
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
        -1 => Err(Errno::last()),
        0 => Ok(Forked::Child),
        pid => Ok(Forked::Parent(pid as i32)),
    }
}

/// A pidfd for `pid`: signals sent through it reach that process even if the pid is reused later.
pub(crate) fn pidfd_open(pid: i32) -> Result<OwnedFd, Errno> {
    // SAFETY: plain syscall with integer arguments.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(Errno::last());
    }
    // SAFETY: the kernel just gave us this fd and nobody else owns it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as RawFd) })
}

/// Send `sig` to the process behind `pidfd`.
pub(crate) fn pidfd_send_signal(pidfd: &OwnedFd, sig: i32) -> Result<(), Errno> {
    use std::os::fd::AsRawFd;
    // SAFETY: plain syscall; a null siginfo means "as kill(2) would".
    let r = unsafe {
        libc::syscall(
            libc::SYS_pidfd_send_signal,
            pidfd.as_raw_fd(),
            sig,
            std::ptr::null::<libc::siginfo_t>(),
            0,
        )
    };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Mark every fd from `first` upwards close-on-exec, so nothing of the runtime leaks into the
/// container (CVE-2024-21626 was a leaked fd).
pub(crate) fn cloexec_from(first: u32) -> Result<(), Errno> {
    const CLOSE_RANGE_CLOEXEC: u32 = 1 << 2;
    // SAFETY: plain syscall with integer arguments.
    let r = unsafe { libc::syscall(libc::SYS_close_range, first, u32::MAX, CLOSE_RANGE_CLOEXEC) };
    if r < 0 {
        Err(Errno::last())
    } else {
        Ok(())
    }
}

/// Terminate the calling process at once, without running destructors or atexit handlers:
/// the only safe way out of a forked child.
pub(crate) fn exit_now(code: i32) -> ! {
    // SAFETY: _exit is async-signal-safe and never returns.
    unsafe { libc::_exit(code) }
}
