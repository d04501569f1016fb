//! The container's cgroup: host layout detection (v1, v2, hybrid), path resolution with runc's
//! rules, creation, joining, resource limits, freezing, killing every process, stats, removal.
//!
//! The entry points are [`Cgroup::resolve`] (which [`Driver`] manages the container's cgroup
//! and where it lives, no side effects; recorded in the container's state) and [`manager`],
//! the one factory that turns such a record into a [`CgroupManager`]. Nothing outside this
//! module picks a manager or builds a cgroup path.
//!
//! ```no_run
//! use runtime_core::cgroups::{manager, Cgroup};
//! let cg = manager(&Cgroup::resolve(Some("/baleia-doc"), "doc")?, None);
//! cg.create()?;
//! cg.add_pid(std::process::id() as i32)?;
//! # Ok::<(), runtime_core::cgroups::CgroupError>(())
//! ```

mod bpf;
mod dbus;
mod fs;
mod mountinfo;
mod oom;
mod stats;
mod systemd;
mod v1;
mod v2;
mod validate;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub use bpf::{device_program, DeviceRule};
pub use oom::{OomEvent, OomWatcher};
pub use stats::{
    network_interfaces, BlkioEntry, BlkioStats, CpuStats, CpuUsage, HugetlbStats, MemoryEntry,
    MemoryStats, NetworkInterface, PidsStats, Stats, Throttling,
};
pub use systemd::{systemd_annotation_names, SystemdUnit, PROPERTY_ANNOTATION};
pub use validate::validate_resources;

/// Where a container's cgroup lives on every hierarchy of this host, resolved once at `create`
/// and stored in the container's state so that later commands find the same directories even
/// when they run from another cgroup.
///
/// Keys are v1 controller names as mounted (`"cpu"`, `"memory"`, `"name=systemd"`, ...) and `""`
/// for the cgroup2 (unified) hierarchy; values are absolute directories under /sys/fs/cgroup.
/// Controllers mounted together (`cpu,cpuacct`) each get a key, with the same directory.
///
/// ```
/// use std::path::PathBuf;
/// let p = runtime_core::cgroups::CgroupPaths([(String::new(), PathBuf::from("/sys/fs/cgroup/web"))].into());
/// assert_eq!(p.unified_only(), Some(std::path::Path::new("/sys/fs/cgroup/web")));
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CgroupPaths(pub BTreeMap<String, PathBuf>);

/// The cgroup layout of the host.
///
/// ```
/// let hybrid = runtime_core::cgroups::detect().is_ok_and(|l| l == runtime_core::cgroups::Layout::Hybrid);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Layout {
    /// Only cgroup v1 hierarchies.
    V1,
    /// Only the cgroup2 hierarchy (mounted at /sys/fs/cgroup on most current distributions).
    V2,
    /// v1 controllers plus a cgroup2 mount (usually /sys/fs/cgroup/unified), as systemd's
    /// "hybrid" mode and this project's CI machine have. crun refuses it; we handle it like runc.
    Hybrid,
}

/// What manages a container's cgroup, chosen at `create` and recorded in the container's
/// state, so that every later command (possibly from a newer baleia, or after the host's
/// layout changed) manages it the way it was made.
///
/// ```
/// use runtime_core::cgroups::{Driver, Layout, SystemdUnit};
/// let d = Driver::Cgroupfs(Layout::Hybrid);
/// assert_eq!(serde_json::to_string(&d).unwrap(), r#"{"cgroupfs":"hybrid"}"#);
/// let d = Driver::Systemd(SystemdUnit::parse(None, "web")?);
/// assert_eq!(
///     serde_json::to_string(&d).unwrap(),
///     r#"{"systemd":{"unit":"baleia-web.scope","slice":"system.slice"}}"#
/// );
/// # Ok::<(), runtime_core::cgroups::CgroupError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Driver {
    /// We make the cgroup directories and write their files ourselves, on a host of this
    /// layout (runc's cgroupfs driver).
    Cgroupfs(Layout),
    /// systemd makes and owns the cgroup: a transient scope unit (runc's `--systemd-cgroup`).
    /// The scope's files are still written by the cgroupfs manager of its directories, whose
    /// layout the recorded paths show.
    Systemd(SystemdUnit),
}

