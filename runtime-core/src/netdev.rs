//! `linux.netDevices`: named interfaces of the runtime's network namespace moved into the
//! container's, renamed when the spec gives a `name`, set up; and moved back (down first, under
//! their own name again) when the container is deleted, as runc does.
//!
//! All of it runs in the runtime, over rtnetlink, never in the container's child: the move is
//! one RTM_NEWLINK on the host's device index with IFLA_NET_NS_FD (the container's namespace),
//! IFLA_IFNAME (the new name) and IFF_UP, which the kernel applies in that order. The way back
//! needs a socket inside the container's namespace, which a short-lived thread opens (setns
//! changes only the calling thread's network namespace).
//!
//! The move happens when the init asks for its runtime hooks (before prestart and
//! createRuntime, as runc), so hooks and the container's own setup see the devices. Moving back
//! needs the container's namespace to live: a created or running container deleted, or a joined
//! namespace. Once the init of a new namespace is gone the kernel has returned physical devices
//! to the initial namespace and destroyed virtual ones; nothing is left to move.

use std::ffi::CString;
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd, RawFd};
use std::path::Path;

use nix::errno::Errno;
use nix::fcntl::OFlag;
use nix::sys::stat::Mode;

use crate::error::{Error, Result, SysContext};
use crate::netlink;

/// `IFNAMSIZ` less the terminating NUL.
const IFNAME_MAX: usize = 15;
const IFLA_IFNAME: u16 = 3;
const IFLA_NET_NS_FD: u16 = 28;

/// One device to move: its name in the runtime's namespace and in the container's.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Device {
    pub host: String,
    pub inside: String,
    /// The host device's index, looked up before anything is made.
    index: i32,
}

/// An interface name the kernel takes (dev_valid_name): 1-15 bytes, not `.` or `..`, no `/`,
/// `:`, whitespace or NUL.
fn check_name(name: &str, what: &str) -> Result<()> {
    let bad = name.is_empty()
        || name.len() > IFNAME_MAX
        || name == "."
        || name == ".."
        || name
            .bytes()
            .any(|b| b == b'/' || b == b':' || b == 0 || b.is_ascii_whitespace());
    if bad {
        return Err(Error::Spec(format!(
            "linux.netDevices: invalid {what} {name:?} (1-{IFNAME_MAX} bytes, not \".\" or \"..\", \
             no '/', ':' or whitespace)"
        )));
    }
    Ok(())
}

/// The spec's devices, checked: valid and distinct names, and a network namespace of the
/// container's own to move them into. Sorted by host name (the spec's map has no order).
pub(crate) fn devices_of(linux: &oci_spec::runtime::Linux) -> Result<Vec<(String, String)>> {
    let Some(map) = linux.net_devices() else {
        return Ok(Vec::new());
    };
    let net = linux
        .namespaces()
        .iter()
        .flatten()
        .find(|n| n.typ() == oci_spec::runtime::LinuxNamespaceType::Network);
    let Some(net) = net else {
        return Err(Error::Spec(
            "linux.netDevices needs a network namespace of the container's own (the host's \
             interfaces cannot be moved into the host's namespace)"
                .into(),
        ));
    };
    if let Some(p) = net.path() {
        let same = |a: &Path, b: &Path| match (std::fs::metadata(a), std::fs::metadata(b)) {
            (Ok(a), Ok(b)) => {
                use std::os::unix::fs::MetadataExt;
                a.dev() == b.dev() && a.ino() == b.ino()
            }
            _ => false,
        };
        if same(p, Path::new("/proc/self/ns/net")) {
            return Err(Error::Spec(format!(
                "linux.netDevices: the network namespace {} is the runtime's own",
                p.display()
            )));
        }
    }
    let mut out: Vec<(String, String)> = Vec::new();
    for (host, dev) in map {
        check_name(host, "host interface name")?;
        let inside = match dev.name().as_deref() {
            Some(n) if !n.is_empty() => n.to_string(),
            _ => host.clone(),
        };
        check_name(&inside, "name")?;
        out.push((host.clone(), inside));
    }
    out.sort();
    for w in out.windows(2) {
        if w[0].1 == w[1].1 {
            return Err(Error::Spec(format!(
                "linux.netDevices: {:?} and {:?} would both be {:?} in the container",
                w[0].0, w[1].0, w[0].1
            )));
        }
    }
    // The name the kernel already gives the loopback of every new namespace.
    if let Some((host, _)) = out.iter().find(|(_, i)| i == "lo") {
        return Err(Error::Spec(format!(
            "linux.netDevices: {host:?} cannot be \"lo\" in the container (its loopback)"
        )));
    }
    Ok(out)
}

