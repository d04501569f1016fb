//! Small helpers on cgroup files whose errors name the file and the errno.

use super::CgroupError;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

pub(crate) fn io_err(op: impl Into<String>, path: &Path, source: std::io::Error) -> CgroupError {
    CgroupError::Io {
        op: op.into(),
        path: path.to_path_buf(),
        source,
    }
}

/// Writes `value` to `dir/name` in one write(2), as cgroup files want. A missing file is
/// reported as Unsupported (the controller is not mounted or the kernel lacks the knob).
pub(crate) fn write(dir: &Path, name: &str, value: &str) -> Result<(), CgroupError> {
    Knob::open(dir, name, value)?.put(value)
}

/// A cgroup file kept open for several writes of one value each (devices.allow takes one
/// rule per write(2)): an open and a close per file instead of per value.
pub(crate) struct Knob {
    path: PathBuf,
    file: std::fs::File,
}

impl Knob {
    /// Opens `dir/name` for writing; `first` (the value about to be written) names what a
    /// missing file cannot do.
    pub(crate) fn open(dir: &Path, name: &str, first: &str) -> Result<Knob, CgroupError> {
        let path = dir.join(name);
        match std::fs::OpenOptions::new().write(true).open(&path) {
            Ok(file) => Ok(Knob { path, file }),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Err(CgroupError::Unsupported {
                what: format!("{name} = {first:?}"),
                path,
            }),
            Err(e) => Err(io_err(format!("open for writing {first:?} to"), &path, e)),
        }
    }

    /// One write(2) of `value`.
    pub(crate) fn put(&mut self, value: &str) -> Result<(), CgroupError> {
        self.file
            .write_all(value.as_bytes())
            .map_err(|e| io_err(format!("write {value:?} to"), &self.path, e))
    }
}

pub(crate) fn read(dir: &Path, name: &str) -> Result<String, CgroupError> {
    let path = dir.join(name);
    crate::readfile::read_to_string(&path).map_err(|e| io_err("read", &path, e))
}

/// Reads a file if it exists.
pub(crate) fn read_opt(dir: &Path, name: &str) -> Result<Option<String>, CgroupError> {
    let path = dir.join(name);
    match crate::readfile::read_to_string(&path) {
        Ok(s) => Ok(Some(s)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(io_err("read", &path, e)),
    }
}

pub(crate) fn parse_err(path: &Path, reason: impl Into<String>) -> CgroupError {
    CgroupError::Parse {
        path: path.to_path_buf(),
        reason: reason.into(),
    }
}

/// A single number; "max" reads as u64::MAX.
pub(crate) fn read_u64(dir: &Path, name: &str) -> Result<u64, CgroupError> {
    let s = read(dir, name)?;
    let t = s.trim();
    if t == "max" {
        return Ok(u64::MAX);
    }
    t.parse()
        .map_err(|_| parse_err(&dir.join(name), format!("not a number: {t:?}")))
}

pub(crate) fn read_u64_opt(dir: &Path, name: &str) -> Result<Option<u64>, CgroupError> {
    if dir.join(name).exists() {
        read_u64(dir, name).map(Some)
    } else {
        Ok(None)
    }
}

/// "key value" lines (memory.stat, cpu.stat, ...).
pub(crate) fn read_keyed(dir: &Path, name: &str) -> Result<Vec<(String, u64)>, CgroupError> {
    let Some(s) = read_opt(dir, name)? else {
        return Ok(Vec::new());
    };
    Ok(s.lines()
        .filter_map(|l| {
            let mut it = l.split_whitespace();
            let k = it.next()?;
            let v = it.next()?.parse().ok()?;
            Some((k.to_string(), v))
        })
        .collect())
}

pub(crate) fn keyed(v: &[(String, u64)], key: &str) -> u64 {
    v.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| *v)
        .unwrap_or(0)
}

/// Pids in `dir/cgroup.procs` and in every sub-cgroup.
pub(crate) fn pids_recursive(dir: &Path, out: &mut Vec<i32>) -> Result<(), CgroupError> {
    let Some(s) = read_opt(dir, "cgroup.procs")? else {
        return Ok(());
    };
    for l in s.lines() {
        if let Ok(p) = l.trim().parse() {
            out.push(p);
        }
    }
    for sub in subdirs(dir)? {
        pids_recursive(&sub, out)?;
    }
    Ok(())
}

