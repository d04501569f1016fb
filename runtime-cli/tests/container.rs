//! What the container gets: pid 1, hostname, mounts, masked and read-only paths, process
//! attributes, the default /dev.

mod common;

use common::*;
use serde_json::json;
use std::fs;

/// The lines of `KEY=value` pairs the container printed.
fn kv(out: &str, key: &str) -> String {
    out.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}=")))
        .unwrap_or_else(|| panic!("no {key}= in output:\n{out}"))
        .to_string()
}

#[test]
fn pid_1_and_hostname() {
    let Some(mut env) = setup("pid1") else { return };
    env.config["hostname"] = json!("bt-hostname");
    env.sh("echo PID=$$; echo HOST=$(hostname); echo PPID=$PPID");
    let out = env.run_ok();
    assert_eq!(kv(&out, "PID"), "1", "{out}");
    assert_eq!(kv(&out, "HOST"), "bt-hostname", "{out}");
    // In a new pid namespace the init's parent is outside it.
    assert_eq!(kv(&out, "PPID"), "0", "{out}");
}

#[test]
fn domainname() {
    let Some(mut env) = setup("domain") else {
        return;
    };
    if runtime_lacks("domainname", "runc < 1.2") {
        return;
    }
    env.config["domainname"] = json!("bt.example");
    env.sh("echo DOMAIN=$(cat /proc/sys/kernel/domainname)");
    let out = env.run_ok();
    assert_eq!(kv(&out, "DOMAIN"), "bt.example", "{out}");
}

#[test]
fn mounts_tmpfs_bind_ro_bind_proc() {
    let Some(mut env) = setup("mounts") else {
        return;
    };
    let host = env.dir.join("hostdir");
    fs::create_dir_all(&host).unwrap();
    fs::write(host.join("in.txt"), "from-host\n").unwrap();
    let h = host.to_str().unwrap();
    let mounts = env.config["mounts"].as_array_mut().unwrap();
    mounts.push(
        json!({"destination": "/mnt/t", "type": "tmpfs", "source": "tmpfs",
                        "options": ["nosuid", "noexec", "nodev", "size=2m", "mode=0710"]}),
    );
    mounts.push(
        json!({"destination": "/mnt/rw", "type": "bind", "source": h, "options": ["rbind", "rw"]}),
    );
    mounts.push(
        json!({"destination": "/mnt/ro", "type": "bind", "source": h,
                        "options": ["bind", "ro", "nosuid", "noexec", "nodev"]}),
    );
    env.sh("echo MODE=$(stat -c %a /mnt/t); \
         echo IN=$(cat /mnt/rw/in.txt); \
         echo from-container > /mnt/rw/out.txt && echo RW=ok; \
         if touch /mnt/ro/x 2>/dev/null; then echo RO=writable; else echo RO=refused; fi; \
         echo ROIN=$(cat /mnt/ro/in.txt); \
         cat /proc/self/mounts");
    let out = env.run_ok();
    assert_eq!(kv(&out, "MODE"), "710", "{out}");
    assert_eq!(kv(&out, "IN"), "from-host", "{out}");
    assert_eq!(kv(&out, "RW"), "ok", "{out}");
    assert_eq!(
        fs::read_to_string(host.join("out.txt")).unwrap(),
        "from-container\n"
    );
    assert_eq!(kv(&out, "RO"), "refused", "{out}");
    assert_eq!(kv(&out, "ROIN"), "from-host", "{out}");
    assert!(!host.join("x").exists());

    let t = mount_line(&out, "/mnt/t").unwrap_or_else(|| panic!("no /mnt/t mount:\n{out}"));
    assert!(t.starts_with("tmpfs "), "{t}");
    let o = mount_opts(t);
    for want in ["rw", "nosuid", "noexec", "nodev", "size=2048k", "mode=710"] {
        assert!(o.contains(&want), "/mnt/t lacks {want}: {t}");
    }
    let ro = mount_line(&out, "/mnt/ro").unwrap_or_else(|| panic!("no /mnt/ro mount:\n{out}"));
    let o = mount_opts(ro);
    for want in ["ro", "nosuid", "noexec", "nodev"] {
        assert!(o.contains(&want), "/mnt/ro lacks {want}: {ro}");
    }
    let rw = mount_line(&out, "/mnt/rw").unwrap_or_else(|| panic!("no /mnt/rw mount:\n{out}"));
    assert!(mount_opts(rw).contains(&"rw"), "{rw}");
    let proc_ = mount_line(&out, "/proc").unwrap_or_else(|| panic!("no /proc mount:\n{out}"));
    assert!(proc_.starts_with("proc /proc proc "), "{proc_}");
    let sys = mount_line(&out, "/sys").unwrap_or_else(|| panic!("no /sys mount:\n{out}"));
    assert!(mount_opts(sys).contains(&"ro"), "{sys}");
    // The container's root is not the host's: no host-only mount such as our own temp dir.
    assert!(!out.contains(env.dir.to_str().unwrap()), "{out}");
}

