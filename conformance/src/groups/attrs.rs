//! runtime-spec 1.2/1.3 process attributes, checked by their effect on the probe: the
//! scheduler, the I/O priority, the CPU affinity (execCPUAffinity, and the runtime's own
//! affinity not leaking into the container), the NUMA memory policy and the personality.
//! runc 1.1.5 and crun 1.8 predate all of them (runc added them in 1.2-1.4).

use crate::bundle;
use crate::harness::{check, eq, fail, push_arg, skip, Ctr, Ctx, Test, TestResult, Verdict};
use crate::runtime::Io;
use serde_json::{json, Value};

const P: &str = "process";
const E: &str = "exec";
const L: &str = "linux";

const SCHED_FIFO: u64 = 1;
const SCHED_BATCH: u64 = 3;
const SCHED_IDLE: u64 = 5;

fn with_scheduler(c: &mut Ctx, sched: Value) -> Result<Value, Verdict> {
    let mut cfg = c.spec(&[]);
    cfg["process"]["scheduler"] = sched;
    let f = c.probe(&cfg)?;
    check(
        f["sched"]["ok"] == json!(true),
        "the probe's sched_getattr to work",
        &f["sched"],
    )?;
    Ok(f["sched"].clone())
}

fn sched_batch_nice(c: &mut Ctx) -> TestResult {
    let s = with_scheduler(c, json!({"policy": "SCHED_BATCH", "nice": 7}))?;
    eq(
        "policy, nice",
        json!([SCHED_BATCH, 7]),
        json!([s["policy"], s["nice"]]),
    )
}

fn sched_idle(c: &mut Ctx) -> TestResult {
    let s = with_scheduler(c, json!({"policy": "SCHED_IDLE"}))?;
    eq("policy", json!(SCHED_IDLE), s["policy"].clone())
}

fn sched_reset_on_fork(c: &mut Ctx) -> TestResult {
    let s = with_scheduler(
        c,
        json!({"policy": "SCHED_BATCH", "nice": 3, "flags": ["SCHED_FLAG_RESET_ON_FORK"]}),
    )?;
    eq("policy", json!(SCHED_BATCH), s["policy"].clone())?;
    check(
        s["flags"].as_u64().unwrap_or(0) & 1 == 1,
        "SCHED_FLAG_RESET_ON_FORK in sched_getattr's flags",
        &s,
    )
}

/// A realtime policy needs a realtime budget in the container's cpu cgroup on a v1 host with
/// RT group scheduling: give the suite's parent cgroup (only ours) a small one.
fn rt_budget() -> TestResult {
    let knob = std::path::Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us");
    if !knob.exists() {
        return Ok(());
    }
    let parent = std::path::Path::new("/sys/fs/cgroup/cpu/baleia-conformance");
    std::fs::create_dir_all(parent).map_err(|e| fail("the parent cgroup", e))?;
    let have = std::fs::read_to_string(parent.join("cpu.rt_runtime_us")).unwrap_or_default();
    if have.trim().parse::<i64>().unwrap_or(0) < 10000 {
        std::fs::write(parent.join("cpu.rt_runtime_us"), "10000").map_err(|e| {
            skip(format!(
                "cannot give {} a realtime budget: {e}",
                parent.display()
            ))
        })?;
    }
    Ok(())
}

fn sched_fifo(c: &mut Ctx) -> TestResult {
    rt_budget()?;
    let mut cfg = c.spec(&[]);
    cfg["process"]["scheduler"] = json!({"policy": "SCHED_FIFO", "priority": 10});
    if std::path::Path::new("/sys/fs/cgroup/cpu/cpu.rt_runtime_us").exists() {
        bundle::set(
            &mut cfg,
            "/linux/resources/cpu",
            json!({"realtimeRuntime": 1000, "realtimePeriod": 1000000}),
        );
    }
    let f = c.probe(&cfg)?;
    eq(
        "policy, priority",
        json!([SCHED_FIFO, 10]),
        json!([f["sched"]["policy"], f["sched"]["priority"]]),
    )
}

