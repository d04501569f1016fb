//! The command line itself, where runc and baleia agree: the short and `=` forms of flags,
//! `--root X state ID`, Go-style `--switch=true`, help with status 0, unknown flags refused
//! naming the word (one line for baleia) and leaving nothing, flag-like words of an `exec`
//! command handed on untouched, `-v`.

mod common;

use common::*;
use std::process::{Command, Stdio};

fn bundle_arg(env: &Env) -> String {
    env.bundle.to_str().unwrap().to_string()
}

/// `runtime args...` with no `--root` of ours, bounded.
fn bare(env: &Env, args: &[&str]) -> Out {
    let mut c = Command::new(runtime());
    c.args(args).stdin(Stdio::null());
    env.spawn_cmd(c).wait()
}

#[test]
fn short_and_inline_flag_forms_make_and_find_the_container() {
    let Some(mut env) = setup("cliforms") else {
        return;
    };
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.save_for(&id);
    let root = format!("--root={}", env.root.display());
    let pid_file = format!("--pid-file={}", env.pid_file(&id).display());
    let b = bundle_arg(&env);
    let mut c = Command::new(runtime());
    c.args([&root, "create", "-b", &b, &pid_file, &id])
        .stdin(Stdio::null())
        .env("BALEIA_TEST_MARK", &id);
    env.spawn_cmd(c)
        .wait()
        .assert_ok("create -b DIR --pid-file=P");
    assert!(env.pid_file(&id).exists(), "--pid-file=P wrote no pid file");
    // `--root X state ID`: the state is found under the root given before the command.
    let root_dir = env.root.to_str().unwrap().to_string();
    let o = bare(&env, &["--root", &root_dir, "state", &id]);
    o.assert_ok("--root X state ID");
    let v: serde_json::Value = serde_json::from_str(&o.stdout).unwrap();
    assert_eq!(v["id"], id.as_str(), "{o}");
    assert_eq!(v["status"], "created", "{o}");
    // Go's flag package takes `--force=true` for a switch; runc does, so engines may.
    env.exec(&["delete", "--force=true", &id])
        .assert_ok("delete --force=true of a created container");
    env.assert_no_trace(&id);
}

#[test]
fn help_prints_the_commands_and_flags_with_status_0() {
    let Some(env) = setup("clihelp") else { return };
    for args in [&["--help"][..], &["-h"], &["help"]] {
        let o = env.exec(args);
        o.assert_ok(&format!("{args:?}"));
        for cmd in ["create", "exec", "delete"] {
            assert!(o.stdout.contains(cmd), "{args:?} does not list {cmd}: {o}");
        }
    }
    for args in [
        &["create", "--help"][..],
        &["create", "-h"],
        &["help", "create"],
    ] {
        let o = env.exec(args);
        o.assert_ok(&format!("{args:?}"));
        assert!(o.stdout.contains("--bundle"), "{args:?}: {o}");
    }
}

#[test]
fn an_unknown_flag_is_refused_naming_it_and_leaves_nothing() {
    let Some(env) = setup("cliunknown") else {
        return;
    };
    let id = env.id.clone();
    env.save_for(&id);
    let b = bundle_arg(&env);
    for args in [
        &["create", "--no-such-flag", "--bundle", &b, &id][..],
        &["--no-such-flag", "create", "--bundle", &b, &id],
        &["create", "-Z", "--bundle", &b, &id],
    ] {
        let o = env.exec(args);
        o.assert_fail(&format!("{args:?}"));
        let text = format!("{}{}", o.stdout, o.stderr);
        let word = args
            .iter()
            .find(|a| a.starts_with('-') && a.len() < 16)
            .unwrap();
        assert!(
            text.contains(word.trim_start_matches('-')),
            "{args:?}: the error does not name {word}: {o}"
        );
        if !is_runc() {
            // runc prints its whole help after the line; baleia only the line.
            assert_eq!(o.stderr.lines().count(), 1, "{args:?}: want one line: {o}");
            assert_eq!(o.code(), 1, "{args:?}: {o}");
        }
        env.assert_no_trace(&id);
    }
    let o = env.exec(&["state"]);
    o.assert_fail("state without an id");
    // runc: `"state" requires exactly 1 argument(s)`.
    assert!(o.stderr.contains("argument"), "{o}");
}

#[test]
fn exec_hands_the_flag_like_words_of_its_command_on() {
    let Some(mut env) = setup("cliexec") else {
        return;
    };
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["start", &id]).assert_ok("start");
    let o = env.exec(&[
        "exec",
        "--env",
        "MARK=seen",
        &id,
        "sh",
        "-c",
        "echo \"$MARK $*\"",
        "sh",
        "--tty",
        "-e",
        "X=1",
        "--",
        "-d",
    ]);
    o.assert_ok("exec with flag-like words in the command");
    assert_eq!(o.stdout, "seen --tty -e X=1 -- -d\n", "{o}");
    env.exec(&["delete", "-f", &id]).assert_ok("delete -f");
    env.assert_no_trace(&id);
}

#[test]
fn short_version_flag_prints_the_version() {
    let Some(env) = setup("cliversion") else {
        return;
    };
    let long = env.exec(&["--version"]);
    long.assert_ok("--version");
    let short = env.exec(&["-v"]);
    short.assert_ok("-v");
    assert_eq!(short.stdout, long.stdout);
    assert!(
        short.stdout.lines().any(|l| l.starts_with("spec: 1.")),
        "{short}"
    );
}
