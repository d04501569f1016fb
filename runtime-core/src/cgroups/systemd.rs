//! The systemd cgroup driver (runc's `--systemd-cgroup`): the container lives in a transient
//! scope unit that systemd creates and owns, so that systemd (and whatever reads its units, a
//! kubelet for one) sees and accounts for it.
//!
//! The cgroupsPath is runc's `slice:prefix:name`: the scope `prefix-name.scope` in `slice`
//! (`system.slice` when empty; `-` is the root slice; `a-b.slice` lives at
//! `a.slice/a-b.slice`). An empty cgroupsPath means `system.slice:baleia:<id>`.
//!
//! The scope is started through systemd's D-Bus API (StartTransientUnit) with `Delegate=yes`,
//! the init's pid and the resources that systemd knows as unit properties; then, as runc does,
//! every resource is also written to the scope's cgroup files by the cgroupfs manager, which
//! covers what systemd has no property for (hugetlb, io.max, rdma, swappiness, most of
//! `unified`). Everything else (freeze, kill, stats, pids) is the cgroupfs manager's work on
//! the scope's directories. D-Bus connections live for one operation each and are closed
//! before any clone (see the `dbus` module).

use std::cell::{Cell, RefCell};
use std::collections::HashMap;
use std::path::Path;
use std::time::{Duration, Instant};

use oci_spec::runtime::LinuxResources;

use super::dbus::{self, Conn, Value};
use super::{CgroupError, CgroupManager, CgroupPaths, Creating, Stats};

/// The prefix of the spec annotations that set extra properties of the scope, as runc reads
/// them (`org.systemd.property.TimeoutStopUSec: "uint64 123456789"`).
pub const PROPERTY_ANNOTATION: &str = "org.systemd.property.";

/// How long a systemd job (start, stop) may take before we give up on it.
const JOB_BOUND: Duration = Duration::from_secs(30);
/// How long one D-Bus reply may take.
const CALL_BOUND: Duration = Duration::from_secs(25);

/// Which unit holds a container: recorded in its state so that later commands talk to the
/// same unit.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct SystemdUnit {
    /// The scope, e.g. `baleia-web.scope`.
    pub unit: String,
    /// Its slice, e.g. `system.slice`.
    pub slice: String,
}

impl SystemdUnit {
    /// Reads a cgroupsPath with runc's systemd rules. No side effects.
    ///
    /// ```
    /// use runtime_core::cgroups::SystemdUnit;
    /// let u = SystemdUnit::parse(Some("kubepods-besteffort.slice:cri-containerd:abc"), "abc")?;
    /// assert_eq!(u.unit, "cri-containerd-abc.scope");
    /// assert_eq!(u.cgroup_dir()?, "/kubepods.slice/kubepods-besteffort.slice/cri-containerd-abc.scope");
    /// assert_eq!(SystemdUnit::parse(None, "web")?.unit, "baleia-web.scope");
    /// assert!(SystemdUnit::parse(Some("/not/systemd"), "x").is_err());
    /// # Ok::<(), runtime_core::cgroups::CgroupError>(())
    /// ```
    pub fn parse(cgroups_path: Option<&str>, id: &str) -> Result<SystemdUnit, CgroupError> {
        let raw = cgroups_path.unwrap_or("");
        let invalid = |reason: String| CgroupError::InvalidPath {
            path: raw.to_string(),
            reason,
        };
        let (slice, prefix, name) = if raw.is_empty() {
            ("", "baleia", id)
        } else {
            let parts: Vec<&str> = raw.split(':').collect();
            let [slice, prefix, name] = parts[..] else {
                return Err(invalid(
                    "the systemd cgroup driver expects \"slice:prefix:name\"".into(),
                ));
            };
            (slice, prefix, name)
        };
        let slice = if slice.is_empty() {
            "system.slice"
        } else {
            slice
        };
        expand_slice(slice).map_err(&invalid)?;
        if name.is_empty() {
            return Err(invalid(
                "the unit name (after the last ':') is empty".into(),
            ));
        }
        if name.ends_with(".slice") {
            return Err(invalid(
                "a slice as the container's own unit is not supported; name a scope".into(),
            ));
        }
        let unit = if prefix.is_empty() {
            format!("{name}.scope")
        } else {
            format!("{prefix}-{name}.scope")
        };
        check_unit_name(&unit).map_err(&invalid)?;
        Ok(SystemdUnit {
            unit,
            slice: slice.to_string(),
        })
    }

