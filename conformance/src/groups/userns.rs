//! User namespaces beyond the mappings (config-linux.md "User namespace mappings", joined by
//! path, exec, devices and host files inside one, refused mappings), id-mapped mounts and the
//! recursive mount options (config.md "Mounts", runtime-spec 1.2), time namespace offsets
//! (config-linux.md "Offset for Time Namespace"), and the user-namespaced container a
//! Kubernetes pod with `hostUsers: false` asks for.

use crate::bundle;
use crate::harness::{check, eq, fail, skip, Ctx, Test, TestResult, Verdict};
use serde_json::{json, Value};
use std::os::unix::fs::MetadataExt;
use std::path::PathBuf;

const U: &str = "user-namespaces";
const I: &str = "idmap-mounts";
const RO: &str = "recursive-options";
const T: &str = "time-offsets";
const K: &str = "kubernetes-userns";

/// Where the container's ids start on the host.
const BASE: u32 = 100000;
/// The id-mapped mounts' own mappings: on-disk 0.. appear as container 5000...
const IDMAP_AT: u32 = 5000;
const EROFS: i64 = libc::EROFS as i64;

/// The default spec with a new user namespace mapping 0..65536 to 100000.. (ids and groups).
fn userns_spec(c: &mut Ctx, args: &[&str]) -> Value {
    let mut cfg = c.spec(args);
    bundle::push(&mut cfg, "/linux/namespaces", json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": BASE, "size": 65536}]);
    cfg["linux"]["uidMappings"] = map.clone();
    cfg["linux"]["gidMappings"] = map;
    // A fresh sysfs needs the network namespace's owner; that is another test's subject.
    if let Some(m) = cfg["mounts"].as_array_mut() {
        m.retain(|m| m["type"] != "sysfs");
    }
    cfg
}

/// A host directory every id may write to, holding `root-file` owned by host root.
fn volume(c: &mut Ctx, name: &str) -> Result<PathBuf, Verdict> {
    let d = c.dir.join(name);
    std::fs::create_dir_all(&d).map_err(|e| fail("a host directory", e))?;
    set_mode(&d, 0o1777)?;
    std::fs::write(d.join("root-file"), "x").map_err(|e| fail("a host file", e))?;
    Ok(d)
}

fn set_mode(p: &std::path::Path, mode: u32) -> TestResult {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(p, std::fs::Permissions::from_mode(mode))
        .map_err(|e| fail(format!("chmod {}", p.display()), e))
}

/// The host's owner (uid, gid) of `p`.
fn host_owner(p: &std::path::Path) -> Result<(u32, u32), Verdict> {
    let m = std::fs::metadata(p).map_err(|e| {
        fail(
            format!("{} on the host (written by the container)", p.display()),
            e,
        )
    })?;
    Ok((m.uid(), m.gid()))
}

fn stat_ids(f: &Value, p: &str) -> Value {
    let s = &f["stat"][p];
    if s["ok"] != true {
        return s.clone();
    }
    json!([s["uid"], s["gid"]])
}

fn written(f: &Value, p: &str) -> TestResult {
    eq(
        &format!("write of {p}"),
        json!(true),
        f["write"][p]["ok"].clone(),
    )
}

fn idmap_mappings() -> Value {
    json!([{"containerID": 0, "hostID": BASE + IDMAP_AT, "size": 1000}])
}

fn idmapped(source: &std::path::Path, dest: &str, option: &str) -> Value {
    json!({
        "destination": dest, "type": "bind", "source": source,
        "options": ["rbind", option],
        "uidMappings": idmap_mappings(), "gidMappings": idmap_mappings(),
    })
}

// ---- user namespaces ----

fn join_user(c: &mut Ctx) -> TestResult {
    let cfg = userns_spec(c, &[]);
    let a = c.running(cfg)?;
    let mut cfg = c.spec(&["--read", "/proc/self/uid_map"]);
    bundle::push(
        &mut cfg,
        "/linux/namespaces",
        json!({"type": "user", "path": format!("/proc/{}/ns/user", a.pid)}),
    );
    if let Some(m) = cfg["mounts"].as_array_mut() {
        m.retain(|m| m["type"] != "sysfs");
    }
    let f = c.probe(&cfg)?;
    eq(
        "user namespace of the second container",
        a.facts["ns"]["user"].clone(),
        f["ns"]["user"].clone(),
    )?;
    let map: Vec<String> = f["read"]["/proc/self/uid_map"]["content"]
        .as_str()
        .unwrap_or_default()
        .split_whitespace()
        .map(str::to_string)
        .collect();
    eq(
        "uid_map of the joined namespace",
        vec!["0", "100000", "65536"],
        map.iter().map(String::as_str).collect(),
    )?;
    eq("uid inside", json!(0), f["uid"].clone())
}

fn not_a_user_ns_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::push(
        &mut cfg,
        "/linux/namespaces",
        json!({"type": "user", "path": "/proc/self/ns/net"}),
    );
    if let Some(m) = cfg["mounts"].as_array_mut() {
        m.retain(|m| m["type"] != "sysfs");
    }
    // setns(2) refuses a namespace of another type with EINVAL (runc, crun); baleia checks
    // the type first and names it.
    c.create_fails(
        &cfg,
        &[
            &["invalid argument"],
            &["/proc/self/ns/net", "not a user namespace"],
        ],
    )
    .map(|_| ())
}

