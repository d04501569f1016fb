//! Behaving as runc where engines, users and other test suites look: the loopback interface of
//! a new network namespace, `kill --all` after the init exited, a terminal proxied to the
//! runtime's own stdio, frozen cgroups, OOM events, hook paths, and command-line details
//! (`update ... -1`, `exec --process` without a user, exit status 255, device access letters,
//! `--debug`).

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::io::{Read, Write};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// A created-and-started container running `sleep`.
fn sleeping(env: &mut Env) -> String {
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["start", &id]).assert_ok("start");
    id
}

fn pure_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// The directory of `file` among container `id`'s cgroup directories.
fn cgroup_file(env: &Env, id: &str, file: &str) -> Option<PathBuf> {
    env.cgroup_dirs(id)
        .into_iter()
        .map(|d| d.join(file))
        .find(|p| p.exists())
}

/// Host pids in container `id`'s cgroup, alive.
fn cgroup_pids(env: &Env, id: &str) -> Vec<i32> {
    let mut pids: Vec<i32> = env
        .cgroup_dirs(id)
        .iter()
        .flat_map(|d| {
            fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse().ok())
                .collect::<Vec<i32>>()
        })
        .filter(|p| alive(*p))
        .collect();
    pids.sort();
    pids.dedup();
    pids
}

// ---------------------------------------------------------------------------------------------
// 2. The loopback interface

/// `ip netns add NAME`, deleted on drop.
struct NetNs(String);

impl NetNs {
    fn add(name: String) -> Option<NetNs> {
        let ok = Command::new("ip")
            .args(["netns", "add", &name])
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        if !ok {
            skip("`ip netns add` failed: cannot make a namespace to join");
            return None;
        }
        Some(NetNs(name))
    }

    fn path(&self) -> String {
        format!("/run/netns/{}", self.0)
    }

    fn lo_line(&self) -> String {
        let o = Command::new("ip")
            .args(["-n", &self.0, "-o", "link", "show", "lo"])
            .output()
            .expect("ip link show");
        String::from_utf8_lossy(&o.stdout).into_owned()
    }
}

impl Drop for NetNs {
    fn drop(&mut self) {
        let _ = Command::new("ip").args(["netns", "del", &self.0]).status();
    }
}

fn lo_is_up(flags: &str) -> bool {
    let v = u32::from_str_radix(flags.trim().trim_start_matches("0x"), 16)
        .unwrap_or_else(|_| panic!("not lo's flags: {flags:?}"));
    v & 1 == 1
}

#[test]
fn loopback_is_up_in_a_new_network_namespace_and_untouched_in_a_joined_one() {
    let Some(mut env) = setup("lo") else { return };
    // A server and a client on 127.0.0.1, as `podman exec web wget http://127.0.0.1:8080/`.
    // httpd backgrounds itself; whether it listens yet can only be seen by trying (bounded).
    env.sh(
        "cat /sys/class/net/lo/flags; mkdir -p /tmp/www; echo hello-lo > /tmp/www/index.html; \
         httpd -p 127.0.0.1:8080 -h /tmp/www; \
         for i in 1 2 3 4 5 6 7 8 9 10; do \
           wget -q -O - http://127.0.0.1:8080/index.html && exit 0; sleep 0.2; done; exit 1",
    );
    let o = env.run();
    let mut lines = o.stdout.lines();
    let flags = lines.next().unwrap_or_else(|| panic!("no flags: {o}"));
    assert!(lo_is_up(flags), "lo is down in a new namespace: {o}");
    assert_eq!(
        lines.next(),
        Some("hello-lo"),
        "no answer on 127.0.0.1: {o}"
    );
    o.assert_ok("run talking to 127.0.0.1");

    // A namespace the container joins belongs to someone else: its lo stays down.
    let Some(ns) = NetNs::add(env.new_id("lons")) else {
        return;
    };
    assert!(
        !ns.lo_line().contains("UP"),
        "lo of a new netns: {}",
        ns.lo_line()
    );
    env.config["linux"]["namespaces"] = json!([
        {"type": "pid"}, {"type": "network", "path": ns.path()}, {"type": "ipc"},
        {"type": "uts"}, {"type": "mount"}
    ]);
    env.sh("cat /sys/class/net/lo/flags");
    let id = env.new_id("lojoin");
    let o = env.run_id(&id);
    o.assert_ok("run in a joined network namespace");
    assert!(
        !lo_is_up(&o.stdout),
        "lo of the joined namespace was brought up: {o}"
    );
    let after = ns.lo_line();
    assert!(!after.contains(",UP") && !after.contains("<UP"), "{after}");
}

