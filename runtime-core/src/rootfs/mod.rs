//! The container's filesystem view.
//!
//! The parent turns the spec into a [`RootfsPlan`] of plain data (C strings, flags, mount
//! attributes); the init, in its new mount namespace, carries it out with syscalls only
//! (`apply`): propagation, the rootfs bind, the spec's mounts, /dev, pivot_root (or MS_MOVE +
//! chroot), then sysctls, read-only and masked paths and a read-only root. Every path inside
//! the rootfs is resolved from an fd on it (`resolve`), and every mount is attached to the fd it
//! was resolved to, with the new mount API (open_tree / fsopen + fsmount, mount_setattr,
//! move_mount): a container cannot make us mount over a host path or create files outside its
//! root, whatever it does to its rootfs meanwhile.

mod apply;
mod copy;
pub(crate) mod options;
pub(crate) mod resolve;

use std::ffi::CString;
use std::os::unix::ffi::OsStrExt;
use std::path::{Path, PathBuf};

use nix::mount::MsFlags;
use oci_spec::runtime::{LinuxDeviceType, Mount, Spec};

pub(crate) use apply::{enter, finish, prepare};
use options::{mount_attrs, parse_options, propagation_attr, remount_attrs, superblock_flags};
pub(crate) use options::{propagation_flag, FLAG_OPTIONS, PROPAGATION_OPTIONS};
use resolve::InRoot;

use crate::cgroups::{CgroupPaths, ContainerView};
use crate::error::{absolute, Error, IoContext, Result};

/// The name of a filesystem from its statfs(2) magic, for errors that must say which
/// filesystem refused (syscall-only: the container's child uses it too).
pub(crate) fn fs_name(magic: i64) -> &'static str {
    match magic {
        0x858458f6 => "ramfs",
        0x01021994 => "tmpfs",
        0x9fa0 => "proc",
        0x62656572 => "sysfs",
        0x1cd1 => "devpts",
        0x19800202 => "mqueue",
        0x63677270 => "cgroup2",
        0x0027e0eb => "cgroup",
        0x794c7630 => "overlay",
        0xef53 => "ext4",
        0x58465342 => "xfs",
        0x9123683e => "btrfs",
        0x6969 => "nfs",
        0x65735546 => "fuse",
        0x73717368 => "squashfs",
        0x01021997 => "9p",
        0x4d44 => "vfat",
        0xf2f52010 => "f2fs",
        _ => "unknown",
    }
}

fn cstring(s: impl AsRef<[u8]>, what: &str) -> Result<CString> {
    CString::new(s.as_ref()).map_err(|_| Error::Spec(format!("{what} contains a NUL byte")))
}

pub(crate) fn path_cstring(p: &Path) -> Result<CString> {
    cstring(p.as_os_str().as_bytes(), &format!("path {}", p.display()))
}

/// A filesystem parameter for fsconfig.
#[derive(Debug)]
pub(crate) enum Param {
    /// A flag (`ro`, `newinstance`).
    Flag(CString),
    /// `key=value`.
    Str(CString, CString),
}

/// Where a mount comes from.
#[derive(Debug)]
pub(crate) enum Source {
    /// A bind of a host path (its own mount tree with `recursive`).
    Bind { path: CString, recursive: bool },
    /// A new instance of a filesystem.
    Fs {
        fstype: CString,
        source: CString,
        params: Vec<Param>,
        /// sysfs refused without a network namespace of our own: runc then binds the host's.
        sysfs_fallback: bool,
    },
    /// runc's "cgroup" mount: the container's own cgroup directories, bound from the host.
    Cgroup {
        /// The cgroup2 directory when it is the only hierarchy.
        unified: Option<CString>,
        /// (host directory, subdirectory of the tmpfs) on a v1 or hybrid host.
        v1: Vec<(CString, CString)>,
    },
}

