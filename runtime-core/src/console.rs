//! The container's terminal: a pty made inside the container, whose master goes to the caller
//! over `--console-socket` (one sendmsg, one SCM_RIGHTS fd, as containerd's shim and conmon
//! expect) and whose slave becomes the process's stdio and controlling terminal.

use std::fmt::Write as _;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use crate::child::{CResult, OrFail};
use crate::error::{Error, Result};
use crate::rootfs::resolve;
use crate::sys::{self, CWD};

/// Connect to the caller's console socket, in the runtime, before the container changes its
/// mount namespace (the socket's path is a host path).
pub(crate) fn connect(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path)
        .map_err(|e| Error::io(format!("connect to console socket {}", path.display()), e))?;
    Ok(s.into())
}

/// In the child, after the pivot (its /dev/pts mounted): make the pty, hand the master to the
/// caller, and make the slave our stdio and controlling terminal; with `bind_console`, also
/// /dev/console.
pub(crate) fn setup(sock: &OwnedFd, size: Option<(u16, u16)>, bind_console: bool) -> CResult<()> {
    let root = sys::openat(CWD, c"/", libc::O_PATH | libc::O_DIRECTORY, 0)
        .or_fail(|b| write!(b, "open /"))?;
    let master = resolve::open_in(
        root.as_raw_fd(),
        c"dev/pts/ptmx",
        libc::O_RDWR | libc::O_NOCTTY,
    )
    .or_fail(|b| write!(b, "open /dev/pts/ptmx in the container"))?;
    let m = master.as_raw_fd();
    let unlock: libc::c_int = 0;
    // SAFETY: TIOCSPTLCK reads an int.
    if unsafe { libc::ioctl(m, libc::TIOCSPTLCK, &unlock) } != 0 {
        return Err(nix::errno::Errno::last()).or_fail(|b| write!(b, "unlock the pty"));
    }
    if let Some((rows, cols)) = size {
        let ws = libc::winsize {
            ws_row: rows,
            ws_col: cols,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a valid winsize.
        if unsafe { libc::ioctl(m, libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(nix::errno::Errno::last()).or_fail(|b| write!(b, "set the console size"));
        }
    }
    // The slave by fd (TIOCGPTPEER), never by a /dev/pts/N path looked up again.
    // SAFETY: TIOCGPTPEER takes open flags and returns a new fd.
    let slave = unsafe {
        libc::ioctl(
            m,
            libc::TIOCGPTPEER,
            libc::O_RDWR | libc::O_NOCTTY | libc::O_CLOEXEC,
        )
    };
    if slave < 0 {
        return Err(nix::errno::Errno::last()).or_fail(|b| write!(b, "open the pty's slave"));
    }
    // SAFETY: the kernel just gave us this fd.
    let slave = unsafe { <OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(slave) };
    sys::send_fd(sock.as_raw_fd(), b"/dev/ptmx", m)
        .or_fail(|b| write!(b, "send the console master over the console socket"))?;
    drop(master);
    if bind_console {
        bind_dev_console(root.as_raw_fd(), slave.as_raw_fd())?;
    }
    // SAFETY: plain syscall.
    if unsafe { libc::setsid() } < 0 {
        return Err(nix::errno::Errno::last()).or_fail(|b| write!(b, "setsid"));
    }
    // SAFETY: TIOCSCTTY takes an int argument.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(nix::errno::Errno::last())
            .or_fail(|b| write!(b, "make the pty the controlling terminal"));
    }
    for fd in 0..3 {
        sys::dup3(slave.as_raw_fd(), fd, 0).or_fail(|b| write!(b, "dup the pty onto fd {fd}"))?;
    }
    Ok(())
}

/// Bind the slave on /dev/console (made as an empty file when missing).
fn bind_dev_console(root: std::os::fd::RawFd, slave: std::os::fd::RawFd) -> CResult<()> {
    let dev = resolve::open_in(root, c"dev", libc::O_PATH | libc::O_DIRECTORY)
        .or_fail(|b| write!(b, "open /dev"))?;
    match sys::openat(
        dev.as_raw_fd(),
        c"console",
        libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW,
        0o600,
    ) {
        Ok(_) | Err(nix::errno::Errno::EEXIST) => {}
        Err(e) => return Err(e).or_fail(|b| write!(b, "create /dev/console")),
    }
    let target = sys::openat(
        dev.as_raw_fd(),
        c"console",
        libc::O_PATH | libc::O_NOFOLLOW,
        0,
    )
    .or_fail(|b| write!(b, "open /dev/console"))?;
    let tree = sys::open_tree(
        slave,
        c"",
        sys::OPEN_TREE_CLONE | libc::AT_EMPTY_PATH as u32,
    )
    .or_fail(|b| write!(b, "bind the pty on /dev/console"))?;
    sys::move_mount_fd(tree.as_raw_fd(), target.as_raw_fd())
        .or_fail(|b| write!(b, "bind the pty on /dev/console"))
}
