//! The state store: one directory per container under the state root.
//!
//! `mkdir` of `<root>/<id>` is the uniqueness check (atomic, so two concurrent `create`s of one id
//! give one container); `flock` on that directory serialises commands that change a container,
//! and no command waits for it longer than [`LOCK_TIMEOUT`]; `state.json` is written to a
//! temporary name and renamed so readers never see half a file. Before `create` makes anything
//! on the host, it saves what it is about to make (`intent.json`), so that `delete` can undo a
//! `create` that died before recording its container.
//! Status is never stored: it is derived from the init process (alive, with the start time we
//! recorded, so a reused pid is not mistaken for it), the exec fifo and the cgroup freezer.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::errno::Errno;
use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use crate::cgroups::Cgroup;
use crate::error::{Error, IoContext, Result, SysContext};

/// File name of the per-container record.
const STATE_FILE: &str = "state.json";
/// File name of the fifo the init blocks on until `start`.
pub(crate) const EXEC_FIFO: &str = "exec.fifo";
/// File name of what a `create` in progress is about to make on the host.
const INTENT_FILE: &str = "intent.json";

/// How long a command waits for another command to release a container's lock. A `create`
/// holds it for its whole duration, other commands for milliseconds; a lock held longer than
/// this is a stuck or orphaned process, which the error names.
pub const LOCK_TIMEOUT: Duration = Duration::from_secs(5);

/// A container's lifecycle status, as `state` reports it.
///
/// ```
/// use runtime_core::Status;
/// assert_eq!(Status::Created.to_string(), "created");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    /// `create` is still running.
    Creating,
    /// The init is ready and blocked until `start`.
    Created,
    /// The user's process runs.
    Running,
    /// The container's cgroup is frozen.
    Paused,
    /// The init has exited.
    Stopped,
}

impl std::fmt::Display for Status {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Status::Creating => "creating",
            Status::Created => "created",
            Status::Running => "running",
            Status::Paused => "paused",
            Status::Stopped => "stopped",
        })
    }
}

/// What baleia remembers about a container between commands.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Record {
    /// The container id.
    pub id: String,
    /// Host pid of the init.
    pub pid: i32,
    /// The init's start time in clock ticks since boot (field 22 of `/proc/<pid>/stat`): with the
    /// pid, it identifies the process even after the pid is reused.
    pub start_time: u64,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// The spec's annotations.
    #[serde(default)]
    pub annotations: HashMap<String, String>,
    /// The container's cgroup: its driver and its directory on every hierarchy (as the
    /// fields `cgroup_driver` and `cgroup_paths`; a state without a driver gets the one its
    /// paths show).
    #[serde(flatten)]
    pub cgroup: Cgroup,
    /// True when the container shares the host's pid namespace: then killing the init does not
    /// kill the rest, and `kill`/`delete` must go through the cgroup.
    #[serde(default)]
    pub host_pid_ns: bool,
    /// The spec's hooks, for poststart and poststop, which run after `create` has exited.
    #[serde(default)]
    pub hooks: Option<oci_spec::runtime::Hooks>,
    /// The spec's process: the base of `exec` given a command line.
    #[serde(default)]
    pub process: Option<oci_spec::runtime::Process>,
    /// The spec's seccomp profile, which applies to exec'd processes too.
    #[serde(default)]
    pub seccomp: Option<oci_spec::runtime::LinuxSeccomp>,
    /// The spec's NUMA memory policy, which exec'd processes get too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub memory_policy: Option<oci_spec::runtime::LinuxMemoryPolicy>,
    /// The spec's execution domain, which exec'd processes get too.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub personality: Option<oci_spec::runtime::LinuxPersonality>,
    /// The container's resctrl group (linux.intelRdt), for exec'd processes and delete.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub intel_rdt: Option<crate::intel_rdt::Group>,
    /// linux.netDevices moved into the container, as (host name, name in the container): moved
    /// back on delete.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub net_devices: Vec<(String, String)>,
    /// The network namespace the spec joined (by path), where the devices are while no init
    /// holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub net_ns_path: Option<PathBuf>,
}

