//! `create`: a container from a bundle, its init set up and blocked on the exec fifo until
//! `start`. Everything that can be refused (the spec, the seccomp profile, the cgroup, the
//! devices) is checked before anything exists; from the state directory on, whatever is made is
//! undone on failure, or named in the intent so that `delete --force` undoes it after a crash.

use std::path::PathBuf;
use std::time::Duration;

use super::delete;
use crate::cgroups::{self, Cgroup, CgroupManager};
use crate::error::{Error, Result};
use crate::spec::Bundle;
use crate::state::{self, Intent, Record};
use crate::{
    console, container, hooks, intel_rdt, namespaces, netdev, process, seccomp, selfexe, time,
    Runtime,
};

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
    /// The systemd cgroup driver (runc's `--systemd-cgroup`): the container goes into a
    /// transient scope that systemd makes, named by a `slice:prefix:name` cgroupsPath.
    pub systemd_cgroup: bool,
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

pub(crate) fn create(rt: &Runtime, id: &str, opts: &CreateOptions) -> Result<i32> {
    create_record(rt, id, opts, true).map(|(rec, _lock)| rec.pid)
}

/// `create`, returning the record it saved and the container's lock, still held: `run` starts
/// from them instead of locking again and reading the record back. Without `exec_fifo` (`run`)
/// the init does not wait for `start` once released: it goes on to execve.
pub(crate) fn create_record(
    rt: &Runtime,
    id: &str,
    opts: &CreateOptions,
    exec_fifo: bool,
) -> Result<(Record, state::Lock)> {
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
        container::check_console(p, opts.console_socket.as_deref())?;
    }
    // Made on a thread while the rest of create (seccomp, the cgroup, the state directory, the
    // init's plan) goes on: see NetnsAhead.
    let netns = namespaces::NetnsAhead::start(&bundle.spec);
    let seccomp = match bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.seccomp().as_ref())
    {
        Some(profile) => Some(seccomp::compile_cached(profile, rt.store.root())?),
        None => None,
    };
    let cgroups_path = bundle
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.cgroups_path().as_ref())
        .map(|p| p.to_string_lossy().into_owned());
    let placement = if opts.systemd_cgroup {
        Cgroup::systemd(cgroups_path.as_deref(), id)?
    } else {
        Cgroup::resolve(cgroups_path.as_deref(), id)?
    };
    // Now, so that bad org.systemd.property annotations fail before anything exists.
    let creating = cgroups::Creating::new(
        &placement,
        id,
        bundle
            .spec
            .annotations()
            .as_ref()
            .unwrap_or(&Default::default()),
    )?;
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
    let cgroup = cgroups::manager(&placement, Some(&creating));
    cgroup.refuse_frozen()?;
    let lock = rt.store.reserve(id)?;
    // Said before the cgroup is made, so that a create killed from here on leaves a state
    // directory that names everything delete has to undo.
    let intent = Intent {
        cgroup: placement.clone(),
        cgroup_existed: placement.exists(),
    };
    let made = rt.store.save_intent(id, &intent).and_then(|()| {
        create_locked(
            rt,
            id,
            opts,
            &bundle,
            &placement,
            cgroup.as_ref(),
            resources.as_ref(),
            (seccomp, rdt.as_ref()),
            &net_devices,
            exec_fifo,
            netns,
        )
    });
    match made {
        Ok(rec) => Ok((rec, lock)),
        Err(e) => {
            // Not kill_all: the cgroup may be shared with other containers (a cgroupsPath is
            // not exclusive); our own init is already dead.
            let _ = delete::remove_cgroup_unless_shared(cgroup.as_ref(), false);
            let _ = rt.store.remove(id);
            drop(lock);
            Err(e)
        }
    }
}

