//! The hooks that run from inside the container's namespaces (createContainer, before the
//! pivot; startContainer, after `start`), spawned by the init itself.
//!
//! The init is a syscall-only child (see `crate::child`), so a hook is prepared in the parent
//! (path, argv and envp as C strings, the state JSON around the pid the init fills in) and run
//! with fork + execve, its stdin fed and its output collected through pipes in one poll loop,
//! with the hook's timeout as the poll deadline.

use std::ffi::CString;
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;
use oci_spec::runtime::Hook;

use crate::child::{self, Buf, CResult, ChildError, OrFail};
use crate::error::{Error, Result};
use crate::sys::{self, CArgv};

/// One hook, ready to run in a child.
pub(crate) struct PreparedHook {
    path: CString,
    shown: String,
    argv: CArgv,
    envp: CArgv,
    timeout_secs: Option<i64>,
}

/// The hooks of one kind with the state they get on stdin.
pub(crate) struct HookSet {
    kind: &'static str,
    hooks: Vec<PreparedHook>,
    /// The state JSON before and after the pid.
    state_head: Vec<u8>,
    state_tail: Vec<u8>,
    /// The hooks' working directory, when not the init's own: runc's init runs createContainer
    /// hooks from the rootfs (its host path) and startContainer ones from the process's cwd.
    cwd: Option<CString>,
}

/// A pid no real process has: the state is rendered with it and split around it.
const PID_MARK: &str = "4294967290";

fn cstring(s: &str, what: &str) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Spec(format!("{what} {s:?} contains a NUL byte")))
}

impl HookSet {
    /// Prepare `hooks` of `kind`; `state` is the OCI state with any pid (it is replaced).
    pub(crate) fn new(
        kind: &'static str,
        hooks: Option<&Vec<Hook>>,
        mut state: serde_json::Value,
        cwd: Option<&std::path::Path>,
    ) -> Result<HookSet> {
        state["pid"] = serde_json::Value::from(PID_MARK.parse::<u64>().unwrap_or(0));
        let text = serde_json::to_string(&state)
            .map_err(|e| Error::Other(format!("render the state for {kind} hooks: {e}")))?;
        let (head, tail) = text.split_once(PID_MARK).unwrap_or((&text, ""));
        let mut prepared = Vec::new();
        for h in hooks.into_iter().flatten() {
            let shown = h.path().display().to_string();
            let path = cstring(&shown, "hook path")?;
            let argv = match h.args().as_deref() {
                Some(a) if !a.is_empty() => a
                    .iter()
                    .map(|s| cstring(s, "hook argument"))
                    .collect::<Result<Vec<_>>>()?,
                _ => vec![path.clone()],
            };
            let envp = h
                .env()
                .iter()
                .flatten()
                .map(|s| cstring(s, "hook environment variable"))
                .collect::<Result<Vec<_>>>()?;
            prepared.push(PreparedHook {
                path,
                shown,
                argv: CArgv::new(argv),
                envp: CArgv::new(envp),
                timeout_secs: h.timeout(),
            });
        }
        Ok(HookSet {
            kind,
            hooks: prepared,
            state_head: head.as_bytes().to_vec(),
            state_tail: tail.as_bytes().to_vec(),
            cwd: match cwd {
                Some(c) => Some(
                    CString::new(c.as_os_str().as_encoded_bytes())
                        .map_err(|_| Error::Spec("rootfs path contains a NUL byte".into()))?,
                ),
                None => None,
            },
        })
    }

    /// Whether there is no hook to run.
    pub(crate) fn is_empty(&self) -> bool {
        self.hooks.is_empty()
    }

    /// In the child: run every hook in order, the first failure stops the sequence.
    pub(crate) fn run(&self, pid: i32) -> CResult<()> {
        for (i, h) in self.hooks.iter().enumerate() {
            self.run_one(h, pid).map_err(|e| {
                let mut text = Buf::new();
                let _ = write!(text, "error running {} hook #{i}: ", self.kind);
                text.push_bytes(e.text.as_bytes());
                ChildError::from_text(text)
            })?;
        }
        Ok(())
    }

