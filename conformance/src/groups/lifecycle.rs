//! Lifecycle and state (runtime-spec runtime.md "State", "Lifecycle",
//! "Operations"), plus create-vs-start.

use crate::harness::{check, eq, fail, not_found, Ctx, Test, TestResult};
use crate::runtime::Exit;
use serde_json::json;

const G: &str = "lifecycle";
const CS: &str = "create-start";

fn created_status(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let s = c.state(&ctr.id)?;
    eq("status", json!("created"), s["status"].clone())
}

fn state_required_fields(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let s = c.state(&ctr.id)?;
    for k in ["ociVersion", "id", "status", "pid", "bundle"] {
        check(s.get(k).is_some(), format!("state has {k:?}"), &s)?;
    }
    Ok(())
}

fn state_id(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let s = c.state(&ctr.id)?;
    eq("id", json!(ctr.id), s["id"].clone())
}

fn state_pid_matches_pid_file(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let s = c.state(&ctr.id)?;
    eq("pid", json!(ctr.pid), s["pid"].clone())
}

fn state_bundle_absolute(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let s = c.state(&ctr.id)?;
    eq(
        "bundle",
        json!(ctr.bundle.path.to_string_lossy()),
        s["bundle"].clone(),
    )
}

fn state_oci_version(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let s = c.state(&ctr.id)?;
    let v = s["ociVersion"].as_str().unwrap_or_default();
    check(v.starts_with("1."), "ociVersion 1.x", v)
}

fn state_annotations(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["annotations"] = json!({"org.example.key": "value"});
    let ctr = c.create(&cfg)?;
    let s = c.state(&ctr.id)?;
    eq(
        "annotations",
        json!("value"),
        s["annotations"]["org.example.key"].clone(),
    )
}

fn state_created_timestamp(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let s = c.state(&ctr.id)?;
    let t = s["created"].as_str().unwrap_or_default();
    // RFC 3339: 2006-01-02T15:04:05.999999999Z
    let ok = t.len() >= 20 && t.as_bytes()[4] == b'-' && t.as_bytes()[10] == b'T';
    check(ok, "created as an RFC 3339 timestamp", t)
}

fn running_after_start(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let s = c.state(&ctr.id)?;
    eq("status", json!("running"), s["status"].clone())
}

fn stopped_after_exit(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    let s = c.state(&r.ctr.id)?;
    eq("status", json!("stopped"), s["status"].clone())
}

fn stopped_pid_zero(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    let s = c.state(&r.ctr.id)?;
    eq("pid", json!(0), s["pid"].clone())
}

fn exit_status_reaches_parent(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&["--exit", "7"]);
    let r = c.run(&cfg)?;
    eq("exit", Exit::Code(7), r.exit)
}

fn start_running_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    // runc and baleia: "cannot start an already running container"; crun 1.8
    // finds the exec fifo that only a created container has gone.
    c.cmd_fails(
        &["start", &ctr.id],
        "start of a running container",
        &[
            &["already running"],
            &["exec.fifo", "no such file or directory"],
        ],
    )?;
    let s = c.state(&ctr.id)?;
    eq(
        "status after failed start",
        json!("running"),
        s["status"].clone(),
    )
}

fn start_stopped_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    // runc and baleia: "cannot start a container that has stopped"; crun 1.8:
    // "container `<id>` is not running".
    c.cmd_fails(
        &["start", &r.ctr.id],
        "start of a stopped container",
        &[&["has stopped"], &["is not running"]],
    )
    .map(|_| ())
}

fn start_unknown_fails(c: &mut Ctx) -> TestResult {
    let id = c.gone_id()?;
    c.cmd_not_found(&["start", &id], "start of an unknown container", &id)
}

fn create_duplicate_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let b = ctr.bundle.path.to_string_lossy().into_owned();
    c.cmd_fails(
        &["create", "--bundle", &b, &ctr.id],
        "create with a used id",
        &[&["already exists"]],
    )?;
    let s = c.state(&ctr.id)?;
    eq(
        "first container's status",
        json!("created"),
        s["status"].clone(),
    )
}

