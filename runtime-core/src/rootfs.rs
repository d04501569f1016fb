//! The container's filesystem view, built inside its new mount namespace: propagation, the
//! rootfs bind, the spec's mounts, /dev, pivot_root (or MS_MOVE + chroot), then the sysctls,
//! read-only and masked paths and a read-only root.
//!
//! Runs in the container's init, between clone and execve. Every mount target is resolved inside
//! the rootfs without following symlinks out of it (a malicious image must not make us mount
//! over a host path).

use std::collections::VecDeque;
use std::ffi::OsString;
use std::fs;
use std::os::fd::AsRawFd;
use std::os::unix::fs::{symlink, DirBuilderExt, FileTypeExt, MetadataExt, PermissionsExt};
use std::path::{Component, Path, PathBuf};

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{makedev, mknod, Mode, SFlag};
use nix::sys::statvfs::{statvfs, FsFlags};
use oci_spec::runtime::{LinuxDevice, LinuxDeviceType, Mount, Spec};

use crate::cgroups::CgroupPaths;
use crate::error::{absolute, Error, IoContext, Result, SysContext};

/// The `rootfsPropagation` / mount propagation option names and their flags.
pub(crate) fn propagation_flag(name: &str) -> Option<MsFlags> {
    Some(match name {
        "private" => MsFlags::MS_PRIVATE,
        "rprivate" => MsFlags::MS_PRIVATE | MsFlags::MS_REC,
        "shared" => MsFlags::MS_SHARED,
        "rshared" => MsFlags::MS_SHARED | MsFlags::MS_REC,
        "slave" => MsFlags::MS_SLAVE,
        "rslave" => MsFlags::MS_SLAVE | MsFlags::MS_REC,
        "unbindable" => MsFlags::MS_UNBINDABLE,
        "runbindable" => MsFlags::MS_UNBINDABLE | MsFlags::MS_REC,
        _ => return None,
    })
}

/// A mount's options split the way mount(2) wants them.
#[derive(Debug, PartialEq)]
pub(crate) struct MountOptions {
    /// Flags to set.
    pub flags: MsFlags,
    /// Propagation changes, applied one by one after the mount.
    pub propagation: Vec<MsFlags>,
    /// Filesystem-specific options (`size=64k,mode=755`), passed as data.
    pub data: String,
    /// runc's `tmpcopyup`: a tmpfs starts with the content of the directory it covers.
    pub copy_up: bool,
}

/// Options that set (true) or clear (false) a mount flag, as runc names them.
pub(crate) const FLAG_OPTIONS: &[(&str, bool, MsFlags)] = &[
    ("ro", true, MsFlags::MS_RDONLY),
    ("rw", false, MsFlags::MS_RDONLY),
    ("suid", false, MsFlags::MS_NOSUID),
    ("nosuid", true, MsFlags::MS_NOSUID),
    ("dev", false, MsFlags::MS_NODEV),
    ("nodev", true, MsFlags::MS_NODEV),
    ("exec", false, MsFlags::MS_NOEXEC),
    ("noexec", true, MsFlags::MS_NOEXEC),
    ("sync", true, MsFlags::MS_SYNCHRONOUS),
    ("async", false, MsFlags::MS_SYNCHRONOUS),
    ("dirsync", true, MsFlags::MS_DIRSYNC),
    ("remount", true, MsFlags::MS_REMOUNT),
    ("mand", true, MsFlags::MS_MANDLOCK),
    ("nomand", false, MsFlags::MS_MANDLOCK),
    ("atime", false, MsFlags::MS_NOATIME),
    ("noatime", true, MsFlags::MS_NOATIME),
    ("diratime", false, MsFlags::MS_NODIRATIME),
    ("nodiratime", true, MsFlags::MS_NODIRATIME),
    ("bind", true, MsFlags::MS_BIND),
    ("rbind", true, MsFlags::MS_BIND.union(MsFlags::MS_REC)),
    ("relatime", true, MsFlags::MS_RELATIME),
    ("norelatime", false, MsFlags::MS_RELATIME),
    ("strictatime", true, MsFlags::MS_STRICTATIME),
    ("nostrictatime", false, MsFlags::MS_STRICTATIME),
    ("lazytime", true, MsFlags::MS_LAZYTIME),
    ("nolazytime", false, MsFlags::MS_LAZYTIME),
    ("iversion", true, MsFlags::MS_I_VERSION),
    ("noiversion", false, MsFlags::MS_I_VERSION),
    ("silent", true, MsFlags::MS_SILENT),
    ("loud", false, MsFlags::MS_SILENT),
    ("acl", true, MsFlags::MS_POSIXACL),
    ("noacl", false, MsFlags::MS_POSIXACL),
    (
        "nosymfollow",
        true,
        MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW),
    ),
    (
        "symfollow",
        false,
        MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW),
    ),
];

