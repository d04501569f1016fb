//! Whole-file reads of the small files the runtime reads on every container: /proc's and the
//! cgroup filesystem's (which report a size of 0), config.json and the state records.
//!
//! std's `fs::read` and `read_to_string` stat the file for a size hint and, told 0, read 32
//! bytes first and grow from there: /proc/self/status took 8 reads. Here the first read asks
//! for 4 KiB and the buffer doubles while it fills, so a small file costs an open, one read,
//! the read that sees the end, and a close.

use std::io::{self, Read};
use std::path::Path;

const FIRST: usize = 4096;

/// The bytes of `path`.
pub(crate) fn read(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    read_until(path, false)
}

/// The bytes of `path`, a regular file (config.json, a state record) or a kernel file that
/// one record fills (`/proc/<pid>/stat`, `/proc/self/status`): for those a read that leaves
/// the buffer unfilled has reached the end, which saves the read that would return 0. Not for
/// /proc files of many records (mountinfo): their reads stop short at a record boundary.
pub(crate) fn read_whole(path: impl AsRef<Path>) -> io::Result<Vec<u8>> {
    read_until(path, true)
}

/// The text of the regular file open as `f` (see [`read_whole`]).
pub(crate) fn read_whole_fd(f: std::fs::File) -> io::Result<String> {
    String::from_utf8(read_file(f, true)?)
        .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

fn read_until(path: impl AsRef<Path>, short_read_is_end: bool) -> io::Result<Vec<u8>> {
    read_file(std::fs::File::open(path)?, short_read_is_end)
}

fn read_file(mut f: std::fs::File, short_read_is_end: bool) -> io::Result<Vec<u8>> {
    let mut buf = vec![0u8; FIRST];
    let mut len = 0;
    loop {
        if len == buf.len() {
            buf.resize(buf.len() * 2, 0);
        }
        match f.read(&mut buf[len..]) {
            Ok(0) => break,
            Ok(n) => {
                len += n;
                if short_read_is_end && len < buf.len() {
                    break;
                }
            }
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    buf.truncate(len);
    Ok(buf)
}

/// The text of `path` (UTF-8).
pub(crate) fn read_to_string(path: impl AsRef<Path>) -> io::Result<String> {
    String::from_utf8(read(path)?).map_err(|e| io::Error::new(io::ErrorKind::InvalidData, e))
}

#[cfg(test)]
mod tests {
    #[test]
    fn reads_small_large_and_proc_files_whole() {
        let dir = std::env::temp_dir().join(format!("baleia-readfile-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("mkdir");
        for size in [0, 1, 4095, 4096, 4097, 100_000] {
            let p = dir.join(format!("f{size}"));
            let data: Vec<u8> = (0..size).map(|i| (i % 251) as u8).collect();
            std::fs::write(&p, &data).expect("write");
            assert_eq!(super::read(&p).expect("read"), data, "size {size}");
            assert_eq!(super::read_whole(&p).expect("read"), data, "size {size}");
        }
        let status = super::read_to_string("/proc/self/status").expect("status");
        assert!(status.contains("CapBnd:"), "{status}");
        let stat = super::read_whole("/proc/self/stat").expect("stat");
        assert!(stat.ends_with(b"\n"), "{stat:?}");
        assert!(super::read("/nonexistent/x").is_err());
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
