//! runc 1.2-1.5 command-line flags engines use: `run --keep`, `exec --ignore-paused`,
//! `exec --cgroup`, `--pidfd-socket` on create and exec, and `checkpoint` refusing for want of
//! CRIU.

use crate::harness::{
    cgroup_dir, check, eq, fail, failed_for, push_arg, read_all, skip, Ctx, Test, TestResult,
    Verdict, CONTAINER_TIMEOUT,
};
use crate::runtime::{self, Exit, Io};
use serde_json::{json, Value};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

const E: &str = "exec";
const O: &str = "operations";

fn run_keep(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let b = c.bundle(&cfg)?;
    let id = c.id();
    let bp = b.path.to_string_lossy().into_owned();
    let o = c.cmd(&["run", "--keep", "--bundle", &bp, &id])?;
    eq("run --keep's exit status", Some(0), o.code)?;
    check(
        o.stdout.lines().next().is_some_and(|l| l.starts_with('{')),
        "the probe's facts on run's stdout",
        o.summary(),
    )?;
    // runc run --keep: "do not delete the container after it exits".
    let s = c.state(&id)?;
    eq(
        "status after run --keep",
        json!("stopped"),
        s["status"].clone(),
    )?;
    let d = c.cmd(&["delete", &id])?;
    check(d.ok(), "delete of the kept container", d.summary())?;
    c.cmd_not_found(&["state", &id], "state after delete", &id)
}

/// A listening socket for `--pidfd-socket`, non-blocking so that a runtime that never
/// connected fails the test instead of hanging it.
fn pidfd_listener(c: &mut Ctx) -> Result<(UnixListener, String), Verdict> {
    let path = c.dir.join("pidfd.sock");
    let l = UnixListener::bind(&path).map_err(|e| fail("bind the pidfd socket", e))?;
    l.set_nonblocking(true)
        .map_err(|e| fail("non-blocking pidfd socket", e))?;
    Ok((l, path.to_string_lossy().into_owned()))
}

/// The pidfd the runtime sent: payload and the pid it refers to (fdinfo's `Pid:`).
fn received_pidfd(l: &UnixListener) -> Result<(String, i64), Verdict> {
    let (conn, _) = l
        .accept()
        .map_err(|e| fail("the runtime to connect to --pidfd-socket", e))?;
    conn.set_nonblocking(false)
        .map_err(|e| fail("blocking connection", e))?;
    let conn: OwnedFd = conn.into();
    let (fd, payload) = crate::groups::io::recv_fd(&conn)?;
    let info = std::fs::read_to_string(format!("/proc/self/fdinfo/{}", fd.as_raw_fd()))
        .map_err(|e| fail("fdinfo of the received fd", e))?;
    let pid = info
        .lines()
        .find_map(|l| l.strip_prefix("Pid:"))
        .and_then(|v| v.trim().parse::<i64>().ok())
        .ok_or_else(|| fail("a pidfd (fdinfo with Pid:)", info.clone()))?;
    Ok((String::from_utf8_lossy(&payload).into_owned(), pid))
}

fn pidfd_socket_create(c: &mut Ctx) -> TestResult {
    let (l, path) = pidfd_listener(c)?;
    let mut cfg = c.spec(&[]);
    push_arg(&mut cfg, "--pause");
    let ctr = c.create_with(&cfg, &["--pidfd-socket", &path], Io::default())?;
    let (payload, pid) = received_pidfd(&l)?;
    // runc 1.2: the init sends a pidfd of itself with the payload "standard".
    eq(
        "payload and pid of the pidfd",
        json!(["standard", ctr.pid]),
        json!([payload, pid]),
    )
}

fn pidfd_socket_exec(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let (l, path) = pidfd_listener(c)?;
    let pf = c.dir.join("exec.pid");
    let pfs = pf.to_string_lossy().into_owned();
    let o = c.cmd(&[
        "exec",
        "--detach",
        "--pid-file",
        &pfs,
        "--pidfd-socket",
        &path,
        &ctr.id,
        "/probe",
        "--pause",
    ])?;
    check(o.ok(), "exec --detach --pidfd-socket", o.summary())?;
    let pid = std::fs::read_to_string(&pf)
        .ok()
        .and_then(|s| s.trim().parse::<i32>().ok())
        .ok_or_else(|| fail("exec's pid file", "unreadable"))?;
    c.track_pid(pid);
    let (payload, got) = received_pidfd(&l)?;
    // runc 1.2: an exec'd process sends its pidfd with the payload "setns".
    eq(
        "payload and pid of the pidfd",
        json!(["setns", pid]),
        json!([payload, got]),
    )
}