/// One mount of the spec, ready to be carried out.
#[derive(Debug)]
pub(crate) struct MountStep {
    pub dest: InRoot,
    /// The target is a directory (a bind of a file needs a file).
    pub dir: bool,
    pub source: Source,
    /// Mount attributes: of a new filesystem, or what a bind changes (set, clear).
    pub set: u64,
    pub clr: u64,
    pub propagation: Vec<(u64, bool)>,
    pub copy_up: bool,
    /// proc and sysfs must land on a real directory, never through a symlink.
    pub ordinary_dir: Option<&'static str>,
    /// /dev with "ro": mounted read-write, made read-only once its content exists.
    pub read_only_later: bool,
    /// The recursive options: attributes set and cleared on the whole tree.
    pub rec_set: u64,
    pub rec_clr: u64,
    /// An id-mapped mount: its maps, and the user namespace holding them (made by the
    /// parent before the clone).
    pub idmap: Option<Idmap>,
    /// An id-mapped bind, made by the parent: only a process privileged over the source's
    /// filesystem (on the host) may id-map it, so the init only attaches it.
    pub prepared: Option<std::os::fd::OwnedFd>,
    /// "mount tmpfs on /dev/shm", for messages.
    pub what: String,
}

/// The container's namespaces, as far as its filesystem view cares.
pub(crate) struct NsView<'a> {
    /// A mount namespace of its own.
    pub mount: bool,
    /// A user namespace of its own (new or joined).
    pub user: bool,
    /// A new user namespace's uid_map and gid_map text.
    pub maps: Option<(&'a str, &'a str)>,
}

/// The id mapping of a mount.
#[derive(Debug)]
pub(crate) struct Idmap {
    pub uid_map: String,
    pub gid_map: String,
    /// `ridmap`: every mount of the tree, not only its top.
    pub recursive: bool,
    /// A user namespace with those maps (see `namespaces::userns_with_maps`).
    pub userns: Option<std::os::fd::OwnedFd>,
}

/// A device node to make.
#[derive(Debug)]
pub(crate) struct DevNode {
    pub path: InRoot,
    /// The node's name when it sits right in /dev (most do): made through one fd on /dev.
    pub in_dev: Option<CString>,
    /// The same device on the host, bound instead of made where mknod is not allowed (in a
    /// user namespace).
    pub host: CString,
    pub mode: u32,
    pub rdev: u64,
    pub uid: u32,
    pub gid: u32,
}

/// A sysctl to write after the pivot.
#[derive(Debug)]
pub(crate) struct Sysctl {
    pub key: String,
    /// "/proc/sys/net/ipv4/ip_forward", for messages.
    pub shown: String,
    pub rel: CString,
    pub value: CString,
}

/// Everything the init needs to build the container's filesystem view.
#[derive(Debug)]
pub(crate) struct RootfsPlan {
    /// The container has a mount namespace of its own; without one (runc allows it when no
    /// mount needs one) the rootfs is only chrooted into.
    pub mount_ns: bool,
    pub rootfs: CString,
    pub rootfs_shown: PathBuf,
    /// Propagation of `/` while mounts are set up (MS_* bits for mount(2)).
    pub setup_propagation: libc::c_ulong,
    /// The mount to make private so that pivot_root accepts the new root.
    pub private_parent: Option<CString>,
    /// A tmpfs on /dev when the spec mounts none.
    pub default_dev: bool,
    pub dev: InRoot,
    pub mounts: Vec<MountStep>,
    /// Device nodes, unless /dev is bound from the host.
    pub nodes: Vec<DevNode>,
    /// Symlinks in /dev: (target, name).
    pub dev_links: DevLinks,
    pub make_dev: bool,
    pub cwd: Option<InRoot>,
    pub no_pivot: bool,
    /// With --no-pivot, the host's procfs and sysfs mounts to detach before the chroot.
    pub host_proc_sys: Vec<CString>,
    /// The spec's rootfsPropagation, applied to `/` after the pivot.
    pub final_propagation: Option<libc::c_ulong>,
    pub sysctls: Vec<Sysctl>,
    pub readonly: Vec<InRoot>,
    pub masked: Vec<InRoot>,
    pub readonly_root: bool,
    /// The container has a user namespace of its own: devices are bound from the host, and
    /// binds keep the flags the kernel locks on them.
    pub userns: bool,
    /// Who the child is when it makes the device nodes (without a user namespace: us), so
    /// that a node already made with the spec's owner is not chowned to it again.
    pub creator: (u32, u32),
}

