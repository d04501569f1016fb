//! User and time namespaces: a Kubernetes-style user-namespaced container (0 -> 100000, 65536
//! ids), namespaces joined by path beside a new user namespace, exec into one, devices and
//! locked bind flags inside one, time offsets, and the bad mappings and offsets that must be
//! refused with nothing left behind.

mod common;

use common::*;
use serde_json::json;
use std::os::unix::fs::MetadataExt;
use std::process::Command;

const HOST_BASE: u32 = 100000;

/// A config with a new user namespace mapping 0..65536 to 100000.., and a rootfs owned by the
/// mapped root (as an engine makes it for such a container).
fn userns_env(tag: &str) -> Option<Env> {
    let mut env = setup(tag)?;
    env.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user"}));
    let map = json!([{"containerID": 0, "hostID": HOST_BASE, "size": 65536}]);
    env.config["linux"]["uidMappings"] = map.clone();
    env.config["linux"]["gidMappings"] = map;
    let st = Command::new("chown")
        .args(["-R", &format!("{HOST_BASE}:{HOST_BASE}")])
        .arg(&env.rootfs)
        .status()
        .expect("chown");
    assert!(st.success());
    Some(env)
}

#[test]
fn a_kubernetes_style_user_namespaced_container() {
    let Some(mut env) = userns_env("k8s") else {
        return;
    };
    let volume = env.dir.join("volume");
    std::fs::create_dir_all(&volume).unwrap();
    std::os::unix::fs::chown(&volume, Some(HOST_BASE + 1000), Some(HOST_BASE + 1000)).unwrap();
    env.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/data", "type": "bind", "source": volume, "options": ["rbind", "rw"]}));
    env.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    env.sh("id -u; cat /proc/self/uid_map; echo written > /data/f; ls -l /dev/null | cut -c1; stat -c %t,%T /dev/null");
    let o = env.run();
    o.assert_ok("run in a user namespace");
    let lines: Vec<&str> = o.stdout.lines().collect();
    assert_eq!(lines.first().copied(), Some("1000"), "{o}");
    assert_eq!(
        lines
            .get(1)
            .map(|l| l.split_whitespace().collect::<Vec<_>>()),
        Some(vec!["0", "100000", "65536"]),
        "{o}"
    );
    // The device is usable inside (bound from the host: mknod is refused in a user namespace).
    assert_eq!(lines.get(2).copied(), Some("c"), "{o}");
    assert_eq!(lines.get(3).copied(), Some("1,3"), "{o}");
    let meta = std::fs::metadata(volume.join("f")).expect("the file written in the container");
    assert_eq!(
        (meta.uid(), meta.gid()),
        (HOST_BASE + 1000, HOST_BASE + 1000)
    );
}

#[test]
fn exec_joins_the_user_namespace() {
    let Some(mut env) = userns_env("usexec") else {
        return;
    };
    env.set_args(&["sleep", "1000"]);
    let id = env.id.clone();
    env.create().assert_ok("create");
    env.exec(&["start", &id]).assert_ok("start");
    let o = env.exec(&[
        "exec",
        "--user",
        "1000",
        &id,
        "sh",
        "-c",
        "id -u; touch /tmp/by-exec",
    ]);
    o.assert_ok("exec --user 1000");
    assert_eq!(o.stdout.trim(), "1000", "{o}");
    let meta = std::fs::metadata(env.rootfs.join("tmp/by-exec")).expect("file");
    assert_eq!(meta.uid(), HOST_BASE + 1000);
}

