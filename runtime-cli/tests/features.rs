//! `baleia features` as containerd 2.x and CRI-O read it (runtime-spec features.md and
//! features-linux.md), each key held against what the runtime really does:
//!
//! - `ociVersionMin`/`ociVersionMax`: the runtime MUST accept both as a config's ociVersion;
//! - `mountOptions`: every option listed is recognised in a config (containerd 2.x looks for
//!   `rro` to offer the kubelet recursive read-only mounts; setup_order.rs shows `rro` bite);
//! - `linux.namespaces`: a container gets a new namespace of every kind listed;
//! - `linux.mountExtensions.idmap` (with `user` in the namespaces: containerd 2.x's test for
//!   `hostUsers: false` pods; userns.rs shows id-mapped mounts work);
//! - `linux.cgroup`: the drivers and hierarchies (systemd_e2e.rs and cgroups_e2e.rs run them);
//! - `potentiallyUnsafeConfigAnnotations`: exactly the annotations the runtime acts on;
//! - `linux.apparmor`/`selinux`/`intelRdt`: true only for what is implemented.
//!
//! `BALEIA_TEST_RUNTIME=/usr/sbin/runc` runs the same checks against runc 1.1.5, which lacks
//! some of these keys: those tests skip there, saying why.

mod common;

use common::{runtime, runtime_lacks, setup, Env};
use serde_json::{json, Value};
use std::fs;
use std::process::Command;

fn features() -> Value {
    let out = Command::new(runtime())
        .arg("features")
        .output()
        .unwrap_or_else(|e| panic!("run {} features: {e}", runtime().display()));
    assert!(out.status.success(), "features failed: {out:?}");
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "features is not JSON ({e}): {}",
            String::from_utf8_lossy(&out.stdout)
        )
    })
}

fn strings(v: &Value) -> Vec<String> {
    serde_json::from_value(v.clone()).unwrap_or_else(|e| panic!("not a list of strings ({e}): {v}"))
}

fn semver(v: &str) -> (u32, u32, u32) {
    let core = v.split(['-', '+']).next().unwrap_or(v);
    let n: Vec<u32> = core
        .split('.')
        .map(|p| p.parse().unwrap_or_else(|_| panic!("not semver: {v}")))
        .collect();
    assert_eq!(n.len(), 3, "not semver: {v}");
    (n[0], n[1], n[2])
}

#[test]
fn oci_version_min_and_max_are_accepted_as_the_config_version() {
    let f = features();
    let min = f["ociVersionMin"]
        .as_str()
        .expect("ociVersionMin is a string");
    let max = f["ociVersionMax"]
        .as_str()
        .expect("ociVersionMax is a string");
    assert!(semver(min) <= semver(max), "min {min} > max {max}");
    let Some(mut env) = setup("fver") else { return };
    env.set_args(&["true"]);
    for v in [min, max] {
        env.config["ociVersion"] = json!(v);
        let id = env.new_id("fver");
        env.run_id(&id)
            .assert_ok(&format!("run with ociVersion {v}"));
        env.assert_no_trace(&id);
    }
    // What baleia refuses, so that the two runs above said something (runc 1.1 runs any
    // ociVersion).
    if common::is_runc() {
        return;
    }
    env.config["ociVersion"] = json!("2.0.0");
    let id = env.new_id("fver-bad");
    let o = env.run_id(&id);
    o.assert_fail("run with ociVersion 2.0.0");
    assert!(o.stderr.contains("ociVersion"), "{o}");
    env.assert_no_trace(&id);
}

#[test]
fn mount_options_name_what_engines_look_for() {
    let f = features();
    let opts = strings(&f["mountOptions"]);
    // containerd 2.x offers the kubelet recursive read-only mounts when rro is listed
    // (setup_order.rs shows rro bite); every listed option is one the parser knows
    // (runtime-core's features unit test).
    for want in ["rro", "rbind", "ro", "nosuid", "rprivate", "tmpcopyup"] {
        assert!(opts.contains(&want.to_string()), "no {want} in {opts:?}");
    }
    if runtime_lacks("idmap in mountOptions", "runc < 1.2") {
        return;
    }
    for want in ["idmap", "ridmap"] {
        assert!(opts.contains(&want.to_string()), "no {want} in {opts:?}");
    }
}

#[test]
fn every_namespace_listed_is_made_new() {
    let f = features();
    let kinds = strings(&f["linux"]["namespaces"]);
    for want in ["cgroup", "ipc", "mount", "network", "pid", "user", "uts"] {
        assert!(kinds.contains(&want.to_string()), "no {want} in {kinds:?}");
    }
    let Some(mut env) = setup("fns") else { return };
    env.config["linux"]["namespaces"] = json!(kinds
        .iter()
        .map(|k| json!({ "type": k }))
        .collect::<Vec<_>>());
    if kinds.iter().any(|k| k == "user") {
        let map = json!([{"containerID": 0, "hostID": 0, "size": 65536}]);
        env.config["linux"]["uidMappings"] = map.clone();
        env.config["linux"]["gidMappings"] = map;
    }
    // /proc/self/ns names the files with the kernel's short names.
    let file = |k: &str| match k {
        "network" => "net".to_string(),
        "mount" => "mnt".to_string(),
        _ => k.to_string(),
    };
    let script: String = kinds
        .iter()
        .map(|k| format!("echo {k} $(readlink /proc/self/ns/{}); ", file(k)))
        .collect();
    env.sh(&script);
    let out = env.run_ok();
    for k in &kinds {
        let host = fs::read_link(format!("/proc/self/ns/{}", file(k)))
            .unwrap_or_else(|e| panic!("readlink our {k} namespace: {e}"));
        let line = out
            .lines()
            .find(|l| l.split_whitespace().next() == Some(k.as_str()))
            .unwrap_or_else(|| panic!("the container printed no {k} namespace: {out}"));
        let inside = line.split_whitespace().nth(1).unwrap_or("");
        assert!(!inside.is_empty(), "no {k} namespace link inside: {out}");
        assert_ne!(
            inside,
            host.to_string_lossy(),
            "the container's {k} namespace is the host's"
        );
    }
}

