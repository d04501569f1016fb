//! Shared helpers for the integration tests: a per-test bundle, state root and ids, a way to run
//! the runtime binary with a deadline, and cleanup on drop (even when the test fails).
//!
//! The runtime under test is `target/.../baleia`, or `$BALEIA_TEST_RUNTIME` (e.g. /usr/sbin/runc,
//! to check that the tests themselves are right).
#![allow(dead_code)]

use serde_json::{json, Value};
use std::cell::RefCell;
use std::fs;
use std::os::unix::fs::symlink;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;
use std::time::{Duration, Instant};

/// How long any single runtime command may take before the test calls it hung.
pub const DEADLINE: Duration = Duration::from_secs(60);

static COUNTER: AtomicUsize = AtomicUsize::new(0);

pub fn runtime() -> PathBuf {
    match std::env::var_os("BALEIA_TEST_RUNTIME") {
        Some(p) if !p.is_empty() => PathBuf::from(p),
        _ => PathBuf::from(env!("CARGO_BIN_EXE_baleia")),
    }
}

/// Whether the tests drive the systemd cgroup driver: `BALEIA_TEST_SYSTEMD_CGROUP=1` (set by
/// `make test-systemd` in its VM for the suites written for both drivers, e.g. cgroups_e2e).
/// Then every runtime command gets `--systemd-cgroup`, a container's cgroupsPath is
/// `system.slice:bt:<id>` (unit `bt-<id>.scope`), and "nothing left" includes the unit.
pub fn systemd_driver() -> bool {
    std::env::var_os("BALEIA_TEST_SYSTEMD_CGROUP").is_some_and(|v| v == "1")
}

/// The transient unit of container `id` under the systemd driver.
pub fn systemd_unit(id: &str) -> String {
    format!("bt-{id}.scope")
}

/// One property of a unit as `systemctl show` prints it ("" when systemctl has none).
pub fn unit_property(unit: &str, prop: &str) -> String {
    let out = Command::new("systemctl")
        .args(["show", "--value", "-p", prop, unit])
        .output()
        .unwrap_or_else(|e| panic!("run systemctl show {unit}: {e}"));
    String::from_utf8_lossy(&out.stdout).trim().to_string()
}

/// Whether systemd has no unit `unit` loaded (it never was, or it was stopped and collected).
pub fn unit_gone(unit: &str) -> bool {
    unit_property(unit, "LoadState") == "not-found"
}

/// Whether we are checking the tests against runc (some of its answers differ in wording).
pub fn is_runc() -> bool {
    runtime()
        .file_name()
        .map(|n| n.to_string_lossy().contains("runc"))
        .unwrap_or(false)
}

/// Says why a test did not run. Written to the real stderr (the test harness captures only the
/// print macros) so that a skip is visible even when the test "passes".
pub fn skip(reason: &str) {
    use std::io::Write;
    let _ = writeln!(std::io::stderr(), "SKIP: {reason}");
}

/// runc's version as (major, minor), when the runtime under test is runc.
pub fn runc_version() -> Option<(u32, u32)> {
    if !is_runc() {
        return None;
    }
    let out = Command::new(runtime()).arg("--version").output().ok()?;
    let text = String::from_utf8_lossy(&out.stdout);
    let v = text.lines().next()?.split_whitespace().nth(2)?;
    let mut it = v.split(|c: char| !c.is_ascii_digit());
    Some((it.next()?.parse().ok()?, it.next()?.parse().ok()?))
}

/// For validating the tests against an older runc: skips (saying why) when the runtime under test
/// is a runc known not to have `feature`. Never skips for baleia.
pub fn runtime_lacks(feature: &str, which: &str) -> bool {
    match runc_version() {
        Some(v) if v < (1, 2) && which == "runc < 1.2" => {
            skip(&format!(
                "{} lacks {feature} ({which})",
                runtime().display()
            ));
            true
        }
        _ => false,
    }
}

