//! The syscall-only zone: what every child of clone3 may use until execve.
//!
//! The library runs inside other people's programs, which have threads. clone3 copies only the
//! calling thread, so a lock another thread held at that moment (malloc's arenas, std's
//! environment lock, stdio) stays held forever in the child. A child therefore never allocates,
//! never takes a std lock and never formats into a `String`: the parent prepares everything as
//! plain data, and the child walks it making syscalls. Its errors are composed into a fixed
//! buffer ([`Buf`]) with `core::fmt` (which neither allocates nor locks) and sent to the parent
//! as one message; the parent turns them into the error the user sees.

use std::fmt::{self, Write as _};
use std::os::fd::RawFd;
use std::sync::atomic::{AtomicBool, Ordering};

use nix::errno::Errno;

use crate::sys;

/// Set in a child between clone and execve (the parent's copy is never touched).
static IN_CHILD: AtomicBool = AtomicBool::new(false);

/// True in a container child between clone and execve (the init, an exec'd process, the exec
/// helper). A program that embeds the library can check this in its global allocator to prove
/// that the child never allocates (see `runtime-core/examples/threaded.rs`).
///
/// ```
/// assert!(!runtime_core::in_container_child());
/// ```
pub fn in_container_child() -> bool {
    IN_CHILD.load(Ordering::Relaxed)
}

/// A fixed-capacity text buffer; what does not fit is cut off (with "...").
pub(crate) struct Buf<const N: usize> {
    bytes: [u8; N],
    len: usize,
    cut: bool,
}

impl<const N: usize> Buf<N> {
    pub(crate) const fn new() -> Self {
        Buf {
            bytes: [0; N],
            len: 0,
            cut: false,
        }
    }

    pub(crate) fn as_bytes(&self) -> &[u8] {
        &self.bytes[..self.len]
    }

    /// Append raw bytes (a hook's output may not be UTF-8).
    pub(crate) fn push_bytes(&mut self, b: &[u8]) {
        const ELLIPSIS: &[u8] = b"...";
        if self.cut {
            return;
        }
        let room = N.saturating_sub(self.len + ELLIPSIS.len());
        if b.len() > room {
            self.bytes[self.len..self.len + room].copy_from_slice(&b[..room]);
            self.len += room;
            self.bytes[self.len..self.len + ELLIPSIS.len()].copy_from_slice(ELLIPSIS);
            self.len += ELLIPSIS.len();
            self.cut = true;
        } else {
            self.bytes[self.len..self.len + b.len()].copy_from_slice(b);
            self.len += b.len();
        }
    }
}

impl<const N: usize> fmt::Write for Buf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.push_bytes(s.as_bytes());
        Ok(())
    }
}

/// The text of a child's error: "what failed: errno text", at most this many bytes.
pub(crate) const ERROR_LEN: usize = 4096;

/// An error in a child, already phrased.
pub(crate) struct ChildError {
    pub(crate) text: Buf<ERROR_LEN>,
    /// The message kind that carries it to the parent: [`msg::ERROR`], or
    /// [`msg::NOT_FOUND`] when the process's executable is missing.
    pub(crate) kind: u8,
}

impl fmt::Debug for ChildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&String::from_utf8_lossy(self.text.as_bytes()))
    }
}

impl ChildError {
    /// "`what`: `errno`", as the parent's `Error::Sys` reads.
    pub(crate) fn sys(errno: Errno, what: fmt::Arguments) -> ChildError {
        let mut text = Buf::new();
        let _ = text.write_fmt(what);
        let _ = write!(text, ": {errno}");
        ChildError::from_text(text)
    }

    /// An error of the generic kind with this text.
    pub(crate) fn from_text(text: Buf<ERROR_LEN>) -> ChildError {
        ChildError {
            text,
            kind: msg::ERROR,
        }
    }

    /// The same error, telling the parent that the executable was not found.
    pub(crate) fn executable_not_found(self) -> ChildError {
        ChildError {
            kind: msg::NOT_FOUND,
            ..self
        }
    }

    /// The same error with `what` in front ("what: error").
    pub(crate) fn context(self, what: fmt::Arguments) -> ChildError {
        let mut text = Buf::new();
        let _ = text.write_fmt(what);
        let _ = write!(text, ": ");
        text.push_bytes(self.text.as_bytes());
        ChildError {
            text,
            kind: self.kind,
        }
    }

    /// A message with no errno.
    pub(crate) fn msg(what: fmt::Arguments) -> ChildError {
        let mut text = Buf::new();
        let _ = text.write_fmt(what);
        ChildError::from_text(text)
    }
}

/// A child's result.
pub(crate) type CResult<T> = Result<T, ChildError>;

/// Attach a description to an errno result, in the child: `r.or_fail(|| format_args!(...))`
/// would not borrow-check, so the description is a closure writing into the buffer.
pub(crate) trait OrFail<T> {
    fn or_fail(self, what: impl FnOnce(&mut Buf<ERROR_LEN>) -> fmt::Result) -> CResult<T>;
}

impl<T> OrFail<T> for Result<T, Errno> {
    fn or_fail(self, what: impl FnOnce(&mut Buf<ERROR_LEN>) -> fmt::Result) -> CResult<T> {
        self.map_err(|errno| {
            let mut text = Buf::new();
            let _ = what(&mut text);
            let _ = write!(text, ": {errno}");
            ChildError::from_text(text)
        })
    }
}

