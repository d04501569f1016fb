//! The seccomp compiler checked by running its programs in a small classic-BPF interpreter over
//! test vectors (struct seccomp_data), against hand-picked expectations and against a direct
//! evaluation of the profile's semantics.

mod seccomp_common;

use seccomp_common::{Data, Rng};

use oci_spec::runtime::{Arch, LinuxSeccomp, LinuxSeccompAction, LinuxSeccompOperator, Spec};
use runtime_core::seccomp::{
    compile, compile_for, Abi, Host, Program, SeccompError, AUDIT_ARCH_AARCH64, AUDIT_ARCH_I386,
    AUDIT_ARCH_X86_64, X32_SYSCALL_BIT,
};

const ALLOW: u32 = 0x7fff_0000;
const KILL_THREAD: u32 = 0;
const KILL_PROCESS: u32 = 0x8000_0000;
const TRAP: u32 = 0x0003_0000;
const LOG: u32 = 0x7ffc_0000;

fn errno(e: u32) -> u32 {
    0x0005_0000 | e
}
fn trace(e: u32) -> u32 {
    0x7ff0_0000 | e
}

fn run(prog: &Program, d: &Data) -> u32 {
    seccomp_common::run(prog.instructions(), d)
}

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).unwrap_or_else(|e| panic!("bad test profile: {e}\n{json}"))
}

fn spec_profile(file: &str) -> LinuxSeccomp {
    let path = format!("{}/tests/seccomp_data/{file}", env!("CARGO_MANIFEST_DIR"));
    let spec = Spec::load(&path).unwrap();
    spec.linux().as_ref().unwrap().seccomp().clone().unwrap()
}

fn nr(abi: Abi, name: &str) -> u32 {
    abi.syscall_number(name)
        .unwrap_or_else(|| panic!("{name} unknown on {abi:?}"))
}

/// What the profile means for one syscall, evaluated directly from its text (runc's rules).
type Conds = Vec<(usize, LinuxSeccompOperator, u64, u64)>;

fn reference(p: &LinuxSeccomp, abis: &[Abi], d: &Data) -> u32 {
    reference_on(p, abis, d, Host::X86_64)
}

