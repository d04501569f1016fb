//! The probe: a static binary run as a container's process that reports facts
//! about its own environment as one JSON line on stdout.
//!
//! Assertions live in the harness; the probe only observes. Its protocol:
//! the first stdout line is the facts object; with `--wait-signal` a second
//! line `{"signal":N}` follows when a signal arrives; with `--pause` the probe
//! closes stdout after the facts and blocks until killed, so the harness sees
//! end-of-file as "ready".
//!
//! ```
//! let opts = conformance::probe::Options::parse(["--read", "/etc/hostname", "--exit", "3"]).unwrap();
//! assert_eq!(opts.exit_code, 3);
//! assert_eq!(opts.read, vec!["/etc/hostname".to_string()]);
//! ```

use serde_json::{json, Map, Value};
use std::ffi::CString;
use std::io::Write;
use std::os::unix::ffi::OsStrExt;
use std::sync::atomic::{AtomicI32, Ordering};

/// What the probe was asked to observe and do, parsed from its arguments.
///
/// ```
/// let o = conformance::probe::Options::parse(["--pause"]).unwrap();
/// assert!(o.pause);
/// ```
#[derive(Debug, Default, Clone, PartialEq)]
pub struct Options {
    /// Paths whose contents (first 64 KiB) to report.
    pub read: Vec<String>,
    /// Paths to open for writing (created when missing).
    pub write: Vec<String>,
    /// Paths to test with `access(X_OK)`.
    pub exec: Vec<String>,
    /// Paths to `lstat`.
    pub stat: Vec<String>,
    /// Directories to list.
    pub ls: Vec<String>,
    /// sysctl keys (dotted) to read from /proc/sys.
    pub sysctl: Vec<String>,
    /// Cgroup files of the probe's own cgroup, as `controller/file`
    /// (`/file` on cgroup v2), read under /sys/fs/cgroup inside the container.
    pub cgroup_file: Vec<String>,
    /// Write the facts here (temp file + rename) instead of stdout.
    pub out: Option<String>,
    /// Exit status after reporting.
    pub exit_code: i32,
    /// Close stdout after the facts and block until killed.
    pub pause: bool,
    /// Report the first catchable signal received, then exit 0.
    pub wait_signal: bool,
}

impl Options {
    /// Parses the probe's arguments (without the program name).
    ///
    /// ```
    /// assert!(conformance::probe::Options::parse(["--bogus"]).is_err());
    /// ```
    pub fn parse<I, S>(args: I) -> Result<Options, String>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        let mut o = Options::default();
        let mut it = args.into_iter();
        while let Some(a) = it.next() {
            let a = a.as_ref().to_string();
            let mut value = |name: &str| -> Result<String, String> {
                it.next()
                    .map(|v| v.as_ref().to_string())
                    .ok_or_else(|| format!("{name} needs a value"))
            };
            match a.as_str() {
                "--read" => o.read.push(value("--read")?),
                "--write" => o.write.push(value("--write")?),
                "--exec" => o.exec.push(value("--exec")?),
                "--stat" => o.stat.push(value("--stat")?),
                "--ls" => o.ls.push(value("--ls")?),
                "--sysctl" => o.sysctl.push(value("--sysctl")?),
                "--cgroup-file" => o.cgroup_file.push(value("--cgroup-file")?),
                "--out" => o.out = Some(value("--out")?),
                "--exit" => {
                    let v = value("--exit")?;
                    o.exit_code = v.parse().map_err(|_| format!("--exit: bad number {v:?}"))?;
                }
                "--pause" => o.pause = true,
                "--wait-signal" => o.wait_signal = true,
                other => return Err(format!("unknown argument {other:?}")),
            }
        }
        Ok(o)
    }
}

fn errno() -> i32 {
    std::io::Error::last_os_error().raw_os_error().unwrap_or(0)
}

fn err_value(e: &std::io::Error) -> Value {
    json!({"ok": false, "errno": e.raw_os_error().unwrap_or(0), "error": e.to_string()})
}

