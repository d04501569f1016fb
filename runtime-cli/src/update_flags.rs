//! What `baleia update`'s per-field flags need: runc's flag set, parsed into a
//! LinuxResources that holds only the fields given (omitted ones stay as they are). A
//! command-line concern: the library takes the LinuxResources.

use oci_spec::runtime::{LinuxBlockIo, LinuxCpu, LinuxMemory, LinuxPids, LinuxResources};
use runtime_core::Error;

/// The words of the library's own resource validation (`cgroup: invalid ...`).
fn bad(field: &str, reason: String) -> Error {
    Error::invalid_field(field, format!("cgroup: invalid {field}: {reason}"))
}

/// Parses a size as runc's update flags do (docker's RAMInBytes): a number with an optional
/// binary suffix b, k, m, g, t, p (case-insensitive, optional trailing "b" or "ib"); "-1"
/// means unlimited.
fn parse_bytes(s: &str) -> Result<i64, Error> {
    let t = s.trim();
    if t == "-1" {
        return Ok(-1);
    }
    let lower = t.to_ascii_lowercase();
    let num_end = lower
        .find(|c: char| !(c.is_ascii_digit() || c == '.'))
        .unwrap_or(lower.len());
    let (num, unit) = lower.split_at(num_end);
    let n: f64 = num
        .parse()
        .map_err(|_| bad("size", format!("{s:?} is not a size like 512m or 1g")))?;
    let unit = unit.trim_end_matches("ib").trim_end_matches('b');
    let mult: f64 = match unit {
        "" => 1.0,
        "k" => 1024.0,
        "m" => 1024.0 * 1024.0,
        "g" => 1024.0 * 1024.0 * 1024.0,
        "t" => 1024f64.powi(4),
        "p" => 1024f64.powi(5),
        _ => return Err(bad("size", format!("{s:?} has an unknown unit"))),
    };
    let v = n * mult;
    if !v.is_finite() || v > i64::MAX as f64 {
        return Err(bad("size", format!("{s:?} is too large")));
    }
    Ok(v as i64)
}

/// runc `update`'s per-field flags, as strings from the command line (`None` = not given).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct UpdateFlags {
    /// --blkio-weight
    pub blkio_weight: Option<String>,
    /// --cpu-period
    pub cpu_period: Option<String>,
    /// --cpu-quota
    pub cpu_quota: Option<String>,
    /// --cpu-burst
    pub cpu_burst: Option<String>,
    /// --cpu-share
    pub cpu_share: Option<String>,
    /// --cpu-rt-period
    pub cpu_rt_period: Option<String>,
    /// --cpu-rt-runtime
    pub cpu_rt_runtime: Option<String>,
    /// --cpuset-cpus
    pub cpuset_cpus: Option<String>,
    /// --cpuset-mems
    pub cpuset_mems: Option<String>,
    /// --kernel-memory (accepted and ignored where the kernel ignores it)
    pub kernel_memory: Option<String>,
    /// --kernel-memory-tcp
    pub kernel_memory_tcp: Option<String>,
    /// --memory
    pub memory: Option<String>,
    /// --memory-reservation
    pub memory_reservation: Option<String>,
    /// --memory-swap
    pub memory_swap: Option<String>,
    /// --pids-limit
    pub pids_limit: Option<String>,
}

fn num<T: std::str::FromStr>(field: &str, v: &Option<String>) -> Result<Option<T>, Error> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => s
            .parse()
            .map(Some)
            .map_err(|_| bad(field, format!("{s:?} is not a valid number"))),
    }
}

fn bytes(v: &Option<String>) -> Result<Option<i64>, Error> {
    match v.as_deref().map(str::trim) {
        None | Some("") => Ok(None),
        Some(s) => parse_bytes(s).map(Some),
    }
}

impl UpdateFlags {
    /// No flag was given.
    pub fn is_empty(&self) -> bool {
        *self == UpdateFlags::default()
    }

