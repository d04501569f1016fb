//! Paths inside the container's root, resolved from an fd on the root and acted on by fd.
//!
//! The rootfs belongs to the image, and another container sharing a volume may be changing
//! it while we set up: a path string checked and then handed to the kernel again can be
//! swapped for a symlink in between. So every path is resolved once, with
//! openat2(RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS) from the root's fd (symlinks and `..` stay
//! inside, `/proc/self/fd/N` and friends are refused), missing directories are made relative
//! to the fd of their parent, and the caller acts on the resulting fd.
//!
//! [`InRoot`] is prepared in the parent (every prefix as a C string); the functions run in the
//! child and only make syscalls.

use std::ffi::{CStr, CString};
use std::fmt::Write as _;
use std::os::fd::{AsRawFd, OwnedFd, RawFd};
use std::path::{Component, Path};

use nix::errno::Errno;

use crate::child::{CResult, ChildError, OrFail};
use crate::error::{Error, Result};
use crate::sys::{self, RESOLVE_IN_ROOT, RESOLVE_NO_MAGICLINKS};

const RESOLVE: u64 = RESOLVE_IN_ROOT | RESOLVE_NO_MAGICLINKS;

/// A path inside the container's root, split for component-wise creation.
#[derive(Debug, Clone)]
pub(crate) struct InRoot {
    /// The path as the spec wrote it, for messages.
    pub shown: String,
    /// "a", "a/b", "a/b/c": each prefix, relative to the root.
    prefixes: Vec<CString>,
    /// The last component of each prefix.
    names: Vec<CString>,
}

fn cstr(s: &[u8], what: &Path) -> Result<CString> {
    CString::new(s).map_err(|_| Error::Spec(format!("path {} contains a NUL byte", what.display())))
}

impl InRoot {
    /// Split `p` (absolute or relative to the root; `.` and the root itself vanish).
    pub(crate) fn new(p: &Path) -> Result<InRoot> {
        use std::os::unix::ffi::OsStrExt;
        let mut prefixes = Vec::new();
        let mut names = Vec::new();
        let mut acc: Vec<u8> = Vec::new();
        for c in p.components() {
            let name = match c {
                Component::Normal(n) => n.as_bytes(),
                Component::ParentDir => b"..",
                Component::RootDir | Component::CurDir | Component::Prefix(_) => continue,
            };
            if !acc.is_empty() {
                acc.push(b'/');
            }
            acc.extend_from_slice(name);
            prefixes.push(cstr(&acc, p)?);
            names.push(cstr(name, p)?);
        }
        Ok(InRoot {
            shown: p.display().to_string(),
            prefixes,
            names,
        })
    }

    /// The whole path relative to the root (`.` for the root).
    pub(crate) fn rel(&self) -> &CStr {
        self.prefixes.last().map_or(c".", |p| p.as_c_str())
    }

    /// The last component, unless this is the root.
    pub(crate) fn name(&self) -> Option<&CStr> {
        self.names.last().map(|n| n.as_c_str())
    }

    fn depth(&self) -> usize {
        self.prefixes.len()
    }
}

/// openat2 inside `root`.
pub(crate) fn open_in(root: RawFd, rel: &CStr, flags: i32) -> std::result::Result<OwnedFd, Errno> {
    sys::openat2(root, rel, flags, 0, RESOLVE)
}

/// The directory `p` as an O_PATH fd; with `create`, missing directories (mode 0755) are made.
pub(crate) fn dir(root: RawFd, p: &InRoot, create: bool) -> CResult<OwnedFd> {
    dir_upto(root, p, p.depth(), create)
}

/// The parent directory of `p` (the root for a top-level name) and `p`'s last component.
pub(crate) fn parent(root: RawFd, p: &InRoot, create: bool) -> CResult<(OwnedFd, &CStr)> {
    let name = p
        .name()
        .ok_or_else(|| ChildError::msg(format_args!("{} names the root itself", p.shown)))?;
    Ok((dir_upto(root, p, p.depth() - 1, create)?, name))
}

fn dir_upto(root: RawFd, p: &InRoot, depth: usize, create: bool) -> CResult<OwnedFd> {
    const DIR: i32 = libc::O_PATH | libc::O_DIRECTORY;
    let target = if depth == 0 {
        c"."
    } else {
        p.prefixes[depth - 1].as_c_str()
    };
    match open_in(root, target, DIR) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) if create => {}
        Err(e) => {
            return Err(ChildError::sys(
                e,
                format_args!("open {} in the rootfs", p.shown),
            ))
        }
    }
    // Find the deepest part that exists (usually the parent), then make what is missing
    // below it, each new level re-resolved from the root (a name may be `..` or turn into a
    // symlink under us: resolution stays inside either way).
    let mut start = 0;
    let mut cur = None;
    for i in (0..depth.saturating_sub(1)).rev() {
        match open_in(root, &p.prefixes[i], DIR) {
            Ok(fd) => {
                start = i + 1;
                cur = Some(fd);
                break;
            }
            Err(Errno::ENOENT) => {}
            Err(e) => {
                return Err(ChildError::sys(
                    e,
                    format_args!("open {:?} for {}", p.prefixes[i], p.shown),
                ))
            }
        }
    }
    let mut cur = match cur {
        Some(fd) => fd,
        None => open_in(root, c".", DIR).or_fail(|b| write!(b, "open the rootfs"))?,
    };
    for i in start..depth {
        match sys::mkdirat(cur.as_raw_fd(), &p.names[i], 0o755) {
            Ok(()) | Err(Errno::EEXIST) => {}
            Err(e) => {
                return Err(ChildError::sys(
                    e,
                    format_args!("mkdir {:?} for {}", p.names[i], p.shown),
                ))
            }
        }
        let next = open_in(root, &p.prefixes[i], DIR)
            .or_fail(|b| write!(b, "open {:?} for {}", p.prefixes[i], p.shown))?;
        // In the init's mount work, closed with the others at its end (see defer_close).
        sys::defer_close(std::mem::replace(&mut cur, next));
    }
    Ok(cur)
}