fn cstr(p: &str) -> Option<CString> {
    CString::new(p.as_bytes()).ok()
}

/// Seconds on the clocks a time namespace offsets, as this process sees them.
fn clocks() -> Value {
    let read = |id: libc::clockid_t| {
        let mut ts: libc::timespec = unsafe { std::mem::zeroed() };
        // SAFETY: clock_gettime fills the struct we own.
        if unsafe { libc::clock_gettime(id, &mut ts) } != 0 {
            return Value::Null;
        }
        json!(ts.tv_sec)
    };
    json!({"monotonic": read(libc::CLOCK_MONOTONIC), "boottime": read(libc::CLOCK_BOOTTIME)})
}

/// Parses `Key:\tvalue` lines of /proc/self/status into a map.
///
/// ```
/// let m = conformance::probe::parse_status("CapEff:\t00000000a80425fb\nSeccomp:\t2\n");
/// assert_eq!(m["Seccomp"], "2");
/// ```
pub fn parse_status(text: &str) -> std::collections::BTreeMap<String, String> {
    text.lines()
        .filter_map(|l| l.split_once(':'))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// Parses /proc/self/mountinfo into JSON objects (one per mount).
///
/// ```
/// let m = conformance::probe::parse_mountinfo(
///     "22 1 0:21 / /proc rw,nosuid shared:5 - proc proc rw\n");
/// assert_eq!(m[0]["mountpoint"], "/proc");
/// assert_eq!(m[0]["fstype"], "proc");
/// assert_eq!(m[0]["optional"], "shared:5");
/// ```
pub fn parse_mountinfo(text: &str) -> Vec<Value> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((left, right)) = line.split_once(" - ") else {
            continue;
        };
        let l: Vec<&str> = left.split(' ').collect();
        let r: Vec<&str> = right.split(' ').collect();
        if l.len() < 6 || r.len() < 3 {
            continue;
        }
        out.push(json!({
            "id": l[0].parse::<u64>().unwrap_or(0),
            "parent": l[1].parse::<u64>().unwrap_or(0),
            "root": unescape_octal(l[3]),
            "mountpoint": unescape_octal(l[4]),
            "options": l[5],
            "optional": l[6..].join(" "),
            "fstype": r[0],
            "source": unescape_octal(r[1]),
            "super_options": r[2],
        }));
    }
    out
}

/// Undoes the kernel's `\NNN` octal escaping of spaces and such in mountinfo.
fn unescape_octal(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\'
            && i + 3 < b.len()
            && b[i + 1..i + 4].iter().all(|c| (b'0'..=b'7').contains(c))
        {
            let v = (b[i + 1] - b'0') * 64 + (b[i + 2] - b'0') * 8 + (b[i + 3] - b'0');
            out.push(v);
            i += 4;
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Where `controller/file` of our own cgroup lives, from /proc/self/cgroup
/// text: `/sys/fs/cgroup/<hierarchy>/<path>/<file>` on v1 and
/// `/sys/fs/cgroup/<path>/<file>` for `/file` (v2).
///
/// ```
/// let t = "4:memory:/a\n1:cpu,cpuacct:/b\n0::/c\n";
/// let p = |s| conformance::probe::cgroup_file_path(t, s);
/// assert_eq!(p("memory/memory.max").as_deref(), Some("/sys/fs/cgroup/memory/a/memory.max"));
/// assert_eq!(p("cpu/cpu.shares").as_deref(), Some("/sys/fs/cgroup/cpu,cpuacct/b/cpu.shares"));
/// assert_eq!(p("/pids.max").as_deref(), Some("/sys/fs/cgroup/c/pids.max"));
/// assert_eq!(p("blkio/x"), None);
/// ```
pub fn cgroup_file_path(cgroup_text: &str, spec: &str) -> Option<String> {
    let (ctrl, file) = spec.split_once('/')?;
    for line in cgroup_text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next()?, parts.next()?, parts.next()?);
        let hit = if ctrl.is_empty() {
            ctrls.is_empty()
        } else {
            ctrls.split(',').any(|c| c == ctrl)
        };
        if hit {
            let base = if ctrl.is_empty() {
                "/sys/fs/cgroup".to_string()
            } else {
                format!("/sys/fs/cgroup/{ctrls}")
            };
            let rel = path.trim_start_matches('/');
            return Some(if rel.is_empty() {
                format!("{base}/{file}")
            } else {
                format!("{base}/{rel}/{file}")
            });
        }
    }
    None
}

