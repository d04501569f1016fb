//! The systemd cgroup driver (`--systemd-cgroup`) end to end: a container in a transient scope
//! whose limits show both in systemd's view of the unit (`systemctl show`) and in the scope's
//! cgroup files, an OOM kill, pause/resume, `update` (properties and files), `ps`,
//! `kill --all`, `delete` that removes the unit, and the three inputs that must fail cleanly
//! (a bad slice name, a unit that exists already, systemd not running).
//!
//! systemd is not PID 1 on the CI machine: `make test-systemd` (mk/systemd.mk) runs this file
//! in a VM that boots systemd on pure cgroup v2 (tools/systemd-vm), with
//! `BALEIA_REQUIRE_SYSTEMD=1` so that nothing skips there. On a host without systemd only the
//! "systemd not running" test runs (for real: there is none); the others say SKIP.

mod common;

use common::{setup, skip, Env, DEADLINE};
use serde_json::json;
use std::collections::HashMap;
use std::fs;
use std::path::PathBuf;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

fn systemd_runs() -> bool {
    PathBuf::from("/run/systemd/system").is_dir()
}

/// Whether a test that needs systemd can run; says SKIP (or fails, in the VM) otherwise.
fn need_systemd() -> bool {
    if systemd_runs() && PathBuf::from("/sys/fs/cgroup/cgroup.controllers").exists() {
        return true;
    }
    assert!(
        std::env::var_os("BALEIA_REQUIRE_SYSTEMD").is_none(),
        "BALEIA_REQUIRE_SYSTEMD is set, but systemd is not running on pure cgroup v2 here"
    );
    skip("systemd is not PID 1 on cgroup v2 here (make test-systemd runs this in a VM)");
    false
}

/// A container of the test with its own scope `bt-<id>.scope` in `system.slice`; stops the
/// unit on drop (after Env's own `delete --force`) so that a failing test leaves no unit.
struct Scoped {
    env: Env,
    unit: String,
}

impl Drop for Scoped {
    fn drop(&mut self) {
        let _ = self
            .env
            .cmd(&["--systemd-cgroup", "delete", "--force", &self.env.id])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .status();
        if systemd_runs() {
            for args in [&["stop"][..], &["reset-failed"][..]] {
                let _ = Command::new("systemctl")
                    .args(args)
                    .arg(&self.unit)
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
        }
    }
}

fn scoped(tag: &str) -> Option<Scoped> {
    let env = setup(tag)?;
    let unit = format!("bt-{}.scope", env.id);
    Some(Scoped { env, unit })
}

/// Writes config.json for the test's container with `cgroups_path` (`slice:prefix:name`).
fn save(env: &Env, cgroups_path: &str) {
    let mut c = env.config.clone();
    c["linux"]["cgroupsPath"] = json!(cgroups_path);
    if let Some(e) = c["process"]["env"].as_array_mut() {
        e.push(json!(format!("BALEIA_TEST_MARK={}", env.id)));
    }
    fs::write(
        env.bundle.join("config.json"),
        serde_json::to_vec_pretty(&c).unwrap(),
    )
    .unwrap();
}

fn sd(env: &Env, args: &[&str]) -> common::Out {
    let mut a = vec!["--systemd-cgroup"];
    a.extend_from_slice(args);
    env.exec(&a)
}

fn create(s: &Scoped, cgroups_path: &str) -> common::Out {
    save(&s.env, cgroups_path);
    let b = s.env.bundle.to_str().unwrap().to_string();
    let p = s.env.pid_file(&s.env.id);
    sd(
        &s.env,
        &[
            "create",
            "--bundle",
            &b,
            "--pid-file",
            p.to_str().unwrap(),
            &s.env.id,
        ],
    )
}

/// create + start in `system.slice:bt:<id>`; the init's pid.
fn start(s: &Scoped) -> i32 {
    create(s, &format!("system.slice:bt:{}", s.env.id)).assert_ok("create --systemd-cgroup");
    sd(&s.env, &["start", &s.env.id]).assert_ok("start");
    fs::read_to_string(s.env.pid_file(&s.env.id))
        .expect("pid file")
        .trim()
        .parse()
        .expect("a pid")
}

/// `systemctl show -p ... unit` as a map.
fn show(unit: &str, props: &[&str]) -> HashMap<String, String> {
    let out = Command::new("systemctl")
        .arg("show")
        .arg(format!("-p{}", props.join(",")))
        .arg(unit)
        .output()
        .expect("run systemctl");
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter_map(|l| l.split_once('='))
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn scope_dir(unit: &str) -> PathBuf {
    PathBuf::from("/sys/fs/cgroup/system.slice").join(unit)
}

fn read(unit: &str, file: &str) -> String {
    let p = scope_dir(unit).join(file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key))
            .then(|| it.next()?.parse().ok())
            .flatten()
    })
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        // systemd and kernel state change without an event we could wait on here.
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn unit_gone(unit: &str) -> bool {
    show(unit, &["LoadState"])
        .get("LoadState")
        .map(String::as_str)
        == Some("not-found")
}

