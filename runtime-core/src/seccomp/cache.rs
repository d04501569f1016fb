//! Compiled programs kept between containers, as crun does: engines give every container the
//! same default profile (Docker's has some 350 syscalls), and compiling it costs more than
//! reading the result back.
//!
//! An entry is found by a hash of its key, and holds the whole key: a hit is only taken when
//! the stored key equals the wanted one byte for byte, so a hash collision costs a compile,
//! never a wrong filter. The key is the profile as JSON, the host ABI, and a hash of this
//! compiler's own source taken at build time: a baleia whose compiler changed never reads an
//! older one's programs. Entries are written whole (a temporary file renamed into place) into
//! a directory only the state root's owner can write. Anything unexpected in the cache
//! (missing, short, foreign) is a miss; the cache never makes a create fail.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxSeccomp;

use super::{compile_for, Host, Program, SeccompError};

/// The directory under a state root that holds the entries; its name is not a valid
/// container id, so it is never listed or taken as one.
pub(crate) const DIR: &str = "@seccomp-cache";

const MAGIC: &[u8; 8] = b"BALSECC1";

/// FNV-1a: a stable hash (std's hasher may change between Rust releases) usable at build time.
const fn fnv1a(mut h: u64, bytes: &[u8]) -> u64 {
    let mut i = 0;
    while i < bytes.len() {
        h ^= bytes[i] as u64;
        h = h.wrapping_mul(0x100_0000_01b3);
        i += 1;
    }
    h
}

const FNV_OFFSET: u64 = 0xcbf2_9ce4_8422_2325;

/// The compiler's identity: its source files, hashed while building (the bytes themselves do
/// not end up in the binary).
const COMPILER: u64 = {
    let h = fnv1a(FNV_OFFSET, include_bytes!("mod.rs"));
    let h = fnv1a(h, include_bytes!("bpf.rs"));
    let h = fnv1a(h, include_bytes!("tables.rs"));
    fnv1a(h, env!("CARGO_PKG_VERSION").as_bytes())
};

/// [`compile_for`] through the cache in `dir` (made on first use).
pub(crate) fn compile(
    profile: &LinuxSeccomp,
    host: Host,
    dir: &Path,
) -> Result<Program, SeccompError> {
    let Some(key) = key(profile, host) else {
        return compile_for(profile, host);
    };
    let path = dir.join(format!("{:016x}", fnv1a(FNV_OFFSET, &key)));
    if let Some(p) = load(&path, &key) {
        return Ok(p);
    }
    let program = compile_for(profile, host)?;
    if let Err(e) = store(dir, &path, &key, &program) {
        log::debug!("seccomp cache: not saved in {}: {e}", dir.display());
    }
    Ok(program)
}

/// What an entry must hold to be taken: the compiler, the host ABI, the profile.
fn key(profile: &LinuxSeccomp, host: Host) -> Option<Vec<u8>> {
    let json = serde_json::to_vec(profile).ok()?;
    let mut key = Vec::with_capacity(json.len() + 32);
    key.extend_from_slice(&COMPILER.to_le_bytes());
    key.extend_from_slice(format!("{host:?}\0").as_bytes());
    key.extend_from_slice(&json);
    Some(key)
}

fn load(path: &Path, key: &[u8]) -> Option<Program> {
    let data = crate::readfile::read_whole(path).ok()?;
    let rest = data.strip_prefix(MAGIC.as_slice())?;
    let (klen, rest) = take_u32(rest)?;
    let (stored, rest) = rest.split_at_checked(klen as usize)?;
    if stored != key {
        return None;
    }
    let (flags, rest) = take_u32(rest)?;
    if rest.len() % 8 != 0 || rest.is_empty() {
        return None;
    }
    let filter = rest
        .chunks_exact(8)
        .map(|c| libc::sock_filter {
            code: u16::from_le_bytes([c[0], c[1]]),
            jt: c[2],
            jf: c[3],
            k: u32::from_le_bytes([c[4], c[5], c[6], c[7]]),
        })
        .collect();
    Some(Program { filter, flags })
}