impl Driver {
    /// The driver of a container recorded before drivers were: cgroupfs, on the layout its
    /// paths show (only the unified hierarchy: v2; v1 hierarchies and a unified one: hybrid).
    fn of_paths(paths: &CgroupPaths) -> Driver {
        Driver::Cgroupfs(if paths.unified_only().is_some() {
            Layout::V2
        } else if paths.0.contains_key("") {
            Layout::Hybrid
        } else {
            Layout::V1
        })
    }
}

/// A container's cgroup as its state records it: the driver that manages it and its
/// directories. [`manager`] turns it into a [`CgroupManager`].
///
/// ```no_run
/// let cg = runtime_core::cgroups::Cgroup::resolve(None, "web")?;
/// println!("{:?} at {:?}", cg.driver, cg.paths);
/// # Ok::<(), runtime_core::cgroups::CgroupError>(())
/// ```
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(from = "Recorded")]
#[non_exhaustive]
pub struct Cgroup {
    /// What manages it.
    #[serde(rename = "cgroup_driver")]
    pub driver: Driver,
    /// Where it is.
    #[serde(rename = "cgroup_paths")]
    pub paths: CgroupPaths,
}

/// A [`Cgroup`] as a state file holds it: states written before drivers were recorded have
/// only the paths.
#[derive(serde::Deserialize)]
struct Recorded {
    #[serde(default)]
    cgroup_driver: Option<Driver>,
    cgroup_paths: CgroupPaths,
}

impl From<Recorded> for Cgroup {
    fn from(r: Recorded) -> Cgroup {
        Cgroup {
            driver: r
                .cgroup_driver
                .unwrap_or_else(|| Driver::of_paths(&r.cgroup_paths)),
            paths: r.cgroup_paths,
        }
    }
}

impl Cgroup {
    /// The cgroup of container `id` with the spec's `cgroupsPath`: the cgroupfs driver on this
    /// host's layout, and [`CgroupPaths::resolve`]'s directories. No side effects.
    ///
    /// ```no_run
    /// let cg = runtime_core::cgroups::Cgroup::resolve(Some("/baleia/web"), "web")?;
    /// # Ok::<(), runtime_core::cgroups::CgroupError>(())
    /// ```
    pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup, CgroupError> {
        // One read of mountinfo for both the layout and the directories.
        let mounts = mountinfo::cgroup_mounts()?;
        let driver = Driver::Cgroupfs(layout_of(&mounts)?);
        let paths = CgroupPaths::resolve_in(&mounts, cgroups_path, id)?;
        Ok(Cgroup { driver, paths })
    }

    /// The cgroup of container `id` under the systemd driver: the scope that the spec's
    /// `cgroupsPath` names with runc's `slice:prefix:name` rules (see [`SystemdUnit::parse`]),
    /// and that scope's directories on every hierarchy. No side effects.
    ///
    /// ```no_run
    /// let cg = runtime_core::cgroups::Cgroup::systemd(Some("machine.slice:baleia:web"), "web")?;
    /// assert!(cg.paths.0.values().all(|d| d.ends_with("machine.slice/baleia-web.scope")));
    /// # Ok::<(), runtime_core::cgroups::CgroupError>(())
    /// ```
    pub fn systemd(cgroups_path: Option<&str>, id: &str) -> Result<Cgroup, CgroupError> {
        let unit = SystemdUnit::parse(cgroups_path, id)?;
        let paths = systemd::paths(&unit)?;
        Ok(Cgroup {
            driver: Driver::Systemd(unit),
            paths,
        })
    }

    /// No cgroup at all (a rootless container without a delegated one): no hierarchy, so
    /// every operation of its manager does nothing.
    ///
    /// ```
    /// assert!(runtime_core::cgroups::Cgroup::none().paths.0.is_empty());
    /// ```
    pub fn none() -> Cgroup {
        let paths = CgroupPaths::default();
        Cgroup {
            driver: Driver::of_paths(&paths),
            paths,
        }
    }

    /// Whether any of its directories exists already (then it may be shared with another
    /// container: a cgroupsPath is not exclusive).
    pub(crate) fn exists(&self) -> bool {
        // One probe: a cgroupsPath shared with another container was made on every
        // hierarchy by that container's create (one per hierarchy was 9 statx on v1 hosts).
        self.paths.0.values().next().is_some_and(|d| d.exists())
    }

    /// This cgroup with runc's `exec --cgroup` sub-cgroups applied (`sub` for every hierarchy,
    /// `ctrl[,ctrl...]:sub` for v1 controllers): each must exist inside this one.
    pub(crate) fn with_sub_cgroups(&self, specs: &[String]) -> Result<Cgroup, CgroupError> {
        Ok(Cgroup {
            driver: self.driver.clone(),
            paths: self.paths.with_sub_cgroups(specs)?,
        })
    }
}

