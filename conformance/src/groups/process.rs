//! The process (config.md "process"): args, env, cwd, user, umask,
//! rlimits, oom_score_adj, capabilities, noNewPrivileges; and hostname.

use crate::bundle;
use crate::harness::{check, eq, fail, Ctx, Test, TestResult};
use crate::runtime::Exit;
use serde_json::{json, Value};

const G: &str = "process";
const H: &str = "hostname";

/// Capability names by bit number (linux/capability.h).
pub const CAPS: &[&str] = &[
    "CAP_CHOWN",
    "CAP_DAC_OVERRIDE",
    "CAP_DAC_READ_SEARCH",
    "CAP_FOWNER",
    "CAP_FSETID",
    "CAP_KILL",
    "CAP_SETGID",
    "CAP_SETUID",
    "CAP_SETPCAP",
    "CAP_LINUX_IMMUTABLE",
    "CAP_NET_BIND_SERVICE",
    "CAP_NET_BROADCAST",
    "CAP_NET_ADMIN",
    "CAP_NET_RAW",
    "CAP_IPC_LOCK",
    "CAP_IPC_OWNER",
    "CAP_SYS_MODULE",
    "CAP_SYS_RAWIO",
    "CAP_SYS_CHROOT",
    "CAP_SYS_PTRACE",
    "CAP_SYS_PACCT",
    "CAP_SYS_ADMIN",
    "CAP_SYS_BOOT",
    "CAP_SYS_NICE",
    "CAP_SYS_RESOURCE",
    "CAP_SYS_TIME",
    "CAP_SYS_TTY_CONFIG",
    "CAP_MKNOD",
    "CAP_LEASE",
    "CAP_AUDIT_WRITE",
    "CAP_AUDIT_CONTROL",
    "CAP_SETFCAP",
    "CAP_MAC_OVERRIDE",
    "CAP_MAC_ADMIN",
    "CAP_SYSLOG",
    "CAP_WAKE_ALARM",
    "CAP_BLOCK_SUSPEND",
    "CAP_AUDIT_READ",
    "CAP_PERFMON",
    "CAP_BPF",
    "CAP_CHECKPOINT_RESTORE",
];

/// Decodes a capability mask into sorted names.
///
/// ```
/// assert_eq!(conformance::groups::process::cap_names(1 << 5), vec!["CAP_KILL"]);
/// ```
pub fn cap_names(mask: u64) -> Vec<String> {
    let mut v: Vec<String> = (0..64)
        .filter(|b| mask & (1u64 << b) != 0)
        .map(|b| {
            CAPS.get(b)
                .map(|s| s.to_string())
                .unwrap_or(format!("cap{b}"))
        })
        .collect();
    v.sort();
    v
}

fn sorted(v: &[&str]) -> Vec<String> {
    let mut v: Vec<String> = v.iter().map(|s| s.to_string()).collect();
    v.sort();
    v
}

fn strs(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|x| x.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn args_exact(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&["--exit", "0"]);
    let f = c.probe(&cfg)?;
    eq("args", cfg["process"]["args"].clone(), f["args"].clone())
}

fn env_passed(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::push(&mut cfg, "/process/env", json!("FOO=bar baz"));
    let f = c.probe(&cfg)?;
    let env = strs(&f["env"]);
    check(
        env.iter().any(|e| e == "FOO=bar baz"),
        "FOO=bar baz in the environment",
        format!("{env:?}"),
    )
}

fn env_path(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    let env = strs(&f["env"]);
    let want = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    check(env.iter().any(|e| e == want), want, format!("{env:?}"))
}

fn env_home_default(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    let env = strs(&f["env"]);
    check(
        env.iter().any(|e| e == "HOME=/root"),
        "HOME=/root (runc sets HOME from /etc/passwd when unset)",
        format!("{env:?}"),
    )
}

fn env_no_runtime_leak(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    let env = strs(&f["env"]);
    let leaked: Vec<&String> = env
        .iter()
        .filter(|e| {
            !["PATH=", "TERM=", "HOME=", "HOSTNAME="]
                .iter()
                .any(|p| e.starts_with(p))
        })
        .collect();
    check(
        leaked.is_empty(),
        "only the spec's env (and HOME)",
        format!("{leaked:?}"),
    )
}