#[test]
fn idmap_mounts_come_with_the_user_namespace() {
    if runtime_lacks("mountExtensions.idmap", "runc < 1.2") {
        return;
    }
    let f = features();
    assert_eq!(
        f["linux"]["mountExtensions"]["idmap"]["enabled"],
        json!(true),
        "{f}"
    );
    assert!(
        strings(&f["linux"]["namespaces"]).contains(&"user".to_string()),
        "idmap without the user namespace"
    );
}

#[test]
fn cgroup_drivers_are_the_implemented_ones() {
    let f = features();
    let cg = &f["linux"]["cgroup"];
    for k in ["v1", "v2", "systemd"] {
        assert_eq!(cg[k], json!(true), "cgroup.{k}: {cg}");
    }
    if common::is_runc() {
        return;
    }
    // The user instance of systemd (rootless --systemd-cgroup) is not implemented.
    assert_eq!(cg["systemdUser"], json!(false), "{cg}");
    assert_eq!(cg["rdma"], json!(true), "{cg}");
}

#[test]
fn unsafe_annotations_are_those_the_runtime_acts_on() {
    if runtime_lacks("potentiallyUnsafeConfigAnnotations", "runc < 1.2") {
        return;
    }
    let f = features();
    let listed = strings(&f["potentiallyUnsafeConfigAnnotations"]);
    // A name ending in "." is a prefix (features.md). baleia reads no annotation but the
    // systemd driver's properties.
    assert_eq!(listed, vec![runtime_core::cgroups::PROPERTY_ANNOTATION]);
    assert!(listed.iter().all(|p| p.ends_with('.')), "{listed:?}");
}

/// Acting on the prefix: under the systemd driver a property annotation is read (a malformed
/// one is refused, naming it), before any unit or state exists; the cgroupfs driver ignores
/// it, as runc does.
#[test]
fn a_systemd_property_annotation_is_read_by_the_systemd_driver() {
    let Some(mut env) = setup("fannot") else {
        return;
    };
    env.set_args(&["true"]);
    env.config["annotations"] = json!({ "org.systemd.property.TimeoutStopUSec": "not gvariant" });
    let id = env.new_id("fannot");
    let mut c = env.config.clone();
    c["linux"]["cgroupsPath"] = json!(format!("system.slice:bt:{id}"));
    fs::write(env.bundle.join("config.json"), c.to_string()).expect("write config.json");
    let b = env.bundle.to_str().expect("utf-8 path").to_string();
    let o = env.exec(&["--systemd-cgroup", "create", "--bundle", &b, &id]);
    o.assert_fail("create --systemd-cgroup with a malformed property annotation");
    assert!(
        o.stderr.contains("org.systemd.property.TimeoutStopUSec"),
        "the error must name the annotation: {o}"
    );
    env.assert_no_trace(&id);
    if Env::cgroups_path(&id).starts_with('/') {
        let id = env.new_id("fannot-fs");
        env.run_id(&id)
            .assert_ok("run under cgroupfs with the same annotation");
        env.assert_no_trace(&id);
    }
}

#[test]
fn security_modules_say_what_is_implemented() {
    let f = features();
    let l = &f["linux"];
    if common::is_runc() {
        return;
    }
    // No AppArmor or SELinux support: a profile is refused, not silently dropped.
    assert_eq!(l["apparmor"]["enabled"], json!(false), "{l}");
    assert_eq!(l["selinux"]["enabled"], json!(false), "{l}");
    // Intel RDT is implemented (runtime-core/tests/intel_rdt.rs against a fake resctrl):
    // "enabled" is about the runtime, not whether this host has the hardware.
    let rdt = &l["intelRdt"];
    assert_eq!(
        json!([rdt["enabled"], rdt["schemata"], rdt["monitoring"]]),
        json!([true, true, true]),
        "{l}"
    );
    let Some(mut env) = setup("fapparmor") else {
        return;
    };
    env.set_args(&["true"]);
    env.config["process"]["apparmorProfile"] = json!("baleia-test");
    let id = env.new_id("fapparmor");
    let o = env.run_id(&id);
    o.assert_fail("run with an apparmorProfile");
    assert!(o.stderr.contains("apparmorProfile"), "{o}");
    env.assert_no_trace(&id);
    // With intelRdt the runtime goes looking for resctrl (this host has none), instead of
    // refusing the field as unsupported.
    if !std::path::Path::new("/sys/fs/resctrl/schemata").exists() {
        env.config["process"]
            .as_object_mut()
            .expect("process is an object")
            .remove("apparmorProfile");
        env.config["linux"]["intelRdt"] = json!({ "closID": "baleia-test" });
        let id = env.new_id("frdt");
        let o = env.run_id(&id);
        o.assert_fail("run with intelRdt on a host without resctrl");
        assert!(o.stderr.contains("resctrl"), "{o}");
        env.assert_no_trace(&id);
    }
}
