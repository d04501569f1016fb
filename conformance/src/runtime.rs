//! The runtime driver: runs a runc-compatible binary's commands with a
//! private `--root`, a fresh JSON `--log` per call, stdio on files or pipes,
//! and a deadline enforced with a pidfd (no sleeps).
//!
//! ```no_run
//! use conformance::runtime::{Runtime, Io};
//! let rt = Runtime::new("/usr/sbin/runc".into(), "/tmp/root".into(), "/tmp/logs".into());
//! let out = rt.run(&["state", "nope"], Io::default()).unwrap();
//! assert_ne!(out.code, Some(0));
//! ```

use serde_json::Value;
use std::fs::File;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// How long any single runtime command may take before it is killed.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(20);

static CALLS: AtomicU64 = AtomicU64::new(0);

/// A runtime binary and the private state it is run with.
#[derive(Debug, Clone)]
pub struct Runtime {
    /// The binary.
    pub path: PathBuf,
    /// Passed as `--root`.
    pub root: PathBuf,
    /// Where per-call log and output files go.
    pub scratch: PathBuf,
    /// Run every command in this network namespace (a path such as `/run/netns/NAME`), so
    /// that what the runtime does to "the host's" interfaces stays in a namespace of the
    /// test's own.
    pub netns: Option<PathBuf>,
}

/// Stdio for one runtime command.
#[derive(Debug, Default)]
pub struct Io {
    /// Bytes fed on stdin (None: /dev/null).
    pub stdin: Option<Vec<u8>>,
    /// Give the command this stdout instead of capturing it to a file
    /// (used for `create`/`exec`, whose stdout becomes the container's).
    pub stdout: Option<Stdio>,
    /// Extra fds to pass, as (fd number in the child, fd).
    pub extra_fds: Vec<(i32, OwnedFd)>,
    /// Environment variables to add.
    pub env: Vec<(String, String)>,
    /// Socket activation: set LISTEN_FDS to this and LISTEN_PID to the
    /// runtime's own pid (known only in the child, so set after fork).
    pub listen_fds: Option<u32>,
    /// Run the runtime pinned to these CPUs (as `taskset -c` would), to see whether its
    /// affinity leaks into the container.
    pub cpus: Option<Vec<usize>>,
    /// Run the runtime under this execution domain (personality(2)), which its children
    /// inherit unless the runtime sets another.
    pub personality: Option<u64>,
}

/// What a runtime command did.
#[derive(Debug, Clone, Default)]
pub struct Output {
    /// The command line, for messages.
    pub argv: String,
    /// Exit status, None when killed by a signal or the deadline.
    pub code: Option<i32>,
    /// Captured stdout (empty when stdout was given).
    pub stdout: String,
    /// Captured stderr.
    pub stderr: String,
    /// The `--log` file's contents.
    pub log: String,
    /// The command overran [`COMMAND_TIMEOUT`].
    pub timed_out: bool,
}

impl Output {
    /// True when the command exited 0.
    ///
    /// ```
    /// let o = conformance::runtime::Output { code: Some(0), ..Default::default() };
    /// assert!(o.ok());
    /// ```
    pub fn ok(&self) -> bool {
        self.code == Some(0)
    }

    /// The msg of the last `"level":"error"` line of the log (what
    /// containerd shows its user), or the stderr when the log has none.
    ///
    /// ```
    /// let o = conformance::runtime::Output {
    ///     log: "{\"level\":\"error\",\"msg\":\"boom\",\"time\":\"t\"}\n".into(),
    ///     ..Default::default()
    /// };
    /// assert_eq!(o.error_msg(), "boom");
    /// ```
    pub fn error_msg(&self) -> String {
        self.log_errors()
            .last()
            .cloned()
            .unwrap_or_else(|| self.stderr.trim().to_string())
    }

