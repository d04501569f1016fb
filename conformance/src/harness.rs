//! The harness: tests, verdicts, the per-test context that builds bundles
//! and drives containers, the runner with cleanup on every path, and the
//! table/json/tap reports.
//!
//! ```
//! use conformance::harness::{eq, Verdict};
//! assert!(eq("pid", 1, 1).is_ok());
//! assert!(matches!(eq("pid", 1, 2), Err(Verdict::Fail { .. })));
//! ```

use crate::bundle::{self, Bundle};
use crate::runtime::{self, Exit, Io, Output, Runtime};
use serde_json::{json, Value};
use std::fmt::{Debug, Display};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

/// How long a container may take to report or exit.
pub const CONTAINER_TIMEOUT: Duration = Duration::from_secs(15);

/// Why a test did not pass.
#[derive(Debug, Clone, PartialEq)]
pub enum Verdict {
    /// The runtime did something else than the spec or runc.
    Fail {
        /// What the test wanted.
        expected: String,
        /// What it saw.
        seen: String,
    },
    /// The test could not run here (the reason names the missing feature).
    Skip(String),
}

/// A test's result: `Ok(())` is a pass, reached only by the test's own checks.
pub type TestResult = Result<(), Verdict>;

/// A failure verdict.
///
/// ```
/// let v = conformance::harness::fail("exit 0", "exit 1");
/// assert!(matches!(v, conformance::harness::Verdict::Fail { .. }));
/// ```
pub fn fail(expected: impl Display, seen: impl Display) -> Verdict {
    Verdict::Fail {
        expected: expected.to_string(),
        seen: seen.to_string(),
    }
}

/// A skip verdict.
///
/// ```
/// let v = conformance::harness::skip("no cgroup v2");
/// assert_eq!(v, conformance::harness::Verdict::Skip("no cgroup v2".into()));
/// ```
pub fn skip(reason: impl Display) -> Verdict {
    Verdict::Skip(reason.to_string())
}

/// Passes when `cond` holds, else fails with the two descriptions.
///
/// ```
/// assert!(conformance::harness::check(true, "a", "b").is_ok());
/// ```
pub fn check(cond: bool, expected: impl Display, seen: impl Display) -> TestResult {
    if cond {
        Ok(())
    } else {
        Err(fail(expected, seen))
    }
}

/// Passes when `expected == seen`; `what` names the compared value.
///
/// ```
/// assert!(conformance::harness::eq("uid", 0, 1).is_err());
/// ```
pub fn eq<T: PartialEq + Debug>(what: &str, expected: T, seen: T) -> TestResult {
    if expected == seen {
        Ok(())
    } else {
        Err(fail(
            format!("{what} = {expected:?}"),
            format!("{what} = {seen:?}"),
        ))
    }
}

/// Passes when a command that must fail did, for one of `reasons`: it exited
/// non-zero (not killed, not past the deadline) and its error text (the
/// error- and fatal-level `--log` lines and stderr) contains every part of at least one
/// reason, ignoring case. A failure for another reason is a failure of the
/// test: a runtime that cannot run at all must not pass must-fail tests.
/// Where runtimes word the same failure differently the test lists each
/// wording and says whose it is.
///
/// ```
/// use conformance::harness::failed_for;
/// use conformance::runtime::Output;
/// let o = Output { code: Some(1), stderr: "Container Does Not Exist".into(), ..Default::default() };
/// assert!(failed_for(&o, "state", &[&["does not exist"]]).is_ok());
/// assert!(failed_for(&o, "state", &[&["already exists"], &["container", "running"]]).is_err());
/// let ok = Output { code: Some(0), ..Default::default() };
/// assert!(failed_for(&ok, "state", &[&[""]]).is_err());
/// ```
pub fn failed_for(o: &Output, what: &str, reasons: &[&[&str]]) -> TestResult {
    let want = || {
        let alts: Vec<String> = reasons
            .iter()
            .map(|parts| {
                parts
                    .iter()
                    .map(|p| format!("{p:?}"))
                    .collect::<Vec<_>>()
                    .join(" and ")
            })
            .collect();
        format!("{what} to fail with an error saying {}", alts.join(" or "))
    };
    if o.ok() {
        return Err(fail(want(), "it succeeded"));
    }
    if o.timed_out || o.code.is_none() {
        return Err(fail(want(), o.summary()));
    }
    let text = o.error_text().to_lowercase();
    let matched = reasons
        .iter()
        .any(|parts| parts.iter().all(|p| text.contains(&p.to_lowercase())));
    let seen: String = o.error_text().chars().take(400).collect();
    check(
        matched,
        want(),
        format!("exit {}: {seen:?}", o.code.unwrap_or(-1)),
    )
}

/// [`failed_for`] an id the runtime does not know: runc and baleia say
/// "container does not exist"; crun 1.8 names the id's missing state file
/// or directory with ENOENT.
///
/// ```
/// use conformance::runtime::Output;
/// let o = Output { code: Some(1),
///     stderr: "error opening file `/r/x1/status`: No such file or directory".into(), ..Default::default() };
/// assert!(conformance::harness::not_found(&o, "state", "x1").is_ok());
/// assert!(conformance::harness::not_found(&o, "state", "x2").is_err());
/// ```
pub fn not_found(o: &Output, what: &str, id: &str) -> TestResult {
    failed_for(
        o,
        what,
        &[&["does not exist"], &[id, "no such file or directory"]],
    )
}

