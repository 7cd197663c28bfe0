//! Seed: "Accounts" 2 (built-in or non-domain accounts need certificates) of
//! troubleshoot-ag-configuration.md; "Use Certificates for a Database Mirroring Endpoint" (inbound
//! connections) and the Linux / read-scale AG setup ("Certificate authentication").
//!
//! When a partner B authenticates to replica A's database mirroring endpoint with a certificate
//! (Linux and Pacemaker AGs, read-scale AGs with CLUSTER_TYPE = NONE, workgroup AGs), A accepts it
//! only if:
//! 1. A's `master.sys.certificates` holds B's endpoint certificate (the same certificate: same
//!    thumbprint; SQL Server finds it by issuer name and serial number and refuses it, error 28045,
//!    when the one in master differs);
//! 2. that certificate maps to a login: its owner (`principal_id`, a user in master) has the SID of
//!    a login in `sys.server_principals` (CREATE LOGIN / CREATE USER FOR LOGIN / CREATE CERTIFICATE
//!    AUTHORIZATION user), or a certificate-mapped login (type C) carries the certificate's SID;
//! 3. that login holds CONNECT on A's endpoint (or owns it, or is sa).
//!
//! A shared certificate (the Linux setup's `dbm_certificate`, copied with its private key to every
//! replica) satisfies 1 on every replica at once; it is owned by `dbm_user` (mapped to `dbm_login`)
//! on the replicas it was restored on and by dbo (sa) on the one it was created on.
//!
//! Pairs are evaluated from the receiving side, once per (A, B) however many AGs they share.

use serde_json::{Value, json};

use super::accounts::{Pair, pairs};
use super::endpoint_facts::{DEFAULT_ENDPOINT, PairAuth, access, mirroring_endpoint, pair_auth};
use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::{statements, tsql};
use crate::snapshot::{Instance, Row, keys};

const NEEDS: &[&str] = &[keys::AVAILABILITY_REPLICAS, keys::DATABASE_MIRRORING_ENDPOINTS, keys::CERTIFICATES];
const LOGIN_NEEDS: &[&str] = &[
    keys::AVAILABILITY_REPLICAS,
    keys::DATABASE_MIRRORING_ENDPOINTS,
    keys::CERTIFICATES,
    keys::DATABASE_PRINCIPALS,
    keys::SERVER_PRINCIPALS,
];
const CONNECT_NEEDS: &[&str] = &[
    keys::AVAILABILITY_REPLICAS,
    keys::DATABASE_MIRRORING_ENDPOINTS,
    keys::CERTIFICATES,
    keys::DATABASE_PRINCIPALS,
    keys::SERVER_PRINCIPALS,
    keys::SERVER_PERMISSIONS,
];
const SEED: &str = "troubleshoot-ag-configuration: Accounts 2 (certificates); Use Certificates for a Database Mirroring \
     Endpoint (inbound connections); Configure an availability group on Linux (certificate authentication)";

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "accounts.partner_certificate_missing",
            category: Category::Accounts,
            title: "A partner's endpoint certificate is not in this replica's master",
            description: "The partner's database mirroring endpoint authenticates with a certificate, and this replica's endpoint accepts certificates, but master.sys.certificates here holds no certificate with the same thumbprint (or holds one with the partner certificate's issuer and serial number but another thumbprint). The handshake is refused (errors 28035 / 28045 in this replica's error log) and the partner stays DISCONNECTED.",
            needs: NEEDS,
            related_errors: &[28035, 28045, 35250],
            seed: SEED,
        },
        run: partner_certificate_missing,
    },
    Check {
        info: CheckInfo {
            id: "accounts.certificate_login_missing",
            category: Category::Accounts,
            title: "A partner's certificate is not mapped to a login",
            description: "This replica holds the partner's endpoint certificate, but the certificate maps to no login: its owner in master is a user without a login (or is missing), and no certificate-mapped login carries its SID. The endpoint has no login to check CONNECT for, so the handshake is refused.",
            needs: LOGIN_NEEDS,
            related_errors: &[35250],
            seed: SEED,
        },
        run: certificate_login_missing,
    },
    Check {
        info: CheckInfo {
            id: "accounts.certificate_connect_missing",
            category: Category::Accounts,
            title: "The login of a partner's certificate lacks CONNECT on the endpoint",
            description: "The partner's endpoint certificate is in master and mapped to a login, but that login holds no CONNECT (nor CONTROL) on this replica's database mirroring endpoint, does not own it, or is denied it: the handshake fails with error 28034 (\"does not have CONNECT permission on the endpoint\").",
            needs: CONNECT_NEEDS,
            related_errors: &[28034, 35250],
            seed: SEED,
        },
        run: certificate_connect_missing,
    },
];

