//! A tiny classic-BPF assembler with labels.
//!
//! Conditional jumps in classic BPF reach at most 255 instructions ahead, and a seccomp filter
//! may only jump forwards. The compiler emits symbolic jumps; [`Asm::finish`] lays the program
//! out and turns every conditional jump whose target is too far into a short jump to a `ja`
//! trampoline (which has a 32-bit offset), repeating until the layout is stable.

use super::SeccompError;

/// Opcode pieces (linux/bpf_common.h); libc does not export them all.
pub(crate) const BPF_LD: u16 = 0x00;
pub(crate) const BPF_ALU: u16 = 0x04;
pub(crate) const BPF_JMP: u16 = 0x05;
pub(crate) const BPF_RET: u16 = 0x06;
pub(crate) const BPF_W: u16 = 0x00;
pub(crate) const BPF_ABS: u16 = 0x20;
pub(crate) const BPF_AND: u16 = 0x50;
pub(crate) const BPF_JA: u16 = 0x00;
pub(crate) const BPF_JEQ: u16 = 0x10;
pub(crate) const BPF_JGT: u16 = 0x20;
pub(crate) const BPF_JGE: u16 = 0x30;
pub(crate) const BPF_JSET: u16 = 0x40;
pub(crate) const BPF_K: u16 = 0x00;

/// The kernel refuses longer programs (BPF_MAXINSNS).
pub(crate) const MAX_INSNS: usize = 4096;

/// A position in the program, resolved by [`Asm::finish`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Label(usize);

/// Where a conditional jump goes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Target {
    /// The instruction after the jump.
    Next,
    /// A label placed later in the program.
    To(Label),
}

/// The conditions of a conditional jump against the constant `k`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Cond {
    Eq,
    Gt,
    Ge,
    Set,
}

impl Cond {
    fn code(self) -> u16 {
        BPF_JMP
            | BPF_K
            | match self {
                Cond::Eq => BPF_JEQ,
                Cond::Gt => BPF_JGT,
                Cond::Ge => BPF_JGE,
                Cond::Set => BPF_JSET,
            }
    }
}

#[derive(Debug)]
enum Op {
    Stmt {
        code: u16,
        k: u32,
    },
    Jump {
        cond: Cond,
        k: u32,
        jt: Target,
        jf: Target,
    },
    Ja(Label),
    Place(Label),
}

/// Builds a program out of symbolic instructions.
#[derive(Debug, Default)]
pub(crate) struct Asm {
    ops: Vec<Op>,
    labels: usize,
}

impl Asm {
    pub(crate) fn label(&mut self) -> Label {
        self.labels += 1;
        Label(self.labels - 1)
    }

    pub(crate) fn place(&mut self, l: Label) {
        self.ops.push(Op::Place(l));
    }

    /// A = the 32-bit word at `off` in struct seccomp_data.
    pub(crate) fn load(&mut self, off: u32) {
        self.ops.push(Op::Stmt {
            code: BPF_LD | BPF_W | BPF_ABS,
            k: off,
        });
    }

    /// A &= k.
    pub(crate) fn and(&mut self, k: u32) {
        self.ops.push(Op::Stmt {
            code: BPF_ALU | BPF_AND | BPF_K,
            k,
        });
    }

    pub(crate) fn ret(&mut self, k: u32) {
        self.ops.push(Op::Stmt {
            code: BPF_RET | BPF_K,
            k,
        });
    }

    pub(crate) fn jump(&mut self, cond: Cond, k: u32, jt: Target, jf: Target) {
        // A conditional jump with both arms equal is an unconditional one.
        if jt == jf {
            if let Target::To(l) = jt {
                self.ops.push(Op::Ja(l));
            }
            return;
        }
        self.ops.push(Op::Jump { cond, k, jt, jf });
    }

    pub(crate) fn ja(&mut self, l: Label) {
        self.ops.push(Op::Ja(l));
    }

