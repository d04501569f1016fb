//! exec, pause/resume, ps, events, update, the pid file, and the error
//! contract engines rely on (runc's command line; runtime.md "Operations").

use crate::harness::{
    cgroup_dir, check, eq, fail, failed_for, not_found, Ctr, Ctx, Test, TestResult, Verdict,
};
use crate::runtime::{self, Io};
use serde_json::{json, Value};

const E: &str = "exec";
const O: &str = "operations";
const PF: &str = "pid-file";
const ER: &str = "errors";

fn exec_ok(c: &mut Ctx, ctr: &Ctr, extra: &[&str], args: &[&str]) -> Result<Value, Verdict> {
    let (o, f) = c.exec_probe(ctr, extra, args)?;
    check(o.ok(), "exec to succeed", o.summary())?;
    if f.is_null() {
        return Err(fail("the probe's facts from exec", o.stdout));
    }
    Ok(f)
}

fn exec_namespaces(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let f = exec_ok(c, &ctr, &[], &[])?;
    for ns in ["pid", "net", "ipc", "uts", "mnt"] {
        eq(
            &format!("{ns} ns of exec"),
            ctr.facts["ns"][ns].clone(),
            f["ns"][ns].clone(),
        )?;
    }
    Ok(())
}

fn exec_exit_code(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let (o, _) = c.exec_probe(&ctr, &[], &["--exit", "4"])?;
    eq("exec's exit status", Some(4), o.code)
}

fn exec_env(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let f = exec_ok(c, &ctr, &["--env", "FOO=exec"], &[])?;
    let env: Vec<String> = serde_json::from_value(f["env"].clone()).unwrap_or_default();
    check(
        env.iter().any(|e| e == "FOO=exec"),
        "FOO=exec",
        format!("{env:?}"),
    )
}

fn exec_cwd(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let f = exec_ok(c, &ctr, &["--cwd", "/tmp"], &[])?;
    eq("cwd", json!("/tmp"), f["cwd"].clone())
}

fn exec_user(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let f = exec_ok(c, &ctr, &["--user", "1000:1001"], &[])?;
    eq("uid/gid", json!([1000, 1001]), json!([f["uid"], f["gid"]]))
}

fn exec_process_json(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let p = json!({
        "terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["/probe"],
        "env": ["PATH=/bin", "FROM=process-json"], "cwd": "/etc",
        "capabilities": {"bounding": ["CAP_KILL"], "effective": ["CAP_KILL"], "permitted": ["CAP_KILL"]},
        "noNewPrivileges": true,
    });
    let file = c.dir.join("process.json");
    std::fs::write(&file, p.to_string()).map_err(|e| fail("process.json", e))?;
    let fp = file.to_string_lossy().into_owned();
    let o = c.cmd(&["exec", "--process", &fp, &ctr.id])?;
    check(o.ok(), "exec --process", o.summary())?;
    let f: Value = serde_json::from_str(o.stdout.lines().next().unwrap_or(""))
        .map_err(|_| fail("facts", o.stdout.clone()))?;
    eq("cwd", json!("/etc"), f["cwd"].clone())?;
    let env: Vec<String> = serde_json::from_value(f["env"].clone()).unwrap_or_default();
    check(
        env.iter().any(|e| e == "FROM=process-json"),
        "env from process.json",
        format!("{env:?}"),
    )?;
    eq(
        "effective caps",
        json!(1u64 << 5),
        f["caps"]["effective"].clone(),
    )
}

pub(crate) fn exec_detached(c: &mut Ctx) -> Result<(Ctr, i32, Value), Verdict> {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let pf = c.dir.join("exec.pid");
    let pfs = pf.to_string_lossy().into_owned();
    let (reader, writer) = std::io::pipe().map_err(|e| fail("pipe", e))?;
    let o = c.cmd_io(
        &[
            "exec",
            "--detach",
            "--pid-file",
            &pfs,
            &ctr.id,
            "/probe",
            "--pause",
        ],
        Io {
            stdout: Some(std::process::Stdio::from(writer)),
            ..Default::default()
        },
    )?;
    check(o.ok(), "exec --detach", o.summary())?;
    let out = crate::harness::read_all(Some(reader), crate::harness::CONTAINER_TIMEOUT)?;
    let facts: Value = serde_json::from_str(out.lines().next().unwrap_or(""))
        .map_err(|_| fail("facts", out.clone()))?;
    let text = std::fs::read_to_string(&pf).map_err(|e| fail("exec --pid-file written", e))?;
    let pid: i32 = text
        .trim()
        .parse()
        .map_err(|_| fail("a pid in the exec pid file", &text))?;
    c.track_pid(pid);
    Ok((ctr, pid, facts))
}

