//! Seed: beyond the seeds: "Allow a Database Mirroring Endpoint to Use Certificates for Outbound
//! Connections" (EXPIRY_DATE in UTC; monitor certificates before they expire) and
//! `sys.certificates` (`start_date`, `expiry_date`).
//!
//! With certificate authentication (Linux and Pacemaker AGs, read-scale AGs, workgroup and
//! cross-domain AGs) two kinds of certificate stand between the replicas:
//! - each endpoint's own certificate (`database_mirroring_endpoints.certificate_id`), with which the
//!   replica authenticates to its partners;
//! - the copy of each partner's endpoint certificate in this replica's master, which the handshake
//!   matches the partner's certificate against (found as `certificate_auth` finds it).
//!
//! An expired certificate fails the handshake of every new connection; connections already
//! established keep working until they drop (a restart, a network blip, a failover), so an expired
//! certificate often shows only at the worst moment. Dates are compared with the snapshot's
//! `collected_at` (never the clock of the machine analysing it: checks are pure).

use std::time::{Duration, SystemTime};

use serde_json::json;

use super::certificate_auth::cert_cases;
use super::endpoint_facts::{DEFAULT_ENDPOINT, mirroring_endpoint};
use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::tsql;
use crate::snapshot::{Instance, Row, keys};
use crate::timeline::parse_utc;

/// How soon before its `expiry_date` a certificate is reported as expiring (no per-check options
/// exist; one named constant).
const EXPIRING_WITHIN_DAYS: u64 = 30;

/// How long the replacement certificate the fix creates is valid (CREATE CERTIFICATE's default is
/// one year; the docs advise an explicit EXPIRY_DATE).
const NEW_CERTIFICATE_DAYS: u64 = 2 * 365;

const NEEDS: &[&str] = &[keys::AVAILABILITY_REPLICAS, keys::DATABASE_MIRRORING_ENDPOINTS, keys::CERTIFICATES];
const SEED: &str = "beyond the seeds: Allow a Database Mirroring Endpoint to Use Certificates for Outbound Connections \
     (EXPIRY_DATE in UTC, watch for expiring certificates); sys.certificates (expiry_date)";

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "certificate.expired",
            category: Category::Certificate,
            title: "An endpoint certificate has expired",
            description: "The certificate a database mirroring endpoint authenticates with, or the copy of a partner's endpoint certificate in this replica's master, is past its expiry_date (UTC) at the time of collection. New connections between the replicas fail the handshake; connections already established survive only until they drop (restart, network interruption, failover), after which the secondaries stay DISCONNECTED. Rotate it: create a new certificate, exchange its public key, ALTER ENDPOINT to use it, drop the old one.",
            needs: NEEDS,
            related_errors: &[35250],
            seed: SEED,
        },
        run: expired,
    },
    Check {
        info: CheckInfo {
            id: "certificate.expiring",
            category: Category::Certificate,
            title: "An endpoint certificate expires soon",
            description: "The certificate a database mirroring endpoint authenticates with, or the copy of a partner's endpoint certificate in this replica's master, expires within 30 days of the collection. Once expired, new connections between the replicas fail; rotate it before then (create a new certificate, exchange its public key, ALTER ENDPOINT to use it, drop the old one).",
            needs: NEEDS,
            related_errors: &[],
            seed: SEED,
        },
        run: expiring,
    },
];

const CERT_COLUMNS: &[&str] = &[
    "name",
    "certificate_id",
    "principal_id",
    "pvt_key_encryption_type",
    "pvt_key_encryption_type_desc",
    "issuer_name",
    "cert_serial_number",
    "subject",
    "start_date",
    "expiry_date",
    "thumbprint",
];
const ENDPOINT_COLUMNS: &[&str] =
    &["name", "endpoint_id", "state_desc", "connection_auth", "connection_auth_desc", "certificate_id"];

/// One certificate on one instance that the endpoint handshake relies on.
struct Held<'s> {
    ag: &'s str,
    instance: &'s Instance,
    /// The instance's replica server name (the `:Connect` target).
    name: &'s str,
    cert: &'s Row,
    /// Its own endpoint (with `own`), or the endpoint the partners connect to.
    endpoint: &'s Row,
    /// It is this instance's own endpoint certificate.
    own: bool,
    /// The partners that present it to this instance (a partner's certificate, or a shared one).
    partners: Vec<&'s str>,
}

