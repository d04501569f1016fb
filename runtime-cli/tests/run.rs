//! `run`: the container's output and exit status reach the caller; signals are forwarded.

mod common;

use common::*;

#[test]
fn run_prints_output_and_passes_exit_code() {
    let Some(mut env) = setup("exit") else { return };
    env.sh("echo hello from the container; echo to-stderr >&2; exit 42");
    let o = env.run();
    assert_eq!(o.code(), 42, "{o}");
    assert_eq!(o.stdout, "hello from the container\n", "{o}");
    assert!(o.stderr.contains("to-stderr"), "{o}");
    // run removes the container once it exits.
    env.assert_no_trace(&env.id);
}

#[test]
fn run_exit_zero() {
    let Some(mut env) = setup("true") else { return };
    env.set_args(&["/bin/true"]);
    let o = env.run();
    assert_eq!(o.code(), 0, "{o}");
}

#[test]
fn run_killed_by_signal_exits_128_plus_n() {
    let Some(mut env) = setup("sig") else { return };
    env.sh("echo ready; exec sleep 1000");
    let b = env.bundle.to_str().unwrap().to_string();
    env.save_for(&env.id);
    let mut r = env.spawn_for(&env.id, &["run", "--bundle", &b, &env.id]);
    r.wait_output("ready");
    env.exec(&["kill", &env.id, "KILL"]).assert_ok("kill KILL");
    let o = r.wait();
    assert_eq!(o.code(), 128 + 9, "{o}");
}

/// The container's pid 1 traps `sig`; the test signals the `run` process itself.
fn forwarded(sig: i32, name: &str, code: i32) {
    let Some(mut env) = setup("fwd") else { return };
    env.sh(&format!(
        "trap 'echo got-{name}; exit {code}' {name}; echo ready; while :; do sleep 0.1; done"
    ));
    let b = env.bundle.to_str().unwrap().to_string();
    env.save_for(&env.id);
    let mut r = env.spawn_for(&env.id, &["run", "--bundle", &b, &env.id]);
    r.wait_output("ready");
    // The trap is set before "ready" is printed, so the signal cannot arrive too early.
    assert_eq!(unsafe { libc::kill(r.pid(), sig) }, 0);
    let o = r.wait();
    assert_eq!(o.code(), code, "{o}");
    assert!(o.stdout.contains(&format!("got-{name}")), "{o}");
}

#[test]
fn run_forwards_sigterm() {
    forwarded(libc::SIGTERM, "TERM", 3);
}

#[test]
fn run_forwards_sigusr1() {
    forwarded(libc::SIGUSR1, "USR1", 4);
}

#[test]
fn run_detach_leaves_container_running() {
    let Some(mut env) = setup("detach") else {
        return;
    };
    env.sh("exec sleep 1000");
    env.save_for(&env.id);
    let b = env.bundle.to_str().unwrap().to_string();
    let o = env.exec(&["run", "--detach", "--bundle", &b, &env.id]);
    o.assert_ok("run --detach");
    let s = env.state(&env.id);
    assert_eq!(s["status"], "running", "{s}");
    let pid = s["pid"].as_i64().unwrap() as i32;
    assert!(alive(pid));
    env.exec(&["delete", "--force", &env.id])
        .assert_ok("delete --force");
    wait_gone(pid);
    env.assert_no_trace(&env.id);
}

/// The container's own memory floor: under a 512 KiB memory limit the init's work inside its
/// cgroup (everything between joining it and execve) still fits, and /bin/true runs. The
/// limit is checked in force first, so that a runtime ignoring it cannot pass.
#[test]
fn true_runs_under_a_512k_memory_limit() {
    let Some(mut env) = setup("floor") else {
        return;
    };
    let limit = 512u64 << 10;
    env.config["linux"]["resources"]["memory"] = serde_json::json!({ "limit": limit });
    env.set_args(&["/bin/true"]);
    let id = env.new_id("floor-created");
    env.create_id(&id)
        .assert_ok("create under a 512 KiB memory limit");
    let dirs = env.cgroup_dirs(&id);
    let file = ["memory.limit_in_bytes", "memory.max"]
        .iter()
        .flat_map(|f| dirs.iter().map(move |d| d.join(f)))
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("no memory limit file in {dirs:?}"));
    let set = std::fs::read_to_string(&file).unwrap_or_default();
    assert_eq!(set.trim(), limit.to_string(), "{}", file.display());
    env.exec(&["start", &id]).assert_ok("start");
    env.wait_status(&id, "stopped");
    env.exec(&["delete", &id]).assert_ok("delete");
    env.assert_no_trace(&id);
    let o = env.run();
    assert_eq!(o.code(), 0, "/bin/true under a 512 KiB limit: {o}");
    env.assert_no_trace(&env.id);
}
