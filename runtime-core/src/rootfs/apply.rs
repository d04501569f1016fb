//! Carrying out a [`RootfsPlan`] in the init: syscalls only (see `crate::child`).

use std::ffi::CStr;
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};

use nix::errno::Errno;

use super::resolve::{self, open_in, InRoot};
use super::{copy, DevNode, MountStep, Param, RootfsPlan, Source};
use crate::child::{CResult, ChildError, OrFail};
use crate::sys::{self, attr, fsconfig_cmd, AT_RECURSIVE, CWD, OPEN_TREE_CLONE};

/// What `prepare` leaves for the later steps.
pub(crate) struct Prepared {
    /// The rootfs (its bind onto itself), as an O_PATH fd.
    root: OwnedFd,
    /// Mounts to make read-only once everything under them exists (a read-only /dev).
    read_only_later: Vec<OwnedFd>,
}

/// Everything up to (not including) the pivot: propagation, rootfs bind, mounts, /dev.
pub(crate) fn prepare(plan: &RootfsPlan) -> CResult<Prepared> {
    // Device nodes and directories get exactly the modes we ask for; the container's own
    // umask is set later, just before execve.
    // SAFETY: umask only changes this process's mask.
    unsafe { libc::umask(0) };
    if !plan.mount_ns {
        let root = sys::openat(CWD, &plan.rootfs, libc::O_PATH | libc::O_DIRECTORY, 0)
            .or_fail(|b| write!(b, "open rootfs {}", plan.rootfs_shown.display()))?;
        if let Some(cwd) = &plan.cwd {
            drop(
                resolve::dir(root.as_raw_fd(), cwd, true)
                    .map_err(|e| e.context(format_args!("cwd {}", cwd.shown)))?,
            );
        }
        return Ok(Prepared {
            root,
            read_only_later: Vec::new(),
        });
    }
    sys::mount(None, c"/", None, plan.setup_propagation, None)
        .or_fail(|b| write!(b, "set propagation of / in the container's mount namespace"))?;
    if let Some(parent) = &plan.private_parent {
        sys::mount(None, parent, None, libc::MS_PRIVATE, None)
            .or_fail(|b| write!(b, "make {parent:?} private for pivot_root"))?;
    }
    sys::mount(
        Some(&plan.rootfs),
        &plan.rootfs,
        None,
        libc::MS_BIND | libc::MS_REC,
        None,
    )
    .or_fail(|b| write!(b, "bind rootfs {} onto itself", plan.rootfs_shown.display()))?;
    let root = sys::openat(CWD, &plan.rootfs, libc::O_PATH | libc::O_DIRECTORY, 0)
        .or_fail(|b| write!(b, "open rootfs {}", plan.rootfs_shown.display()))?;
    let r = root.as_raw_fd();
    let mut later = Vec::new();
    if plan.default_dev {
        // The container always gets a private /dev, never the rootfs' own device nodes.
        let target = resolve::dir(r, &plan.dev, true)?;
        let params = [
            Param::Str(c"mode".into(), c"755".into()),
            Param::Str(c"size".into(), c"65536k".into()),
        ];
        let mnt = new_fs(
            c"tmpfs",
            c"tmpfs",
            &params,
            attr::NOSUID | attr::STRICTATIME,
        )
        .map_err(|(e, step)| fs_error(e, step, "mount tmpfs on /dev"))?;
        sys::move_mount_fd(mnt.as_raw_fd(), target.as_raw_fd())
            .or_fail(|b| write!(b, "mount tmpfs on /dev"))?;
        sys::defer_close(mnt);
        sys::defer_close(target);
    }
    for m in &plan.mounts {
        if let Some(fd) = mount_one(r, m)? {
            later.push(fd);
        }
    }
    if plan.make_dev {
        make_dev(r, plan)?;
    }
    if let Some(cwd) = &plan.cwd {
        // runc creates a missing cwd, as root and before the root may turn read-only.
        sys::defer_close(
            resolve::dir(r, cwd, true).map_err(|e| e.context(format_args!("cwd {}", cwd.shown)))?,
        );
    }
    Ok(Prepared {
        root,
        read_only_later: later,
    })
}

/// Which step of making a filesystem failed.
#[derive(Clone, Copy)]
enum FsStep<'a> {
    Open,
    Param(&'a Param),
    Create,
    Mount,
}