/// A network namespace owned by the host is joined before the user namespace is made; the
/// other new namespaces belong to the new user namespace.
#[test]
fn a_joined_network_namespace_beside_a_new_user_namespace() {
    if runc_known_to_fail(
        "runc 1.1.5 cannot mount sysfs for a host-owned network namespace in a user namespace \
         (EPERM); baleia binds the host's /sys there, as it does without a user namespace",
    ) {
        return;
    }
    let Some(mut env) = userns_env("usjoin") else {
        return;
    };
    let name = format!("bt-usjoin-{}", std::process::id());
    let st = Command::new("ip").args(["netns", "add", &name]).status();
    if !st.is_ok_and(|s| s.success()) {
        skip("`ip netns add` does not work here");
        return;
    }
    struct Netns(String);
    impl Drop for Netns {
        fn drop(&mut self) {
            let _ = Command::new("ip")
                .args(["netns", "delete", &self.0])
                .status();
        }
    }
    let _netns = Netns(name.clone());
    let path = format!("/run/netns/{name}");
    for ns in env.config["linux"]["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "network" {
            ns["path"] = json!(path);
        }
    }
    env.sh("readlink /proc/self/ns/net; cat /proc/self/uid_map; echo $$");
    let o = env.run();
    o.assert_ok("run joining a network namespace with a new user namespace");
    let lines: Vec<&str> = o.stdout.lines().collect();
    let ns_id = Command::new("ip")
        .args(["netns", "exec", &name, "readlink", "/proc/self/ns/net"])
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_string())
        .unwrap_or_default();
    assert_eq!(lines.first().copied(), Some(ns_id.as_str()), "{o}");
    assert!(lines.get(1).is_some_and(|l| l.contains("100000")), "{o}");
    assert_eq!(
        lines.get(2).copied(),
        Some("1"),
        "the init is not pid 1: {o}"
    );
}

#[test]
fn time_offsets_in_a_new_time_namespace() {
    if runtime_lacks("time namespaces", "runc < 1.2") {
        return;
    }
    let Some(mut env) = setup("timens") else {
        return;
    };
    env.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "time"}));
    env.config["linux"]["timeOffsets"] = json!({"boottime": {"secs": 86400 * 10}});
    env.sh("cut -d. -f1 /proc/uptime");
    let o = env.run();
    o.assert_ok("run with a boottime offset");
    let inside: u64 = o.stdout.trim().parse().unwrap_or(0);
    let host: u64 = std::fs::read_to_string("/proc/uptime")
        .unwrap()
        .split('.')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(
        inside >= host + 86400 * 10 - 5 && inside <= host + 86400 * 10 + 60,
        "uptime inside {inside}, on the host {host}: {o}"
    );
}

#[test]
fn bad_mappings_and_offsets_are_refused_and_leave_nothing() {
    let cases: Vec<(&str, serde_json::Value, &str)> = vec![
        (
            "overlap",
            json!({"uidMappings": [{"containerID": 0, "hostID": 100000, "size": 100}, {"containerID": 50, "hostID": 200000, "size": 10}]}),
            "overlaps",
        ),
        (
            "unmapped-user",
            json!({"uidMappings": [{"containerID": 0, "hostID": 100000, "size": 10}]}),
            "not mapped",
        ),
        (
            "out-of-range",
            json!({"uidMappings": [{"containerID": 0, "hostID": 4294967000u64, "size": 65536}]}),
            "beyond the id range",
        ),
        (
            "zero-size",
            json!({"gidMappings": [{"containerID": 0, "hostID": 100000, "size": 0}]}),
            "size must not be 0",
        ),
        (
            "no-userns",
            json!({"noUserns": true}),
            "need a user namespace",
        ),
        (
            "offsets-no-timens",
            json!({"timeOffsets": {"boottime": {"secs": 1}}}),
            "need a time namespace",
        ),
        (
            "realtime",
            json!({"timeOffsets": {"realtime": {"secs": 1}}, "timens": true}),
            "cannot be offset",
        ),
    ];
    for (tag, change, reason) in cases {
        if is_runc() && matches!(tag, "no-userns" | "offsets-no-timens" | "realtime") {
            // runc 1.1.5 ignores mappings without a user namespace and knows no time
            // offsets; baleia refuses what it would not apply.
            continue;
        }
        let Some(mut env) = userns_env(&format!("bad{tag}")) else {
            return;
        };
        env.config["process"]["user"] = json!({"uid": 1000, "gid": 0});
        let linux = env.config["linux"].as_object_mut().unwrap();
        for (k, v) in change.as_object().unwrap() {
            match k.as_str() {
                "noUserns" => {
                    linux["namespaces"]
                        .as_array_mut()
                        .unwrap()
                        .retain(|n| n["type"] != "user");
                }
                "timens" => linux["namespaces"]
                    .as_array_mut()
                    .unwrap()
                    .push(json!({"type": "time"})),
                _ => {
                    linux.insert(k.clone(), v.clone());
                }
            }
        }
        env.set_args(&["true"]);
        let o = env.run();
        o.assert_fail(tag);
        // runc refuses these too, in its own words.
        if !is_runc() {
            assert!(o.stderr.contains(reason), "{tag}: expected {reason:?}: {o}");
        }
        env.assert_no_trace(&env.id);
    }
}