fn exec_detach_pid_file(c: &mut Ctx) -> TestResult {
    let (ctr, pid, facts) = exec_detached(c)?;
    let ns = std::fs::read_link(format!("/proc/{pid}/ns/pid"))
        .map_err(|e| fail("the exec'd process alive", e))?;
    eq(
        "pid ns of the pid-file pid",
        ctr.facts["ns"]["pid"].clone(),
        json!(ns.to_string_lossy()),
    )?;
    check(
        facts["pid"] != json!(1),
        "the exec'd process is not pid 1",
        &facts["pid"],
    )
}

fn exec_in_cgroup(c: &mut Ctx) -> TestResult {
    let (ctr, pid, _) = exec_detached(c)?;
    let a = cgroup_dir(ctr.pid, "pids")?;
    let b = cgroup_dir(pid, "pids")?;
    eq("cgroup of exec'd process", a, b)
}

fn exec_stopped_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    let (o, _) = c.exec_probe(&r.ctr, &[], &[])?;
    // runc and baleia: "cannot exec in a stopped container"; crun 1.8: "the
    // container `<id>` is not running".
    failed_for(
        &o,
        "exec in a stopped container",
        &[&["stopped"], &["not running"]],
    )
}

fn exec_unknown_fails(c: &mut Ctx) -> TestResult {
    let id = c.gone_id()?;
    c.cmd_not_found(
        &["exec", &id, "/probe"],
        "exec in an unknown container",
        &id,
    )
}

fn exec_paused_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let p = c.cmd(&["pause", &ctr.id])?;
    check(p.ok(), "pause", p.summary())?;
    let (o, _) = c.exec_probe(&ctr, &[], &[])?;
    let _ = c.cmd(&["resume", &ctr.id]);
    failed_for(&o, "exec in a paused container", &[&["paused"]])
}

fn exec_cap(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let f = exec_ok(c, &ctr, &["--cap", "CAP_SYS_ADMIN"], &[])?;
    let eff = f["caps"]["effective"].as_u64().unwrap_or(0);
    check(
        eff & (1 << 21) != 0,
        "CAP_SYS_ADMIN effective",
        crate::groups::process::cap_names(eff).join(","),
    )
}

fn exec_nnp_from_config(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let f = exec_ok(c, &ctr, &[], &[])?;
    eq("no_new_privs", json!(true), f["no_new_privs"].clone())
}

fn exec_hostname(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let f = exec_ok(c, &ctr, &[], &[])?;
    eq("hostname", json!("conformance"), f["hostname"].clone())
}

fn exec_only_stdio(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let f = exec_ok(c, &ctr, &[], &[])?;
    let mut fds: Vec<String> = f["fds"]
        .as_object()
        .map(|m| m.keys().cloned().collect())
        .unwrap_or_default();
    fds.sort();
    eq(
        "open fds",
        vec!["0".to_string(), "1".into(), "2".into()],
        fds,
    )
}

fn kill_all_exec(c: &mut Ctx) -> TestResult {
    let (ctr, pid, _) = exec_detached(c)?;
    let o = c.cmd(&["kill", "--all", &ctr.id, "KILL"])?;
    check(o.ok(), "kill --all", o.summary())?;
    let a = runtime::wait_pid(ctr.pid, crate::harness::CONTAINER_TIMEOUT);
    let b = runtime::wait_pid(pid, crate::harness::CONTAINER_TIMEOUT);
    eq("[init, exec'd] ends", [runtime::Exit::Signal(9); 2], [a, b])
}

fn delete_force_exec(c: &mut Ctx) -> TestResult {
    let (ctr, pid, _) = exec_detached(c)?;
    let o = c.cmd(&["delete", "--force", &ctr.id])?;
    check(o.ok(), "delete --force", o.summary())?;
    let b = runtime::wait_pid(pid, crate::harness::CONTAINER_TIMEOUT);
    check(
        b != runtime::Exit::Timeout,
        "the exec'd process killed by delete --force",
        "still running",
    )
}