/// One conformance test.
#[derive(Clone)]
pub struct Test {
    /// Its group (spec area).
    pub group: &'static str,
    /// Its name, unique in the group.
    pub name: &'static str,
    /// The spec sentence or runc behaviour it checks.
    pub cite: &'static str,
    /// The body: a function, or a closure over a row of a table of cases.
    pub run: std::rc::Rc<dyn Fn(&mut Ctx) -> TestResult>,
}

impl Test {
    /// A test; see [`crate::groups`] for real ones.
    ///
    /// ```
    /// let t = conformance::harness::Test::new("g", "n", "spec", |_| Ok(()));
    /// assert_eq!(t.id(), "g/n");
    /// ```
    pub fn new(
        group: &'static str,
        name: &'static str,
        cite: &'static str,
        run: impl Fn(&mut Ctx) -> TestResult + 'static,
    ) -> Test {
        Test {
            group,
            name,
            cite,
            run: std::rc::Rc::new(run),
        }
    }

    /// `group/name`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.group, self.name)
    }
}

/// A container the harness made.
#[derive(Debug)]
pub struct Ctr {
    /// Its id.
    pub id: String,
    /// The init's host pid (from the pid file).
    pub pid: i32,
    /// Its bundle.
    pub bundle: Bundle,
    /// The read end of the container's stdout, when still open.
    pub stdout: Option<std::io::PipeReader>,
    /// The probe's facts, when it has reported.
    pub facts: Value,
    /// The create command's output.
    pub create: Output,
}

/// What a run-to-completion container did.
#[derive(Debug)]
pub struct Run {
    /// The probe's first JSON line (Null when it printed none).
    pub facts: Value,
    /// All stdout.
    pub stdout: String,
    /// How the init ended.
    pub exit: Exit,
    /// The container.
    pub ctr: Ctr,
}

/// The per-test context: a scratch dir, unique ids, and everything to clean.
///
/// A test body builds a spec, runs the probe (or drives the runtime's
/// commands) and checks what it saw:
///
/// ```no_run
/// use conformance::harness::{eq, Ctx, TestResult};
/// fn hostname(c: &mut Ctx) -> TestResult {
///     let mut cfg = c.spec(&[]);
///     cfg["hostname"] = serde_json::json!("h1");
///     let facts = c.probe(&cfg)?;
///     eq("hostname", serde_json::json!("h1"), facts["hostname"].clone())
/// }
/// ```
pub struct Ctx {
    /// The runtime under test.
    pub rt: Runtime,
    /// Scratch directory of this test.
    pub dir: PathBuf,
    template: PathBuf,
    seq: u32,
    ids: Vec<String>,
    pids: Vec<i32>,
    cgroups: Vec<String>,
    guards: Vec<(PathBuf, String)>,
    netns: Vec<String>,
    host_mounts: Vec<PathBuf>,
    /// Short name of the runtime ("runc", "crun", "baleia"), for skips.
    pub runtime_name: String,
}

fn infra(what: &str, e: impl Display) -> Verdict {
    fail(format!("{what} to work"), e)
}

impl Ctx {
    /// A context for one test.
    ///
    /// ```no_run
    /// use conformance::runtime::Runtime;
    /// let rt = Runtime::new("/usr/sbin/runc".into(), "/tmp/r".into(), "/tmp/s".into());
    /// let _c = conformance::harness::Ctx::new(rt, "/tmp/t".into(), "/tmp/tpl".into(), "runc".into());
    /// ```
    pub fn new(rt: Runtime, dir: PathBuf, template: PathBuf, runtime_name: String) -> Ctx {
        Ctx {
            rt,
            dir,
            template,
            seq: 0,
            ids: Vec::new(),
            pids: Vec::new(),
            cgroups: Vec::new(),
            guards: Vec::new(),
            netns: Vec::new(),
            host_mounts: Vec::new(),
            runtime_name,
        }
    }

    fn next(&mut self) -> u32 {
        self.seq += 1;
        self.seq
    }

    /// A unique container id, deleted (forcibly) when the test ends.
    pub fn id(&mut self) -> String {
        let n = self.next();
        let base = self
            .dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let id = format!("bc{}-{base}-{n}", std::process::id());
        self.ids.push(id.clone());
        id
    }

    /// The id of a container this test created, saw in `state`, and deleted:
    /// an id the runtime no longer knows. Tests of "unknown id" errors use it
    /// rather than an id never used, so that they also show the runtime knew
    /// the container before; a binary that answers "does not exist" to
    /// everything does not pass them.
    pub fn gone_id(&mut self) -> Result<String, Verdict> {
        let cfg = self.spec(&[]);
        let ctr = self.create(&cfg)?;
        let s = self.state(&ctr.id)?;
        eq(
            "state of the container just created",
            json!([ctr.id, "created"]),
            json!([s["id"], s["status"]]),
        )?;
        let d = self.cmd(&["delete", "--force", &ctr.id])?;
        check(d.ok(), "delete --force of a created container", d.summary())?;
        let e = runtime::wait_pid(ctr.pid, CONTAINER_TIMEOUT);
        check(
            e != Exit::Timeout,
            "the init gone after delete --force",
            "still running",
        )?;
        Ok(ctr.id)
    }