impl Held<'_> {
    fn cert_name(&self) -> &str {
        self.cert.str("name").unwrap_or("?")
    }
    fn endpoint_name(&self) -> &str {
        self.endpoint.str("name").unwrap_or(DEFAULT_ENDPOINT)
    }
    fn role(&self) -> String {
        match (self.own, self.partners.as_slice()) {
            (true, []) => format!("the certificate {}'s database mirroring endpoint authenticates with", self.name),
            (true, partners) => format!(
                "the certificate {}'s database mirroring endpoint authenticates with, and the one {} present to it (one shared certificate)",
                self.name,
                join(partners)
            ),
            (false, partners) => format!("{}'s endpoint certificate, as {} holds it in master to accept {}", join(partners), self.name, join(partners)),
        }
    }
}

fn join(names: &[&str]) -> String {
    match names {
        [] => String::new(),
        [one] => one.to_string(),
        [head @ .., last] => format!("{} and {last}", head.join(", ")),
    }
}

fn same_cert(a: &Row, b: &Row) -> bool {
    std::ptr::eq(a, b)
}

/// Every (instance, certificate) the handshake relies on: each collected replica's own endpoint
/// certificate, then the partners' certificates it holds (found the way `certificate_auth` finds
/// them; one entry per certificate on an instance however many AGs and partners share it).
fn held_certificates<'s>(ctx: &Ctx<'s>, run: &mut CheckRun<'_>) -> Vec<Held<'s>> {
    let mut out: Vec<Held<'s>> = Vec::new();
    for ag in ctx.topology.ags.iter().filter(|ag| !ag.is_distributed()) {
        for replica in &ag.replicas {
            let Some(index) = replica.instance else { continue };
            let inst = &ctx.snapshot.instances[index];
            if out.iter().any(|h| h.own && std::ptr::eq(h.instance, inst)) {
                continue;
            }
            let Some(endpoints) = run.rows(inst, keys::DATABASE_MIRRORING_ENDPOINTS) else { continue };
            let Some(endpoint) = mirroring_endpoint(endpoints) else {
                run.evaluated(); // no endpoint, no certificate (endpoint.missing reports it)
                continue;
            };
            let Some(id) = endpoint.int("certificate_id").filter(|id| *id != 0) else {
                run.evaluated(); // Windows authentication only: no endpoint certificate
                continue;
            };
            let Some(certs) = run.rows(inst, keys::CERTIFICATES) else { continue };
            match certs.iter().find(|c| c.int("certificate_id") == Some(id)) {
                Some(cert) => out.push(Held { ag: ag.name, instance: inst, name: replica.server_name, cert, endpoint, own: true, partners: Vec::new() }),
                None => run.skip(
                    replica.server_name,
                    format!("its endpoint uses certificate_id {id}, which is not in master.sys.certificates (the endpoint checks report it)"),
                ),
            }
        }
    }
    for case in cert_cases(ctx, run) {
        let Some(cert) = case.held() else { continue }; // accounts.partner_certificate_missing
        if let Some(h) = out.iter_mut().find(|h| std::ptr::eq(h.instance, case.a) && same_cert(h.cert, cert)) {
            for p in &case.partners {
                if !h.partners.iter().any(|q| q.eq_ignore_ascii_case(p)) {
                    h.partners.push(p);
                }
            }
            continue;
        }
        out.push(Held {
            ag: case.ag,
            instance: case.a,
            name: case.a_name,
            cert,
            endpoint: case.a_endpoint,
            own: false,
            partners: case.partners.clone(),
        });
    }
    out
}

/// The snapshot's `collected_at`, or why the dates cannot be judged.
fn collected_at(ctx: &Ctx<'_>) -> Result<SystemTime, String> {
    let text = ctx.snapshot.collected_at.as_deref().ok_or("the snapshot has no collected_at: certificate dates cannot be compared with the time of collection")?;
    parse_utc(text).ok_or_else(|| format!("collected_at {text:?} is not an ISO 8601 time: certificate dates cannot be judged"))
}

enum Validity {
    Expired { days_ago: u64 },
    Expiring { days_left: u64 },
    Valid,
}

fn validity(expiry: SystemTime, at: SystemTime) -> Validity {
    const DAY: u64 = 86_400;
    match expiry.duration_since(at) {
        Err(past) => Validity::Expired { days_ago: past.duration().as_secs() / DAY },
        Ok(left) if left <= Duration::from_secs(EXPIRING_WITHIN_DAYS * DAY) => Validity::Expiring { days_left: left.as_secs() / DAY },
        Ok(_) => Validity::Valid,
    }
}

