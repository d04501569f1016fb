//! The container's cgroup: host layout detection (v1, v2, hybrid), path resolution with runc's
//! rules, creation, joining, resource limits, freezing, killing every process, stats, removal.
//!
//! OWNED BY THE CGROUPS WORK (issue 3). The items below are the contract the rest of
//! runtime-core uses; their bodies are being written.

use std::collections::BTreeMap;
use std::path::PathBuf;

/// Where a container's cgroup lives on every hierarchy of this host, resolved once at `create`
/// and stored in the container's state so that later commands find the same directories even
/// when they run from another cgroup.
///
/// Keys are v1 controller names as mounted (`"cpu"`, `"memory"`, `"name=systemd"`, ...) and `""`
/// for the cgroup2 (unified) hierarchy; values are absolute directories under /sys/fs/cgroup.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct CgroupPaths(pub BTreeMap<String, PathBuf>);