    /// Every error-level log message, in order.
    ///
    /// ```
    /// let o = conformance::runtime::Output { log: "junk\n".into(), ..Default::default() };
    /// assert!(o.log_errors().is_empty());
    /// ```
    pub fn log_errors(&self) -> Vec<String> {
        self.log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| v["level"] == "error")
            .map(|v| v["msg"].as_str().unwrap_or_default().to_string())
            .collect()
    }

    /// Everything the command said about an error: its error- and
    /// fatal-level log messages (runc logs the cause of a failed setns from
    /// its C stage at "fatal", and only a generic error after it) and its
    /// stderr (runtimes differ in which they use).
    ///
    /// ```
    /// let o = conformance::runtime::Output {
    ///     log: "{\"level\":\"fatal\",\"msg\":\"why\"}\n{\"level\":\"info\",\"msg\":\"i\"}\n\
    ///           {\"level\":\"error\",\"msg\":\"boom\"}\n".into(),
    ///     stderr: "usage\n".into(),
    ///     ..Default::default()
    /// };
    /// assert_eq!(o.error_text(), "why\nboom\nusage");
    /// ```
    pub fn error_text(&self) -> String {
        let mut parts: Vec<String> = self
            .log
            .lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .filter(|v| ["error", "fatal", "panic"].iter().any(|l| v["level"] == *l))
            .map(|v| v["msg"].as_str().unwrap_or_default().to_string())
            .collect();
        parts.push(self.stderr.trim().to_string());
        parts.retain(|p| !p.is_empty());
        parts.join("\n")
    }

    /// A one-line summary for failure messages.
    ///
    /// ```
    /// let o = conformance::runtime::Output { code: Some(1), stderr: "x".into(), ..Default::default() };
    /// assert!(o.summary().contains("exit 1"));
    /// ```
    pub fn summary(&self) -> String {
        let status = match (self.timed_out, self.code) {
            (true, _) => "timed out".to_string(),
            (_, Some(c)) => format!("exit {c}"),
            (_, None) => "killed by a signal".to_string(),
        };
        let msg = self.error_msg();
        let msg: String = msg.chars().take(300).collect();
        if msg.is_empty() {
            status
        } else {
            format!("{status}: {msg}")
        }
    }
}

/// Opens a pidfd for `pid`.
///
/// ```
/// let fd = conformance::runtime::pidfd_open(std::process::id() as i32).unwrap();
/// drop(fd);
/// ```
pub fn pidfd_open(pid: i32) -> std::io::Result<OwnedFd> {
    // SAFETY: pidfd_open takes two integers and returns a new fd or -1.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) };
    if fd < 0 {
        return Err(std::io::Error::last_os_error());
    }
    // SAFETY: the kernel just gave us this fd; we own it.
    Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) })
}

static SIGCHLD_PIPE_R: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);
static SIGCHLD_PIPE_W: std::sync::atomic::AtomicI32 = std::sync::atomic::AtomicI32::new(-1);

/// Exit statuses of children reaped while the harness waited for something
/// else, by pid, for [`wait_pid`] to hand out later.
static REAPED: std::sync::Mutex<Vec<(i32, i32)>> = std::sync::Mutex::new(Vec::new());

extern "C" fn on_sigchld(_: libc::c_int) {
    let fd = SIGCHLD_PIPE_W.load(Ordering::Relaxed);
    if fd >= 0 {
        // SAFETY: write(2) is async-signal-safe; a full pipe just drops the byte.
        unsafe { libc::write(fd, [1u8].as_ptr().cast(), 1) };
    }
}

