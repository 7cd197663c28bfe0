//! Checks a client connection string (ADO.NET / ODBC / OLE DB keywords and synonyms) against the
//! AG in a snapshot: listener as server, ApplicationIntent, an AG database, MultiSubnetFailover.

use crate::findings::Finding;
use crate::snapshot::Snapshot;

pub fn check_connection_string(_text: &str, _snapshot: &Snapshot) -> Vec<Finding> {
    Vec::new()
}
