//! seccomp: compile the spec's `linux.seccomp` profile to a classic BPF program and install it.
//!
//! The semantics are runc's (libseccomp plus runc's `-ENOSYS` patch), the generator is ours:
//! seccompiler has one match action per filter, no multi-architecture, no flags and no way to
//! add the `-ENOSYS` stub, so the program is written here directly.
//!
//! # Program layout
//!
//! ```text
//!   ld  arch
//!   jeq AUDIT_ARCH_X86_64 -> x86_64          one check per listed ABI
//!   jeq AUDIT_ARCH_I386   -> i386
//!   ja  KILL_THREAD                           an ABI the profile does not list (libseccomp's bad-arch action)
//! x86_64:
//!   ld  nr
//!   jset 0x40000000 -> x32 (or KILL_THREAD)   x32 shares x86_64's audit arch
//!   binary search on nr over intervals        each interval -> one action or one argument chain
//! x32:  binary search ...
//! i386: ld nr; binary search ...
//! chains: the argument checks of the syscalls that have conditions
//! actions: one `ret` per distinct action value
//! ```
//!
//! On an arm64 kernel ([`Host::Aarch64`]) there is one section: the arch check for
//! AUDIT_ARCH_AARCH64, then the search on the number (the generic table); anything else is a
//! foreign ABI and is killed, 32-bit arm included.
//!
//! Numbers above the largest syscall the profile names (per listed ABI) return `ENOSYS` unless the
//! default action lets syscalls through (allow, log, trace): a newer glibc then falls back
//! from a syscall the profile does not know (clone3) to an older one, as under runc.
//!
//! # When to install
//!
//! [`compile`] allocates and runs in the parent, before the fork. [`Program::install`] does not
//! allocate and runs in the container's init: last thing before `execve` when the process has
//! `noNewPrivileges` (after `prctl(PR_SET_NO_NEW_PRIVS)`), or, without it, before the
//! capabilities are dropped, since the kernel then needs `CAP_SYS_ADMIN` to load a filter.
//! Either way after the init has waited on the exec fifo, so that the filter does not apply to
//! the runtime's own start-up.
//!
//! ```
//! use oci_spec::runtime::LinuxSeccomp;
//! let profile: LinuxSeccomp = serde_json::from_str(
//!     r#"{"defaultAction":"SCMP_ACT_ALLOW",
//!         "syscalls":[{"names":["mkdir","mkdirat"],"action":"SCMP_ACT_ERRNO","errnoRet":13}]}"#,
//! )?;
//! let program = runtime_core::seccomp::compile(&profile)?;
//! assert!(program.instructions().len() < 64);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

pub(crate) mod agent;
mod bpf;
mod cache;
mod tables;

use std::collections::BTreeMap;
use std::fmt;

use nix::errno::Errno;
use oci_spec::runtime::{
    Arch, LinuxSeccomp, LinuxSeccompAction as Action, LinuxSeccompArg,
    LinuxSeccompFilterFlag as Flag, LinuxSeccompOperator as CmpOp,
};

use bpf::{Asm, Cond, Label, Target};

/// Audit architecture of x86_64 (and x32) system calls, as seen in `seccomp_data.arch`.
///
/// ```
/// assert_eq!(runtime_core::seccomp::AUDIT_ARCH_X86_64, 0xc000_003e);
/// ```
pub const AUDIT_ARCH_X86_64: u32 = 0xc000_003e;
/// Audit architecture of i386 system calls (int 0x80 on an x86_64 kernel).
///
/// ```
/// assert_eq!(runtime_core::seccomp::AUDIT_ARCH_I386, 0x4000_0003);
/// ```
pub const AUDIT_ARCH_I386: u32 = 0x4000_0003;
/// Audit architecture of aarch64 system calls (EM_AARCH64, 64-bit, little endian).
///
/// ```
/// assert_eq!(runtime_core::seccomp::AUDIT_ARCH_AARCH64, 0xc000_00b7);
/// ```
pub const AUDIT_ARCH_AARCH64: u32 = 0xc000_00b7;
/// The bit that marks an x32 system call number.
///
/// ```
/// assert_eq!(runtime_core::seccomp::X32_SYSCALL_BIT, 0x4000_0000);
/// ```
pub const X32_SYSCALL_BIT: u32 = tables::X32_BIT;

/// What a syscall newer than the profile gets: `SECCOMP_RET_ERRNO | ENOSYS`.
const RET_ENOSYS: u32 = libc::SECCOMP_RET_ERRNO | libc::ENOSYS as u32;
/// libseccomp's default action for an architecture the filter does not list.
const RET_BAD_ARCH: u32 = libc::SECCOMP_RET_KILL_THREAD;

// Offsets in struct seccomp_data (little endian: the low word of an argument comes first).
const OFF_NR: u32 = 0;
const OFF_ARCH: u32 = 4;
const OFF_ARGS: u32 = 16;