    fn run_one(&self, h: &PreparedHook, pid: i32) -> CResult<()> {
        if let Some(secs) = h.timeout_secs.filter(|s| *s <= 0) {
            return Err(ChildError::msg(format_args!(
                "timeout must be positive, got {secs}"
            )));
        }
        let (in_r, in_w) = sys::pipe(0).or_fail(|b| write!(b, "pipe"))?;
        let (out_r, out_w) = sys::pipe(0).or_fail(|b| write!(b, "pipe"))?;
        let (err_r, err_w) = sys::pipe(0).or_fail(|b| write!(b, "pipe"))?;
        // SAFETY: the child only makes syscalls and leaves through execve or _exit.
        let forked =
            unsafe { sys::fork_with_pidfd() }.or_fail(|b| write!(b, "{}: fork", h.shown))?;
        let Some((child_pid, pidfd)) = forked else {
            let _ = sys::dup3(in_r.as_raw_fd(), 0, 0);
            let _ = sys::dup3(out_w.as_raw_fd(), 1, 0);
            let _ = sys::dup3(err_w.as_raw_fd(), 2, 0);
            // The fds passed to the container are not the hook's.
            let _ = sys::close_range(3, u32::MAX, 0);
            if let Some(cwd) = &self.cwd {
                let _ = sys::chdir(cwd);
            }
            let e = sys::execve(&h.path, &h.argv, &h.envp);
            let mut msg: Buf<512> = Buf::new();
            let _ = writeln!(msg, "exec {}: {e}", h.shown);
            let _ = sys::write_all(2, msg.as_bytes());
            sys::exit_now(127)
        };
        drop((in_r, out_w, err_w));
        let mut digits = [0u8; 20];
        let pid_text = child::itoa(pid.max(0) as u64, &mut digits);
        let parts: [&[u8]; 3] = [&self.state_head, pid_text, &self.state_tail];
        let io = Io::collect(&pidfd, in_w, &out_r, &err_r, &parts, h.timeout_secs);
        let mut status: libc::c_int = 0;
        if let Err(Expired) = io.as_ref().map(drop) {
            let _ = sys::pidfd_send_signal(&pidfd, libc::SIGKILL);
        }
        // SAFETY: wait4 on our own child, writing its status into a local.
        let r = unsafe { libc::wait4(child_pid, &mut status, 0, std::ptr::null_mut()) };
        if r < 0 {
            return Err(ChildError::sys(
                Errno::last(),
                format_args!("wait for {}", h.shown),
            ));
        }
        let out = match io {
            Err(Expired) => {
                return Err(ChildError::msg(format_args!(
                    "{}: timeout after {} seconds",
                    h.shown,
                    h.timeout_secs.unwrap_or(0)
                )))
            }
            Ok(out) => out,
        };
        if libc::WIFEXITED(status) && libc::WEXITSTATUS(status) == 0 {
            return Ok(());
        }
        let mut e = ChildError::msg(format_args!("{}: ", h.shown));
        let _ = if libc::WIFEXITED(status) {
            write!(e.text, "exit status: {}", libc::WEXITSTATUS(status))
        } else {
            write!(e.text, "signal: {}", libc::WTERMSIG(status))
        };
        let _ = write!(e.text, ", stdout: ");
        e.text.push_bytes(trim_end(out.stdout.as_bytes()));
        let _ = write!(e.text, ", stderr: ");
        e.text.push_bytes(trim_end(out.stderr.as_bytes()));
        Err(e)
    }
}

fn trim_end(b: &[u8]) -> &[u8] {
    let n = b
        .iter()
        .rposition(|c| !c.is_ascii_whitespace())
        .map_or(0, |i| i + 1);
    &b[..n]
}

/// The hook outlived its timeout.
struct Expired;

/// What a hook wrote (the start of it).
struct Io {
    stdout: Buf<1024>,
    stderr: Buf<1024>,
}

fn nonblocking(fd: RawFd) {
    // SAFETY: fcntl on an fd we own.
    unsafe {
        let fl = libc::fcntl(fd, libc::F_GETFL);
        libc::fcntl(fd, libc::F_SETFL, fl | libc::O_NONBLOCK);
    }
}

fn now_ms() -> i64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: clock_gettime writes a timespec; CLOCK_MONOTONIC always exists.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec * 1000 + ts.tv_nsec / 1_000_000
}

