//! Watching a container's cgroup for OOM kills, for `events`: event-driven, no polling of the
//! counters. cgroup v1 notifies an eventfd registered through `cgroup.event_control` on
//! `memory.oom_control` (and once more when the cgroup is removed); cgroup v2 changes
//! `memory.events` (whose `oom_kill` counts the kills), which inotify reports.

use std::fs::File;
use std::os::fd::{AsFd, AsRawFd, FromRawFd, OwnedFd};
use std::path::{Path, PathBuf};
use std::time::Duration;

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};

use super::fs::{self, io_err, write};
use super::{CgroupError, CgroupPaths};

/// What [`OomWatcher::wait`] saw.
///
/// ```
/// assert_ne!(runtime_core::cgroups::OomEvent::Oom(1), runtime_core::cgroups::OomEvent::Gone);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OomEvent {
    /// OOM kills (v2) or OOM notifications (v1) since the last call: how many.
    Oom(u64),
    /// The cgroup has been removed: the container is gone.
    Gone,
    /// Nothing within the timeout.
    Nothing,
}

enum Kind {
    /// The eventfd, and the memory.oom_control file it is bound to (kept open for as long as
    /// the registration lives).
    V1 { _control: File },
    /// The inotify instance and the oom_kill count last seen.
    V2 { kills: u64 },
}

/// A watch on one cgroup's OOM events.
///
/// ```no_run
/// use runtime_core::cgroups::{CgroupPaths, OomEvent, OomWatcher};
/// let paths = CgroupPaths::resolve(Some("/baleia-doc"), "doc")?;
/// if let Some(mut w) = OomWatcher::new(&paths)? {
///     while let OomEvent::Oom(_) | OomEvent::Nothing = w.wait(std::time::Duration::from_secs(5))? {}
/// }
/// # Ok::<(), runtime_core::cgroups::CgroupError>(())
/// ```
pub struct OomWatcher {
    fd: OwnedFd,
    dir: PathBuf,
    kind: Kind,
}

fn last_os(op: &str, path: &Path) -> CgroupError {
    io_err(op, path, std::io::Error::last_os_error())
}

/// The `oom_kill` count of a v2 memory.events (0 when absent).
fn v2_kills(dir: &Path) -> Result<u64, CgroupError> {
    Ok(fs::keyed(
        &fs::read_keyed(dir, "memory.events")?,
        "oom_kill",
    ))
}

impl OomWatcher {
    /// Watches the memory cgroup of `paths`; `None` when there is none to watch (no memory
    /// controller on this host, or no memory.events in a v2 cgroup without it enabled).
    ///
    /// ```
    /// use runtime_core::cgroups::{Cgroup, OomWatcher};
    /// let watcher = OomWatcher::new(&Cgroup::resolve(None, "web")?.paths)?;
    /// # Ok::<(), runtime_core::cgroups::CgroupError>(())
    /// ```
    pub fn new(paths: &CgroupPaths) -> Result<Option<OomWatcher>, CgroupError> {
        if let Some(dir) = paths.unified_only() {
            return Self::v2(dir);
        }
        match paths.0.get("memory") {
            Some(dir) => Self::v1(dir),
            None => Ok(None),
        }
    }

    fn v1(dir: &Path) -> Result<Option<OomWatcher>, CgroupError> {
        let control = dir.join("memory.oom_control");
        let file = match File::open(&control) {
            Ok(f) => f,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(io_err("open", &control, e)),
        };
        // SAFETY: plain syscall with integer arguments.
        let efd = unsafe { libc::eventfd(0, libc::EFD_CLOEXEC) };
        if efd < 0 {
            return Err(last_os("eventfd for", &control));
        }
        // SAFETY: the kernel just returned this fd; nobody else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(efd) };
        write(
            dir,
            "cgroup.event_control",
            &format!("{} {}", fd.as_raw_fd(), file.as_raw_fd()),
        )?;
        Ok(Some(OomWatcher {
            fd,
            dir: dir.to_path_buf(),
            kind: Kind::V1 { _control: file },
        }))
    }