/// Errors of [`compile`] and [`Program::install`]. Each names the field, syscall or
/// architecture at fault.
///
/// ```
/// use oci_spec::runtime::LinuxSeccomp;
/// let profile: LinuxSeccomp = serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#)?;
/// let err = runtime_core::seccomp::compile(&profile).unwrap_err();
/// assert!(err.to_string().contains("cannot be the defaultAction"));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Debug, thiserror::Error)]
pub enum SeccompError {
    /// A feature of the profile that baleia does not implement yet.
    #[error("seccomp: {what} is not supported yet")]
    NotSupported {
        /// The feature, with the field that asks for it.
        what: String,
    },
    /// A rule of `linux.seccomp.syscalls` is malformed.
    #[error("seccomp: linux.seccomp.syscalls[{rule}]: {reason}")]
    InvalidRule {
        /// Index of the rule in `syscalls`.
        rule: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An argument condition of a rule is malformed.
    #[error("seccomp: linux.seccomp.syscalls[{rule}] ({syscall}): args[{arg}]: {reason}")]
    InvalidArg {
        /// Index of the rule in `syscalls`.
        rule: usize,
        /// The rule's first syscall name.
        syscall: String,
        /// Index of the condition in `args`.
        arg: usize,
        /// What is wrong with it.
        reason: String,
    },
    /// An errno value that does not fit the 16 data bits of a seccomp return value.
    #[error("seccomp: linux.seccomp.{field}: {value} is out of range (at most 65535)")]
    ErrnoRange {
        /// `defaultErrnoRet` or `syscalls[N].errnoRet`.
        field: String,
        /// The value given.
        value: u32,
    },
    /// The host's architecture has no syscall table here yet.
    #[error("seccomp: host architecture {host} is not supported yet (only x86_64 and aarch64)")]
    UnsupportedHost {
        /// The host architecture.
        host: &'static str,
    },
    /// The generated program exceeds the kernel's limit.
    #[error(
        "seccomp: the filter needs {len} BPF instructions, more than the kernel's limit of 4096"
    )]
    TooLarge {
        /// Instructions needed.
        len: usize,
    },
    /// SCMP_ACT_NOTIFY used where it cannot work.
    #[error("seccomp: {0}")]
    Notify(String),
    /// A bug in the generator.
    #[error("seccomp: internal error in the BPF generator: {0}")]
    Internal(&'static str),
    /// The kernel refused the filter.
    #[error(
        "seccomp(SECCOMP_SET_MODE_FILTER, flags {flags:#x}) failed: {errno}{}",
        install_hint(.errno)
    )]
    Install {
        /// The flags passed.
        flags: u32,
        /// The error returned.
        errno: Errno,
    },
}

fn install_hint(errno: &Errno) -> &'static str {
    match errno {
        Errno::EACCES => " (the process needs no_new_privs or CAP_SYS_ADMIN)",
        Errno::EINVAL => " (a filter flag this kernel does not know?)",
        _ => "",
    }
}

/// A system call ABI the filter has a section for.
///
/// ```
/// use runtime_core::seccomp::Abi;
/// assert_eq!(Abi::X86_64.syscall_number("clone3"), Some(435));
/// assert_eq!(Abi::I386.syscall_number("socketcall"), Some(102));
/// assert_eq!(Abi::X86_64.syscall_number("socketcall"), None);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Abi {
    /// x86_64, the native ABI of an x86_64 kernel.
    X86_64,
    /// x32: x86_64 registers with 32-bit pointers, numbers carry [`X32_SYSCALL_BIT`].
    X32,
    /// i386 through the compat entry points.
    I386,
    /// aarch64 (arm64), the native ABI of an arm64 kernel (the generic syscall table).
    Aarch64,
}

/// The kernel a filter is compiled for: its native ABI decides the program's layout.
///
/// ```
/// use runtime_core::seccomp::Host;
/// assert_eq!(Host::Aarch64.native(), runtime_core::seccomp::Abi::Aarch64);
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Host {
    /// x86_64 kernels: x86_64, plus x32 and i386 when the profile lists them.
    X86_64,
    /// arm64 kernels: aarch64 (the 32-bit arm compat ABI is not filtered: killed as foreign).
    Aarch64,
}

impl Host {
    /// The host this build runs on, if baleia has its tables.
    ///
    /// ```
    /// # #[cfg(target_arch = "x86_64")]
    /// assert_eq!(runtime_core::seccomp::Host::this(), Some(runtime_core::seccomp::Host::X86_64));
    /// ```
    pub fn this() -> Option<Host> {
        match std::env::consts::ARCH {
            "x86_64" => Some(Host::X86_64),
            "aarch64" => Some(Host::Aarch64),
            _ => None,
        }
    }

    /// The native ABI of this kernel.
    ///
    /// ```
    /// use runtime_core::seccomp::{Abi, Host};
    /// assert_eq!(Host::X86_64.native(), Abi::X86_64);
    /// ```
    pub fn native(self) -> Abi {
        match self {
            Host::X86_64 => Abi::X86_64,
            Host::Aarch64 => Abi::Aarch64,
        }
    }
}

impl Abi {
    /// The value of `seccomp_data.arch` for this ABI.
    ///
    /// ```
    /// use runtime_core::seccomp::{Abi, AUDIT_ARCH_X86_64};
    /// assert_eq!(Abi::X32.audit_arch(), AUDIT_ARCH_X86_64);
    /// ```
    pub fn audit_arch(self) -> u32 {
        match self {
            Abi::X86_64 | Abi::X32 => AUDIT_ARCH_X86_64,
            Abi::I386 => AUDIT_ARCH_I386,
            Abi::Aarch64 => AUDIT_ARCH_AARCH64,
        }
    }

    /// The number of a system call by name, as the kernel sees it in `seccomp_data.nr`
    /// (with the x32 bit for x32); `None` for a name this ABI does not have.
    ///
    /// ```
    /// use runtime_core::seccomp::{Abi, X32_SYSCALL_BIT};
    /// assert_eq!(Abi::X32.syscall_number("read"), Some(X32_SYSCALL_BIT));
    /// ```
    pub fn syscall_number(self, name: &str) -> Option<u32> {
        let table = self.syscalls();
        table
            .binary_search_by(|(n, _)| (*n).cmp(name))
            .ok()
            .map(|i| table[i].1)
    }

