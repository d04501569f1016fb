//! `delete`: kill what is left of a container, move its network devices back, remove its cgroup
//! and resctrl group, run the poststop hooks, remove its state.

use std::os::fd::AsFd;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use crate::cgroups::{self, CgroupManager};
use crate::error::{Error, Result};
use crate::state::{self, derive_status, Intent, Record, Status};
use crate::{hooks, netdev, sys, Runtime};

/// Options of [`Runtime::delete`].
///
/// ```no_run
/// use runtime_core::{DeleteOptions, Runtime};
/// Runtime::new("/run/baleia").delete("web", &DeleteOptions::new().force(true)).unwrap();
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DeleteOptions {
    /// Kill a running or paused container first, and take an unknown id for deleted.
    pub force: bool,
}

impl DeleteOptions {
    /// runc's defaults: no `--force`.
    ///
    /// ```no_run
    /// assert!(!runtime_core::DeleteOptions::new().force);
    /// ```
    pub fn new() -> DeleteOptions {
        DeleteOptions::default()
    }

    /// These options with `force` set as given.
    ///
    /// ```no_run
    /// assert!(runtime_core::DeleteOptions::new().force(true).force);
    /// ```
    pub fn force(mut self, force: bool) -> DeleteOptions {
        self.force = force;
        self
    }
}

/// Also what `run` does once its container has stopped, and after a failed `start`.
pub(crate) fn delete(rt: &Runtime, id: &str, force: bool) -> Result<()> {
    state::validate_id(id)?;
    let lock = match rt.store.lock(id) {
        Ok(l) => l,
        Err(Error::NotExist(_)) if force => return Ok(()),
        Err(e) => return Err(e),
    };
    let rec = match rt.store.load(id)? {
        Some(r) => r,
        // We hold the lock, so no create is running: this is what a crashed create left.
        None => {
            if let Some(intent) = rt.store.load_intent(id)? {
                undo_intent(&intent)?;
            }
            drop(lock);
            return rt.store.remove(id);
        }
    };
    let status = derive_status(&rt.store, &rec);
    if force || matches!(status, Status::Stopped | Status::Created | Status::Creating) {
        restore_net_devices(&rec, status);
    }
    match status {
        Status::Stopped => {}
        Status::Created | Status::Creating => kill_and_wait(&rec)?,
        Status::Running | Status::Paused if force => kill_and_wait(&rec)?,
        other => {
            return Err(Error::InvalidState(format!(
                "cannot delete container {id} that is not stopped: container is {other}"
            )))
        }
    }
    let cgroup = cgroups::manager(&rec.cgroup, None);
    // A shared-pid-namespace container may leave processes behind its init.
    if rec.host_pid_ns {
        let _ = cgroup.kill_all(libc::SIGKILL);
    }
    remove_cgroup_unless_shared(cgroup.as_ref(), rec.host_pid_ns)?;
    if let Some(g) = &rec.intel_rdt {
        g.remove()?;
    }
    if let Some(h) = rec.hooks.as_ref().and_then(|h| h.poststop().as_ref()) {
        // The spec: a failing poststop hook must not stop the deletion (runc only logs it,
        // as a warning).
        if let Err(e) = hooks::run_from_bundle(
            "poststop",
            Some(h),
            &hooks::record_state(&rec, "stopped", 0),
            &rec.bundle,
        ) {
            log::warn!("{e}");
        }
    }
    drop(lock);
    rt.store.remove(id)
}

/// linux.netDevices go back to the runtime's namespace before the container's ends: runc
/// only logs a failure, and so do we (the deletion goes on).
fn restore_net_devices(rec: &Record, status: Status) {
    if rec.net_devices.is_empty() {
        return;
    }
    let path = if status != Status::Stopped && state::is_alive(rec.pid, rec.start_time) {
        PathBuf::from(format!("/proc/{}/ns/net", rec.pid))
    } else {
        match &rec.net_ns_path {
            Some(p) => p.clone(),
            // Its namespace ended with its init: the kernel took the devices.
            None => return,
        }
    };
    if let Err(e) = netdev::restore_at(&path, &rec.net_devices) {
        log::warn!("delete {}: {e}", rec.id);
    }
}

fn kill_and_wait(rec: &Record) -> Result<()> {
    let cgroup = cgroups::manager(&rec.cgroup, None);
    let pidfd = sys::pidfd_open(rec.pid).ok();
    // With its own pid namespace the container dies with its init; only a container in
    // the host's pid namespace needs the whole cgroup killed (which, when the cgroup is
    // shared, would hit other containers too: runc draws the same line).
    if rec.host_pid_ns {
        let _ = cgroup.kill_all(libc::SIGKILL);
    }
    if let Some(fd) = &pidfd {
        if state::is_alive(rec.pid, rec.start_time) {
            let _ = sys::pidfd_send_signal(fd, libc::SIGKILL);
        }
        // A frozen init only dies once thawed.
        if cgroup.is_frozen().unwrap_or(false) {
            let _ = cgroup.thaw();
        }
        // A pidfd turns readable when the process has exited (reaped or not).
        let mut fds = [PollFd::new(fd.as_fd(), PollFlags::POLLIN)];
        let limit = PollTimeout::try_from(Duration::from_secs(10)).unwrap_or(PollTimeout::MAX);
        match poll(&mut fds, limit) {
            Ok(0) => {
                return Err(Error::Other(format!(
                    "container {} init (pid {}) did not die after SIGKILL",
                    rec.id, rec.pid
                )))
            }
            Ok(_) => {}
            Err(e) => return Err(Error::sys(format!("wait for pid {}", rec.pid), e)),
        }
    }
    Ok(())
}

/// Remove the container's cgroup. With `killed_all`, everything in it was just killed and
/// destroy waits for the dying processes. Otherwise ours are gone, and any process left
/// belongs to another container sharing the cgroupsPath: the cgroup is theirs too and stays,
/// as runc leaves it.
pub(crate) fn remove_cgroup_unless_shared(
    cgroup: &dyn CgroupManager,
    killed_all: bool,
) -> Result<()> {
    if killed_all {
        return Ok(cgroup.destroy()?);
    }
    // Gone at the first try in the common case; refused, it is looked at: processes left
    // mean it is shared, none (ours still leaving, or sub-cgroups) mean destroy's retries.
    if cgroup.remove_if_empty()? {
        return Ok(());
    }
    if cgroup.pids().map(|p| p.is_empty()).unwrap_or(true) {
        cgroup.destroy()?;
    }
    Ok(())
}

/// Undo what a `create` that died before recording its container made: its cgroup. The init
/// it may have spawned exits by itself once its create is gone (see `process::ReadyInit`):
/// give it a moment to leave the cgroup. A cgroup that existed before, or that still has
/// processes after that, is shared with another container and stays, as in `delete`.
fn undo_intent(intent: &Intent) -> Result<()> {
    let cgroup = cgroups::manager(&intent.cgroup, None);
    let deadline = Instant::now() + Duration::from_secs(2);
    loop {
        // A cgroup that was never made has no processes.
        if cgroup.pids().map(|p| p.is_empty()).unwrap_or(true) {
            return Ok(cgroup.destroy()?);
        }
        if intent.cgroup_existed || Instant::now() >= deadline {
            return Ok(());
        }
        // Nothing to wait on for "the cgroup is empty" on v1: bounded polling.
        std::thread::sleep(Duration::from_millis(10));
    }
}