impl CgroupError {
    /// Whether this is the kernel refusing us the cgroup tree (EACCES, EPERM, EROFS): what a
    /// caller without a delegated cgroup meets.
    ///
    /// ```
    /// use runtime_core::cgroups::CgroupError;
    /// let e = CgroupError::Io {
    ///     op: "mkdir".into(),
    ///     path: "/sys/fs/cgroup/x".into(),
    ///     source: std::io::Error::from_raw_os_error(libc::EACCES),
    /// };
    /// assert!(e.is_permission());
    /// ```
    pub fn is_permission(&self) -> bool {
        match self {
            CgroupError::Io { source, .. } => matches!(
                source.raw_os_error(),
                Some(libc::EACCES | libc::EPERM | libc::EROFS)
            ),
            _ => false,
        }
    }
}

/// Everything that can go wrong in this module. Messages name the file or path and carry the
/// errno text of the failing syscall.
///
/// ```
/// let e = runtime_core::cgroups::CgroupPaths::resolve(Some("/../etc"), "x").unwrap_err();
/// assert!(e.to_string().contains("escapes its parent"), "{e}");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum CgroupError {
    /// A syscall on a cgroup file or directory failed.
    #[error("cgroup: {op} {path}: {source}")]
    Io {
        /// What was being done ("write 100", "mkdir", "read", ...).
        op: String,
        /// The file or directory.
        path: PathBuf,
        /// The errno.
        #[source]
        source: std::io::Error,
    },
    /// systemd (the systemd cgroup driver) is not running, refused a request, or its job
    /// failed.
    #[error("systemd cgroup driver: {0}")]
    Systemd(String),
    /// The cgroupsPath of the spec is not acceptable.
    #[error("cgroup: invalid cgroupsPath {path:?}: {reason}")]
    InvalidPath {
        /// The path as given.
        path: String,
        /// Why it is refused.
        reason: String,
    },
    /// A resource value is malformed or out of range; nothing was written.
    #[error("cgroup: invalid {field}: {reason}")]
    InvalidResource {
        /// The spec field (`memory.limit`, `devices[2].type`, ...).
        field: String,
        /// Why it is refused.
        reason: String,
    },
    /// The host cannot honour a requested resource: the controller is not mounted or the
    /// kernel lacks the file.
    #[error("cgroup: {what} is not supported on this host: {path} does not exist")]
    Unsupported {
        /// The resource asked for.
        what: String,
        /// The file that would carry it.
        path: PathBuf,
    },
    /// A kernel file had content we could not parse.
    #[error("cgroup: cannot parse {path}: {reason}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What was wrong.
        reason: String,
    },
    /// A cgroup directory could not be removed because processes remain in it.
    #[error("cgroup: cannot remove {path} after {attempts} attempts: {source}; still in it: {remaining}")]
    Busy {
        /// The directory.
        path: PathBuf,
        /// How many rmdir attempts were made.
        attempts: u32,
        /// The last errno.
        #[source]
        source: std::io::Error,
        /// What is still there (pids, sub-cgroups).
        remaining: String,
    },
    /// No cgroup filesystem is mounted.
    #[error("cgroup: no cgroup filesystem found in /proc/self/mountinfo")]
    NoCgroupFs,
    /// A bpf(2) call failed (device program on cgroup v2).
    #[error("cgroup: bpf {op} on {path}: {source}{log}")]
    Bpf {
        /// The bpf command.
        op: &'static str,
        /// The cgroup directory.
        path: PathBuf,
        /// The errno.
        #[source]
        source: std::io::Error,
        /// The verifier log, if any (prefixed with ": verifier: ").
        log: String,
    },
    /// The cgroup (or one of its ancestors) is frozen: a process put there would stop at
    /// once, and whoever waits for it would wait forever. runc refuses such a cgroup with
    /// the same words.
    #[error("container's cgroup unexpectedly frozen: {path} is frozen")]
    Frozen {
        /// The frozen cgroup directory.
        path: PathBuf,
    },
    /// An `exec --cgroup` sub-cgroup is malformed, names an unknown controller or does not
    /// exist.
    #[error("exec --cgroup {spec:?}: {reason}")]
    SubCgroup {
        /// The sub-cgroup as given.
        spec: String,
        /// Why it is refused.
        reason: String,
    },
    /// A state change (freeze) did not happen in time.
    #[error("cgroup: timed out waiting for {path} to become {what}")]
    Timeout {
        /// The file polled.
        path: PathBuf,
        /// The awaited state.
        what: String,
    },
}

