//! A user's containers and cgroups: with a delegated cgroup v2 subtree (the directory and its
//! cgroup.procs, cgroup.subtree_control and cgroup.threads owned by the user, the user's
//! processes inside it, as systemd's `Delegate=yes` sets it up) a rootless container gets a
//! cgroup there with limits that bite; without one it runs without a cgroup and the log says
//! so. The delegation test needs pure cgroup v2: it runs in the VM of `make test-cgroup-v2`
//! (which has no setpriv: the runtime is started as the user by the test itself).

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::chown;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

const USER: u32 = 61235;

fn pure_v2() -> bool {
    Path::new("/sys/fs/cgroup/cgroup.controllers").exists()
}

/// An Env for our user: a runtime dir it owns, the rootless config of `spec --rootless`, no
/// cgroupsPath (the default: `<id>` beside the caller's own cgroup).
fn user_env(tag: &str) -> Option<(Env, PathBuf)> {
    let mut env = setup(tag)?;
    let xdg = env.dir.join("xdg");
    fs::create_dir(&xdg).unwrap();
    chown(&xdg, Some(USER), Some(USER)).unwrap();
    set_mode(&xdg, 0o700);
    let name = if is_runc() { "runc" } else { "baleia" };
    env.root = xdg.join(name);
    let c = &mut env.config;
    let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "network");
    ns.push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": USER, "size": 1}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": USER, "size": 1}]);
    c["linux"].as_object_mut().unwrap().remove("resources");
    for m in c["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/sys" {
            *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        }
        if let Some(o) = m["options"].as_array_mut() {
            o.retain(|o| !o.as_str().unwrap().starts_with("gid="));
        }
    }
    Some((env, xdg))
}

fn save(env: &Env) {
    env.save_for(&env.id);
    let path = env.bundle.join("config.json");
    let mut c: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    c["linux"].as_object_mut().unwrap().remove("cgroupsPath");
    fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
}

