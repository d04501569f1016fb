//! The kinds of error a program embedding the library can match on, produced by real
//! operations on real containers (as root, with a static busybox as the rootfs).
//!
//! Its own `main` (harness = false): the library must protect its binary first thing, which
//! may execute the program again, before any thread exists.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use runtime_core::signal::Signal;
use runtime_core::{CreateOptions, DeleteOptions, ErrorKind, Runtime, Status};

fn bundle(dir: &Path, rootfs: &Path, args: &[&str]) -> PathBuf {
    let config = serde_json::json!({
        "ociVersion": "1.0.2",
        "process": {
            "args": args,
            "env": ["PATH=/bin"],
            "cwd": "/",
            "user": {"uid": 0, "gid": 0}
        },
        "root": {"path": rootfs},
        "mounts": [{"destination": "/proc", "type": "proc", "source": "proc"}],
        "linux": {"namespaces": [{"type": "pid"}, {"type": "mount"}, {"type": "ipc"}, {"type": "uts"}]}
    });
    std::fs::create_dir_all(dir).unwrap();
    std::fs::write(dir.join("config.json"), config.to_string()).unwrap();
    dir.to_path_buf()
}

fn kind<T: std::fmt::Debug>(r: runtime_core::Result<T>) -> (ErrorKind, String) {
    let e = r.expect_err("must fail");
    (e.kind(), e.to_string())
}

fn main() {
    if let Err(e) = runtime_core::protect_binary() {
        eprintln!("error_kinds: {e}");
        std::process::exit(1);
    }
    if !nix::unistd::geteuid().is_root() {
        eprintln!("error_kinds: skipped (needs root)");
        return;
    }
    let busybox = Path::new("/bin/busybox");
    let work = std::env::temp_dir().join(format!("baleia-kinds-{}", std::process::id()));
    let rootfs = work.join("rootfs");
    std::fs::create_dir_all(rootfs.join("bin")).unwrap();
    std::fs::create_dir_all(rootfs.join("proc")).unwrap();
    std::fs::copy(busybox, rootfs.join("bin/busybox")).expect("a static /bin/busybox");
    for a in ["sh", "sleep"] {
        std::os::unix::fs::symlink("busybox", rootfs.join("bin").join(a)).unwrap();
    }
    let rt = Runtime::new(work.join("root"));
    let id = |s: &str| format!("kinds-{}-{s}", std::process::id());
    let result = std::panic::catch_unwind(|| {
        // The executable, missing by path and in PATH: runc's texts, and a kind to match.
        for (name, args, text) in [
            (
                "abs",
                "/bin/nope",
                "exec: \"/bin/nope\": stat /bin/nope: no such file or directory",
            ),
            (
                "path",
                "nope",
                "exec: \"nope\": executable file not found in $PATH",
            ),
        ] {
            let b = bundle(&work.join(name), &rootfs, &[args]);
            let (k, msg) = kind(rt.create(&id(name), &CreateOptions::new(b)));
            assert_eq!(k, ErrorKind::ExecutableNotFound, "{msg}");
            assert_eq!(msg, format!("unable to start container process: {text}"));
            assert!(!rt.exists(&id(name)), "a failed create left its container");
        }
        // An invalid spec names its field.
        let b = bundle(&work.join("noargs"), &rootfs, &[]);
        let e = rt
            .create(&id("noargs"), &CreateOptions::new(b))
            .unwrap_err();
        assert_eq!(
            (e.kind(), e.field()),
            (ErrorKind::InvalidSpec, Some("process.args"))
        );
        assert_eq!(
            kind(rt.create("a/b", &CreateOptions::new(&work))).0,
            ErrorKind::InvalidId
        );
        assert_eq!(kind(rt.start(&id("never"))).0, ErrorKind::NotFound);

        // One container through its life: each refusal has its kind.
        let c = id("life");
        let b = bundle(&work.join("life"), &rootfs, &["sleep", "30"]);
        rt.create(&c, &CreateOptions::new(&b)).unwrap();
        assert_eq!(
            kind(rt.create(&c, &CreateOptions::new(&b))).0,
            ErrorKind::AlreadyExists
        );
        rt.start(&c).unwrap();
        assert_eq!(kind(rt.start(&c)).0, ErrorKind::InvalidState);
        rt.pause(&c).unwrap();
        assert_eq!(kind(rt.pause(&c)).0, ErrorKind::Paused);
        rt.resume(&c).unwrap();
        let (k, msg) = kind(rt.delete(&c, &DeleteOptions::new()));
        assert_eq!(k, ErrorKind::InvalidState, "{msg}");
        rt.kill(&c, Signal::KILL, false).unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        while rt.state(&c).unwrap().status != Status::Stopped {
            assert!(Instant::now() < deadline, "the init did not die of SIGKILL");
            std::thread::sleep(Duration::from_millis(10));
        }
        assert_eq!(
            kind(rt.kill(&c, Signal::TERM, false)).0,
            ErrorKind::NotRunning
        );
        rt.delete(&c, &DeleteOptions::new()).unwrap();
        assert_eq!(
            kind(rt.delete(&c, &DeleteOptions::new())).0,
            ErrorKind::NotFound
        );
        rt.delete(&c, &DeleteOptions::new().force(true)).unwrap();
    });
    for name in ["abs", "path", "noargs", "life"] {
        let _ = rt.delete(&id(name), &DeleteOptions::new().force(true));
    }
    let _ = std::fs::remove_dir_all(&work);
    if result.is_err() {
        std::process::exit(1);
    }
    println!("error_kinds: ok");
}
