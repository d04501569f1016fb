//! A small synchronous D-Bus client: just what the systemd cgroup driver needs (SASL EXTERNAL,
//! method calls with basic, array and variant arguments, replies, errors and the JobRemoved
//! signal). It is ours rather than a crate's because the crates that fit none of the driver's
//! constraints at once: `dbus` links libdbus (a new shared library), zbus is async and runs
//! its own threads (a thread alive at clone time breaks the fork-safety rules), and rustbus,
//! while synchronous, brings a generic marshalling framework (and nix) for the five messages
//! we send. The socket is opened with SOCK_CLOEXEC (std's default), every read is bounded by
//! a deadline, and a connection lives only for one operation, so none exists at clone time.

use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

/// systemd's own socket (root only): no bus daemon in between, no Hello, and systemd sends its
/// signals to every client of it.
pub(crate) const PRIVATE_SOCKET: &str = "/run/systemd/private";
/// The system bus, used when the private socket is absent.
pub(crate) const SYSTEM_BUS: &str = "/run/dbus/system_bus_socket";

/// A D-Bus failure: the connection, the protocol, or an error reply (name and message).
#[derive(Debug, thiserror::Error)]
pub(crate) enum DbusError {
    #[error("{op} {path}: {source}")]
    Io {
        op: &'static str,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("D-Bus protocol error: {0}")]
    Protocol(String),
    #[error("{name}: {message}")]
    Reply { name: String, message: String },
    #[error("timed out after {0:?} waiting for {1}")]
    Timeout(Duration, String),
}

impl DbusError {
    /// The D-Bus error name of an error reply.
    pub(crate) fn name(&self) -> Option<&str> {
        match self {
            DbusError::Reply { name, .. } => Some(name),
            _ => None,
        }
    }
}

/// A value to marshal (the argument kinds systemd's unit properties take).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Value {
    Bool(bool),
    Byte(u8),
    I16(i16),
    U16(u16),
    I32(i32),
    U32(u32),
    I64(i64),
    U64(u64),
    F64(f64),
    Str(String),
    Bytes(Vec<u8>),
    U32s(Vec<u32>),
    Strs(Vec<String>),
    StrPairs(Vec<(String, String)>),
    /// a(sv): unit properties.
    Props(Vec<(String, Value)>),
    /// a(sa(sv)): auxiliary units (always empty here).
    NoAux,
}

impl Value {
    fn signature(&self) -> &'static str {
        match self {
            Value::Bool(_) => "b",
            Value::Byte(_) => "y",
            Value::I16(_) => "n",
            Value::U16(_) => "q",
            Value::I32(_) => "i",
            Value::U32(_) => "u",
            Value::I64(_) => "x",
            Value::U64(_) => "t",
            Value::F64(_) => "d",
            Value::Str(_) => "s",
            Value::Bytes(_) => "ay",
            Value::U32s(_) => "au",
            Value::Strs(_) => "as",
            Value::StrPairs(_) => "a(ss)",
            Value::Props(_) => "a(sv)",
            Value::NoAux => "a(sa(sv))",
        }
    }
}

/// A received value (basic types only; containers are skipped by the reader).
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Got {
    Int(i128),
    Str(String),
    Other,
}

#[derive(Default)]
struct Writer {
    buf: Vec<u8>,
}