    /// The resources these flags ask for; sections with no flag given stay `None`.
    pub fn to_resources(&self) -> Result<LinuxResources, Error> {
        let mut r = LinuxResources::default();
        let mut cpu = LinuxCpu::default();
        let mut any_cpu = false;
        if let Some(v) = num::<u64>("--cpu-period", &self.cpu_period)? {
            cpu.set_period(Some(v));
            any_cpu = true;
        }
        if let Some(v) = num::<i64>("--cpu-quota", &self.cpu_quota)? {
            cpu.set_quota(Some(v));
            any_cpu = true;
        }
        if let Some(v) = num::<u64>("--cpu-burst", &self.cpu_burst)? {
            cpu.set_burst(Some(v));
            any_cpu = true;
        }
        if let Some(v) = num::<u64>("--cpu-share", &self.cpu_share)? {
            cpu.set_shares(Some(v));
            any_cpu = true;
        }
        if let Some(v) = num::<u64>("--cpu-rt-period", &self.cpu_rt_period)? {
            cpu.set_realtime_period(Some(v));
            any_cpu = true;
        }
        if let Some(v) = num::<i64>("--cpu-rt-runtime", &self.cpu_rt_runtime)? {
            cpu.set_realtime_runtime(Some(v));
            any_cpu = true;
        }
        if let Some(v) = self.cpuset_cpus.as_ref().filter(|s| !s.is_empty()) {
            cpu.set_cpus(Some(v.clone()));
            any_cpu = true;
        }
        if let Some(v) = self.cpuset_mems.as_ref().filter(|s| !s.is_empty()) {
            cpu.set_mems(Some(v.clone()));
            any_cpu = true;
        }
        if any_cpu {
            r.set_cpu(Some(cpu));
        }
        let mut mem = LinuxMemory::default();
        let mut any_mem = false;
        for (v, set) in [
            (
                bytes(&self.memory)?,
                LinuxMemory::set_limit as fn(&mut LinuxMemory, Option<i64>) -> &mut LinuxMemory,
            ),
            (
                bytes(&self.memory_reservation)?,
                LinuxMemory::set_reservation,
            ),
            (bytes(&self.memory_swap)?, LinuxMemory::set_swap),
            (bytes(&self.kernel_memory)?, LinuxMemory::set_kernel),
            (bytes(&self.kernel_memory_tcp)?, LinuxMemory::set_kernel_tcp),
        ] {
            if let Some(v) = v {
                set(&mut mem, Some(v));
                any_mem = true;
            }
        }
        if any_mem {
            r.set_memory(Some(mem));
        }
        if let Some(v) = num::<i64>("--pids-limit", &self.pids_limit)? {
            let mut p = LinuxPids::default();
            p.set_limit(v);
            r.set_pids(Some(p));
        }
        if let Some(v) = num::<u16>("--blkio-weight", &self.blkio_weight)? {
            let mut b = LinuxBlockIo::default();
            b.set_weight(Some(v));
            r.set_block_io(Some(b));
        }
        Ok(r)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_as_runc_parses_them() {
        assert_eq!(parse_bytes("512m").unwrap(), 512 << 20);
        assert_eq!(parse_bytes("1GiB").unwrap(), 1 << 30);
        assert_eq!(parse_bytes("-1").unwrap(), -1);
        let e = parse_bytes("12x").unwrap_err();
        assert_eq!(
            e.to_string(),
            "cgroup: invalid size: \"12x\" has an unknown unit"
        );
        assert_eq!(e.field(), Some("size"));
    }

    #[test]
    fn only_the_flags_given_become_resources() {
        let f = UpdateFlags {
            memory: Some("64m".into()),
            pids_limit: Some("10".into()),
            ..Default::default()
        };
        let r = f.to_resources().unwrap();
        assert_eq!(r.memory().unwrap().limit(), Some(64 << 20));
        assert_eq!(r.pids().as_ref().unwrap().limit(), 10);
        assert!(r.cpu().is_none());
        let bad = UpdateFlags {
            cpu_quota: Some("lots".into()),
            ..Default::default()
        };
        let e = bad.to_resources().unwrap_err();
        assert_eq!(e.field(), Some("--cpu-quota"));
    }
}