/// baleia makes a new network namespace on a thread of its own while create prepares the rest,
/// and the init joins it: at the GO that says the (v1) cgroup is made, or like a namespace named
/// by path (v2, and the two-step spawn of a container joining another's pid namespace, below).
/// Either way each container must have one of its own, fresh (only `lo`, and up).
#[test]
fn each_container_gets_a_fresh_network_namespace_of_its_own() {
    let Some(mut env) = setup("ownnet") else {
        return;
    };
    let host = fs::read_link("/proc/self/ns/net").expect("our netns");
    let pod = sleeping(&mut env);
    let pod_pid = env.state(&pod)["pid"].as_i64().expect("pid");
    let pod_net = fs::read_link(format!("/proc/{pod_pid}/ns/net")).expect("the pod's netns");
    assert_ne!(
        pod_net, host,
        "the container shares the host's network namespace"
    );
    let devices = |pid: i64| -> Vec<String> {
        let mut d: Vec<String> = fs::read_dir(format!("/proc/{pid}/root/sys/class/net"))
            .expect("the container's /sys/class/net")
            .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
            .collect();
        d.sort();
        d
    };
    assert_eq!(devices(pod_pid), ["lo"], "not a fresh network namespace");

    let ctr = env.new_id("ownnetc");
    env.config["linux"]["namespaces"] = json!([
        {"type": "pid", "path": format!("/proc/{pod_pid}/ns/pid")}, {"type": "network"},
        {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
    ]);
    env.sh("readlink /proc/self/ns/net; ls /sys/class/net; cat /sys/class/net/lo/flags");
    let o = env.run_id(&ctr);
    o.assert_ok("run joining the pod's pid namespace");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{o}");
    assert_ne!(Path::new(lines[0]), host, "shares the host's netns: {o}");
    assert_ne!(Path::new(lines[0]), pod_net, "shares the pod's netns: {o}");
    assert_eq!(lines[1], "lo", "not a fresh network namespace: {o}");
    assert!(lo_is_up(lines[2]), "lo is down: {o}");
    env.assert_no_trace(&ctr);
}

// ---------------------------------------------------------------------------------------------
// 4. kill --all on a stopped container

#[test]
fn kill_all_signals_what_a_stopped_containers_cgroup_still_holds() {
    let Some(mut env) = setup("killall") else {
        return;
    };
    // The "pod": its pid namespace is shared, as Kubernetes shares a pod's.
    let pod = sleeping(&mut env);
    let pod_pid = env.state(&pod)["pid"].as_i64().expect("pid");
    // The container's init leaves a child behind and exits.
    let ctr = env.new_id("killallc");
    env.config["linux"]["namespaces"] = json!([
        {"type": "pid", "path": format!("/proc/{pod_pid}/ns/pid")}, {"type": "network"},
        {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
    ]);
    env.sh("sleep 1000 & exit 0");
    env.create_id(&ctr).assert_ok("create");
    env.exec(&["start", &ctr]).assert_ok("start");
    env.wait_status(&ctr, "stopped");
    let left = cgroup_pids(&env, &ctr);
    assert_eq!(
        left.len(),
        1,
        "the init's child should still be in the cgroup"
    );

    // Signal 0 probes, and a plain kill of a stopped container is still refused.
    env.exec(&["kill", "--all", &ctr, "0"])
        .assert_ok("kill --all <stopped> 0");
    let o = env.exec(&["kill", &ctr, "KILL"]);
    o.assert_fail("kill of a stopped container's init");
    assert!(o.stderr.contains("container not running"), "{o}");
    assert!(alive(left[0]), "signal 0 or a refused kill must not kill");

    env.exec(&["kill", "--all", &ctr, "KILL"])
        .assert_ok("kill --all <stopped> KILL");
    wait_gone(left[0]);
    env.exec(&["delete", &ctr]).assert_ok("delete");
    env.assert_no_trace(&ctr);
    assert_eq!(env.status(&pod), "running", "the pod must survive");
}

// ---------------------------------------------------------------------------------------------
// 6. A terminal without --console-socket

/// The runtime on a fresh pty as its stdio and controlling terminal (as in a user's shell),
/// with what it prints collected by a reader thread.
struct PtySession {
    master: std::fs::File,
    slave: OwnedFd,
    /// The local modes of the caller's terminal before the runtime started.
    before: libc::tcflag_t,
    /// Shell prompts seen so far.
    prompts: usize,
    output: Arc<Mutex<Vec<u8>>>,
    child: std::process::Child,
}

fn set_winsize(fd: i32, rows: u16, cols: u16) {
    let ws = libc::winsize {
        ws_row: rows,
        ws_col: cols,
        ws_xpixel: 0,
        ws_ypixel: 0,
    };
    // SAFETY: TIOCSWINSZ reads one winsize.
    assert_eq!(unsafe { libc::ioctl(fd, libc::TIOCSWINSZ, &ws) }, 0);
}

fn lflag(fd: &OwnedFd) -> libc::tcflag_t {
    // SAFETY: tcgetattr fills one termios.
    unsafe {
        let mut t: libc::termios = std::mem::zeroed();
        assert_eq!(libc::tcgetattr(fd.as_raw_fd(), &mut t), 0);
        t.c_lflag
    }
}

impl PtySession {
    fn start(env: &Env, id: &str, args: &[&str]) -> PtySession {
        let pty = nix::pty::openpty(None, None).expect("openpty");
        set_winsize(pty.master.as_raw_fd(), 33, 111);
        let before = lflag(&pty.slave);
        let mut c = Command::new(runtime());
        c.arg("--root").arg(&env.root).args(args);
        c.env("BALEIA_TEST_MARK", id);
        let io = |fd: &OwnedFd| Stdio::from(fd.try_clone().expect("dup"));
        c.stdin(io(&pty.slave))
            .stdout(io(&pty.slave))
            .stderr(io(&pty.slave));
        // SAFETY: setsid and TIOCSCTTY in the child before exec.
        unsafe {
            c.pre_exec(|| {
                if libc::setsid() < 0 || libc::ioctl(0, libc::TIOCSCTTY, 0) < 0 {
                    return Err(std::io::Error::last_os_error());
                }
                Ok(())
            });
        }
        let child = c.spawn().expect("spawn the runtime on a pty");
        let master = std::fs::File::from(pty.master);
        let output = Arc::new(Mutex::new(Vec::new()));
        let mut reader = master.try_clone().expect("dup master");
        let sink = output.clone();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // EIO once every slave fd is closed: the session is over.
            while let Ok(n) = reader.read(&mut buf) {
                if n == 0 {
                    break;
                }
                sink.lock().unwrap().extend_from_slice(&buf[..n]);
            }
        });
        PtySession {
            master,
            slave: pty.slave,
            before,
            prompts: 0,
            output,
            child,
        }
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.output.lock().unwrap()).replace('\r', "")
    }

    fn type_line(&mut self, line: &str) {
        self.master
            .write_all(format!("{line}\n").as_bytes())
            .expect("type into the pty");
    }

    /// Bounded wait for the shell's next prompt (`/ # `): it reads its terminal now, as a
    /// user would see before typing.
    fn prompt(&mut self) {
        self.prompts += 1;
        let n = self.prompts;
        self.wait_for(&format!("prompt #{n}"), |t| t.matches("/ # ").count() >= n);
    }

    /// Bounded wait until the session printed `needle` on a line of its own.
    fn wait_line(&mut self, needle: &str) {
        self.wait_for(needle, |t| t.lines().any(|l| l.trim() == needle));
    }

    fn has_line(&self, needle: &str) -> bool {
        self.text().lines().any(|l| l.trim() == needle)
    }

    fn wait_for(&mut self, needle: &str, done: impl Fn(&str) -> bool) {
        let start = Instant::now();
        while !done(&self.text()) {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "exited ({st:?}) before printing {needle:?}: {}",
                    self.text()
                );
            }
            assert!(
                start.elapsed() < DEADLINE,
                "never printed {needle:?}: {}",
                self.text()
            );
            // The output arrives through the reader thread: bounded polling.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (bounded) for the runtime to exit: its status, what it printed, and whether the
    /// caller's terminal got its settings back.
    fn wait(mut self) -> (i32, String) {
        if !wait_exit(self.child.id() as i32, DEADLINE) {
            let _ = self.child.kill();
            panic!("the runtime hung on its terminal: {}", self.text());
        }
        let st = self.child.wait().unwrap();
        let code = st
            .code()
            .unwrap_or_else(|| panic!("killed: {st:?} {}", self.text()));
        let out = self.text();
        let after = lflag(&self.slave);
        assert_eq!(
            self.before, after,
            "the caller's terminal settings were not restored: {out}"
        );
        assert_ne!(after & libc::ICANON, 0, "left in raw mode: {out}");
        (code, out)
    }
}

