//! Loading and validating a bundle's config.json, and the default spec `baleia spec` writes.
//!
//! Validation happens before anything is created on the host, so that bad input leaves nothing
//! behind: every feature baleia does not implement yet is refused here with a clear error rather
//! than silently ignored inside the container.

use std::os::fd::AsRawFd;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use oci_spec::runtime::{LinuxNamespaceType, Spec};

use crate::error::{absolute, Error, Result};

/// The runtime-spec version baleia implements (printed by `--version` and put in `state`).
///
/// ```
/// assert!(runtime_core::spec::OCI_VERSION.starts_with("1."));
/// ```
pub const OCI_VERSION: &str = "1.2.0";

/// A validated bundle: the parsed spec plus the absolute paths derived from it.
///
/// ```no_run
/// let b = runtime_core::spec::Bundle::load("/tmp/bundle".as_ref()).unwrap();
/// println!("rootfs at {}", b.rootfs.display());
/// ```
#[derive(Debug, Clone)]
pub struct Bundle {
    /// Absolute bundle directory.
    pub dir: PathBuf,
    /// Absolute root filesystem path (`root.path` resolved against the bundle).
    pub rootfs: PathBuf,
    /// The parsed config.json.
    pub spec: Spec,
}

impl Bundle {
    /// Read `<dir>/config.json`, resolve the rootfs and check everything baleia needs.
    ///
    /// ```no_run
    /// let b = runtime_core::spec::Bundle::load(std::path::Path::new("/srv/bundles/web"))?;
    /// println!("rootfs {}", b.rootfs.display());
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn load(dir: &Path) -> Result<Bundle> {
        let dir = canonical_dir(dir)
            .map_err(|e| Error::Spec(format!("bundle {}: {e}", dir.display())))?;
        let path = dir.join("config.json");
        let text = crate::readfile::read_whole(&path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                Error::Spec(format!(
                    "JSON specification file {} not found",
                    path.display()
                ))
            } else {
                Error::Spec(format!("read {}: {e}", path.display()))
            }
        })?;
        let spec = parse_spec(&text, &path)?;
        let root = spec
            .root()
            .as_ref()
            .ok_or_else(|| Error::invalid_field("root", "root must be specified in config.json"))?;
        let rootfs = absolute(&dir, root.path());
        let bundle = Bundle { dir, rootfs, spec };
        bundle.validate()?;
        Ok(bundle)
    }

    fn validate(&self) -> Result<()> {
        let spec = &self.spec;
        if !spec.version().starts_with("1.") {
            return Err(Error::invalid_field(
                "ociVersion",
                format!(
                    "unsupported ociVersion {:?}: baleia implements 1.x",
                    spec.version()
                ),
            ));
        }
        match std::fs::metadata(&self.rootfs) {
            Ok(m) if m.is_dir() => {}
            Ok(_) => {
                return Err(Error::invalid_field(
                    "root.path",
                    format!("rootfs ({}) is not a directory", self.rootfs.display()),
                ))
            }
            Err(_) => {
                return Err(Error::invalid_field(
                    "root.path",
                    format!("rootfs ({}) does not exist", self.rootfs.display()),
                ))
            }
        }
        let process = spec.process().as_ref().ok_or_else(|| {
            Error::invalid_field("process", "process must be specified in config.json")
        })?;
        validate_process(process)?;
        if let Some(linux) = spec.linux() {
            validate_linux(linux)?;
            crate::namespaces::validate(linux, Some(process))?;
        }
        Ok(())
    }
}

/// The largest uid or gid a process may be given (runc's limit). Above it lies `(uid_t)-1`,
/// which setresuid and setresgid read as "leave unchanged": a process given it would keep
/// the runtime's uid 0 and the spec's capabilities.
const MAX_ID: u32 = i32::MAX as u32;