    /// The scope's cgroup, relative to the root of every hierarchy.
    ///
    /// ```
    /// use runtime_core::cgroups::SystemdUnit;
    /// let u = SystemdUnit { unit: "x.scope".into(), slice: "-.slice".into() };
    /// assert_eq!(u.cgroup_dir()?, "/x.scope");
    /// # Ok::<(), runtime_core::cgroups::CgroupError>(())
    /// ```
    pub fn cgroup_dir(&self) -> Result<String, CgroupError> {
        let slice = expand_slice(&self.slice).map_err(|reason| CgroupError::InvalidPath {
            path: self.slice.clone(),
            reason,
        })?;
        Ok(format!("{}/{}", slice.trim_end_matches('/'), self.unit))
    }
}

/// `a-b-c.slice` -> `/a.slice/a-b.slice/a-b-c.slice` (`-.slice` -> `/`), as systemd nests
/// slices; a name systemd would refuse is an error.
fn expand_slice(slice: &str) -> Result<String, String> {
    let bad = |why: &str| format!("invalid slice name {slice:?}: {why}");
    let Some(stem) = slice.strip_suffix(".slice") else {
        return Err(bad("it must end in \".slice\""));
    };
    if stem.is_empty() {
        return Err(bad("it has no name before \".slice\""));
    }
    if stem == "-" {
        return Ok("/".into());
    }
    if slice.contains('/') {
        return Err(bad("it must not contain '/'"));
    }
    check_unit_name(slice).map_err(|_| bad("it has characters systemd refuses"))?;
    let mut path = String::new();
    let mut prefix = String::new();
    for part in stem.split('-') {
        if part.is_empty() {
            return Err(bad("a '-' must separate two non-empty names"));
        }
        if !prefix.is_empty() {
            prefix.push('-');
        }
        prefix.push_str(part);
        path.push('/');
        path.push_str(&prefix);
        path.push_str(".slice");
    }
    Ok(path)
}

/// systemd's unit name rules: at most 255 bytes of `[A-Za-z0-9:_.\-@]` (we also refuse `@`:
/// a template instance cannot be a transient scope).
fn check_unit_name(unit: &str) -> Result<(), String> {
    if unit.len() > 255 {
        return Err(format!("unit name {unit:?} is longer than 255 bytes"));
    }
    if let Some(c) = unit
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, ':' | '_' | '.' | '-' | '\\')))
    {
        return Err(format!(
            "unit name {unit:?} has {c:?}, which systemd does not allow"
        ));
    }
    Ok(())
}

/// The scope's directories on every hierarchy of this host.
pub(crate) fn paths(unit: &SystemdUnit) -> Result<CgroupPaths, CgroupError> {
    // An absolute path from every hierarchy's root: the id (the default for an empty path)
    // is never used.
    CgroupPaths::resolve(Some(&unit.cgroup_dir()?), &unit.unit)
}

/// The `org.systemd.property.*` annotations as unit properties: runc's rules (the value in
/// GVariant text, `uint64 123`, `'text'`, `true`; a name ending in `Sec` takes seconds and is
/// sent as its `USec` twin).
///
/// ```
/// use std::collections::HashMap;
/// let a = HashMap::from([("org.systemd.property.TimeoutStopSec".to_string(), "3".to_string())]);
/// assert_eq!(runtime_core::cgroups::systemd_annotation_names(&a)?, vec!["TimeoutStopUSec"]);
/// # Ok::<(), runtime_core::cgroups::CgroupError>(())
/// ```
pub fn systemd_annotation_names(
    annotations: &HashMap<String, String>,
) -> Result<Vec<String>, CgroupError> {
    Ok(annotation_props(annotations)?
        .into_iter()
        .map(|(n, _)| n)
        .collect())
}