    /// The default spec running the probe with `args`, in a cgroup of its own.
    pub fn spec(&mut self, args: &[&str]) -> Value {
        let n = self.next();
        let base = self
            .dir
            .file_name()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_default();
        let cg = format!("/baleia-conformance/{}-{base}-{n}", std::process::id());
        self.cgroups.push(cg.clone());
        let mut full = vec!["/probe"];
        full.extend_from_slice(args);
        bundle::default_spec(&full, &cg)
    }

    /// Writes a bundle (template rootfs + `cfg`) and returns it.
    pub fn bundle(&mut self, cfg: &Value) -> Result<Bundle, Verdict> {
        let n = self.next();
        let b = Bundle {
            path: self.dir.join(format!("bundle{n}")),
        };
        bundle::clone_tree(&self.template, &b.rootfs()).map_err(|e| infra("bundle", e))?;
        b.write_config(cfg).map_err(|e| infra("bundle", e))?;
        Ok(b)
    }

    /// Remembers a host file (a global sysctl, the hostname) and puts its
    /// content back at cleanup if a misbehaving runtime changed it: a failing
    /// test must not leave the machine altered.
    pub fn guard(&mut self, path: &str) -> Result<String, Verdict> {
        let v =
            std::fs::read_to_string(path).map_err(|e| skip(format!("cannot read {path}: {e}")))?;
        self.guards.push((path.into(), v.clone()));
        Ok(v.trim().to_string())
    }

    /// A network namespace of this test's own (`ip netns add`), deleted at cleanup after the
    /// containers; from now on every runtime command of the test runs in it. Returns its name.
    pub fn own_netns(&mut self) -> Result<String, Verdict> {
        let name = format!("bcn{}-{}", std::process::id(), self.next());
        self.ip(&["netns", "add", &name])
            .map_err(|e| skip(format!("cannot make a network namespace: {e}")))?;
        self.netns.push(name.clone());
        self.rt.netns = Some(PathBuf::from("/run/netns").join(&name));
        Ok(name)
    }

