//! Bundles: a busybox-static rootfs template plus the probe, cheaply
//! hard-linked into each test's bundle, and the config.json the harness
//! writes itself (never the runtime's `spec`, so that every runtime is judged
//! on the same document).
//!
//! ```
//! let cfg = conformance::bundle::default_spec(&["/probe"], "/baleia-conformance/x");
//! assert_eq!(cfg["process"]["args"][0], "/probe");
//! assert_eq!(cfg["linux"]["cgroupsPath"], "/baleia-conformance/x");
//! ```

use serde_json::{json, Value};
use std::path::{Path, PathBuf};

/// Where busybox-static installs its binary on Debian.
pub const BUSYBOX: &str = "/bin/busybox";

/// The directories every rootfs gets; mount targets in the default spec exist.
const DIRS: &[&str] = &[
    "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "run", "usr/bin", "usr/sbin",
    "mnt", "home",
];

/// Builds the rootfs template once per run: busybox with its applets as
/// symlinks, the probe at /probe, and minimal passwd/group files.
///
/// ```no_run
/// use std::path::Path;
/// conformance::bundle::make_template(Path::new("/tmp/t"), Path::new("/bin/busybox"), Path::new("/probe")).unwrap();
/// ```
pub fn make_template(dir: &Path, busybox: &Path, probe: &Path) -> Result<(), String> {
    let io = |what: &str, p: &Path, e: std::io::Error| format!("{what} {}: {e}", p.display());
    for d in DIRS {
        let p = dir.join(d);
        std::fs::create_dir_all(&p).map_err(|e| io("mkdir", &p, e))?;
    }
    let bb = dir.join("bin/busybox");
    std::fs::copy(busybox, &bb).map_err(|e| io("copy busybox to", &bb, e))?;
    let pr = dir.join("probe");
    std::fs::copy(probe, &pr).map_err(|e| io("copy probe to", &pr, e))?;
    let out = std::process::Command::new(busybox)
        .arg("--list")
        .output()
        .map_err(|e| format!("run {} --list: {e}", busybox.display()))?;
    for applet in String::from_utf8_lossy(&out.stdout).lines() {
        if applet.is_empty() || applet == "busybox" {
            continue;
        }
        let l = dir.join("bin").join(applet);
        std::os::unix::fs::symlink("busybox", &l).map_err(|e| io("symlink", &l, e))?;
    }
    let files: [(&str, &str); 3] = [
        (
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
        ),
        ("etc/group", "root:x:0:\ntty:x:5:\nnobody:x:65534:\n"),
        ("etc/hostname", "template\n"),
    ];
    for (name, text) in files {
        let p = dir.join(name);
        std::fs::write(&p, text).map_err(|e| io("write", &p, e))?;
    }
    set_mode(&dir.join("tmp"), 0o1777)
}

fn set_mode(p: &Path, mode: u32) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(|e| format!("chmod {:o} {}: {e}", mode, p.display()))
}

/// Copies the template into `dst`: directories are made, large files (the
/// binaries, never modified in place) and symlinks hard-linked, small files
/// copied.
///
/// ```no_run
/// use std::path::Path;
/// conformance::bundle::clone_tree(Path::new("/tmp/t"), Path::new("/tmp/b/rootfs")).unwrap();
/// ```
pub fn clone_tree(src: &Path, dst: &Path) -> Result<(), String> {
    use std::os::unix::fs::PermissionsExt;
    std::fs::create_dir_all(dst).map_err(|e| format!("mkdir {}: {e}", dst.display()))?;
    let meta = std::fs::metadata(src).map_err(|e| format!("stat {}: {e}", src.display()))?;
    set_mode(dst, meta.permissions().mode() & 0o7777)?;
    let rd = std::fs::read_dir(src).map_err(|e| format!("readdir {}: {e}", src.display()))?;
    for e in rd {
        let e = e.map_err(|e| format!("readdir {}: {e}", src.display()))?;
        let (s, d) = (e.path(), dst.join(e.file_name()));
        let ft = e
            .file_type()
            .map_err(|e| format!("stat {}: {e}", s.display()))?;
        if ft.is_dir() {
            clone_tree(&s, &d)?;
        } else if ft.is_symlink() {
            // A hard link to the template's symlink (linkat does not follow it) costs
            // an entry instead of a new inode: on this ext4 that is 15 us instead of
            // 900 us, and the template holds ~400 applet links. A symlink cannot be
            // changed in place, so sharing one is as safe as sharing a binary.
            if std::fs::hard_link(&s, &d).is_err() {
                let t =
                    std::fs::read_link(&s).map_err(|e| format!("readlink {}: {e}", s.display()))?;
                std::os::unix::fs::symlink(&t, &d)
                    .map_err(|e| format!("symlink {}: {e}", d.display()))?;
            }
        } else if e.metadata().map(|m| m.len() < 65536).unwrap_or(true) {
            // Small files are copied so that a test writing to one cannot
            // change the template under the next test.
            std::fs::copy(&s, &d).map_err(|e| format!("copy {}: {e}", d.display()))?;
        } else {
            std::fs::hard_link(&s, &d).map_err(|e| format!("link {}: {e}", d.display()))?;
        }
    }
    Ok(())
}