/// Message kinds on the sync socket: one byte, then the payload.
pub(crate) mod msg {
    /// The child is ready (an exec'd process: followed by its host pid in decimal).
    pub const READY: u8 = b'R';
    /// The init asks the runtime to run the prestart and createRuntime hooks.
    pub const HOOKS: u8 = b'H';
    /// The runtime lets the child go on.
    pub const GO: u8 = b'G';
    /// The child failed; the payload is the error text.
    pub const ERROR: u8 = b'E';
    /// The child installed a filter with a listener: its fd number follows in decimal; the
    /// runtime takes a copy (pidfd_getfd), hands it to the seccomp agent and answers GO.
    pub const SECCOMP: u8 = b'S';
    /// The child failed because the process's executable is missing or not executable; the
    /// payload is the error text.
    pub const NOT_FOUND: u8 = b'N';
    /// The child made a user namespace: the runtime writes its id maps, then says GO.
    pub const USERNS: u8 = b'U';
    /// The middle process forked the init; the payload is its host pid in decimal.
    pub const PID: u8 = b'P';
}

/// Report `e` to the runtime over `sock`; when nobody listens any more (after `start`), on
/// the process's own stderr, the only place left where the user can see why it ended.
pub(crate) fn report(sock: Option<RawFd>, e: &ChildError) {
    let sent = sock.is_some_and(|s| sys::send_parts(s, &[&[e.kind], e.text.as_bytes()]).is_ok());
    if !sent {
        let _ = sys::write_all(2, b"baleia: ");
        let _ = sys::write_all(2, e.text.as_bytes());
        let _ = sys::write_all(2, b"\n");
    }
}

/// A message of kind `kind` from a child, read by the parent: the error when it reports a
/// failure, else its text back.
pub(crate) fn failure(kind: u8, text: String) -> Result<String, crate::Error> {
    match kind {
        msg::ERROR => Err(crate::Error::Init(text)),
        msg::NOT_FOUND => Err(crate::Error::ExecutableNotFound(text)),
        _ => Ok(text),
    }
}

/// Wait for one message on `sock`; Ok(kind) or the error text the peer sent.
pub(crate) fn recv_kind(sock: RawFd) -> CResult<u8> {
    let mut b = [0u8; 1];
    match sys::read(sock, &mut b) {
        Ok(1) => Ok(b[0]),
        Ok(_) => Err(ChildError::msg(format_args!(
            "the runtime went away during setup"
        ))),
        Err(e) => Err(ChildError::sys(e, format_args!("read from the runtime"))),
    }
}

/// Run `body` as a child's whole life: mark the zone, never unwind into the caller's frames
/// (a panic ends the child), and leave with `_exit`: 0 never happens, since `body` only
/// returns on failure (its success is execve), after reporting over `sock`.
pub(crate) fn run(
    sock: Option<RawFd>,
    body: impl FnOnce() -> CResult<std::convert::Infallible>,
) -> ! {
    IN_CHILD.store(true, Ordering::Relaxed);
    let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(body));
    match outcome {
        Ok(Err(e)) => {
            report(sock, &e);
            sys::exit_now(1)
        }
        Ok(Ok(never)) => match never {},
        Err(_) => {
            let _ = sys::write_all(2, b"baleia: internal error in the container's setup\n");
            sys::exit_now(2)
        }
    }
}

/// Write `n` in decimal into `buf`; returns the digits.
pub(crate) fn itoa(mut n: u64, buf: &mut [u8; 20]) -> &[u8] {
    let mut i = buf.len();
    loop {
        i -= 1;
        buf[i] = b'0' + (n % 10) as u8;
        n /= 10;
        if n == 0 {
            break;
        }
    }
    &buf[i..]
}

/// Parse the decimal number at the start of `b`.
pub(crate) fn parse_u64(b: &[u8]) -> Option<u64> {
    let mut n: u64 = 0;
    let mut any = false;
    for &c in b {
        if !c.is_ascii_digit() {
            break;
        }
        n = n.checked_mul(10)?.checked_add((c - b'0') as u64)?;
        any = true;
    }
    any.then_some(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buf_cuts_long_text() {
        let mut b: Buf<8> = Buf::new();
        let _ = write!(b, "abc");
        assert_eq!(b.as_bytes(), b"abc");
        let _ = write!(b, "defghijk");
        assert_eq!(b.as_bytes(), b"abcde...");
        let _ = write!(b, "more");
        assert_eq!(b.as_bytes(), b"abcde...");
    }

    #[test]
    fn errors_read_like_the_parents() {
        let e = ChildError::sys(
            Errno::ENOENT,
            format_args!("mount {} on {}", "proc", "/proc"),
        );
        assert_eq!(
            e.text.as_bytes(),
            b"mount proc on /proc: ENOENT: No such file or directory"
        );
        let r: Result<(), Errno> = Err(Errno::EPERM);
        let e = r.or_fail(|b| write!(b, "setuid {}", 5)).unwrap_err();
        assert!(e.text.as_bytes().starts_with(b"setuid 5: EPERM"));
    }

    #[test]
    fn numbers_and_fd_paths() {
        let mut d = [0u8; 20];
        assert_eq!(itoa(0, &mut d), b"0");
        assert_eq!(itoa(1234567, &mut d), b"1234567");
        assert_eq!(parse_u64(b"4321/x"), Some(4321));
        assert_eq!(parse_u64(b"x"), None);
    }
}