impl Writer {
    fn pad(&mut self, align: usize) {
        while !self.buf.len().is_multiple_of(align) {
            self.buf.push(0);
        }
    }
    fn u32(&mut self, v: u32) {
        self.pad(4);
        self.buf.extend_from_slice(&v.to_le_bytes());
    }
    fn str(&mut self, s: &str) {
        self.u32(s.len() as u32);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
    fn sig(&mut self, s: &str) {
        self.buf.push(s.len() as u8);
        self.buf.extend_from_slice(s.as_bytes());
        self.buf.push(0);
    }
    fn array(&mut self, elem_align: usize, f: impl FnOnce(&mut Writer)) {
        self.u32(0);
        let at = self.buf.len() - 4;
        self.pad(elem_align);
        let start = self.buf.len();
        f(self);
        let n = (self.buf.len() - start) as u32;
        self.buf[at..at + 4].copy_from_slice(&n.to_le_bytes());
    }
    fn value(&mut self, v: &Value) {
        match v {
            Value::Bool(b) => self.u32(u32::from(*b)),
            Value::Byte(b) => self.buf.push(*b),
            Value::I16(n) => {
                self.pad(2);
                self.buf.extend_from_slice(&n.to_le_bytes())
            }
            Value::U16(n) => {
                self.pad(2);
                self.buf.extend_from_slice(&n.to_le_bytes())
            }
            Value::I32(n) => self.u32(*n as u32),
            Value::U32(n) => self.u32(*n),
            Value::I64(n) => {
                self.pad(8);
                self.buf.extend_from_slice(&n.to_le_bytes())
            }
            Value::U64(n) => {
                self.pad(8);
                self.buf.extend_from_slice(&n.to_le_bytes())
            }
            Value::F64(n) => {
                self.pad(8);
                self.buf.extend_from_slice(&n.to_le_bytes())
            }
            Value::Str(s) => self.str(s),
            Value::Bytes(b) => self.array(1, |w| w.buf.extend_from_slice(b)),
            Value::U32s(v) => self.array(4, |w| v.iter().for_each(|n| w.u32(*n))),
            Value::Strs(v) => self.array(4, |w| v.iter().for_each(|s| w.str(s))),
            Value::StrPairs(v) => self.array(8, |w| {
                for (a, b) in v {
                    w.pad(8);
                    w.str(a);
                    w.str(b);
                }
            }),
            Value::Props(v) => self.array(8, |w| {
                for (name, val) in v {
                    w.pad(8);
                    w.str(name);
                    w.sig(val.signature());
                    w.value(val);
                }
            }),
            Value::NoAux => self.array(8, |_| {}),
        }
    }
}

/// One message as received.
#[derive(Debug, Default)]
pub(crate) struct Message {
    pub kind: u8,
    pub reply_serial: Option<u32>,
    pub member: Option<String>,
    pub error_name: Option<String>,
    pub body: Vec<Got>,
}

const METHOD_CALL: u8 = 1;
const METHOD_RETURN: u8 = 2;
const ERROR: u8 = 3;
const SIGNAL: u8 = 4;

struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl Reader<'_> {
    fn bad(&self, what: &str) -> DbusError {
        DbusError::Protocol(format!("{what} at byte {}", self.pos))
    }
    fn align(&mut self, a: usize) -> Result<(), DbusError> {
        self.pos = self.pos.div_ceil(a) * a;
        if self.pos > self.buf.len() {
            return Err(self.bad("truncated message"));
        }
        Ok(())
    }
    fn take(&mut self, n: usize) -> Result<&[u8], DbusError> {
        if self.pos + n > self.buf.len() {
            return Err(self.bad("truncated message"));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }
    fn int(&mut self, size: usize, signed: bool) -> Result<i128, DbusError> {
        self.align(size)?;
        let b = self.take(size)?;
        let mut raw = [0u8; 8];
        raw[..size].copy_from_slice(b);
        let u = u64::from_le_bytes(raw);
        Ok(if signed {
            let shift = 64 - 8 * size as u32;
            i128::from(((u << shift) as i64) >> shift)
        } else {
            i128::from(u)
        })
    }
    fn string(&mut self) -> Result<String, DbusError> {
        let n = self.int(4, false)? as usize;
        let s = self.take(n + 1)?;
        String::from_utf8(s[..n].to_vec()).map_err(|_| self.bad("a string that is not UTF-8"))
    }
    fn signature(&mut self) -> Result<String, DbusError> {
        let n = self.take(1)?[0] as usize;
        let s = self.take(n + 1)?;
        String::from_utf8(s[..n].to_vec()).map_err(|_| self.bad("a bad signature"))
    }
    /// Reads one complete type from `sig` (advancing it) and returns its value.
    fn value(&mut self, sig: &mut &[u8]) -> Result<Got, DbusError> {
        let Some((&c, rest)) = sig.split_first() else {
            return Err(self.bad("an empty signature"));
        };
        *sig = rest;
        Ok(match c {
            b'y' => Got::Int(self.int(1, false)?),
            b'b' | b'u' => Got::Int(self.int(4, false)?),
            b'n' => Got::Int(self.int(2, true)?),
            b'q' => Got::Int(self.int(2, false)?),
            b'i' => Got::Int(self.int(4, true)?),
            b'h' => Got::Int(self.int(4, false)?),
            b'x' => Got::Int(self.int(8, true)?),
            b't' => Got::Int(self.int(8, false)?),
            b'd' => {
                self.int(8, false)?;
                Got::Other
            }
            b's' | b'o' => Got::Str(self.string()?),
            b'g' => Got::Str(self.signature()?),
            b'v' => {
                let inner = self.signature()?;
                let mut s = inner.as_bytes();
                let v = self.value(&mut s)?;
                if !s.is_empty() {
                    return Err(self.bad("a variant holding more than one type"));
                }
                v
            }
            b'a' => {
                let n = self.int(4, false)? as usize;
                let elem = one_type(sig).ok_or_else(|| self.bad("a bad array signature"))?;
                let align = alignment(elem[0]);
                self.align(align)?;
                let end = self.pos + n;
                while self.pos < end {
                    let mut e = elem;
                    self.value(&mut e)?;
                }
                *sig = &sig[elem.len()..];
                Got::Other
            }
            b'(' | b'{' => {
                self.align(8)?;
                let close = if c == b'(' { b')' } else { b'}' };
                while sig.first() != Some(&close) {
                    self.value(sig)?;
                }
                *sig = &sig[1..];
                Got::Other
            }
            _ => return Err(self.bad("an unknown type code")),
        })
    }
}

fn alignment(c: u8) -> usize {
    match c {
        b'y' | b'g' | b'v' => 1,
        b'n' | b'q' => 2,
        b'x' | b't' | b'd' | b'(' | b'{' => 8,
        _ => 4,
    }
}

/// The first complete type of `sig`.
fn one_type(sig: &[u8]) -> Option<&[u8]> {
    let mut depth = 0usize;
    for (i, &c) in sig.iter().enumerate() {
        match c {
            b'a' => continue,
            b'(' | b'{' => depth += 1,
            b')' | b'}' => depth = depth.checked_sub(1)?,
            _ => {}
        }
        if depth == 0 {
            return Some(&sig[..=i]);
        }
    }
    None
}

/// Parses one whole message (header and body).
fn parse(buf: &[u8]) -> Result<Message, DbusError> {
    let mut r = Reader { buf, pos: 12 };
    if buf.len() < 16 || buf[0] != b'l' {
        return Err(DbusError::Protocol(
            "not a little-endian message".to_string(),
        ));
    }
    let mut m = Message {
        kind: buf[1],
        ..Message::default()
    };
    let fields_len = r.int(4, false)? as usize;
    let fields_end = 16 + fields_len;
    let mut signature = String::new();
    while r.pos < fields_end {
        r.align(8)?;
        let code = r.take(1)?[0];
        let mut sig: &[u8] = b"v";
        let v = r.value(&mut sig)?;
        match (code, v) {
            (3, Got::Str(s)) => m.member = Some(s),
            (4, Got::Str(s)) => m.error_name = Some(s),
            (5, Got::Int(n)) => m.reply_serial = u32::try_from(n).ok(),
            (8, Got::Str(s)) => signature = s,
            _ => {}
        }
    }
    r.align(8)?;
    let mut sig = signature.as_bytes();
    while !sig.is_empty() {
        let v = r.value(&mut sig)?;
        m.body.push(v);
    }
    Ok(m)
}

/// Serialises a method call.
fn method_call(
    serial: u32,
    dest: &str,
    path: &str,
    iface: &str,
    member: &str,
    args: &[Value],
) -> Vec<u8> {
    let mut body = Writer::default();
    let mut sig = String::new();
    for a in args {
        sig.push_str(a.signature());
        body.value(a);
    }
    let mut w = Writer::default();
    w.buf.extend_from_slice(&[b'l', METHOD_CALL, 0, 1]);
    w.u32(body.buf.len() as u32);
    w.u32(serial);
    let field = |w: &mut Writer, code: u8, sig: &str, f: &dyn Fn(&mut Writer)| {
        w.pad(8);
        w.buf.push(code);
        w.sig(sig);
        f(w);
    };
    w.array(8, |w| {
        field(w, 1, "o", &|w| w.str(path));
        field(w, 2, "s", &|w| w.str(iface));
        field(w, 3, "s", &|w| w.str(member));
        field(w, 6, "s", &|w| w.str(dest));
        if !sig.is_empty() {
            field(w, 8, "g", &|w| w.sig(&sig));
        }
    });
    w.pad(8);
    w.buf.extend_from_slice(&body.buf);
    w.buf
}

/// A connection to systemd (its private socket, or the system bus).
pub(crate) struct Conn {
    sock: UnixStream,
    path: &'static str,
    serial: u32,
    /// Signals that arrived while waiting for a reply.
    queued: Vec<Message>,
    timeout: Duration,
}

/// Where systemd listens, if it runs: its private socket (root), else the system bus.
pub(crate) fn socket_path() -> Option<&'static str> {
    [PRIVATE_SOCKET, SYSTEM_BUS]
        .into_iter()
        .find(|p| Path::new(p).exists())
}