const CERT_COLUMNS: &[&str] = &[
    "name",
    "certificate_id",
    "principal_id",
    "pvt_key_encryption_type_desc",
    "issuer_name",
    "cert_serial_number",
    "sid",
    "subject",
    "start_date",
    "expiry_date",
    "thumbprint",
];
const ENDPOINT_COLUMNS: &[&str] =
    &["name", "endpoint_id", "principal_id", "state_desc", "connection_auth_desc", "certificate_id"];
const USER_COLUMNS: &[&str] = &["database_name", "name", "principal_id", "type", "type_desc", "sid", "authentication_type_desc"];
const PRINCIPAL_COLUMNS: &[&str] = &["name", "principal_id", "sid", "type", "type_desc", "is_disabled"];
const PERMISSION_COLUMNS: &[&str] =
    &["class", "class_desc", "major_id", "grantee_principal_id", "type", "permission_name", "state", "state_desc"];

// ---------------------------------------------------------------------------------------------
// varbinary values: "0x..." hex (live collector) or base64 (collect.sql's FOR JSON)
// ---------------------------------------------------------------------------------------------

/// The bytes of a varbinary column, whichever of the two encodings the producer used.
pub(crate) fn varbinary(text: &str) -> Option<Vec<u8>> {
    let t = text.trim();
    if let Some(hex) = t.strip_prefix("0x").or_else(|| t.strip_prefix("0X")) {
        if hex.len() % 2 != 0 {
            return None;
        }
        return (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok()).collect();
    }
    base64(t)
}

fn base64(text: &str) -> Option<Vec<u8>> {
    let mut out = Vec::new();
    let (mut acc, mut bits) = (0u32, 0u32);
    for c in text.bytes().filter(|c| *c != b'=') {
        let v = match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            _ => return None,
        };
        acc = (acc << 6) | u32::from(v);
        bits += 6;
        if bits >= 8 {
            bits -= 8;
            out.push((acc >> bits) as u8);
            acc &= (1 << bits) - 1;
        }
    }
    (!out.is_empty()).then_some(out)
}

fn same_bytes(a: Option<&str>, b: Option<&str>) -> bool {
    match (a.and_then(varbinary), b.and_then(varbinary)) {
        (Some(x), Some(y)) => x == y,
        _ => false,
    }
}

/// What identifies a certificate: its thumbprint bytes, else its issuer name and serial number.
fn identity(cert: &Row) -> Option<(Option<Vec<u8>>, String)> {
    if let Some(bytes) = cert.str("thumbprint").and_then(varbinary) {
        return Some((Some(bytes), String::new()));
    }
    let issuer = cert.str("issuer_name")?.trim().to_lowercase();
    let serial = cert.str("cert_serial_number")?.trim().to_lowercase();
    Some((None, format!("{issuer}\n{serial}")))
}

fn same_text(a: Option<&str>, b: Option<&str>) -> bool {
    matches!((a, b), (Some(x), Some(y)) if x.trim().eq_ignore_ascii_case(y.trim()))
}

// ---------------------------------------------------------------------------------------------
// The pairs that authenticate with certificates
// ---------------------------------------------------------------------------------------------

