//! The last steps of every container process (the init and exec'd ones), inside the
//! container's namespaces and root: limits, stdio, umask, cwd, seccomp, user and capabilities,
//! the executable lookup, then execve. [`ProcessPlan`] is made in the parent; its methods run
//! in the child and only make syscalls.
//!
//! Seccomp without no_new_privs must be installed while we still hold CAP_SYS_ADMIN, so before
//! the user switch, and everything the runtime does after it must be allowed by profiles as old
//! as Linux 5.4 (the same calls runc makes after loading its own filter): prctl, setgroups,
//! setresgid, setresuid, capset, fchdir and getcwd (only when the cwd could not be entered as
//! root), newfstatat and faccessat (the executable lookup), write and read (the sync socket and
//! the exec fifo), clone, pipe2, poll, wait4 and execve (startContainer hooks), rt_sigaction,
//! rt_sigprocmask and execve. close_range, openat2 and the mount API all come before it.
//! A filter that notifies an agent (SCMP_ACT_NOTIFY) is always installed at the first point,
//! while the runtime still listens on the sync socket to hand the listener over; `read` and
//! `sendmsg`, which that hand-off uses, may not be notified (the compiler refuses it).

use std::ffi::{CStr, CString};
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use oci_spec::runtime::{PosixRlimitType, Process};

use super::attrs::{Attrs, ContainerAttrs};
use crate::capabilities::{self, CapPlan, UserPlan};
use crate::child::{Buf, CResult, ChildError, OrFail};
use crate::error::{Error, Result};
use crate::rootfs::resolve::{self, InRoot};
use crate::seccomp::Program;
use crate::sys::{self, CArgv, CWD};

fn cstring(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Spec(format!("{what} {s:?} contains a NUL byte")))
}

/// How the executable is found (as execvp would, in the container's PATH).
struct Exe {
    /// argv[0] as the user wrote it, for messages.
    name: String,
    /// argv[0] when it holds a slash.
    direct: Option<CString>,
    /// Each `$PATH` directory joined with argv[0].
    candidates: Vec<CString>,
}

/// One rlimit to set.
struct Rlimit {
    resource: libc::__rlimit_resource_t,
    limit: libc::rlimit,
    shown: String,
}

/// Everything a container process needs from the spec's `process`, prepared in the parent.
pub(crate) struct ProcessPlan {
    rlimits: Vec<Rlimit>,
    oom_score_adj: Option<CString>,
    user: UserPlan,
    caps: CapPlan,
    seccomp: Option<Program>,
    cwd: InRoot,
    umask: u32,
    argv: CArgv,
    envp: CArgv,
    exe: Exe,
    /// The process's `console_size` as (rows, columns).
    pub(crate) console_size: Option<(u16, u16)>,
    /// Scheduler, I/O priority, CPU affinity, memory policy, personality.
    pub(crate) attrs: Attrs,
    /// The child's end of the sync socket, over which a seccomp listener is handed to the
    /// runtime (set once the socket exists).
    pub(crate) sync_sock: Option<RawFd>,
}

fn rlimit_resource(t: PosixRlimitType) -> libc::__rlimit_resource_t {
    match t {
        PosixRlimitType::RlimitCpu => libc::RLIMIT_CPU,
        PosixRlimitType::RlimitFsize => libc::RLIMIT_FSIZE,
        PosixRlimitType::RlimitData => libc::RLIMIT_DATA,
        PosixRlimitType::RlimitStack => libc::RLIMIT_STACK,
        PosixRlimitType::RlimitCore => libc::RLIMIT_CORE,
        PosixRlimitType::RlimitRss => libc::RLIMIT_RSS,
        PosixRlimitType::RlimitNproc => libc::RLIMIT_NPROC,
        PosixRlimitType::RlimitNofile => libc::RLIMIT_NOFILE,
        PosixRlimitType::RlimitMemlock => libc::RLIMIT_MEMLOCK,
        PosixRlimitType::RlimitAs => libc::RLIMIT_AS,
        PosixRlimitType::RlimitLocks => libc::RLIMIT_LOCKS,
        PosixRlimitType::RlimitSigpending => libc::RLIMIT_SIGPENDING,
        PosixRlimitType::RlimitMsgqueue => libc::RLIMIT_MSGQUEUE,
        PosixRlimitType::RlimitNice => libc::RLIMIT_NICE,
        PosixRlimitType::RlimitRtprio => libc::RLIMIT_RTPRIO,
        PosixRlimitType::RlimitRttime => libc::RLIMIT_RTTIME,
    }
}