/// Detects the cgroup layout of this host from /proc/self/mountinfo.
///
/// ```no_run
/// let layout = runtime_core::cgroups::detect()?;
/// println!("{layout:?}");
/// # Ok::<(), runtime_core::cgroups::CgroupError>(())
/// ```
pub fn detect() -> Result<Layout, CgroupError> {
    layout_of(&mountinfo::cgroup_mounts()?)
}

fn layout_of(mounts: &[mountinfo::CgroupMount]) -> Result<Layout, CgroupError> {
    let v1 = mounts.iter().any(|m| !m.v2);
    let v2 = mounts.iter().any(|m| m.v2);
    match (v1, v2) {
        (true, true) => Ok(Layout::Hybrid),
        (true, false) => Ok(Layout::V1),
        (false, true) => Ok(Layout::V2),
        (false, false) => Err(CgroupError::NoCgroupFs),
    }
}

/// Normalises a cgroupsPath lexically, refusing any `..` that would climb above its start
/// (runc clamps such paths at the root instead; refusing is safer and the issue asks for it).
fn clean(raw: &str) -> Result<(bool, Vec<String>), CgroupError> {
    let absolute = raw.starts_with('/');
    let mut parts: Vec<String> = Vec::new();
    for comp in raw.split('/') {
        match comp {
            "" | "." => {}
            ".." => {
                if parts.pop().is_none() {
                    return Err(CgroupError::InvalidPath {
                        path: raw.to_string(),
                        reason: "escapes its parent with \"..\"".into(),
                    });
                }
            }
            c => parts.push(c.to_string()),
        }
    }
    Ok((absolute, parts))
}

fn join_rel(base: &Path, parts: &[String]) -> PathBuf {
    let mut p = base.to_path_buf();
    for c in parts {
        p.push(c);
    }
    p
}

impl CgroupPaths {
    /// Resolves the container's cgroup directories with runc's rules, without side effects:
    /// an absolute cgroupsPath is taken from each hierarchy's root; a relative one is relative
    /// to the runtime's own cgroup (v1 and the unified dir of hybrid hosts: the own cgroup of
    /// each hierarchy; pure v2: the parent of the own cgroup, as runc's fs2 driver does,
    /// because the own cgroup usually has processes and so cannot delegate controllers);
    /// `None` (or empty) means the relative path `<id>`, runc's default.
    ///
    /// ```no_run
    /// use runtime_core::cgroups::CgroupPaths;
    /// let p = CgroupPaths::resolve(Some("/baleia/abc"), "abc")?;
    /// assert!(CgroupPaths::resolve(Some("/../etc"), "abc").is_err());
    /// # Ok::<(), runtime_core::cgroups::CgroupError>(())
    /// ```
    pub fn resolve(cgroups_path: Option<&str>, id: &str) -> Result<CgroupPaths, CgroupError> {
        Self::resolve_in(&mountinfo::cgroup_mounts()?, cgroups_path, id)
    }

    fn resolve_in(
        mounts: &[mountinfo::CgroupMount],
        cgroups_path: Option<&str>,
        id: &str,
    ) -> Result<CgroupPaths, CgroupError> {
        let raw = match cgroups_path {
            Some(p) if !p.is_empty() => p.to_string(),
            _ => id.to_string(),
        };
        let (absolute, parts) = clean(&raw)?;
        if parts.is_empty() {
            return Err(CgroupError::InvalidPath {
                path: raw,
                reason: "names the root cgroup, which a container cannot own".into(),
            });
        }
        let own = mountinfo::own_cgroups()?;
        let pure_v2 = mounts.iter().all(|m| m.v2);
        let mut map = BTreeMap::new();
        let mut seen_v2 = false;
        for m in mounts {
            if m.v2 {
                // Several cgroup2 mounts show the same hierarchy: the first is enough.
                if seen_v2 {
                    continue;
                }
                seen_v2 = true;
            }
            let keys: Vec<String> = if m.v2 {
                vec![String::new()]
            } else {
                m.controllers.clone()
            };
            let Some(first) = keys.first() else { continue };
            if keys.iter().any(|k| map.contains_key(k)) {
                continue; // the same v1 hierarchy mounted twice
            }
            let base = if absolute {
                m.mount_point.clone()
            } else {
                let own_path = own.get(first).cloned().unwrap_or_else(|| "/".to_string());
                let mut rel = m.relative_to_root(&own_path);
                if m.v2 && pure_v2 {
                    rel.pop();
                }
                join_rel(&m.mount_point, &rel)
            };
            let dir = join_rel(&base, &parts);
            for k in keys {
                map.insert(k, dir.clone());
            }
        }
        if map.is_empty() {
            return Err(CgroupError::NoCgroupFs);
        }
        Ok(CgroupPaths(map))
    }