fn sched_bad_policy_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["scheduler"] = json!({"policy": "SCHED_FOO"});
    c.create_fails(&cfg, &[&["scheduler", "SCHED_FOO"]])
        .map(drop)
}

fn sched_bad_nice_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["scheduler"] = json!({"policy": "SCHED_OTHER", "nice": 40});
    // runc 1.2+: "invalid scheduler.nice: 40".
    c.create_fails(&cfg, &[&["nice", "40"]]).map(drop)
}

fn with_ioprio(c: &mut Ctx, class: &str, level: i64) -> Result<Value, Verdict> {
    let mut cfg = c.spec(&[]);
    cfg["process"]["ioPriority"] = json!({"class": class, "priority": level});
    let f = c.probe(&cfg)?;
    check(
        f["ioprio"]["ok"] == json!(true),
        "the probe's ioprio_get to work",
        &f["ioprio"],
    )?;
    Ok(f["ioprio"].clone())
}

fn ioprio_idle(c: &mut Ctx) -> TestResult {
    let v = with_ioprio(c, "IOPRIO_CLASS_IDLE", 0)?;
    eq("ioprio class", json!(3), v["class"].clone())
}

fn ioprio_be(c: &mut Ctx) -> TestResult {
    let v = with_ioprio(c, "IOPRIO_CLASS_BE", 6)?;
    eq(
        "ioprio class, level",
        json!([2, 6]),
        json!([v["class"], v["level"]]),
    )
}

fn ioprio_rt(c: &mut Ctx) -> TestResult {
    let v = with_ioprio(c, "IOPRIO_CLASS_RT", 3)?;
    eq(
        "ioprio class, level",
        json!([1, 3]),
        json!([v["class"], v["level"]]),
    )
}

fn ioprio_bad_level_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    cfg["process"]["ioPriority"] = json!({"class": "IOPRIO_CLASS_BE", "priority": 9});
    c.create_fails(&cfg, &[&["ioPriority", "9"]]).map(drop)
}

/// The host's online CPUs as the kernel writes them, and the first two of them.
fn two_cpus() -> Result<(String, usize, usize), Verdict> {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online")
        .map_err(|e| skip(format!("cannot read the online CPUs: {e}")))?;
    let online = online.trim().to_string();
    let mut cpus = Vec::new();
    for part in online.split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        if let (Ok(a), Ok(b)) = (a.parse::<usize>(), b.parse::<usize>()) {
            cpus.extend(a..=b);
        }
    }
    if cpus.len() < 2 {
        return Err(skip(format!(
            "needs two online CPUs, this host has {online}"
        )));
    }
    Ok((online, cpus[0], cpus[1]))
}

/// A container created by a runtime pinned to one CPU, started, its facts read.
fn pinned_running(c: &mut Ctx, mut cfg: Value, cpu: usize) -> Result<Ctr, Verdict> {
    push_arg(&mut cfg, "--pause");
    let io = Io {
        cpus: Some(vec![cpu]),
        ..Default::default()
    };
    let mut ctr = c.create_with(&cfg, &[], io)?;
    c.start(&ctr)?;
    c.read_facts(&mut ctr)?;
    Ok(ctr)
}

fn affinity_reset(c: &mut Ctx) -> TestResult {
    let (online, first, _) = two_cpus()?;
    let cfg = c.spec(&[]);
    let ctr = pinned_running(c, cfg, first)?;
    // runc 1.4: the runtime's own affinity does not leak into the container; with no cpuset
    // of its own, the container gets every online CPU.
    eq(
        "the init's Cpus_allowed_list (runtime pinned to one CPU)",
        json!(online),
        ctr.facts["cpus_allowed"].clone(),
    )
}

fn exec_facts(c: &mut Ctx, args: &[&str], io: Io) -> Result<Value, Verdict> {
    let o = c.cmd_io(args, io)?;
    check(o.ok(), "exec to succeed", o.summary())?;
    o.stdout
        .lines()
        .next()
        .and_then(|l| serde_json::from_str(l).ok())
        .ok_or_else(|| fail("the probe's facts from exec", o.stdout.clone()))
}