/// Propagation option names (applied after the mount).
pub(crate) const PROPAGATION_OPTIONS: &[&str] = &[
    "private",
    "rprivate",
    "shared",
    "rshared",
    "slave",
    "rslave",
    "unbindable",
    "runbindable",
];

/// Parse fstab-style options as runc does: known flags set or clear bits, propagation names are
/// applied after mounting, anything else is filesystem data.
pub(crate) fn parse_options(options: &[String]) -> Result<MountOptions> {
    let mut o = MountOptions {
        flags: MsFlags::empty(),
        propagation: Vec::new(),
        data: String::new(),
        copy_up: false,
    };
    for opt in options {
        let opt = opt.as_str();
        if opt == "defaults" {
            continue;
        }
        if let Some((_, set, flag)) = FLAG_OPTIONS.iter().find(|(name, _, _)| *name == opt) {
            if *set {
                o.flags |= *flag;
            } else {
                o.flags &= !*flag;
            }
        } else if let Some(p) = propagation_flag(opt) {
            o.propagation.push(p);
        } else if opt.len() > 1
            && opt.starts_with('r')
            && FLAG_OPTIONS.iter().any(|(name, _, _)| *name == &opt[1..])
        {
            return Err(Error::Unsupported(format!(
                "recursive mount option {opt:?} (mount_setattr)"
            )));
        } else if opt == "tmpcopyup" {
            o.copy_up = true;
        } else {
            if !o.data.is_empty() {
                o.data.push(',');
            }
            o.data.push_str(opt);
        }
    }
    Ok(o)
}

/// Resolve `unsafe_path` inside `root` the way the container will see it: symlinks are followed
/// but interpreted relative to `root`, and `..` never climbs above it.
pub(crate) fn secure_join(root: &Path, unsafe_path: &Path) -> Result<PathBuf> {
    let mut queue: VecDeque<OsString> = components(unsafe_path);
    let mut current = PathBuf::new();
    let mut links = 0;
    while let Some(c) = queue.pop_front() {
        if c == ".." {
            current.pop();
            continue;
        }
        let candidate = current.join(&c);
        let full = root.join(&candidate);
        match fs::symlink_metadata(&full) {
            Ok(m) if m.file_type().is_symlink() => {
                links += 1;
                if links > 255 {
                    return Err(Error::Other(format!(
                        "too many levels of symbolic links resolving {} in {}",
                        unsafe_path.display(),
                        root.display()
                    )));
                }
                let target = fs::read_link(&full).at("readlink", &full)?;
                if target.is_absolute() {
                    current = PathBuf::new();
                }
                for t in components(&target).into_iter().rev() {
                    queue.push_front(t);
                }
            }
            _ => current = candidate,
        }
    }
    Ok(root.join(current))
}

fn components(p: &Path) -> VecDeque<OsString> {
    p.components()
        .filter_map(|c| match c {
            Component::Normal(n) => Some(n.to_os_string()),
            Component::ParentDir => Some(OsString::from("..")),
            _ => None,
        })
        .collect()
}

fn mkdir_all(path: &Path) -> Result<()> {
    fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(path)
        .at("mkdir", path)
}

/// Make sure a file exists at `path` (for bind-mounting a file onto it).
fn touch(path: &Path) -> Result<()> {
    if let Some(parent) = path.parent() {
        mkdir_all(parent)?;
    }
    match fs::symlink_metadata(path) {
        Ok(_) => Ok(()),
        Err(_) => fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)
            .map(drop)
            .at("create mount target", path),
    }
}

/// What the init needs to build the container's filesystem view.
pub(crate) struct RootfsPlan<'a> {
    pub spec: &'a Spec,
    pub bundle: &'a Path,
    pub rootfs: &'a Path,
    pub no_pivot: bool,
    pub cgroup_paths: &'a CgroupPaths,
}

