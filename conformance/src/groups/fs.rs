//! The filesystem: mounts (config.md "Mounts"), root (readonly,
//! rootfsPropagation), masked and read-only paths, devices (config-linux.md
//! "Devices", "Default Devices", "Masked Paths", "Readonly Paths").

use crate::bundle;
use crate::harness::{check, eq, fail, Ctx, Test, TestResult, Verdict};
use serde_json::{json, Value};

const M: &str = "mounts";
const R: &str = "root";
const P: &str = "masked-readonly";
const D: &str = "devices";

const EROFS: i64 = libc::EROFS as i64;

/// The last (top-most) mount at `point` in the probe's mount table.
fn mount_at(f: &Value, point: &str) -> Option<Value> {
    f["mounts"]
        .as_array()?
        .iter()
        .rev()
        .find(|m| m["mountpoint"] == point)
        .cloned()
}

fn need_mount(f: &Value, point: &str) -> Result<Value, Verdict> {
    mount_at(f, point).ok_or_else(|| fail(format!("a mount at {point}"), "none"))
}

fn fstype(c: &mut Ctx, point: &str, want: &str) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    let m = need_mount(&f, point)?;
    eq(
        &format!("fstype at {point}"),
        json!(want),
        m["fstype"].clone(),
    )
}

fn proc_mounted(c: &mut Ctx) -> TestResult {
    fstype(c, "/proc", "proc")
}
fn dev_tmpfs(c: &mut Ctx) -> TestResult {
    fstype(c, "/dev", "tmpfs")
}
fn devpts(c: &mut Ctx) -> TestResult {
    fstype(c, "/dev/pts", "devpts")
}
fn mqueue(c: &mut Ctx) -> TestResult {
    fstype(c, "/dev/mqueue", "mqueue")
}
fn shm(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    let m = need_mount(&f, "/dev/shm")?;
    let o = m["options"].as_str().unwrap_or_default();
    for flag in ["nosuid", "nodev", "noexec"] {
        check(
            o.split(',').any(|x| x == flag),
            format!("/dev/shm {flag}"),
            o,
        )?;
    }
    eq("fstype", json!("tmpfs"), m["fstype"].clone())
}
fn sysfs_ro(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    let m = need_mount(&f, "/sys")?;
    let o = m["options"].as_str().unwrap_or_default();
    check(o.split(',').any(|x| x == "ro"), "/sys read-only", o)?;
    eq("fstype", json!("sysfs"), m["fstype"].clone())
}

fn with_mount(c: &mut Ctx, mount: Value, args: &[&str]) -> Result<Value, Verdict> {
    let mut cfg = c.spec(args);
    bundle::push(&mut cfg, "/mounts", mount);
    c.probe(&cfg)
}

fn tmpfs_options(c: &mut Ctx) -> TestResult {
    let f = with_mount(
        c,
        json!({"destination": "/data", "type": "tmpfs", "source": "tmpfs", "options": ["size=1m", "mode=700"]}),
        &["--stat", "/data"],
    )?;
    let m = need_mount(&f, "/data")?;
    let so = m["super_options"].as_str().unwrap_or_default();
    check(
        so.contains("size=1024k"),
        "size=1024k in the superblock options",
        so,
    )?;
    eq(
        "mode of /data",
        json!(0o700),
        f["stat"]["/data"]["mode"].clone(),
    )
}

fn destination_created(c: &mut Ctx) -> TestResult {
    let f = with_mount(
        c,
        json!({"destination": "/new/deep/dir", "type": "tmpfs", "source": "tmpfs"}),
        &[],
    )?;
    need_mount(&f, "/new/deep/dir").map(|_| ())
}

fn host_dir(c: &mut Ctx) -> Result<std::path::PathBuf, Verdict> {
    let d = c.dir.join("hostdir");
    std::fs::create_dir_all(&d).map_err(|e| fail("a host dir", e))?;
    std::fs::write(d.join("hello"), "from the host").map_err(|e| fail("a host file", e))?;
    Ok(d)
}

fn bind_dir(c: &mut Ctx) -> TestResult {
    let d = host_dir(c)?;
    let f = with_mount(
        c,
        json!({"destination": "/mnt/host", "type": "bind", "source": d, "options": ["rbind"]}),
        &["--read", "/mnt/host/hello"],
    )?;
    eq(
        "content",
        json!("from the host"),
        f["read"]["/mnt/host/hello"]["content"].clone(),
    )
}

fn bind_no_type(c: &mut Ctx) -> TestResult {
    let d = host_dir(c)?;
    let f = with_mount(
        c,
        json!({"destination": "/mnt/host", "source": d, "options": ["bind"]}),
        &["--read", "/mnt/host/hello"],
    )?;
    eq(
        "content",
        json!("from the host"),
        f["read"]["/mnt/host/hello"]["content"].clone(),
    )
}