pub(crate) struct CertCase<'s> {
    pub(crate) ag: &'s str,
    pub(crate) a: &'s Instance,
    pub(crate) a_name: &'s str,
    /// The first partner presenting the certificate (the finding's replica).
    pub(crate) b_name: &'s str,
    /// Every partner presenting this certificate to A (a shared certificate: several).
    pub(crate) partners: Vec<&'s str>,
    pub(crate) a_endpoint: &'s Row,
    pub(crate) b_endpoint: &'s Row,
    /// B's endpoint certificate, from B's own `certificates`.
    pub(crate) b_cert: &'s Row,
    /// A's certificates (collected).
    pub(crate) a_certs: &'s [Row],
}

impl<'s> CertCase<'s> {
    /// "SQL1", "SQL1 and SQL3".
    pub(crate) fn who(&self) -> String {
        match self.partners.len() {
            0 | 1 => self.b_name.to_string(),
            n => format!("{} and {}", self.partners[..n - 1].join(", "), self.partners[n - 1]),
        }
    }
    fn cert_name(&self) -> &str {
        self.b_cert.str("name").unwrap_or("?")
    }
    fn endpoint_name(&self) -> &str {
        self.a_endpoint.str("name").unwrap_or(DEFAULT_ENDPOINT)
    }
    /// A's certificate with the same thumbprint as B's endpoint certificate (by issuer name and
    /// serial number, as the handshake looks it up, when the snapshot has no thumbprint).
    pub(crate) fn held(&self) -> Option<&'s Row> {
        if self.b_cert.str("thumbprint").and_then(varbinary).is_some() {
            self.a_certs.iter().find(|c| same_bytes(c.str("thumbprint"), self.b_cert.str("thumbprint")))
        } else {
            self.impostor()
        }
    }
    /// A's certificate with B's certificate's issuer and serial number but another thumbprint.
    fn impostor(&self) -> Option<&'s Row> {
        self.a_certs.iter().find(|c| {
            same_text(c.str("issuer_name"), self.b_cert.str("issuer_name"))
                && same_text(c.str("cert_serial_number"), self.b_cert.str("cert_serial_number"))
        })
    }
    fn evidence(&self) -> Value {
        json!({
            "ag": self.ag,
            "replica": self.b_name,
            "presented_by": self.partners,
            "partner_database_mirroring_endpoints": self.b_endpoint.pick(ENDPOINT_COLUMNS),
            "partner_certificate": self.b_cert.pick(CERT_COLUMNS),
            "database_mirroring_endpoints": self.a_endpoint.pick(ENDPOINT_COLUMNS),
        })
    }
}

/// Every (A, B) where B authenticates to A with B's endpoint certificate; pairs that cannot be
/// judged are recorded as not evaluated.
pub(crate) fn cert_cases<'s>(ctx: &Ctx<'s>, run: &mut CheckRun<'_>) -> Vec<CertCase<'s>> {
    let mut cases: Vec<CertCase<'s>> = Vec::new();
    for pair in pairs(ctx, run) {
        let Ok(Some(a_endpoint)) = pair.a.rows(keys::DATABASE_MIRRORING_ENDPOINTS).map(mirroring_endpoint) else {
            continue; // endpoint.missing, or the accounts checks report the gap
        };
        let b_endpoint = pair
            .b
            .and_then(|b| b.rows(keys::DATABASE_MIRRORING_ENDPOINTS).ok())
            .and_then(mirroring_endpoint);
        match pair_auth(Some(a_endpoint), b_endpoint) {
            PairAuth::Certificate => {}
            PairAuth::Windows | PairAuth::Incompatible => {
                run.evaluated(); // no certificate involved: nothing for these checks to find
                continue;
            }
            PairAuth::Either => {
                run.skip(&pair.subject(), pair.either_auth_reason());
                continue;
            }
        }
        if cases.iter().any(|c| std::ptr::eq(c.a, pair.a) && c.partners.iter().any(|p| p.eq_ignore_ascii_case(pair.b_name))) {
            continue;
        }
        let Some(b_endpoint) = b_endpoint else {
            run.skip(pair.b_name, format!("{}'s endpoint was not collected: the certificate it presents is unknown", pair.b_name));
            continue;
        };
        match partner_certificate(&pair, b_endpoint) {
            Ok(b_cert) => {
                // One case per (A, certificate): partners sharing a certificate share its fix.
                if let Some(case) =
                    cases.iter_mut().find(|c| std::ptr::eq(c.a, pair.a) && identity(c.b_cert) == identity(b_cert))
                {
                    case.partners.push(pair.b_name);
                    continue;
                }
                let a_certs = match pair.a.rows(keys::CERTIFICATES) {
                    Ok(rows) => rows,
                    Err(why) => {
                        run.skip(pair.a_name, format!("{} of {} is unavailable: {why}", keys::CERTIFICATES, pair.a_name));
                        continue;
                    }
                };
                cases.push(CertCase {
                    ag: pair.ag,
                    a: pair.a,
                    a_name: pair.a_name,
                    b_name: pair.b_name,
                    partners: vec![pair.b_name],
                    a_endpoint,
                    b_endpoint,
                    b_cert,
                    a_certs,
                });
            }
            Err(reason) => run.skip(&pair.subject(), reason),
        }
    }
    cases
}

