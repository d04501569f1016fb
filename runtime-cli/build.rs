//! Records the git commit for `baleia --version` (runc prints one too), and links the release
//! binary without unwind tables and without libgcc_s.
use std::process::Command;

fn git(args: &[&str]) -> Option<String> {
    Command::new("git")
        .args(args)
        .output()
        .ok()
        .filter(|o| o.status.success())
        .and_then(|o| String::from_utf8(o.stdout).ok())
        .map(|s| s.trim().to_string())
}

fn main() {
    let commit = git(&["rev-parse", "--short=12", "HEAD"]).unwrap_or_else(|| "unknown".into());
    println!("cargo:rustc-env=BALEIA_COMMIT={commit}");
    // Asked of git rather than spelled ../.git/...: in a worktree (or a submodule) .git is a
    // file, and a watched path that does not exist makes cargo rerun this script, and so
    // relink baleia, on every build. Only HEAD and the branch it names are watched, not
    // refs/heads: cargo scans a directory whole, and worktrees share it, so a commit on any
    // other branch would relink baleia too.
    let branch = git(&["symbolic-ref", "-q", "HEAD"]);
    let watched = ["HEAD", branch.as_deref().unwrap_or("HEAD"), "packed-refs"];
    for p in watched {
        match git(&["rev-parse", "--path-format=absolute", "--git-path", p]) {
            Some(path) if std::path::Path::new(&path).exists() => {
                println!("cargo:rerun-if-changed={path}")
            }
            Some(_) => {}
            // No git (a source tarball): the commit stays "unknown"; watch this file only.
            None => println!("cargo:rerun-if-changed=build.rs"),
        }
    }
    release_link_args();
}

/// The release profile builds with panic = "abort": nothing unwinds, a panic prints its
/// message and aborts. Yet .eh_frame, .eh_frame_hdr and .gcc_except_table were 189 KB of the
/// 1.66 MB stripped binary, mostly from std's prebuilt objects (`-C force-unwind-tables=no`
/// would only reach our own crates). The one reader left is the backtrace that the default
/// panic hook prints under RUST_BACKTRACE, which now stops at the first frame. A build script
/// is not told the panic strategy (CARGO_CFG_PANIC is the target's default), so this keys on
/// the release profile, which sets it in Cargo.toml; dev builds and the test harnesses
/// (panic = "unwind", catch_unwind) keep their tables. Then the unwinder: see below.
fn release_link_args() {
    let release = std::env::var("PROFILE").is_ok_and(|p| p == "release");
    // Only where it was tried: aarch64's ld (binutils 2.40) refuses the INSERT (".text not
    // found for insert") and ignores -z pack-relative-relocs.
    let x86_64_gnu = std::env::var("CARGO_CFG_TARGET_ARCH").is_ok_and(|a| a == "x86_64")
        && std::env::var("CARGO_CFG_TARGET_OS").is_ok_and(|o| o == "linux")
        && std::env::var("CARGO_CFG_TARGET_ENV").is_ok_and(|e| e == "gnu");
    if !(release && x86_64_gnu) {
        return;
    }
    let Ok(dir) = std::env::var("CARGO_MANIFEST_DIR") else {
        return;
    };
    let script = format!("{dir}/no-unwind-tables.ld");
    println!("cargo:rerun-if-changed=no-unwind-tables.ld");
    // A script given as an input file (not -T) is added to the linker's default one.
    println!("cargo:rustc-link-arg-bins={script}");
    println!("cargo:rustc-link-arg-bins=-Wl,--no-eh-frame-hdr");
    // std links libgcc_s.so for its unwinder, which is then loaded twice per container (the
    // binary protection executes the program again): about 9 syscalls and 100 KiB of
    // resident pages each time. Nothing unwinds here; the unwinder's one user left is the
    // panic hook's backtrace. libgcc's static copy of it (+20 KB) is found first, so the
    // linker (--as-needed) drops libgcc_s from the binary's needs.
    println!("cargo:rustc-link-lib=static=gcc_eh");
    println!("cargo:rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
}
