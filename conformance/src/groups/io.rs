//! Hooks (config.md "POSIX-platform Hooks", runtime.md "Lifecycle"), the
//! console socket, --preserve-fds, and `features`.

use crate::harness::{check, eq, fail, Ctx, Test, TestResult, Verdict};
use crate::runtime::{self, Io};
use serde_json::{json, Value};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

const H: &str = "hooks";
const CO: &str = "console";
const PR: &str = "preserve-fds";
const F: &str = "features";

/// A host hook that saves its stdin to `<dir>/<name>.json` and appends its
/// name to `<dir>/order`.
fn recorder(dir: &Path, name: &str) -> Value {
    let d = dir.display();
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("cat > {d}/{name}.json; echo {name} >> {d}/order")]})
}

fn hooks_dir(c: &mut Ctx) -> Result<PathBuf, Verdict> {
    let d = c.dir.join("hooks");
    std::fs::create_dir_all(&d).map_err(|e| fail("hooks dir", e))?;
    Ok(d)
}

fn order(d: &Path) -> Vec<String> {
    std::fs::read_to_string(d.join("order"))
        .unwrap_or_default()
        .lines()
        .map(str::to_string)
        .collect()
}

fn all_hooks_cfg(c: &mut Ctx, d: &Path) -> Value {
    let mut cfg = c.spec(&[]);
    let mut hooks = json!({});
    for k in [
        "prestart",
        "createRuntime",
        "createContainer",
        "poststart",
        "poststop",
    ] {
        hooks[k] = json!([recorder(d, k)]);
    }
    // startContainer runs in the container: write into its own root.
    hooks["startContainer"] =
        json!([{"path": "/bin/sh", "args": ["sh", "-c", "cat > /startContainer.json"]}]);
    cfg["hooks"] = hooks;
    cfg
}

fn create_hooks_order(c: &mut Ctx) -> TestResult {
    let d = hooks_dir(c)?;
    let cfg = all_hooks_cfg(c, &d);
    c.create(&cfg)?;
    eq(
        "hooks run by create",
        vec![
            "prestart".to_string(),
            "createRuntime".into(),
            "createContainer".into(),
        ],
        order(&d),
    )
}

fn start_hooks(c: &mut Ctx) -> TestResult {
    let d = hooks_dir(c)?;
    let cfg = all_hooks_cfg(c, &d);
    let mut ctr = c.create(&cfg)?;
    c.start(&ctr)?;
    c.read_facts(&mut ctr)?;
    // poststart runs after the process started; start returns after it.
    let o = order(&d);
    eq(
        "last hook after start",
        Some("poststart".to_string()),
        o.last().cloned(),
    )?;
    check(
        ctr.bundle.rootfs().join("startContainer.json").exists(),
        "startContainer ran inside the container",
        "no /startContainer.json in the rootfs",
    )
}

fn poststop_on_delete(c: &mut Ctx) -> TestResult {
    let d = hooks_dir(c)?;
    let cfg = all_hooks_cfg(c, &d);
    let r = c.run(&cfg)?;
    check(
        !order(&d).contains(&"poststop".to_string()),
        "no poststop before delete",
        format!("{:?}", order(&d)),
    )?;
    let o = c.cmd(&["delete", &r.ctr.id])?;
    check(o.ok(), "delete", o.summary())?;
    eq(
        "last hook",
        Some("poststop".to_string()),
        order(&d).last().cloned(),
    )
}

fn state_on_stdin(c: &mut Ctx) -> TestResult {
    let d = hooks_dir(c)?;
    let cfg = all_hooks_cfg(c, &d);
    let ctr = c.create(&cfg)?;
    let text = std::fs::read_to_string(d.join("createRuntime.json"))
        .map_err(|e| fail("createRuntime's stdin saved", e))?;
    let v: Value = serde_json::from_str(&text)
        .map_err(|_| fail("the state JSON on the hook's stdin", &text))?;
    eq("id", json!(ctr.id), v["id"].clone())?;
    eq("pid", json!(ctr.pid), v["pid"].clone())?;
    eq(
        "bundle",
        json!(ctr.bundle.path.to_string_lossy()),
        v["bundle"].clone(),
    )
}

