//! Shared by the seccomp tests: struct seccomp_data, a classic-BPF interpreter and a small
//! deterministic random generator.
#![allow(dead_code)]

use runtime_core::seccomp::Abi;

/// struct seccomp_data.
#[derive(Clone, Copy, Debug)]
pub struct Data {
    pub nr: u32,
    pub arch: u32,
    pub args: [u64; 6],
}

impl Data {
    pub fn new(abi: Abi, nr: u32) -> Data {
        Data {
            nr,
            arch: abi.audit_arch(),
            args: [0; 6],
        }
    }
    pub fn arg(mut self, i: usize, v: u64) -> Data {
        self.args[i] = v;
        self
    }
    pub fn word(&self, off: u32) -> u32 {
        let mut bytes = [0u8; 64];
        bytes[0..4].copy_from_slice(&self.nr.to_le_bytes());
        bytes[4..8].copy_from_slice(&self.arch.to_le_bytes());
        // instruction_pointer (8..16) stays 0.
        for (i, a) in self.args.iter().enumerate() {
            bytes[16 + 8 * i..24 + 8 * i].copy_from_slice(&a.to_le_bytes());
        }
        assert!(off.is_multiple_of(4) && off < 64, "bad load offset {off}");
        let o = off as usize;
        u32::from_le_bytes([bytes[o], bytes[o + 1], bytes[o + 2], bytes[o + 3]])
    }
}

/// Runs a seccomp program as the kernel would; panics on anything the kernel's checker would
/// refuse (unknown opcode, jump out of the program, falling off its end).
pub fn run(insns: &[libc::sock_filter], d: &Data) -> u32 {
    assert!(!insns.is_empty() && insns.len() <= 4096);
    let mut a: u32 = 0;
    let mut pc = 0usize;
    loop {
        let i = insns
            .get(pc)
            .unwrap_or_else(|| panic!("pc {pc} out of the program"));
        let k = i.k;
        let cond = |taken: bool| 1 + if taken { i.jt as usize } else { i.jf as usize };
        pc += match i.code {
            0x20 => {
                a = d.word(k);
                1
            }
            0x54 => {
                a &= k;
                1
            }
            0x05 => 1 + k as usize,
            0x15 => cond(a == k),
            0x25 => cond(a > k),
            0x35 => cond(a >= k),
            0x45 => cond(a & k != 0),
            0x06 => return k,
            c => panic!("unexpected opcode {c:#x} at {pc}"),
        };
    }
}

/// A small deterministic generator, so that a failure can be reproduced.
pub struct Rng(pub u64);
impl Rng {
    pub fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
    /// Values that hit the edges of 64-bit compares: equal halves, off by one, all ones.
    pub fn interesting(&mut self, near: &[u64]) -> u64 {
        let base = near[(self.next() % near.len() as u64) as usize];
        match self.next() % 8 {
            0 => base,
            1 => base.wrapping_add(1),
            2 => base.wrapping_sub(1),
            3 => base ^ (1 << 32),
            4 => base ^ 1,
            5 => base & 0xffff_ffff,
            6 => u64::MAX,
            _ => self.next(),
        }
    }
}