fn reference_on(p: &LinuxSeccomp, abis: &[Abi], d: &Data, host: Host) -> u32 {
    let act = |a: LinuxSeccompAction, e: Option<u32>| match a {
        LinuxSeccompAction::ScmpActKill | LinuxSeccompAction::ScmpActKillThread => KILL_THREAD,
        LinuxSeccompAction::ScmpActKillProcess => KILL_PROCESS,
        LinuxSeccompAction::ScmpActTrap => TRAP,
        LinuxSeccompAction::ScmpActErrno => errno(e.unwrap_or(1)),
        LinuxSeccompAction::ScmpActTrace => trace(e.unwrap_or(1)),
        LinuxSeccompAction::ScmpActLog => LOG,
        LinuxSeccompAction::ScmpActAllow => ALLOW,
        LinuxSeccompAction::ScmpActNotify => unreachable!(),
    };
    let abi = match (d.arch, d.nr & X32_SYSCALL_BIT != 0) {
        (AUDIT_ARCH_AARCH64, _) if host == Host::Aarch64 => Abi::Aarch64,
        _ if host == Host::Aarch64 => return KILL_THREAD,
        (AUDIT_ARCH_X86_64, false) => Abi::X86_64,
        (AUDIT_ARCH_X86_64, true) => Abi::X32,
        (AUDIT_ARCH_I386, _) => Abi::I386,
        _ => return KILL_THREAD,
    };
    let default = act(p.default_action(), p.default_errno_ret());
    if abi == Abi::X32 && !abis.contains(&Abi::X32) {
        // libseccomp: a high number without x32 is foreign, except -1 (tracers' skip).
        return if d.nr == u32::MAX {
            default
        } else {
            KILL_THREAD
        };
    }
    if !abis.contains(&abi) {
        return KILL_THREAD;
    }
    let mux = |n: &str| {
        if abi == Abi::I386 {
            multiplexed(n)
        } else {
            None
        }
    };
    let rules = p.syscalls().clone().unwrap_or_default();
    let max = rules
        .iter()
        .flat_map(|r| r.names().iter())
        .filter(|n| mux(n).is_none())
        .filter_map(|n| abi.syscall_number(n))
        .max();
    let permissive = matches!(
        p.default_action(),
        LinuxSeccompAction::ScmpActAllow
            | LinuxSeccompAction::ScmpActLog
            | LinuxSeccompAction::ScmpActTrace
    );
    let listed = p
        .architectures()
        .clone()
        .unwrap_or_default()
        .iter()
        .any(|a| {
            matches!(
                (a, abi),
                (Arch::ScmpArchNative | Arch::ScmpArchX86_64, Abi::X86_64)
                    | (Arch::ScmpArchNative | Arch::ScmpArchAarch64, Abi::Aarch64)
                    | (Arch::ScmpArchX32, Abi::X32)
                    | (Arch::ScmpArchX86, Abi::I386)
            )
        });
    if let Some(max) = max {
        if !permissive && listed && max > 0 && d.nr > max {
            return errno(38);
        }
    }
    if abi == Abi::X86_64 && d.nr >= X32_SYSCALL_BIT && !abis.contains(&Abi::X32) {
        return KILL_THREAD;
    }
    let mut conditional: Vec<(Conds, u32)> = vec![];
    for r in &rules {
        let ret = act(r.action(), r.errno_ret());
        if ret == default {
            continue;
        }
        let wide = matches!(abi, Abi::X86_64 | Abi::Aarch64);
        let args: Vec<_> = r
            .args()
            .clone()
            .unwrap_or_default()
            .iter()
            .map(|a| (a.index(), a.op(), a.value(), a.value_two().unwrap_or(0)))
            .collect();
        // A zero mask always matches: libseccomp drops the test (after runc's split).
        let keep = |a: &(usize, LinuxSeccompOperator, u64, u64)| {
            let mask = if wide { a.2 } else { a.2 & 0xffff_ffff };
            !(a.1 == LinuxSeccompOperator::ScmpCmpMaskedEq && mask == 0)
        };
        let repeated = (0..6).any(|i| args.iter().filter(|a| a.0 == i).count() > 1);
        let alts: Vec<Conds> = if repeated {
            args.iter().map(|a| vec![*a]).collect()
        } else {
            vec![args.clone()]
        };
        let alts: Vec<Conds> = alts
            .into_iter()
            .map(|c| c.into_iter().filter(|a| keep(a)).collect())
            .collect();
        let direct = r
            .names()
            .iter()
            .any(|n| abi.syscall_number(n) == Some(d.nr));
        let via_mux = r
            .names()
            .iter()
            .filter_map(|n| mux(n))
            .find(|(m, _)| *m == d.nr);
        if let Some((_, call)) = via_mux {
            for alt in &alts {
                let mut all = vec![(0, LinuxSeccompOperator::ScmpCmpEq, call, 0)];
                all.extend(alt.iter().copied().filter(|a| {
                    !(a.1 == LinuxSeccompOperator::ScmpCmpMaskedEq && a.2 & 0xffff_ffff == 0)
                }));
                conditional.push((all, ret));
            }
        }
        if !direct {
            continue;
        }
        if alts.iter().any(|c| c.is_empty()) {
            return ret;
        }
        conditional.extend(alts.into_iter().map(|c| (c, ret)));
    }
    let wide = matches!(abi, Abi::X86_64 | Abi::Aarch64);
    for (conds, ret) in conditional {
        let holds = conds.iter().all(|&(i, op, v, v2)| {
            let (x, v, v2) = if wide {
                (d.args[i], v, v2)
            } else {
                (d.args[i] as u32 as u64, v as u32 as u64, v2 as u32 as u64)
            };
            match op {
                LinuxSeccompOperator::ScmpCmpNe => x != v,
                LinuxSeccompOperator::ScmpCmpLt => x < v,
                LinuxSeccompOperator::ScmpCmpLe => x <= v,
                LinuxSeccompOperator::ScmpCmpEq => x == v,
                LinuxSeccompOperator::ScmpCmpGe => x >= v,
                LinuxSeccompOperator::ScmpCmpGt => x > v,
                LinuxSeccompOperator::ScmpCmpMaskedEq => x & v == v2 & v,
            }
        });
        if holds {
            return ret;
        }
    }
    default
}

