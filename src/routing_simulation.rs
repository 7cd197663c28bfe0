//! Read-only routing simulation: for each replica that could be primary, where a connection with
//! ApplicationIntent=ReadOnly would land, in order (load-balanced sets by equal routing_priority).

use serde::{Deserialize, Serialize};

use crate::topology::Topology;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingPath {
    pub availability_group: String,
    /// The replica assumed to be primary.
    pub when_primary: String,
    /// Ordered sets; replicas in one set share the load (round-robin).
    pub sets: Vec<RoutingSet>,
    /// What happens when no listed target is usable (ReadOnly connections go to the primary).
    pub note: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingSet {
    pub routing_priority: i64,
    pub targets: Vec<RoutingTarget>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RoutingTarget {
    pub replica: String,
    pub read_only_routing_url: Option<String>,
    /// False when the target cannot take a ReadOnly connection (no URL, not readable, the primary
    /// itself, disconnected); `reason` says why.
    pub usable: bool,
    pub reason: Option<String>,
}

pub fn simulate(_topology: &Topology<'_>) -> Vec<RoutingPath> {
    Vec::new()
}
