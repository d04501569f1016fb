//! What the init does, and in which order, where runc's order is what users rely on: seccomp
//! without no_new_privs under an old profile, a spec without a mount namespace, unbindable and
//! read-only roots and /dev, --no-pivot's hidden host mounts, cwd permissions for exec, and
//! startContainer hooks under the container's restrictions.

mod common;

use common::*;
use serde_json::json;

/// An allow-list profile of every x86_64 system call Linux 5.4 had (numbers up to clone3's,
/// 435), as many real profiles are: anything newer is refused with EPERM.
fn linux_5_4_profile() -> serde_json::Value {
    let names: Vec<&str> = runtime_core::seccomp::Abi::X86_64
        .syscalls()
        .iter()
        .filter(|(_, nr)| *nr <= 435)
        .map(|(name, _)| *name)
        .collect();
    assert!(
        names.len() > 300,
        "the syscall table looks short: {}",
        names.len()
    );
    json!({
        "defaultAction": "SCMP_ACT_ERRNO",
        "architectures": ["SCMP_ARCH_X86_64"],
        "syscalls": [{"names": names, "action": "SCMP_ACT_ALLOW"}]
    })
}

#[test]
fn a_linux_5_4_profile_without_no_new_privs_runs() {
    let Some(mut env) = setup("sc54") else { return };
    env.config["linux"]["seccomp"] = linux_5_4_profile();
    env.config["process"]["noNewPrivileges"] = json!(false);
    env.sh("echo inside");
    let o = env.run();
    o.assert_ok("run under a Linux 5.4 allow-list without noNewPrivileges");
    assert_eq!(o.stdout.trim(), "inside", "{o}");
    // The filter is really on: a syscall newer than 5.4 (close_range) is refused in there.
    env.config["process"]["noNewPrivileges"] = json!(true);
    env.sh("echo inside-nnp");
    let id = env.new_id("sc54");
    let o = env.run_id(&id);
    o.assert_ok("run under a Linux 5.4 allow-list with noNewPrivileges");
    assert_eq!(o.stdout.trim(), "inside-nnp", "{o}");
}

#[test]
fn exec_under_a_linux_5_4_profile_without_no_new_privs() {
    let Some(mut env) = setup("sc54x") else {
        return;
    };
    env.config["linux"]["seccomp"] = linux_5_4_profile();
    env.config["process"]["noNewPrivileges"] = json!(false);
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["start", &id]).assert_ok("start");
    let o = env.exec(&["exec", &id, "echo", "exec-inside"]);
    o.assert_ok("exec under the profile");
    assert_eq!(o.stdout.trim(), "exec-inside", "{o}");
}

/// The startContainer hook runs in the container after the filter is loaded, as runc runs it:
/// a profile that refuses `mkdir` makes the hook's own mkdir fail.
#[test]
fn start_container_hooks_run_under_the_seccomp_filter() {
    let Some(mut env) = setup("hookflt") else {
        return;
    };
    env.config["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "syscalls": [{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]
    });
    env.config["process"]["noNewPrivileges"] = json!(false);
    env.config["hooks"] = json!({
        "startContainer": [{"path": "/bin/sh", "args": ["sh", "-c", "mkdir /hook-made && echo made > /hook-ok; echo ran > /hook-ran"]}]
    });
    env.sh("echo done");
    let o = env.run();
    o.assert_ok("run with a startContainer hook");
    assert!(
        env.rootfs.join("hook-ran").exists(),
        "the hook did not run: {o}"
    );
    assert!(
        !env.rootfs.join("hook-made").exists(),
        "the hook escaped the seccomp filter: {o}"
    );
}

#[test]
fn a_spec_without_a_mount_namespace_runs_chrooted() {
    let Some(mut env) = setup("nomnt") else {
        return;
    };
    env.config["mounts"] = json!([]);
    env.config["linux"]["namespaces"] = json!([{"type": "pid"}, {"type": "uts"}, {"type": "ipc"}]);
    env.config["linux"]["maskedPaths"] = json!([]);
    env.config["linux"]["readonlyPaths"] = json!([]);
    std::fs::write(env.rootfs.join("inside-marker"), "x").unwrap();
    env.sh("ls /inside-marker && echo $$");
    let before = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    let o = env.run();
    o.assert_ok("run without a mount namespace");
    assert_eq!(
        o.stdout.lines().collect::<Vec<_>>(),
        ["/inside-marker", "1"],
        "{o}"
    );
    let after = std::fs::read_to_string("/proc/self/mountinfo").unwrap();
    assert_eq!(
        before.lines().count(),
        after.lines().count(),
        "host mounts changed"
    );
    // With mounts, the same spec needs a mount namespace: a clear refusal.
    env.config["mounts"] = json!([{"destination": "/proc", "type": "proc", "source": "proc"}]);
    let id = env.new_id("nomnt");
    let o = env.run_id(&id);
    o.assert_fail("mounts without a mount namespace");
    assert!(o.stderr.contains("needs a mount namespace"), "{o}");
    env.assert_no_trace(&id);
}

#[test]
fn rootfs_propagation_unbindable() {
    if runc_known_to_fail("runc 1.1 binds an unbindable root (EINVAL); crun supports it") {
        return;
    }
    let Some(mut env) = setup("unbind") else {
        return;
    };
    env.config["linux"]["rootfsPropagation"] = json!("unbindable");
    env.sh("awk '$5 == \"/\"' /proc/self/mountinfo");
    let o = env.run();
    o.assert_ok("run with rootfsPropagation unbindable");
    assert!(o.stdout.contains("unbindable"), "/ is not unbindable: {o}");
}