fn state_status_creating(c: &mut Ctx) -> TestResult {
    let d = hooks_dir(c)?;
    let cfg = all_hooks_cfg(c, &d);
    c.create(&cfg)?;
    let text = std::fs::read_to_string(d.join("createRuntime.json"))
        .map_err(|e| fail("stdin saved", e))?;
    let v: Value = serde_json::from_str(&text).map_err(|_| fail("state JSON", &text))?;
    eq(
        "status seen by createRuntime",
        json!("creating"),
        v["status"].clone(),
    )
}

fn poststop_state(c: &mut Ctx) -> TestResult {
    let d = hooks_dir(c)?;
    let cfg = all_hooks_cfg(c, &d);
    let r = c.run(&cfg)?;
    c.cmd(&["delete", &r.ctr.id])?;
    let text = std::fs::read_to_string(d.join("poststop.json"))
        .map_err(|e| fail("poststop's stdin saved", e))?;
    let v: Value = serde_json::from_str(&text).map_err(|_| fail("state JSON", &text))?;
    eq("id", json!(r.ctr.id), v["id"].clone())
}

fn hook_env_args(c: &mut Ctx) -> TestResult {
    let d = hooks_dir(c)?;
    let mut cfg = c.spec(&[]);
    let out = d.join("env");
    cfg["hooks"] = json!({"createRuntime": [{
        "path": "/bin/sh",
        "args": ["sh", "-c", format!("echo \"$HOOKVAR $0 $1\" > {}", out.display()), "zero", "one"],
        "env": ["HOOKVAR=hookvalue"],
    }]});
    c.create(&cfg)?;
    let t = std::fs::read_to_string(&out).map_err(|e| fail("the hook's output", e))?;
    eq("env and args", "hookvalue zero one", t.trim())
}

/// A host hook that leaves `<dir>/<name>.ran` and fails: the marker shows
/// that a failure is the hook's and not the runtime's own.
fn failing_hook(dir: &Path, name: &str) -> Value {
    let m = dir.join(format!("{name}.ran"));
    json!({"path": "/bin/sh", "args": ["sh", "-c", format!("echo ran > {}; exit 3", m.display())]})
}

fn hook_ran(dir: &Path, name: &str) -> TestResult {
    check(
        dir.join(format!("{name}.ran")).exists(),
        format!("the {name} hook to have run"),
        "no marker: it never ran",
    )
}

/// How runtimes report a failing hook: runc "error running hook #0: exit
/// status 3", baleia "error running createRuntime hook #0: /bin/sh: exit
/// status: 3", crun 1.8 "error executing hook `/bin/sh` (exit code: 3)".
const HOOK_FAILED: &[&[&str]] = &[&["hook"]];

fn failing(c: &mut Ctx, kind: &str) -> TestResult {
    let d = hooks_dir(c)?;
    let mut cfg = c.spec(&[]);
    cfg["hooks"] = json!({ kind: [failing_hook(&d, kind)] });
    c.create_fails(&cfg, HOOK_FAILED)?;
    hook_ran(&d, kind)
}

fn prestart_fails(c: &mut Ctx) -> TestResult {
    failing(c, "prestart")
}
fn create_runtime_fails(c: &mut Ctx) -> TestResult {
    failing(c, "createRuntime")
}
fn create_container_fails(c: &mut Ctx) -> TestResult {
    failing(c, "createContainer")
}

fn poststart_failure_errors(c: &mut Ctx) -> TestResult {
    // A process that stays up keeps the outcome from depending on whether it
    // already exited when the hook ran.
    let d = hooks_dir(c)?;
    let mut cfg = c.spec(&["--pause"]);
    cfg["hooks"] = json!({"poststart": [failing_hook(&d, "poststart")]});
    let (o, ctr) = c.try_create(&cfg, &[], Io::default())?;
    let Some(ctr) = ctr else {
        // runc 1.1 runs poststart inside create (runc#4347): its error lands there.
        crate::harness::failed_for(&o, "create with a failing poststart hook", HOOK_FAILED)?;
        return hook_ran(&d, "poststart");
    };
    check(ctr.pid > 0, "a pid in --pid-file after create", ctr.pid)?;
    let s = c.cmd(&["start", &ctr.id])?;
    crate::harness::failed_for(&s, "start with a failing poststart hook", HOOK_FAILED)?;
    hook_ran(&d, "poststart")?;
    let e = runtime::wait_pid(ctr.pid, crate::harness::CONTAINER_TIMEOUT);
    check(
        e != runtime::Exit::Timeout,
        "the container stopped",
        "still running",
    )
}