#[test]
fn masked_paths() {
    let Some(mut env) = setup("masked") else {
        return;
    };
    fs::create_dir_all(env.rootfs.join("secretdir")).unwrap();
    fs::write(env.rootfs.join("secretdir/key"), "hidden").unwrap();
    fs::write(env.rootfs.join("secret.txt"), "hidden").unwrap();
    let masked = env.config["linux"]["maskedPaths"].as_array_mut().unwrap();
    masked.push(json!("/secretdir"));
    masked.push(json!("/secret.txt"));
    masked.push(json!("/does/not/exist"));
    // /proc/kcore is the classic example, but kernels without CONFIG_PROC_KCORE lack it.
    let Some(pfile) = [
        "/proc/kcore",
        "/proc/timer_list",
        "/proc/keys",
        "/proc/sched_debug",
    ]
    .into_iter()
    .find(|p| std::path::Path::new(p).exists()) else {
        return skip("none of the usual masked /proc files exists on this host");
    };
    env.sh(&format!(
        "echo PFILE=$(wc -c < {pfile}); \
         echo DIR=$(ls -A /secretdir | wc -l); \
         echo FILE=$(wc -c < /secret.txt); \
         if echo x > /secretdir/new 2>/dev/null; then echo DIRW=writable; else echo DIRW=refused; fi"
    ));
    let out = env.run_ok();
    assert_eq!(kv(&out, "PFILE"), "0", "{pfile}: {out}");
    assert_eq!(kv(&out, "DIR"), "0", "{out}");
    assert_eq!(kv(&out, "FILE"), "0", "{out}");
    assert_eq!(kv(&out, "DIRW"), "refused", "{out}");
    // Masking hides, it does not destroy.
    assert_eq!(
        fs::read_to_string(env.rootfs.join("secret.txt")).unwrap(),
        "hidden"
    );
    assert_eq!(
        fs::read_to_string(env.rootfs.join("secretdir/key")).unwrap(),
        "hidden"
    );
}

#[test]
fn readonly_paths() {
    let Some(mut env) = setup("ropaths") else {
        return;
    };
    fs::create_dir_all(env.rootfs.join("rodir")).unwrap();
    fs::write(env.rootfs.join("rodir/f"), "content\n").unwrap();
    env.config["linux"]["readonlyPaths"]
        .as_array_mut()
        .unwrap()
        .push(json!("/rodir"));
    env.sh(
        "if touch /rodir/new 2>/dev/null; then echo RODIR=writable; else echo RODIR=refused; fi; \
         echo READ=$(cat /rodir/f); \
         if echo bt > /proc/sys/kernel/domainname 2>/dev/null; then echo PROCSYS=writable; else echo PROCSYS=refused; fi; \
         touch /tmp/new && echo TMP=ok",
    );
    let out = env.run_ok();
    assert_eq!(kv(&out, "RODIR"), "refused", "{out}");
    assert_eq!(kv(&out, "READ"), "content", "{out}");
    assert_eq!(kv(&out, "PROCSYS"), "refused", "{out}");
    assert_eq!(kv(&out, "TMP"), "ok", "{out}");
    assert!(!env.rootfs.join("rodir/new").exists());
}

#[test]
fn readonly_root() {
    let Some(mut env) = setup("roroot") else {
        return;
    };
    env.config["root"]["readonly"] = json!(true);
    env.sh(
        "if touch /newfile 2>/dev/null; then echo ROOT=writable; else echo ROOT=refused; fi; \
         touch /dev/shm/x && echo SHM=ok; \
         grep ' / ' /proc/self/mounts",
    );
    let out = env.run_ok();
    assert_eq!(kv(&out, "ROOT"), "refused", "{out}");
    assert_eq!(kv(&out, "SHM"), "ok", "{out}");
    let root = mount_line(&out, "/").unwrap_or_else(|| panic!("no / mount:\n{out}"));
    assert!(mount_opts(root).contains(&"ro"), "{root}");
    assert!(!env.rootfs.join("newfile").exists());
}

