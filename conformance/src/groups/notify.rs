//! Seccomp user notification (SCMP_ACT_NOTIFY with `listenerPath`): a small agent in the test
//! receives the listener with the container's state, as runc sends it, and answers the
//! notified syscall with a value of its own, which the probe then reports.

use crate::bundle;
use crate::harness::{check, eq, fail, Ctx, Test, TestResult, Verdict};
use serde_json::{json, Value};
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::net::UnixListener;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

const SC: &str = "seccomp";

/// What the agent answers getppid() with.
const ANSWER: i64 = 4242;

/// struct seccomp_notif (linux/seccomp.h).
#[repr(C)]
struct Notif {
    id: u64,
    pid: u32,
    flags: u32,
    nr: i32,
    arch: u32,
    ip: u64,
    args: [u64; 6],
}

/// struct seccomp_notif_resp.
#[repr(C)]
struct Resp {
    id: u64,
    val: i64,
    error: i32,
    flags: u32,
}

const NOTIF_RECV: libc::c_ulong = 0xc050_2100;
const NOTIF_SEND: libc::c_ulong = 0xc018_2101;

/// What the agent saw: one state per listener, and how many notifications it answered.
#[derive(Debug, Default)]
struct Report {
    states: Vec<Value>,
    answered: u32,
    error: Option<String>,
}

/// Runs the agent on `l` until `listeners` listeners came and every one of them hung up (their
/// processes gone), or the test said `stop` and none is left, or 15 s passed.
fn agent(l: UnixListener, listeners: usize, stop: &AtomicBool) -> Report {
    let mut r = Report::default();
    let deadline = Instant::now() + Duration::from_secs(15);
    let mut fds: Vec<OwnedFd> = Vec::new();
    let _ = l.set_nonblocking(true);
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            r.error = Some(format!(
                "agent timed out with {} listener(s), {} answered",
                fds.len(),
                r.answered
            ));
            return r;
        }
        if fds.is_empty() && (r.states.len() == listeners || stop.load(Ordering::SeqCst)) {
            if r.states.len() < listeners && r.error.is_none() {
                r.error = Some(format!("got {} of {listeners} listener(s)", r.states.len()));
            }
            return r;
        }
        let mut polls = vec![libc::pollfd {
            fd: l.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }];
        polls.extend(fds.iter().map(|f| libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        }));
        let ms = left.as_millis().min(1000) as i32;
        // SAFETY: polls is a valid array of pollfd.
        let n = unsafe { libc::poll(polls.as_mut_ptr(), polls.len() as libc::nfds_t, ms) };
        if n < 0 {
            continue;
        }
        if polls[0].revents & libc::POLLIN != 0 {
            if let Ok((conn, _)) = l.accept() {
                let _ = conn.set_nonblocking(false);
                let conn: OwnedFd = conn.into();
                match crate::groups::io::recv_fd(&conn) {
                    Ok((fd, payload)) => {
                        r.states
                            .push(serde_json::from_slice(&payload).unwrap_or_else(
                                |_| json!({"unparsed": String::from_utf8_lossy(&payload)}),
                            ));
                        fds.push(fd);
                    }
                    Err(e) => r.error = Some(format!("receiving the listener: {e:?}")),
                }
            }
        }
        let mut gone = Vec::new();
        for (i, p) in polls.iter().enumerate().skip(1) {
            let fd = &fds[i - 1];
            if p.revents & libc::POLLIN != 0 {
                // SAFETY: the kernel fills the struct we own.
                let mut n: Notif = unsafe { std::mem::zeroed() };
                if unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_RECV, &mut n) } == 0 {
                    let resp = Resp {
                        id: n.id,
                        val: ANSWER,
                        error: 0,
                        flags: 0,
                    };
                    // SAFETY: the kernel reads the struct we own.
                    if unsafe { libc::ioctl(fd.as_raw_fd(), NOTIF_SEND, &resp) } == 0 {
                        r.answered += 1;
                    }
                }
            } else if p.revents & (libc::POLLHUP | libc::POLLERR) != 0 {
                gone.push(i - 1);
            }
        }
        for i in gone.into_iter().rev() {
            fds.remove(i);
        }
    }
}

/// A seccomp section notifying getppid to an agent at `path`.
fn notify_profile(path: &str, flags: &[&str]) -> Value {
    json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "listenerPath": path,
        "listenerMetadata": "baleia-conformance",
        "flags": flags,
        "syscalls": [{"names": ["getppid"], "action": "SCMP_ACT_NOTIFY"}],
    })
}

/// The agent, running in a thread of its own while the test drives the runtime.
struct Agent {
    path: String,
    stop: Arc<AtomicBool>,
    handle: std::thread::JoinHandle<Report>,
}

