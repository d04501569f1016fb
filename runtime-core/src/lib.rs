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
mod container;
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

use std::path::{Path, PathBuf};

pub use child::in_container_child;
pub use container::create::{rootless_by_default, CreateOptions};
pub use container::delete::DeleteOptions;
pub use container::list::ContainerState;
pub use error::{Error, ErrorKind, Result};
pub use exec::ExecOptions;
pub use selfexe::{protect_binary, protection, Protection};
pub use signal::ExitStatus;
pub use state::Status;

/// A handle on a state root: every container operation goes through it.
///
/// ```no_run
/// let rt = runtime_core::Runtime::new("/run/baleia");
/// for c in rt.list().unwrap() { println!("{} {}", c.id, c.status); }
/// ```
#[derive(Debug, Clone)]
pub struct Runtime {
    store: state::Store,
}

impl Runtime {
    /// A runtime whose containers live under `root` (created on first use).
    ///
    /// ```
    /// let rt = runtime_core::Runtime::new("/run/baleia");
    /// assert_eq!(rt.root(), std::path::Path::new("/run/baleia"));
    /// ```
    pub fn new(root: impl Into<PathBuf>) -> Runtime {
        Runtime {
            store: state::Store::new(root),
        }
    }

    /// The state root (see [`new`](Runtime::new) for an example).
    pub fn root(&self) -> &Path {
        self.store.root()
    }

    /// Create container `id` from a bundle; the init is set up and waits for
    /// [`start`](Runtime::start). Returns its host pid. A failure leaves nothing behind; a
    /// `create` killed half-way leaves what `delete` with `force` undoes. Refused until the
    /// program has called [`protect_binary`].
    ///
    /// ```no_run
    /// runtime_core::protect_binary()?;
    /// let rt = runtime_core::Runtime::new("/run/baleia");
    /// let pid = rt.create("web", &runtime_core::CreateOptions::new("/srv/bundles/web"))?;
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn create(&self, id: &str, opts: &CreateOptions) -> Result<i32> {
        container::create::create(self, id, opts)
    }

    /// Let a created container's init run the user's process, then run the poststart hooks.
    ///
    /// ```no_run
    /// runtime_core::Runtime::new("/run/baleia").start("web").unwrap();
    /// ```
    pub fn start(&self, id: &str) -> Result<()> {
        container::start::start(self, id)
    }

    /// Create and start container `id`, and return its init's host pid (`run --detach`).
    ///
    /// ```no_run
    /// let opts = runtime_core::CreateOptions::new("/srv/bundles/web");
    /// let pid = runtime_core::Runtime::new("/run/baleia").run_detached("web", &opts).unwrap();
    /// ```
    pub fn run_detached(&self, id: &str, opts: &CreateOptions) -> Result<i32> {
        container::run::run_detached(self, id, opts)
    }

    /// Create, start, forward signals to the init, wait for it, delete: an attached `run`.
    ///
    /// ```no_run
    /// let opts = runtime_core::CreateOptions::new("/srv/bundles/job");
    /// let status = runtime_core::Runtime::new("/run/baleia").run("job", &opts).unwrap();
    /// println!("exit code {:?}, killed by {:?}", status.code(), status.signal());
    /// ```
    pub fn run(&self, id: &str, opts: &CreateOptions) -> Result<ExitStatus> {
        container::run::run(self, id, opts, false)
    }

    /// [`run`](Runtime::run) (and its example); with `keep` (runc's `run --keep`) the stopped
    /// container stays.
    pub fn run_with(&self, id: &str, opts: &CreateOptions, keep: bool) -> Result<ExitStatus> {
        container::run::run(self, id, opts, keep)
    }

    /// The state of container `id`.
    ///
    /// ```no_run
    /// let s = runtime_core::Runtime::new("/run/baleia").state("web").unwrap();
    /// println!("{} is {} (pid {})", s.id, s.status, s.pid);
    /// ```
    pub fn state(&self, id: &str) -> Result<ContainerState> {
        container::list::state(self, id)
    }

    /// Every container under the root, sorted by id (see [`Runtime`] for an example).
    pub fn list(&self) -> Result<Vec<ContainerState>> {
        container::list::list(self)
    }

    /// Whether container `id` still exists under the root (in any state).
    ///
    /// ```no_run
    /// assert!(!runtime_core::Runtime::new("/run/baleia").exists("never-made"));
    /// ```
    pub fn exists(&self, id: &str) -> bool {
        state::validate_id(id).is_ok() && self.store.dir(id).is_dir()
    }

