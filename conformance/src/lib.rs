//! baleia's OCI runtime conformance suite: a probe that runs inside
//! containers and a harness that drives any runc-compatible binary through
//! its command line.
//!
//! ```
//! assert!(conformance::probe::Options::parse(["--pause"]).is_ok());
//! ```

#![deny(missing_docs)]

pub mod bundle;
pub mod groups;
pub mod harness;
pub mod probe;
pub mod runtime;