pub(crate) fn annotation_props(
    annotations: &HashMap<String, String>,
) -> Result<Vec<(String, Value)>, CgroupError> {
    let mut keys: Vec<&String> = annotations
        .keys()
        .filter(|k| k.starts_with(PROPERTY_ANNOTATION))
        .collect();
    keys.sort();
    let mut out = Vec::new();
    for key in keys {
        let name = &key[PROPERTY_ANNOTATION.len()..];
        let raw = &annotations[key];
        let invalid = |reason: String| CgroupError::InvalidResource {
            field: format!("annotation {key}"),
            reason,
        };
        if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(invalid("not a systemd property name".into()));
        }
        let value = parse_gvariant(raw).map_err(&invalid)?;
        if let Some(stem) = name.strip_suffix("Sec").filter(|s| !s.ends_with('U')) {
            let secs = match value {
                Value::F64(f) if f >= 0.0 => f,
                Value::I32(n) if n >= 0 => f64::from(n),
                Value::U32(n) => f64::from(n),
                Value::I64(n) if n >= 0 => n as f64,
                Value::U64(n) => n as f64,
                _ => return Err(invalid(format!("{raw:?} is not a number of seconds"))),
            };
            out.push((
                format!("{stem}USec"),
                Value::U64((secs * 1_000_000.0) as u64),
            ));
        } else {
            out.push((name.to_string(), value));
        }
    }
    Ok(out)
}

/// The part of GVariant's text format that unit properties use: typed and untyped numbers,
/// booleans, quoted strings and arrays of strings.
fn parse_gvariant(raw: &str) -> Result<Value, String> {
    let s = raw.trim();
    let bad = || format!("{raw:?} is not a GVariant value this runtime understands");
    let unquote = |t: &str| -> Option<String> {
        let q = t.chars().next()?;
        if (q == '\'' || q == '"') && t.len() >= 2 && t.ends_with(q) {
            Some(t[1..t.len() - 1].to_string())
        } else {
            None
        }
    };
    if let Some(str) = unquote(s) {
        return Ok(Value::Str(str));
    }
    if let Some(inner) = s.strip_prefix('[').and_then(|t| t.strip_suffix(']')) {
        let items = inner
            .split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .map(|t| unquote(t).ok_or_else(bad))
            .collect::<Result<Vec<_>, _>>()?;
        return Ok(Value::Strs(items));
    }
    let (ty, num) = match s.split_once(char::is_whitespace) {
        Some((t, n)) => (t, n.trim()),
        None => ("", s),
    };
    let v = match (ty, num) {
        ("", "true") | ("boolean", "true") => Value::Bool(true),
        ("", "false") | ("boolean", "false") => Value::Bool(false),
        ("uint64", n) => Value::U64(n.parse().map_err(|_| bad())?),
        ("int64", n) => Value::I64(n.parse().map_err(|_| bad())?),
        ("uint32", n) => Value::U32(n.parse().map_err(|_| bad())?),
        ("int32", n) => Value::I32(n.parse().map_err(|_| bad())?),
        ("uint16", n) => Value::U16(n.parse().map_err(|_| bad())?),
        ("int16", n) => Value::I16(n.parse().map_err(|_| bad())?),
        ("byte", n) => Value::Byte(n.parse().map_err(|_| bad())?),
        ("double", n) => Value::F64(n.parse().map_err(|_| bad())?),
        ("", n) if n.contains('.') => Value::F64(n.parse().map_err(|_| bad())?),
        ("", n) => Value::I32(n.parse().map_err(|_| bad())?),
        _ => return Err(bad()),
    };
    Ok(v)
}

/// "0-3,8" -> the little-endian bit mask systemd's AllowedCPUs/AllowedMemoryNodes take.
fn cpu_mask(list: &str) -> Result<Vec<u8>, String> {
    let mut mask = Vec::new();
    for part in list.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let parse = |t: &str| t.trim().parse::<usize>().map_err(|_| format!("{list:?}"));
        let (a, b) = (parse(a)?, parse(b)?);
        if a > b || b >= 8192 {
            return Err(format!("{list:?}"));
        }
        for i in a..=b {
            if mask.len() <= i / 8 {
                mask.resize(i / 8 + 1, 0);
            }
            mask[i / 8] |= 1 << (i % 8);
        }
    }
    Ok(mask)
}

const INFINITY: u64 = u64::MAX;

fn limit(v: i64) -> Option<u64> {
    match v {
        v if v > 0 => Some(v as u64),
        -1 => Some(INFINITY),
        _ => None,
    }
}

