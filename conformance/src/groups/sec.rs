//! Resources and kernel knobs: cgroups (config-linux.md "Control groups"),
//! sysctl, seccomp.

use crate::bundle;
use crate::harness::{check, eq, fail, failed_for, skip, Ctx, Test, TestResult};
use crate::runtime::Exit;
use serde_json::{json, Value};

const C: &str = "cgroups";
const S: &str = "sysctl";
const SC: &str = "seccomp";

fn resource(c: &mut Ctx, res: Value, ctrl: &str, file: &str, want: &str) -> TestResult {
    let mut cfg = c.spec(&[]);
    for (k, v) in res.as_object().cloned().unwrap_or_default() {
        cfg["linux"]["resources"][k] = v;
    }
    let ctr = c.create(&cfg)?;
    let v = c.cgroup_file(ctr.pid, ctrl, file)?;
    eq(file, want.to_string(), v)
}

fn memory_limit(c: &mut Ctx) -> TestResult {
    resource(
        c,
        json!({"memory": {"limit": 67108864}}),
        "memory",
        "memory.limit_in_bytes",
        "67108864",
    )
}
fn memory_reservation(c: &mut Ctx) -> TestResult {
    resource(
        c,
        json!({"memory": {"reservation": 33554432}}),
        "memory",
        "memory.soft_limit_in_bytes",
        "33554432",
    )
}
fn memory_swap(c: &mut Ctx) -> TestResult {
    resource(
        c,
        json!({"memory": {"limit": 67108864, "swap": 134217728}}),
        "memory",
        "memory.memsw.limit_in_bytes",
        "134217728",
    )
}
fn memory_swappiness(c: &mut Ctx) -> TestResult {
    resource(
        c,
        json!({"memory": {"swappiness": 10}}),
        "memory",
        "memory.swappiness",
        "10",
    )
}
fn memory_kernel_accepted(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["linux"]["resources"]["memory"] = json!({"limit": 67108864, "kernel": 33554432});
    c.probe(&cfg).map(|_| ())
}
fn cpu_shares(c: &mut Ctx) -> TestResult {
    resource(
        c,
        json!({"cpu": {"shares": 512}}),
        "cpu",
        "cpu.shares",
        "512",
    )
}
fn cpu_quota(c: &mut Ctx) -> TestResult {
    resource(
        c,
        json!({"cpu": {"quota": 50000, "period": 100000}}),
        "cpu",
        "cpu.cfs_quota_us",
        "50000",
    )
}
fn cpu_period(c: &mut Ctx) -> TestResult {
    resource(
        c,
        json!({"cpu": {"quota": 20000, "period": 50000}}),
        "cpu",
        "cpu.cfs_period_us",
        "50000",
    )
}
fn cpuset_cpus(c: &mut Ctx) -> TestResult {
    resource(
        c,
        json!({"cpu": {"cpus": "0"}}),
        "cpuset",
        "cpuset.cpus",
        "0",
    )
}
fn cpuset_mems(c: &mut Ctx) -> TestResult {
    resource(
        c,
        json!({"cpu": {"mems": "0"}}),
        "cpuset",
        "cpuset.mems",
        "0",
    )
}
fn pids_limit(c: &mut Ctx) -> TestResult {
    resource(
        c,
        json!({"pids": {"limit": 100}}),
        "pids",
        "pids.max",
        "100",
    )
}
fn pids_unlimited(c: &mut Ctx) -> TestResult {
    resource(c, json!({"pids": {"limit": -1}}), "pids", "pids.max", "max")
}
fn hugetlb(c: &mut Ctx) -> TestResult {
    let v2 = std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists();
    if !v2 && !std::path::Path::new("/sys/fs/cgroup/hugetlb").exists() {
        return Err(skip(
            "no v1 hugetlb controller on this host (hybrid: hugetlb only in cgroup2)",
        ));
    }
    resource(
        c,
        json!({"hugepageLimits": [{"pageSize": "2MB", "limit": 4194304}]}),
        "hugetlb",
        "hugetlb.2MB.limit_in_bytes",
        "4194304",
    )
}
fn blkio_weight(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let d = crate::harness::cgroup_dir(ctr.pid, "blkio")?;
    if !d.join("blkio.weight").exists() {
        return Err(skip(
            "this host has no blkio.weight (no CFQ/BFQ weight files)",
        ));
    }
    drop(ctr);
    resource(
        c,
        json!({"blockIO": {"weight": 300}}),
        "blkio",
        "blkio.weight",
        "300",
    )
}
fn net_cls(c: &mut Ctx) -> TestResult {
    if !std::path::Path::new("/sys/fs/cgroup/net_cls").exists() {
        return Err(skip("net_cls is not mounted on this host"));
    }
    resource(
        c,
        json!({"network": {"classID": 1048577}}),
        "net_cls",
        "net_cls.classid",
        "1048577",
    )
}