/// Everything up to (not including) the pivot: propagation, rootfs bind, mounts, /dev.
pub(crate) fn prepare(plan: &RootfsPlan) -> Result<()> {
    let linux = plan.spec.linux().as_ref();
    let root_flag = linux
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag)
        .unwrap_or(MsFlags::MS_SLAVE | MsFlags::MS_REC);
    // Keep our mounts from propagating to the host (and the host's teardown from reaching us
    // mid-setup), unless the spec asks for a specific propagation.
    mount(None::<&str>, "/", None::<&str>, root_flag, None::<&str>)
        .ctx(|| "set propagation of / in the container's mount namespace".into())?;
    if root_flag.contains(MsFlags::MS_SHARED) {
        // pivot_root refuses a new root whose parent mount is shared.
        make_parent_private(plan.rootfs)?;
    }
    mount(
        Some(plan.rootfs),
        plan.rootfs,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    )
    .ctx(|| format!("bind rootfs {} onto itself", plan.rootfs.display()))?;

    let mounts: &[Mount] = plan.spec.mounts().as_deref().unwrap_or(&[]);
    let has_dev = mounts.iter().any(|m| m.destination() == Path::new("/dev"));
    if !has_dev {
        // The container always gets a private /dev, never the rootfs' own device nodes.
        let dev = plan.rootfs.join("dev");
        mkdir_all(&dev)?;
        mount(
            Some("tmpfs"),
            &dev,
            Some("tmpfs"),
            MsFlags::MS_NOSUID | MsFlags::MS_STRICTATIME,
            Some("mode=755,size=65536k"),
        )
        .ctx(|| format!("mount tmpfs on {}", dev.display()))?;
    }
    for m in mounts {
        mount_one(plan, m)?;
    }
    let dev_bound = mounts.iter().any(|m| {
        m.destination() == Path::new("/dev")
            && (m.typ().as_deref() == Some("bind")
                || m.options()
                    .iter()
                    .flatten()
                    .any(|o| o == "bind" || o == "rbind"))
    });
    if !dev_bound {
        setup_dev(plan)?;
    }
    // runc creates a missing cwd (as root, before the root may turn read-only).
    if let Some(p) = plan.spec.process() {
        mkdir_all(&secure_join(plan.rootfs, p.cwd())?)?;
    }
    Ok(())
}

fn make_parent_private(rootfs: &Path) -> Result<()> {
    let info = fs::read_to_string("/proc/self/mountinfo").at("read", "/proc/self/mountinfo")?;
    let best = info
        .lines()
        .filter_map(|l| l.split(' ').nth(4))
        .filter(|mp| rootfs.starts_with(mp))
        .max_by_key(|mp| mp.len())
        .unwrap_or("/")
        .to_string();
    mount(
        None::<&str>,
        best.as_str(),
        None::<&str>,
        MsFlags::MS_PRIVATE,
        None::<&str>,
    )
    .ctx(|| format!("make {best} private for pivot_root"))
}