fn exec_joins_user(c: &mut Ctx) -> TestResult {
    let cfg = userns_spec(c, &[]);
    let a = c.running(cfg)?;
    let (o, f) = c.exec_probe(&a, &[], &[])?;
    check(o.ok(), "exec to succeed", o.summary())?;
    eq(
        "user namespace of the exec'd process",
        a.facts["ns"]["user"].clone(),
        f["ns"]["user"].clone(),
    )?;
    eq("uid of the exec'd process", json!(0), f["uid"].clone())
}

fn host_file_overflow(c: &mut Ctx) -> TestResult {
    let overflow: u32 = std::fs::read_to_string("/proc/sys/kernel/overflowuid")
        .ok()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| skip("no /proc/sys/kernel/overflowuid"))?;
    let v = volume(c, "vol")?;
    let mut cfg = userns_spec(c, &["--stat", "/mnt/root-file"]);
    bundle::push(
        &mut cfg,
        "/mounts",
        json!({"destination": "/mnt", "type": "bind", "source": v, "options": ["rbind"]}),
    );
    let f = c.probe(&cfg)?;
    let seen = &f["stat"]["/mnt/root-file"];
    eq(
        "owner of a host-root file inside (unmapped: the overflow uid)",
        json!(overflow),
        seen["uid"].clone(),
    )
}

fn dev_null_usable(c: &mut Ctx) -> TestResult {
    let cfg = userns_spec(c, &["--stat", "/dev/null", "--write", "/dev/null"]);
    let f = c.probe(&cfg)?;
    let s = &f["stat"]["/dev/null"];
    eq(
        "/dev/null inside a user namespace",
        json!(["char", 1, 3]),
        json!([s["kind"], s["major"], s["minor"]]),
    )?;
    written(&f, "/dev/null")
}

fn unmapped_uid_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = userns_spec(c, &[]);
    cfg["process"]["user"] = json!({"uid": 70000, "gid": 0});
    // crun fails at setuid(2) with EINVAL, runc checks "unmapped user" first, baleia "not mapped".
    c.create_fails(
        &cfg,
        &[
            &["invalid argument"],
            &["unmapped user"],
            &["70000", "not mapped"],
        ],
    )
    .map(|_| ())
}

fn overlap_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = userns_spec(c, &[]);
    cfg["linux"]["uidMappings"] = json!([
        {"containerID": 0, "hostID": BASE, "size": 100},
        {"containerID": 50, "hostID": BASE + 200000, "size": 10}
    ]);
    // The kernel refuses the uid_map write with EINVAL (runc, crun); baleia names the ranges.
    c.create_fails(&cfg, &[&["invalid argument"], &["uidMappings", "overlap"]])
        .map(|_| ())
}