/// Checks shared by `create` and `exec`.
pub(crate) fn validate_process(p: &oci_spec::runtime::Process) -> Result<()> {
    if p.args().as_ref().is_none_or(|a| a.is_empty()) {
        return Err(Error::invalid_field(
            "process.args",
            "args must not be empty",
        ));
    }
    let user = p.user();
    let ids = [
        ("process.user.uid".to_string(), user.uid()),
        ("process.user.gid".to_string(), user.gid()),
    ];
    let groups = user.additional_gids().iter().flatten().enumerate();
    let groups = groups.map(|(i, g)| (format!("process.user.additionalGids[{i}]"), *g));
    for (field, id) in ids.into_iter().chain(groups) {
        if id > MAX_ID {
            let message =
                format!("{field} {id} is out of range: uids and gids must be in range 0-{MAX_ID}");
            return Err(Error::invalid_field(field, message));
        }
    }
    for (i, e) in p.env().iter().flatten().enumerate() {
        // runc's checks and words; a NUL byte is refused when the environment is prepared.
        match e.split_once('=') {
            None => {
                return Err(Error::invalid_field(
                    format!("process.env[{i}]"),
                    format!("process.env[{i}]: invalid environment variable: {e:?} (no '=')"),
                ))
            }
            Some(("", _)) => {
                return Err(Error::invalid_field(
                    format!("process.env[{i}]"),
                    format!("process.env[{i}]: environment variable name can't be empty: {e:?}"),
                ))
            }
            Some(_) => {}
        }
    }
    if !p.cwd().is_absolute() {
        return Err(Error::invalid_field(
            "process.cwd",
            format!("cwd {:?} is not an absolute path", p.cwd().display()),
        ));
    }
    if p.apparmor_profile()
        .as_deref()
        .is_some_and(|s| !s.is_empty())
    {
        return Err(Error::Unsupported("process.apparmorProfile".into()));
    }
    crate::process::attrs::Attrs::check(p)?;
    selinux_label_usable(p.selinux_label().as_deref())?;
    Ok(())
}

/// SELinux labels are no-ops on hosts without SELinux (as in runc); with SELinux on, we would
/// have to apply them, which we do not do yet.
fn selinux_label_usable(label: Option<&str>) -> Result<()> {
    if label.is_some_and(|l| !l.is_empty()) && Path::new("/sys/fs/selinux/enforce").exists() {
        return Err(Error::Unsupported("SELinux labels".into()));
    }
    Ok(())
}

fn validate_linux(linux: &oci_spec::runtime::Linux) -> Result<()> {
    let mut seen = Vec::new();
    for ns in linux.namespaces().iter().flatten() {
        let t = ns.typ();
        if seen.contains(&t) {
            return Err(Error::Spec(format!("duplicate namespace type {t}")));
        }
        seen.push(t);
        if let Some(p) = ns.path() {
            if !p.exists() {
                return Err(Error::Spec(format!(
                    "namespace {t} path {} does not exist",
                    p.display()
                )));
            }
        }
    }
    validate_linux_13(linux)?;
    crate::netdev::devices_of(linux)?;
    if let Some(p) = linux.rootfs_propagation() {
        crate::rootfs::propagation_flag(p)
            .ok_or_else(|| Error::Spec(format!("invalid rootfsPropagation {p:?}")))?;
    }
    for (key, _) in linux.sysctl().iter().flatten() {
        validate_sysctl(key, &seen, linux)?;
    }
    selinux_label_usable(linux.mount_label().as_deref())?;
    Ok(())
}

/// The `linux` fields of runtime-spec 1.2/1.3 that act on the container's processes.
fn validate_linux_13(linux: &oci_spec::runtime::Linux) -> Result<()> {
    if linux.intel_rdt().is_some() {
        crate::intel_rdt::resctrl_root()?;
    }
    crate::process::attrs::ContainerAttrs::new(
        linux.memory_policy().as_ref(),
        linux.personality().as_ref(),
    )
    .map(drop)
}