    /// The cgroup2 directory when the host is pure v2 (usable with clone3's
    /// CLONE_INTO_CGROUP); `None` on v1 and hybrid hosts.
    ///
    /// ```no_run
    /// # let paths = runtime_core::cgroups::CgroupPaths::default();
    /// if let Some(dir) = paths.unified_only() { println!("born into {}", dir.display()); }
    /// ```
    pub fn unified_only(&self) -> Option<&Path> {
        if self.0.len() == 1 {
            self.0.get("").map(PathBuf::as_path)
        } else {
            None
        }
    }

    /// These paths with `exec --cgroup` sub-cgroups applied (see [`Cgroup::with_sub_cgroups`]).
    fn with_sub_cgroups(&self, specs: &[String]) -> Result<CgroupPaths, CgroupError> {
        let mut paths = self.clone();
        let v2 = self.unified_only().is_some();
        let mut whole: Option<&str> = None;
        for spec in specs {
            let (ctrls, sub) = match spec.split_once(':') {
                Some((c, s)) => (Some(c), s),
                None => (None, spec.as_str()),
            };
            let bad = |why: &str| CgroupError::SubCgroup {
                spec: spec.clone(),
                reason: why.to_string(),
            };
            let rel = Path::new(sub);
            if sub.is_empty()
                || rel.is_absolute()
                || rel
                    .components()
                    .any(|c| !matches!(c, std::path::Component::Normal(_)))
            {
                return Err(bad(
                    "the sub-cgroup must be a relative path inside the container's cgroup",
                ));
            }
            let keys: Vec<String> = match ctrls {
                None => {
                    if whole.replace(sub).is_some() {
                        return Err(bad("only one sub-cgroup may be given for every controller"));
                    }
                    self.0.keys().cloned().collect()
                }
                Some(_) if v2 => {
                    return Err(bad(
                        "cgroup v2 has no per-controller sub-cgroups: give the path alone",
                    ))
                }
                Some(list) => {
                    let keys: Vec<String> = list.split(',').map(str::to_string).collect();
                    if let Some(k) = keys
                        .iter()
                        .find(|k| k.is_empty() || !self.0.contains_key(*k))
                    {
                        return Err(bad(&format!("no cgroup v1 controller {k:?} on this host")));
                    }
                    keys
                }
            };
            for k in keys {
                let dir = self.0[&k].join(rel);
                if !dir.is_dir() {
                    return Err(bad(&format!("{} does not exist", dir.display())));
                }
                paths.0.insert(k, dir);
            }
        }
        Ok(paths)
    }

    /// What the container's own `/sys/fs/cgroup` shows (runc's "cgroup" mount): the unified
    /// directory alone on a pure v2 host, otherwise each hierarchy's directory with the name
    /// of its subdirectory there (`unified` for the cgroup2 one of a hybrid host).
    pub(crate) fn container_view(&self) -> ContainerView<'_> {
        match self.unified_only() {
            Some(dir) => ContainerView::Unified(dir),
            None => ContainerView::Hierarchies(
                self.0
                    .iter()
                    .map(|(name, dir)| {
                        let sub = match name.as_str() {
                            "" => "unified",
                            n => n.strip_prefix("name=").unwrap_or(n),
                        };
                        (dir.as_path(), sub)
                    })
                    .collect(),
            ),
        }
    }

    /// The distinct directories, each once (comounted v1 controllers share one).
    fn dirs(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.0.values().cloned().collect();
        v.sort();
        v.dedup();
        v
    }
}

/// See [`CgroupPaths::container_view`].
pub(crate) enum ContainerView<'a> {
    /// The cgroup2 directory, the only hierarchy.
    Unified(&'a Path),
    /// (host directory, subdirectory of the container's /sys/fs/cgroup) per hierarchy.
    Hierarchies(Vec<(&'a Path, &'a str)>),
}

