//! Facts about an instance's database mirroring endpoint that several check areas read: which row
//! it is, the name the fixes use when there is none, which authentication it accepts, and who may
//! CONNECT to it. A floor below the accounts, endpoint and endpoint URL checks.

use crate::snapshot::{Row, domains};

/// The wizard's endpoint name, which `endpoint.missing` creates (the accounts checks grant on the same name).
pub(crate) const DEFAULT_ENDPOINT: &str = "Hadr_endpoint";

/// The instance's database mirroring endpoint in `sys.database_mirroring_endpoints` (one at most).
pub(crate) fn mirroring_endpoint(rows: &[Row]) -> Option<&Row> {
    rows.iter().find(|r| domains::is_mirroring_endpoint(r)).or(rows.first())
}

/// The database mirroring row of `sys.tcp_endpoints` (type 4), which carries the port.
pub(crate) fn mirroring_tcp_row(rows: &[Row]) -> Option<&Row> {
    rows.iter().find(|r| domains::is_mirroring_endpoint(r))
}

/// Which authentication a database mirroring endpoint accepts (shared with the endpoint checks).
#[derive(Clone, Copy)]
pub(crate) struct Auth {
    pub(crate) windows: bool,
    pub(crate) cert: bool,
}

pub(crate) fn auth(row: &Row) -> Auth {
    if let Some(desc) = row.code("connection_auth_desc") {
        let d = desc.to_uppercase();
        return Auth {
            windows: d.contains("NTLM") || d.contains("KERBEROS") || d.contains("NEGOTIATE"),
            cert: d.contains("CERTIFICATE"),
        };
    }
    match row.int("connection_auth") {
        Some(1..=3) => Auth { windows: true, cert: false },
        Some(4) => Auth { windows: false, cert: true },
        Some(5..=10) => Auth { windows: true, cert: true },
        _ => Auth { windows: true, cert: row.int("certificate_id").is_some_and(|c| c != 0) },
    }
}

/// How a partner B authenticates to a receiving replica A's endpoint, from both endpoints' settings.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum PairAuth {
    /// B's service account's Windows login (A has no endpoint yet: the one `endpoint.missing`
    /// creates uses Windows authentication).
    Windows,
    /// B's endpoint certificate, which A must hold and map to a login.
    Certificate,
    /// Both accept both: which one the handshake uses cannot be told from the catalog.
    Either,
    /// No common method (`endpoint.auth_incompatible` reports it).
    Incompatible,
}

/// `b_endpoint` is `None` when B's endpoint is unknown (not collected): judged by A's alone.
pub(crate) fn pair_auth(a_endpoint: Option<&Row>, b_endpoint: Option<&Row>) -> PairAuth {
    let Some(a) = a_endpoint.map(auth) else { return PairAuth::Windows };
    let b = b_endpoint.map(auth);
    match (a.windows, a.cert, b) {
        (_, true, Some(b)) if b.cert && !b.windows => PairAuth::Certificate,
        (false, true, Some(b)) if b.cert => PairAuth::Certificate,
        (false, true, Some(_)) => PairAuth::Incompatible,
        (false, true, None) => PairAuth::Certificate,
        (true, _, Some(b)) if !b.cert && !b.windows => PairAuth::Incompatible,
        (true, false, Some(b)) if !b.windows => PairAuth::Incompatible,
        (true, true, Some(b)) if b.cert => PairAuth::Either,
        _ => PairAuth::Windows,
    }
}

// Who may CONNECT to the endpoint

pub(crate) fn principal_named<'s>(principals: &'s [Row], login: &str) -> Option<&'s Row> {
    principals.iter().find(|p| p.str("name").is_some_and(|n| n.eq_ignore_ascii_case(login)))
}

pub(crate) fn principal_by_id(principals: &[Row], id: i64) -> Option<&Row> {
    principals.iter().find(|p| p.int("principal_id") == Some(id))
}

pub(crate) fn is_public(principals: &[Row], id: i64) -> bool {
    match principal_by_id(principals, id) {
        Some(p) => p.str("name").is_some_and(|n| n.eq_ignore_ascii_case("public")) && p.is("type", "R"),
        None => id == 2,
    }
}

/// A permission row that is CONNECT (or CONTROL, which implies it) on the endpoint.
pub(crate) fn is_connect(p: &Row) -> bool {
    p.is("type", "CO") || p.is("permission_name", "CONNECT")
}
pub(crate) fn is_control(p: &Row) -> bool {
    p.is("type", "CL") || p.is("permission_name", "CONTROL")
}
pub(crate) fn is_grant(p: &Row) -> bool {
    p.is("state", "G") || p.is("state", "W") || p.is("state_desc", "GRANT") || p.is("state_desc", "GRANT_WITH_GRANT_OPTION")
}
pub(crate) fn is_deny(p: &Row) -> bool {
    p.is("state", "D") || p.is("state_desc", "DENY")
}