fn oom_killer_disabled(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["linux"]["resources"]["memory"] = json!({"limit": 67108864, "disableOOMKiller": true});
    let ctr = c.create(&cfg)?;
    let v = c.cgroup_file(ctr.pid, "memory", "memory.oom_control")?;
    check(
        v.lines().any(|l| l.trim() == "oom_kill_disable 1"),
        "oom_kill_disable 1",
        v,
    )
}

fn devices_list(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.create(&cfg)?;
    let v = c.cgroup_file(ctr.pid, "devices", "devices.list")?;
    check(
        v.lines().any(|l| l.trim() == "c 1:3 rwm"),
        "c 1:3 rwm (/dev/null) allowed",
        &v,
    )?;
    check(
        !v.lines().any(|l| l.trim() == "a *:* rwm"),
        "not everything allowed",
        v,
    )
}

fn cpu_rt(c: &mut Ctx) -> TestResult {
    if !std::path::Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists() {
        return Err(skip(
            "no v1 cpu.rt_runtime_us (cgroup v2, or a kernel without CONFIG_RT_GROUP_SCHED)",
        ));
    }
    // A child gets no more realtime budget than its parent, and a new cgroup
    // has none: give our own parent cgroup (only ours) a small budget first.
    let parent = std::path::Path::new("/sys/fs/cgroup/cpu/baleia-conformance");
    std::fs::create_dir_all(parent).map_err(|e| fail("the parent cgroup", e))?;
    std::fs::write(parent.join("cpu.rt_runtime_us"), "10000").map_err(|e| {
        skip(format!(
            "cannot give {} a realtime budget: {e}",
            parent.display()
        ))
    })?;
    resource(
        c,
        json!({"cpu": {"realtimeRuntime": 1000, "realtimePeriod": 1000000}}),
        "cpu",
        "cpu.rt_runtime_us",
        "1000",
    )
}

