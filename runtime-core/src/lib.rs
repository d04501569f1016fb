//! runtime-core: an OCI container runtime as a library.
pub mod cgroups;
pub mod seccomp;