/// Makes the harness reap like a shim: as a subreaper it inherits every
/// orphan, and a pid namespace's init cannot finish exiting until its other
/// processes are reaped, so waits below also reap, woken by SIGCHLD through a
/// self-pipe (no polling). Call once, early, from the single-threaded main.
///
/// ```no_run
/// conformance::runtime::install_reaper().unwrap();
/// ```
pub fn install_reaper() -> std::io::Result<()> {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds we then own for the life of the process.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC | libc::O_NONBLOCK) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    SIGCHLD_PIPE_R.store(fds[0], Ordering::Relaxed);
    SIGCHLD_PIPE_W.store(fds[1], Ordering::Relaxed);
    // SAFETY: installing a handler that only calls write(2).
    unsafe {
        let mut sa: libc::sigaction = std::mem::zeroed();
        sa.sa_sigaction = on_sigchld as *const () as usize;
        sa.sa_flags = libc::SA_RESTART | libc::SA_NOCLDSTOP;
        libc::sigemptyset(&mut sa.sa_mask);
        if libc::sigaction(libc::SIGCHLD, &sa, std::ptr::null_mut()) != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    Ok(())
}

fn drain_sigchld_pipe() {
    let fd = SIGCHLD_PIPE_R.load(Ordering::Relaxed);
    let mut buf = [0u8; 64];
    // SAFETY: non-blocking reads into our buffer until empty.
    while fd >= 0 && unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) } > 0 {}
}

/// Reaps exited children (recording their status) except `keep`, which is
/// left for its owner (a running `std::process::Child`).
fn reap_others(keep: Option<i32>) {
    loop {
        // SAFETY: waitid with WNOWAIT only peeks; siginfo is ours.
        let mut info: libc::siginfo_t = unsafe { std::mem::zeroed() };
        let r = unsafe {
            libc::waitid(
                libc::P_ALL,
                0,
                &mut info,
                libc::WEXITED | libc::WNOHANG | libc::WNOWAIT,
            )
        };
        // SAFETY: si_pid is valid for SIGCHLD-kind siginfo from waitid.
        let pid = unsafe { info.si_pid() };
        if r != 0 || pid == 0 || Some(pid) == keep {
            return;
        }
        let mut status = 0;
        // SAFETY: reaping the child the kernel just named.
        if unsafe { libc::waitpid(pid, &mut status, libc::WNOHANG) } == pid {
            if let Ok(mut m) = REAPED.lock() {
                m.push((pid, status));
            }
        }
    }
}

fn take_reaped(pid: i32) -> Option<i32> {
    let mut m = REAPED.lock().ok()?;
    let i = m.iter().position(|(p, _)| *p == pid)?;
    Some(m.remove(i).1)
}

fn decode(status: i32) -> Exit {
    if libc::WIFEXITED(status) {
        Exit::Code(libc::WEXITSTATUS(status))
    } else {
        Exit::Signal(libc::WTERMSIG(status))
    }
}

/// Waits until `fd` is readable or `timeout` passes; true if readable.
/// Reaps children (except `keep`) whenever SIGCHLD arrives meanwhile.
fn wait_readable_keep(fd: &impl AsRawFd, timeout: Duration, keep: Option<i32>) -> bool {
    let deadline = Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        let mut p = [
            libc::pollfd {
                fd: fd.as_raw_fd(),
                events: libc::POLLIN,
                revents: 0,
            },
            libc::pollfd {
                fd: SIGCHLD_PIPE_R.load(Ordering::Relaxed),
                events: libc::POLLIN,
                revents: 0,
            },
        ];
        // SAFETY: two pollfds we own; a negative fd is ignored by poll.
        let r = unsafe {
            libc::poll(
                p.as_mut_ptr(),
                2,
                left.as_millis().min(i32::MAX as u128) as i32,
            )
        };
        if r > 0 && p[0].revents != 0 {
            return true;
        }
        if r > 0 {
            drain_sigchld_pipe();
            reap_others(keep);
            continue;
        }
        if r == 0 || std::io::Error::last_os_error().kind() != std::io::ErrorKind::Interrupted {
            return false;
        }
    }
}

/// Waits until `fd` is readable or `timeout` passes; true if readable.
///
/// ```
/// let (r, w) = std::io::pipe().unwrap();
/// drop(w);
/// assert!(conformance::runtime::wait_readable(&r, std::time::Duration::from_millis(10)));
/// ```
pub fn wait_readable(fd: &impl AsRawFd, timeout: Duration) -> bool {
    wait_readable_keep(fd, timeout, None)
}