/// The default capability set of `runc spec`.
pub const DEFAULT_CAPS: &[&str] = &["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"];

/// runc's default masked paths (`runc spec`).
pub const MASKED: &[&str] = &[
    "/proc/acpi",
    "/proc/asound",
    "/proc/kcore",
    "/proc/keys",
    "/proc/latency_stats",
    "/proc/timer_list",
    "/proc/timer_stats",
    "/proc/sched_debug",
    "/sys/firmware",
    "/proc/scsi",
];

/// runc's default read-only paths (`runc spec`).
pub const READONLY: &[&str] = &[
    "/proc/bus",
    "/proc/fs",
    "/proc/irq",
    "/proc/sys",
    "/proc/sysrq-trigger",
];

/// The harness's own default config.json, modelled on `runc spec` with the
/// probe as the process, a writable root, and an absolute cgroups path under
/// /baleia-conformance so that no test touches a cgroup it does not own.
///
/// ```
/// let cfg = conformance::bundle::default_spec(&["/probe", "--exit", "0"], "/baleia-conformance/t1");
/// assert_eq!(cfg["root"]["path"], "rootfs");
/// ```
pub fn default_spec(args: &[&str], cgroups_path: &str) -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": args,
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": DEFAULT_CAPS, "effective": DEFAULT_CAPS, "permitted": DEFAULT_CAPS,
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true,
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "conformance",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]},
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "cgroupsPath": cgroups_path,
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"},
            ],
            "maskedPaths": MASKED,
            "readonlyPaths": READONLY,
        },
    })
}

/// Sets `value` at a JSON pointer, creating intermediate objects.
///
/// ```
/// let mut v = serde_json::json!({});
/// conformance::bundle::set(&mut v, "/linux/sysctl/kernel.msgmax", serde_json::json!("8192"));
/// assert_eq!(v["linux"]["sysctl"]["kernel.msgmax"], "8192");
/// ```
pub fn set(root: &mut Value, pointer: &str, value: Value) {
    let mut cur = root;
    let parts: Vec<String> = pointer
        .split('/')
        .skip(1)
        .map(|p| p.replace("~1", "/").replace("~0", "~"))
        .collect();
    let Some((last, dirs)) = parts.split_last() else {
        *cur = value;
        return;
    };
    for p in dirs {
        if !cur.is_object() {
            *cur = json!({});
        }
        let Some(obj) = cur.as_object_mut() else {
            return;
        };
        cur = obj.entry(p.clone()).or_insert_with(|| json!({}));
    }
    if !cur.is_object() {
        *cur = json!({});
    }
    if let Some(obj) = cur.as_object_mut() {
        obj.insert(last.clone(), value);
    }
}

/// Appends to the array at `pointer` (made when missing).
///
/// ```
/// let mut v = serde_json::json!({"mounts": []});
/// conformance::bundle::push(&mut v, "/mounts", serde_json::json!({"destination": "/x"}));
/// assert_eq!(v["mounts"][0]["destination"], "/x");
/// ```
pub fn push(root: &mut Value, pointer: &str, value: Value) {
    if root.pointer(pointer).map(Value::is_array) != Some(true) {
        set(root, pointer, json!([]));
    }
    if let Some(a) = root.pointer_mut(pointer).and_then(Value::as_array_mut) {
        a.push(value);
    }
}

