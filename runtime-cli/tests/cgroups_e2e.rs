//! The container's cgroup, end to end through the runtime binary: limits that really bite
//! inside the container (OOM kill, a capped fork bomb, a denied device), pause/resume,
//! `update` of a live container, `events --stats` numbers that move, `ps`, `kill --all` and
//! `delete --force`.
//!
//! Runs on this host (cgroup v1 + a cgroup2 mount: "hybrid") under plain `cargo test`, and in a
//! pure cgroup v2 VM through `make test-cgroup-v2` (mk/cgroup-v2.mk), where the test binary and
//! baleia are static and the runtime comes from `$BALEIA_TEST_RUNTIME`. Every check reads the
//! kernel's own files from the host, and looks at the effect from inside the container.
//!
//! With `BALEIA_TEST_SYSTEMD_CGROUP=1` the same tests drive the systemd cgroup driver
//! (`--systemd-cgroup`, cgroupsPath `system.slice:bt:<id>`): `make test-systemd` runs them so
//! in a VM that boots systemd (mk/systemd.mk). Then the cgroup is the one systemd reports for
//! the container's scope, the limits must also be the unit's properties (`systemctl show`),
//! and "nothing left" includes the unit.

mod common;

use common::{alive, setup, systemd_driver, systemd_unit, unit_property, wait_gone, Env, DEADLINE};
use serde_json::{json, Value};
use std::fs;
use std::path::PathBuf;
use std::time::{Duration, Instant};