pub(crate) fn subdirs(dir: &Path) -> Result<Vec<PathBuf>, CgroupError> {
    let rd = match std::fs::read_dir(dir) {
        Ok(rd) => rd,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(e) => return Err(io_err("read directory", dir, e)),
    };
    let mut v = Vec::new();
    for ent in rd {
        let ent = ent.map_err(|e| io_err("read directory", dir, e))?;
        if ent.file_type().map(|t| t.is_dir()).unwrap_or(false) {
            v.push(ent.path());
        }
    }
    Ok(v)
}

pub(crate) fn mkdir_p(dir: &Path) -> Result<(), CgroupError> {
    made_dir(dir).map(drop)
}

/// `mkdir -p dir`, saying whether `dir` itself was made now (false: it was there). One mkdir
/// when its parent exists, as it mostly does (create_dir_all stats first).
pub(crate) fn made_dir(dir: &Path) -> Result<bool, CgroupError> {
    match std::fs::create_dir(dir) {
        Ok(()) => Ok(true),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(false),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => std::fs::create_dir_all(dir)
            .map(|()| true)
            .map_err(|e| io_err("mkdir", dir, e)),
        Err(e) => Err(io_err("mkdir", dir, e)),
    }
}

/// One rmdir of each of `dirs`: true when all are gone (or were), false at the first the
/// kernel refuses with EBUSY or ENOTEMPTY (the rest are left as they are).
pub(crate) fn rmdir_each(dirs: &[PathBuf]) -> Result<bool, CgroupError> {
    for d in dirs {
        match std::fs::remove_dir(d) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) if matches!(e.raw_os_error(), Some(libc::EBUSY | libc::ENOTEMPTY)) => {
                return Ok(false)
            }
            Err(e) => return Err(io_err("rmdir", d, e)),
        }
    }
    Ok(true)
}

const RMDIR_ATTEMPTS: u32 = 50;

/// Removes `dir` and its sub-cgroups bottom-up. EBUSY (processes still exiting) is retried
/// with a growing pause, bounded to about a second in all; ENOENT means already gone.
pub(crate) fn remove_tree(dir: &Path) -> Result<(), CgroupError> {
    // The common case, a leaf cgroup whose processes are gone, is one rmdir: the directory is
    // listed for sub-cgroups only when the kernel refuses (EBUSY also means it has children).
    match std::fs::remove_dir(dir) {
        Ok(()) => return Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(_) => {}
    }
    for sub in subdirs(dir)? {
        remove_tree(&sub)?;
    }
    let mut delay = Duration::from_millis(1);
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut attempt = 0;
    loop {
        attempt += 1;
        match std::fs::remove_dir(dir) {
            Ok(()) => return Ok(()),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e)
                if e.raw_os_error() == Some(libc::EBUSY)
                    || e.raw_os_error() == Some(libc::ENOTEMPTY) =>
            {
                if attempt >= RMDIR_ATTEMPTS || Instant::now() >= deadline {
                    let mut pids = Vec::new();
                    let _ = pids_recursive(dir, &mut pids);
                    let subs = subdirs(dir).unwrap_or_default();
                    return Err(CgroupError::Busy {
                        path: dir.to_path_buf(),
                        attempts: attempt,
                        source: e,
                        remaining: format!("pids {pids:?}, sub-cgroups {subs:?}"),
                    });
                }
                // A bounded back-off: the kernel needs the exiting tasks to be reaped.
                std::thread::sleep(delay);
                delay = (delay * 2).min(Duration::from_millis(100));
            }
            Err(e) => return Err(io_err("rmdir", dir, e)),
        }
    }
}

/// Polls `check` until true, bounded; `what` and `path` name it in the timeout error.
pub(crate) fn wait_until(
    path: &Path,
    what: &str,
    mut check: impl FnMut() -> Result<bool, CgroupError>,
) -> Result<(), CgroupError> {
    let deadline = Instant::now() + Duration::from_secs(10);
    let mut delay = Duration::from_micros(200);
    loop {
        if check()? {
            return Ok(());
        }
        if Instant::now() >= deadline {
            return Err(CgroupError::Timeout {
                path: path.to_path_buf(),
                what: what.to_string(),
            });
        }
        std::thread::sleep(delay);
        delay = (delay * 2).min(Duration::from_millis(50));
    }
}