fn check(ctx: &Ctx<'_>, run: &mut CheckRun<'_>, want_expired: bool) {
    let at = match collected_at(ctx) {
        Ok(at) => at,
        Err(why) => {
            run.skip("AgDiag", why);
            return;
        }
    };
    for held in held_certificates(ctx, run) {
        let Some(expiry_text) = held.cert.str("expiry_date") else {
            run.skip(held.name, format!("certificate [{}] has no expiry_date", held.cert_name()));
            continue;
        };
        let Some(expiry) = parse_utc(expiry_text) else {
            run.skip(held.name, format!("certificate [{}] has an expiry_date that is not a date: {expiry_text:?}", held.cert_name()));
            continue;
        };
        run.evaluated();
        let (severity, when) = match (validity(expiry, at), want_expired) {
            (Validity::Expired { days_ago }, true) => (Severity::Error, format!("expired on {expiry_text} UTC ({days_ago} days before the collection)")),
            (Validity::Expiring { days_left }, false) => (
                Severity::Warning,
                format!("expires on {expiry_text} UTC, {days_left} days after the collection (the warning starts {EXPIRING_WITHIN_DAYS} days ahead)"),
            ),
            _ => continue,
        };
        emit(ctx, run, &held, severity, &when, at);
    }
}

fn expired(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    check(ctx, run, true);
}

fn expiring(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    check(ctx, run, false);
}

fn emit(ctx: &Ctx<'_>, run: &mut CheckRun<'_>, held: &Held<'_>, severity: Severity, when: &str, at: SystemTime) {
    let (name, cert) = (held.name, held.cert_name().to_string());
    let effect = if severity == Severity::Error {
        "The endpoint handshake refuses an expired certificate: every new connection between these replicas fails, and the \
         connections still up (made before it expired) survive only until they drop (a restart, a network interruption, a \
         failover), after which the secondaries stay DISCONNECTED."
    } else {
        "Once it expires the endpoint handshake refuses it: new connections between these replicas fail, and existing ones \
         survive only until they drop (a restart, a network interruption, a failover)."
    };
    let (fixes, remediation) = if held.own {
        rotation(ctx, held, at)
    } else {
        let owners = join(&held.partners);
        (
            Vec::new(),
            format!(
                "The certificate belongs to {owners}: rotate it there (create a new certificate, back up its public key, \
                 ALTER ENDPOINT to use it), then on {name} create the new certificate FROM FILE with the same owner as [{cert}] \
                 and drop [{cert}] once {owners} are CONNECTED with the new one. {owners}'s own finding lists the steps when {owners} were collected."
            ),
        )
    };
    let partners = held.partners.clone();
    run.finding(severity, format!("{cert} ({name})"))
        .instance(name)
        .ag(held.ag)
        .message(format!("Certificate [{cert}], {}, {when}. {effect}", held.role()))
        .evidence(json!({
            "ag": held.ag,
            "collected_at": ctx.snapshot.collected_at,
            "expiring_within_days": EXPIRING_WITHIN_DAYS,
            "own_endpoint_certificate": held.own,
            "presented_by": partners,
            "certificates": held.cert.pick(CERT_COLUMNS),
            "database_mirroring_endpoints": held.endpoint.pick(ENDPOINT_COLUMNS),
        }))
        .remediation(remediation)
        .fixes(fixes)
        .emit();
}

/// A name for the replacement certificate: `<old>_<server>_<expiry yyyymmdd>`, ASCII letters,
/// digits and `_`. The server is in it because each replica rotates its own: replicas that shared
/// one certificate (the Linux setup's) each get their own, and each holds the others'.
fn new_certificate_name(old: &str, server: &str, expiry_date: &str) -> String {
    let clean = |s: &str, n: usize| -> String { s.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).take(n).collect() };
    format!("{}_{}_{}", clean(old, 80), clean(server, 30), expiry_date.replace('-', ""))
}