/// The devices every container gets (runc's list), unless the spec defines the same path.
const DEFAULT_DEVICES: [(&str, u64, u64); 6] = [
    ("/dev/null", 1, 3),
    ("/dev/zero", 1, 5),
    ("/dev/full", 1, 7),
    ("/dev/random", 1, 8),
    ("/dev/urandom", 1, 9),
    ("/dev/tty", 5, 0),
];

impl RootfsPlan {
    /// Make what the id-mapped mounts need, in the parent before the clone: a user namespace
    /// per mapping and, for a bind, the whole id-mapped detached mount (its flags and
    /// recursive options applied: the init could not change a mount the host owns).
    pub(crate) fn prepare_idmapped_mounts(&mut self) -> Result<()> {
        use std::os::fd::AsRawFd;
        for m in &mut self.mounts {
            let Some(idmap) = &mut m.idmap else { continue };
            let userns = crate::namespaces::userns_with_maps(&idmap.uid_map, &idmap.gid_map)
                .map_err(|e| Error::Other(format!("{}: {e}", m.what)))?;
            let Source::Bind { path, recursive } = &m.source else {
                idmap.userns = Some(userns);
                continue;
            };
            let what = &m.what;
            let mut flags = crate::sys::OPEN_TREE_CLONE;
            if *recursive {
                flags |= crate::sys::AT_RECURSIVE;
            }
            let tree = crate::sys::open_tree(crate::sys::CWD, path, flags)
                .map_err(|e| Error::sys(format!("{what}: bind {path:?}"), e))?;
            let t = tree.as_raw_fd();
            if m.set | m.clr != 0 {
                crate::sys::mount_setattr(t, false, m.set, m.clr, 0)
                    .map_err(|e| Error::sys(format!("{what}: set the bind's flags"), e))?;
            }
            crate::sys::mount_setattr_idmap(t, idmap.recursive, userns.as_raw_fd()).map_err(|e| {
                let fs = nix::sys::statfs::fstatfs(&tree)
                    .map(|s| {
                        let m = s.filesystem_type().0;
                        format!("{} ({m:#x})", fs_name(m))
                    })
                    .unwrap_or_else(|_| "?".into());
                Error::sys(
                    format!("{what}: make it id-mapped (the filesystem, {fs}, may not support idmapped mounts)"),
                    e,
                )
            })?;
            if m.rec_set | m.rec_clr != 0 {
                crate::sys::mount_setattr(t, true, m.rec_set, m.rec_clr, 0)
                    .map_err(|e| Error::sys(format!("{what}: apply the recursive options"), e))?;
            }
            m.prepared = Some(tree);
        }
        Ok(())
    }

    /// Move every fd of the plan (the id-mapping user namespaces) to at least `min`.
    pub(crate) fn move_fds_above(
        &mut self,
        min: std::os::fd::RawFd,
    ) -> Result<Vec<std::os::fd::RawFd>> {
        use std::os::fd::AsRawFd;
        let mut fds = Vec::new();
        for m in &mut self.mounts {
            let userns = m.idmap.as_mut().and_then(|i| i.userns.as_mut());
            for fd in userns.into_iter().chain(m.prepared.as_mut()) {
                if fd.as_raw_fd() < min {
                    *fd = crate::sys::dup_at_least(fd.as_raw_fd(), min)
                        .map_err(|e| Error::sys("move an id-mapped mount's fd", e))?;
                }
                fds.push(fd.as_raw_fd());
            }
        }
        Ok(fds)
    }