#[test]
fn limits_show_in_the_unit_and_in_the_cgroup_files() {
    if !need_systemd() {
        return;
    }
    let Some(mut s) = scoped("sdlim") else { return };
    s.env.config["linux"]["resources"] = json!({
        "memory": { "limit": 64u64 << 20, "reservation": 16u64 << 20 },
        "cpu": { "shares": 512, "quota": 50000, "period": 100000, "cpus": "0" },
        "pids": { "limit": 50 },
    });
    s.env.config["annotations"] = json!({
        "org.systemd.property.TimeoutStopUSec": "uint64 123456789",
        "org.systemd.property.CollectMode": "'inactive-or-failed'",
    });
    s.env.sh("exec sleep 1000");
    let pid = start(&s);
    let u = show(
        &s.unit,
        &[
            "MemoryMax",
            "MemoryLow",
            "TasksMax",
            "CPUWeight",
            "CPUQuotaPerSecUSec",
            "CPUQuotaPeriodUSec",
            "AllowedCPUs",
            "Delegate",
            "Slice",
            "TimeoutStopUSec",
            "CollectMode",
            "ActiveState",
        ],
    );
    let want = [
        ("ActiveState", "active"),
        ("Slice", "system.slice"),
        ("Delegate", "yes"),
        ("MemoryMax", "67108864"),
        ("MemoryLow", "16777216"),
        ("TasksMax", "50"),
        // runc's shares -> weight: 1 + (512 - 2) * 9999 / 262142.
        ("CPUWeight", "20"),
        ("CPUQuotaPerSecUSec", "500ms"),
        ("CPUQuotaPeriodUSec", "100ms"),
        ("AllowedCPUs", "0"),
        ("TimeoutStopUSec", "2min 3.456789s"),
        ("CollectMode", "inactive-or-failed"),
    ];
    for (k, v) in want {
        assert_eq!(
            u.get(k).map(String::as_str),
            Some(v),
            "{k} of {}: {u:?}",
            s.unit
        );
    }
    assert_eq!(read(&s.unit, "memory.max"), (64u64 << 20).to_string());
    assert_eq!(read(&s.unit, "memory.low"), (16u64 << 20).to_string());
    assert_eq!(read(&s.unit, "pids.max"), "50");
    assert_eq!(read(&s.unit, "cpu.max"), "50000 100000");
    assert_eq!(read(&s.unit, "cpu.weight"), "20");
    assert_eq!(read(&s.unit, "cpuset.cpus"), "0");
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cg.trim(), format!("0::/system.slice/{}", s.unit));
    // ps and stats read the scope's cgroup.
    let ps = sd(&s.env, &["ps", "--format", "json", &s.env.id]);
    ps.assert_ok("ps");
    let pids: Vec<i32> = serde_json::from_str(ps.stdout.trim()).expect("ps json");
    assert_eq!(pids, vec![pid]);
    let ev = sd(&s.env, &["events", "--stats", &s.env.id]);
    ev.assert_ok("events --stats");
    let v: serde_json::Value = serde_json::from_str(ev.stdout.trim()).expect("stats json");
    assert_eq!(v["data"]["pids"]["current"], 1, "{v}");
    assert_eq!(v["data"]["pids"]["limit"], 50, "{v}");
}

/// exec joins the scope that create started (a second StartTransientUnit of the same name
/// would be refused: the unit exists), and the unit stays the one it was.
#[test]
fn exec_joins_the_scope_of_its_container() {
    if !need_systemd() {
        return;
    }
    let Some(mut s) = scoped("sdexec") else {
        return;
    };
    s.env.sh("exec sleep 1000");
    let init = start(&s);
    let before = show(&s.unit, &["InvocationID", "ActiveState"]);
    let pf = s.env.dir.join("exec.pid");
    sd(
        &s.env,
        &[
            "exec",
            "--detach",
            "--pid-file",
            pf.to_str().unwrap(),
            &s.env.id,
            "sleep",
            "1000",
        ],
    )
    .assert_ok("exec --detach in a systemd container");
    let pid: i32 = fs::read_to_string(&pf)
        .expect("exec's pid file")
        .parse()
        .expect("a pid");
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    assert_eq!(cg.trim(), format!("0::/system.slice/{}", s.unit));
    let mut procs: Vec<i32> = read(&s.unit, "cgroup.procs")
        .lines()
        .map(|l| l.parse().unwrap())
        .collect();
    procs.sort();
    let mut want = vec![init, pid];
    want.sort();
    assert_eq!(procs, want);
    assert_eq!(
        show(&s.unit, &["InvocationID", "ActiveState"]),
        before,
        "exec changed the unit"
    );
}

