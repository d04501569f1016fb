//! Attacks a container (or a crash) can mount against the host, each reproduced against the
//! runtime under test, and each of which must fail:
//!
//! - writing the runtime's own binary through `/proc/<pid>/exe` of a process the runtime made
//!   (the CVE-2019-5736 class): an image whose /bin/sh is `#!/proc/self/exe`, hit by `exec`, and
//!   a CAP_SYS_PTRACE container opening its own init before the init's execve. The attacks aim
//!   at a copy of the runtime (a canary) that the test runs as the runtime, never at the real
//!   binary or a system file;
//! - a process user of uid/gid 4294967295, which setresuid reads as "unchanged" (root);
//! - environment entries without '=';
//! - a `create` killed at any moment: nothing may hang, and `delete --force` must leave no
//!   cgroup, mount, process or state directory; a lock that is not released makes commands
//!   fail in bounded time, naming the pid that holds it.

mod common;

use common::*;
use serde_json::json;
use std::fs;
use std::io::Read;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// How long the attacker in the container may take to report a step.
const STEP: Duration = Duration::from_secs(30);

/// A copy of the runtime under test, which the test runs as the runtime: the attacks aim at it.
/// Its bytes are kept, to check that no attack changed it.
struct Canary {
    path: PathBuf,
    bytes: Vec<u8>,
}

impl Canary {
    /// The copy goes to `dir` (created).
    fn new(dir: &Path) -> Canary {
        fs::create_dir_all(dir).unwrap();
        let rt = runtime();
        let path = dir.join(rt.file_name().unwrap());
        fs::copy(&rt, &path).unwrap();
        fs::set_permissions(&path, fs::Permissions::from_mode(0o755)).unwrap();
        let bytes = fs::read(&path).unwrap();
        Canary { path, bytes }
    }

    /// The same copy reached by another path (through another mount namespace).
    fn at(path: PathBuf, bytes: Vec<u8>) -> Canary {
        Canary { path, bytes }
    }

    fn cmd(&self, env: &Env, args: &[&str]) -> Command {
        let mut c = Command::new(&self.path);
        c.arg("--root")
            .arg(&env.root)
            .args(args)
            .stdin(Stdio::null());
        c
    }

    /// Runs the canary to completion (bounded), with the container's marker in its
    /// environment so that a leftover init is found and cleaned up.
    fn run(&self, env: &Env, id: &str, args: &[&str]) -> Out {
        let mut c = self.cmd(env, args);
        c.env("BALEIA_TEST_MARK", id);
        run_to_end(env, c)
    }

    fn assert_intact(&self) {
        let now = fs::read(&self.path).unwrap();
        assert!(
            now == self.bytes,
            "the container changed the runtime's binary (canary {})",
            self.path.display()
        );
    }
}

/// Spawns a fresh copy of a binary: another test thread forking at the moment the copy was
/// written may still hold its write descriptor for an instant (ETXTBSY): retry, bounded.
fn spawn_retrying(mut c: Command) -> Child {
    for _ in 0..50 {
        match c.spawn() {
            Ok(child) => return child,
            Err(e) if e.raw_os_error() == Some(libc::ETXTBSY) => {
                // The other thread's child execs or exits within microseconds: bounded retry.
                std::thread::sleep(Duration::from_millis(10));
            }
            Err(e) => panic!("spawn {c:?}: {e}"),
        }
    }
    panic!("{c:?}: the binary stayed busy (ETXTBSY)");
}

/// Runs `c` with its output in files (a container keeps the runtime's stdio open) and waits
/// for it, bounded.
fn run_to_end(env: &Env, mut c: Command) -> Out {
    let tag = env.new_id("out");
    let (o, e) = (
        env.dir.join(format!("{tag}.out")),
        env.dir.join(format!("{tag}.err")),
    );
    c.stdout(fs::File::create(&o).unwrap())
        .stderr(fs::File::create(&e).unwrap());
    let mut child = spawn_retrying(c);
    if !wait_exit(child.id() as i32, DEADLINE) {
        let _ = child.kill();
        let _ = child.wait();
        panic!("a runtime command hung for {DEADLINE:?}");
    }
    Out {
        status: child.wait().unwrap(),
        stdout: fs::read_to_string(&o).unwrap_or_default(),
        stderr: fs::read_to_string(&e).unwrap_or_default(),
    }
}