/// A new filesystem instance as a detached mount with `attrs`; on failure the errno, the
/// step, and the kernel's own explanation (fsconfig logs it on the context fd).
fn new_fs<'a>(
    fstype: &CStr,
    source: &CStr,
    params: &'a [Param],
    attrs: u64,
) -> Result<OwnedFd, (Errno, FsStep<'a>)> {
    let fs = sys::fsopen(fstype).map_err(|e| (e, FsStep::Open))?;
    let f = fs.as_raw_fd();
    // "source" only names the mount in mountinfo; a filesystem that has no use for it
    // still accepts it (the VFS keeps it).
    let _ = sys::fsconfig(f, fsconfig_cmd::SET_STRING, Some(c"source"), Some(source));
    for p in params {
        let r = match p {
            Param::Flag(k) => sys::fsconfig(f, fsconfig_cmd::SET_FLAG, Some(k), None),
            Param::Str(k, v) => sys::fsconfig(f, fsconfig_cmd::SET_STRING, Some(k), Some(v)),
        };
        r.map_err(|e| (e, FsStep::Param(p)))?;
    }
    sys::fsconfig(f, fsconfig_cmd::CMD_CREATE, None, None).map_err(|e| (e, FsStep::Create))?;
    let mnt = sys::fsmount(f, attrs).map_err(|e| (e, FsStep::Mount))?;
    sys::defer_close(fs);
    Ok(mnt)
}

fn fs_error(e: Errno, step: FsStep, what: &str) -> ChildError {
    ChildError::sys(
        e,
        format_args!(
            "{what}{}",
            match step {
                FsStep::Open => ": fsopen",
                FsStep::Param(_) => ": option",
                FsStep::Create => "",
                FsStep::Mount => ": fsmount",
            }
        ),
    )
    .with_param(step)
}

impl ChildError {
    fn with_param(mut self, step: FsStep) -> ChildError {
        if let FsStep::Param(p) = step {
            let _ = match p {
                Param::Flag(k) => write!(self.text, " ({k:?})"),
                Param::Str(k, v) => write!(self.text, " ({k:?}={v:?})"),
            };
        }
        self
    }
}

/// A detached copy of the mount tree at `path` (a bind not attached anywhere yet).
fn bind_tree(dirfd: RawFd, path: &CStr, recursive: bool) -> Result<OwnedFd, Errno> {
    let mut flags = OPEN_TREE_CLONE;
    if recursive {
        flags |= AT_RECURSIVE;
    }
    if path.is_empty() {
        flags |= libc::AT_EMPTY_PATH as u32;
    }
    sys::open_tree(dirfd, path, flags)
}

