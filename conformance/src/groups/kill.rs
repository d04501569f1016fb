//! kill and delete (runtime-spec runtime.md "kill", "delete"; runc's
//! signal parsing and `delete --force`).

use crate::harness::{check, eq, fail, not_found, Ctx, Test, TestResult};
use crate::runtime::{self, Exit};
use serde_json::json;
use std::time::Duration;

const K: &str = "kill";
const D: &str = "delete";

fn sends(c: &mut Ctx, args: &[&str], want: i64) -> TestResult {
    let cfg = c.spec(&[]);
    let mut ctr = c.waiting_for_signal(cfg)?;
    let mut a = vec!["kill", ctr.id.as_str()];
    a.extend_from_slice(args);
    let a: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    let o = c.cmd(&a)?;
    check(o.ok(), "kill to succeed", o.summary())?;
    let got = c.signal_received(&mut ctr)?;
    eq("signal received", want, got)
}

fn default_sigterm(c: &mut Ctx) -> TestResult {
    sends(c, &[], 15)
}
fn by_name(c: &mut Ctx) -> TestResult {
    sends(c, &["USR1"], 10)
}
fn by_sig_name(c: &mut Ctx) -> TestResult {
    sends(c, &["SIGUSR2"], 12)
}
fn by_number(c: &mut Ctx) -> TestResult {
    sends(c, &["1"], 1)
}
fn sigterm_by_name(c: &mut Ctx) -> TestResult {
    sends(c, &["TERM"], 15)
}
fn sigint_number(c: &mut Ctx) -> TestResult {
    sends(c, &["2"], 2)
}
fn sighup_name(c: &mut Ctx) -> TestResult {
    sends(c, &["SIGHUP"], 1)
}

fn kills(c: &mut Ctx, sig: &str) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let o = c.cmd(&["kill", &ctr.id, sig])?;
    check(o.ok(), "kill to succeed", o.summary())?;
    let e = runtime::wait_pid(ctr.pid, Duration::from_secs(10));
    eq("init's end", Exit::Signal(9), e)
}

fn kill_name(c: &mut Ctx) -> TestResult {
    kills(c, "KILL")
}
fn kill_sig_name(c: &mut Ctx) -> TestResult {
    kills(c, "SIGKILL")
}
fn kill_nine(c: &mut Ctx) -> TestResult {
    kills(c, "9")
}

fn stopped_after_kill(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let o = c.cmd(&["kill", &ctr.id, "KILL"])?;
    check(o.ok(), "kill to succeed", o.summary())?;
    runtime::wait_pid(ctr.pid, Duration::from_secs(10));
    c.wait_status(&ctr, "stopped")
}

fn kill_created(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let o = c.cmd(&["kill", &ctr.id, "KILL"])?;
    check(
        o.ok(),
        "kill of a created container to succeed",
        o.summary(),
    )?;
    runtime::wait_pid(ctr.pid, Duration::from_secs(10));
    c.wait_status(&ctr, "stopped")
}

fn kill_stopped_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    // runc and baleia: "container not running"; crun 1.8 tries and gets ESRCH
    // ("open pidfd: No such process").
    c.cmd_fails(
        &["kill", &r.ctr.id, "KILL"],
        "kill of a stopped container",
        &[&["not running"], &["no such process"]],
    )
    .map(|_| ())
}

fn kill_unknown_fails(c: &mut Ctx) -> TestResult {
    let id = c.gone_id()?;
    c.cmd_not_found(&["kill", &id, "KILL"], "kill of an unknown container", &id)
}

fn kill_bad_signal_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    c.cmd_fails(
        &["kill", &ctr.id, "NOSUCHSIGNAL"],
        "kill with an unknown signal name",
        &[&["signal", "NOSUCHSIGNAL"]],
    )?;
    let s = c.state(&ctr.id)?;
    eq("status", json!("running"), s["status"].clone())
}

fn kill_all(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let o = c.cmd(&["kill", "--all", &ctr.id, "KILL"])?;
    check(o.ok(), "kill --all to succeed", o.summary())?;
    let e = runtime::wait_pid(ctr.pid, Duration::from_secs(10));
    eq("init's end", Exit::Signal(9), e)
}

