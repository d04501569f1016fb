//! Attacks a container (or a crash) can mount against the host, each reproduced against the
//! runtime under test, and each of which must fail:
//!
//! - a process user of uid/gid 4294967295, which setresuid reads as "unchanged" (root);
//! - environment entries without '=';
//! - a `create` killed at any moment: nothing may hang, and `delete --force` must leave no
//!   cgroup, mount, process or state directory;
//! - a lock that is not released makes commands fail in bounded time, naming the pid that
//!   holds it.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::os::fd::AsRawFd;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

/// How long the attacker in the container may take to report a step.
const STEP: Duration = Duration::from_secs(30);

/// `create` with `config` changed by `edit` must fail with `want` in its error and leave
/// nothing behind.
fn create_refused(env: &Env, tag: &str, edit: impl Fn(&mut serde_json::Value), want: &[&str]) {
    let id = env.new_id(tag);
    let mut cfg = env.config.clone();
    edit(&mut cfg);
    cfg["linux"]["cgroupsPath"] = json!(Env::cgroups_path(&id));
    fs::write(
        env.bundle.join("config.json"),
        serde_json::to_vec(&cfg).unwrap(),
    )
    .unwrap();
    let b = env.bundle.to_str().unwrap();
    let o = env.spawn_for(&id, &["create", "--bundle", b, &id]).wait();
    o.assert_fail(tag);
    for w in want {
        assert!(o.stderr.contains(w), "{tag}: want {w:?} in the error: {o}");
    }
    assert!(
        !env.rootfs.join("ran").exists(),
        "{tag}: the container's process ran"
    );
    env.assert_no_trace(&id);
}

#[test]
fn uid_gid_minus_one_is_refused() {
    let Some(mut env) = setup("uidneg") else {
        return;
    };
    env.sh("touch /ran");
    let range = "uids and gids must be in range 0-2147483647";
    let cases: [(&str, &str, serde_json::Value, &str); 4] = [
        (
            "uid",
            "uid",
            json!(4294967295u32),
            "process.user.uid 4294967295",
        ),
        (
            "gid",
            "gid",
            json!(4294967295u32),
            "process.user.gid 4294967295",
        ),
        (
            "agid",
            "additionalGids",
            json!([5, 4294967295u32]),
            "process.user.additionalGids[1] 4294967295",
        ),
        (
            "uid31",
            "uid",
            json!(2147483648u32),
            "process.user.uid 2147483648",
        ),
    ];
    for (tag, field, value, named) in cases {
        let mut want = vec![range];
        if !is_runc() {
            want.push(named);
        }
        create_refused(
            &env,
            tag,
            |c| c["process"]["user"][field] = value.clone(),
            &want,
        );
    }
    // The largest valid id is accepted, and the process really runs as it.
    env.config["process"]["user"]["uid"] = json!(2147483647u32);
    env.config["process"]["user"]["gid"] = json!(2147483647u32);
    env.set_args(&["/bin/busybox", "id"]);
    let out = env.run_ok();
    assert!(
        out.contains("uid=2147483647") && out.contains("gid=2147483647"),
        "{out}"
    );
}

#[test]
fn exec_as_uid_minus_one_is_refused() {
    let Some(mut env) = setup("execuid") else {
        return;
    };
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.create().assert_ok("create");
    let range = "uids and gids must be in range 0-2147483647";
    let mut process = env.config["process"].clone();
    process["args"] = json!(["touch", "/ran"]);
    process["user"]["uid"] = json!(4294967295u32);
    let pj = env.dir.join("process.json");
    fs::write(&pj, serde_json::to_vec(&process).unwrap()).unwrap();
    let o = env.exec(&["exec", "--process", pj.to_str().unwrap(), &id]);
    o.assert_fail("exec --process with uid 4294967295");
    assert!(o.stderr.contains(range), "{o}");
    if !is_runc() {
        assert!(o.stderr.contains("process.user.uid 4294967295"), "{o}");
    }
    for user in ["4294967295", "0:4294967295"] {
        let o = env.exec(&["exec", "--user", user, &id, "touch", "/ran"]);
        o.assert_fail(&format!("exec --user {user}"));
        assert!(o.stderr.contains(range), "{o}");
    }
    let o = env.exec(&[
        "exec",
        "--additional-gids",
        "4294967295",
        &id,
        "touch",
        "/ran",
    ]);
    o.assert_fail("exec --additional-gids 4294967295");
    assert!(o.stderr.contains(range), "{o}");
    assert!(!env.rootfs.join("ran").exists(), "an exec'd process ran");
}

#[test]
fn env_entry_without_equals_is_refused() {
    let Some(mut env) = setup("envnoeq") else {
        return;
    };
    env.sh("touch /ran");
    let path = "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";
    // runc's log line escapes the quotes: check the words and the entry apart.
    let mut want = vec!["invalid environment variable: ", "FOO"];
    if !is_runc() {
        want.push("process.env[1]: invalid environment variable: \"FOO\"");
    }
    create_refused(
        &env,
        "noeq",
        |c| c["process"]["env"] = json!([path, "FOO"]),
        &want,
    );
    let mut want = vec!["environment variable name can't be empty: ", "=x"];
    if !is_runc() {
        want.push("process.env[1]: environment variable name can't be empty: \"=x\"");
    }
    create_refused(
        &env,
        "noname",
        |c| c["process"]["env"] = json!([path, "=x"]),
        &want,
    );
    // exec: the same rule for its --env.
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.create().assert_ok("create");
    let o = env.exec(&["exec", "--env", "FOO", &id, "touch", "/ran"]);
    o.assert_fail("exec --env FOO");
    assert!(o.stderr.contains("invalid environment variable"), "{o}");
    assert!(!env.rootfs.join("ran").exists(), "the exec'd process ran");
}