fn mount_one(root: RawFd, m: &MountStep) -> CResult<Option<OwnedFd>> {
    let what = m.what.as_str();
    let target = if let Some(fs) = m.ordinary_dir {
        ordinary_dir(root, &m.dest, what, fs)?
    } else if m.dir {
        resolve::dir(root, &m.dest, true)?
    } else {
        resolve::file(root, &m.dest, true)?
    };
    let t = target.as_raw_fd();
    let mnt = match (&m.source, &m.prepared) {
        (Source::Bind { .. }, Some(tree)) => {
            // Made whole by the parent (see RootfsPlan::prepare_idmapped_mounts).
            sys::move_mount_fd(tree.as_raw_fd(), t).or_fail(|b| write!(b, "{what}"))?;
            for &(p, recursive) in &m.propagation {
                sys::mount_setattr(tree.as_raw_fd(), recursive, 0, 0, p)
                    .or_fail(|b| write!(b, "{what}: set propagation {p:#x}"))?;
            }
            sys::defer_close(target);
            return Ok(None);
        }
        (Source::Bind { path, recursive }, None) => {
            let tree =
                bind_tree(CWD, path, *recursive).or_fail(|b| write!(b, "{what}: bind {path:?}"))?;
            if m.set | m.clr != 0 {
                sys::mount_setattr(tree.as_raw_fd(), false, m.set, m.clr, 0)
                    .or_fail(|b| write!(b, "{what}: set the bind's flags"))?;
            }
            tree
        }
        (
            Source::Fs {
                fstype,
                source,
                params,
                sysfs_fallback,
            },
            _,
        ) => match new_fs(fstype, source, params, m.set) {
            Ok(mnt) => mnt,
            // Without a network namespace of its own the container may not mount sysfs;
            // runc then binds the host's /sys (read-only when asked) instead.
            Err((Errno::EPERM, _)) if *sysfs_fallback => {
                let tree = bind_tree(CWD, c"/sys", true)
                    .or_fail(|b| write!(b, "{what}: bind the host's /sys"))?;
                if m.set & attr::RDONLY != 0 {
                    sys::mount_setattr(tree.as_raw_fd(), true, attr::RDONLY, 0, 0)
                        .or_fail(|b| write!(b, "{what}: make the bind of /sys read-only"))?;
                }
                tree
            }
            Err((e, step)) => return Err(fs_error(e, step, what)),
        },
        (Source::Cgroup { unified, v1 }, _) => {
            cgroup_mount(m, t, unified.as_deref(), v1)?;
            sys::defer_close(target);
            return Ok(None);
        }
    };
    if let Some(idmap) = m.idmap.as_ref().filter(|i| i.userns.is_some()) {
        let userns = idmap.userns.as_ref().map_or(-1, |f| f.as_raw_fd());
        sys::mount_setattr_idmap(mnt.as_raw_fd(), idmap.recursive, userns).map_err(|e| {
            let mut st: libc::statfs = unsafe { std::mem::zeroed() };
            // SAFETY: fstatfs into a local; on failure the type stays 0.
            unsafe { libc::fstatfs(mnt.as_raw_fd(), &mut st) };
            ChildError::sys(
                e,
                format_args!(
                    "{what}: make it id-mapped (the filesystem, {} ({:#x}), may not support idmapped mounts)",
                    super::fs_name(st.f_type),
                    st.f_type
                ),
            )
        })?;
    }
    if m.rec_set | m.rec_clr != 0 {
        sys::mount_setattr(mnt.as_raw_fd(), true, m.rec_set, m.rec_clr, 0)
            .or_fail(|b| write!(b, "{what}: apply the recursive options"))?;
    }
    if m.copy_up {
        copy::tmpcopyup(t, mnt.as_raw_fd()).map_err(|mut e| {
            let _ = write!(e.text, " (tmpcopyup for {what})");
            e
        })?;
    }
    sys::move_mount_fd(mnt.as_raw_fd(), t).or_fail(|b| write!(b, "{what}"))?;
    for &(p, recursive) in &m.propagation {
        sys::mount_setattr(mnt.as_raw_fd(), recursive, 0, 0, p)
            .or_fail(|b| write!(b, "{what}: set propagation {p:#x}"))?;
    }
    sys::defer_close(target);
    if m.read_only_later {
        return Ok(Some(mnt));
    }
    sys::defer_close(mnt);
    Ok(None)
}

/// procfs and sysfs go on a real directory of the image, never through a symlink there
/// (runc's rule). The common case, the directory being there, costs one open.
fn ordinary_dir(root: RawFd, dest: &InRoot, what: &str, fs: &str) -> CResult<OwnedFd> {
    const FLAGS: i32 = libc::O_PATH | libc::O_DIRECTORY | libc::O_NOFOLLOW;
    match open_in(root, dest.rel(), FLAGS) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT | Errno::ENOTDIR) => {}
        Err(e) => return Err(ChildError::sys(e, format_args!("open {}", dest.shown))),
    }
    // Missing (make it), or not a directory: a symlink, a file, or a file on the way.
    let (dir, name) = resolve::parent(root, dest, true)?;
    if let Ok(st) = sys::fstatat(dir.as_raw_fd(), name, libc::AT_SYMLINK_NOFOLLOW) {
        if st.st_mode & libc::S_IFMT != libc::S_IFDIR {
            return Err(ChildError::msg(format_args!(
                "{what}: filesystem \"{fs}\" must be mounted on ordinary directory"
            )));
        }
    }
    resolve::dir(root, dest, true)
}