fn bind_ro(c: &mut Ctx) -> TestResult {
    let d = host_dir(c)?;
    let f = with_mount(
        c,
        json!({"destination": "/mnt/host", "type": "bind", "source": d, "options": ["rbind", "ro"]}),
        &["--write", "/mnt/host/new"],
    )?;
    eq(
        "errno",
        json!(EROFS),
        f["write"]["/mnt/host/new"]["errno"].clone(),
    )
}

fn bind_rw(c: &mut Ctx) -> TestResult {
    let d = host_dir(c)?;
    let f = with_mount(
        c,
        json!({"destination": "/mnt/host", "type": "bind", "source": d, "options": ["rbind", "rw"]}),
        &["--write", "/mnt/host/new"],
    )?;
    eq(
        "write",
        json!(true),
        f["write"]["/mnt/host/new"]["ok"].clone(),
    )?;
    check(d.join("new").exists(), "the file on the host", "missing")
}

fn bind_file(c: &mut Ctx) -> TestResult {
    let d = host_dir(c)?;
    let f = with_mount(
        c,
        json!({"destination": "/etc/conf-file", "type": "bind", "source": d.join("hello"), "options": ["bind"]}),
        &["--read", "/etc/conf-file"],
    )?;
    eq(
        "content",
        json!("from the host"),
        f["read"]["/etc/conf-file"]["content"].clone(),
    )
}

fn bind_noexec(c: &mut Ctx) -> TestResult {
    let d = host_dir(c)?;
    let exe = d.join("tool");
    std::fs::write(&exe, "#!/bin/sh\n").map_err(|e| fail("host file", e))?;
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&exe, std::fs::Permissions::from_mode(0o755))
        .map_err(|e| fail("chmod", e))?;
    let f = with_mount(
        c,
        json!({"destination": "/mnt/host", "type": "bind", "source": d, "options": ["rbind", "noexec"]}),
        &["--exec", "/mnt/host/tool"],
    )?;
    eq(
        "access(X_OK) errno",
        json!(libc::EACCES),
        f["exec"]["/mnt/host/tool"]["errno"].clone(),
    )
}

fn flags(c: &mut Ctx) -> TestResult {
    let f = with_mount(
        c,
        json!({"destination": "/flags", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "nodev", "noexec", "ro"]}),
        &[],
    )?;
    let m = need_mount(&f, "/flags")?;
    let o = m["options"].as_str().unwrap_or_default().to_string();
    for flag in ["nosuid", "nodev", "noexec", "ro"] {
        check(
            o.split(',').any(|x| x == flag),
            format!("{flag} on /flags"),
            &o,
        )?;
    }
    Ok(())
}

fn relative_destination(c: &mut Ctx) -> TestResult {
    let f = with_mount(
        c,
        json!({"destination": "reldir", "type": "tmpfs", "source": "tmpfs"}),
        &[],
    )?;
    need_mount(&f, "/reldir").map(|_| ())
}

fn nested_order(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::push(
        &mut cfg,
        "/mounts",
        json!({"destination": "/outer", "type": "tmpfs", "source": "tmpfs"}),
    );
    bundle::push(
        &mut cfg,
        "/mounts",
        json!({"destination": "/outer/inner", "type": "tmpfs", "source": "tmpfs"}),
    );
    let f = c.probe(&cfg)?;
    let outer = need_mount(&f, "/outer")?;
    let inner = need_mount(&f, "/outer/inner")?;
    eq(
        "parent of /outer/inner",
        outer["id"].clone(),
        inner["parent"].clone(),
    )
}

fn propagation(c: &mut Ctx, opt: &str, want_shared: bool) -> TestResult {
    let f = with_mount(
        c,
        json!({"destination": "/prop", "type": "tmpfs", "source": "tmpfs", "options": [opt]}),
        &[],
    )?;
    let m = need_mount(&f, "/prop")?;
    let opt_field = m["optional"].as_str().unwrap_or_default();
    eq("shared", want_shared, opt_field.contains("shared:"))
}

fn prop_shared(c: &mut Ctx) -> TestResult {
    propagation(c, "rshared", true)
}
fn prop_private(c: &mut Ctx) -> TestResult {
    propagation(c, "rprivate", false)
}