/// The resources systemd knows as unit properties. `current_period` is the cpu period the
/// cgroup has (for an update that changes the quota alone).
fn resource_props(
    r: &LinuxResources,
    v2: bool,
    with_devices: bool,
    current_period: impl Fn() -> Option<u64>,
) -> Result<Vec<(String, Value)>, CgroupError> {
    let mut p: Vec<(String, Value)> = Vec::new();
    let mut put = |n: &str, v: Value| p.push((n.to_string(), v));
    if let Some(m) = r.memory() {
        if let Some(l) = m.limit().and_then(limit) {
            put(if v2 { "MemoryMax" } else { "MemoryLimit" }, Value::U64(l));
        }
        if v2 {
            if let Some(l) = m.reservation().and_then(limit) {
                put("MemoryLow", Value::U64(l));
            }
            // memory.swap.max counts swap alone; the spec's swap is memory plus swap.
            match (m.swap(), m.limit()) {
                (Some(-1), _) => put("MemorySwapMax", Value::U64(INFINITY)),
                (Some(s), Some(l)) if s > 0 && l > 0 && s >= l => {
                    put("MemorySwapMax", Value::U64((s - l) as u64))
                }
                _ => {}
            }
        }
    }
    if let Some(c) = r.cpu() {
        if let Some(shares) = c.shares().filter(|s| *s > 0) {
            if v2 {
                let w = 1 + (shares.clamp(2, 262_144) - 2) * 9999 / 262_142;
                put("CPUWeight", Value::U64(w));
            } else {
                put("CPUShares", Value::U64(shares));
            }
        }
        let quota = c.quota().filter(|q| *q != 0);
        let period = c.period().filter(|p| *p != 0);
        if let Some(per) = period {
            put("CPUQuotaPeriodUSec", Value::U64(per));
        }
        if let Some(q) = quota {
            let per = period.or_else(&current_period).unwrap_or(100_000).max(1);
            let per_sec = if q > 0 {
                // systemd keeps the quota in 1% steps: round up, as runc does.
                let us = (q as u64).saturating_mul(1_000_000) / per;
                us.div_ceil(10_000) * 10_000
            } else {
                INFINITY
            };
            put("CPUQuotaPerSecUSec", Value::U64(per_sec));
        }
        if v2 {
            let mask = |field: &str, list: &str| {
                cpu_mask(list).map_err(|e| CgroupError::InvalidResource {
                    field: field.into(),
                    reason: format!("{e} is not a cpu list"),
                })
            };
            if let Some(cpus) = c.cpus().as_deref().filter(|s| !s.is_empty()) {
                put("AllowedCPUs", Value::Bytes(mask("cpu.cpus", cpus)?));
            }
            if let Some(mems) = c.mems().as_deref().filter(|s| !s.is_empty()) {
                put("AllowedMemoryNodes", Value::Bytes(mask("cpu.mems", mems)?));
            }
        }
    }
    if let Some(l) = r.pids().as_ref().and_then(|p| limit(p.limit())) {
        put("TasksMax", Value::U64(l));
    }
    if let Some(w) = r.block_io().as_ref().and_then(|b| b.weight()) {
        if w > 0 {
            if v2 {
                let w = 1 + (u64::from(w).clamp(10, 1000) - 10) * 9999 / 990;
                put("IOWeight", Value::U64(w));
            } else {
                put("BlockIOWeight", Value::U64(u64::from(w)));
            }
        }
    }
    if v2 {
        if let Some(u) = r.unified() {
            let num = |k: &str, v: &str| -> Result<u64, CgroupError> {
                if v.trim() == "max" {
                    return Ok(INFINITY);
                }
                v.trim().parse().map_err(|_| CgroupError::InvalidResource {
                    field: format!("unified.{k}"),
                    reason: format!("{v:?} is not a number or \"max\""),
                })
            };
            for (k, prop) in [
                ("memory.high", "MemoryHigh"),
                ("memory.low", "MemoryLow"),
                ("memory.min", "MemoryMin"),
                ("memory.max", "MemoryMax"),
                ("memory.swap.max", "MemorySwapMax"),
                ("pids.max", "TasksMax"),
                ("cpu.weight", "CPUWeight"),
            ] {
                if let Some(v) = u.get(k) {
                    put(prop, Value::U64(num(k, v)?));
                }
            }
        }
    }
    if with_devices {
        p.extend(device_props(r.devices().as_deref().unwrap_or(&[])));
    }
    Ok(p)
}