/// The rootfs becomes the attacker's image: its /bin/sh is a `#!/proc/self/exe` script, so a
/// process that executes /bin/sh before its own execve runs the runtime's binary inside the
/// container; and it carries the shared libraries that binary needs to start there (an attacker
/// builds the image as they like).
fn attacker_image(env: &Env, binary: &Path) {
    let sh = env.rootfs.join("bin/sh");
    fs::remove_file(&sh).unwrap();
    fs::write(&sh, "#!/proc/self/exe\n").unwrap();
    set_mode(&sh, 0o755);
    let out = Command::new("ldd").arg(binary).output().unwrap();
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let Some(lib) = line.split_whitespace().find(|w| w.starts_with('/')) else {
            continue;
        };
        let dst = env.rootfs.join(lib.trim_start_matches('/'));
        fs::create_dir_all(dst.parent().unwrap()).unwrap();
        fs::copy(lib, &dst).unwrap_or_else(|e| panic!("copy {lib}: {e}"));
    }
    fs::create_dir_all(env.rootfs.join("r")).unwrap();
}

/// Shell function of the attacker: the file held on fd 3 (a runtime binary) opened for
/// writing, and its own first four bytes (the ELF magic) written back, which proves write
/// access without changing a byte. Prints WROTE, or why the kernel refused.
const TRY_WRITE: &str = r#"try() { ( printf '\177ELF' 1<>/proc/self/fd/3 ) 2>&1 && echo WROTE; }"#;

/// Waits for the attacker's report `name` (in the rootfs' /r), while `alive` says the
/// runtime side is still worth waiting for.
fn report(env: &Env, name: &str, mut alive: impl FnMut() -> Result<(), String>) -> String {
    let p = env.rootfs.join("r").join(name);
    let start = Instant::now();
    loop {
        if let Ok(s) = fs::read_to_string(&p) {
            return s.trim().to_string();
        }
        if let Err(why) = alive() {
            panic!("no report {name} from the attacker: {why}{}", diagnose(env));
        }
        assert!(
            start.elapsed() < STEP,
            "no report {name} from the attacker{}",
            diagnose(env)
        );
        // The container's only way to speak is a file: bounded polling.
        std::thread::sleep(Duration::from_millis(5));
    }
}

/// What the attacker left (its reports, and the runtime commands' stderr, where the
/// container's own stderr goes), for a failure message.
fn diagnose(env: &Env) -> String {
    let mut out = String::new();
    let mut files: Vec<PathBuf> = fs::read_dir(env.rootfs.join("r"))
        .into_iter()
        .chain(fs::read_dir(&env.dir))
        .flatten()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.is_file())
        .collect();
    files.sort();
    for f in files {
        let text = fs::read_to_string(&f).unwrap_or_default();
        if !text.trim().is_empty() {
            out.push_str(&format!("\n--- {}\n{}", f.display(), text.trim_end()));
        }
    }
    out
}

fn touch(env: &Env, name: &str) {
    fs::write(env.rootfs.join("r").join(name), "").unwrap();
}

/// A pipe whose write end is full: a process writing to it blocks until we read.
fn full_pipe() -> (OwnedFd, OwnedFd) {
    let mut fds = [0; 2];
    // SAFETY: pipe2 fills two fds, owned below.
    assert_eq!(unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) }, 0);
    // SAFETY: fresh fds from pipe2.
    let (r, w) = unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) };
    let chunk = [b'.'; 4096];
    // SAFETY: fcntl and write on our own fds.
    unsafe {
        let fl = libc::fcntl(w.as_raw_fd(), libc::F_GETFL);
        libc::fcntl(w.as_raw_fd(), libc::F_SETFL, fl | libc::O_NONBLOCK);
        while libc::write(w.as_raw_fd(), chunk.as_ptr().cast(), chunk.len()) > 0 {}
        while libc::write(w.as_raw_fd(), chunk.as_ptr().cast(), 1) > 0 {}
        libc::fcntl(w.as_raw_fd(), libc::F_SETFL, fl);
    }
    (r, w)
}