fn exec_affinity_reset(c: &mut Ctx) -> TestResult {
    let (online, first, _) = two_cpus()?;
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let io = Io {
        cpus: Some(vec![first]),
        ..Default::default()
    };
    let f = exec_facts(c, &["exec", &ctr.id, "/probe"], io)?;
    eq(
        "the exec'd process's Cpus_allowed_list (runtime pinned to one CPU)",
        json!(online),
        f["cpus_allowed"].clone(),
    )
}

fn write_process(c: &mut Ctx, p: &Value) -> Result<String, Verdict> {
    let file = c.dir.join("process.json");
    std::fs::write(&file, p.to_string()).map_err(|e| fail("process.json", e))?;
    Ok(file.to_string_lossy().into_owned())
}

fn probe_process(extra: Value) -> Value {
    let mut p = json!({
        "terminal": false, "user": {"uid": 0, "gid": 0}, "args": ["/probe"],
        "env": ["PATH=/bin"], "cwd": "/",
    });
    if let (Some(o), Some(e)) = (p.as_object_mut(), extra.as_object()) {
        o.extend(e.clone());
    }
    p
}

fn exec_affinity_final(c: &mut Ctx) -> TestResult {
    let (_, first, second) = two_cpus()?;
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let p = probe_process(json!({"execCPUAffinity": {
        "initial": first.to_string(), "final": second.to_string()}}));
    let fp = write_process(c, &p)?;
    let f = exec_facts(c, &["exec", "--process", &fp, &ctr.id], Io::default())?;
    eq(
        "the exec'd process's Cpus_allowed_list",
        json!(second.to_string()),
        f["cpus_allowed"].clone(),
    )
}

fn exec_affinity_not_init(c: &mut Ctx) -> TestResult {
    let (online, _, second) = two_cpus()?;
    let mut cfg = c.spec(&[]);
    cfg["process"]["execCPUAffinity"] = json!({"final": second.to_string()});
    let ctr = c.running(cfg)?;
    // config.md: execCPUAffinity "is not applicable to the container's init process".
    eq(
        "the init's Cpus_allowed_list",
        json!(online),
        ctr.facts["cpus_allowed"].clone(),
    )?;
    let f = exec_facts(c, &["exec", &ctr.id, "/probe"], Io::default())?;
    eq(
        "Cpus_allowed_list of an exec'd process (execCPUAffinity from config.json)",
        json!(second.to_string()),
        f["cpus_allowed"].clone(),
    )
}

fn affinity_offline_fails(c: &mut Ctx) -> TestResult {
    let online = std::fs::read_to_string("/sys/devices/system/cpu/online").unwrap_or_default();
    let last: usize = online
        .trim()
        .rsplit([',', '-'])
        .next()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| skip("cannot read the online CPUs"))?;
    let beyond = last + 1;
    if beyond >= 1024 {
        return Err(skip("no CPU number left beyond the online ones"));
    }
    let mut cfg = c.spec(&[]);
    cfg["process"]["execCPUAffinity"] = json!({"final": beyond.to_string()});
    c.create_fails(&cfg, &[&["execCPUAffinity", &beyond.to_string()]])
        .map(drop)
}

fn exec_scheduler_ioprio(c: &mut Ctx) -> TestResult {
    let cfg = c.spec(&[]);
    let ctr = c.running(cfg)?;
    let p = probe_process(json!({
        "scheduler": {"policy": "SCHED_IDLE"},
        "ioPriority": {"class": "IOPRIO_CLASS_BE", "priority": 5},
    }));
    let fp = write_process(c, &p)?;
    let f = exec_facts(c, &["exec", "--process", &fp, &ctr.id], Io::default())?;
    eq(
        "policy, ioprio class and level of the exec'd process",
        json!([SCHED_IDLE, 2, 5]),
        json!([
            f["sched"]["policy"],
            f["ioprio"]["class"],
            f["ioprio"]["level"]
        ]),
    )
}

