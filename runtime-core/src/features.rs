//! `baleia features`: what this runtime implements, in the runtime-spec Features shape, so that
//! engines can ask instead of guessing. Everything listed is implemented; nothing is listed
//! that is refused.

use serde_json::{json, Value};

/// The Features JSON of this build.
///
/// ```
/// let f = runtime_core::features::features();
/// assert_eq!(f["ociVersionMax"], runtime_core::spec::OCI_VERSION);
/// assert!(f["linux"]["namespaces"].as_array().unwrap().contains(&"pid".into()));
/// ```
pub fn features() -> Value {
    let mut mount_options: Vec<&str> = crate::rootfs::FLAG_OPTIONS
        .iter()
        .map(|(n, _, _)| *n)
        .chain(crate::rootfs::PROPAGATION_OPTIONS.iter().copied())
        .chain(
            crate::rootfs::options::RECURSIVE_OPTIONS
                .iter()
                .map(|(n, _, _)| *n),
        )
        .chain(["defaults", "tmpcopyup", "idmap", "ridmap"])
        .collect();
    mount_options.sort_unstable();
    let caps: Vec<String> = caps::all()
        .iter()
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    json!({
        "ociVersionMin": "1.0.0",
        "ociVersionMax": crate::spec::OCI_VERSION,
        "hooks": ["prestart", "createRuntime", "createContainer", "startContainer", "poststart", "poststop"],
        "mountOptions": mount_options,
        "linux": {
            "namespaces": ["cgroup", "ipc", "mount", "network", "pid", "time", "user", "uts"],
            "capabilities": caps,
            "cgroup": { "v1": true, "v2": true, "systemd": false, "systemdUser": false, "rdma": true },
            "seccomp": {
                "enabled": true,
                "actions": ["SCMP_ACT_ALLOW", "SCMP_ACT_ERRNO", "SCMP_ACT_KILL", "SCMP_ACT_KILL_PROCESS",
                            "SCMP_ACT_KILL_THREAD", "SCMP_ACT_LOG", "SCMP_ACT_NOTIFY", "SCMP_ACT_TRACE",
                            "SCMP_ACT_TRAP"],
                "operators": ["SCMP_CMP_EQ", "SCMP_CMP_GE", "SCMP_CMP_GT", "SCMP_CMP_LE", "SCMP_CMP_LT",
                              "SCMP_CMP_MASKED_EQ", "SCMP_CMP_NE"],
                "archs": ["SCMP_ARCH_X32", "SCMP_ARCH_X86", "SCMP_ARCH_X86_64"],
                "knownFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                               "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"],
                "supportedFlags": ["SECCOMP_FILTER_FLAG_LOG", "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                                   "SECCOMP_FILTER_FLAG_TSYNC", "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV"]
            },
            "memoryPolicy": {
                "modes": ["MPOL_BIND", "MPOL_DEFAULT", "MPOL_INTERLEAVE", "MPOL_LOCAL",
                          "MPOL_PREFERRED", "MPOL_PREFERRED_MANY", "MPOL_WEIGHTED_INTERLEAVE"],
                "flags": ["MPOL_F_NUMA_BALANCING", "MPOL_F_RELATIVE_NODES", "MPOL_F_STATIC_NODES"]
            },
            "apparmor": { "enabled": false },
            "selinux": { "enabled": false },
            "intelRdt": { "enabled": true, "schemata": true, "monitoring": true },
            "netDevices": { "enabled": true },
            "mountExtensions": { "idmap": { "enabled": true } }
        },
        "annotations": {
            "org.opencontainers.runtime-spec.features.baleia.version": env!("CARGO_PKG_VERSION")
        }
    })
}
