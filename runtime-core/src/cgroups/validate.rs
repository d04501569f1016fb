//! Checks a whole LinuxResources before anything is written, so that bad input changes
//! nothing (the kernel would reject some values only after earlier files were written).

use super::CgroupError;
use oci_spec::runtime::{LinuxDeviceType, LinuxResources};

fn bad(field: impl Into<String>, reason: impl Into<String>) -> CgroupError {
    CgroupError::InvalidResource {
        field: field.into(),
        reason: reason.into(),
    }
}

/// A byte or count limit: -1 means unlimited, 0 means "not set" in runc, others must be
/// positive.
fn limit(field: &str, v: Option<i64>) -> Result<(), CgroupError> {
    match v {
        Some(x) if x < -1 => Err(bad(
            field,
            format!("{x} is negative (only -1, unlimited, is allowed)"),
        )),
        _ => Ok(()),
    }
}

/// The r, w and m of a device rule's access string, each once, in that order: what the kernel
/// is given (it refuses any other letter).
pub(crate) fn device_access(a: &str) -> String {
    "rwm".chars().filter(|c| a.contains(*c)).collect()
}

/// A cpuset list: "0-3,5,7-8".
pub(crate) fn cpuset_list(field: &str, s: &str) -> Result<(), CgroupError> {
    if s.is_empty() {
        return Ok(());
    }
    for part in s.trim().split(',') {
        let (a, b) = part.split_once('-').unwrap_or((part, part));
        let a: u32 = a
            .trim()
            .parse()
            .map_err(|_| bad(field, format!("{s:?} is not a cpu/node list")))?;
        let b: u32 = b
            .trim()
            .parse()
            .map_err(|_| bad(field, format!("{s:?} is not a cpu/node list")))?;
        if a > b {
            return Err(bad(field, format!("{s:?}: range {a}-{b} is reversed")));
        }
    }
    Ok(())
}

/// "2MB", "1GB", "64KB": the names the kernel gives hugetlb files.
fn page_size(field: &str, s: &str) -> Result<(), CgroupError> {
    let digits: String = s.chars().take_while(char::is_ascii_digit).collect();
    let unit = &s[digits.len()..];
    if digits.is_empty() || !matches!(unit, "KB" | "MB" | "GB" | "TB") {
        return Err(bad(
            field,
            format!("{s:?} is not a page size like 2MB or 1GB"),
        ));
    }
    Ok(())
}

/// Validates every field that can be checked without knowing the host (the managers check
/// again with the host's version: `unified` is refused on v1 there).
///
/// ```
/// use runtime_core::cgroups::validate_resources;
/// let r: oci_spec::runtime::LinuxResources =
///     serde_json::from_str(r#"{"memory":{"limit":-5}}"#).unwrap();
/// assert!(validate_resources(&r).is_err());
/// ```
pub fn validate_resources(r: &LinuxResources) -> Result<(), CgroupError> {
    validate(r, true)?;
    // Said once here, at the entry point, not by every later validation of the same rules.
    for (i, d) in r.devices().iter().flatten().enumerate() {
        if let Some(a) = d.access() {
            if a.chars().any(|c| !matches!(c, 'r' | 'w' | 'm')) {
                log::warn!(
                    "devices[{i}].access {a:?}: ignoring the letters other than r, w, m (using {:?})",
                    device_access(a)
                );
            }
        }
    }
    Ok(())
}

