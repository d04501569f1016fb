//! Statistics shaped like the `data` object of runc's `events --stats` (field names and
//! omission rules follow runc's types, so tools that parse runc's output parse ours).

use super::fs::{io_err, parse_err};
use super::CgroupError;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;

fn is_zero(v: &u64) -> bool {
    *v == 0
}

/// Everything `events --stats` reports.
///
/// ```
/// let s = runtime_core::cgroups::Stats::default();
/// let j = serde_json::to_value(&s).unwrap();
/// assert!(j.get("memory").is_some());
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct Stats {
    /// CPU time and throttling.
    pub cpu: CpuStats,
    /// Memory usage and limits.
    pub memory: MemoryStats,
    /// Number of tasks.
    pub pids: PidsStats,
    /// Block I/O counters.
    pub blkio: BlkioStats,
    /// Per page size.
    pub hugetlb: BTreeMap<String, HugetlbStats>,
    /// Interfaces of the container's network namespace; filled by the caller, which knows the
    /// init pid (see [`network_interfaces`]).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub network_interfaces: Vec<NetworkInterface>,
}

/// CPU statistics (nanoseconds).
///
/// ```
/// let c = runtime_core::cgroups::CpuStats::default();
/// assert_eq!(c.usage.total + c.throttling.periods, 0);
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuStats {
    /// Time used.
    pub usage: CpuUsage,
    /// CFS throttling.
    pub throttling: Throttling,
}

/// CPU time used, nanoseconds.
///
/// ```
/// let u = runtime_core::cgroups::CpuUsage { total: 5, ..Default::default() };
/// assert!(u.percpu.is_empty());
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct CpuUsage {
    /// Total.
    #[serde(skip_serializing_if = "is_zero")]
    pub total: u64,
    /// Per cpu (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu: Vec<u64>,
    /// Per cpu in kernel mode (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_kernel: Vec<u64>,
    /// Per cpu in user mode (v1 only).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub percpu_user: Vec<u64>,
    /// In kernel mode.
    pub kernel: u64,
    /// In user mode.
    pub user: u64,
}

/// CFS bandwidth throttling.
///
/// ```
/// let t = runtime_core::cgroups::Throttling::default();
/// assert_eq!(serde_json::to_string(&t).unwrap(), "{}");
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct Throttling {
    /// Enforcement periods elapsed.
    #[serde(skip_serializing_if = "is_zero")]
    pub periods: u64,
    /// Periods in which the group was throttled.
    #[serde(rename = "throttledPeriods", skip_serializing_if = "is_zero")]
    pub throttled_periods: u64,
    /// Total throttled time, ns.
    #[serde(rename = "throttledTime", skip_serializing_if = "is_zero")]
    pub throttled_time: u64,
}

/// One memory counter set.
///
/// ```
/// let m = runtime_core::cgroups::MemoryEntry { limit: 1 << 20, ..Default::default() };
/// assert_eq!(m.failcnt, 0);
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryEntry {
    /// The limit (u64::MAX when unlimited).
    pub limit: u64,
    /// Current usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak usage.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// How often the limit was hit.
    pub failcnt: u64,
}

/// Memory statistics, bytes.
///
/// ```
/// let m = runtime_core::cgroups::MemoryStats::default();
/// assert!(m.raw.is_empty());
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct MemoryStats {
    /// Page cache.
    #[serde(skip_serializing_if = "is_zero")]
    pub cache: u64,
    /// Memory.
    pub usage: MemoryEntry,
    /// Swap (v1: memory+swap).
    pub swap: MemoryEntry,
    /// Kernel memory (v1 only).
    pub kernel: MemoryEntry,
    /// Kernel TCP buffers (v1 only).
    #[serde(rename = "kernelTCP")]
    pub kernel_tcp: MemoryEntry,
    /// memory.stat as it is.
    #[serde(skip_serializing_if = "BTreeMap::is_empty")]
    pub raw: BTreeMap<String, u64>,
}

