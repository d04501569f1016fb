//! Bringing up the loopback interface of a new network namespace over rtnetlink.
//!
//! A network namespace starts with `lo` down, so anything that talks to 127.0.0.1 inside fails;
//! runc and crun bring it up for every network namespace they create (never for a joined one).
//! This runs in the container's child between clone3 and execve, so it makes raw syscalls only,
//! on fixed-size stack buffers: no allocation, no locks, no formatting.

use nix::errno::Errno;

/// `struct nlmsghdr` (16 bytes) followed by `struct ifinfomsg` (16 bytes).
const REQUEST_LEN: usize = 32;
/// `struct nlmsghdr` is 16 bytes; `struct nlmsgerr` starts with an `int error`.
const NLMSG_HDRLEN: usize = 16;
/// The loopback interface is the first one of every network namespace.
const LOOPBACK_IFINDEX: i32 = 1;
/// Room for the ack: header, error, the echoed request header and extended-ack attributes.
const ACK_BUF: usize = 512;

/// The RTM_NEWLINK request that sets IFF_UP on interface `ifindex`, asking for an ack.
fn encode_link_up(seq: u32, ifindex: i32) -> [u8; REQUEST_LEN] {
    let mut m = [0u8; REQUEST_LEN];
    // nlmsghdr: len, type, flags, seq, pid (0: the kernel fills in our port id).
    m[0..4].copy_from_slice(&(REQUEST_LEN as u32).to_ne_bytes());
    m[4..6].copy_from_slice(&libc::RTM_NEWLINK.to_ne_bytes());
    let flags = (libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16;
    m[6..8].copy_from_slice(&flags.to_ne_bytes());
    m[8..12].copy_from_slice(&seq.to_ne_bytes());
    // ifinfomsg: family AF_UNSPEC, pad, type 0, index, flags, change mask.
    m[20..24].copy_from_slice(&ifindex.to_ne_bytes());
    let up = libc::IFF_UP as u32;
    m[24..28].copy_from_slice(&up.to_ne_bytes());
    m[28..32].copy_from_slice(&up.to_ne_bytes());
    m
}

fn u32_at(b: &[u8], at: usize) -> Option<u32> {
    let s = b.get(at..at + 4)?;
    Some(u32::from_ne_bytes([s[0], s[1], s[2], s[3]]))
}

fn u16_at(b: &[u8], at: usize) -> Option<u16> {
    let s = b.get(at..at + 2)?;
    Some(u16::from_ne_bytes([s[0], s[1]]))
}

/// Finds the kernel's answer to request `seq` in `buf` (one datagram of netlink messages):
/// `Ok` for an ack, the errno of an error ack, EBADMSG when there is no well-formed answer.
fn parse_ack(buf: &[u8], seq: u32) -> Result<(), Errno> {
    let mut at = 0usize;
    while at + NLMSG_HDRLEN <= buf.len() {
        let len = u32_at(buf, at).ok_or(Errno::EBADMSG)? as usize;
        let typ = u16_at(buf, at + 4).ok_or(Errno::EBADMSG)?;
        let mseq = u32_at(buf, at + 8).ok_or(Errno::EBADMSG)?;
        if len < NLMSG_HDRLEN || at + len > buf.len() {
            return Err(Errno::EBADMSG);
        }
        if mseq == seq && typ == libc::NLMSG_ERROR as u16 {
            let code = u32_at(buf, at + NLMSG_HDRLEN).ok_or(Errno::EBADMSG)? as i32;
            return match code {
                0 => Ok(()),
                // The kernel sends the negated errno.
                e if e < 0 => Err(Errno::from_raw(-e)),
                _ => Err(Errno::EBADMSG),
            };
        }
        // NLMSG_ALIGN: messages are padded to 4 bytes.
        at += (len + 3) & !3;
    }
    Err(Errno::EBADMSG)
}

/// Closes an fd when dropped (an `OwnedFd` would do the same; this keeps the module free of
/// anything but syscalls).
struct Fd(libc::c_int);

impl Drop for Fd {
    fn drop(&mut self) {
        // SAFETY: the fd was returned by socket(2) and is owned by this guard alone.
        unsafe { libc::close(self.0) };
    }
}

/// Sets `lo` up in the caller's current network namespace and waits for the kernel's ack.
///
/// Safe to call between clone3 and execve: syscalls and stack buffers only. The caller must be
/// in a network namespace it created (joined namespaces belong to someone else and are never
/// touched) and hold CAP_NET_ADMIN over it.
pub(crate) fn loopback_up() -> Result<(), Errno> {
    let sock = Fd(route_socket()?);
    let seq = 1;
    transact(sock.0, &encode_link_up(seq, LOOPBACK_IFINDEX), seq)
}

/// A NETLINK_ROUTE socket (close-on-exec) in the caller's network namespace.
pub(crate) fn route_socket() -> Result<libc::c_int, Errno> {
    // SAFETY: plain syscall with integer arguments.
    let raw = unsafe {
        libc::socket(
            libc::AF_NETLINK,
            libc::SOCK_RAW | libc::SOCK_CLOEXEC,
            libc::NETLINK_ROUTE,
        )
    };
    if raw < 0 {
        return Err(Errno::last());
    }
    Ok(raw)
}

/// Sends request `req` (numbered `seq`, asking for an ack) to the kernel over `sock` and
/// waits for its answer: `Ok` for an ack, the errno of an error ack. Syscalls and a stack
/// buffer only, so that the container child may call it too.
pub(crate) fn transact(sock: libc::c_int, req: &[u8], seq: u32) -> Result<(), Errno> {
    // SAFETY: an all-zero sockaddr_nl is valid; we set the family (pid 0 is the kernel).
    let mut kernel: libc::sockaddr_nl = unsafe { std::mem::zeroed() };
    kernel.nl_family = libc::AF_NETLINK as libc::sa_family_t;
    loop {
        // SAFETY: req is valid for its length; kernel is a valid sockaddr_nl of that size.
        let n = unsafe {
            libc::sendto(
                sock,
                req.as_ptr().cast(),
                req.len(),
                0,
                (&kernel as *const libc::sockaddr_nl).cast(),
                std::mem::size_of::<libc::sockaddr_nl>() as libc::socklen_t,
            )
        };
        if n >= 0 {
            break;
        }
        let e = Errno::last();
        if e != Errno::EINTR {
            return Err(e);
        }
    }
    let mut buf = [0u8; ACK_BUF];
    loop {
        // SAFETY: buf is ACK_BUF writable bytes.
        let n = unsafe { libc::recv(sock, buf.as_mut_ptr().cast(), buf.len(), 0) };
        if n < 0 {
            let e = Errno::last();
            if e == Errno::EINTR {
                continue;
            }
            return Err(e);
        }
        let got = &buf[..n as usize];
        match parse_ack(got, seq) {
            // Not our answer (nothing else should arrive on this socket, but be sure).
            Err(Errno::EBADMSG) if !got.is_empty() && u32_at(got, 8) != Some(seq) => continue,
            r => return r,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn request_is_an_rtm_newlink_setting_iff_up_on_the_index() {
        let m = encode_link_up(7, 1);
        assert_eq!(u32_at(&m, 0), Some(32), "nlmsg_len");
        assert_eq!(u16_at(&m, 4), Some(libc::RTM_NEWLINK), "nlmsg_type");
        assert_eq!(
            u16_at(&m, 6),
            Some((libc::NLM_F_REQUEST | libc::NLM_F_ACK) as u16),
            "nlmsg_flags"
        );
        assert_eq!(u32_at(&m, 8), Some(7), "nlmsg_seq");
        assert_eq!(u32_at(&m, 12), Some(0), "nlmsg_pid");
        assert_eq!(m[16], libc::AF_UNSPEC as u8, "ifi_family");
        assert_eq!(u32_at(&m, 20), Some(1), "ifi_index");
        assert_eq!(u32_at(&m, 24), Some(libc::IFF_UP as u32), "ifi_flags");
        assert_eq!(u32_at(&m, 28), Some(libc::IFF_UP as u32), "ifi_change");
    }

    fn ack(seq: u32, error: i32) -> Vec<u8> {
        let mut v = Vec::new();
        v.extend_from_slice(&36u32.to_ne_bytes());
        v.extend_from_slice(&(libc::NLMSG_ERROR as u16).to_ne_bytes());
        v.extend_from_slice(&0u16.to_ne_bytes());
        v.extend_from_slice(&seq.to_ne_bytes());
        v.extend_from_slice(&1234u32.to_ne_bytes());
        v.extend_from_slice(&error.to_ne_bytes());
        // The echoed request header.
        v.extend_from_slice(&encode_link_up(seq, 1)[..16]);
        v
    }

    #[test]
    fn acks_and_error_acks_decode() {
        assert_eq!(parse_ack(&ack(3, 0), 3), Ok(()));
        assert_eq!(parse_ack(&ack(3, -libc::EPERM), 3), Err(Errno::EPERM));
        assert_eq!(parse_ack(&ack(3, -libc::ENODEV), 3), Err(Errno::ENODEV));
        // Another request's answer, a truncated message and garbage are not acks.
        assert_eq!(parse_ack(&ack(4, 0), 3), Err(Errno::EBADMSG));
        assert_eq!(parse_ack(&ack(3, 0)[..20], 3), Err(Errno::EBADMSG));
        assert_eq!(parse_ack(&[0u8; 8], 3), Err(Errno::EBADMSG));
        let mut two = ack(2, -libc::EINVAL);
        two.extend_from_slice(&ack(3, -libc::EACCES));
        assert_eq!(parse_ack(&two, 3), Err(Errno::EACCES));
    }

    /// The flags of `lo` as the calling thread's network namespace sees them.
    fn lo_flags() -> i16 {
        // SAFETY: plain syscalls; ifreq is plain data and the fd is closed below.
        unsafe {
            let s = libc::socket(libc::AF_INET, libc::SOCK_DGRAM | libc::SOCK_CLOEXEC, 0);
            assert!(s >= 0, "socket: {}", Errno::last());
            let mut ifr: libc::ifreq = std::mem::zeroed();
            ifr.ifr_name[0] = b'l' as libc::c_char;
            ifr.ifr_name[1] = b'o' as libc::c_char;
            let r = libc::ioctl(s, libc::SIOCGIFFLAGS, &mut ifr);
            let e = Errno::last();
            libc::close(s);
            assert_eq!(r, 0, "SIOCGIFFLAGS lo: {e}");
            ifr.ifr_ifru.ifru_flags
        }
    }

    #[test]
    fn brings_lo_up_in_a_new_network_namespace() {
        // Namespaces belong to threads: a thread of its own can have a fresh one.
        let t = std::thread::spawn(|| {
            // SAFETY: unshare only changes this thread's network namespace.
            if unsafe { libc::unshare(libc::CLONE_NEWNET) } != 0 {
                return Err(Errno::last());
            }
            let before = lo_flags();
            loopback_up().expect("loopback_up");
            Ok((before, lo_flags()))
        });
        match t.join().expect("thread") {
            Err(e) => eprintln!("SKIP: cannot unshare a network namespace here: {e}"),
            Ok((before, after)) => {
                let up = libc::IFF_UP as i16;
                assert_eq!(before & up, 0, "lo starts down in a new namespace");
                assert_eq!(after & up, up, "lo is up after loopback_up");
            }
        }
    }

    #[test]
    fn error_text_names_the_step_and_the_errno() {
        let e = crate::error::Error::sys("bring up the loopback interface", Errno::EPERM);
        assert_eq!(
            e.to_string(),
            "bring up the loopback interface: EPERM: Operation not permitted"
        );
    }
}
