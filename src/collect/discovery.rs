//! Which instances to collect: the ones asked for, then (with `discover_replicas`) every replica
//! their `availability_replicas` rows name that is not already being collected. A discovered
//! replica is reached through the override map first, else by the fully qualified name AgDiag
//! knows for its `replica_server_name` (SQL Browser for a named instance): servers' certificates
//! are commonly issued for the FQDN only, so `SQL2` would fail validation where
//! `sql2.contoso.com` passes. See [`Discovery::qualified`]. The snapshot still calls it `SQL2`.
//!
//! Discovery does not wait for whole batches: the collector reports each given instance's server
//! name and replica names as soon as those result sets arrive (they lead every batch), and a
//! replica starts once every given instance has said who it is (or has finished, reachable or not),
//! so a replica that was also given by address is never collected twice.

use crate::snapshot::{keys, Instance, Row};

use super::request::Request;

/// One instance being collected, given or discovered.
#[derive(Debug)]
struct Slot {
    target: String,
    given: bool,
    /// `ServerName` / `@@SERVERNAME` as reported so far; empty until its `server_properties` arrived.
    names: Vec<String>,
    finished: bool,
}

impl Slot {
    fn is_named(&self, name: &str) -> bool {
        if self.names.is_empty() {
            self.target.trim().eq_ignore_ascii_case(name.trim())
        } else {
            self.names.iter().any(|n| n.eq_ignore_ascii_case(name.trim()))
        }
    }

    /// Known to be (or not to be) a given server: it said its name, or it has finished.
    fn resolved(&self) -> bool {
        !self.names.is_empty() || self.finished
    }
}

/// The discovery state of one collection. Slot indexes are the instances' order in the snapshot.
#[derive(Debug)]
pub struct Discovery {
    slots: Vec<Slot>,
    /// Every replica name seen, in the order the rows named them.
    replica_names: Vec<String>,
    /// The host of each replica's `endpoint_url`, by replica name.
    endpoint_hosts: Vec<(String, String)>,
    /// DNS suffixes the given instances reveal: `DEFAULT_DOMAIN()` when it is a DNS name, the
    /// suffix of a given target that is an FQDN.
    suffixes: Vec<String>,
    considered: usize,
}

/// A discovered replica to collect.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Start {
    /// `replica_server_name`.
    pub name: String,
    /// What the snapshot calls it: the override's address, else the replica name.
    pub target: String,
    /// Where AgDiag connects: the override's address, else the qualified name.
    pub address: String,
}

impl Discovery {
    pub fn new(given: &[String]) -> Discovery {
        let slots = given.iter().map(|t| Slot { target: t.clone(), given: true, names: Vec::new(), finished: false }).collect();
        let mut suffixes = Vec::new();
        for target in given {
            let host = super::request::InstanceAddress::parse(target).map(|a| a.host).unwrap_or_default();
            if let Some((_, suffix)) = host.split_once('.').filter(|_| is_dns_name(&host)) {
                add_names(&mut suffixes, vec![suffix.to_string()]);
            }
        }
        Discovery { slots, replica_names: Vec::new(), endpoint_hosts: Vec::new(), suffixes, considered: 0 }
    }

    /// Instance `index` reported its `server_properties` rows.
    pub fn identified(&mut self, index: usize, rows: &[Row]) {
        if let Some(slot) = self.slots.get_mut(index) {
            add_names(&mut slot.names, server_names(rows));
        }
        let domains = rows.iter().filter_map(|r| r.str("DEFAULT_DOMAIN()")).filter(|d| is_dns_name(d));
        // A domain comes before a target's suffix: it is the machine's own.
        for domain in domains.map(str::to_string).collect::<Vec<_>>() {
            if !self.suffixes.iter().any(|s| s.eq_ignore_ascii_case(domain.trim())) {
                self.suffixes.insert(0, domain.trim().to_string());
            }
        }
    }