fn external_kill(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    // SAFETY: kill only signals our own container's init.
    unsafe { libc::kill(ctr.pid, libc::SIGKILL) };
    runtime::wait_pid(ctr.pid, crate::harness::CONTAINER_TIMEOUT);
    c.wait_status(&ctr, "stopped")
}

fn no_new_keyring(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let mut ctr = c.create_with(&cfg, &["--no-new-keyring"], Io::default())?;
    c.start(&ctr)?;
    let f = c.read_facts(&mut ctr)?;
    eq("pid", json!(1), f["pid"].clone())
}

// pause, resume, ps, events, update

fn freezer_state(pid: i32) -> Result<String, Verdict> {
    if let Ok(d) = cgroup_dir(pid, "freezer") {
        if let Ok(s) = std::fs::read_to_string(d.join("freezer.state")) {
            return Ok(s.trim().to_string());
        }
    }
    let d = cgroup_dir(pid, "")?;
    let s = std::fs::read_to_string(d.join("cgroup.freeze"))
        .map_err(|e| crate::harness::skip(format!("no freezer: {e}")))?;
    Ok(if s.trim() == "1" {
        "FROZEN".into()
    } else {
        "THAWED".into()
    })
}

fn pause(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let p = c.cmd(&["pause", &ctr.id])?;
    check(p.ok(), "pause", p.summary())?;
    let s = c.state(&ctr.id)?;
    eq("status", json!("paused"), s["status"].clone())?;
    eq("freezer", "FROZEN".to_string(), freezer_state(ctr.pid)?)
}

fn resume(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let p = c.cmd(&["pause", &ctr.id])?;
    check(p.ok(), "pause", p.summary())?;
    let r = c.cmd(&["resume", &ctr.id])?;
    check(r.ok(), "resume", r.summary())?;
    let s = c.state(&ctr.id)?;
    eq("status", json!("running"), s["status"].clone())?;
    eq("freezer", "THAWED".to_string(), freezer_state(ctr.pid)?)
}

fn paused_process_stops(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let p = c.cmd(&["pause", &ctr.id])?;
    check(p.ok(), "pause", p.summary())?;
    let st =
        std::fs::read_to_string(format!("/proc/{}/stat", ctr.pid)).map_err(|e| fail("stat", e))?;
    let _ = c.cmd(&["resume", &ctr.id]);
    let state = st
        .rsplit_once(')')
        .map(|x| x.1.trim().chars().next().unwrap_or('?'))
        .unwrap_or('?');
    // A frozen task sleeps in the freezer (D on v1, S on v2): never R.
    check(
        state != 'R',
        "the init not running while paused",
        format!("state {state}"),
    )
}

fn pause_stopped_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    // runc and baleia: "container not running"; crun 1.8: "the container
    // `<id>` is not running: No such process".
    c.cmd_fails(
        &["pause", &r.ctr.id],
        "pause of a stopped container",
        &[&["not running"]],
    )
    .map(|_| ())
}

fn resume_running_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    c.cmd_fails(
        &["resume", &ctr.id],
        "resume of a running container",
        &[&["not paused"]],
    )
    .map(|_| ())
}

fn ps_json(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let o = c.cmd(&["ps", "--format", "json", &ctr.id])?;
    check(o.ok(), "ps", o.summary())?;
    let v: Value =
        serde_json::from_str(&o.stdout).map_err(|_| fail("a JSON array", o.stdout.clone()))?;
    eq("ps", json!([ctr.pid]), v)
}

fn ps_with_exec(c: &mut Ctx) -> TestResult {
    let (ctr, pid, _) = exec_detached(c)?;
    let o = c.cmd(&["ps", "--format", "json", &ctr.id])?;
    check(o.ok(), "ps", o.summary())?;
    let v: Vec<i64> =
        serde_json::from_str(&o.stdout).map_err(|_| fail("a JSON array", o.stdout.clone()))?;
    check(
        v.contains(&(ctr.pid as i64)) && v.contains(&(pid as i64)),
        format!("{} and {pid}", ctr.pid),
        format!("{v:?}"),
    )
}

