//! The state store: one directory per container under the state root.
//!
//! `mkdir` of `<root>/<id>` is the uniqueness check (atomic, so two concurrent `create`s of one id
//! give one container); `flock` on that directory serialises commands that change a container;
//! `state.json` is written to a temporary name and renamed so readers never see half a file.
//! Status is never stored: it is derived from the init process (alive, with the start time we
//! recorded, so a reused pid is not mistaken for it), the exec fifo and the cgroup freezer.

use std::collections::HashMap;
use std::fs;
use std::io::Write;
use std::os::fd::OwnedFd;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use nix::fcntl::{Flock, FlockArg, OFlag};
use nix::sys::stat::Mode;
use serde::{Deserialize, Serialize};

use crate::cgroups::CgroupPaths;
use crate::error::{Error, IoContext, Result, SysContext};

/// File name of the per-container record.
const STATE_FILE: &str = "state.json";
/// File name of the fifo the init blocks on until `start`.
pub(crate) const EXEC_FIFO: &str = "exec.fifo";

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
    /// The container's cgroup on every hierarchy.
    pub cgroup_paths: CgroupPaths,
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
}

/// The state root (`--root`, default `/run/baleia`).
///
/// ```no_run
/// let store = runtime_core::state::Store::new("/run/baleia");
/// for id in store.ids().unwrap() { println!("{id}"); }
/// ```
#[derive(Debug, Clone)]
pub struct Store {
    root: PathBuf,
}

/// An exclusive lock on one container's directory; released on drop.
#[derive(Debug)]
pub struct Lock {
    _flock: Flock<OwnedFd>,
    dir: PathBuf,
}

impl Lock {
    /// The locked container's state directory.
    pub fn dir(&self) -> &Path {
        &self.dir
    }
}

/// Check an id against runc's rules: `[A-Za-z0-9_+.-]+`, not "." or "..".
///
/// ```
/// assert!(runtime_core::state::validate_id("web-1").is_ok());
/// assert!(runtime_core::state::validate_id("../x").is_err());
/// ```
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
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o711)
            .create(&self.root)
            .at("create state root", &self.root)?;
        let dir = self.dir(id);
        match fs::DirBuilder::new().mode(0o711).create(&dir) {
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
        let dir = self.dir(id);
        if !dir.is_dir() {
            return Err(Error::NotExist(id.to_string()));
        }
        lock_dir(dir)
    }

    /// Read the record of container `id`; `Ok(None)` while its `create` is still running.
    pub fn load(&self, id: &str) -> Result<Option<Record>> {
        validate_id(id)?;
        let dir = self.dir(id);
        let path = dir.join(STATE_FILE);
        match fs::read(&path) {
            Ok(bytes) => serde_json::from_slice(&bytes)
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
        match fs::remove_dir_all(&dir) {
            Ok(()) => Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::path("remove state directory", &dir, e)),
        }
    }
}

fn lock_dir(dir: PathBuf) -> Result<Lock> {
    let fd = nix::fcntl::open(
        &dir,
        OFlag::O_RDONLY | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        Mode::empty(),
    )
    .ctx(|| format!("open {}", dir.display()))?;
    let flock = Flock::lock(fd, FlockArg::LockExclusive)
        .map_err(|(_, e)| Error::sys(format!("lock {}", dir.display()), e))?;
    Ok(Lock { _flock: flock, dir })
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
    let text = fs::read(format!("/proc/{pid}/stat")).ok()?;
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
    let frozen = crate::cgroups::manager(&rec.cgroup_paths)
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
    fn ids_follow_runc_rules() {
        for ok in ["a", "A-b_c+d.e", "0", "..a"] {
            assert!(validate_id(ok).is_ok(), "{ok}");
        }
        for bad in ["", ".", "..", "a/b", "a b", "é", "a\n"] {
            assert!(validate_id(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn proc_stat_of_self_has_a_start_time() {
        let me = proc_stat(std::process::id() as i32).expect("own stat");
        assert!(me.start_time > 0);
        assert!(is_alive(std::process::id() as i32, me.start_time));
        assert!(!is_alive(std::process::id() as i32, me.start_time + 1));
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