    /// Prepare the filesystem view of `spec` (bundle at `bundle`, rootfs at `rootfs`).
    pub(crate) fn new(
        spec: &Spec,
        bundle: &Path,
        rootfs: &Path,
        no_pivot: bool,
        cgroup_paths: &CgroupPaths,
        ns: NsView,
    ) -> Result<RootfsPlan> {
        let NsView {
            mount: mount_ns,
            user: userns,
            maps: container_maps,
        } = ns;
        let linux = spec.linux().as_ref();
        if !mount_ns {
            no_mount_namespace_allows(spec)?;
        }
        let spec_propagation = linux
            .and_then(|l| l.rootfs_propagation().as_deref())
            .and_then(propagation_flag);
        // Our mounts must not propagate to the host while we set up (nor the host's teardown
        // reach us). A shared root keeps its peer group so that the spec's propagation holds;
        // an unbindable one is only made so after the pivot, as the rootfs is bound first.
        let setup = match spec_propagation {
            Some(p) if p.contains(MsFlags::MS_SHARED) => p,
            _ => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        };
        let mountinfo = if setup.contains(MsFlags::MS_SHARED) || no_pivot {
            crate::readfile::read_to_string("/proc/self/mountinfo")
                .at("read", "/proc/self/mountinfo")?
        } else {
            String::new()
        };
        let private_parent = if setup.contains(MsFlags::MS_SHARED) {
            // pivot_root refuses a new root whose parent mount is shared.
            let best = mount_points(&mountinfo)
                .map(|(mp, _)| mp)
                .filter(|mp| rootfs.starts_with(mp))
                .max_by_key(|mp| mp.as_os_str().len())
                .unwrap_or_else(|| PathBuf::from("/"));
            Some(path_cstring(&best)?)
        } else {
            None
        };
        let host_proc_sys = if no_pivot {
            mount_points(&mountinfo)
                .filter(|(mp, fs)| (fs == "proc" || fs == "sysfs") && !mp.starts_with(rootfs))
                .map(|(mp, _)| path_cstring(&mp))
                .collect::<Result<Vec<_>>>()?
        } else {
            Vec::new()
        };

        let mounts: &[Mount] = spec.mounts().as_deref().unwrap_or(&[]);
        let is_dev = |m: &&Mount| m.destination() == Path::new("/dev");
        let dev_mount = mounts.iter().find(is_dev);
        let dev_bound = dev_mount.is_some_and(|m| {
            m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind")
        });
        let steps = mounts
            .iter()
            .map(|m| mount_step(m, bundle, cgroup_paths, userns, container_maps))
            .collect::<Result<Vec<_>>>()?;
        let (nodes, dev_links) = if dev_bound || !mount_ns {
            (Vec::new(), Vec::new())
        } else {
            devices(spec)?
        };
        let cwd = match spec.process() {
            // runc creates a missing cwd (as root, before the root may turn read-only).
            Some(p) => Some(InRoot::new(p.cwd())?),
            None => None,
        };
        let mut sysctls = Vec::new();
        let mut readonly = Vec::new();
        let mut masked = Vec::new();
        if let Some(l) = linux {
            for (key, value) in l.sysctl().iter().flatten() {
                let rel = format!("proc/sys/{}", key.replace('.', "/"));
                sysctls.push(Sysctl {
                    key: key.clone(),
                    shown: format!("/{rel}"),
                    rel: cstring(&rel, "sysctl key")?,
                    value: cstring(value, "sysctl value")?,
                });
            }
            for p in l.readonly_paths().iter().flatten() {
                readonly.push(InRoot::new(Path::new(p))?);
            }
            for p in l.masked_paths().iter().flatten() {
                masked.push(InRoot::new(Path::new(p))?);
            }
        }
        Ok(RootfsPlan {
            mount_ns,
            rootfs: path_cstring(rootfs)?,
            rootfs_shown: rootfs.to_path_buf(),
            setup_propagation: setup.bits() as libc::c_ulong,
            private_parent,
            default_dev: mount_ns && dev_mount.is_none(),
            dev: InRoot::new(Path::new("/dev"))?,
            mounts: steps,
            make_dev: mount_ns && !dev_bound,
            nodes,
            dev_links,
            cwd,
            no_pivot,
            host_proc_sys,
            final_propagation: spec_propagation.map(|p| p.bits() as libc::c_ulong),
            sysctls,
            readonly,
            masked,
            readonly_root: spec.root().as_ref().and_then(|r| r.readonly()) == Some(true),
            userns,
            creator: (
                nix::unistd::geteuid().as_raw(),
                nix::unistd::getegid().as_raw(),
            ),
        })
    }
}

