//! Keeping the program's own binary out of the containers' reach (the CVE-2019-5736 class).
//!
//! Every process this library makes for a container (the init, the exec helper and the process
//! it starts) is a clone of the calling program: until it calls execve, its `/proc/<pid>/exe` is
//! the program's binary. A container whose command is a `#!/proc/self/exe` script makes such a
//! process execute that binary inside the container, where the container's root can open its
//! `/proc/<pid>/exe` and, once it has exited, write to it; with CAP_SYS_PTRACE it can even open
//! the init or an exec'd process before their execve. The next run of the program on the host
//! then runs the container's code as root.
//!
//! [`protect_binary`] closes this by re-executing the program once, at its start, from a file
//! that cannot be written whatever path reaches it:
//!
//! 1. a read-only view of the binary: `open_tree(OPEN_TREE_CLONE)` of `/proc/self/exe`, made
//!    read-only with `mount_setattr`, executed with `execveat(AT_EMPTY_PATH)`. The view is a
//!    detached mount of that one file: it is in no mount namespace once our descriptor closes at
//!    execve, so nobody (not even CAP_SYS_ADMIN) can remount it read-write or clone it, and
//!    opening `/proc/<pid>/exe` for writing gives EROFS (ETXTBSY while it runs). It costs one
//!    execve and no copy; it needs CAP_SYS_ADMIN and Linux 5.12.
//! 2. otherwise (rootless, older kernels, a seccomp filter that forbids the mount API, a binary
//!    reached through another mount namespace), a copy of the binary in a memfd sealed against
//!    writes, resizes and further seals, as runc does: writing gives EPERM. It costs a copy of
//!    the binary on every start.
//!
//! A binary that already lives on a read-only mount is left as it is: then there is nothing to
//! pay at all (install the binary on a read-only filesystem, or bind-mount it read-only onto
//! itself, to skip the re-execution).

use std::ffi::{CStr, CString};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicU8, Ordering};

use nix::errno::Errno;

use crate::error::{Error, Result};

const SELF_EXE: &CStr = c"/proc/self/exe";

/// The seals a copy must carry to count as protected: no writes, no resizing, no changing the
/// seals.
const SEALS: libc::c_int =
    libc::F_SEAL_SEAL | libc::F_SEAL_SHRINK | libc::F_SEAL_GROW | libc::F_SEAL_WRITE;

/// How the running program's binary is protected from the containers it makes.
///
/// ```no_run
/// match runtime_core::protection()? {
///     Some(p) => println!("protected: {p:?}"),
///     None => println!("call runtime_core::protect_binary() first"),
/// }
/// # Ok::<(), runtime_core::Error>(())
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Protection {
    /// `/proc/self/exe` is on a read-only mount: the read-only view [`protect_binary`] made, or
    /// a read-only filesystem the program was installed on.
    ReadOnlyMount,
    /// `/proc/self/exe` is a sealed in-memory copy of the binary.
    SealedCopy,
}

/// How `/proc/self/exe` is protected now; `None` when a container could write to it through a
/// process this library makes. [`Runtime::create`](crate::Runtime::create) and
/// [`Runtime::exec`](crate::Runtime::exec) refuse to run in that case.
///
/// ```no_run
/// assert!(runtime_core::protection()?.is_some(), "not protected");
/// # Ok::<(), runtime_core::Error>(())
/// ```
pub fn protection() -> Result<Option<Protection>> {
    // A binary once protected stays so until the next execve (which resets this): a detached
    // read-only view cannot be remounted by the containers, seals cannot be removed.
    match KNOWN.load(Ordering::Relaxed) {
        1 => return Ok(Some(Protection::ReadOnlyMount)),
        2 => return Ok(Some(Protection::SealedCopy)),
        _ => {}
    }
    let exe = open_self_exe()?;
    let p = classify(&exe)?;
    remember(p);
    Ok(p)
}