/// i386's socketcall(2) / ipc(2) multiplexing: (multiplexer, call number).
fn multiplexed(name: &str) -> Option<(u32, u64)> {
    let socket = [
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
    let ipc = [
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
    if let Some(i) = socket.iter().position(|n| *n == name) {
        return Some((102, i as u64 + 1));
    }
    ipc.iter().find(|(n, _)| *n == name).map(|(_, c)| (117, *c))
}

/// Compares the compiled program with the reference on every syscall number around the
/// tables of every ABI, with random arguments near the profile's constants.
fn differential(p: &LinuxSeccomp, abis: &[Abi], seed: u64) {
    differential_on(p, abis, seed, Host::X86_64)
}

fn differential_on(p: &LinuxSeccomp, abis: &[Abi], seed: u64, host: Host) {
    let prog = compile_for(p, host).unwrap();
    let mut near: Vec<u64> = vec![0, 0xffff_ffff, 1 << 32];
    for r in p.syscalls().clone().unwrap_or_default() {
        for a in r.args().clone().unwrap_or_default() {
            near.push(a.value());
            near.extend(a.value_two());
        }
    }
    let mut rng = Rng(seed);
    let mut checked = 0;
    for (arch, base) in [
        (AUDIT_ARCH_X86_64, 0),
        (AUDIT_ARCH_X86_64, X32_SYSCALL_BIT),
        (AUDIT_ARCH_I386, 0),
        (AUDIT_ARCH_AARCH64, 0),
    ] {
        let mut nrs: Vec<u32> = (0..700).map(|n| base + n).collect();
        nrs.extend([base + 0x3fff_ffff, u32::MAX, 0x8000_0000, base + 100_000]);
        for nr in nrs {
            for _ in 0..4 {
                let mut d = Data {
                    nr,
                    arch,
                    args: [0; 6],
                };
                for a in d.args.iter_mut() {
                    *a = rng.interesting(&near);
                }
                let got = run(&prog, &d);
                let want = reference_on(p, abis, &d, host);
                assert_eq!(got, want, "{d:x?}: got {got:#x}, want {want:#x}");
                checked += 1;
            }
        }
    }
    assert!(checked > 10_000);
}

#[test]
fn docker_profile_sample_syscalls() {
    let p = spec_profile("docker-config.json");
    let prog = compile(&p).unwrap();
    let x = Abi::X86_64;
    let eperm = errno(1);
    let run1 = |d: Data| run(&prog, &d);
    for name in [
        "read",
        "write",
        "execve",
        "getpid",
        "futex_waitv",
        "io_uring_setup",
    ] {
        assert_eq!(run1(Data::new(x, nr(x, name))), ALLOW, "{name}");
    }
    for name in ["mount", "unshare", "setns", "reboot", "bpf", "sysfs"] {
        assert_eq!(run1(Data::new(x, nr(x, name))), eperm, "{name}");
    }
    // clone3 is ENOSYS so that glibc falls back to clone.
    assert_eq!(run1(Data::new(x, 435)), errno(38));
    // Newer than every syscall the profile names (futex_waitv, 449): ENOSYS, not EPERM.
    for n in [450, 451, 460, 1000, 0x3fff_ffff] {
        assert_eq!(run1(Data::new(x, n)), errno(38), "nr {n}");
    }
    // personality: only the listed personas, compared on all 64 bits.
    let pers = nr(x, "personality");
    for ok in [0u64, 8, 0x20000, 0x20008, 0xffff_ffff] {
        assert_eq!(
            run1(Data::new(x, pers).arg(0, ok)),
            ALLOW,
            "persona {ok:#x}"
        );
    }
    for bad in [1u64, 0x20001, 0x1_0000_0000, 0xffff_ffff_ffff_ffff] {
        assert_eq!(
            run1(Data::new(x, pers).arg(0, bad)),
            eperm,
            "persona {bad:#x}"
        );
    }
    // clone: any namespace flag in arg 0 is refused (MASKED_EQ with mask 0x7e020000, datum 0).
    let clone = nr(x, "clone");
    assert_eq!(run1(Data::new(x, clone).arg(0, 0x11)), ALLOW); // SIGCHLD
    assert_eq!(run1(Data::new(x, clone).arg(0, 0x3d0f00)), ALLOW); // a thread
    assert_eq!(run1(Data::new(x, clone).arg(0, 0x20011)), eperm); // CLONE_NEWNS
    assert_eq!(run1(Data::new(x, clone).arg(0, 0x1000_0011)), eperm); // CLONE_NEWUSER
    assert_eq!(
        run1(Data::new(x, clone).arg(0, 0xffff_ffff_0000_0011)),
        ALLOW
    ); // high bits unmasked

    // x32 and i386 are listed.
    let x32 = Abi::X32;
    assert_eq!(run1(Data::new(x32, X32_SYSCALL_BIT)), ALLOW); // read
    assert_eq!(run1(Data::new(x32, nr(x32, "clone3"))), errno(38));
    assert_eq!(run1(Data::new(x32, nr(x32, "mount"))), eperm);
    let i = Abi::I386;
    for name in ["getpid", "socketcall", "_llseek", "mmap2", "waitpid"] {
        assert_eq!(run1(Data::new(i, nr(i, name))), ALLOW, "i386 {name}");
    }
    assert_eq!(run1(Data::new(i, nr(i, "mount"))), eperm);
    assert_eq!(run1(Data::new(i, 435)), errno(38));
    // personality on i386 compares only the low word (libseccomp on 32-bit ABIs).
    let ipers = nr(i, "personality");
    assert_eq!(run1(Data::new(i, ipers).arg(0, 0xffff_ffff)), ALLOW);
    assert_eq!(run1(Data::new(i, ipers).arg(0, 2)), eperm);
    // Another architecture is killed.
    let arm = Data {
        nr: 0,
        arch: AUDIT_ARCH_AARCH64,
        args: [0; 6],
    };
    assert_eq!(run1(arm), KILL_THREAD);
    // Small and fast: a range search, not a list of 350 compares.
    assert!(
        prog.instructions().len() < 500,
        "{} instructions",
        prog.instructions().len()
    );
}

#[test]
fn docker_profile_matches_reference() {
    let p = spec_profile("docker-config.json");
    differential(&p, &[Abi::X86_64, Abi::X32, Abi::I386], 0x5eed_0001);
}

#[test]
fn podman_profile_matches_reference() {
    let p = spec_profile("podman-config.json");
    assert_eq!(p.default_errno_ret(), Some(38));
    let prog = compile(&p).unwrap();
    let x = Abi::X86_64;
    // podman's default is ENOSYS; its explicit denials are EPERM.
    assert_eq!(run(&prog, &Data::new(x, nr(x, "kexec_load"))), errno(1));
    assert_eq!(run(&prog, &Data::new(x, 1000)), errno(38));
    assert_eq!(run(&prog, &Data::new(x, nr(x, "read"))), ALLOW);
    differential(&p, &[Abi::X86_64, Abi::X32, Abi::I386], 0x5eed_0002);
}

#[test]
fn every_operator_on_64_and_32_bit_abis() {
    let ops = [
        "SCMP_CMP_NE",
        "SCMP_CMP_LT",
        "SCMP_CMP_LE",
        "SCMP_CMP_EQ",
        "SCMP_CMP_GE",
        "SCMP_CMP_GT",
        "SCMP_CMP_MASKED_EQ",
    ];
    let mut rng = Rng(0x0123_4567_89ab_cdef);
    for op in ops {
        for _ in 0..20 {
            let v = rng.interesting(&[0, 0xffff_ffff, 0x1_0000_0000, 0x1234_5678_9abc_def0]);
            let v2 = rng.interesting(&[0, v, v & 0xff00_ff00_ff00_ff00]);
            let json = format!(
                r#"{{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86"],
                    "syscalls":[{{"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":5,
                    "args":[{{"index":3,"value":{v},"valueTwo":{v2},"op":"{op}"}}]}}]}}"#
            );
            let p = profile(&json);
            differential(&p, &[Abi::X86_64, Abi::I386], rng.next());
            // And the exact edges, explicitly.
            let prog = compile(&p).unwrap();
            for x in [v, v.wrapping_add(1), v.wrapping_sub(1), v ^ (1 << 32), v2] {
                let d = Data::new(Abi::X86_64, 110).arg(3, x);
                assert_eq!(
                    run(&prog, &d),
                    reference(&p, &[Abi::X86_64], &d),
                    "{op} {v:#x} {x:#x}"
                );
            }
        }
    }
}

