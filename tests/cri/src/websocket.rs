//! Just enough of a websocket client (RFC 6455) for the CRI streaming server's exec and
//! attach: one GET with the upgrade, then frames both ways. The server speaks the
//! kubelet's v4.channel.k8s.io protocol: each binary message starts with its channel number
//! (1 stdout, 2 stderr, 3 the final status as JSON).

use std::collections::HashMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::{timeout_at, Duration, Instant};

use crate::{ctx, Res};

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

fn base64(data: &[u8]) -> String {
    let mut out = String::new();
    for chunk in data.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(B64[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// Opens the stream behind URL (http://host:port/path), sends STDIN (if any) on channel 0
/// and collects each channel's bytes until the server closes, DONE says enough or WITHIN
/// has passed (the caller then says what was missing from what came).
pub async fn session(
    url: &str,
    stdin: Option<&[u8]>,
    done: impl Fn(&HashMap<u8, Vec<u8>>) -> bool,
    within: Duration,
) -> Res<HashMap<u8, Vec<u8>>> {
    let deadline = Instant::now() + within;
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| format!("the streaming URL {url:?} is not http://"))?;
    let (host, path) = rest
        .split_once('/')
        .ok_or_else(|| format!("the streaming URL {url:?} has no path"))?;
    let mut s = ctx(
        format!("connecting to {host}"),
        TcpStream::connect(host).await,
    )?;
    // The key only has to be 16 bytes, base64: no security rests on it here.
    let seed = std::process::id().to_le_bytes();
    let key = base64(&[seed, seed, seed, seed].concat());
    let request = format!(
        "GET /{path} HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Protocol: v4.channel.k8s.io\r\nOrigin: http://{host}\r\n\r\n"
    );
    ctx("sending the upgrade", s.write_all(request.as_bytes()).await)?;
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    let end = loop {
        if let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") {
            break end;
        }
        let n = timeout_at(deadline, s.read(&mut chunk))
            .await
            .map_err(|_| format!("no answer to the upgrade of {url} in {within:?}"))?;
        let n = ctx("reading the upgrade's answer", n)?;
        if n == 0 {
            return Err(format!(
                "no HTTP answer: {:?}",
                String::from_utf8_lossy(&buf)
            ));
        }
        buf.extend_from_slice(&chunk[..n]);
    };
    let head = String::from_utf8_lossy(&buf[..end]).into_owned();
    if !head.starts_with("HTTP/1.1 101") {
        return Err(format!(
            "the streaming server refused the upgrade: {head:?}"
        ));
    }
    buf.drain(..end + 4);
    if let Some(data) = stdin {
        ctx("sending stdin", s.write_all(&client_frame(0, data)).await)?;
    }
    let mut channels: HashMap<u8, Vec<u8>> = HashMap::new();
    loop {
        while let Some((opcode, payload, used)) = parse_frame(&buf)? {
            buf.drain(..used);
            match opcode {
                8 => return Ok(channels),
                1 | 2 if !payload.is_empty() => {
                    channels
                        .entry(payload[0])
                        .or_default()
                        .extend_from_slice(&payload[1..]);
                }
                _ => {}
            }
        }
        if done(&channels) {
            return Ok(channels);
        }
        let Ok(n) = timeout_at(deadline, s.read(&mut chunk)).await else {
            return Ok(channels);
        };
        let n = ctx("reading the stream", n)?;
        if n == 0 {
            return Ok(channels);
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

/// A client's binary message on CHANNEL: clients must mask what they send.
fn client_frame(channel: u8, data: &[u8]) -> Vec<u8> {
    let mask = [0x5a, 0xc3, 0x96, 0x0f];
    let len = data.len() + 1;
    let mut f = vec![0x82];
    if len < 126 {
        f.push(0x80 | len as u8);
    } else {
        f.push(0x80 | 126);
        f.extend_from_slice(&(len as u16).to_be_bytes());
    }
    f.extend_from_slice(&mask);
    let payload = std::iter::once(channel).chain(data.iter().copied());
    f.extend(payload.enumerate().map(|(i, b)| b ^ mask[i % 4]));
    f
}

/// One whole frame at the start of BUF: (opcode, payload, bytes used), or None if BUF holds
/// only part of one.
fn parse_frame(buf: &[u8]) -> Res<Option<(u8, Vec<u8>, usize)>> {
    if buf.len() < 2 {
        return Ok(None);
    }
    let opcode = buf[0] & 0x0f;
    let masked = buf[1] & 0x80 != 0;
    let (len, mut at) = match buf[1] & 0x7f {
        126 if buf.len() >= 4 => (usize::from(u16::from_be_bytes([buf[2], buf[3]])), 4),
        127 if buf.len() >= 10 => {
            let mut b = [0u8; 8];
            b.copy_from_slice(&buf[2..10]);
            (
                ctx("frame length", usize::try_from(u64::from_be_bytes(b)))?,
                10,
            )
        }
        n @ 0..=125 => (usize::from(n), 2),
        _ => return Ok(None),
    };
    let mut mask = [0u8; 4];
    if masked {
        let Some(m) = buf.get(at..at + 4) else {
            return Ok(None);
        };
        mask.copy_from_slice(m);
        at += 4;
    }
    let Some(data) = buf.get(at..at + len) else {
        return Ok(None);
    };
    let payload = data
        .iter()
        .enumerate()
        .map(|(i, b)| b ^ if masked { mask[i % 4] } else { 0 })
        .collect();
    Ok(Some((opcode, payload, at + len)))
}