fn path_lookup(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["args"] = json!(["sh", "-c", "exit 5"]);
    let r = c.run(&cfg)?;
    eq("exit", Exit::Code(5), r.exit)
}

fn cwd(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["cwd"] = json!("/tmp");
    let f = c.probe(&cfg)?;
    eq("cwd", json!("/tmp"), f["cwd"].clone())
}

fn cwd_created(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["cwd"] = json!("/does/not/exist");
    let f = c.probe(&cfg)?;
    eq("cwd", json!("/does/not/exist"), f["cwd"].clone())
}

fn cwd_relative_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["cwd"] = json!("tmp");
    // runc: "Cwd must be an absolute path"; baleia: "cwd \"tmp\" is not an
    // absolute path".
    c.create_fails(&cfg, &[&["cwd", "absolute"]]).map(|_| ())
}

fn user_uid_gid(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1001});
    let f = c.probe(&cfg)?;
    eq("uid", json!(1000), f["uid"].clone())?;
    eq("euid", json!(1000), f["euid"].clone())?;
    eq("gid", json!(1001), f["gid"].clone())?;
    eq("egid", json!(1001), f["egid"].clone())
}

fn additional_gids(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000, "additionalGids": [10, 20]});
    let f = c.probe(&cfg)?;
    let g: Vec<u64> = f["groups"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    check(
        g.contains(&10) && g.contains(&20),
        "groups include 10 and 20",
        format!("{g:?}"),
    )
}

fn no_extra_groups(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let f = c.probe(&cfg)?;
    let g: Vec<u64> = f["groups"]
        .as_array()
        .map(|a| a.iter().filter_map(Value::as_u64).collect())
        .unwrap_or_default();
    check(
        g.iter().all(|x| *x == 1000),
        "no supplementary groups but the gid (the runtime's are dropped)",
        format!("{g:?}"),
    )
}

fn umask(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["user"]["umask"] = json!(0o077);
    let f = c.probe(&cfg)?;
    eq("umask", json!(0o077), f["umask"].clone())
}

fn umask_default(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    eq("umask", json!(0o022), f["umask"].clone())
}

fn rlimit_nofile(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["rlimits"] = json!([{"type": "RLIMIT_NOFILE", "soft": 512, "hard": 600}]);
    let f = c.probe(&cfg)?;
    eq(
        "RLIMIT_NOFILE",
        json!([512, 600]),
        f["rlimits"]["RLIMIT_NOFILE"].clone(),
    )
}

fn rlimit_core(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::push(
        &mut cfg,
        "/process/rlimits",
        json!({"type": "RLIMIT_CORE", "soft": 0, "hard": 0}),
    );
    let f = c.probe(&cfg)?;
    eq(
        "RLIMIT_CORE",
        json!([0, 0]),
        f["rlimits"]["RLIMIT_CORE"].clone(),
    )
}

fn rlimit_several(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::push(
        &mut cfg,
        "/process/rlimits",
        json!({"type": "RLIMIT_NPROC", "soft": 100, "hard": 200}),
    );
    bundle::push(
        &mut cfg,
        "/process/rlimits",
        json!({"type": "RLIMIT_MSGQUEUE", "soft": 4096, "hard": 8192}),
    );
    let f = c.probe(&cfg)?;
    eq(
        "RLIMIT_NPROC",
        json!([100, 200]),
        f["rlimits"]["RLIMIT_NPROC"].clone(),
    )?;
    eq(
        "RLIMIT_MSGQUEUE",
        json!([4096, 8192]),
        f["rlimits"]["RLIMIT_MSGQUEUE"].clone(),
    )?;
    eq(
        "RLIMIT_NOFILE",
        json!([1024, 1024]),
        f["rlimits"]["RLIMIT_NOFILE"].clone(),
    )
}