/// For validating the tests against runc: skips (saying why) where runc itself is known to be
/// wrong and baleia deliberately differs. Never skips for baleia.
pub fn runc_known_to_fail(why: &str) -> bool {
    if is_runc() {
        skip(&format!(
            "{} is known to fail this: {why}",
            runtime().display()
        ));
        return true;
    }
    false
}

fn busybox() -> PathBuf {
    std::env::var_os("BALEIA_TEST_BUSYBOX")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from("/bin/busybox"))
}

fn applets() -> &'static Vec<String> {
    static APPLETS: OnceLock<Vec<String>> = OnceLock::new();
    APPLETS.get_or_init(|| {
        let bb = busybox();
        let out = Command::new(&bb)
            .arg("--list")
            .output()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot run {} --list ({e}): install busybox-static",
                    bb.display()
                )
            });
        assert!(out.status.success(), "{} --list failed", bb.display());
        String::from_utf8_lossy(&out.stdout)
            .lines()
            .filter(|l| !l.is_empty() && *l != "busybox")
            .map(str::to_string)
            .collect()
    })
}

/// A fresh busybox rootfs (the same layout as scripts/make-bundle.sh makes).
pub fn make_rootfs(rootfs: &Path) {
    for d in [
        "bin", "sbin", "etc", "proc", "sys", "dev", "tmp", "root", "var", "run", "usr/bin",
        "usr/sbin",
    ] {
        fs::create_dir_all(rootfs.join(d)).unwrap();
    }
    let bb = busybox();
    let ldd = Command::new("ldd").arg(&bb).output();
    if let Ok(o) = ldd {
        assert!(
            !o.status.success(),
            "{} is dynamically linked: install busybox-static",
            bb.display()
        );
    }
    fs::copy(&bb, rootfs.join("bin/busybox")).unwrap();
    for a in applets() {
        symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    set_mode(&rootfs.join("tmp"), 0o1777);
    fs::write(
        rootfs.join("etc/passwd"),
        "root:x:0:0:root:/root:/bin/sh\nnobody:x:65534:65534:nobody:/nonexistent:/bin/false\n",
    )
    .unwrap();
    fs::write(rootfs.join("etc/group"), "root:x:0:\nnobody:x:65534:\n").unwrap();
}

pub fn set_mode(p: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    fs::set_permissions(p, fs::Permissions::from_mode(mode)).unwrap();
}

/// The default config: what `runc spec` writes, with terminal off and a writable root
/// (tests that want a read-only root say so).
pub fn default_config() -> Value {
    json!({
        "ociVersion": "1.0.2",
        "process": {
            "terminal": false,
            "user": {"uid": 0, "gid": 0},
            "args": ["sh"],
            "env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin", "TERM=xterm"],
            "cwd": "/",
            "capabilities": {
                "bounding": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "effective": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "permitted": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"],
                "ambient": ["CAP_AUDIT_WRITE", "CAP_KILL", "CAP_NET_BIND_SERVICE"]
            },
            "rlimits": [{"type": "RLIMIT_NOFILE", "hard": 1024, "soft": 1024}],
            "noNewPrivileges": true
        },
        "root": {"path": "rootfs", "readonly": false},
        "hostname": "baleia-test",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs",
             "options": ["nosuid", "strictatime", "mode=755", "size=65536k"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts",
             "options": ["nosuid", "noexec", "newinstance", "ptmxmode=0666", "mode=0620", "gid=5"]},
            {"destination": "/dev/shm", "type": "tmpfs", "source": "shm",
             "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k"]},
            {"destination": "/dev/mqueue", "type": "mqueue", "source": "mqueue",
             "options": ["nosuid", "noexec", "nodev"]},
            {"destination": "/sys", "type": "sysfs", "source": "sysfs",
             "options": ["nosuid", "noexec", "nodev", "ro"]}
        ],
        "linux": {
            "resources": {"devices": [{"allow": false, "access": "rwm"}]},
            "namespaces": [
                {"type": "pid"}, {"type": "network"}, {"type": "ipc"}, {"type": "uts"}, {"type": "mount"}
            ],
            "maskedPaths": [
                "/proc/acpi", "/proc/asound", "/proc/kcore", "/proc/keys", "/proc/latency_stats",
                "/proc/timer_list", "/proc/timer_stats", "/proc/sched_debug", "/sys/firmware",
                "/proc/scsi"
            ],
            "readonlyPaths": [
                "/proc/bus", "/proc/fs", "/proc/irq", "/proc/sys", "/proc/sysrq-trigger"
            ]
        }
    })
}