/// Pure cgroup v2: one hierarchy at /sys/fs/cgroup.
fn v2() -> bool {
    PathBuf::from("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// A file of container `id`'s cgroup: `v1` in controller `ctrl`'s hierarchy, or `v2` in the
/// unified one.
fn cg_file(id: &str, ctrl: &str, v1: &str, v2file: &str) -> PathBuf {
    let rel = Env::cgroup_rel(id);
    if v2() {
        PathBuf::from("/sys/fs/cgroup").join(rel).join(v2file)
    } else {
        PathBuf::from("/sys/fs/cgroup")
            .join(ctrl)
            .join(rel)
            .join(v1)
    }
}

fn cg_read(id: &str, ctrl: &str, v1: &str, v2file: &str) -> String {
    let p = cg_file(id, ctrl, v1, v2file);
    fs::read_to_string(&p)
        .unwrap_or_else(|e| panic!("read {}: {e}", p.display()))
        .trim()
        .to_string()
}

/// The number after `key` in a flat-keyed cgroup file (memory.events, pids.events, ...).
fn keyed(text: &str, key: &str) -> Option<u64> {
    text.lines().find_map(|l| {
        let mut it = l.split_whitespace();
        (it.next() == Some(key))
            .then(|| it.next()?.parse().ok())
            .flatten()
    })
}

/// The pids in a cgroup.procs file of the container (the pids hierarchy on v1).
fn cgroup_procs(id: &str) -> Vec<i32> {
    let mut v: Vec<i32> = cg_read(id, "pids", "cgroup.procs", "cgroup.procs")
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    v.sort();
    v
}

/// Bounded polling until `cond` holds.
fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let start = Instant::now();
    while !cond() {
        assert!(start.elapsed() < DEADLINE, "timed out waiting for {what}");
        // Kernel files and container files change without an event we could wait on.
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Under the systemd driver, asserts that the unit of container `id` has these properties as
/// `systemctl show` prints them; nothing to check under cgroupfs.
fn unit_has(id: &str, props: &[(&str, &str)]) {
    if !systemd_driver() {
        return;
    }
    let unit = systemd_unit(id);
    for (k, v) in props {
        // On v1 the runtime sets the memory limit as MemoryLimit, as runc does (MemoryMax is
        // the v2 property).
        let k = if *k == "MemoryMax" && !v2() {
            "MemoryLimit"
        } else {
            k
        };
        assert_eq!(unit_property(&unit, k), *v, "{k} of {unit}");
    }
}

/// `create` + `start` of container `id` with the current config; returns the init's host pid.
/// Under the systemd driver the container must be in a delegated scope whose cgroup, as
/// systemd reports it, is the one the tests read, and which holds the init.
fn start(env: &Env, id: &str) -> i32 {
    env.create_id(id).assert_ok("create");
    env.exec(&["start", id]).assert_ok("start");
    let pid = fs::read_to_string(env.pid_file(id)).expect("pid file");
    let pid = pid.trim().parse().expect("pid file holds a pid");
    if systemd_driver() {
        let rel = format!("/{}", Env::cgroup_rel(id));
        unit_has(
            id,
            &[
                ("ActiveState", "active"),
                ("Delegate", "yes"),
                ("ControlGroup", &rel),
            ],
        );
        // The unified line (the only one on v2; systemd's own tracking on hybrid). An init
        // that has exited already (a shell that only forks) has no /proc entry to read.
        let own = fs::read_to_string(format!("/proc/{pid}/cgroup"));
        if let (true, Ok(own)) = (alive(pid), own) {
            assert!(
                own.lines().any(|l| l == format!("0::{rel}")),
                "the init is not in its scope: {own}"
            );
        }
    }
    pid
}

/// `events --stats` as JSON, checked for runc's envelope.
fn stats(env: &Env, id: &str) -> Value {
    let o = env.exec(&["events", "--stats", id]);
    o.assert_ok("events --stats");
    let v: Value = serde_json::from_str(o.stdout.trim())
        .unwrap_or_else(|e| panic!("events --stats is not one JSON object ({e}): {o}"));
    assert_eq!(v["type"], "stats", "{v}");
    assert_eq!(v["id"], id, "{v}");
    v["data"].clone()
}

fn ps_json(env: &Env, id: &str) -> Vec<i32> {
    let o = env.exec(&["ps", "--format", "json", id]);
    o.assert_ok("ps --format json");
    let mut v: Vec<i32> = serde_json::from_str(o.stdout.trim())
        .unwrap_or_else(|e| panic!("ps --format json is not a JSON array ({e}): {o}"));
    v.sort();
    v
}

#[test]
fn memory_limit_oom_kills_inside_the_container() {
    let Some(mut env) = setup("oom") else { return };
    let limit = 32u64 << 20;
    let mut mem = json!({ "limit": limit });
    // Without swap accounting (v1 lacking memsw) the swap field cannot be honoured; with it,
    // swap == limit means "no swap", so the OOM killer is what stops the allocation.
    if v2() || PathBuf::from("/sys/fs/cgroup/memory/memory.memsw.limit_in_bytes").exists() {
        mem["swap"] = json!(limit);
    }
    env.config["linux"]["resources"]["memory"] = mem;
    // busybox tail keeps a line it has not finished: /dev/zero has no newline, so it grows
    // until something stops it.
    env.sh("tail /dev/zero; echo $? > /tmp/rc; exec sleep 1000");
    let id = env.id.clone();
    start(&env, &id);
    assert_eq!(
        cg_read(&id, "memory", "memory.limit_in_bytes", "memory.max"),
        limit.to_string()
    );
    unit_has(&id, &[("MemoryMax", &limit.to_string())]);
    assert_eq!(
        env.wait_line("/tmp/rc"),
        "137",
        "tail under a 32M limit must die of SIGKILL"
    );
    let events = if v2() {
        cg_read(&id, "memory", "", "memory.events")
    } else {
        cg_read(&id, "memory", "memory.oom_control", "")
    };
    let kills = keyed(&events, "oom_kill").unwrap_or(0);
    assert!(kills >= 1, "the kernel counted no OOM kill: {events}");
    // The container itself survived the kill of one of its processes.
    assert_eq!(env.status(&id), "running");
    env.exec(&["delete", "--force", &id])
        .assert_ok("delete --force");
    env.assert_no_trace(&id);
}

#[test]
fn pids_limit_caps_a_fork_bomb() {
    let Some(mut env) = setup("forkbomb") else {
        return;
    };
    let limit = 10usize;
    env.config["linux"]["resources"]["pids"] = json!({ "limit": limit });
    // The subshell forks until fork fails, which ends it; echo is a builtin and exec does not
    // fork, so the rest needs no new process.
    env.sh("(while :; do sleep 1000 & done) 2>/dev/null; echo capped > /tmp/done; exec sleep 1000");
    let id = env.id.clone();
    start(&env, &id);
    unit_has(&id, &[("TasksMax", "10")]);
    assert_eq!(env.wait_line("/tmp/done"), "capped");
    let procs = cgroup_procs(&id);
    assert!(
        procs.len() <= limit && procs.len() >= limit - 3,
        "{} processes under pids.max={limit}: {procs:?}",
        procs.len()
    );
    assert_eq!(ps_json(&env, &id), procs, "ps lists the cgroup's processes");
    let events = cg_read(&id, "pids", "pids.events", "pids.events");
    assert!(
        keyed(&events, "max").unwrap_or(0) >= 1,
        "the kernel refused no fork: {events}"
    );
    env.exec(&["delete", "--force", &id])
        .assert_ok("delete --force");
    env.assert_no_trace(&id);
}

#[test]
fn device_rules_deny_and_allow_a_device_inside() {
    let Some(mut env) = setup("device") else {
        return;
    };
    // c 1:12 is a minor of the memory devices that no driver serves: past the device cgroup,
    // open fails with ENXIO; stopped by the cgroup, with EPERM. So the error says who
    // decided, without needing a device that a container may really open.
    env.config["linux"]["devices"] = json!([{
        "path": "/dev/baleia-test", "type": "c", "major": 1, "minor": 12, "fileMode": 0o600
    }]);
    env.sh("if true 2>/tmp/err >>/dev/baleia-test; then echo opened; else cat /tmp/err; fi");
    let denied = env.run_ok();
    assert!(
        denied.contains("Operation not permitted"),
        "the default deny-all must refuse c 1:12: {denied}"
    );
    let mut rules = env.config["linux"]["resources"]["devices"].clone();
    rules
        .as_array_mut()
        .expect("devices is a list")
        .push(json!({ "allow": true, "type": "c", "major": 1, "minor": 12, "access": "rw" }));
    env.config["linux"]["resources"]["devices"] = rules;
    let id = env.new_id("device-allowed");
    let o = env.run_id(&id);
    o.assert_ok("run with the device allowed");
    assert!(
        o.stdout.contains("No such device or address"),
        "with c 1:12 allowed, open must reach the driver (ENXIO): {o}"
    );
    env.assert_no_trace(&env.id);
    env.assert_no_trace(&id);
}

#[test]
fn pause_stops_the_container_and_resume_restarts_it() {
    let Some(mut env) = setup("pause") else {
        return;
    };
    // Written aside and renamed: a pause that lands between the truncate and the write of a
    // plain `echo > tick` would leave the file empty for as long as the container is frozen.
    env.sh("i=0; while :; do i=$((i+1)); echo $i > /tmp/tick.new; mv /tmp/tick.new /tmp/tick; usleep 10000; done");
    let id = env.id.clone();
    start(&env, &id);
    let tick = |env: &Env| -> u64 {
        let mut n = None;
        let start = Instant::now();
        while n.is_none() {
            n = fs::read_to_string(env.rootfs.join("tmp/tick"))
                .ok()
                .and_then(|t| t.trim().parse().ok());
            if n.is_none() && start.elapsed() > DEADLINE {
                // Say what the container was doing, not just that it did not tick.
                let st = env.exec(&["state", &id]);
                let ps = env.exec(&["ps", &id]);
                panic!("timed out waiting for a readable tick: state {st}, ps {ps}");
            }
            // The container reports by rewriting a file: bounded polling.
            std::thread::sleep(Duration::from_millis(10));
        }
        n.unwrap_or(0)
    };
    let first = tick(&env);
    wait_until("the container to tick", || tick(&env) > first);

    env.exec(&["pause", &id]).assert_ok("pause");
    assert_eq!(env.status(&id), "paused");
    if v2() {
        let ev = cg_read(&id, "", "", "cgroup.events");
        assert_eq!(keyed(&ev, "frozen"), Some(1), "{ev}");
    } else {
        assert_eq!(cg_read(&id, "freezer", "freezer.state", ""), "FROZEN");
    }
    // Frozen: a container that ticks every 10 ms does not tick for half a second (a window
    // in which to see that nothing happens, not a synchronisation).
    let paused_at = tick(&env);
    let window = Instant::now();
    while window.elapsed() < Duration::from_millis(500) {
        assert_eq!(tick(&env), paused_at, "the container ran while paused");
        std::thread::sleep(Duration::from_millis(20));
    }
    // runc refuses to pause a paused container.
    env.exec(&["pause", &id])
        .assert_fail("pause of a paused container");

    env.exec(&["resume", &id]).assert_ok("resume");
    assert_eq!(env.status(&id), "running");
    wait_until("the container to tick again", || tick(&env) > paused_at);
    env.exec(&["resume", &id])
        .assert_fail("resume of a running container");

    // delete --force of a paused container must still kill it (the cgroup is thawed or
    // killed through cgroup.kill).
    env.exec(&["pause", &id]).assert_ok("pause again");
    env.exec(&["delete", "--force", &id])
        .assert_ok("delete --force of a paused container");
    env.assert_no_trace(&id);
}

#[test]
fn kill_all_and_delete_force_reach_every_process() {
    let Some(mut env) = setup("killall") else {
        return;
    };
    // Two children, and a grandchild orphaned to the container's init.
    env.sh("sleep 1000 & sleep 1000 & (sleep 1000 &); echo up > /tmp/up; exec sleep 1000");
    let id = env.id.clone();
    let init = start(&env, &id);
    env.wait_line("/tmp/up");
    wait_until("four processes in the cgroup", || {
        cgroup_procs(&id).len() == 4
    });
    let procs = cgroup_procs(&id);
    assert!(procs.contains(&init), "init {init} not in {procs:?}");
    assert_eq!(ps_json(&env, &id), procs);
    // The table form keeps ps's header and one line per process of the container.
    let table = env.exec(&["ps", &id]);
    table.assert_ok("ps");
    let mut lines = table.stdout.lines();
    assert!(lines.next().unwrap_or("").contains("PID"), "{table}");
    assert_eq!(lines.count(), procs.len(), "{table}");

    env.exec(&["kill", "--all", &id, "KILL"])
        .assert_ok("kill --all");
    for p in &procs {
        wait_gone(*p);
    }
    env.wait_status(&id, "stopped");
    env.exec(&["delete", &id]).assert_ok("delete");
    env.assert_no_trace(&id);

    // delete --force of a running container with children: nothing survives.
    let id2 = env.new_id("killall-force");
    start(&env, &id2);
    wait_until("four processes in the cgroup", || {
        cgroup_procs(&id2).len() == 4
    });
    let procs = cgroup_procs(&id2);
    env.exec(&["delete", "--force", &id2])
        .assert_ok("delete --force");
    for p in &procs {
        assert!(!alive(*p), "pid {p} survived delete --force");
    }
    env.assert_no_trace(&id2);
}

#[test]
fn update_changes_live_values_and_their_effect() {
    let Some(mut env) = setup("update") else {
        return;
    };
    env.config["linux"]["resources"]["pids"] = json!({ "limit": 100 });
    env.config["linux"]["resources"]["memory"] = json!({ "limit": 256u64 << 20 });
    env.sh("while [ ! -e /tmp/go ]; do usleep 10000; done; \
         (while :; do sleep 1000 & done) 2>/dev/null; echo forked > /tmp/done; exec sleep 1000");
    let id = env.id.clone();
    start(&env, &id);
    assert_eq!(cg_read(&id, "pids", "pids.max", "pids.max"), "100");
    unit_has(
        &id,
        &[
            ("TasksMax", "100"),
            ("MemoryMax", &(256u64 << 20).to_string()),
        ],
    );

    // runc's per-field flags.
    env.exec(&[
        "update",
        "--pids-limit",
        "6",
        "--memory",
        "64M",
        "--cpu-period",
        "100000",
        "--cpu-quota",
        "50000",
        &id,
    ])
    .assert_ok("update with flags");
    assert_eq!(cg_read(&id, "pids", "pids.max", "pids.max"), "6");
    assert_eq!(
        cg_read(&id, "memory", "memory.limit_in_bytes", "memory.max"),
        (64u64 << 20).to_string()
    );
    if v2() {
        assert_eq!(cg_read(&id, "", "", "cpu.max"), "50000 100000");
    } else {
        assert_eq!(cg_read(&id, "cpu", "cpu.cfs_quota_us", ""), "50000");
        assert_eq!(cg_read(&id, "cpu", "cpu.cfs_period_us", ""), "100000");
    }
    unit_has(
        &id,
        &[
            ("TasksMax", "6"),
            ("MemoryMax", &(64u64 << 20).to_string()),
            ("CPUQuotaPerSecUSec", "500ms"),
            ("CPUQuotaPeriodUSec", "100ms"),
        ],
    );

    // Docker's way: a LinuxResources document; what it omits stays as it was.
    let file = env.dir.join("resources.json");
    fs::write(
        &file,
        json!({ "memory": { "limit": 96u64 << 20 } }).to_string(),
    )
    .expect("write resources.json");
    env.exec(&[
        "update",
        "--resources",
        file.to_str().expect("utf-8 path"),
        &id,
    ])
    .assert_ok("update --resources");
    assert_eq!(
        cg_read(&id, "memory", "memory.limit_in_bytes", "memory.max"),
        (96u64 << 20).to_string()
    );
    assert_eq!(cg_read(&id, "pids", "pids.max", "pids.max"), "6");
    unit_has(
        &id,
        &[
            ("TasksMax", "6"),
            ("MemoryMax", &(96u64 << 20).to_string()),
            ("CPUQuotaPerSecUSec", "500ms"),
        ],
    );

    // A malformed limit changes nothing.
    env.exec(&["update", "--pids-limit", "lots", &id])
        .assert_fail("update with a malformed limit");
    assert_eq!(cg_read(&id, "pids", "pids.max", "pids.max"), "6");
    unit_has(&id, &[("TasksMax", "6")]);

    // The new limit bites: the fork loop now stops at 6 processes.
    fs::write(env.rootfs.join("tmp/go"), "").expect("write go");
    assert_eq!(env.wait_line("/tmp/done"), "forked");
    let procs = cgroup_procs(&id);
    assert!(
        procs.len() <= 6 && procs.len() >= 3,
        "{} processes after update --pids-limit 6: {procs:?}",
        procs.len()
    );

    // A stopped container cannot be updated, and its cgroup keeps its values.
    env.exec(&["kill", "--all", &id, "KILL"])
        .assert_ok("kill --all");
    env.wait_status(&id, "stopped");
    env.exec(&["update", "--pids-limit", "99", &id])
        .assert_fail("update of a stopped container");
    let pids_max = cg_file(&id, "pids", "pids.max", "pids.max");
    if pids_max.exists() {
        assert_eq!(cg_read(&id, "pids", "pids.max", "pids.max"), "6");
    }
    env.exec(&["delete", &id]).assert_ok("delete");
    env.assert_no_trace(&id);
    let unknown = env.new_id("update-unknown");
    env.exec(&["update", "--pids-limit", "5", &unknown])
        .assert_fail("update of an unknown container");
}

#[test]
fn stats_move_when_the_container_works() {
    let Some(mut env) = setup("stats") else {
        return;
    };
    // 16 MiB written to the container's /dev/shm (a tmpfs) are charged to its memory cgroup;
    // the counting loop burns CPU.
    env.sh("while [ ! -e /tmp/go ]; do usleep 10000; done; \
         head -c 16777216 /dev/zero > /dev/shm/ballast; \
         i=0; while [ $i -lt 20000 ]; do i=$((i+1)); done; \
         sleep 1000 & echo done > /tmp/done; exec sleep 1000");
    let id = env.id.clone();
    start(&env, &id);
    let before = stats(&env, &id);
    for key in ["cpu", "memory", "pids"] {
        assert!(before.get(key).is_some(), "no {key} in {before}");
    }
    // The waiting loop's usleep may be alive too.
    let n = before["pids"]["current"].as_u64().unwrap_or(0);
    assert!((1..=2).contains(&n), "{before}");
    fs::write(env.rootfs.join("tmp/go"), "").expect("write go");
    env.wait_line("/tmp/done");
    let after = stats(&env, &id);
    let num = |v: &Value, path: &[&str]| -> u64 {
        let mut x = v;
        for p in path {
            x = &x[*p];
        }
        x.as_u64()
            .unwrap_or_else(|| panic!("{} is not a number in {v}", path.join(".")))
    };
    let cpu = ["cpu", "usage", "total"];
    assert!(
        num(&after, &cpu) > num(&before, &cpu),
        "cpu usage did not move: {} -> {}",
        num(&before, &cpu),
        num(&after, &cpu)
    );
    let mem = ["memory", "usage", "usage"];
    assert!(
        num(&after, &mem) >= num(&before, &mem) + (12 << 20),
        "memory usage did not grow by the 16 MiB the container wrote: {} -> {}",
        num(&before, &mem),
        num(&after, &mem)
    );
    assert_eq!(after["pids"]["current"], 2, "{after}");
    env.exec(&["delete", "--force", &id])
        .assert_ok("delete --force");
    env.assert_no_trace(&id);
}

#[test]
fn delete_of_a_stopped_container_without_pid_namespace_kills_what_is_left() {
    let Some(mut env) = setup("nopidns") else {
        return;
    };
    // Without its own pid namespace the init's death kills nobody: its child lives on in the
    // cgroup, and runc's delete kills it through the cgroup before removing the cgroup.
    let ns = env.config["linux"]["namespaces"]
        .as_array()
        .expect("namespaces is a list")
        .iter()
        .filter(|n| n["type"] != "pid")
        .cloned()
        .collect::<Vec<_>>();
    env.config["linux"]["namespaces"] = json!(ns);
    env.sh("sleep 1000 & echo $! > /tmp/child");
    let id = env.id.clone();
    let init = start(&env, &id);
    let child = env.wait_line("/tmp/child");
    wait_gone(init);
    env.wait_status(&id, "stopped");
    let procs = cgroup_procs(&id);
    assert_eq!(
        procs.len(),
        1,
        "the orphan should be alone in the cgroup: {procs:?}"
    );
    // The container printed the child's pid as it sees it, which is the host's here.
    assert_eq!(procs[0].to_string(), child);
    env.exec(&["delete", &id])
        .assert_ok("delete of the stopped container");
    wait_gone(procs[0]);
    env.assert_no_trace(&id);
}

/// An exec'd process is in the container's cgroup, and the runtime that made it is not: on
/// v2 it is forked into the cgroup (clone3 CLONE_INTO_CGROUP), on v1 it joins by itself.
#[test]
fn exec_runs_in_the_containers_cgroup() {
    let Some(mut env) = setup("cgexec") else {
        return;
    };
    let id = env.id.clone();
    env.set_args(&["sleep", "1000"]);
    let init = start(&env, &id);
    let pid = env.exec_detached(&id, &["sleep", "1000"]);
    let mut want = vec![init, pid];
    want.sort();
    assert_eq!(cgroup_procs(&id), want, "the container's cgroup.procs");
    // An attached one reads its own cgroup (the container has no cgroup namespace here, so
    // the path is the host's).
    let o = env.exec(&["exec", &id, "cat", "/proc/self/cgroup"]);
    o.assert_ok("exec cat /proc/self/cgroup");
    let key = if v2() { "0::" } else { ":pids:" };
    let line = o.stdout.lines().find(|l| l.contains(key));
    let rel = format!("/{}", Env::cgroup_rel(&id));
    assert!(
        line.is_some_and(|l| l.ends_with(&rel)),
        "the exec'd process is not in {rel}: {o}"
    );
    env.exec(&["delete", "--force", &id])
        .assert_ok("delete --force");
    assert!(!alive(pid), "the exec'd process outlived delete --force");
}