    /// Runs `ip ARGS`; its stdout, or its stderr as the error.
    pub fn ip(&self, args: &[&str]) -> Result<String, String> {
        let o = std::process::Command::new("ip")
            .args(args)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| format!("ip: {e}"))?;
        if !o.status.success() {
            return Err(format!(
                "ip {}: {}",
                args.join(" "),
                String::from_utf8_lossy(&o.stderr).trim()
            ));
        }
        Ok(String::from_utf8_lossy(&o.stdout).into_owned())
    }

    /// Mounts a filesystem of `fstype` on `target` (created) on the host, for a test that
    /// needs a submount or a filesystem of a given kind in a bind source; unmounted (lazily,
    /// after the containers are gone) at cleanup.
    pub fn host_mount(&mut self, fstype: &str, target: &Path, options: &str) -> TestResult {
        std::fs::create_dir_all(target).map_err(|e| infra("mkdir of a host mount point", e))?;
        let o = std::process::Command::new("mount")
            .args(["-t", fstype, "-o", options, &format!("bc-{fstype}")])
            .arg(target)
            .stdin(Stdio::null())
            .output()
            .map_err(|e| infra("mount", e))?;
        if !o.status.success() {
            return Err(skip(format!(
                "cannot mount {fstype} on the host: {}",
                String::from_utf8_lossy(&o.stderr).trim()
            )));
        }
        self.host_mounts.push(target.to_path_buf());
        Ok(())
    }

    /// Registers a host pid to SIGKILL at cleanup (e.g. detached exec processes).
    pub fn track_pid(&mut self, pid: i32) {
        self.pids.push(pid);
    }

    /// Runs a runtime command with default stdio.
    pub fn cmd(&mut self, args: &[&str]) -> Result<Output, Verdict> {
        self.rt
            .run(args, Io::default())
            .map_err(|e| infra("runtime command", e))
    }

    /// Runs a runtime command with the given stdio.
    pub fn cmd_io(&mut self, args: &[&str], io: Io) -> Result<Output, Verdict> {
        self.rt
            .run(args, io)
            .map_err(|e| infra("runtime command", e))
    }

    /// `create` without judging the result: returns the output and, when it
    /// succeeded, the container (its stdout pipe open).
    pub fn try_create(
        &mut self,
        cfg: &Value,
        extra: &[&str],
        mut io: Io,
    ) -> Result<(Output, Option<Ctr>), Verdict> {
        let b = self.bundle(cfg)?;
        let id = self.id();
        let pid_file = b.path.join("pid");
        let (reader, writer) = std::io::pipe().map_err(|e| infra("pipe", e))?;
        if io.stdout.is_none() {
            io.stdout = Some(Stdio::from(writer));
        }
        let bp = b.path.to_string_lossy().into_owned();
        let pf = pid_file.to_string_lossy().into_owned();
        let mut args = vec!["create", "--bundle", &bp, "--pid-file", &pf];
        args.extend_from_slice(extra);
        args.push(&id);
        let out = self.cmd_io(&args, io)?;
        if !out.ok() {
            return Ok((out, None));
        }
        let pid = std::fs::read_to_string(&pid_file)
            .ok()
            .and_then(|s| s.trim().parse::<i32>().ok())
            .unwrap_or(0);
        let ctr = Ctr {
            id,
            pid,
            bundle: b,
            stdout: Some(reader),
            facts: Value::Null,
            create: out.clone(),
        };
        Ok((out, Some(ctr)))
    }

    /// `create` that must succeed.
    pub fn create(&mut self, cfg: &Value) -> Result<Ctr, Verdict> {
        self.create_with(cfg, &[], Io::default())
    }

    /// `create` with extra flags and stdio, which must succeed.
    pub fn create_with(&mut self, cfg: &Value, extra: &[&str], io: Io) -> Result<Ctr, Verdict> {
        let (out, ctr) = self.try_create(cfg, extra, io)?;
        let ctr = ctr.ok_or_else(|| fail("create to succeed", out.summary()))?;
        if ctr.pid <= 0 {
            return Err(fail("a pid in --pid-file after create", "none"));
        }
        Ok(ctr)
    }

    /// `start` that must succeed.
    pub fn start(&mut self, ctr: &Ctr) -> TestResult {
        let o = self.cmd(&["start", &ctr.id])?;
        check(o.ok(), "start to succeed", o.summary())
    }

    /// Reads the container's stdout up to the first newline (the facts line).
    pub fn read_facts(&mut self, ctr: &mut Ctr) -> Result<Value, Verdict> {
        let line = read_line(ctr.stdout.as_mut(), CONTAINER_TIMEOUT)?;
        let v: Value = serde_json::from_str(&line)
            .map_err(|_| fail("the probe's JSON facts on stdout", format!("{line:?}")))?;
        ctr.facts = v.clone();
        Ok(v)
    }

    /// Creates and starts a container whose probe reports and then pauses
    /// (`--pause` is added to the args); returns once the facts are read.
    pub fn running(&mut self, mut cfg: Value) -> Result<Ctr, Verdict> {
        push_arg(&mut cfg, "--pause");
        let mut ctr = self.create(&cfg)?;
        self.start(&ctr)?;
        self.read_facts(&mut ctr)?;
        Ok(ctr)
    }

    /// Creates and starts a container whose probe waits for a signal
    /// (`--wait-signal`); returns once its facts are read.
    pub fn waiting_for_signal(&mut self, mut cfg: Value) -> Result<Ctr, Verdict> {
        push_arg(&mut cfg, "--wait-signal");
        let mut ctr = self.create(&cfg)?;
        self.start(&ctr)?;
        self.read_facts(&mut ctr)?;
        Ok(ctr)
    }

    /// The signal number a `--wait-signal` probe reported (reads to its exit).
    pub fn signal_received(&mut self, ctr: &mut Ctr) -> Result<i64, Verdict> {
        let rest = read_all(ctr.stdout.take(), CONTAINER_TIMEOUT)?;
        rest.lines()
            .filter_map(|l| serde_json::from_str::<Value>(l).ok())
            .find_map(|v| v["signal"].as_i64())
            .ok_or_else(|| fail("the probe to report a signal", format!("{rest:?}")))
    }

    /// Creates, starts and waits for a container to end.
    pub fn run(&mut self, cfg: &Value) -> Result<Run, Verdict> {
        let mut ctr = self.create(cfg)?;
        self.start(&ctr)?;
        let stdout = read_all(ctr.stdout.take(), CONTAINER_TIMEOUT)?;
        let exit = runtime::wait_pid(ctr.pid, CONTAINER_TIMEOUT);
        let facts = stdout
            .lines()
            .next()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Null);
        ctr.facts = facts.clone();
        Ok(Run {
            facts,
            stdout,
            exit,
            ctr,
        })
    }

    /// Runs the probe to completion and returns its facts (it must exit 0).
    pub fn probe(&mut self, cfg: &Value) -> Result<Value, Verdict> {
        let r = self.run(cfg)?;
        if r.facts.is_null() {
            return Err(fail(
                "the probe's facts on stdout",
                format!("{:?} ({:?})", r.stdout, r.exit),
            ));
        }
        // Gone (no status to read) is not a pass: the harness is the init's
        // subreaper, so a real container always leaves one.
        if r.exit != Exit::Code(0) {
            return Err(fail("the probe to exit 0", format!("{:?}", r.exit)));
        }
        Ok(r.facts)
    }

    /// `create` that must fail for one of `reasons` (see [`failed_for`]);
    /// returns its output.
    pub fn create_fails(&mut self, cfg: &Value, reasons: &[&[&str]]) -> Result<Output, Verdict> {
        let (out, ctr) = self.try_create(cfg, &[], Io::default())?;
        if let Some(c) = ctr {
            return Err(fail(
                "create to fail",
                format!("create succeeded (pid {})", c.pid),
            ));
        }
        failed_for(&out, "create", reasons)?;
        Ok(out)
    }

    /// A runtime command that must fail for one of `reasons`; `what` names
    /// it in the verdict.
    pub fn cmd_fails(
        &mut self,
        args: &[&str],
        what: &str,
        reasons: &[&[&str]],
    ) -> Result<Output, Verdict> {
        let o = self.cmd(args)?;
        failed_for(&o, what, reasons)?;
        Ok(o)
    }

    /// A command on `id` that must fail because the runtime does not know
    /// the container (see [`not_found`]).
    pub fn cmd_not_found(&mut self, args: &[&str], what: &str, id: &str) -> TestResult {
        let o = self.cmd(args)?;
        not_found(&o, what, id)
    }

    /// The container's state JSON, which must be readable.
    pub fn state(&mut self, id: &str) -> Result<Value, Verdict> {
        self.rt
            .state(id)
            .map_err(|o| fail("state to succeed", o.summary()))
    }

    /// Waits (bounded) for `state` to report `status`.
    pub fn wait_status(&mut self, ctr: &Ctr, status: &str) -> TestResult {
        self.rt
            .wait_status(&ctr.id, status, ctr.pid, CONTAINER_TIMEOUT)
            .map_err(|e| fail(format!("status {status}"), e))
    }

    /// Runs `exec` (not detached) of the probe with `args` in `ctr` and
    /// returns (exit code, facts).
    pub fn exec_probe(
        &mut self,
        ctr: &Ctr,
        extra: &[&str],
        args: &[&str],
    ) -> Result<(Output, Value), Verdict> {
        let mut a = vec!["exec"];
        a.extend_from_slice(extra);
        a.push(&ctr.id);
        a.push("/probe");
        a.extend_from_slice(args);
        let o = self.cmd(&a)?;
        let facts = o
            .stdout
            .lines()
            .next()
            .and_then(|l| serde_json::from_str(l).ok())
            .unwrap_or(Value::Null);
        Ok((o, facts))
    }

    /// Reads a cgroup file of `pid` from the host: `controller` is a v1
    /// controller name (ignored on a pure v2 host).
    pub fn cgroup_file(
        &mut self,
        pid: i32,
        controller: &str,
        file: &str,
    ) -> Result<String, Verdict> {
        let dir = cgroup_dir(pid, controller)?;
        let v1 = dir.starts_with(Path::new("/sys/fs/cgroup").join(controller))
            || !Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
        let (name, field) = if v1 {
            (file, None)
        } else {
            v2_file(file).ok_or_else(|| {
                skip(format!(
                    "{file} has no cgroup v2 equivalent the suite compares"
                ))
            })?
        };
        let p = dir.join(name);
        let text = std::fs::read_to_string(&p)
            .map(|s| s.trim().to_string())
            .map_err(|e| skip(format!("cannot read {}: {e}", p.display())))?;
        Ok(match field {
            Some(i) => text
                .split_whitespace()
                .nth(i)
                .unwrap_or_default()
                .to_string(),
            None => text,
        })
    }

    /// Ends everything the test made: containers, tracked pids, cgroups, files.
    pub fn cleanup(&mut self) {
        // Tracked processes (detached exec) are ours to reap: end them first
        // so that their zombies cannot keep a container "running".
        for pid in std::mem::take(&mut self.pids) {
            // SAFETY: kill only signals; the pid is one this test made.
            unsafe { libc::kill(pid, libc::SIGKILL) };
            let _ = runtime::wait_pid(pid, Duration::from_secs(2));
        }
        for id in std::mem::take(&mut self.ids) {
            // A killed init is our zombie until reaped; a runtime may see it
            // as alive and refuse, so reap and retry a bounded number of times.
            for _ in 0..3 {
                let _ = self.rt.run(&["delete", "--force", &id], Io::default());
                runtime::reap_zombies();
                match self.rt.run(&["state", &id], Io::default()) {
                    Ok(o) if o.ok() => continue,
                    _ => break,
                }
            }
        }
        runtime::reap_zombies();
        self.rt.netns = None;
        for ns in std::mem::take(&mut self.netns) {
            // Its dummy interfaces go with it.
            let _ = self.ip(&["netns", "delete", &ns]);
        }
        // Innermost first; lazily, so that nothing a failing runtime left open keeps the
        // scratch directory from going.
        for m in std::mem::take(&mut self.host_mounts).into_iter().rev() {
            let _ = std::process::Command::new("umount")
                .arg("-l")
                .arg(&m)
                .stdin(Stdio::null())
                .status();
        }
        for (p, v) in std::mem::take(&mut self.guards) {
            if std::fs::read_to_string(&p).ok().as_deref() != Some(v.as_str()) {
                eprintln!(
                    "baleia-conformance: restoring {} changed by the runtime",
                    p.display()
                );
                let _ = std::fs::write(&p, v.trim());
            }
        }
        for cg in std::mem::take(&mut self.cgroups) {
            remove_cgroup(&cg);
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Appends an argument to process.args.
///
/// ```
/// let mut v = serde_json::json!({"process": {"args": ["/probe"]}});
/// conformance::harness::push_arg(&mut v, "--pause");
/// assert_eq!(v["process"]["args"][1], "--pause");
/// ```
pub fn push_arg(cfg: &mut Value, arg: &str) {
    bundle::push(cfg, "/process/args", json!(arg));
}

/// The host directory of `pid`'s cgroup for `controller`.
pub fn cgroup_dir(pid: i32, controller: &str) -> Result<PathBuf, Verdict> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/cgroup"))
        .map_err(|e| fail(format!("/proc/{pid}/cgroup readable"), e))?;
    for line in text.lines() {
        let mut parts = line.splitn(3, ':');
        let (_, ctrls, path) = (parts.next(), parts.next(), parts.next());
        let (Some(ctrls), Some(path)) = (ctrls, path) else {
            continue;
        };
        if ctrls.split(',').any(|c| c == controller) {
            let base = Path::new("/sys/fs/cgroup").join(ctrls);
            let base = if base.exists() {
                base
            } else {
                Path::new("/sys/fs/cgroup").join(controller)
            };
            return Ok(base.join(path.trim_start_matches('/')));
        }
    }
    if Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        if let Some(l) = text.lines().find(|l| l.starts_with("0::")) {
            return Ok(Path::new("/sys/fs/cgroup").join(l[3..].trim_start_matches('/')));
        }
    }
    Err(skip(format!(
        "no {controller} cgroup controller on this host"
    )))
}