    fn v2(dir: &Path) -> Result<Option<OomWatcher>, CgroupError> {
        let events = dir.join("memory.events");
        if !events.exists() {
            return Ok(None);
        }
        // SAFETY: plain syscall with integer arguments.
        let ifd = unsafe { libc::inotify_init1(libc::IN_CLOEXEC | libc::IN_NONBLOCK) };
        if ifd < 0 {
            return Err(last_os("inotify_init1 for", &events));
        }
        // SAFETY: the kernel just returned this fd; nobody else owns it.
        let fd = unsafe { OwnedFd::from_raw_fd(ifd) };
        let c = std::ffi::CString::new(events.as_os_str().as_encoded_bytes())
            .map_err(|_| io_err("watch", &events, std::io::ErrorKind::InvalidInput.into()))?;
        // SAFETY: c is a NUL-terminated path; fd is our inotify instance.
        let wd = unsafe { libc::inotify_add_watch(fd.as_raw_fd(), c.as_ptr(), libc::IN_MODIFY) };
        if wd < 0 {
            return Err(last_os("inotify_add_watch", &events));
        }
        let kills = v2_kills(dir)?;
        Ok(Some(OomWatcher {
            fd,
            dir: dir.to_path_buf(),
            kind: Kind::V2 { kills },
        }))
    }

    /// Waits up to `timeout` for an OOM event or the removal of the cgroup.
    ///
    /// ```
    /// use runtime_core::cgroups::{Cgroup, OomEvent, OomWatcher};
    /// let cg = Cgroup::resolve(None, "web")?;
    /// if let Some(mut w) = OomWatcher::new(&cg.paths)? {
    ///     while w.wait(std::time::Duration::from_secs(1))? != OomEvent::Gone {}
    /// }
    /// # Ok::<(), runtime_core::cgroups::CgroupError>(())
    /// ```
    pub fn wait(&mut self, timeout: Duration) -> Result<OomEvent, CgroupError> {
        let ms = PollTimeout::try_from(timeout.as_millis().min(i32::MAX as u128) as i32)
            .unwrap_or(PollTimeout::MAX);
        let ready = {
            let mut fds = [PollFd::new(self.fd.as_fd(), PollFlags::POLLIN)];
            match poll(&mut fds, ms) {
                Ok(n) => n > 0,
                Err(nix::errno::Errno::EINTR) => false,
                Err(e) => return Err(io_err("poll the OOM watch of", &self.dir, e.into())),
            }
        };
        let events = self.drain(ready)?;
        // Removal may come with a notification (v1) or without one (v2): look every time.
        if !self.dir.is_dir() {
            return Ok(OomEvent::Gone);
        }
        let n = match &mut self.kind {
            Kind::V1 { .. } => events,
            Kind::V2 { kills } => {
                let now = v2_kills(&self.dir)?;
                let new = now.saturating_sub(*kills);
                *kills = now;
                new
            }
        };
        Ok(if n > 0 {
            OomEvent::Oom(n)
        } else {
            OomEvent::Nothing
        })
    }

    /// Consumes what made the fd readable; for v1 returns the number of notifications.
    fn drain(&mut self, ready: bool) -> Result<u64, CgroupError> {
        if !ready {
            return Ok(0);
        }
        let mut buf = [0u8; 4096];
        // SAFETY: buf is writable for its length; the fd is ours.
        let n = unsafe { libc::read(self.fd.as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
        if n < 0 {
            let e = std::io::Error::last_os_error();
            return match e.raw_os_error() {
                Some(libc::EAGAIN) | Some(libc::EINTR) => Ok(0),
                _ => Err(io_err("read the OOM watch of", &self.dir, e)),
            };
        }
        match self.kind {
            // An eventfd read is its 8-byte counter.
            Kind::V1 { .. } if n == 8 => Ok(u64::from_ne_bytes([
                buf[0], buf[1], buf[2], buf[3], buf[4], buf[5], buf[6], buf[7],
            ])),
            _ => Ok(0),
        }
    }
}