/// Removes the sub-cgroups a test made, whatever happened to the test.
struct SubCgroups(Vec<PathBuf>);

impl Drop for SubCgroups {
    fn drop(&mut self) {
        for d in self.0.iter().rev() {
            let _ = std::fs::remove_dir(d);
        }
    }
}

/// Every cgroup hierarchy's mount point on this host.
fn cgroup_mounts() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    let mut v: Vec<PathBuf> = crate::probe::parse_mountinfo(&text)
        .iter()
        .filter(|m| m["fstype"] == "cgroup" || m["fstype"] == "cgroup2")
        .filter_map(|m| m["mountpoint"].as_str().map(PathBuf::from))
        .collect();
    v.sort();
    v.dedup();
    v
}

/// Makes `sub` under the container's cgroup in the hierarchies `keep` selects.
fn make_sub(cfg: &Value, sub: &str, keep: impl Fn(&Path) -> bool) -> Result<SubCgroups, Verdict> {
    let rel = cfg["linux"]["cgroupsPath"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_string();
    let mut made = SubCgroups(Vec::new());
    for m in cgroup_mounts() {
        let dir = m.join(&rel);
        if !dir.is_dir() || !keep(&m) {
            continue;
        }
        let d = dir.join(sub);
        std::fs::create_dir(&d).map_err(|e| fail(format!("mkdir {}", d.display()), e))?;
        made.0.push(d.clone());
        // A v1 cpuset cgroup takes no process until it has CPUs and memory nodes.
        for f in ["cpuset.cpus", "cpuset.mems"] {
            if let Ok(v) = std::fs::read_to_string(dir.join(f)) {
                std::fs::write(d.join(f), v.trim())
                    .map_err(|e| fail(format!("write {f} of {}", d.display()), e))?;
            }
        }
    }
    Ok(made)
}

/// The cgroup lines of an exec'd probe's facts.
fn cgroup_lines(f: &Value) -> Vec<String> {
    serde_json::from_value(f["cgroup"].clone()).unwrap_or_default()
}

fn exec_cgroup_v1_controller(c: &mut Ctx) -> TestResult {
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return Err(skip(
            "a cgroup v2 host: controller:path sub-cgroups are v1 only",
        ));
    }
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg.clone())?;
    let pids_dir = cgroup_dir(ctr.pid, "pids")?;
    let _subs = make_sub(&cfg, "sub", |m| pids_dir.starts_with(m))?;
    let o = c.cmd(&["exec", "--cgroup", "pids:sub", &ctr.id, "/probe"])?;
    check(o.ok(), "exec --cgroup pids:sub", o.summary())?;
    let f: Value = serde_json::from_str(o.stdout.lines().next().unwrap_or(""))
        .map_err(|_| fail("facts", o.stdout.clone()))?;
    let lines = cgroup_lines(&f);
    let pids = lines.iter().find(|l| l.split(':').nth(1) == Some("pids"));
    let memory = lines.iter().find(|l| {
        l.split(':')
            .nth(1)
            .is_some_and(|c| c.split(',').any(|c| c == "memory"))
    });
    check(
        pids.is_some_and(|l| l.ends_with("/sub")),
        "the pids cgroup of the exec'd process to end in /sub",
        format!("{lines:?}"),
    )?;
    check(
        memory.is_some_and(|l| !l.ends_with("/sub")),
        "its memory cgroup to stay the container's",
        format!("{lines:?}"),
    )
}

fn exec_cgroup_all(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg.clone())?;
    let _subs = make_sub(&cfg, "sub", |_| true)?;
    let o = c.cmd(&["exec", "--cgroup", "sub", &ctr.id, "/probe"])?;
    check(o.ok(), "exec --cgroup sub", o.summary())?;
    let f: Value = serde_json::from_str(o.stdout.lines().next().unwrap_or(""))
        .map_err(|_| fail("facts", o.stdout.clone()))?;
    let lines = cgroup_lines(&f);
    check(
        !lines.is_empty() && lines.iter().all(|l| l.ends_with("/sub")),
        "every cgroup of the exec'd process to end in /sub",
        format!("{lines:?}"),
    )
}

