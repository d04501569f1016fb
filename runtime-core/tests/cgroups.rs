//! Real cgroups on whatever this host is (v1, hybrid, or the pure v2 VM of
//! `make test-cgroup-v2`): every resource written and read back from the kernel's files, the
//! effect of the limits on real processes, freeze/thaw, kill_all, destroy, bad input.
//!
//! Processes are made with fork(); the child only makes raw syscalls (the test harness has
//! threads, so nothing that could take a lock is safe there).

use oci_spec::runtime::LinuxResources;
use runtime_core::cgroups::{self, CgroupManager, CgroupPaths, Layout};
use std::ffi::CString;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};

static COUNTER: AtomicU32 = AtomicU32::new(0);

fn unique_path() -> String {
    format!(
        "/baleia-test-{}-{}",
        std::process::id(),
        COUNTER.fetch_add(1, Ordering::SeqCst)
    )
}

fn v2() -> bool {
    cgroups::detect().unwrap() == Layout::V2
}

/// A test cgroup that kills its processes and removes itself, whatever happens.
struct Cg {
    paths: CgroupPaths,
    m: Box<dyn CgroupManager>,
    children: Vec<i32>,
}

impl Cg {
    fn new() -> Cg {
        let p = unique_path();
        let cg = cgroups::Cgroup::resolve(Some(&p), "t").unwrap();
        let paths = cg.paths.clone();
        let m = cgroups::manager(&cg, None);
        m.create().unwrap();
        Cg {
            paths,
            m,
            children: Vec::new(),
        }
    }

    /// The directory holding `v1_ctrl`'s files (the unified dir on v2).
    fn dir(&self, v1_ctrl: &str) -> PathBuf {
        let key = if v2() { "" } else { v1_ctrl };
        self.paths.0.get(key).cloned().unwrap()
    }

    fn read(&self, ctrl: &str, file: &str) -> String {
        let p = self.dir(ctrl).join(file);
        std::fs::read_to_string(&p)
            .unwrap_or_else(|e| panic!("{}: {e}", p.display()))
            .trim()
            .to_string()
    }

    fn apply(&self, json: &str) -> Result<(), cgroups::CgroupError> {
        let r: LinuxResources = serde_json::from_str(json).unwrap();
        self.m.apply_resources(&r)
    }

    fn update(&self, json: &str) -> Result<(), cgroups::CgroupError> {
        let r: LinuxResources = serde_json::from_str(json).unwrap();
        self.m.update(&r)
    }

    /// Forks a child that joins this cgroup and then does `what`.
    fn spawn(&mut self, what: Child) -> i32 {
        let procs: Vec<CString> = self
            .paths
            .dirs_for_test()
            .iter()
            .map(|d| CString::new(d.join("cgroup.procs").to_str().unwrap()).unwrap())
            .collect();
        let dev = CString::new(match &what {
            Child::Open(p) => p.as_str(),
            _ => "/",
        })
        .unwrap();
        // SAFETY: the child makes only raw syscalls and ends with _exit.
        let pid = unsafe { libc::fork() };
        assert!(pid >= 0, "fork: {}", std::io::Error::last_os_error());
        if pid == 0 {
            unsafe { child(&procs, &what, &dev) }
        }
        self.children.push(pid);
        pid
    }

    fn wait(&mut self, pid: i32) -> i32 {
        let mut st = 0;
        let r = unsafe { libc::waitpid(pid, &mut st, 0) };
        assert_eq!(r, pid);
        self.children.retain(|p| *p != pid);
        st
    }
}

trait DirsForTest {
    fn dirs_for_test(&self) -> Vec<PathBuf>;
}

impl DirsForTest for CgroupPaths {
    fn dirs_for_test(&self) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self.0.values().cloned().collect();
        v.sort();
        v.dedup();
        v
    }
}

impl Drop for Cg {
    fn drop(&mut self) {
        let _ = self.m.thaw();
        let _ = self.m.kill_all(libc::SIGKILL);
        for p in std::mem::take(&mut self.children) {
            let mut st = 0;
            unsafe { libc::waitpid(p, &mut st, 0) };
        }
        let r = self.m.destroy();
        if !std::thread::panicking() {
            r.unwrap();
            for d in self.paths.dirs_for_test() {
                assert!(!d.exists(), "{} left behind", d.display());
            }
        }
    }
}