/// B's endpoint certificate: its `certificates` row with the endpoint's `certificate_id`.
fn partner_certificate<'s>(pair: &Pair<'s>, b_endpoint: &'s Row) -> Result<&'s Row, String> {
    let b = pair.b.ok_or_else(|| format!("{} was not collected", pair.b_name))?;
    let Some(id) = b_endpoint.int("certificate_id").filter(|id| *id != 0) else {
        return Err(format!("{}'s endpoint shows no certificate_id: the certificate it presents is unknown", pair.b_name));
    };
    let certs = b
        .rows(keys::CERTIFICATES)
        .map_err(|why| format!("{} of {} is unavailable ({why}): the certificate it presents is unknown", keys::CERTIFICATES, pair.b_name))?;
    let cert = certs.iter().find(|c| c.int("certificate_id") == Some(id)).ok_or_else(|| {
        format!(
            "{}'s endpoint uses certificate_id {id}, which is not in its master.sys.certificates (endpoint.* checks report a dropped endpoint certificate)",
            pair.b_name
        )
    })?;
    let identified = cert.str("thumbprint").and_then(varbinary).is_some()
        || (cert.str("issuer_name").is_some() && cert.str("cert_serial_number").is_some());
    if !identified {
        return Err(format!(
            "{}'s endpoint certificate row has neither a thumbprint nor an issuer name and serial number: it cannot be matched",
            pair.b_name
        ));
    }
    Ok(cert)
}

/// The login A maps B's certificate to, and how.
struct Mapping<'s> {
    login: &'s Row,
    user: Option<&'s Row>,
    how: String,
}

/// Owner user in master -> login with the same SID; else a certificate-mapped login with the
/// certificate's SID. `Err(owner user row)` when neither exists.
fn mapped_login<'s>(cert: &'s Row, users: &'s [Row], logins: &'s [Row]) -> Result<Mapping<'s>, Option<&'s Row>> {
    let master_users = || users.iter().filter(|u| u.str("database_name").is_none_or(|d| d.eq_ignore_ascii_case("master")));
    let owner = cert.int("principal_id").and_then(|id| master_users().find(|u| u.int("principal_id") == Some(id)));
    if let Some((user, login)) =
        owner.and_then(|user| logins.iter().find(|l| same_bytes(l.str("sid"), user.str("sid"))).map(|l| (user, l)))
    {
        return Ok(Mapping {
            login,
            user: Some(user),
            how: format!(
                "the certificate's owner in master is user {} (principal_id {}), whose SID is login {}'s",
                user.str("name").unwrap_or("?"),
                user.int("principal_id").unwrap_or_default(),
                login.str("name").unwrap_or("?")
            ),
        });
    }
    if let Some(login) = logins.iter().find(|l| l.is("type", "C") && same_bytes(l.str("sid"), cert.str("sid"))) {
        return Ok(Mapping {
            login,
            user: owner,
            how: format!("certificate-mapped login {} carries the certificate's SID", login.str("name").unwrap_or("?")),
        });
    }
    Err(owner)
}