/// The cgroup v2 file (and whitespace-separated field) holding the same
/// value as a v1 file, where the value is written unchanged.
///
/// ```
/// assert_eq!(conformance::harness::v2_file("cpu.cfs_period_us"), Some(("cpu.max", Some(1))));
/// assert_eq!(conformance::harness::v2_file("cpu.shares"), None);
/// ```
pub fn v2_file(v1: &str) -> Option<(&'static str, Option<usize>)> {
    Some(match v1 {
        "memory.limit_in_bytes" => ("memory.max", None),
        "memory.soft_limit_in_bytes" => ("memory.low", None),
        "cpu.cfs_quota_us" => ("cpu.max", Some(0)),
        "cpu.cfs_period_us" => ("cpu.max", Some(1)),
        "pids.max" => ("pids.max", None),
        "cpuset.cpus" => ("cpuset.cpus", None),
        "cpuset.mems" => ("cpuset.mems", None),
        _ => return None,
    })
}

fn remove_cgroup(cg: &str) {
    let rel = cg.trim_start_matches('/');
    let Ok(rd) = std::fs::read_dir("/sys/fs/cgroup") else {
        return;
    };
    for e in rd.flatten() {
        let p = e.path().join(rel);
        if p.is_dir() {
            // A frozen leftover would never empty: thaw it first.
            let _ = std::fs::write(p.join("freezer.state"), "THAWED");
            let _ = std::fs::remove_dir(&p);
        }
    }
}