/// Removes every namespace of `kind` from linux.namespaces.
///
/// ```
/// let mut v = conformance::bundle::default_spec(&["/probe"], "/x");
/// conformance::bundle::drop_namespace(&mut v, "network");
/// assert!(!v["linux"]["namespaces"].as_array().unwrap().iter().any(|n| n["type"] == "network"));
/// ```
pub fn drop_namespace(root: &mut Value, kind: &str) {
    if let Some(a) = root
        .pointer_mut("/linux/namespaces")
        .and_then(Value::as_array_mut)
    {
        a.retain(|n| n["type"] != kind);
    }
}

/// A bundle on disk.
#[derive(Debug, Clone)]
pub struct Bundle {
    /// The bundle directory (absolute).
    pub path: PathBuf,
}

impl Bundle {
    /// The rootfs directory inside the bundle.
    ///
    /// ```
    /// let b = conformance::bundle::Bundle { path: "/tmp/b".into() };
    /// assert_eq!(b.rootfs(), std::path::Path::new("/tmp/b/rootfs"));
    /// ```
    pub fn rootfs(&self) -> PathBuf {
        self.path.join("rootfs")
    }

    /// Rewrites config.json.
    ///
    /// ```no_run
    /// let b = conformance::bundle::Bundle { path: "/tmp/b".into() };
    /// b.write_config(&serde_json::json!({})).unwrap();
    /// ```
    pub fn write_config(&self, cfg: &Value) -> Result<(), String> {
        let p = self.path.join("config.json");
        let text = serde_json::to_string_pretty(cfg).map_err(|e| format!("encode config: {e}"))?;
        std::fs::write(&p, text).map_err(|e| format!("write {}: {e}", p.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn set_and_push_build_nested_values() {
        let mut v = json!({"a": 1});
        set(&mut v, "/b/c", json!(2));
        set(&mut v, "/a", json!(3));
        push(&mut v, "/b/list", json!("x"));
        push(&mut v, "/b/list", json!("y"));
        assert_eq!(v, json!({"a": 3, "b": {"c": 2, "list": ["x", "y"]}}));
    }

    #[test]
    fn default_spec_is_runc_like() {
        let v = default_spec(&["/probe"], "/baleia-conformance/1");
        let ns: Vec<&str> = v["linux"]["namespaces"]
            .as_array()
            .unwrap()
            .iter()
            .map(|n| n["type"].as_str().unwrap())
            .collect();
        assert_eq!(ns, ["pid", "network", "ipc", "uts", "mount"]);
        assert_eq!(v["process"]["capabilities"]["bounding"][1], "CAP_KILL");
        assert_eq!(
            v["linux"]["maskedPaths"].as_array().unwrap().len(),
            MASKED.len()
        );
    }

    #[test]
    fn template_and_clone_hardlink_files() {
        let base = std::env::temp_dir().join(format!("bundle-unit-{}", std::process::id()));
        let t = base.join("t");
        // Any executable stands in for the probe here.
        make_template(&t, Path::new(BUSYBOX), Path::new(BUSYBOX)).unwrap();
        let d = base.join("b/rootfs");
        clone_tree(&t, &d).unwrap();
        use std::os::unix::fs::MetadataExt;
        let (a, b) = (
            std::fs::metadata(t.join("probe")).unwrap(),
            std::fs::metadata(d.join("probe")).unwrap(),
        );
        assert_eq!(a.ino(), b.ino());
        assert_eq!(
            std::fs::read_link(d.join("bin/sh")).unwrap(),
            Path::new("busybox")
        );
        assert_eq!(
            std::fs::symlink_metadata(t.join("bin/sh")).unwrap().ino(),
            std::fs::symlink_metadata(d.join("bin/sh")).unwrap().ino(),
            "the applet symlink is shared, not recreated"
        );
        assert_eq!(
            std::fs::metadata(d.join("tmp")).unwrap().mode() & 0o7777,
            0o1777
        );
        std::fs::remove_dir_all(&base).unwrap();
    }
}
