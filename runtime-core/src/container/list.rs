//! `state` and `list`: what a container is, from its record and its init.

use std::collections::HashMap;
use std::path::PathBuf;

use serde::Serialize;

use crate::error::Result;
use crate::state::{self, derive_status, Record, Status};
use crate::{spec, Runtime};

/// A container's state as `baleia state` prints it (the OCI state plus runc's extras).
///
/// ```no_run
/// let s = runtime_core::Runtime::new("/run/baleia").state("web").unwrap();
/// println!("{}", serde_json::to_string_pretty(&s).unwrap());
/// ```
#[derive(Debug, Clone, Serialize)]
#[non_exhaustive]
pub struct ContainerState {
    /// The runtime-spec version of this state.
    #[serde(rename = "ociVersion")]
    pub oci_version: String,
    /// The container id.
    pub id: String,
    /// Host pid of the init; 0 once stopped.
    pub pid: i32,
    /// The lifecycle status.
    pub status: Status,
    /// Absolute bundle path.
    pub bundle: PathBuf,
    /// Absolute rootfs path.
    pub rootfs: PathBuf,
    /// Creation time, RFC 3339 with nanoseconds.
    pub created: String,
    /// The spec's annotations.
    #[serde(skip_serializing_if = "HashMap::is_empty")]
    pub annotations: HashMap<String, String>,
    /// The owner's user name: the library leaves it empty (as `runc state` prints it); `list`
    /// fills it in from [`owner_uid`](ContainerState::owner_uid).
    pub owner: String,
    /// The uid that owns the container's state, runc's owner of a container.
    #[serde(skip)]
    pub owner_uid: Option<u32>,
}

pub(crate) fn state(rt: &Runtime, id: &str) -> Result<ContainerState> {
    state::validate_id(id)?;
    match rt.store.load(id)? {
        Some(rec) => Ok(describe(rt, &rec)),
        None => Ok(ContainerState {
            oci_version: spec::OCI_VERSION.into(),
            id: id.into(),
            pid: 0,
            status: Status::Creating,
            bundle: PathBuf::new(),
            rootfs: PathBuf::new(),
            created: String::new(),
            annotations: HashMap::new(),
            owner: String::new(),
            owner_uid: None,
        }),
    }
}

fn describe(rt: &Runtime, rec: &Record) -> ContainerState {
    use std::os::unix::fs::MetadataExt;
    let status = derive_status(&rt.store, rec);
    ContainerState {
        oci_version: spec::OCI_VERSION.into(),
        id: rec.id.clone(),
        pid: if status == Status::Stopped {
            0
        } else {
            rec.pid
        },
        status,
        bundle: rec.bundle.clone(),
        rootfs: rec.rootfs.clone(),
        created: rec.created.clone(),
        annotations: rec.annotations.clone(),
        owner: String::new(),
        owner_uid: std::fs::metadata(rt.store.dir(&rec.id))
            .ok()
            .map(|m| m.uid()),
    }
}

pub(crate) fn list(rt: &Runtime) -> Result<Vec<ContainerState>> {
    let mut out = Vec::new();
    for id in rt.store.ids()? {
        if let Ok(s) = rt.state(&id) {
            out.push(s);
        }
    }
    Ok(out)
}