/// Validates every field; `v2` selects the rules of that version (`unified` only on v2).
pub(crate) fn validate(r: &LinuxResources, v2: bool) -> Result<(), CgroupError> {
    if let Some(m) = r.memory() {
        limit("memory.limit", m.limit())?;
        limit("memory.reservation", m.reservation())?;
        limit("memory.swap", m.swap())?;
        limit("memory.kernel", m.kernel())?;
        limit("memory.kernelTCP", m.kernel_tcp())?;
        if let Some(s) = m.swappiness() {
            if s > 100 {
                return Err(bad("memory.swappiness", format!("{s} is above 100")));
            }
        }
        if let (Some(l), Some(s)) = (m.limit(), m.swap()) {
            if l > 0 && s > 0 && s < l {
                return Err(bad(
                    "memory.swap",
                    format!("memory+swap limit {s} is below the memory limit {l}"),
                ));
            }
        }
    }
    if let Some(c) = r.cpu() {
        limit("cpu.quota", c.quota())?;
        limit("cpu.realtimeRuntime", c.realtime_runtime())?;
        if let Some(s) = c.shares() {
            if s != 0 && !(2..=262144).contains(&s) {
                return Err(bad("cpu.shares", format!("{s} is outside 2..262144")));
            }
        }
        if let Some(p) = c.period() {
            if p != 0 && !(1000..=1_000_000).contains(&p) {
                return Err(bad(
                    "cpu.period",
                    format!("{p} is outside 1000..1000000 (µs)"),
                ));
            }
        }
        if let Some(q) = c.quota() {
            if q > 0 && q < 1000 {
                return Err(bad("cpu.quota", format!("{q} is below 1000 µs")));
            }
        }
        if let Some(i) = c.idle() {
            if !(0..=1).contains(&i) {
                return Err(bad("cpu.idle", format!("{i} is not 0 or 1")));
            }
        }
        if let Some(s) = c.cpus() {
            cpuset_list("cpu.cpus", s)?;
        }
        if let Some(s) = c.mems() {
            cpuset_list("cpu.mems", s)?;
        }
    }
    if let Some(p) = r.pids() {
        limit("pids.limit", Some(p.limit()))?;
    }
    if let Some(b) = r.block_io() {
        let w = |f: &str, v: Option<u16>| match v {
            Some(x) if x != 0 && !(10..=1000).contains(&x) => {
                Err(bad(f, format!("{x} is outside 10..1000")))
            }
            _ => Ok(()),
        };
        w("blockIO.weight", b.weight())?;
        w("blockIO.leafWeight", b.leaf_weight())?;
        for (i, d) in b.weight_device().iter().flatten().enumerate() {
            w(&format!("blockIO.weightDevice[{i}].weight"), d.weight())?;
            w(
                &format!("blockIO.weightDevice[{i}].leafWeight"),
                d.leaf_weight(),
            )?;
            if d.major() < 0 || d.minor() < 0 {
                return Err(bad(
                    format!("blockIO.weightDevice[{i}]"),
                    "negative device number",
                ));
            }
        }
        for (name, list) in [
            ("throttleReadBpsDevice", b.throttle_read_bps_device()),
            ("throttleWriteBpsDevice", b.throttle_write_bps_device()),
            ("throttleReadIOPSDevice", b.throttle_read_iops_device()),
            ("throttleWriteIOPSDevice", b.throttle_write_iops_device()),
        ] {
            for (i, d) in list.iter().flatten().enumerate() {
                if d.major() < 0 || d.minor() < 0 {
                    return Err(bad(
                        format!("blockIO.{name}[{i}]"),
                        "negative device number",
                    ));
                }
            }
        }
    }
    for (i, h) in r.hugepage_limits().iter().flatten().enumerate() {
        page_size(&format!("hugepageLimits[{i}].pageSize"), h.page_size())?;
        if h.limit() < -1 {
            return Err(bad(
                format!("hugepageLimits[{i}].limit"),
                format!("{} is negative", h.limit()),
            ));
        }
    }
    for (i, d) in r.devices().iter().flatten().enumerate() {
        let f = format!("devices[{i}]");
        if let Some(t) = d.typ() {
            if matches!(t, LinuxDeviceType::U | LinuxDeviceType::P) {
                return Err(bad(
                    format!("{f}.type"),
                    format!(
                        "{:?} cannot be a device cgroup rule (only a, b, c)",
                        t.as_str()
                    ),
                ));
            }
        }
        if let Some(a) = d.access() {
            // runc keeps the r, w and m of an access string and drops any other letter
            // ("rwa" is "rw"); with none of the three left there is nothing to grant.
            if device_access(a).is_empty() {
                return Err(bad(
                    format!("{f}.access"),
                    format!("{a:?} has none of r, w, m"),
                ));
            }
        }
        for (n, v) in [("major", d.major()), ("minor", d.minor())] {
            if matches!(v, Some(x) if x < -1) {
                return Err(bad(format!("{f}.{n}"), "negative device number"));
            }
        }
    }
    if let Some(u) = r.unified() {
        if !u.is_empty() && !v2 {
            return Err(bad(
                "unified",
                "cgroup v2 key/value resources cannot be set on a cgroup v1 host",
            ));
        }
        for k in u.keys() {
            if k.contains('/') || k.starts_with('.') || !k.contains('.') {
                return Err(bad(format!("unified[{k:?}]"), "not a cgroup file name"));
            }
            if k.starts_with("cgroup.") && k != "cgroup.freeze" {
                // runc only lets cgroup.* core files through when they are limits; writing
                // cgroup.procs or subtree_control from a spec would change membership.
                if !matches!(k.as_str(), "cgroup.max.depth" | "cgroup.max.descendants") {
                    return Err(bad(
                        format!("unified[{k:?}]"),
                        "core cgroup files are not resources",
                    ));
                }
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn devices(access: &str) -> LinuxResources {
        serde_json::from_value(serde_json::json!({"devices": [
            {"allow": true, "type": "c", "major": 1, "minor": 11, "access": access}
        ]}))
        .unwrap()
    }

    #[test]
    fn device_access_keeps_r_w_m_and_drops_other_letters_as_runc() {
        assert_eq!(device_access("rwa"), "rw");
        assert_eq!(device_access("mwr"), "rwm");
        assert_eq!(device_access("m"), "m");
        assert!(validate(&devices("rwa"), false).is_ok());
        assert!(validate(&devices("rwm"), false).is_ok());
        for bad in ["", "x", "RW"] {
            let e = validate(&devices(bad), false).unwrap_err().to_string();
            assert!(e.contains("devices[0].access"), "{bad:?}: {e}");
        }
        let d: oci_spec::runtime::LinuxDeviceCgroup = serde_json::from_value(
            serde_json::json!({"allow": true, "type": "c", "major": 1, "minor": 11, "access": "rwa"}),
        )
        .unwrap();
        assert_eq!(super::super::v1::device_rule_v1(&d), "c 1:11 rw");
    }
}