#[test]
fn env_and_cwd() {
    let Some(mut env) = setup("envcwd") else {
        return;
    };
    env.config["process"]["env"]
        .as_array_mut()
        .unwrap()
        .push(json!("BT_VAR=hello world"));
    env.config["process"]["cwd"] = json!("/root");
    env.sh("echo VAR=$BT_VAR; echo CWD=$(pwd); echo PATHV=$PATH");
    let out = env.run_ok();
    assert_eq!(kv(&out, "VAR"), "hello world", "{out}");
    assert_eq!(kv(&out, "CWD"), "/root", "{out}");
    assert_eq!(
        kv(&out, "PATHV"),
        "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
        "{out}"
    );
}

#[test]
fn user_groups_umask() {
    let Some(mut env) = setup("user") else { return };
    env.config["process"]["user"] =
        json!({"uid": 1000, "gid": 1001, "additionalGids": [2000, 3000], "umask": 0o027});
    env.sh(
        "echo UID=$(id -u); echo GID=$(id -g); echo GROUPS=$(id -G); echo UMASK=$(umask); \
            touch /tmp/f && echo FMODE=$(stat -c %a /tmp/f)",
    );
    let out = env.run_ok();
    assert_eq!(kv(&out, "UID"), "1000", "{out}");
    assert_eq!(kv(&out, "GID"), "1001", "{out}");
    let mut groups: Vec<&str> = kv(&out, "GROUPS").leak().split_whitespace().collect();
    groups.sort();
    assert_eq!(groups, ["1001", "2000", "3000"], "{out}");
    assert_eq!(kv(&out, "UMASK"), "0027", "{out}");
    assert_eq!(kv(&out, "FMODE"), "640", "{out}");
    use std::os::unix::fs::MetadataExt;
    let m = fs::metadata(env.rootfs.join("tmp/f")).unwrap();
    assert_eq!((m.uid(), m.gid()), (1000, 1001));
}

#[test]
fn default_dev() {
    let Some(mut env) = setup("dev") else { return };
    env.sh(
        "for d in null zero full random urandom tty; do \
           if [ -c /dev/$d ]; then echo DEV_$d=$(stat -c %t:%T /dev/$d); else echo DEV_$d=missing; fi; done; \
         for l in fd stdin stdout stderr ptmx; do echo LINK_$l=$(readlink /dev/$l); done; \
         echo x > /dev/null && echo NULLW=ok; \
         echo ZERO=$(head -c 4 /dev/zero | wc -c); \
         [ -d /dev/pts ] && echo PTS=ok; [ -d /dev/shm ] && echo SHM=ok",
    );
    let out = env.run_ok();
    // Major:minor in hex, as stat prints them.
    for (d, mm) in [
        ("null", "1:3"),
        ("zero", "1:5"),
        ("full", "1:7"),
        ("random", "1:8"),
        ("urandom", "1:9"),
        ("tty", "5:0"),
    ] {
        assert_eq!(kv(&out, &format!("DEV_{d}")), mm, "/dev/{d}: {out}");
    }
    assert_eq!(kv(&out, "LINK_fd"), "/proc/self/fd", "{out}");
    assert_eq!(kv(&out, "LINK_stdin"), "/proc/self/fd/0", "{out}");
    assert_eq!(kv(&out, "LINK_stdout"), "/proc/self/fd/1", "{out}");
    assert_eq!(kv(&out, "LINK_stderr"), "/proc/self/fd/2", "{out}");
    assert_eq!(kv(&out, "LINK_ptmx"), "pts/ptmx", "{out}");
    assert_eq!(kv(&out, "NULLW"), "ok", "{out}");
    assert_eq!(kv(&out, "ZERO"), "4", "{out}");
    assert_eq!(kv(&out, "PTS"), "ok", "{out}");
    assert_eq!(kv(&out, "SHM"), "ok", "{out}");
}

#[test]
fn cgroup_exists_while_running_and_is_removed() {
    let Some(mut env) = setup("cgroup") else {
        return;
    };
    env.sh("echo ready; exec sleep 1000");
    env.create().assert_ok("create");
    let dirs = env.cgroup_dirs(&env.id);
    if dirs.is_empty() {
        panic!(
            "no cgroup dir {} on any hierarchy",
            Env::cgroups_path(&env.id)
        );
    }
    // The init is in it (on the pids or the v2 hierarchy, whichever is there).
    let pid = env.state(&env.id)["pid"].as_i64().unwrap();
    let member = dirs.iter().any(|d| {
        fs::read_to_string(d.join("cgroup.procs"))
            .map(|p| p.lines().any(|l| l.trim() == pid.to_string()))
            .unwrap_or(false)
    });
    assert!(member, "init {pid} is in none of {dirs:?}");
    env.exec(&["delete", "--force", &env.id])
        .assert_ok("delete --force");
    env.assert_no_trace(&env.id);
}
