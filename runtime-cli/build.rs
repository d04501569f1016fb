//! Records the git commit for `baleia --version` (runc prints one too).
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
}
