//! exec, terminals over --console-socket, and the create options and spec fields the other
//! files do not cover: --no-pivot, --preserve-fds, linux.devices, namespaces joined by path.

mod common;

use common::*;
use serde_json::json;
use std::io::{IoSliceMut, Read};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::os::unix::process::CommandExt;

/// A created-and-started container running `sleep`, for exec tests.
fn sleeping(env: &mut Env) -> String {
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["start", &id]).assert_ok("start");
    id
}

#[test]
fn exec_runs_in_the_containers_namespaces_with_its_exit_status() {
    let Some(mut env) = setup("exec") else { return };
    let id = sleeping(&mut env);
    let o = env.exec(&[
        "exec",
        &id,
        "sh",
        "-c",
        "hostname; cat /proc/1/cmdline | tr '\\0' ' '; echo; exit 7",
    ]);
    assert_eq!(o.code(), 7, "exec exit status: {o}");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.first().copied(), Some("baleia-test"), "{o}");
    assert_eq!(lines.get(1).map(|l| l.trim()), Some("sleep 1000"), "{o}");
}

/// The namespaces the container shares with the host are the exec'd process's too, and its
/// own ones (pid, mount) are joined: root joins every namespace without comparing them first.
#[test]
fn exec_into_a_container_sharing_the_hosts_network_ipc_and_uts() {
    let Some(mut env) = setup("exechost") else {
        return;
    };
    env.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "mount"}]);
    env.config["hostname"] = json!(null);
    let id = sleeping(&mut env);
    let o = env.exec(&[
        "exec",
        &id,
        "sh",
        "-c",
        "for n in net ipc uts pid; do readlink /proc/self/ns/$n; done; \
         cat /proc/1/cmdline | tr '\\0' ' '",
    ]);
    o.assert_ok("exec");
    let link = |name: &str| {
        std::fs::read_link(format!("/proc/self/ns/{name}"))
            .expect("readlink")
            .display()
            .to_string()
    };
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.first().copied(), Some(link("net").as_str()), "{o}");
    assert_eq!(lines.get(1).copied(), Some(link("ipc").as_str()), "{o}");
    assert_eq!(lines.get(2).copied(), Some(link("uts").as_str()), "{o}");
    assert_ne!(lines.get(3).copied(), Some(link("pid").as_str()), "{o}");
    assert_eq!(lines.get(4).map(|l| l.trim()), Some("sleep 1000"), "{o}");
}

#[test]
fn exec_detached_writes_the_pid_file_and_joins_the_cgroup() {
    let Some(mut env) = setup("execd") else {
        return;
    };
    let id = sleeping(&mut env);
    let pid = env.exec_detached(&id, &["sleep", "1000"]);
    let o = env.exec(&["ps", "--format", "json", &id]);
    o.assert_ok("ps");
    let pids: Vec<i32> = serde_json::from_str(o.stdout.trim()).expect("ps json");
    assert!(
        pids.contains(&pid),
        "exec'd pid {pid} not in the cgroup: {pids:?}"
    );
}

#[test]
fn exec_of_a_missing_executable_or_in_a_stopped_container_fails() {
    let Some(mut env) = setup("execbad") else {
        return;
    };
    let id = sleeping(&mut env);
    let o = env.exec(&["exec", &id, "/nonexistent"]);
    o.assert_fail("exec of a missing executable");
    assert!(o.stderr.contains("no such file or directory"), "{o}");
    env.exec(&["kill", &id, "KILL"]).assert_ok("kill");
    env.wait_status(&id, "stopped");
    let o = env.exec(&["exec", &id, "true"]);
    o.assert_fail("exec in a stopped container");
    assert!(o.stderr.contains("stopped"), "{o}");
}

#[test]
fn no_pivot_runs_the_container() {
    let Some(mut env) = setup("nopivot") else {
        return;
    };
    env.sh("test \"$(hostname)\" = baleia-test && echo ok-$$");
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    let o = env
        .spawn_for(&id, &["run", "--no-pivot", "--bundle", &b, &id])
        .wait();
    o.assert_ok("run --no-pivot");
    assert_eq!(o.stdout.trim(), "ok-1", "{o}");
}

