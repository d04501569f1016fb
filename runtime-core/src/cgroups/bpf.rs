//! The cgroup v2 device controller: an eBPF program of type BPF_PROG_TYPE_CGROUP_DEVICE,
//! generated here from the spec's rules and attached to the container's cgroup with bpf(2).
//!
//! The kernel calls the program with `struct bpf_cgroup_dev_ctx { u32 access_type; u32 major;
//! u32 minor; }` (access_type: device type in the low 16 bits, access bits in the high 16)
//! and allows the access when it returns 1.

use super::CgroupError;
use oci_spec::runtime::{LinuxDeviceCgroup, LinuxDeviceType};
use std::os::fd::{AsRawFd, FromRawFd, OwnedFd};
use std::path::Path;

const BPF_PROG_LOAD: libc::c_int = 5;
const BPF_PROG_ATTACH: libc::c_int = 8;
const BPF_PROG_DETACH: libc::c_int = 9;
const BPF_PROG_GET_FD_BY_ID: libc::c_int = 13;
const BPF_PROG_QUERY: libc::c_int = 16;
const BPF_PROG_TYPE_CGROUP_DEVICE: u32 = 15;
const BPF_CGROUP_DEVICE: u32 = 6;
const BPF_F_ALLOW_MULTI: u32 = 2;

const DEV_BLOCK: i32 = 1;
const DEV_CHAR: i32 = 2;
const ACC_MKNOD: i32 = 1;
const ACC_READ: i32 = 2;
const ACC_WRITE: i32 = 4;

/// One device rule, already checked: `None` is a wildcard.
///
/// ```
/// use runtime_core::cgroups::{default_device_rules, DeviceRule};
/// let null = DeviceRule::from_spec(&default_device_rules()[2]); // c 1:3 rwm
/// assert_eq!((null.typ, null.major, null.minor), (Some('c'), Some(1), Some(3)));
/// ```
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRule {
    /// Allow or deny.
    pub allow: bool,
    /// 'b' or 'c'; `None` for all types.
    pub typ: Option<char>,
    /// Major number.
    pub major: Option<u32>,
    /// Minor number.
    pub minor: Option<u32>,
    /// Bits of ACC_MKNOD | ACC_READ | ACC_WRITE.
    pub access: i32,
}

impl DeviceRule {
    /// Converts a spec rule (already validated: type a/b/c, access of r/w/m).
    ///
    /// ```
    /// use runtime_core::cgroups::DeviceRule;
    /// let r: oci_spec::runtime::LinuxDeviceCgroup =
    ///     serde_json::from_str(r#"{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}"#).unwrap();
    /// assert_eq!(DeviceRule::from_spec(&r).major, Some(1));
    /// ```
    pub fn from_spec(d: &LinuxDeviceCgroup) -> DeviceRule {
        let typ = match d.typ() {
            Some(LinuxDeviceType::B) => Some('b'),
            Some(LinuxDeviceType::C) | Some(LinuxDeviceType::U) => Some('c'),
            _ => None,
        };
        let num = |v: Option<i64>| v.filter(|x| *x >= 0).map(|x| x as u32);
        let access = d
            .access()
            .as_deref()
            .unwrap_or("rwm")
            .chars()
            .fold(0, |a, c| {
                a | match c {
                    'r' => ACC_READ,
                    'w' => ACC_WRITE,
                    'm' => ACC_MKNOD,
                    _ => 0,
                }
            });
        DeviceRule {
            allow: d.allow(),
            typ,
            major: num(d.major()),
            minor: num(d.minor()),
            access,
        }
    }
}

/// One eBPF instruction, laid out as the kernel's `struct bpf_insn`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(C)]
pub struct Insn {
    code: u8,
    regs: u8,
    off: i16,
    imm: i32,
}

fn insn(code: u8, dst: u8, src: u8, off: i16, imm: i32) -> Insn {
    Insn {
        code,
        regs: (src << 4) | (dst & 0xf),
        off,
        imm,
    }
}