fn rlimit_bad_type_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["rlimits"] = json!([{"type": "RLIMIT_BOGUS", "soft": 1, "hard": 1}]);
    // Every runtime's refusal names the type it does not know.
    c.create_fails(&cfg, &[&["RLIMIT_BOGUS"]]).map(|_| ())
}

fn oom_score_adj(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["oomScoreAdj"] = json!(500);
    let f = c.probe(&cfg)?;
    eq("oom_score_adj", json!(500), f["oom_score_adj"].clone())
}

fn caps_default(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    let want = sorted(bundle::DEFAULT_CAPS);
    for set in ["bounding", "effective", "permitted"] {
        eq(
            set,
            want.clone(),
            cap_names(f["caps"][set].as_u64().unwrap_or(0)),
        )?;
    }
    Ok(())
}

fn caps_set(c: &mut Ctx, set: &str, caps: &[&str]) -> TestResult {
    let mut cfg = c.spec(&[]);
    let all = [
        "CAP_CHOWN",
        "CAP_KILL",
        "CAP_NET_RAW",
        "CAP_SETUID",
        "CAP_SETGID",
    ];
    for s in ["bounding", "effective", "permitted", "inheritable"] {
        cfg["process"]["capabilities"][s] = json!(all);
    }
    cfg["process"]["capabilities"][set] = json!(caps);
    let f = c.probe(&cfg)?;
    eq(
        set,
        sorted(caps),
        cap_names(f["caps"][set].as_u64().unwrap_or(0)),
    )
}

fn caps_bounding(c: &mut Ctx) -> TestResult {
    caps_set(
        c,
        "bounding",
        &[
            "CAP_CHOWN",
            "CAP_KILL",
            "CAP_NET_RAW",
            "CAP_SETUID",
            "CAP_SETGID",
            "CAP_SYS_ADMIN",
        ],
    )
}
fn caps_effective(c: &mut Ctx) -> TestResult {
    // A non-root process keeps effective caps across execve only through
    // the ambient set, so use uid 1000 with ambient = effective.
    let mut cfg = c.spec(&[]);
    let caps = ["CAP_NET_RAW", "CAP_KILL"];
    cfg["process"]["capabilities"] = json!({
        "bounding": caps, "permitted": caps, "effective": ["CAP_KILL"], "inheritable": caps, "ambient": ["CAP_KILL"],
    });
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let f = c.probe(&cfg)?;
    eq(
        "effective",
        sorted(&["CAP_KILL"]),
        cap_names(f["caps"]["effective"].as_u64().unwrap_or(0)),
    )
}

fn caps_effective_root(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL"], "permitted": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"],
    });
    let f = c.probe(&cfg)?;
    eq(
        "effective",
        sorted(&["CAP_CHOWN", "CAP_KILL"]),
        cap_names(f["caps"]["effective"].as_u64().unwrap_or(0)),
    )
}
fn caps_permitted(c: &mut Ctx) -> TestResult {
    // effective must stay a subset of permitted for capset to accept it.
    let mut cfg = c.spec(&[]);
    cfg["process"]["capabilities"] = json!({
        "bounding": ["CAP_CHOWN", "CAP_KILL"], "permitted": ["CAP_CHOWN", "CAP_KILL"], "effective": ["CAP_KILL"],
    });
    let f = c.probe(&cfg)?;
    eq(
        "permitted",
        sorted(&["CAP_CHOWN", "CAP_KILL"]),
        cap_names(f["caps"]["permitted"].as_u64().unwrap_or(0)),
    )
}
fn caps_inheritable(c: &mut Ctx) -> TestResult {
    caps_set(c, "inheritable", &["CAP_NET_RAW"])
}
fn caps_ambient(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    let caps = ["CAP_NET_RAW", "CAP_KILL"];
    cfg["process"]["capabilities"] = json!({
        "bounding": caps, "permitted": caps, "effective": caps, "inheritable": caps, "ambient": ["CAP_NET_RAW"],
    });
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let f = c.probe(&cfg)?;
    eq(
        "ambient",
        sorted(&["CAP_NET_RAW"]),
        cap_names(f["caps"]["ambient"].as_u64().unwrap_or(0)),
    )
}
fn caps_empty(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["capabilities"] = json!({});
    let f = c.probe(&cfg)?;
    eq(
        "effective",
        Vec::<String>::new(),
        cap_names(f["caps"]["effective"].as_u64().unwrap_or(1)),
    )?;
    eq(
        "bounding",
        Vec::<String>::new(),
        cap_names(f["caps"]["bounding"].as_u64().unwrap_or(1)),
    )
}
fn caps_non_root(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    let f = c.probe(&cfg)?;
    eq(
        "effective of uid 1000",
        Vec::<String>::new(),
        cap_names(f["caps"]["effective"].as_u64().unwrap_or(1)),
    )?;
    eq(
        "bounding of uid 1000",
        sorted(bundle::DEFAULT_CAPS),
        cap_names(f["caps"]["bounding"].as_u64().unwrap_or(0)),
    )
}