fn state_unknown_fails(c: &mut Ctx) -> TestResult {
    let id = c.gone_id()?;
    c.cmd_not_found(&["state", &id], "state of an unknown id", &id)
}

fn deleted_state_gone(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    let d = c.cmd(&["delete", &r.ctr.id])?;
    check(d.ok(), "delete to succeed", d.summary())?;
    let o = c.cmd(&["state", &r.ctr.id])?;
    not_found(&o, "state after delete", &r.ctr.id)
}

fn id_reusable_after_delete(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let r = c.run(&cfg)?;
    let d = c.cmd(&["delete", &r.ctr.id])?;
    check(d.ok(), "delete to succeed", d.summary())?;
    let b = r.ctr.bundle.path.to_string_lossy().into_owned();
    let o = c.cmd(&["create", "--bundle", &b, &r.ctr.id])?;
    check(
        o.ok(),
        "create with the id of a deleted container",
        o.summary(),
    )
}

fn list_shows_container(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let o = c.cmd(&["list", "--format", "json"])?;
    check(o.ok(), "list to succeed", o.summary())?;
    check(
        o.stdout.contains(&ctr.id),
        format!("{} in list", ctr.id),
        o.stdout,
    )
}

fn run_command(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&["--exit", "3"]);
    let b = c.bundle(&cfg)?;
    let id = c.id();
    let bp = b.path.to_string_lossy().into_owned();
    let o = c.cmd(&["run", "--bundle", &bp, &id])?;
    eq("run's exit status (the container's)", Some(3), o.code)?;
    check(
        o.stdout.contains("\"pid\":1"),
        "the probe's output on run's stdout",
        o.stdout.chars().take(80).collect::<String>(),
    )
}

// create vs start

fn not_run_before_start(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["args"] = json!(["/bin/sh", "-c", "echo ran > /ran; exec /probe"]);
    let mut ctr = c.create(&cfg)?;
    let marker = ctr.bundle.rootfs().join("ran");
    check(
        !marker.exists(),
        "no user process before start",
        "the marker file exists after create",
    )?;
    c.start(&ctr)?;
    c.read_facts(&mut ctr)?;
    check(
        marker.exists(),
        "the user process to run on start",
        "no marker after start",
    )
}

fn missing_executable_fails_create(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["args"] = json!(["/nonexistent"]);
    c.create_fails(&cfg, &[&["/nonexistent", "no such file or directory"]])
        .map(|_| ())
}

fn non_executable_fails_create(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["args"] = json!(["/etc/passwd"]);
    c.create_fails(&cfg, &[&["permission denied"]]).map(|_| ())
}

fn namespaces_exist_at_create(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let mine = std::fs::read_link("/proc/self/ns/uts").map_err(|e| fail("host uts ns", e))?;
    let theirs = std::fs::read_link(format!("/proc/{}/ns/uts", ctr.pid))
        .map_err(|e| fail("the init's uts ns readable", e))?;
    check(
        mine != theirs,
        "a new uts namespace before start",
        format!("{theirs:?} = host's"),
    )
}

fn init_pid_is_the_process(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let host_view = std::fs::read_link(format!("/proc/{}/ns/pid", ctr.pid))
        .map_err(|e| fail("the init's pid ns readable", e))?;
    eq(
        "pid ns of the pid-file pid",
        json!(host_view.to_string_lossy()),
        ctr.facts["ns"]["pid"].clone(),
    )?;
    eq("pid inside", json!(1), ctr.facts["pid"].clone())
}