fn with_mempolicy(c: &mut Ctx, mp: Value) -> Result<Value, Verdict> {
    let mut cfg = c.spec(&[]);
    bundle::set(&mut cfg, "/linux/memoryPolicy", mp);
    let f = c.probe(&cfg)?;
    check(
        f["mempolicy"]["ok"] == json!(true),
        "the probe's get_mempolicy to work",
        &f["mempolicy"],
    )?;
    Ok(f["mempolicy"].clone())
}

const MPOL_PREFERRED: u64 = 1;
const MPOL_BIND: u64 = 2;
const MPOL_INTERLEAVE: u64 = 3;
const MPOL_F_STATIC_NODES: u64 = 1 << 15;

fn mempolicy_bind(c: &mut Ctx) -> TestResult {
    let m = with_mempolicy(c, json!({"mode": "MPOL_BIND", "nodes": "0"}))?;
    eq(
        "mode, nodes",
        json!([MPOL_BIND, 1]),
        json!([m["mode"], m["nodes"]]),
    )
}

fn mempolicy_interleave(c: &mut Ctx) -> TestResult {
    let m = with_mempolicy(c, json!({"mode": "MPOL_INTERLEAVE", "nodes": "0"}))?;
    eq("mode", json!(MPOL_INTERLEAVE), m["mode"].clone())
}

fn mempolicy_static_nodes(c: &mut Ctx) -> TestResult {
    let m = with_mempolicy(
        c,
        json!({"mode": "MPOL_PREFERRED", "nodes": "0", "flags": ["MPOL_F_STATIC_NODES"]}),
    )?;
    eq(
        "mode, flags",
        json!([MPOL_PREFERRED, MPOL_F_STATIC_NODES]),
        json!([m["mode"], m["flags"]]),
    )
}

fn mempolicy_exec(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::set(
        &mut cfg,
        "/linux/memoryPolicy",
        json!({"mode": "MPOL_BIND", "nodes": "0"}),
    );
    let ctr = c.running(cfg)?;
    let f = exec_facts(c, &["exec", &ctr.id, "/probe"], Io::default())?;
    eq(
        "the exec'd process's memory policy",
        json!(MPOL_BIND),
        f["mempolicy"]["mode"].clone(),
    )
}

fn mempolicy_bad_node_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::set(
        &mut cfg,
        "/linux/memoryPolicy",
        json!({"mode": "MPOL_BIND", "nodes": "0,63"}),
    );
    c.create_fails(&cfg, &[&["memoryPolicy", "63"]]).map(drop)
}

fn mempolicy_bad_mode_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::set(
        &mut cfg,
        "/linux/memoryPolicy",
        json!({"mode": "MPOL_NOWHERE", "nodes": "0"}),
    );
    // runc 1.4: "invalid memory policy mode \"MPOL_NOWHERE\"".
    c.create_fails(&cfg, &[&["memory", "MPOL_NOWHERE"]])
        .map(drop)
}

fn personality_linux32(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::set(&mut cfg, "/linux/personality", json!({"domain": "LINUX32"}));
    let ctr = c.running(cfg)?;
    eq(
        "the init's personality (PER_LINUX32)",
        json!(8),
        json!(ctr.facts["personality"].as_i64().unwrap_or(-1) & 0xff),
    )?;
    let f = exec_facts(c, &["exec", &ctr.id, "/probe"], Io::default())?;
    eq(
        "the exec'd process's personality",
        json!(8),
        json!(f["personality"].as_i64().unwrap_or(-1) & 0xff),
    )
}

fn personality_linux(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::set(&mut cfg, "/linux/personality", json!({"domain": "LINUX"}));
    // The runtime runs as LINUX32: only a runtime that applies the domain gives LINUX.
    let io = Io {
        personality: Some(8),
        ..Default::default()
    };
    let mut ctr = c.create_with(&cfg, &[], io)?;
    c.start(&ctr)?;
    let f = c.read_facts(&mut ctr)?;
    eq(
        "personality (PER_LINUX, the runtime running as PER_LINUX32)",
        json!(0),
        json!(f["personality"].as_i64().unwrap_or(-1) & 0xff),
    )
}