// Opcodes used (class | op | source).
const LDX_W: u8 = 0x61; // BPF_LDX | BPF_MEM | BPF_W
const AND64_K: u8 = 0x57; // BPF_ALU64 | BPF_AND | BPF_K
const RSH64_K: u8 = 0x77; // BPF_ALU64 | BPF_RSH | BPF_K
const MOV64_K: u8 = 0xb7; // BPF_ALU64 | BPF_MOV | BPF_K
const MOV64_X: u8 = 0xbf; // BPF_ALU64 | BPF_MOV | BPF_X
const JNE_K: u8 = 0x55; // BPF_JMP | BPF_JNE | BPF_K
const JEQ_K: u8 = 0x15; // BPF_JMP | BPF_JEQ | BPF_K
const EXIT: u8 = 0x95; // BPF_JMP | BPF_EXIT

/// Generates the device program for `rules`: the last matching rule decides (as successive
/// writes to v1's devices.allow/deny do), and nothing matching means deny.
///
/// Registers: r2 = type, r3 = access, r4 = major, r5 = minor; r1 is scratch after the loads.
///
/// ```
/// use runtime_core::cgroups::{device_program, DeviceRule};
/// let p = device_program(&[DeviceRule { allow: true, typ: Some('c'), major: Some(1), minor: Some(3), access: 6 }]);
/// assert!(p.len() > 8);
/// ```
pub fn device_program(rules: &[DeviceRule]) -> Vec<Insn> {
    let mut p = vec![
        insn(LDX_W, 2, 1, 0, 0),
        insn(AND64_K, 2, 0, 0, 0xffff),
        insn(LDX_W, 3, 1, 0, 0),
        insn(RSH64_K, 3, 0, 0, 16),
        insn(LDX_W, 4, 1, 4, 0),
        insn(LDX_W, 5, 1, 8, 0),
    ];
    for r in rules.iter().rev() {
        let mut block = Vec::new();
        // Each test jumps to the end of the block ("next rule") when it does not match; the
        // offsets are patched once the block length is known.
        if let Some(t) = r.typ {
            block.push(insn(
                JNE_K,
                2,
                0,
                0,
                if t == 'b' { DEV_BLOCK } else { DEV_CHAR },
            ));
        }
        let all = ACC_MKNOD | ACC_READ | ACC_WRITE;
        if r.access & all != all {
            block.push(insn(MOV64_X, 1, 3, 0, 0));
            if r.allow {
                // An allow matches only when every requested access bit is one it names.
                block.push(insn(AND64_K, 1, 0, 0, !r.access & all));
                block.push(insn(JNE_K, 1, 0, 0, 0));
            } else {
                // A deny matches when any requested bit is one it takes away.
                block.push(insn(AND64_K, 1, 0, 0, r.access));
                block.push(insn(JEQ_K, 1, 0, 0, 0));
            }
        }
        if let Some(m) = r.major {
            block.push(insn(JNE_K, 4, 0, 0, m as i32));
        }
        if let Some(m) = r.minor {
            block.push(insn(JNE_K, 5, 0, 0, m as i32));
        }
        block.push(insn(MOV64_K, 0, 0, 0, i32::from(r.allow)));
        block.push(insn(EXIT, 0, 0, 0, 0));
        let len = block.len();
        for (i, ins) in block.iter_mut().enumerate() {
            if ins.code == JNE_K || ins.code == JEQ_K {
                // Jump past the rest of the block: from the instruction after this one.
                ins.off = (len - i - 1) as i16;
            }
        }
        let unconditional = len == 2;
        p.extend(block);
        if unconditional {
            // It matches everything: earlier rules and the default could never run, and the
            // verifier refuses unreachable instructions.
            return p;
        }
    }
    p.push(insn(MOV64_K, 0, 0, 0, 0));
    p.push(insn(EXIT, 0, 0, 0, 0));
    p
}