/// The operations on a container's cgroup, implemented for cgroup v1 (which also handles the
/// unified directory of hybrid hosts) and for cgroup v2.
///
/// ```no_run
/// use runtime_core::cgroups::{manager, Cgroup, CgroupManager};
/// let cg = manager(&Cgroup::resolve(Some("/baleia-doc"), "doc")?, None);
/// cg.freeze()?;
/// assert!(cg.is_frozen()?);
/// cg.thaw()?;
/// # Ok::<(), runtime_core::cgroups::CgroupError>(())
/// ```
pub trait CgroupManager {
    /// Creates every directory (missing parents too). v1 cpuset: copies cpus/mems from the
    /// parent first, so that processes can join.
    fn create(&self) -> Result<(), CgroupError>;
    /// Moves `pid` into the cgroup on every hierarchy.
    fn add_pid(&self, pid: i32) -> Result<(), CgroupError>;
    /// Applies the spec's resources, as at `create`: every field present is written, after
    /// the whole set was validated (an invalid value writes nothing).
    fn apply_resources(&self, r: &oci_spec::runtime::LinuxResources) -> Result<(), CgroupError>;
    /// Applies resources with runc's `update` semantics: omitted fields keep their current
    /// values (a lone cpu quota keeps the period, a lone swap keeps the memory limit) and
    /// device rules are ignored, as runc's update does.
    fn update(&self, r: &oci_spec::runtime::LinuxResources) -> Result<(), CgroupError>;
    /// Host pids of every process in the cgroup and its sub-cgroups.
    fn pids(&self) -> Result<Vec<i32>, CgroupError>;
    /// Freezes every process and waits until the kernel reports the cgroup frozen.
    fn freeze(&self) -> Result<(), CgroupError>;
    /// Thaws the cgroup.
    fn thaw(&self) -> Result<(), CgroupError>;
    /// Whether the cgroup is frozen (or freezing).
    fn is_frozen(&self) -> Result<bool, CgroupError>;
    /// Fails with [`CgroupError::Frozen`] when the cgroup, or the nearest existing ancestor
    /// that would pass its state on to it, is frozen: checked before a container is put into
    /// it. A cgroup that does not exist yet counts as thawed unless an ancestor is frozen.
    fn refuse_frozen(&self) -> Result<(), CgroupError>;
    /// Sends `signal` to every process: cgroup.kill on v2 for SIGKILL, otherwise freeze,
    /// signal each, thaw (so that nothing forks in between).
    fn kill_all(&self, signal: i32) -> Result<(), CgroupError>;
    /// Removes the container's cgroup directories (and sub-cgroups), bottom-up, retrying a
    /// bounded number of times on EBUSY; ENOENT is fine. Parents are left, as runc does.
    fn destroy(&self) -> Result<(), CgroupError>;
    /// One rmdir per directory, no retry: `Ok(true)` when the cgroup is gone, `Ok(false)`
    /// when the kernel refused (processes or sub-cgroups are left, possibly another
    /// container's) and nothing is known; the caller then looks and decides. What a `delete`
    /// tries first: a stopped container's cgroup is nearly always empty. Managers that
    /// cannot remove directories themselves (a systemd scope) answer `Ok(false)`.
    fn remove_if_empty(&self) -> Result<bool, CgroupError> {
        Ok(false)
    }
    /// Statistics shaped like the `data` of runc's `events --stats`.
    fn stats(&self) -> Result<Stats, CgroupError>;
    /// The paths this manager works on.
    fn paths(&self) -> &CgroupPaths;
    /// The container's cgroup2 directory when the cgroup is there alone (pure v2) and exists
    /// before its first process: a process can be born into it (clone3's CLONE_INTO_CGROUP),
    /// and it can be given to the root of a container's user namespace. `None` where
    /// processes join by writing cgroup.procs, or make the cgroup by joining it (a new
    /// systemd scope: [`CgroupManager::add_pid`] starts it).
    fn unified_dir(&self) -> Option<&Path> {
        None
    }
    /// The files a single-threaded process writes "0" into to join this cgroup itself, one
    /// per hierarchy, instead of being moved with [`CgroupManager::add_pid`]. On cgroup v1
    /// that is the `tasks` file: a thread moving itself is the one move the kernel makes
    /// without taking the global threadgroup lock for writing, whose first taker waits out an
    /// RCU grace period (14-19 ms measured here, the longest step of a `run` on v1). `None`
    /// where the runtime must move it (a systemd scope is started with its first process) or
    /// where it is born in its cgroup (pure v2, see [`CgroupManager::unified_dir`]).
    fn self_join_files(&self) -> Option<Vec<PathBuf>> {
        None
    }
}