#[test]
fn run_with_a_terminal_proxies_it_to_the_runtimes_stdio() {
    let Some(mut env) = setup("runtty") else {
        return;
    };
    env.config["process"]["terminal"] = json!(true);
    env.set_args(&["sh"]);
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    let mut s = PtySession::start(&env, &id, &["run", "--bundle", &b, &id]);
    s.prompt();
    s.type_line("stty size; tty");
    // The size the caller's terminal had, and a terminal of the container's own.
    s.wait_line("33 111");
    s.prompt();
    // A resize reaches the container (SIGWINCH to the runtime, copied to its terminal). The
    // copy is asynchronous to the shell: ask again, a bounded number of times.
    set_winsize(s.master.as_raw_fd(), 44, 122);
    for _ in 0..50 {
        s.type_line("stty size");
        s.prompt();
        if s.has_line("44 122") {
            break;
        }
    }
    // The last words before the exit must not be lost.
    s.type_line("echo hi; exit 3");
    let (code, out) = s.wait();
    assert_eq!(code, 3, "exit status not passed through: {out}");
    assert!(out.lines().any(|l| l.trim() == "hi"), "{out}");
    assert!(
        out.lines().any(|l| l.trim() == "44 122"),
        "no resize: {out}"
    );
    assert!(
        out.lines().any(|l| l.trim().starts_with("/dev/pts/")),
        "{out}"
    );
    env.assert_no_trace(&id);
}