fn symlink_destination(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::push(
        &mut cfg,
        "/mounts",
        json!({"destination": "/link/sub", "type": "tmpfs", "source": "tmpfs"}),
    );
    let b = c.bundle(&cfg)?;
    std::fs::create_dir_all(b.rootfs().join("target")).map_err(|e| fail("mkdir", e))?;
    // An absolute link must resolve inside the rootfs, not on the host.
    std::os::unix::fs::symlink("/target", b.rootfs().join("link"))
        .map_err(|e| fail("symlink", e))?;
    let bp = b.path.to_string_lossy().into_owned();
    let (reader, writer) = std::io::pipe().map_err(|e| fail("pipe", e))?;
    let id = c.id();
    let pf = b.path.join("pid").to_string_lossy().into_owned();
    let o = c.cmd_io(
        &["create", "--bundle", &bp, "--pid-file", &pf, &id],
        crate::runtime::Io {
            stdout: Some(std::process::Stdio::from(writer)),
            ..Default::default()
        },
    )?;
    check(o.ok(), "create", o.summary())?;
    let s = c.cmd(&["start", &id])?;
    check(s.ok(), "start", s.summary())?;
    let out = crate::harness::read_all(Some(reader), crate::harness::CONTAINER_TIMEOUT)?;
    let f: Value = serde_json::from_str(out.lines().next().unwrap_or(""))
        .map_err(|_| fail("facts", out.clone()))?;
    need_mount(&f, "/target/sub").map(|_| ())
}

fn cgroup_mount(c: &mut Ctx) -> TestResult {
    let f = with_mount(
        c,
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
               "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
        &["--ls", "/sys/fs/cgroup"],
    )?;
    let e = f["ls"]["/sys/fs/cgroup"]["entries"]
        .as_array()
        .map(|a| a.len())
        .unwrap_or(0);
    check(
        e > 0,
        "the container's cgroups under /sys/fs/cgroup",
        f["ls"]["/sys/fs/cgroup"].to_string(),
    )
}

fn cgroup_ns_view(c: &mut Ctx) -> TestResult {
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    let spec = if v2 { "/pids.max" } else { "pids/pids.max" };
    let mut cfg = c.spec(&["--cgroup-file", spec]);
    bundle::push(&mut cfg, "/linux/namespaces", json!({"type": "cgroup"}));
    bundle::push(
        &mut cfg,
        "/mounts",
        json!({"destination": "/sys/fs/cgroup", "type": "cgroup", "source": "cgroup",
        "options": ["nosuid", "noexec", "nodev", "relatime", "ro"]}),
    );
    cfg["linux"]["resources"]["pids"] = json!({"limit": 42});
    let f = c.probe(&cfg)?;
    let own: Vec<String> = serde_json::from_value(f["cgroup"].clone()).unwrap_or_default();
    let pids_line = own
        .iter()
        .find(|l| {
            if v2 {
                l.starts_with("0::")
            } else {
                l.contains(":pids:")
            }
        })
        .cloned()
        .unwrap_or_default();
    check(
        pids_line.ends_with(":/"),
        "the container's own cgroup at / of its cgroup namespace",
        &pids_line,
    )?;
    eq(
        "pids.max seen inside",
        json!("42"),
        f["cgroup_files"][spec]["value"].clone(),
    )
}

fn bad_type_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::push(
        &mut cfg,
        "/mounts",
        json!({"destination": "/x", "type": "nosuchfs", "source": "none"}),
    );
    // mount(2) gives ENODEV for a filesystem type the kernel does not know.
    c.create_fails(&cfg, &[&["no such device"]]).map(|_| ())
}

fn bind_missing_source_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::push(
        &mut cfg,
        "/mounts",
        json!({"destination": "/x", "type": "bind", "source": "/nonexistent/src", "options": ["bind"]}),
    );
    c.create_fails(&cfg, &[&["/nonexistent/src", "no such file or directory"]])
        .map(|_| ())
}

fn no_host_mounts_leak(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::push(
        &mut cfg,
        "/mounts",
        json!({"destination": "/leakcheck", "type": "tmpfs", "source": "tmpfs"}),
    );
    c.probe(&cfg)?;
    let host =
        std::fs::read_to_string("/proc/self/mountinfo").map_err(|e| fail("host mountinfo", e))?;
    check(
        !host.contains("/leakcheck"),
        "the container's mounts invisible on the host",
        "a /leakcheck mount on the host",
    )
}

// root

fn root_readonly(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&["--write", "/newfile"]);
    cfg["root"]["readonly"] = json!(true);
    let f = c.probe(&cfg)?;
    eq(
        "errno",
        json!(EROFS),
        f["write"]["/newfile"]["errno"].clone(),
    )
}

fn root_readonly_mounts_writable(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&["--write", "/dev/shm/x"]);
    cfg["root"]["readonly"] = json!(true);
    let f = c.probe(&cfg)?;
    eq(
        "write to /dev/shm",
        json!(true),
        f["write"]["/dev/shm/x"]["ok"].clone(),
    )
}

fn root_writable(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&["--write", "/newfile"]);
    let r = c.run(&cfg)?;
    eq(
        "write",
        json!(true),
        r.facts["write"]["/newfile"]["ok"].clone(),
    )?;
    check(
        r.ctr.bundle.rootfs().join("newfile").exists(),
        "the file in the bundle's rootfs",
        "missing",
    )
}