/// What a runtime command did.
pub struct Out {
    pub status: ExitStatus,
    pub stdout: String,
    pub stderr: String,
}

impl Out {
    pub fn code(&self) -> i32 {
        self.status
            .code()
            .unwrap_or_else(|| panic!("killed by a signal: {:?}\n{}", self.status, self))
    }
    pub fn ok(&self) -> bool {
        self.status.success()
    }
    /// Panics with the whole output unless the command succeeded.
    pub fn assert_ok(&self, what: &str) -> &Self {
        assert!(self.ok(), "{what} failed: {self}");
        self
    }
    pub fn assert_fail(&self, what: &str) -> &Self {
        assert!(!self.ok(), "{what} should have failed: {self}");
        self
    }
}

impl std::fmt::Display for Out {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "status {:?}\n--- stdout\n{}--- stderr\n{}",
            self.status, self.stdout, self.stderr
        )
    }
}

/// One test's world: a temp dir holding a bundle, a state root, output files; the container ids
/// it used. Dropping it force-deletes the containers and removes everything.
pub struct Env {
    pub dir: PathBuf,
    pub bundle: PathBuf,
    pub rootfs: PathBuf,
    pub root: PathBuf,
    /// The test's main container id (already registered for cleanup).
    pub id: String,
    pub config: Value,
    ids: RefCell<Vec<String>>,
    seq: AtomicUsize,
}

/// Returns None (after printing why) when the tests cannot run here at all.
pub fn setup(tag: &str) -> Option<Env> {
    if unsafe { libc::geteuid() } != 0 {
        skip("integration tests need root");
        return None;
    }
    let rt = runtime();
    if !rt.exists() {
        skip(&format!("runtime {} does not exist", rt.display()));
        return None;
    }
    let n = COUNTER.fetch_add(1, Ordering::SeqCst);
    let pid = std::process::id();
    let dir = std::env::temp_dir().join(format!("baleia-it-{tag}-{pid}-{n}"));
    let _ = fs::remove_dir_all(&dir);
    fs::create_dir_all(&dir).unwrap();
    let bundle = dir.join("bundle");
    let rootfs = bundle.join("rootfs");
    make_rootfs(&rootfs);
    let root = dir.join("state");
    let mut env = Env {
        id: String::new(),
        dir,
        bundle,
        rootfs,
        root,
        config: default_config(),
        ids: RefCell::new(Vec::new()),
        seq: AtomicUsize::new(0),
    };
    env.id = env.new_id(tag);
    Some(env)
}

impl Env {
    /// A container id unique across tests and test processes, registered for cleanup.
    pub fn new_id(&self, tag: &str) -> String {
        let n = COUNTER.fetch_add(1, Ordering::SeqCst);
        let id = format!("bt-{tag}-{}-{n}", std::process::id());
        self.ids.borrow_mut().push(id.clone());
        id
    }

    /// Our cgroupsPath for a container: absolute, flat, named after the id; under the systemd
    /// driver, a scope of its own in system.slice.
    pub fn cgroups_path(id: &str) -> String {
        if systemd_driver() {
            format!("system.slice:bt:{id}")
        } else {
            format!("/baleia-test-{id}")
        }
    }