/// config.json's text as a spec, with the enumerated fields of runtime-spec 1.3 checked first
/// (see `process::attrs::prepare_json`).
fn parse_spec(text: &[u8], path: &Path) -> Result<Spec> {
    let bad = |e: serde_json::Error| Error::Spec(format!("parse {}: {e}", path.display()));
    let mut v: serde_json::Value = serde_json::from_slice(text).map_err(bad)?;
    crate::process::attrs::prepare_json(&mut v, "/process", Some("/linux"))?;
    serde_json::from_value(v).map_err(bad)
}

/// A process.json (`exec --process`) as a process, checked like config.json's.
///
/// ```
/// let p = runtime_core::spec::parse_process(
///     br#"{"cwd":"/","args":["sh"],"user":{"uid":0,"gid":0},
///          "scheduler":{"policy":"SCHED_BATCH","flags":["SCHED_FLAG_RESET_ON_FORK"]}}"#,
/// )?;
/// assert!(p.scheduler().is_some());
/// assert!(runtime_core::spec::parse_process(br#"{"cwd":"/","args":["sh"],
///     "user":{"uid":0,"gid":0},"ioPriority":{"class":"IOPRIO_CLASS_X","priority":0}}"#).is_err());
/// # Ok::<(), runtime_core::Error>(())
/// ```
pub fn parse_process(text: &[u8]) -> Result<oci_spec::runtime::Process> {
    let bad = |e: serde_json::Error| Error::Spec(format!("parse process: {e}"));
    let mut v: serde_json::Value = serde_json::from_slice(text).map_err(bad)?;
    crate::process::attrs::prepare_json(&mut v, "", None)?;
    serde_json::from_value(v).map_err(bad)
}

/// A sysctl is only allowed when the container has its own copy of it: runc's rules. Anything
/// else would change the host.
fn validate_sysctl(
    key: &str,
    namespaces: &[LinuxNamespaceType],
    linux: &oci_spec::runtime::Linux,
) -> Result<()> {
    if key.is_empty() || key.contains("..") || key.starts_with('/') || key.contains('\0') {
        return Err(Error::Spec(format!("invalid sysctl key {key:?}")));
    }
    // The key may be written with slashes too (net/ipv4/ip_forward).
    let k = key.replace('/', ".");
    // A namespace joined by path may be the host's own: only a new one, or a joined one that
    // is not ours, isolates.
    let own = |t: LinuxNamespaceType, name: &str| {
        namespaces.contains(&t)
            && linux
                .namespaces()
                .iter()
                .flatten()
                .filter(|n| n.typ() == t)
                .all(|n| match n.path() {
                    None => true,
                    Some(p) => {
                        std::fs::read_link(p).ok()
                            != std::fs::read_link(format!("/proc/self/ns/{name}")).ok()
                    }
                })
    };
    const IPC_KEYS: [&str; 8] = [
        "kernel.msgmax",
        "kernel.msgmnb",
        "kernel.msgmni",
        "kernel.sem",
        "kernel.shmall",
        "kernel.shmmax",
        "kernel.shmmni",
        "kernel.shm_rmid_forced",
    ];
    let (needed, name, ns) = if IPC_KEYS.contains(&k.as_str()) || k.starts_with("fs.mqueue.") {
        (LinuxNamespaceType::Ipc, "ipc", "an IPC namespace")
    } else if k.starts_with("net.") {
        (LinuxNamespaceType::Network, "net", "a network namespace")
    } else if k == "kernel.hostname" || k == "kernel.domainname" {
        (LinuxNamespaceType::Uts, "uts", "a UTS namespace")
    } else {
        return Err(Error::Spec(format!(
            "sysctl {key:?} is not in a separate kernel namespace"
        )));
    };
    if !own(needed, name) {
        return Err(Error::Spec(format!(
            "sysctl {key:?} is not allowed: the container does not have {ns} of its own"
        )));
    }
    Ok(())
}