#[test]
fn exec_with_a_terminal_proxies_it_to_the_runtimes_stdio() {
    let Some(mut env) = setup("exectty2") else {
        return;
    };
    let id = sleeping(&mut env);
    let mut s = PtySession::start(&env, &id, &["exec", "-t", &id, "sh"]);
    s.prompt();
    s.type_line("stty size; echo hi");
    s.wait_line("hi");
    s.prompt();
    s.type_line("exit 3");
    let (code, out) = s.wait();
    assert_eq!(code, 3, "exit status not passed through: {out}");
    assert!(out.lines().any(|l| l.trim() == "hi"), "{out}");
    assert!(out.lines().any(|l| l.trim() == "33 111"), "{out}");
    assert_eq!(env.status(&id), "running");
}

// ---------------------------------------------------------------------------------------------
// 8. A frozen cgroup

/// A cgroup frozen by someone else (made, frozen, thawed and removed by the test).
struct FrozenCgroup {
    rel: String,
    dir: PathBuf,
    file: &'static str,
    thawed: &'static str,
}

impl FrozenCgroup {
    fn make(rel: &str) -> FrozenCgroup {
        let (dir, file, frozen, thawed) = if pure_v2() {
            (
                Path::new("/sys/fs/cgroup").join(rel),
                "cgroup.freeze",
                "1",
                "0",
            )
        } else {
            (
                Path::new("/sys/fs/cgroup/freezer").join(rel),
                "freezer.state",
                "FROZEN",
                "THAWED",
            )
        };
        fs::create_dir_all(&dir).unwrap();
        fs::write(dir.join(file), frozen).unwrap();
        FrozenCgroup {
            rel: rel.to_string(),
            dir,
            file,
            thawed,
        }
    }