    /// Where container `id`'s cgroup is, relative to a hierarchy's root (the unified one under
    /// the systemd driver: the v2 path systemd gives a scope of system.slice).
    pub fn cgroup_rel(id: &str) -> String {
        if systemd_driver() {
            format!("system.slice/{}", systemd_unit(id))
        } else {
            Self::cgroups_path(id).trim_start_matches('/').to_string()
        }
    }

    pub fn set_args(&mut self, args: &[&str]) {
        self.config["process"]["args"] = json!(args);
    }

    pub fn sh(&mut self, script: &str) {
        self.set_args(&["sh", "-c", script]);
    }

    /// Writes config.json for container `id`: its own cgroup, and a marker in its environment
    /// so that `leftover_processes` can find its processes.
    pub fn save_for(&self, id: &str) {
        let mut c = self.config.clone();
        c["linux"]["cgroupsPath"] = json!(Self::cgroups_path(id));
        if let Some(env) = c["process"]["env"].as_array_mut() {
            env.push(json!(format!("BALEIA_TEST_MARK={id}")));
        }
        fs::write(
            self.bundle.join("config.json"),
            serde_json::to_vec_pretty(&c).unwrap(),
        )
        .unwrap();
    }

    /// `runtime --root <ours> args...` with stdin from /dev/null (and `--systemd-cgroup`
    /// under the systemd driver, unless the caller gave it already).
    pub fn cmd(&self, args: &[&str]) -> Command {
        let mut c = Command::new(runtime());
        c.arg("--root").arg(&self.root);
        if systemd_driver() && !args.contains(&"--systemd-cgroup") {
            c.arg("--systemd-cgroup");
        }
        c.args(args).stdin(Stdio::null());
        c
    }

    fn out_files(&self) -> (PathBuf, PathBuf) {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        (
            self.dir.join(format!("out-{n}")),
            self.dir.join(format!("err-{n}")),
        )
    }

    /// Starts a command with stdout/stderr going to files (not pipes: a container started by
    /// `create` keeps them open, and we must not wait for it to close them).
    pub fn spawn_cmd(&self, mut c: Command) -> Running {
        let (o, e) = self.out_files();
        c.stdout(fs::File::create(&o).unwrap())
            .stderr(fs::File::create(&e).unwrap());
        let child = c.spawn().unwrap_or_else(|e| panic!("spawn {:?}: {e}", c));
        Running {
            child,
            stdout: o,
            stderr: e,
            what: format!("{c:?}"),
        }
    }

    pub fn spawn(&self, args: &[&str]) -> Running {
        self.spawn_cmd(self.cmd(args))
    }

    /// Like `spawn`, for a command that makes container `id`: the runtime carries the id's
    /// marker in its environment, so that its forked init is found by `leftover_processes`
    /// even before it execs the container's process.
    pub fn spawn_for(&self, id: &str, args: &[&str]) -> Running {
        let mut c = self.cmd(args);
        c.env("BALEIA_TEST_MARK", id);
        self.spawn_cmd(c)
    }

    /// Runs the runtime with `args` and waits (bounded) for it to exit.
    pub fn exec(&self, args: &[&str]) -> Out {
        self.spawn(args).wait()
    }

    /// `exec --detach --pid-file` of `args` in container `id`: the host pid its pid file names
    /// (written as engines want it, without a trailing newline).
    pub fn exec_detached(&self, id: &str, args: &[&str]) -> i32 {
        let n = self.seq.fetch_add(1, Ordering::SeqCst);
        let pf = self.dir.join(format!("exec-{n}.pid"));
        let mut a = vec!["exec", "--detach", "--pid-file", pf.to_str().unwrap(), id];
        a.extend_from_slice(args);
        self.exec(&a).assert_ok("exec --detach");
        let text = fs::read_to_string(&pf).expect("pid file");
        assert!(
            !text.ends_with('\n'),
            "pid file has a trailing newline: {text:?}"
        );
        text.parse().expect("pid file holds a number")
    }

    /// `run` of the configured process in container `id`.
    pub fn run_id(&self, id: &str) -> Out {
        self.save_for(id);
        let b = self.bundle.to_str().unwrap();
        self.spawn_for(id, &["run", "--bundle", b, id]).wait()
    }