fn remember(p: Option<Protection>) {
    let v = match p {
        Some(Protection::ReadOnlyMount) => 1,
        Some(Protection::SealedCopy) => 2,
        None => 0,
    };
    KNOWN.store(v, Ordering::Relaxed);
}

/// What [`classify`] last found (0: nothing yet or unprotected), so that `create` does not
/// open and fstatvfs /proc/self/exe again after `protect_binary` did.
static KNOWN: AtomicU8 = AtomicU8::new(0);

/// Make sure no container can write to this program's binary through the processes the library
/// makes for it: re-executes the program, once, from a read-only view of its binary (or from a
/// sealed copy when the view cannot be made). Returns in the re-executed program, saying how
/// the binary is protected; returns at once when it already is.
///
/// What an embedding program must do:
///
/// - Call it first thing in `main`, before starting threads and before doing anything that
///   must not happen twice: execve replaces the process (same pid, same argv and environment,
///   the descriptors that are not close-on-exec stay open; signal handlers are reset), and
///   everything before the call runs again in the re-executed program.
/// - Not rely on `/proc/self/exe` (`std::env::current_exe`) afterwards: it names the view
///   (`/`) or the copy (`/memfd:...`), not the installed path.
/// - Stop on an error instead of making containers: [`Runtime::create`] and
///   [`Runtime::exec`] refuse to run unprotected.
///
/// A program installed on a read-only mount is not re-executed at all. Errors name both ways
/// that failed.
///
/// [`Runtime::create`]: crate::Runtime::create
/// [`Runtime::exec`]: crate::Runtime::exec
///
/// ```no_run
/// // First thing in main: the program may be executed again from here.
/// if let Err(e) = runtime_core::protect_binary() {
///     eprintln!("{e}");
///     std::process::exit(1);
/// }
/// let rt = runtime_core::Runtime::new("/run/my-engine");
/// rt.create("web", &runtime_core::CreateOptions::new("/srv/bundles/web"))?;
/// # Ok::<(), runtime_core::Error>(())
/// ```
pub fn protect_binary() -> Result<Protection> {
    let exe = open_self_exe()?;
    if let Some(p) = classify(&exe)? {
        remember(Some(p));
        return Ok(p);
    }
    let argv: Vec<CString> = std::env::args_os()
        .map(|a| CString::new(a.as_bytes()))
        .collect::<std::result::Result<_, _>>()
        .map_err(|_| Error::Other("an argument of this program contains a NUL byte".into()))?;
    let view_err = match read_only_view() {
        Ok(view) => reexec(&view, &argv),
        Err(e) => e,
    };
    let copy_err = match sealed_copy(&exe) {
        Ok(copy) => reexec(&copy, &argv),
        Err(e) => e,
    };
    Err(Error::Other(format!(
        "cannot keep this program's binary out of the containers' reach (CVE-2019-5736): \
         read-only view: {view_err}; sealed copy: {copy_err} \
         (installing the binary on a read-only mount avoids both)"
    )))
}

/// The refusal of [`Runtime::create`](crate::Runtime::create) and `exec` in a program that did
/// not call [`protect_binary`].
pub(crate) fn require_protection() -> Result<()> {
    match protection()? {
        Some(_) => Ok(()),
        None => Err(Error::Other(
            "this program's binary is writable through /proc/self/exe, so a container could \
             overwrite it (CVE-2019-5736): call runtime_core::protect_binary() at the start of \
             main"
                .into(),
        )),
    }
}