    /// A given instance reported its `availability_replicas` rows.
    pub fn replicas(&mut self, rows: &[Row]) {
        add_names(&mut self.replica_names, rows.iter().filter_map(|r| r.str("replica_server_name")).map(str::to_string).collect());
        for row in rows {
            let (Some(name), Some(url)) = (row.str("replica_server_name"), row.str("endpoint_url")) else { continue };
            if let Some(host) = url_host(url)
                && !self.endpoint_hosts.iter().any(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
            {
                self.endpoint_hosts.push((name.trim().to_string(), host));
            }
        }
    }

    /// Instance `index` finished. A given instance's complete rows count too, in case the early
    /// look missed them.
    pub fn finished(&mut self, index: usize, instance: &Instance) {
        let Some(slot) = self.slots.get_mut(index) else { return };
        slot.finished = true;
        if !slot.given || !instance.connected {
            return;
        }
        if let Ok(rows) = instance.rows(keys::SERVER_PROPERTIES) {
            self.identified(index, rows);
        }
        if let Ok(rows) = instance.rows(keys::AVAILABILITY_REPLICAS) {
            self.replicas(rows);
        }
    }

    /// The replicas to start now, each added as a new slot in order.
    pub fn start_now(&mut self, request: &Request) -> Vec<Start> {
        let mut out = Vec::new();
        if !self.slots.iter().filter(|s| s.given).all(Slot::resolved) {
            return out;
        }
        while self.considered < self.replica_names.len() {
            let name = self.replica_names[self.considered].clone();
            self.considered += 1;
            if self.slots.iter().any(|s| s.is_named(&name)) {
                continue;
            }
            let (target, address) = match request.override_for(&name) {
                Some(o) => (o.trim().to_string(), o.trim().to_string()),
                None => (name.clone(), self.qualified(&name)),
            };
            let taken = |t: &str| self.slots.iter().any(|s| s.target.trim().eq_ignore_ascii_case(t));
            if taken(&target) || taken(&address) {
                continue;
            }
            self.slots.push(Slot { target: target.clone(), given: false, names: Vec::new(), finished: false });
            out.push(Start { name, target, address });
        }
        out
    }

    /// The name to reach replica `name` by: `SQL2` → `sql2.contoso.com`, `SQL2\INST1` →
    /// `sql2.contoso.com\INST1` (an FCI's `replica_server_name` is its virtual network name, which
    /// is qualified the same way). In order: the host of its `endpoint_url` when that is an FQDN
    /// whose first label is the name (partners already reach it so; an endpoint on another name,
    /// such as a dedicated replication network, is not used); else the name plus a DNS suffix the
    /// given instances reveal (`DEFAULT_DOMAIN()` when it is a DNS name, the suffix of an FQDN
    /// given with -S). A name that is already qualified, or an IP address, is kept.
    pub fn qualified(&self, name: &str) -> String {
        let (host, instance) = match name.trim().split_once('\\') {
            Some((h, i)) => (h, Some(i)),
            None => (name.trim(), None),
        };
        if host.contains('.') || host.contains(':') || host.is_empty() {
            return name.trim().to_string();
        }
        let from_endpoint = self
            .endpoint_hosts
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name.trim()))
            .map(|(_, h)| h)
            .filter(|h| is_dns_name(h) && h.split('.').next().is_some_and(|first| first.eq_ignore_ascii_case(host)))
            .cloned();
        let qualified = from_endpoint.or_else(|| self.suffixes.first().map(|s| format!("{}.{s}", host.to_ascii_lowercase())));
        match (qualified, instance) {
            (Some(q), Some(i)) => format!("{q}\\{i}"),
            (Some(q), None) => q,
            (None, _) => name.trim().to_string(),
        }
    }
}

/// `TCP://sql2.contoso.com:5022` → `sql2.contoso.com`.
fn url_host(url: &str) -> Option<String> {
    let rest = url.trim();
    let rest = rest.get(..6).filter(|p| p.eq_ignore_ascii_case("tcp://")).map(|_| &rest[6..])?;
    let host = match rest.strip_prefix('[') {
        Some(v6) => v6.split(']').next()?,
        None => rest.split([':', '/']).next()?,
    };
    (!host.is_empty()).then(|| host.to_string())
}

