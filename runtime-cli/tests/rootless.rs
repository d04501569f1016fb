//! The runtime run by a user who is not root: `spec --rootless`, a container in a user
//! namespace mapping the user's own ids, the user's own state root, no cgroup, and the errors
//! for what a user cannot have. The user is a bare uid (no passwd entry is needed for one's
//! own ids); the test itself runs as root to set the scene and to check what is left.

mod common;

use common::*;
use serde_json::{json, Value};
use std::fs;
use std::os::unix::fs::chown;
use std::path::PathBuf;
use std::process::{Command, Stdio};

const USER: u32 = 61234;

/// An Env whose state root is the user's default one, under a runtime dir the user owns.
fn user_env(tag: &str) -> Option<(Env, PathBuf)> {
    let mut env = setup(tag)?;
    let xdg = env.dir.join("xdg");
    fs::create_dir(&xdg).unwrap();
    chown(&xdg, Some(USER), Some(USER)).unwrap();
    set_mode(&xdg, 0o700);
    let name = if is_runc() { "runc" } else { "baleia" };
    env.root = xdg.join(name);
    rootless_config(&mut env.config);
    Some((env, xdg))
}

/// What `spec --rootless` changes in the default config, for our user.
fn rootless_config(c: &mut Value) {
    let ns = c["linux"]["namespaces"].as_array_mut().unwrap();
    ns.retain(|n| n["type"] != "network");
    ns.push(json!({"type": "user"}));
    c["linux"]["uidMappings"] = json!([{"containerID": 0, "hostID": USER, "size": 1}]);
    c["linux"]["gidMappings"] = json!([{"containerID": 0, "hostID": USER, "size": 1}]);
    c["linux"].as_object_mut().unwrap().remove("resources");
    for m in c["mounts"].as_array_mut().unwrap() {
        if m["destination"] == "/sys" {
            *m = json!({"destination": "/sys", "type": "none", "source": "/sys",
                        "options": ["rbind", "nosuid", "noexec", "nodev", "ro"]});
        }
        if let Some(o) = m["options"].as_array_mut() {
            o.retain(|o| !o.as_str().unwrap().starts_with("gid="));
        }
    }
}

/// config.json for `id` as a user writes it: no cgroupsPath (the user has no cgroup to name).
fn save(env: &Env, id: &str) {
    env.save_for(id);
    let path = env.bundle.join("config.json");
    let mut c: Value = serde_json::from_slice(&fs::read(&path).unwrap()).unwrap();
    c["linux"].as_object_mut().unwrap().remove("cgroupsPath");
    fs::write(&path, serde_json::to_vec_pretty(&c).unwrap()).unwrap();
}

/// The runtime as our user, with its runtime dir and no --root.
fn as_user(xdg: &std::path::Path, args: &[&str]) -> Command {
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={USER}"))
        .arg(format!("--regid={USER}"))
        .arg("--clear-groups")
        .arg("env")
        .arg(format!("XDG_RUNTIME_DIR={}", xdg.display()))
        .arg(runtime())
        .args(args)
        .stdin(Stdio::null());
    c
}

fn output(mut c: Command) -> Out {
    let o = c.output().unwrap();
    Out {
        status: o.status,
        stdout: String::from_utf8_lossy(&o.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&o.stderr).into_owned(),
    }
}