/// What a `create` is about to make on the host, saved before it makes it: a `create` killed
/// half-way leaves no record of its container, and this is how `delete` finds what to undo.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Intent {
    /// The cgroup the container gets.
    #[serde(flatten)]
    pub cgroup: Cgroup,
    /// Some of those directories existed before: the cgroup may then be shared with other
    /// containers (a cgroupsPath is not exclusive) and is only removed when empty.
    pub cgroup_existed: bool,
}

/// The state root (`--root`, default `/run/baleia`).
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An exclusive lock on one container's directory; released on drop.
#[derive(Debug)]
pub struct Lock {
    _flock: Flock<OwnedFd>,
}

/// Check an id against runc's rules: `[A-Za-z0-9_+.-]+`, not "." or "..".
pub fn validate_id(id: &str) -> Result<()> {
    let ok = !id.is_empty()
        && id != "."
        && id != ".."
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'+' | b'.' | b'-'));
    if ok {
        Ok(())
    } else {
        Err(Error::InvalidId(id.to_string()))
    }
}

impl Store {
    /// A store rooted at `root`; nothing is touched until a container is created.
    pub fn new(root: impl Into<PathBuf>) -> Store {
        Store { root: root.into() }
    }

    /// The state root directory.
    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Directory of container `id` (which need not exist).
    pub fn dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// Claim `id`: create its directory (failing if it exists) and lock it.
    pub fn reserve(&self, id: &str) -> Result<Lock> {
        validate_id(id)?;
        let dir = self.dir(id);
        let mut made = fs::DirBuilder::new().mode(0o711).create(&dir);
        // The root is made with its first container (a mkdir, not a stat, for every other).
        if made
            .as_ref()
            .is_err_and(|e| e.kind() == std::io::ErrorKind::NotFound)
        {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o711)
                .create(&self.root)
                .at("create state root", &self.root)?;
            made = fs::DirBuilder::new().mode(0o711).create(&dir);
        }
        match made {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {
                return Err(Error::Exists(id.to_string()))
            }
            Err(e) => return Err(Error::path("create state directory", &dir, e)),
        }
        lock_dir(dir)
    }

    /// Lock the directory of an existing container.
    pub fn lock(&self, id: &str) -> Result<Lock> {
        validate_id(id)?;
        // The open in lock_dir says whether it exists: no stat before it.
        match lock_dir(self.dir(id)) {
            Err(Error::Sys {
                source: Errno::ENOENT | Errno::ENOTDIR,
                ..
            }) => Err(Error::NotExist(id.to_string())),
            other => other,
        }
    }

    /// Read the record of container `id`; `Ok(None)` while its `create` is still running.
    pub fn load(&self, id: &str) -> Result<Option<Record>> {
        validate_id(id)?;
        let dir = self.dir(id);
        let path = dir.join(STATE_FILE);
        match crate::readfile::read_whole(&path) {
            // Through a Value, as config.json is (spec.rs): the record's spec parts (process,
            // hooks, seccomp) then share one set of deserializers with the config's instead of
            // a second copy for the text reader (tens of KB of the binary).
            Ok(bytes) => serde_json::from_slice(&bytes)
                .and_then(serde_json::from_value)
                .map(Some)
                .map_err(|e| Error::Other(format!("parse {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                if dir.is_dir() {
                    Ok(None)
                } else {
                    Err(Error::NotExist(id.to_string()))
                }
            }
            Err(e) => Err(Error::path("read", &path, e)),
        }
    }

    /// Save what the `create` of `id` is about to make, before it makes it.
    pub(crate) fn save_intent(&self, id: &str, intent: &Intent) -> Result<()> {
        let bytes = serde_json::to_vec(intent)
            .map_err(|e| Error::Other(format!("serialise the intent of {id}: {e}")))?;
        write_atomic(&self.dir(id).join(INTENT_FILE), &bytes, 0o600)
    }

    /// What the `create` of `id` set out to make; `None` when it died before saying.
    pub(crate) fn load_intent(&self, id: &str) -> Result<Option<Intent>> {
        let path = self.dir(id).join(INTENT_FILE);
        match crate::readfile::read_whole(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
                .map(Some)
                .map_err(|e| Error::Other(format!("parse {}: {e}", path.display()))),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
            Err(e) => Err(Error::path("read", &path, e)),
        }
    }

    /// Write the record atomically (temporary file, then rename).
    pub fn save(&self, rec: &Record) -> Result<()> {
        let dir = self.dir(&rec.id);
        let bytes = serde_json::to_vec(rec)
            .map_err(|e| Error::Other(format!("serialise state of {}: {e}", rec.id)))?;
        write_atomic(&dir.join(STATE_FILE), &bytes, 0o600)
    }

    /// Ids of every container under the root, sorted.
    pub fn ids(&self) -> Result<Vec<String>> {
        let entries = match fs::read_dir(&self.root) {
            Ok(e) => e,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
            Err(e) => return Err(Error::path("read state root", &self.root, e)),
        };
        let mut ids: Vec<String> = entries
            .filter_map(|e| e.ok())
            .filter(|e| e.file_type().is_ok_and(|t| t.is_dir()))
            .filter_map(|e| e.file_name().into_string().ok())
            .filter(|id| validate_id(id).is_ok())
            .collect();
        ids.sort();
        Ok(ids)
    }

    /// Remove the container's directory and everything in it.
    pub fn remove(&self, id: &str) -> Result<()> {
        let dir = self.dir(id);
        // The files the runtime puts there, by name, then the directory: four syscalls where
        // remove_dir_all takes eleven. Anything else in it (a console socket, a file someone
        // left) makes rmdir fail, and remove_dir_all takes the rest.
        for name in [STATE_FILE, INTENT_FILE, EXEC_FIFO] {
            let _ = fs::remove_file(dir.join(name));
        }
        match fs::remove_dir(&dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(_) => {}
        }
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::path("remove state directory", &dir, e)),
        }
    }
}