fn nnp_true(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    eq("no_new_privs", json!(true), f["no_new_privs"].clone())
}

fn nnp_false(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["noNewPrivileges"] = json!(false);
    let f = c.probe(&cfg)?;
    eq("no_new_privs", json!(false), f["no_new_privs"].clone())
}

fn sigmask_empty(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    eq("blocked signals", json!(0), f["sigblk"].clone())
}

fn no_ignored_signals(c: &mut Ctx) -> TestResult {
    // The probe cannot tell (Rust's start-up ignores SIGPIPE): busybox cat,
    // exec'd directly, shows the dispositions the runtime handed over.
    let mut cfg = c.spec(&[]);
    cfg["process"]["args"] = json!(["/bin/cat", "/proc/self/status"]);
    let r = c.run(&cfg)?;
    let st = crate::probe::parse_status(&r.stdout);
    let ign = u64::from_str_radix(st.get("SigIgn").map(String::as_str).unwrap_or("x"), 16)
        .map_err(|_| {
            fail(
                "SigIgn in /proc/self/status",
                r.stdout.chars().take(200).collect::<String>(),
            )
        })?;
    // Only SIGPIPE: the runtime's own start-up (Go, Rust) ignores it, and
    // that disposition survives execve unless reset; others may be inherited
    // from whoever started the runtime.
    eq(
        "SIGPIPE ignored",
        false,
        ign & (1 << (libc::SIGPIPE - 1)) != 0,
    )
}

fn only_stdio_fds(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    let mut fds: Vec<String> = f["fds"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    fds.sort();
    eq(
        "open fds",
        vec!["0".to_string(), "1".into(), "2".into()],
        fds,
    )
}

fn stdin_null(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    eq("fd 0", json!("/dev/null"), f["fds"]["0"].clone())
}

fn pid_one(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    eq("pid", json!(1), f["pid"].clone())
}

fn not_a_tty(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    eq("isatty(0)", json!(false), f["tty"]["isatty0"].clone())
}

fn not_dumpable_host_exe(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&["--read", "/proc/self/exe"]);
    let f = c.probe(&cfg)?;
    let fds = f["fds"].as_object().cloned().unwrap_or_default();
    let rt = c.rt.path.to_string_lossy().into_owned();
    let host = fds.values().any(|v| {
        v.as_str().is_some_and(|s| {
            s == rt || s.starts_with("/memfd:") || (s.contains("runc") && s.contains("(deleted)"))
        })
    });
    check(
        !host,
        "no fd of the runtime's binary in the container (CVE-2019-5736)",
        format!("{fds:?}"),
    )
}

fn args_missing_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["args"] = json!([]);
    // runc and baleia: "args must not be empty"; crun 1.8 does not check and
    // fails to open the executable that is not there ("open executable:
    // Invalid argument").
    c.create_fails(&cfg, &[&["args"], &["open executable", "invalid argument"]])
        .map(|_| ())
}

fn bad_oci_version_major(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["ociVersion"] = json!("1.1.0");
    let f = c.probe(&cfg)?;
    eq("pid", json!(1), f["pid"].clone())
}

// hostname

fn hostname(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["hostname"] = json!("conf-host");
    let f = c.probe(&cfg)?;
    eq("hostname", json!("conf-host"), f["hostname"].clone())
}