#[test]
fn spec_rootless_maps_the_callers_ids_to_root() {
    let Some((env, xdg)) = user_env("rl-spec") else {
        return;
    };
    let dir = env.dir.join("spec");
    fs::create_dir(&dir).unwrap();
    chown(&dir, Some(USER), Some(USER)).unwrap();
    let d = dir.to_str().unwrap();
    output(as_user(&xdg, &["spec", "--rootless", "--bundle", d])).assert_ok("spec --rootless");
    let v: Value = serde_json::from_str(&fs::read_to_string(dir.join("config.json")).unwrap())
        .expect("config.json is JSON");
    let map = json!([{"containerID": 0, "hostID": USER, "size": 1}]);
    assert_eq!(v["linux"]["uidMappings"], map);
    assert_eq!(v["linux"]["gidMappings"], map);
    let types: Vec<&str> = v["linux"]["namespaces"]
        .as_array()
        .unwrap()
        .iter()
        .map(|n| n["type"].as_str().unwrap())
        .collect();
    assert!(types.contains(&"user"), "no user namespace: {types:?}");
    assert!(
        !types.contains(&"network"),
        "a network namespace: {types:?}"
    );
    assert!(v["linux"].get("resources").is_none(), "resources kept");
    let sys = v["mounts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|m| m["destination"] == "/sys")
        .expect("a /sys mount");
    assert!(sys["options"].as_array().unwrap().contains(&json!("rbind")));
    let text = v["mounts"].to_string();
    assert!(!text.contains("gid="), "uid=/gid= options kept: {text}");
}

#[test]
fn a_user_runs_a_container_as_its_root() {
    let Some((mut env, xdg)) = user_env("rl-run") else {
        return;
    };
    env.sh("id -u; cat /proc/self/uid_map; cat /proc/self/setgroups; touch /tmp/made");
    save(&env, &env.id);
    let b = env.bundle.to_str().unwrap().to_string();
    let out = output(as_user(&xdg, &["run", "--bundle", &b, &env.id]));
    out.assert_ok("run as a user");
    let lines: Vec<Vec<&str>> = out
        .stdout
        .lines()
        .map(|l| l.split_whitespace().collect())
        .collect();
    let user = USER.to_string();
    assert_eq!(
        lines,
        vec![vec!["0"], vec!["0", user.as_str(), "1"], vec!["deny"]],
        "inside: {}",
        out.stdout
    );
    // Files the container's root makes belong to the user on the host.
    use std::os::unix::fs::MetadataExt;
    assert_eq!(
        fs::metadata(env.rootfs.join("tmp/made")).unwrap().uid(),
        USER
    );
    // The user's own state root was used (and emptied), not the system one.
    assert!(env.root.is_dir(), "no state root {}", env.root.display());
    assert!(!PathBuf::from("/run/baleia").join(&env.id).exists());
    env.assert_no_trace(&env.id);
}

#[test]
fn a_user_execs_into_and_deletes_its_container() {
    let Some((mut env, xdg)) = user_env("rl-exec") else {
        return;
    };
    env.set_args(&["sleep", "60"]);
    save(&env, &env.id);
    let b = env.bundle.to_str().unwrap().to_string();
    let id = env.id.clone();
    // Not through pipes: the created init keeps its stdio, which `output` would wait on.
    let mut create = as_user(&xdg, &["create", "--bundle", &b, &id]);
    create.stdout(Stdio::null()).stderr(Stdio::null());
    assert!(
        create.status().unwrap().success(),
        "create as a user failed"
    );
    output(as_user(&xdg, &["start", &id])).assert_ok("start");
    let out = output(as_user(&xdg, &["exec", &id, "sh", "-c", "id -u; id -g"]));
    out.assert_ok("exec");
    assert_eq!(
        out.stdout.split_whitespace().collect::<Vec<_>>(),
        ["0", "0"]
    );
    let st = output(as_user(&xdg, &["state", &id]));
    st.assert_ok("state");
    let v: Value = serde_json::from_str(&st.stdout).unwrap();
    assert_eq!(v["status"], "running");
    output(as_user(&xdg, &["delete", "--force", &id])).assert_ok("delete --force");
    env.assert_no_trace(&id);
}

#[test]
fn a_user_without_a_cgroup_cannot_have_limits() {
    let Some((mut env, xdg)) = user_env("rl-limits") else {
        return;
    };
    env.config["linux"]["resources"] = json!({"memory": {"limit": 67108864}});
    save(&env, &env.id);
    let b = env.bundle.to_str().unwrap().to_string();
    let out = output(as_user(&xdg, &["run", "--bundle", &b, &env.id]));
    out.assert_fail("run with a memory limit and no cgroup");
    if !is_runc() {
        assert!(
            out.stderr.contains("linux.resources.memory needs a cgroup")
                && out.stderr.contains("Permission denied"),
            "error: {}",
            out.stderr
        );
    }
    env.assert_no_trace(&env.id);
}

#[test]
fn a_user_cannot_set_groups_it_did_not_map_through_newgidmap() {
    let Some((mut env, xdg)) = user_env("rl-groups") else {
        return;
    };
    env.config["process"]["user"]["additionalGids"] = json!([0]);
    save(&env, &env.id);
    let b = env.bundle.to_str().unwrap().to_string();
    let out = output(as_user(&xdg, &["run", "--bundle", &b, &env.id]));
    out.assert_fail("run with additionalGids, setgroups denied");
    if !is_runc() {
        assert!(
            out.stderr.contains("additionalGids cannot be set"),
            "error: {}",
            out.stderr
        );
    }
    env.assert_no_trace(&env.id);
}

#[test]
fn mapping_more_than_ones_own_id_goes_through_newuidmap() {
    let Some((mut env, xdg)) = user_env("rl-newuidmap") else {
        return;
    };
    // Our bare uid has no /etc/subuid entry: newuidmap is asked, and refuses.
    env.config["linux"]["uidMappings"] = json!([
        {"containerID": 0, "hostID": USER, "size": 1},
        {"containerID": 1, "hostID": 300000, "size": 1000}
    ]);
    save(&env, &env.id);
    let b = env.bundle.to_str().unwrap().to_string();
    let out = output(as_user(&xdg, &["run", "--bundle", &b, &env.id]));
    out.assert_fail("run with a subordinate range the user does not have");
    if !is_runc() {
        assert!(out.stderr.contains("newuidmap"), "error: {}", out.stderr);
    }
    env.assert_no_trace(&env.id);
}

#[test]
fn a_cgroup_the_spec_names_is_not_done_without() {
    let Some((env, xdg)) = user_env("rl-cgpath") else {
        return;
    };
    env.save_for(&env.id);
    let b = env.bundle.to_str().unwrap().to_string();
    let out = output(as_user(&xdg, &["run", "--bundle", &b, &env.id]));
    out.assert_fail("run with a cgroupsPath the user cannot make");
    assert!(
        out.stderr.contains(&Env::cgroups_path(&env.id)) && out.stderr.contains("ermission denied"),
        "error: {}",
        out.stderr
    );
    env.assert_no_trace(&env.id);
}

#[test]
fn several_ranges_without_newuidmap_in_path_are_refused() {
    let Some((mut env, xdg)) = user_env("rl-nohelper") else {
        return;
    };
    env.config["linux"]["uidMappings"] = json!([
        {"containerID": 0, "hostID": USER, "size": 1},
        {"containerID": 1, "hostID": 300000, "size": 1000}
    ]);
    save(&env, &env.id);
    let b = env.bundle.to_str().unwrap().to_string();
    // A PATH with nothing in it: the helper cannot be found.
    let empty = env.dir.join("empty-path");
    fs::create_dir(&empty).unwrap();
    let mut c = Command::new("setpriv");
    c.arg(format!("--reuid={USER}"))
        .arg(format!("--regid={USER}"))
        .arg("--clear-groups")
        .arg("/usr/bin/env")
        .arg(format!("PATH={}", empty.display()))
        .arg(format!("XDG_RUNTIME_DIR={}", xdg.display()))
        .arg(runtime())
        .args(["run", "--bundle", &b, &env.id])
        .stdin(Stdio::null());
    let out = output(c);
    out.assert_fail("run with several ranges and no newuidmap");
    // runc: "mapping tool not present"; baleia names the helper and the package.
    let reason = if is_runc() {
        out.stderr.contains("mapping tool not present")
    } else {
        out.stderr.contains("needs newuidmap") && out.stderr.contains("not in PATH")
    };
    assert!(reason, "error: {}", out.stderr);
    env.assert_no_trace(&env.id);
}