/// A "cgroup" mount shows the container its own cgroup, on every hierarchy of the host, read
/// through bind mounts of the directories baleia created (as runc does on cgroup v1 hosts).
fn cgroup_mount(
    m: &MountStep,
    target: RawFd,
    unified: Option<&CStr>,
    v1: &[(std::ffi::CString, std::ffi::CString)],
) -> CResult<()> {
    let what = m.what.as_str();
    let bind = |src: &CStr, at: RawFd| -> CResult<()> {
        let tree = bind_tree(CWD, src, true).or_fail(|b| write!(b, "{what}: bind {src:?}"))?;
        sys::mount_setattr(tree.as_raw_fd(), false, m.set, m.clr, 0)
            .or_fail(|b| write!(b, "{what}: set the flags of {src:?}"))?;
        sys::move_mount_fd(tree.as_raw_fd(), at)
            .or_fail(|b| write!(b, "{what}: attach {src:?}"))?;
        sys::defer_close(tree);
        Ok(())
    };
    if let Some(u) = unified {
        return bind(u, target);
    }
    let params = [Param::Str(c"mode".into(), c"755".into())];
    let tmpfs = new_fs(c"tmpfs", c"cgroup", &params, m.set & !attr::RDONLY)
        .map_err(|(e, step)| fs_error(e, step, what))?;
    // Attached first: kernels before 6.15 mount nothing beneath a detached mount. The tmpfs
    // is new and ours alone (no container process exists yet): its subdirectories need no
    // in-root resolution, and one recursive pass at the end sets the flags of every bind.
    sys::move_mount_fd(tmpfs.as_raw_fd(), target).or_fail(|b| write!(b, "{what}"))?;
    for (host, sub) in v1 {
        match sys::mkdirat(tmpfs.as_raw_fd(), sub, 0o755) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(ChildError::sys(e, format_args!("{what}: mkdir {sub:?}"))),
        }
        let tree = bind_tree(CWD, host, true).or_fail(|b| write!(b, "{what}: bind {host:?}"))?;
        sys::move_mount_at(tree.as_raw_fd(), tmpfs.as_raw_fd(), sub)
            .or_fail(|b| write!(b, "{what}: attach {host:?}"))?;
        sys::defer_close(tree);
    }
    sys::mount_setattr(tmpfs.as_raw_fd(), true, m.set, m.clr, 0)
        .or_fail(|b| write!(b, "{what}: set the flags of the cgroup mounts"))?;
    sys::defer_close(tmpfs);
    Ok(())
}

fn make_dev(root: RawFd, plan: &RootfsPlan) -> CResult<()> {
    let dev = resolve::dir(root, &plan.dev, true)?;
    let d = dev.as_raw_fd();
    // A node mknod makes in /dev belongs to us, unless /dev is setgid (then to its group).
    let dev_owner = match sys::fstatat(d, c"", libc::AT_EMPTY_PATH) {
        Ok(st) if st.st_mode & libc::S_ISGID == 0 => Some(plan.creator),
        _ => None,
    };
    for n in &plan.nodes {
        if plan.userns {
            bind_node(root, n)?;
        } else if let Some(name) = n.in_dev.as_deref() {
            make_node(d, name, n, dev_owner)?;
        } else {
            let (dir, name) = resolve::parent(root, &n.path, true)?;
            make_node(dir.as_raw_fd(), name, n, None)?;
        }
    }
    for (target, name) in &plan.dev_links {
        match sys::symlinkat(target, d, name) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => return Err(ChildError::sys(e, format_args!("symlink /dev/{name:?}"))),
        }
    }
    // /dev/ptmx must be the devpts instance's multiplexer, not the host's: whatever is there
    // (a rootfs's own /dev, not our tmpfs) is replaced.
    match sys::symlinkat(c"pts/ptmx", d, c"ptmx") {
        Err(Errno::EEXIST) => {
            sys::unlinkat(d, c"ptmx").or_fail(|b| write!(b, "remove /dev/ptmx"))?;
            sys::symlinkat(c"pts/ptmx", d, c"ptmx").or_fail(|b| write!(b, "symlink /dev/ptmx"))?;
        }
        r => r.or_fail(|b| write!(b, "symlink /dev/ptmx"))?,
    }
    sys::defer_close(dev);
    Ok(())
}

/// In a user namespace mknod is refused: the host's device is bound onto an empty file.
fn bind_node(root: RawFd, n: &DevNode) -> CResult<()> {
    let shown = n.path.shown.as_str();
    let target = resolve::file(root, &n.path, true)?;
    let tree = bind_tree(CWD, &n.host, false).or_fail(|b| write!(b, "bind device {shown}"))?;
    sys::move_mount_fd(tree.as_raw_fd(), target.as_raw_fd())
        .or_fail(|b| write!(b, "bind device {shown}"))
}