fn open_self_exe() -> Result<OwnedFd> {
    // SAFETY: open of a NUL-terminated path; the fd is owned below.
    let fd = unsafe { libc::open(SELF_EXE.as_ptr(), libc::O_RDONLY | libc::O_CLOEXEC) };
    if fd < 0 {
        return Err(Error::sys("open /proc/self/exe", Errno::last()));
    }
    // SAFETY: fd was just opened and is owned by nobody else.
    Ok(unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Whether a file, executed, would be out of the containers' reach.
fn classify(fd: &OwnedFd) -> Result<Option<Protection>> {
    // SAFETY: statvfs is plain data; fstatvfs fills it.
    let mut st: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and a valid buffer.
    if unsafe { libc::fstatvfs(fd.as_raw_fd(), &mut st) } != 0 {
        return Err(Error::sys("fstatvfs /proc/self/exe", Errno::last()));
    }
    // f_flag carries the mount's flags as well as the superblock's.
    if st.f_flag & libc::ST_RDONLY != 0 {
        return Ok(Some(Protection::ReadOnlyMount));
    }
    // SAFETY: F_GET_SEALS only reads; it fails (EINVAL) on anything but a memfd.
    let seals = unsafe { libc::fcntl(fd.as_raw_fd(), libc::F_GET_SEALS) };
    if seals >= 0 && seals & SEALS == SEALS {
        return Ok(Some(Protection::SealedCopy));
    }
    Ok(None)
}

/// A read-only, detached mount of the binary alone.
fn read_only_view() -> Result<OwnedFd> {
    // SAFETY: open_tree reads a NUL-terminated path; the fd is owned below.
    let fd = unsafe {
        libc::syscall(
            libc::SYS_open_tree,
            libc::AT_FDCWD,
            SELF_EXE.as_ptr(),
            libc::OPEN_TREE_CLONE | libc::OPEN_TREE_CLOEXEC,
        )
    };
    if fd < 0 {
        return Err(Error::sys("open_tree /proc/self/exe", Errno::last()));
    }
    // SAFETY: fd was just returned by the kernel and is ours.
    let view = unsafe { OwnedFd::from_raw_fd(fd as i32) };
    // SAFETY: mount_attr is plain data.
    let mut attr: libc::mount_attr = unsafe { std::mem::zeroed() };
    attr.attr_set = libc::MOUNT_ATTR_RDONLY | libc::MOUNT_ATTR_NOSUID | libc::MOUNT_ATTR_NODEV;
    // SAFETY: a valid fd, an empty path with AT_EMPTY_PATH and a buffer of the given size.
    let r = unsafe {
        libc::syscall(
            libc::SYS_mount_setattr,
            view.as_raw_fd(),
            c"".as_ptr(),
            libc::AT_EMPTY_PATH,
            &attr as *const libc::mount_attr,
            std::mem::size_of::<libc::mount_attr>(),
        )
    };
    if r != 0 {
        return Err(Error::sys(
            "make the view of /proc/self/exe read-only (mount_setattr)",
            Errno::last(),
        ));
    }
    Ok(view)
}

/// A copy of the binary in a memfd, sealed so that nobody can change it.
fn sealed_copy(exe: &OwnedFd) -> Result<OwnedFd> {
    // SAFETY: plain data, filled by fstat.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    // SAFETY: a valid fd and buffer.
    if unsafe { libc::fstat(exe.as_raw_fd(), &mut st) } != 0 {
        return Err(Error::sys("fstat /proc/self/exe", Errno::last()));
    }
    let name = c"sealed-exe";
    let flags = libc::MFD_CLOEXEC | libc::MFD_ALLOW_SEALING;
    // MFD_EXEC (Linux 6.3) keeps a vm.memfd_noexec=1 host from making the copy non-executable;
    // older kernels refuse the unknown flag, and then need no flag for it.
    // SAFETY: a NUL-terminated name; the fd is owned below.
    let mut fd = unsafe { libc::memfd_create(name.as_ptr(), flags | libc::MFD_EXEC) };
    if fd < 0 && Errno::last() == Errno::EINVAL {
        // SAFETY: as above.
        fd = unsafe { libc::memfd_create(name.as_ptr(), flags) };
    }
    if fd < 0 {
        return Err(Error::sys("memfd_create", Errno::last()));
    }
    // SAFETY: fd was just returned by the kernel and is ours.
    let copy = unsafe { OwnedFd::from_raw_fd(fd) };
    let mut offset: libc::off_t = 0;
    while offset < st.st_size {
        let left = (st.st_size - offset) as usize;
        // SAFETY: two valid fds and a valid offset pointer.
        let n = unsafe { libc::sendfile(copy.as_raw_fd(), exe.as_raw_fd(), &mut offset, left) };
        match n {
            n if n > 0 => {}
            0 => {
                return Err(Error::Other(format!(
                    "copy /proc/self/exe: it ended at {offset} of {} bytes",
                    st.st_size
                )))
            }
            _ if Errno::last() == Errno::EINTR => {}
            _ => {
                return Err(Error::sys(
                    "copy /proc/self/exe into a memfd",
                    Errno::last(),
                ))
            }
        }
    }
    // Best effort: F_SEAL_EXEC (Linux 6.3) also freezes the mode bits.
    // SAFETY: fcntl on our fd.
    let _ = unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, libc::F_SEAL_EXEC) };
    // SAFETY: fcntl on our fd.
    if unsafe { libc::fcntl(copy.as_raw_fd(), libc::F_ADD_SEALS, SEALS) } != 0 {
        return Err(Error::sys("seal the copy of /proc/self/exe", Errno::last()));
    }
    Ok(copy)
}