fn path_honoured(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let want = cfg["linux"]["cgroupsPath"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ctr = c.create(&cfg)?;
    let d = crate::harness::cgroup_dir(ctr.pid, "pids")?;
    check(
        d.ends_with(want.trim_start_matches('/')),
        format!("the pids cgroup at {want}"),
        d.display(),
    )
}

fn every_controller(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let want = cfg["linux"]["cgroupsPath"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ctr = c.create(&cfg)?;
    let text = std::fs::read_to_string(format!("/proc/{}/cgroup", ctr.pid))
        .map_err(|e| fail("cgroup", e))?;
    for ctrl in ["memory", "pids", "cpu", "cpuset", "freezer", "devices"] {
        if let Some(l) = text.lines().find(|l| {
            l.split(':')
                .nth(1)
                .is_some_and(|c| c.split(',').any(|x| x == ctrl))
        }) {
            check(l.ends_with(&want), format!("{ctrl} cgroup {want}"), l)?;
        }
    }
    Ok(())
}

fn pids_enforced(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["linux"]["resources"]["pids"] = json!({"limit": 1});
    cfg["process"]["args"] = json!([
        "/bin/sh",
        "-c",
        "/bin/true 2>/dev/null && echo forked || echo nofork"
    ]);
    let r = c.run(&cfg)?;
    // busybox sh gives up on a failed fork; all that matters is no child ran.
    check(
        !r.stdout.contains("forked"),
        "the fork refused (pids.max = 1)",
        r.stdout.trim(),
    )
}

fn stats_memory(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let o = c.cmd(&["events", "--stats", &ctr.id])?;
    check(o.ok(), "events --stats", o.summary())?;
    let v: Value =
        serde_json::from_str(o.stdout.trim()).map_err(|_| fail("JSON", o.stdout.clone()))?;
    check(
        v["data"]["memory"]["usage"]["usage"].as_u64().unwrap_or(0) > 0,
        "memory usage > 0",
        &v["data"]["memory"],
    )
}

fn unified_on_v1_fails(c: &mut Ctx) -> TestResult {
    if std::path::Path::new("/sys/fs/cgroup/cgroup.controllers").exists() {
        return Err(skip("a cgroup v2 host: unified is valid here"));
    }
    let mut cfg = c.spec(&[]);
    cfg["linux"]["resources"]["unified"] = json!({"pids.max": "10"});
    // runc and crun 1.8: "cannot use unified on cgroup v1"; baleia: "invalid
    // unified: ...".
    c.create_fails(&cfg, &[&["unified"]]).map(|_| ())
}

// sysctl

fn sysctl(c: &mut Ctx, key: &str, val: &str) -> TestResult {
    let mut cfg = c.spec(&["--sysctl", key]);
    cfg["linux"]["sysctl"] = json!({ key: val });
    let f = c.probe(&cfg)?;
    eq(key, json!(val), f["sysctl"][key]["value"].clone())
}

fn ip_forward(c: &mut Ctx) -> TestResult {
    sysctl(c, "net.ipv4.ip_forward", "1")
}
fn somaxconn(c: &mut Ctx) -> TestResult {
    sysctl(c, "net.core.somaxconn", "1000")
}
fn shmmax(c: &mut Ctx) -> TestResult {
    sysctl(c, "kernel.shmmax", "68719476736")
}
fn msgmax(c: &mut Ctx) -> TestResult {
    sysctl(c, "kernel.msgmax", "8192")
}
fn mqueue_msg_max(c: &mut Ctx) -> TestResult {
    sysctl(c, "fs.mqueue.msg_max", "100")
}
fn domainname_sysctl(c: &mut Ctx) -> TestResult {
    sysctl(c, "kernel.domainname", "sysctl.example")
}
fn several(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[
        "--sysctl",
        "net.ipv4.ip_forward",
        "--sysctl",
        "kernel.msgmnb",
    ]);
    cfg["linux"]["sysctl"] = json!({"net.ipv4.ip_forward": "1", "kernel.msgmnb": "32768"});
    let f = c.probe(&cfg)?;
    eq(
        "values",
        json!(["1", "32768"]),
        json!([
            f["sysctl"]["net.ipv4.ip_forward"]["value"],
            f["sysctl"]["kernel.msgmnb"]["value"]
        ]),
    )
}
// These ask for a sysctl the runtime must refuse; the value asked for is the
// host's own, and the file is guarded, so a runtime that wrongly applies it
// to the host changes nothing.
fn refused(c: &mut Ctx, key: &str, drop: Option<&str>) -> TestResult {
    let path = format!("/proc/sys/{}", key.replace('.', "/"));
    let current = c.guard(&path)?;
    let mut cfg = c.spec(&[]);
    if let Some(ns) = drop {
        bundle::drop_namespace(&mut cfg, ns);
    }
    cfg["linux"]["sysctl"] = json!({ key: current });
    // Every runtime's refusal names the key it refuses.
    c.create_fails(&cfg, &[&[key]]).map(|_| ())
}
fn not_namespaced_fails(c: &mut Ctx) -> TestResult {
    refused(c, "vm.swappiness", None)
}
fn net_without_netns_fails(c: &mut Ctx) -> TestResult {
    refused(c, "net.ipv4.ip_forward", Some("network"))
}
fn ipc_without_ipcns_fails(c: &mut Ctx) -> TestResult {
    refused(c, "kernel.msgmax", Some("ipc"))
}
fn host_untouched(c: &mut Ctx) -> TestResult {
    let before = c.guard("/proc/sys/net/core/somaxconn")?;
    let mut cfg = c.spec(&[]);
    cfg["linux"]["sysctl"] = json!({"net.core.somaxconn": "777"});
    c.probe(&cfg)?;
    let after = std::fs::read_to_string("/proc/sys/net/core/somaxconn")
        .map_err(|e| fail("host sysctl", e))?;
    eq("host net.core.somaxconn", before, after.trim().to_string())
}

// seccomp

fn seccomp_cfg(c: &mut Ctx, syscalls: Value) -> Value {
    let mut cfg = c.spec(&[]);
    cfg["linux"]["seccomp"] = json!({
        "defaultAction": "SCMP_ACT_ALLOW",
        "architectures": ["SCMP_ARCH_X86_64", "SCMP_ARCH_X86", "SCMP_ARCH_X32"],
        "syscalls": syscalls,
    });
    cfg
}

fn mode_filter(c: &mut Ctx) -> TestResult {
    let cfg = seccomp_cfg(
        c,
        json!([{"names": ["kexec_load"], "action": "SCMP_ACT_ERRNO"}]),
    );
    let f = c.probe(&cfg)?;
    eq("Seccomp mode", json!(2), f["seccomp"].clone())
}
fn mode_none(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let f = c.probe(&cfg)?;
    eq("Seccomp mode", json!(0), f["seccomp"].clone())
}
fn errno_default_eperm(c: &mut Ctx) -> TestResult {
    let mut cfg = seccomp_cfg(
        c,
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO"}]),
    );
    cfg["process"]["args"] = json!(["/bin/sh", "-c", "mkdir /tmp/denied 2>&1; true"]);
    let r = c.run(&cfg)?;
    check(
        r.stdout.contains("Operation not permitted"),
        "mkdir fails with EPERM",
        r.stdout.trim(),
    )
}
fn errno_ret(c: &mut Ctx) -> TestResult {
    let mut cfg = seccomp_cfg(
        c,
        json!([{"names": ["mkdir", "mkdirat"], "action": "SCMP_ACT_ERRNO", "errnoRet": 13}]),
    );
    cfg["process"]["args"] = json!(["/bin/sh", "-c", "mkdir /tmp/denied 2>&1; true"]);
    let r = c.run(&cfg)?;
    check(
        r.stdout.contains("Permission denied"),
        "mkdir fails with errnoRet 13 (EACCES)",
        r.stdout.trim(),
    )
}
fn errno_probe(c: &mut Ctx) -> TestResult {
    let cfg = seccomp_cfg(c, json!([{"names": ["uname"], "action": "SCMP_ACT_ERRNO"}]));
    let f = c.probe(&cfg)?;
    eq(
        "hostname via a blocked uname",
        json!(""),
        f["hostname"].clone(),
    )
}
fn kill_action(c: &mut Ctx) -> TestResult {
    let cfg = seccomp_cfg(c, json!([{"names": ["uname"], "action": "SCMP_ACT_KILL"}]));
    let r = c.run(&cfg)?;
    eq("end of the probe", Exit::Signal(libc::SIGSYS), r.exit)
}
fn kill_process_action(c: &mut Ctx) -> TestResult {
    let cfg = seccomp_cfg(
        c,
        json!([{"names": ["uname"], "action": "SCMP_ACT_KILL_PROCESS"}]),
    );
    let r = c.run(&cfg)?;
    eq("end of the probe", Exit::Signal(libc::SIGSYS), r.exit)
}
fn arg_condition(c: &mut Ctx) -> TestResult {
    let cfg = seccomp_cfg(
        c,
        json!([{"names": ["prctl"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": libc::PR_GET_NO_NEW_PRIVS, "op": "SCMP_CMP_EQ"}]}]),
    );
    let f = c.probe(&cfg)?;
    // The filter answers PR_GET_NO_NEW_PRIVS with an error: the probe sees "not set".
    eq(
        "no_new_privs as seen through the filter",
        json!(false),
        f["no_new_privs"].clone(),
    )
}
fn arg_condition_other_value(c: &mut Ctx) -> TestResult {
    let cfg = seccomp_cfg(
        c,
        json!([{"names": ["prctl"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 9999, "op": "SCMP_CMP_EQ"}]}]),
    );
    let f = c.probe(&cfg)?;
    eq(
        "no_new_privs (rule does not match)",
        json!(true),
        f["no_new_privs"].clone(),
    )
}
fn masked_eq(c: &mut Ctx) -> TestResult {
    // mask = value, datum = valueTwo (libseccomp's order): (39 & 0xff) == 39.
    let cfg = seccomp_cfg(
        c,
        json!([{"names": ["prctl"], "action": "SCMP_ACT_ERRNO",
        "args": [{"index": 0, "value": 255, "valueTwo": libc::PR_GET_NO_NEW_PRIVS, "op": "SCMP_CMP_MASKED_EQ"}]}]),
    );
    let f = c.probe(&cfg)?;
    eq(
        "no_new_privs as seen through the filter",
        json!(false),
        f["no_new_privs"].clone(),
    )
}
fn unknown_syscall_ignored(c: &mut Ctx) -> TestResult {
    let cfg = seccomp_cfg(
        c,
        json!([{"names": ["no_such_syscall_xyz", "uname"], "action": "SCMP_ACT_ERRNO"}]),
    );
    let f = c.probe(&cfg)?;
    eq(
        "hostname via a blocked uname",
        json!(""),
        f["hostname"].clone(),
    )
}
fn bad_action_fails(c: &mut Ctx) -> TestResult {
    let cfg = seccomp_cfg(c, json!([{"names": ["uname"], "action": "SCMP_ACT_BOGUS"}]));
    // Every runtime's refusal names the action it does not know.
    c.create_fails(&cfg, &[&["SCMP_ACT_BOGUS"]]).map(|_| ())
}
fn log_action(c: &mut Ctx) -> TestResult {
    let cfg = seccomp_cfg(c, json!([{"names": ["uname"], "action": "SCMP_ACT_LOG"}]));
    let f = c.probe(&cfg)?;
    eq(
        "hostname (logged, allowed)",
        json!("conformance"),
        f["hostname"].clone(),
    )
}
fn without_nnp(c: &mut Ctx) -> TestResult {
    let mut cfg = seccomp_cfg(c, json!([{"names": ["uname"], "action": "SCMP_ACT_ERRNO"}]));
    cfg["process"]["noNewPrivileges"] = json!(false);
    let f = c.probe(&cfg)?;
    eq(
        "[seccomp, nnp, hostname]",
        json!([2, false, ""]),
        json!([f["seccomp"], f["no_new_privs"], f["hostname"]]),
    )
}
fn default_errno(c: &mut Ctx) -> TestResult {
    // Deny by default, allow uname only through an ALLOW rule: every other
    // syscall fails, so the probe cannot even start; exit is non-zero.
    let mut cfg = c.spec(&[]);
    cfg["linux"]["seccomp"] = json!({"defaultAction": "SCMP_ACT_ERRNO", "syscalls": [{"names": ["uname"], "action": "SCMP_ACT_ALLOW"}]});
    // Once the filter is in, every syscall but uname fails with EPERM, the
    // probe's execve included. A runtime may say so at create; otherwise its
    // init, with a real pid, dies without the probe ever printing: runc's at
    // the exec fifo before start (start then finds it stopped), baleia's
    // after start, with even exit_group refused (SIGSEGV).
    let (o, ctr) = c.try_create(&cfg, &[], Default::default())?;
    let Some(mut ctr) = ctr else {
        return failed_for(
            &o,
            "create under a deny-all filter",
            &[&["operation not permitted"]],
        );
    };
    check(ctr.pid > 0, "a pid in --pid-file after create", ctr.pid)?;
    let s = c.cmd(&["start", &ctr.id])?;
    if !s.ok() {
        failed_for(
            &s,
            "start under a deny-all filter",
            &[&["operation not permitted"], &["stopped"]],
        )?;
    }
    let out = crate::harness::read_all(ctr.stdout.take(), crate::harness::CONTAINER_TIMEOUT)?;
    let e = crate::runtime::wait_pid(ctr.pid, crate::harness::CONTAINER_TIMEOUT);
    check(
        matches!(e, Exit::Code(n) if n != 0) || matches!(e, Exit::Signal(_)),
        "the init to end in failure under a deny-all filter",
        format!("{e:?}"),
    )?;
    check(
        out.is_empty(),
        "the probe never to run under a deny-all filter",
        format!("stdout {:?}", out.chars().take(80).collect::<String>()),
    )
}

/// The cgroups, sysctl and seccomp tests.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(
            C,
            "memory-limit",
            "config-linux.md memory.limit -> memory.limit_in_bytes / memory.max",
            memory_limit,
        ),
        Test::new(
            C,
            "memory-reservation",
            "config-linux.md memory.reservation -> soft limit",
            memory_reservation,
        ),
        Test::new(
            C,
            "memory-swap",
            "config-linux.md memory.swap -> memsw limit",
            memory_swap,
        ),
        Test::new(
            C,
            "memory-swappiness",
            "config-linux.md memory.swappiness (v1)",
            memory_swappiness,
        ),
        Test::new(
            C,
            "memory-kernel-accepted",
            "config-linux.md memory.kernel: deprecated, accepted (ignored by new kernels)",
            memory_kernel_accepted,
        ),
        Test::new(C, "cpu-shares", "config-linux.md cpu.shares", cpu_shares),
        Test::new(C, "cpu-quota", "config-linux.md cpu.quota", cpu_quota),
        Test::new(C, "cpu-period", "config-linux.md cpu.period", cpu_period),
        Test::new(C, "cpuset-cpus", "config-linux.md cpu.cpus", cpuset_cpus),
        Test::new(C, "cpuset-mems", "config-linux.md cpu.mems", cpuset_mems),
        Test::new(C, "pids-limit", "config-linux.md pids.limit", pids_limit),
        Test::new(
            C,
            "pids-unlimited",
            "runc: pids.limit -1 -> max",
            pids_unlimited,
        ),
        Test::new(C, "hugetlb", "config-linux.md hugepageLimits", hugetlb),
        Test::new(
            C,
            "blkio-weight",
            "config-linux.md blockIO.weight",
            blkio_weight,
        ),
        Test::new(C, "net-cls", "config-linux.md network.classID", net_cls),
        Test::new(
            C,
            "memory-oom-killer",
            "config-linux.md memory.disableOOMKiller",
            oom_killer_disabled,
        ),
        Test::new(
            C,
            "devices-list",
            "config-linux.md devices: deny-all then runc's default allow list",
            devices_list,
        ),
        Test::new(
            C,
            "cpu-realtime",
            "config-linux.md cpu.realtimeRuntime/realtimePeriod",
            cpu_rt,
        ),
        Test::new(
            C,
            "path",
            "config-linux.md cgroupsPath: absolute, relative to the cgroup mount",
            path_honoured,
        ),
        Test::new(
            C,
            "every-controller",
            "runc (cgroupfs v1): the same path in every controller",
            every_controller,
        ),
        Test::new(
            C,
            "pids-enforced",
            "config-linux.md pids.limit: forks beyond it fail",
            pids_enforced,
        ),
        Test::new(
            C,
            "stats-memory",
            "runc events --stats: memory usage",
            stats_memory,
        ),
        Test::new(
            C,
            "unified-on-v1-fails",
            "config-linux.md unified: on a v1 host the runtime MUST generate an error",
            unified_on_v1_fails,
        ),
        Test::new(
            S,
            "ip-forward",
            "config-linux.md sysctl: net.* in a new network namespace",
            ip_forward,
        ),
        Test::new(
            S,
            "somaxconn",
            "config-linux.md sysctl: net.core.somaxconn",
            somaxconn,
        ),
        Test::new(
            S,
            "shmmax",
            "config-linux.md sysctl: kernel.shm* in a new ipc namespace",
            shmmax,
        ),
        Test::new(S, "msgmax", "config-linux.md sysctl: kernel.msgmax", msgmax),
        Test::new(
            S,
            "mqueue",
            "config-linux.md sysctl: fs.mqueue.*",
            mqueue_msg_max,
        ),
        Test::new(
            S,
            "kernel-domainname",
            "runc: kernel.domainname allowed with a new uts namespace",
            domainname_sysctl,
        ),
        Test::new(
            S,
            "several",
            "config-linux.md sysctl: every key applied",
            several,
        ),
        Test::new(
            S,
            "not-namespaced-fails",
            "runc: a sysctl outside any namespace (vm.*) is an error",
            not_namespaced_fails,
        ),
        Test::new(
            S,
            "net-needs-netns",
            "runc: net.* in the host network namespace is an error",
            net_without_netns_fails,
        ),
        Test::new(
            S,
            "ipc-needs-ipcns",
            "runc: kernel.msg* in the host ipc namespace is an error",
            ipc_without_ipcns_fails,
        ),
        Test::new(
            S,
            "host-untouched",
            "config-linux.md sysctl: the container's namespace only",
            host_untouched,
        ),
        Test::new(
            SC,
            "mode-filter",
            "config-linux.md seccomp: a filter is installed (Seccomp: 2)",
            mode_filter,
        ),
        Test::new(
            SC,
            "mode-none",
            "config-linux.md seccomp: none without the section",
            mode_none,
        ),
        Test::new(
            SC,
            "errno-eperm",
            "config-linux.md seccomp SCMP_ACT_ERRNO: EPERM by default",
            errno_default_eperm,
        ),
        Test::new(
            SC,
            "errno-ret",
            "config-linux.md seccomp errnoRet",
            errno_ret,
        ),
        Test::new(
            SC,
            "errno-uname",
            "config-linux.md seccomp: the probe's uname denied",
            errno_probe,
        ),
        Test::new(
            SC,
            "kill",
            "config-linux.md seccomp SCMP_ACT_KILL: SIGSYS",
            kill_action,
        ),
        Test::new(
            SC,
            "kill-process",
            "config-linux.md seccomp SCMP_ACT_KILL_PROCESS",
            kill_process_action,
        ),
        Test::new(
            SC,
            "arg-eq",
            "config-linux.md seccomp args SCMP_CMP_EQ",
            arg_condition,
        ),
        Test::new(
            SC,
            "arg-eq-no-match",
            "config-linux.md seccomp args: no match -> defaultAction",
            arg_condition_other_value,
        ),
        Test::new(
            SC,
            "arg-masked-eq",
            "config-linux.md seccomp SCMP_CMP_MASKED_EQ: value is the mask, valueTwo the datum",
            masked_eq,
        ),
        Test::new(
            SC,
            "unknown-syscall-ignored",
            "runc: syscall names the kernel/libseccomp does not know are skipped",
            unknown_syscall_ignored,
        ),
        Test::new(
            SC,
            "bad-action-fails",
            "config-linux.md seccomp: an invalid action MUST generate an error",
            bad_action_fails,
        ),
        Test::new(
            SC,
            "log",
            "config-linux.md seccomp SCMP_ACT_LOG: allowed and logged",
            log_action,
        ),
        Test::new(
            SC,
            "without-nnp",
            "runc: with noNewPrivileges false the filter is installed with CAP_SYS_ADMIN",
            without_nnp,
        ),
        Test::new(
            SC,
            "default-errno",
            "config-linux.md seccomp defaultAction applies to unlisted syscalls",
            default_errno,
        ),
    ]
}