fn start_container_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    // It runs in the container: the marker lands in the bundle's rootfs.
    cfg["hooks"] = json!({"startContainer": [{"path": "/bin/sh",
        "args": ["sh", "-c", "echo ran > /startContainer.ran; exit 3"]}]});
    let mut ctr = c.create(&cfg)?;
    let s = c.cmd(&["start", &ctr.id])?;
    let out = crate::harness::read_all(ctr.stdout.take(), crate::harness::CONTAINER_TIMEOUT)?;
    check(
        out.is_empty(),
        "the user process never ran",
        out.chars().take(80).collect::<String>(),
    )?;
    hook_ran(&ctr.bundle.rootfs(), "startContainer")?;
    // start's own status cannot carry the error in runc 1.1 or baleia: the hook
    // runs in the init after start has signalled it; the marker and the
    // stopped container are what shows the failure.
    let _ = s;
    c.wait_status(&ctr, "stopped")
}

fn ns_of_hook(c: &mut Ctx, kind: &str) -> Result<(String, i32), Verdict> {
    let d = hooks_dir(c)?;
    let out = d.join("mnt");
    let mut cfg = c.spec(&[]);
    cfg["hooks"] = json!({ kind: [{"path": "/bin/sh",
        "args": ["sh", "-c", format!("readlink /proc/self/ns/mnt > {}", out.display())]}] });
    let ctr = c.create(&cfg)?;
    let seen =
        std::fs::read_to_string(&out).map_err(|e| fail(format!("the {kind} hook's output"), e))?;
    Ok((seen.trim().to_string(), ctr.pid))
}

fn create_container_in_container_ns(c: &mut Ctx) -> TestResult {
    let (seen, pid) = ns_of_hook(c, "createContainer")?;
    let want =
        std::fs::read_link(format!("/proc/{pid}/ns/mnt")).map_err(|e| fail("init's mnt ns", e))?;
    eq(
        "createContainer's mount namespace",
        want.to_string_lossy().into_owned(),
        seen,
    )
}

fn create_runtime_in_runtime_ns(c: &mut Ctx) -> TestResult {
    let (seen, _) = ns_of_hook(c, "createRuntime")?;
    let want = std::fs::read_link("/proc/self/ns/mnt").map_err(|e| fail("host mnt ns", e))?;
    eq(
        "createRuntime's mount namespace",
        want.to_string_lossy().into_owned(),
        seen,
    )
}

fn poststop_failure_warns(c: &mut Ctx) -> TestResult {
    let d = hooks_dir(c)?;
    let mut cfg = c.spec(&[]);
    cfg["hooks"] = json!({"poststop": [failing_hook(&d, "poststop")]});
    let r = c.run(&cfg)?;
    c.wait_status(&r.ctr, "stopped")?;
    let del = c.cmd(&["delete", &r.ctr.id])?;
    hook_ran(&d, "poststop")?;
    let s = c.cmd(&["state", &r.ctr.id])?;
    crate::harness::not_found(
        &s,
        "state after a delete whose poststop hook failed",
        &r.ctr.id,
    )
    .map_err(|_| {
        fail(
            "the container deleted despite the failing poststop hook",
            format!("delete: {}; state: {}", del.summary(), s.summary()),
        )
    })
}

fn hook_timeout(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    // The hook blocks on a fifo nobody opens; only the timeout can end it.
    let fifo = c.dir.join("never");
    let p = std::ffi::CString::new(fifo.to_string_lossy().as_bytes())
        .map_err(|e| fail("fifo path", e))?;
    // SAFETY: mkfifo on a path we own.
    if unsafe { libc::mkfifo(p.as_ptr(), 0o600) } != 0 {
        return Err(fail("mkfifo", std::io::Error::last_os_error()));
    }
    // The marker, written before it blocks, shows the hook ran: the failure
    // is its timeout, not the runtime failing before it got there.
    let d = hooks_dir(c)?;
    let m = d.join("createRuntime.ran");
    cfg["hooks"] = json!({"createRuntime": [{"path": "/bin/sh", "args": ["sh", "-c",
        format!("echo ran > {}; read x < {}", m.display(), fifo.display())], "timeout": 1}]});
    let t = std::time::Instant::now();
    // runc: "hook ran past specified timeout of 1.0s"; baleia: "timeout after
    // 1 seconds"; crun 1.8: "timeout expired for `/bin/sh`".
    let o = c.create_fails(&cfg, &[&["timeout"]])?;
    check(
        t.elapsed().as_secs() < 10,
        "create to fail at the hook's 1 s timeout",
        format!("{:?}: {}", t.elapsed(), o.summary()),
    )?;
    hook_ran(&d, "createRuntime")
}