/// What only `create` knows about the cgroup it makes, beyond its record: the container's id
/// and the spec's annotations. A new systemd scope takes its description and its
/// `org.systemd.property.*` extras from them; the cgroupfs driver needs neither (and ignores
/// those annotations, as runc does). Built before anything exists, so that a bad annotation
/// fails first.
///
/// ```no_run
/// use std::collections::HashMap;
/// use runtime_core::cgroups::{Cgroup, Creating};
/// let bad = HashMap::from([("org.systemd.property.X".to_string(), "uint64 nope".to_string())]);
/// assert!(Creating::new(&Cgroup::systemd(None, "web")?, "web", &bad).is_err());
/// assert!(Creating::new(&Cgroup::resolve(None, "web")?, "web", &bad).is_ok());
/// # Ok::<(), runtime_core::cgroups::CgroupError>(())
/// ```
#[derive(Debug, Clone)]
pub struct Creating {
    description: String,
    extra: Vec<(String, dbus::Value)>,
}

impl Creating {
    /// What container `id`, with the spec's `annotations`, needs from its new `cgroup`.
    ///
    /// ```no_run
    /// use runtime_core::cgroups::{Cgroup, Creating};
    /// let c = Creating::new(&Cgroup::resolve(None, "web")?, "web", &Default::default())?;
    /// # Ok::<(), runtime_core::cgroups::CgroupError>(())
    /// ```
    pub fn new(
        cgroup: &Cgroup,
        id: &str,
        annotations: &std::collections::HashMap<String, String>,
    ) -> Result<Creating, CgroupError> {
        let extra = match cgroup.driver {
            Driver::Systemd(_) => systemd::annotation_props(annotations)?,
            Driver::Cgroupfs(_) => Vec::new(),
        };
        Ok(Creating {
            description: format!("baleia container {id}"),
            extra,
        })
    }
}

/// The one factory of managers: the manager of a recorded cgroup, by its driver. (A new driver
/// is a new arm here.) `creating` is given by `create` only, for the cgroup it is about to
/// make; every later command manages a cgroup that exists (`None`: a systemd scope is then
/// the one that was started, never started again).
///
/// ```no_run
/// use runtime_core::cgroups::{manager, Cgroup};
/// let cg = manager(&Cgroup::resolve(None, "abc")?, None);
/// println!("{:?}", cg.pids()?);
/// # Ok::<(), runtime_core::cgroups::CgroupError>(())
/// ```
pub fn manager(cgroup: &Cgroup, creating: Option<&Creating>) -> Box<dyn CgroupManager> {
    match &cgroup.driver {
        Driver::Cgroupfs(Layout::V2) => Box::new(v2::V2Manager::new(cgroup.paths.clone())),
        // v1's manager also handles the unified directory of a hybrid host.
        Driver::Cgroupfs(Layout::V1 | Layout::Hybrid) => {
            Box::new(v1::V1Manager::new(cgroup.paths.clone()))
        }
        Driver::Systemd(unit) => {
            // The scope's files: on the layout its recorded directories show.
            let files = Cgroup {
                driver: Driver::of_paths(&cgroup.paths),
                paths: cgroup.paths.clone(),
            };
            Box::new(systemd::SystemdManager::new(
                unit.clone(),
                manager(&files, None),
                creating.cloned(),
            ))
        }
    }
}