fn out_of_range_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = userns_spec(c, &[]);
    cfg["linux"]["uidMappings"] =
        json!([{"containerID": 0, "hostID": 4294967000u64, "size": 65536}]);
    c.create_fails(
        &cfg,
        &[
            &["invalid argument"],
            &["uidMappings", "beyond the id range"],
        ],
    )
    .map(|_| ())
}

// ---- id-mapped mounts ----

fn idmap_host_root_file(c: &mut Ctx) -> TestResult {
    let v = volume(c, "vol")?;
    let mut cfg = userns_spec(c, &["--stat", "/mnt/root-file"]);
    bundle::push(&mut cfg, "/mounts", idmapped(&v, "/mnt", "idmap"));
    let f = c.probe(&cfg)?;
    eq(
        "owner inside of a file host root owns, through mappings 0 -> 5000",
        json!([IDMAP_AT, IDMAP_AT]),
        stat_ids(&f, "/mnt/root-file"),
    )
}

fn idmap_created_file(c: &mut Ctx) -> TestResult {
    let v = volume(c, "vol")?;
    let mut cfg = userns_spec(c, &["--write", "/mnt/new"]);
    cfg["process"]["user"] = json!({"uid": IDMAP_AT + 7, "gid": IDMAP_AT + 7});
    bundle::push(&mut cfg, "/mounts", idmapped(&v, "/mnt", "idmap"));
    let f = c.probe(&cfg)?;
    written(&f, "/mnt/new")?;
    eq(
        "host owner of a file container uid 5007 made through the idmapped mount",
        (7, 7),
        host_owner(&v.join("new"))?,
    )
}

fn idmap_without_userns(c: &mut Ctx) -> TestResult {
    let v = volume(c, "vol")?;
    let mut cfg = c.spec(&["--stat", "/mnt/root-file"]);
    bundle::push(
        &mut cfg,
        "/mounts",
        json!({
            "destination": "/mnt", "type": "bind", "source": v, "options": ["rbind", "idmap"],
            "uidMappings": [{"containerID": 0, "hostID": 4000, "size": 10}],
            "gidMappings": [{"containerID": 0, "hostID": 4000, "size": 10}],
        }),
    );
    let f = c.probe(&cfg)?;
    eq(
        "owner of a host-root file through mappings 0 -> 4000, no user namespace",
        json!([4000, 4000]),
        stat_ids(&f, "/mnt/root-file"),
    )
}

fn ridmap_submount(c: &mut Ctx) -> TestResult {
    let v = volume(c, "vol")?;
    let sub = v.join("sub");
    c.host_mount("tmpfs", &sub, "mode=1777")?;
    std::fs::write(sub.join("root-file"), "x").map_err(|e| fail("a file in the submount", e))?;
    let mut cfg = userns_spec(
        c,
        &["--stat", "/mnt/root-file", "--stat", "/mnt/sub/root-file"],
    );
    bundle::push(&mut cfg, "/mounts", idmapped(&v, "/mnt", "ridmap"));
    let f = c.probe(&cfg)?;
    eq(
        "owner of a host-root file at the top",
        json!([IDMAP_AT, IDMAP_AT]),
        stat_ids(&f, "/mnt/root-file"),
    )?;
    eq(
        "owner of a host-root file in the submount (ridmap is recursive)",
        json!([IDMAP_AT, IDMAP_AT]),
        stat_ids(&f, "/mnt/sub/root-file"),
    )
}

fn idmap_refused_fs_fails(c: &mut Ctx) -> TestResult {
    // ramfs does not support id-mapped mounts (no FS_ALLOW_IDMAP).
    let v = c.dir.join("ramfs");
    c.host_mount("ramfs", &v, "mode=1777")?;
    let mut cfg = userns_spec(c, &[]);
    bundle::push(&mut cfg, "/mounts", idmapped(&v, "/mnt", "idmap"));
    // mount_setattr(2) refuses with EINVAL; baleia names the mount and the filesystem.
    c.create_fails(
        &cfg,
        &[
            &["/mnt", "ramfs", "invalid argument"],
            &["mount_setattr", "invalid argument"],
        ],
    )
    .map(|_| ())
}

// ---- recursive mount options ----