fn mount_one(plan: &RootfsPlan, m: &Mount) -> Result<()> {
    let dest = secure_join(plan.rootfs, m.destination())?;
    let typ = m.typ().as_deref().unwrap_or("");
    let opts = parse_options(m.options().as_deref().unwrap_or(&[]))?;
    let is_bind = typ == "bind" || opts.flags.contains(MsFlags::MS_BIND);
    let what = || format!("mount {} on {}", typ, m.destination().display());
    if is_bind {
        let src = absolute(
            plan.bundle,
            m.source()
                .as_deref()
                .ok_or_else(|| Error::Spec(format!("{}: bind mount without source", what())))?,
        );
        let meta = fs::metadata(&src).at("bind mount source", &src)?;
        if meta.is_dir() {
            mkdir_all(&dest)?;
        } else {
            touch(&dest)?;
        }
        let bind = opts.flags & (MsFlags::MS_BIND | MsFlags::MS_REC);
        mount(Some(&src), &dest, None::<&str>, bind, None::<&str>)
            .ctx(|| format!("bind {} on {}", src.display(), dest.display()))?;
        let rest = opts.flags & !(MsFlags::MS_BIND | MsFlags::MS_REC | MsFlags::MS_REMOUNT);
        if !rest.is_empty() {
            // A bind mount ignores most flags: they take effect on a remount of the bind.
            mount(
                None::<&str>,
                &dest,
                None::<&str>,
                rest | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                None::<&str>,
            )
            .ctx(|| format!("remount bind {} with {:?}", dest.display(), rest))?;
        }
    } else if typ == "cgroup" || typ == "cgroup2" {
        mount_cgroup(plan, &dest, &opts)?;
    } else {
        mkdir_all(&dest)?;
        let src = m.source().as_deref().map(Path::to_path_buf);
        let src = src.unwrap_or_else(|| PathBuf::from(typ));
        let data = (!opts.data.is_empty()).then_some(opts.data.as_str());
        // Once the tmpfs is mounted the covered directory is out of reach of path lookups,
        // but not of an fd opened on it before.
        let covered = if opts.copy_up && typ == "tmpfs" {
            Some(
                fs::File::open(&dest)
                    .at("open the directory under the tmpfs (tmpcopyup)", &dest)?,
            )
        } else {
            None
        };
        let r = mount(Some(&src), &dest, Some(typ), opts.flags, data);
        if r.is_ok() {
            if let Some(dir) = &covered {
                let from = PathBuf::from(format!("/proc/self/fd/{}", dir.as_raw_fd()));
                copy_tree(&from, &dest)?;
            }
        }
        match r {
            // Without a network namespace of its own the container may not mount sysfs; runc
            // then binds the host's /sys (read-only when asked) instead.
            Err(nix::errno::Errno::EPERM) if typ == "sysfs" => {
                mount(
                    Some("/sys"),
                    &dest,
                    None::<&str>,
                    MsFlags::MS_BIND | MsFlags::MS_REC,
                    None::<&str>,
                )
                .ctx(|| format!("bind /sys on {}", dest.display()))?;
                if opts.flags.contains(MsFlags::MS_RDONLY) {
                    mount(
                        None::<&str>,
                        &dest,
                        None::<&str>,
                        opts.flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
                        None::<&str>,
                    )
                    .ctx(|| format!("remount {} read-only", dest.display()))?;
                }
            }
            other => other.ctx(|| format!("{} ({})", what(), dest.display()))?,
        }
    }
    for p in &opts.propagation {
        mount(None::<&str>, &dest, None::<&str>, *p, None::<&str>)
            .ctx(|| format!("set propagation {:?} on {}", p, dest.display()))?;
    }
    Ok(())
}

/// Copy the directory tree `from` into the existing directory `to`, keeping modes, owners,
/// symlinks and device nodes (what runc's tmpcopyup copies).
fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    for entry in fs::read_dir(from).at("read directory", from)? {
        let entry = entry.at("read directory", from)?;
        let src = entry.path();
        let dst = to.join(entry.file_name());
        let meta = fs::symlink_metadata(&src).at("stat", &src)?;
        let ft = meta.file_type();
        let perm = meta.mode() & 0o7777;
        if ft.is_dir() {
            fs::DirBuilder::new()
                .mode(perm)
                .create(&dst)
                .at("mkdir", &dst)?;
            copy_tree(&src, &dst)?;
        } else if ft.is_symlink() {
            let target = fs::read_link(&src).at("readlink", &src)?;
            symlink(&target, &dst).at("symlink", &dst)?;
        } else if ft.is_file() {
            fs::copy(&src, &dst).at("copy into", &dst)?;
        } else {
            mknod(
                &dst,
                SFlag::from_bits_truncate(meta.mode() & libc::S_IFMT),
                Mode::from_bits_truncate(perm),
                meta.rdev(),
            )
            .ctx(|| format!("mknod {}", dst.display()))?;
        }
        std::os::unix::fs::lchown(&dst, Some(meta.uid()), Some(meta.gid())).at("chown", &dst)?;
        if !ft.is_symlink() {
            // After the chown (which clears set-id bits) and without the umask.
            fs::set_permissions(&dst, fs::Permissions::from_mode(perm)).at("chmod", &dst)?;
        }
    }
    Ok(())
}