/// The home directory of `uid` in a passwd file's text.
fn home_of(passwd: &str, uid: u32) -> Option<String> {
    passwd.lines().find_map(|l| {
        let f: Vec<&str> = l.split(':').collect();
        (f.len() >= 6 && f[2].parse() == Ok(uid)).then(|| f[5].to_string())
    })
}

/// The container's /etc/passwd, read from `root` (an fd on the container's root) without
/// leaving it.
pub(crate) fn read_passwd(root: RawFd) -> Option<String> {
    let fd = resolve::open_in(root, c"etc/passwd", libc::O_RDONLY).ok()?;
    crate::readfile::read_whole_fd(std::fs::File::from(fd)).ok()
}

impl ProcessPlan {
    /// For a user namespace whose setgroups is denied: the process keeps the (empty) groups
    /// the namespace gave it, and asking for additionalGids is an error, as with runc.
    pub(crate) fn without_setgroups(&mut self) -> Result<()> {
        if !self.user.groups.is_empty() {
            return Err(Error::Spec(
                "process.user.additionalGids cannot be set: setgroups is denied in the \
                 container's user namespace (a non-root caller mapped its own gid; map more \
                 gids with newgidmap to allow it)"
                    .into(),
            ));
        }
        self.user.set_groups = false;
        Ok(())
    }

    /// Prepare `p`; `passwd` is the container's /etc/passwd when known (for HOME); `exec` is
    /// true for a process exec'd into a running container; `container` holds the settings of
    /// the spec's `linux` that every process gets.
    pub(crate) fn new(
        p: &Process,
        seccomp: Option<Program>,
        passwd: Option<&str>,
        exec: bool,
        container: ContainerAttrs,
    ) -> Result<ProcessPlan> {
        let attrs = Attrs::new(p, exec, container)?;
        let args = p.args().as_deref().unwrap_or(&[]);
        let name = args
            .first()
            .ok_or_else(|| Error::Spec("args must not be empty".into()))?
            .clone();
        let argv = args
            .iter()
            .map(|a| cstring(a, "argument"))
            .collect::<Result<Vec<_>>>()?;
        let env_list: Vec<&String> = p.env().iter().flatten().collect();
        let mut envp = env_list
            .iter()
            .map(|e| cstring(e, "environment variable"))
            .collect::<Result<Vec<_>>>()?;
        if !env_list.iter().any(|e| e.starts_with("HOME=")) {
            let home = passwd
                .and_then(|t| home_of(t, p.user().uid()))
                .unwrap_or_else(|| "/".into());
            envp.push(cstring(&format!("HOME={home}"), "HOME")?);
        }
        let path_var = env_list
            .iter()
            .rev()
            .find_map(|e| e.strip_prefix("PATH="))
            .unwrap_or("");
        let (direct, candidates) = if name.contains('/') {
            (Some(cstring(&name, "executable")?), Vec::new())
        } else {
            let c = path_var
                .split(':')
                .map(|dir| {
                    let dir = if dir.is_empty() { "." } else { dir };
                    cstring(&format!("{dir}/{name}"), "executable path")
                })
                .collect::<Result<Vec<_>>>()?;
            (None, c)
        };
        let rlimits = p
            .rlimits()
            .iter()
            .flatten()
            .map(|r| Rlimit {
                resource: rlimit_resource(r.typ()),
                limit: libc::rlimit {
                    rlim_cur: r.soft(),
                    rlim_max: r.hard(),
                },
                shown: format!("{:?} (soft {}, hard {})", r.typ(), r.soft(), r.hard()),
            })
            .collect();
        Ok(ProcessPlan {
            rlimits,
            oom_score_adj: match p.oom_score_adj() {
                Some(v) => Some(cstring(&v.to_string(), "oomScoreAdj")?),
                None => None,
            },
            user: UserPlan::new(p),
            caps: CapPlan::new(p.capabilities().as_ref())?,
            seccomp,
            cwd: InRoot::new(p.cwd())?,
            umask: p.user().umask().unwrap_or(0o022),
            argv: CArgv::new(argv),
            envp: CArgv::new(envp),
            exe: Exe {
                name,
                direct,
                candidates,
            },
            console_size: p
                .console_size()
                .as_ref()
                .map(|b| (b.height() as u16, b.width() as u16)),
            attrs,
            sync_sock: None,
        })
    }

    fn nnp(&self) -> bool {
        self.user.no_new_privs
    }

    /// The value for /proc/<pid>/oom_score_adj, which the runtime writes for the init.
    pub(crate) fn oom_score_adj(&self) -> Option<&CStr> {
        self.oom_score_adj.as_deref()
    }