/// `name` in the directory `d`: made, or kept when the same device is already there.
/// `made_as`: the owner a node made in `d` gets, when known.
fn make_node(d: RawFd, name: &CStr, n: &DevNode, made_as: Option<(u32, u32)>) -> CResult<()> {
    let shown = n.path.shown.as_str();
    // The umask is 0 here, so the mode is exactly the spec's.
    match sys::mknodat(d, name, n.mode, n.rdev) {
        Ok(()) if made_as == Some((n.uid, n.gid)) => return Ok(()),
        Ok(()) => {}
        Err(Errno::EEXIST) => {
            let st = sys::fstatat(d, name, libc::AT_SYMLINK_NOFOLLOW)
                .or_fail(|b| write!(b, "stat device {shown}"))?;
            let kind = st.st_mode & libc::S_IFMT;
            let dev_kind = kind == libc::S_IFCHR || kind == libc::S_IFBLK;
            if dev_kind && kind == n.mode & libc::S_IFMT && st.st_rdev == n.rdev {
                return Ok(());
            }
            sys::unlinkat(d, name).or_fail(|b| write!(b, "replace device {shown}"))?;
            sys::mknodat(d, name, n.mode, n.rdev).or_fail(|b| write!(b, "mknod {shown}"))?;
        }
        Err(e) => return Err(ChildError::sys(e, format_args!("mknod {shown}"))),
    }
    sys::fchownat(d, name, n.uid, n.gid, libc::AT_SYMLINK_NOFOLLOW)
        .or_fail(|b| write!(b, "chown {shown}"))
}

/// Make the rootfs the container's `/`: pivot_root, or MS_MOVE + chroot with `--no-pivot`.
pub(crate) fn enter(plan: &RootfsPlan, p: &Prepared) -> CResult<()> {
    if !plan.mount_ns {
        sys::fchdir(p.root.as_raw_fd()).or_fail(|b| write!(b, "chdir into the rootfs"))?;
        sys::chroot(c".").or_fail(|b| write!(b, "chroot into the rootfs"))?;
    } else if plan.no_pivot {
        // A chroot leaves the host's mounts in the namespace, and the kernel lets a user
        // namespace mount a fresh procfs when a fully visible one is anywhere in it: take the
        // host's procfs and sysfs mounts away first (as runc does).
        for mp in &plan.host_proc_sys {
            match sys::umount2(mp, libc::MNT_DETACH) {
                Ok(()) | Err(Errno::EINVAL) | Err(Errno::ENOENT) => {}
                Err(e) => {
                    return Err(ChildError::sys(
                        e,
                        format_args!("detach the host's {mp:?} before the chroot"),
                    ))
                }
            }
        }
        sys::fchdir(p.root.as_raw_fd()).or_fail(|b| write!(b, "chdir into the rootfs"))?;
        sys::mount(Some(c"."), c"/", None, libc::MS_MOVE, None)
            .or_fail(|b| write!(b, "move {} to /", plan.rootfs_shown.display()))?;
        sys::chroot(c".").or_fail(|b| write!(b, "chroot into the rootfs"))?;
    } else {
        let old = sys::openat(CWD, c"/", libc::O_DIRECTORY | libc::O_RDONLY, 0)
            .or_fail(|b| write!(b, "open the old root"))?;
        sys::fchdir(p.root.as_raw_fd()).or_fail(|b| write!(b, "chdir into the rootfs"))?;
        // pivot_root(".", ".") stacks the old root under the new one: no put_old directory.
        sys::pivot_root(c".", c".")
            .or_fail(|b| write!(b, "pivot_root {}", plan.rootfs_shown.display()))?;
        sys::fchdir(old.as_raw_fd()).or_fail(|b| write!(b, "fchdir to the old root"))?;
        // Unmounting must not propagate to the host's mounts.
        sys::mount(None, c".", None, libc::MS_SLAVE | libc::MS_REC, None)
            .or_fail(|b| write!(b, "make the old root a slave"))?;
        sys::umount2(c".", libc::MNT_DETACH).or_fail(|b| write!(b, "detach the old root"))?;
        sys::defer_close(old);
    }
    sys::chdir(c"/").or_fail(|b| write!(b, "chdir /"))?;
    if let Some(flag) = plan.final_propagation {
        sys::mount(None, c"/", None, flag, None)
            .or_fail(|b| write!(b, "set rootfsPropagation on /"))?;
    }
    Ok(())
}

