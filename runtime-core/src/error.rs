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
/// Match on [`Error::kind`] rather than on the variants: kinds stay stable while variants
/// may be added (the enum is `#[non_exhaustive]`).
///
/// ```
/// use runtime_core::{Error, ErrorKind};
/// let e = Error::NotExist("web".into());
/// assert_eq!(e.to_string(), "container does not exist");
/// assert_eq!(e.kind(), ErrorKind::NotFound);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
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
    /// A field of config.json (or of an exec's process) says something invalid.
    #[error("{message}")]
    InvalidField {
        /// The field, as a JSON path into the spec: `process.args`, `linux.namespaces[2]`.
        field: String,
        /// The whole sentence the user sees (it names the field too).
        message: String,
    },
    /// The process's executable does not exist in the container, or is not executable.
    #[error("unable to start container process: {0}")]
    ExecutableNotFound(String),
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

/// What kind of failure an [`Error`] is: what a program embedding the library can act on.
///
/// ```
/// # fn main() {
/// use runtime_core::{ErrorKind, Runtime};
/// match Runtime::new("/run/baleia").start("web") {
///     Ok(()) => println!("started"),
///     Err(e) if e.kind() == ErrorKind::NotFound => println!("no such container"),
///     Err(e) => eprintln!("{e}"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorKind {
    /// No container with this id.
    NotFound,
    /// A container with this id already exists.
    AlreadyExists,
    /// The id is not a valid container id.
    InvalidId,
    /// The container has no live process (it has stopped).
    NotRunning,
    /// The container is paused.
    Paused,
    /// The container's state does not allow the operation (e.g. start of a running one).
    InvalidState,
    /// The spec, or an argument, is invalid: [`Error::field`] names the field when known.
    InvalidSpec,
    /// Something baleia does not implement (yet), or the host cannot do.
    Unsupported,
    /// The process's executable was not found (or may not be executed) in the container.
    ExecutableNotFound,
    /// A system call failed: [`Error::errno`] tells which errno.
    Sys,
    /// The container's init failed while setting itself up.
    Init,
    /// A hook failed or timed out.
    Hook,
    /// Anything else.
    Other,
}

/// Shorthand for results of runtime-core.
///
/// ```
/// fn start(rt: &runtime_core::Runtime) -> runtime_core::Result<()> {
///     rt.start("web")
/// }
/// ```
pub type Result<T, E = Error> = std::result::Result<T, E>;

impl Error {
    /// The kind of failure, for programs that react to some of them.
    ///
    /// ```
    /// use runtime_core::{Error, ErrorKind};
    /// assert_eq!(Error::Paused("web".into()).kind(), ErrorKind::Paused);
    /// ```
    pub fn kind(&self) -> ErrorKind {
        use crate::cgroups::CgroupError as C;
        use crate::seccomp::SeccompError as S;
        match self {
            Error::NotExist(_) => ErrorKind::NotFound,
            Error::Exists(_) => ErrorKind::AlreadyExists,
            Error::InvalidId(_) => ErrorKind::InvalidId,
            Error::NotRunning(_) => ErrorKind::NotRunning,
            Error::Paused(_) => ErrorKind::Paused,
            Error::InvalidState(_) => ErrorKind::InvalidState,
            Error::Spec(_) | Error::InvalidField { .. } => ErrorKind::InvalidSpec,
            Error::ExecutableNotFound(_) => ErrorKind::ExecutableNotFound,
            Error::Unsupported(_) => ErrorKind::Unsupported,
            Error::Sys { .. } | Error::Io { .. } => ErrorKind::Sys,
            Error::Init(_) => ErrorKind::Init,
            Error::Hook(_) => ErrorKind::Hook,
            Error::Cgroup(
                C::InvalidPath { .. } | C::InvalidResource { .. } | C::SubCgroup { .. },
            ) => ErrorKind::InvalidSpec,
            Error::Cgroup(C::Unsupported { .. }) => ErrorKind::Unsupported,
            Error::Cgroup(C::Frozen { .. }) => ErrorKind::InvalidState,
            Error::Cgroup(C::Io { .. } | C::Bpf { .. } | C::Busy { .. }) => ErrorKind::Sys,
            Error::Cgroup(_) => ErrorKind::Other,
            Error::Seccomp(S::InvalidRule { .. } | S::InvalidArg { .. } | S::ErrnoRange { .. }) => {
                ErrorKind::InvalidSpec
            }
            Error::Seccomp(S::NotSupported { .. } | S::UnsupportedHost { .. }) => {
                ErrorKind::Unsupported
            }
            Error::Seccomp(S::Install { .. }) => ErrorKind::Sys,
            Error::Seccomp(_) => ErrorKind::Other,
            Error::Other(_) => ErrorKind::Other,
        }
    }

    /// The spec field an [`ErrorKind::InvalidSpec`] error is about, when it names one.
    ///
    /// ```
    /// use runtime_core::Error;
    /// let e = Error::invalid_field("process.args", "args must not be empty");
    /// assert_eq!(e.field(), Some("process.args"));
    /// assert_eq!(e.to_string(), "args must not be empty");
    /// ```
    pub fn field(&self) -> Option<&str> {
        use crate::seccomp::SeccompError as S;
        match self {
            Error::InvalidField { field, .. } => Some(field),
            Error::Cgroup(crate::cgroups::CgroupError::InvalidResource { field, .. }) => {
                Some(field)
            }
            Error::Cgroup(crate::cgroups::CgroupError::InvalidPath { .. }) => {
                Some("linux.cgroupsPath")
            }
            Error::Seccomp(S::InvalidRule { .. } | S::InvalidArg { .. }) => {
                Some("linux.seccomp.syscalls")
            }
            _ => None,
        }
    }

    /// The errno of a failed system call ([`ErrorKind::Sys`]), when there is one.
    ///
    /// ```
    /// use runtime_core::Error;
    /// let e = Error::Sys { what: "mkdir /run/x".into(), source: nix::errno::Errno::EACCES };
    /// assert_eq!(e.errno(), Some(libc::EACCES));
    /// ```
    pub fn errno(&self) -> Option<i32> {
        use crate::cgroups::CgroupError as C;
        match self {
            Error::Sys { source, .. } => Some(*source as i32),
            Error::Io { source, .. } => source.raw_os_error(),
            Error::Cgroup(
                C::Io { source, .. } | C::Busy { source, .. } | C::Bpf { source, .. },
            ) => source.raw_os_error(),
            Error::Seccomp(crate::seccomp::SeccompError::Install { errno, .. }) => {
                Some(*errno as i32)
            }
            _ => None,
        }
    }

    /// An invalid `field` of the spec, with the sentence the user sees.
    ///
    /// ```
    /// let e = runtime_core::Error::invalid_field("process.cwd", "cwd \"x\" is not an absolute path");
    /// assert_eq!(e.kind(), runtime_core::ErrorKind::InvalidSpec);
    /// ```
    pub fn invalid_field(field: impl Into<String>, message: impl Into<String>) -> Self {
        Error::InvalidField {
            field: field.into(),
            message: message.into(),
        }
    }

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