    /// oom_score_adj is inherited: the exec helper sets its own, through the host's /proc,
    /// before it joins the container.
    pub(crate) fn set_oom_score_adj(&self) -> CResult<()> {
        let Some(v) = &self.oom_score_adj else {
            return Ok(());
        };
        let fd = sys::openat(CWD, c"/proc/self/oom_score_adj", libc::O_WRONLY, 0)
            .or_fail(|b| write!(b, "open /proc/self/oom_score_adj"))?;
        sys::write_all(fd.as_raw_fd(), v.to_bytes())
            .or_fail(|b| write!(b, "write oom_score_adj {v:?}"))
    }

    /// Everything up to the executable lookup, in the container's root; returns the path to
    /// execve.
    pub(crate) fn prepare(&self) -> CResult<&CStr> {
        // In the cgroup already, and before seccomp and the capability drop (see attrs).
        self.attrs.apply()?;
        for r in &self.rlimits {
            // SAFETY: prlimit on ourselves with a valid rlimit.
            if unsafe { libc::prlimit(0, r.resource, &r.limit, std::ptr::null_mut()) } != 0 {
                return Err(Errno::last()).or_fail(|b| write!(b, "setrlimit {}", r.shown));
            }
        }
        fix_stdio_ownership(self.user.uid)?;
        // SAFETY: umask only changes this process's mask.
        unsafe { libc::umask(self.umask) };
        let root = sys::openat(CWD, c"/", libc::O_PATH | libc::O_DIRECTORY, 0)
            .or_fail(|b| write!(b, "open /"))?;
        // "/" is our root itself (looked up from it just now): nothing to resolve, and no way
        // for it to be outside.
        let at_root = self.cwd.name().is_none();
        let cwd = if at_root {
            root
        } else {
            resolve::open_in(
                root.as_raw_fd(),
                self.cwd.rel(),
                libc::O_PATH | libc::O_DIRECTORY,
            )
            .or_fail(|b| {
                write!(
                    b,
                    "chdir to cwd ({}) set in config.json failed",
                    self.cwd.shown
                )
            })?
        };
        // As root first: a directory only its owner may enter is still ours to enter (runc
        // does the same); only a refusal is retried as the user.
        let entered = match sys::fchdir(cwd.as_raw_fd()) {
            Ok(()) => true,
            Err(Errno::EACCES | Errno::EPERM) => false,
            Err(e) => {
                return Err(ChildError::sys(
                    e,
                    format_args!(
                        "chdir to cwd ({}) set in config.json failed",
                        self.cwd.shown
                    ),
                ))
            }
        };
        if entered && !at_root {
            check_cwd(&self.cwd)?;
        }
        if let Some(prog) = &self.seccomp {
            // Without no_new_privs, installing a filter needs CAP_SYS_ADMIN. A filter with a
            // listener goes here too, while the runtime still listens on the sync socket (an
            // init's runtime is gone once it is ready), as runc installs it before its "ready".
            if !self.nnp() || prog.notifies() {
                self.install_seccomp(prog)?;
            }
        }
        capabilities::switch_user(&self.user, &self.caps)?;
        if !entered {
            sys::fchdir(cwd.as_raw_fd()).or_fail(|b| {
                write!(
                    b,
                    "chdir to cwd ({}) set in config.json failed",
                    self.cwd.shown
                )
            })?;
            if !at_root {
                check_cwd(&self.cwd)?;
            }
        }
        drop(cwd);
        self.find_executable()
    }

    /// The executable as execvp would find it; the error texts are runc's, which podman and
    /// Docker match to choose exit codes 126 and 127.
    fn find_executable(&self) -> CResult<&CStr> {
        let name = self.exe.name.as_str();
        if let Some(p) = &self.exe.direct {
            return match executable(p) {
                Ok(()) => Ok(p),
                Err(Errno::ENOENT) => Err(ChildError::msg(format_args!(
                    "exec: \"{name}\": stat {name}: no such file or directory"
                ))
                .executable_not_found()),
                Err(e) => {
                    let mut err = ChildError::msg(format_args!("exec: \"{name}\": "));
                    lowercase(&mut err.text, e.desc());
                    Err(err)
                }
            };
        }
        let mut denied = false;
        for c in &self.exe.candidates {
            match executable(c) {
                Ok(()) => return Ok(c),
                Err(Errno::EACCES) => denied = true,
                Err(_) => {}
            }
        }
        if denied {
            return Err(
                ChildError::msg(format_args!("exec: \"{name}\": permission denied"))
                    .executable_not_found(),
            );
        }
        Err(ChildError::msg(format_args!(
            "exec: \"{name}\": executable file not found in $PATH"
        ))
        .executable_not_found())
    }