/// Without a mount namespace the container shares the host's mounts: nothing that mounts may
/// run (runc refuses the same).
fn no_mount_namespace_allows(spec: &Spec) -> Result<()> {
    let linux = spec.linux().as_ref();
    let refuse = |what: &str| {
        Err(Error::Spec(format!(
            "{what} needs a mount namespace (linux.namespaces has no \"mount\")"
        )))
    };
    if spec.mounts().as_ref().is_some_and(|m| !m.is_empty()) {
        return refuse("mounts");
    }
    if linux.is_some_and(|l| {
        l.masked_paths().as_ref().is_some_and(|m| !m.is_empty())
            || l.readonly_paths().as_ref().is_some_and(|m| !m.is_empty())
    }) {
        return refuse("linux.maskedPaths and linux.readonlyPaths");
    }
    if linux.is_some_and(|l| l.devices().as_ref().is_some_and(|d| !d.is_empty())) {
        return refuse("linux.devices");
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        return refuse("root.readonly");
    }
    if linux
        .and_then(|l| l.rootfs_propagation().as_ref())
        .is_some()
    {
        return refuse("linux.rootfsPropagation");
    }
    Ok(())
}

/// (mount point, filesystem type) of each line of a mountinfo text.
fn mount_points(info: &str) -> impl Iterator<Item = (PathBuf, String)> + '_ {
    info.lines().filter_map(|l| {
        let mp = l.split(' ').nth(4)?;
        let fstype = l.split(" - ").nth(1)?.split(' ').next()?;
        Some((PathBuf::from(unescape_mountinfo(mp)), fstype.to_string()))
    })
}

