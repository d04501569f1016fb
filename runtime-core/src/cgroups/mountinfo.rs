//! The cgroup mounts of this mount namespace and the runtime's own cgroups.

use super::CgroupError;
use std::collections::BTreeMap;
use std::path::PathBuf;

/// One cgroup hierarchy as mounted here.
#[derive(Debug, Clone)]
pub(crate) struct CgroupMount {
    /// Where it is mounted.
    pub mount_point: PathBuf,
    /// The cgroup shown at the mount point (not "/" inside a cgroup namespace or for a bind
    /// mount of a sub-cgroup).
    pub root: String,
    /// cgroup2 rather than v1.
    pub v2: bool,
    /// v1 controllers (and `name=...` for named hierarchies); empty for cgroup2.
    pub controllers: Vec<String>,
}

impl CgroupMount {
    /// The components of `cgroup` (a path in this hierarchy, as /proc/self/cgroup shows it)
    /// below the mount's root, so that it can be joined to the mount point.
    pub fn relative_to_root(&self, cgroup: &str) -> Vec<String> {
        let root: Vec<&str> = self.root.split('/').filter(|c| !c.is_empty()).collect();
        let cg: Vec<&str> = cgroup.split('/').filter(|c| !c.is_empty()).collect();
        if cg.len() >= root.len() && cg[..root.len()] == root[..] {
            cg[root.len()..].iter().map(|s| s.to_string()).collect()
        } else {
            // Our cgroup is outside the mounted part: the mount root is the best we can see.
            Vec::new()
        }
    }
}

/// mountinfo escapes spaces and a few other bytes as \ooo.
fn unescape(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' && i + 3 < b.len() {
            let oct = std::str::from_utf8(&b[i + 1..i + 4]).unwrap_or("");
            if let Ok(v) = u8::from_str_radix(oct, 8) {
                out.push(v);
                i += 4;
                continue;
            }
        }
        out.push(b[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

const NOT_CONTROLLERS: &[&str] = &[
    "rw",
    "ro",
    "noprefix",
    "clone_children",
    "xattr",
    "cpuset_v2_mode",
    "favordynmods",
    "nsdelegate",
    "memory_recursiveprot",
    "memory_localevents",
    "memory_hugetlb_accounting",
    "none",
];

pub(crate) fn parse_mountinfo(text: &str) -> Vec<CgroupMount> {
    let mut out = Vec::new();
    for line in text.lines() {
        let Some((pre, post)) = line.split_once(" - ") else {
            continue;
        };
        let pre: Vec<&str> = pre.split(' ').collect();
        let post: Vec<&str> = post.split(' ').collect();
        if pre.len() < 5 || post.len() < 3 {
            continue;
        }
        let fstype = post[0];
        if fstype != "cgroup" && fstype != "cgroup2" {
            continue;
        }
        let controllers = if fstype == "cgroup" {
            post[2]
                .split(',')
                .filter(|o| !NOT_CONTROLLERS.contains(o) && !o.starts_with("release_agent="))
                .map(str::to_string)
                .collect()
        } else {
            Vec::new()
        };
        out.push(CgroupMount {
            mount_point: PathBuf::from(unescape(pre[4])),
            root: unescape(pre[3]),
            v2: fstype == "cgroup2",
            controllers,
        });
    }
    out
}

pub(crate) fn cgroup_mounts() -> Result<Vec<CgroupMount>, CgroupError> {
    let path = "/proc/self/mountinfo";
    let text = crate::readfile::read_to_string(path).map_err(|source| CgroupError::Io {
        op: "read".into(),
        path: path.into(),
        source,
    })?;
    Ok(parse_mountinfo(&text))
}

/// /proc/self/cgroup as controller -> path; `""` is the cgroup2 hierarchy.
pub(crate) fn parse_proc_cgroup(text: &str) -> BTreeMap<String, String> {
    let mut map = BTreeMap::new();
    for line in text.lines() {
        let mut it = line.splitn(3, ':');
        let (Some(_), Some(ctrls), Some(path)) = (it.next(), it.next(), it.next()) else {
            continue;
        };
        if ctrls.is_empty() {
            map.insert(String::new(), path.to_string());
        } else {
            for c in ctrls.split(',') {
                map.insert(c.to_string(), path.to_string());
            }
        }
    }
    map
}

pub(crate) fn own_cgroups() -> Result<BTreeMap<String, String>, CgroupError> {
    let path = "/proc/self/cgroup";
    let text = crate::readfile::read_to_string(path).map_err(|source| CgroupError::Io {
        op: "read".into(),
        path: path.into(),
        source,
    })?;
    Ok(parse_proc_cgroup(&text))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_hybrid_mountinfo() {
        let t = "30 25 0:26 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n\
                 31 25 0:27 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
                 32 25 0:28 /x /sys/fs/cgroup/systemd rw - cgroup cgroup rw,xattr,name=systemd\n\
                 33 25 0:29 / /mnt/a\\040b rw - ext4 /dev/sda rw\n";
        let m = parse_mountinfo(t);
        assert_eq!(m.len(), 3);
        assert_eq!(m[0].controllers, vec!["cpu"]);
        assert!(m[1].v2);
        assert_eq!(m[2].controllers, vec!["name=systemd"]);
        assert_eq!(m[2].relative_to_root("/x/y/z"), vec!["y", "z"]);
        assert_eq!(unescape("a\\040b"), "a b");
    }

    #[test]
    fn parses_proc_cgroup() {
        let m = parse_proc_cgroup("4:memory:/p/q\n2:cpu,cpuacct:/\n0::/u\n");
        assert_eq!(m["memory"], "/p/q");
        assert_eq!(m["cpuacct"], "/");
        assert_eq!(m[""], "/u");
    }
}