/// The spec's device rules as DevicePolicy/DeviceAllow. systemd only knows allow lists: rules
/// that come down to "deny everything, then allow these" become `strict` and the list;
/// anything else is left to our own device filter (which is installed as well, so the two
/// together are never wider than the spec).
fn device_props(rules: &[oci_spec::runtime::LinuxDeviceCgroup]) -> Vec<(String, Value)> {
    use oci_spec::runtime::LinuxDeviceType as T;
    let is_all = |d: &oci_spec::runtime::LinuxDeviceCgroup| {
        matches!(d.typ(), None | Some(T::A))
            && d.major().is_none()
            && d.minor().is_none()
            && d.access().as_deref().is_none_or(|a| {
                let a: String = a.chars().filter(|c| "rwm".contains(*c)).collect();
                a.len() == 3
            })
    };
    let last_deny_all = rules.iter().rposition(|d| !d.allow() && is_all(d));
    let Some(start) = last_deny_all else {
        return vec![("DevicePolicy".into(), Value::Str("auto".into()))];
    };
    let tail = &rules[start + 1..];
    if tail.iter().any(|d| !d.allow()) {
        return vec![("DevicePolicy".into(), Value::Str("auto".into()))];
    }
    let mut allow = Vec::new();
    for d in tail {
        let access = d.access().clone().unwrap_or_else(|| "rwm".into());
        if is_all(d) {
            return vec![("DevicePolicy".into(), Value::Str("auto".into()))];
        }
        let kinds: &[&str] = match d.typ() {
            Some(T::C) | Some(T::U) => &["char"],
            Some(T::B) => &["block"],
            _ => &["char", "block"],
        };
        for kind in kinds {
            let spec = match (d.major(), d.minor()) {
                (Some(ma), Some(mi)) => format!("/dev/{kind}/{ma}:{mi}"),
                (Some(ma), None) => match device_group(kind, ma) {
                    Some(name) => format!("{kind}-{name}"),
                    // No name in /proc/devices: systemd cannot say it; ours filter can.
                    None => format!("{kind}-*"),
                },
                (None, _) => format!("{kind}-*"),
            };
            allow.push((spec, access.clone()));
        }
    }
    vec![
        ("DevicePolicy".into(), Value::Str("strict".into())),
        ("DeviceAllow".into(), Value::StrPairs(allow)),
    ]
}

/// The name /proc/devices gives a major number of `kind` ("char"/"block").
fn device_group(kind: &str, major: i64) -> Option<String> {
    let text = std::fs::read_to_string("/proc/devices").ok()?;
    let header = if kind == "char" {
        "Character devices:"
    } else {
        "Block devices:"
    };
    let mut in_section = false;
    for line in text.lines() {
        if line.ends_with(':') {
            in_section = line == header;
            continue;
        }
        if in_section {
            let mut f = line.split_whitespace();
            if f.next().and_then(|m| m.parse::<i64>().ok()) == Some(major) {
                return f.next().map(str::to_string);
            }
        }
    }
    None
}

fn sd_err(what: &str, unit: &str, e: dbus::DbusError) -> CgroupError {
    CgroupError::Systemd(format!("{what} {unit}: {e}"))
}

/// Connects to systemd, or says in one line that it is not running.
fn connect() -> Result<Conn, CgroupError> {
    let Some(path) = dbus::socket_path() else {
        return Err(CgroupError::Systemd(format!(
            "systemd is not running (neither {} nor {} exists)",
            dbus::PRIVATE_SOCKET,
            dbus::SYSTEM_BUS
        )));
    };
    Conn::connect(path, CALL_BOUND)
        .map_err(|e| CgroupError::Systemd(format!("cannot reach systemd: {e}")))
}

/// Whether `unit` is loaded in systemd.
fn unit_exists(c: &mut Conn, unit: &str) -> Result<bool, CgroupError> {
    match c.manager("GetUnit", &[Value::Str(unit.into())]) {
        Ok(_) => Ok(true),
        Err(e) if e.name() == Some("org.freedesktop.systemd1.NoSuchUnit") => Ok(false),
        Err(e) => Err(sd_err("look up", unit, e)),
    }
}

