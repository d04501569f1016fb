//! Live checks: a forked child installs a compiled filter and makes real system calls.
//!
//! The test harness is multi-threaded, so the child only makes raw syscalls and `_exit`s with a
//! code saying which check failed (no allocation, no locks), exactly as the runtime's init must.

use nix::sys::signal::Signal;
use nix::sys::wait::{waitpid, WaitStatus};
use nix::unistd::{fork, ForkResult};
use oci_spec::runtime::{LinuxSeccomp, Spec};
use runtime_core::seccomp::{compile, Program, SeccompError};

/// How the child ended.
#[derive(Debug, PartialEq)]
enum End {
    Exit(i32),
    Signal(Signal),
}

fn in_child(f: impl FnOnce() -> i32) -> End {
    // SAFETY: the child runs `f`, which only makes raw syscalls, then _exits.
    match unsafe { fork() }.expect("fork") {
        ForkResult::Child => {
            let code = f();
            unsafe { libc::_exit(code) }
        }
        ForkResult::Parent { child } => match waitpid(child, None).expect("waitpid") {
            WaitStatus::Exited(_, c) => End::Exit(c),
            WaitStatus::Signaled(_, s, _) => End::Signal(s),
            other => panic!("unexpected wait status {other:?}"),
        },
    }
}

/// A raw syscall: Ok(return value) or Err(errno).
fn sys(nr: libc::c_long, a0: u64, a1: u64) -> Result<i64, i32> {
    let r = unsafe { libc::syscall(nr, a0, a1, 0u64, 0u64, 0u64, 0u64) };
    if r == -1 {
        Err(unsafe { *libc::__errno_location() })
    } else {
        Ok(r)
    }
}

fn no_new_privs() -> bool {
    unsafe { libc::prctl(libc::PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) == 0 }
}

fn profile(json: &str) -> LinuxSeccomp {
    serde_json::from_str(json).expect("test profile")
}

fn docker_program() -> Program {
    let path = format!(
        "{}/tests/seccomp_data/docker-config.json",
        env!("CARGO_MANIFEST_DIR")
    );
    let spec = Spec::load(path).expect("docker config");
    let seccomp = spec.linux().as_ref().and_then(|l| l.seccomp().clone());
    compile(&seccomp.expect("docker config has seccomp")).expect("compile docker profile")
}

#[test]
fn denied_syscall_returns_its_errno_and_allowed_ones_work() {
    let prog = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","syscalls":[
            {"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":123},
            {"names":["personality"],"action":"SCMP_ACT_ERRNO","errnoRet":77,
             "args":[{"index":0,"value":57005,"op":"SCMP_CMP_EQ"}]}]}"#,
    ))
    .unwrap();
    let end = in_child(|| {
        if !no_new_privs() {
            return 10;
        }
        if prog.install().is_err() {
            return 11;
        }
        if sys(libc::SYS_getppid, 0, 0) != Err(123) {
            return 12;
        }
        if !matches!(sys(libc::SYS_getpid, 0, 0), Ok(p) if p > 0) {
            return 13;
        }
        // 0xdead would set a persona: the filter must stop it. 0xffffffff only queries.
        if sys(libc::SYS_personality, 0xdead, 0) != Err(77) {
            return 14;
        }
        if sys(libc::SYS_personality, 0xffff_ffff, 0).is_err() {
            return 15;
        }
        0
    });
    assert_eq!(end, End::Exit(0));
}

#[test]
fn docker_profile_in_a_real_process() {
    let prog = docker_program();
    let end = in_child(|| {
        if !no_new_privs() {
            return 20;
        }
        if prog.install().is_err() {
            return 21;
        }
        // clone3 must give ENOSYS so that glibc falls back to clone.
        if sys(libc::SYS_clone3, 0, 0) != Err(libc::ENOSYS) {
            return 22;
        }
        if sys(libc::SYS_unshare, libc::CLONE_NEWNS as u64, 0) != Err(libc::EPERM) {
            return 23;
        }
        if sys(libc::SYS_mount, 0, 0) != Err(libc::EPERM) {
            return 24;
        }
        // cachestat (451) is newer than the profile: ENOSYS, not EPERM.
        if sys(451, 0, 0) != Err(libc::ENOSYS) {
            return 25;
        }
        if !matches!(sys(libc::SYS_getpid, 0, 0), Ok(p) if p > 0) {
            return 26;
        }
        // clone with CLONE_NEWUTS is refused by the argument check.
        if sys(
            libc::SYS_clone,
            (libc::CLONE_NEWUTS | libc::SIGCHLD) as u64,
            0,
        ) != Err(libc::EPERM)
        {
            return 27;
        }
        0
    });
    assert_eq!(end, End::Exit(0));
}