/// Task counts.
///
/// ```
/// let p = runtime_core::cgroups::PidsStats { current: 3, limit: 100 };
/// assert!(p.current < p.limit);
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct PidsStats {
    /// Tasks now.
    #[serde(skip_serializing_if = "is_zero")]
    pub current: u64,
    /// pids.max (0 when unlimited, as runc reports it).
    #[serde(skip_serializing_if = "is_zero")]
    pub limit: u64,
}

/// One block I/O counter.
///
/// ```
/// let e = runtime_core::cgroups::BlkioEntry { major: 8, minor: 0, op: "Read".into(), value: 4096 };
/// assert_eq!(e.op, "Read");
/// ```
#[derive(Debug, Clone, Default, Serialize, PartialEq, Eq)]
pub struct BlkioEntry {
    /// Device major.
    #[serde(skip_serializing_if = "is_zero")]
    pub major: u64,
    /// Device minor.
    #[serde(skip_serializing_if = "is_zero")]
    pub minor: u64,
    /// Read, Write, Sync, Async, Discard, Total.
    #[serde(skip_serializing_if = "String::is_empty")]
    pub op: String,
    /// The count.
    #[serde(skip_serializing_if = "is_zero")]
    pub value: u64,
}

/// Block I/O counters.
///
/// ```
/// let b = runtime_core::cgroups::BlkioStats::default();
/// assert!(b.io_serviced_recursive.is_empty());
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct BlkioStats {
    /// Bytes per device and operation.
    #[serde(
        rename = "ioServiceBytesRecursive",
        skip_serializing_if = "Vec::is_empty"
    )]
    pub io_service_bytes_recursive: Vec<BlkioEntry>,
    /// Operations per device and operation.
    #[serde(rename = "ioServicedRecursive", skip_serializing_if = "Vec::is_empty")]
    pub io_serviced_recursive: Vec<BlkioEntry>,
}

/// Hugetlb usage for one page size.
///
/// ```
/// let h = runtime_core::cgroups::HugetlbStats::default();
/// assert_eq!(h.usage, 0);
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct HugetlbStats {
    /// Bytes in use.
    #[serde(skip_serializing_if = "is_zero")]
    pub usage: u64,
    /// Peak (v1) bytes.
    #[serde(skip_serializing_if = "is_zero")]
    pub max: u64,
    /// Allocation failures.
    pub failcnt: u64,
}

/// Counters of one network interface, runc's names.
///
/// ```
/// let n = runtime_core::cgroups::NetworkInterface { name: "eth0".into(), ..Default::default() };
/// assert_eq!(n.rx_bytes, 0);
/// ```
#[derive(Debug, Clone, Default, Serialize)]
pub struct NetworkInterface {
    /// Interface name.
    pub name: String,
    /// Received bytes.
    pub rx_bytes: u64,
    /// Received packets.
    pub rx_packets: u64,
    /// Receive errors.
    pub rx_errors: u64,
    /// Dropped on receive.
    pub rx_dropped: u64,
    /// Sent bytes.
    pub tx_bytes: u64,
    /// Sent packets.
    pub tx_packets: u64,
    /// Send errors.
    pub tx_errors: u64,
    /// Dropped on send.
    pub tx_dropped: u64,
}

/// The interfaces of `pid`'s network namespace from `/proc/<pid>/net/dev`, loopback excluded
/// (runc reports the container's veths, not lo).
///
/// ```no_run
/// let ifs = runtime_core::cgroups::network_interfaces(1)?;
/// # Ok::<(), runtime_core::cgroups::CgroupError>(())
/// ```
pub fn network_interfaces(pid: i32) -> Result<Vec<NetworkInterface>, CgroupError> {
    let path = format!("/proc/{pid}/net/dev");
    let text = std::fs::read_to_string(&path).map_err(|e| io_err("read", Path::new(&path), e))?;
    parse_net_dev(&text).map_err(|r| parse_err(Path::new(&path), r))
}