    /// Every system call this ABI knows, as (name, number), sorted by name.
    ///
    /// ```
    /// use runtime_core::seccomp::Abi;
    /// assert!(Abi::X86_64.syscalls().iter().any(|&(name, nr)| name == "read" && nr == 0));
    /// ```
    pub fn syscalls(self) -> &'static [(&'static str, u32)] {
        match self {
            Abi::X86_64 => tables::X86_64,
            Abi::X32 => tables::X32,
            Abi::I386 => tables::I386,
            Abi::Aarch64 => tables::AARCH64,
        }
    }

    /// libseccomp compares only the low 32 bits of an argument on 32-bit ABIs (x32 included).
    fn wide_args(self) -> bool {
        matches!(self, Abi::X86_64 | Abi::Aarch64)
    }
}

/// A compiled filter, ready to install.
///
/// Compiled in the parent before the fork; [`Program::install`] does not allocate, so it is
/// safe in the child of a fork of a multi-threaded program.
///
/// ```
/// use oci_spec::runtime::LinuxSeccomp;
/// let profile: LinuxSeccomp = serde_json::from_str(
///     r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG"]}"#,
/// )?;
/// let program = runtime_core::seccomp::compile(&profile)?;
/// assert_eq!(program.flags(), libc::SECCOMP_FILTER_FLAG_LOG as u32);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone)]
pub struct Program {
    filter: Vec<libc::sock_filter>,
    flags: u32,
}

impl fmt::Debug for Program {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Program")
            .field("instructions", &self.filter.len())
            .field("flags", &format_args!("{:#x}", self.flags))
            .finish()
    }
}

impl Program {
    /// The BPF instructions, as handed to the kernel.
    ///
    /// ```
    /// # use oci_spec::runtime::LinuxSeccomp;
    /// # let profile: LinuxSeccomp = serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#)?;
    /// let program = runtime_core::seccomp::compile(&profile)?;
    /// let last = program.instructions().last().map(|i| i.code);
    /// assert_eq!(last, Some(0x06)); // BPF_RET
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn instructions(&self) -> &[libc::sock_filter] {
        &self.filter
    }

    /// The `SECCOMP_FILTER_FLAG_*` bits passed to seccomp(2).
    ///
    /// ```
    /// # use oci_spec::runtime::LinuxSeccomp;
    /// # let profile: LinuxSeccomp = serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#)?;
    /// assert_eq!(runtime_core::seccomp::compile(&profile)?.flags(), 0);
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn flags(&self) -> u32 {
        self.flags
    }

    /// Loads the filter into the calling thread with `seccomp(SECCOMP_SET_MODE_FILTER, flags)`.
    ///
    /// Does not allocate and touches no lock: call it in the container's init, last thing
    /// before `execve` when the process has `noNewPrivileges` (set it first), or before
    /// dropping capabilities without it (the kernel then needs `CAP_SYS_ADMIN`).
    ///
    /// ```no_run
    /// # use oci_spec::runtime::LinuxSeccomp;
    /// # let profile: LinuxSeccomp = serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#)?;
    /// let program = runtime_core::seccomp::compile(&profile)?; // in the parent
    /// // ... fork; in the child:
    /// nix::sys::prctl::set_no_new_privs()?;
    /// program.install()?;
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn install(&self) -> Result<Option<std::os::fd::OwnedFd>, SeccompError> {
        let len = u16::try_from(self.filter.len())
            .map_err(|_| SeccompError::Internal("program longer than 65535 instructions"))?;
        let prog = libc::sock_fprog {
            len,
            filter: self.filter.as_ptr() as *mut libc::sock_filter,
        };
        // SAFETY: prog points at self.filter, which outlives the call; the kernel copies it.
        let r = unsafe {
            libc::syscall(
                libc::SYS_seccomp,
                libc::SECCOMP_SET_MODE_FILTER as libc::c_ulong,
                self.flags as libc::c_ulong,
                &prog as *const libc::sock_fprog,
            )
        };
        if r < 0 {
            return Err(SeccompError::Install {
                flags: self.flags,
                errno: Errno::last(),
            });
        }
        if self.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER == 0 {
            return Ok(None);
        }
        // SAFETY: with NEW_LISTENER, seccomp(2) returns a new fd that is ours alone.
        Ok(Some(unsafe {
            <std::os::fd::OwnedFd as std::os::fd::FromRawFd>::from_raw_fd(r as i32)
        }))
    }

    /// Whether the filter notifies an agent (SCMP_ACT_NOTIFY): [`install`](Program::install)
    /// then returns the listener, which the runtime hands to the agent at `listenerPath`.
    ///
    /// ```
    /// # use oci_spec::runtime::LinuxSeccomp;
    /// let profile: LinuxSeccomp = serde_json::from_str(r#"{"defaultAction":"SCMP_ACT_ALLOW",
    ///     "listenerPath":"/run/agent.sock",
    ///     "syscalls":[{"names":["mount"],"action":"SCMP_ACT_NOTIFY"}]}"#)?;
    /// assert!(runtime_core::seccomp::compile(&profile)?.notifies());
    /// # Ok::<(), Box<dyn std::error::Error>>(())
    /// ```
    pub fn notifies(&self) -> bool {
        self.flags & SECCOMP_FILTER_FLAG_NEW_LISTENER != 0
    }
}