fn domainname(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["domainname"] = json!("example.org");
    let f = c.probe(&cfg)?;
    eq("domainname", json!("example.org"), f["domainname"].clone())
}

fn hostname_inherited(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    if let Some(o) = cfg.as_object_mut() {
        o.remove("hostname");
    }
    let f = c.probe(&cfg)?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_err(|e| fail("host hostname", e))?;
    eq("hostname", json!(host.trim()), f["hostname"].clone())
}

fn hostname_needs_uts(c: &mut Ctx) -> TestResult {
    c.guard("/proc/sys/kernel/hostname")?;
    let mut cfg = c.spec(&[]);
    bundle::drop_namespace(&mut cfg, "uts");
    // runc and baleia: "unable to set hostname without a private UTS namespace";
    // crun 1.8: "hostname requires the UTS namespace".
    c.create_fails(&cfg, &[&["hostname", "uts"]]).map(|_| ())
}

fn host_uts_keeps_hostname(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::drop_namespace(&mut cfg, "uts");
    if let Some(o) = cfg.as_object_mut() {
        o.remove("hostname");
    }
    let f = c.probe(&cfg)?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_err(|e| fail("host hostname", e))?;
    eq("hostname", json!(host.trim()), f["hostname"].clone())
}

fn hostname_not_on_host(c: &mut Ctx) -> TestResult {
    c.guard("/proc/sys/kernel/hostname")?;
    let mut cfg = c.spec(&[]);
    cfg["hostname"] = json!("conf-not-host");
    c.probe(&cfg)?;
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map_err(|e| fail("host hostname", e))?;
    check(
        host.trim() != "conf-not-host",
        "the host's hostname unchanged",
        host.trim(),
    )
}