/// The manager of a container in a systemd scope.
pub(crate) struct SystemdManager {
    unit: SystemdUnit,
    /// Given for the scope `create` is about to start; `None` for one that was started.
    creating: Option<Creating>,
    v2: bool,
    /// The cgroupfs manager of the scope's directories.
    fs: Box<dyn CgroupManager>,
    /// Resources given before the scope exists: sent with StartTransientUnit.
    pending: RefCell<Option<LinuxResources>>,
    started: Cell<bool>,
    /// The unit was there before our create: it is not ours to stop.
    foreign: Cell<bool>,
}

impl SystemdManager {
    /// `fs` is the cgroupfs manager of the scope's directories.
    pub(crate) fn new(
        unit: SystemdUnit,
        fs: Box<dyn CgroupManager>,
        creating: Option<Creating>,
    ) -> SystemdManager {
        SystemdManager {
            v2: fs.paths().unified_only().is_some(),
            fs,
            unit,
            pending: RefCell::new(None),
            // A recorded scope was started by its create: processes (exec's) only join it.
            started: Cell::new(creating.is_none()),
            creating,
            foreign: Cell::new(false),
        }
    }

    fn current_period(&self) -> Option<u64> {
        let dir = self.fs.paths().0.get(if self.v2 { "" } else { "cpu" })?;
        if self.v2 {
            let t = std::fs::read_to_string(dir.join("cpu.max")).ok()?;
            t.split_whitespace().nth(1)?.parse().ok()
        } else {
            let t = std::fs::read_to_string(dir.join("cpu.cfs_period_us")).ok()?;
            t.trim().parse().ok()
        }
    }

    fn start(&self, pid: i32, new: &Creating) -> Result<(), CgroupError> {
        let name = &self.unit.unit;
        let pending = self.pending.borrow().clone();
        let mut props: Vec<(String, Value)> = vec![
            ("Description".into(), Value::Str(new.description.clone())),
            ("Slice".into(), Value::Str(self.unit.slice.clone())),
            ("Delegate".into(), Value::Bool(true)),
            ("DefaultDependencies".into(), Value::Bool(false)),
            ("PIDs".into(), Value::U32s(vec![pid as u32])),
            ("MemoryAccounting".into(), Value::Bool(true)),
            ("CPUAccounting".into(), Value::Bool(true)),
            ("TasksAccounting".into(), Value::Bool(true)),
            (
                if self.v2 {
                    "IOAccounting"
                } else {
                    "BlockIOAccounting"
                }
                .into(),
                Value::Bool(true),
            ),
        ];
        if let Some(r) = &pending {
            props.extend(resource_props(r, self.v2, true, || None)?);
        }
        // Last, so that they win over ours, as in runc.
        props.extend(new.extra.iter().cloned());
        let mut c = connect()?;
        let job = match c.manager(
            "StartTransientUnit",
            &[
                Value::Str(name.clone()),
                Value::Str("fail".into()),
                Value::Props(props),
                Value::NoAux,
            ],
        ) {
            Ok(body) => match body.first() {
                Some(dbus::Got::Str(job)) => job.clone(),
                _ => {
                    return Err(CgroupError::Systemd(format!(
                        "start {name}: systemd's reply has no job"
                    )))
                }
            },
            Err(e) if e.name() == Some("org.freedesktop.systemd1.UnitExists") => {
                self.foreign.set(true);
                return Err(CgroupError::Systemd(format!("unit {name} already exists")));
            }
            Err(e) => return Err(sd_err("start", name, e)),
        };
        self.started.set(true);
        let result = c
            .wait_job(&job, JOB_BOUND)
            .map_err(|e| sd_err("start", name, e))?;
        if result != "done" {
            return Err(CgroupError::Systemd(format!(
                "start {name}: the job ended with \"{result}\""
            )));
        }
        drop(c);
        log::debug!("cgroup: systemd started {name} with pid {pid}");
        // On v1, systemd only makes the hierarchies it manages: the others are ours to make
        // and join (on v2 the scope's directory is complete, and its parents are systemd's).
        if !self.v2 {
            self.fs.create()?;
        }
        self.fs.add_pid(pid)?;
        if let Some(r) = &pending {
            self.fs.apply_resources(r)?;
        }
        Ok(())
    }

