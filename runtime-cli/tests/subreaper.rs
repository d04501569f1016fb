//! `create` leaves no runtime process behind: the init becomes the child of the caller when the
//! caller is a subreaper, exactly as containerd's shim and conmon rely on.
//!
//! Its own test binary: being a subreaper changes how every orphan of this process is reaped, which
//! would make zombies of other tests' containers.

mod common;

use common::*;
use std::fs;

#[test]
fn create_leaves_init_to_the_subreaper_caller() {
    let Some(mut env) = setup("reaper") else {
        return;
    };
    assert_eq!(
        unsafe { libc::prctl(libc::PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) },
        0
    );
    env.sh("exit 5");
    let id = env.id.clone();
    // `exec` waits for the runtime process to exit: when it returns, create is done.
    let o = env.create();
    o.assert_ok("create");
    let pid = env.state(&id)["pid"].as_i64().unwrap() as i32;
    let status = fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let ppid: i32 = status
        .lines()
        .find_map(|l| l.strip_prefix("PPid:"))
        .map(|p| p.trim().parse().unwrap())
        .unwrap();
    assert_eq!(
        ppid,
        std::process::id() as i32,
        "the init's parent is not us: a runtime process is left"
    );
    // Nothing but the init carries the container's id or marker.
    let others: Vec<i32> = env
        .leftover_processes(&id)
        .into_iter()
        .filter(|p| *p != pid)
        .collect();
    assert!(others.is_empty(), "processes besides the init: {others:?}");

    env.exec(&["start", &id]).assert_ok("start");
    // We reap it, and see its exit status.
    let mut st = 0;
    let r = unsafe { libc::waitpid(pid, &mut st, 0) };
    assert_eq!(r, pid);
    assert!(
        libc::WIFEXITED(st) && libc::WEXITSTATUS(st) == 5,
        "wait status {st:#x}"
    );
    env.wait_status(&id, "stopped");
    env.exec(&["delete", &id]).assert_ok("delete");
    env.assert_no_trace(&id);
}