/// A bind of a host directory that has a tmpfs submount at `sub`, with `options`.
fn with_submount(c: &mut Ctx, options: &[&str], args: &[&str]) -> Result<Value, Verdict> {
    let v = volume(c, "vol")?;
    c.host_mount("tmpfs", &v.join("sub"), "mode=1777")?;
    let mut cfg = c.spec(args);
    let mut o = vec!["rbind"];
    o.extend_from_slice(options);
    bundle::push(
        &mut cfg,
        "/mounts",
        json!({"destination": "/mnt", "type": "bind", "source": v, "options": o}),
    );
    c.probe(&cfg)
}

fn mount_options_at(f: &Value, point: &str) -> Result<Vec<String>, Verdict> {
    let m = f["mounts"]
        .as_array()
        .and_then(|a| a.iter().rev().find(|m| m["mountpoint"] == point))
        .ok_or_else(|| fail(format!("a mount at {point}"), "none"))?;
    Ok(m["options"]
        .as_str()
        .unwrap_or_default()
        .split(',')
        .map(str::to_string)
        .collect())
}

fn rro_write(c: &mut Ctx) -> TestResult {
    let f = with_submount(
        c,
        &["rro"],
        &["--write", "/mnt/new", "--write", "/mnt/sub/new"],
    )?;
    eq(
        "errno writing at the top of an rro bind",
        json!(EROFS),
        f["write"]["/mnt/new"]["errno"].clone(),
    )?;
    eq(
        "errno writing in a submount of an rro bind",
        json!(EROFS),
        f["write"]["/mnt/sub/new"]["errno"].clone(),
    )
}

fn rec_flag(c: &mut Ctx, option: &str, flag: &str) -> TestResult {
    let f = with_submount(c, &[option], &[])?;
    for point in ["/mnt", "/mnt/sub"] {
        let o = mount_options_at(&f, point)?;
        check(
            o.iter().any(|x| x == flag),
            format!("{flag} on {point} ({option})"),
            o.join(","),
        )?;
    }
    Ok(())
}

const REC_CASES: &[(&str, &str, &str)] = &[
    ("rro", "rro", "ro"),
    ("rnosuid", "rnosuid", "nosuid"),
    ("rnodev", "rnodev", "nodev"),
    ("rnoexec", "rnoexec", "noexec"),
    ("rnoatime", "rnoatime", "noatime"),
    ("rnodiratime", "rnodiratime", "nodiratime"),
];

// ---- time namespace offsets ----

fn secs(path: &str) -> Result<i64, Verdict> {
    let t = std::fs::read_to_string(path).map_err(|e| fail(format!("{path} on the host"), e))?;
    t.split('.')
        .next()
        .and_then(|s| s.trim().parse().ok())
        .ok_or_else(|| fail(format!("seconds in {path}"), t))
}

fn host_clock(id: libc::clockid_t) -> i64 {
    let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
    // SAFETY: clock_gettime fills the struct we own.
    unsafe { libc::clock_gettime(id, &mut ts) };
    ts.tv_sec
}

const OFFSET: i64 = 86400 * 10;

fn timens_spec(c: &mut Ctx, clock: &str, args: &[&str]) -> Value {
    let mut cfg = c.spec(args);
    bundle::push(&mut cfg, "/linux/namespaces", json!({"type": "time"}));
    cfg["linux"]["timeOffsets"] = json!({clock: {"secs": OFFSET, "nanosecs": 0}});
    cfg
}

/// `seen` (inside) within [before, after] shifted by the offset, one second of slack for
/// the whole seconds both sides round down to.
fn shifted(what: &str, before: i64, after: i64, seen: &Value) -> TestResult {
    let s = seen.as_i64().unwrap_or(-1);
    check(
        s >= before + OFFSET && s <= after + OFFSET + 1,
        format!(
            "{what} between {} and {} (host + {OFFSET} s)",
            before + OFFSET,
            after + OFFSET + 1
        ),
        seen,
    )
}