#[test]
fn conditions_and_within_a_rule_or_on_the_same_argument() {
    // Two different arguments: both must hold.
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO",
            "args":[{"index":0,"value":1,"op":"SCMP_CMP_EQ"},{"index":1,"value":9,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let prog = compile(&p).unwrap();
    let kill = |a: u64, b: u64| run(&prog, &Data::new(Abi::X86_64, 62).arg(0, a).arg(1, b));
    assert_eq!(kill(1, 9), errno(1));
    assert_eq!(kill(1, 15), ALLOW);
    assert_eq!(kill(2, 9), ALLOW);
    // The same argument twice: runc makes two rules of it, so either may match.
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["kill"],"action":"SCMP_ACT_ERRNO",
            "args":[{"index":1,"value":9,"op":"SCMP_CMP_EQ"},{"index":1,"value":19,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let prog = compile(&p).unwrap();
    let kill = |b: u64| run(&prog, &Data::new(Abi::X86_64, 62).arg(1, b));
    assert_eq!(kill(9), errno(1));
    assert_eq!(kill(19), errno(1));
    assert_eq!(kill(15), ALLOW);
}

#[test]
fn actions_errno_defaults_and_redundant_rules() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_KILL_PROCESS","architectures":["SCMP_ARCH_NATIVE"],"syscalls":[
            {"names":["read"],"action":"SCMP_ACT_ALLOW"},
            {"names":["write"],"action":"SCMP_ACT_LOG"},
            {"names":["open"],"action":"SCMP_ACT_ERRNO"},
            {"names":["close"],"action":"SCMP_ACT_ERRNO","errnoRet":4095},
            {"names":["stat"],"action":"SCMP_ACT_TRACE"},
            {"names":["fstat"],"action":"SCMP_ACT_TRACE","errnoRet":7},
            {"names":["lstat"],"action":"SCMP_ACT_TRAP"},
            {"names":["poll"],"action":"SCMP_ACT_KILL"},
            {"names":["lseek"],"action":"SCMP_ACT_KILL_THREAD"},
            {"names":["getpid","mmap"],"action":"SCMP_ACT_KILL_PROCESS"},
            {"names":["mmap"],"action":"SCMP_ACT_ALLOW","args":[{"index":0,"value":0,"op":"SCMP_CMP_EQ"}]},
            {"names":["no_such_syscall"],"action":"SCMP_ACT_ALLOW"}
        ]}"#,
    );
    let prog = compile(&p).unwrap();
    let x = Abi::X86_64;
    let r = |name: &str| run(&prog, &Data::new(x, nr(x, name)));
    assert_eq!(r("read"), ALLOW);
    assert_eq!(r("write"), LOG);
    assert_eq!(r("open"), errno(1));
    assert_eq!(r("close"), errno(4095));
    assert_eq!(r("stat"), trace(1));
    assert_eq!(r("fstat"), trace(7));
    assert_eq!(r("lstat"), TRAP);
    assert_eq!(r("poll"), KILL_THREAD);
    assert_eq!(r("lseek"), KILL_THREAD);
    assert_eq!(r("getpid"), KILL_PROCESS);
    // A rule with the default action is dropped; the conditional one still applies.
    assert_eq!(r("mmap"), ALLOW);
    assert_eq!(
        run(&prog, &Data::new(x, nr(x, "mmap")).arg(0, 4096)),
        KILL_PROCESS
    );
    // getpid (39) is the largest number named: ENOSYS starts above it.
    assert_eq!(run(&prog, &Data::new(x, 40)), errno(38));
    // The default applies below it.
    assert_eq!(run(&prog, &Data::new(x, nr(x, "brk"))), KILL_PROCESS);
    // Only x86_64 is listed: x32 and i386 are killed as a foreign architecture.
    assert_eq!(
        run(&prog, &Data::new(Abi::X32, X32_SYSCALL_BIT)),
        KILL_THREAD
    );
    assert_eq!(run(&prog, &Data::new(Abi::I386, 3)), KILL_THREAD);
    differential(&p, &[Abi::X86_64], 7);
}