impl Conn {
    /// Connects and authenticates (and, on the bus, says Hello and subscribes to JobRemoved).
    pub(crate) fn connect(path: &'static str, timeout: Duration) -> Result<Conn, DbusError> {
        let io = |op, source| DbusError::Io {
            op,
            path: path.to_string(),
            source,
        };
        let sock = UnixStream::connect(path).map_err(|e| io("connect", e))?;
        sock.set_read_timeout(Some(timeout))
            .map_err(|e| io("set a read timeout on", e))?;
        sock.set_write_timeout(Some(timeout))
            .map_err(|e| io("set a write timeout on", e))?;
        let mut c = Conn {
            sock,
            path,
            serial: 0,
            queued: Vec::new(),
            timeout,
        };
        let uid = nix::unistd::geteuid().as_raw().to_string();
        let hex: String = uid.bytes().map(|b| format!("{b:02x}")).collect();
        // AUTH and BEGIN in one write, as sd-bus's own clients send them: with BEGIN sent on
        // its own after the OK, systemd (252) now and then left the first message of the
        // connection unread until something else arrived on it (seen in the systemd VM as
        // 25 s stalls of an idle PID 1).
        c.sock
            .write_all(format!("\0AUTH EXTERNAL {hex}\r\nBEGIN\r\n").as_bytes())
            .map_err(|e| io("authenticate on", e))?;
        let line = c.read_line()?;
        if !line.starts_with("OK ") {
            return Err(DbusError::Protocol(format!(
                "{path} refused EXTERNAL authentication: {line}"
            )));
        }
        if path == SYSTEM_BUS {
            let bus = "org.freedesktop.DBus";
            c.call(bus, "/org/freedesktop/DBus", bus, "Hello", &[])?;
            let rule = "type='signal',sender='org.freedesktop.systemd1',\
                        interface='org.freedesktop.systemd1.Manager',member='JobRemoved'";
            c.call(
                bus,
                "/org/freedesktop/DBus",
                bus,
                "AddMatch",
                &[Value::Str(rule.into())],
            )?;
            // systemd sends its signals on the bus only while somebody is subscribed.
            c.manager("Subscribe", &[])?;
        }
        Ok(c)
    }