#[test]
fn preserve_fds_passes_fd_3_and_nothing_else_leaks() {
    let Some(mut env) = setup("fds") else { return };
    let marker = env.dir.join("marker-file");
    std::fs::write(&marker, "from the host\n").unwrap();
    env.sh("readlink /proc/self/fd/3; ls /proc/self/fd | sort -n | tr '\\n' ' '");
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    let file = std::fs::File::open(&marker).unwrap();
    let raw = file.as_raw_fd();
    let mut c = env.cmd(&["run", "--preserve-fds", "1", "--bundle", &b, &id]);
    c.env("BALEIA_TEST_MARK", &id);
    // SAFETY: dup2 in the child before exec; only async-signal-safe calls.
    unsafe {
        c.pre_exec(move || {
            // dup2 onto itself keeps close-on-exec: clear it explicitly on both copies.
            for target in [3, 9] {
                if (raw != target && libc::dup2(raw, target) < 0)
                    || libc::fcntl(target, libc::F_SETFD, 0) < 0
                {
                    return Err(std::io::Error::last_os_error());
                }
            }
            Ok(())
        });
    }
    let o = env.spawn_cmd(c).wait();
    o.assert_ok("run --preserve-fds 1");
    let mut lines = o.stdout.lines();
    // The host path of the preserved file, as the kernel names it.
    assert_eq!(lines.next(), marker.to_str(), "{o}");
    // 0-2, the preserved 3, and ls's own directory fd; never 9.
    let fds: Vec<&str> = lines.next().unwrap_or("").split_whitespace().collect();
    assert!(fds.starts_with(&["0", "1", "2", "3"]), "fds: {fds:?}");
    assert!(
        !fds.contains(&"9"),
        "fd 9 leaked into the container: {fds:?}"
    );
    drop(file);
}

#[test]
fn linux_devices_are_created_with_their_mode_and_owner() {
    let Some(mut env) = setup("devices") else {
        return;
    };
    env.config["linux"]["devices"] = json!([
        {"path": "/dev/fuse", "type": "c", "major": 10, "minor": 229, "fileMode": 432, "uid": 0, "gid": 5}
    ]);
    env.sh("stat -c '%t %T %a %u %g %F' /dev/fuse");
    let out = env.run_ok();
    assert_eq!(out.trim(), "a e5 660 0 5 character special file", "{out}");
}

#[test]
fn a_namespace_joined_by_path_is_shared() {
    let Some(mut env) = setup("joinns") else {
        return;
    };
    let first = sleeping(&mut env);
    let pid = env.state(&first)["pid"].as_i64().expect("pid") as i32;
    let second = env.new_id("joinns2");
    // The second container joins the first's UTS and network namespaces; it must not set a
    // hostname (that would rename the first container's namespace).
    env.config["hostname"] = json!(null);
    env.config["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "ipc"}, {"type": "mount"},
        {"type": "uts", "path": format!("/proc/{pid}/ns/uts")},
        {"type": "network", "path": format!("/proc/{pid}/ns/net")}
    ]);
    env.sh("hostname; readlink /proc/self/ns/uts; readlink /proc/self/ns/net");
    let o = env.run_id(&second);
    o.assert_ok("run joining namespaces");
    let uts = std::fs::read_link(format!("/proc/{pid}/ns/uts")).unwrap();
    let net = std::fs::read_link(format!("/proc/{pid}/ns/net")).unwrap();
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(
        lines,
        vec!["baleia-test", uts.to_str().unwrap(), net.to_str().unwrap()],
        "{o}"
    );
}

/// Accept one connection and receive the pty master sent with SCM_RIGHTS.
fn receive_master(listener: &UnixListener) -> (Vec<u8>, OwnedFd) {
    use nix::sys::socket::{recvmsg, ControlMessageOwned, MsgFlags};
    let (conn, _) = listener.accept().expect("accept console connection");
    let mut buf = [0u8; 256];
    let mut iov = [IoSliceMut::new(&mut buf)];
    let mut space = nix::cmsg_space!([std::os::fd::RawFd; 2]);
    let msg = recvmsg::<()>(
        conn.as_raw_fd(),
        &mut iov,
        Some(&mut space),
        MsgFlags::empty(),
    )
    .expect("recvmsg");
    let mut fds = Vec::new();
    for c in msg.cmsgs().expect("cmsgs") {
        if let ControlMessageOwned::ScmRights(v) = c {
            fds.extend(v);
        }
    }
    let n = msg.bytes;
    assert_eq!(
        fds.len(),
        1,
        "exactly one fd must come over the console socket"
    );
    // SAFETY: the fd was just received and is owned by nobody else.
    let master = unsafe { OwnedFd::from_raw_fd(fds[0]) };
    (buf[..n].to_vec(), master)
}