fn hook_missing_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["hooks"] = json!({"createRuntime": [{"path": "/nonexistent/hook"}]});
    // runc and baleia pass on exec's ENOENT; crun 1.8 only says the hook at that
    // path failed ("error executing hook `/nonexistent/hook` (exit code: 1)").
    c.create_fails(&cfg, &[&["hook", "/nonexistent/hook"]])
        .map(|_| ())
}

fn several_in_order(c: &mut Ctx) -> TestResult {
    let d = hooks_dir(c)?;
    let mut cfg = c.spec(&[]);
    cfg["hooks"] = json!({"createRuntime": [recorder(&d, "first"), recorder(&d, "second"), recorder(&d, "third")]});
    c.create(&cfg)?;
    eq(
        "order",
        vec!["first".to_string(), "second".into(), "third".into()],
        order(&d),
    )
}

// console socket

pub(crate) fn recv_fd(sock: &OwnedFd) -> Result<(OwnedFd, Vec<u8>), Verdict> {
    let mut buf = [0u8; 4096];
    let mut iov = libc::iovec {
        iov_base: buf.as_mut_ptr().cast(),
        iov_len: buf.len(),
    };
    let mut cbuf = [0u64; 16];
    // SAFETY: msghdr points at our buffers, sized as given.
    let mut msg: libc::msghdr = unsafe { std::mem::zeroed() };
    msg.msg_iov = &mut iov;
    msg.msg_iovlen = 1;
    msg.msg_control = cbuf.as_mut_ptr().cast();
    msg.msg_controllen = std::mem::size_of_val(&cbuf);
    let n = unsafe { libc::recvmsg(sock.as_raw_fd(), &mut msg, libc::MSG_CMSG_CLOEXEC) };
    if n < 0 {
        return Err(fail(
            "recvmsg on the console socket",
            std::io::Error::last_os_error(),
        ));
    }
    let mut fds = Vec::new();
    // SAFETY: walking the control messages the kernel wrote into cbuf.
    unsafe {
        let mut cm = libc::CMSG_FIRSTHDR(&msg);
        while !cm.is_null() {
            if (*cm).cmsg_level == libc::SOL_SOCKET && (*cm).cmsg_type == libc::SCM_RIGHTS {
                let data = libc::CMSG_DATA(cm) as *const i32;
                let count = ((*cm).cmsg_len as usize - libc::CMSG_LEN(0) as usize) / 4;
                for i in 0..count {
                    fds.push(OwnedFd::from_raw_fd(*data.add(i)));
                }
            }
            cm = libc::CMSG_NXTHDR(&msg, cm);
        }
    }
    if fds.len() != 1 {
        return Err(fail("exactly one fd in SCM_RIGHTS", fds.len()));
    }
    let payload = buf[..n as usize].to_vec();
    Ok((fds.remove(0), payload))
}

struct Console {
    master: OwnedFd,
    payload: Vec<u8>,
    ctr: crate::harness::Ctr,
}

fn with_console(c: &mut Ctx, mut cfg: Value) -> Result<Console, Verdict> {
    cfg["process"]["terminal"] = json!(true);
    let sock = c.dir.join("console.sock");
    let l = std::os::unix::net::UnixListener::bind(&sock).map_err(|e| fail("console socket", e))?;
    let s = sock.to_string_lossy().into_owned();
    let ctr = c.create_with(&cfg, &["--console-socket", &s], Io::default())?;
    l.set_nonblocking(true)
        .map_err(|e| fail("nonblocking", e))?;
    let lfd: &dyn AsRawFd = &l;
    let _ = lfd;
    if !runtime::wait_readable(&l, crate::harness::CONTAINER_TIMEOUT) {
        return Err(fail("a connection on the console socket", "none"));
    }
    let (conn, _) = l.accept().map_err(|e| fail("accept", e))?;
    conn.set_nonblocking(false)
        .map_err(|e| fail("blocking", e))?;
    let conn: OwnedFd = conn.into();
    let (master, payload) = recv_fd(&conn)?;
    Ok(Console {
        master,
        payload,
        ctr,
    })
}

