//! Handing a seccomp listener to the agent at `linux.seccomp.listenerPath`, as runc does: the
//! runtime takes a copy of the child's listener with pidfd_getfd, connects to the agent's unix
//! socket and sends one message: the runtime-spec `ContainerProcessState` as JSON, with the
//! listener as its one SCM_RIGHTS fd (named `seccompFd` in `fds`).

use std::collections::HashMap;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};

use nix::errno::Errno;

use crate::error::{Error, Result};
use crate::sys;

/// Who the listener is for: the agent's socket and what the state tells it.
#[derive(Debug, Clone)]
pub(crate) struct Agent {
    pub path: PathBuf,
    pub metadata: String,
    pub id: String,
    pub bundle: PathBuf,
    pub annotations: HashMap<String, String>,
    /// "creating" for the init, "running" for an exec'd process.
    pub status: &'static str,
    /// The container's init (0 while it is the init being created: its own pid then).
    pub init_pid: i32,
}

impl Agent {
    /// The agent of `profile`, if it notifies.
    pub(crate) fn of(
        profile: Option<&oci_spec::runtime::LinuxSeccomp>,
        id: &str,
        bundle: &Path,
        annotations: &HashMap<String, String>,
        status: &'static str,
        init_pid: i32,
    ) -> Option<Agent> {
        let p = profile?;
        let path = p.listener_path().clone()?;
        let notifies = p
            .syscalls()
            .iter()
            .flatten()
            .any(|s| s.action() == oci_spec::runtime::LinuxSeccompAction::ScmpActNotify);
        notifies.then(|| Agent {
            path,
            metadata: p.listener_metadata().clone().unwrap_or_default(),
            id: id.to_string(),
            bundle: bundle.to_path_buf(),
            annotations: annotations.clone(),
            status,
            init_pid,
        })
    }

    /// The message for the listener of process `pid`.
    fn state(&self, pid: i32) -> serde_json::Value {
        let init = if self.init_pid == 0 {
            pid
        } else {
            self.init_pid
        };
        serde_json::json!({
            "ociVersion": crate::spec::OCI_VERSION,
            "fds": ["seccompFd"],
            "pid": pid,
            "metadata": self.metadata,
            "state": {
                "ociVersion": crate::spec::OCI_VERSION,
                "id": self.id,
                "status": self.status,
                "pid": init,
                "bundle": self.bundle,
                "annotations": self.annotations,
            },
        })
    }

    /// Copy fd `fd` of `pid` (our child, blocked until we answer) and send it to the agent.
    pub(crate) fn hand_over(&self, pid: i32, fd: i32) -> Result<()> {
        let listener = get_fd(pid, fd)?;
        let conn = std::os::unix::net::UnixStream::connect(&self.path).map_err(|e| {
            Error::io(
                format!(
                    "connect to the seccomp agent at linux.seccomp.listenerPath {}",
                    self.path.display()
                ),
                e,
            )
        })?;
        let text = serde_json::to_vec(&self.state(pid))
            .map_err(|e| Error::Other(format!("encode the seccomp agent's state: {e}")))?;
        sys::send_fd(conn.as_raw_fd(), &text, listener.as_raw_fd()).map_err(|e| {
            Error::sys(
                format!(
                    "send the seccomp listener to the agent at {}",
                    self.path.display()
                ),
                e,
            )
        })
    }
}

/// pidfd_getfd(2): a copy of fd `fd` of process `pid`.
fn get_fd(pid: i32, fd: i32) -> Result<OwnedFd> {
    let pidfd = sys::pidfd_open(pid).map_err(|e| Error::sys(format!("pidfd_open {pid}"), e))?;
    // SAFETY: pidfd_getfd returns a new fd (or -1) and reads nothing of ours.
    let r = unsafe { libc::syscall(libc::SYS_pidfd_getfd, pidfd.as_raw_fd(), fd, 0) };
    if r < 0 {
        return Err(Error::sys(
            format!("pidfd_getfd of the seccomp listener (fd {fd} of pid {pid})"),
            Errno::last(),
        ));
    }
    // SAFETY: a new fd that only we hold.
    Ok(unsafe { OwnedFd::from_raw_fd(r as i32) })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_is_runcs_container_process_state() {
        let a = Agent {
            path: "/run/agent.sock".into(),
            metadata: "m".into(),
            id: "c1".into(),
            bundle: "/b".into(),
            annotations: HashMap::new(),
            status: "running",
            init_pid: 7,
        };
        let s = a.state(42);
        assert_eq!(s["fds"], serde_json::json!(["seccompFd"]));
        assert_eq!(
            (s["pid"].clone(), s["metadata"].clone()),
            (42.into(), "m".into())
        );
        assert_eq!(s["state"]["pid"], 7);
        assert_eq!(s["state"]["status"], "running");
    }
}