/// One argument comparison, validated.
#[derive(Clone, Copy, Debug)]
struct Cmp {
    index: u32,
    op: CmpOp,
    value: u64,
    value_two: u64,
}

/// A rule of the profile, resolved: its return value and its alternatives (OR) of
/// condition lists (AND).
struct Rule<'a> {
    names: &'a [String],
    ret: u32,
    alts: Vec<Vec<Cmp>>,
}

/// What an interval of syscall numbers leads to.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Ret(u32),
    Chain(usize),
}

/// Compiles a profile into a BPF program, with runc's semantics.
///
/// - `defaultAction`/`defaultErrnoRet`, each rule's `action`/`errnoRet` (`ERRNO` and `TRACE`
///   default to `EPERM`; `KILL` is `KILL_THREAD`); a rule whose action equals the default is
///   dropped, as runc does.
/// - `architectures`: the native ABI always, plus the listed ones this host can run (on
///   x86_64: x86, x32). Architectures of other hosts are skipped: the kernel never reports them
///   here, so their sections could never be reached. Unlisted ABIs are killed.
/// - `ENOSYS` above the largest syscall named, per ABI, for the listed ABIs only (as runc:
///   a profile without `architectures` gets no stub), unless the default is allow/log/trace.
/// - Names this ABI does not know are skipped, like libseccomp does.
/// - `args`: all conditions of a rule must hold; if two conditions test the same argument,
///   each becomes a rule of its own (runc). `SCMP_CMP_MASKED_EQ` takes the mask in `value` and
///   the datum in `valueTwo`, and tests `(arg & mask) == (datum & mask)` like libseccomp. 64-bit compares on x86_64, low 32 bits on x32 and i386.
/// - A syscall with an unconditional rule takes that rule's action; otherwise its conditional
///   rules are tried in profile order and the default action applies if none matches.
///   (libseccomp orders overlapping conditional rules of one syscall by its own tree order;
///   the profiles engines generate have no such overlap.)
/// - On i386, a rule on a socket or SysV IPC call also filters socketcall(2) / ipc(2) with
///   the call number in the first argument, like libseccomp.
/// - `flags`: `SECCOMP_FILTER_FLAG_LOG`, `_SPEC_ALLOW`, `_TSYNC`.
/// - `SCMP_ACT_NOTIFY` (`SECCOMP_RET_USER_NOTIF`): the filter is installed with
///   `SECCOMP_FILTER_FLAG_NEW_LISTENER` (and `_WAIT_KILLABLE_RECV` when asked), and the runtime
///   hands the listener to the agent at `listenerPath` with the container's state, as runc does.
///   Refused as the default action, on `read` and `sendmsg` (the runtime's own hand-off), and
///   without a `listenerPath`.
///
/// ```
/// use oci_spec::runtime::LinuxSeccomp;
/// let profile: LinuxSeccomp = serde_json::from_str(
///     r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
///         "syscalls":[{"names":["read","write","no_such_call"],"action":"SCMP_ACT_ALLOW"}]}"#,
/// )?;
/// let program = runtime_core::seccomp::compile(&profile)?;
/// assert!(!program.instructions().is_empty());
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compile(profile: &LinuxSeccomp) -> Result<Program, SeccompError> {
    compile_for(profile, this_host()?)
}

/// [`compile`], through the cache of compiled programs under the state root `root`.
pub(crate) fn compile_cached(
    profile: &LinuxSeccomp,
    root: &std::path::Path,
) -> Result<Program, SeccompError> {
    cache::compile(profile, this_host()?, &root.join(cache::DIR))
}

fn this_host() -> Result<Host, SeccompError> {
    Host::this().ok_or(SeccompError::UnsupportedHost {
        host: std::env::consts::ARCH,
    })
}