#[test]
fn no_enosys_stub_when_the_default_lets_syscalls_through() {
    for default in ["SCMP_ACT_ALLOW", "SCMP_ACT_LOG", "SCMP_ACT_TRACE"] {
        let p = profile(&format!(
            r#"{{"defaultAction":"{default}","syscalls":[{{"names":["read"],"action":"SCMP_ACT_KILL"}}]}}"#
        ));
        let prog = compile(&p).unwrap();
        let d = Data::new(Abi::X86_64, 1000);
        assert_ne!(run(&prog, &d), errno(38), "{default}");
        assert_eq!(run(&prog, &Data::new(Abi::X86_64, 0)), KILL_THREAD);
        differential(&p, &[Abi::X86_64], 11);
    }
    // runc sizes its stub on the listed architectures only: none listed, no stub.
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","syscalls":[{"names":["read"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let prog = compile(&p).unwrap();
    assert_eq!(run(&prog, &Data::new(Abi::X86_64, 1000)), errno(1));
    assert_eq!(run(&prog, &Data::new(Abi::X86_64, 0)), ALLOW);
    // An empty profile has no largest syscall: everything takes the default.
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":13,"architectures":["SCMP_ARCH_X86_64"]}"#,
    );
    let prog = compile(&p).unwrap();
    assert_eq!(run(&prog, &Data::new(Abi::X86_64, 1000)), errno(13));
}