    /// Send `signal` to the container's init, or with `all` to every process of its cgroup
    /// (then a stopped container is no error: its init's children may remain). 0 only checks.
    ///
    /// ```no_run
    /// use runtime_core::{signal::Signal, Runtime};
    /// Runtime::new("/run/baleia").kill("web", Signal::TERM, false).unwrap();
    /// ```
    pub fn kill(&self, id: &str, signal: signal::Signal, all: bool) -> Result<()> {
        container::kill::kill(self, id, signal, all)
    }

    /// Delete container `id`: a stopped or created one (killed first), a running or paused one
    /// with `force` only (which takes an unknown id as deleted), what a crashed `create` left.
    ///
    /// ```no_run
    /// use runtime_core::{DeleteOptions, Runtime};
    /// Runtime::new("/run/baleia").delete("web", &DeleteOptions::new().force(true)).unwrap();
    /// ```
    pub fn delete(&self, id: &str, opts: &DeleteOptions) -> Result<()> {
        container::delete::delete(self, id, opts.force)
    }

    /// Run a new process in container `id` (runc's `exec`). Detached, returns its host pid;
    /// attached, forwards signals to it and returns its exit status. Refused until the
    /// program has called [`protect_binary`].
    ///
    /// ```no_run
    /// let rt = runtime_core::Runtime::new("/run/baleia");
    /// let mut p = rt.spec_process("web")?; // the container's env, cwd, user...
    /// p.set_args(Some(vec!["true".into()]));
    /// let status = rt.exec("web", &runtime_core::ExecOptions::new(p))?;
    /// # Ok::<(), runtime_core::Error>(())
    /// ```
    pub fn exec(&self, id: &str, opts: &ExecOptions) -> Result<i32> {
        container::exec::exec(self, id, opts)
    }

    /// The process of the container's spec, the base of an [`exec`](Runtime::exec)'s.
    pub fn spec_process(&self, id: &str) -> Result<oci_spec::runtime::Process> {
        Ok(self.record(id)?.process.unwrap_or_default())
    }

    /// Freeze every process of a running container.
    ///
    /// ```no_run
    /// runtime_core::Runtime::new("/run/baleia").pause("web").unwrap();
    /// ```
    pub fn pause(&self, id: &str) -> Result<()> {
        container::pause::pause(self, id)
    }

    /// Thaw a paused container (see [`pause`](Runtime::pause) for an example).
    pub fn resume(&self, id: &str) -> Result<()> {
        container::pause::resume(self, id)
    }

    /// Host pids of every process in the container's cgroup (`ps`).
    ///
    /// ```no_run
    /// println!("{:?}", runtime_core::Runtime::new("/run/baleia").pids("web").unwrap());
    /// ```
    pub fn pids(&self, id: &str) -> Result<Vec<i32>> {
        container::ps::pids(self, id)
    }

    /// Change the resource limits of a live container; fields left out stay as they are.
    ///
    /// ```no_run
    /// let r = serde_json::from_str(r#"{"pids": {"limit": 100}}"#).unwrap();
    /// runtime_core::Runtime::new("/run/baleia").update("web", &r).unwrap();
    /// ```
    pub fn update(&self, id: &str, resources: &oci_spec::runtime::LinuxResources) -> Result<()> {
        container::update::update(self, id, resources)
    }

    /// New Intel RDT schema lines (`["L3:0=ff"]`) for a live container's own resctrl group
    /// (runc's `update --l3-cache-schema/--mem-bw-schema`).
    pub fn update_intel_rdt(&self, id: &str, lines: &[String]) -> Result<()> {
        container::update::update_intel_rdt(self, id, lines)
    }

    /// Resource usage of a live container, as `events --stats` reports it.
    ///
    /// ```no_run
    /// let s = runtime_core::Runtime::new("/run/baleia").stats("web").unwrap();
    /// println!("{}", serde_json::to_string(&s).unwrap());
    /// ```
    pub fn stats(&self, id: &str) -> Result<cgroups::Stats> {
        container::events::stats(self, id)
    }

    /// Watch container `id`'s cgroup for OOM kills, as `events` reports them; `None` when the
    /// host has no memory cgroup to watch.
    ///
    /// ```no_run
    /// let rt = runtime_core::Runtime::new("/run/baleia");
    /// if let Some(mut w) = rt.watch_oom("web").unwrap() {
    ///     println!("{:?}", w.wait(std::time::Duration::from_secs(1)).unwrap());
    /// }
    /// ```
    pub fn watch_oom(&self, id: &str) -> Result<Option<cgroups::OomWatcher>> {
        container::events::watch_oom(self, id)
    }
}