fn read_small(path: &str) -> Result<String, std::io::Error> {
    use std::io::Read;
    let f = std::fs::File::open(path)?;
    let mut buf = Vec::new();
    f.take(64 * 1024).read_to_end(&mut buf)?;
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

fn rlimits() -> Value {
    let names: [(&str, libc::__rlimit_resource_t); 16] = [
        ("RLIMIT_CPU", libc::RLIMIT_CPU),
        ("RLIMIT_FSIZE", libc::RLIMIT_FSIZE),
        ("RLIMIT_DATA", libc::RLIMIT_DATA),
        ("RLIMIT_STACK", libc::RLIMIT_STACK),
        ("RLIMIT_CORE", libc::RLIMIT_CORE),
        ("RLIMIT_RSS", libc::RLIMIT_RSS),
        ("RLIMIT_NPROC", libc::RLIMIT_NPROC),
        ("RLIMIT_NOFILE", libc::RLIMIT_NOFILE),
        ("RLIMIT_MEMLOCK", libc::RLIMIT_MEMLOCK),
        ("RLIMIT_AS", libc::RLIMIT_AS),
        ("RLIMIT_LOCKS", libc::RLIMIT_LOCKS),
        ("RLIMIT_SIGPENDING", libc::RLIMIT_SIGPENDING),
        ("RLIMIT_MSGQUEUE", libc::RLIMIT_MSGQUEUE),
        ("RLIMIT_NICE", libc::RLIMIT_NICE),
        ("RLIMIT_RTPRIO", libc::RLIMIT_RTPRIO),
        ("RLIMIT_RTTIME", libc::RLIMIT_RTTIME),
    ];
    let mut m = Map::new();
    for (name, res) in names {
        let mut r = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: getrlimit writes into the struct we own.
        if unsafe { libc::getrlimit(res, &mut r) } == 0 {
            m.insert(name.into(), json!([r.rlim_cur, r.rlim_max]));
        }
    }
    Value::Object(m)
}

fn uname() -> (String, String) {
    // SAFETY: utsname is plain bytes; uname fills it.
    let mut u: libc::utsname = unsafe { std::mem::zeroed() };
    if unsafe { libc::uname(&mut u) } != 0 {
        return (String::new(), String::new());
    }
    let s = |f: &[libc::c_char]| -> String {
        let bytes: Vec<u8> = f
            .iter()
            .take_while(|c| **c != 0)
            .map(|c| *c as u8)
            .collect();
        String::from_utf8_lossy(&bytes).into_owned()
    };
    (s(&u.nodename), s(&u.domainname))
}

fn groups() -> Vec<u32> {
    // SAFETY: a zero-sized query returns the count; the second call fills our buffer.
    let n = unsafe { libc::getgroups(0, std::ptr::null_mut()) };
    if n <= 0 {
        return Vec::new();
    }
    let mut v = vec![0 as libc::gid_t; n as usize];
    let n = unsafe { libc::getgroups(n, v.as_mut_ptr()) };
    v.truncate(n.max(0) as usize);
    v
}

fn namespaces() -> Value {
    let mut m = Map::new();
    for ns in [
        "cgroup",
        "ipc",
        "mnt",
        "net",
        "pid",
        "pid_for_children",
        "time",
        "time_for_children",
        "user",
        "uts",
    ] {
        if let Ok(t) = std::fs::read_link(format!("/proc/self/ns/{ns}")) {
            m.insert(ns.into(), json!(t.to_string_lossy()));
        }
    }
    Value::Object(m)
}

fn fds() -> Value {
    let mut m = Map::new();
    // Collect names first: the directory handle is itself an fd we must not report.
    let names: Vec<String> = match std::fs::read_dir("/proc/self/fd") {
        Ok(d) => d
            .filter_map(|e| e.ok())
            .map(|e| e.file_name().to_string_lossy().into_owned())
            .collect(),
        Err(_) => return Value::Object(m),
    };
    for n in names {
        if let Ok(t) = std::fs::read_link(format!("/proc/self/fd/{n}")) {
            m.insert(n, json!(t.to_string_lossy()));
        }
    }
    Value::Object(m)
}

fn tty() -> Value {
    // SAFETY: isatty/getsid/getpgrp only read process state.
    let isatty0 = unsafe { libc::isatty(0) } == 1;
    let sid = unsafe { libc::getsid(0) };
    let pgrp = unsafe { libc::getpgrp() };
    let name0 = std::fs::read_link("/proc/self/fd/0")
        .map(|p| p.to_string_lossy().into_owned())
        .unwrap_or_default();
    // Field 7 of /proc/self/stat is tty_nr: non-zero iff we have a controlling terminal.
    let tty_nr = std::fs::read_to_string("/proc/self/stat")
        .ok()
        .and_then(|s| {
            let after = s.rsplit_once(')')?.1.to_string();
            after.split_whitespace().nth(4)?.parse::<i64>().ok()
        })
        .unwrap_or(-1);
    json!({"isatty0": isatty0, "stdin": name0, "sid": sid, "pgrp": pgrp, "tty_nr": tty_nr})
}

fn stat_path(p: &str) -> Value {
    let Some(c) = cstr(p) else {
        return json!({"ok": false, "errno": libc::EINVAL});
    };
    // SAFETY: lstat fills the struct we own.
    let mut st: libc::stat = unsafe { std::mem::zeroed() };
    if unsafe { libc::lstat(c.as_ptr(), &mut st) } != 0 {
        return json!({"ok": false, "errno": errno()});
    }
    let kind = match st.st_mode & libc::S_IFMT {
        libc::S_IFREG => "file",
        libc::S_IFDIR => "dir",
        libc::S_IFLNK => "symlink",
        libc::S_IFCHR => "char",
        libc::S_IFBLK => "block",
        libc::S_IFIFO => "fifo",
        libc::S_IFSOCK => "socket",
        _ => "other",
    };
    let target = std::fs::read_link(p)
        .map(|t| t.to_string_lossy().into_owned())
        .unwrap_or_default();
    json!({
        "ok": true, "kind": kind, "mode": st.st_mode & 0o7777, "uid": st.st_uid, "gid": st.st_gid,
        "major": libc::major(st.st_rdev), "minor": libc::minor(st.st_rdev), "size": st.st_size,
        "target": target,
    })
}

fn write_path(p: &str) -> Value {
    match std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(false)
        .open(p)
    {
        Ok(_) => json!({"ok": true}),
        Err(e) => err_value(&e),
    }
}

fn exec_path(p: &str) -> Value {
    let Some(c) = cstr(p) else {
        return json!({"ok": false, "errno": libc::EINVAL});
    };
    // SAFETY: access only reads the path.
    if unsafe { libc::access(c.as_ptr(), libc::X_OK) } == 0 {
        json!({"ok": true})
    } else {
        json!({"ok": false, "errno": errno()})
    }
}

/// The scheduling attributes of this process (sched_getattr), or the errno.
fn sched() -> Value {
    #[repr(C)]
    #[derive(Default)]
    struct Attr {
        size: u32,
        policy: u32,
        flags: u64,
        nice: i32,
        priority: u32,
        runtime: u64,
        deadline: u64,
        period: u64,
        util_min: u32,
        util_max: u32,
    }
    let mut a = Attr::default();
    // SAFETY: sched_getattr fills at most `size` bytes of the struct we own.
    let r = unsafe {
        libc::syscall(
            libc::SYS_sched_getattr,
            0,
            &mut a as *mut Attr,
            std::mem::size_of::<Attr>() as u32,
            0,
        )
    };
    if r != 0 {
        return json!({"ok": false, "errno": errno()});
    }
    json!({"ok": true, "policy": a.policy, "flags": a.flags, "nice": a.nice,
           "priority": a.priority, "runtime": a.runtime, "deadline": a.deadline,
           "period": a.period})
}

/// The I/O priority of this process (ioprio_get): class and level.
fn ioprio() -> Value {
    // SAFETY: ioprio_get(IOPRIO_WHO_PROCESS, self) only reads.
    let v = unsafe { libc::syscall(libc::SYS_ioprio_get, 1, 0) };
    if v < 0 {
        return json!({"ok": false, "errno": errno()});
    }
    json!({"ok": true, "class": v >> 13, "level": v & 0x1fff})
}

/// The NUMA memory policy of this process (get_mempolicy): mode (with its flags) and the node
/// mask's first word.
fn mempolicy() -> Value {
    let mut mode: libc::c_int = -1;
    let mut mask = [0u64; 16];
    // SAFETY: get_mempolicy writes the mode and at most 1024 bits of the mask we own.
    let r = unsafe {
        libc::syscall(
            libc::SYS_get_mempolicy,
            &mut mode as *mut libc::c_int,
            mask.as_mut_ptr(),
            1025usize,
            std::ptr::null::<u8>(),
            0,
        )
    };
    if r != 0 {
        return json!({"ok": false, "errno": errno()});
    }
    json!({"ok": true, "mode": mode & 0xff, "flags": mode & !0xff, "nodes": mask[0]})
}

/// This process's execution domain and flags (personality(0xffffffff) only queries).
fn personality() -> i64 {
    // SAFETY: the query value changes nothing.
    unsafe { libc::personality(0xffff_ffff) as i64 }
}

/// The network interfaces this process sees (/proc/net/dev), each with its IPv4 address.
fn interfaces() -> Value {
    let text = std::fs::read_to_string("/proc/net/dev").unwrap_or_default();
    let mut out = Vec::new();
    for line in text.lines().skip(2) {
        let Some((name, _)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim().to_string();
        out.push(json!({"name": name, "ipv4": ipv4_of(&name)}));
    }
    Value::Array(out)
}

/// The IPv4 address of an interface, if it has one.
fn ipv4_of(name: &str) -> Option<String> {
    // SAFETY: a datagram socket for the ioctl, closed below; ifreq is plain bytes.
    unsafe {
        let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
        if s < 0 {
            return None;
        }
        let mut req: libc::ifreq = std::mem::zeroed();
        for (d, b) in req.ifr_name.iter_mut().zip(name.bytes().take(15)) {
            *d = b as libc::c_char;
        }
        let r = libc::ioctl(s, libc::SIOCGIFADDR, &mut req);
        libc::close(s);
        if r != 0 {
            return None;
        }
        let sin = &*(&req.ifr_ifru.ifru_addr as *const libc::sockaddr as *const libc::sockaddr_in);
        Some(std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr)).to_string())
    }
}