    /// Lays the program out and encodes it.
    pub(crate) fn finish(self) -> Result<Vec<libc::sock_filter>, SeccompError> {
        // (jt needs a trampoline, jf needs a trampoline) for each op; only grows, so the loop ends.
        let mut long = vec![(false, false); self.ops.len()];
        let mut label_pos = vec![usize::MAX; self.labels];
        loop {
            let mut pos = 0usize;
            let mut op_pos = Vec::with_capacity(self.ops.len());
            for (i, op) in self.ops.iter().enumerate() {
                op_pos.push(pos);
                match op {
                    Op::Place(l) => label_pos[l.0] = pos,
                    Op::Stmt { .. } | Op::Ja(_) => pos += 1,
                    Op::Jump { .. } => pos += 1 + long[i].0 as usize + long[i].1 as usize,
                }
            }
            if pos > MAX_INSNS {
                return Err(SeccompError::TooLarge { len: pos });
            }
            let mut changed = false;
            for (i, op) in self.ops.iter().enumerate() {
                if let Op::Jump { jt, jf, .. } = op {
                    let from = op_pos[i] + 1;
                    let entry = &mut long[i];
                    for (t, is_long) in [(jt, &mut entry.0), (jf, &mut entry.1)] {
                        if let Target::To(l) = t {
                            let to = label_pos[l.0];
                            if to < from {
                                return Err(SeccompError::Internal("backward jump"));
                            }
                            if !*is_long && to - from > 255 {
                                *is_long = true;
                                changed = true;
                            }
                        }
                    }
                }
            }
            if !changed {
                return self.encode(&long, &label_pos, pos);
            }
        }
    }

    fn encode(
        &self,
        long: &[(bool, bool)],
        label_pos: &[usize],
        len: usize,
    ) -> Result<Vec<libc::sock_filter>, SeccompError> {
        let mut out: Vec<libc::sock_filter> = Vec::with_capacity(len);
        let ja = |from: usize, l: &Label| -> Result<libc::sock_filter, SeccompError> {
            let to = label_pos[l.0];
            let off = to
                .checked_sub(from + 1)
                .ok_or(SeccompError::Internal("backward jump"))?;
            Ok(insn(BPF_JMP | BPF_JA, 0, 0, off as u32))
        };
        for (i, op) in self.ops.iter().enumerate() {
            let here = out.len();
            match op {
                Op::Place(_) => {}
                Op::Stmt { code, k } => out.push(insn(*code, 0, 0, *k)),
                Op::Ja(l) => out.push(ja(here, l)?),
                Op::Jump { cond, k, jt, jf } => {
                    let (lt, lf) = long[i];
                    let next = here + 1 + lt as usize + lf as usize;
                    let off = |t: &Target| -> Result<u8, SeccompError> {
                        let to = match t {
                            Target::Next => next,
                            Target::To(l) => label_pos[l.0],
                        };
                        let d = to
                            .checked_sub(here + 1)
                            .ok_or(SeccompError::Internal("backward jump"))?;
                        u8::try_from(d).map_err(|_| SeccompError::Internal("jump out of range"))
                    };
                    // A long arm jumps to its trampoline: jt's first, then jf's.
                    let jt_off = if lt { 0 } else { off(jt)? };
                    let jf_off = if lf { lt as u8 } else { off(jf)? };
                    out.push(insn(cond.code(), jt_off, jf_off, *k));
                    for (is_long, t) in [(lt, jt), (lf, jf)] {
                        if is_long {
                            if let Target::To(l) = t {
                                let at = out.len();
                                out.push(ja(at, l)?);
                            }
                        }
                    }
                }
            }
        }
        if out.len() != len {
            return Err(SeccompError::Internal("layout mismatch"));
        }
        Ok(out)
    }
}

fn insn(code: u16, jt: u8, jf: u8, k: u32) -> libc::sock_filter {
    libc::sock_filter { code, jt, jf, k }
}
