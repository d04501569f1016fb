//! Mount options as runc spells them, and what they become for the mount API: mount
//! attributes (per mount), superblock flags (per filesystem instance) and propagation.

use nix::mount::MsFlags;

use crate::error::Result;
use crate::sys::attr;

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
    /// The recursive options (`rro`, `rnosuid`...): mount attributes set and cleared on the
    /// whole tree with mount_setattr(AT_RECURSIVE).
    pub rec_set: u64,
    pub rec_clr: u64,
    /// `idmap` (false) or `ridmap` (true), when given.
    pub idmap: Option<bool>,
}

/// The recursive options, as runc names them: (name, clears, attribute).
pub(crate) const RECURSIVE_OPTIONS: &[(&str, bool, u64)] = &[
    ("rro", false, attr::RDONLY),
    ("rrw", true, attr::RDONLY),
    ("rnosuid", false, attr::NOSUID),
    ("rsuid", true, attr::NOSUID),
    ("rnodev", false, attr::NODEV),
    ("rdev", true, attr::NODEV),
    ("rnoexec", false, attr::NOEXEC),
    ("rexec", true, attr::NOEXEC),
    ("rnodiratime", false, attr::NODIRATIME),
    ("rdiratime", true, attr::NODIRATIME),
    ("rnosymfollow", false, attr::NOSYMFOLLOW),
    ("rsymfollow", true, attr::NOSYMFOLLOW),
    ("rnoatime", false, attr::NOATIME),
    ("ratime", true, attr::NOATIME),
    ("rstrictatime", false, attr::STRICTATIME),
    ("rnostrictatime", true, attr::STRICTATIME),
    ("rrelatime", false, 0),
    ("rnorelatime", true, 0),
];

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
        rec_set: 0,
        rec_clr: 0,
        idmap: None,
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
        } else if let Some((_, clears, a)) =
            RECURSIVE_OPTIONS.iter().find(|(name, _, _)| *name == opt)
        {
            let atime = matches!(
                opt,
                "rnoatime"
                    | "ratime"
                    | "rstrictatime"
                    | "rnostrictatime"
                    | "rrelatime"
                    | "rnorelatime"
            );
            if atime {
                // The kernel takes an atime mode as a whole: clear the field, set the mode
                // (relatime, which is 0, when an atime option is taken away).
                o.rec_clr |= attr::ATIME_MASK;
                o.rec_set &= !attr::ATIME_MASK;
                if !clears {
                    o.rec_set |= a;
                }
            } else if *clears {
                o.rec_clr |= a;
                o.rec_set &= !a;
            } else {
                o.rec_set |= a;
                o.rec_clr &= !a;
            }
        } else if opt == "idmap" || opt == "ridmap" {
            o.idmap = Some(opt == "ridmap");
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

/// The per-mount attributes of `flags`, as mount_setattr/fsmount want them (the atime mode
/// included: relatime unless noatime or strictatime is asked for).
pub(crate) fn mount_attrs(flags: MsFlags) -> u64 {
    let mut a = 0;
    for (ms, at) in [
        (MsFlags::MS_RDONLY, attr::RDONLY),
        (MsFlags::MS_NOSUID, attr::NOSUID),
        (MsFlags::MS_NODEV, attr::NODEV),
        (MsFlags::MS_NOEXEC, attr::NOEXEC),
        (MsFlags::MS_NODIRATIME, attr::NODIRATIME),
        (
            MsFlags::from_bits_retain(libc::MS_NOSYMFOLLOW),
            attr::NOSYMFOLLOW,
        ),
    ] {
        if flags.contains(ms) {
            a |= at;
        }
    }
    if flags.contains(MsFlags::MS_NOATIME) {
        a |= attr::NOATIME;
    } else if flags.contains(MsFlags::MS_STRICTATIME) {
        a |= attr::STRICTATIME;
    }
    a
}

/// What a bind remount with `flags` changes, as (set, clear) for mount_setattr: every
/// per-mount flag is set or cleared, as mount(2) with MS_REMOUNT|MS_BIND replaces them, except
/// the atime mode, which a remount keeps unless an atime option is given.
pub(crate) fn remount_attrs(flags: MsFlags) -> (u64, u64) {
    let set = mount_attrs(flags);
    let plain = attr::RDONLY | attr::NOSUID | attr::NODEV | attr::NOEXEC | attr::NOSYMFOLLOW;
    let mut clr = plain & !set;
    let atime = MsFlags::MS_NOATIME
        | MsFlags::MS_STRICTATIME
        | MsFlags::MS_RELATIME
        | MsFlags::MS_NODIRATIME;
    if flags.intersects(atime) {
        clr |= attr::ATIME_MASK | (attr::NODIRATIME & !set);
    }
    (set, clr)
}

/// The superblock flags of `flags`, as fsconfig flag names.
pub(crate) fn superblock_flags(flags: MsFlags) -> Vec<&'static str> {
    [
        (MsFlags::MS_RDONLY, "ro"),
        (MsFlags::MS_SYNCHRONOUS, "sync"),
        (MsFlags::MS_DIRSYNC, "dirsync"),
        (MsFlags::MS_MANDLOCK, "mand"),
        (MsFlags::MS_LAZYTIME, "lazytime"),
        (MsFlags::MS_I_VERSION, "iversion"),
        (MsFlags::MS_POSIXACL, "acl"),
    ]
    .into_iter()
    .filter(|(ms, _)| flags.contains(*ms))
    .map(|(_, name)| name)
    .collect()
}

/// A propagation change as (mount_setattr propagation value, recursive).
pub(crate) fn propagation_attr(p: MsFlags) -> (u64, bool) {
    ((p & !MsFlags::MS_REC).bits(), p.contains(MsFlags::MS_REC))
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
        let o = opts(&["rro", "rnosuid", "rnoatime", "ridmap"]);
        assert_eq!(o.rec_set, attr::RDONLY | attr::NOSUID | attr::NOATIME);
        assert_eq!(o.rec_clr, attr::ATIME_MASK);
        assert_eq!(o.idmap, Some(true));
        let o = opts(&["rro", "rrw", "ratime"]);
        assert_eq!((o.rec_set, o.rec_clr), (0, attr::RDONLY | attr::ATIME_MASK));
    }

    #[test]
    fn flags_become_mount_attributes() {
        let o = opts(&["ro", "nosuid", "noatime"]);
        assert_eq!(
            mount_attrs(o.flags),
            attr::RDONLY | attr::NOSUID | attr::NOATIME
        );
        assert_eq!(mount_attrs(opts(&["strictatime"]).flags), attr::STRICTATIME);
        // A remount replaces the plain flags and keeps the atime mode it is not told about.
        let (set, clr) = remount_attrs(opts(&["ro"]).flags);
        assert_eq!(set, attr::RDONLY);
        assert_eq!(
            clr,
            attr::NOSUID | attr::NODEV | attr::NOEXEC | attr::NOSYMFOLLOW
        );
        let (_, clr) = remount_attrs(opts(&["relatime"]).flags);
        assert!(clr & attr::ATIME_MASK == attr::ATIME_MASK);
        assert_eq!(
            superblock_flags(opts(&["ro", "sync"]).flags),
            ["ro", "sync"]
        );
        assert_eq!(
            propagation_attr(MsFlags::MS_SHARED | MsFlags::MS_REC),
            (libc::MS_SHARED, true)
        );
    }
}