fn take_u32(b: &[u8]) -> Option<(u32, &[u8])> {
    let (head, rest) = b.split_at_checked(4)?;
    Some((u32::from_le_bytes(head.try_into().ok()?), rest))
}

fn store(dir: &Path, path: &Path, key: &[u8], p: &Program) -> std::io::Result<()> {
    match std::fs::DirBuilder::new().mode(0o700).create(dir) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => {}
        Err(e) => return Err(e),
    }
    let mut data = Vec::with_capacity(MAGIC.len() + 8 + key.len() + p.filter.len() * 8);
    data.extend_from_slice(MAGIC);
    data.extend_from_slice(&(key.len() as u32).to_le_bytes());
    data.extend_from_slice(key);
    data.extend_from_slice(&p.flags.to_le_bytes());
    for i in &p.filter {
        data.extend_from_slice(&i.code.to_le_bytes());
        data.extend_from_slice(&[i.jt, i.jf]);
        data.extend_from_slice(&i.k.to_le_bytes());
    }
    let tmp: PathBuf = dir.join(format!(".{}.{}", std::process::id(), unique()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&tmp)
        .and_then(|mut f| f.write_all(&data))
        .and_then(|()| std::fs::rename(&tmp, path));
    if written.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    written
}

/// Distinct temporary names for threads of one process storing at once.
fn unique() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn profile(json: &str) -> LinuxSeccomp {
        serde_json::from_str(json).expect("profile")
    }

    fn same(a: &Program, b: &Program) -> bool {
        a.flags == b.flags
            && a.filter.len() == b.filter.len()
            && a.filter
                .iter()
                .zip(&b.filter)
                .all(|(x, y)| (x.code, x.jt, x.jf, x.k) == (y.code, y.jt, y.jf, y.k))
    }

    #[test]
    fn a_hit_is_the_same_program_and_a_changed_entry_is_a_miss() {
        let dir = std::env::temp_dir().join(format!("baleia-sccache-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let p = profile(
            r#"{"defaultAction":"SCMP_ACT_ERRNO","flags":["SECCOMP_FILTER_FLAG_LOG"],
                "syscalls":[{"names":["read","write"],"action":"SCMP_ACT_ALLOW"}]}"#,
        );
        let host = Host::X86_64;
        let fresh = compile_for(&p, host).expect("compile");
        let first = compile(&p, host, &dir).expect("miss");
        assert!(same(&fresh, &first));
        let entries: Vec<_> = std::fs::read_dir(&dir).expect("dir").flatten().collect();
        assert_eq!(entries.len(), 1, "one entry, no temporary left");
        let entry = entries[0].path();
        let hit = compile(&p, host, &dir).expect("hit");
        assert!(same(&fresh, &hit));

        // An entry whose stored key differs (a collision, or another compiler) is not used.
        let mut data = std::fs::read(&entry).expect("read");
        data[MAGIC.len() + 4] ^= 0xff;
        let tail = data.len() - 4;
        data[tail] ^= 0xff; // and its program is damaged: taking it would show
        std::fs::write(&entry, &data).expect("write");
        assert!(same(&fresh, &compile(&p, host, &dir).expect("recompiled")));
        assert!(same(
            &fresh,
            &load(&entry, &key(&p, host).expect("key")).expect("rewritten")
        ));

        // Another profile, another entry.
        let q = profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#);
        assert!(same(
            &compile_for(&q, host).expect("q"),
            &compile(&q, host, &dir).expect("q cached")
        ));
        assert_eq!(std::fs::read_dir(&dir).expect("dir").count(), 2);
        // A truncated entry is a miss, not an error.
        std::fs::write(&entry, b"BALSECC1\x05").expect("truncate");
        assert!(same(
            &fresh,
            &compile(&p, host, &dir).expect("after truncation")
        ));
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }
}