enum Child {
    /// Wait for a signal.
    Pause,
    /// Touch this many bytes of anonymous memory, then exit 0.
    Alloc(usize),
    /// Fork until fork fails; exit with the number of successful forks (children pause).
    ForkBomb,
    /// Open the path read-write; exit 0 on success, else the errno.
    Open(String),
}

unsafe fn child(procs: &[CString], what: &Child, path: &CString) -> ! {
    for p in procs {
        let fd = libc::open(p.as_ptr(), libc::O_WRONLY);
        if fd < 0 || libc::write(fd, b"0".as_ptr().cast(), 1) != 1 {
            libc::_exit(200);
        }
        libc::close(fd);
    }
    match what {
        Child::Pause => loop {
            libc::pause();
        },
        Child::Alloc(n) => {
            let p = libc::mmap(
                std::ptr::null_mut(),
                *n,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS,
                -1,
                0,
            );
            if p == libc::MAP_FAILED {
                libc::_exit(201);
            }
            let b = p as *mut u8;
            let mut i = 0;
            while i < *n {
                std::ptr::write_volatile(b.add(i), 1);
                i += 4096;
            }
            libc::_exit(0);
        }
        Child::ForkBomb => {
            let mut ok = 0;
            for _ in 0..100 {
                let c = libc::fork();
                if c == 0 {
                    loop {
                        libc::pause();
                    }
                }
                if c < 0 {
                    break;
                }
                ok += 1;
            }
            libc::_exit(ok);
        }
        Child::Open(_) => {
            let fd = libc::open(path.as_ptr(), libc::O_RDWR);
            if fd < 0 {
                libc::_exit(*libc::__errno_location());
            }
            libc::_exit(0);
        }
    }
}

/// A block device of this machine as "major:minor" (vda here, the scratch disk in the VM).
fn block_device() -> (u32, u32) {
    let mut names: Vec<_> = std::fs::read_dir("/sys/block")
        .unwrap()
        .flatten()
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .filter(|n| !n.starts_with("loop") && !n.starts_with("zram") && !n.starts_with("ram"))
        .collect();
    names.sort();
    let n = names.first().expect("a block device");
    let dev = std::fs::read_to_string(format!("/sys/block/{n}/dev")).unwrap();
    let (a, b) = dev.trim().split_once(':').unwrap();
    (a.parse().unwrap(), b.parse().unwrap())
}

#[test]
fn resolve_has_no_side_effects_and_refuses_escapes() {
    let p = unique_path();
    let paths = CgroupPaths::resolve(Some(&p), "x").unwrap();
    assert!(!paths.0.is_empty());
    for d in paths.0.values() {
        assert!(d.starts_with("/sys/fs/cgroup"), "{}", d.display());
        assert!(d.ends_with(&p[1..]), "{}", d.display());
        assert!(!d.exists());
    }
    if v2() {
        assert!(paths.unified_only().is_some());
    } else {
        assert!(paths.unified_only().is_none());
        assert!(paths.0.contains_key("memory"));
    }
    for bad in ["/../x", "../x", "a/../../x", "/"] {
        let e = CgroupPaths::resolve(Some(bad), "x").unwrap_err();
        assert!(e.to_string().contains("cgroupsPath"), "{e}");
    }
    // Relative and default paths are relative to our own cgroup.
    let own = std::fs::read_to_string("/proc/self/cgroup").unwrap();
    let rel = CgroupPaths::resolve(None, "some-id").unwrap();
    for (k, d) in &rel.0 {
        assert!(d.ends_with("some-id"), "{k}: {}", d.display());
        if k == "memory" {
            let mine = own
                .lines()
                .find(|l| l.split(':').nth(1) == Some("memory"))
                .unwrap();
            let mine = mine.splitn(3, ':').nth(2).unwrap();
            assert!(
                d.to_str().unwrap().contains(mine),
                "{} vs {mine}",
                d.display()
            );
        }
    }
}

#[test]
fn create_then_destroy_leaves_nothing() {
    let cg = Cg::new();
    for d in cg.paths.dirs_for_test() {
        assert!(d.is_dir(), "{}", d.display());
    }
    if !v2() {
        // cpuset was filled from the parent so that processes can join.
        assert!(!cg.read("cpuset", "cpuset.cpus").is_empty());
    }
    drop(cg); // Drop asserts that every directory is gone.
}