    /// Reset signals, install seccomp when it goes last, and execve.
    pub(crate) fn exec(&self, exe: &CStr) -> CResult<std::convert::Infallible> {
        // Rust ignores SIGPIPE and ignored signals survive execve: give the container defaults.
        // SAFETY: resetting a disposition to the default and emptying the mask are always sound.
        unsafe {
            libc::signal(libc::SIGPIPE, libc::SIG_DFL);
            let mut empty: libc::sigset_t = std::mem::zeroed();
            libc::sigemptyset(&mut empty);
            libc::sigprocmask(libc::SIG_SETMASK, &empty, std::ptr::null_mut());
        }
        if let Some(prog) = self
            .seccomp
            .as_ref()
            .filter(|p| self.nnp() && !p.notifies())
        {
            // With no_new_privs the filter goes last, so that setup syscalls are not filtered.
            self.install_seccomp(prog)?;
        }
        let e = sys::execve(exe, &self.argv, &self.envp);
        Err(ChildError::sys(e, format_args!("exec {exe:?}")))
    }
}

impl ProcessPlan {
    /// Install the filter; with a listener, send its number to the runtime (one sendmsg),
    /// wait for its GO (one read: the agent has its copy then) and close ours, so that
    /// nothing in the container can answer its own notifications.
    fn install_seccomp(&self, prog: &Program) -> CResult<()> {
        let listener = prog
            .install()
            .map_err(|e| ChildError::msg(format_args!("{e}")))?;
        let Some(listener) = listener else {
            return Ok(());
        };
        let sock = self.sync_sock.ok_or_else(|| {
            ChildError::msg(format_args!(
                "seccomp: no channel to hand the listener to the runtime"
            ))
        })?;
        let mut digits = [0u8; 20];
        let n = crate::child::itoa(listener.as_raw_fd() as u64, &mut digits);
        sys::send_parts(sock, &[&[crate::child::msg::SECCOMP], n])
            .or_fail(|b| write!(b, "hand the seccomp listener to the runtime"))?;
        match crate::child::recv_kind(sock)? {
            crate::child::msg::GO => {}
            _ => {
                return Err(ChildError::msg(format_args!(
                    "the runtime went away while handing the seccomp listener to the agent"
                )))
            }
        }
        drop(listener);
        Ok(())
    }
}

fn lowercase<const N: usize>(buf: &mut Buf<N>, s: &str) {
    for c in s.chars() {
        let _ = buf.write_char(c.to_ascii_lowercase());
    }
}

fn executable(p: &CStr) -> std::result::Result<(), Errno> {
    let st = sys::fstatat(CWD, p, 0)?;
    if st.st_mode & libc::S_IFMT == libc::S_IFDIR {
        return Err(Errno::EACCES);
    }
    sys::faccessat(CWD, p, libc::X_OK)
}

/// The cwd must be inside the container's root: a directory outside it (reached through an
/// fd the container should never have had) is what CVE-2024-21626 exploited.
fn check_cwd(cwd: &InRoot) -> CResult<()> {
    let mut buf = [0u8; 4096];
    let here =
        sys::getcwd(&mut buf).or_fail(|b| write!(b, "getcwd after chdir to {}", cwd.shown))?;
    if here.first() != Some(&b'/') {
        return Err(ChildError::msg(format_args!(
            "cwd {} is outside the container's root",
            cwd.shown
        )));
    }
    Ok(())
}

/// Give the container's user its stdio (pipes from the engine are root's), so that a non-root
/// process can reopen /dev/stdout or /proc/self/fd/1, as under runc. Only the owner changes,
/// /dev/null is left alone, and a refusal (read-only /dev, unmapped ids) is not an error.
fn fix_stdio_ownership(uid: u32) -> CResult<()> {
    let null = dev_null_rdev();
    for fd in 0..3 {
        let Some(st) = stdio_stat(fd)? else { continue };
        if st.st_uid == uid || is_char_dev(&st, null) {
            continue;
        }
        // SAFETY: fchown on one of our standard fds (checked open just above).
        if unsafe { libc::fchown(fd, uid, u32::MAX) } != 0 {
            match Errno::last() {
                Errno::EINVAL | Errno::EPERM | Errno::EROFS => {}
                e => {
                    return Err(ChildError::sys(
                        e,
                        format_args!("chown stdio fd {fd} to {uid}"),
                    ))
                }
            }
        }
    }
    Ok(())
}

