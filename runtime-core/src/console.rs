//! The container's terminal: a pty made inside the container, whose master goes to the caller
//! over `--console-socket` (one sendmsg, one SCM_RIGHTS fd, as containerd's shim and conmon
//! expect) and whose slave becomes the process's stdio and controlling terminal.

use std::io::IoSlice;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::Path;

use nix::fcntl::OFlag;
use nix::mount::{mount, MsFlags};
use nix::pty::{grantpt, posix_openpt, ptsname_r, unlockpt};
use nix::sys::socket::{sendmsg, ControlMessage, MsgFlags};
use nix::sys::stat::Mode;

use crate::error::{Error, Result, SysContext};

/// Connect to the caller's console socket, in the runtime, before the container changes its
/// mount namespace (the socket's path is a host path).
pub(crate) fn connect(path: &Path) -> Result<OwnedFd> {
    let s = UnixStream::connect(path)
        .map_err(|e| Error::io(format!("connect to console socket {}", path.display()), e))?;
    Ok(s.into())
}

/// In the container (its /dev/pts mounted): make the pty, hand the master to the caller, and
/// make the slave our stdio and controlling terminal; with `bind_console`, also /dev/console.
pub(crate) fn setup(
    sock: &OwnedFd,
    size: Option<&oci_spec::runtime::Box>,
    bind_console: bool,
) -> Result<()> {
    let master = posix_openpt(OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC)
        .ctx(|| "open /dev/ptmx in the container".into())?;
    grantpt(&master).ctx(|| "grantpt".into())?;
    unlockpt(&master).ctx(|| "unlockpt".into())?;
    let slave_path = ptsname_r(&master).ctx(|| "ptsname".into())?;
    if let Some(sz) = size {
        let ws = libc::winsize {
            ws_row: sz.height() as u16,
            ws_col: sz.width() as u16,
            ws_xpixel: 0,
            ws_ypixel: 0,
        };
        // SAFETY: TIOCSWINSZ reads a valid winsize.
        if unsafe { libc::ioctl(master.as_raw_fd(), libc::TIOCSWINSZ, &ws) } != 0 {
            return Err(Error::sys(
                "set the console size",
                nix::errno::Errno::last(),
            ));
        }
    }
    let slave = nix::fcntl::open(
        slave_path.as_str(),
        OFlag::O_RDWR | OFlag::O_NOCTTY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open {slave_path}"))?;
    let payload = b"/dev/ptmx";
    let fds = [master.as_raw_fd()];
    sendmsg::<()>(
        sock.as_raw_fd(),
        &[IoSlice::new(payload)],
        &[ControlMessage::ScmRights(&fds)],
        MsgFlags::empty(),
        None,
    )
    .ctx(|| "send the console master over the console socket".into())?;
    drop(master);
    if bind_console {
        let console = Path::new("/dev/console");
        if std::fs::symlink_metadata(console).is_err() {
            std::fs::File::create(console).map_err(|e| Error::path("create", console, e))?;
        }
        mount(
            Some(slave_path.as_str()),
            console,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| format!("bind {slave_path} on /dev/console"))?;
    }
    nix::unistd::setsid().ctx(|| "setsid".into())?;
    // SAFETY: TIOCSCTTY takes an int argument.
    if unsafe { libc::ioctl(slave.as_raw_fd(), libc::TIOCSCTTY, 0) } != 0 {
        return Err(Error::sys(
            format!("make {slave_path} the controlling terminal"),
            nix::errno::Errno::last(),
        ));
    }
    for fd in 0..3 {
        // SAFETY: dup2 onto the standard fds, which we own in this process.
        if unsafe { libc::dup2(slave.as_raw_fd(), fd) } < 0 {
            return Err(Error::sys(
                format!("dup {slave_path} onto fd {fd}"),
                nix::errno::Errno::last(),
            ));
        }
    }
    Ok(())
}