fn read_tty_line(master: &OwnedFd) -> Result<String, Verdict> {
    let mut buf = Vec::new();
    let deadline = std::time::Instant::now() + crate::harness::CONTAINER_TIMEOUT;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if !runtime::wait_readable(master, left) {
            return Err(fail(
                "a line on the terminal",
                String::from_utf8_lossy(&buf),
            ));
        }
        let mut b = [0u8; 4096];
        // SAFETY: reading into our buffer.
        let n = unsafe { libc::read(master.as_raw_fd(), b.as_mut_ptr().cast(), b.len()) };
        if n <= 0 {
            break;
        }
        buf.extend_from_slice(&b[..n as usize]);
        if buf.contains(&b'\n') {
            break;
        }
    }
    let s = String::from_utf8_lossy(&buf).into_owned();
    Ok(s.lines()
        .next()
        .unwrap_or_default()
        .trim_end_matches('\r')
        .to_string())
}

fn console_facts(c: &mut Ctx) -> Result<(Console, Value), Verdict> {
    let cfg = c.spec(&["--stat", "/dev/console"]);
    let con = with_console(c, cfg)?;
    c.start(&con.ctr)?;
    let line = read_tty_line(&con.master)?;
    let f: Value = serde_json::from_str(&line)
        .map_err(|_| fail("the probe's facts on the terminal", &line))?;
    Ok((con, f))
}

fn console_tty(c: &mut Ctx) -> TestResult {
    let (_, f) = console_facts(c)?;
    eq("isatty(0)", json!(true), f["tty"]["isatty0"].clone())
}

fn console_ctty(c: &mut Ctx) -> TestResult {
    let (_, f) = console_facts(c)?;
    check(
        f["tty"]["tty_nr"].as_i64().unwrap_or(0) != 0,
        "a controlling terminal",
        &f["tty"],
    )
}

fn console_stdio_pts(c: &mut Ctx) -> TestResult {
    let (_, f) = console_facts(c)?;
    let fds = &f["fds"];
    check(
        ["0", "1", "2"]
            .iter()
            .all(|n| fds[n].as_str().is_some_and(|s| s.starts_with("/dev/pts/"))),
        "fds 0-2 on the pty slave",
        fds,
    )
}

fn console_dev_console(c: &mut Ctx) -> TestResult {
    let (_, f) = console_facts(c)?;
    let s = &f["stat"]["/dev/console"];
    eq(
        "/dev/console",
        json!(["char", 136]),
        json!([s["kind"], s["major"]]),
    )
}

fn console_payload(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let con = with_console(c, cfg)?;
    check(
        !con.payload.is_empty(),
        "a non-empty payload with the fd",
        "empty",
    )
}

fn console_session_leader(c: &mut Ctx) -> TestResult {
    let (_, f) = console_facts(c)?;
    eq("sid == pid", f["pid"].clone(), f["tty"]["sid"].clone())
}

fn console_size(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["args"] = json!(["/bin/stty", "size"]);
    cfg["process"]["consoleSize"] = json!({"height": 40, "width": 100});
    let con = with_console(c, cfg)?;
    c.start(&con.ctr)?;
    let line = read_tty_line(&con.master)?;
    eq("stty size", "40 100", line.trim())
}

fn terminal_without_socket_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["terminal"] = json!(true);
    // runc: "cannot allocate tty if runc will detach without setting console
    // socket"; baleia: "... no --console-socket was given"; crun 1.8: "use
    // --console-socket with create when a terminal is used".
    c.create_fails(&cfg, &[&["console socket"], &["console-socket"]])
        .map(|_| ())
}