fn kill_host_pidns(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    crate::bundle::drop_namespace(&mut cfg, "pid");
    let ctr = c.running(cfg)?;
    let o = c.cmd(&["kill", &ctr.id, "KILL"])?;
    check(o.ok(), "kill to succeed", o.summary())?;
    let e = runtime::wait_pid(ctr.pid, Duration::from_secs(10));
    eq("init's end", Exit::Signal(9), e)
}

// delete

fn delete_stopped(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    let o = c.cmd(&["delete", &r.ctr.id])?;
    check(o.ok(), "delete of a stopped container", o.summary())
}

fn delete_created(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let o = c.cmd(&["delete", &ctr.id])?;
    check(
        o.ok(),
        "delete of a created container (runc kills it)",
        o.summary(),
    )?;
    let e = runtime::wait_pid(ctr.pid, Duration::from_secs(10));
    check(
        e != Exit::Timeout,
        "the init gone after delete",
        "still running",
    )?;
    let s = c.cmd(&["state", &ctr.id])?;
    not_found(&s, "state after delete", &ctr.id)
}

fn delete_running_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    // runc and baleia: "cannot delete container <id> that is not stopped: ...";
    // crun 1.8: "the container `<id>` is not in `created` or `stopped` state".
    c.cmd_fails(
        &["delete", &ctr.id],
        "delete of a running container",
        &[&["not stopped"], &["not in", "stopped` state"]],
    )?;
    let s = c.state(&ctr.id)?;
    eq("status", json!("running"), s["status"].clone())
}

fn delete_force_running(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let o = c.cmd(&["delete", "--force", &ctr.id])?;
    check(o.ok(), "delete --force of a running container", o.summary())?;
    let e = runtime::wait_pid(ctr.pid, Duration::from_secs(10));
    check(e != Exit::Timeout, "the init killed", "still running")?;
    let s = c.cmd(&["state", &ctr.id])?;
    not_found(&s, "state after delete", &ctr.id)
}

fn delete_force_unknown(c: &mut Ctx) -> TestResult {
    // A container already deleted, as when containerd cleans up after a
    // delete that got through; state shows it is gone, so that exit 0 below
    // means "nothing to delete" and not "this binary exits 0 whatever it is asked".
    let id = c.gone_id()?;
    c.cmd_not_found(&["state", &id], "state of the unknown id", &id)?;
    let o = c.cmd(&["delete", "--force", &id])?;
    eq("exit status", Some(0), o.code)
}

fn delete_unknown_fails(c: &mut Ctx) -> TestResult {
    let id = c.gone_id()?;
    c.cmd_not_found(&["delete", &id], "delete of an unknown id", &id)
}

fn delete_twice_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    let o = c.cmd(&["delete", &r.ctr.id])?;
    check(o.ok(), "first delete", o.summary())?;
    let id = r.ctr.id.clone();
    c.cmd_not_found(&["delete", &id], "the second delete", &id)
}

fn delete_removes_cgroup(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let dir = crate::harness::cgroup_dir(ctr.pid, "pids")?;
    check(
        dir.exists(),
        format!("{} while running", dir.display()),
        "missing",
    )?;
    let o = c.cmd(&["delete", "--force", &ctr.id])?;
    check(o.ok(), "delete --force", o.summary())?;
    check(
        !dir.exists(),
        format!("{} removed by delete", dir.display()),
        "still there",
    )
}

fn delete_force_paused(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let p = c.cmd(&["pause", &ctr.id])?;
    check(p.ok(), "pause", p.summary())?;
    let o = c.cmd(&["delete", "--force", &ctr.id])?;
    check(o.ok(), "delete --force of a paused container", o.summary())?;
    let e = runtime::wait_pid(ctr.pid, Duration::from_secs(10));
    check(e != Exit::Timeout, "the init killed", "still there")
}