#[test]
fn flags_are_accepted_by_the_kernel() {
    let prog = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","flags":["SECCOMP_FILTER_FLAG_LOG",
            "SECCOMP_FILTER_FLAG_SPEC_ALLOW","SECCOMP_FILTER_FLAG_TSYNC"],
            "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":5}]}"#,
    ))
    .unwrap();
    let end = in_child(|| {
        if !no_new_privs() {
            return 30;
        }
        if prog.install().is_err() {
            return 31;
        }
        if sys(libc::SYS_getppid, 0, 0) != Err(5) {
            return 32;
        }
        0
    });
    assert_eq!(end, End::Exit(0));
}

#[test]
fn without_no_new_privs_or_cap_sys_admin_install_fails_with_eacces() {
    let prog = compile(&profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#)).unwrap();
    let end = in_child(|| {
        // Leaving root drops every capability.
        if unsafe { libc::setresuid(65534, 65534, 65534) } != 0 {
            return 40;
        }
        match prog.install() {
            Err(SeccompError::Install {
                errno: nix::errno::Errno::EACCES,
                ..
            }) => 0,
            Err(_) => 41,
            Ok(_) => 42,
        }
    });
    assert_eq!(end, End::Exit(0));
    let msg = SeccompError::Install {
        flags: 0,
        errno: nix::errno::Errno::EACCES,
    }
    .to_string();
    assert!(msg.contains("no_new_privs"), "{msg}");
}

/// An i386 system call from this 64-bit process (int 0x80).
#[cfg(target_arch = "x86_64")]
fn int80(nr: u32, a0: u32) -> i32 {
    let mut ret = nr as i32;
    // SAFETY: a plain compat syscall; r8-r11 are declared clobbered for older kernels.
    unsafe {
        // rbx belongs to LLVM: swap the argument in and out around the call.
        std::arch::asm!("xchg rbx, {a}", "int 0x80", "xchg rbx, {a}",
            a = inout(reg) a0 as u64 => _, inout("eax") ret,
            lateout("r8") _, lateout("r9") _, lateout("r10") _, lateout("r11") _,
            options(nostack));
    }
    ret
}

#[cfg(target_arch = "x86_64")]
#[test]
fn i386_syscalls_are_filtered_in_their_own_section() {
    const I386_GETPID: u32 = 20;
    const NO_IA32: i32 = 99;
    let listed = compile(&profile(
        r#"{"defaultAction":"SCMP_ACT_ALLOW","architectures":["SCMP_ARCH_X86_64","SCMP_ARCH_X86"],
            "syscalls":[{"names":["getppid"],"action":"SCMP_ACT_ERRNO","errnoRet":61},
                        {"names":["getpid"],"action":"SCMP_ACT_ERRNO","errnoRet":62}]}"#,
    ))
    .unwrap();
    let end = in_child(|| {
        if int80(I386_GETPID, 0) == -libc::ENOSYS {
            return NO_IA32;
        }
        if !no_new_privs() || listed.install().is_err() {
            return 50;
        }
        // i386 getpid is 20, x86_64's 39: both named getpid, both denied.
        if int80(I386_GETPID, 0) != -62 {
            return 51;
        }
        if sys(libc::SYS_getpid, 0, 0) != Err(62) {
            return 52;
        }
        0
    });
    if end == End::Exit(NO_IA32) {
        eprintln!("skipped: this kernel runs no i386 syscalls (ia32 emulation off)");
        return;
    }
    assert_eq!(end, End::Exit(0));

    // Without SCMP_ARCH_X86 an i386 syscall is a foreign architecture: the thread is killed.
    let native_only = compile(&profile(r#"{"defaultAction":"SCMP_ACT_ALLOW"}"#)).unwrap();
    let end = in_child(|| {
        if !no_new_privs() || native_only.install().is_err() {
            return 53;
        }
        int80(I386_GETPID, 0);
        54
    });
    assert_eq!(end, End::Signal(Signal::SIGSYS));
}
