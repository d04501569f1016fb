//! OCI hooks: run each hook of a kind in order with the container's state JSON on stdin,
//! honouring its timeout without threads (a pidfd polled with a deadline).
//!
//! The hooks the runtime runs itself (prestart, createRuntime, poststart, poststop) run with the
//! bundle directory as their working directory, and a relative `path` names a file in the
//! bundle: runc chdirs into the bundle in `create` and `run`, and its hooks inherit that cwd
//! and exec their `path` as given, so that is where engines' relative hooks and files land.

use std::collections::HashMap;
use std::io::Write;
use std::os::fd::AsFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use oci_spec::runtime::Hook;

use crate::error::{Error, Result};

/// The OCI state given to hooks on stdin.
pub(crate) fn state_value(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &Path,
    annotations: &HashMap<String, String>,
) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": crate::spec::OCI_VERSION,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
    })
}

/// The OCI state JSON given to hooks on stdin.
pub(crate) fn state_json(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &Path,
    annotations: &HashMap<String, String>,
) -> Vec<u8> {
    serde_json::to_vec(&state_value(id, status, pid, bundle, annotations)).unwrap_or_default()
}

/// The state JSON of a recorded container, for the hooks run after `create` (poststart, poststop).
pub(crate) fn record_state(rec: &crate::state::Record, status: &str, pid: i32) -> Vec<u8> {
    state_json(&rec.id, status, pid, &rec.bundle, &rec.annotations)
}

/// Run the runtime-side `hooks` of kind `kind` from the bundle directory `bundle` (absolute):
/// it is their working directory, and a relative hook path is resolved in it, as under runc.
pub(crate) fn run_from_bundle(
    kind: &str,
    hooks: Option<&Vec<Hook>>,
    state: &[u8],
    bundle: &Path,
) -> Result<()> {
    for (i, h) in hooks.into_iter().flatten().enumerate() {
        log::debug!(
            "run {kind} hook #{i}: {} {:?} (in {})",
            hook_program(h.path(), Some(bundle)).display(),
            h.args().as_deref().unwrap_or_default(),
            bundle.display()
        );
    }
    run_hooks(kind, hooks, state, Some(bundle))
}

fn run_hooks(
    kind: &str,
    hooks: Option<&Vec<Hook>>,
    state: &[u8],
    dir: Option<&Path>,
) -> Result<()> {
    for (i, hook) in hooks.into_iter().flatten().enumerate() {
        run_one(hook, state, dir)
            .map_err(|e| Error::Hook(format!("error running {kind} hook #{i}: {e}")))?;
    }
    Ok(())
}

/// The program a hook runs: its path, joined to `dir` when relative. Joining (rather than
/// leaving it to the exec) also keeps a bare name from being looked up in $PATH, which runc
/// never does.
fn hook_program(path: &Path, dir: Option<&Path>) -> PathBuf {
    match dir {
        Some(d) if path.is_relative() => d.join(path),
        _ => path.to_path_buf(),
    }
}

fn run_one(hook: &Hook, state: &[u8], dir: Option<&Path>) -> std::result::Result<(), String> {
    let program = hook_program(hook.path(), dir);
    let path = program.as_path();
    let mut cmd = Command::new(path);
    if let Some(d) = dir {
        cmd.current_dir(d);
    }
    if let Some(args) = hook.args() {
        if let Some((argv0, rest)) = args.split_first() {
            cmd.arg0(argv0).args(rest);
        }
    }
    cmd.env_clear();
    for kv in hook.env().iter().flatten() {
        if let Some((k, v)) = kv.split_once('=') {
            cmd.env(k, v);
        }
    }
    cmd.stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd
        .spawn()
        .map_err(|e| format!("{}: {e}", path.display()))?;
    if let Some(mut stdin) = child.stdin.take() {
        // A hook that does not read its stdin is fine: ignore EPIPE.
        let _ = stdin.write_all(state);
    }
    if let Some(secs) = hook.timeout() {
        if secs <= 0 {
            let _ = child.kill();
            let _ = child.wait();
            return Err(format!("timeout must be positive, got {secs}"));
        }
        let pidfd = crate::sys::pidfd_open(child.id() as i32)
            .map_err(|e| format!("pidfd_open {}: {e}", child.id()))?;
        let deadline = Instant::now() + Duration::from_secs(secs as u64);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            let ms = PollTimeout::try_from(left.as_millis().min(i32::MAX as u128) as i32)
                .unwrap_or(PollTimeout::MAX);
            let mut fds = [PollFd::new(pidfd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(0) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    return Err(format!("{}: timeout after {secs} seconds", path.display()));
                }
                Ok(_) => break,
                Err(nix::errno::Errno::EINTR) => continue,
                Err(e) => return Err(format!("poll hook {}: {e}", path.display())),
            }
        }
    }
    let out = child
        .wait_with_output()
        .map_err(|e| format!("wait for {}: {e}", path.display()))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{}: {}, stdout: {}, stderr: {}",
            path.display(),
            out.status,
            String::from_utf8_lossy(&out.stdout).trim_end(),
            String::from_utf8_lossy(&out.stderr).trim_end()
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relative_hook_paths_resolve_in_the_bundle() {
        let b = Path::new("/run/b");
        assert_eq!(
            hook_program(Path::new("hooks/x"), Some(b)),
            PathBuf::from("/run/b/hooks/x")
        );
        assert_eq!(
            hook_program(Path::new("x"), Some(b)),
            PathBuf::from("/run/b/x")
        );
        assert_eq!(
            hook_program(Path::new("/usr/bin/x"), Some(b)),
            PathBuf::from("/usr/bin/x")
        );
        assert_eq!(hook_program(Path::new("x"), None), PathBuf::from("x"));
    }
}
