//! create -> start -> stopped as `state` sees it; kill; delete; list.

mod common;

use common::*;
use serde_json::json;
use std::fs;

/// A container that records that it ran, then waits until the test drops /tmp/stop into its rootfs.
fn waiting_container(env: &mut Env) {
    env.sh("touch /tmp/ran; while [ ! -e /tmp/stop ]; do sleep 0.05; done; echo bye");
}

#[test]
fn create_start_stop_as_state_sees_it() {
    let Some(mut env) = setup("life") else { return };
    waiting_container(&mut env);
    env.config["annotations"] = json!({"org.baleia.test": "yes"});
    let id = env.id.clone();
    env.create().assert_ok("create");

    // Created: the init exists but has not run the process.
    let s = env.state(&id);
    assert_eq!(s["status"], "created", "{s}");
    let pid = s["pid"].as_i64().unwrap_or(0) as i32;
    assert!(
        pid > 0 && alive(pid),
        "created container has no live init: {s}"
    );
    assert!(
        !env.rootfs.join("tmp/ran").exists(),
        "the process ran before start"
    );

    // The state JSON has every field an engine reads.
    assert!(
        s["ociVersion"].as_str().is_some_and(|v| v.starts_with('1')),
        "{s}"
    );
    assert_eq!(s["id"], id.as_str(), "{s}");
    assert_eq!(s["bundle"], env.bundle.to_str().unwrap(), "{s}");
    let rootfs = s["rootfs"]
        .as_str()
        .unwrap_or_else(|| panic!("no rootfs: {s}"));
    assert_eq!(
        fs::canonicalize(rootfs).unwrap(),
        fs::canonicalize(&env.rootfs).unwrap(),
        "{s}"
    );
    let created = s["created"]
        .as_str()
        .unwrap_or_else(|| panic!("no created: {s}"));
    assert!(
        created.len() >= 20 && created.as_bytes()[4] == b'-' && created.as_bytes()[10] == b'T',
        "created is not RFC 3339: {created}"
    );
    assert_eq!(s["annotations"]["org.baleia.test"], "yes", "{s}");
    assert!(s["owner"].is_string(), "no owner: {s}");

    // The pid file: the host pid, no trailing newline.
    let pf = fs::read_to_string(env.pid_file(&id)).unwrap();
    assert_eq!(pf, pid.to_string(), "pid file {pf:?} (no newline allowed)");

    env.exec(&["start", &id]).assert_ok("start");
    env.wait_file("/tmp/ran");
    let s = env.state(&id);
    assert_eq!(s["status"], "running", "{s}");
    assert_eq!(s["pid"].as_i64(), Some(pid as i64), "{s}");

    fs::write(env.rootfs.join("tmp/stop"), "").unwrap();
    let s = env.wait_status(&id, "stopped");
    assert_eq!(s["pid"], 0, "a stopped container shows pid 0: {s}");
    // start of a stopped container is an error.
    env.exec(&["start", &id])
        .assert_fail("start of a stopped container");

    env.exec(&["delete", &id]).assert_ok("delete of stopped");
    env.assert_no_trace(&id);
}

#[test]
fn create_fails_for_second_start() {
    let Some(mut env) = setup("start2") else {
        return;
    };
    waiting_container(&mut env);
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["start", &id]).assert_ok("start");
    env.exec(&["start", &id]).assert_fail("second start");
    env.exec(&["delete", "--force", &id])
        .assert_ok("delete --force");
}

/// Each way of naming SIGKILL stops a container whose pid 1 would ignore anything it has no
/// handler for.
#[test]
fn kill_signal_names_and_numbers() {
    for sig in ["SIGKILL", "KILL", "9"] {
        let Some(mut env) = setup("kill") else { return };
        env.sh("exec sleep 1000");
        let id = env.id.clone();
        env.create().assert_ok("create");
        env.exec(&["start", &id]).assert_ok("start");
        let pid = env.state(&id)["pid"].as_i64().unwrap() as i32;
        env.exec(&["kill", &id, sig])
            .assert_ok(&format!("kill {sig}"));
        wait_gone(pid);
        let s = env.wait_status(&id, "stopped");
        assert_eq!(s["pid"], 0, "{s}");
        env.exec(&["delete", &id]).assert_ok("delete");
        env.assert_no_trace(&id);
    }
}

#[test]
fn kill_default_is_sigterm() {
    let Some(mut env) = setup("term") else { return };
    // Exit 0 on TERM, 7 on anything else we might get by mistake.
    env.sh("trap 'echo TERMED > /tmp/sig; exit 0' TERM; trap 'echo OTHER > /tmp/sig; exit 7' INT HUP USR1; \
            touch /tmp/ready; while :; do sleep 0.05; done");
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["start", &id]).assert_ok("start");
    env.wait_file("/tmp/ready");
    env.exec(&["kill", &id]).assert_ok("kill with no signal");
    env.wait_status(&id, "stopped");
    assert_eq!(
        fs::read_to_string(env.rootfs.join("tmp/sig")).unwrap(),
        "TERMED\n"
    );
}