/// Reads the pipe to its end (every writer gone), bounded; returns what came after the filler.
fn drain(r: OwnedFd) -> String {
    let deadline = Instant::now() + DEADLINE;
    let mut f = fs::File::from(r);
    let mut all = Vec::new();
    let mut buf = [0u8; 65536];
    loop {
        let mut pfd = libc::pollfd {
            fd: f.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let left = deadline
            .saturating_duration_since(Instant::now())
            .as_millis() as i32;
        assert!(left > 0, "the pipe never reached its end");
        // SAFETY: one valid pollfd.
        unsafe { libc::poll(&mut pfd, 1, left) };
        match f.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => all.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => panic!("read the pipe: {e}"),
        }
    }
    let text = String::from_utf8_lossy(&all);
    text.trim_start_matches('.').to_string()
}

/// A config whose container runs `script` (busybox sh, not the image's /bin/sh) and whose
/// capabilities are the default plus `extra`.
fn attacker_config(env: &mut Env, script: &str, extra: &[&str]) {
    env.set_args(&["/bin/busybox", "sh", "-c", script]);
    for set in ["bounding", "effective", "permitted"] {
        let caps = env.config["process"]["capabilities"][set]
            .as_array_mut()
            .unwrap();
        caps.extend(extra.iter().map(|c| json!(c)));
    }
}