#[test]
fn every_resource_is_written_and_read_back() {
    let cg = Cg::new();
    let (ma, mi) = block_device();
    let throttle = format!(
        r#""throttleReadBpsDevice":[{{"major":{ma},"minor":{mi},"rate":1048576}}],
           "throttleWriteBpsDevice":[{{"major":{ma},"minor":{mi},"rate":2097152}}],
           "throttleReadIOPSDevice":[{{"major":{ma},"minor":{mi},"rate":300}}],
           "throttleWriteIOPSDevice":[{{"major":{ma},"minor":{mi},"rate":400}}]"#
    );
    let hugepage = if v2() && cg.dir("").join("hugetlb.2MB.max").exists() {
        r#","hugepageLimits":[{"pageSize":"2MB","limit":4194304}]"#
    } else {
        ""
    };
    let json = format!(
        r#"{{"memory":{{"limit":67108864,"reservation":33554432,"swap":134217728}},
            "cpu":{{"shares":512,"quota":50000,"period":100000,"burst":1000,"cpus":"0","mems":"0"}},
            "pids":{{"limit":42}},
            "blockIO":{{{throttle}}}{hugepage}}}"#
    );
    cg.apply(&json).unwrap();
    let dev = format!("{ma}:{mi}");
    if v2() {
        assert_eq!(cg.read("", "memory.max"), "67108864");
        assert_eq!(cg.read("", "memory.low"), "33554432");
        assert_eq!(cg.read("", "memory.swap.max"), "67108864");
        assert_eq!(cg.read("", "cpu.weight"), "20", "runc's shares->weight");
        assert_eq!(cg.read("", "cpu.max"), "50000 100000");
        assert_eq!(cg.read("", "cpu.max.burst"), "1000");
        assert_eq!(cg.read("", "cpuset.cpus"), "0");
        assert_eq!(cg.read("", "cpuset.mems"), "0");
        assert_eq!(cg.read("", "pids.max"), "42");
        assert_eq!(
            cg.read("", "io.max"),
            format!("{dev} rbps=1048576 wbps=2097152 riops=300 wiops=400")
        );
        if !hugepage.is_empty() {
            assert_eq!(cg.read("", "hugetlb.2MB.max"), "4194304");
        }
        cg.apply(r#"{"unified":{"memory.high":"50331648","pids.max":"7"}}"#)
            .unwrap();
        assert_eq!(cg.read("", "memory.high"), "50331648");
        assert_eq!(cg.read("", "pids.max"), "7");
        cg.apply(r#"{"cpu":{"idle":1}}"#).unwrap();
        assert_eq!(cg.read("", "cpu.idle"), "1");
        if cg.dir("").join("io.weight").exists() {
            cg.apply(r#"{"blockIO":{"weight":500}}"#).unwrap();
            assert_eq!(cg.read("", "io.weight"), "default 4950");
        }
        // v2 has no real-time group scheduling: an error naming the file.
        let e = cg
            .apply(r#"{"cpu":{"realtimeRuntime":1000,"realtimePeriod":100000}}"#)
            .unwrap_err();
        assert!(e.to_string().contains("rt_runtime"), "{e}");
    } else {
        assert_eq!(cg.read("memory", "memory.limit_in_bytes"), "67108864");
        assert_eq!(cg.read("memory", "memory.soft_limit_in_bytes"), "33554432");
        if cg
            .dir("memory")
            .join("memory.memsw.limit_in_bytes")
            .exists()
        {
            assert_eq!(
                cg.read("memory", "memory.memsw.limit_in_bytes"),
                "134217728"
            );
        }
        assert_eq!(cg.read("cpu", "cpu.shares"), "512");
        assert_eq!(cg.read("cpu", "cpu.cfs_quota_us"), "50000");
        assert_eq!(cg.read("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(cg.read("cpu", "cpu.cfs_burst_us"), "1000");
        assert_eq!(cg.read("cpuset", "cpuset.cpus"), "0");
        assert_eq!(cg.read("cpuset", "cpuset.mems"), "0");
        assert_eq!(cg.read("pids", "pids.max"), "42");
        assert_eq!(
            cg.read("blkio", "blkio.throttle.read_bps_device"),
            format!("{dev} 1048576")
        );
        assert_eq!(
            cg.read("blkio", "blkio.throttle.write_bps_device"),
            format!("{dev} 2097152")
        );
        assert_eq!(
            cg.read("blkio", "blkio.throttle.read_iops_device"),
            format!("{dev} 300")
        );
        assert_eq!(
            cg.read("blkio", "blkio.throttle.write_iops_device"),
            format!("{dev} 400")
        );
        cg.apply(r#"{"memory":{"swappiness":10,"kernelTCP":16777216,"disableOOMKiller":true}}"#)
            .unwrap();
        assert_eq!(cg.read("memory", "memory.swappiness"), "10");
        assert_eq!(
            cg.read("memory", "memory.kmem.tcp.limit_in_bytes"),
            "16777216"
        );
        assert!(cg
            .read("memory", "memory.oom_control")
            .contains("oom_kill_disable 1"));
        cg.apply(r#"{"cpu":{"realtimePeriod":100000,"realtimeRuntime":1000}}"#)
            .unwrap();
        assert_eq!(cg.read("cpu", "cpu.rt_period_us"), "100000");
        assert_eq!(cg.read("cpu", "cpu.rt_runtime_us"), "1000");
        cg.apply(r#"{"cpu":{"idle":1}}"#).unwrap();
        assert_eq!(cg.read("cpu", "cpu.idle"), "1");
        cg.apply(
            r#"{"devices":[{"allow":false,"access":"rwm"},
                           {"allow":true,"type":"c","major":1,"minor":3,"access":"rw"},
                           {"allow":true,"type":"b","major":7,"access":"r"}]}"#,
        )
        .unwrap();
        assert_eq!(cg.read("devices", "devices.list"), "c 1:3 rw\nb 7:* r");
        // v1 cannot take v2 key/value pairs.
        let e = cg.apply(r#"{"unified":{"memory.high":"1"}}"#).unwrap_err();
        assert!(e.to_string().contains("unified"), "{e}");
    }
}

#[test]
fn unhonourable_resources_name_the_file() {
    let cg = Cg::new();
    if !v2() && !Path::new("/sys/fs/cgroup/net_cls").exists() {
        let e = cg.apply(r#"{"network":{"classID":1048577}}"#).unwrap_err();
        assert!(e.to_string().contains("net_cls.classid"), "{e}");
    }
    if !v2()
        && !cg.dir("blkio").join("blkio.weight").exists()
        && !cg.dir("blkio").join("blkio.bfq.weight").exists()
    {
        let e = cg.apply(r#"{"blockIO":{"weight":500}}"#).unwrap_err();
        assert!(e.to_string().contains("blkio.weight"), "{e}");
    }
    let e = cg
        .apply(r#"{"hugepageLimits":[{"pageSize":"3MB","limit":1}]}"#)
        .unwrap_err();
    assert!(e.to_string().contains("3MB"), "{e}");
}

#[test]
fn update_keeps_omitted_fields() {
    let cg = Cg::new();
    cg.apply(r#"{"memory":{"limit":67108864},"cpu":{"quota":50000,"period":100000},"pids":{"limit":20}}"#)
        .unwrap();
    cg.update(r#"{"cpu":{"quota":20000}}"#).unwrap();
    cg.update(r#"{"pids":{"limit":30}}"#).unwrap();
    if v2() {
        assert_eq!(cg.read("", "cpu.max"), "20000 100000");
        assert_eq!(cg.read("", "memory.max"), "67108864");
        cg.update(r#"{"cpu":{"period":200000}}"#).unwrap();
        assert_eq!(cg.read("", "cpu.max"), "20000 200000");
        // A lone swap total is relative to the memory limit in force.
        cg.update(r#"{"memory":{"swap":100663296}}"#).unwrap();
        assert_eq!(cg.read("", "memory.swap.max"), "33554432");
    } else {
        assert_eq!(cg.read("cpu", "cpu.cfs_quota_us"), "20000");
        assert_eq!(cg.read("cpu", "cpu.cfs_period_us"), "100000");
        assert_eq!(cg.read("memory", "memory.limit_in_bytes"), "67108864");
        // Growing the limit above memsw: memsw is raised first.
        if cg
            .dir("memory")
            .join("memory.memsw.limit_in_bytes")
            .exists()
        {
            cg.update(r#"{"memory":{"limit":100663296,"swap":134217728}}"#)
                .unwrap();
            cg.update(r#"{"memory":{"limit":201326592,"swap":268435456}}"#)
                .unwrap();
            assert_eq!(cg.read("memory", "memory.limit_in_bytes"), "201326592");
            assert_eq!(
                cg.read("memory", "memory.memsw.limit_in_bytes"),
                "268435456"
            );
        }
    }
    assert_eq!(cg.read("pids", "pids.max"), "30");
    // Only the sections given (what the CLI's per-field flags make).
    let only: oci_spec::runtime::LinuxResources =
        serde_json::from_str(r#"{"memory":{"limit":33554432},"pids":{"limit":-1}}"#).unwrap();
    cg.m.update(&only).unwrap();
    assert_eq!(cg.read("pids", "pids.max"), "max");
    let mem = if v2() {
        ("", "memory.max")
    } else {
        ("memory", "memory.limit_in_bytes")
    };
    assert_eq!(cg.read(mem.0, mem.1), "33554432");
}

#[test]
fn bad_input_changes_nothing() {
    let cg = Cg::new();
    cg.apply(r#"{"pids":{"limit":20},"cpu":{"cpus":"0"}}"#)
        .unwrap();
    let before = (
        cg.read("pids", "pids.max"),
        cg.read("cpuset", "cpuset.cpus"),
    );
    for bad in [
        r#"{"pids":{"limit":5},"memory":{"limit":-5}}"#,
        r#"{"pids":{"limit":5},"cpu":{"cpus":"zero"}}"#,
        r#"{"pids":{"limit":5},"cpu":{"cpus":"1-0"}}"#,
        r#"{"pids":{"limit":5},"cpu":{"quota":-7}}"#,
        r#"{"pids":{"limit":-3}}"#,
        r#"{"pids":{"limit":5},"devices":[{"allow":true,"type":"p","access":"rw"}]}"#,
        // runc drops letters other than r, w, m ("rwx" is "rw"): only none of them is bad.
        r#"{"pids":{"limit":5},"devices":[{"allow":true,"type":"c","access":"xa"}]}"#,
        r#"{"pids":{"limit":5},"hugepageLimits":[{"pageSize":"2XB","limit":1}]}"#,
        r#"{"pids":{"limit":5},"unified":{"../x":"1"}}"#,
        r#"{"pids":{"limit":5},"memory":{"limit":100,"swap":50}}"#,
    ] {
        let e = cg.apply(bad).unwrap_err();
        assert!(
            matches!(e, cgroups::CgroupError::InvalidResource { .. }),
            "{bad}: {e}"
        );
        assert_eq!(
            (
                cg.read("pids", "pids.max"),
                cg.read("cpuset", "cpuset.cpus")
            ),
            before,
            "{bad} changed something"
        );
    }
    // A device type serde cannot even parse never reaches us.
    assert!(
        serde_json::from_str::<LinuxResources>(r#"{"devices":[{"allow":true,"type":"x"}]}"#)
            .is_err()
    );
}

#[test]
fn freeze_thaw_pids_and_kill_all() {
    let mut cg = Cg::new();
    let a = cg.spawn(Child::Pause);
    let b = cg.spawn(Child::Pause);
    // The children join asynchronously: poll (bounded) until both are in.
    let mut pids = Vec::new();
    for _ in 0..1000 {
        pids = cg.m.pids().unwrap();
        if pids.len() == 2 {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(2));
    }
    assert_eq!(pids, {
        let mut v = vec![a, b];
        v.sort();
        v
    });
    assert!(!cg.m.is_frozen().unwrap());
    cg.m.freeze().unwrap();
    assert!(cg.m.is_frozen().unwrap());
    if v2() {
        assert!(cg.read("", "cgroup.events").contains("frozen 1"));
    } else {
        assert_eq!(cg.read("freezer", "freezer.state"), "FROZEN");
    }
    let st = std::fs::read_to_string(format!("/proc/{a}/stat")).unwrap();
    assert!(st.contains(") S ") || st.contains(") D "), "{st}");
    cg.m.thaw().unwrap();
    assert!(!cg.m.is_frozen().unwrap());
    let s = cg.m.stats().unwrap();
    assert_eq!(s.pids.current, 2);
    let j = serde_json::to_value(&s).unwrap();
    // The children ran: cpu time is accounted to the cgroup (memory charged before they
    // joined stays where it was, so memory usage can be 0 here).
    assert!(s.cpu.usage.total > 0, "{j}");
    assert!(j["memory"]["usage"].get("limit").is_some(), "{j}");
    // SIGTERM through the freeze -> signal -> thaw path, then SIGKILL through cgroup.kill
    // on v2.
    cg.m.kill_all(libc::SIGTERM).unwrap();
    for p in [a, b] {
        let st = cg.wait(p);
        assert!(libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGTERM);
    }
    let c = cg.spawn(Child::Pause);
    // The child joins the cgroup asynchronously: poll (bounded) until it is in.
    for _ in 0..2000 {
        if cg.m.pids().unwrap().contains(&c) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    cg.m.kill_all(libc::SIGKILL).unwrap();
    let st = cg.wait(c);
    assert!(libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL);
    assert!(cg.m.pids().unwrap().is_empty());
}

#[test]
fn memory_limit_oom_kills() {
    let mut cg = Cg::new();
    let swap = if v2() { r#","swap":33554432"# } else { "" };
    cg.apply(&format!(r#"{{"memory":{{"limit":33554432{swap}}}}}"#))
        .unwrap();
    if !v2()
        && cg
            .dir("memory")
            .join("memory.memsw.limit_in_bytes")
            .exists()
    {
        cg.apply(r#"{"memory":{"limit":33554432,"swap":33554432}}"#)
            .unwrap();
    }
    let p = cg.spawn(Child::Alloc(128 << 20));
    let st = cg.wait(p);
    assert!(
        libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL,
        "allocating 128M under a 32M limit ended with status {st:#x}"
    );
    let small = cg.spawn(Child::Alloc(4 << 20));
    assert_eq!(cg.wait(small), 0, "a small allocation fits");
}

#[test]
fn pids_limit_stops_a_fork_bomb() {
    let mut cg = Cg::new();
    cg.apply(r#"{"pids":{"limit":8}}"#).unwrap();
    let p = cg.spawn(Child::ForkBomb);
    let st = cg.wait(p);
    assert!(libc::WIFEXITED(st), "{st:#x}");
    let forked = libc::WEXITSTATUS(st);
    assert!(forked < 8, "forked {forked} children under pids.max=8");
    assert!(forked >= 1, "the limit is not that low");
    // Drop kills the paused children via kill_all.
}

#[test]
fn device_rules_deny_a_device() {
    let mut cg = Cg::new();
    cg.apply(
        r#"{"devices":[{"allow":false,"access":"rwm"},
                       {"allow":true,"type":"c","major":1,"minor":5,"access":"rwm"}]}"#,
    )
    .unwrap();
    let denied = cg.spawn(Child::Open("/dev/null".into()));
    assert_eq!(
        libc::WEXITSTATUS(cg.wait(denied)),
        libc::EPERM,
        "/dev/null must be denied"
    );
    let allowed = cg.spawn(Child::Open("/dev/zero".into()));
    assert_eq!(cg.wait(allowed), 0, "/dev/zero must be allowed");
    // Re-applying replaces the program (v2) or the list (v1): now /dev/null is allowed.
    cg.apply(r#"{"devices":[{"allow":true,"type":"c","major":1,"minor":3,"access":"rw"}]}"#)
        .unwrap();
    let now = cg.spawn(Child::Open("/dev/null".into()));
    assert_eq!(cg.wait(now), 0, "/dev/null allowed after the update");
}

#[test]
fn sigkill_reaches_a_frozen_cgroup() {
    let mut cg = Cg::new();
    let p = cg.spawn(Child::Pause);
    // The child joins the cgroup asynchronously: poll (bounded) until it is in.
    for _ in 0..2000 {
        if cg.m.pids().unwrap().contains(&p) {
            break;
        }
        std::thread::sleep(std::time::Duration::from_millis(1));
    }
    cg.m.freeze().unwrap();
    cg.m.kill_all(libc::SIGKILL).unwrap();
    let st = cg.wait(p);
    assert!(libc::WIFSIGNALED(st) && libc::WTERMSIG(st) == libc::SIGKILL);
    assert!(cg.m.pids().unwrap().is_empty());
}