/// The devices of `linux`, each looked up in the runtime's namespace: a missing one is an
/// error naming it, before anything exists.
pub(crate) fn resolve(linux: &oci_spec::runtime::Linux) -> Result<Vec<Device>> {
    let mut out = Vec::new();
    for (host, inside) in devices_of(linux)? {
        let index = index_of(&host);
        if index == 0 {
            return Err(Error::Spec(format!(
                "linux.netDevices: there is no network interface {host:?} on the host"
            )));
        }
        out.push(Device {
            host,
            inside,
            index,
        });
    }
    Ok(out)
}

/// The index of interface `name` in the calling thread's network namespace; 0 when none.
fn index_of(name: &str) -> i32 {
    match CString::new(name) {
        // SAFETY: a NUL-terminated name; if_nametoindex only reads it.
        Ok(c) => unsafe { libc::if_nametoindex(c.as_ptr()) as i32 },
        Err(_) => 0,
    }
}

/// RTM_NEWLINK on `index`: into the namespace `netns` when given, renamed to `name` when
/// given, up or down when `up` says, with an ack.
fn encode_setlink(
    seq: u32,
    index: i32,
    up: Option<bool>,
    netns: Option<RawFd>,
    name: Option<&str>,
) -> Vec<u8> {
    let mut m = vec![0u8; 32];
    m[4..6].copy_from_slice(&libc::RTM_NEWLINK.to_ne_bytes());
    m[6..8].copy_from_slice(&((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16).to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    m[20..24].copy_from_slice(&index.to_ne_bytes());
    if let Some(up) = up {
        let flag = libc::IFF_UP as u32;
        m[24..28].copy_from_slice(&(if up { flag } else { 0 }).to_ne_bytes());
        m[28..32].copy_from_slice(&flag.to_ne_bytes());
    }
    let mut attr = |typ: u16, payload: &[u8]| {
        let len = 4 + payload.len();
        m.extend_from_slice(&(len as u16).to_ne_bytes());
        m.extend_from_slice(&typ.to_ne_bytes());
        m.extend_from_slice(payload);
        m.resize((m.len() + 3) & !3, 0);
    };
    if let Some(fd) = netns {
        attr(IFLA_NET_NS_FD, &(fd as u32).to_ne_bytes());
    }
    if let Some(n) = name {
        let mut z = n.as_bytes().to_vec();
        z.push(0);
        attr(IFLA_IFNAME, &z);
    }
    let len = m.len() as u32;
    m[0..4].copy_from_slice(&len.to_ne_bytes());
    m
}

fn open_ns(path: &str) -> Result<OwnedFd> {
    nix::fcntl::open(path, OFlag::O_RDONLY | OFlag::O_CLOEXEC, Mode::empty())
        .ctx(|| format!("open {path}"))
}

fn route_socket() -> std::result::Result<OwnedFd, Errno> {
    // SAFETY: route_socket returned a new fd that only this OwnedFd owns.
    netlink::route_socket().map(|fd| unsafe { OwnedFd::from_raw_fd(fd) })
}

/// Moves `devices` into the network namespace of `pid` (the container's init), each renamed
/// and up. Returns an fd on that namespace, which keeps it alive for [`restore`]. On a
/// failure, the devices already moved go back first.
pub(crate) fn move_in(pid: i32, devices: &[Device]) -> Result<OwnedFd> {
    let ns = open_ns(&format!("/proc/{pid}/ns/net"))?;
    let sock = route_socket().map_err(|e| Error::sys("linux.netDevices: netlink socket", e))?;
    for (i, d) in devices.iter().enumerate() {
        let name = (d.inside != d.host).then_some(d.inside.as_str());
        let req = encode_setlink(
            i as u32 + 1,
            d.index,
            Some(true),
            Some(ns.as_raw_fd()),
            name,
        );
        if let Err(e) = netlink::transact(sock.as_raw_fd(), &req, i as u32 + 1) {
            // The kernel may have moved it before failing the rename: take it back too.
            let _ = restore(&ns, &names(&devices[..=i]));
            return Err(Error::sys(
                format!(
                    "linux.netDevices: move {:?} into the container's network namespace{}",
                    d.host,
                    name.map(|n| format!(" as {n:?}")).unwrap_or_default()
                ),
                e,
            ));
        }
    }
    Ok(ns)
}

/// Moves `devices` out of the network namespace `ns` back into the calling thread's, each
/// down first and under its host name again. A device no longer there (under either name) is
/// skipped; the first failure is returned after every device was tried.
pub(crate) fn restore(ns: &OwnedFd, devices: &[(String, String)]) -> Result<()> {
    let own = open_ns("/proc/thread-self/ns/net")?;
    let ns_fd = ns.as_raw_fd();
    let names: Vec<(String, String)> = devices.to_vec();
    // A thread of our own enters the container's namespace: its socket and lookups are
    // there, and the thread ends there, leaving ours untouched.
    let inside = std::thread::scope(|s| {
        s.spawn(move || -> std::result::Result<(OwnedFd, Vec<i32>), Errno> {
            // SAFETY: ns_fd is an open namespace fd; setns changes this thread only.
            if unsafe { libc::setns(ns_fd, libc::CLONE_NEWNET) } != 0 {
                return Err(Errno::last());
            }
            let sock = route_socket()?;
            let idx = names
                .iter()
                .map(|(host, inside)| match index_of(inside) {
                    0 => index_of(host),
                    i => i,
                })
                .collect();
            Ok((sock, idx))
        })
        .join()
    });
    let (sock, indexes) =
        match inside {
            Ok(Ok(v)) => v,
            Ok(Err(e)) => {
                return Err(Error::sys(
                    "linux.netDevices: enter the container's network namespace",
                    e,
                ))
            }
            Err(_) => return Err(Error::Other(
                "linux.netDevices: the thread entering the container's network namespace failed"
                    .into(),
            )),
        };
    let mut first = None;
    let mut seq = 0;
    for ((host, inside), index) in devices.iter().zip(indexes) {
        if index == 0 {
            continue;
        }
        seq += 2;
        let down = encode_setlink(seq - 1, index, Some(false), None, None);
        let back = encode_setlink(seq, index, None, Some(own.as_raw_fd()), Some(host));
        let r = netlink::transact(sock.as_raw_fd(), &down, seq - 1)
            .and_then(|()| netlink::transact(sock.as_raw_fd(), &back, seq));
        if let (Err(e), None) = (r, &first) {
            first = Some(Error::sys(
                format!("linux.netDevices: move {inside:?} back to the host as {host:?}"),
                e,
            ));
        }
    }
    first.map_or(Ok(()), Err)
}

/// [`restore`] for a container whose network namespace is reached through `path` (the
/// init's `/proc/<pid>/ns/net`, or the namespace the spec joined).
pub(crate) fn restore_at(path: &Path, devices: &[(String, String)]) -> Result<()> {
    if devices.is_empty() {
        return Ok(());
    }
    let ns = open_ns(&path.to_string_lossy())?;
    restore(&ns, devices)
}

/// The (host, container) name pairs of `devices`, as the state record keeps them.
pub(crate) fn names(devices: &[Device]) -> Vec<(String, String)> {
    devices
        .iter()
        .map(|d| (d.host.clone(), d.inside.clone()))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn linux(json: &str) -> oci_spec::runtime::Linux {
        serde_json::from_str(json).expect("linux")
    }

    #[test]
    fn names_are_checked_like_the_kernel() {
        for ok in ["eth0", "a", "abcdefghijklmno", "net-1_x.y"] {
            assert!(check_name(ok, "name").is_ok(), "{ok}");
        }
        for bad in [
            "",
            ".",
            "..",
            "a/b",
            "a:b",
            "a b",
            "abcdefghijklmnop",
            "a\tb",
        ] {
            let e = check_name(bad, "name").unwrap_err().to_string();
            assert!(e.contains("invalid name"), "{bad}: {e}");
        }
    }

    #[test]
    fn devices_need_an_own_network_namespace_and_distinct_names() {
        let e = devices_of(&linux(r#"{"netDevices":{"d0":{}}}"#))
            .unwrap_err()
            .to_string();
        assert!(e.contains("network namespace"), "{e}");
        let e = devices_of(&linux(
            r#"{"namespaces":[{"type":"network","path":"/proc/self/ns/net"}],"netDevices":{"d0":{}}}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("runtime's own"), "{e}");
        let e = devices_of(&linux(
            r#"{"namespaces":[{"type":"network"}],"netDevices":{"d0":{"name":"x"},"d1":{"name":"x"}}}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("both be \"x\""), "{e}");
        let e = devices_of(&linux(
            r#"{"namespaces":[{"type":"network"}],"netDevices":{"d0":{"name":"lo"}}}"#,
        ))
        .unwrap_err()
        .to_string();
        assert!(e.contains("loopback"), "{e}");
        let v = devices_of(&linux(
            r#"{"namespaces":[{"type":"network"}],"netDevices":{"d1":{},"d0":{"name":"eth0"}}}"#,
        ))
        .unwrap();
        assert_eq!(
            v,
            vec![("d0".into(), "eth0".into()), ("d1".into(), "d1".into())]
        );
    }

    #[test]
    fn setlink_request_carries_the_namespace_name_and_flags() {
        let m = encode_setlink(5, 7, Some(true), Some(9), Some("eth0"));
        let u32_at = |at: usize| u32::from_ne_bytes([m[at], m[at + 1], m[at + 2], m[at + 3]]);
        let u16_at = |at: usize| u16::from_ne_bytes([m[at], m[at + 1]]);
        assert_eq!(u32_at(0) as usize, m.len());
        assert_eq!(m.len() % 4, 0);
        assert_eq!(u16_at(4), libc::RTM_NEWLINK);
        assert_eq!(u32_at(8), 5);
        assert_eq!(u32_at(20), 7, "ifi_index");
        assert_eq!(u32_at(24), libc::IFF_UP as u32, "ifi_flags");
        assert_eq!(u32_at(28), libc::IFF_UP as u32, "ifi_change");
        // IFLA_NET_NS_FD, 8 bytes; then IFLA_IFNAME "eth0\0" padded to 12.
        assert_eq!((u16_at(32), u16_at(34), u32_at(36)), (8, IFLA_NET_NS_FD, 9));
        assert_eq!((u16_at(40), u16_at(42)), (9, IFLA_IFNAME));
        assert_eq!(&m[44..49], b"eth0\0");
        assert_eq!(m.len(), 52);
        let down = encode_setlink(1, 3, Some(false), None, None);
        assert_eq!(down.len(), 32);
        assert_eq!(
            u32::from_ne_bytes([down[24], down[25], down[26], down[27]]),
            0
        );
    }
}