    fn read_line(&mut self) -> Result<String, DbusError> {
        let mut line = Vec::new();
        let mut b = [0u8; 1];
        while !line.ends_with(b"\r\n") {
            if line.len() > 4096 {
                return Err(DbusError::Protocol("an overlong SASL line".into()));
            }
            let n = self.sock.read(&mut b).map_err(|e| self.io_err("read", e))?;
            if n == 0 {
                return Err(DbusError::Protocol(format!(
                    "{} closed the connection during authentication",
                    self.path
                )));
            }
            line.push(b[0]);
        }
        line.truncate(line.len() - 2);
        Ok(String::from_utf8_lossy(&line).into_owned())
    }

    fn io_err(&self, op: &'static str, source: std::io::Error) -> DbusError {
        if matches!(
            source.kind(),
            std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
        ) {
            return DbusError::Timeout(self.timeout, format!("systemd on {}", self.path));
        }
        DbusError::Io {
            op,
            path: self.path.to_string(),
            source,
        }
    }

    fn read_message(&mut self, deadline: Instant) -> Result<Message, DbusError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(DbusError::Timeout(
                self.timeout,
                format!("systemd on {}", self.path),
            ));
        }
        self.sock
            .set_read_timeout(Some(left))
            .map_err(|e| self.io_err("set a read timeout on", e))?;
        let mut head = [0u8; 16];
        self.sock
            .read_exact(&mut head)
            .map_err(|e| self.io_err("read", e))?;
        let body_len = u32::from_le_bytes([head[4], head[5], head[6], head[7]]) as usize;
        let fields_len = u32::from_le_bytes([head[12], head[13], head[14], head[15]]) as usize;
        let total = (16 + fields_len).div_ceil(8) * 8 + body_len;
        if total > 64 << 20 {
            return Err(DbusError::Protocol(format!("a message of {total} bytes")));
        }
        let mut buf = vec![0u8; total];
        buf[..16].copy_from_slice(&head);
        self.sock
            .read_exact(&mut buf[16..])
            .map_err(|e| self.io_err("read", e))?;
        let m = parse(&buf)?;
        log::debug!(
            "dbus: got type {} reply_serial {:?} member {:?} error {:?} ({total} bytes)",
            m.kind,
            m.reply_serial,
            m.member,
            m.error_name
        );
        Ok(m)
    }

    /// Calls a method and returns the reply's body; an error reply becomes [`DbusError::Reply`].
    pub(crate) fn call(
        &mut self,
        dest: &str,
        path: &str,
        iface: &str,
        member: &str,
        args: &[Value],
    ) -> Result<Vec<Got>, DbusError> {
        self.serial += 1;
        let serial = self.serial;
        let msg = method_call(serial, dest, path, iface, member, args);
        log::debug!("dbus: call {member} serial {serial} ({} bytes)", msg.len());
        self.sock
            .write_all(&msg)
            .map_err(|e| self.io_err("write", e))?;
        let deadline = Instant::now() + self.timeout;
        loop {
            let m = self.read_message(deadline)?;
            match m.kind {
                METHOD_RETURN if m.reply_serial == Some(serial) => return Ok(m.body),
                ERROR if m.reply_serial == Some(serial) => {
                    let message = match m.body.first() {
                        Some(Got::Str(s)) => s.clone(),
                        _ => String::new(),
                    };
                    return Err(DbusError::Reply {
                        name: m.error_name.unwrap_or_default(),
                        message,
                    });
                }
                SIGNAL => self.queued.push(m),
                _ => {}
            }
        }
    }

    /// Calls a method of systemd's manager object.
    pub(crate) fn manager(&mut self, member: &str, args: &[Value]) -> Result<Vec<Got>, DbusError> {
        self.call(
            "org.freedesktop.systemd1",
            "/org/freedesktop/systemd1",
            "org.freedesktop.systemd1.Manager",
            member,
            args,
        )
    }

    /// Waits for the JobRemoved signal of `job` and returns the job's result ("done",
    /// "failed", "timeout", ...).
    pub(crate) fn wait_job(&mut self, job: &str, bound: Duration) -> Result<String, DbusError> {
        let is_ours = |m: &Message| {
            m.member.as_deref() == Some("JobRemoved")
                && matches!(m.body.get(1), Some(Got::Str(p)) if p == job)
        };
        let result = |m: &Message| match m.body.get(3) {
            Some(Got::Str(r)) => r.clone(),
            _ => String::new(),
        };
        if let Some(m) = self.queued.iter().find(|m| is_ours(m)) {
            return Ok(result(m));
        }
        let deadline = Instant::now() + bound;
        loop {
            let m = self.read_message(deadline).map_err(|e| match e {
                DbusError::Timeout(..) => DbusError::Timeout(bound, format!("systemd job {job}")),
                e => e,
            })?;
            if m.kind == SIGNAL && is_ours(&m) {
                return Ok(result(&m));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_call_round_trips_through_the_reader() {
        let args = [
            Value::Str("x.scope".into()),
            Value::Props(vec![
                ("Delegate".into(), Value::Bool(true)),
                ("PIDs".into(), Value::U32s(vec![42])),
                ("MemoryMax".into(), Value::U64(1 << 20)),
                ("AllowedCPUs".into(), Value::Bytes(vec![3])),
                (
                    "DeviceAllow".into(),
                    Value::StrPairs(vec![("/dev/null".into(), "rwm".into())]),
                ),
            ]),
            Value::NoAux,
            Value::U32(7),
        ];
        let msg = method_call(9, "d", "/p", "i.f", "M", &args);
        let m = parse(&msg).unwrap();
        assert_eq!(m.kind, METHOD_CALL);
        assert_eq!(m.member.as_deref(), Some("M"));
        assert_eq!(
            m.body,
            vec![
                Got::Str("x.scope".into()),
                Got::Other,
                Got::Other,
                Got::Int(7)
            ]
        );
        // The header is padded to 8 and the lengths add up to the whole message.
        let fields = u32::from_le_bytes(msg[12..16].try_into().unwrap()) as usize;
        let body = u32::from_le_bytes(msg[4..8].try_into().unwrap()) as usize;
        assert_eq!((16 + fields).div_ceil(8) * 8 + body, msg.len());
    }

    #[test]
    fn reader_handles_signed_ints_and_nested_types() {
        let mut w = Writer::default();
        w.value(&Value::I16(-2));
        w.value(&Value::I64(-5));
        w.value(&Value::Strs(vec!["a".into(), "bc".into()]));
        w.value(&Value::Str("end".into()));
        let mut r = Reader {
            buf: &w.buf,
            pos: 0,
        };
        let mut sig: &[u8] = b"nxass";
        assert_eq!(r.value(&mut sig).unwrap(), Got::Int(-2));
        assert_eq!(r.value(&mut sig).unwrap(), Got::Int(-5));
        assert_eq!(r.value(&mut sig).unwrap(), Got::Other);
        assert_eq!(r.value(&mut sig).unwrap(), Got::Str("end".into()));
        assert!(sig.is_empty());
    }
}