    fn still_frozen(&self) -> bool {
        let s = fs::read_to_string(self.dir.join(self.file)).unwrap_or_default();
        self.dir.is_dir() && s.trim() != self.thawed && s.trim() != ""
    }
}

impl Drop for FrozenCgroup {
    fn drop(&mut self) {
        let _ = fs::write(self.dir.join(self.file), self.thawed);
        // A runtime that went ahead and hung left its init in a child cgroup on every
        // hierarchy: it can die now that it is thawed.
        let children = cgroup_dirs_of(&format!("{}/child", self.rel));
        for d in &children {
            for pid in fs::read_to_string(d.join("cgroup.procs"))
                .unwrap_or_default()
                .lines()
                .filter_map(|l| l.trim().parse::<i32>().ok())
            {
                // SAFETY: kill(2) has no memory effects.
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
        }
        for d in children.into_iter().chain([self.dir.clone()]) {
            for _ in 0..50 {
                if fs::remove_dir(&d).is_ok() || !d.exists() {
                    break;
                }
                // rmdir is EBUSY while a killed process is on its way out: bounded retry.
                std::thread::sleep(Duration::from_millis(20));
            }
        }
    }
}

#[test]
fn run_and_create_refuse_a_frozen_cgroup_without_hanging() {
    let Some(mut env) = setup("frozen") else {
        return;
    };
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    let frozen = FrozenCgroup::make(Env::cgroups_path(&id).trim_start_matches('/'));
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    for args in [
        &["run", "-d", "--bundle", &b, &id][..],
        &["create", "--bundle", &b, &id],
    ] {
        let o = env.spawn_for(&id, args).wait();
        o.assert_fail(&format!("{} into a frozen cgroup", args[0]));
        assert!(o.stderr.contains("unexpectedly frozen"), "{o}");
        if !is_runc() {
            assert!(
                o.stderr.contains(frozen.dir.to_str().unwrap()),
                "the error must name the cgroup: {o}"
            );
        }
        assert!(!env.state_dir(&id).exists(), "state dir left behind");
        assert!(
            env.leftover_processes(&id).is_empty(),
            "processes left behind"
        );
        assert!(frozen.still_frozen(), "someone else's cgroup was changed");
        if !pure_v2() {
            // Nothing created on the other hierarchies either.
            assert_eq!(env.cgroup_dirs(&id), vec![frozen.dir.clone()]);
        }
    }
}

#[test]
fn run_under_a_frozen_parent_cgroup_is_refused() {
    if runc_known_to_fail("runc 1.1 checks only the container's own cgroup and hangs") {
        return;
    }
    let Some(mut env) = setup("frozenp") else {
        return;
    };
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    let parent = Env::cgroups_path(&id);
    let frozen = FrozenCgroup::make(parent.trim_start_matches('/'));
    env.save_for(&id);
    let cfg = env.bundle.join("config.json");
    let mut c: Value = serde_json::from_slice(&fs::read(&cfg).unwrap()).unwrap();
    c["linux"]["cgroupsPath"] = json!(format!("{parent}/child"));
    fs::write(&cfg, serde_json::to_vec(&c).unwrap()).unwrap();
    let b = env.bundle.to_str().unwrap().to_string();
    let o = env
        .spawn_for(&id, &["run", "-d", "--bundle", &b, &id])
        .wait();
    o.assert_fail("run -d under a frozen parent");
    assert!(o.stderr.contains("unexpectedly frozen"), "{o}");
    assert!(!env.state_dir(&id).exists(), "state dir left behind");
    assert!(env.leftover_processes(&id).is_empty(), "processes left");
    assert!(
        !frozen.dir.join("child").exists(),
        "child cgroup left behind"
    );
}

// ---------------------------------------------------------------------------------------------
// 9. OOM events

#[test]
fn events_reports_an_oom_kill_and_ends_when_the_container_is_deleted() {
    let Some(mut env) = setup("oom") else { return };
    let limit = 32 << 20;
    env.config["linux"]["resources"]["memory"] = json!({"limit": limit, "swap": limit});
    // dd's 64 MiB buffer is filled from /dev/zero: the memory cgroup kills it.
    env.sh("dd if=/dev/zero of=/dev/null bs=64M count=1; sleep 1000");
    let id = env.id.clone();
    env.create().assert_ok("create");
    let mut events = env.spawn(&["events", "--interval", "200ms", &id]);
    // A stats event means the watch is armed.
    events.wait_output("\"stats\"");
    env.exec(&["start", &id]).assert_ok("start");
    events.wait_output("\"oom\"");
    let line = events
        .stdout_now()
        .lines()
        .find(|l| l.contains("\"oom\""))
        .map(str::to_string)
        .unwrap();
    let v: Value = serde_json::from_str(&line).unwrap_or_else(|e| panic!("{e}: {line}"));
    assert_eq!(v, json!({"type": "oom", "id": id}), "runc's shape");
    env.exec(&["delete", "--force", &id])
        .assert_ok("delete --force");
    let pid = events.pid();
    assert!(
        wait_exit(pid, Duration::from_secs(10)),
        "events did not end after delete"
    );
    let o = events.wait();
    o.assert_ok("events after delete");
}

// ---------------------------------------------------------------------------------------------
// 10. Hooks: relative paths and files are the bundle's

/// A hook script at `hooks/record` in the bundle that writes its cwd to `./lib/<kind>`.
fn relative_hooks(env: &mut Env, kinds: &[&str]) {
    fs::create_dir_all(env.bundle.join("hooks")).unwrap();
    fs::create_dir_all(env.bundle.join("lib")).unwrap();
    let script = env.bundle.join("hooks/record");
    fs::write(&script, "#!/bin/sh\npwd > \"./lib/$1\"\n").unwrap();
    set_mode(&script, 0o755);
    let mut hooks = serde_json::Map::new();
    for k in kinds {
        hooks.insert(
            k.to_string(),
            json!([{"path": "hooks/record", "args": ["record", k]}]),
        );
    }
    env.config["hooks"] = Value::Object(hooks);
}

fn assert_ran_in_bundle(env: &Env, kinds: &[&str]) {
    let bundle = fs::canonicalize(&env.bundle).unwrap();
    for k in kinds {
        let f = env.bundle.join("lib").join(k);
        let cwd = fs::read_to_string(&f)
            .unwrap_or_else(|e| panic!("the {k} hook did not write ./lib/{k} in the bundle: {e}"));
        assert_eq!(Path::new(cwd.trim()), bundle, "{k} hook's cwd");
    }
}

#[test]
fn runtime_hooks_resolve_relative_paths_and_files_in_the_bundle() {
    let Some(mut env) = setup("hookrel") else {
        return;
    };
    let kinds = ["prestart", "createRuntime", "poststart", "poststop"];
    relative_hooks(&mut env, &kinds);
    env.sh("true");
    env.run().assert_ok("run with relative hooks");
    assert_ran_in_bundle(&env, &kinds);
}

#[test]
fn start_and_delete_run_their_hooks_from_the_bundle_whatever_the_callers_cwd() {
    if runc_known_to_fail("runc runs delete's poststop hooks from the caller's cwd") {
        return;
    }
    let Some(mut env) = setup("hookcwd") else {
        return;
    };
    let kinds = ["poststart", "poststop"];
    relative_hooks(&mut env, &kinds);
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    // Each command from another directory, as a shim or a user in their home would.
    let elsewhere = env.dir.clone();
    let from = |args: &[&str]| {
        let mut c = env.cmd(args);
        c.current_dir(&elsewhere).env("BALEIA_TEST_MARK", &id);
        env.spawn_cmd(c).wait()
    };
    from(&["create", "--bundle", &b, &id]).assert_ok("create");
    from(&["start", &id]).assert_ok("start");
    from(&["delete", "--force", &id]).assert_ok("delete");
    assert_ran_in_bundle(&env, &kinds);
}

// ---------------------------------------------------------------------------------------------
// 13. Command-line details

#[test]
fn update_accepts_minus_one_for_unlimited() {
    let Some(mut env) = setup("upd1") else { return };
    env.config["linux"]["resources"]["memory"] = json!({"limit": 64 << 20, "swap": 64 << 20});
    env.config["linux"]["resources"]["cpu"] = json!({"quota": 50000, "period": 100000});
    let id = sleeping(&mut env);
    env.exec(&[
        "update",
        "--memory",
        "-1",
        "--memory-swap",
        "-1",
        "--cpu-quota",
        "-1",
        &id,
    ])
    .assert_ok("update with -1 values");
    let read = |f: &str| {
        let p = cgroup_file(&env, &id, f).unwrap_or_else(|| panic!("no {f}"));
        fs::read_to_string(p).unwrap().trim().to_string()
    };
    if pure_v2() {
        assert_eq!(read("memory.max"), "max");
        assert_eq!(read("memory.swap.max"), "max");
        assert!(read("cpu.max").starts_with("max "), "{}", read("cpu.max"));
    } else {
        let unlimited = |v: String| v.parse::<u64>().map(|n| n >= 1 << 62).unwrap_or(false);
        assert!(unlimited(read("memory.limit_in_bytes")));
        if cgroup_file(&env, &id, "memory.memsw.limit_in_bytes").is_some() {
            assert!(unlimited(read("memory.memsw.limit_in_bytes")));
        }
        assert_eq!(read("cpu.cfs_quota_us"), "-1");
    }
}

#[test]
fn exec_process_file_without_a_user_runs_as_root() {
    let Some(mut env) = setup("nouser") else {
        return;
    };
    // The container's own user is not root: the default must come from the file, not it.
    env.config["process"]["user"] = json!({"uid": 65534, "gid": 65534});
    let id = sleeping(&mut env);
    let pf = env.dir.join("process.json");
    fs::write(
        &pf,
        serde_json::to_vec(&json!({
            "args": ["sh", "-c", "id -u; id -g"],
            "cwd": "/",
            "env": ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"]
        }))
        .unwrap(),
    )
    .unwrap();
    let o = env.exec(&["exec", "--process", pf.to_str().unwrap(), &id]);
    o.assert_ok("exec --process without user");
    assert_eq!(o.stdout, "0\n0\n", "{o}");
}

#[test]
fn exec_failures_exit_255_and_leave_no_process() {
    let Some(mut env) = setup("exec255") else {
        return;
    };
    let id = sleeping(&mut env);
    let before = cgroup_pids(&env, &id);
    let missing = env.dir.join("no/such/dir/exec.pid");
    let o = env.exec(&[
        "exec",
        "--detach",
        "--pid-file",
        missing.to_str().unwrap(),
        &id,
        "sleep",
        "999",
    ]);
    assert_eq!(o.code(), 255, "exec --pid-file into a missing dir: {o}");
    assert!(o.stderr.contains("exec failed"), "{o}");
    // The process nobody was told about must not stay.
    let start = Instant::now();
    while cgroup_pids(&env, &id) != before {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "exec'd process left behind: {:?}",
            cgroup_pids(&env, &id)
        );
        // It was killed; it takes a moment to leave the cgroup.
        std::thread::sleep(Duration::from_millis(20));
    }
    env.exec(&["pause", &id]).assert_ok("pause");
    let o = env.exec(&["exec", &id, "true"]);
    assert_eq!(o.code(), 255, "exec into a paused container: {o}");
    assert!(o.stderr.contains("paused"), "{o}");
    env.exec(&["resume", &id]).assert_ok("resume");
}

