//! runc's `tmpcopyup`: a new tmpfs starts with a copy of the directory it covers, keeping
//! modes, owners, symlinks and device nodes. Runs in the init before the tmpfs is attached, so
//! the covered directory is still there; syscalls and stack buffers only.

use std::ffi::CStr;
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, RawFd};

use nix::errno::Errno;

use crate::child::{CResult, ChildError, OrFail};
use crate::sys;

/// How deep a tree we copy before calling it a loop.
const MAX_DEPTH: u32 = 64;

/// Copy the content of the directory `from` (any fd on it) into the directory `to`.
pub(crate) fn tmpcopyup(from: RawFd, to: RawFd) -> CResult<()> {
    let src = sys::openat(from, c".", libc::O_RDONLY | libc::O_DIRECTORY, 0)
        .or_fail(|b| write!(b, "open the covered directory"))?;
    copy_dir(src.as_raw_fd(), to, 0)
}

fn copy_dir(src: RawFd, dst: RawFd, depth: u32) -> CResult<()> {
    if depth > MAX_DEPTH {
        return Err(ChildError::msg(format_args!(
            "directory tree deeper than {MAX_DEPTH} levels"
        )));
    }
    let mut buf = [0u8; 4096];
    loop {
        // SAFETY: buf is writable for its length; getdents64 fills it with dirent64 records.
        let n = unsafe { libc::syscall(libc::SYS_getdents64, src, buf.as_mut_ptr(), buf.len()) };
        if n < 0 {
            return Err(ChildError::sys(
                Errno::last(),
                format_args!("read directory"),
            ));
        }
        if n == 0 {
            return Ok(());
        }
        let mut off = 0usize;
        while off < n as usize {
            // dirent64: d_ino u64, d_off i64, d_reclen u16, d_type u8, d_name NUL-terminated.
            let reclen = u16::from_ne_bytes([buf[off + 16], buf[off + 17]]) as usize;
            let name_bytes = &buf[off + 19..off + reclen];
            off += reclen;
            let Ok(name) = CStr::from_bytes_until_nul(name_bytes) else {
                continue;
            };
            if name == c"." || name == c".." {
                continue;
            }
            copy_entry(src, dst, name, depth)?;
        }
    }
}

fn copy_entry(src: RawFd, dst: RawFd, name: &CStr, depth: u32) -> CResult<()> {
    let st = sys::fstatat(src, name, libc::AT_SYMLINK_NOFOLLOW)
        .or_fail(|b| write!(b, "stat {name:?}"))?;
    let kind = st.st_mode & libc::S_IFMT;
    let perm = st.st_mode & 0o7777;
    match kind {
        libc::S_IFDIR => {
            sys::mkdirat(dst, name, perm).or_fail(|b| write!(b, "mkdir {name:?}"))?;
            let from = sys::openat(
                src,
                name,
                libc::O_RDONLY | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )
            .or_fail(|b| write!(b, "open {name:?}"))?;
            let to = sys::openat(
                dst,
                name,
                libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW,
                0,
            )
            .or_fail(|b| write!(b, "open copy of {name:?}"))?;
            copy_dir(from.as_raw_fd(), to.as_raw_fd(), depth + 1)?;
        }
        libc::S_IFLNK => {
            let mut target = [0u8; 4097];
            let len = sys::readlinkat(src, name, &mut target[..4096])
                .or_fail(|b| write!(b, "readlink {name:?}"))?;
            target[len] = 0;
            let t = CStr::from_bytes_until_nul(&target[..=len])
                .map_err(|_| ChildError::msg(format_args!("symlink {name:?}: bad target")))?;
            sys::symlinkat(t, dst, name).or_fail(|b| write!(b, "symlink {name:?}"))?;
        }
        libc::S_IFREG => {
            let from = sys::openat(src, name, libc::O_RDONLY | libc::O_NOFOLLOW, 0)
                .or_fail(|b| write!(b, "open {name:?}"))?;
            let to = sys::openat(
                dst,
                name,
                libc::O_WRONLY | libc::O_CREAT | libc::O_EXCL | libc::O_NOFOLLOW,
                perm,
            )
            .or_fail(|b| write!(b, "create {name:?}"))?;
            loop {
                // SAFETY: plain syscall on two fds we own; a null offset uses the file position.
                let r = unsafe {
                    libc::sendfile(
                        to.as_raw_fd(),
                        from.as_raw_fd(),
                        std::ptr::null_mut(),
                        1 << 20,
                    )
                };
                match r {
                    0 => break,
                    n if n > 0 => continue,
                    _ if Errno::last() == Errno::EINTR => continue,
                    _ => {
                        return Err(ChildError::sys(
                            Errno::last(),
                            format_args!("copy {name:?}"),
                        ))
                    }
                }
            }
        }
        _ => sys::mknodat(dst, name, st.st_mode, st.st_rdev)
            .or_fail(|b| write!(b, "mknod {name:?}"))?,
    }
    sys::fchownat(dst, name, st.st_uid, st.st_gid, libc::AT_SYMLINK_NOFOLLOW)
        .or_fail(|b| write!(b, "chown {name:?}"))?;
    if kind != libc::S_IFLNK {
        // After the chown, which clears set-id bits.
        // SAFETY: name is NUL-terminated; the entry is ours (a fresh tmpfs) and not a symlink.
        let r = unsafe { libc::fchmodat(dst, name.as_ptr(), perm, 0) };
        if r != 0 {
            return Err(ChildError::sys(
                Errno::last(),
                format_args!("chmod {name:?}"),
            ));
        }
    }
    Ok(())
}