/// Removes the shared parent cgroup the tests' cgroups live in (when empty).
pub fn remove_parent_cgroups() {
    remove_cgroup("/baleia-conformance");
}

fn read_line(r: Option<&mut std::io::PipeReader>, timeout: Duration) -> Result<String, Verdict> {
    let r = r.ok_or_else(|| fail("the container's stdout", "already consumed"))?;
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut byte = [0u8; 1];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if !runtime::wait_readable(r, left) {
            return Err(fail(
                "a line on the container's stdout",
                format!(
                    "nothing within {timeout:?} (got {:?})",
                    String::from_utf8_lossy(&buf)
                ),
            ));
        }
        match r.read(&mut byte) {
            Ok(0) => break,
            Ok(_) if byte[0] == b'\n' => break,
            Ok(_) => buf.push(byte[0]),
            Err(e) => return Err(fail("readable container stdout", e)),
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// Reads a container's stdout to end-of-file, bounded by `timeout`.
pub fn read_all(r: Option<std::io::PipeReader>, timeout: Duration) -> Result<String, Verdict> {
    let mut r = r.ok_or_else(|| fail("the container's stdout", "already consumed"))?;
    let deadline = Instant::now() + timeout;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 8192];
    loop {
        let left = deadline.saturating_duration_since(Instant::now());
        if !runtime::wait_readable(&r, left) {
            return Err(fail(
                "the container to close its stdout (exit)",
                format!("still open after {timeout:?}"),
            ));
        }
        match r.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => buf.extend_from_slice(&chunk[..n]),
            Err(e) => return Err(fail("readable container stdout", e)),
        }
    }
    Ok(String::from_utf8_lossy(&buf).into_owned())
}

/// One test's outcome.
#[derive(Debug, Clone)]
pub struct Outcome {
    /// `group`.
    pub group: String,
    /// `name`.
    pub name: String,
    /// The citation.
    pub cite: String,
    /// "pass", "fail" or "skip".
    pub status: String,
    /// Expected/seen for failures, the reason for skips.
    pub detail: String,
    /// Wall time.
    pub millis: u128,
}

impl Outcome {
    /// As JSON.
    ///
    /// ```
    /// let o = conformance::harness::Outcome { group: "g".into(), name: "n".into(), cite: "c".into(),
    ///     status: "pass".into(), detail: "".into(), millis: 1 };
    /// assert_eq!(o.to_json()["status"], "pass");
    /// ```
    pub fn to_json(&self) -> Value {
        json!({"group": self.group, "name": self.name, "cite": self.cite,
               "status": self.status, "detail": self.detail, "ms": self.millis as u64})
    }
}

/// Where a run keeps its files and which runtime it drives.
#[derive(Debug, Clone)]
pub struct Suite {
    /// The runtime binary.
    pub runtime: PathBuf,
    /// Its short name.
    pub name: String,
    /// Work directory (state root, template, per-test dirs).
    pub work: PathBuf,
    /// The rootfs template.
    pub template: PathBuf,
}