/// Collects every fact the probe reports, plus the answers to `opts`.
///
/// ```
/// let f = conformance::probe::collect(&conformance::probe::Options::default());
/// assert_eq!(f["pid"], std::process::id());
/// ```
pub fn collect(opts: &Options) -> Value {
    // Writes come first so that the reads and listings below observe them.
    let written: Map<String, Value> = opts
        .write
        .iter()
        .map(|p| (p.clone(), write_path(p)))
        .collect();
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    let st = parse_status(&status);
    let get = |k: &str| st.get(k).cloned().unwrap_or_default();
    let hex = |k: &str| u64::from_str_radix(&get(k), 16).unwrap_or(0);
    let (hostname, domainname) = uname();
    // SAFETY: these getters have no failure modes that touch memory.
    let (uid, gid, euid, egid, ppid) = unsafe {
        (
            libc::getuid(),
            libc::getgid(),
            libc::geteuid(),
            libc::getegid(),
            libc::getppid(),
        )
    };
    let nnp = unsafe { libc::prctl(libc::PR_GET_NO_NEW_PRIVS, 0, 0, 0, 0) };
    let mut f = json!({
        "pid": std::process::id(),
        "ppid": ppid,
        "uid": uid, "gid": gid, "euid": euid, "egid": egid,
        "groups": groups(),
        "caps": {
            "inheritable": hex("CapInh"), "permitted": hex("CapPrm"), "effective": hex("CapEff"),
            "bounding": hex("CapBnd"), "ambient": hex("CapAmb"),
        },
        "no_new_privs": nnp == 1,
        "seccomp": get("Seccomp").parse::<i64>().unwrap_or(-1),
        "umask": u32::from_str_radix(&get("Umask"), 8).unwrap_or(0o7777),
        "sigblk": hex("SigBlk"),
        "sigign": hex("SigIgn"),
        "rlimits": rlimits(),
        "oom_score_adj": std::fs::read_to_string("/proc/self/oom_score_adj")
            .ok().and_then(|s| s.trim().parse::<i64>().ok()),
        "cwd": std::env::current_dir().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default(),
        "env": std::env::vars_os()
            .map(|(k, v)| format!("{}={}", k.to_string_lossy(), v.to_string_lossy()))
            .collect::<Vec<_>>(),
        "args": std::env::args_os().map(|a| String::from_utf8_lossy(a.as_bytes()).into_owned()).collect::<Vec<_>>(),
        "hostname": hostname,
        "domainname": domainname,
        "ns": namespaces(),
        "mounts": parse_mountinfo(&std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default()),
        "fds": fds(),
        "cgroup": std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default()
            .lines().map(str::to_string).collect::<Vec<_>>(),
        "tty": tty(),
        "sched": sched(),
        "ioprio": ioprio(),
        "cpus_allowed": get("Cpus_allowed_list"),
        "mempolicy": mempolicy(),
        "personality": personality(),
        "interfaces": interfaces(),
        "clocks": clocks(),
    });
    let mut read = Map::new();
    for p in &opts.read {
        read.insert(
            p.clone(),
            match read_small(p) {
                Ok(c) => json!({"ok": true, "content": c}),
                Err(e) => err_value(&e),
            },
        );
    }
    let cgroup_text = std::fs::read_to_string("/proc/self/cgroup").unwrap_or_default();
    let mut cgroup_files = Map::new();
    for spec in &opts.cgroup_file {
        let v = match cgroup_file_path(&cgroup_text, spec) {
            Some(p) => match read_small(&p) {
                Ok(c) => json!({"ok": true, "path": p, "value": c.trim()}),
                Err(e) => {
                    let mut v = err_value(&e);
                    v["path"] = json!(p);
                    v
                }
            },
            None => json!({"ok": false, "error": "no such controller in /proc/self/cgroup"}),
        };
        cgroup_files.insert(spec.clone(), v);
    }
    let mut sysctl = Map::new();
    for k in &opts.sysctl {
        let path = format!("/proc/sys/{}", k.replace('.', "/"));
        sysctl.insert(
            k.clone(),
            match read_small(&path) {
                Ok(c) => json!({"ok": true, "value": c.trim()}),
                Err(e) => err_value(&e),
            },
        );
    }
    let mut ls = Map::new();
    for d in &opts.ls {
        let v = match std::fs::read_dir(d) {
            Ok(rd) => {
                let mut names: Vec<String> = rd
                    .filter_map(|e| e.ok())
                    .map(|e| e.file_name().to_string_lossy().into_owned())
                    .collect();
                names.sort();
                json!({"ok": true, "entries": names})
            }
            Err(e) => err_value(&e),
        };
        ls.insert(d.clone(), v);
    }
    let per = |paths: &[String], f: fn(&str) -> Value| -> Value {
        Value::Object(paths.iter().map(|p| (p.clone(), f(p))).collect())
    };
    if let Some(o) = f.as_object_mut() {
        o.insert("read".into(), Value::Object(read));
        o.insert("sysctl".into(), Value::Object(sysctl));
        o.insert("cgroup_files".into(), Value::Object(cgroup_files));
        o.insert("ls".into(), Value::Object(ls));
        o.insert("write".into(), Value::Object(written));
        o.insert("exec".into(), per(&opts.exec, exec_path));
        o.insert("stat".into(), per(&opts.stat, stat_path));
    }
    f
}