/// [`compile`] for the kernel of `host`, whatever this build runs on (what the tests use to
/// check the aarch64 programs on an x86_64 machine).
///
/// ```
/// use oci_spec::runtime::LinuxSeccomp;
/// use runtime_core::seccomp::{compile_for, Host};
/// let profile: LinuxSeccomp = serde_json::from_str(
///     r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_AARCH64"],
///         "syscalls":[{"names":["openat","read"],"action":"SCMP_ACT_ALLOW"}]}"#,
/// )?;
/// let program = compile_for(&profile, Host::Aarch64)?;
/// assert_eq!(program.instructions()[1].k, runtime_core::seccomp::AUDIT_ARCH_AARCH64);
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
pub fn compile_for(profile: &LinuxSeccomp, host: Host) -> Result<Program, SeccompError> {
    let mut flags = filter_flags(profile.flags().as_deref().unwrap_or_default())?;
    let default_action = profile.default_action();
    let listener = notify_rules(profile)?;
    if listener {
        flags |= SECCOMP_FILTER_FLAG_NEW_LISTENER;
    } else {
        // The flag only changes how a listener's notifications wait: without one it means
        // nothing (and the kernel would refuse it).
        flags &= !SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV;
    }
    let default = action_ret(
        default_action,
        profile.default_errno_ret(),
        "defaultErrnoRet",
    )?;
    let listed = listed_abis(profile.architectures().as_deref().unwrap_or_default(), host);
    let mut abis = vec![host.native()];
    abis.extend(listed.iter().filter(|a| **a != host.native()));
    let rules = parse_rules(profile.syscalls().as_deref().unwrap_or_default())?;
    // runc's -ENOSYS stub, only when the default would not let an unknown syscall through.
    let enosys = !matches!(
        default_action,
        Action::ScmpActAllow | Action::ScmpActLog | Action::ScmpActTrace
    );

    let mut g = Gen {
        asm: Asm::default(),
        rets: BTreeMap::new(),
        chains: Vec::new(),
        default,
    };
    let has = |a: Abi| abis.contains(&a);
    let bad_arch = g.ret_label(RET_BAD_ARCH);
    // runc sizes its stub on the architectures the profile lists, not on the native one it
    // always filters: without `architectures` there is no stub at all.
    let stub = |abi: Abi| enosys && listed.contains(&abi);
    if host == Host::Aarch64 {
        // One ABI: check the arch, then the binary search on the number.
        let sec = g.asm.label();
        g.asm.load(OFF_ARCH);
        g.asm
            .jump(Cond::Eq, AUDIT_ARCH_AARCH64, Target::To(sec), Target::Next);
        g.asm.ja(bad_arch);
        g.asm.place(sec);
        g.asm.load(OFF_NR);
        g.section(Abi::Aarch64, &rules, stub(Abi::Aarch64), false);
        return finish(g, flags);
    }
    let sec_x86_64 = g.asm.label();
    let sec_x32 = g.asm.label();
    let sec_i386 = g.asm.label();

    g.asm.load(OFF_ARCH);
    g.asm.jump(
        Cond::Eq,
        AUDIT_ARCH_X86_64,
        Target::To(sec_x86_64),
        Target::Next,
    );
    if has(Abi::I386) {
        g.asm.jump(
            Cond::Eq,
            AUDIT_ARCH_I386,
            Target::To(sec_i386),
            Target::Next,
        );
    }
    g.asm.ja(bad_arch);

    g.asm.place(sec_x86_64);
    g.asm.load(OFF_NR);
    // Without x32, libseccomp kills numbers from 0x40000000 up as a foreign ABI, except -1,
    // which tracers use to skip a syscall: that one takes the default action.
    let minus_one = g.asm.label();
    let x32_target = if has(Abi::X32) { sec_x32 } else { minus_one };
    g.asm.jump(
        Cond::Set,
        X32_SYSCALL_BIT,
        Target::To(x32_target),
        Target::Next,
    );
    g.section(Abi::X86_64, &rules, stub(Abi::X86_64), !has(Abi::X32));
    if !has(Abi::X32) {
        g.asm.place(minus_one);
        let default = g.ret_label(default);
        g.asm.jump(
            Cond::Eq,
            u32::MAX,
            Target::To(default),
            Target::To(bad_arch),
        );
    }
    if has(Abi::X32) {
        // A still holds the syscall number loaded above.
        g.asm.place(sec_x32);
        g.section(Abi::X32, &rules, stub(Abi::X32), false);
    }
    if has(Abi::I386) {
        g.asm.place(sec_i386);
        g.asm.load(OFF_NR);
        g.section(Abi::I386, &rules, stub(Abi::I386), false);
    }
    finish(g, flags)
}

/// The argument chains and the return instructions after the sections.
fn finish(mut g: Gen, flags: u32) -> Result<Program, SeccompError> {
    g.emit_chains();
    for (value, label) in std::mem::take(&mut g.rets) {
        g.asm.place(label);
        g.asm.ret(value);
    }
    Ok(Program {
        filter: g.asm.finish()?,
        flags,
    })
}

/// `SECCOMP_FILTER_FLAG_NEW_LISTENER`: seccomp(2) returns a notification fd.
const SECCOMP_FILTER_FLAG_NEW_LISTENER: u32 = 1 << 3;
/// `SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV` (Linux 5.19).
const SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV: u32 = 1 << 5;
/// `SECCOMP_RET_USER_NOTIF`: the syscall waits for the agent's answer.
const RET_USER_NOTIF: u32 = 0x7fc0_0000;

/// The syscalls the runtime makes between installing a filter with a listener and the agent
/// having the listener: sending the listener's number to the parent and reading its answer.
/// Notifying them would wait for an agent that cannot have the listener yet.
const HANDOFF_SYSCALLS: [&str; 2] = ["read", "sendmsg"];

/// Whether the profile notifies (SCMP_ACT_NOTIFY), checked as runc checks it: not as the
/// default action, not on the runtime's own hand-off calls, and only with a listenerPath.
fn notify_rules(profile: &LinuxSeccomp) -> Result<bool, SeccompError> {
    if profile.default_action() == Action::ScmpActNotify {
        return Err(SeccompError::Notify(
            "SCMP_ACT_NOTIFY cannot be the defaultAction (the agent would be asked about \
             every syscall, the runtime's own included)"
                .into(),
        ));
    }
    let mut any = false;
    for (i, s) in profile.syscalls().iter().flatten().enumerate() {
        if s.action() != Action::ScmpActNotify {
            continue;
        }
        any = true;
        if let Some(n) = s
            .names()
            .iter()
            .find(|n| HANDOFF_SYSCALLS.contains(&n.as_str()))
        {
            return Err(SeccompError::Notify(format!(
                "syscalls[{i}]: SCMP_ACT_NOTIFY cannot be used for {n}: the runtime needs it \
                 to hand the listener to the agent"
            )));
        }
    }
    if any && profile.listener_path().is_none() {
        return Err(SeccompError::Notify(
            "SCMP_ACT_NOTIFY needs linux.seccomp.listenerPath (the agent's socket)".into(),
        ));
    }
    Ok(any)
}