    fn set_properties(&self, props: Vec<(String, Value)>) -> Result<(), CgroupError> {
        if props.is_empty() {
            return Ok(());
        }
        let name = &self.unit.unit;
        let mut c = connect()?;
        c.manager(
            "SetUnitProperties",
            &[
                Value::Str(name.clone()),
                Value::Bool(true),
                Value::Props(props),
            ],
        )
        .map_err(|e| sd_err("set properties of", name, e))?;
        Ok(())
    }
}

impl CgroupManager for SystemdManager {
    fn create(&self) -> Result<(), CgroupError> {
        if self.creating.is_none() {
            // Started by the create that recorded it.
            return Ok(());
        }
        // The scope needs a pid, so it is started by add_pid; here only what can fail before
        // anything exists: systemd must run and the unit must not.
        let mut c = connect()?;
        if unit_exists(&mut c, &self.unit.unit)? {
            self.foreign.set(true);
            return Err(CgroupError::Systemd(format!(
                "unit {} already exists",
                self.unit.unit
            )));
        }
        Ok(())
    }

    fn add_pid(&self, pid: i32) -> Result<(), CgroupError> {
        match &self.creating {
            Some(new) if !self.started.get() && !self.foreign.get() => self.start(pid, new),
            _ => self.fs.add_pid(pid),
        }
    }

    fn apply_resources(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        if !self.started.get() {
            *self.pending.borrow_mut() = Some(r.clone());
            return Ok(());
        }
        self.set_properties(resource_props(r, self.v2, true, || None)?)?;
        self.fs.apply_resources(r)
    }

    fn update(&self, r: &LinuxResources) -> Result<(), CgroupError> {
        // Device rules are not updated (as the cgroupfs manager and runc's update).
        let props = resource_props(r, self.v2, false, || self.current_period())?;
        self.set_properties(props)?;
        self.fs.update(r)
    }

    fn pids(&self) -> Result<Vec<i32>, CgroupError> {
        self.fs.pids()
    }

    fn freeze(&self) -> Result<(), CgroupError> {
        self.fs.freeze()
    }

    fn thaw(&self) -> Result<(), CgroupError> {
        self.fs.thaw()
    }

    fn is_frozen(&self) -> Result<bool, CgroupError> {
        self.fs.is_frozen()
    }

    fn refuse_frozen(&self) -> Result<(), CgroupError> {
        self.fs.refuse_frozen()
    }

    fn kill_all(&self, signal: i32) -> Result<(), CgroupError> {
        self.fs.kill_all(signal)
    }