#[test]
fn kill_unknown_signal_fails_and_leaves_container() {
    let Some(mut env) = setup("badsig") else {
        return;
    };
    env.sh("exec sleep 1000");
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["start", &id]).assert_ok("start");
    let o = env.exec(&["kill", &id, "SIGNOTHING"]);
    o.assert_fail("kill with an unknown signal");
    assert!(!o.stderr.trim().is_empty(), "no error message: {o}");
    assert_eq!(env.status(&id), "running");
}

#[test]
fn kill_all_kills_every_process() {
    let Some(mut env) = setup("killall") else {
        return;
    };
    // Children that ignore TERM, and a pid 1 that waits for them.
    env.sh("for i in 1 2 3; do (trap '' TERM; exec sleep 1000) & done; touch /tmp/ready; wait");
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["start", &id]).assert_ok("start");
    env.wait_file("/tmp/ready");
    let procs: Vec<i32> = env
        .cgroup_dirs(&id)
        .iter()
        .filter_map(|d| fs::read_to_string(d.join("cgroup.procs")).ok())
        .flat_map(|p| {
            p.lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .collect();
    let mut procs = procs;
    procs.sort();
    procs.dedup();
    assert!(
        procs.len() >= 4,
        "expected init + 3 children in the cgroup, got {procs:?}"
    );
    env.exec(&["kill", "--all", &id, "KILL"])
        .assert_ok("kill --all");
    for p in &procs {
        wait_gone(*p);
    }
    env.wait_status(&id, "stopped");
    env.exec(&["delete", &id]).assert_ok("delete");
    env.assert_no_trace(&id);
}

#[test]
fn delete_created_container_kills_init() {
    let Some(mut env) = setup("delcreated") else {
        return;
    };
    waiting_container(&mut env);
    let id = env.id.clone();
    env.create().assert_ok("create");
    let pid = env.state(&id)["pid"].as_i64().unwrap() as i32;
    env.exec(&["delete", &id])
        .assert_ok("delete of a created container");
    wait_gone(pid);
    assert!(
        !env.rootfs.join("tmp/ran").exists(),
        "deleting a created container ran its process"
    );
    env.assert_no_trace(&id);
}

#[test]
fn delete_running_needs_force() {
    let Some(mut env) = setup("delrunning") else {
        return;
    };
    env.sh("exec sleep 1000");
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["start", &id]).assert_ok("start");
    let pid = env.state(&id)["pid"].as_i64().unwrap() as i32;
    let o = env.exec(&["delete", &id]);
    o.assert_fail("delete of a running container without --force");
    assert!(alive(pid), "delete without --force killed the container");
    assert_eq!(env.status(&id), "running");
    env.exec(&["delete", "--force", &id])
        .assert_ok("delete --force");
    wait_gone(pid);
    env.assert_no_trace(&id);
    // --force of an id that no longer exists is not an error (containerd relies on it).
    env.exec(&["delete", "--force", &id])
        .assert_ok("delete --force of an unknown id");
}

#[test]
fn list_table_json_quiet() {
    let Some(mut env) = setup("list") else { return };
    waiting_container(&mut env);
    let id = env.id.clone();
    let id2 = env.new_id("list2");
    env.create().assert_ok("create");
    env.create_id(&id2).assert_ok("create second");
    env.exec(&["start", &id2]).assert_ok("start second");

    let o = env.exec(&["list"]);
    o.assert_ok("list");
    let mut lines = o.stdout.lines();
    let header: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert_eq!(
        header,
        ["ID", "PID", "STATUS", "BUNDLE", "CREATED", "OWNER"],
        "{o}"
    );
    let row = |i: &str| {
        o.stdout
            .lines()
            .find(|l| l.split_whitespace().next() == Some(i))
            .unwrap_or_else(|| panic!("no row for {i}: {o}"))
            .split_whitespace()
            .map(str::to_string)
            .collect::<Vec<_>>()
    };
    assert_eq!(row(&id)[2], "created", "{o}");
    assert_eq!(row(&id2)[2], "running", "{o}");
    assert_eq!(row(&id)[3], env.bundle.to_str().unwrap(), "{o}");

    let o = env.exec(&["list", "--format", "json"]);
    o.assert_ok("list --format json");
    let v: serde_json::Value =
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("{e}: {o}"));
    let arr = v.as_array().unwrap_or_else(|| panic!("not an array: {o}"));
    assert_eq!(arr.len(), 2, "{o}");
    let c = arr
        .iter()
        .find(|c| c["id"] == id.as_str())
        .unwrap_or_else(|| panic!("{o}"));
    assert_eq!(c["status"], "created", "{o}");
    assert!(c["pid"].as_i64().unwrap_or(0) > 0, "{o}");
    assert_eq!(c["bundle"], env.bundle.to_str().unwrap(), "{o}");
    assert!(c["created"].is_string() && c["owner"].is_string(), "{o}");

    let o = env.exec(&["list", "-q"]);
    o.assert_ok("list -q");
    let mut ids: Vec<&str> = o.stdout.lines().collect();
    ids.sort();
    let mut want = vec![id.as_str(), id2.as_str()];
    want.sort();
    assert_eq!(ids, want, "{o}");
}