static SIGNAL_SEEN: AtomicI32 = AtomicI32::new(0);

extern "C" fn on_signal(sig: libc::c_int) {
    SIGNAL_SEEN.store(sig, Ordering::SeqCst);
}

/// Blocks every catchable signal and installs a recording handler. Done
/// before the facts are printed: a signal sent as soon as the harness reads
/// them stays pending instead of being dropped (a pid-namespace init drops
/// signals it has no handler for).
fn prepare_for_signal() {
    // SAFETY: plain signal-mask manipulation on our own single-threaded process.
    unsafe {
        let mut all: libc::sigset_t = std::mem::zeroed();
        libc::sigfillset(&mut all);
        libc::sigprocmask(libc::SIG_BLOCK, &all, std::ptr::null_mut());
        for sig in 1..32 {
            if sig == libc::SIGKILL || sig == libc::SIGSTOP {
                continue;
            }
            let mut sa: libc::sigaction = std::mem::zeroed();
            sa.sa_sigaction = on_signal as *const () as usize;
            libc::sigfillset(&mut sa.sa_mask);
            libc::sigaction(sig, &sa, std::ptr::null_mut());
        }
    }
}

/// Waits with sigsuspend so that no signal slips in between check and wait.
fn wait_for_signal() -> i32 {
    // SAFETY: sigsuspend with an empty mask we own.
    unsafe {
        let mut empty: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut empty);
        while SIGNAL_SEEN.load(Ordering::SeqCst) == 0 {
            libc::sigsuspend(&empty);
        }
    }
    SIGNAL_SEEN.load(Ordering::SeqCst)
}