/// The runtime as our user, first moved (as root) into the cgroup `into` when given.
fn as_user(xdg: &Path, into: Option<&Path>, args: &[&str]) -> Command {
    let mut c = Command::new(runtime());
    c.args(args)
        .env("XDG_RUNTIME_DIR", xdg)
        .env_remove("USER")
        .stdin(Stdio::null());
    let procs = into.map(|d| {
        std::ffi::CString::new(d.join("cgroup.procs").as_os_str().as_encoded_bytes()).unwrap()
    });
    // SAFETY: between fork and exec only async-signal-safe calls (open, write, close, and the
    // id changes), on data prepared before the fork.
    unsafe {
        c.pre_exec(move || {
            if let Some(p) = &procs {
                let fd = libc::open(p.as_ptr(), libc::O_WRONLY | libc::O_CLOEXEC);
                if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
                    return Err(std::io::Error::last_os_error());
                }
                libc::close(fd);
            }
            if libc::setgroups(0, std::ptr::null()) != 0
                || libc::setresgid(USER, USER, USER) != 0
                || libc::setresuid(USER, USER, USER) != 0
            {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    c
}

fn output(mut c: Command) -> Out {
    let o = c.output().unwrap();
    Out {
        status: o.status,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

/// A cgroup delegated to USER (removed with whatever is left in it when dropped).
struct Delegated(PathBuf);

impl Drop for Delegated {
    fn drop(&mut self) {
        for _ in 0..50 {
            let mut dirs: Vec<PathBuf> = Vec::new();
            let mut stack = vec![self.0.clone()];
            while let Some(d) = stack.pop() {
                if let Ok(rd) = fs::read_dir(&d) {
                    for e in rd.flatten() {
                        if e.file_type().is_ok_and(|t| t.is_dir()) {
                            stack.push(e.path());
                        }
                    }
                }
                dirs.push(d);
            }
            for d in &dirs {
                let _ = fs::write(d.join("cgroup.kill"), "1");
            }
            for d in dirs.iter().rev() {
                let _ = fs::remove_dir(d);
            }
            if !self.0.exists() {
                return;
            }
            // rmdir answers EBUSY until the killed tasks have exited: nothing to wait on.
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

#[test]
fn a_user_with_a_delegated_cgroup_gets_working_limits() {
    if !pure_v2() {
        skip("cgroup v2 delegation needs a pure cgroup v2 host (make test-cgroup-v2)");
        return;
    }
    let Some((mut env, xdg)) = user_env("rl-deleg") else {
        return;
    };
    // The admin's part: controllers offered from the root, a subtree the user owns, the
    // user's session (here: the runtime) in a leaf of it.
    let root = Path::new("/sys/fs/cgroup");
    fs::write(root.join("cgroup.subtree_control"), "+memory +pids").unwrap();
    let deleg = Delegated(root.join(format!("baleia-test-deleg-{}", std::process::id())));
    let d = &deleg.0;
    fs::create_dir(d).unwrap();
    let session = d.join("session");
    fs::create_dir(&session).unwrap();
    for p in [
        d.clone(),
        d.join("cgroup.procs"),
        d.join("cgroup.subtree_control"),
        d.join("cgroup.threads"),
        session.clone(),
        session.join("cgroup.procs"),
    ] {
        chown(&p, Some(USER), Some(USER)).unwrap();
    }
    env.config["linux"]["resources"] = json!({"memory": {"limit": 67108864}, "pids": {"limit": 4}});
    // A subshell hits the limit (a shell that cannot fork exits), the init goes on; the
    // ready mark by redirection and the last command by exec: no fork is left for them.
    env.sh(
        "(for i in 1 2 3 4 5 6 7 8; do sleep 1000 & done) 2>/tmp/forks; : >/tmp/ready; exec sleep 1000",
    );
    save(&env);
    let b = env.bundle.to_str().unwrap().to_string();
    let id = env.id.clone();
    let mut run = env.spawn_cmd(as_user(&xdg, Some(&session), &["run", "--bundle", &b, &id]));
    let ready = env.rootfs.join("tmp/ready");
    let start = std::time::Instant::now();
    while !ready.exists() {
        if let Ok(Some(st)) = run.child.try_wait() {
            panic!(
                "run exited ({st:?}) before the container was ready: {}",
                fs::read_to_string(&run.stderr).unwrap_or_default()
            );
        }
        assert!(
            start.elapsed() < DEADLINE,
            "{} never appeared",
            ready.display()
        );
        // A bounded poll as common's wait_file, one that also sees run exit early.
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let st = output(as_user(&xdg, None, &["state", &id]));
    st.assert_ok("state as the user");
    let pid = serde_json::from_str::<Value>(&st.stdout).unwrap()["pid"]
        .as_i64()
        .unwrap();
    let cg = fs::read_to_string(format!("/proc/{pid}/cgroup")).unwrap();
    let rel = cg.trim().strip_prefix("0::").unwrap_or("").to_string();
    let dir = root.join(rel.trim_start_matches('/'));
    assert_eq!(
        dir,
        d.join(&id),
        "the container's cgroup is <id> beside the caller's, in the delegated subtree"
    );
    let read = |f: &str| fs::read_to_string(dir.join(f)).unwrap().trim().to_string();
    assert_eq!(read("memory.max"), "67108864");
    assert_eq!(read("pids.max"), "4");
    // The fork limit bit: at most 4 processes, the other forks refused.
    let current: u32 = read("pids.current").parse().unwrap();
    assert!(current <= 4, "pids.current {current}");
    let forks = fs::read_to_string(env.rootfs.join("tmp/forks")).unwrap_or_default();
    assert!(forks.contains("can't fork"), "forks: {forks:?}");
    output(as_user(&xdg, None, &["kill", &id, "KILL"])).assert_ok("kill as the user");
    run.wait();
    output(as_user(&xdg, None, &["delete", "--force", &id])).assert_ok("delete as the user");
    assert!(!dir.exists(), "{} left behind", dir.display());
    env.assert_no_trace(&id);
}

/// No cgroup the user may make (this host's v1 hierarchies, or a v2 cgroup it does not own):
/// the container runs all the same, without one, and the log says why.
#[test]
fn a_user_without_a_cgroup_runs_without_one_and_says_so() {
    let Some((mut env, xdg)) = user_env("rl-nocg") else {
        return;
    };
    env.sh("echo ran");
    save(&env);
    let log = xdg.join("log.json");
    let b = env.bundle.to_str().unwrap().to_string();
    let l = log.to_str().unwrap().to_string();
    let out = output(as_user(
        &xdg,
        None,
        &[
            "--log",
            &l,
            "--log-format",
            "json",
            "run",
            "--bundle",
            &b,
            &env.id,
        ],
    ));
    out.assert_ok("run as a user without a cgroup");
    assert_eq!(out.stdout.trim(), "ran", "{out}");
    if !is_runc() {
        let text = fs::read_to_string(&log).unwrap_or_default();
        assert!(
            text.contains("runs without a cgroup") && text.contains("ermission denied"),
            "log: {text}"
        );
    }
    env.assert_no_trace(&env.id);
}