/// The `#!/proc/self/exe` attack through `exec`, `runs` times: each exec'd process runs the
/// runtime's binary in the container, which blocks writing its usage error to a full pipe,
/// so the attacker has all the time it wants. The attacker opens that process's
/// /proc/<pid>/exe, tries to write while it runs, and again once it and every other runtime
/// process has exited. Returns, per run, the `exe` link the attacker got hold of; `None` when
/// the runtime's process was out of its reach (not dumpable) all along.
fn shebang_attack(env: &mut Env, canary: &Canary, runs: usize) -> Vec<Option<String>> {
    // Run n: the attacker searches /proc for a process whose exe is not busybox. When the
    // test says the runtime's process is in place (scan.n), one more full pass that finds
    // nothing means it is out of reach: "none".
    let script = format!(
        r#"{TRY_WRITE}
seen=" 1 $$ "
i=0
while [ $i -lt {runs} ]; do
  n=$((i+1))
  found=
  while :; do
    last=; [ -e /r/scan.$n ] && last=1
    for d in /proc/[0-9]*; do
      p=${{d#/proc/}}
      case "$seen" in *" $p "*) continue;; esac
      l=$(readlink $d/exe 2>/dev/null) || continue
      [ "$l" = /bin/busybox ] && continue
      found=1
      break 2
    done
    [ -n "$last" ] && break
    usleep 1000
  done
  if [ -z "$found" ]; then
    echo none > /r/t && mv /r/t /r/grabbed.$n
    echo "run $n: nothing to attack" >> /r/trace
    i=$n
    continue
  fi
  # In a subshell: a target we cannot open (gone, or in the middle of an execve) only costs
  # the search, not the shell; it is tried again.
  if ( exec 3<$d/exe
       echo "$l: $(try)" > /r/t && mv /r/t /r/grabbed.$n
       while [ ! -e /r/go.$n ]; do usleep 1000; done
       echo "$l: $(try)" > /r/t && mv /r/t /r/done.$n
     ) 2>/dev/null; then
    i=$n
    seen="$seen$p "
    echo "run $n: pid $p ($l)" >> /r/trace
  else
    echo "run $n: pid $p ($l) could not be opened" >> /r/trace
  fi
done
exec sleep 1000
"#
    );
    attacker_config(env, &script, &[]);
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    let o = canary.run(env, &id, &["run", "--detach", "--bundle", &b, &id]);
    o.assert_ok("run --detach the attacker");
    let mut links = Vec::new();
    for i in 1..=runs {
        let (r, w) = full_pipe();
        let mut c = canary.cmd(env, &["exec", &id, "/bin/sh"]);
        c.stdout(Stdio::null()).stderr(Stdio::from(w));
        let mut exec = spawn_retrying(c);
        wait_blocked_on_stderr(&mut exec, i);
        touch(env, &format!("scan.{i}"));
        let grabbed = report(env, &format!("grabbed.{i}"), || Ok(()));
        let written = drain(r);
        assert!(wait_exit(exec.id() as i32, DEADLINE), "run {i}: exec hung");
        let st = exec.wait().unwrap();
        assert!(
            !written.is_empty(),
            "run {i}: the runtime's binary never ran in the container (exec {st:?})"
        );
        if grabbed == "none" {
            links.push(None);
            continue;
        }
        touch(env, &format!("go.{i}"));
        let done = report(env, &format!("done.{i}"), || Ok(()));
        for (when, r) in [("while it ran", &grabbed), ("after it exited", &done)] {
            assert!(
                !r.ends_with("WROTE"),
                "run {i}: the container wrote to the runtime's binary {when}: {r}"
            );
        }
        links.push(Some(
            grabbed.split(": ").next().unwrap_or_default().to_string(),
        ));
    }
    canary.assert_intact();
    links
}

/// Every descendant of `pid`, through the children of each of its threads (a Go runtime
/// forks from any thread).
fn descendants(pid: i32) -> Vec<i32> {
    let mut out = Vec::new();
    let mut todo = vec![pid];
    while let Some(p) = todo.pop() {
        for task in fs::read_dir(format!("/proc/{p}/task"))
            .into_iter()
            .flatten()
            .flatten()
        {
            let kids = fs::read_to_string(task.path().join("children")).unwrap_or_default();
            for k in kids.split_whitespace().filter_map(|k| k.parse().ok()) {
                out.push(k);
                todo.push(k);
            }
        }
    }
    out
}

/// Waits (bounded) until a process the `exec` command started is blocked writing to its
/// stderr, the full pipe: the runtime's binary then runs in the container, and stays (or, with
/// runc, has already said what it had to say through the exec command).
fn wait_blocked_on_stderr(exec: &mut Child, run: usize) {
    let start = Instant::now();
    loop {
        if let Ok(Some(st)) = exec.try_wait() {
            panic!("run {run}: exec ended ({st:?}) before its process wrote anything");
        }
        // x86_64 write(2) is syscall 1; its first argument is the fd. runc's exec command
        // relays its process's error itself: the command's threads count too.
        let mut procs = descendants(exec.id() as i32);
        procs.push(exec.id() as i32);
        let blocked = procs.iter().any(|c| {
            fs::read_dir(format!("/proc/{c}/task"))
                .into_iter()
                .flatten()
                .flatten()
                .any(|t| {
                    fs::read_to_string(t.path().join("syscall"))
                        .is_ok_and(|s| s.starts_with("1 0x2 "))
                })
        });
        if blocked {
            return;
        }
        assert!(
            start.elapsed() < STEP,
            "run {run}: the exec'd process never wrote to its stderr"
        );
        // Nothing to wait on for "another process is blocked in write": bounded polling.
        std::thread::sleep(Duration::from_millis(2));
    }
}

/// A container with CAP_SYS_PTRACE opens its own init while the init still runs the runtime's
/// binary (created, blocked until start), and tries to write it then and after `start`.
/// Returns the init's exe link as the host sees it while created.
fn ptrace_attack(env: &mut Env, canary: &Canary) -> String {
    let script = format!(
        r#"{TRY_WRITE}
if ! ( exec 3</proc/1/exe ) 2>/r/t; then mv /r/t /r/grabbed; exit 1; fi
exec 3</proc/1/exe
echo "$(readlink /proc/1/exe): $(try)" > /r/t && mv /r/t /r/grabbed
while [ ! -e /r/go ]; do usleep 1000; done
echo "$(readlink /proc/self/fd/3): $(try)" > /r/t && mv /r/t /r/done
exec sleep 1000
"#
    );
    attacker_config(env, "exec /bin/busybox sleep 1000", &["CAP_SYS_PTRACE"]);
    let id = env.id.clone();
    env.save_for(&id);
    let b = env.bundle.to_str().unwrap().to_string();
    let pf = env.pid_file(&id);
    let o = canary.run(
        env,
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
    o.assert_ok("create");
    let init: i32 = fs::read_to_string(&pf).unwrap().trim().parse().unwrap();
    let created_exe = fs::read_link(format!("/proc/{init}/exe"))
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let o = canary.run(
        env,
        &id,
        &["exec", "--detach", &id, "/bin/busybox", "sh", "-c", &script],
    );
    o.assert_ok("exec the attacker");
    let grabbed = report(env, "grabbed", || Ok(()));
    canary.run(env, &id, &["start", &id]).assert_ok("start");
    // The init no longer runs the runtime once it has exec'd the container's process.
    let busybox = fs::metadata(env.rootfs.join("bin/busybox")).unwrap();
    let runs_busybox = || {
        fs::metadata(format!("/proc/{init}/exe"))
            .is_ok_and(|m| (m.dev(), m.ino()) == (busybox.dev(), busybox.ino()))
    };
    let start = Instant::now();
    while !runs_busybox() {
        assert!(start.elapsed() < STEP, "the init never exec'd its process");
        // Nothing to wait on for another process's execve: bounded polling.
        std::thread::sleep(Duration::from_millis(2));
    }
    touch(env, "go");
    let done = report(env, "done", || Ok(()));
    assert!(
        grabbed.contains(": "),
        "the attacker (CAP_SYS_PTRACE) could not even open /proc/1/exe: {grabbed}"
    );
    for (when, r) in [("while it ran", &grabbed), ("after its execve", &done)] {
        assert!(
            !r.ends_with("WROTE"),
            "the container wrote to the runtime's binary through its init {when}: {r}"
        );
    }
    canary.assert_intact();
    created_exe
}

#[test]
fn shebang_exec_cannot_write_the_runtime_binary() {
    let Some(mut env) = setup("shebang") else {
        return;
    };
    let canary = Canary::new(&env.dir.join("canary"));
    attacker_image(&env, &canary.path);
    let links = shebang_attack(&mut env, &canary, 50);
    if is_runc() {
        // runc's binary, run this way, copies itself to a memfd at once and is then no
        // longer dumpable: the attacker may find nothing to open.
        return;
    }
    // baleia's binary, run this way, is an ordinary process the attacker always reaches; it
    // runs from the read-only view, not from the installed file.
    assert!(
        links.iter().all(|l| l.as_deref() == Some("/")),
        "exe links seen: {links:?}"
    );
}

#[test]
fn ptrace_capable_container_cannot_write_the_runtime_through_its_init() {
    let Some(mut env) = setup("ptrace") else {
        return;
    };
    let canary = Canary::new(&env.dir.join("canary"));
    attacker_image(&env, &canary.path);
    let exe = ptrace_attack(&mut env, &canary);
    if !is_runc() {
        assert_eq!(
            exe, "/",
            "the created init runs {exe}, not the read-only view"
        );
    }
    // A binary installed on a read-only mount needs no protection: it is run as it is (no
    // re-execution), and the attack fails all the same.
    let Some(mut env) = setup("ptracero") else {
        return;
    };
    let canary = Canary::new(&env.dir.join("canary"));
    let p = canary.path.to_str().unwrap();
    let ok = |args: &[&str]| Command::new("mount").args(args).status().unwrap().success();
    assert!(ok(&["--bind", p, p]), "bind-mount the canary onto itself");
    let _undo = Unmount(canary.path.clone());
    assert!(ok(&["-o", "remount,bind,ro", p]), "remount it read-only");
    attacker_image(&env, &canary.path);
    let exe = ptrace_attack(&mut env, &canary);
    if !is_runc() {
        assert_eq!(
            exe, p,
            "the created init runs {exe}, not the installed file"
        );
    }
}

/// Undoes the test's read-only bind mount of its own canary.
struct Unmount(PathBuf);

impl Drop for Unmount {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.0).status();
    }
}