/// [`DEFAULT_SPEC`] made for a non-root user whose uid and gid are given (runc's `spec
/// --rootless`): a new user namespace mapping them to root, no network namespace (a user
/// cannot give it an interface), /sys bound from the host (sysfs cannot be mounted without a
/// network namespace of one's own), no uid=/gid= mount options (those ids are not mapped), and
/// no resource limits (a user has no cgroup to set them in, unless one was delegated).
///
/// ```
/// let text = runtime_core::spec::rootless_spec(1000, 1000)?;
/// let v: serde_json::Value = serde_json::from_str(&text).unwrap();
/// assert_eq!(v["linux"]["uidMappings"][0]["hostID"], 1000);
/// # Ok::<(), runtime_core::Error>(())
/// ```
pub fn rootless_spec(uid: u32, gid: u32) -> Result<String> {
    use serde_json::{json, Value};
    let mut v: Value = serde_json::from_str(DEFAULT_SPEC)
        .map_err(|e| Error::Other(format!("the default spec: {e}")))?;
    let linux = &mut v["linux"];
    if let Some(ns) = linux["namespaces"].as_array_mut() {
        ns.retain(|n| n["type"] != "network" && n["type"] != "user");
        ns.push(json!({"type": "user"}));
    }
    linux["uidMappings"] = json!([{"containerID": 0, "hostID": uid, "size": 1}]);
    linux["gidMappings"] = json!([{"containerID": 0, "hostID": gid, "size": 1}]);
    if let Some(l) = linux.as_object_mut() {
        l.remove("resources");
    }
    if let Some(mounts) = v["mounts"].as_array_mut() {
        for m in mounts.iter_mut() {
            if m["destination"] == "/sys" {
                *m = json!({
                    "destination": "/sys",
                    "type": "none",
                    "source": "/sys",
                    "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]
                });
            } else if let Some(opts) = m["options"].as_array_mut() {
                opts.retain(|o| {
                    o.as_str()
                        .is_none_or(|o| !o.starts_with("uid=") && !o.starts_with("gid="))
                });
            }
        }
    }
    serde_json::to_string_pretty(&v).map_err(|e| Error::Other(format!("encode the spec: {e}")))
}

/// The config.json `baleia spec` writes: runc's default (a shell in a busybox-like rootfs,
/// with the usual namespaces, mounts, masked and read-only paths).
///
/// ```
/// let v: serde_json::Value = serde_json::from_str(runtime_core::spec::DEFAULT_SPEC).unwrap();
/// assert_eq!(v["process"]["args"][0], "sh");
/// ```
pub const DEFAULT_SPEC: &str = r#"{
	"ociVersion": "1.2.0",
	"process": {
		"terminal": true,
		"user": {
			"uid": 0,
			"gid": 0
		},
		"args": [
			"sh"
		],
		"env": [
			"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
			"TERM=xterm"
		],
		"cwd": "/",
		"capabilities": {
			"bounding": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"effective": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"permitted": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			],
			"ambient": [
				"CAP_AUDIT_WRITE",
				"CAP_KILL",
				"CAP_NET_BIND_SERVICE"
			]
		},
		"rlimits": [
			{
				"type": "RLIMIT_NOFILE",
				"hard": 1024,
				"soft": 1024
			}
		],
		"noNewPrivileges": true
	},
	"root": {
		"path": "rootfs",
		"readonly": true
	},
	"hostname": "baleia",
	"mounts": [
		{
			"destination": "/proc",
			"type": "proc",
			"source": "proc"
		},
		{
			"destination": "/dev",
			"type": "tmpfs",
			"source": "tmpfs",
			"options": [
				"nosuid",
				"strictatime",
				"mode=755",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/pts",
			"type": "devpts",
			"source": "devpts",
			"options": [
				"nosuid",
				"noexec",
				"newinstance",
				"ptmxmode=0666",
				"mode=0620",
				"gid=5"
			]
		},
		{
			"destination": "/dev/shm",
			"type": "tmpfs",
			"source": "shm",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"mode=1777",
				"size=65536k"
			]
		},
		{
			"destination": "/dev/mqueue",
			"type": "mqueue",
			"source": "mqueue",
			"options": [
				"nosuid",
				"noexec",
				"nodev"
			]
		},
		{
			"destination": "/sys",
			"type": "sysfs",
			"source": "sysfs",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"ro"
			]
		},
		{
			"destination": "/sys/fs/cgroup",
			"type": "cgroup",
			"source": "cgroup",
			"options": [
				"nosuid",
				"noexec",
				"nodev",
				"relatime",
				"ro"
			]
		}
	],
	"linux": {
		"resources": {
			"devices": [
				{
					"allow": false,
					"access": "rwm"
				}
			]
		},
		"namespaces": [
			{
				"type": "pid"
			},
			{
				"type": "network"
			},
			{
				"type": "ipc"
			},
			{
				"type": "uts"
			},
			{
				"type": "mount"
			},
			{
				"type": "cgroup"
			}
		],
		"maskedPaths": [
			"/proc/acpi",
			"/proc/asound",
			"/proc/kcore",
			"/proc/keys",
			"/proc/latency_stats",
			"/proc/timer_list",
			"/proc/timer_stats",
			"/proc/sched_debug",
			"/sys/firmware",
			"/proc/scsi"
		],
		"readonlyPaths": [
			"/proc/bus",
			"/proc/fs",
			"/proc/irq",
			"/proc/sys",
			"/proc/sysrq-trigger"
		]
	}
}
"#;

