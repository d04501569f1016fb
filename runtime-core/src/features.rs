//! `baleia features`: what this runtime implements, in the runtime-spec Features shape, so that
//! engines can ask instead of guessing. Everything listed is implemented; nothing is listed
//! that is refused.

use oci_spec::runtime::{
    Apparmor, Arch, Cgroup, Features, IDMap, IntelRdt, LinuxFeature, LinuxNamespaceType,
    LinuxSeccompAction, MemoryPolicy, MountExtensions, NetDevices, Seccomp, Selinux,
};

/// The Features of this build (runtime-spec's `features.md`).
///
/// ```
/// use oci_spec::runtime::LinuxNamespaceType;
/// let f = runtime_core::features::features();
/// assert_eq!(f.oci_version_max(), runtime_core::spec::OCI_VERSION);
/// let linux = f.linux().as_ref().unwrap();
/// assert!(linux.namespaces().as_ref().unwrap().contains(&LinuxNamespaceType::Pid));
/// let unsafe_annotations = f.potentially_unsafe_config_annotations().as_ref().unwrap();
/// assert_eq!(unsafe_annotations, &["org.systemd.property."]);
/// ```
pub fn features() -> Features {
    // What this build implements, not what this host offers: features.md says the document
    // is "irrelevant to the actual availability of the features in the host" and lists
    // mount options "that might not be supported by the host". So `rro` is listed on a
    // kernel without mount_setattr too (where a mount using it fails, naming it); containerd
    // checks the kernel itself before it asks for `rro`.
    let mut mount_options: Vec<String> = crate::rootfs::FLAG_OPTIONS
        .iter()
        .map(|(n, _, _)| *n)
        .chain(crate::rootfs::PROPAGATION_OPTIONS.iter().copied())
        .chain(
            crate::rootfs::options::RECURSIVE_OPTIONS
                .iter()
                .map(|(n, _, _)| *n),
        )
        .chain(["defaults", "tmpcopyup", "idmap", "ridmap"])
        .map(String::from)
        .collect();
    mount_options.sort_unstable();
    let caps: Vec<String> = caps::all()
        .iter()
        .map(|c| c.to_string())
        .collect::<std::collections::BTreeSet<_>>()
        .into_iter()
        .collect();
    let strings = |s: &[&str]| Some(s.iter().map(|s| s.to_string()).collect::<Vec<_>>());

    let mut cgroup = Cgroup::default();
    cgroup
        .set_v1(Some(true))
        .set_v2(Some(true))
        .set_systemd(Some(true))
        .set_systemd_user(Some(false))
        .set_rdma(Some(true));
    let mut seccomp = Seccomp::default();
    {
        use LinuxSeccompAction as A;
        seccomp
            .set_enabled(Some(true))
            .set_actions(Some(vec![
                A::ScmpActAllow,
                A::ScmpActErrno,
                A::ScmpActKill,
                A::ScmpActKillProcess,
                A::ScmpActKillThread,
                A::ScmpActLog,
                A::ScmpActNotify,
                A::ScmpActTrace,
                A::ScmpActTrap,
            ]))
            .set_operators(strings(&[
                "SCMP_CMP_EQ",
                "SCMP_CMP_GE",
                "SCMP_CMP_GT",
                "SCMP_CMP_LE",
                "SCMP_CMP_LT",
                "SCMP_CMP_MASKED_EQ",
                "SCMP_CMP_NE",
            ]))
            .set_archs(Some(vec![
                Arch::ScmpArchX32,
                Arch::ScmpArchX86,
                Arch::ScmpArchX86_64,
            ]))
            .set_known_flags(strings(&[
                "SECCOMP_FILTER_FLAG_LOG",
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                "SECCOMP_FILTER_FLAG_TSYNC",
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            ]))
            .set_supported_flags(strings(&[
                "SECCOMP_FILTER_FLAG_LOG",
                "SECCOMP_FILTER_FLAG_SPEC_ALLOW",
                "SECCOMP_FILTER_FLAG_TSYNC",
                "SECCOMP_FILTER_FLAG_WAIT_KILLABLE_RECV",
            ]));
    }
    let mut apparmor = Apparmor::default();
    apparmor.set_enabled(Some(false));
    let mut selinux = Selinux::default();
    selinux.set_enabled(Some(false));
    let mut intel_rdt = IntelRdt::default();
    intel_rdt
        .set_enabled(Some(true))
        .set_schemata(Some(true))
        .set_monitoring(Some(true));
    let mut memory_policy = MemoryPolicy::default();
    memory_policy
        .set_modes(strings(&[
            "MPOL_BIND",
            "MPOL_DEFAULT",
            "MPOL_INTERLEAVE",
            "MPOL_LOCAL",
            "MPOL_PREFERRED",
            "MPOL_PREFERRED_MANY",
            "MPOL_WEIGHTED_INTERLEAVE",
        ]))
        .set_flags(strings(&[
            "MPOL_F_NUMA_BALANCING",
            "MPOL_F_RELATIVE_NODES",
            "MPOL_F_STATIC_NODES",
        ]));
    let mut net_devices = NetDevices::default();
    net_devices.set_enabled(Some(true));
    let mut idmap = IDMap::default();
    idmap.set_enabled(Some(true));
    let mut mount_extensions = MountExtensions::default();
    mount_extensions.set_idmap(Some(idmap));

    let mut linux = LinuxFeature::default();
    {
        use LinuxNamespaceType as N;
        linux.set_namespaces(Some(vec![
            N::Cgroup,
            N::Ipc,
            N::Mount,
            N::Network,
            N::Pid,
            N::Time,
            N::User,
            N::Uts,
        ]));
    }
    linux
        .set_capabilities(Some(caps))
        .set_cgroup(Some(cgroup))
        .set_seccomp(Some(seccomp))
        .set_apparmor(Some(apparmor))
        .set_selinux(Some(selinux))
        .set_intel_rdt(Some(intel_rdt))
        .set_memory_policy(Some(memory_policy))
        .set_net_devices(Some(net_devices))
        .set_mount_extensions(Some(mount_extensions));

    let mut f = Features::default();
    f.set_oci_version_min("1.0.0".into())
        .set_oci_version_max(crate::spec::OCI_VERSION.into())
        .set_hooks(strings(&[
            "prestart",
            "createRuntime",
            "createContainer",
            "startContainer",
            "poststart",
            "poststop",
        ]))
        .set_mount_options(Some(mount_options))
        .set_linux(Some(linux))
        // The annotations that change what the runtime does to the host (features.md: a
        // name ending in "." is a prefix), so that an engine passing a pod's annotations
        // through knows which to keep from untrusted users. baleia reads no other.
        .set_potentially_unsafe_config_annotations(Some(vec![
            crate::cgroups::PROPERTY_ANNOTATION.to_string()
        ]))
        .set_annotations(Some(
            [(
                "org.opencontainers.runtime-spec.features.baleia.version".to_string(),
                env!("CARGO_PKG_VERSION").to_string(),
            )]
            .into(),
        ));
    f
}

#[cfg(test)]
mod tests {
    use super::features;

    /// features.md: "The runtime MUST recognize the elements in this array": an option the
    /// parser does not know goes to the filesystem as data, so a listed one must not.
    #[test]
    fn every_mount_option_listed_is_one_the_parser_knows() {
        let f = features();
        let opts = f.mount_options().as_ref().expect("mountOptions");
        for opt in opts {
            let o = crate::rootfs::options::parse_options(std::slice::from_ref(opt))
                .unwrap_or_else(|e| panic!("{opt}: {e}"));
            assert!(
                o.data.is_empty(),
                "{opt} is listed but would reach the filesystem as data"
            );
        }
        // The test can fail: an option nobody knows is data.
        let o = crate::rootfs::options::parse_options(&["rbogus".to_string()]).unwrap();
        assert_eq!(o.data, "rbogus");
    }
}