fn socket_without_terminal_fails(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let sock = c.dir.join("console.sock");
    let _l =
        std::os::unix::net::UnixListener::bind(&sock).map_err(|e| fail("console socket", e))?;
    let s = sock.to_string_lossy().into_owned();
    let (o, ctr) = c.try_create(&cfg, &["--console-socket", &s], Io::default())?;
    check(
        ctr.is_none(),
        "create with --console-socket but no terminal to fail",
        o.summary(),
    )?;
    crate::harness::failed_for(
        &o,
        "create with --console-socket but no terminal",
        &[&["console socket"], &["console-socket"]],
    )
}

// preserve-fds

fn extra_fd(c: &mut Ctx, name: &str) -> Result<OwnedFd, Verdict> {
    let p = c.dir.join(name);
    let f = std::fs::File::create(&p).map_err(|e| fail("a file to pass", e))?;
    Ok(f.into())
}

fn preserve(c: &mut Ctx, n: usize, flag: bool) -> Result<Value, Verdict> {
    let cfg = c.spec(&[]);
    let mut fds = Vec::new();
    for i in 0..n {
        fds.push((3 + i as i32, extra_fd(c, &format!("passed{i}"))?));
    }
    let nn = n.to_string();
    let extra: Vec<&str> = if flag {
        vec!["--preserve-fds", &nn]
    } else {
        vec![]
    };
    let mut ctr = c.create_with(
        &cfg,
        &extra,
        Io {
            extra_fds: fds,
            ..Default::default()
        },
    )?;
    c.start(&ctr)?;
    let rest = crate::harness::read_all(ctr.stdout.take(), crate::harness::CONTAINER_TIMEOUT)?;
    serde_json::from_str(rest.lines().next().unwrap_or("")).map_err(|_| fail("facts", rest))
}

fn preserve_one(c: &mut Ctx) -> TestResult {
    let f = preserve(c, 1, true)?;
    let t = f["fds"]["3"].as_str().unwrap_or_default();
    check(
        t.ends_with("/passed0"),
        "fd 3 = the passed file",
        format!("{}", f["fds"]),
    )
}

fn preserve_two(c: &mut Ctx) -> TestResult {
    let f = preserve(c, 2, true)?;
    let ok = f["fds"]["3"]
        .as_str()
        .is_some_and(|t| t.ends_with("/passed0"))
        && f["fds"]["4"]
            .as_str()
            .is_some_and(|t| t.ends_with("/passed1"));
    check(
        ok,
        "fds 3 and 4 = the passed files",
        format!("{}", f["fds"]),
    )
}

fn not_preserved(c: &mut Ctx) -> TestResult {
    let f = preserve(c, 1, false)?;
    check(
        f["fds"].get("3").is_none(),
        "fd 3 closed without --preserve-fds",
        format!("{}", f["fds"]),
    )
}

fn preserve_fewer(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let fds = vec![(3, extra_fd(c, "p0")?), (4, extra_fd(c, "p1")?)];
    let mut ctr = c.create_with(
        &cfg,
        &["--preserve-fds", "1"],
        Io {
            extra_fds: fds,
            ..Default::default()
        },
    )?;
    c.start(&ctr)?;
    let rest = crate::harness::read_all(ctr.stdout.take(), crate::harness::CONTAINER_TIMEOUT)?;
    let f: Value = serde_json::from_str(rest.lines().next().unwrap_or(""))
        .map_err(|_| fail("facts", rest.clone()))?;
    check(
        f["fds"].get("3").is_some() && f["fds"].get("4").is_none(),
        "fd 3 kept, fd 4 closed",
        format!("{}", f["fds"]),
    )
}

fn listen(c: &mut Ctx) -> Result<Value, Verdict> {
    let cfg = c.spec(&[]);
    let fds = vec![(3, extra_fd(c, "listen0")?)];
    let mut ctr = c.create_with(
        &cfg,
        &[],
        Io {
            extra_fds: fds,
            listen_fds: Some(1),
            ..Default::default()
        },
    )?;
    c.start(&ctr)?;
    let rest = crate::harness::read_all(ctr.stdout.take(), crate::harness::CONTAINER_TIMEOUT)?;
    serde_json::from_str(rest.lines().next().unwrap_or("")).map_err(|_| fail("facts", rest))
}

fn listen_fds_passed(c: &mut Ctx) -> TestResult {
    let f = listen(c)?;
    let t = f["fds"]["3"].as_str().unwrap_or_default();
    check(
        t.ends_with("/listen0"),
        "fd 3 (LISTEN_FDS=1) reaches the process",
        format!("{}", f["fds"]),
    )
}

