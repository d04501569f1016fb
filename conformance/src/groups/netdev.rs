//! `linux.netDevices` (runtime-spec 1.3): interfaces of the runtime's network namespace moved
//! into the container's, renamed, up; back (down, under their own name) when the container is
//! deleted, as runc 1.3 does. Every test runs the runtime in a network namespace of its own
//! with veth interfaces it makes there: the machine's own interfaces are never touched.
//! runc 1.1.5 and crun 1.8 predate the field.

use crate::harness::{check, fail, skip, Ctx, Test, TestResult, Verdict};
use serde_json::{json, Value};

const L: &str = "linux";

/// The test's namespace with interfaces `names` in it (one end of a veth pair each, the
/// other `<name>p`: kernels without the dummy driver all have veth); returns its name.
fn with_dummies(c: &mut Ctx, names: &[&str]) -> Result<String, Verdict> {
    let ns = c.own_netns()?;
    for n in names {
        let peer = format!("{n}p");
        c.ip(&[
            "-n", &ns, "link", "add", n, "type", "veth", "peer", "name", &peer,
        ])
        .map_err(|e| skip(format!("cannot make a veth pair: {e}")))?;
    }
    Ok(ns)
}

/// The `ip -o link` line of `dev` in namespace `ns`, if it is there.
fn link_in(c: &Ctx, ns: &str, dev: &str) -> Option<String> {
    c.ip(&["-n", ns, "-o", "link", "show", "dev", dev]).ok()
}

fn net_cfg(c: &mut Ctx, devices: Value, look: &str) -> Value {
    let flags = format!("/sys/class/net/{look}/flags");
    let mut cfg = c.spec(&["--ls", "/sys/class/net", "--read", &flags]);
    cfg["linux"]["netDevices"] = devices;
    cfg
}

fn entries(f: &Value) -> Vec<String> {
    serde_json::from_value(f["ls"]["/sys/class/net"]["entries"].clone()).unwrap_or_default()
}

/// `dev` is in the container (`facts`), up, and gone from the runtime's namespace.
fn inside_and_up(c: &Ctx, ns: &str, facts: &Value, dev: &str, host: &str) -> TestResult {
    let seen = entries(facts);
    check(
        seen.iter().any(|e| e == dev),
        format!("{dev} among the container's interfaces"),
        format!("{seen:?}"),
    )?;
    let flags = &facts["read"][format!("/sys/class/net/{dev}/flags")];
    let v = flags["content"]
        .as_str()
        .and_then(|s| u64::from_str_radix(s.trim().trim_start_matches("0x"), 16).ok());
    check(
        v.is_some_and(|v| v & 1 == 1),
        format!("{dev} up (IFF_UP in its flags)"),
        flags,
    )?;
    check(
        link_in(c, ns, host).is_none(),
        format!("{host} gone from the runtime's namespace while the container runs"),
        link_in(c, ns, host).unwrap_or_default(),
    )
}

/// After `delete --force`, `host` is back in the runtime's namespace, down.
fn back_and_down(c: &mut Ctx, ns: &str, id: &str, host: &str) -> TestResult {
    let o = c.cmd(&["delete", "--force", id])?;
    check(o.ok(), "delete --force to succeed", o.summary())?;
    let line = link_in(c, ns, host)
        .ok_or_else(|| fail(format!("{host} back in the runtime's namespace"), "absent"))?;
    let flags = line
        .split_once('<')
        .and_then(|(_, r)| r.split_once('>'))
        .map(|(f, _)| f.split(',').map(str::to_string).collect::<Vec<_>>())
        .unwrap_or_default();
    check(
        !flags.iter().any(|f| f == "UP"),
        format!("{host} down once back"),
        line.trim(),
    )
}

fn moved(c: &mut Ctx) -> TestResult {
    let ns = with_dummies(c, &["bcnd0"])?;
    let cfg = net_cfg(c, json!({"bcnd0": {}}), "bcnd0");
    let ctr = c.running(cfg)?;
    inside_and_up(c, &ns, &ctr.facts, "bcnd0", "bcnd0")?;
    back_and_down(c, &ns, &ctr.id, "bcnd0")
}

fn renamed(c: &mut Ctx) -> TestResult {
    let ns = with_dummies(c, &["bcnd1"])?;
    let cfg = net_cfg(c, json!({"bcnd1": {"name": "eth7"}}), "eth7");
    let ctr = c.running(cfg)?;
    inside_and_up(c, &ns, &ctr.facts, "eth7", "bcnd1")?;
    let seen = entries(&ctr.facts);
    check(
        !seen.iter().any(|e| e == "bcnd1"),
        "no bcnd1 in the container (renamed eth7)",
        format!("{seen:?}"),
    )?;
    back_and_down(c, &ns, &ctr.id, "bcnd1")?;
    check(
        link_in(c, &ns, "eth7").is_none(),
        "no eth7 left in the runtime's namespace (the host name again)",
        link_in(c, &ns, "eth7").unwrap_or_default(),
    )
}

/// A create that must fail naming `reason`, leaving `kept` where it was and no container.
fn fails_keeping(c: &mut Ctx, devices: Value, reason: &str, kept: &str) -> TestResult {
    let ns = with_dummies(c, &[kept])?;
    let cfg = net_cfg(c, devices, kept);
    let out = c.create_fails(&cfg, &[&[reason]])?;
    check(
        link_in(c, &ns, kept).is_some(),
        format!("{kept} still in the runtime's namespace after the failed create"),
        "absent",
    )?;
    let id = out
        .argv
        .split_whitespace()
        .last()
        .unwrap_or_default()
        .to_string();
    let o = c.cmd(&["state", &id])?;
    check(
        !o.ok(),
        format!("no container {id} left by the failed create"),
        o.summary(),
    )
}

fn missing_fails(c: &mut Ctx) -> TestResult {
    // runc: "... no such network interface" naming it; here "no network interface "bcnd-none"".
    fails_keeping(
        c,
        json!({"bcnd2": {}, "bcnd-none": {}}),
        "bcnd-none",
        "bcnd2",
    )
}

fn bad_name_fails(c: &mut Ctx) -> TestResult {
    fails_keeping(c, json!({"bcnd3": {"name": "a/b"}}), "a/b", "bcnd3")
}

fn f_net_devices(c: &mut Ctx) -> TestResult {
    let o = c.cmd(&["features"])?;
    check(o.ok(), "features to succeed", o.summary())?;
    let v: Value = serde_json::from_str(&o.stdout).map_err(|_| {
        fail(
            "features JSON",
            o.stdout.chars().take(200).collect::<String>(),
        )
    })?;
    check(
        v["linux"]["netDevices"]["enabled"] == json!(true),
        "linux.netDevices.enabled true",
        &v["linux"]["netDevices"],
    )
}

/// The tests of this group.
pub fn tests() -> Vec<Test> {
    vec![
        Test::new(
            L,
            "net-device",
            "config-linux.md netDevices: moved into the container's namespace and up; back on delete",
            moved,
        ),
        Test::new(
            L,
            "net-device-renamed",
            "config-linux.md netDevices name: the device's name in the container",
            renamed,
        ),
        Test::new(
            L,
            "net-device-missing-fails",
            "config-linux.md netDevices: the runtime MUST generate an error if the device cannot be moved",
            missing_fails,
        ),
        Test::new(
            L,
            "net-device-bad-name-fails",
            "config-linux.md netDevices name: a valid interface name",
            bad_name_fails,
        ),
        Test::new(
            "features",
            "net-devices",
            "features-linux.md netDevices.enabled",
            f_net_devices,
        ),
    ]
}