/// The exit of a process we waited for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    /// Exited with this status.
    Code(i32),
    /// Killed by this signal.
    Signal(i32),
    /// Gone, but not our child (no status to read).
    Gone,
    /// Still running at the deadline.
    Timeout,
}

/// Waits (pidfd + poll, no sleeps) for `pid` to end and reaps it when it is
/// our child (the harness is a subreaper, so containers' inits are).
///
/// ```
/// let c = std::process::Command::new("true").spawn().unwrap();
/// let e = conformance::runtime::wait_pid(c.id() as i32, std::time::Duration::from_secs(5));
/// assert_eq!(e, conformance::runtime::Exit::Code(0));
/// ```
pub fn wait_pid(pid: i32, timeout: Duration) -> Exit {
    if pid <= 0 {
        return Exit::Gone;
    }
    if let Some(st) = take_reaped(pid) {
        return decode(st);
    }
    if let Ok(fd) = pidfd_open(pid) {
        if !wait_readable(&fd, timeout) {
            return Exit::Timeout;
        }
    }
    if let Some(st) = take_reaped(pid) {
        return decode(st);
    }
    let mut status = 0;
    // SAFETY: waitpid writes the status we own.
    let r = unsafe { libc::waitpid(pid, &mut status, 0) };
    if r != pid {
        return take_reaped(pid).map(decode).unwrap_or(Exit::Gone);
    }
    decode(status)
}

/// Reaps every exited child without blocking (orphans re-parented to us).
///
/// ```
/// conformance::runtime::reap_zombies();
/// ```
pub fn reap_zombies() {
    reap_others(None);
}

fn read_file(p: &Path) -> String {
    let mut s = String::new();
    if let Ok(mut f) = File::open(p) {
        let _ = f.read_to_string(&mut s);
    }
    s
}

impl Runtime {
    /// A driver for `path` keeping state under `root`, files under `scratch`.
    ///
    /// ```
    /// let rt = conformance::runtime::Runtime::new("/usr/sbin/runc".into(), "/tmp/r".into(), "/tmp/s".into());
    /// assert_eq!(rt.root, std::path::PathBuf::from("/tmp/r"));
    /// ```
    pub fn new(path: PathBuf, root: PathBuf, scratch: PathBuf) -> Runtime {
        Runtime {
            path,
            root,
            scratch,
            netns: None,
        }
    }