/// mountinfo writes space, tab, newline and backslash as `\ooo`.
fn unescape_mountinfo(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let octal = b
            .get(i + 1..i + 4)
            .filter(|d| d.iter().all(|c| (b'0'..=b'7').contains(c)));
        match (b[i], octal) {
            (b'\\', Some(d)) => {
                out.push((d[0] - b'0') * 64 + (d[1] - b'0') * 8 + (d[2] - b'0'));
                i += 4;
            }
            (c, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// The per-mount flags of the mount holding `path`, as mount attributes: in a user namespace
/// they are locked on a bind of it (the kernel refuses to clear them).
fn locked_attrs(path: &Path) -> u64 {
    use nix::sys::statvfs::{statvfs, FsFlags};
    let Ok(st) = statvfs(path) else { return 0 };
    let f = st.flags();
    let mut a = 0;
    for (fs, at) in [
        (FsFlags::ST_RDONLY, crate::sys::attr::RDONLY),
        (FsFlags::ST_NOSUID, crate::sys::attr::NOSUID),
        (FsFlags::ST_NODEV, crate::sys::attr::NODEV),
        (FsFlags::ST_NOEXEC, crate::sys::attr::NOEXEC),
    ] {
        if f.contains(fs) {
            a |= at;
        }
    }
    a
}

/// The id mapping a mount asks for: its own maps, or with `idmap`/`ridmap` and none, the
/// container's user namespace's (runtime-spec 1.2).
fn idmap_of(
    m: &Mount,
    opts: &options::MountOptions,
    container_maps: Option<(&str, &str)>,
    what: &str,
) -> Result<Option<Idmap>> {
    let uid = m.uid_mappings().as_deref().unwrap_or(&[]);
    let gid = m.gid_mappings().as_deref().unwrap_or(&[]);
    if uid.is_empty() && gid.is_empty() && opts.idmap.is_none() {
        return Ok(None);
    }
    let recursive = opts.idmap.unwrap_or(opts.flags.contains(MsFlags::MS_REC));
    let (uid_map, gid_map) = match (uid.is_empty(), gid.is_empty()) {
        (true, true) => match container_maps {
            Some((u, g)) => (u.to_string(), g.to_string()),
            None => {
                return Err(Error::Spec(format!(
                    "{what}: idmap without uidMappings/gidMappings needs a new user namespace to take them from"
                )))
            }
        },
        (false, false) => (
            crate::namespaces::map_text(uid),
            crate::namespaces::map_text(gid),
        ),
        _ => {
            return Err(Error::Spec(format!(
                "{what}: uidMappings and gidMappings must be given together"
            )))
        }
    };
    Ok(Some(Idmap {
        uid_map,
        gid_map,
        recursive,
        userns: None,
    }))
}

fn mount_step(
    m: &Mount,
    bundle: &Path,
    cgroup_paths: &CgroupPaths,
    userns: bool,
    container_maps: Option<(&str, &str)>,
) -> Result<MountStep> {
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]))?;
    let is_bind = typ == "bind" || opts.flags.contains(MsFlags::MS_BIND);
    let what = format!("mount {} on {}", typ, m.destination().display());
    let dest = InRoot::new(m.destination())?;
    let propagation = opts
        .propagation
        .iter()
        .map(|p| propagation_attr(*p))
        .collect();
    let is_dev = m.destination() == Path::new("/dev");
    let mut step = MountStep {
        dest,
        dir: true,
        source: Source::Bind {
            path: CString::default(),
            recursive: false,
        },
        set: 0,
        clr: 0,
        propagation,
        copy_up: false,
        ordinary_dir: None,
        read_only_later: false,
        rec_set: opts.rec_set,
        rec_clr: opts.rec_clr,
        idmap: None,
        prepared: None,
        what,
    };
    step.idmap = idmap_of(m, &opts, container_maps, &step.what)?;
    if is_bind {
        let src = absolute(
            bundle,
            m.source()
                .as_deref()
                .ok_or_else(|| Error::Spec(format!("{}: bind mount without source", step.what)))?,
        );
        let meta = std::fs::metadata(&src).at("bind mount source", &src)?;
        step.dir = meta.is_dir();
        step.source = Source::Bind {
            path: path_cstring(&src)?,
            recursive: opts.flags.contains(MsFlags::MS_REC),
        };
        let rest = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !rest.is_empty() {
            // A bind keeps its source's flags unless told: then they are replaced, as a
            // remount of the bind would.
            (step.set, step.clr) = remount_attrs(rest);
            if userns {
                // Inside a user namespace the source's nosuid/nodev/noexec/ro are locked:
                // keep them rather than fail with EPERM. The atime mode is locked too, so
                // it is left as it is.
                let locked = locked_attrs(&src);
                step.set |= locked;
                step.clr &= !(locked | crate::sys::attr::ATIME_MASK | crate::sys::attr::NODIRATIME);
                step.set &= !(crate::sys::attr::ATIME_MASK | crate::sys::attr::NODIRATIME);
            }
        }
        return Ok(step);
    }
    if typ == "cgroup" || typ == "cgroup2" {
        let (unified, v1) = match cgroup_paths.container_view() {
            ContainerView::Unified(dir) => (Some(path_cstring(dir)?), Vec::new()),
            ContainerView::Hierarchies(dirs) => (
                None,
                dirs.into_iter()
                    .map(|(host, sub)| {
                        Ok((path_cstring(host)?, cstring(sub, "cgroup controller")?))
                    })
                    .collect::<Result<Vec<_>>>()?,
            ),
        };
        (step.set, step.clr) = remount_attrs(opts.flags);
        step.source = Source::Cgroup { unified, v1 };
        return Ok(step);
    }
    if opts.flags.contains(MsFlags::MS_REMOUNT) {
        return Err(Error::Unsupported(format!(
            "{}: the \"remount\" option on a new filesystem",
            step.what
        )));
    }
    if typ.is_empty() {
        return Err(Error::Spec(format!(
            "mount on {}: no type (and not a bind mount)",
            m.destination().display()
        )));
    }
    let mut flags = opts.flags;
    if is_dev && flags.contains(MsFlags::MS_RDONLY) {
        // The devices and the mount points under /dev must be made first.
        flags.remove(MsFlags::MS_RDONLY);
        step.read_only_later = true;
    }
    let mut params = Vec::new();
    for f in superblock_flags(flags) {
        params.push(Param::Flag(cstring(f, "mount option")?));
    }
    for o in opts.data.split(',').filter(|o| !o.is_empty()) {
        params.push(match o.split_once('=') {
            Some((k, v)) => Param::Str(cstring(k, "mount option")?, cstring(v, "mount option")?),
            None => Param::Flag(cstring(o, "mount option")?),
        });
    }
    let source = m.source().as_deref().map(Path::to_path_buf);
    let source = source.unwrap_or_else(|| PathBuf::from(typ));
    step.set = mount_attrs(flags);
    step.copy_up = opts.copy_up && typ == "tmpfs";
    step.ordinary_dir = match typ {
        "proc" => Some("proc"),
        "sysfs" => Some("sysfs"),
        _ => None,
    };
    step.source = Source::Fs {
        fstype: cstring(typ, "mount type")?,
        source: path_cstring(&source)?,
        params,
        sysfs_fallback: typ == "sysfs",
    };
    Ok(step)
}