fn root_is_rootfs(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&["--read", "/etc/hostname", "--stat", "/work"]);
    let f = c.probe(&cfg)?;
    eq(
        "/etc/hostname",
        json!("template\n"),
        f["read"]["/etc/hostname"]["content"].clone(),
    )?;
    eq(
        "a host-only path",
        json!(false),
        f["stat"]["/work"]["ok"].clone(),
    )
}

fn root_absolute(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&["--read", "/etc/hostname"]);
    let b = c.bundle(&cfg)?;
    let mut cfg = cfg;
    cfg["root"]["path"] = json!(b.rootfs());
    b.write_config(&cfg).map_err(|e| fail("config", e))?;
    let bp = b.path.to_string_lossy().into_owned();
    let id = c.id();
    let o = c.cmd(&["run", "--bundle", &bp, &id])?;
    eq("run exit", Some(0), o.code)?;
    check(
        o.stdout.contains("template"),
        "the rootfs at the absolute root.path",
        o.stdout.chars().take(100).collect::<String>(),
    )
}

fn root_missing_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["root"]["path"] = json!("no-such-rootfs");
    // runc and crun 1.8 pass on ENOENT; baleia: "rootfs (...) does not exist".
    c.create_fails(
        &cfg,
        &[
            &["no-such-rootfs", "no such file or directory"],
            &["no-such-rootfs", "does not exist"],
        ],
    )
    .map(|_| ())
}

fn rootfs_prop(c: &mut Ctx, prop: &str, want_shared: bool) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["linux"]["rootfsPropagation"] = json!(prop);
    let f = c.probe(&cfg)?;
    let m = need_mount(&f, "/")?;
    let opt = m["optional"].as_str().unwrap_or_default();
    check(
        opt.contains("shared:") == want_shared,
        format!("/ shared = {want_shared}"),
        format!("/ mounted with {m}"),
    )
}

fn rootfs_private(c: &mut Ctx) -> TestResult {
    rootfs_prop(c, "private", false)
}
fn rootfs_shared(c: &mut Ctx) -> TestResult {
    rootfs_prop(c, "shared", true)
}

fn no_pivot(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&["--read", "/etc/hostname"]);
    let mut ctr = c.create_with(&cfg, &["--no-pivot"], Default::default())?;
    c.start(&ctr)?;
    let f = c.read_facts(&mut ctr)?;
    eq(
        "/etc/hostname",
        json!("template\n"),
        f["read"]["/etc/hostname"]["content"].clone(),
    )
}

// masked and read-only paths: one table, one body

/// Skips when the host kernel lacks `path` (e.g. /proc/kcore without CONFIG_PROC_KCORE).
fn need_host(path: &str) -> TestResult {
    if std::path::Path::new(path).exists() {
        Ok(())
    } else {
        Err(crate::harness::skip(format!("this kernel has no {path}")))
    }
}

