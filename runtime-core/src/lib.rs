#![doc = include_str!("../README.md")]
// A forked child's errors are fixed-size text buffers (see `child`): boxing them to make the
// Err variant small would allocate, which a child of a multi-threaded program must never do.
#![allow(clippy::result_large_err)]

pub mod cgroups;
pub mod features;
pub mod intel_rdt;
pub mod seccomp;
pub mod signal;
pub mod spec;
pub(crate) mod state;
pub mod time;

mod capabilities;
mod child;
mod console;
mod container_hooks;
mod error;
mod exec;
mod hooks;
mod namespaces;
mod netdev;
mod netlink;
mod process;
mod readfile;
mod rootfs;
mod selfexe;
mod sys;

use std::collections::HashMap;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use nix::poll::{poll, PollFd, PollFlags, PollTimeout};
use serde::Serialize;

pub use child::in_container_child;
pub use error::{Error, ErrorKind, Result};
pub use exec::ExecOptions;
pub use selfexe::{protect_binary, protection, Protection};
pub use state::Status;

use crate::cgroups::{CgroupManager, CgroupPaths};
use crate::spec::Bundle;
use crate::state::{derive_status, Intent, Record, Store};

/// Options of `create` (runc's flags of the same names).
///
/// ```
/// let mut o = runtime_core::CreateOptions::new("/tmp/bundle");
/// o.pid_file = Some("/run/demo.pid".into());
/// ```
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct CreateOptions {
    /// The bundle directory holding config.json.
    pub bundle: PathBuf,
    /// Where to write the init's host pid (atomically, no trailing newline).
    pub pid_file: Option<PathBuf>,
    /// Use MS_MOVE + chroot instead of pivot_root (for ramdisk roots).
    pub no_pivot: bool,
    /// Do not give the container a session keyring of its own.
    pub no_new_keyring: bool,
    /// Pass fds 3..3+N of the caller to the container.
    pub preserve_fds: u32,
    /// Where to send the terminal's master when `process.terminal` is true.
    pub console_socket: Option<PathBuf>,
    /// systemd socket activation: the caller's fds 3..3+N are listening sockets. They are
    /// passed before the `preserve_fds` ones, and the container gets `LISTEN_FDS=N` and
    /// `LISTEN_PID=1` (the CLI sets this from `LISTEN_FDS` when `LISTEN_PID` is its pid).
    pub listen_fds: u32,
    /// How long the container's init may take to set itself up before `create` gives up,
    /// kills it and says which step it was waiting for (default 60 s; the timeouts of the
    /// createContainer hooks, which the init runs itself, are added).
    pub setup_timeout: Option<Duration>,
    /// A unix socket to send a pidfd of the init to (runc's `--pidfd-socket`): one message,
    /// payload `standard`, one SCM_RIGHTS fd.
    pub pidfd_socket: Option<PathBuf>,
    /// Rootless (runc's `--rootless`): when the spec names no cgroupsPath and the caller has no
    /// permission to make the default cgroup, the container goes without one (a note in the
    /// log), unless the spec asks for resource limits (then it is an error). See
    /// [`rootless_by_default`] for runc's automatic choice.
    pub rootless: bool,
}

/// Whether a caller counts as rootless when it does not say (runc's `--rootless auto`): it is
/// not root, or it is root in a user namespace (a rootless engine runs its runtime there).
///
/// ```
/// let mut o = runtime_core::CreateOptions::new("/tmp/bundle");
/// o.rootless = runtime_core::rootless_by_default();
/// ```
pub fn rootless_by_default() -> bool {
    !nix::unistd::geteuid().is_root() || namespaces::in_user_namespace()
}

impl CreateOptions {
    /// Options with every flag at runc's default.
    ///
    /// ```no_run
    /// let o = runtime_core::CreateOptions::new("/srv/bundles/web");
    /// assert!(o.pid_file.is_none() && !o.no_pivot);
    /// ```
    pub fn new(bundle: impl Into<PathBuf>) -> CreateOptions {
        CreateOptions {
            bundle: bundle.into(),
            ..Default::default()
        }
    }
}

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

/// A container's state as `baleia state` prints it (the OCI state plus runc's extras).
///
/// ```no_run
/// let s = runtime_core::Runtime::new("/run/baleia").state("web").unwrap();
/// println!("{}", serde_json::to_string_pretty(&s).unwrap());
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ContainerState {
    /// The runtime-spec version of this state.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// The container id.
    pub id: String,
    /// Host pid of the init; 0 once stopped.
    pub pid: i32,
    /// The lifecycle status.
    pub status: Status,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// The spec's annotations.
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// The owner's user name: the library leaves it empty (as `runc state` prints it); `list`
    /// fills it in from [`owner_uid`](ContainerState::owner_uid).
    pub owner: String,
    /// The uid that owns the container's state, runc's owner of a container.
    #[serde(skip)]
    pub owner_uid: Option<u32>,
}