fn filter_flags(flags: &[Flag]) -> Result<u32, SeccompError> {
    let mut bits = 0u32;
    for f in flags {
        bits |= match f {
            Flag::SeccompFilterFlagLog => libc::SECCOMP_FILTER_FLAG_LOG,
            Flag::SeccompFilterFlagSpecAllow => libc::SECCOMP_FILTER_FLAG_SPEC_ALLOW,
            // The init is single-threaded when it installs the filter; passing the flag
            // costs nothing and keeps the promise if an embedder calls install() elsewhere.
            Flag::SeccompFilterFlagTsync => libc::SECCOMP_FILTER_FLAG_TSYNC,
            Flag::SeccompFilterFlagWaitKillableRecv => {
                SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV as u64
            }
        } as u32;
    }
    Ok(bits)
}

/// The listed ABIs this host can run.
fn listed_abis(archs: &[Arch], host: Host) -> Vec<Abi> {
    let mut abis = vec![];
    for a in archs {
        let abi = match (host, a) {
            (_, Arch::ScmpArchNative) => host.native(),
            (Host::X86_64, Arch::ScmpArchX86_64) => Abi::X86_64,
            (Host::X86_64, Arch::ScmpArchX86) => Abi::I386,
            (Host::X86_64, Arch::ScmpArchX32) => Abi::X32,
            (Host::Aarch64, Arch::ScmpArchAarch64) => Abi::Aarch64,
            // A kernel never reports another host's architecture in seccomp_data.arch, so a
            // section for it would be dead code; libseccomp would add one, to the same
            // effect. (32-bit arm on an arm64 kernel has no table here: it is killed.)
            _ => continue,
        };
        if !abis.contains(&abi) {
            abis.push(abi);
        }
    }
    abis
}

fn action_ret(action: Action, errno: Option<u32>, errno_field: &str) -> Result<u32, SeccompError> {
    let data = || -> Result<u32, SeccompError> {
        let e = errno.unwrap_or(libc::EPERM as u32);
        if e > 0xffff {
            return Err(SeccompError::ErrnoRange {
                field: errno_field.to_string(),
                value: e,
            });
        }
        Ok(e)
    };
    Ok(match action {
        Action::ScmpActKill | Action::ScmpActKillThread => libc::SECCOMP_RET_KILL_THREAD,
        Action::ScmpActKillProcess => libc::SECCOMP_RET_KILL_PROCESS,
        Action::ScmpActTrap => libc::SECCOMP_RET_TRAP,
        Action::ScmpActErrno => libc::SECCOMP_RET_ERRNO | data()?,
        Action::ScmpActTrace => libc::SECCOMP_RET_TRACE | data()?,
        Action::ScmpActLog => libc::SECCOMP_RET_LOG,
        Action::ScmpActAllow => libc::SECCOMP_RET_ALLOW,
        Action::ScmpActNotify => RET_USER_NOTIF,
    })
}

fn parse_rules(
    syscalls: &[oci_spec::runtime::LinuxSyscall],
) -> Result<Vec<Rule<'_>>, SeccompError> {
    let mut rules = Vec::with_capacity(syscalls.len());
    for (i, s) in syscalls.iter().enumerate() {
        let first = s.names().first().cloned().unwrap_or_default();
        if s.names().iter().any(|n| n.is_empty()) {
            return Err(SeccompError::InvalidRule {
                rule: i,
                reason: "an empty string is not a syscall name".into(),
            });
        }
        let ret = action_ret(
            s.action(),
            s.errno_ret(),
            &format!("syscalls[{i}].errnoRet"),
        )?;
        let args: &[LinuxSeccompArg] = s.args().as_deref().unwrap_or_default();
        let mut cmps = Vec::with_capacity(args.len());
        for (j, a) in args.iter().enumerate() {
            if a.index() > 5 {
                return Err(SeccompError::InvalidArg {
                    rule: i,
                    syscall: first.clone(),
                    arg: j,
                    reason: format!(
                        "index {} is out of range (a syscall has arguments 0 to 5)",
                        a.index()
                    ),
                });
            }
            cmps.push(Cmp {
                index: a.index() as u32,
                op: a.op(),
                value: a.value(),
                value_two: a.value_two().unwrap_or(0),
            });
        }
        let repeated = (0..6).any(|ix| cmps.iter().filter(|c| c.index == ix).count() > 1);
        let alts = if repeated {
            // runc (and older libseccomp) turn each condition into a rule of its own when
            // two of them test the same argument: they are ORed, not ANDed.
            cmps.into_iter().map(|c| vec![c]).collect()
        } else {
            vec![cmps]
        };
        rules.push(Rule {
            names: s.names(),
            ret,
            alts,
        });
    }
    Ok(rules)
}

/// A syscall's conditional rules in profile order: (conditions ANDed, return value).
type Alts = Vec<(Vec<Cmp>, u32)>;

/// `(arg & 0) == (datum & 0)`: true whatever the argument.
fn always_true(c: &Cmp, wide: bool) -> bool {
    let mask = if wide { c.value } else { c.value & 0xffff_ffff };
    c.op == CmpOp::ScmpCmpMaskedEq && mask == 0
}