pub(crate) fn parse_net_dev(text: &str) -> Result<Vec<NetworkInterface>, String> {
    let mut v = Vec::new();
    for line in text.lines().skip(2) {
        let Some((name, rest)) = line.split_once(':') else {
            continue;
        };
        let name = name.trim();
        if name == "lo" {
            continue;
        }
        let n: Vec<u64> = rest
            .split_whitespace()
            .map(|x| x.parse().map_err(|_| format!("bad counter {x:?}")))
            .collect::<Result<_, _>>()?;
        if n.len() < 12 {
            return Err(format!("short line for {name}"));
        }
        v.push(NetworkInterface {
            name: name.to_string(),
            rx_bytes: n[0],
            rx_packets: n[1],
            rx_errors: n[2],
            rx_dropped: n[3],
            tx_bytes: n[8],
            tx_packets: n[9],
            tx_errors: n[10],
            tx_dropped: n[11],
        });
    }
    Ok(v)
}

/// v1 blkio files: "8:0 Read 123" lines and a "Total N" line.
pub(crate) fn parse_blkio_v1(text: &str) -> Vec<BlkioEntry> {
    let mut v = Vec::new();
    for l in text.lines() {
        let f: Vec<&str> = l.split_whitespace().collect();
        if f.len() != 3 {
            continue;
        }
        let Some((ma, mi)) = f[0].split_once(':') else {
            continue;
        };
        let (Ok(major), Ok(minor), Ok(value)) = (ma.parse(), mi.parse(), f[2].parse()) else {
            continue;
        };
        v.push(BlkioEntry {
            major,
            minor,
            op: f[1].to_string(),
            value,
        });
    }
    v
}

/// v2 io.stat: "8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0", turned into runc's
/// v1-shaped entries (Read/Write).
pub(crate) fn parse_io_stat(text: &str) -> (Vec<BlkioEntry>, Vec<BlkioEntry>) {
    let (mut bytes, mut ios) = (Vec::new(), Vec::new());
    for l in text.lines() {
        let mut it = l.split_whitespace();
        let Some(dev) = it.next() else { continue };
        let Some((ma, mi)) = dev.split_once(':') else {
            continue;
        };
        let (Ok(major), Ok(minor)) = (ma.parse(), mi.parse()) else {
            continue;
        };
        for kv in it {
            let Some((k, val)) = kv.split_once('=') else {
                continue;
            };
            let Ok(value) = val.parse() else { continue };
            let (list, op) = match k {
                "rbytes" => (&mut bytes, "Read"),
                "wbytes" => (&mut bytes, "Write"),
                "rios" => (&mut ios, "Read"),
                "wios" => (&mut ios, "Write"),
                _ => continue,
            };
            list.push(BlkioEntry {
                major,
                minor,
                op: op.to_string(),
                value,
            });
        }
    }
    (bytes, ios)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_counters() {
        let nd = "Inter-|   Receive\n face |bytes\n    lo: 1 2 0 0 0 0 0 0 1 2 0 0 0 0 0 0\n  eth0: 10 2 0 0 0 0 0 0 30 4 0 0 0 0 0 0\n";
        let v = parse_net_dev(nd).unwrap();
        assert_eq!(v.len(), 1);
        assert_eq!(v[0].rx_bytes, 10);
        assert_eq!(v[0].tx_packets, 4);
        let b = parse_blkio_v1("8:0 Read 5\n8:0 Write 6\nTotal 11\n");
        assert_eq!(b.len(), 2);
        let (bytes, ios) = parse_io_stat("8:0 rbytes=1 wbytes=2 rios=3 wios=4 dbytes=0 dios=0\n");
        assert_eq!(bytes[1].value, 2);
        assert_eq!(ios[0].value, 3);
    }
}