fn uptime_boottime(c: &mut Ctx) -> TestResult {
    let cfg = timens_spec(c, "boottime", &["--read", "/proc/uptime"]);
    let before = secs("/proc/uptime")?;
    let f = c.probe(&cfg)?;
    let after = secs("/proc/uptime")?;
    let inside = f["read"]["/proc/uptime"]["content"]
        .as_str()
        .and_then(|t| t.split('.').next())
        .and_then(|s| s.parse::<i64>().ok());
    shifted("/proc/uptime inside", before, after, &json!(inside))
}

fn clock_boottime(c: &mut Ctx) -> TestResult {
    let cfg = timens_spec(c, "boottime", &[]);
    let before = host_clock(libc::CLOCK_BOOTTIME);
    let f = c.probe(&cfg)?;
    let after = host_clock(libc::CLOCK_BOOTTIME);
    shifted(
        "CLOCK_BOOTTIME inside",
        before,
        after,
        &f["clocks"]["boottime"],
    )?;
    // The other clock is not moved.
    let m = f["clocks"]["monotonic"].as_i64().unwrap_or(-1);
    check(
        m <= host_clock(libc::CLOCK_MONOTONIC),
        "CLOCK_MONOTONIC inside not offset",
        m,
    )
}

fn clock_monotonic(c: &mut Ctx) -> TestResult {
    let cfg = timens_spec(c, "monotonic", &[]);
    let before = host_clock(libc::CLOCK_MONOTONIC);
    let f = c.probe(&cfg)?;
    let after = host_clock(libc::CLOCK_MONOTONIC);
    shifted(
        "CLOCK_MONOTONIC inside",
        before,
        after,
        &f["clocks"]["monotonic"],
    )
}

fn join_time(c: &mut Ctx) -> TestResult {
    let cfg = timens_spec(c, "boottime", &[]);
    let a = c.running(cfg)?;
    let mut cfg = c.spec(&[]);
    bundle::push(
        &mut cfg,
        "/linux/namespaces",
        json!({"type": "time", "path": format!("/proc/{}/ns/time", a.pid)}),
    );
    let before = host_clock(libc::CLOCK_BOOTTIME);
    let f = c.probe(&cfg)?;
    let after = host_clock(libc::CLOCK_BOOTTIME);
    eq(
        "time namespace of the second container",
        a.facts["ns"]["time"].clone(),
        f["ns"]["time"].clone(),
    )?;
    shifted(
        "CLOCK_BOOTTIME in the joined namespace",
        before,
        after,
        &f["clocks"]["boottime"],
    )
}

fn offsets_without_timens_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["linux"]["timeOffsets"] = json!({"boottime": {"secs": OFFSET, "nanosecs": 0}});
    // runc >= 1.2: "timeOffsets ... without a time namespace"; baleia the same in its words.
    c.create_fails(&cfg, &[&["time namespace"]]).map(|_| ())
}

// ---- a Kubernetes pod with hostUsers: false ----

/// containerd's CRI plugin for a user-namespaced pod: the pod's mapping on the user
/// namespace, and each volume an id-mapped bind with the same mapping.
fn k8s_volume(c: &mut Ctx, idmap: bool) -> Result<(PathBuf, Value), Verdict> {
    let v = volume(c, "volume")?;
    let mut cfg = userns_spec(c, &["--write", "/mnt/written", "--stat", "/mnt/root-file"]);
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let mut m =
        json!({"destination": "/mnt", "type": "bind", "source": v, "options": ["rbind", "rw"]});
    if idmap {
        let map = json!([{"containerID": 0, "hostID": BASE, "size": 65536}]);
        bundle::push(&mut m, "/options", json!("idmap"));
        m["uidMappings"] = map.clone();
        m["gidMappings"] = map;
    }
    bundle::push(&mut cfg, "/mounts", m);
    let f = c.probe(&cfg)?;
    eq("uid inside", json!(1000), f["uid"].clone())?;
    written(&f, "/mnt/written")?;
    Ok((v, f))
}

fn k8s_plain_volume(c: &mut Ctx) -> TestResult {
    let (v, _) = k8s_volume(c, false)?;
    eq(
        "host owner of a file uid 1000 wrote (a plain bind: the host ids)",
        (BASE + 1000, BASE + 1000),
        host_owner(&v.join("written"))?,
    )
}