#[test]
fn device_access_letters_other_than_rwm_are_ignored_with_a_warning() {
    let Some(mut env) = setup("rwa") else { return };
    env.config["linux"]["devices"] =
        json!([{"path": "/dev/kmsg", "type": "c", "major": 1, "minor": 11}]);
    env.config["linux"]["resources"]["devices"] = json!([
        {"allow": false, "access": "rwm"},
        {"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rwa"}
    ]);
    // Opening for writing needs the "w" of the rule (and writes nothing).
    env.sh("exec 3>/dev/kmsg && echo writable");
    let o = env.run();
    o.assert_ok("run with access \"rwa\"");
    assert_eq!(o.stdout, "writable\n", "{o}");
    if !is_runc() {
        assert!(
            o.stderr.contains("level=warning") && o.stderr.contains("rwa"),
            "{o}"
        );
    }
    // And what is left of the letters still counts: without "w" the open is refused.
    env.config["linux"]["resources"]["devices"][1]["access"] = json!("rxa");
    let id = env.new_id("rxa");
    let o = env.run_id(&id);
    assert!(!o.stdout.contains("writable"), "{o}");
}

#[test]
fn debug_logs_what_the_runtime_does() {
    let Some(mut env) = setup("debug") else {
        return;
    };
    env.sh("true");
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    let log = env.dir.join("debug.json");
    let o = env
        .spawn_for(
            &id,
            &[
                "--debug",
                "--log",
                log.to_str().unwrap(),
                "--log-format",
                "json",
                "run",
                "--bundle",
                &b,
                &id,
            ],
        )
        .wait();
    o.assert_ok("run --debug");
    assert!(
        o.stderr.is_empty(),
        "with --log nothing goes to stderr: {o}"
    );
    let lines: Vec<Value> = fs::read_to_string(&log)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let debug: Vec<&str> = lines
        .iter()
        .filter(|l| l["level"] == "debug")
        .filter_map(|l| l["msg"].as_str())
        .collect();
    assert!(!debug.is_empty(), "no debug lines: {lines:?}");
    assert!(lines.iter().all(|l| l["time"].is_string()), "{lines:?}");
    if !is_runc() {
        assert!(debug.iter().any(|m| m.contains(&id)), "{debug:?}");
        assert!(debug.iter().any(|m| m.contains(&b)), "{debug:?}");
    }
    // Without --log the lines go to stderr, in logrus' text form.
    let id2 = env.new_id("debug2");
    env.save_for(&id2);
    let o = env
        .spawn_for(&id2, &["--debug", "run", "--bundle", &b, &id2])
        .wait();
    o.assert_ok("run --debug without --log");
    assert!(o.stderr.contains("level=debug"), "{o}");
}