fn sql_or_manual(target: &str, phase: Phase, sql: Option<String>, what: &str) -> FixStep {
    match sql {
        Some(text) => FixStep::sql(target, phase, text),
        None => FixStep::manual(target, phase, format!("A name here has characters that cannot be scripted safely; {what} yourself.")),
    }
}

/// Login and user names AgDiag proposes for a partner's certificate: `<certificate>_login` / `_user`
/// (one pair per certificate: a shared certificate has one owner).
fn proposed_names(cert_name: &str) -> (String, String) {
    let base: String = cert_name.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
    (format!("{base}_login"), format!("{base}_user"))
}

/// The documented inbound setup, from a login to CONNECT, for a certificate already in master.
fn map_steps(case: &CertCase<'_>, cert_name: &str) -> Vec<FixStep> {
    let (login, user) = proposed_names(cert_name);
    let a = case.a_name;
    vec![
        FixStep::manual(
            a,
            Phase::CreateLogin,
            format!(
                "Create a login for {b}'s certificate (a SQL login whose password is never used to log in; pick your own strong password):\n\
                 CREATE LOGIN {l} WITH PASSWORD = '<strong password>';",
                b = case.who(),
                l = tsql::ident(&login).unwrap_or_else(|| login.clone()),
            ),
        ),
        sql_or_manual(a, Phase::CreateLogin, statements::create_master_user(&user, &login), "create the user in master (CREATE USER ... FOR LOGIN ...)"),
        sql_or_manual(
            a,
            Phase::CreateLogin,
            statements::alter_certificate_owner(cert_name, &user),
            "make that user the certificate's owner (ALTER AUTHORIZATION ON CERTIFICATE::... TO ...)",
        ),
        sql_or_manual(a, Phase::GrantConnect, statements::grant_connect(case.endpoint_name(), &login), "grant CONNECT on the endpoint to the login"),
    ]
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

fn partner_certificate_missing(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for case in cert_cases(ctx, run) {
        run.evaluated();
        if case.held().is_some() {
            continue;
        }
        let (a, b, cert) = (case.a_name, case.b_name, case.cert_name().to_string());
        let (who, s) = (case.who(), if case.partners.len() > 1 { "" } else { "s" });
        let mut evidence = case.evidence();
        let impostor = case.impostor();
        let what = match impostor {
            Some(other) => {
                evidence["certificates"] = other.pick(CERT_COLUMNS);
                format!(
                    "{a}'s master holds a certificate [{}] with the same issuer name and serial number but another thumbprint \
                     (a re-created certificate): SQL Server refuses the peer with error 28045 (\"The certificate used by the \
                     peer does not match the one in master database with same issuer name and serial number\")",
                    other.str("name").unwrap_or("?")
                )
            }
            None => {
                evidence["certificates"] = Value::Null;
                format!(
                    "{a}'s master.sys.certificates holds no certificate with its thumbprint {}: the handshake is refused \
                     (error 28035, the certificate used by the peer is invalid, in {a}'s error log)",
                    case.b_cert.str("thumbprint").unwrap_or("?")
                )
            }
        };
        let path = format!("<path>/{}.cer", cert.replace(['\\', '/', '\'', '"'], "_"));
        let (login, user) = proposed_names(&cert);
        let name = |n: &str| tsql::ident(n).unwrap_or_else(|| n.to_string());
        let fixes = vec![
            FixStep::manual(
                b,
                Phase::CreateLogin,
                format!(
                    "On {b}, export the public key of its endpoint certificate and copy the file to {a}:\n\
                     USE [master];\nBACKUP CERTIFICATE {} TO FILE = {};",
                    name(&cert),
                    tsql::literal(&path)
                ),
            ),
            FixStep::manual(
                a,
                Phase::CreateLogin,
                format!(
                    "On {a}, create a login and a user in master for certificate {cert_text}, then the certificate from the file, \
                     owned by that user (pick your own strong password; it is never used to log in):\n\
                     USE [master];\n\
                     CREATE LOGIN {l} WITH PASSWORD = '<strong password>';\n\
                     CREATE USER {u} FOR LOGIN {l};{drop}\n\
                     CREATE CERTIFICATE {c} AUTHORIZATION {u} FROM FILE = {p};",
                    l = name(&login),
                    u = name(&user),
                    c = name(&cert),
                    cert_text = name(&cert),
                    p = tsql::literal(&path),
                    drop = if impostor.is_some() {
                        "\n-- a certificate with this issuer and serial number is already in master: DROP CERTIFICATE it first (it must not be the local endpoint's)"
                    } else {
                        ""
                    },
                ),
            ),
            sql_or_manual(a, Phase::GrantConnect, statements::grant_connect(case.endpoint_name(), &login), "grant CONNECT on the endpoint to the login"),
        ];
        run.finding(Severity::Error, format!("{cert} ({b})"))
            .instance(a)
            .ag(case.ag)
            .replica(b)
            .message(format!(
                "{who} authenticate{s} with certificate [{cert}], the certificate of {b}'s database mirroring endpoint, \
                 and {what}. {who} cannot authenticate to {a}: whenever one of the two is the primary (the primary and each secondary connect to \
                 each other's endpoint), the secondary stays DISCONNECTED in availability group {}.",
                case.ag
            ))
            .evidence(evidence)
            .remediation(format!(
                "Back up {b}'s endpoint certificate (public key only) to a file, copy it to {a}, and on {a} CREATE \
                 CERTIFICATE ... AUTHORIZATION <user> FROM FILE with a user mapped to a login that holds CONNECT on the \
                 endpoint [{}]. Copying files between servers cannot be scripted here.",
                case.endpoint_name()
            ))
            .fixes(fixes)
            .emit();
    }
}

/// A's master users and logins, or a recorded reason.
fn principals<'s>(run: &mut CheckRun<'_>, case: &CertCase<'s>) -> Option<(&'s [Row], &'s [Row])> {
    let users = run.rows(case.a, keys::DATABASE_PRINCIPALS)?;
    let logins = run.rows(case.a, keys::SERVER_PRINCIPALS)?;
    Some((users, logins))
}