/// Runs one test with cleanup on every path (a panic in a test is a failure).
///
/// ```no_run
/// # fn f(s: &conformance::harness::Suite, t: &conformance::harness::Test) {
/// let o = conformance::harness::run_test(s, t, 1);
/// # }
/// ```
pub fn run_test(suite: &Suite, t: &Test, n: usize) -> Outcome {
    let dir = suite.work.join(format!("t{n}"));
    let rt = Runtime::new(
        suite.runtime.clone(),
        suite.work.join("state"),
        dir.join("calls"),
    );
    let mut ctx = Ctx::new(rt, dir.clone(), suite.template.clone(), suite.name.clone());
    let start = Instant::now();
    let res = match std::fs::create_dir_all(&dir) {
        Err(e) => Err(fail("a scratch dir", e)),
        Ok(()) => std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (t.run)(&mut ctx)))
            .unwrap_or_else(|_| Err(fail("the test to run", "it panicked"))),
    };
    ctx.cleanup();
    let (status, detail) = match res {
        Ok(()) => ("pass", String::new()),
        Err(Verdict::Fail { expected, seen }) => {
            ("fail", format!("expected {expected}; seen {seen}"))
        }
        Err(Verdict::Skip(r)) => ("skip", r),
    };
    Outcome {
        group: t.group.into(),
        name: t.name.into(),
        cite: t.cite.into(),
        status: status.into(),
        detail,
        millis: start.elapsed().as_millis(),
    }
}

/// The tests an `--expect-pass` file lists (one `group/name` a line, `#`
/// comments), read before anything runs so that a wrong path fails at once.
/// A file that cannot be read, lists nothing, or names a test that is not in
/// `known` (renamed or removed) is an error, never an empty expectation.
///
/// ```
/// let dir = std::env::temp_dir().join(format!("expect-doc-{}", std::process::id()));
/// std::fs::create_dir_all(&dir).unwrap();
/// let f = dir.join("list");
/// let known = vec!["g/a".to_string(), "g/b".to_string()];
/// use conformance::harness::read_expected;
/// assert!(read_expected(&f, &known).is_err(), "a missing file");
/// std::fs::write(&f, "# none\n\n").unwrap();
/// assert!(read_expected(&f, &known).unwrap_err().contains("lists no tests"));
/// std::fs::write(&f, "g/a\ng/gone\n").unwrap();
/// assert!(read_expected(&f, &known).unwrap_err().contains("g/gone"));
/// std::fs::write(&f, "g/a\n# g/b fails\n").unwrap();
/// assert_eq!(read_expected(&f, &known).unwrap(), ["g/a"]);
/// std::fs::remove_dir_all(&dir).unwrap();
/// ```
pub fn read_expected(path: &Path, known: &[String]) -> Result<Vec<String>, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let listed: Vec<String> = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .map(str::to_string)
        .collect();
    if listed.is_empty() {
        return Err(format!("{}: lists no tests", path.display()));
    }
    if let Some(unknown) = listed.iter().find(|l| !known.contains(l)) {
        return Err(format!(
            "{}: {unknown} is not a test of this suite (renamed or removed?)",
            path.display()
        ));
    }
    Ok(listed)
}

/// Compares a run with the tests expected to pass: returns the regressions
/// (a listed test that failed, skipped, or did not run because --group or
/// --filter left it out) and the unlisted tests that passed.
///
/// ```
/// use conformance::harness::{check_expected, Outcome};
/// let o = |n: &str, st: &str| Outcome { group: "g".into(), name: n.into(), cite: "".into(),
///     status: st.into(), detail: "".into(), millis: 0 };
/// let listed = ["g/a".to_string(), "g/b".to_string(), "g/c".to_string()];
/// let (bad, new) = check_expected(&listed, &[o("a", "pass"), o("b", "skip"), o("d", "pass")]);
/// assert_eq!(bad.len(), 2, "g/b skipped and g/c did not run: {bad:?}");
/// assert_eq!(new, ["g/d"]);
/// ```
pub fn check_expected(listed: &[String], outs: &[Outcome]) -> (Vec<String>, Vec<String>) {
    let id = |o: &Outcome| format!("{}/{}", o.group, o.name);
    let mut regressions = Vec::new();
    for want in listed {
        match outs.iter().find(|o| id(o) == *want) {
            Some(o) if o.status == "pass" => {}
            Some(o) => regressions.push(format!(
                "{want} is listed as passing but is {}: {}",
                o.status, o.detail
            )),
            None => regressions.push(format!(
                "{want} is listed as passing but did not run (not selected by --group/--filter)"
            )),
        }
    }
    let new = outs
        .iter()
        .filter(|o| o.status == "pass" && !listed.contains(&id(o)))
        .map(id)
        .collect();
    (regressions, new)
}

/// Renders outcomes as a text table.
///
/// ```
/// let t = conformance::harness::render_table(&[]);
/// assert!(t.contains("0 passed"));
/// ```
pub fn render_table(outs: &[Outcome]) -> String {
    let mut s = String::new();
    for o in outs {
        let d: String = o.detail.chars().take(400).collect();
        s.push_str(&format!(
            "{:<5} {:<14} {:<40} {}\n",
            o.status.to_uppercase(),
            o.group,
            o.name,
            d
        ));
    }
    s.push_str(&summary(outs));
    s
}

/// "N passed, N failed, N skipped".
///
/// ```
/// assert_eq!(conformance::harness::summary(&[]), "0 passed, 0 failed, 0 skipped\n");
/// ```
pub fn summary(outs: &[Outcome]) -> String {
    let c = |st: &str| outs.iter().filter(|o| o.status == st).count();
    format!(
        "{} passed, {} failed, {} skipped\n",
        c("pass"),
        c("fail"),
        c("skip")
    )
}