/// Runs a device program on one access, for tests without a kernel.
#[cfg(test)]
pub(crate) fn interpret(p: &[Insn], typ: i32, access: i32, major: u32, minor: u32) -> Option<u64> {
    let ctx = [(typ | (access << 16)) as u32, major, minor];
    let mut r = [0u64; 11];
    let mut pc = 0usize;
    for _ in 0..10_000 {
        let i = *p.get(pc)?;
        let (dst, src) = ((i.regs & 0xf) as usize, (i.regs >> 4) as usize);
        pc += 1;
        match i.code {
            LDX_W => r[dst] = u64::from(*ctx.get((i.off / 4) as usize)?),
            AND64_K => r[dst] &= i.imm as i64 as u64,
            RSH64_K => r[dst] >>= i.imm,
            MOV64_K => r[dst] = i.imm as i64 as u64,
            MOV64_X => r[dst] = r[src],
            JNE_K => {
                if r[dst] != i.imm as i64 as u64 {
                    pc = (pc as i64 + i64::from(i.off)) as usize;
                }
            }
            JEQ_K => {
                if r[dst] == i.imm as i64 as u64 {
                    pc = (pc as i64 + i64::from(i.off)) as usize;
                }
            }
            EXIT => return Some(r[0]),
            _ => return None,
        }
    }
    None
}

fn bpf(cmd: libc::c_int, attr: &mut [u8; 128]) -> std::io::Result<libc::c_long> {
    // SAFETY: attr is a zeroed, 128-byte union bpf_attr filled for `cmd`; the pointers in it
    // (instructions, license, log, id array) outlive the call.
    let r = unsafe { libc::syscall(libc::SYS_bpf, cmd, attr.as_mut_ptr(), attr.len()) };
    if r < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(r)
    }
}

fn put_u32(a: &mut [u8; 128], off: usize, v: u32) {
    a[off..off + 4].copy_from_slice(&v.to_ne_bytes());
}

fn put_u64(a: &mut [u8; 128], off: usize, v: u64) {
    a[off..off + 8].copy_from_slice(&v.to_ne_bytes());
}

fn berr(op: &'static str, path: &Path, source: std::io::Error, log: String) -> CgroupError {
    CgroupError::Bpf {
        op,
        path: path.to_path_buf(),
        source,
        log,
    }
}

fn load(prog: &[Insn], cg: &Path) -> Result<OwnedFd, CgroupError> {
    let license = c"Apache-2.0";
    let mut log = vec![0u8; 65536];
    let mut a = [0u8; 128];
    put_u32(&mut a, 0, BPF_PROG_TYPE_CGROUP_DEVICE);
    put_u32(&mut a, 4, prog.len() as u32);
    put_u64(&mut a, 8, prog.as_ptr() as u64);
    put_u64(&mut a, 16, license.as_ptr() as u64);
    put_u32(&mut a, 24, 1); // log_level
    put_u32(&mut a, 28, log.len() as u32);
    put_u64(&mut a, 32, log.as_mut_ptr() as u64);
    match bpf(BPF_PROG_LOAD, &mut a) {
        // SAFETY: the kernel returned a new fd that nothing else owns.
        Ok(fd) => Ok(unsafe { OwnedFd::from_raw_fd(fd as i32) }),
        Err(e) => {
            let end = log.iter().position(|b| *b == 0).unwrap_or(0);
            let text = String::from_utf8_lossy(&log[..end]).trim().to_string();
            let text = if text.is_empty() {
                text
            } else {
                format!(": verifier: {text}")
            };
            Err(berr("BPF_PROG_LOAD", cg, e, text))
        }
    }
}

/// Ids of the device programs attached to the cgroup `fd`.
fn query(fd: i32, cg: &Path) -> Result<Vec<u32>, CgroupError> {
    let mut ids = vec![0u32; 64];
    let mut a = [0u8; 128];
    put_u32(&mut a, 0, fd as u32);
    put_u32(&mut a, 4, BPF_CGROUP_DEVICE);
    put_u64(&mut a, 16, ids.as_mut_ptr() as u64);
    put_u32(&mut a, 24, ids.len() as u32);
    bpf(BPF_PROG_QUERY, &mut a).map_err(|e| berr("BPF_PROG_QUERY", cg, e, String::new()))?;
    let mut cnt = [0u8; 4];
    cnt.copy_from_slice(&a[24..28]);
    ids.truncate(u32::from_ne_bytes(cnt) as usize);
    Ok(ids)
}