/// A handle on a state root: every container operation goes through it.
///
/// ```no_run
/// let rt = runtime_core::Runtime::new("/run/baleia");
/// for c in rt.list().unwrap() { println!("{} {}", c.id, c.status); }
/// ```
#[derive(Debug, Clone)]
pub struct Runtime {
    store: Store,
}

/// A terminal needs a console socket to send its master to, and a console socket is only
/// meaningful with a terminal (runc refuses both mismatches). Returns the socket to use.
/// (The `baleia` CLI gives a foreground `run -t` or `exec -t` a socket of its own and proxies
/// the terminal to its stdio, as runc does.)
pub(crate) fn check_console<'a>(
    p: &oci_spec::runtime::Process,
    socket: Option<&'a Path>,
) -> Result<Option<&'a Path>> {
    match (p.terminal() == Some(true), socket) {
        (true, None) => Err(Error::Spec(
            "cannot allocate a terminal: process.terminal is true but no --console-socket was given to send it to".into(),
        )),
        (false, Some(_)) => Err(Error::Spec(
            "cannot use a console socket if the process has no terminal (process.terminal is false)".into(),
        )),
        (true, Some(s)) => Ok(Some(s)),
        (false, None) => Ok(None),
    }
}

/// The OCI state given to hooks on stdin.
pub(crate) fn hook_state_value(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &Path,
    annotations: &HashMap<String, String>,
) -> serde_json::Value {
    serde_json::json!({
        "ociVersion": spec::OCI_VERSION,
        "id": id,
        "status": status,
        "pid": pid,
        "bundle": bundle,
        "annotations": annotations,
    })
}

/// The OCI state JSON given to hooks on stdin.
pub(crate) fn hook_state(
    id: &str,
    status: &str,
    pid: i32,
    bundle: &Path,
    annotations: &HashMap<String, String>,
) -> Vec<u8> {
    serde_json::to_vec(&hook_state_value(id, status, pid, bundle, annotations)).unwrap_or_default()
}

fn record_hook_state(rec: &Record, status: &str, pid: i32) -> Vec<u8> {
    hook_state(&rec.id, status, pid, &rec.bundle, &rec.annotations)
}

/// Write a pid file as engines want it: the decimal host pid, no newline, atomically (a
/// relative path is relative to our cwd, as in runc).
pub(crate) fn write_pid_file(path: &Path, pid: i32) -> Result<()> {
    let cwd = std::env::current_dir().map_err(|e| Error::io("getcwd", e))?;
    state::write_atomic(
        &error::absolute(&cwd, path),
        pid.to_string().as_bytes(),
        0o644,
    )
}

/// Connect to a `--pidfd-socket` before anything is made, so that a wrong path fails early.
pub(crate) fn connect_pidfd_socket(path: &Path) -> Result<std::os::fd::OwnedFd> {
    std::os::unix::net::UnixStream::connect(path)
        .map(Into::into)
        .map_err(|e| Error::io(format!("connect to pidfd socket {}", path.display()), e))
}

/// Send a pidfd of `pid` (our child, so not yet reusable) as runc does: payload `kind`
/// ("standard" for the init, "setns" for an exec'd process) and one SCM_RIGHTS fd.
pub(crate) fn send_pidfd(sock: &std::os::fd::OwnedFd, pid: i32, kind: &str) -> Result<()> {
    use std::os::fd::AsRawFd;
    let pidfd = sys::pidfd_open(pid).map_err(|e| Error::sys(format!("pidfd_open {pid}"), e))?;
    sys::send_fd(sock.as_raw_fd(), kind.as_bytes(), pidfd.as_raw_fd())
        .map_err(|e| Error::sys(format!("send the pidfd of {pid} to the pidfd socket"), e))
}

/// The spec's resources with runc's always-allowed devices appended to its device rules, so
/// the default device nodes stay usable under a spec that denies everything.
fn with_default_device_rules(
    resources: Option<&oci_spec::runtime::LinuxResources>,
) -> Option<oci_spec::runtime::LinuxResources> {
    let mut r = resources.cloned()?;
    if let Some(mut devs) = r.devices().clone() {
        devs.extend(cgroups::default_device_rules());
        r.set_devices(Some(devs));
    }
    Some(r)
}