/// After the pivot (and the hooks): sysctls, read-only paths, masked paths, a read-only /dev
/// and root.
pub(crate) fn finish(plan: &RootfsPlan, p: Prepared) -> CResult<()> {
    let root = sys::openat(CWD, c"/", libc::O_PATH | libc::O_DIRECTORY, 0)
        .or_fail(|b| write!(b, "open /"))?;
    let r = root.as_raw_fd();
    for s in &plan.sysctls {
        let key = s.key.as_str();
        let fd = open_in(r, &s.rel, libc::O_WRONLY)
            .or_fail(|b| write!(b, "set sysctl {key}: open {}", s.shown))?;
        sys::write_all(fd.as_raw_fd(), s.value.to_bytes())
            .or_fail(|b| write!(b, "set sysctl {key}: write {}", s.shown))?;
        sys::defer_close(fd);
    }
    for path in &plan.readonly {
        readonly_path(r, path)?;
    }
    let mut null = None;
    for path in &plan.masked {
        mask_path(r, path, &mut null)?;
    }
    for fd in &p.read_only_later {
        sys::mount_setattr(fd.as_raw_fd(), false, attr::RDONLY, 0, 0)
            .or_fail(|b| write!(b, "remount /dev read-only"))?;
    }
    if plan.readonly_root {
        sys::mount_setattr(r, false, attr::RDONLY, 0, 0)
            .or_fail(|b| write!(b, "remount / read-only"))?;
    }
    null.into_iter()
        .chain([root, p.root])
        .chain(p.read_only_later)
        .for_each(sys::defer_close);
    Ok(())
}

/// A path that may be absent: `None` for ENOENT.
fn existing(root: RawFd, path: &InRoot) -> CResult<Option<OwnedFd>> {
    match open_in(root, path.rel(), libc::O_PATH) {
        Ok(fd) => Ok(Some(fd)),
        Err(Errno::ENOENT) => Ok(None),
        Err(e) => Err(ChildError::sys(e, format_args!("open {}", path.shown))),
    }
}

fn readonly_path(root: RawFd, path: &InRoot) -> CResult<()> {
    let Some(fd) = existing(root, path)? else {
        return Ok(());
    };
    let shown = path.shown.as_str();
    let tree = bind_tree(fd.as_raw_fd(), c"", true)
        .or_fail(|b| write!(b, "bind read-only path {shown}"))?;
    sys::mount_setattr(tree.as_raw_fd(), true, attr::RDONLY, 0, 0)
        .or_fail(|b| write!(b, "make {shown} read-only"))?;
    sys::move_mount_fd(tree.as_raw_fd(), fd.as_raw_fd())
        .or_fail(|b| write!(b, "attach read-only {shown}"))?;
    sys::defer_close(tree);
    sys::defer_close(fd);
    Ok(())
}

/// `null` keeps the container's /dev/null, opened by the first masked file.
fn mask_path(root: RawFd, path: &InRoot, null: &mut Option<OwnedFd>) -> CResult<()> {
    let Some(fd) = existing(root, path)? else {
        return Ok(());
    };
    let shown = path.shown.as_str();
    let cover = if resolve::is_dir(fd.as_raw_fd())? {
        let ro = [Param::Flag(c"ro".into())];
        new_fs(c"tmpfs", c"tmpfs", &ro, attr::RDONLY)
            .map_err(|(e, step)| fs_error(e, step, "mask directory"))?
    } else {
        let null = match null {
            Some(fd) => fd,
            None => null.insert(
                open_in(root, c"dev/null", libc::O_PATH)
                    .or_fail(|b| write!(b, "mask {shown}: open /dev/null"))?,
            ),
        };
        bind_tree(null.as_raw_fd(), c"", false).or_fail(|b| write!(b, "mask {shown}"))?
    };
    sys::move_mount_fd(cover.as_raw_fd(), fd.as_raw_fd()).or_fail(|b| write!(b, "mask {shown}"))?;
    sys::defer_close(cover);
    sys::defer_close(fd);
    Ok(())
}