/// A mount namespace of our own holding a tmpfs with a copy of the runtime, reached from here
/// through /proc/<pid>/root: the read-only view cannot be made of a mount of another
/// namespace, so the runtime has to fall back to its sealed copy.
struct ForeignNamespace {
    holder: Child,
}

impl ForeignNamespace {
    fn new(env: &Env) -> (ForeignNamespace, Canary) {
        let dir = env.dir.join("ns");
        fs::create_dir_all(&dir).unwrap();
        let original = Canary::new(&env.dir.join("canary-src"));
        let script = format!(
            "mount -t tmpfs tmpfs {d} && cp {src} {d}/ && echo ready && exec sleep 1000",
            d = dir.display(),
            src = original.path.display(),
        );
        let holder = Command::new("unshare")
            .args(["--mount", "--propagation", "private", "sh", "-c", &script])
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut ns = ForeignNamespace { holder };
        let said = first_line(&mut ns.holder);
        assert_eq!(said, "ready", "the namespace holder failed");
        let name = original.path.file_name().unwrap();
        let path = PathBuf::from(format!("/proc/{}/root", ns.holder.id()))
            .join(dir.strip_prefix("/").unwrap())
            .join(name);
        (ns, Canary::at(path, original.bytes))
    }
}

impl Drop for ForeignNamespace {
    fn drop(&mut self) {
        let _ = self.holder.kill();
        let _ = self.holder.wait();
    }
}

