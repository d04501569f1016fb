//! The test groups, one module per spec area. Each test cites the
//! runtime-spec sentence or the runc behaviour it checks; where the two
//! disagree the citation says which one the test follows and why.
//!
//! ```
//! let all = conformance::groups::all();
//! let mut ids: Vec<String> = all.iter().map(|t| t.id()).collect();
//! ids.sort();
//! ids.dedup();
//! assert_eq!(ids.len(), all.len(), "test ids are unique");
//! ```

use crate::harness::Test;

pub mod attrs;
pub mod flags;
pub mod fs;
pub mod io;
pub mod kill;
pub mod lifecycle;
pub mod netdev;
pub mod notify;
pub mod ns;
pub mod ops;
pub mod process;
pub mod sec;
pub mod userns;

/// Every test, in the order the suite runs them.
pub fn all() -> Vec<Test> {
    let mut v = Vec::new();
    v.extend(lifecycle::tests());
    v.extend(kill::tests());
    v.extend(process::tests());
    v.extend(ns::tests());
    v.extend(fs::tests());
    v.extend(ops::tests());
    v.extend(sec::tests());
    v.extend(io::tests());
    v.extend(attrs::tests());
    v.extend(flags::tests());
    v.extend(notify::tests());
    v.extend(netdev::tests());
    v.extend(userns::tests());
    v
}