fn personality_bad_domain_fails(c: &mut Ctx) -> TestResult {
    let mut cfg = c.spec(&[]);
    bundle::set(&mut cfg, "/linux/personality", json!({"domain": "SVR4"}));
    // runc 1.2: "invalid personality domain SVR4".
    c.create_fails(&cfg, &[&["personality", "SVR4"]]).map(drop)
}

fn intel_rdt_without_resctrl_fails(c: &mut Ctx) -> TestResult {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    if mounts.lines().any(|l| l.contains(" - resctrl ")) {
        return Err(skip("resctrl is mounted here: the refusal cannot be seen"));
    }
    let mut cfg = c.spec(&[]);
    bundle::set(
        &mut cfg,
        "/linux/intelRdt",
        json!({"l3CacheSchema": "L3:0=f"}),
    );
    // runc: "intelRdt is specified in config, but Intel RDT is not supported or enabled".
    c.create_fails(&cfg, &[&["resctrl"], &["intel rdt", "not"]])?;
    Ok(())
}

fn features(c: &mut Ctx) -> Result<Value, Verdict> {
    let o = c.cmd(&["features"])?;
    check(o.ok(), "features to succeed", o.summary())?;
    serde_json::from_str(&o.stdout).map_err(|_| {
        fail(
            "features JSON",
            o.stdout.chars().take(200).collect::<String>(),
        )
    })
}

fn lists(v: &Value, what: &str, want: &[&str]) -> TestResult {
    let have: Vec<String> = serde_json::from_value(v.clone()).unwrap_or_default();
    for w in want {
        check(
            have.iter().any(|h| h == w),
            format!("{what} lists {w}"),
            format!("{have:?}"),
        )?;
    }
    Ok(())
}

fn f_memory_policy(c: &mut Ctx) -> TestResult {
    let v = features(c)?;
    let m = &v["linux"]["memoryPolicy"];
    lists(
        &m["modes"],
        "linux.memoryPolicy.modes",
        &["MPOL_BIND", "MPOL_INTERLEAVE", "MPOL_PREFERRED"],
    )?;
    lists(
        &m["flags"],
        "linux.memoryPolicy.flags",
        &["MPOL_F_STATIC_NODES", "MPOL_F_RELATIVE_NODES"],
    )
}

fn f_intel_rdt(c: &mut Ctx) -> TestResult {
    let v = features(c)?;
    let r = &v["linux"]["intelRdt"];
    eq(
        "linux.intelRdt.enabled, schemata, monitoring",
        json!([true, true, true]),
        json!([r["enabled"], r["schemata"], r["monitoring"]]),
    )
}