/// Effective CONNECT of one login on A's mirroring endpoint, as far as the snapshot shows it.
pub(crate) struct Access<'s> {
    pub(crate) owner: bool,
    /// Every permission row on the endpoint (evidence).
    pub(crate) rows: Vec<&'s Row>,
    pub(crate) own_deny: Vec<&'s Row>,
    pub(crate) public_deny: Vec<&'s Row>,
    /// DENY to a Windows group or server role (membership not in the snapshot).
    pub(crate) other_deny: Vec<(&'s Row, &'s Row)>,
    pub(crate) own_grant: Vec<&'s Row>,
    pub(crate) public_grant: Vec<&'s Row>,
    /// CONNECT/CONTROL granted to a Windows group or server role.
    pub(crate) other_grant: Vec<(&'s Row, &'s Row)>,
}

pub(crate) fn access<'s>(endpoint: &'s Row, login: Option<&'s Row>, principals: &'s [Row], permissions: &'s [Row]) -> Access<'s> {
    let endpoint_id = endpoint.int("endpoint_id");
    let login_id = login.and_then(|l| l.int("principal_id"));
    let owner = login_id.is_some() && endpoint.int("principal_id") == login_id;
    let rows: Vec<&Row> = permissions
        .iter()
        .filter(|p| crate::snapshot::domains::is_endpoint_permission(p) && endpoint_id.is_some() && p.int("major_id") == endpoint_id)
        .collect();
    let mut a = Access {
        owner,
        rows: rows.clone(),
        own_deny: vec![],
        public_deny: vec![],
        other_deny: vec![],
        own_grant: vec![],
        public_grant: vec![],
        other_grant: vec![],
    };
    for p in rows {
        let Some(grantee) = p.int("grantee_principal_id") else { continue };
        let own = login_id == Some(grantee);
        let public = !own && is_public(principals, grantee);
        let other = if own || public {
            None
        } else {
            principal_by_id(principals, grantee).filter(|g| g.is("type", "G") || g.is("type", "R") || g.is("type", "X"))
        };
        if is_deny(p) && (is_connect(p) || is_control(p)) {
            match (own, public, other) {
                (true, _, _) => a.own_deny.push(p),
                (_, true, _) => a.public_deny.push(p),
                (_, _, Some(g)) => a.other_deny.push((p, g)),
                _ => {}
            }
        } else if is_grant(p) && (is_connect(p) || is_control(p)) {
            match (own, public, other) {
                (true, _, _) => a.own_grant.push(p),
                (_, true, _) => a.public_grant.push(p),
                (_, _, Some(g)) => a.other_grant.push((p, g)),
                _ => {}
            }
        }
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(desc: &str) -> Row {
        serde_json::from_value(serde_json::json!({"type": 4, "type_desc": "DATABASE_MIRRORING", "connection_auth_desc": desc}))
            .expect("a row")
    }

    #[test]
    fn the_pair_authenticates_the_way_both_endpoints_allow() {
        let (win, cert, both) = (endpoint("NEGOTIATE"), endpoint("CERTIFICATE"), endpoint("NEGOTIATE, CERTIFICATE"));
        assert_eq!(pair_auth(None, Some(&cert)), PairAuth::Windows, "no endpoint yet: the one endpoint.missing creates");
        assert_eq!(pair_auth(Some(&win), Some(&win)), PairAuth::Windows);
        assert_eq!(pair_auth(Some(&cert), Some(&cert)), PairAuth::Certificate);
        assert_eq!(pair_auth(Some(&cert), None), PairAuth::Certificate, "a certificate-only receiver accepts nothing else");
        assert_eq!(pair_auth(Some(&both), Some(&cert)), PairAuth::Certificate);
        assert_eq!(pair_auth(Some(&cert), Some(&both)), PairAuth::Certificate);
        assert_eq!(pair_auth(Some(&both), Some(&win)), PairAuth::Windows);
        assert_eq!(pair_auth(Some(&both), Some(&both)), PairAuth::Either);
        assert_eq!(pair_auth(Some(&win), Some(&cert)), PairAuth::Incompatible);
        assert_eq!(pair_auth(Some(&cert), Some(&win)), PairAuth::Incompatible);
        assert_eq!(pair_auth(Some(&both), None), PairAuth::Windows);
    }
}
