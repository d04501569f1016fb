//! Run a container from Rust: `cargo run -p runtime-core --example run -- BUNDLE [ID]`.
//!
//! Creates the container from an OCI bundle (for instance one made by `make bundle DIR=...`),
//! starts it, prints its state, waits for it with signals forwarded, deletes it and exits with
//! the container's status. Needs root.

use std::process::ExitCode;

use runtime_core::{CreateOptions, Runtime};

fn main() -> ExitCode {
    // First thing: the container's processes are clones of this program, whose binary they
    // must not be able to write (this may execute the program again, from a protected copy).
    if let Err(e) = runtime_core::protect_binary() {
        eprintln!("{e}");
        return ExitCode::from(1);
    }
    let mut args = std::env::args().skip(1);
    let Some(bundle) = args.next() else {
        eprintln!("usage: run BUNDLE [ID]");
        return ExitCode::from(2);
    };
    let id = args
        .next()
        .unwrap_or_else(|| format!("example-{}", std::process::id()));
    let rt = Runtime::new("/run/baleia-example");

    // The two halves of `run`, to show the lifecycle: created (blocked), then running.
    let pid = match rt.create(&id, &CreateOptions::new(&bundle)) {
        Ok(pid) => pid,
        Err(e) => {
            eprintln!("create {id}: {e}");
            return ExitCode::from(1);
        }
    };
    let shown = |rt: &Runtime| match rt.state(&id) {
        Ok(s) => println!("{id}: pid {} is {}", s.pid, s.status),
        Err(e) => eprintln!("state {id}: {e}"),
    };
    shown(&rt);
    if let Err(e) = rt.start(&id) {
        eprintln!("start {id}: {e}");
        let _ = rt.delete(&id, &runtime_core::DeleteOptions::new().force(true));
        return ExitCode::from(1);
    }
    shown(&rt);
    // The init is our child (the library clones it from this process): wait for it.
    let status = nix::sys::wait::waitpid(nix::unistd::Pid::from_raw(pid), None);
    shown(&rt);
    if let Err(e) = rt.delete(&id, &runtime_core::DeleteOptions::new().force(true)) {
        eprintln!("delete {id}: {e}");
    }
    match status {
        Ok(nix::sys::wait::WaitStatus::Exited(_, code)) => ExitCode::from(code as u8),
        Ok(nix::sys::wait::WaitStatus::Signaled(_, sig, _)) => ExitCode::from(128 + sig as u8),
        other => {
            eprintln!("wait for {pid}: {other:?}");
            ExitCode::from(1)
        }
    }
}