fn certificate_login_missing(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for case in cert_cases(ctx, run) {
        let Some(held) = case.held() else { continue }; // partner_certificate_missing
        let Some((users, logins)) = principals(run, &case) else { continue };
        run.evaluated();
        let owner = match mapped_login(held, users, logins) {
            Ok(_) => continue,
            Err(owner) => owner,
        };
        let (a, b) = (case.a_name, case.b_name);
        let (who, s) = (case.who(), if case.partners.len() > 1 { "" } else { "s" });
        let cert = held.str("name").unwrap_or("?").to_string();
        let why = match owner {
            Some(u) => format!(
                "its owner in master is user {} (principal_id {}), whose SID {} matches no login in sys.server_principals \
                 (a user without login, or one whose login was dropped), and no certificate-mapped login carries the \
                 certificate's SID",
                u.str("name").unwrap_or("?"),
                u.int("principal_id").unwrap_or_default(),
                u.str("sid").unwrap_or("NULL")
            ),
            None => format!(
                "its owner (principal_id {}) is not a user in master's sys.database_principals, and no certificate-mapped \
                 login carries the certificate's SID",
                held.int("principal_id").map_or("NULL".to_string(), |i| i.to_string())
            ),
        };
        let mut evidence = case.evidence();
        evidence["certificates"] = held.pick(CERT_COLUMNS);
        evidence["database_principals"] = owner.map(|u| u.pick(USER_COLUMNS)).unwrap_or(Value::Null);
        run.finding(Severity::Error, format!("{cert} ({b})"))
            .instance(a)
            .ag(case.ag)
            .replica(b)
            .message(format!(
                "{a} holds certificate [{cert}], which {who} present{s} to its endpoint, but {why}. The endpoint \
                 authenticates a certificate as the login it maps to; with none, the handshake is refused, and whenever one of the two is the primary the \
                 secondary stays DISCONNECTED in availability group {}.",
                case.ag
            ))
            .evidence(evidence)
            .remediation(format!(
                "On {a}, create a login and a user in master for it, make that user the owner of certificate [{cert}] \
                 (ALTER AUTHORIZATION ON CERTIFICATE), and grant the login CONNECT on the endpoint [{}].",
                case.endpoint_name()
            ))
            .fixes(map_steps(&case, &cert))
            .emit();
    }
}