fn events_stats(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let o = c.cmd(&["events", "--stats", &ctr.id])?;
    check(o.ok(), "events --stats", o.summary())?;
    let v: Value = serde_json::from_str(o.stdout.trim())
        .map_err(|_| fail("one JSON event", o.stdout.clone()))?;
    eq("type", json!("stats"), v["type"].clone())?;
    check(
        v["data"]["pids"]["current"].as_u64().unwrap_or(0) >= 1,
        "data.pids.current >= 1",
        &v["data"]["pids"],
    )
}

fn update_json(c: &mut Ctx, res: Value, ctrl: &str, file: &str, want: &str) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let o = c.cmd_io(
        &["update", "--resources", "-", &ctr.id],
        Io {
            stdin: Some(res.to_string().into_bytes()),
            ..Default::default()
        },
    )?;
    check(o.ok(), "update", o.summary())?;
    let v = c.cgroup_file(ctr.pid, ctrl, file)?;
    eq(file, want.to_string(), v)
}

fn update_memory(c: &mut Ctx) -> TestResult {
    update_json(
        c,
        json!({"memory": {"limit": 67108864}}),
        "memory",
        "memory.limit_in_bytes",
        "67108864",
    )
}
fn update_pids(c: &mut Ctx) -> TestResult {
    update_json(c, json!({"pids": {"limit": 42}}), "pids", "pids.max", "42")
}
fn update_cpu_shares(c: &mut Ctx) -> TestResult {
    update_json(
        c,
        json!({"cpu": {"shares": 512}}),
        "cpu",
        "cpu.shares",
        "512",
    )
}
fn update_cpu_quota(c: &mut Ctx) -> TestResult {
    update_json(
        c,
        json!({"cpu": {"quota": 50000, "period": 100000}}),
        "cpu",
        "cpu.cfs_quota_us",
        "50000",
    )
}

fn update_keeps_others(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["linux"]["resources"]["memory"] = json!({"limit": 134217728});
    let ctr = c.running(cfg)?;
    let o = c.cmd_io(
        &["update", "--resources", "-", &ctr.id],
        Io {
            stdin: Some(json!({"pids": {"limit": 77}}).to_string().into_bytes()),
            ..Default::default()
        },
    )?;
    check(o.ok(), "update", o.summary())?;
    let v = c.cgroup_file(ctr.pid, "memory", "memory.limit_in_bytes")?;
    eq(
        "memory.limit_in_bytes after a pids-only update",
        "134217728".to_string(),
        v,
    )
}

fn update_flag(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let o = c.cmd(&["update", "--pids-limit", "33", &ctr.id])?;
    check(o.ok(), "update --pids-limit", o.summary())?;
    let v = c.cgroup_file(ctr.pid, "pids", "pids.max")?;
    eq("pids.max", "33".to_string(), v)
}

fn update_stopped_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    c.cmd_fails(
        &["update", "--pids-limit", "33", &r.ctr.id],
        "update of a stopped container",
        &[&["not running"]],
    )
    .map(|_| ())
}

// pid file

fn pid_file_matches_state(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let s = c.state(&ctr.id)?;
    eq("pid", s["pid"].clone(), json!(ctr.pid))
}

fn pid_file_no_newline(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let t =
        std::fs::read_to_string(ctr.bundle.path.join("pid")).map_err(|e| fail("pid file", e))?;
    check(
        !t.is_empty() && t.bytes().all(|b| b.is_ascii_digit()),
        "only decimal digits (the containerd shim's Atoi rejects a newline)",
        format!("{t:?}"),
    )
}

fn pid_file_host_pid(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let host = std::fs::read_link("/proc/self/ns/pid").map_err(|e| fail("ns", e))?;
    let theirs = std::fs::read_link(format!("/proc/{}/ns/pid", ctr.pid))
        .map_err(|e| fail("a live host pid in the pid file", e))?;
    check(
        host != theirs,
        "the pid file's pid is the container init seen from the host",
        "a process in the host's pid ns",
    )
}

fn exec_pid_file(c: &mut Ctx) -> TestResult {
    let (_, pid, _) = exec_detached(c)?;
    check(
        pid > 0 && std::path::Path::new(&format!("/proc/{pid}")).exists(),
        "a live pid",
        pid,
    )
}