/// A "cgroup" mount shows the container its own cgroup, on every hierarchy of the host, read
/// through bind mounts of the directories baleia created (as runc does on cgroup v1 hosts).
fn mount_cgroup(plan: &RootfsPlan, dest: &Path, opts: &MountOptions) -> Result<()> {
    mkdir_all(dest)?;
    let flags = opts.flags & !MsFlags::MS_RDONLY;
    let bind_ro = |src: &Path, at: &Path| -> Result<()> {
        mount(
            Some(src),
            at,
            None::<&str>,
            MsFlags::MS_BIND | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| format!("bind cgroup {} on {}", src.display(), at.display()))?;
        mount(
            None::<&str>,
            at,
            None::<&str>,
            opts.flags | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
            None::<&str>,
        )
        .ctx(|| format!("remount cgroup {}", at.display()))
    };
    let paths = &plan.cgroup_paths.0;
    if let (1, Some(unified)) = (paths.len(), paths.get("")) {
        return bind_ro(unified, dest);
    }
    mount(Some("tmpfs"), dest, Some("tmpfs"), flags, Some("mode=755"))
        .ctx(|| format!("mount tmpfs for cgroups on {}", dest.display()))?;
    for (name, host) in paths {
        let sub = match name.as_str() {
            "" => "unified",
            n => n.strip_prefix("name=").unwrap_or(n),
        };
        let at = dest.join(sub);
        mkdir_all(&at)?;
        bind_ro(host, &at)?;
    }
    if opts.flags.contains(MsFlags::MS_RDONLY) {
        mount(
            None::<&str>,
            dest,
            None::<&str>,
            flags | MsFlags::MS_RDONLY | MsFlags::MS_REMOUNT,
            Some("mode=755"),
        )
        .ctx(|| format!("remount {} read-only", dest.display()))?;
    }
    Ok(())
}

/// The devices every container gets (runc's list), unless the spec defines the same path.
fn default_devices() -> [(&'static str, u64, u64); 6] {
    [
        ("/dev/null", 1, 3),
        ("/dev/zero", 1, 5),
        ("/dev/full", 1, 7),
        ("/dev/random", 1, 8),
        ("/dev/urandom", 1, 9),
        ("/dev/tty", 5, 0),
    ]
}

fn setup_dev(plan: &RootfsPlan) -> Result<()> {
    let devices: &[LinuxDevice] = plan
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.devices().as_deref())
        .unwrap_or(&[]);
    for (path, major, minor) in default_devices() {
        if devices.iter().any(|d| d.path() == Path::new(path)) {
            continue;
        }
        make_device(
            plan.rootfs,
            Path::new(path),
            SFlag::S_IFCHR,
            major,
            minor,
            0o666,
            0,
            0,
        )?;
    }
    for d in devices {
        let kind = match d.typ() {
            LinuxDeviceType::C | LinuxDeviceType::U => SFlag::S_IFCHR,
            LinuxDeviceType::B => SFlag::S_IFBLK,
            LinuxDeviceType::P => SFlag::S_IFIFO,
            LinuxDeviceType::A => {
                return Err(Error::Spec(format!(
                    "device {}: type \"a\" is only valid in cgroup rules",
                    d.path().display()
                )))
            }
        };
        make_device(
            plan.rootfs,
            d.path(),
            kind,
            d.major() as u64,
            d.minor() as u64,
            d.file_mode().unwrap_or(0o666),
            d.uid().unwrap_or(0),
            d.gid().unwrap_or(0),
        )?;
    }
    let dev = secure_join(plan.rootfs, Path::new("/dev"))?;
    let mut links = vec![
        ("/proc/self/fd", "fd"),
        ("/proc/self/fd/0", "stdin"),
        ("/proc/self/fd/1", "stdout"),
        ("/proc/self/fd/2", "stderr"),
    ];
    if Path::new("/proc/kcore").exists() {
        links.push(("/proc/kcore", "core"));
    }
    for (target, name) in links {
        let at = dev.join(name);
        match symlink(target, &at) {
            Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
            r => r.at("symlink", &at)?,
        }
    }
    // /dev/ptmx must be the devpts instance's multiplexer, not the host's.
    let ptmx = dev.join("ptmx");
    let _ = fs::remove_file(&ptmx);
    symlink("pts/ptmx", &ptmx).at("symlink", &ptmx)?;
    Ok(())
}