impl Runtime {
    /// A runtime whose containers live under `root` (created on first use).
    ///
    /// ```no_run
    /// let rt = runtime_core::Runtime::new("/run/baleia");
    /// ```
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime {
            store: Store::new(root),
        }
    }

    /// The state root.
    ///
    /// ```no_run
    /// let rt = runtime_core::Runtime::new("/run/baleia");
    /// assert_eq!(rt.root(), std::path::Path::new("/run/baleia"));
    /// ```
    pub fn root(&self) -> &Path {
        self.store.root()
    }

    /// Create container `id` from the bundle: the init is set up and blocked until [`start`].
    /// Returns the init's host pid. On failure nothing is left behind; a `create` killed
    /// half-way leaves what [`delete`] with `force` undoes.
    ///
    /// Refused until the program has called [`protect_binary`].
    ///
    /// [`start`]: Runtime::start
    /// [`delete`]: Runtime::delete
    ///
    /// ```no_run
    /// runtime_core::protect_binary()?;
    /// let rt = runtime_core::Runtime::new("/run/baleia");
    /// let pid = rt.create("web", &runtime_core::CreateOptions::new("/srv/bundles/web"))?;
    /// println!("the init of web is host pid {pid}");
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn create(&self, id: &str, opts: &CreateOptions) -> Result<i32> {
        selfexe::require_protection()?;
        state::validate_id(id)?;
        let mut bundle = Bundle::load(&opts.bundle)?;
        if opts.listen_fds > 0 {
            if let Some(p) = bundle.spec.process_mut() {
                let mut env = p.env().clone().unwrap_or_default();
                env.retain(|e| !e.starts_with("LISTEN_FDS=") && !e.starts_with("LISTEN_PID="));
                env.push(format!("LISTEN_FDS={}", opts.listen_fds));
                env.push("LISTEN_PID=1".into());
                p.set_env(Some(env));
            }
        }
        if let Some(p) = bundle.spec.process() {
            check_console(p, opts.console_socket.as_deref())?;
        }
        let seccomp = match bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.seccomp().as_ref())
        {
            Some(profile) => Some(seccomp::compile_cached(profile, self.store.root())?),
            None => None,
        };
        let cgroups_path = bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.cgroups_path().as_ref())
            .map(|p| p.to_string_lossy().into_owned());
        let paths = CgroupPaths::resolve(cgroups_path.as_deref(), id)?;
        let resources = with_default_device_rules(
            bundle
                .spec
                .linux()
                .as_ref()
                .and_then(|l| l.resources().as_ref()),
        );
        if let Some(r) = &resources {
            cgroups::validate_resources(r)?;
        }
        let rdt = match bundle
            .spec
            .linux()
            .as_ref()
            .and_then(|l| l.intel_rdt().as_ref())
        {
            Some(r) => Some(intel_rdt::Plan::new(r, id, &intel_rdt::resctrl_root()?)?),
            None => None,
        };
        // Looked up now, so that a missing device fails before anything exists.
        let net_devices = match bundle.spec.linux() {
            Some(l) => netdev::resolve(l)?,
            None => Vec::new(),
        };
        // Before anything exists: a frozen cgroup would freeze the init, and us waiting on it.
        cgroups::manager(&paths).refuse_frozen()?;
        let lock = self.store.reserve(id)?;
        let cgroup = cgroups::manager(&paths);
        // Said before the cgroup is made, so that a create killed from here on leaves a state
        // directory that names everything delete has to undo.
        let intent = Intent {
            cgroup_paths: paths.clone(),
            cgroup_existed: paths.0.values().any(|d| d.exists()),
        };
        let made = self.store.save_intent(id, &intent).and_then(|()| {
            self.create_locked(
                id,
                opts,
                &bundle,
                &paths,
                cgroup.as_ref(),
                resources.as_ref(),
                (seccomp, rdt.as_ref()),
                &net_devices,
            )
        });
        if made.is_err() {
            // Not kill_all: the cgroup may be shared with other containers (a cgroupsPath is
            // not exclusive); our own init is already dead.
            let _ = remove_cgroup_unless_shared(cgroup.as_ref(), false);
            let _ = self.store.remove(id);
        }
        drop(lock);
        made
    }

    #[allow(clippy::too_many_arguments)]
    fn create_locked(
        &self,
        id: &str,
        opts: &CreateOptions,
        bundle: &Bundle,
        paths: &CgroupPaths,
        cgroup: &dyn CgroupManager,
        resources: Option<&oci_spec::runtime::LinuxResources>,
        (seccomp, rdt): (Option<seccomp::Program>, Option<&intel_rdt::Plan>),
        net_devices: &[netdev::Device],
    ) -> Result<i32> {
        let created = time::rfc3339_now();
        let state_dir = self.store.dir(id);
        let no_paths = CgroupPaths::default();
        let no_cgroup;
        let (paths, cgroup) = match cgroup.create() {
            Ok(()) => {
                if let Some(r) = resources {
                    cgroup.apply_resources(r)?;
                }
                (paths, cgroup)
            }
            // As runc: only the default cgroup may be done without; one the spec names is
            // wanted, and not having it is an error.
            Err(e) if opts.rootless && e.is_permission() && !names_cgroup(&bundle.spec) => {
                let _ = remove_cgroup_unless_shared(cgroup, false);
                if let Some(field) = limits_asked(&bundle.spec) {
                    return Err(Error::Other(format!(
                        "rootless: linux.resources.{field} needs a cgroup, and {e}"
                    )));
                }
                // A warning, so that it is in the log at the default level: a user who
                // expected limits or stats learns why there are none.
                log::warn!("rootless: the container runs without a cgroup ({e})");
                no_cgroup = cgroups::manager(&no_paths);
                (&no_paths, no_cgroup.as_ref())
            }
            Err(e) => return Err(e.into()),
        };
        let console = match opts.console_socket.as_deref() {
            Some(path) => Some(console::connect(path)?),
            None => None,
        };
        let pidfd_sock = opts
            .pidfd_socket
            .as_deref()
            .map(connect_pidfd_socket)
            .transpose()?;
        let launch = process::Launch {
            console,
            timeout: opts.setup_timeout.unwrap_or(Duration::from_secs(60)),
            id,
            bundle,
            state_dir: &state_dir,
            no_pivot: opts.no_pivot,
            no_new_keyring: opts.no_new_keyring,
            preserve_fds: opts.preserve_fds + opts.listen_fds,
            cgroup_paths: paths,
            cgroup,
            seccomp,
            net_devices,
        };
        let hooks = bundle.spec.hooks().as_ref();
        let annotations = bundle.spec.annotations().clone().unwrap_or_default();
        let run_hooks = |pid: i32| -> Result<()> {
            let st = hook_state(id, "creating", pid, &bundle.dir, &annotations);
            #[allow(deprecated)]
            hooks::run_from_bundle(
                "prestart",
                hooks.and_then(|h| h.prestart().as_ref()),
                &st,
                &bundle.dir,
            )?;
            hooks::run_from_bundle(
                "createRuntime",
                hooks.and_then(|h| h.create_runtime().as_ref()),
                &st,
                &bundle.dir,
            )
        };
        // Dropped on an error below, the init (our child, waiting for release) is killed.
        let init = process::spawn_init(launch, &run_hooks)?;
        let pid = init.pid();
        let mut group = None;
        let done = pidfd_sock
            .as_ref()
            .map_or(Ok(()), |s| send_pidfd(s, pid, "standard"))
            .and_then(|()| {
                // The init waits for release: its group is set before the process runs.
                group = rdt.map(|p| p.apply(pid)).transpose()?;
                let net = netdev::names(net_devices);
                self.record_created(id, opts, bundle, paths, created, pid, (group.clone(), net))
            })
            .and_then(|()| init.release());
        if done.is_err() {
            if let Some(g) = &group {
                let _ = g.remove();
            }
        }
        done.map(|()| pid)
    }

    /// Save the state of a freshly spawned init and write the pid file.
    #[allow(clippy::too_many_arguments)]
    fn record_created(
        &self,
        id: &str,
        opts: &CreateOptions,
        bundle: &Bundle,
        paths: &CgroupPaths,
        created: String,
        pid: i32,
        (intel_rdt, net_devices): (Option<intel_rdt::Group>, Vec<(String, String)>),
    ) -> Result<()> {
        let start_time = state::proc_stat(pid)
            .map(|s| s.start_time)
            .ok_or_else(|| Error::Other(format!("the container's init (pid {pid}) vanished")))?;
        let linux = bundle.spec.linux().as_ref();
        let rec = Record {
            id: id.to_string(),
            pid,
            start_time,
            bundle: bundle.dir.clone(),
            rootfs: bundle.rootfs.clone(),
            created,
            annotations: bundle.spec.annotations().clone().unwrap_or_default(),
            cgroup_paths: paths.clone(),
            host_pid_ns: !process::has_pid_ns(&bundle.spec),
            hooks: bundle.spec.hooks().clone(),
            process: bundle.spec.process().clone(),
            seccomp: bundle
                .spec
                .linux()
                .as_ref()
                .and_then(|l| l.seccomp().clone()),
            memory_policy: linux.and_then(|l| l.memory_policy().clone()),
            personality: linux.and_then(|l| l.personality().clone()),
            intel_rdt,
            net_ns_path: linux
                .and_then(|l| l.namespaces().as_ref())
                .into_iter()
                .flatten()
                .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network)
                .and_then(|n| n.path().clone())
                .filter(|_| !net_devices.is_empty()),
            net_devices,
        };
        self.store.save(&rec)?;
        if let Some(pf) = &opts.pid_file {
            write_pid_file(pf, pid)?;
        }
        Ok(())
    }

    fn record(&self, id: &str) -> Result<Record> {
        state::validate_id(id)?;
        self.store
            .load(id)?
            .ok_or_else(|| Error::InvalidState(format!("container {id} is being created")))
    }

    /// Let a created container's init run the user's process, then run the poststart hooks.
    ///
    /// ```no_run
    /// runtime_core::Runtime::new("/run/baleia").start("web")?;
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn start(&self, id: &str) -> Result<()> {
        let _lock = self.store.lock(id)?;
        let rec = self.record(id)?;
        match derive_status(&self.store, &rec) {
            Status::Created => {}
            Status::Stopped => {
                return Err(Error::InvalidState(
                    "cannot start a container that has stopped".into(),
                ))
            }
            Status::Paused => return Err(Error::Paused(id.into())),
            _ => {
                return Err(Error::InvalidState(
                    "cannot start an already running container".into(),
                ))
            }
        }
        let fifo = self.store.dir(id).join(state::EXEC_FIFO);
        // Non-blocking: with no reader left (the init died) this fails at once instead of hanging.
        let fd = nix::fcntl::open(
            &fifo,
            nix::fcntl::OFlag::O_WRONLY
                | nix::fcntl::OFlag::O_NONBLOCK
                | nix::fcntl::OFlag::O_CLOEXEC,
            nix::sys::stat::Mode::empty(),
        )
        .map_err(|e| match e {
            nix::errno::Errno::ENXIO => {
                Error::InvalidState("cannot start a container that has stopped".into())
            }
            e => Error::sys(format!("open {}", fifo.display()), e),
        })?;
        nix::unistd::write(&fd, b"0")
            .map_err(|e| Error::sys(format!("write {}", fifo.display()), e))?;
        drop(fd);
        std::fs::remove_file(&fifo).map_err(|e| Error::path("remove", &fifo, e))?;
        if let Some(h) = rec.hooks.as_ref().and_then(|h| h.poststart().as_ref()) {
            if let Err(e) = hooks::run_from_bundle(
                "poststart",
                Some(h),
                &record_hook_state(&rec, "running", rec.pid),
                &rec.bundle,
            ) {
                let _ = self.signal(&rec, libc::SIGKILL, true);
                return Err(e);
            }
        }
        Ok(())
    }

    /// The state of container `id`.
    ///
    /// ```no_run
    /// let s = runtime_core::Runtime::new("/run/baleia").state("web")?;
    /// println!("{} is {} (pid {})", s.id, s.status, s.pid);
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn state(&self, id: &str) -> Result<ContainerState> {
        state::validate_id(id)?;
        match self.store.load(id)? {
            Some(rec) => Ok(self.describe(&rec)),
            None => Ok(ContainerState {
                oci_version: spec::OCI_VERSION.into(),
                id: id.into(),
                pid: 0,
                status: Status::Creating,
                bundle: PathBuf::new(),
                rootfs: PathBuf::new(),
                created: String::new(),
                annotations: HashMap::new(),
                owner: String::new(),
                owner_uid: None,
            }),
        }
    }

    fn describe(&self, rec: &Record) -> ContainerState {
        use std::os::unix::fs::MetadataExt;
        let status = derive_status(&self.store, rec);
        ContainerState {
            oci_version: spec::OCI_VERSION.into(),
            id: rec.id.clone(),
            pid: if status == Status::Stopped {
                0
            } else {
                rec.pid
            },
            status,
            bundle: rec.bundle.clone(),
            rootfs: rec.rootfs.clone(),
            created: rec.created.clone(),
            annotations: rec.annotations.clone(),
            owner: String::new(),
            owner_uid: std::fs::metadata(self.store.dir(&rec.id))
                .ok()
                .map(|m| m.uid()),
        }
    }

    /// Every container under the root, sorted by id.
    ///
    /// ```no_run
    /// for c in runtime_core::Runtime::new("/run/baleia").list()? {
    ///     println!("{} {}", c.id, c.status);
    /// }
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn list(&self) -> Result<Vec<ContainerState>> {
        let mut out = Vec::new();
        for id in self.store.ids()? {
            if let Ok(s) = self.state(&id) {
                out.push(s);
            }
        }
        Ok(out)
    }

    /// Send `signal` to the container's init, or with `all` to every process of the container.
    ///
    /// With `all`, a stopped container is no error: its init has exited, but its cgroup may
    /// still hold processes (the init's children, when the container shares a pid namespace
    /// as under Kubernetes), and those are signalled, as runc does. Signal 0 only checks.
    ///
    /// ```no_run
    /// use runtime_core::signal::Signal;
    /// runtime_core::Runtime::new("/run/baleia").kill("web", Signal::TERM, false)?;
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn kill(&self, id: &str, signal: signal::Signal, all: bool) -> Result<()> {
        let signal = signal.as_raw();
        let rec = self.record(id)?;
        let status = derive_status(&self.store, &rec);
        if status == Status::Stopped {
            if !all {
                return Err(Error::NotRunning(id.into()));
            }
            let cgroup = cgroups::manager(&rec.cgroup_paths);
            // An empty (or already removed) cgroup has nothing to signal; freezing it to walk
            // an empty list would only fail on a removed one.
            if cgroup.pids()?.is_empty() {
                return Ok(());
            }
            return Ok(cgroup.kill_all(signal)?);
        }
        self.signal(&rec, signal, all)?;
        // A frozen (cgroup v1) process gets nothing until thawed: a SIGKILL to a paused
        // container's init thaws the cgroup so that it dies, as runc does (kill_all already
        // thaws for SIGKILL).
        if status == Status::Paused && signal == libc::SIGKILL && !all {
            cgroups::manager(&rec.cgroup_paths).thaw()?;
        }
        Ok(())
    }

    fn signal(&self, rec: &Record, signal: i32, all: bool) -> Result<()> {
        log::debug!(
            "container {}: send signal {signal} to {}",
            rec.id,
            if all {
                "every process in its cgroup".to_string()
            } else {
                format!("the init (pid {})", rec.pid)
            }
        );
        // With the host's pid namespace, killing the init leaves the rest running: only the
        // cgroup knows every process.
        if all || (rec.host_pid_ns && signal == libc::SIGKILL) {
            cgroups::manager(&rec.cgroup_paths).kill_all(signal)?;
            if !all {
                return Ok(());
            }
        }
        let pidfd = match sys::pidfd_open(rec.pid) {
            Ok(fd) => fd,
            Err(nix::errno::Errno::ESRCH) if all => return Ok(()),
            Err(nix::errno::Errno::ESRCH) => return Err(Error::NotRunning(rec.id.clone())),
            Err(e) => return Err(Error::sys(format!("pidfd_open {}", rec.pid), e)),
        };
        // The pidfd pins the process: check it is still ours before signalling it.
        if !state::is_alive(rec.pid, rec.start_time) {
            return if all {
                Ok(())
            } else {
                Err(Error::NotRunning(rec.id.clone()))
            };
        }
        match sys::pidfd_send_signal(&pidfd, signal) {
            Ok(()) => Ok(()),
            Err(nix::errno::Errno::ESRCH) if all => Ok(()),
            Err(nix::errno::Errno::ESRCH) => Err(Error::NotRunning(rec.id.clone())),
            Err(e) => Err(Error::sys(
                format!("send signal {signal} to pid {}", rec.pid),
                e,
            )),
        }
    }

    /// Delete container `id`: a stopped one is removed; a created one is killed first; a running
    /// or paused one only with `force`. With `force`, an unknown id is not an error. What a
    /// `create` that died before recording its container made (its cgroup) is removed too.
    ///
    /// ```no_run
    /// use runtime_core::DeleteOptions;
    /// runtime_core::Runtime::new("/run/baleia").delete("web", &DeleteOptions::new().force(true))?;
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn delete(&self, id: &str, opts: &DeleteOptions) -> Result<()> {
        self.remove(id, opts.force)
    }

    fn remove(&self, id: &str, force: bool) -> Result<()> {
        state::validate_id(id)?;
        let lock = match self.store.lock(id) {
            Ok(l) => l,
            Err(Error::NotExist(_)) if force => return Ok(()),
            Err(e) => return Err(e),
        };
        let rec = match self.store.load(id)? {
            Some(r) => r,
            // We hold the lock, so no create is running: this is what a crashed create left.
            None => {
                if let Some(intent) = self.store.load_intent(id)? {
                    undo_intent(&intent)?;
                }
                drop(lock);
                return self.store.remove(id);
            }
        };
        let status = derive_status(&self.store, &rec);
        if force || matches!(status, Status::Stopped | Status::Created | Status::Creating) {
            self.restore_net_devices(&rec, status);
        }
        match status {
            Status::Stopped => {}
            Status::Created | Status::Creating => self.kill_and_wait(&rec)?,
            Status::Running | Status::Paused if force => self.kill_and_wait(&rec)?,
            other => {
                return Err(Error::InvalidState(format!(
                    "cannot delete container {id} that is not stopped: container is {other}"
                )))
            }
        }
        let cgroup = cgroups::manager(&rec.cgroup_paths);
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
                &record_hook_state(&rec, "stopped", 0),
                &rec.bundle,
            ) {
                log::warn!("{e}");
            }
        }
        drop(lock);
        self.store.remove(id)
    }

    /// linux.netDevices go back to the runtime's namespace before the container's ends: runc
    /// only logs a failure, and so do we (the deletion goes on).
    fn restore_net_devices(&self, rec: &Record, status: Status) {
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

    fn kill_and_wait(&self, rec: &Record) -> Result<()> {
        let cgroup = cgroups::manager(&rec.cgroup_paths);
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

    /// Run container `id` attached: create, start, forward signals, wait, delete. Returns the
    /// exit status runc's `run` would exit with (the init's status, or 128+n when killed by n).
    ///
    /// ```no_run
    /// runtime_core::protect_binary()?;
    /// let rt = runtime_core::Runtime::new("/run/baleia");
    /// let status = rt.run("job", &runtime_core::CreateOptions::new("/srv/bundles/job"))?;
    /// std::process::exit(status);
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn run(&self, id: &str, opts: &CreateOptions) -> Result<i32> {
        self.run_with(id, opts, false)
    }

    /// [`run`](Runtime::run); with `keep` (runc's `run --keep`) the stopped container stays,
    /// for `state` and `delete` later.
    pub fn run_with(&self, id: &str, opts: &CreateOptions, keep: bool) -> Result<i32> {
        let forwarded = signal::block_forwarded()?;
        let pid = match self.create(id, opts) {
            Ok(pid) => pid,
            Err(e) => {
                let _ = signal::restore(&forwarded);
                return Err(e);
            }
        };
        if let Err(e) = self.start(id) {
            let _ = self.remove(id, true);
            let _ = signal::restore(&forwarded);
            return Err(e);
        }
        let status = signal::forward_until_exit(pid, &forwarded);
        if !keep {
            let _ = self.remove(id, true);
        }
        let _ = signal::restore(&forwarded);
        status
    }

    /// A record of a container whose init is alive (created, running or paused).
    fn live_record(&self, id: &str) -> Result<(Record, Status)> {
        let rec = self.record(id)?;
        match derive_status(&self.store, &rec) {
            Status::Stopped => Err(Error::NotRunning(id.into())),
            s => Ok((rec, s)),
        }
    }

    /// Freeze every process of a running container.
    ///
    /// ```no_run
    /// runtime_core::Runtime::new("/run/baleia").pause("web")?;
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn pause(&self, id: &str) -> Result<()> {
        let _lock = self.store.lock(id)?;
        let (rec, status) = self.live_record(id)?;
        match status {
            Status::Running => Ok(cgroups::manager(&rec.cgroup_paths).freeze()?),
            Status::Paused => Err(Error::Paused(id.into())),
            _ => Err(Error::NotRunning(id.into())),
        }
    }

    /// Thaw a paused container.
    ///
    /// ```no_run
    /// runtime_core::Runtime::new("/run/baleia").resume("web")?;
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn resume(&self, id: &str) -> Result<()> {
        let _lock = self.store.lock(id)?;
        let (rec, status) = self.live_record(id)?;
        match status {
            Status::Paused => Ok(cgroups::manager(&rec.cgroup_paths).thaw()?),
            _ => Err(Error::InvalidState("container not paused".into())),
        }
    }

    /// Host pids of every process in the container's cgroup.
    ///
    /// ```no_run
    /// println!("{:?}", runtime_core::Runtime::new("/run/baleia").pids("web")?);
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        let rec = self.record(id)?;
        Ok(cgroups::manager(&rec.cgroup_paths).pids()?)
    }

    /// Change the resource limits of a live container; fields left out stay as they are.
    ///
    /// ```no_run
    /// let r: oci_spec::runtime::LinuxResources =
    ///     serde_json::from_str(r#"{"pids": {"limit": 100}}"#).unwrap();
    /// runtime_core::Runtime::new("/run/baleia").update("web", &r)?;
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn update(&self, id: &str, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        let _lock = self.store.lock(id)?;
        let (rec, _) = self.live_record(id)?;
        cgroups::validate_resources(resources)?;
        Ok(cgroups::manager(&rec.cgroup_paths).update(resources)?)
    }

    /// New Intel RDT schema lines for a live container's own resctrl group (runc's `update
    /// --l3-cache-schema/--mem-bw-schema`).
    pub fn update_intel_rdt(&self, id: &str, lines: &[String]) -> Result<()> {
        let _lock = self.store.lock(id)?;
        let (rec, _) = self.live_record(id)?;
        match &rec.intel_rdt {
            Some(g) => g.update(lines),
            None => Err(Error::Other(format!(
                "container {id} has no linux.intelRdt: Intel RDT is not enabled for it"
            ))),
        }
    }

    /// Resource usage of a live container, as `events --stats` reports it.
    ///
    /// ```no_run
    /// let s = runtime_core::Runtime::new("/run/baleia").stats("web")?;
    /// println!("{}", serde_json::to_string(&s).unwrap());
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn stats(&self, id: &str) -> Result<cgroups::Stats> {
        let (rec, _) = self.live_record(id)?;
        let mut stats = cgroups::manager(&rec.cgroup_paths).stats()?;
        // A container without a network namespace of its own has no interfaces to report.
        stats.network_interfaces = cgroups::network_interfaces(rec.pid).unwrap_or_default();
        Ok(stats)
    }

    /// Watch container `id`'s cgroup for OOM kills, as `events` reports them; `None` when the
    /// host has no memory cgroup to watch.
    ///
    /// ```no_run
    /// let rt = runtime_core::Runtime::new("/run/baleia");
    /// if let Some(mut w) = rt.watch_oom("web").unwrap() {
    ///     let ev = w.wait(std::time::Duration::from_secs(1)).unwrap();
    ///     println!("{ev:?}");
    /// }
    /// ```
    pub fn watch_oom(&self, id: &str) -> Result<Option<cgroups::OomWatcher>> {
        let (rec, _) = self.live_record(id)?;
        Ok(cgroups::OomWatcher::new(&rec.cgroup_paths)?)
    }

    /// Whether container `id` still exists under the root (in any state).
    ///
    /// ```no_run
    /// assert!(!runtime_core::Runtime::new("/run/baleia").exists("never-made"));
    /// ```
    pub fn exists(&self, id: &str) -> bool {
        state::validate_id(id).is_ok() && self.store.dir(id).is_dir()
    }

    /// Run a new process in container `id` (runc's `exec`). Detached, returns its host pid;
    /// attached, forwards signals to it and returns its exit status.
    ///
    /// Refused until the program has called [`protect_binary`].
    ///
    /// ```no_run
    /// runtime_core::protect_binary()?;
    /// let rt = runtime_core::Runtime::new("/run/baleia");
    /// let mut p = rt.spec_process("web")?;
    /// p.set_args(Some(vec!["true".into()]));
    /// let status = rt.exec("web", &runtime_core::ExecOptions::new(p))?;
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn exec(&self, id: &str, opts: &ExecOptions) -> Result<i32> {
        selfexe::require_protection()?;
        let rec = self.record(id)?;
        match derive_status(&self.store, &rec) {
            Status::Stopped => Err(Error::InvalidState(
                "cannot exec in a stopped container".into(),
            )),
            // runc's words; --ignore-paused lets the process join the frozen cgroup and run
            // once thawed.
            Status::Paused if !opts.ignore_paused => Err(Error::InvalidState(
                "cannot exec in a paused container (use --ignore-paused to override)".into(),
            )),
            _ => exec::exec(&rec, opts, self.store.root()),
        }
    }

    /// The process section of the container's spec, the base `exec` with a command line
    /// builds on (env, cwd, user, capabilities...).
    ///
    /// ```no_run
    /// let p = runtime_core::Runtime::new("/run/baleia").spec_process("web")?;
    /// println!("{:?}", p.args());
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn spec_process(&self, id: &str) -> Result<oci_spec::runtime::Process> {
        Ok(self.record(id)?.process.unwrap_or_default())
    }

    /// Create and start container `id` and return at once (`run --detach`).
    ///
    /// ```no_run
    /// runtime_core::protect_binary()?;
    /// let rt = runtime_core::Runtime::new("/run/baleia");
    /// let pid = rt.run_detached("web", &runtime_core::CreateOptions::new("/srv/bundles/web"))?;
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn run_detached(&self, id: &str, opts: &CreateOptions) -> Result<i32> {
        let pid = self.create(id, opts)?;
        if let Err(e) = self.start(id) {
            let _ = self.remove(id, true);
            return Err(e);
        }
        Ok(pid)
    }
}