fn pid_file_relative(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let b = c.bundle(&cfg)?;
    let id = c.id();
    let bp = b.path.to_string_lossy().into_owned();
    // The runtime runs in the harness's cwd; name the file relative to it.
    let cwd = std::env::current_dir().map_err(|e| fail("cwd", e))?;
    let abs = b.path.join("rel.pid");
    let rel = pathdiff(&abs, &cwd);
    let o = c.cmd(&["create", "--bundle", &bp, "--pid-file", &rel, &id])?;
    check(o.ok(), "create", o.summary())?;
    check(
        abs.exists(),
        format!("{rel} resolved against the cwd"),
        "no pid file there",
    )
}

fn pathdiff(p: &std::path::Path, base: &std::path::Path) -> String {
    let depth = base.components().count().saturating_sub(1);
    let up = "../".repeat(depth);
    format!("{up}{}", p.to_string_lossy().trim_start_matches('/'))
}

// error contract

fn last_error(o: &runtime::Output) -> Result<Value, Verdict> {
    let line = o
        .log
        .lines()
        .rfind(|l| !l.trim().is_empty())
        .ok_or_else(|| fail("a JSON error line in --log", "an empty log"))?;
    serde_json::from_str(line).map_err(|_| fail("the log's last line as JSON", line))
}

fn log_json_line(c: &mut Ctx) -> TestResult {
    let id = c.gone_id()?;
    let o = c.cmd(&["state", &id])?;
    let v = last_error(&o)?;
    eq("level", json!("error"), v["level"].clone())?;
    check(
        v["msg"].as_str().is_some_and(|m| !m.is_empty()),
        "a msg",
        &v,
    )?;
    check(v["time"].is_string(), "a time", &v)
}

fn exit_one(c: &mut Ctx) -> TestResult {
    let id = c.gone_id()?;
    let o = c.cmd(&["state", &id])?;
    eq("exit status", Some(1), o.code)?;
    // The status alone is what any failing binary gives: the failure must be the
    // one asked about, logged where engines read it.
    check(
        !o.log_errors().is_empty(),
        "an error-level line in --log",
        format!("{:?}", o.log),
    )?;
    not_found(&o, "state of an unknown id", &id)
}

fn msg_contains(c: &mut Ctx, args: &[&str], want: &str) -> TestResult {
    let o = c.cmd(args)?;
    check(!o.ok(), "the command to fail", o.summary())?;
    let m = o.error_msg();
    check(m.contains(want), format!("an error containing {want:?}"), m)
}

fn not_exist(c: &mut Ctx, cmd: &str) -> TestResult {
    let id = c.gone_id()?;
    let mut a = vec![cmd];
    if cmd == "kill" {
        a = vec!["kill", &id, "KILL"];
    } else {
        a.push(&id);
    }
    let a: Vec<String> = a.iter().map(|s| s.to_string()).collect();
    let a: Vec<&str> = a.iter().map(String::as_str).collect();
    msg_contains(c, &a, "does not exist")
}

fn state_not_exist(c: &mut Ctx) -> TestResult {
    not_exist(c, "state")
}
fn kill_not_exist(c: &mut Ctx) -> TestResult {
    not_exist(c, "kill")
}
fn delete_not_exist(c: &mut Ctx) -> TestResult {
    not_exist(c, "delete")
}
fn start_not_exist(c: &mut Ctx) -> TestResult {
    not_exist(c, "start")
}

fn already_exists(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let b = ctr.bundle.path.to_string_lossy().into_owned();
    msg_contains(c, &["create", "--bundle", &b, &ctr.id], "already exists")
}

fn invalid_id(c: &mut Ctx, id: &str) -> TestResult {
    let cfg = c.spec(&[]);
    let b = c.bundle(&cfg)?;
    let bp = b.path.to_string_lossy().into_owned();
    let o = c.cmd(&["create", "--bundle", &bp, id])?;
    if o.ok() {
        let _ = c.cmd(&["delete", "--force", id]);
        return Err(fail(format!("id {id:?} rejected"), "create succeeded"));
    }
    // runc and baleia: "invalid container ID format". crun 1.8 does not check
    // ids: "a/b" fails at mkdir of its state dir and ".." as "already exists"
    // (its state root's parent does), neither because the id is invalid.
    failed_for(
        &o,
        &format!("create with id {id:?}"),
        &[&["invalid container id"]],
    )
}