/// flock has no timed wait, and a timer signal would disturb the program that embeds us: poll
/// the lock without blocking, pausing a little longer each time (the first try is free when
/// nobody holds it), until [`LOCK_TIMEOUT`].
fn lock_dir(dir: PathBuf) -> Result<Lock> {
    let mut fd = nix::fcntl::open(
        &dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open {}", dir.display()))?;
    let deadline = Instant::now() + LOCK_TIMEOUT;
    let mut pause = Duration::from_millis(1);
    loop {
        match Flock::lock(fd, FlockArg::LockExclusiveNonblock) {
            Ok(flock) => return Ok(Lock { _flock: flock }),
            Err((f, Errno::EWOULDBLOCK | Errno::EINTR)) => fd = f,
            Err((_, e)) => return Err(Error::sys(format!("lock {}", dir.display()), e)),
        }
        if Instant::now() >= deadline {
            return Err(lock_timeout(&dir, &fd));
        }
        // Bounded polling: see above for why there is nothing to wait on.
        std::thread::sleep(pause);
        pause = (pause * 2).min(Duration::from_millis(50));
    }
}

/// The error of a lock wait that expired, naming who holds the lock.
fn lock_timeout(dir: &Path, fd: &OwnedFd) -> Error {
    let id = dir
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let holders = match nix::sys::stat::fstat(fd) {
        Ok(st) => lock_holders(st.st_dev, st.st_ino),
        Err(_) => Vec::new(),
    };
    let who = if holders.is_empty() {
        "by a process that could not be found".to_string()
    } else {
        holders
            .iter()
            .map(|(pid, cmd)| format!("pid {pid} ({cmd})"))
            .collect::<Vec<_>>()
            .join(", ")
    };
    Error::Other(format!(
        "container {id} is locked by another command: its lock ({}) was not released within \
         {}s; it is held by {who}",
        dir.display(),
        LOCK_TIMEOUT.as_secs()
    ))
}

/// Processes holding the flock of the file (dev, ino). The pid /proc/locks shows is the one
/// that took the lock, which may be long gone while a child that inherited the descriptor
/// keeps it: the holders are the processes whose open descriptor of the file carries the lock
/// (a `lock:` line in its fdinfo). Only used on the error path: it reads every process's fds.
fn lock_holders(dev: libc::dev_t, ino: libc::ino_t) -> Vec<(i32, String)> {
    let mut found = Vec::new();
    let Ok(procs) = fs::read_dir("/proc") else {
        return found;
    };
    for p in procs.flatten() {
        let Ok(pid) = p.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        let Ok(fds) = fs::read_dir(p.path().join("fd")) else {
            continue;
        };
        let holds = fds.flatten().any(|f| {
            let same = nix::sys::stat::stat(&f.path())
                .is_ok_and(|st| st.st_dev == dev && st.st_ino == ino);
            same && fs::read_to_string(p.path().join("fdinfo").join(f.file_name()))
                .is_ok_and(|info| info.lines().any(|l| l.starts_with("lock:")))
        });
        if holds {
            found.push((pid, command_line(pid)));
        }
    }
    if found.is_empty() {
        // Raced with the holder's exit, or no permission to read its fds: /proc/locks still
        // names the pid that took the lock.
        found.extend(locks_file_pid(dev, ino).map(|pid| (pid, command_line(pid))));
    }
    found
}

/// The pid /proc/locks gives for a lock on (dev, ino): `1: FLOCK ADVISORY WRITE <pid>
/// <major>:<minor>:<inode> 0 EOF`, major and minor in hex.
fn locks_file_pid(dev: libc::dev_t, ino: libc::ino_t) -> Option<i32> {
    let text = fs::read_to_string("/proc/locks").ok()?;
    let want = format!("{:02x}:{:02x}:{ino}", libc::major(dev), libc::minor(dev));
    text.lines().filter(|l| !l.contains("->")).find_map(|l| {
        let f: Vec<&str> = l.split_whitespace().collect();
        (f.len() > 5 && f[5] == want).then(|| f[4].parse().ok())?
    })
}

/// A process's command line for a message (its name when the command line is unreadable).
fn command_line(pid: i32) -> String {
    let raw = fs::read(format!("/proc/{pid}/cmdline")).unwrap_or_default();
    let mut cmd = raw
        .split(|b| *b == 0)
        .filter(|a| !a.is_empty())
        .map(String::from_utf8_lossy)
        .collect::<Vec<_>>()
        .join(" ");
    if cmd.is_empty() {
        cmd = fs::read_to_string(format!("/proc/{pid}/comm"))
            .map(|c| c.trim().to_string())
            .unwrap_or_else(|_| "exited".into());
    }
    if cmd.chars().count() > 120 {
        cmd = cmd.chars().take(117).collect::<String>() + "...";
    }
    cmd
}

/// Write `bytes` to `path` through a temporary file in the same directory and a rename, so a
/// reader sees either the old content or the new, never a part.
pub(crate) fn write_atomic(path: &Path, bytes: &[u8], mode: u32) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = path.with_file_name(format!(".{name}.{}", std::process::id()));
    let mut f = fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(mode)
        .custom_flags(libc::O_CLOEXEC)
        .open(&tmp)
        .at("create", &tmp)?;
    f.write_all(bytes).at("write", &tmp)?;
    drop(f);
    fs::rename(&tmp, path).map_err(|e| {
        let _ = fs::remove_file(&tmp);
        Error::path("rename into place", path, e)
    })
}