#[test]
fn oom_kill_inside_the_scope() {
    if !need_systemd() {
        return;
    }
    let Some(mut s) = scoped("sdoom") else { return };
    let limit = 32u64 << 20;
    s.env.config["linux"]["resources"]["memory"] = json!({ "limit": limit, "swap": limit });
    // busybox tail keeps a line it has not finished: /dev/zero has none, so it grows.
    s.env
        .sh("tail /dev/zero; echo $? > /tmp/rc; exec sleep 1000");
    start(&s);
    assert_eq!(
        show(&s.unit, &["MemoryMax"])["MemoryMax"],
        limit.to_string()
    );
    // runc 1.1 writes memory.swap.max but leaves systemd's MemorySwapMax at infinity, so a
    // daemon-reload puts swap back; the property must say what the file says.
    if !common::is_runc() {
        assert_eq!(show(&s.unit, &["MemorySwapMax"])["MemorySwapMax"], "0");
    }
    assert_eq!(read(&s.unit, "memory.swap.max"), "0");
    // The shell creates the file before echo fills it: wait for the content.
    let rc_file = s.env.rootfs.join("tmp/rc");
    wait_until("tail's exit status", || {
        fs::read_to_string(&rc_file).is_ok_and(|t| !t.trim().is_empty())
    });
    let rc = fs::read_to_string(&rc_file).unwrap();
    assert_eq!(
        rc.trim(),
        "137",
        "tail under a 32M limit must die of SIGKILL"
    );
    let events = read(&s.unit, "memory.events");
    assert!(
        keyed(&events, "oom_kill").unwrap_or(0) >= 1,
        "no OOM kill counted: {events}"
    );
}

#[test]
fn pause_update_kill_all_and_delete_removes_the_unit() {
    if !need_systemd() {
        return;
    }
    let Some(mut s) = scoped("sdlife") else {
        return;
    };
    s.env.config["linux"]["resources"] =
        json!({ "memory": { "limit": 256u64 << 20 }, "pids": { "limit": 100 } });
    s.env.sh("sleep 1000 & exec sleep 1000");
    let id = s.env.id.clone();
    start(&s);

    sd(&s.env, &["pause", &id]).assert_ok("pause");
    assert_eq!(s.env.status(&id), "paused");
    assert_eq!(keyed(&read(&s.unit, "cgroup.events"), "frozen"), Some(1));
    sd(&s.env, &["resume", &id]).assert_ok("resume");
    assert_eq!(s.env.status(&id), "running");
    assert_eq!(keyed(&read(&s.unit, "cgroup.events"), "frozen"), Some(0));

    sd(
        &s.env,
        &[
            "update",
            "--memory",
            "128M",
            "--pids-limit",
            "20",
            "--cpu-quota",
            "20000",
            &id,
        ],
    )
    .assert_ok("update");
    let u = show(&s.unit, &["MemoryMax", "TasksMax", "CPUQuotaPerSecUSec"]);
    assert_eq!(u["MemoryMax"], (128u64 << 20).to_string(), "{u:?}");
    assert_eq!(u["TasksMax"], "20", "{u:?}");
    assert_eq!(u["CPUQuotaPerSecUSec"], "200ms", "{u:?}");
    assert_eq!(read(&s.unit, "memory.max"), (128u64 << 20).to_string());
    assert_eq!(read(&s.unit, "pids.max"), "20");
    assert_eq!(read(&s.unit, "cpu.max"), "20000 100000");

    let procs = || read(&s.unit, "cgroup.procs").lines().count();
    wait_until("both sleeps in the scope", || procs() == 2);
    sd(&s.env, &["kill", "--all", &id, "KILL"]).assert_ok("kill --all");
    s.env.wait_status(&id, "stopped");
    sd(&s.env, &["delete", &id]).assert_ok("delete");
    assert!(
        unit_gone(&s.unit),
        "{} is still loaded after delete",
        s.unit
    );
    assert!(!scope_dir(&s.unit).exists(), "the scope's cgroup is left");
    assert!(!s.env.state_dir(&id).exists(), "state dir left");

    // delete of a created (never started) container stops its unit too.
    create(&s, &format!("system.slice:bt:{id}")).assert_ok("create again");
    assert_eq!(show(&s.unit, &["ActiveState"])["ActiveState"], "active");
    sd(&s.env, &["delete", &id]).assert_ok("delete a created container");
    assert!(
        unit_gone(&s.unit),
        "{} is still loaded after delete",
        s.unit
    );
    assert!(!scope_dir(&s.unit).exists(), "the scope's cgroup is left");
}