#[allow(clippy::too_many_arguments)]
fn make_device(
    rootfs: &Path,
    path: &Path,
    kind: SFlag,
    major: u64,
    minor: u64,
    mode: u32,
    uid: u32,
    gid: u32,
) -> Result<()> {
    let dest = secure_join(rootfs, path)?;
    if let Some(parent) = dest.parent() {
        mkdir_all(parent)?;
    }
    if let Ok(m) = fs::symlink_metadata(&dest) {
        let same = (m.file_type().is_char_device() || m.file_type().is_block_device())
            && m.rdev() == makedev(major, minor);
        if same {
            return Ok(());
        }
        fs::remove_file(&dest).at("replace device", &dest)?;
    }
    let perm = Mode::from_bits_truncate(mode & 0o7777);
    // mknod honours the umask; the spec's mode must be exact, so chmod after.
    mknod(&dest, kind, perm, makedev(major, minor)).ctx(|| format!("mknod {}", dest.display()))?;
    nix::sys::stat::fchmodat(
        nix::fcntl::AT_FDCWD,
        &dest,
        perm,
        nix::sys::stat::FchmodatFlags::NoFollowSymlink,
    )
    .ctx(|| format!("chmod {}", dest.display()))?;
    nix::unistd::chown(
        &dest,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .ctx(|| format!("chown {}", dest.display()))
}

/// Make the rootfs the container's `/`: pivot_root, or MS_MOVE + chroot with `--no-pivot`.
pub(crate) fn enter(plan: &RootfsPlan) -> Result<()> {
    if plan.no_pivot {
        nix::unistd::chdir(plan.rootfs).ctx(|| format!("chdir {}", plan.rootfs.display()))?;
        mount(
            Some(plan.rootfs),
            "/",
            None::<&str>,
            MsFlags::MS_MOVE,
            None::<&str>,
        )
        .ctx(|| format!("move {} to /", plan.rootfs.display()))?;
        nix::unistd::chroot(".").ctx(|| "chroot into the rootfs".into())?;
    } else {
        let old = nix::fcntl::open(
            "/",
            nix::fcntl::OFlag::O_DIRECTORY
                | nix::fcntl::OFlag::O_RDONLY
                | nix::fcntl::OFlag::O_CLOEXEC,
            Mode::empty(),
        )
        .ctx(|| "open old root".into())?;
        nix::unistd::chdir(plan.rootfs).ctx(|| format!("chdir {}", plan.rootfs.display()))?;
        // pivot_root(".", ".") stacks the old root under the new one; no put_old directory needed.
        nix::unistd::pivot_root(".", ".")
            .ctx(|| format!("pivot_root {}", plan.rootfs.display()))?;
        nix::unistd::fchdir(&old).ctx(|| "fchdir to old root".into())?;
        // Unmounting must not propagate to the host's mounts.
        mount(
            None::<&str>,
            ".",
            None::<&str>,
            MsFlags::MS_SLAVE | MsFlags::MS_REC,
            None::<&str>,
        )
        .ctx(|| "make old root a slave".into())?;
        umount2(".", MntFlags::MNT_DETACH).ctx(|| "detach old root".into())?;
    }
    nix::unistd::chdir("/").ctx(|| "chdir /".into())?;
    if let Some(flag) = plan
        .spec
        .linux()
        .as_ref()
        .and_then(|l| l.rootfs_propagation().as_deref())
        .and_then(propagation_flag)
    {
        mount(None::<&str>, "/", None::<&str>, flag, None::<&str>)
            .ctx(|| "set rootfsPropagation on /".into())?;
    }
    Ok(())
}

/// After the pivot: sysctls, read-only paths, masked paths, then a read-only root.
pub(crate) fn finish(spec: &Spec) -> Result<()> {
    if let Some(linux) = spec.linux() {
        for (key, value) in linux.sysctl().iter().flatten() {
            let path = PathBuf::from("/proc/sys").join(key.replace('.', "/"));
            fs::write(&path, value.as_bytes()).at(&format!("set sysctl {key}: write"), &path)?;
        }
        for p in linux.readonly_paths().iter().flatten() {
            readonly_path(Path::new(p))?;
        }
        for p in linux.masked_paths().iter().flatten() {
            mask_path(Path::new(p))?;
        }
    }
    if spec.root().as_ref().and_then(|r| r.readonly()) == Some(true) {
        let keep = kept_flags(Path::new("/"))?;
        mount(
            None::<&str>,
            "/",
            None::<&str>,
            keep | MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
            None::<&str>,
        )
        .ctx(|| "remount / read-only".into())?;
    }
    Ok(())
}

/// The flags of the mount at `path` that a remount must repeat (the kernel refuses to drop
/// locked ones, and we must not drop the others).
fn kept_flags(path: &Path) -> Result<MsFlags> {
    let st = statvfs(path).ctx(|| format!("statvfs {}", path.display()))?;
    let f = st.flags();
    let mut m = MsFlags::empty();
    for (fs, ms) in [
        (FsFlags::ST_NOSUID, MsFlags::MS_NOSUID),
        (FsFlags::ST_NODEV, MsFlags::MS_NODEV),
        (FsFlags::ST_NOEXEC, MsFlags::MS_NOEXEC),
        (FsFlags::ST_NOATIME, MsFlags::MS_NOATIME),
        (FsFlags::ST_NODIRATIME, MsFlags::MS_NODIRATIME),
        (FsFlags::ST_RELATIME, MsFlags::MS_RELATIME),
    ] {
        if f.contains(fs) {
            m |= ms;
        }
    }
    Ok(m)
}

fn readonly_path(p: &Path) -> Result<()> {
    match mount(
        Some(p),
        p,
        None::<&str>,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None::<&str>,
    ) {
        Err(nix::errno::Errno::ENOENT) => return Ok(()),
        r => r.ctx(|| format!("bind read-only path {}", p.display()))?,
    }
    let keep = kept_flags(p)?;
    mount(
        None::<&str>,
        p,
        None::<&str>,
        keep | MsFlags::MS_RDONLY | MsFlags::MS_BIND | MsFlags::MS_REMOUNT,
        None::<&str>,
    )
    .ctx(|| format!("remount {} read-only", p.display()))
}

fn mask_path(p: &Path) -> Result<()> {
    let meta = match fs::metadata(p) {
        Ok(m) => m,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(Error::path("stat masked path", p, e)),
    };
    if meta.is_dir() {
        mount(
            Some("tmpfs"),
            p,
            Some("tmpfs"),
            MsFlags::MS_RDONLY,
            None::<&str>,
        )
        .ctx(|| format!("mask directory {}", p.display()))
    } else {
        mount(
            Some("/dev/null"),
            p,
            None::<&str>,
            MsFlags::MS_BIND,
            None::<&str>,
        )
        .ctx(|| format!("mask {}", p.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn opts(v: &[&str]) -> MountOptions {
        parse_options(&v.iter().map(|s| s.to_string()).collect::<Vec<_>>()).expect("parse")
    }

    #[test]
    fn options_split_into_flags_propagation_and_data() {
        let o = opts(&["nosuid", "noexec", "mode=755", "size=65536k", "rslave"]);
        assert_eq!(o.flags, MsFlags::MS_NOSUID | MsFlags::MS_NOEXEC);
        assert_eq!(o.propagation, vec![MsFlags::MS_SLAVE | MsFlags::MS_REC]);
        assert_eq!(o.data, "mode=755,size=65536k");
        let o = opts(&["ro", "rw", "rbind"]);
        assert_eq!(o.flags, MsFlags::MS_BIND | MsFlags::MS_REC);
        assert!(parse_options(&["rro".to_string()]).is_err());
    }

    #[test]
    fn secure_join_stays_inside_root() {
        let root = std::env::temp_dir().join(format!("baleia-sj-{}", std::process::id()));
        let _ = fs::remove_dir_all(&root);
        fs::create_dir_all(root.join("a/b")).expect("mkdir");
        symlink("/etc", root.join("abs")).expect("symlink");
        symlink("../../..", root.join("a/b/up")).expect("symlink");
        assert_eq!(
            secure_join(&root, Path::new("/abs/x")).expect("j"),
            root.join("etc/x")
        );
        assert_eq!(
            secure_join(&root, Path::new("/a/b/up/y")).expect("j"),
            root.join("y")
        );
        assert_eq!(
            secure_join(&root, Path::new("../../z")).expect("j"),
            root.join("z")
        );
        symlink("loop", root.join("loop")).expect("symlink");
        assert!(secure_join(&root, Path::new("/loop")).is_err());
        fs::remove_dir_all(&root).expect("cleanup");
    }
}
