//! linux.intelRdt against a fake resctrl tree: a tmpfs laid out like /sys/fs/resctrl (this
//! machine has no RDT hardware, so no real resctrl mount). What the fake cannot show is the
//! kernel's side: that the CPU's cache and bandwidth masks follow the group.

use std::path::{Path, PathBuf};

use oci_spec::runtime::LinuxIntelRdt;
use runtime_core::intel_rdt::{resctrl_root, Plan};

/// A tmpfs with a resctrl-like root, unmounted on drop.
struct FakeResctrl {
    root: PathBuf,
}

impl FakeResctrl {
    fn new(name: &str, monitoring: bool) -> FakeResctrl {
        let root =
            std::env::temp_dir().join(format!("baleia-resctrl-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&root).unwrap();
        let st = std::process::Command::new("mount")
            .args(["-t", "tmpfs", "-o", "size=1m", "tmpfs"])
            .arg(&root)
            .status()
            .unwrap();
        assert!(st.success(), "mount a tmpfs (the tests run as root)");
        std::fs::write(root.join("schemata"), "    L3:0=fff\n    MB:0=100\n").unwrap();
        std::fs::write(root.join("tasks"), "").unwrap();
        std::fs::create_dir_all(root.join("info/L3")).unwrap();
        std::fs::write(root.join("info/last_cmd_status"), "ok\n").unwrap();
        if monitoring {
            std::fs::create_dir_all(root.join("info/L3_MON")).unwrap();
            std::fs::create_dir_all(root.join("mon_groups")).unwrap();
        }
        FakeResctrl { root }
    }

    /// A closID group that exists already (made by someone else), with its schemata.
    fn group(&self, name: &str, schemata: &str) -> PathBuf {
        let d = self.root.join(name);
        std::fs::create_dir(&d).unwrap();
        std::fs::write(d.join("schemata"), schemata).unwrap();
        std::fs::write(d.join("tasks"), "").unwrap();
        d
    }
}

impl Drop for FakeResctrl {
    fn drop(&mut self) {
        let _ = std::process::Command::new("umount")
            .arg(&self.root)
            .status();
        let _ = std::fs::remove_dir(&self.root);
    }
}

fn rdt(json: &str) -> LinuxIntelRdt {
    serde_json::from_str(json).unwrap()
}

fn read(p: &Path) -> String {
    std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{}: {e}", p.display()))
}

#[test]
fn own_group_gets_the_schemata_and_the_pid_and_goes_on_delete() {
    let f = FakeResctrl::new("own", false);
    let plan = Plan::new(
        &rdt(r#"{"l3CacheSchema":"L3:0=f0","memBwSchema":"MB:0=50","schemata":["L3:0=0f"]}"#),
        "ctr1",
        &f.root,
    )
    .unwrap();
    let g = plan.apply(4242).unwrap();
    assert_eq!(g.clos, f.root.join("ctr1"));
    assert!(g.own_clos && g.mon.is_none());
    // l3CacheSchema, memBwSchema, then the schemata lines, which win (resctrl applies them
    // in order).
    assert_eq!(
        read(&g.clos.join("schemata")),
        "L3:0=f0\nMB:0=50\nL3:0=0f\n"
    );
    assert_eq!(read(&g.clos.join("tasks")), "4242");
    g.add(4343).unwrap();
    assert_eq!(read(&g.clos.join("tasks")), "4343");
    g.remove().unwrap();
    assert!(!g.clos.exists());
}

#[test]
fn shared_closid_is_used_as_it_is_and_kept() {
    let f = FakeResctrl::new("shared", false);
    let gold = f.group("gold", "    L3:0=0ff\n    MB:0=100\n");
    let plan = Plan::new(
        &rdt(r#"{"closID":"gold","l3CacheSchema":"L3:0=ff"}"#),
        "c2",
        &f.root,
    )
    .unwrap();
    let g = plan.apply(77).unwrap();
    assert_eq!(g.clos, gold);
    assert!(!g.own_clos);
    assert_eq!(
        read(&gold.join("schemata")),
        "    L3:0=0ff\n    MB:0=100\n",
        "not rewritten"
    );
    assert_eq!(read(&gold.join("tasks")), "77");
    assert!(
        g.update(&["L3:0=1".into()]).is_err(),
        "a shared group is not updated"
    );
    g.remove().unwrap();
    assert!(gold.exists(), "a shared group stays after delete");
    // Another schema than the group has is an error naming the group, before anything is done.
    let e = Plan::new(
        &rdt(r#"{"closID":"gold","l3CacheSchema":"L3:0=3"}"#),
        "c3",
        &f.root,
    )
    .unwrap_err()
    .to_string();
    assert!(e.contains("gold") && e.contains("L3:0=3"), "{e}");
}

#[test]
fn monitoring_makes_a_mon_group_for_the_container() {
    let f = FakeResctrl::new("mon", true);
    let plan = Plan::new(&rdt(r#"{"enableMonitoring":true}"#), "c4", &f.root).unwrap();
    let g = plan.apply(99).unwrap();
    let mon = f.root.join("c4/mon_groups/c4");
    assert_eq!(g.mon.as_deref(), Some(mon.as_path()));
    assert_eq!(read(&mon.join("tasks")), "99");
    g.remove().unwrap();
    assert!(!mon.exists() && !f.root.join("c4").exists());
    // No monitoring in this resctrl: a clear error.
    let f = FakeResctrl::new("nomon", false);
    let e = Plan::new(&rdt(r#"{"enableMonitoring":true}"#), "c5", &f.root)
        .unwrap_err()
        .to_string();
    assert!(
        e.contains("enableMonitoring") && e.contains("L3_MON"),
        "{e}"
    );
}

#[test]
fn bad_values_are_errors_naming_the_field() {
    let f = FakeResctrl::new("bad", false);
    for (json, want) in [
        (r#"{"closID":"../x"}"#, "closID"),
        (r#"{"closID":"."}"#, "closID"),
        (r#"{"l3CacheSchema":"fff"}"#, "l3CacheSchema"),
        (r#"{"schemata":["nocolon"]}"#, "schemata"),
    ] {
        let e = Plan::new(&rdt(json), "c6", &f.root)
            .unwrap_err()
            .to_string();
        assert!(e.contains(want), "{json}: {e}");
    }
    assert!(
        std::fs::read_dir(&f.root).unwrap().count() == 3,
        "nothing made"
    );
}

#[test]
fn without_resctrl_the_error_says_what_is_missing() {
    let mounted = std::fs::read_to_string("/proc/self/mountinfo")
        .unwrap()
        .lines()
        .any(|l| l.contains(" - resctrl "));
    match resctrl_root() {
        Ok(r) => assert!(mounted, "found {} without a resctrl mount", r.display()),
        Err(e) => {
            assert!(!mounted);
            assert!(
                e.to_string().contains("resctrl filesystem is not mounted"),
                "{e}"
            );
        }
    }
}