/// What `/proc/<pid>/stat` says about a process: its state letter and start time.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct ProcStat {
    pub state: u8,
    pub start_time: u64,
}

/// Read `/proc/<pid>/stat`; `None` when the process does not exist.
pub(crate) fn proc_stat(pid: i32) -> Option<ProcStat> {
    let text = crate::readfile::read_whole(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: fields resume after the last ')'.
    let close = text.iter().rposition(|&b| b == b')')?;
    let rest = std::str::from_utf8(&text[close + 1..]).ok()?;
    let mut fields = rest.split_ascii_whitespace();
    let state = fields.next()?.bytes().next()?;
    // starttime is field 22; `fields` now starts at field 4.
    let start_time = fields.nth(18)?.parse().ok()?;
    Some(ProcStat { state, start_time })
}

/// True when `pid` is the very process recorded (same start time) and has not exited.
pub(crate) fn is_alive(pid: i32, start_time: u64) -> bool {
    pid > 0
        && proc_stat(pid)
            .is_some_and(|s| s.start_time == start_time && s.state != b'Z' && s.state != b'X')
}

/// Status of a container from its record, without locking.
pub(crate) fn derive_status(store: &Store, rec: &Record) -> Status {
    if !is_alive(rec.pid, rec.start_time) {
        return Status::Stopped;
    }
    if store.dir(&rec.id).join(EXEC_FIFO).exists() {
        return Status::Created;
    }
    let frozen = crate::cgroups::manager(&rec.cgroup, None)
        .is_frozen()
        .unwrap_or(false);
    if frozen {
        Status::Paused
    } else {
        Status::Running
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_follow_runcs_rules() {
        assert!(validate_id("web-1").is_ok());
        for bad in ["../x", ".", "..", "", "a/b", "a b"] {
            assert!(
                matches!(validate_id(bad), Err(Error::InvalidId(_))),
                "{bad:?}"
            );
        }
    }

    #[test]
    fn ids_follow_runc_rules() {
        for ok in ["a", "A-b_c+d.e", "0", "..a"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "a\n"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn a_record_of_the_previous_version_loads() {
        let old = r#"{"id": "a", "pid": 7, "start_time": 9, "bundle": "/b", "rootfs": "/b/r",
            "created": "2026-01-01T00:00:00.000000000Z",
            "cgroup_paths": {"": "/sys/fs/cgroup/unified/a", "pids": "/sys/fs/cgroup/pids/a"}}"#;
        let rec: Record = serde_json::from_str(old).unwrap();
        assert_eq!(
            rec.cgroup.driver,
            crate::cgroups::Driver::Cgroupfs(crate::cgroups::Layout::Hybrid)
        );
        assert_eq!(rec.cgroup.paths.0.len(), 2);
        let again: Record = serde_json::from_str(&serde_json::to_string(&rec).unwrap()).unwrap();
        assert_eq!(again.cgroup, rec.cgroup);
        assert_eq!((again.pid, again.start_time), (7, 9));
    }

    #[test]
    fn proc_stat_of_self_has_a_start_time() {
        let me = proc_stat(std::process::id() as i32).expect("own stat");
        assert!(me.start_time > 0);
        assert!(is_alive(std::process::id() as i32, me.start_time));
        assert!(!is_alive(std::process::id() as i32, me.start_time + 1));
    }

    #[test]
    fn the_holder_of_a_lock_is_found() {
        let dir = std::env::temp_dir().join(format!("baleia-lock-{}", std::process::id()));
        fs::create_dir_all(&dir).unwrap();
        let lock = lock_dir(dir.clone()).expect("a free lock is taken at once");
        let st = nix::sys::stat::stat(&dir).unwrap();
        let me = std::process::id() as i32;
        let holders = lock_holders(st.st_dev, st.st_ino);
        assert!(holders.iter().any(|(p, _)| *p == me), "{holders:?}");
        assert_eq!(locks_file_pid(st.st_dev, st.st_ino), Some(me));
        drop(lock);
        assert!(lock_holders(st.st_dev, st.st_ino).is_empty());
        let _ = fs::remove_dir_all(&dir);
    }

    #[test]
    fn reserve_is_exclusive_and_remove_cleans() {
        let root = std::env::temp_dir().join(format!("baleia-store-{}", std::process::id()));
        let store = Store::new(&root);
        let lock = store.reserve("x").expect("first reserve");
        assert!(matches!(store.reserve("x"), Err(Error::Exists(_))));
        assert!(matches!(store.load("x"), Ok(None)));
        drop(lock);
        store.remove("x").expect("remove");
        assert!(matches!(store.load("x"), Err(Error::NotExist(_))));
        let _ = fs::remove_dir_all(&root);
    }
}