/// A bind of a nosuid,nodev source asked to be read-only: inside a user namespace those
/// flags are locked, and the bind keeps them instead of failing.
#[test]
fn a_bind_keeps_its_locked_flags_in_a_user_namespace() {
    if runtime_lacks(
        "keeping a bind's locked flags in a user namespace",
        "runc < 1.2",
    ) {
        return;
    }
    let Some(mut env) = userns_env("locked") else {
        return;
    };
    let src = env.dir.join("locked-src");
    std::fs::create_dir_all(&src).unwrap();
    let st = Command::new("mount")
        .args([
            "-t",
            "tmpfs",
            "-o",
            "nosuid,nodev,mode=755",
            "baleia-locked",
        ])
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg(&self.0).status();
        }
    }
    let _u = Unmount(src.clone());
    env.config["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/locked", "type": "bind", "source": src, "options": ["bind", "ro"]}),
    );
    env.sh("grep ' /locked ' /proc/self/mountinfo");
    let o = env.run();
    o.assert_ok("run with a ro bind of a nosuid,nodev mount");
    let opts = o.stdout.split_whitespace().nth(5).unwrap_or("").to_string();
    for f in ["ro", "nosuid", "nodev"] {
        assert!(
            opts.split(',').any(|o| o == f),
            "{f} missing from {opts}: {o}"
        );
    }
}

/// An id-mapped bind with the container's own mapping (idmap and no mappings of its own, as
/// Kubernetes asks for a volume): a file the host's root owns is the container root's, and a
/// file the container's uid 1000 writes is uid 1000's on the host, where without the mapping
/// it would be 101000's.
#[test]
fn an_idmapped_volume_shows_host_ids_as_the_containers() {
    if runtime_lacks("idmapped mounts", "runc < 1.2") {
        return;
    }
    let Some(mut env) = userns_env("idmap") else {
        return;
    };
    let volume = env.dir.join("volume");
    std::fs::create_dir_all(&volume).unwrap();
    set_mode(&volume, 0o777);
    std::fs::write(volume.join("from-host"), "x").unwrap();
    let mounts = env.config["mounts"].as_array_mut().unwrap();
    mounts.push(json!({"destination": "/idmapped", "type": "bind", "source": volume, "options": ["rbind", "idmap"]}));
    mounts.push(
        json!({"destination": "/plain", "type": "bind", "source": volume, "options": ["rbind"]}),
    );
    env.config["process"]["user"] = json!({"uid": 1000, "gid": 1000});
    env.sh("stat -c %u /idmapped/from-host /plain/from-host; echo w > /idmapped/from-container");
    let o = env.run();
    o.assert_ok("run with an idmapped volume");
    assert_eq!(o.stdout.lines().collect::<Vec<_>>(), ["0", "65534"], "{o}");
    let meta = std::fs::metadata(volume.join("from-container")).expect("file");
    assert_eq!((meta.uid(), meta.gid()), (1000, 1000));
    // Mappings of its own: host ids 0.. appear as 5000...
    let id = env.new_id("idmap");
    env.config["mounts"].as_array_mut().unwrap().pop();
    env.config["mounts"].as_array_mut().unwrap().pop();
    env.config["mounts"].as_array_mut().unwrap().push(json!({
        "destination": "/own", "type": "bind", "source": volume, "options": ["rbind"],
        "uidMappings": [{"containerID": 0, "hostID": HOST_BASE + 5000, "size": 1000}],
        "gidMappings": [{"containerID": 0, "hostID": HOST_BASE + 5000, "size": 1000}]
    }));
    env.sh("stat -c %u /own/from-host");
    let o = env.run_id(&id);
    o.assert_ok("run with an idmapped bind of its own mapping");
    assert_eq!(o.stdout.trim(), "5000", "{o}");
}

