//! The one error type of runtime-core.
//!
//! Its `Display` is the text the user (and the engine driving us) sees. Engines match on a few
//! of runc's texts, so those variants carry exactly runc's words: containerd treats "does not
//! exist" on delete as success and "container not running" on kill as "already finished".

use std::io;
use std::path::{Path, PathBuf};

use crate::cgroups::CgroupError;
use crate::seccomp::SeccompError;

/// Everything that can go wrong while managing a container.
///
/// ```
/// use runtime_core::Error;
/// let e = Error::NotExist("web".into());
/// assert_eq!(e.to_string(), "container does not exist");
/// ```
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// No container with this id under the state root.
    #[error("container does not exist")]
    NotExist(String),
    /// `create` of an id that is already taken.
    #[error("container with given ID already exists")]
    Exists(String),
    /// An id outside `[A-Za-z0-9_+.-]+`, or "." / "..".
    #[error("invalid container ID format")]
    InvalidId(String),
    /// The operation needs a live process and there is none.
    #[error("container not running")]
    NotRunning(String),
    /// The operation is refused because the container is frozen.
    #[error("container paused")]
    Paused(String),
    /// The container is in a state the operation does not accept (runc's wording in the text).
    #[error("{0}")]
    InvalidState(String),
    /// config.json is missing, unreadable or says something invalid.
    #[error("{0}")]
    Spec(String),
    /// A feature of the spec or a flag that baleia does not implement yet.
    #[error("{0} is not supported yet")]
    Unsupported(String),
    /// A failed system call, with what we were doing and on which path or pid.
    #[error("{what}: {source}")]
    Sys {
        /// What was being done, e.g. `mkdir /run/baleia/abc`.
        what: String,
        /// The errno the kernel returned.
        source: nix::errno::Errno,
    },
    /// A failed I/O operation, with what we were doing.
    #[error("{what}: {source}")]
    Io {
        /// What was being done.
        what: String,
        /// The underlying error.
        source: io::Error,
    },
    /// The container's init failed while setting itself up; the text comes from inside.
    #[error("unable to start container process: {0}")]
    Init(String),
    /// A hook exited non-zero, could not run, or timed out.
    #[error("{0}")]
    Hook(String),
    /// A cgroup operation failed.
    #[error(transparent)]
    Cgroup(#[from] CgroupError),
    /// The seccomp profile could not be compiled or installed.
    #[error(transparent)]
    Seccomp(#[from] SeccompError),
    /// Anything else, already phrased for the user.
    #[error("{0}")]
    Other(String),
}

/// Shorthand for results of runtime-core.
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// A failed syscall described by `what` (e.g. "mount proc on /proc").
    pub(crate) fn sys(what: impl Into<String>, source: nix::errno::Errno) -> Self {
        Error::Sys {
            what: what.into(),
            source,
        }
    }

    /// A failed I/O operation described by `what`.
    pub(crate) fn io(what: impl Into<String>, source: io::Error) -> Self {
        Error::Io {
            what: what.into(),
            source,
        }
    }

    /// A failed I/O operation on `path`, described as `"{verb} {path}"`.
    pub(crate) fn path(verb: &str, path: &Path, source: io::Error) -> Self {
        Error::io(format!("{verb} {}", path.display()), source)
    }
}

/// Extension to attach context to `nix` results in one call.
pub(crate) trait SysContext<T> {
    /// Wrap the errno with a description of what failed.
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T>;
}

impl<T> SysContext<T> for nix::Result<T> {
    fn ctx(self, what: impl FnOnce() -> String) -> Result<T> {
        self.map_err(|e| Error::sys(what(), e))
    }
}

/// Extension to attach a path to `std::io` results.
pub(crate) trait IoContext<T> {
    /// Wrap the error as `"{verb} {path}: {error}"`.
    fn at(self, verb: &str, path: impl AsRef<Path>) -> Result<T>;
}

impl<T> IoContext<T> for io::Result<T> {
    fn at(self, verb: &str, path: impl AsRef<Path>) -> Result<T> {
        self.map_err(|e| Error::path(verb, path.as_ref(), e))
    }
}

/// A path made absolute against `base` when it is relative.
pub(crate) fn absolute(base: &Path, p: &Path) -> PathBuf {
    if p.is_absolute() {
        p.to_path_buf()
    } else {
        base.join(p)
    }
}