fn start_agent(c: &mut Ctx, listeners: usize) -> Result<Agent, Verdict> {
    let path = c.dir.join("agent.sock");
    let l = UnixListener::bind(&path).map_err(|e| fail("bind the agent's socket", e))?;
    let stop = Arc::new(AtomicBool::new(false));
    let s = stop.clone();
    let handle = std::thread::spawn(move || agent(l, listeners, &s));
    Ok(Agent {
        path: path.to_string_lossy().into_owned(),
        stop,
        handle,
    })
}

/// Tell the agent the containers are done, and wait for what it saw.
fn report(a: Agent) -> Result<Report, Verdict> {
    a.stop.store(true, Ordering::SeqCst);
    let r = a
        .handle
        .join()
        .map_err(|_| fail("the agent thread", "panicked"))?;
    if let Some(e) = &r.error {
        return Err(fail("the agent to get and answer the listener", e));
    }
    Ok(r)
}

fn notified(c: &mut Ctx, flags: &[&str]) -> TestResult {
    let agent = start_agent(c, 1)?;
    let mut cfg = c.spec(&[]);
    bundle::set(
        &mut cfg,
        "/linux/seccomp",
        notify_profile(&agent.path, flags),
    );
    let run = c.run(&cfg);
    let r = report(agent)?;
    let run = run?;
    eq(
        "getppid() in the container, answered by the agent",
        json!(ANSWER),
        run.facts["ppid"].clone(),
    )?;
    check(
        r.answered >= 1,
        "the agent to answer a notification",
        r.answered,
    )?;
    let s = &r.states[0];
    // runc: specs.ContainerProcessState, the listener named "seccompFd".
    eq(
        "fds, metadata, id, status and pids of the agent's state",
        json!([
            ["seccompFd"],
            "baleia-conformance",
            run.ctr.id,
            "creating",
            run.ctr.pid,
            run.ctr.pid
        ]),
        json!([
            s["fds"],
            s["metadata"],
            s["state"]["id"],
            s["state"]["status"],
            s["pid"],
            s["state"]["pid"]
        ]),
    )?;
    let fds: Vec<String> = run.facts["fds"]
        .as_object()
        .map(|m| {
            m.values()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default();
    check(
        !fds.iter().any(|t| t.contains("seccomp")),
        "no seccomp listener among the container's fds",
        format!("{fds:?}"),
    )
}

fn notify(c: &mut Ctx) -> TestResult {
    notified(c, &[])
}

fn notify_wait_killable(c: &mut Ctx) -> TestResult {
    notified(c, &["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"])
}

fn notify_exec(c: &mut Ctx) -> TestResult {
    let agent = start_agent(c, 2)?;
    let mut cfg = c.spec(&[]);
    bundle::set(&mut cfg, "/linux/seccomp", notify_profile(&agent.path, &[]));
    let ctr = c.running(cfg);
    let exec = match &ctr {
        Ok(ctr) => Some(c.exec_probe(ctr, &[], &[])),
        Err(_) => None,
    };
    // The init pauses: end it so that its listener hangs up too.
    if let Ok(ctr) = &ctr {
        let _ = c.cmd(&["kill", &ctr.id, "KILL"]);
    }
    let r = report(agent)?;
    let ctr = ctr?;
    let (o, f) = exec.ok_or_else(|| fail("exec", "not run"))??;
    check(o.ok(), "exec to succeed", o.summary())?;
    eq(
        "getppid() in the exec'd process, answered by the agent",
        json!(ANSWER),
        f["ppid"].clone(),
    )?;
    let s = r
        .states
        .iter()
        .find(|s| s["state"]["status"] == "running")
        .ok_or_else(|| {
            fail(
                "the exec'd process's listener (status running)",
                format!("{:?}", r.states),
            )
        })?;
    eq(
        "the exec'd listener's state: init pid and id",
        json!([ctr.pid, ctr.id]),
        json!([s["state"]["pid"], s["state"]["id"]]),
    )
}

fn notify_agent_missing_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    let path = c.dir.join("no-agent.sock").to_string_lossy().into_owned();
    bundle::set(&mut cfg, "/linux/seccomp", notify_profile(&path, &[]));
    // runc: "failed to connect with seccomp agent specified in the seccomp profile".
    c.create_fails(&cfg, &[&["seccomp agent"]]).map(drop)
}

/// The seccomp notification tests.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(SC, "notify", "config-linux.md seccomp SCMP_ACT_NOTIFY: the listener and the container's state reach listenerPath; the agent answers", notify),
        Test::new(SC, "notify-wait-killable", "config-linux.md seccomp flags: SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV with a listener", notify_wait_killable),
        Test::new(SC, "notify-exec", "runc: an exec'd process's listener reaches the agent too (status running)", notify_exec),
        Test::new(SC, "notify-agent-missing-fails", "runc: no agent at listenerPath is an error", notify_agent_missing_fails),
    ]
}