/// The process and hostname tests.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(
            G,
            "args",
            "config.md process.args: the argv of the process",
            args_exact,
        ),
        Test::new(
            G,
            "env",
            "config.md process.env: variables set in the process (execve env)",
            env_passed,
        ),
        Test::new(
            G,
            "env-path",
            "config.md process.env: PATH as given",
            env_path,
        ),
        Test::new(
            G,
            "env-home-default",
            "runc: HOME set from /etc/passwd when env has none",
            env_home_default,
        ),
        Test::new(
            G,
            "env-no-leak",
            "config.md process.env: nothing of the runtime's environment leaks in",
            env_no_runtime_leak,
        ),
        Test::new(
            G,
            "path-lookup",
            "config.md process.args[0]: looked up in the env's PATH (execvp semantics)",
            path_lookup,
        ),
        Test::new(
            G,
            "cwd",
            "config.md process.cwd: working directory of the process",
            cwd,
        ),
        Test::new(
            G,
            "cwd-created",
            "runc: a missing cwd is created",
            cwd_created,
        ),
        Test::new(
            G,
            "cwd-relative-fails",
            "config.md process.cwd: MUST be an absolute path",
            cwd_relative_fails,
        ),
        Test::new(
            G,
            "user-uid-gid",
            "config.md process.user uid/gid",
            user_uid_gid,
        ),
        Test::new(
            G,
            "additional-gids",
            "config.md process.user.additionalGids: added to the process",
            additional_gids,
        ),
        Test::new(
            G,
            "no-extra-groups",
            "runc: supplementary groups are exactly the spec's",
            no_extra_groups,
        ),
        Test::new(G, "umask", "config.md process.user.umask", umask),
        Test::new(
            G,
            "umask-default",
            "runc: umask 0022 when unset",
            umask_default,
        ),
        Test::new(
            G,
            "rlimit-nofile",
            "config.md process.rlimits: setrlimit soft/hard",
            rlimit_nofile,
        ),
        Test::new(
            G,
            "rlimit-core",
            "config.md process.rlimits: RLIMIT_CORE",
            rlimit_core,
        ),
        Test::new(
            G,
            "rlimit-several",
            "config.md process.rlimits: every entry applied",
            rlimit_several,
        ),
        Test::new(
            G,
            "rlimit-bad-type-fails",
            "config.md process.rlimits.type: invalid values MUST generate an error",
            rlimit_bad_type_fails,
        ),
        Test::new(
            G,
            "oom-score-adj",
            "config.md process.oomScoreAdj: written to /proc/[pid]/oom_score_adj",
            oom_score_adj,
        ),
        Test::new(
            G,
            "caps-default",
            "config.md process.capabilities: runc spec's defaults",
            caps_default,
        ),
        Test::new(
            G,
            "caps-bounding",
            "config.md capabilities.bounding",
            caps_bounding,
        ),
        Test::new(
            G,
            "caps-effective",
            "config.md capabilities.effective (non-root with ambient, since execve recomputes it)",
            caps_effective,
        ),
        Test::new(
            G,
            "caps-effective-root",
            "capabilities(7): execve as root makes effective = permitted whatever the spec says",
            caps_effective_root,
        ),
        Test::new(
            G,
            "caps-permitted",
            "config.md capabilities.permitted",
            caps_permitted,
        ),
        Test::new(
            G,
            "caps-inheritable",
            "config.md capabilities.inheritable",
            caps_inheritable,
        ),
        Test::new(
            G,
            "caps-ambient",
            "config.md capabilities.ambient (non-root keeps it)",
            caps_ambient,
        ),
        Test::new(
            G,
            "caps-empty",
            "config.md capabilities: missing sets are empty",
            caps_empty,
        ),
        Test::new(
            G,
            "caps-non-root",
            "capabilities(7): a non-root process without ambient caps has none effective after execve; bounding as given",
            caps_non_root,
        ),
        Test::new(
            G,
            "no-new-privs",
            "config.md process.noNewPrivileges true",
            nnp_true,
        ),
        Test::new(
            G,
            "no-new-privs-false",
            "config.md process.noNewPrivileges false",
            nnp_false,
        ),
        Test::new(
            G,
            "sigmask-empty",
            "runc: the process starts with no blocked signals",
            sigmask_empty,
        ),
        Test::new(
            G,
            "no-ignored-signals",
            "runc: no signal dispositions leak from the runtime (SIGPIPE)",
            no_ignored_signals,
        ),
        Test::new(
            G,
            "only-stdio-fds",
            "runc: only fds 0-2 are open without --preserve-fds (CVE-2024-21626)",
            only_stdio_fds,
        ),
        Test::new(
            G,
            "stdin",
            "runc (non-terminal): stdin is the runtime's stdin",
            stdin_null,
        ),
        Test::new(
            G,
            "pid-one",
            "config.md pid namespace: the process is pid 1",
            pid_one,
        ),
        Test::new(
            G,
            "not-a-tty",
            "config.md process.terminal false: no terminal",
            not_a_tty,
        ),
        Test::new(
            G,
            "no-runtime-fd",
            "runc: no fd to the runtime binary reaches the container (CVE-2019-5736)",
            not_dumpable_host_exe,
        ),
        Test::new(
            G,
            "args-empty-fails",
            "config.md process.args: REQUIRED, at least one entry",
            args_missing_fails,
        ),
        Test::new(
            G,
            "ociversion-1.1",
            "runtime.md: any 1.x ociVersion is accepted",
            bad_oci_version_major,
        ),
        Test::new(
            H,
            "hostname",
            "config.md hostname: the container's hostname",
            hostname,
        ),
        Test::new(
            H,
            "domainname",
            "config.md domainname (runtime-spec 1.1; runc >= 1.2): setdomainname in the uts ns",
            domainname,
        ),
        Test::new(
            H,
            "inherited",
            "config.md hostname: unset -> the new uts ns keeps the host's",
            hostname_inherited,
        ),
        Test::new(
            H,
            "needs-uts-ns",
            "runc: hostname without a private UTS namespace is an error",
            hostname_needs_uts,
        ),
        Test::new(
            H,
            "host-uts",
            "config.md namespaces: no uts entry -> the host's uts namespace",
            host_uts_keeps_hostname,
        ),
        Test::new(
            H,
            "host-unchanged",
            "config.md hostname: set in the container's uts ns only",
            hostname_not_on_host,
        ),
    ]
}