/// A DNS name with at least two labels, not an IP address.
fn is_dns_name(text: &str) -> bool {
    let text = text.trim();
    text.contains('.')
        && text.parse::<std::net::IpAddr>().is_err()
        && text.split('.').all(|l| !l.is_empty() && l.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
}

fn add_names(list: &mut Vec<String>, names: Vec<String>) {
    for name in names {
        if !name.trim().is_empty() && !list.iter().any(|n| n.eq_ignore_ascii_case(name.trim())) {
            list.push(name.trim().to_string());
        }
    }
}

fn server_names(rows: &[Row]) -> Vec<String> {
    rows.iter().flat_map(|r| ["ServerName", "@@SERVERNAME"].into_iter().filter_map(|c| r.str(c))).map(str::to_string).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::collect::request::Authentication;
    use serde_json::json;

    fn properties(server: &str) -> Vec<Row> {
        vec![Row::from([("ServerName", json!(server)), ("@@SERVERNAME", json!(server))])]
    }

    fn replicas(names: &[&str]) -> Vec<Row> {
        names.iter().map(|r| Row::from([("replica_server_name", json!(r))])).collect()
    }

    fn finished(target: &str, connected: bool) -> Instance {
        Instance { target: target.into(), connected, ..Default::default() }
    }

    #[test]
    fn starts_unseen_replicas_through_overrides_as_soon_as_named() {
        let mut request = Request::new(vec!["sql1".into()], Authentication::Integrated);
        request.overrides.insert("sql2".into(), "127.0.0.1,5002".into());
        let mut d = Discovery::new(&["sql1".into()]);
        d.replicas(&replicas(&["SQL1", "SQL2", "SQL3\\INST"]));
        // sql1 has not said its name yet: "SQL1" could be it.
        assert!(d.start_now(&request).is_empty());
        d.identified(0, &properties("SQL1"));
        let got: Vec<(String, String)> = d.start_now(&request).into_iter().map(|s| (s.name, s.address)).collect();
        assert_eq!(got, vec![("SQL2".into(), "127.0.0.1,5002".into()), ("SQL3\\INST".into(), "SQL3\\INST".into())]);
        // Nothing twice: the same names again, or from the complete rows at the end.
        d.replicas(&replicas(&["SQL2", "sql3\\inst"]));
        assert!(d.start_now(&request).is_empty());
    }

    #[test]
    fn waits_for_every_given_instance_to_say_who_it_is() {
        let request = Request::new(vec![], Authentication::Integrated);
        let mut d = Discovery::new(&["10.0.0.1".into(), "10.0.0.2".into(), "10.0.0.3,1433".into()]);
        d.identified(0, &properties("SQL1"));
        d.replicas(&replicas(&["SQL1", "SQL2", "SQL3", "SQL4"]));
        assert!(d.start_now(&request).is_empty(), "10.0.0.2 may be SQL2");
        d.identified(1, &properties("SQL2"));
        // The third never answered: finished without a name.
        d.finished(2, &finished("10.0.0.3,1433", false));
        let got: Vec<String> = d.start_now(&request).into_iter().map(|s| s.name).collect();
        assert_eq!(got, vec!["SQL3", "SQL4"]);
    }

    fn replica(name: &str, url: &str) -> Row {
        Row::from([("replica_server_name", json!(name)), ("endpoint_url", json!(url))])
    }

    #[test]
    fn discovered_replicas_are_reached_by_their_fqdn_and_keep_their_name() {
        let request = Request::new(vec![], Authentication::Integrated);
        let mut d = Discovery::new(&["10.0.0.1".into()]);
        d.identified(0, &[Row::from([("ServerName", json!("SQL1")), ("DEFAULT_DOMAIN()", json!("CONTOSO"))])]);
        d.replicas(&[
            replica("SQL1", "TCP://sql1.contoso.com:5022"),
            // The endpoint's host is its FQDN.
            replica("SQL2", "TCP://SQL2.contoso.com:5022"),
            // A named instance keeps its instance name.
            replica("SQL3\\INST1", "TCP://sql3.contoso.com:5022"),
            // An endpoint on a dedicated replication network is not how clients reach it, and an
            // IP address is no name: no suffix is known here (CONTOSO is a NetBIOS name).
            replica("SQL4", "TCP://sql4-hadr.contoso.com:5022"),
            replica("SQL5", "TCP://10.0.0.5:5022"),
            // Already qualified.
            replica("sql6.fabrikam.com", "TCP://10.0.0.6:5022"),
        ]);
        let got: Vec<(String, String, String)> = d.start_now(&request).into_iter().map(|s| (s.name, s.target, s.address)).collect();
        let want = [
            ("SQL2", "SQL2", "SQL2.contoso.com"),
            ("SQL3\\INST1", "SQL3\\INST1", "sql3.contoso.com\\INST1"),
            ("SQL4", "SQL4", "SQL4"),
            ("SQL5", "SQL5", "SQL5"),
            ("sql6.fabrikam.com", "sql6.fabrikam.com", "sql6.fabrikam.com"),
        ];
        let want: Vec<(String, String, String)> = want.iter().map(|(a, b, c)| (a.to_string(), b.to_string(), c.to_string())).collect();
        assert_eq!(got, want);
    }

    #[test]
    fn a_dns_suffix_from_default_domain_or_the_given_fqdn_qualifies_a_name() {
        // DEFAULT_DOMAIN() as a DNS name.
        let mut d = Discovery::new(&["10.0.0.1".into()]);
        d.identified(0, &[Row::from([("ServerName", json!("SQL1")), ("DEFAULT_DOMAIN()", json!("corp.contoso.com"))])]);
        d.replicas(&[replica("SQLFCI2\\INST", "TCP://10.0.0.9:5022")]);
        assert_eq!(d.qualified("SQLFCI2\\INST"), "sqlfci2.corp.contoso.com\\INST");
        // The suffix of the instance given with -S.
        let d = Discovery::new(&["sql1.contoso.com,1433".into()]);
        assert_eq!(d.qualified("SQL2"), "sql2.contoso.com");
        assert_eq!(d.qualified("10.0.0.7"), "10.0.0.7");
        assert_eq!(url_host("TCP://[fe80::1]:5022").as_deref(), Some("fe80::1"));
        assert_eq!(url_host("http://x:1"), None);
    }

    #[test]
    fn a_failed_given_target_is_not_retried_under_the_same_name() {
        let request = Request::new(vec![], Authentication::Integrated);
        let mut d = Discovery::new(&["sql1".into(), "SQL2".into()]);
        d.identified(0, &properties("SQL1"));
        d.replicas(&replicas(&["SQL1", "SQL2"]));
        d.finished(1, &finished("SQL2", false));
        assert!(d.start_now(&request).is_empty());
    }
}