fn invalid_id_slash(c: &mut Ctx) -> TestResult {
    invalid_id(c, "a/b")
}
fn invalid_id_dotdot(c: &mut Ctx) -> TestResult {
    invalid_id(c, "..")
}
fn invalid_id_space(c: &mut Ctx) -> TestResult {
    invalid_id(c, "a b")
}

fn invalid_id_text(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let b = c.bundle(&cfg)?;
    let bp = b.path.to_string_lossy().into_owned();
    msg_contains(
        c,
        &["create", "--bundle", &bp, "bad/id"],
        "invalid container ID",
    )
}

fn not_running_text(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    msg_contains(c, &["kill", &r.ctr.id, "KILL"], "not running")
}

fn log_exists_on_success(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let _ = ctr;
    // The driver passes a fresh --log per call; the create's file must exist.
    let logs: Vec<_> = std::fs::read_dir(c.dir.join("calls"))
        .map_err(|e| fail("calls dir", e))?
        .flatten()
        .filter(|e| e.file_name().to_string_lossy().ends_with(".log"))
        .collect();
    check(
        !logs.is_empty(),
        "the --log file created even when nothing is logged",
        "no log file",
    )
}

fn log_lines_json(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    for l in r.ctr.create.log.lines().filter(|l| !l.trim().is_empty()) {
        serde_json::from_str::<Value>(l).map_err(|_| fail("every --log line JSON", l))?;
    }
    Ok(())
}

fn missing_exe_text(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["args"] = json!(["/nonexistent"]);
    let o = c.create_fails(&cfg, &[&["no such file or directory"]])?;
    let m = o.error_msg();
    check(
        m.contains("no such file or directory"),
        "\"no such file or directory\" (podman/Docker map it to 127)",
        m,
    )
}

fn permission_text(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["args"] = json!(["/etc/passwd"]);
    let o = c.create_fails(&cfg, &[&["permission denied"]])?;
    let m = o.error_msg();
    check(
        m.contains("permission denied"),
        "\"permission denied\" (podman/Docker map it to 126)",
        m,
    )
}

fn bad_config(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let b = c.bundle(&cfg)?;
    std::fs::write(b.path.join("config.json"), "{not json").map_err(|e| fail("write", e))?;
    let id = c.id();
    let bp = b.path.to_string_lossy().into_owned();
    let o = c.cmd(&["create", "--bundle", &bp, &id])?;
    eq("exit status", Some(1), o.code)?;
    last_error(&o)?;
    // runc passes on Go's JSON error ("invalid character 'n' looking for ...");
    // crun 1.8 and baleia name config.json.
    failed_for(
        &o,
        "create with a broken config.json",
        &[&["config.json"], &["invalid character"]],
    )
}

fn missing_bundle(c: &mut Ctx) -> TestResult {
    let id = c.id();
    c.cmd_fails(
        &["create", "--bundle", "/nonexistent/bundle", &id],
        "create with a missing bundle",
        &[&["/nonexistent/bundle", "no such file or directory"]],
    )
    .map(|_| ())
}

fn version(c: &mut Ctx) -> TestResult {
    let o = c.cmd(&["--version"])?;
    check(o.ok(), "--version", o.summary())?;
    let first = o.stdout.lines().next().unwrap_or_default().to_string();
    check(
        first.contains("version"),
        "a \"<name> version X\" first line",
        &first,
    )?;
    check(
        o.stdout.lines().any(|l| l.starts_with("spec:")),
        "a \"spec: 1.x\" line",
        o.stdout.clone(),
    )
}

fn unknown_command(c: &mut Ctx) -> TestResult {
    // Each runtime words it its own way (runc: "No help topic for ...", crun:
    // "unknown command ...", baleia: "unknown command '...'"); all name it.
    c.cmd_fails(
        &["no-such-command"],
        "an unknown command",
        &[&["'no-such-command'"], &["command no-such-command"]],
    )
    .map(|_| ())
}