/// The device number of `/dev/null` as this process sees it, if there is one.
fn dev_null_rdev() -> Option<libc::dev_t> {
    sys::fstatat(CWD, c"/dev/null", 0)
        .ok()
        .filter(|st| st.st_mode & libc::S_IFMT == libc::S_IFCHR)
        .map(|st| st.st_rdev)
}

/// fstat of a standard fd; `None` when it is closed.
fn stdio_stat(fd: RawFd) -> CResult<Option<libc::stat>> {
    match sys::fstat(fd) {
        Ok(st) => Ok(Some(st)),
        Err(Errno::EBADF) => Ok(None),
        Err(e) => Err(ChildError::sys(e, format_args!("fstat stdio fd {fd}"))),
    }
}

fn is_char_dev(st: &libc::stat, rdev: Option<libc::dev_t>) -> bool {
    st.st_mode & libc::S_IFMT == libc::S_IFCHR && Some(st.st_rdev) == rdev
}

/// After the pivot: stdio fds that are the host's /dev/null (an engine's "no stdin") are
/// reopened on the container's /dev/null, as runc does. Otherwise the container holds an fd
/// on a host inode: its root (CAP_FOWNER) could chmod/chown the host's /dev/null through
/// /proc/self/fd/0.
pub(crate) fn reopen_dev_null(host_null: Option<libc::dev_t>) -> CResult<()> {
    let Some(rdev) = host_null else {
        return Ok(());
    };
    let mut null: Option<OwnedFd> = None;
    for fd in 0..3 {
        let Some(st) = stdio_stat(fd)? else { continue };
        if !is_char_dev(&st, Some(rdev)) || same_inode_as_ours(&st) {
            continue;
        }
        if null.is_none() {
            match sys::openat(CWD, c"/dev/null", libc::O_RDWR, 0) {
                Ok(fd) => null = Some(fd),
                // Only a container without a mount namespace of its own lacks a /dev/null
                // (with one, /dev is ours or the host's): it shares the host's anyway.
                Err(Errno::ENOENT) => return Ok(()),
                Err(e) => {
                    return Err(ChildError::sys(
                        e,
                        format_args!("open the container's /dev/null"),
                    ))
                }
            }
        }
        if let Some(n) = &null {
            sys::dup3(n.as_raw_fd(), fd, 0)
                .or_fail(|b| write!(b, "reopen /dev/null on fd {fd}"))?;
        }
    }
    Ok(())
}

/// Whether a stdio fd already is the container's /dev/null (same inode).
fn same_inode_as_ours(st: &libc::stat) -> bool {
    sys::fstatat(CWD, c"/dev/null", 0)
        .is_ok_and(|ours| ours.st_dev == st.st_dev && ours.st_ino == st.st_ino)
}

/// The device number of the host's /dev/null, read in the parent.
pub(crate) fn host_dev_null() -> Option<libc::dev_t> {
    dev_null_rdev()
}

/// The container's root as the parent sees it, for reading its /etc/passwd: the rootfs, or a
/// bind mount the spec puts over /etc/passwd or /etc.
pub(crate) fn passwd_for_create(
    spec: &oci_spec::runtime::Spec,
    bundle: &Path,
    rootfs: &Path,
) -> Option<String> {
    for m in spec.mounts().iter().flatten().rev() {
        let bind = m.typ().as_deref() == Some("bind")
            || m.options()
                .iter()
                .flatten()
                .any(|o| o == "bind" || o == "rbind");
        let Some(src) = m.source().as_deref().filter(|_| bind) else {
            continue;
        };
        let src = crate::error::absolute(bundle, src);
        if m.destination() == Path::new("/etc/passwd") {
            return std::fs::read_to_string(src).ok();
        }
        if m.destination() == Path::new("/etc") {
            return std::fs::read_to_string(src.join("passwd")).ok();
        }
    }
    let c = CString::new(rootfs.as_os_str().as_encoded_bytes()).ok()?;
    let root = sys::openat(CWD, &c, libc::O_PATH | libc::O_DIRECTORY, 0).ok()?;
    read_passwd(root.as_raw_fd())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_from_passwd() {
        let t = "root:x:0:0:root:/root:/bin/sh\nweb:x:1000:1000::/srv/web:/bin/false\n";
        assert_eq!(home_of(t, 1000).as_deref(), Some("/srv/web"));
        assert_eq!(home_of(t, 5), None);
    }
}
