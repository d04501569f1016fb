//! seccomp: compile the spec's LinuxSeccomp profile to a classic BPF program and install it.
//!
//! OWNED BY THE SECCOMP WORK. Being written.