fn listen_fds_env(c: &mut Ctx) -> TestResult {
    let f = listen(c)?;
    let env: Vec<String> = serde_json::from_value(f["env"].clone()).unwrap_or_default();
    let has = |v: &str| env.iter().any(|e| e == v);
    check(
        has("LISTEN_FDS=1") && has("LISTEN_PID=1"),
        "LISTEN_FDS=1 and LISTEN_PID=1 in the container",
        format!("{env:?}"),
    )
}

// features

fn features(c: &mut Ctx) -> Result<Value, Verdict> {
    let o = c.cmd(&["features"])?;
    check(o.ok(), "features to succeed", o.summary())?;
    serde_json::from_str(&o.stdout).map_err(|_| {
        fail(
            "features JSON",
            o.stdout.chars().take(200).collect::<String>(),
        )
    })
}

fn f_versions(c: &mut Ctx) -> TestResult {
    let v = features(c)?;
    let min = v["ociVersionMin"].as_str().unwrap_or_default();
    let max = v["ociVersionMax"].as_str().unwrap_or_default();
    check(
        min.starts_with("1.") && max.starts_with("1."),
        "ociVersionMin/Max 1.x",
        format!("{min:?} {max:?}"),
    )
}
fn f_hooks(c: &mut Ctx) -> TestResult {
    let v = features(c)?;
    let h: Vec<String> = serde_json::from_value(v["hooks"].clone()).unwrap_or_default();
    for k in [
        "prestart",
        "createRuntime",
        "createContainer",
        "startContainer",
        "poststart",
        "poststop",
    ] {
        check(
            h.iter().any(|x| x == k),
            format!("hooks lists {k}"),
            format!("{h:?}"),
        )?;
    }
    Ok(())
}
fn f_mount_options(c: &mut Ctx) -> TestResult {
    let v = features(c)?;
    let m: Vec<String> = serde_json::from_value(v["mountOptions"].clone()).unwrap_or_default();
    for k in ["ro", "rbind", "nosuid", "rprivate"] {
        check(
            m.iter().any(|x| x == k),
            format!("mountOptions lists {k}"),
            format!("{m:?}"),
        )?;
    }
    Ok(())
}
fn f_namespaces(c: &mut Ctx) -> TestResult {
    let v = features(c)?;
    let n: Vec<String> =
        serde_json::from_value(v["linux"]["namespaces"].clone()).unwrap_or_default();
    for k in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        check(
            n.iter().any(|x| x == k),
            format!("linux.namespaces lists {k}"),
            format!("{n:?}"),
        )?;
    }
    Ok(())
}
fn f_caps(c: &mut Ctx) -> TestResult {
    let v = features(c)?;
    let n: Vec<String> =
        serde_json::from_value(v["linux"]["capabilities"].clone()).unwrap_or_default();
    check(
        n.iter().any(|x| x == "CAP_SYS_ADMIN") && n.iter().any(|x| x == "CAP_CHOWN"),
        "linux.capabilities lists CAP_SYS_ADMIN, CAP_CHOWN",
        format!("{n:?}"),
    )
}
fn f_cgroup(c: &mut Ctx) -> TestResult {
    let v = features(c)?;
    let cg = &v["linux"]["cgroup"];
    check(
        cg["v1"] == json!(true) || cg["v2"] == json!(true),
        "linux.cgroup.v1 or v2",
        cg,
    )
}
fn f_seccomp(c: &mut Ctx) -> TestResult {
    let v = features(c)?;
    let s = &v["linux"]["seccomp"];
    let a: Vec<String> = serde_json::from_value(s["actions"].clone()).unwrap_or_default();
    check(
        s["enabled"] == json!(true) && a.iter().any(|x| x == "SCMP_ACT_ERRNO"),
        "linux.seccomp enabled with SCMP_ACT_ERRNO",
        s,
    )
}