fn read_until_eof(master: OwnedFd) -> String {
    let mut f = std::fs::File::from(master);
    let mut out = Vec::new();
    // The slave side closing gives EIO on a pty master: that is our end-of-file.
    let _ = f.read_to_end(&mut out);
    String::from_utf8_lossy(&out).into_owned()
}

#[test]
fn terminal_goes_over_the_console_socket() {
    let Some(mut env) = setup("tty") else { return };
    env.config["process"]["terminal"] = json!(true);
    env.config["process"]["consoleSize"] = json!({"height": 40, "width": 123});
    env.sh("tty; stty size; test -c /dev/console && echo console-ok");
    let id = env.id.clone();
    env.save_for(&id);
    let sock = env.dir.join("console.sock");
    let listener = UnixListener::bind(&sock).expect("bind console socket");
    let b = env.bundle.to_str().unwrap().to_string();
    let create = env.spawn_for(
        &id,
        &[
            "create",
            "--console-socket",
            sock.to_str().unwrap(),
            "--bundle",
            &b,
            &id,
        ],
    );
    let (payload, master) = receive_master(&listener);
    create.wait().assert_ok("create with a terminal");
    assert!(!payload.is_empty(), "the console message carries a payload");
    env.exec(&["start", &id]).assert_ok("start");
    let out = read_until_eof(master);
    let lines: Vec<&str> = out.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(
        lines.first().is_some_and(|l| l.starts_with("/dev/pts/")),
        "{out:?}"
    );
    assert_eq!(lines.get(1).copied(), Some("40 123"), "{out:?}");
    assert_eq!(lines.get(2).copied(), Some("console-ok"), "{out:?}");
}

#[test]
fn terminal_without_console_socket_is_refused_and_leaves_nothing() {
    let Some(mut env) = setup("ttybad") else {
        return;
    };
    env.config["process"]["terminal"] = json!(true);
    let id = env.id.clone();
    let o = env.create();
    o.assert_fail("create with terminal and no console socket");
    assert!(!env.state_dir(&id).exists(), "state dir left behind");
    assert!(env.cgroup_dirs(&id).is_empty(), "cgroup left behind");
}

#[test]
fn exec_with_a_terminal() {
    let Some(mut env) = setup("exectty") else {
        return;
    };
    let id = sleeping(&mut env);
    let sock = env.dir.join("exec-console.sock");
    let listener = UnixListener::bind(&sock).expect("bind console socket");
    let exec = env.spawn(&[
        "exec",
        "--tty",
        "--detach",
        "--console-socket",
        sock.to_str().unwrap(),
        &id,
        "sh",
        "-c",
        "tty",
    ]);
    let (_, master) = receive_master(&listener);
    exec.wait().assert_ok("exec --tty --detach");
    let out = read_until_eof(master);
    assert!(out.trim().starts_with("/dev/pts/"), "{out:?}");
}

#[test]
fn preserve_fds_never_hands_the_runtimes_own_files_to_the_container() {
    if is_runc() {
        // runc 1.1 passes whatever its own process has at fd 3 (e.g. /sys/fs/cgroup).
        skip("runc hands its own fd 3 to the container when the caller has none");
        return;
    }
    let Some(mut env) = setup("fdgap") else {
        return;
    };
    env.sh("readlink /proc/self/fd/3");
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    let mut c = env.cmd(&["run", "--preserve-fds", "1", "--bundle", &b, &id]);
    c.env("BALEIA_TEST_MARK", &id);
    // SAFETY: close in the child before exec.
    unsafe {
        c.pre_exec(|| {
            libc::close(3);
            Ok(())
        });
    }
    let o = env.spawn_cmd(c).wait();
    o.assert_ok("run --preserve-fds 1 without an fd 3");
    assert_eq!(o.stdout.trim(), "/dev/null", "{o}");
}