#[test]
fn foreign_architectures_are_skipped_and_native_is_always_there() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ERRNO","architectures":["SCMP_ARCH_AARCH64","SCMP_ARCH_ARM"],
            "syscalls":[{"names":["getpid"],"action":"SCMP_ACT_ALLOW"}]}"#,
    );
    let prog = compile(&p).unwrap();
    assert_eq!(run(&prog, &Data::new(Abi::X86_64, 39)), ALLOW);
    let arm = Data {
        nr: 172,
        arch: AUDIT_ARCH_AARCH64,
        args: [0; 6],
    };
    assert_eq!(run(&prog, &arm), KILL_THREAD);
}

#[test]
fn a_large_profile_needs_long_jumps_and_still_matches() {
    // Every x86_64 syscall, with a different errno each and conditions on some: the targets
    // end up far more than 255 instructions away from the search tree.
    let mut rules = vec![];
    for n in 0..300u32 {
        let Some((name, _)) = Abi::X86_64.syscalls().iter().find(|(_, nr)| *nr == n) else {
            continue;
        };
        let args = if n % 7 == 0 {
            format!(
                r#","args":[{{"index":{},"value":{},"op":"SCMP_CMP_GT"}},{{"index":5,"value":{},"valueTwo":0,"op":"SCMP_CMP_MASKED_EQ"}}]"#,
                n % 6,
                (n as u64) << 30,
                1u64 << (n % 64)
            )
        } else {
            String::new()
        };
        rules.push(format!(
            r#"{{"names":["{}"],"action":"SCMP_ACT_ERRNO","errnoRet":{}{}}}"#,
            name,
            n % 200 + 2,
            args
        ));
    }
    let json = format!(
        r#"{{"defaultAction":"SCMP_ACT_TRAP","architectures":["SCMP_ARCH_X86","SCMP_ARCH_X32"],"syscalls":[{}]}}"#,
        rules.join(",")
    );
    let p = profile(&json);
    let prog = compile(&p).unwrap();
    assert!(prog.instructions().len() > 600);
    let long_jumps = prog
        .instructions()
        .iter()
        .filter(|i| i.code == 0x05 && i.k > 255)
        .count();
    assert!(long_jumps > 0, "expected trampolines");
    differential(&p, &[Abi::X86_64, Abi::X32, Abi::I386], 99);
}