fn k8s_idmapped_volume(c: &mut Ctx) -> TestResult {
    let (v, f) = k8s_volume(c, true)?;
    eq(
        "owner inside of the volume's host-root file",
        json!([0, 0]),
        stat_ids(&f, "/mnt/root-file"),
    )?;
    eq(
        "host owner of a file uid 1000 wrote through the idmapped volume",
        (1000, 1000),
        host_owner(&v.join("written"))?,
    )
}

/// The user namespace, id-mapped mount, recursive option, time offset and Kubernetes tests.
pub fn tests() -> Vec<Test> {
    let mut v = vec![
        Test::new(U, "join-path", "config-linux.md namespaces.path: join a user namespace; its mappings are not rewritten", join_user),
        Test::new(U, "not-a-user-ns-fails", "config-linux.md namespaces.path: a namespace of another type MUST generate an error", not_a_user_ns_fails),
        Test::new(U, "exec-joins", "runtime.md exec (runc): an exec'd process enters the container's user namespace", exec_joins_user),
        Test::new(U, "host-file-unmapped", "user_namespaces(7): a host file of an unmapped owner shows as the overflow uid", host_file_overflow),
        Test::new(U, "dev-null-usable", "config-linux.md default devices: /dev/null usable in a user namespace (bound, mknod is refused)", dev_null_usable),
        Test::new(U, "unmapped-uid-fails", "config.md process.user.uid in the container namespace: an id the mapping lacks is an error", unmapped_uid_fails),
        Test::new(U, "overlap-fails", "user_namespaces(7) uid_map: overlapping ranges are an error", overlap_fails),
        Test::new(U, "out-of-range-fails", "user_namespaces(7) uid_map: a range past 2^32 is an error", out_of_range_fails),
        Test::new(I, "host-root-file-mapped", "config.md mounts uidMappings/gidMappings with idmap (runtime-spec 1.2; runc >= 1.2): a host-root file shows as the mapped id", idmap_host_root_file),
        Test::new(I, "created-file-host-ids", "config.md mounts idmap: a file made through the mount is owned on disk by the id the mapping gives", idmap_created_file),
        Test::new(I, "without-userns", "config.md mounts idmap: the mount's own mappings need no container user namespace", idmap_without_userns),
        Test::new(I, "ridmap-submount", "config.md mounts ridmap: submounts are id-mapped too", ridmap_submount),
        Test::new(I, "refused-fs-fails", "config.md mounts idmap: a filesystem that cannot be id-mapped is an error", idmap_refused_fs_fails),
        Test::new(RO, "rro-write", "config.md mounts options rro (runtime-spec 1.1; runc >= 1.1 on kernel >= 5.12): no write in a submount either", rro_write),
        Test::new(T, "uptime-boottime", "config-linux.md timeOffsets boottime (runtime-spec 1.1; runc >= 1.2): /proc/uptime inside is offset", uptime_boottime),
        Test::new(T, "clock-boottime", "config-linux.md timeOffsets boottime: CLOCK_BOOTTIME offset, CLOCK_MONOTONIC not", clock_boottime),
        Test::new(T, "clock-monotonic", "config-linux.md timeOffsets monotonic: CLOCK_MONOTONIC offset", clock_monotonic),
        Test::new(T, "join-path", "config-linux.md namespaces.path: a joined time namespace keeps its offsets", join_time),
        Test::new(T, "without-timens-fails", "config-linux.md timeOffsets apply to a new time namespace: offsets without one are an error (runc >= 1.2)", offsets_without_timens_fails),
        Test::new(K, "plain-volume", "Kubernetes userns pod (0 -> 100000/65536): uid 1000 writes a plain bind volume, the host sees 101000", k8s_plain_volume),
        Test::new(K, "idmapped-volume", "Kubernetes userns pod: an idmapped volume (the pod's mapping) stores uid 1000 as 1000, host root as root", k8s_idmapped_volume),
    ];
    for (name, option, flag) in REC_CASES {
        v.push(Test::new(
            RO,
            name,
            "config.md mounts recursive options (runtime-spec 1.1): the flag on the bind and its submount",
            move |c: &mut Ctx| rec_flag(c, option, flag),
        ));
    }
    v
}
