//! Several snapshots as one: `collect.sql` produces one file per replica, and a DBA may collect
//! replicas from different machines. The AG picture needs them side by side.

use super::Snapshot;
use crate::error::{Error, Result};

impl Snapshot {
    /// Merges snapshots into one: instances and probes side by side, the latest collection time.
    /// The same instance twice is an error naming it: the two copies could disagree.
    pub fn merge(snapshots: Vec<Snapshot>) -> Result<Snapshot> {
        let mut merged: Option<Snapshot> = None;
        for next in snapshots {
            let Some(into) = merged.as_mut() else {
                merged = Some(next);
                continue;
            };
            for inst in next.instances {
                let duplicate = into.instances.iter().find(|have| {
                    have.target.eq_ignore_ascii_case(&inst.target)
                        || inst.server_name().is_some_and(|name| have.is_named(name))
                });
                if let Some(have) = duplicate {
                    return Err(Error::invalid_argument(format!(
                        "instance {} is in more than one snapshot; give each instance once",
                        have.name()
                    )));
                }
                into.instances.push(inst);
            }
            into.probes.extend(next.probes);
            if next.collected_at > into.collected_at {
                into.collected_at = next.collected_at;
            }
            if into.collection.is_none() {
                into.collection = next.collection;
            }
        }
        merged.ok_or_else(|| Error::invalid_argument("no snapshot to merge"))
    }
}