/// Symlinks to make in /dev: (target, name).
type DevLinks = Vec<(CString, CString)>;

/// The last component of `/dev/<name>`, for a path right in /dev (no `..`, no subdirectory).
fn in_dev(p: &Path) -> Result<Option<CString>> {
    match (p.parent(), p.file_name()) {
        (Some(parent), Some(name)) if parent == Path::new("/dev") => {
            path_cstring(Path::new(name)).map(Some)
        }
        _ => Ok(None),
    }
}

fn devices(spec: &Spec) -> Result<(Vec<DevNode>, DevLinks)> {
    let devs = spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or(&[]);
    let mut nodes = Vec::new();
    for (path, major, minor) in DEFAULT_DEVICES {
        if devs.iter().any(|d| d.path() == Path::new(path)) {
            continue;
        }
        nodes.push(DevNode {
            path: InRoot::new(Path::new(path))?,
            in_dev: in_dev(Path::new(path))?,
            host: path_cstring(Path::new(path))?,
            mode: libc::S_IFCHR | 0o666,
            rdev: libc::makedev(major as u32, minor as u32),
            uid: 0,
            gid: 0,
        });
    }
    for d in devs {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => libc::S_IFCHR,
            LinuxDeviceType::B => libc::S_IFBLK,
            LinuxDeviceType::P => libc::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::Spec(format!(
                    "device {}: type \"a\" is only valid in cgroup rules",
                    d.path().display()
                )))
            }
        };
        nodes.push(DevNode {
            path: InRoot::new(d.path())?,
            in_dev: in_dev(d.path())?,
            host: path_cstring(d.path())?,
            mode: kind | (d.file_mode().unwrap_or(0o666) & 0o7777),
            rdev: libc::makedev(d.major() as u32, d.minor() as u32),
            uid: d.uid().unwrap_or(0),
            gid: d.gid().unwrap_or(0),
        });
    }
    let mut links = vec![
        (c"/proc/self/fd".to_owned(), c"fd".to_owned()),
        (c"/proc/self/fd/0".to_owned(), c"stdin".to_owned()),
        (c"/proc/self/fd/1".to_owned(), c"stdout".to_owned()),
        (c"/proc/self/fd/2".to_owned(), c"stderr".to_owned()),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push((c"/proc/kcore".to_owned(), c"core".to_owned()));
    }
    Ok((nodes, links))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sys::attr;

    #[test]
    fn mountinfo_escapes() {
        assert_eq!(unescape_mountinfo(r"/a\040b"), "/a b");
        assert_eq!(unescape_mountinfo(r"/plain"), "/plain");
        assert_eq!(unescape_mountinfo(r"/end\"), r"/end\");
        let info = "36 35 98:0 / /mnt\\040x rw - proc proc rw\n37 35 0:1 / /sys rw shared:2 - sysfs sysfs rw";
        let v: Vec<_> = mount_points(info).collect();
        assert_eq!(v[0], (PathBuf::from("/mnt x"), "proc".to_string()));
        assert_eq!(v[1], (PathBuf::from("/sys"), "sysfs".to_string()));
    }

    #[test]
    fn a_tmpfs_step_carries_its_parameters() {
        let m: Mount = serde_json::from_value(serde_json::json!({
            "destination": "/dev/shm", "type": "tmpfs", "source": "shm",
            "options": ["nosuid", "noexec", "nodev", "mode=1777", "size=65536k", "ro"]
        }))
        .expect("mount");
        let s =
            mount_step(&m, Path::new("/b"), &CgroupPaths::default(), false, None).expect("step");
        assert_eq!(
            s.set,
            attr::NOSUID | attr::NOEXEC | attr::NODEV | attr::RDONLY
        );
        let Source::Fs { params, .. } = &s.source else {
            panic!("not a filesystem: {s:?}")
        };
        let shown: Vec<String> = params
            .iter()
            .map(|p| match p {
                Param::Flag(f) => f.to_string_lossy().into_owned(),
                Param::Str(k, v) => format!("{}={}", k.to_string_lossy(), v.to_string_lossy()),
            })
            .collect();
        assert_eq!(shown, ["ro", "mode=1777", "size=65536k"]);
    }
}
