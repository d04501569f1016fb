//! runtime-core inside a busy multi-threaded program: worker threads allocate, format and read
//! the environment without pause while the main thread creates, starts, execs into and deletes
//! containers that have hooks of every kind. A fork of a multi-threaded program that touched a
//! lock in its child (malloc's, the environment's) would hang here sooner or later; the global
//! allocator below also aborts the moment anything allocates in a container child.
//!
//! Run as root with a busybox rootfs (`make bundle DIR=/tmp/bb` makes one):
//!
//!     cargo run --release -p runtime-core --example threaded -- /tmp/bb/rootfs 200

use std::alloc::{GlobalAlloc, Layout, System};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use runtime_core::{CreateOptions, ExecOptions, Runtime};

/// The system allocator, refusing to serve a container child (between clone and execve).
struct ChildGuard;

fn refuse_in_child() {
    if runtime_core::in_container_child() {
        let msg = b"threaded: allocation in a container child\n";
        // SAFETY: write(2) and abort(3) are async-signal-safe.
        unsafe {
            libc::write(2, msg.as_ptr().cast(), msg.len());
            libc::abort();
        }
    }
}

// SAFETY: every method forwards to the system allocator after a check that only reads an atomic.
unsafe impl GlobalAlloc for ChildGuard {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        refuse_in_child();
        // SAFETY: forwarded as is.
        unsafe { System.alloc(layout) }
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        refuse_in_child();
        // SAFETY: forwarded as is.
        unsafe { System.alloc_zeroed(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        refuse_in_child();
        // SAFETY: forwarded as is.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        refuse_in_child();
        // SAFETY: forwarded as is.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GUARD: ChildGuard = ChildGuard;

/// A bundle around `rootfs` whose container sleeps, with a hook of every kind and the process
/// attributes the child sets itself.
fn write_bundle(dir: &Path, rootfs: &Path) -> std::io::Result<()> {
    let hook = |path: &str| serde_json::json!([{"path": path, "args": [path, "-c", "cat >/dev/null"], "timeout": 10}]);
    let config = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "args": ["sleep", "30"],
            "env": ["PATH=/bin:/sbin:/usr/bin"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0},
            "noNewPrivileges": true,
            // Each is a syscall of the child (exec: also the affinity steps around the cgroup).
            "scheduler": {"policy": "SCHED_BATCH", "nice": 1},
            "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 4},
            "execCPUAffinity": {"initial": "0", "final": "0"}
        },
        "root": {"path": rootfs},
        "hostname": "threaded",
        "mounts": [
            {"destination": "/proc", "type": "proc", "source": "proc"},
            {"destination": "/dev", "type": "tmpfs", "source": "tmpfs", "options": ["nosuid", "mode=755"]},
            {"destination": "/dev/pts", "type": "devpts", "source": "devpts", "options": ["newinstance", "ptmxmode=0666"]}
        ],
        "hooks": {
            "createRuntime": hook("/bin/sh"),
            "createContainer": hook("/bin/sh"),
            "startContainer": hook("/bin/sh"),
            "poststart": hook("/bin/sh"),
            "poststop": hook("/bin/sh")
        },
        "linux": {
            "namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}, {"type": "network"}],
            "memoryPolicy": {"mode": "MPOL_PREFERRED", "nodes": "0"},
            "personality": {"domain": "LINUX"},
            "maskedPaths": ["/proc/kcore"],
            "readonlyPaths": ["/proc/sys"]
        }
    });
    std::fs::create_dir_all(dir)?;
    std::fs::write(dir.join("config.json"), serde_json::to_vec_pretty(&config)?)
}

fn main() {
    // Before the worker threads exist: this may execute the program again (see protect_binary).
    if let Err(e) = runtime_core::protect_binary() {
        eprintln!("threaded: {e}");
        std::process::exit(1);
    }
    let mut args = std::env::args().skip(1);
    let Some(rootfs) = args.next().map(PathBuf::from) else {
        eprintln!("usage: threaded ROOTFS [COUNT]");
        std::process::exit(2);
    };
    let count: usize = args.next().and_then(|n| n.parse().ok()).unwrap_or(200);
    let work = std::env::temp_dir().join(format!("baleia-threaded-{}", std::process::id()));
    let bundle = work.join("bundle");
    if let Err(e) = write_bundle(&bundle, &std::fs::canonicalize(&rootfs).unwrap_or(rootfs)) {
        eprintln!("threaded: write the bundle: {e}");
        std::process::exit(1);
    }
    let rt = Runtime::new(work.join("state"));

    let stop = Arc::new(AtomicBool::new(false));
    let churn = Arc::new(AtomicUsize::new(0));
    let workers: Vec<_> = (0..4)
        .map(|w| {
            let (stop, churn) = (stop.clone(), churn.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let v: Vec<String> = (0..64).map(|i| format!("worker {w} item {i}")).collect();
                    let env_len =
                        std::env::vars().count() + std::env::var("PATH").map_or(0, |p| p.len());
                    churn.fetch_add(v.len() + env_len, Ordering::Relaxed);
                }
            })
        })
        .collect();

    // A hang must end the program with a message, not sit forever.
    let done = Arc::new(AtomicUsize::new(0));
    {
        let done = done.clone();
        std::thread::spawn(move || {
            let mut last = (0, Instant::now());
            loop {
                std::thread::sleep(Duration::from_secs(1));
                let n = done.load(Ordering::Relaxed);
                if n != last.0 {
                    last = (n, Instant::now());
                } else if last.1.elapsed() > Duration::from_secs(60) {
                    eprintln!("threaded: no progress for 60 s at container {n}: hung");
                    std::process::exit(3);
                }
            }
        });
    }

    let started = Instant::now();
    for i in 0..count {
        let id = format!("threaded-{}-{i}", std::process::id());
        if let Err(e) = one_container(&rt, &id, &bundle) {
            eprintln!("threaded: container {i} ({id}): {e}");
            let _ = rt.delete(&id, &runtime_core::DeleteOptions::new().force(true));
            std::process::exit(1);
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    stop.store(true, Ordering::Relaxed);
    for w in workers {
        let _ = w.join();
    }
    let _ = std::fs::remove_dir_all(&work);
    println!(
        "threaded: {count} containers (create, start, exec, kill, delete) in {:.1} s beside 4 busy threads ({} allocations' worth of churn)",
        started.elapsed().as_secs_f64(),
        churn.load(Ordering::Relaxed)
    );
}

fn one_container(rt: &Runtime, id: &str, bundle: &Path) -> runtime_core::Result<()> {
    let pid = rt.create(id, &CreateOptions::new(bundle))?;
    rt.start(id)?;
    let mut process = rt.spec_process(id)?;
    process.set_args(Some(vec!["true".into()]));
    let code = rt.exec(id, &ExecOptions::new(process))?;
    if code != 0 {
        return Err(runtime_core::Error::Other(format!(
            "exec true exited {code}"
        )));
    }
    rt.kill(id, runtime_core::signal::Signal::KILL, false)?;
    // The init is our child: reap it, then the container is stopped.
    // SAFETY: waitpid on our own child.
    unsafe { libc::waitpid(pid, std::ptr::null_mut(), 0) };
    rt.delete(id, &runtime_core::DeleteOptions::new())
}