/// Renders outcomes as TAP version 13.
///
/// ```
/// let t = conformance::harness::render_tap(&[]);
/// assert!(t.starts_with("TAP version 13\n1..0"));
/// ```
pub fn render_tap(outs: &[Outcome]) -> String {
    let mut s = format!("TAP version 13\n1..{}\n", outs.len());
    for (i, o) in outs.iter().enumerate() {
        let n = i + 1;
        match o.status.as_str() {
            "pass" => s.push_str(&format!("ok {n} - {}/{}\n", o.group, o.name)),
            "skip" => s.push_str(&format!(
                "ok {n} - {}/{} # SKIP {}\n",
                o.group, o.name, o.detail
            )),
            _ => {
                s.push_str(&format!("not ok {n} - {}/{}\n", o.group, o.name));
                s.push_str(&format!(
                    "  ---\n  message: {:?}\n  cite: {:?}\n  ...\n",
                    o.detail, o.cite
                ));
            }
        }
    }
    s
}

/// Renders a side-by-side markdown table: a row per test, a column per runtime.
///
/// ```
/// let t = conformance::harness::render_side_by_side(&[("runc".into(), vec![])]);
/// assert!(t.contains("| group | test | runc |"));
/// ```
pub fn render_side_by_side(runs: &[(String, Vec<Outcome>)]) -> String {
    let mut rows: Vec<(String, String)> = Vec::new();
    for (_, outs) in runs {
        for o in outs {
            let k = (o.group.clone(), o.name.clone());
            if !rows.contains(&k) {
                rows.push(k);
            }
        }
    }
    let mut s = String::from("| group | test |");
    for (n, _) in runs {
        s.push_str(&format!(" {n} |"));
    }
    s.push_str("\n|---|---|");
    for _ in runs {
        s.push_str("---|");
    }
    s.push('\n');
    for (g, n) in &rows {
        s.push_str(&format!("| {g} | {n} |"));
        for (_, outs) in runs {
            let cell = match outs.iter().find(|o| &o.group == g && &o.name == n) {
                Some(o) if o.status == "pass" => "pass".to_string(),
                Some(o) if o.status == "skip" => "skip".to_string(),
                Some(_) => "**FAIL**".to_string(),
                None => "-".to_string(),
            };
            s.push_str(&format!(" {cell} |"));
        }
        s.push('\n');
    }
    s.push_str("|  | **total passed** |");
    for (_, outs) in runs {
        let p = outs.iter().filter(|o| o.status == "pass").count();
        s.push_str(&format!(" {p}/{} |", outs.len()));
    }
    s.push('\n');
    s
}

/// Parses outcomes back from `--format json` output.
///
/// ```
/// let v = conformance::harness::parse_outcomes("[]").unwrap();
/// assert!(v.is_empty());
/// ```
pub fn parse_outcomes(text: &str) -> Result<Vec<Outcome>, String> {
    let v: Value = serde_json::from_str(text).map_err(|e| format!("results are not JSON: {e}"))?;
    let arr = v.as_array().ok_or("results are not a JSON array")?;
    Ok(arr
        .iter()
        .map(|o| Outcome {
            group: o["group"].as_str().unwrap_or_default().into(),
            name: o["name"].as_str().unwrap_or_default().into(),
            cite: o["cite"].as_str().unwrap_or_default().into(),
            status: o["status"].as_str().unwrap_or_default().into(),
            detail: o["detail"].as_str().unwrap_or_default().into(),
            millis: o["ms"].as_u64().unwrap_or(0) as u128,
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn o(g: &str, n: &str, st: &str) -> Outcome {
        Outcome {
            group: g.into(),
            name: n.into(),
            cite: "c".into(),
            status: st.into(),
            detail: "d".into(),
            millis: 0,
        }
    }

    #[test]
    fn side_by_side_has_a_column_per_runtime() {
        let t = render_side_by_side(&[
            ("a".into(), vec![o("g", "x", "pass"), o("g", "y", "fail")]),
            ("b".into(), vec![o("g", "x", "skip")]),
        ]);
        assert!(t.contains("| g | x | pass | skip |"));
        assert!(t.contains("| g | y | **FAIL** | - |"));
        assert!(t.contains("1/2 | 0/1 |"));
    }

    #[test]
    fn json_round_trips_and_tap_marks_failures() {
        let outs = [
            o("g", "x", "pass"),
            o("g", "y", "fail"),
            o("g", "z", "skip"),
        ];
        let text = Value::Array(outs.iter().map(Outcome::to_json).collect()).to_string();
        let back = parse_outcomes(&text).unwrap();
        assert_eq!(back.len(), 3);
        assert_eq!(back[1].status, "fail");
        let tap = render_tap(&back);
        assert!(tap.contains("not ok 2 - g/y"));
        assert!(tap.contains("ok 3 - g/z # SKIP d"));
    }

    #[test]
    fn a_panicking_or_failing_test_does_not_pass() {
        let suite = Suite {
            runtime: "/bin/false".into(),
            name: "false".into(),
            work: std::env::temp_dir().join(format!("harness-unit-{}", std::process::id())),
            template: "/nonexistent".into(),
        };
        let panics = Test::new("g", "p", "c", |_| panic!("boom"));
        assert_eq!(run_test(&suite, &panics, 1).status, "fail");
        let bundle_fails = Test::new("g", "b", "c", |c| {
            let cfg = c.spec(&[]);
            c.probe(&cfg).map(|_| ())
        });
        let out = run_test(&suite, &bundle_fails, 2);
        assert_eq!(out.status, "fail");
        assert!(!suite.work.join("t2").exists());
        let _ = std::fs::remove_dir_all(&suite.work);
    }
}