#[test]
fn a_non_root_process_can_reopen_its_stdio() {
    let Some(mut env) = setup("stdio") else {
        return;
    };
    env.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    env.sh("echo reopened >> /proc/self/fd/1 && echo via-dev-stdout >> /dev/stdout");
    let out = env.run_ok();
    assert_eq!(out, "reopened\nvia-dev-stdout\n");
}

#[test]
fn sysctls_that_would_change_the_host_are_refused() {
    let Some(mut env) = setup("sysctl") else {
        return;
    };
    let before = std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap();
    let other = if before.trim() == "7" { "8" } else { "7" };
    env.config["linux"]["sysctl"] = json!({"vm.swappiness": other});
    let id = env.id.clone();
    let o = env.create();
    o.assert_fail("create with a non-namespaced sysctl");
    assert!(o.stderr.contains("vm.swappiness"), "{o}");
    assert!(!env.state_dir(&id).exists(), "state dir left behind");
    // A network sysctl without a network namespace of its own would be the host's too.
    env.config["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1"});
    env.config["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
    ]);
    env.create()
        .assert_fail("create with net.* and no network namespace");
    assert_eq!(
        std::fs::read_to_string("/proc/sys/vm/swappiness").unwrap(),
        before
    );
    // In its own network namespace the same sysctl is the container's.
    env.config["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}, {"type": "network"}
    ]);
    env.sh("cat /proc/sys/net/ipv4/ip_forward");
    assert_eq!(env.run_ok().trim(), "1");
}

#[test]
fn an_empty_capabilities_object_drops_every_capability_and_a_missing_cwd_is_created() {
    let Some(mut env) = setup("nocaps") else {
        return;
    };
    env.config["process"]["capabilities"] = json!({});
    env.config["process"]["cwd"] = json!("/made/by/runtime");
    env.sh("pwd; grep -E '^Cap(Eff|Prm|Bnd)' /proc/self/status | tr -s '\\t' ' '");
    let out = env.run_ok();
    assert_eq!(
        out,
        "/made/by/runtime\nCapPrm: 0000000000000000\nCapEff: 0000000000000000\nCapBnd: 0000000000000000\n"
    );
}

#[test]
fn an_exec_failure_after_start_is_reported_on_the_containers_stderr() {
    if is_runc() {
        skip("runc 1.1 loses an execve failure that happens after start");
        return;
    }
    let Some(mut env) = setup("latefail") else {
        return;
    };
    // A dynamically linked program whose interpreter the busybox rootfs lacks: found at
    // create, but execve itself fails after start.
    std::fs::copy("/bin/true", env.rootfs.join("dyn-true")).unwrap();
    env.set_args(&["/dyn-true"]);
    let o = env.run();
    o.assert_fail("run of a program that cannot be exec'd");
    assert!(
        o.stderr.contains("exec") && o.stderr.contains("/dyn-true"),
        "the reason must reach stderr: {o}"
    );
}

#[test]
fn containers_sharing_a_cgroup_do_not_kill_each_other() {
    let Some(mut env) = setup("shared") else {
        return;
    };
    let first = sleeping(&mut env);
    let first_pid = env.state(&first)["pid"].as_i64().expect("pid");
    // The second container names the first one's cgroup.
    let second = env.new_id("shared2");
    let shared = Env::cgroups_path(&first);
    let write = |env: &Env, args: serde_json::Value| {
        let mut c = env.config.clone();
        c["process"]["args"] = args;
        c["linux"]["cgroupsPath"] = json!(shared);
        std::fs::write(
            env.bundle.join("config.json"),
            serde_json::to_vec(&c).unwrap(),
        )
        .unwrap();
    };
    let b = env.bundle.to_str().unwrap().to_string();
    write(&env, json!(["/nonexistent"]));
    env.exec(&["create", "--bundle", &b, &second])
        .assert_fail("create with a missing executable");
    write(&env, json!(["sleep", "1000"]));
    env.exec(&["create", "--bundle", &b, &second])
        .assert_ok("create");
    env.exec(&["start", &second]).assert_ok("start");
    env.exec(&["delete", "--force", &second])
        .assert_ok("delete --force");
    let s = env.state(&first);
    assert_eq!(s["status"], "running", "the first container died: {s}");
    assert_eq!(s["pid"].as_i64(), Some(first_pid));
}