fn exec_cgroup_missing_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    c.cmd_fails(
        &["exec", "--cgroup", "nosuchsub", &ctr.id, "/probe"],
        "exec --cgroup into a sub-cgroup that does not exist",
        &[&["nosuchsub"]],
    )
    .map(drop)
}

fn exec_ignore_paused(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let p = c.cmd(&["pause", &ctr.id])?;
    check(p.ok(), "pause", p.summary())?;
    let freezer = cgroup_dir(ctr.pid, "freezer").or_else(|_| cgroup_dir(ctr.pid, ""))?;
    let procs = |d: &Path| {
        std::fs::read_to_string(d.join("cgroup.procs"))
            .map(|s| s.lines().count())
            .unwrap_or(0)
    };
    let before = procs(&freezer);
    // The exec'd process joins the frozen cgroup and can only finish once it is thawed: run
    // the runtime in the background, wait for its helper to appear in the cgroup, resume.
    let (reader, writer) = std::io::pipe().map_err(|e| fail("pipe", e))?;
    let child = std::process::Command::new(&c.rt.path)
        .arg("--root")
        .arg(&c.rt.root)
        .args(["exec", "--ignore-paused", &ctr.id, "/probe"])
        .stdin(std::process::Stdio::null())
        .stdout(writer)
        .stderr(std::process::Stdio::null())
        .spawn()
        .map_err(|e| fail("spawn the runtime", e))?;
    let pid = child.id() as i32;
    c.track_pid(pid);
    let deadline = Instant::now() + CONTAINER_TIMEOUT;
    let joined = loop {
        if procs(&freezer) > before {
            break true;
        }
        if Instant::now() > deadline
            || runtime::wait_pid(pid, Duration::from_millis(10)) != Exit::Timeout
        {
            break false;
        }
    };
    check(
        joined,
        "exec --ignore-paused to put a process into the frozen cgroup",
        "none joined (the runtime exited or refused)",
    )?;
    let r = c.cmd(&["resume", &ctr.id])?;
    check(r.ok(), "resume", r.summary())?;
    let out = read_all(Some(reader), CONTAINER_TIMEOUT)?;
    let exit = runtime::wait_pid(pid, CONTAINER_TIMEOUT);
    eq("exec --ignore-paused's exit", Exit::Code(0), exit)?;
    let f: Value = serde_json::from_str(out.lines().next().unwrap_or(""))
        .map_err(|_| fail("the exec'd probe's facts", out.clone()))?;
    eq(
        "pid namespace of the exec'd process",
        ctr.facts["ns"]["pid"].clone(),
        f["ns"]["pid"].clone(),
    )
}

fn checkpoint_needs_criu(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let dir = c.dir.join("checkpoint");
    let ds = dir.to_string_lossy().into_owned();
    let o = c.cmd(&["checkpoint", "--image-path", &ds, &ctr.id])?;
    failed_for(&o, "checkpoint", &[&["criu"]])?;
    // The refusal must not have touched the container.
    let s = c.state(&ctr.id)?;
    eq(
        "status after a refused checkpoint",
        json!("running"),
        s["status"].clone(),
    )
}

/// The flag tests.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(O, "run-keep", "runc run --keep: the stopped container's state stays", run_keep),
        Test::new(O, "pidfd-socket", "runc 1.2 create --pidfd-socket: a pidfd of the init, payload \"standard\"", pidfd_socket_create),
        Test::new(O, "checkpoint-needs-criu", "runc checkpoint: without a working CRIU it fails and says so", checkpoint_needs_criu),
        Test::new(E, "pidfd-socket", "runc 1.2 exec --pidfd-socket: a pidfd of the process, payload \"setns\"", pidfd_socket_exec),
        Test::new(E, "cgroup-controller", "runc 1.1 exec --cgroup controller:path (cgroup v1)", exec_cgroup_v1_controller),
        Test::new(E, "cgroup-all", "runc 1.1 exec --cgroup path: every hierarchy", exec_cgroup_all),
        Test::new(E, "cgroup-missing-fails", "runc exec --cgroup: the sub-cgroup must exist", exec_cgroup_missing_fails),
        Test::new(E, "ignore-paused", "runc exec --ignore-paused: exec into a paused container, the process runs once resumed", exec_ignore_paused),
    ]
}