    /// Runs `<runtime> --root R --log L --log-format json <args>` and waits
    /// for it, killing it at [`COMMAND_TIMEOUT`].
    ///
    /// ```no_run
    /// let rt = conformance::runtime::Runtime::new("/usr/sbin/runc".into(), "/tmp/r".into(), "/tmp/s".into());
    /// rt.run(&["features"], Default::default()).unwrap();
    /// ```
    pub fn run(&self, args: &[&str], io: Io) -> Result<Output, String> {
        let n = CALLS.fetch_add(1, Ordering::SeqCst);
        std::fs::create_dir_all(&self.scratch)
            .map_err(|e| format!("mkdir {}: {e}", self.scratch.display()))?;
        let log = self.scratch.join(format!("call-{n}.log"));
        let out_p = self.scratch.join(format!("call-{n}.out"));
        let err_p = self.scratch.join(format!("call-{n}.err"));
        let in_p = self.scratch.join(format!("call-{n}.in"));
        let mk = |p: &Path| File::create(p).map_err(|e| format!("create {}: {e}", p.display()));
        let mut cmd = Command::new(&self.path);
        cmd.arg("--root")
            .arg(&self.root)
            .arg("--log")
            .arg(&log)
            .arg("--log-format")
            .arg("json")
            .args(args);
        match &io.stdin {
            Some(bytes) => {
                std::fs::write(&in_p, bytes)
                    .map_err(|e| format!("write {}: {e}", in_p.display()))?;
                let f = File::open(&in_p).map_err(|e| format!("open {}: {e}", in_p.display()))?;
                cmd.stdin(f);
            }
            None => {
                cmd.stdin(Stdio::null());
            }
        }
        let captured = io.stdout.is_none();
        match io.stdout {
            Some(s) => cmd.stdout(s),
            None => cmd.stdout(mk(&out_p)?),
        };
        cmd.stderr(mk(&err_p)?);
        if io.listen_fds.is_some() && !io.env.is_empty() {
            return Err("Io: listen_fds and env cannot be combined".into());
        }
        for (k, v) in &io.env {
            cmd.env(k, v);
        }
        if let Some(cpus) = io.cpus.clone() {
            // SAFETY: sched_setaffinity on the forked child itself, before exec; the mask is
            // plain bytes built before the fork.
            let mut set: libc::cpu_set_t = unsafe { std::mem::zeroed() };
            for c in cpus {
                unsafe { libc::CPU_SET(c, &mut set) };
            }
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(move || {
                    if libc::sched_setaffinity(0, std::mem::size_of_val(&set), &set) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        if let Some(ns) = &self.netns {
            let f = File::open(ns).map_err(|e| format!("open {}: {e}", ns.display()))?;
            let fd = f.as_raw_fd();
            // SAFETY: setns on the forked child itself, before exec, with an fd opened before
            // the fork (the closure owns the File, so it stays open until then).
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(move || {
                    let _keep = &f;
                    if libc::setns(fd, libc::CLONE_NEWNET) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        if let Some(persona) = io.personality {
            // SAFETY: personality on the forked child itself, before exec.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(move || {
                    if libc::personality(persona as libc::c_ulong) == -1 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        if let Some(n) = io.listen_fds {
            let count =
                std::ffi::CString::new(n.to_string()).map_err(|e| format!("LISTEN_FDS: {e}"))?;
            // SAFETY: runs in the forked child of a single-threaded harness
            // before exec; std passes `environ` through when no env was set on
            // the Command (listen_fds excludes `env`, checked below).
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(move || {
                    let pid = std::ffi::CString::new(libc::getpid().to_string())
                        .map_err(|_| std::io::Error::from_raw_os_error(libc::EINVAL))?;
                    if libc::setenv(c"LISTEN_PID".as_ptr(), pid.as_ptr(), 1) != 0
                        || libc::setenv(c"LISTEN_FDS".as_ptr(), count.as_ptr(), 1) != 0
                    {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        if !io.extra_fds.is_empty() {
            let fds: Vec<(i32, i32)> = io
                .extra_fds
                .iter()
                .map(|(n, fd)| (*n, fd.as_raw_fd()))
                .collect();
            // SAFETY: between fork and exec we only call dup2/fcntl, which
            // are async-signal-safe; the fds stay open in the parent until
            // after spawn because `io` lives until the end of this function.
            unsafe {
                use std::os::unix::process::CommandExt;
                cmd.pre_exec(move || {
                    // Move sources out of the way first so a target number
                    // cannot clobber a source that is still to be placed.
                    let mut tmp = Vec::new();
                    for (_, src) in &fds {
                        let t = libc::fcntl(*src, libc::F_DUPFD_CLOEXEC, 100);
                        if t < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                        tmp.push(t);
                    }
                    for ((target, _), t) in fds.iter().zip(tmp) {
                        if libc::dup2(t, *target) < 0 {
                            return Err(std::io::Error::last_os_error());
                        }
                    }
                    Ok(())
                });
            }
        }
        let argv = format!("{} {}", self.path.display(), args.join(" "));
        let mut child = cmd
            .spawn()
            .map_err(|e| format!("spawn {}: {e}", self.path.display()))?;
        drop(cmd);
        drop(io.extra_fds);
        let fd = pidfd_open(child.id() as i32).map_err(|e| format!("pidfd_open: {e}"))?;
        let timed_out = !wait_readable_keep(&fd, COMMAND_TIMEOUT, Some(child.id() as i32));
        if timed_out {
            let _ = child.kill();
        }
        let status = child.wait().map_err(|e| format!("wait for {argv}: {e}"))?;
        Ok(Output {
            argv,
            code: if timed_out { None } else { status.code() },
            stdout: if captured {
                read_file(&out_p)
            } else {
                String::new()
            },
            stderr: read_file(&err_p),
            log: read_file(&log),
            timed_out,
        })
    }

    /// `state <id>` parsed, or the failed output.
    ///
    /// ```no_run
    /// let rt = conformance::runtime::Runtime::new("/usr/sbin/runc".into(), "/tmp/r".into(), "/tmp/s".into());
    /// let _ = rt.state("x");
    /// ```
    pub fn state(&self, id: &str) -> Result<Value, Output> {
        let o = self
            .run(&["state", id], Io::default())
            .map_err(|e| Output {
                stderr: e,
                ..Default::default()
            })?;
        if !o.ok() {
            return Err(o);
        }
        serde_json::from_str(&o.stdout).map_err(|e| Output {
            stderr: format!("state output is not JSON ({e}): {}", o.stdout),
            ..o
        })
    }

    /// Polls `state` until its status is `want` (bounded: at most `timeout`,
    /// waiting on the init's pidfd between polls instead of sleeping).
    ///
    /// ```no_run
    /// let rt = conformance::runtime::Runtime::new("/usr/sbin/runc".into(), "/tmp/r".into(), "/tmp/s".into());
    /// let _ = rt.wait_status("x", "stopped", 0, std::time::Duration::from_secs(1));
    /// ```
    pub fn wait_status(
        &self,
        id: &str,
        want: &str,
        pid: i32,
        timeout: Duration,
    ) -> Result<(), String> {
        let deadline = Instant::now() + timeout;
        let pidfd = pidfd_open(pid).ok();
        let mut last;
        loop {
            match self.state(id) {
                Ok(v) if v["status"] == want => return Ok(()),
                Ok(v) => last = v["status"].to_string(),
                Err(o) => last = o.summary(),
            }
            if Instant::now() >= deadline {
                return Err(format!("status {want:?} not reached, last seen {last}"));
            }
            match &pidfd {
                Some(fd) => {
                    wait_readable(fd, Duration::from_millis(20));
                }
                None => {
                    // Nothing to wait on: a short poll on no fds bounds the loop.
                    // SAFETY: poll with zero fds is a plain timed wait.
                    unsafe { libc::poll(std::ptr::null_mut(), 0, 10) };
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn runs_a_binary_and_captures_everything() {
        let dir = std::env::temp_dir().join(format!("rt-unit-{}", std::process::id()));
        // `sh -c` stands in for a runtime: it sees the global flags as $0.. args.
        let script = dir.join("fake");
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(
            &script,
            "#!/bin/sh\necho \"{\\\"level\\\":\\\"error\\\",\\\"msg\\\":\\\"$7\\\"}\" > \"$4\"\ncat\necho err >&2\nexit 3\n",
        )
        .unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
        let rt = Runtime::new(script, dir.join("root"), dir.join("s"));
        let o = rt
            .run(
                &["state", "abc"],
                Io {
                    stdin: Some(b"hello".to_vec()),
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(o.code, Some(3));
        assert_eq!(o.stdout, "hello");
        assert_eq!(o.stderr, "err\n");
        assert_eq!(o.error_msg(), "state");
        assert!(o.summary().starts_with("exit 3"));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    // wait_pid reaps the child itself, which clippy cannot see.
    #[allow(clippy::zombie_processes)]
    fn wait_pid_reports_signals() {
        let c = Command::new("sh")
            .arg("-c")
            .arg("kill -9 $$")
            .spawn()
            .unwrap();
        assert_eq!(
            wait_pid(c.id() as i32, Duration::from_secs(5)),
            Exit::Signal(9)
        );
    }
}
