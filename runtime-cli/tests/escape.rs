//! Attacks on the container's boundary, run for real: fds and a cwd that reach the host
//! (the CVE-2024-21626 class), mount targets swapped for symlinks while the runtime resolves
//! them, procfs on a symlink, and signals to a created container. Each attack is aimed at a
//! scratch directory of the test, never at a real system file.

mod common;

use common::*;
use serde_json::json;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::Command;

/// The open fds of the container's shell, listed by the shell itself (its `[` is a builtin, so
/// no other process and no directory fd of a listing gets in the way).
const LIST_FDS: &str =
    "i=0; while [ $i -lt 256 ]; do [ -e /proc/self/fd/$i ] && printf '%s ' $i; i=$((i+1)); done; echo";

fn fds_of(out: &str) -> Vec<String> {
    out.split_whitespace().map(str::to_string).collect()
}

/// `c` with a host directory leaked to the runtime at fd `at` (not close-on-exec), as a
/// careless caller would.
fn leak_dir(c: &mut Command, dir: &Path, at: i32) -> std::fs::File {
    let f = std::fs::File::open(dir).expect("open the leaked dir");
    let raw = f.as_raw_fd();
    // SAFETY: only dup2/fcntl between fork and exec.
    unsafe {
        c.pre_exec(move || {
            if (raw != at && libc::dup2(raw, at) < 0) || libc::fcntl(at, libc::F_SETFD, 0) < 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    f
}

#[test]
fn run_gives_the_container_only_stdio() {
    let Some(mut env) = setup("fdrun") else {
        return;
    };
    env.sh(LIST_FDS);
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    let mut c = env.cmd(&["run", "--bundle", &b, &id]);
    c.env("BALEIA_TEST_MARK", &id);
    let _leak = leak_dir(&mut c, &env.dir, 7);
    let o = env.spawn_cmd(c).wait();
    o.assert_ok("run");
    assert_eq!(fds_of(&o.stdout), ["0", "1", "2"], "{o}");
}

#[test]
fn create_start_gives_the_container_only_stdio_and_the_passed_fds() {
    let Some(mut env) = setup("fdcs") else { return };
    let out = "/fds";
    // `exec >` rather than a redirected group: ash saves the old stdout of a group at fd 10.
    env.sh(&format!("exec > {out}; {LIST_FDS}"));
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    let mut c = env.cmd(&["create", "--preserve-fds", "1", "--bundle", &b, &id]);
    c.env("BALEIA_TEST_MARK", &id);
    let _passed = leak_dir(&mut c, &env.dir, 3);
    let _leak = leak_dir(&mut c, &env.dir, 9);
    env.spawn_cmd(c).wait().assert_ok("create --preserve-fds 1");
    env.exec(&["start", &id]).assert_ok("start");
    let got = env.wait_line(out);
    assert_eq!(fds_of(&got), ["0", "1", "2", "3"], "{got}");
}

/// Before `start` the init is the runtime's clone: it must already hold nothing of the host's
/// (the state store's lock, the caller's fds), only the exec fifo and its sync socket.
#[test]
fn a_created_init_holds_no_host_fd() {
    let Some(mut env) = setup("fdinit") else {
        return;
    };
    env.set_args(&["true"]);
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    let pf = env.pid_file(&id);
    let mut c = env.cmd(&[
        "create",
        "--pid-file",
        pf.to_str().unwrap(),
        "--bundle",
        &b,
        &id,
    ]);
    c.env("BALEIA_TEST_MARK", &id);
    let _leak = leak_dir(&mut c, &env.dir, 7);
    env.spawn_cmd(c).wait().assert_ok("create");
    let pid = std::fs::read_to_string(&pf).expect("pid file");
    let mut held = Vec::new();
    for e in std::fs::read_dir(format!("/proc/{pid}/fd"))
        .expect("fd dir")
        .flatten()
    {
        let n: i32 = e.file_name().to_string_lossy().parse().unwrap_or(-1);
        let target = std::fs::read_link(e.path())
            .map(|t| t.display().to_string())
            .unwrap_or_default();
        // runc's init is a Go program: its runtime's own epoll and pipes reach nothing.
        let go_runtime =
            is_runc() && (target.starts_with("anon_inode:") || target.starts_with("pipe:"));
        if n > 2 && !target.ends_with("/exec.fifo") && !target.starts_with("socket:") && !go_runtime
        {
            held.push(format!("{n} -> {target}"));
        }
    }
    assert!(held.is_empty(), "the created init holds host fds: {held:?}");
}

#[test]
fn listen_fds_are_passed_and_nothing_else() {
    let Some(mut env) = setup("fdlisten") else {
        return;
    };
    env.sh(&format!("echo $LISTEN_FDS; {LIST_FDS}"));
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    // LISTEN_PID must be the runtime's own pid: a shell sets it and execs the runtime.
    let script = format!(
        "LISTEN_FDS=2 LISTEN_PID=$$ exec {} --root {} run --bundle {b} {id}",
        runtime().display(),
        env.root.display()
    );
    let mut c = Command::new("sh");
    c.args(["-c", &script]).env("BALEIA_TEST_MARK", &id);
    let _a = leak_dir(&mut c, &env.dir, 3);
    let _b = leak_dir(&mut c, &env.dir, 4);
    let _leak = leak_dir(&mut c, &env.dir, 8);
    let o = env.spawn_cmd(c).wait();
    o.assert_ok("run with LISTEN_FDS=2");
    let mut lines = o.stdout.lines();
    assert_eq!(lines.next(), Some("2"), "{o}");
    assert_eq!(
        fds_of(lines.next().unwrap_or("")),
        ["0", "1", "2", "3", "4"],
        "{o}"
    );
}

#[test]
fn exec_gives_the_process_only_stdio_and_the_passed_fds() {
    let Some(mut env) = setup("fdexec") else {
        return;
    };
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["start", &id]).assert_ok("start");
    let mut c = env.cmd(&["exec", &id, "sh", "-c", LIST_FDS]);
    let _leak = leak_dir(&mut c, &env.dir, 6);
    let o = env.spawn_cmd(c).wait();
    o.assert_ok("exec");
    assert_eq!(fds_of(&o.stdout), ["0", "1", "2"], "{o}");
    let mut c = env.cmd(&["exec", "--preserve-fds", "1", &id, "sh", "-c", LIST_FDS]);
    let _passed = leak_dir(&mut c, &env.dir, 3);
    let _leak = leak_dir(&mut c, &env.dir, 6);
    let o = env.spawn_cmd(c).wait();
    o.assert_ok("exec --preserve-fds 1");
    assert_eq!(fds_of(&o.stdout), ["0", "1", "2", "3"], "{o}");
}

/// The attack of CVE-2024-21626: a cwd of /proc/self/fd/N lands in whatever directory the
/// runtime (or its caller) holds at fd N, on the host. The container must never start there.
#[test]
fn a_cwd_through_proc_self_fd_is_refused() {
    let Some(mut env) = setup("cwdfd") else {
        return;
    };
    let host = env.dir.join("host-dir");
    std::fs::create_dir_all(&host).unwrap();
    env.sh("pwd; touch escaped");
    for n in [3, 4, 5, 6, 7, 8] {
        env.config["process"]["cwd"] = json!(format!("/proc/self/fd/{n}"));
        let id = env.new_id("cwdfd");
        env.save_for(&id);
        let b = env.bundle.to_str().unwrap().to_string();
        let mut c = env.cmd(&["run", "--preserve-fds", "1", "--bundle", &b, &id]);
        c.env("BALEIA_TEST_MARK", &id);
        let _passed = leak_dir(&mut c, &host, 3);
        let _leak = leak_dir(&mut c, &host, 7);
        let o = env.spawn_cmd(c).wait();
        o.assert_fail(&format!("run with cwd /proc/self/fd/{n}"));
        assert!(o.stderr.contains("cwd"), "the error must name the cwd: {o}");
        assert!(
            !host.join("escaped").exists(),
            "the container wrote into the host dir: {o}"
        );
        env.assert_no_trace(&id);
    }
}

#[test]
fn exec_with_a_cwd_through_proc_self_fd_is_refused() {
    let Some(mut env) = setup("execcwd") else {
        return;
    };
    let host = env.dir.join("host-dir");
    std::fs::create_dir_all(&host).unwrap();
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["start", &id]).assert_ok("start");
    for n in [3, 5] {
        let cwd = format!("/proc/self/fd/{n}");
        let mut c = env.cmd(&[
            "exec",
            "--preserve-fds",
            "1",
            "--cwd",
            &cwd,
            &id,
            "sh",
            "-c",
            "touch escaped",
        ]);
        let _passed = leak_dir(&mut c, &host, 3);
        let _leak = leak_dir(&mut c, &host, 5);
        let o = env.spawn_cmd(c).wait();
        o.assert_fail(&format!("exec --cwd {cwd}"));
        assert!(o.stderr.contains("cwd"), "the error must name the cwd: {o}");
        assert!(
            !host.join("escaped").exists(),
            "exec wrote into the host dir: {o}"
        );
    }
}

/// A racer swaps a directory of the rootfs with a symlink to a host directory while the
/// runtime creates mount targets under it: nothing may ever be created or mounted outside.
#[test]
fn a_mount_target_swapped_for_a_symlink_stays_inside_the_rootfs() {
    let Some(mut env) = setup("swap") else { return };
    let outside = env.dir.join("outside");
    std::fs::create_dir_all(&outside).unwrap();
    let data = env.rootfs.join("data");
    let link = env.rootfs.join("data-link");
    std::fs::create_dir_all(&data).unwrap();
    std::os::unix::fs::symlink(&outside, &link).unwrap();
    let mounts = env.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/data/a/b", "type": "tmpfs", "source": "tmpfs"}));
    mounts.push(json!({"destination": "/data/c", "type": "tmpfs", "source": "tmpfs"}));
    let host_file = env.dir.join("host-file");
    std::fs::write(&host_file, "host\n").unwrap();
    mounts.push(
        json!({"destination": "/data/f", "type": "bind", "source": host_file, "options": ["bind"]}),
    );
    env.set_args(&["true"]);
    let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let racer = {
        let stop = stop.clone();
        let (a, b) = (
            std::ffi::CString::new(data.to_str().unwrap()).unwrap(),
            std::ffi::CString::new(link.to_str().unwrap()).unwrap(),
        );
        std::thread::spawn(move || {
            while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                // SAFETY: renameat2 on two NUL-terminated paths.
                unsafe {
                    libc::syscall(
                        libc::SYS_renameat2,
                        libc::AT_FDCWD,
                        a.as_ptr(),
                        libc::AT_FDCWD,
                        b.as_ptr(),
                        libc::RENAME_EXCHANGE,
                    );
                }
            }
        })
    };
    let runs = 200;
    let mut escaped = Vec::new();
    for i in 0..runs {
        let id = env.new_id("swap");
        let o = env.run_id(&id);
        let leftover: Vec<_> = std::fs::read_dir(&outside).unwrap().flatten().collect();
        let mounted = std::fs::read_to_string("/proc/self/mountinfo")
            .unwrap()
            .lines()
            .any(|l| l.contains(outside.to_str().unwrap()));
        if !leftover.is_empty() || mounted {
            escaped.push(format!("run {i}: {leftover:?} mounted={mounted}: {o}"));
            for e in leftover {
                let _ =
                    std::fs::remove_dir_all(e.path()).or_else(|_| std::fs::remove_file(e.path()));
            }
        }
        env.assert_no_trace(&id);
    }
    stop.store(true, std::sync::atomic::Ordering::Relaxed);
    racer.join().unwrap();
    assert!(
        escaped.is_empty(),
        "{} of {runs} runs reached outside the rootfs:\n{}",
        escaped.len(),
        escaped.join("\n")
    );
}

#[test]
fn proc_on_a_symlink_is_refused() {
    let Some(mut env) = setup("procln") else {
        return;
    };
    let target = env.dir.join("fake-proc");
    std::fs::create_dir_all(&target).unwrap();
    std::fs::remove_dir_all(env.rootfs.join("proc")).unwrap();
    std::os::unix::fs::symlink(&target, env.rootfs.join("proc")).unwrap();
    env.set_args(&["true"]);
    let o = env.run();
    o.assert_fail("run with /proc a symlink");
    assert!(
        o.stderr.contains("must be mounted on ordinary directory"),
        "{o}"
    );
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(target.to_str().unwrap()));
    assert!(!mounted, "something was mounted on the symlink's target");
    env.assert_no_trace(&env.id);
}

/// A created container's init has not exec'd yet: like runc's, it dies on SIGTERM instead of
/// ignoring it as a pid namespace's init would.
#[test]
fn sigterm_ends_a_created_container() {
    let Some(mut env) = setup("termc") else {
        return;
    };
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["kill", &id, "TERM"]).assert_ok("kill TERM");
    env.wait_status(&id, "stopped");
}
