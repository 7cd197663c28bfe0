//! Which instances to collect: the ones asked for, then (with `discover_replicas`) every replica
//! their `availability_replicas` rows name that is not already collected. A discovered replica is
//! reached through the override map first, then by its `replica_server_name` (SQL Browser for a
//! named instance).

use crate::snapshot::{keys, Instance};

use super::request::Request;

/// The targets of replicas named by the connected instances and not yet collected, in the order
/// the rows name them.
pub fn replicas_to_add(collected: &[Instance], request: &Request) -> Vec<String> {
    let mut names: Vec<String> = Vec::new();
    for inst in collected.iter().filter(|i| i.connected) {
        for row in inst.rows_or_empty(keys::AVAILABILITY_REPLICAS) {
            if let Some(name) = row.str("replica_server_name")
                && !name.trim().is_empty()
                && !names.iter().any(|n| n.eq_ignore_ascii_case(name))
            {
                names.push(name.to_string());
            }
        }
    }
    let mut targets: Vec<String> = Vec::new();
    for name in names {
        if collected.iter().any(|i| i.connected && i.properties().is_some() && i.is_named(&name)) {
            continue;
        }
        let target = request.override_for(&name).unwrap_or(&name).to_string();
        let known = |t: &str| t.trim().eq_ignore_ascii_case(target.trim());
        if collected.iter().any(|i| known(&i.target)) || targets.iter().any(|t| known(t)) {
            continue;
        }
        targets.push(target);
    }
    targets
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::request::Authentication;
    use crate::snapshot::Row;
    use serde_json::json;

    fn instance(target: &str, server: &str, replicas: &[&str]) -> Instance {
        let mut inst = Instance { target: target.into(), connected: true, ..Default::default() };
        inst.results.insert(keys::SERVER_PROPERTIES.into(), vec![Row::from([("ServerName", json!(server))])]);
        inst.results.insert(
            keys::AVAILABILITY_REPLICAS.into(),
            replicas.iter().map(|r| Row::from([("replica_server_name", json!(r))])).collect(),
        );
        inst
    }

    #[test]
    fn adds_unseen_replicas_through_overrides() {
        let mut request = Request::new(vec!["sql1".into()], Authentication::Integrated);
        request.overrides.insert("sql2".into(), "127.0.0.1,5002".into());
        let got = replicas_to_add(&[instance("sql1", "SQL1", &["SQL1", "SQL2", "SQL3\\INST"])], &request);
        assert_eq!(got, vec!["127.0.0.1,5002".to_string(), "SQL3\\INST".to_string()]);
        // Already collected by name or by target: nothing to add.
        let both = [instance("sql1", "SQL1", &["SQL1", "SQL2"]), instance("127.0.0.1,5002", "SQL2", &[])];
        assert!(replicas_to_add(&both, &request).is_empty());
        let failed = Instance { target: "127.0.0.1,5002".into(), connected: false, ..Default::default() };
        assert!(replicas_to_add(&[instance("sql1", "SQL1", &["SQL2"]), failed], &request).is_empty());
    }
}