/// Execute `file` with our own argv and environment; returns only the reason it failed.
fn reexec(file: &OwnedFd, argv: &[CString]) -> Error {
    // Checked on the very file we execute: if the kernel did not give us a protected file, the
    // re-executed program would not see one either and would re-execute itself forever.
    match classify(file) {
        Ok(Some(_)) => {}
        Ok(None) => return Error::Other("the kernel left the new file writable".into()),
        Err(e) => return e,
    }
    extern "C" {
        static environ: *const *const libc::c_char;
    }
    let mut args: Vec<*const libc::c_char> = argv.iter().map(|a| a.as_ptr()).collect();
    args.push(std::ptr::null());
    // SAFETY: args is a NULL-terminated array of NUL-terminated strings that outlive the call;
    // environ is the process's own NULL-terminated environment.
    unsafe {
        libc::syscall(
            libc::SYS_execveat,
            file.as_raw_fd(),
            c"".as_ptr(),
            args.as_ptr(),
            environ,
            libc::AT_EMPTY_PATH,
        );
    }
    Error::sys("execveat of the protected binary", Errno::last())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_copy_counts_as_protected_and_refuses_writes() {
        let exe = open_self_exe().expect("open /proc/self/exe");
        let copy = sealed_copy(&exe).expect("sealed copy");
        assert_eq!(classify(&copy).unwrap(), Some(Protection::SealedCopy));
        let path = CString::new(format!("/proc/self/fd/{}", copy.as_raw_fd())).unwrap();
        // SAFETY: open/write/close on our own fds.
        unsafe {
            let w = libc::open(path.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
            if w >= 0 {
                let r = libc::write(w, b"x".as_ptr().cast(), 1);
                assert_eq!(
                    (r, Errno::last()),
                    (-1, Errno::EPERM),
                    "a write went through"
                );
                libc::close(w);
            }
        }
    }

    #[test]
    fn a_writable_file_is_not_protected_and_a_read_only_view_is() {
        let path = std::env::temp_dir().join(format!("baleia-selfexe-{}", std::process::id()));
        std::fs::write(&path, b"x").unwrap();
        let f: OwnedFd = std::fs::File::open(&path).unwrap().into();
        let _ = std::fs::remove_file(&path);
        assert_eq!(classify(&f).unwrap(), None, "a plain file in {path:?}");
        // The view needs CAP_SYS_ADMIN: as root (how the suite runs), it must work.
        if nix::unistd::geteuid().is_root() {
            let view = read_only_view().expect("read-only view of /proc/self/exe");
            assert_eq!(classify(&view).unwrap(), Some(Protection::ReadOnlyMount));
        }
    }
}