fn failed_create_leaves_nothing(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["args"] = json!(["/nonexistent"]);
    let b = c.bundle(&cfg)?;
    let id = c.id();
    let bp = b.path.to_string_lossy().into_owned();
    c.cmd_fails(
        &["create", "--bundle", &bp, &id],
        "create of a missing executable",
        &[&["/nonexistent", "no such file or directory"]],
    )?;
    c.cmd_not_found(&["state", &id], "state after a failed create", &id)
}

/// The exec, operations, pid-file and error tests.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(
            E,
            "namespaces",
            "runc exec: the process joins every namespace of the container",
            exec_namespaces,
        ),
        Test::new(
            E,
            "exit-code",
            "runc exec (attached): exits with the process's status",
            exec_exit_code,
        ),
        Test::new(E, "env", "runc exec --env", exec_env),
        Test::new(E, "cwd", "runc exec --cwd", exec_cwd),
        Test::new(E, "user", "runc exec --user uid:gid", exec_user),
        Test::new(
            E,
            "process-json",
            "runc exec --process: a config.md process object",
            exec_process_json,
        ),
        Test::new(
            E,
            "detach-pid-file",
            "runc exec --detach --pid-file: host pid of the exec'd process",
            exec_detach_pid_file,
        ),
        Test::new(
            E,
            "cgroup",
            "runc exec: the process joins the container's cgroup",
            exec_in_cgroup,
        ),
        Test::new(
            E,
            "stopped-fails",
            "runc exec: a stopped container is an error",
            exec_stopped_fails,
        ),
        Test::new(
            E,
            "unknown-fails",
            "runc exec: an unknown container is an error",
            exec_unknown_fails,
        ),
        Test::new(
            E,
            "paused-fails",
            "runc exec: a paused container is an error (\"container paused\")",
            exec_paused_fails,
        ),
        Test::new(E, "cap", "runc exec --cap: adds a capability", exec_cap),
        Test::new(
            E,
            "no-new-privs",
            "runc exec: noNewPrivileges from config.json",
            exec_nnp_from_config,
        ),
        Test::new(
            E,
            "hostname",
            "runc exec: same uts namespace, same hostname",
            exec_hostname,
        ),
        Test::new(
            E,
            "only-stdio-fds",
            "runc exec: only fds 0-2 reach the process (CVE-2024-21626)",
            exec_only_stdio,
        ),
        Test::new(
            E,
            "kill-all",
            "runc kill --all: exec'd processes are signalled too",
            kill_all_exec,
        ),
        Test::new(
            E,
            "delete-force",
            "runc delete --force: exec'd processes are killed too",
            delete_force_exec,
        ),
        Test::new(
            O,
            "external-kill",
            "runc state: an init killed behind the runtime's back shows stopped",
            external_kill,
        ),
        Test::new(
            O,
            "no-new-keyring",
            "runc create --no-new-keyring (containerd passes it)",
            no_new_keyring,
        ),
        Test::new(
            O,
            "pause",
            "runc pause: freezes the cgroup, status paused",
            pause,
        ),
        Test::new(O, "resume", "runc resume: thaws, status running", resume),
        Test::new(
            O,
            "paused-not-running",
            "runc pause: the processes stop running",
            paused_process_stops,
        ),
        Test::new(
            O,
            "pause-stopped-fails",
            "runc pause: a stopped container is an error",
            pause_stopped_fails,
        ),
        Test::new(
            O,
            "resume-running-fails",
            "runc resume: a running container is an error (\"container not paused\")",
            resume_running_fails,
        ),
        Test::new(
            O,
            "ps-json",
            "runc ps --format json: a JSON array of host pids",
            ps_json,
        ),
        Test::new(
            O,
            "ps-exec",
            "runc ps: includes exec'd processes",
            ps_with_exec,
        ),
        Test::new(
            O,
            "events-stats",
            "runc events --stats: one stats event as JSON",
            events_stats,
        ),
        Test::new(
            O,
            "update-memory",
            "runc update --resources -: LinuxResources on stdin (memory.limit)",
            update_memory,
        ),
        Test::new(
            O,
            "update-pids",
            "runc update --resources -: pids.limit",
            update_pids,
        ),
        Test::new(
            O,
            "update-cpu-shares",
            "runc update --resources -: cpu.shares",
            update_cpu_shares,
        ),
        Test::new(
            O,
            "update-cpu-quota",
            "runc update --resources -: cpu.quota/period",
            update_cpu_quota,
        ),
        Test::new(
            O,
            "update-keeps-others",
            "runc update: omitted fields stay as they are",
            update_keeps_others,
        ),
        Test::new(O, "update-flag", "runc update --pids-limit", update_flag),
        Test::new(
            O,
            "update-stopped-fails",
            "runc update: a stopped container is an error",
            update_stopped_fails,
        ),
        Test::new(
            PF,
            "matches-state",
            "runc --pid-file: the pid of state",
            pid_file_matches_state,
        ),
        Test::new(
            PF,
            "no-newline",
            "runc --pid-file: digits only, no newline (containerd shim)",
            pid_file_no_newline,
        ),
        Test::new(
            PF,
            "host-pid",
            "runc --pid-file: the host's view of the init",
            pid_file_host_pid,
        ),
        Test::new(PF, "exec", "runc exec --pid-file", exec_pid_file),
        Test::new(
            PF,
            "relative",
            "runc --pid-file: a relative path is relative to the cwd",
            pid_file_relative,
        ),
        Test::new(
            ER,
            "log-json",
            "runc --log-format json: failures end with {\"level\":\"error\",\"msg\",\"time\"}",
            log_json_line,
        ),
        Test::new(ER, "exit-one", "runc: a failed command exits 1", exit_one),
        Test::new(
            ER,
            "state-does-not-exist",
            "runc: \"container ... does not exist\" (engines match it)",
            state_not_exist,
        ),
        Test::new(
            ER,
            "kill-does-not-exist",
            "runc kill: \"does not exist\" (containerd treats it as gone)",
            kill_not_exist,
        ),
        Test::new(
            ER,
            "delete-does-not-exist",
            "runc delete: \"does not exist\" (containerd treats it as deleted)",
            delete_not_exist,
        ),
        Test::new(
            ER,
            "start-does-not-exist",
            "runc start: \"does not exist\"",
            start_not_exist,
        ),
        Test::new(
            ER,
            "already-exists",
            "runc create: \"container with given ID already exists\"",
            already_exists,
        ),
        Test::new(
            ER,
            "invalid-id-slash",
            "runc: ids match [\\w+-.]+; \"a/b\" is rejected",
            invalid_id_slash,
        ),
        Test::new(
            ER,
            "invalid-id-dotdot",
            "runc: \"..\" is rejected",
            invalid_id_dotdot,
        ),
        Test::new(
            ER,
            "invalid-id-space",
            "runc: \"a b\" is rejected",
            invalid_id_space,
        ),
        Test::new(
            ER,
            "invalid-id-text",
            "runc: \"invalid container ID format\"",
            invalid_id_text,
        ),
        Test::new(
            ER,
            "not-running-text",
            "runc kill: \"container not running\" (containerd matches it)",
            not_running_text,
        ),
        Test::new(
            ER,
            "log-created",
            "containerd: the --log file exists even when empty",
            log_exists_on_success,
        ),
        Test::new(
            ER,
            "log-lines-json",
            "runc --log-format json: every line is JSON",
            log_lines_json,
        ),
        Test::new(
            ER,
            "missing-exe-text",
            "runc: exec: \"/x\": stat /x: no such file or directory (podman/Docker 127)",
            missing_exe_text,
        ),
        Test::new(
            ER,
            "permission-text",
            "runc: permission denied for a non-executable (podman/Docker 126)",
            permission_text,
        ),
        Test::new(
            ER,
            "bad-config",
            "runtime.md create: an invalid config.json MUST generate an error (exit 1, log line)",
            bad_config,
        ),
        Test::new(
            ER,
            "missing-bundle",
            "runtime.md create: a missing bundle MUST generate an error",
            missing_bundle,
        ),
        Test::new(
            ER,
            "version",
            "runc --version: \"X version\", \"spec: 1.x\" lines",
            version,
        ),
        Test::new(
            ER,
            "unknown-command",
            "runc: an unknown command fails",
            unknown_command,
        ),
        Test::new(
            ER,
            "failed-create-leaves-nothing",
            "runtime.md create: on error no container is created",
            failed_create_leaves_nothing,
        ),
    ]
}