/// The absolute path of directory `dir`, symlinks resolved. Its open fd's name in /proc: three
/// syscalls, where `fs::canonicalize` (glibc's realpath) takes a readlink per component
/// (six for containerd's bundle paths). std's version stays for a /proc that cannot say.
fn canonical_dir(dir: &Path) -> std::io::Result<PathBuf> {
    use nix::fcntl::{open, OFlag};
    let fd = open(
        dir,
        OFlag::O_PATH | OFlag::O_DIRECTORY | OFlag::O_CLOEXEC,
        nix::sys::stat::Mode::empty(),
    )?;
    match nix::fcntl::readlink(format!("/proc/self/fd/{}", fd.as_raw_fd()).as_str()) {
        Ok(name) if name.as_bytes().starts_with(b"/") => Ok(PathBuf::from(name)),
        _ => std::fs::canonicalize(dir),
    }
}

#[cfg(test)]
mod tests {
    /// oci-spec validates execCPUAffinity's CPU lists while parsing; our vendored copy does it
    /// without the regex engine (vendor/oci-spec/PATCHED.md) and must accept and refuse the
    /// same strings as the regex `^(\d+(-\d+)?)(,\d+(-\d+)?)*$` did, but for non-ASCII
    /// digits (which the regex's Unicode `\d` took and no CPU number is).
    #[test]
    fn exec_cpu_affinity_lists_parse_as_upstream_did() {
        let parse = |list: &str| {
            serde_json::from_value::<oci_spec::runtime::Process>(serde_json::json!({
                "cwd": "/", "user": {"uid": 0, "gid": 0},
                "execCPUAffinity": {"initial": list, "final": list}
            }))
        };
        for good in ["0", "7", "0-3", "0-3,7", "0,1,2,3", "0-1,2-5", "10-20,31"] {
            assert!(parse(good).is_ok(), "{good:?} must parse");
        }
        for bad in [
            "", ",", "0,", ",0", "0-", "-3", "0--3", "0-3-5", "0-3,,7", "4-6.,8", "a", "0 ", " 0",
            "\u{661}",
        ] {
            let e = parse(bad).expect_err(bad).to_string();
            assert!(e.contains("Invalid execCPUAffinity format"), "{bad:?}: {e}");
        }
    }
}