fn f_seccomp_notify(c: &mut Ctx) -> TestResult {
    let v = features(c)?;
    let s = &v["linux"]["seccomp"];
    lists(&s["actions"], "linux.seccomp.actions", &["SCMP_ACT_NOTIFY"])?;
    lists(
        &s["supportedFlags"],
        "linux.seccomp.supportedFlags",
        &["SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
    )
}

/// The scheduler, ioPriority, execCPUAffinity, memoryPolicy and personality tests.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(
            P,
            "scheduler-batch-nice",
            "config.md process.scheduler: SCHED_BATCH with nice (sched_setattr)",
            sched_batch_nice,
        ),
        Test::new(
            P,
            "scheduler-idle",
            "config.md process.scheduler: SCHED_IDLE",
            sched_idle,
        ),
        Test::new(
            P,
            "scheduler-fifo",
            "config.md process.scheduler: SCHED_FIFO with priority",
            sched_fifo,
        ),
        Test::new(
            P,
            "scheduler-reset-on-fork",
            "config.md process.scheduler.flags: SCHED_FLAG_RESET_ON_FORK",
            sched_reset_on_fork,
        ),
        Test::new(
            P,
            "scheduler-bad-policy-fails",
            "config.md process.scheduler.policy: a value not in the list is an error",
            sched_bad_policy_fails,
        ),
        Test::new(
            P,
            "scheduler-bad-nice-fails",
            "runc 1.2: scheduler.nice outside -20..19 is an error",
            sched_bad_nice_fails,
        ),
        Test::new(
            P,
            "ioprio-idle",
            "config.md process.ioPriority: IOPRIO_CLASS_IDLE (ioprio_set)",
            ioprio_idle,
        ),
        Test::new(
            P,
            "ioprio-be",
            "config.md process.ioPriority: IOPRIO_CLASS_BE with a level",
            ioprio_be,
        ),
        Test::new(
            P,
            "ioprio-rt",
            "config.md process.ioPriority: IOPRIO_CLASS_RT with a level",
            ioprio_rt,
        ),
        Test::new(
            P,
            "ioprio-bad-level-fails",
            "config.md process.ioPriority.priority: 0 (highest) to 7 (lowest)",
            ioprio_bad_level_fails,
        ),
        Test::new(
            P,
            "cpu-affinity-reset",
            "runc 1.4: the runtime's CPU affinity does not leak into the container",
            affinity_reset,
        ),
        Test::new(
            P,
            "cpu-affinity-offline-fails",
            "config.md execCPUAffinity: a CPU that is not online is an error",
            affinity_offline_fails,
        ),
        Test::new(
            E,
            "cpu-affinity-reset",
            "runc 1.4: the runtime's CPU affinity does not leak into an exec'd process",
            exec_affinity_reset,
        ),
        Test::new(
            E,
            "cpu-affinity-final",
            "config.md execCPUAffinity: initial before the cgroup, final after (process.json)",
            exec_affinity_final,
        ),
        Test::new(
            E,
            "cpu-affinity-not-init",
            "config.md execCPUAffinity: applies to exec'd processes, not to the init",
            exec_affinity_not_init,
        ),
        Test::new(
            E,
            "scheduler-ioprio",
            "config.md process.scheduler and ioPriority of an exec'd process (process.json)",
            exec_scheduler_ioprio,
        ),
        Test::new(
            L,
            "memory-policy-bind",
            "config-linux.md memoryPolicy: MPOL_BIND to node 0 (set_mempolicy)",
            mempolicy_bind,
        ),
        Test::new(
            L,
            "memory-policy-interleave",
            "config-linux.md memoryPolicy: MPOL_INTERLEAVE",
            mempolicy_interleave,
        ),
        Test::new(
            L,
            "memory-policy-static-nodes",
            "config-linux.md memoryPolicy.flags: MPOL_F_STATIC_NODES",
            mempolicy_static_nodes,
        ),
        Test::new(
            L,
            "memory-policy-exec",
            "config-linux.md memoryPolicy: exec'd processes get it too",
            mempolicy_exec,
        ),
        Test::new(
            L,
            "memory-policy-bad-node-fails",
            "config-linux.md memoryPolicy.nodes: a node that does not exist is an error",
            mempolicy_bad_node_fails,
        ),
        Test::new(
            L,
            "memory-policy-bad-mode-fails",
            "config-linux.md memoryPolicy.mode: a mode not in the list is an error",
            mempolicy_bad_mode_fails,
        ),
        Test::new(
            L,
            "personality-linux32",
            "config-linux.md personality: LINUX32, for the init and exec'd processes",
            personality_linux32,
        ),
        Test::new(
            L,
            "personality-linux",
            "config-linux.md personality: LINUX",
            personality_linux,
        ),
        Test::new(
            L,
            "personality-bad-domain-fails",
            "config-linux.md personality.domain: LINUX or LINUX32",
            personality_bad_domain_fails,
        ),
        Test::new(
            L,
            "intel-rdt-without-resctrl-fails",
            "config-linux.md intelRdt: without resctrl the runtime MUST generate an error",
            intel_rdt_without_resctrl_fails,
        ),
        Test::new(
            "features",
            "memory-policy",
            "features-linux.md memoryPolicy: modes and flags",
            f_memory_policy,
        ),
        Test::new(
            "features",
            "intel-rdt",
            "features-linux.md intelRdt: enabled, schemata, monitoring",
            f_intel_rdt,
        ),
        Test::new(
            "features",
            "seccomp-notify",
            "features-linux.md seccomp: SCMP_ACT_NOTIFY and WAIT_KILLABLE_RECV",
            f_seccomp_notify,
        ),
    ]
}