/// Remove the container's cgroup. With `killed_all`, everything in it was just killed and
/// destroy waits for the dying processes. Otherwise ours are gone, and any process left
/// belongs to another container sharing the cgroupsPath: the cgroup is theirs too and stays,
/// as runc leaves it.
fn remove_cgroup_unless_shared(cgroup: &dyn CgroupManager, killed_all: bool) -> Result<()> {
    if killed_all || cgroup.pids().map(|p| p.is_empty()).unwrap_or(true) {
        cgroup.destroy()?;
    }
    Ok(())
}

fn names_cgroup(spec: &oci_spec::runtime::Spec) -> bool {
    spec.linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .is_some_and(|p| !p.as_os_str().is_empty())
}

/// The first resource limit the spec asks for (the device rules aside: in a user namespace
/// devices cannot be made anyway), if any.
fn limits_asked(spec: &oci_spec::runtime::Spec) -> Option<String> {
    let r = spec.linux().as_ref()?.resources().as_ref()?;
    let value = serde_json::to_value(r).ok()?;
    value
        .as_object()?
        .iter()
        .find(|(k, v)| k.as_str() != "devices" && !v.is_null())
        .map(|(k, _)| k.clone())
}

/// Undo what a `create` that died before recording its container made: its cgroup. The init
/// it may have spawned exits by itself once its create is gone (see `process::ReadyInit`):
/// give it a moment to leave the cgroup. A cgroup that existed before, or that still has
/// processes after that, is shared with another container and stays, as in `delete`.
fn undo_intent(intent: &Intent) -> Result<()> {
    let cgroup = cgroups::manager(&intent.cgroup_paths);
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