/// The file (or any non-directory) `p` as an O_PATH fd; with `create`, an empty regular file
/// (and its missing parents) is made when nothing is there.
pub(crate) fn file(root: RawFd, p: &InRoot, create: bool) -> CResult<OwnedFd> {
    match open_in(root, p.rel(), libc::O_PATH) {
        Ok(fd) => return Ok(fd),
        Err(Errno::ENOENT) if create => {}
        Err(e) => {
            return Err(ChildError::sys(
                e,
                format_args!("open {} in the rootfs", p.shown),
            ))
        }
    }
    let (dir, name) = parent(root, p, true)?;
    let flags = libc::O_CREAT | libc::O_EXCL | libc::O_WRONLY | libc::O_NOFOLLOW;
    match sys::openat(dir.as_raw_fd(), name, flags, 0o644) {
        Ok(_) | Err(Errno::EEXIST) => {}
        Err(e) => return Err(ChildError::sys(e, format_args!("create {}", p.shown))),
    }
    open_in(root, p.rel(), libc::O_PATH).or_fail(|b| write!(b, "open {} in the rootfs", p.shown))
}

/// Whether `fd` is a directory.
pub(crate) fn is_dir(fd: RawFd) -> CResult<bool> {
    let st = sys::fstat(fd).or_fail(|b| write!(b, "fstat"))?;
    Ok(st.st_mode & libc::S_IFMT == libc::S_IFDIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::symlink;

    fn scratch(name: &str) -> std::path::PathBuf {
        let d = std::env::temp_dir().join(format!("baleia-resolve-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&d);
        std::fs::create_dir_all(&d).expect("mkdir scratch");
        d
    }

    fn root_fd(p: &Path) -> OwnedFd {
        let c = CString::new(p.as_os_str().as_encoded_bytes()).expect("path");
        sys::openat(sys::CWD, &c, libc::O_PATH | libc::O_DIRECTORY, 0).expect("open root")
    }

    #[test]
    fn prefixes_of_a_path() {
        let p = InRoot::new(Path::new("/a/./b/../c")).expect("split");
        assert_eq!(p.rel(), c"a/b/../c");
        assert_eq!(p.name(), Some(c"c"));
        let r = InRoot::new(Path::new("/")).expect("root");
        assert_eq!(r.rel(), c".");
        assert!(r.name().is_none());
    }

    #[test]
    fn symlinks_and_dotdot_stay_inside_and_creation_follows_them_inside() {
        let base = scratch("inside");
        let root = base.join("root");
        let outside = base.join("outside");
        std::fs::create_dir_all(&root).expect("root");
        std::fs::create_dir_all(&outside).expect("outside");
        symlink(&outside, root.join("abs")).expect("symlink");
        symlink("../../..", root.join("up")).expect("symlink");
        let fd = root_fd(&root);
        // An absolute symlink is read inside the root: there it dangles, and nothing is made
        // through it (on the host or anywhere).
        let e = dir(
            fd.as_raw_fd(),
            &InRoot::new(Path::new("/abs/x/y")).expect("p"),
            true,
        )
        .expect_err("a dangling symlink");
        assert!(format!("{e:?}").contains("ENOENT"), "{e:?}");
        assert_eq!(std::fs::read_dir(&outside).expect("ls").count(), 0);
        // One that resolves inside the root is followed, and missing parts are made there.
        std::fs::create_dir_all(root.join("inner")).expect("inner");
        symlink("/inner", root.join("rel")).expect("symlink");
        drop(
            dir(
                fd.as_raw_fd(),
                &InRoot::new(Path::new("/rel/x/y")).expect("p"),
                true,
            )
            .expect("dir"),
        );
        assert!(root.join("inner/x/y").is_dir());
        let f = file(
            fd.as_raw_fd(),
            &InRoot::new(Path::new("/up/up/f")).expect("p"),
            true,
        )
        .expect("file");
        drop(f);
        assert!(root.join("f").is_file());
        // Magic links are refused even where the path is otherwise fine.
        let host = root_fd(Path::new("/"));
        assert!(open_in(host.as_raw_fd(), c"proc/self/status", libc::O_PATH).is_ok());
        assert_eq!(
            open_in(host.as_raw_fd(), c"proc/self/cwd", libc::O_PATH).err(),
            Some(Errno::ELOOP)
        );
        std::fs::remove_dir_all(&base).expect("cleanup");
    }
}