impl Io {
    /// Feed `parts` to the hook's stdin and read its output until it exits (or the deadline).
    fn collect(
        pidfd: &OwnedFd,
        stdin: OwnedFd,
        out: &OwnedFd,
        err: &OwnedFd,
        parts: &[&[u8]; 3],
        timeout_secs: Option<i64>,
    ) -> std::result::Result<Io, Expired> {
        let mut io = Io {
            stdout: Buf::new(),
            stderr: Buf::new(),
        };
        for fd in [stdin.as_raw_fd(), out.as_raw_fd(), err.as_raw_fd()] {
            nonblocking(fd);
        }
        let deadline = timeout_secs.map(|s| now_ms() + s * 1000);
        let mut stdin = Some(stdin);
        let (mut part, mut off) = (0usize, 0usize);
        let mut exited = false;
        let mut open = [true, true];
        loop {
            // The hook has exited and its pipes are drained (or held by a process it left
            // behind: then we do not wait for them, as runc does not).
            if exited {
                io.drain(out, err, &mut open);
                return Ok(io);
            }
            let mut fds = [
                libc::pollfd {
                    fd: pidfd.as_raw_fd(),
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: if open[0] { out.as_raw_fd() } else { -1 },
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: if open[1] { err.as_raw_fd() } else { -1 },
                    events: libc::POLLIN,
                    revents: 0,
                },
                libc::pollfd {
                    fd: stdin.as_ref().map_or(-1, |s| s.as_raw_fd()),
                    events: libc::POLLOUT,
                    revents: 0,
                },
            ];
            let wait = match deadline {
                Some(d) => {
                    let left = d - now_ms();
                    if left <= 0 {
                        return Err(Expired);
                    }
                    left.min(i32::MAX as i64) as i32
                }
                None => -1,
            };
            // SAFETY: fds is an array of valid pollfds.
            let n = unsafe { libc::poll(fds.as_mut_ptr(), fds.len() as libc::nfds_t, wait) };
            if n < 0 {
                if Errno::last() == Errno::EINTR {
                    continue;
                }
                // Nothing sensible left to do but wait for the exit.
                exited = true;
                continue;
            }
            if fds[0].revents != 0 {
                exited = true;
            }
            if fds[1].revents != 0 {
                open[0] = read_into(out.as_raw_fd(), &mut io.stdout);
            }
            if fds[2].revents != 0 {
                open[1] = read_into(err.as_raw_fd(), &mut io.stderr);
            }
            if fds[3].revents != 0 {
                if let Some(s) = &stdin {
                    // A hook that does not read its stdin is fine: EPIPE ends the feeding.
                    loop {
                        if part == parts.len() {
                            break;
                        }
                        let rest = &parts[part][off..];
                        if rest.is_empty() {
                            part += 1;
                            off = 0;
                            continue;
                        }
                        // SAFETY: rest is readable for its length.
                        let w =
                            unsafe { libc::write(s.as_raw_fd(), rest.as_ptr().cast(), rest.len()) };
                        if w < 0 {
                            if Errno::last() == Errno::EAGAIN {
                                break;
                            }
                            part = parts.len();
                            break;
                        }
                        off += w as usize;
                    }
                }
                if part == parts.len() {
                    stdin = None;
                }
            }
        }
    }

    fn drain(&mut self, out: &OwnedFd, err: &OwnedFd, open: &mut [bool; 2]) {
        if open[0] {
            open[0] = read_into(out.as_raw_fd(), &mut self.stdout);
        }
        if open[1] {
            open[1] = read_into(err.as_raw_fd(), &mut self.stderr);
        }
    }
}

/// Read what is there into `buf`; false at end of file (or error).
fn read_into<const N: usize>(fd: RawFd, buf: &mut Buf<N>) -> bool {
    let mut chunk = [0u8; 512];
    loop {
        // SAFETY: chunk is writable for its length.
        let r = unsafe { libc::read(fd, chunk.as_mut_ptr().cast(), chunk.len()) };
        match r {
            0 => return false,
            n if n > 0 => buf.push_bytes(&chunk[..n as usize]),
            _ => return Errno::last() == Errno::EAGAIN || Errno::last() == Errno::EINTR,
        }
    }
}