    pub fn run(&self) -> Out {
        self.run_id(&self.id)
    }

    /// `run` and return its stdout, asserting success.
    pub fn run_ok(&self) -> String {
        let o = self.run();
        o.assert_ok("run");
        o.stdout
    }

    pub fn pid_file(&self, id: &str) -> PathBuf {
        self.dir.join(format!("{id}.pid"))
    }

    /// `create --bundle --pid-file` of container `id` with the current config.
    pub fn create_id(&self, id: &str) -> Out {
        self.save_for(id);
        let b = self.bundle.to_str().unwrap();
        let p = self.pid_file(id);
        self.exec(&[
            "create",
            "--bundle",
            b,
            "--pid-file",
            p.to_str().unwrap(),
            id,
        ])
    }

    pub fn create(&self) -> Out {
        self.create_id(&self.id)
    }

    pub fn state(&self, id: &str) -> Value {
        let o = self.exec(&["state", id]);
        o.assert_ok("state");
        serde_json::from_str(&o.stdout).unwrap_or_else(|e| panic!("state is not JSON ({e}): {o}"))
    }

    pub fn status(&self, id: &str) -> String {
        self.state(id)["status"].as_str().unwrap_or("").to_string()
    }

    /// Bounded polling until `state` shows `status`.
    pub fn wait_status(&self, id: &str, status: &str) -> Value {
        let start = Instant::now();
        loop {
            let s = self.state(id);
            if s["status"] == status {
                return s;
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{id} never became {status}: {s}"
            );
            // `state` has no event to wait on: bounded polling is the runtime's own interface.
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    pub fn state_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    /// The cgroup directories of container `id` that exist now, on every hierarchy.
    pub fn cgroup_dirs(&self, id: &str) -> Vec<PathBuf> {
        cgroup_dirs_of(&Self::cgroup_rel(id))
    }

    /// Processes (other than the runtime commands we are waiting for) that belong to container
    /// `id`: its marker in their environment, or the id on their command line.
    /// A runtime that re-execs itself (runc init) clears its environment, so the container's
    /// cgroup is the other way to find an init that has not exec'd yet.
    pub fn leftover_processes(&self, id: &str) -> Vec<i32> {
        let mut pids = processes_mentioning(id);
        for d in self.cgroup_dirs(id) {
            let procs = fs::read_to_string(d.join("cgroup.procs")).unwrap_or_default();
            pids.extend(
                procs
                    .lines()
                    .filter_map(|l| l.trim().parse::<i32>().ok())
                    .filter(|p| alive(*p)),
            );
        }
        pids.sort();
        pids.dedup();
        pids
    }

    /// Asserts that container `id` left nothing behind: no state dir, no cgroup, no process.
    pub fn assert_no_trace(&self, id: &str) {
        assert!(
            !self.state_dir(id).exists(),
            "state dir {} left behind",
            self.state_dir(id).display()
        );
        let cg = self.cgroup_dirs(id);
        assert!(cg.is_empty(), "cgroup dirs left behind: {cg:?}");
        if systemd_driver() {
            let unit = systemd_unit(id);
            assert!(
                unit_gone(&unit),
                "unit {unit} left behind: {}",
                unit_property(&unit, "ActiveState")
            );
        }
        let start = Instant::now();
        // A process killed by the runtime may still be on its way out: bounded wait for it.
        loop {
            let p = self.leftover_processes(id);
            if p.is_empty() {
                break;
            }
            assert!(
                start.elapsed() < Duration::from_secs(5),
                "processes left behind for {id}: {p:?}"
            );
            // Processes we killed take a moment to exit; several pids, so poll (bounded).
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Bounded polling for a file inside the rootfs to appear (the container's way of saying
    /// "I got here").
    pub fn wait_file(&self, path_in_rootfs: &str) {
        let p = self.rootfs.join(path_in_rootfs.trim_start_matches('/'));
        let start = Instant::now();
        while !p.exists() {
            assert!(start.elapsed() < DEADLINE, "{} never appeared", p.display());
            // The container's only way to say "I got here" is a file: bounded polling.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// What the container wrote to `path_in_rootfs` (its /tmp is the rootfs's, not a tmpfs),
    /// once it ends in a newline, trimmed: a shell's `> file` makes the file before it writes.
    pub fn wait_line(&self, path_in_rootfs: &str) -> String {
        self.wait_file(path_in_rootfs);
        let p = self.rootfs.join(path_in_rootfs.trim_start_matches('/'));
        let start = Instant::now();
        loop {
            let text = fs::read_to_string(&p).unwrap_or_default();
            if text.ends_with('\n') {
                return text.trim().to_string();
            }
            assert!(
                start.elapsed() < DEADLINE,
                "no full line in {}: {text:?}",
                p.display()
            );
            // As above: the file is all the container tells.
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Env {
    fn drop(&mut self) {
        for id in self.ids.borrow().iter() {
            if self.state_dir(id).exists() {
                let _ = self
                    .cmd(&["delete", "--force", id])
                    .stdout(Stdio::null())
                    .stderr(Stdio::null())
                    .status();
            }
            // Kill anything still carrying our marker (a half-created container the runtime lost).
            for pid in self.leftover_processes(id) {
                unsafe { libc::kill(pid, libc::SIGKILL) };
            }
            if systemd_driver() {
                // A unit the runtime lost: stop it, and forget it if it failed.
                for verb in ["stop", "reset-failed"] {
                    let _ = Command::new("systemctl")
                        .args([verb, &systemd_unit(id)])
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .status();
                }
            }
            for d in self.cgroup_dirs(id) {
                for _ in 0..50 {
                    if fs::remove_dir(&d).is_ok() || !d.exists() {
                        break;
                    }
                    // rmdir is EBUSY until the killed processes have left: bounded retry.
                    std::thread::sleep(Duration::from_millis(20));
                }
            }
        }
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// A runtime command still running.
pub struct Running {
    pub child: Child,
    pub stdout: PathBuf,
    pub stderr: PathBuf,
    what: String,
}

impl Running {
    pub fn pid(&self) -> i32 {
        self.child.id() as i32
    }

    pub fn stdout_now(&self) -> String {
        fs::read_to_string(&self.stdout).unwrap_or_default()
    }

    /// Bounded polling until the command's stdout contains `needle`.
    pub fn wait_output(&mut self, needle: &str) {
        let start = Instant::now();
        while !self.stdout_now().contains(needle) {
            if let Ok(Some(st)) = self.child.try_wait() {
                panic!(
                    "{} exited ({st:?}) before printing {needle:?}: {}",
                    self.what,
                    self.stdout_now()
                );
            }
            assert!(
                start.elapsed() < DEADLINE,
                "{} never printed {needle:?}",
                self.what
            );
            // Output arrives in a file the container writes: bounded polling.
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// Waits (bounded) for the command to exit; a hung runtime is killed and the test fails.
    pub fn wait(mut self) -> Out {
        if !wait_exit(self.pid(), DEADLINE) {
            let _ = self.child.kill();
            let _ = self.child.wait();
            panic!(
                "{} hung for {DEADLINE:?}; stdout: {}",
                self.what,
                self.stdout_now()
            );
        }
        let status = self.child.wait().unwrap();
        Out {
            status,
            stdout: fs::read_to_string(&self.stdout).unwrap_or_default(),
            stderr: fs::read_to_string(&self.stderr).unwrap_or_default(),
        }
    }
}

/// Existing directories named `cgroups_path` under every cgroup hierarchy of the host.
pub fn cgroup_dirs_of(cgroups_path: &str) -> Vec<PathBuf> {
    let rel = cgroups_path.trim_start_matches('/');
    let mut found = Vec::new();
    let base = Path::new("/sys/fs/cgroup");
    // cgroup v2 alone: the path is directly under /sys/fs/cgroup.
    if base.join("cgroup.controllers").exists() {
        let d = base.join(rel);
        if d.is_dir() {
            found.push(d);
        }
        return found;
    }
    if let Ok(rd) = fs::read_dir(base) {
        for e in rd.flatten() {
            let d = e.path().join(rel);
            if d.is_dir() {
                found.push(d);
            }
        }
    }
    found
}

/// Host pids whose environment holds `BALEIA_TEST_MARK=<id>` or whose command line mentions `id`,
/// excluding ourselves.
pub fn processes_mentioning(id: &str) -> Vec<i32> {
    let me = std::process::id() as i32;
    let mark = format!("BALEIA_TEST_MARK={id}");
    let mut pids = Vec::new();
    let Ok(rd) = fs::read_dir("/proc") else {
        return pids;
    };
    for e in rd.flatten() {
        let Ok(pid) = e.file_name().to_string_lossy().parse::<i32>() else {
            continue;
        };
        if pid == me {
            continue;
        }
        // Zombies are already dead; their parent (maybe us) reaps them.
        if let Ok(st) = fs::read_to_string(e.path().join("stat")) {
            if st
                .rsplit(')')
                .next()
                .map(|r| r.trim_start().starts_with('Z'))
                .unwrap_or(false)
            {
                continue;
            }
        }
        let env = fs::read(e.path().join("environ")).unwrap_or_default();
        let cmdline = fs::read(e.path().join("cmdline")).unwrap_or_default();
        let has = |hay: &[u8], needle: &[u8]| hay.split(|b| *b == 0).any(|part| part == needle);
        if has(&env, mark.as_bytes()) || has(&cmdline, id.as_bytes()) {
            pids.push(pid);
        }
    }
    pids
}

/// Whether a host process exists (and is not a zombie).
pub fn alive(pid: i32) -> bool {
    match fs::read_to_string(format!("/proc/{pid}/stat")) {
        Ok(st) => !st
            .rsplit(')')
            .next()
            .map(|r| r.trim_start().starts_with('Z'))
            .unwrap_or(true),
        Err(_) => false,
    }
}

/// Wait (at most `limit`) for `pid` to exit, on a pidfd: it turns readable when the process
/// has exited, reaped or not, so no polling loop is needed. False on timeout.
pub fn wait_exit(pid: i32, limit: Duration) -> bool {
    // SAFETY: plain syscalls on integers; the fd is closed below.
    let fd = unsafe { libc::syscall(libc::SYS_pidfd_open, pid, 0) } as i32;
    if fd < 0 {
        return true; // ESRCH: already gone (and reaped).
    }
    let mut pfd = libc::pollfd {
        fd,
        events: libc::POLLIN,
        revents: 0,
    };
    let ms = limit.as_millis().min(i32::MAX as u128) as i32;
    let n = loop {
        // SAFETY: one valid pollfd.
        let n = unsafe { libc::poll(&mut pfd, 1, ms) };
        if n >= 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::EINTR) {
            break n;
        }
    };
    // SAFETY: fd is ours.
    unsafe { libc::close(fd) };
    n > 0
}

/// Wait until `pid` is gone (exited, zombie or reaped).
pub fn wait_gone(pid: i32) {
    assert!(wait_exit(pid, DEADLINE), "pid {pid} is still alive");
}

/// The mount table line for `target` as the container printed it (from /proc/self/mounts).
pub fn mount_line<'a>(mounts: &'a str, target: &str) -> Option<&'a str> {
    // The last one: a later mount on the same target hides the earlier ones.
    mounts
        .lines()
        .rev()
        .find(|l| l.split_whitespace().nth(1) == Some(target))
}

/// The options of a mount line as a list.
pub fn mount_opts(line: &str) -> Vec<&str> {
    line.split_whitespace()
        .nth(3)
        .map(|o| o.split(',').collect())
        .unwrap_or_default()
}