/// The probe's entry point: parse, report, then exit, pause or wait as asked.
/// Returns the process exit status.
///
/// ```no_run
/// std::process::exit(conformance::probe::main_with(std::env::args().skip(1)));
/// ```
pub fn main_with<I, S>(args: I) -> i32
where
    I: IntoIterator<Item = S>,
    S: AsRef<str>,
{
    let opts = match Options::parse(args) {
        Ok(o) => o,
        Err(e) => {
            eprintln!("baleia-probe: {e}");
            return 125;
        }
    };
    // The mask the runtime gave us is a fact: collect before changing it.
    let facts = collect(&opts);
    if opts.wait_signal {
        prepare_for_signal();
    }
    if let Some(path) = &opts.out {
        // Temp + rename: whoever waits for the file never sees half of it.
        let tmp = format!("{path}.tmp");
        if let Err(e) =
            std::fs::write(&tmp, format!("{facts}\n")).and_then(|_| std::fs::rename(&tmp, path))
        {
            eprintln!("baleia-probe: write {path}: {e}");
            return 125;
        }
    } else {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{facts}");
        let _ = out.flush();
    }
    if opts.wait_signal {
        let sig = wait_for_signal();
        let _ = writeln!(std::io::stdout(), "{}", json!({ "signal": sig }));
        return 0;
    }
    if opts.pause {
        // Closing stdout is the "ready" signal: the harness reads to end-of-file.
        // SAFETY: nothing else uses fds 1 and 2 from here on.
        unsafe {
            let null = libc::open(c"/dev/null".as_ptr(), libc::O_WRONLY);
            if null >= 0 {
                libc::dup2(null, 1);
                libc::dup2(null, 2);
            } else {
                libc::close(1);
                libc::close(2);
            }
            loop {
                libc::pause();
            }
        }
    }
    opts.exit_code
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_every_option() {
        let o = Options::parse([
            "--read",
            "/a",
            "--write",
            "/b",
            "--exec",
            "/c",
            "--stat",
            "/d",
            "--ls",
            "/e",
            "--sysctl",
            "net.ipv4.ip_forward",
            "--exit",
            "7",
            "--wait-signal",
        ])
        .unwrap();
        assert_eq!(o.read, ["/a"]);
        assert_eq!(o.write, ["/b"]);
        assert_eq!(o.exec, ["/c"]);
        assert_eq!(o.stat, ["/d"]);
        assert_eq!(o.ls, ["/e"]);
        assert_eq!(o.sysctl, ["net.ipv4.ip_forward"]);
        assert_eq!(o.exit_code, 7);
        assert!(o.wait_signal && !o.pause);
        let o = Options::parse(["--cgroup-file", "pids/pids.max", "--out", "/x"]).unwrap();
        assert_eq!(o.cgroup_file, ["pids/pids.max"]);
        assert_eq!(o.out.as_deref(), Some("/x"));
    }

    #[test]
    fn rejects_missing_value_and_bad_number() {
        assert!(Options::parse(["--read"]).is_err());
        assert!(Options::parse(["--exit", "x"]).is_err());
    }

    #[test]
    fn mountinfo_unescapes_and_keeps_optional_fields() {
        let m = parse_mountinfo(
            "36 35 98:0 /mnt1 /mnt\\040two rw,noatime master:1 shared:2 - ext3 /dev/root rw,errors=continue\n",
        );
        assert_eq!(m.len(), 1);
        assert_eq!(m[0]["mountpoint"], "/mnt two");
        assert_eq!(m[0]["optional"], "master:1 shared:2");
        assert_eq!(m[0]["super_options"], "rw,errors=continue");
        assert_eq!(m[0]["parent"], 35);
    }

    #[test]
    fn collects_facts_about_this_process() {
        let dir = std::env::temp_dir().join(format!("probe-unit-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let w = dir.join("w").to_string_lossy().into_owned();
        let o = Options {
            read: vec!["/proc/self/comm".into(), "/nonexistent-probe".into()],
            write: vec![w.clone()],
            stat: vec!["/dev/null".into()],
            exec: vec!["/proc/self/exe".into()],
            sysctl: vec!["kernel.ostype".into()],
            ls: vec![dir.to_string_lossy().into_owned()],
            ..Default::default()
        };
        let f = collect(&o);
        assert_eq!(f["pid"], std::process::id());
        assert_eq!(f["uid"], unsafe { libc::getuid() });
        assert!(f["ns"]["mnt"].as_str().unwrap().starts_with("mnt:["));
        assert!(f["mounts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["mountpoint"] == "/"));
        assert_eq!(f["read"]["/nonexistent-probe"]["errno"], libc::ENOENT);
        assert_eq!(f["read"]["/proc/self/comm"]["ok"], true);
        assert_eq!(f["write"][&w]["ok"], true);
        assert_eq!(f["stat"]["/dev/null"]["kind"], "char");
        assert_eq!(f["stat"]["/dev/null"]["major"], 1);
        assert_eq!(f["exec"]["/proc/self/exe"]["ok"], true);
        assert_eq!(f["sysctl"]["kernel.ostype"]["value"], "Linux");
        assert_eq!(f["ls"][dir.to_str().unwrap()]["entries"][0], "w");
        assert!(f["rlimits"]["RLIMIT_NOFILE"][1].as_u64().unwrap() > 0);
        assert_eq!(f["sched"]["ok"], true);
        assert_eq!(f["ioprio"]["ok"], true);
        assert_eq!(f["mempolicy"]["ok"], true);
        assert!(!f["cpus_allowed"].as_str().unwrap().is_empty());
        assert!(f["interfaces"]
            .as_array()
            .unwrap()
            .iter()
            .any(|i| i["name"] == "lo"));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