#[test]
fn sealed_copy_fallback_resists_both_attacks() {
    let Some(mut env) = setup("sealed") else {
        return;
    };
    let (_ns, canary) = ForeignNamespace::new(&env);
    attacker_image(&env, &canary.path);
    let links = shebang_attack(&mut env, &canary, 10);
    if !is_runc() {
        assert!(
            links
                .iter()
                .all(|l| l.as_deref().is_some_and(|l| l.starts_with("/memfd:"))),
            "exe links seen: {links:?}"
        );
    }
    let Some(mut env) = setup("sealedpt") else {
        return;
    };
    attacker_image(&env, &canary.path);
    let exe = ptrace_attack(&mut env, &canary);
    assert!(exe.starts_with("/memfd:"), "the created init runs {exe}");
}

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
        // The delay is the test: the create dies at a random point of its work.
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

/// The first line a child prints on its stdout (a pipe), without the newline; empty when it
/// ends without one.
fn first_line(child: &mut Child) -> String {
    let mut line = String::new();
    let out = child.stdout.take().expect("stdout is a pipe");
    std::io::BufRead::read_line(&mut std::io::BufReader::new(out), &mut line).unwrap();
    line.trim_end().to_string()
}

/// flock(1) holding the lock of `dir` (with `close`, `-o`: flock itself, not its command)
/// while the shell command `then` runs; returns once the lock is taken, which the command
/// says on its stdout.
fn hold_lock(dir: &Path, close: bool, then: &str) -> Child {
    let mut c = Command::new("flock");
    if close {
        c.arg("-o");
    }
    let mut holder = c
        .arg(dir)
        .args(["sh", "-c", &format!("echo locked; {then}")])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    assert_eq!(first_line(&mut holder), "locked", "flock(1) failed");
    holder
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
    // flock -o: the flock process itself holds the lock, its command (cat, which ends with
    // its stdin) does not.
    let mut holder = hold_lock(&dir, true, "exec cat");
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
    let mut brief = hold_lock(&dir, false, "sleep 1");
    env.exec(&["start", &id])
        .assert_ok("start once the lock is released");
    let _ = brief.wait();
    assert_eq!(env.status(&id), "running");
}