/// `AUTHENTICATION = ...` for the endpoint with the new certificate, keeping any Windows part in
/// the same order; `None` when the endpoint's setting is not one of the documented values.
fn authentication_clause(endpoint: &Row, new_cert: &str) -> Option<String> {
    let cert = format!("CERTIFICATE {}", tsql::ident(new_cert)?);
    let desc = endpoint.code("connection_auth_desc").map(|d| d.to_ascii_uppercase());
    let parts: Vec<String> = match desc {
        Some(d) => d.split(',').map(|p| p.trim().to_string()).collect(),
        None => match endpoint.int("connection_auth")? {
            4 => vec!["CERTIFICATE".into()],
            n @ 5..=7 => vec![["NTLM", "KERBEROS", "NEGOTIATE"][(n - 5) as usize].into(), "CERTIFICATE".into()],
            n @ 8..=10 => vec!["CERTIFICATE".into(), ["NTLM", "KERBEROS", "NEGOTIATE"][(n - 8) as usize].into()],
            _ => return None,
        },
    };
    let word = |p: &str| -> Option<String> {
        match p {
            "CERTIFICATE" => Some(cert.clone()),
            "NTLM" | "KERBEROS" | "NEGOTIATE" => Some(format!("WINDOWS {p}")),
            _ => None,
        }
    };
    match parts.as_slice() {
        [one] if one == "CERTIFICATE" => word(one),
        [first, second] if first == "CERTIFICATE" || second == "CERTIFICATE" => Some(format!("{} {}", word(first)?, word(second)?)),
        _ => None,
    }
}

/// The rotation of an instance's own endpoint certificate: create the new certificate, export its
/// public key to every partner, have each partner trust it, switch the endpoint, drop the old one.
fn rotation(ctx: &Ctx<'_>, held: &Held<'_>, at: SystemTime) -> (Vec<FixStep>, String) {
    let (x, old) = (held.name, held.cert_name());
    let expiry = humantime::format_rfc3339_seconds(at + Duration::from_secs(NEW_CERTIFICATE_DAYS * 86_400)).to_string();
    let expiry_date = expiry.get(..10).unwrap_or("2099-12-31").to_string();
    let new = new_certificate_name(old, x, &expiry_date);
    let name = |n: &str| tsql::ident(n).unwrap_or_else(|| n.to_string());
    let subject = held.cert.str("subject").unwrap_or(old);
    let path = format!("<path>/{new}.cer");
    let partners: Vec<&str> = partners_of(ctx, held);
    let by_master_key = held.cert.is("pvt_key_encryption_type", "MK") || held.cert.is("pvt_key_encryption_type_desc", "ENCRYPTED_BY_MASTER_KEY");
    let mut steps = Vec::new();
    let create = format!(
        "USE [master]; IF NOT EXISTS (SELECT 1 FROM sys.certificates WHERE name = {}) CREATE CERTIFICATE {} WITH SUBJECT = {}, EXPIRY_DATE = {};",
        tsql::literal(&new),
        name(&new),
        tsql::literal(subject),
        tsql::literal(&expiry_date.replace('-', "")),
    );
    if by_master_key && tsql::ident(&new).is_some() {
        steps.push(FixStep::sql(x, Phase::CreateLogin, create));
    } else {
        steps.push(FixStep::manual(
            x,
            Phase::CreateLogin,
            format!(
                "Create the new certificate in master, its private key protected as [{old}]'s is ({}):\n{create}",
                held.cert.str("pvt_key_encryption_type_desc").unwrap_or("unknown protection")
            ),
        ));
    }
    steps.push(FixStep::manual(
        x,
        Phase::CreateLogin,
        format!(
            "Export the new certificate's public key and copy the file to {}:\nUSE [master];\nBACKUP CERTIFICATE {} TO FILE = {};",
            if partners.is_empty() { "every partner replica".to_string() } else { join(&partners) },
            name(&new),
            tsql::literal(&path)
        ),
    ));
    for p in &partners {
        let owner = partner_owner(ctx, p, held.cert);
        steps.push(FixStep::manual(
            p,
            Phase::CreateLogin,
            format!(
                "On {p}, create the new certificate from the file, owned by the user that owns [{old}] there (so it maps to the same login, which holds CONNECT):\n\
                 USE [master];\nCREATE CERTIFICATE {} AUTHORIZATION {} FROM FILE = {};",
                name(&new),
                owner.as_deref().and_then(tsql::ident).unwrap_or_else(|| "[<owner of the old certificate>]".into()),
                tsql::literal(&path)
            ),
        ));
    }
    // Switching the endpoint is a manual step although it is plain T-SQL: run before every
    // partner holds the new certificate, it cuts this replica off from all of them, and only the
    // DBA knows when the files have been copied and imported.
    let endpoint = held.endpoint_name();
    let wait = "Once every partner holds the new certificate (the steps above), switch the endpoint to it; run earlier, this replica can authenticate to none of them";
    match (tsql::ident(endpoint), authentication_clause(held.endpoint, &new)) {
        (Some(ep), Some(auth)) => steps.push(FixStep::manual(
            x,
            Phase::AlterEndpoint,
            format!("{wait}:\nALTER ENDPOINT {ep} FOR DATABASE_MIRRORING (AUTHENTICATION = {auth});"),
        )),
        _ => steps.push(FixStep::manual(
            x,
            Phase::AlterEndpoint,
            format!("{wait}: ALTER ENDPOINT ... FOR DATABASE_MIRRORING (AUTHENTICATION = CERTIFICATE <new certificate>), keeping its Windows part if any."),
        )),
    }
    steps.push(FixStep::manual(
        x,
        Phase::AlterEndpoint,
        format!(
            "When every replica is CONNECTED again with the new certificate, drop the old one on {x}{}:\nUSE [master];\nDROP CERTIFICATE {};",
            if partners.is_empty() { String::new() } else { format!(" and on {}", join(&partners)) },
            name(old)
        ),
    ));
    let remediation = format!(
        "Rotate [{old}] on {x}: create a new certificate (CREATE CERTIFICATE ... WITH SUBJECT, EXPIRY_DATE), back up its public key \
         and create it from that file on every partner, owned by the user that owns [{old}] there; then ALTER ENDPOINT [{endpoint}] \
         FOR DATABASE_MIRRORING (AUTHENTICATION = CERTIFICATE <new>) and, once every replica is CONNECTED, DROP CERTIFICATE [{old}] \
         everywhere. Replicas that shared one certificate (the Linux setup's dbm_certificate) each rotate to a certificate \
         of their own (<old>_<replica>_<date>, one finding per replica), and each imports the others'."
    );
    (steps, remediation)
}