/// Signals a pid, ignoring ESRCH (it exited meanwhile).
pub(crate) fn kill_pid(pid: i32, signal: i32) -> Result<(), CgroupError> {
    // SAFETY: kill(2) has no memory effects.
    let r = unsafe { libc::kill(pid, signal) };
    if r != 0 {
        let e = std::io::Error::last_os_error();
        if e.raw_os_error() != Some(libc::ESRCH) {
            return Err(io_err(
                format!("kill({pid}, {signal})"),
                Path::new("/proc"),
                e,
            ));
        }
    }
    Ok(())
}

/// cgroup v1 freezer: the state of `dir`, or of its nearest existing ancestor (a new cgroup
/// inherits its parent's state). v1 reports the effective state, parents included, so the
/// first directory found decides. The root cgroup has no freezer.state and is never frozen.
pub(crate) fn v1_frozen_ancestor(dir: &Path) -> Result<Option<PathBuf>, CgroupError> {
    for d in dir.ancestors() {
        if !d.is_dir() {
            continue;
        }
        return match read_opt(d, "freezer.state")? {
            Some(s) if s.trim() != "THAWED" => Ok(Some(d.to_path_buf())),
            _ => Ok(None),
        };
    }
    Ok(None)
}

/// cgroup v2: the first of `dir` and its ancestors whose cgroup.freeze is 1. v2 shows each
/// cgroup's own setting, so every ancestor up to the root (which has no cgroup.freeze) counts.
pub(crate) fn v2_frozen_ancestor(dir: &Path) -> Result<Option<PathBuf>, CgroupError> {
    for d in dir.ancestors() {
        if !d.is_dir() {
            continue;
        }
        match read_opt(d, "cgroup.freeze")? {
            Some(s) if s.trim() == "1" => return Ok(Some(d.to_path_buf())),
            Some(_) => {}
            None => return Ok(None),
        }
    }
    Ok(None)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(tag: &str) -> PathBuf {
        let root = std::env::temp_dir().join(format!("baleia-frz-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(root.join("parent/child")).unwrap();
        root
    }

    #[test]
    fn v1_state_of_the_nearest_existing_cgroup_decides() {
        let root = tree("v1");
        let (parent, child) = (root.join("parent"), root.join("parent/child"));
        std::fs::write(parent.join("freezer.state"), "FROZEN\n").unwrap();
        std::fs::write(child.join("freezer.state"), "THAWED\n").unwrap();
        assert_eq!(v1_frozen_ancestor(&child).unwrap(), None);
        // Not created yet: it would inherit the parent's state.
        assert_eq!(
            v1_frozen_ancestor(&parent.join("new/deeper")).unwrap(),
            Some(parent.clone())
        );
        std::fs::write(child.join("freezer.state"), "FREEZING\n").unwrap();
        assert_eq!(v1_frozen_ancestor(&child).unwrap(), Some(child.clone()));
        // The root has no freezer.state.
        assert_eq!(v1_frozen_ancestor(&root.join("other")).unwrap(), None);
        std::fs::remove_dir_all(&root).unwrap();
    }

    #[test]
    fn v2_any_frozen_ancestor_up_to_the_root_counts() {
        let root = tree("v2");
        let (parent, child) = (root.join("parent"), root.join("parent/child"));
        std::fs::write(parent.join("cgroup.freeze"), "1\n").unwrap();
        std::fs::write(child.join("cgroup.freeze"), "0\n").unwrap();
        assert_eq!(v2_frozen_ancestor(&child).unwrap(), Some(parent.clone()));
        std::fs::write(parent.join("cgroup.freeze"), "0\n").unwrap();
        assert_eq!(v2_frozen_ancestor(&child.join("new")).unwrap(), None);
        std::fs::write(child.join("cgroup.freeze"), "1\n").unwrap();
        assert_eq!(v2_frozen_ancestor(&child.join("new")).unwrap(), Some(child));
        std::fs::remove_dir_all(&root).unwrap();
    }
}