fn delete_keeps_bundle(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    let o = c.cmd(&["delete", &r.ctr.id])?;
    check(o.ok(), "delete", o.summary())?;
    let cfgf = r.ctr.bundle.path.join("config.json");
    check(
        cfgf.exists(),
        "the bundle left alone by delete",
        "config.json removed",
    )?;
    let probe = r.ctr.bundle.rootfs().join("probe");
    if !probe.exists() {
        return Err(fail("the rootfs left alone", "rootfs content removed"));
    }
    Ok(())
}

/// The kill and delete tests.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(
            K,
            "default-sigterm",
            "runc kill: the signal defaults to SIGTERM",
            default_sigterm,
        ),
        Test::new(
            K,
            "name-without-sig",
            "runc kill: a signal name without SIG (USR1)",
            by_name,
        ),
        Test::new(
            K,
            "name-with-sig",
            "runc kill: a signal name with SIG (SIGUSR2)",
            by_sig_name,
        ),
        Test::new(K, "number", "runc kill: a signal number (1)", by_number),
        Test::new(K, "term-name", "runc kill: TERM", sigterm_by_name),
        Test::new(K, "int-number", "runc kill: 2 = SIGINT", sigint_number),
        Test::new(K, "hup-sig-name", "runc kill: SIGHUP", sighup_name),
        Test::new(
            K,
            "kill-name",
            "runtime.md kill: send the signal to the container process; KILL",
            kill_name,
        ),
        Test::new(K, "kill-sig-name", "runc kill: SIGKILL", kill_sig_name),
        Test::new(K, "kill-nine", "runc kill: 9", kill_nine),
        Test::new(
            K,
            "stopped-after-kill",
            "runtime.md Lifecycle: killed process -> stopped",
            stopped_after_kill,
        ),
        Test::new(
            K,
            "created",
            "runtime.md kill: allowed when created or running",
            kill_created,
        ),
        Test::new(
            K,
            "stopped-fails",
            "runtime.md kill: neither created nor running MUST generate an error",
            kill_stopped_fails,
        ),
        Test::new(
            K,
            "unknown-fails",
            "runtime.md kill: error for an unknown id",
            kill_unknown_fails,
        ),
        Test::new(
            K,
            "bad-signal-fails",
            "runc kill: an unknown signal name is an error, no effect",
            kill_bad_signal_fails,
        ),
        Test::new(
            K,
            "all",
            "runc kill --all: signals every process of the container",
            kill_all,
        ),
        Test::new(
            K,
            "host-pidns",
            "runc: SIGKILL without a pid namespace kills through the cgroup",
            kill_host_pidns,
        ),
        Test::new(
            D,
            "stopped",
            "runtime.md delete: deletes a stopped container",
            delete_stopped,
        ),
        Test::new(
            D,
            "created",
            "runc delete: a created container is killed then deleted",
            delete_created,
        ),
        Test::new(
            D,
            "running-fails",
            "runtime.md delete: not stopped MUST generate an error (runc: unless --force)",
            delete_running_fails,
        ),
        Test::new(
            D,
            "force-running",
            "runc delete --force: kills and deletes a running container",
            delete_force_running,
        ),
        Test::new(
            D,
            "force-unknown-ok",
            "runc delete --force of an unknown id exits 0 (containerd relies on it)",
            delete_force_unknown,
        ),
        Test::new(
            D,
            "unknown-fails",
            "runtime.md delete: error for an unknown id",
            delete_unknown_fails,
        ),
        Test::new(
            D,
            "twice-fails",
            "runtime.md delete: a deleted container does not exist",
            delete_twice_fails,
        ),
        Test::new(
            D,
            "removes-cgroup",
            "runtime.md delete: resources created at create MUST be deleted",
            delete_removes_cgroup,
        ),
        Test::new(
            D,
            "force-paused",
            "runc delete --force: a paused container is thawed, killed, deleted",
            delete_force_paused,
        ),
        Test::new(
            D,
            "keeps-bundle",
            "runtime.md delete: the bundle is not the runtime's to remove",
            delete_keeps_bundle,
        ),
    ]
}