#[allow(clippy::too_many_arguments)]
fn create_locked(
    rt: &Runtime,
    id: &str,
    opts: &CreateOptions,
    bundle: &Bundle,
    placement: &Cgroup,
    cgroup: &dyn CgroupManager,
    resources: Option<&oci_spec::runtime::LinuxResources>,
    (seccomp, rdt): (Option<seccomp::Program>, Option<&intel_rdt::Plan>),
    net_devices: &[netdev::Device],
    exec_fifo: bool,
    netns: Option<namespaces::NetnsAhead>,
) -> Result<Record> {
    let created = time::rfc3339_now();
    let state_dir = rt.store.dir(id);
    let none = Cgroup::none();
    let no_cgroup;
    let make_cgroup = || -> Result<()> {
        cgroup.create()?;
        if let Some(r) = resources {
            cgroup.apply_resources(r)?;
        }
        Ok(())
    };
    // Rootless, a cgroup we may not make is done without, which is known before the init
    // exists; otherwise spawn_init makes it (while the init makes its namespaces, on v1).
    let (placement, cgroup, make_cgroup) = if !opts.rootless {
        (
            placement,
            cgroup,
            Some(&make_cgroup as &dyn Fn() -> Result<()>),
        )
    } else {
        match cgroup.create() {
            Ok(()) => {
                if let Some(r) = resources {
                    cgroup.apply_resources(r)?;
                }
                (placement, cgroup, None)
            }
            // As runc: only the default cgroup may be done without; one the spec names is
            // wanted, and not having it is an error.
            Err(e) if e.is_permission() && !names_cgroup(&bundle.spec) => {
                let _ = delete::remove_cgroup_unless_shared(cgroup, false);
                if let Some(field) = limits_asked(&bundle.spec) {
                    return Err(Error::Other(format!(
                        "rootless: linux.resources.{field} needs a cgroup, and {e}"
                    )));
                }
                // A warning, so that it is in the log at the default level: a user who
                // expected limits or stats learns why there are none.
                log::warn!("rootless: the container runs without a cgroup ({e})");
                no_cgroup = cgroups::manager(&none, None);
                (&none, no_cgroup.as_ref(), None)
            }
            Err(e) => return Err(e.into()),
        }
    };
    let console = match opts.console_socket.as_deref() {
        Some(path) => Some(console::connect(path)?),
        None => None,
    };
    let pidfd_sock = opts
        .pidfd_socket
        .as_deref()
        .map(container::connect_pidfd_socket)
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
        cgroup_paths: &placement.paths,
        cgroup,
        seccomp,
        net_devices,
        make_cgroup,
        exec_fifo,
        netns,
    };
    let hooks = bundle.spec.hooks().as_ref();
    let annotations = bundle.spec.annotations().clone().unwrap_or_default();
    let run_hooks = |pid: i32| -> Result<()> {
        let st = hooks::state_json(id, "creating", pid, &bundle.dir, &annotations);
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
        .map_or(Ok(()), |s| container::send_pidfd(s, pid, "standard"))
        .and_then(|()| {
            // The init waits for release: its group is set before the process runs.
            group = rdt.map(|p| p.apply(pid)).transpose()?;
            let net = netdev::names(net_devices);
            record_created(
                rt,
                id,
                opts,
                bundle,
                placement,
                created,
                pid,
                (group.clone(), net),
            )
        })
        .and_then(|rec| init.release().map(|()| rec));
    if done.is_err() {
        if let Some(g) = &group {
            let _ = g.remove();
        }
    }
    done
}

/// Save the state of a freshly spawned init and write the pid file.
#[allow(clippy::too_many_arguments)]
fn record_created(
    rt: &Runtime,
    id: &str,
    opts: &CreateOptions,
    bundle: &Bundle,
    placement: &Cgroup,
    created: String,
    pid: i32,
    (intel_rdt, net_devices): (Option<intel_rdt::Group>, Vec<(String, String)>),
) -> Result<Record> {
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
        cgroup: placement.clone(),
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
    rt.store.save(&rec)?;
    if let Some(pf) = &opts.pid_file {
        container::write_pid_file(pf, pid)?;
    }
    Ok(rec)
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