#[test]
fn refused_features_and_bad_input_are_clear_errors() {
    let err = |json: &str| compile(&profile(json)).unwrap_err().to_string();
    let e = err(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#);
    assert!(
        e.contains("SCMP_ACT_NOTIFY") && e.contains("defaultAction"),
        "{e}"
    );
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["mkdir"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(e.contains("listenerPath"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/a.sock",
            "syscalls":[{"names":["mkdir","read"],"action":"SCMP_ACT_NOTIFY"}]}"#,
    );
    assert!(e.contains("syscalls[0]") && e.contains("read"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO",
            "args":[{"index":6,"value":1,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    assert!(
        e.contains("syscalls[0] (read): args[0]") && e.contains("index 6"),
        "{e}"
    );
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read"],"action":"SCMP_ACT_ERRNO","errnoRet":70000}]}"#,
    );
    assert!(
        e.contains("syscalls[0].errnoRet") && e.contains("70000"),
        "{e}"
    );
    let e = err(r#"{"defaultAction":"SCMP_ACT_ERRNO","defaultErrnoRet":65536}"#);
    assert!(e.contains("defaultErrnoRet"), "{e}");
    let e = err(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[{"names":["read",""],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    assert!(e.contains("syscalls[0]") && e.contains("empty"), "{e}");
    assert!(matches!(
        compile(&profile(r#"{"defaultAction":"SCMP_ACT_NOTIFY"}"#)),
        Err(SeccompError::Notify(_))
    ));
}

#[test]
fn notify_rules_return_user_notif_and_ask_for_a_listener() {
    const USER_NOTIF: u32 = 0x7fc0_0000;
    const NEW_LISTENER: u32 = 1 << 3;
    const WAIT_KILLABLE_RECV: u32 = 1 << 5;
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock",
            "flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
            "syscalls":[{"names":["mount"],"action":"SCMP_ACT_NOTIFY"},
                        {"names":["umount2"],"action":"SCMP_ACT_ERRNO"}]}"#,
    );
    let prog = compile(&p).unwrap();
    assert!(prog.notifies());
    assert_eq!(prog.flags(), NEW_LISTENER | WAIT_KILLABLE_RECV);
    let x = Abi::X86_64;
    let d = |name: &str| Data::new(x, nr(x, name));
    assert_eq!(run(&prog, &d("mount")), USER_NOTIF);
    assert_eq!(run(&prog, &d("umount2")), errno(1));
    assert_eq!(run(&prog, &d("read")), ALLOW);
    // Without a notify rule the flag has nothing to act on and no listener is made.
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","listenerPath":"/run/agent.sock",
            "flags":["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]}"#,
    );
    let prog = compile(&p).unwrap();
    assert!(!prog.notifies());
    assert_eq!(prog.flags(), 0);
}

#[test]
fn flags_are_passed_through() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_TSYNC"]}"#,
    );
    assert_eq!(compile(&p).unwrap().flags(), 0b111);
}

/// The Docker profile on an arm64 kernel: its own table and audit arch, the stub sized on the
/// aarch64 numbers, x86 numbers meaning nothing (killed as a foreign architecture).
#[test]
fn docker_profile_on_aarch64() {
    let mut p = spec_profile("docker-config.json");
    p.set_architectures(Some(vec![Arch::ScmpArchAarch64, Arch::ScmpArchArm]));
    let prog = compile_for(&p, Host::Aarch64).unwrap();
    let a = Abi::Aarch64;
    let d = |name: &str| Data::new(a, nr(a, name));
    assert_eq!(nr(a, "openat"), 56);
    assert_eq!(nr(a, "clone3"), 435);
    assert_eq!(a.syscall_number("open"), None, "aarch64 has no open(2)");
    assert_eq!(run(&prog, &d("openat")), ALLOW);
    assert_eq!(run(&prog, &d("read")), ALLOW);
    assert_eq!(run(&prog, &d("clone3")), errno(38));
    // kexec_load is not in the allow list: the default (EPERM).
    assert_eq!(run(&prog, &d("kexec_load")), errno(1));
    // Above every number the profile names: ENOSYS.
    assert_eq!(run(&prog, &Data::new(a, 1000)), errno(38));
    let x86 = Data::new(Abi::X86_64, 0);
    assert_eq!(run(&prog, &x86), KILL_THREAD);
    differential_on(&p, &[Abi::Aarch64], 0x5eed_00a6, Host::Aarch64);
}

#[test]
fn aarch64_table_is_sorted_and_has_the_generic_numbers() {
    let t = Abi::Aarch64.syscalls();
    assert!(
        t.windows(2).all(|w| w[0].0 < w[1].0),
        "sorted, no duplicates"
    );
    for (name, n) in [
        ("io_setup", 0),
        ("getcwd", 17),
        ("fcntl", 25),
        ("newfstatat", 79),
        ("exit_group", 94),
        ("rt_sigreturn", 139),
        ("mmap", 222),
        ("wait4", 260),
        ("pidfd_open", 434),
        ("open_tree_attr", 467),
    ] {
        assert_eq!(Abi::Aarch64.syscall_number(name), Some(n), "{name}");
    }
    assert_eq!(Abi::Aarch64.audit_arch(), AUDIT_ARCH_AARCH64);
}

#[test]
fn arg_conditions_compare_64_bits_on_aarch64() {
    let p = profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_AARCH64"],
            "syscalls":[{"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":9,
                         "args":[{"index":0,"value":4294967304,"op":"SCMP_CMP_EQ"}]}]}"#,
    );
    let prog = compile_for(&p, Host::Aarch64).unwrap();
    let pers = nr(Abi::Aarch64, "personality");
    let d = |v: u64| Data::new(Abi::Aarch64, pers).arg(0, v);
    assert_eq!(run(&prog, &d(0x1_0000_0008)), errno(9));
    assert_eq!(
        run(&prog, &d(8)),
        ALLOW,
        "the high word counts on a 64-bit ABI"
    );
    differential_on(&p, &[Abi::Aarch64], 0xa64, Host::Aarch64);
}