    fn destroy(&self) -> Result<(), CgroupError> {
        if self.foreign.get() {
            return Ok(());
        }
        let name = &self.unit.unit;
        let mut c = connect()?;
        match c.manager(
            "StopUnit",
            &[Value::Str(name.clone()), Value::Str("replace".into())],
        ) {
            Ok(body) => {
                if let Some(dbus::Got::Str(job)) = body.first() {
                    let job = job.clone();
                    c.wait_job(&job, JOB_BOUND)
                        .map_err(|e| sd_err("stop", name, e))?;
                }
            }
            Err(e) if e.name() == Some("org.freedesktop.systemd1.NoSuchUnit") => {}
            Err(e) => return Err(sd_err("stop", name, e)),
        }
        // A scope whose processes were killed ends "failed" and stays loaded until reset.
        let deadline = Instant::now() + JOB_BOUND;
        while unit_exists(&mut c, name)? {
            let _ = c.manager("ResetFailedUnit", &[Value::Str(name.clone())]);
            if Instant::now() > deadline {
                return Err(CgroupError::Systemd(format!(
                    "{name} is still loaded {JOB_BOUND:?} after it was stopped"
                )));
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        drop(c);
        // What systemd does not manage (v1 hierarchies it does not know) is ours to remove.
        self.fs.destroy()
    }

    fn stats(&self) -> Result<Stats, CgroupError> {
        self.fs.stats()
    }

    fn paths(&self) -> &CgroupPaths {
        self.fs.paths()
    }

    fn unified_dir(&self) -> Option<&Path> {
        if self.started.get() {
            self.fs.unified_dir()
        } else {
            // A new scope (and so its directory) only exists once it has a process.
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slices_expand_like_systemd() {
        assert_eq!(expand_slice("-.slice").unwrap(), "/");
        assert_eq!(expand_slice("system.slice").unwrap(), "/system.slice");
        assert_eq!(
            expand_slice("a-b-c.slice").unwrap(),
            "/a.slice/a-b.slice/a-b-c.slice"
        );
        for bad in [
            "a",
            "a--b.slice",
            "-a.slice",
            "a-.slice",
            "a/b.slice",
            ".slice",
            "a b.slice",
        ] {
            assert!(expand_slice(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn cgroups_path_rules() {
        let u = SystemdUnit::parse(Some(":p:n"), "id").unwrap();
        assert_eq!(
            (u.slice.as_str(), u.unit.as_str()),
            ("system.slice", "p-n.scope")
        );
        let u = SystemdUnit::parse(Some("machine.slice::n"), "id").unwrap();
        assert_eq!(u.unit, "n.scope");
        assert!(SystemdUnit::parse(Some("a:b"), "id").is_err());
        assert!(SystemdUnit::parse(Some("bad:p:n"), "id").is_err());
        assert!(SystemdUnit::parse(Some("x.slice:p:"), "id").is_err());
        assert!(SystemdUnit::parse(Some("x.slice:p:a/b"), "id").is_err());
    }

    #[test]
    fn annotations_follow_runc() {
        let a = |k: &str, v: &str| {
            annotation_props(&HashMap::from([(
                format!("{PROPERTY_ANNOTATION}{k}"),
                v.to_string(),
            )]))
        };
        assert_eq!(
            a("TimeoutStopUSec", "uint64 123").unwrap(),
            vec![("TimeoutStopUSec".into(), Value::U64(123))]
        );
        assert_eq!(
            a("TimeoutStopSec", "2.5").unwrap(),
            vec![("TimeoutStopUSec".into(), Value::U64(2_500_000))]
        );
        assert_eq!(
            a("CollectMode", "'inactive-or-failed'").unwrap(),
            vec![(
                "CollectMode".into(),
                Value::Str("inactive-or-failed".into())
            )]
        );
        assert!(a("Bad-Name", "1").is_err());
        assert!(a("X", "uint64 nope").is_err());
    }

    #[test]
    fn resources_become_properties() {
        let r: LinuxResources = serde_json::from_str(
            r#"{"memory":{"limit":1048576,"swap":2097152},"cpu":{"shares":1024,"quota":50000,
                "period":100000,"cpus":"0-1,3"},"pids":{"limit":20},"blockIO":{"weight":500}}"#,
        )
        .unwrap();
        let p: HashMap<String, Value> = resource_props(&r, true, false, || None)
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(p["MemoryMax"], Value::U64(1048576));
        assert_eq!(p["MemorySwapMax"], Value::U64(1048576));
        assert_eq!(p["CPUWeight"], Value::U64(39));
        assert_eq!(p["CPUQuotaPerSecUSec"], Value::U64(500_000));
        assert_eq!(p["CPUQuotaPeriodUSec"], Value::U64(100_000));
        assert_eq!(p["AllowedCPUs"], Value::Bytes(vec![0b1011]));
        assert_eq!(p["TasksMax"], Value::U64(20));
        assert_eq!(p["IOWeight"], Value::U64(4950));
        let v1: HashMap<String, Value> = resource_props(&r, false, false, || None)
            .unwrap()
            .into_iter()
            .collect();
        assert_eq!(v1["MemoryLimit"], Value::U64(1048576));
        assert_eq!(v1["CPUShares"], Value::U64(1024));
        assert!(!v1.contains_key("AllowedCPUs"));
    }

    #[test]
    fn a_deny_all_then_allows_is_a_strict_list() {
        let rules = crate::cgroups::default_device_rules();
        let mut deny = oci_spec::runtime::LinuxDeviceCgroup::default();
        deny.set_allow(false);
        deny.set_access(Some("rwm".into()));
        let mut all = vec![deny];
        all.extend(rules);
        let p = device_props(&all);
        assert_eq!(p[0].1, Value::Str("strict".into()));
        let Value::StrPairs(list) = &p[1].1 else {
            panic!("no DeviceAllow")
        };
        assert!(list.contains(&("/dev/char/1:3".into(), "rwm".into())));
        assert!(list.contains(&("char-*".into(), "m".into())));
        assert_eq!(device_props(&[])[0].1, Value::Str("auto".into()));
    }
}