/// i386 reaches the socket and SysV IPC calls through socketcall(2) and ipc(2) too, with the
/// call's number in the first argument: (multiplexer, call number) for such a name.
fn multiplexed(name: &str) -> Option<(u32, u64)> {
    const SOCKETCALL: u32 = 102;
    const IPC: u32 = 117;
    const SOCKET_CALLS: [&str; 20] = [
        "socket",
        "bind",
        "connect",
        "listen",
        "accept",
        "getsockname",
        "getpeername",
        "socketpair",
        "send",
        "recv",
        "sendto",
        "recvfrom",
        "shutdown",
        "setsockopt",
        "getsockopt",
        "sendmsg",
        "recvmsg",
        "accept4",
        "recvmmsg",
        "sendmmsg",
    ];
    const IPC_CALLS: [(&str, u64); 12] = [
        ("semop", 1),
        ("semget", 2),
        ("semctl", 3),
        ("semtimedop", 4),
        ("msgsnd", 11),
        ("msgrcv", 12),
        ("msgget", 13),
        ("msgctl", 14),
        ("shmat", 21),
        ("shmdt", 22),
        ("shmget", 23),
        ("shmctl", 24),
    ];
    if let Some(i) = SOCKET_CALLS.iter().position(|n| *n == name) {
        return Some((SOCKETCALL, i as u64 + 1));
    }
    IPC_CALLS
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, call)| (IPC, *call))
}

/// Generator state shared by the sections.
struct Gen {
    asm: Asm,
    /// One `ret` per distinct return value, emitted at the end.
    rets: BTreeMap<u32, Label>,
    /// Argument chains to emit after the sections: entry label, ABI, alternatives.
    chains: Vec<(Label, Abi, Alts)>,
    default: u32,
}

impl Gen {
    fn ret_label(&mut self, value: u32) -> Label {
        if let Some(l) = self.rets.get(&value) {
            return *l;
        }
        let l = self.asm.label();
        self.rets.insert(value, l);
        l
    }