/// The device rules runc adds after the spec's own (specconv's AllowedDevices): mknod of any
/// char or block device, /dev/null, zero, full, random, urandom, tty, console, ptmx and the
/// pts slaves, so that a container whose spec denies everything still has its basic /dev.
/// Append them to the spec's `linux.resources.devices` before [`CgroupManager::apply_resources`].
///
/// ```
/// let rules = runtime_core::cgroups::default_device_rules();
/// assert!(rules.iter().all(|r| r.allow()));
/// ```
pub fn default_device_rules() -> Vec<oci_spec::runtime::LinuxDeviceCgroup> {
    use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
    let rule = |typ, major: Option<i64>, minor: Option<i64>, access: &str| {
        let mut d = LinuxDeviceCgroup::default();
        d.set_allow(true);
        d.set_typ(Some(typ));
        d.set_major(major);
        d.set_minor(minor);
        d.set_access(Some(access.to_string()));
        d
    };
    let c = LinuxDeviceType::C;
    vec![
        rule(c, None, None, "m"),
        rule(LinuxDeviceType::B, None, None, "m"),
        rule(c, Some(1), Some(3), "rwm"),
        rule(c, Some(1), Some(8), "rwm"),
        rule(c, Some(1), Some(7), "rwm"),
        rule(c, Some(5), Some(0), "rwm"),
        rule(c, Some(1), Some(5), "rwm"),
        rule(c, Some(1), Some(9), "rwm"),
        rule(c, Some(5), Some(1), "rwm"),
        rule(c, Some(136), None, "rwm"),
        rule(c, Some(5), Some(2), "rwm"),
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_state_without_a_driver_gets_the_one_its_paths_show() {
        let old = |paths: &str| {
            serde_json::from_str::<Cgroup>(&format!(r#"{{"cgroup_paths": {paths}}}"#))
                .unwrap()
                .driver
        };
        assert_eq!(
            old(r#"{"": "/sys/fs/cgroup/a"}"#),
            Driver::Cgroupfs(Layout::V2)
        );
        assert_eq!(
            old(r#"{"": "/sys/fs/cgroup/unified/a", "pids": "/sys/fs/cgroup/pids/a"}"#),
            Driver::Cgroupfs(Layout::Hybrid)
        );
        assert_eq!(
            old(r#"{"pids": "/sys/fs/cgroup/pids/a"}"#),
            Driver::Cgroupfs(Layout::V1)
        );
        assert_eq!(old("{}"), Cgroup::none().driver);
    }

    #[test]
    fn a_recorded_driver_is_kept() {
        let cg = Cgroup {
            driver: Driver::Cgroupfs(Layout::Hybrid),
            paths: CgroupPaths([(String::new(), PathBuf::from("/u/a"))].into()),
        };
        let json = serde_json::to_string(&cg).unwrap();
        assert!(
            json.contains(r#""cgroup_driver":{"cgroupfs":"hybrid"}"#),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Cgroup>(&json).unwrap(), cg);
    }

    fn systemd_cgroup(dir: &str) -> Cgroup {
        Cgroup {
            driver: Driver::Systemd(SystemdUnit::parse(Some("a-b.slice:p:n"), "n").unwrap()),
            paths: CgroupPaths([(String::new(), PathBuf::from(dir))].into()),
        }
    }

    #[test]
    fn a_systemd_scope_is_recorded_with_its_unit() {
        let cg = systemd_cgroup("/sys/fs/cgroup/a.slice/a-b.slice/p-n.scope");
        let json = serde_json::to_string(&cg).unwrap();
        assert!(
            json.contains(
                r#""cgroup_driver":{"systemd":{"unit":"p-n.scope","slice":"a-b.slice"}}"#
            ),
            "{json}"
        );
        assert_eq!(serde_json::from_str::<Cgroup>(&json).unwrap(), cg);
    }

    #[test]
    fn only_a_recorded_scope_can_be_born_into() {
        // A scope being made exists only once add_pid started it with its first process;
        // the one a state records exists, and exec's processes are born into it.
        let cg = systemd_cgroup("/sys/fs/cgroup/a.slice/a-b.slice/p-n.scope");
        let new = Creating::new(&cg, "n", &Default::default()).unwrap();
        assert_eq!(manager(&cg, Some(&new)).unified_dir(), None);
        assert_eq!(
            manager(&cg, None).unified_dir(),
            Some(Path::new("/sys/fs/cgroup/a.slice/a-b.slice/p-n.scope"))
        );
    }

    #[test]
    fn systemd_annotations_are_read_for_a_scope_only() {
        let bad = std::collections::HashMap::from([(
            format!("{PROPERTY_ANNOTATION}X"),
            "uint64 nope".to_string(),
        )]);
        let scope = systemd_cgroup("/sys/fs/cgroup/x.scope");
        let e = Creating::new(&scope, "n", &bad).unwrap_err();
        assert!(e.to_string().contains("org.systemd.property.X"), "{e}");
        let fs = Cgroup {
            driver: Driver::Cgroupfs(Layout::V2),
            paths: scope.paths.clone(),
        };
        assert!(Creating::new(&fs, "n", &bad).is_ok());
    }

    #[test]
    fn clean_refuses_escape_and_keeps_inner_dots() {
        assert!(clean("/../x").is_err());
        assert!(clean("a/../../x").is_err());
        let (abs, parts) = clean("/a/./b/../c").unwrap();
        assert!(abs);
        assert_eq!(parts, vec!["a", "c"]);
        let (abs, parts) = clean("x/y").unwrap();
        assert!(!abs);
        assert_eq!(parts, vec!["x", "y"]);
    }
}