/// The replicas that hold `held`'s certificate as a partner's (every partner of its AGs).
fn partners_of<'s>(ctx: &Ctx<'s>, held: &Held<'_>) -> Vec<&'s str> {
    let mut out: Vec<&'s str> = Vec::new();
    for ag in ctx.topology.ags.iter().filter(|ag| !ag.is_distributed() && ag.replica_named(held.name).is_some()) {
        for r in &ag.replicas {
            if !r.server_name.eq_ignore_ascii_case(held.name) && !out.iter().any(|o| o.eq_ignore_ascii_case(r.server_name)) {
                out.push(r.server_name);
            }
        }
    }
    out
}

/// The user that owns the partner's copy of `cert` in `partner`'s master, when collected.
fn partner_owner(ctx: &Ctx<'_>, partner: &str, cert: &Row) -> Option<String> {
    let inst = ctx.instance_named(partner)?;
    let copy = inst.rows(keys::CERTIFICATES).ok()?.iter().find(|c| same_thumbprint(c, cert))?;
    let id = copy.int("principal_id")?;
    let users = inst.rows(keys::DATABASE_PRINCIPALS).ok()?;
    users
        .iter()
        .filter(|u| u.str("database_name").is_none_or(|d| d.eq_ignore_ascii_case("master")))
        .find(|u| u.int("principal_id") == Some(id))
        .and_then(|u| u.str("name"))
        .map(str::to_string)
}

fn same_thumbprint(a: &Row, b: &Row) -> bool {
    use super::certificate_auth::varbinary;
    matches!((a.str("thumbprint").and_then(varbinary), b.str("thumbprint").and_then(varbinary)), (Some(x), Some(y)) if x == y)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(desc: &str) -> Row {
        serde_json::from_value(json!({"name": "Hadr_endpoint", "connection_auth_desc": desc})).unwrap()
    }

    #[test]
    fn the_endpoint_keeps_its_windows_part_in_order() {
        assert_eq!(authentication_clause(&endpoint("CERTIFICATE"), "c2").as_deref(), Some("CERTIFICATE [c2]"));
        assert_eq!(authentication_clause(&endpoint("NEGOTIATE, CERTIFICATE"), "c2").as_deref(), Some("WINDOWS NEGOTIATE CERTIFICATE [c2]"));
        assert_eq!(authentication_clause(&endpoint("CERTIFICATE, KERBEROS"), "c]2").as_deref(), Some("CERTIFICATE [c]]2] WINDOWS KERBEROS"));
        assert_eq!(authentication_clause(&endpoint("NEGOTIATE"), "c2"), None);
    }

    #[test]
    fn thirty_days_is_the_edge() {
        let at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_000 * 86_400);
        let day = |d: u64| at + Duration::from_secs(d * 86_400);
        assert!(matches!(validity(day(31), at), Validity::Valid));
        assert!(matches!(validity(day(30), at), Validity::Expiring { days_left: 30 }));
        assert!(matches!(validity(at - Duration::from_secs(2 * 86_400), at), Validity::Expired { days_ago: 2 }));
    }
}