/// Loads the program for `rules` and attaches it to the cgroup directory `cg`, then detaches
/// whatever device programs were attached there before (ours from an earlier call), so that
/// there is no moment without a program.
pub(crate) fn attach_device_program(cg: &Path, rules: &[DeviceRule]) -> Result<(), CgroupError> {
    let prog = device_program(rules);
    let dir = std::fs::File::open(cg).map_err(|e| super::fs::io_err("open", cg, e))?;
    let cgfd = dir.as_raw_fd();
    let old = query(cgfd, cg)?;
    let pfd = load(&prog, cg)?;
    let mut a = [0u8; 128];
    put_u32(&mut a, 0, cgfd as u32);
    put_u32(&mut a, 4, pfd.as_raw_fd() as u32);
    put_u32(&mut a, 8, BPF_CGROUP_DEVICE);
    put_u32(&mut a, 12, BPF_F_ALLOW_MULTI);
    bpf(BPF_PROG_ATTACH, &mut a).map_err(|e| berr("BPF_PROG_ATTACH", cg, e, String::new()))?;
    for id in old {
        let mut a = [0u8; 128];
        put_u32(&mut a, 0, id);
        let ofd = match bpf(BPF_PROG_GET_FD_BY_ID, &mut a) {
            // SAFETY: a new fd owned by nobody else.
            Ok(fd) => unsafe { OwnedFd::from_raw_fd(fd as i32) },
            // Detached and freed meanwhile.
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => continue,
            Err(e) => return Err(berr("BPF_PROG_GET_FD_BY_ID", cg, e, String::new())),
        };
        let mut a = [0u8; 128];
        put_u32(&mut a, 0, cgfd as u32);
        put_u32(&mut a, 4, ofd.as_raw_fd() as u32);
        put_u32(&mut a, 8, BPF_CGROUP_DEVICE);
        match bpf(BPF_PROG_DETACH, &mut a) {
            Ok(_) => {}
            Err(e) if e.raw_os_error() == Some(libc::ENOENT) => {}
            Err(e) => return Err(berr("BPF_PROG_DETACH", cg, e, String::new())),
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(
        allow: bool,
        typ: Option<char>,
        major: Option<u32>,
        minor: Option<u32>,
        acc: &str,
    ) -> DeviceRule {
        let access = acc.chars().fold(0, |a, c| {
            a | match c {
                'r' => ACC_READ,
                'w' => ACC_WRITE,
                _ => ACC_MKNOD,
            }
        });
        DeviceRule {
            allow,
            typ,
            major,
            minor,
            access,
        }
    }

    #[test]
    fn last_matching_rule_decides_and_default_denies() {
        let p = device_program(&[
            rule(false, None, None, None, "rwm"),
            rule(true, Some('c'), Some(1), Some(3), "rw"),
            rule(true, Some('c'), Some(136), None, "rwm"),
            rule(false, Some('c'), Some(136), Some(2), "w"),
        ]);
        let run = |t, a, ma, mi| interpret(&p, t, a, ma, mi).unwrap();
        assert_eq!(run(DEV_CHAR, ACC_READ, 1, 3), 1);
        assert_eq!(run(DEV_CHAR, ACC_READ | ACC_WRITE, 1, 3), 1);
        assert_eq!(run(DEV_CHAR, ACC_MKNOD, 1, 3), 0, "m not granted");
        assert_eq!(run(DEV_BLOCK, ACC_READ, 1, 3), 0, "wrong type");
        assert_eq!(run(DEV_CHAR, ACC_READ, 1, 5), 0);
        assert_eq!(run(DEV_CHAR, ACC_MKNOD, 136, 7), 1, "minor wildcard");
        assert_eq!(run(DEV_CHAR, ACC_WRITE, 136, 2), 0, "later deny wins");
        assert_eq!(run(DEV_CHAR, ACC_READ, 136, 2), 1, "deny only for w");
        assert_eq!(
            run(DEV_CHAR, ACC_READ | ACC_WRITE, 136, 2),
            0,
            "w is part of rw"
        );
        let all = device_program(&[rule(true, None, None, None, "rwm")]);
        assert_eq!(interpret(&all, DEV_BLOCK, ACC_WRITE, 8, 0), Some(1));
        assert_eq!(
            interpret(&device_program(&[]), DEV_CHAR, ACC_READ, 1, 3),
            Some(0)
        );
    }
}