#[test]
fn idmapped_mounts_that_cannot_be_made_are_refused() {
    let Some(mut env) = setup("idmapbad") else {
        return;
    };
    let volume = env.dir.join("volume");
    std::fs::create_dir_all(&volume).unwrap();
    env.config["mounts"]
        .as_array_mut()
        .unwrap()
        .push(json!({"destination": "/v", "type": "bind", "source": volume, "options": ["rbind", "idmap"]}));
    env.set_args(&["true"]);
    let o = env.run();
    o.assert_fail("idmap without mappings or a user namespace");
    if !is_runc() {
        assert!(o.stderr.contains("needs a new user namespace"), "{o}");
    }
    env.assert_no_trace(&env.id);
    let m = env.config["mounts"]
        .as_array_mut()
        .unwrap()
        .last_mut()
        .unwrap();
    m["uidMappings"] = json!([{"containerID": 0, "hostID": 100000, "size": 10}]);
    let id = env.new_id("idmapbad");
    let o = env.run_id(&id);
    o.assert_fail("uidMappings without gidMappings");
    if !is_runc() {
        assert!(o.stderr.contains("must be given together"), "{o}");
    }
    env.assert_no_trace(&id);
}

/// ramfs has no id-mapped mounts: the error names the mount and the filesystem.
#[test]
fn an_idmapped_mount_the_filesystem_refuses_is_an_error() {
    if runtime_lacks("idmapped mounts", "runc < 1.2") {
        return;
    }
    let Some(mut env) = userns_env("idmapfs") else {
        return;
    };
    let src = env.dir.join("ramfs");
    std::fs::create_dir_all(&src).unwrap();
    let st = Command::new("mount")
        .args(["-t", "ramfs", "baleia-ramfs"])
        .arg(&src)
        .status()
        .unwrap();
    assert!(st.success());
    struct Unmount(std::path::PathBuf);
    impl Drop for Unmount {
        fn drop(&mut self) {
            let _ = Command::new("umount").arg("-l").arg(&self.0).status();
        }
    }
    let _u = Unmount(src.clone());
    env.config["mounts"].as_array_mut().unwrap().push(
        json!({"destination": "/v", "type": "bind", "source": src, "options": ["rbind", "idmap"]}),
    );
    env.set_args(&["true"]);
    let o = env.run();
    o.assert_fail("idmap on ramfs");
    if !is_runc() {
        assert!(
            o.stderr.contains("/v") && o.stderr.contains("ramfs") && o.stderr.contains("EINVAL"),
            "{o}"
        );
    }
    env.assert_no_trace(&env.id);
}

/// A user namespace path that names another kind of namespace.
#[test]
fn a_user_namespace_path_that_is_not_one_is_an_error() {
    let Some(mut env) = setup("usnotuser") else {
        return;
    };
    env.config["linux"]["namespaces"]
        .as_array_mut()
        .unwrap()
        .push(json!({"type": "user", "path": "/proc/self/ns/net"}));
    // No mappings: a joined user namespace has its own (runc 1.1 refuses for that reason).
    env.set_args(&["true"]);
    let o = env.run();
    o.assert_fail("a network namespace as the user namespace");
    if !is_runc() {
        assert!(
            o.stderr.contains("/proc/self/ns/net") && o.stderr.contains("not a user namespace"),
            "{o}"
        );
    }
    env.assert_no_trace(&env.id);
}

/// A user namespace joined by path without mappings of its own: the container is the joined
/// namespace's root, and the /dev it makes there is its own (host ids are unmapped in it).
#[test]
fn a_joined_user_namespace_without_mappings() {
    if runtime_lacks("joining a user namespace without mappings", "runc < 1.2") {
        return;
    }
    let Some(mut first) = userns_env("usjoinee") else {
        return;
    };
    first.set_args(&["sleep", "1000"]);
    let id = first.id.clone();
    first.create().assert_ok("create the first container");
    let pid = first.state(&id)["pid"].as_i64().unwrap();
    let Some(mut env) = userns_env("usjoiner") else {
        return;
    };
    let linux = env.config["linux"].as_object_mut().unwrap();
    linux.remove("uidMappings");
    linux.remove("gidMappings");
    for ns in linux["namespaces"].as_array_mut().unwrap() {
        if ns["type"] == "user" {
            ns["path"] = json!(format!("/proc/{pid}/ns/user"));
        }
    }
    env.sh("id -u; readlink /proc/self/ns/user; ls /dev/pts/ptmx");
    let o = env.run();
    o.assert_ok("run in a joined user namespace");
    let want = std::fs::read_link(format!("/proc/{pid}/ns/user")).unwrap();
    assert_eq!(
        o.stdout.lines().collect::<Vec<_>>(),
        ["0", want.to_str().unwrap(), "/dev/pts/ptmx"],
        "{o}"
    );
}