fn cgroup_joined_at_create(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let want = cfg["linux"]["cgroupsPath"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ctr = c.create(&cfg)?;
    let cg = std::fs::read_to_string(format!("/proc/{}/cgroup", ctr.pid))
        .map_err(|e| fail("cgroup readable", e))?;
    check(
        cg.contains(&want),
        format!("init in {want} after create"),
        cg,
    )
}

fn start_returns_while_running(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let alive = std::path::Path::new(&format!("/proc/{}", ctr.pid)).exists();
    check(
        alive,
        "start to return while the process runs",
        "the init is gone",
    )
}

fn stdio_is_runtimes(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    let fd1 = f["fds"]["1"].as_str().unwrap_or_default();
    check(
        fd1.starts_with("pipe:"),
        "stdout = the pipe given to create",
        fd1,
    )
}

/// The lifecycle and create-start tests.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(G, "created-status", "runtime.md create: state created after create; status \"created\"", created_status),
        Test::new(G, "state-required-fields", "runtime.md State: ociVersion, id, status, pid, bundle are REQUIRED", state_required_fields),
        Test::new(G, "state-id", "runtime.md State: id is the container's ID", state_id),
        Test::new(G, "state-pid-is-pid-file", "runtime.md State: pid is the process ID on the host; runc: --pid-file holds the same", state_pid_matches_pid_file),
        Test::new(G, "state-bundle-absolute", "runtime.md State: bundle is the absolute path to the bundle directory", state_bundle_absolute),
        Test::new(G, "state-ociversion", "runtime.md State: ociVersion of the spec the state complies with", state_oci_version),
        Test::new(G, "state-annotations", "runtime.md State: annotations from config.json", state_annotations),
        Test::new(G, "state-created-rfc3339", "runc: state.created is an RFC 3339 timestamp", state_created_timestamp),
        Test::new(G, "running-after-start", "runtime.md Lifecycle 7/8: status running once the program runs", running_after_start),
        Test::new(G, "stopped-after-exit", "runtime.md Lifecycle 9: status stopped after the process exits", stopped_after_exit),
        Test::new(G, "stopped-pid-zero", "runc: a stopped container's state has pid 0 (engines rely on it)", stopped_pid_zero),
        Test::new(G, "exit-status", "runc: the init's exit status reaches its (subreaper) parent", exit_status_reaches_parent),
        Test::new(G, "start-running-fails", "runtime.md start: start of a container that is not created MUST generate an error and have no effect", start_running_fails),
        Test::new(G, "start-stopped-fails", "runtime.md start: not created -> error", start_stopped_fails),
        Test::new(G, "start-unknown-fails", "runtime.md start: error for an unknown id", start_unknown_fails),
        Test::new(G, "create-duplicate-id-fails", "runtime.md create: ID already in use MUST generate an error, no new container", create_duplicate_fails),
        Test::new(G, "state-unknown-fails", "runtime.md state: error when the container does not exist", state_unknown_fails),
        Test::new(G, "delete-removes-state", "runtime.md delete: the container's state is gone afterwards", deleted_state_gone),
        Test::new(G, "id-reusable-after-delete", "runtime.md delete: resources released; the id can be reused", id_reusable_after_delete),
        Test::new(G, "list", "runc list --format json lists created containers", list_shows_container),
        Test::new(G, "run", "runc run: create+start+wait, exit status is the container's", run_command),
        Test::new(CS, "not-run-before-start", "runtime.md create: the user-specified program MUST NOT be run until start", not_run_before_start),
        Test::new(CS, "missing-executable-fails-create", "runc: a missing process.args[0] fails create, not start (engines map it to exit 127)", missing_executable_fails_create),
        Test::new(CS, "non-executable-fails-create", "runc: a non-executable process.args[0] fails create", non_executable_fails_create),
        Test::new(CS, "namespaces-at-create", "runtime.md create: the environment is created by create", namespaces_exist_at_create),
        Test::new(CS, "pid-file-is-init", "runtime.md State pid; the pid-file pid is the container's init (pid 1 inside)", init_pid_is_the_process),
        Test::new(CS, "cgroup-at-create", "runtime.md create: resources applied at create; runc joins cgroupsPath before start", cgroup_joined_at_create),
        Test::new(CS, "start-returns", "runtime.md start: runs the program; runc start returns without waiting for it", start_returns_while_running),
        Test::new(CS, "stdio-from-create", "runc (detached, non-terminal): the container's stdio are create's stdio", stdio_is_runtimes),
    ]
}