/// The hooks, console, preserve-fds and features tests.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(H, "create-order", "runtime.md Lifecycle: prestart, createRuntime, createContainer during create; poststart only after start (runc 1.1 runs it in create: runc#4347, fixed by runc#5186)", create_hooks_order),
        Test::new(H, "start", "runtime.md Lifecycle 8-10: startContainer in the container, poststart after the process starts", start_hooks),
        Test::new(H, "poststop", "runtime.md Lifecycle 12: poststop after delete", poststop_on_delete),
        Test::new(H, "state-stdin", "config.md hooks: the container state on the hook's stdin", state_on_stdin),
        Test::new(H, "state-creating", "runtime.md: createRuntime sees status creating", state_status_creating),
        Test::new(H, "poststop-state", "config.md hooks: poststop gets the state too", poststop_state),
        Test::new(H, "env-args", "config.md hooks: args (with argv[0]) and env as execv", hook_env_args),
        Test::new(H, "prestart-fails", "config.md: a failing prestart hook MUST generate an error, container stopped", prestart_fails),
        Test::new(H, "create-runtime-fails", "config.md: a failing createRuntime hook MUST generate an error", create_runtime_fails),
        Test::new(H, "create-container-fails", "config.md: a failing createContainer hook MUST generate an error", create_container_fails),
        Test::new(H, "poststart-failure-errors", "runtime.md (current): a failing poststart hook MUST generate an error and stop the container", poststart_failure_errors),
        Test::new(H, "poststop-failure-warns", "runtime.md: poststop failure -> warning, delete continues", poststop_failure_warns),
        Test::new(H, "start-container-fails", "runtime.md: a failing startContainer hook MUST generate an error and stop the container; the program never runs", start_container_fails),
        Test::new(H, "create-container-ns", "config.md createContainer: executed in the container namespace", create_container_in_container_ns),
        Test::new(H, "create-runtime-ns", "config.md createRuntime: executed in the runtime namespace", create_runtime_in_runtime_ns),
        Test::new(H, "timeout", "config.md hooks.timeout: the hook is ended and it is an error", hook_timeout),
        Test::new(H, "missing-path-fails", "config.md hooks.path: a missing binary is an error", hook_missing_fails),
        Test::new(H, "several-in-order", "config.md hooks: run in the order listed", several_in_order),
        Test::new(CO, "isatty", "config.md process.terminal: stdio is a terminal", console_tty),
        Test::new(CO, "controlling-tty", "runc: the pty slave is the controlling terminal", console_ctty),
        Test::new(CO, "stdio-pts", "runc: fds 0-2 on the pty slave", console_stdio_pts),
        Test::new(CO, "dev-console", "config-linux.md: /dev/console is the pty slave (bind)", console_dev_console),
        Test::new(CO, "payload", "runc --console-socket: one sendmsg, a non-empty payload and exactly one fd", console_payload),
        Test::new(CO, "session-leader", "runc: setsid, the process leads its session", console_session_leader),
        Test::new(CO, "console-size", "config.md process.consoleSize", console_size),
        Test::new(CO, "terminal-needs-socket", "runc: terminal true without --console-socket (detached) is an error", terminal_without_socket_fails),
        Test::new(CO, "socket-needs-terminal", "runc: --console-socket without terminal is an error", socket_without_terminal_fails),
        Test::new(PR, "one", "runc --preserve-fds 1: fd 3 reaches the process", preserve_one),
        Test::new(PR, "two", "runc --preserve-fds 2: fds 3 and 4", preserve_two),
        Test::new(PR, "none", "runc: without --preserve-fds extra fds are closed", not_preserved),
        Test::new(PR, "fewer", "runc --preserve-fds N: fds past 3+N are closed", preserve_fewer),
        Test::new(PR, "listen-fds", "runc: LISTEN_FDS with LISTEN_PID = the runtime's pid passes fds 3.. (socket activation)", listen_fds_passed),
        Test::new(PR, "listen-env", "runc: the container sees LISTEN_FDS=N and LISTEN_PID=1", listen_fds_env),
        Test::new(F, "versions", "features.md: ociVersionMin/ociVersionMax", f_versions),
        Test::new(F, "hooks", "features.md: hooks lists the six kinds", f_hooks),
        Test::new(F, "mount-options", "features.md: mountOptions", f_mount_options),
        Test::new(F, "namespaces", "features.md: linux.namespaces", f_namespaces),
        Test::new(F, "capabilities", "features.md: linux.capabilities", f_caps),
        Test::new(F, "cgroup", "features.md: linux.cgroup", f_cgroup),
        Test::new(F, "seccomp", "features.md: linux.seccomp", f_seccomp),
    ]
}