/// A small deterministic generator (xorshift), seeded per run and printed, so that a failing
/// sequence of delays can be replayed with BALEIA_TEST_SEED.
struct Rng(u64);

impl Rng {
    fn new() -> Rng {
        let seed = std::env::var("BALEIA_TEST_SEED")
            .ok()
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| {
                std::time::SystemTime::now()
                    .duration_since(std::time::UNIX_EPOCH)
                    .unwrap()
                    .as_nanos() as u64
                    | 1
            });
        Rng(seed)
    }

    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// Mounts of the host that mention `needle`.
fn host_mounts_mentioning(needle: &Path) -> Vec<String> {
    let n = needle.to_string_lossy();
    fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .filter(|l| l.contains(n.as_ref()))
        .map(str::to_string)
        .collect()
}

#[test]
fn killed_create_leaves_nothing_after_delete_force() {
    let Some(mut env) = setup("killed") else {
        return;
    };
    if runc_known_to_fail("runc's delete --force of a create it killed leaves the cgroup") {
        return;
    }
    env.set_args(&["sleep", "1000"]);
    let b = env.bundle.to_str().unwrap().to_string();
    let mut rng = Rng::new();
    let seed = rng.0;
    for _ in 0..60 {
        let id = env.new_id("k");
        env.save_for(&id);
        let delay = Duration::from_micros(rng.below(20_000));
        let pf = env.pid_file(&id);
        let mut create = env.spawn_for(
            &id,
            &[
                "create",
                "--bundle",
                &b,
                "--pid-file",
                pf.to_str().unwrap(),
                &id,
            ],
        );
        std::thread::sleep(delay);
        // SAFETY: kill(2) of our own child.
        unsafe { libc::kill(create.pid(), libc::SIGKILL) };
        let _ = create.child.wait();
        let what = format!("{id}, create killed after {delay:?} (BALEIA_TEST_SEED={seed})");
        // None of this may hang (each command has the harness's deadline) or run into a
        // lock the dead create left behind.
        let st = env.exec(&["state", &id]);
        let start = env.exec(&["start", &id]);
        let del = env.exec(&["delete", "--force", &id]);
        for o in [&st, &start, &del] {
            assert!(!o.stderr.contains("is locked"), "{what}: {o}");
        }
        del.assert_ok(&format!("delete --force ({what})"));
        env.assert_no_trace(&id);
        let m = host_mounts_mentioning(&env.dir);
        assert!(m.is_empty(), "{what}: mounts left: {m:?}");
    }
}

/// Waits (bounded) until someone else holds the flock of `dir`.
fn wait_locked(dir: &Path) {
    let f = fs::File::open(dir).unwrap();
    let start = Instant::now();
    // SAFETY: flock on our own fd; LOCK_NB never blocks.
    while unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0 {
        // SAFETY: as above.
        unsafe { libc::flock(f.as_raw_fd(), libc::LOCK_UN) };
        assert!(start.elapsed() < STEP, "flock(1) never took the lock");
        // flock(1) gives no sign when it has the lock: bounded polling.
        std::thread::sleep(Duration::from_millis(5));
    }
}

#[test]
fn held_lock_fails_in_bounded_time_naming_its_holder() {
    let Some(mut env) = setup("lock") else {
        return;
    };
    if is_runc() {
        skip("runc takes no lock on a container's state directory");
        return;
    }
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.create().assert_ok("create");
    let dir = env.state_dir(&id);
    // flock -o: the flock process itself holds the lock, its child (cat, which ends with its
    // stdin) does not.
    let mut holder = Command::new("flock")
        .arg("-o")
        .arg(&dir)
        .arg("cat")
        .stdin(Stdio::piped())
        .spawn()
        .unwrap();
    wait_locked(&dir);
    for cmd in ["start", "delete"] {
        let mut args = vec![cmd];
        if cmd == "delete" {
            args.push("--force");
        }
        args.push(&id);
        let o = env.exec(&args);
        o.assert_fail(&format!("{cmd} while another process holds the lock"));
        let want = format!("held by pid {} (flock -o", holder.id());
        assert!(o.stderr.contains(&want), "{cmd}: want {want:?}: {o}");
    }
    drop(holder.stdin.take());
    assert!(wait_exit(holder.id() as i32, DEADLINE), "flock did not end");
    let _ = holder.wait();
    // A lock released in time is waited for, not refused.
    let mut brief = Command::new("flock")
        .arg(&dir)
        .args(["sleep", "1"])
        .spawn()
        .unwrap();
    wait_locked(&dir);
    env.exec(&["start", &id])
        .assert_ok("start once the lock is released");
    let _ = brief.wait();
    assert_eq!(env.status(&id), "running");
}