    /// The binary search on the syscall number for one ABI (A holds the number).
    /// `high_is_foreign`: numbers from 0x40000000 up that get here are another ABI's.
    fn section(&mut self, abi: Abi, rules: &[Rule<'_>], enosys: bool, high_is_foreign: bool) {
        let mut per_nr: BTreeMap<u32, Alts> = BTreeMap::new();
        let mut max: Option<u32> = None;
        for rule in rules {
            for name in rule.names {
                let mux = if abi == Abi::I386 {
                    multiplexed(name)
                } else {
                    None
                };
                if let Some((mux_nr, call)) = mux {
                    // libseccomp also filters the multiplexer, with the call number in the
                    // first argument and the rule's own conditions applied to its arguments.
                    if rule.ret != self.default {
                        let a0 = Cmp {
                            index: 0,
                            op: CmpOp::ScmpCmpEq,
                            value: call,
                            value_two: 0,
                        };
                        let alts = per_nr.entry(mux_nr).or_default();
                        for conds in &rule.alts {
                            let mut all = vec![a0];
                            all.extend(conds.iter().filter(|c| !always_true(c, false)).copied());
                            alts.push((all, rule.ret));
                        }
                    }
                }
                let Some(nr) = abi.syscall_number(name) else {
                    continue;
                };
                // runc sizes the stub on every name of the profile, redundant rules included,
                // except the multiplexed calls, which libseccomp does not resolve on i386.
                if mux.is_none() {
                    max = max.max(Some(nr));
                }
                if rule.ret == self.default {
                    continue;
                }
                let alts = per_nr.entry(nr).or_default();
                for conds in &rule.alts {
                    // libseccomp drops a test that always holds (a zero mask), which can make
                    // the rule unconditional, and an unconditional rule takes precedence.
                    let conds: Vec<Cmp> = conds
                        .iter()
                        .filter(|c| !always_true(c, abi.wide_args()))
                        .copied()
                        .collect();
                    alts.push((conds, rule.ret));
                }
            }
        }

        let mut intervals: Vec<(u32, Outcome)> = Vec::new();
        let push = |iv: &mut Vec<(u32, Outcome)>, start: u64, o: Outcome| {
            if iv.last().map(|l| l.1) != Some(o) {
                iv.push((start as u32, o));
            }
        };
        let mut cursor: u64 = if abi == Abi::X32 {
            X32_SYSCALL_BIT as u64
        } else {
            0
        };
        // runc's stub runs before the filter: above the largest number it resolved, ENOSYS wins
        // even over a rule (on i386, a direct socket call can lie above it).
        let stub_max = max.filter(|m| enosys && *m > 0);
        for (nr, alts) in per_nr {
            if stub_max.is_some_and(|m| nr > m) {
                break;
            }
            if nr as u64 > cursor {
                push(&mut intervals, cursor, Outcome::Ret(self.default));
            }
            // libseccomp: an unconditional rule makes the conditional ones moot.
            let outcome = match alts.iter().find(|(c, _)| c.is_empty()) {
                Some((_, ret)) => Outcome::Ret(*ret),
                None => {
                    let label = self.asm.label();
                    self.chains.push((label, abi, alts));
                    Outcome::Chain(self.chains.len() - 1)
                }
            };
            push(&mut intervals, nr as u64, outcome);
            cursor = nr as u64 + 1;
        }
        match stub_max {
            // runc has no stub for an ABI whose largest named syscall is number 0.
            Some(max) => {
                if cursor <= max as u64 {
                    push(&mut intervals, cursor, Outcome::Ret(self.default));
                }
                if max < u32::MAX {
                    push(&mut intervals, max as u64 + 1, Outcome::Ret(RET_ENOSYS));
                }
            }
            _ => {
                if cursor <= u32::MAX as u64 {
                    push(&mut intervals, cursor, Outcome::Ret(self.default));
                }
                if high_is_foreign {
                    push(
                        &mut intervals,
                        X32_SYSCALL_BIT as u64,
                        Outcome::Ret(RET_BAD_ARCH),
                    );
                }
            }
        }
        let targets: Vec<(u32, Label)> = intervals
            .into_iter()
            .map(|(start, o)| {
                let l = match o {
                    Outcome::Ret(v) => self.ret_label(v),
                    Outcome::Chain(i) => self.chains[i].0,
                };
                (start, l)
            })
            .collect();
        self.tree(&targets);
    }

    /// Emits a balanced search over interval starts; each leaf jumps to its target.
    fn tree(&mut self, iv: &[(u32, Label)]) {
        match iv {
            [] => {}
            [(_, l)] => self.asm.ja(*l),
            _ => {
                let (left, right) = iv.split_at(iv.len() / 2);
                let right_label = self.asm.label();
                let jt = match right {
                    [(_, l)] => Target::To(*l),
                    _ => Target::To(right_label),
                };
                let jf = match left {
                    [(_, l)] => Target::To(*l),
                    _ => Target::Next,
                };
                self.asm.jump(Cond::Ge, right[0].0, jt, jf);
                if left.len() > 1 {
                    self.tree(left);
                }
                if right.len() > 1 {
                    self.asm.place(right_label);
                    self.tree(right);
                }
            }
        }
    }

    fn emit_chains(&mut self) {
        let chains = std::mem::take(&mut self.chains);
        for (label, abi, alts) in chains {
            self.asm.place(label);
            let n = alts.len();
            for (i, (conds, ret)) in alts.into_iter().enumerate() {
                let fail = if i + 1 == n {
                    self.ret_label(self.default)
                } else {
                    self.asm.label()
                };
                for c in &conds {
                    self.compare(c, abi.wide_args(), fail);
                }
                let action = self.ret_label(ret);
                self.asm.ja(action);
                if i + 1 != n {
                    self.asm.place(fail);
                }
            }
        }
    }

    /// Falls through when the condition holds, jumps to `fail` otherwise.
    fn compare(&mut self, c: &Cmp, wide: bool, fail: Label) {
        let lo_off = OFF_ARGS + 8 * c.index;
        let hi_off = lo_off + 4;
        let (v_hi, v_lo) = ((c.value >> 32) as u32, c.value as u32);
        let fail = Target::To(fail);
        let next = Target::Next;
        let a = &mut self.asm;
        if c.op == CmpOp::ScmpCmpMaskedEq {
            // libseccomp masks the datum too: (arg & mask) == (datum & mask).
            let datum = c.value_two & c.value;
            let (d_hi, d_lo) = ((datum >> 32) as u32, datum as u32);
            if wide {
                a.load(hi_off);
                a.and(v_hi);
                a.jump(Cond::Eq, d_hi, next, fail);
            }
            a.load(lo_off);
            a.and(v_lo);
            a.jump(Cond::Eq, d_lo, next, fail);
            return;
        }
        if !wide {
            a.load(lo_off);
            match c.op {
                CmpOp::ScmpCmpEq => a.jump(Cond::Eq, v_lo, next, fail),
                CmpOp::ScmpCmpNe => a.jump(Cond::Eq, v_lo, fail, next),
                CmpOp::ScmpCmpGt => a.jump(Cond::Gt, v_lo, next, fail),
                CmpOp::ScmpCmpGe => a.jump(Cond::Ge, v_lo, next, fail),
                CmpOp::ScmpCmpLt => a.jump(Cond::Ge, v_lo, fail, next),
                CmpOp::ScmpCmpLe => a.jump(Cond::Gt, v_lo, fail, next),
                CmpOp::ScmpCmpMaskedEq => {}
            }
            return;
        }
        // 64-bit: decide on the high words, compare the low words only when those are equal.
        let pass = a.label();
        let pass_t = Target::To(pass);
        a.load(hi_off);
        match c.op {
            CmpOp::ScmpCmpEq => {
                a.jump(Cond::Eq, v_hi, next, fail);
                a.load(lo_off);
                a.jump(Cond::Eq, v_lo, next, fail);
            }
            CmpOp::ScmpCmpNe => {
                a.jump(Cond::Eq, v_hi, next, pass_t);
                a.load(lo_off);
                a.jump(Cond::Eq, v_lo, fail, next);
            }
            CmpOp::ScmpCmpGt | CmpOp::ScmpCmpGe => {
                a.jump(Cond::Gt, v_hi, pass_t, next);
                a.jump(Cond::Eq, v_hi, next, fail);
                a.load(lo_off);
                let cond = if c.op == CmpOp::ScmpCmpGt {
                    Cond::Gt
                } else {
                    Cond::Ge
                };
                a.jump(cond, v_lo, next, fail);
            }
            CmpOp::ScmpCmpLt | CmpOp::ScmpCmpLe => {
                a.jump(Cond::Gt, v_hi, fail, next);
                a.jump(Cond::Eq, v_hi, next, pass_t);
                a.load(lo_off);
                // arg < v is !(arg >= v); arg <= v is !(arg > v).
                let cond = if c.op == CmpOp::ScmpCmpLt {
                    Cond::Ge
                } else {
                    Cond::Gt
                };
                a.jump(cond, v_lo, fail, next);
            }
            CmpOp::ScmpCmpMaskedEq => {}
        }
        a.place(pass);
    }
}