fn certificate_connect_missing(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for case in cert_cases(ctx, run) {
        let Some(held) = case.held() else { continue };
        let Some((users, logins)) = principals(run, &case) else { continue };
        let Some(permissions) = run.rows(case.a, keys::SERVER_PERMISSIONS) else { continue };
        run.evaluated();
        let Ok(mapping) = mapped_login(held, users, logins) else { continue }; // certificate_login_missing
        let acc = access(case.a_endpoint, Some(mapping.login), logins, permissions);
        let sa = mapping.login.int("principal_id") == Some(1);
        let denied = !acc.own_deny.is_empty() || !acc.public_deny.is_empty();
        if !denied && (acc.owner || sa || !acc.own_grant.is_empty() || !acc.public_grant.is_empty()) {
            continue;
        }
        if acc.owner || sa {
            continue; // DENY does not apply to the owner or sa
        }
        let (a, b) = (case.a_name, case.b_name);
        let (who, s) = (case.who(), if case.partners.len() > 1 { "" } else { "s" });
        let login = mapping.login.str("name").unwrap_or("?").to_string();
        let endpoint = case.endpoint_name().to_string();
        let cert = held.str("name").unwrap_or("?");
        let mut evidence = case.evidence();
        evidence["certificates"] = held.pick(CERT_COLUMNS);
        evidence["database_principals"] = mapping.user.map(|u| u.pick(USER_COLUMNS)).unwrap_or(Value::Null);
        evidence["server_principals"] = mapping.login.pick(PRINCIPAL_COLUMNS);
        evidence["server_permissions"] = json!(acc.rows.iter().map(|p| p.pick(PERMISSION_COLUMNS)).collect::<Vec<_>>());
        let mut fixes = Vec::new();
        if !acc.own_deny.is_empty() {
            fixes.push(sql_or_manual(a, Phase::GrantConnect, statements::revoke_connect(&endpoint, &login), "remove the DENY"));
        }
        if !acc.public_deny.is_empty() {
            fixes.push(sql_or_manual(a, Phase::GrantConnect, statements::revoke_connect(&endpoint, "public"), "remove the DENY to public"));
        }
        fixes.push(sql_or_manual(a, Phase::GrantConnect, statements::grant_connect(&endpoint, &login), "grant CONNECT on the endpoint"));
        let state = if denied {
            format!("is denied CONNECT on the endpoint [{endpoint}] (a DENY overrides every GRANT)")
        } else {
            format!("holds neither CONNECT nor CONTROL on the endpoint [{endpoint}] and does not own it")
        };
        run.finding(Severity::Error, format!("{login} ({b})"))
            .instance(a)
            .ag(case.ag)
            .replica(b)
            .message(format!(
                "{who} authenticate{s} to {a} with certificate [{cert}], which {a} maps to login {login} ({}), and {login} \
                 {state}. The handshake fails with error 28034 (\"The login '{login}' does not have CONNECT permission on \
                 the endpoint\") and whenever one of the two is the primary the secondary stays DISCONNECTED in availability \
                 group {}.",
                mapping.how, case.ag
            ))
            .evidence(evidence)
            .remediation(format!("On {a}, GRANT CONNECT ON ENDPOINT::[{endpoint}] TO [{login}] (after revoking any DENY)."))
            .fixes(fixes)
            .emit();
    }
}

#[cfg(test)]
mod tests {
    use super::varbinary;

    #[test]
    fn varbinary_reads_hex_and_base64_alike() {
        assert_eq!(varbinary("0x01AB"), Some(vec![0x01, 0xAB]));
        assert_eq!(varbinary("AavN"), Some(vec![0x01, 0xAB, 0xCD]));
        assert_eq!(varbinary("Aas="), Some(vec![0x01, 0xAB]));
        assert_eq!(varbinary("0x1"), None);
        assert_eq!(varbinary("not base64!"), None);
    }
}