#[test]
fn a_read_only_dev_gets_its_content_first() {
    let Some(mut env) = setup("devro") else {
        return;
    };
    let mounts = env.config["mounts"].as_array_mut().unwrap();
    for m in mounts.iter_mut() {
        if m["destination"] == "/dev" {
            m["options"].as_array_mut().unwrap().push(json!("ro"));
        }
    }
    env.sh("ls /dev/null /dev/pts/ptmx /dev/shm >/dev/null && touch /dev/x 2>&1; grep ' /dev ' /proc/self/mountinfo");
    let o = env.run();
    o.assert_ok("run with /dev read-only");
    assert!(
        o.stdout.contains("Read-only file system"),
        "/dev is writable: {o}"
    );
    assert!(o.stdout.contains(" ro,"), "{o}");
}

#[test]
fn no_pivot_hides_the_hosts_procfs_from_a_nested_user_namespace() {
    let Some(mut env) = setup("nopivproc") else {
        return;
    };
    // A user namespace of its own may mount a fresh proc only when a fully visible one is in
    // its mount namespace: the host's /proc under the chroot must be gone. (CAP_SETFCAP lets
    // the nested namespace map root to root since Linux 5.12.)
    let caps = json!(["CAP_SYS_ADMIN", "CAP_SETUID", "CAP_SETGID", "CAP_SETFCAP"]);
    env.config["process"]["capabilities"] =
        json!({"bounding": caps, "effective": caps, "permitted": caps});
    env.sh("mkdir -p /newproc; unshare -r -m -p -f mount -t proc proc /newproc && echo MOUNTED || echo REFUSED");
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    let o = env
        .spawn_for(&id, &["run", "--no-pivot", "--bundle", &b, &id])
        .wait();
    o.assert_ok("run --no-pivot");
    assert!(
        o.stdout.contains("REFUSED"),
        "a nested proc mount was allowed: {o}"
    );
    // The same container with pivot_root, to show the attempt itself works where it may: the
    // refusal above is the kernel's, not a broken command.
    env.sh("mkdir -p /newproc; unshare -r -m mount -t tmpfs t /newproc && echo MOUNTED || echo REFUSED");
    let id = env.new_id("nopivproc");
    let o = env.run_id(&id);
    o.assert_ok("run");
    assert!(
        o.stdout.contains("MOUNTED"),
        "unshare -r does not work here: {o}"
    );
}

#[test]
fn exec_into_a_no_pivot_container_sees_its_root() {
    let Some(mut env) = setup("nopivexec") else {
        return;
    };
    std::fs::write(env.rootfs.join("inside-marker"), "x").unwrap();
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    env.exec(&["create", "--no-pivot", "--bundle", &b, &id])
        .assert_ok("create --no-pivot");
    env.exec(&["start", &id]).assert_ok("start");
    let o = env.exec(&["exec", &id, "ls", "/inside-marker"]);
    o.assert_ok("exec into a --no-pivot container");
    assert_eq!(o.stdout.trim(), "/inside-marker", "{o}");
}

/// `exec --user 0` into a cwd only its owner may enter: runc enters it while the process still
/// holds CAP_DAC_OVERRIDE, so it works.
#[test]
fn exec_as_root_enters_a_cwd_only_its_owner_may() {
    let Some(mut env) = setup("cwd700") else {
        return;
    };
    let d = env.rootfs.join("private");
    std::fs::create_dir_all(&d).unwrap();
    set_mode(&d, 0o700);
    std::os::unix::fs::chown(&d, Some(1000), Some(1000)).unwrap();
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["start", &id]).assert_ok("start");
    let o = env.exec(&["exec", "--user", "0", "--cwd", "/private", &id, "pwd"]);
    o.assert_ok("exec --user 0 --cwd /private");
    assert_eq!(o.stdout.trim(), "/private", "{o}");
}

/// `rro` and the other recursive options reach every mount of a bound tree (mount_setattr with
/// AT_RECURSIVE), where `ro` only makes the top read-only.
#[test]
fn recursive_mount_options_reach_submounts() {
    if runtime_lacks("recursive mount options", "runc < 1.2") {
        return;
    }
    let Some(mut env) = setup("rro") else { return };
    let src = env.dir.join("tree");
    let sub = src.join("sub");
    std::fs::create_dir_all(&sub).unwrap();
    let st = std::process::Command::new("mount")
        .args(["-t", "tmpfs", "baleia-rro"])
        .arg(&sub)
        .status()
        .unwrap();
    assert!(st.success());
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = std::process::Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(sub.clone());
    let mounts = env.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/rec", "type": "bind", "source": src, "options": ["rbind", "rro", "rnosuid"]}));
    mounts.push(
        json!({"destination": "/top", "type": "bind", "source": src, "options": ["rbind", "ro"]}),
    );
    env.sh("touch /rec/sub/x 2>&1 | grep -c Read-only; touch /top/sub/y && echo top-sub-writable; awk '$5 == \"/rec/sub\" {print $6}' /proc/self/mountinfo");
    let o = env.run();
    o.assert_ok("run with rro");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(
        lines.first().copied(),
        Some("1"),
        "/rec/sub is writable: {o}"
    );
    assert_eq!(lines.get(1).copied(), Some("top-sub-writable"), "{o}");
    assert!(
        lines
            .get(2)
            .is_some_and(|l| l.contains("ro") && l.contains("nosuid")),
        "{o}"
    );
}