/// A failed create left nothing: no state dir, no unit, no scope directory.
fn assert_nothing_left(s: &Scoped, unit: &str) {
    assert!(
        !s.env.state_dir(&s.env.id).exists(),
        "state dir left behind"
    );
    if systemd_runs() {
        assert!(unit_gone(unit), "unit {unit} left behind");
    }
    assert!(
        !scope_dir(unit).exists(),
        "scope cgroup of {unit} left behind"
    );
    assert!(
        common::processes_mentioning(&s.env.id).is_empty(),
        "processes left behind"
    );
}

#[test]
fn a_bad_slice_name_is_one_error_and_leaves_nothing() {
    // Read before systemd is asked anything: this runs on a host without systemd too.
    if !systemd_runs() && common::is_runc() && !need_systemd() {
        return;
    }
    let Some(mut s) = scoped("sdslice") else {
        return;
    };
    s.env.sh("exec sleep 1000");
    let id = s.env.id.clone();
    for bad in ["no-suffix:bt:", "a--b.slice:bt:", "a/b.slice:bt:"] {
        let o = create(&s, &format!("{bad}{id}"));
        o.assert_fail("create with a bad slice");
        assert!(o.stderr.to_lowercase().contains("slice"), "{bad}: {o}");
        assert!(
            o.stderr.trim().lines().count() <= 1 || common::is_runc(),
            "{o}"
        );
        assert_nothing_left(&s, &s.unit);
    }
}

#[test]
fn a_unit_that_exists_is_refused_and_left_alone() {
    if !need_systemd() {
        return;
    }
    if common::runtime_lacks(
        "refusing a unit that exists (1.1 joins it, with a warning)",
        "runc < 1.2",
    ) {
        return;
    }
    let Some(mut s) = scoped("sdexist") else {
        return;
    };
    // Someone else's scope with the name our container would get.
    let name = s.unit.trim_end_matches(".scope").to_string();
    let mut other = Command::new("systemd-run")
        .args(["--scope", "--quiet", "--unit", &name, "sleep", "1000"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("systemd-run");
    wait_until("the other scope", || {
        show(&s.unit, &["ActiveState"])
            .get("ActiveState")
            .map(String::as_str)
            == Some("active")
    });
    s.env.sh("exec sleep 1000");
    let o = create(&s, &format!("system.slice:bt:{}", s.env.id));
    o.assert_fail("create into an existing unit");
    assert!(o.stderr.contains("already exists"), "{o}");
    assert!(
        !s.env.state_dir(&s.env.id).exists(),
        "state dir left behind"
    );
    // The other scope is untouched: still active, still holding its one process.
    assert_eq!(show(&s.unit, &["ActiveState"])["ActiveState"], "active");
    let procs = read(&s.unit, "cgroup.procs");
    assert_eq!(procs.lines().count(), 1, "{procs}");
    let _ = other.kill();
    let _ = other.wait();
}

#[test]
fn without_systemd_create_is_one_error_and_leaves_nothing() {
    let Some(mut s) = scoped("sdnone") else {
        return;
    };
    s.env.sh("exec sleep 1000");
    save(&s.env, &format!("system.slice:bt:{}", s.env.id));
    let b = s.env.bundle.to_str().unwrap().to_string();
    // Where systemd runs, a private mount namespace hides its sockets from the runtime.
    let hide = "for d in /run/systemd /run/dbus; do [ -d $d ] && mount -t tmpfs tmpfs $d; done; exec \"$@\"";
    let mut c = Command::new("unshare");
    c.args(["-m", "--propagation", "private", "sh", "-c", hide, "sh"])
        .arg(common::runtime())
        .arg("--root")
        .arg(&s.env.root)
        .args(["--systemd-cgroup", "create", "--bundle", &b, &s.env.id])
        .env("BALEIA_TEST_MARK", &s.env.id)
        .stdin(Stdio::null());
    let o = s.env.spawn_cmd(c).wait();
    o.assert_fail("create --systemd-cgroup without systemd");
    // runc: "systemd not running on this host, ..."; baleia names the sockets it looked for.
    assert!(
        o.stderr.contains("systemd") && o.stderr.contains("not running"),
        "{o}"
    );
    assert_eq!(o.stderr.trim().lines().count(), 1, "one line: {o}");
    assert_nothing_left(&s, &s.unit);
}
