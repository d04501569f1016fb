//! Just enough of a websocket client (RFC 6455) for the CRI streaming server's exec: one GET
//! with the upgrade, then the server's frames until it closes. The server speaks the
//! kubelet's v4.channel.k8s.io protocol: each binary message starts with its channel number
//! (1 stdout, 2 stderr, 3 the final status as JSON).

use std::collections::HashMap;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

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

/// Runs the exec behind URL (http://host:port/path) and returns each channel's bytes.
pub async fn stream_channels(url: &str) -> Res<HashMap<u8, Vec<u8>>> {
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
    // The server closes the connection once the process exited and its status was sent.
    let mut all = Vec::new();
    ctx("reading the stream", s.read_to_end(&mut all).await)?;
    let end = all
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .ok_or_else(|| format!("no HTTP answer: {:?}", String::from_utf8_lossy(&all)))?;
    let head = String::from_utf8_lossy(&all[..end]).into_owned();
    if !head.starts_with("HTTP/1.1 101") {
        return Err(format!(
            "the streaming server refused the upgrade: {head:?}"
        ));
    }
    let mut channels: HashMap<u8, Vec<u8>> = HashMap::new();
    let mut rest = &all[end + 4..];
    while rest.len() >= 2 {
        let opcode = rest[0] & 0x0f;
        let masked = rest[1] & 0x80 != 0;
        let (len, mut at) = match rest[1] & 0x7f {
            126 if rest.len() >= 4 => (usize::from(u16::from_be_bytes([rest[2], rest[3]])), 4),
            127 if rest.len() >= 10 => {
                let mut b = [0u8; 8];
                b.copy_from_slice(&rest[2..10]);
                (
                    ctx("frame length", usize::try_from(u64::from_be_bytes(b)))?,
                    10,
                )
            }
            n @ 0..=125 => (usize::from(n), 2),
            _ => return Err("a truncated websocket frame header".into()),
        };
        let mut mask = [0u8; 4];
        if masked {
            mask.copy_from_slice(rest.get(at..at + 4).ok_or("a truncated frame mask")?);
            at += 4;
        }
        let payload: Vec<u8> = rest
            .get(at..at + len)
            .ok_or_else(|| format!("a websocket frame of {len} bytes is cut short"))?
            .iter()
            .enumerate()
            .map(|(i, b)| b ^ if masked { mask[i % 4] } else { 0 })
            .collect();
        rest = &rest[at + len..];
        match opcode {
            8 => break,
            1 | 2 if !payload.is_empty() => {
                channels
                    .entry(payload[0])
                    .or_default()
                    .extend_from_slice(&payload[1..]);
            }
            _ => {}
        }
    }
    Ok(channels)
}