/// What the probe must see at a path; each also says what the probe is asked.
#[derive(Debug, Clone, Copy)]
enum Seen {
    /// Reads as empty (a masked file).
    Empty(&'static str),
    /// Is /dev/null (char 1:3) bound over the file.
    DevNull(&'static str),
    /// Lists no entries (a masked directory: an empty tmpfs).
    NoEntries(&'static str),
    /// Creating or writing this file fails with EROFS.
    ReadOnly(&'static str),
    /// Is still readable.
    Readable(&'static str),
    /// The top mount at this point carries these flags.
    Flags(&'static str, &'static [&'static str]),
}

/// A masked or read-only path test. The default spec already has runc's
/// maskedPaths and readonlyPaths; `masked`/`readonly` go in front of them, so
/// that a case with a missing path also shows that the runtime went on to
/// apply the rest.
struct PathCase {
    name: &'static str,
    cite: &'static str,
    /// Skip unless the host kernel has this path.
    host: Option<&'static str>,
    masked: Option<&'static str>,
    readonly: Option<&'static str>,
    /// A tmpfs mounted at this point with these options first.
    tmpfs: Option<(&'static str, &'static [&'static str])>,
    seen: &'static [Seen],
}

const CASE: PathCase = PathCase {
    name: "",
    cite: "",
    host: None,
    masked: None,
    readonly: None,
    tmpfs: None,
    seen: &[],
};

const PATH_CASES: &[PathCase] = &[
    PathCase {
        name: "masked-kcore",
        cite: "config-linux.md maskedPaths: /proc/kcore (runc default) unreadable",
        host: Some("/proc/kcore"),
        seen: &[Seen::Empty("/proc/kcore")],
        ..CASE
    },
    PathCase {
        name: "masked-timer-list",
        cite: "config-linux.md maskedPaths: /proc/timer_list (runc default)",
        host: Some("/proc/timer_list"),
        seen: &[Seen::Empty("/proc/timer_list")],
        ..CASE
    },
    PathCase {
        name: "masked-keys",
        cite: "config-linux.md maskedPaths: /proc/keys (runc default)",
        seen: &[Seen::Empty("/proc/keys")],
        ..CASE
    },
    PathCase {
        name: "masked-dir",
        cite: "config-linux.md maskedPaths: a directory (/sys/firmware) looks empty",
        seen: &[Seen::NoEntries("/sys/firmware")],
        ..CASE
    },
    PathCase {
        name: "masked-file",
        cite: "config-linux.md maskedPaths: a file is /dev/null bound over it",
        masked: Some("/etc/hostname"),
        seen: &[Seen::Empty("/etc/hostname"), Seen::DevNull("/etc/hostname")],
        ..CASE
    },
    PathCase {
        name: "masked-dir-readonly",
        cite: "runc: a masked directory is an empty read-only tmpfs",
        masked: Some("/etc"),
        seen: &[Seen::NoEntries("/etc"), Seen::ReadOnly("/etc/new")],
        ..CASE
    },
    PathCase {
        name: "masked-missing-ignored",
        cite: "runc: a masked path that does not exist is ignored",
        masked: Some("/nonexistent/masked"),
        seen: &[Seen::Empty("/proc/keys")],
        ..CASE
    },
    PathCase {
        name: "readonly-proc-sys",
        cite: "config-linux.md readonlyPaths: /proc/sys (runc default) read-only",
        seen: &[Seen::ReadOnly("/proc/sys/kernel/domainname")],
        ..CASE
    },
    PathCase {
        name: "readonly-sysrq",
        cite: "config-linux.md readonlyPaths: /proc/sysrq-trigger (runc default)",
        host: Some("/proc/sysrq-trigger"),
        seen: &[Seen::ReadOnly("/proc/sysrq-trigger")],
        ..CASE
    },
    PathCase {
        name: "readonly-custom",
        cite: "config-linux.md readonlyPaths: read-only yet readable",
        readonly: Some("/etc"),
        seen: &[
            Seen::ReadOnly("/etc/newfile"),
            Seen::Readable("/etc/passwd"),
        ],
        ..CASE
    },
    PathCase {
        name: "readonly-missing-ignored",
        cite: "runc: a read-only path that does not exist is ignored",
        readonly: Some("/nonexistent/ro"),
        seen: &[Seen::ReadOnly("/proc/sys/kernel/domainname")],
        ..CASE
    },
    PathCase {
        name: "readonly-keeps-flags",
        cite: "runc: the read-only remount keeps nosuid/nodev/noexec",
        readonly: Some("/rotmp"),
        tmpfs: Some(("/rotmp", &["nosuid", "nodev", "noexec"])),
        seen: &[Seen::Flags("/rotmp", &["ro", "nosuid", "nodev", "noexec"])],
        ..CASE
    },
];

fn prepend(cfg: &mut Value, pointer: &str, path: &str) {
    bundle::push(cfg, pointer, json!(path));
    if let Some(a) = cfg.pointer_mut(pointer).and_then(Value::as_array_mut) {
        a.rotate_right(1);
    }
}

fn path_case(c: &mut Ctx, t: &PathCase) -> TestResult {
    if let Some(h) = t.host {
        need_host(h)?;
    }
    let mut args = Vec::new();
    for s in t.seen {
        match *s {
            Seen::Empty(p) | Seen::Readable(p) => args.extend(["--read", p]),
            Seen::DevNull(p) => args.extend(["--stat", p]),
            Seen::NoEntries(p) => args.extend(["--ls", p]),
            Seen::ReadOnly(p) => args.extend(["--write", p]),
            Seen::Flags(..) => {}
        }
    }
    let mut cfg = c.spec(&args);
    if let Some((point, opts)) = t.tmpfs {
        bundle::push(
            &mut cfg,
            "/mounts",
            json!({"destination": point, "type": "tmpfs", "source": "tmpfs", "options": opts}),
        );
    }
    if let Some(p) = t.masked {
        prepend(&mut cfg, "/linux/maskedPaths", p);
    }
    if let Some(p) = t.readonly {
        prepend(&mut cfg, "/linux/readonlyPaths", p);
    }
    let f = c.probe(&cfg)?;
    for s in t.seen {
        match *s {
            Seen::Empty(p) => eq(
                &format!("content of masked {p}"),
                json!(""),
                f["read"][p]["content"].clone(),
            )?,
            Seen::DevNull(p) => eq(
                &format!("{p} masked by /dev/null (char 1:3)"),
                json!([1, 3]),
                json!([f["stat"][p]["major"], f["stat"][p]["minor"]]),
            )?,
            Seen::NoEntries(p) => eq(
                &format!("entries of masked {p}"),
                json!([]),
                f["ls"][p]["entries"].clone(),
            )?,
            Seen::ReadOnly(p) => eq(
                &format!("errno of a write to {p}"),
                json!(EROFS),
                f["write"][p]["errno"].clone(),
            )?,
            Seen::Readable(p) => eq(
                &format!("{p} readable"),
                json!(true),
                f["read"][p]["ok"].clone(),
            )?,
            Seen::Flags(point, flags) => {
                let m = need_mount(&f, point)?;
                let o = m["options"].as_str().unwrap_or_default().to_string();
                for flag in flags {
                    check(
                        o.split(',').any(|x| x == *flag),
                        format!("{flag} on the read-only {point}"),
                        &o,
                    )?;
                }
            }
        }
    }
    Ok(())
}

// devices

fn default_device(c: &mut Ctx, path: &str, major: u64, minor: u64) -> TestResult {
    let cfg = c.spec(&["--stat", path]);
    let f = c.probe(&cfg)?;
    let s = &f["stat"][path];
    eq(
        path,
        json!(["char", major, minor, 0o666]),
        json!([s["kind"], s["major"], s["minor"], s["mode"]]),
    )
}

fn dev_null(c: &mut Ctx) -> TestResult {
    default_device(c, "/dev/null", 1, 3)
}
fn dev_zero(c: &mut Ctx) -> TestResult {
    default_device(c, "/dev/zero", 1, 5)
}
fn dev_full(c: &mut Ctx) -> TestResult {
    default_device(c, "/dev/full", 1, 7)
}
fn dev_random(c: &mut Ctx) -> TestResult {
    default_device(c, "/dev/random", 1, 8)
}
fn dev_urandom(c: &mut Ctx) -> TestResult {
    default_device(c, "/dev/urandom", 1, 9)
}
fn dev_tty(c: &mut Ctx) -> TestResult {
    default_device(c, "/dev/tty", 5, 0)
}

fn dev_null_usable(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&["--write", "/dev/null", "--read", "/dev/urandom"]);
    let f = c.probe(&cfg)?;
    eq(
        "write /dev/null",
        json!(true),
        f["write"]["/dev/null"]["ok"].clone(),
    )
}

fn link(c: &mut Ctx, path: &str, target: &str) -> TestResult {
    let cfg = c.spec(&["--stat", path]);
    let f = c.probe(&cfg)?;
    eq(
        &format!("{path} -> "),
        json!(["symlink", target]),
        json!([f["stat"][path]["kind"], f["stat"][path]["target"]]),
    )
}

fn link_fd(c: &mut Ctx) -> TestResult {
    link(c, "/dev/fd", "/proc/self/fd")
}
fn link_stdin(c: &mut Ctx) -> TestResult {
    link(c, "/dev/stdin", "/proc/self/fd/0")
}
fn link_stdout(c: &mut Ctx) -> TestResult {
    link(c, "/dev/stdout", "/proc/self/fd/1")
}
fn link_stderr(c: &mut Ctx) -> TestResult {
    link(c, "/dev/stderr", "/proc/self/fd/2")
}
fn link_ptmx(c: &mut Ctx) -> TestResult {
    link(c, "/dev/ptmx", "pts/ptmx")
}

fn custom_char(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&["--stat", "/dev/fuse"]);
    bundle::push(
        &mut cfg,
        "/linux/devices",
        json!({"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o620, "uid": 0, "gid": 0}),
    );
    let f = c.probe(&cfg)?;
    let s = &f["stat"]["/dev/fuse"];
    eq(
        "/dev/fuse",
        json!(["char", 10, 229, 0o620]),
        json!([s["kind"], s["major"], s["minor"], s["mode"]]),
    )
}

fn custom_owner(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&["--stat", "/dev/mydev"]);
    bundle::push(
        &mut cfg,
        "/linux/devices",
        json!({"path": "/dev/mydev", "type": "c", "major": 1, "minor": 3, "fileMode": 0o600, "uid": 1000, "gid": 1001}),
    );
    let f = c.probe(&cfg)?;
    let s = &f["stat"]["/dev/mydev"];
    eq("owner", json!([1000, 1001]), json!([s["uid"], s["gid"]]))
}

fn custom_block(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&["--stat", "/dev/myloop"]);
    bundle::push(
        &mut cfg,
        "/linux/devices",
        json!({"path": "/dev/myloop", "type": "b", "major": 7, "minor": 0}),
    );
    let f = c.probe(&cfg)?;
    let s = &f["stat"]["/dev/myloop"];
    eq(
        "/dev/myloop",
        json!(["block", 7, 0]),
        json!([s["kind"], s["major"], s["minor"]]),
    )
}

fn custom_fifo(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&["--stat", "/dev/myfifo"]);
    bundle::push(
        &mut cfg,
        "/linux/devices",
        json!({"path": "/dev/myfifo", "type": "p"}),
    );
    let f = c.probe(&cfg)?;
    eq(
        "kind",
        json!("fifo"),
        f["stat"]["/dev/myfifo"]["kind"].clone(),
    )
}

fn cgroup_denies(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&["--write", "/dev/fuse"]);
    bundle::push(
        &mut cfg,
        "/linux/devices",
        json!({"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}),
    );
    let f = c.probe(&cfg)?;
    eq(
        "open errno (devices cgroup)",
        json!(libc::EPERM),
        f["write"]["/dev/fuse"]["errno"].clone(),
    )
}

fn cgroup_allows(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&["--write", "/dev/fuse"]);
    bundle::push(
        &mut cfg,
        "/linux/devices",
        json!({"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 0o666}),
    );
    bundle::push(
        &mut cfg,
        "/linux/resources/devices",
        json!({"allow": true, "type": "c", "major": 10, "minor": 229, "access": "rwm"}),
    );
    let f = c.probe(&cfg)?;
    let e = f["write"]["/dev/fuse"]["errno"].as_i64().unwrap_or(0);
    check(
        e != libc::EPERM as i64,
        "open not denied by the devices cgroup",
        format!("errno {e}"),
    )
}

fn no_host_devices(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&["--stat", "/dev/kmsg", "--stat", "/dev/mem"]);
    let f = c.probe(&cfg)?;
    eq(
        "/dev/kmsg exists",
        json!(false),
        f["stat"]["/dev/kmsg"]["ok"].clone(),
    )?;
    eq(
        "/dev/mem exists",
        json!(false),
        f["stat"]["/dev/mem"]["ok"].clone(),
    )
}

/// The filesystem tests.
pub fn tests() -> Vec<Test> {
    let mut v = vec![
        Test::new(
            M,
            "proc",
            "config.md mounts: type proc at /proc",
            proc_mounted,
        ),
        Test::new(M, "dev-tmpfs", "config.md mounts: tmpfs at /dev", dev_tmpfs),
        Test::new(M, "devpts", "config.md mounts: devpts at /dev/pts", devpts),
        Test::new(
            M,
            "shm-flags",
            "config.md mounts: tmpfs /dev/shm with nosuid,nodev,noexec",
            shm,
        ),
        Test::new(
            M,
            "mqueue",
            "config.md mounts: mqueue at /dev/mqueue",
            mqueue,
        ),
        Test::new(M, "sysfs-ro", "config.md mounts: sysfs with ro", sysfs_ro),
        Test::new(
            M,
            "tmpfs-data-options",
            "config.md mounts.options: fs-specific options (size, mode) reach mount(2)",
            tmpfs_options,
        ),
        Test::new(
            M,
            "destination-created",
            "runc: a missing mount destination is created in the rootfs",
            destination_created,
        ),
        Test::new(
            M,
            "bind-dir",
            "config.md mounts: bind of a host directory",
            bind_dir,
        ),
        Test::new(
            M,
            "bind-no-type",
            "runc: options bind with no type is a bind mount",
            bind_no_type,
        ),
        Test::new(
            M,
            "bind-ro",
            "config.md mounts.options ro on a bind: EROFS on write",
            bind_ro,
        ),
        Test::new(
            M,
            "bind-rw",
            "config.md mounts: a rw bind writes through to the host",
            bind_rw,
        ),
        Test::new(
            M,
            "bind-file",
            "config.md mounts: bind of a single file",
            bind_file,
        ),
        Test::new(
            M,
            "bind-noexec",
            "config.md mounts.options noexec on a bind",
            bind_noexec,
        ),
        Test::new(
            M,
            "flags",
            "config.md mounts.options: nosuid,nodev,noexec,ro as mount flags",
            flags,
        ),
        Test::new(
            M,
            "relative-destination",
            "runc: a relative destination is relative to / (runtime-spec 1.1 allows it)",
            relative_destination,
        ),
        Test::new(
            M,
            "nested-order",
            "config.md mounts: mounted in order, later ones on top of earlier",
            nested_order,
        ),
        Test::new(
            M,
            "propagation-shared",
            "config.md mounts.options rshared: propagation flag",
            prop_shared,
        ),
        Test::new(
            M,
            "propagation-private",
            "config.md mounts.options rprivate",
            prop_private,
        ),
        Test::new(
            M,
            "symlink-in-rootfs",
            "runc (securejoin): destination symlinks resolve inside the rootfs",
            symlink_destination,
        ),
        Test::new(
            M,
            "cgroup",
            "config.md mounts: type cgroup at /sys/fs/cgroup",
            cgroup_mount,
        ),
        Test::new(M, "cgroup-ns-view", "config-linux.md cgroup namespace + cgroup mount: the container sees its own cgroup as / with its limits", cgroup_ns_view),
        Test::new(
            M,
            "bad-type-fails",
            "runtime.md create: an unsupported mount MUST generate an error",
            bad_type_fails,
        ),
        Test::new(
            M,
            "bind-missing-source-fails",
            "runtime.md create: a missing bind source MUST generate an error",
            bind_missing_source_fails,
        ),
        Test::new(
            M,
            "not-on-host",
            "config.md mounts: in the container's mount namespace, not the host's",
            no_host_mounts_leak,
        ),
        Test::new(
            R,
            "readonly",
            "config.md root.readonly true: the root filesystem is read-only",
            root_readonly,
        ),
        Test::new(
            R,
            "readonly-keeps-mounts",
            "config.md root.readonly: other mounts keep their own flags",
            root_readonly_mounts_writable,
        ),
        Test::new(
            R,
            "writable",
            "config.md root.readonly false: writes land in the bundle's rootfs",
            root_writable,
        ),
        Test::new(
            R,
            "is-rootfs",
            "config.md root.path: the container's / is the bundle's rootfs (host paths invisible)",
            root_is_rootfs,
        ),
        Test::new(
            R,
            "absolute-path",
            "config.md root.path: an absolute path",
            root_absolute,
        ),
        Test::new(
            R,
            "missing-fails",
            "runtime.md create: a missing root.path MUST generate an error",
            root_missing_fails,
        ),
        Test::new(
            R,
            "propagation-private",
            "config-linux.md rootfsPropagation private",
            rootfs_private,
        ),
        Test::new(
            R,
            "propagation-shared",
            "config-linux.md rootfsPropagation shared (runc < 1.2.7 leaves / private: runc#1755, fixed by runc#4724)",
            rootfs_shared,
        ),
        Test::new(
            R,
            "no-pivot",
            "runc create --no-pivot: MS_MOVE + chroot instead of pivot_root",
            no_pivot,
        ),
    ];
    v.extend(
        PATH_CASES
            .iter()
            .map(|t| Test::new(P, t.name, t.cite, move |c| path_case(c, t))),
    );
    v.extend([
        Test::new(
            D,
            "null",
            "config-linux.md Default Devices: /dev/null char 1:3 0666",
            dev_null,
        ),
        Test::new(
            D,
            "zero",
            "config-linux.md Default Devices: /dev/zero 1:5",
            dev_zero,
        ),
        Test::new(
            D,
            "full",
            "config-linux.md Default Devices: /dev/full 1:7",
            dev_full,
        ),
        Test::new(
            D,
            "random",
            "config-linux.md Default Devices: /dev/random 1:8",
            dev_random,
        ),
        Test::new(
            D,
            "urandom",
            "config-linux.md Default Devices: /dev/urandom 1:9",
            dev_urandom,
        ),
        Test::new(
            D,
            "tty",
            "config-linux.md Default Devices: /dev/tty 5:0",
            dev_tty,
        ),
        Test::new(
            D,
            "null-usable",
            "config-linux.md Default Devices: usable (allowed in the devices cgroup)",
            dev_null_usable,
        ),
        Test::new(
            D,
            "link-fd",
            "config-linux.md Default Devices: /dev/fd -> /proc/self/fd",
            link_fd,
        ),
        Test::new(
            D,
            "link-stdin",
            "config-linux.md: /dev/stdin -> /proc/self/fd/0",
            link_stdin,
        ),
        Test::new(
            D,
            "link-stdout",
            "config-linux.md: /dev/stdout -> /proc/self/fd/1",
            link_stdout,
        ),
        Test::new(
            D,
            "link-stderr",
            "config-linux.md: /dev/stderr -> /proc/self/fd/2",
            link_stderr,
        ),
        Test::new(
            D,
            "link-ptmx",
            "config-linux.md Default Devices: /dev/ptmx -> pts/ptmx",
            link_ptmx,
        ),
        Test::new(
            D,
            "custom-char",
            "config-linux.md devices: path, type c, major, minor, fileMode",
            custom_char,
        ),
        Test::new(
            D,
            "custom-owner",
            "config-linux.md devices: uid and gid of the node",
            custom_owner,
        ),
        Test::new(
            D,
            "custom-block",
            "config-linux.md devices: type b",
            custom_block,
        ),
        Test::new(
            D,
            "custom-fifo",
            "config-linux.md devices: type p",
            custom_fifo,
        ),
        Test::new(
            D,
            "cgroup-denies",
            "config-linux.md resources.devices: denied by the default deny-all rule",
            cgroup_denies,
        ),
        Test::new(
            D,
            "cgroup-allows",
            "config-linux.md resources.devices: an allow rule opens it",
            cgroup_allows,
        ),
        Test::new(
            D,
            "no-host-devices",
            "runc: /dev holds only the default and listed devices",
            no_host_devices,
        ),
    ]);
    v
}
