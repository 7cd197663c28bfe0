//! Seed: "Accounts" and "Join Database Fails (35250)" step 5 (troubleshoot-ag-configuration.md);
//! "Connection Handshake Failure" (endpoint-handshake-and-ownership.md).
//!
//! The primary and each secondary connect to each other's database mirroring endpoint (secondaries
//! do not connect to each other, but any replica can become the primary, so every replica needs a
//! login for every partner). With Windows authentication each presents its service account (a virtual account,
//! Network Service or Local System present the computer account `DOMAIN\MACHINE$`). That login
//! must exist on the receiving instance, be enabled, not be denied CONNECT on the endpoint, and hold
//! CONNECT (or own the endpoint). A local or workgroup account cannot authenticate to another
//! computer at all: those replicas need certificate authentication.
//!
//! Pairs are evaluated from the receiving side: for each availability group, each collected replica
//! A and each partner B, "the login B presents to A's endpoint". Findings are per (A, login), so a
//! domain account shared by several partners is reported once with every partner in the evidence.

use serde_json::{Value, json};

use super::endpoint_facts::{
    Auth, DEFAULT_ENDPOINT, PairAuth, access, auth, pair_auth, principal_named,
};
use super::service_account::{Identity, Presented, find_instance, presented, unavailable_reason};
use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::{statements, tsql};
use crate::snapshot::{Instance, Row, keys};
use crate::topology::AgView;

const LOGIN_NEEDS: &[&str] = &[
    keys::AVAILABILITY_REPLICAS,
    keys::DM_SERVER_SERVICES,
    keys::SERVER_PROPERTIES,
    keys::DATABASE_MIRRORING_ENDPOINTS,
    keys::SERVER_PRINCIPALS,
    keys::SERVER_PERMISSIONS,
];

const SEED_LOGINS: &str = "troubleshoot-ag-configuration: Accounts 1 (logins and CONNECT on the remote endpoint); \
     Join Database Fails (35250) step 5; endpoint-handshake-and-ownership: Connection Handshake Failure";

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "accounts.login_missing",
            category: Category::Accounts,
            title: "Partner service account has no login on this replica",
            description: "A partner replica's SQL Server service authenticates to this instance's database mirroring endpoint as its service account (or, for a virtual account, Network Service or Local System, as the computer account DOMAIN\\MACHINE$), but no such login exists in sys.server_principals. The endpoint handshake fails (error 28034, State 84 in this instance's error log) and the partner stays disconnected.",
            needs: LOGIN_NEEDS,
            related_errors: &[28034, 35250],
            seed: SEED_LOGINS,
        },
        run: login_missing,
    },
    Check {
        info: CheckInfo {
            id: "accounts.login_disabled",
            category: Category::Accounts,
            title: "Partner service account login is disabled",
            description: "The login a partner replica presents to this instance's database mirroring endpoint exists but is disabled (is_disabled = 1): the handshake is refused and the partner cannot connect.",
            needs: LOGIN_NEEDS,
            related_errors: &[28034, 35250],
            seed: SEED_LOGINS,
        },
        run: login_disabled,
    },
    Check {
        info: CheckInfo {
            id: "accounts.connect_denied",
            category: Category::Accounts,
            title: "CONNECT on the mirroring endpoint is denied to a partner's login",
            description: "sys.server_permissions holds a DENY of CONNECT on the database mirroring endpoint for the login a partner replica presents (or for public). A DENY overrides every GRANT, including CONTROL: the handshake fails with error 28034, State 84.",
            needs: LOGIN_NEEDS,
            related_errors: &[28034, 35250],
            seed: SEED_LOGINS,
        },
        run: connect_denied,
    },
    Check {
        info: CheckInfo {
            id: "accounts.connect_missing",
            category: Category::Accounts,
            title: "Partner's login lacks CONNECT on the mirroring endpoint",
            description: "The login a partner replica presents exists but neither holds CONNECT (GRANT or GRANT_WITH_GRANT_OPTION) or CONTROL on the database mirroring endpoint nor owns it: the handshake fails with error 28034, State 84 (\"The login ... does not have CONNECT permission on the endpoint\").",
            needs: LOGIN_NEEDS,
            related_errors: &[28034, 35250],
            seed: SEED_LOGINS,
        },
        run: connect_missing,
    },
    Check {
        info: CheckInfo {
            id: "accounts.certificate_required",
            category: Category::Accounts,
            title: "Partner runs under an account that cannot use Windows authentication",
            description: "A partner replica's SQL Server service runs under a local account, a workgroup machine's account or Local Service; such an account cannot authenticate to another computer, so a database mirroring endpoint that accepts Windows authentication only can never accept it. The endpoints need certificate authentication.",
            needs: &[
                keys::AVAILABILITY_REPLICAS,
                keys::DM_SERVER_SERVICES,
                keys::SERVER_PROPERTIES,
                keys::DATABASE_MIRRORING_ENDPOINTS,
            ],
            related_errors: &[35250],
            seed: "troubleshoot-ag-configuration: Accounts 2 (built-in or non-domain accounts need certificates)",
        },
        run: certificate_required,
    },
    Check {
        info: CheckInfo {
            id: "accounts.mixed_service_accounts",
            category: Category::Accounts,
            title: "Replicas of one availability group run under different service accounts",
            description: "The replicas present different accounts to each other's endpoints. That works, but every account needs a login and CONNECT on every other replica's endpoint, and each new replica or account change must be repeated everywhere. One domain account on every replica is the simple, recommended setup.",
            needs: &[keys::AVAILABILITY_REPLICAS, keys::DM_SERVER_SERVICES, keys::SERVER_PROPERTIES],
            related_errors: &[],
            seed: "troubleshoot-ag-configuration: Accounts 1.1 and 1.2 (same domain account recommended)",
        },
        run: mixed_service_accounts,
    },
];

const SERVICE_COLUMNS: &[&str] = &["servicename", "service_account", "status_desc", "is_clustered", "cluster_nodename"];
const PROPERTY_COLUMNS: &[&str] =
    &["ServerName", "MachineName", "ComputerNamePhysicalNetBIOS", "DEFAULT_DOMAIN()", "IsClustered"];
const ENDPOINT_COLUMNS: &[&str] = &[
    "name",
    "endpoint_id",
    "principal_id",
    "state_desc",
    "role_desc",
    "connection_auth_desc",
    "certificate_id",
];
const PRINCIPAL_COLUMNS: &[&str] = &["name", "principal_id", "type", "type_desc", "is_disabled"];
const PERMISSION_COLUMNS: &[&str] = &[
    "class",
    "class_desc",
    "major_id",
    "grantee_principal_id",
    "grantor_principal_id",
    "type",
    "permission_name",
    "state",
    "state_desc",
];

// ---------------------------------------------------------------------------------------------
// Pairs and the login a partner presents
// ---------------------------------------------------------------------------------------------

/// Receiving replica A (collected) and partner replica B of one AG.
pub(crate) struct Pair<'s> {
    pub(crate) ag: &'s str,
    pub(crate) a: &'s Instance,
    /// A's `replica_server_name`, the `:Connect` target of its fixes.
    pub(crate) a_name: &'s str,
    pub(crate) b_name: &'s str,
    /// B's instance, when it is in the snapshot (possibly not connected).
    pub(crate) b: Option<&'s Instance>,
    /// The AG's current primary, when known.
    pub(crate) primary: Option<String>,
}

impl Pair<'_> {
    pub(crate) fn subject(&self) -> String {
        format!("{} -> {} ({})", self.b_name, self.a_name, self.ag)
    }

    /// Why a pair whose endpoints both accept both kinds of authentication is not judged.
    pub(crate) fn either_auth_reason(&self) -> String {
        format!(
            "both {} and {} accept certificate and Windows authentication; which one the handshake uses cannot be told from the catalog",
            self.b_name, self.a_name
        )
    }
}

/// The login `pair.b` presents, or `None` after recording why it is unknown. The reason is about
/// B alone (not collected, its services unreadable ...), so it is recorded once under B's name,
/// not once per replica B connects to (10,000 uncollected replicas would otherwise be 30,000
/// entries per check for 3 collected ones).
fn presented_or_skip<'s>(run: &mut CheckRun<'_>, pair: &Pair<'s>) -> Option<Presented<'s>> {
    match presented(pair.b_name, pair.b) {
        Ok(p) => Some(p),
        Err(reason) => {
            run.skip(pair.b_name, reason);
            None
        }
    }
}

/// Every (receiving replica, partner) of every AG; shared with the certificate checks.
pub(crate) fn pairs<'s>(ctx: &Ctx<'s>, run: &mut CheckRun<'_>) -> Vec<Pair<'s>> {
    let mut out = Vec::new();
    for ag in &ctx.topology.ags {
        if ag.is_distributed() {
            distributed_pairs(ctx, run, ag, &mut out);
            continue;
        }
        for a in &ag.replicas {
            let Some(a_index) = a.instance else { continue };
            let a_inst = &ctx.snapshot.instances[a_index];
            for b in &ag.replicas {
                if b.replica_id == a.replica_id || b.server_name.eq_ignore_ascii_case(a.server_name) {
                    continue;
                }
                let b_inst = match b.instance {
                    Some(i) => Some(&ctx.snapshot.instances[i]),
                    None => find_instance(ctx, b.server_name),
                };
                out.push(Pair {
                    ag: ag.name,
                    a: a_inst,
                    a_name: a.server_name,
                    b_name: b.server_name,
                    b: b_inst,
                    primary: ag.primary.clone(),
                });
            }
        }
    }
    out
}

/// A distributed AG connects the two member AGs' primaries through their listeners, and after a
/// local failover in either AG any replica of one can be the global primary and any replica of the
/// other the forwarder: every replica's endpoint must accept every replica of the other member AG.
fn distributed_pairs<'s>(ctx: &Ctx<'s>, run: &mut CheckRun<'_>, dag: &AgView<'s>, out: &mut Vec<Pair<'s>>) {
    let members: Vec<&AgView<'s>> = dag
        .replicas
        .iter()
        .filter_map(|m| ctx.topology.ags.iter().find(|x| !x.is_distributed() && x.name.eq_ignore_ascii_case(m.server_name)))
        .collect();
    if members.len() < 2 {
        run.skip(
            dag.name,
            "distributed availability group whose member AGs were not all collected: the logins their replicas present \
             to each other across the two clusters cannot be checked",
        );
        return;
    }
    for (i, ma) in members.iter().enumerate() {
        for (j, mb) in members.iter().enumerate() {
            if i == j {
                continue;
            }
            for a in &ma.replicas {
                let Some(a_index) = a.instance else { continue };
                for b in mb.replicas.iter().filter(|b| !b.server_name.eq_ignore_ascii_case(a.server_name)) {
                    let b_inst = match b.instance {
                        Some(i) => Some(&ctx.snapshot.instances[i]),
                        None => find_instance(ctx, b.server_name),
                    };
                    out.push(Pair {
                        ag: dag.name,
                        a: &ctx.snapshot.instances[a_index],
                        a_name: a.server_name,
                        b_name: b.server_name,
                        b: b_inst,
                        primary: None,
                    });
                }
            }
        }
    }
}


// ---------------------------------------------------------------------------------------------
// The receiving endpoint
// ---------------------------------------------------------------------------------------------


/// A's DATABASE_MIRRORING endpoint row: `Ok(None)` when it has none.
fn mirroring_endpoint(inst: &Instance) -> Result<Option<&Row>, String> {
    let rows = inst
        .rows(keys::DATABASE_MIRRORING_ENDPOINTS)
        .map_err(|why| unavailable_reason(inst.name(), keys::DATABASE_MIRRORING_ENDPOINTS, why, false))?;
    Ok(super::endpoint_facts::mirroring_endpoint(rows))
}

fn endpoint_name(endpoint: Option<&Row>) -> &str {
    endpoint.and_then(|e| e.str("name")).unwrap_or(DEFAULT_ENDPOINT)
}

// ---------------------------------------------------------------------------------------------
// Login cases: one per (A, login), with every partner and AG that presents it
// ---------------------------------------------------------------------------------------------

struct Partner<'s> {
    ag: &'s str,
    replica: &'s str,
    account: &'s str,
    service: &'s Row,
    props: Option<&'s Row>,
    how: String,
    fci: bool,
    /// The AG's current primary, when known.
    primary: Option<String>,
}

impl Partner<'_> {
    fn evidence(&self) -> Value {
        let mut v = json!({
            "ag": self.ag,
            "replica": self.replica,
            "dm_server_services": self.service.pick(SERVICE_COLUMNS),
            "derived": self.how,
        });
        if let Some(p) = self.props {
            v["server_properties"] = p.pick(PROPERTY_COLUMNS);
        }
        v
    }
}

struct LoginCase<'s> {
    a: &'s Instance,
    a_name: &'s str,
    login: String,
    endpoint: Option<&'s Row>,
    partners: Vec<Partner<'s>>,
}

impl LoginCase<'_> {
    fn ag(&self) -> &str {
        self.partners[0].ag
    }
    fn replica(&self) -> &str {
        self.partners[0].replica
    }
    /// "SQL3 (virtual account NT Service\MSSQLSERVER ...)" for every partner.
    fn who(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        for p in &self.partners {
            let entry = format!("{} (service account {})", p.replica, p.account);
            if !names.contains(&entry) {
                names.push(entry);
            }
        }
        join_and(&names)
    }
    fn ags(&self) -> String {
        let mut ags: Vec<&str> = Vec::new();
        for p in &self.partners {
            if !ags.iter().any(|a| a.eq_ignore_ascii_case(p.ag)) {
                ags.push(p.ag);
            }
        }
        ags.join(", ")
    }
    fn fci_note(&self) -> &'static str {
        if self.partners.iter().any(|p| p.fci) {
            " The partner is a failover cluster instance: the computer account it presents is that of the node \
             currently running it and changes on failover, so every possible owner node's computer account needs a \
             login and CONNECT here."
        } else {
            ""
        }
    }
    /// Secondaries connect only to the primary: when neither this replica nor any partner presenting
    /// the login is the primary now, the handshake failure starts only after a failover.
    fn latent_lead(&self) -> String {
        let mut primaries: Vec<&str> = Vec::new();
        for p in &self.partners {
            let Some(primary) = p.primary.as_deref() else { return String::new() };
            if primary.eq_ignore_ascii_case(self.a_name) || primary.eq_ignore_ascii_case(p.replica) {
                return String::new();
            }
            if !primaries.iter().any(|q| q.eq_ignore_ascii_case(primary)) {
                primaries.push(primary);
            }
        }
        let partners: Vec<String> = self.partners.iter().map(|p| p.replica.to_string()).fold(Vec::new(), |mut v, r| {
            if !v.contains(&r) {
                v.push(r);
            }
            v
        });
        format!(
            "Latent until a failover to {a}: {a} and {b} are secondaries now, and secondary replicas connect only to \
             the primary ({p}). Once {a} is the primary, ",
            a = self.a_name,
            b = join_and(&partners),
            p = primaries.join(", "),
        )
    }
    fn endpoint_text(&self) -> String {
        match self.endpoint {
            Some(e) => format!("database mirroring endpoint [{}]", e.str("name").unwrap_or("?")),
            None => format!(
                "database mirroring endpoint (it has none yet; the endpoint.missing fix creates [{DEFAULT_ENDPOINT}])"
            ),
        }
    }
    fn base_evidence(&self) -> Value {
        json!({
            "login": self.login,
            "presented_by": self.partners.iter().map(Partner::evidence).collect::<Vec<_>>(),
            "database_mirroring_endpoints": self.endpoint.map(|e| e.pick(ENDPOINT_COLUMNS)),
        })
    }
}

fn join_and(items: &[String]) -> String {
    match items.len() {
        0 => String::new(),
        1 => items[0].clone(),
        n => format!("{} and {}", items[..n - 1].join(", "), items[n - 1]),
    }
}

/// Every (A, login) a partner presents with Windows authentication; pairs that cannot be judged
/// are recorded as not evaluated with the reason.
fn login_cases<'s>(ctx: &Ctx<'s>, run: &mut CheckRun<'_>) -> Vec<LoginCase<'s>> {
    let mut cases: Vec<LoginCase<'s>> = Vec::new();
    for pair in pairs(ctx, run) {
        let endpoint = match mirroring_endpoint(pair.a) {
            Ok(e) => e,
            Err(reason) => {
                run.skip(pair.a_name, reason);
                continue;
            }
        };
        let b_endpoint = pair.b.and_then(|b| mirroring_endpoint(b).ok().flatten());
        match pair_auth(endpoint, b_endpoint) {
            PairAuth::Windows => {}
            PairAuth::Certificate | PairAuth::Incompatible => {
                // No Windows login is involved: the certificate checks (or endpoint.auth_incompatible) judge the pair.
                run.evaluated();
                continue;
            }
            PairAuth::Either => {
                run.skip(&pair.subject(), pair.either_auth_reason());
                continue;
            }
        }
        let Some(presented) = presented_or_skip(run, &pair) else { continue };
        let (login, how, fci) = match presented.identity {
            Identity::Windows { login, how, fci } => (login, how, fci),
            Identity::LocalOnly { why } => {
                run.skip(
                    &pair.subject(),
                    format!("{why}; no Windows login can be checked (see accounts.certificate_required)"),
                );
                continue;
            }
        };
        let partner = Partner {
            ag: pair.ag,
            replica: pair.b_name,
            account: presented.account,
            service: presented.service,
            props: presented.props,
            how,
            fci,
            primary: pair.primary.clone(),
        };
        match cases.iter_mut().find(|c| std::ptr::eq(c.a, pair.a) && c.login.eq_ignore_ascii_case(&login)) {
            Some(case) => {
                if !case.partners.iter().any(|p| p.ag == partner.ag && p.replica == partner.replica) {
                    case.partners.push(partner);
                }
            }
            None => cases.push(LoginCase { a: pair.a, a_name: pair.a_name, login, endpoint, partners: vec![partner] }),
        }
    }
    cases
}

// ---------------------------------------------------------------------------------------------
// What A's catalog says about one login
// ---------------------------------------------------------------------------------------------


fn principal_names(pairs: &[(&Row, &Row)]) -> String {
    let mut names: Vec<String> = Vec::new();
    for (_, g) in pairs {
        let n = g.str("name").unwrap_or("?").to_string();
        if !names.contains(&n) {
            names.push(n);
        }
    }
    names.join(", ")
}

/// T-SQL when every name can be scripted, else one manual step that describes it without the name.
fn sql_or_manual(target: &str, phase: Phase, sql: Option<String>, manual: impl FnOnce() -> String) -> FixStep {
    match sql {
        Some(text) => FixStep::sql(target, phase, text),
        None => FixStep::manual(target, phase, manual()),
    }
}

fn unsafe_name_note(login: &str, endpoint: &str) -> String {
    format!(
        "The login name \"{}\" or endpoint name \"{}\" has characters that cannot be scripted safely;",
        tsql::comment(login),
        tsql::comment(endpoint)
    )
}

fn grant_step(target: &str, endpoint: &str, login: &str) -> FixStep {
    sql_or_manual(target, Phase::GrantConnect, statements::grant_connect(endpoint, login), || {
        format!("{} grant CONNECT on the endpoint to that login yourself (GRANT CONNECT ON ENDPOINT::...).", unsafe_name_note(login, endpoint))
    })
}

// ---------------------------------------------------------------------------------------------
// The checks
// ---------------------------------------------------------------------------------------------

fn login_missing(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for case in login_cases(ctx, run) {
        let principals = match case.a.rows(keys::SERVER_PRINCIPALS) {
            Ok(p) => p,
            Err(why) => {
                run.skip(case.a_name, unavailable_reason(case.a_name, keys::SERVER_PRINCIPALS, why, false));
                continue;
            }
        };
        run.evaluated();
        if principal_named(principals, &case.login).is_some() {
            continue;
        }
        // A Windows group login holding CONNECT may admit the account (membership is not in the snapshot).
        let group_grants: Vec<(&Row, &Row)> = match (case.endpoint, case.a.rows(keys::SERVER_PERMISSIONS)) {
            (Some(e), Ok(perms)) => access(e, None, principals, perms)
                .other_grant
                .into_iter()
                .filter(|(_, g)| g.is("type", "G"))
                .collect(),
            _ => vec![],
        };
        let endpoint = endpoint_name(case.endpoint);
        let (a, login) = (case.a_name, case.login.as_str());
        let (severity, group_text) = if group_grants.is_empty() {
            (Severity::Error, String::new())
        } else {
            (
                Severity::Warning,
                format!(
                    " The Windows group login(s) {} hold CONNECT on the endpoint: if {login} is a member it is admitted \
                     through the group (group membership is not in the snapshot; check with xp_logininfo).",
                    principal_names(&group_grants)
                ),
            )
        };
        let mut evidence = case.base_evidence();
        evidence["server_principals"] = Value::Null;
        if !group_grants.is_empty() {
            evidence["group_grants"] = json!(group_grants
                .iter()
                .map(|(p, g)| json!({"server_permissions": p.pick(PERMISSION_COLUMNS), "server_principals": g.pick(PRINCIPAL_COLUMNS)}))
                .collect::<Vec<_>>());
        }
        let create = sql_or_manual(a, Phase::CreateLogin, statements::create_windows_login(login), || {
            format!("{} create the Windows login for the partner's service account yourself (CREATE LOGIN ... FROM WINDOWS).", unsafe_name_note(login, endpoint))
        });
        run.finding(severity, login)
            .instance(a)
            .ag(case.ag())
            .replica(case.replica())
            .message(format!(
                "{}{} connect{} to {a}'s {} as {login}, but {a} has no login {login} in sys.server_principals. The \
                 endpoint handshake fails and {a}'s error log shows error 28034 (\"Connection handshake failed. The \
                 login '{login}' does not have CONNECT permission on the endpoint. State 84.\"); the partner stays \
                 DISCONNECTED in availability group {}.{}{}",
                case.latent_lead(),
                case.who(),
                if case.partners.len() == 1 { "s" } else { "" },
                case.endpoint_text(),
                case.ags(),
                case.fci_note(),
                group_text,
            ))
            .evidence(evidence)
            .remediation(format!(
                "On {a}, create the Windows login {login} and grant it CONNECT on the endpoint {endpoint}. CREATE \
                 LOGIN fails with Msg 15401 if Windows cannot resolve the account (a typo, or a computer account \
                 from another, untrusted domain)."
            ))
            .fixes([create, grant_step(a, endpoint, login)])
            .emit();
    }
}

fn login_disabled(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for case in login_cases(ctx, run) {
        let principals = match case.a.rows(keys::SERVER_PRINCIPALS) {
            Ok(p) => p,
            Err(why) => {
                run.skip(case.a_name, unavailable_reason(case.a_name, keys::SERVER_PRINCIPALS, why, false));
                continue;
            }
        };
        run.evaluated();
        let Some(principal) = principal_named(principals, &case.login) else { continue };
        if principal.int("is_disabled") != Some(1) {
            continue;
        }
        let (a, login) = (case.a_name, case.login.as_str());
        let mut evidence = case.base_evidence();
        evidence["server_principals"] = principal.pick(PRINCIPAL_COLUMNS);
        let enable = sql_or_manual(a, Phase::EnableLogin, statements::enable_login(login), || {
            format!(
                "The login name \"{}\" has characters that cannot be scripted safely; enable it yourself (ALTER LOGIN ... ENABLE).",
                tsql::comment(login)
            )
        });
        run.finding(Severity::Error, login)
            .instance(a)
            .ag(case.ag())
            .replica(case.replica())
            .message(format!(
                "{}{} connect{} to {a}'s {} as {login}, and that login is disabled on {a} (is_disabled = 1). A \
                 disabled login cannot connect, so the endpoint handshake is refused and the partner stays \
                 DISCONNECTED in availability group {}.{}",
                case.latent_lead(),
                case.who(),
                if case.partners.len() == 1 { "s" } else { "" },
                case.endpoint_text(),
                case.ags(),
                case.fci_note(),
            ))
            .evidence(evidence)
            .remediation(format!(
                "Enable the login on {a} (ALTER LOGIN ... ENABLE). If it was disabled on purpose, the partner's \
                 service must run under another account that has an enabled login and CONNECT here."
            ))
            .fix(enable)
            .emit();
    }
}

fn connect_denied(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for case in login_cases(ctx, run) {
        let Some((principals, permissions)) = catalog(run, &case) else { continue };
        run.evaluated();
        let Some(endpoint) = case.endpoint else { continue }; // no endpoint, no permission on it
        let Some(principal) = principal_named(principals, &case.login) else { continue }; // login_missing
        let acc = access(endpoint, Some(principal), principals, permissions);
        if acc.owner {
            continue; // DENY does not apply to the owner
        }
        let (severity, denied) = if !acc.own_deny.is_empty() || !acc.public_deny.is_empty() {
            (Severity::Error, true)
        } else if !acc.other_deny.is_empty() {
            (Severity::Warning, false)
        } else {
            continue;
        };
        let (a, login) = (case.a_name, case.login.as_str());
        let endpoint_name = endpoint_name(Some(endpoint));
        let what = if !acc.own_deny.is_empty() {
            format!("{login} is denied CONNECT on the endpoint ({})", deny_kind(&acc.own_deny))
        } else if !acc.public_deny.is_empty() {
            format!(
                "public is denied CONNECT on the endpoint ({}), which blocks every login that is neither the owner nor sysadmin, {login} included",
                deny_kind(&acc.public_deny)
            )
        } else {
            format!(
                "the Windows group or server role {} is denied CONNECT on the endpoint: if {login} is a member, it is blocked (membership is not in the snapshot; check with xp_logininfo)",
                principal_names(&acc.other_deny)
            )
        };
        let mut evidence = case.base_evidence();
        evidence["server_principals"] = principal.pick(PRINCIPAL_COLUMNS);
        evidence["server_permissions"] = json!(acc.rows.iter().map(|p| p.pick(PERMISSION_COLUMNS)).collect::<Vec<_>>());
        let mut fixes = Vec::new();
        if !acc.own_deny.is_empty() {
            fixes.push(sql_or_manual(a, Phase::GrantConnect, statements::revoke_connect(endpoint_name, login), || {
                format!("{} remove the DENY yourself (REVOKE CONNECT ON ENDPOINT::... FROM ...).", unsafe_name_note(login, endpoint_name))
            }));
        }
        if !acc.public_deny.is_empty() {
            fixes.push(sql_or_manual(a, Phase::GrantConnect, statements::revoke_connect(endpoint_name, "public"), || {
                format!(
                    "The endpoint name \"{}\" has characters that cannot be scripted safely; remove the DENY to public yourself.",
                    tsql::comment(endpoint_name)
                )
            }));
        }
        if denied {
            fixes.push(grant_step(a, endpoint_name, login));
        } else {
            fixes.push(FixStep::manual(
                a,
                Phase::GrantConnect,
                format!(
                    "Check whether the login is in a denied group: EXEC xp_logininfo @acctname = {}, @option = 'all';\n\
                     If it is, remove the login from that group in Active Directory or revoke the group's DENY; \
                     an explicit GRANT to the login does not override a DENY to its group.",
                    tsql::literal(login)
                ),
            ));
        }
        run.finding(severity, login)
            .instance(a)
            .ag(case.ag())
            .replica(case.replica())
            .message(format!(
                "{}{} connect{} to {a}'s {} as {login}, and {what}. A DENY overrides any GRANT (and CONTROL), so the \
                 handshake fails with error 28034, State 84 in {a}'s error log and the partner stays DISCONNECTED in \
                 availability group {}. A DENY to a Windows group the account belongs to would block it the same \
                 way and cannot be seen in this snapshot.{}",
                case.latent_lead(),
                case.who(),
                if case.partners.len() == 1 { "s" } else { "" },
                case.endpoint_text(),
                case.ags(),
                case.fci_note(),
            ))
            .evidence(evidence)
            .remediation(if denied {
                format!(
                    "On {a}, REVOKE the DENY (REVOKE clears both grants and denies), then GRANT CONNECT on the endpoint \
                     {endpoint_name} to {login}."
                )
            } else {
                "Find out whether the login is a member of the denied group (xp_logininfo); if so, remove the \
                 membership or the group's DENY."
                    .to_string()
            })
            .fixes(fixes)
            .emit();
    }
}

fn deny_kind(rows: &[&Row]) -> String {
    let mut kinds: Vec<String> = Vec::new();
    for r in rows {
        let k = format!("DENY {}", r.str("permission_name").unwrap_or("CONNECT"));
        if !kinds.contains(&k) {
            kinds.push(k);
        }
    }
    kinds.join(", ")
}

/// A's server_principals and server_permissions, or a recorded reason.
fn catalog<'s>(run: &mut CheckRun<'_>, case: &LoginCase<'s>) -> Option<(&'s [Row], &'s [Row])> {
    let principals = match case.a.rows(keys::SERVER_PRINCIPALS) {
        Ok(p) => p,
        Err(why) => {
            run.skip(case.a_name, unavailable_reason(case.a_name, keys::SERVER_PRINCIPALS, why, false));
            return None;
        }
    };
    let permissions = match case.a.rows(keys::SERVER_PERMISSIONS) {
        Ok(p) => p,
        Err(why) => {
            run.skip(case.a_name, unavailable_reason(case.a_name, keys::SERVER_PERMISSIONS, why, false));
            return None;
        }
    };
    Some((principals, permissions))
}

fn connect_missing(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for case in login_cases(ctx, run) {
        let Some((principals, permissions)) = catalog(run, &case) else { continue };
        run.evaluated();
        let Some(principal) = principal_named(principals, &case.login) else { continue }; // login_missing grants too
        let (a, login) = (case.a_name, case.login.as_str());
        let mut evidence = case.base_evidence();
        evidence["server_principals"] = principal.pick(PRINCIPAL_COLUMNS);
        let (severity, situation) = match case.endpoint {
            None => (
                Severity::Error,
                format!(
                    "{a} has no database mirroring endpoint yet (see endpoint.missing); once [{DEFAULT_ENDPOINT}] is \
                     created, {login} needs CONNECT on it"
                ),
            ),
            Some(endpoint) => {
                let acc = access(endpoint, Some(principal), principals, permissions);
                evidence["server_permissions"] =
                    json!(acc.rows.iter().map(|p| p.pick(PERMISSION_COLUMNS)).collect::<Vec<_>>());
                if acc.owner
                    || !acc.own_deny.is_empty()
                    || !acc.public_deny.is_empty()
                    || !acc.own_grant.is_empty()
                    || !acc.public_grant.is_empty()
                {
                    continue; // has it, or connect_denied reports the DENY
                }
                if acc.other_grant.is_empty() {
                    (
                        Severity::Error,
                        format!(
                            "{login} holds neither CONNECT nor CONTROL on the endpoint and does not own it (owner \
                             principal_id {})",
                            endpoint.int("principal_id").map_or("unknown".to_string(), |i| i.to_string())
                        ),
                    )
                } else {
                    (
                        Severity::Warning,
                        format!(
                            "{login} holds no CONNECT of its own; the Windows group or server role {} holds it, which \
                             admits {login} only if it is a member (membership is not in the snapshot)",
                            principal_names(&acc.other_grant)
                        ),
                    )
                }
            }
        };
        let endpoint = endpoint_name(case.endpoint);
        run.finding(severity, login)
            .instance(a)
            .ag(case.ag())
            .replica(case.replica())
            .message(format!(
                "{}{} connect{} to {a}'s {} as {login}: {situation}. Without CONNECT the handshake fails and {a}'s error \
                 log shows error 28034 (\"The login '{login}' does not have CONNECT permission on the endpoint. State \
                 84.\"); the partner stays DISCONNECTED in availability group {}. Membership in sysadmin (CONTROL \
                 SERVER) would also imply CONNECT, but server role membership is not in the snapshot.{}",
                case.latent_lead(),
                case.who(),
                if case.partners.len() == 1 { "s" } else { "" },
                case.endpoint_text(),
                case.ags(),
                case.fci_note(),
            ))
            .evidence(evidence)
            .remediation(format!("On {a}, GRANT CONNECT ON ENDPOINT::[{endpoint}] to {login}."))
            .fix(grant_step(a, endpoint, login))
            .emit();
    }
}

fn certificate_required(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    // One finding per (A, B): a local account is specific to its machine.
    let mut seen: Vec<(String, String)> = Vec::new();
    for pair in pairs(ctx, run) {
        let endpoint = match mirroring_endpoint(pair.a) {
            Ok(e) => e,
            Err(reason) => {
                run.skip(pair.a_name, reason);
                continue;
            }
        };
        let a_auth = endpoint.map(auth).unwrap_or(Auth { windows: true, cert: false });
        let b_endpoint = pair.b.and_then(|b| mirroring_endpoint(b).ok().flatten());
        if a_auth.cert || b_endpoint.map(auth).is_some_and(|b| !b.windows) {
            // Already accepts certificates (the certificate checks judge them), or a certificate-only
            // partner vs a Windows-only endpoint (endpoint.auth_incompatible): the account does not matter.
            run.evaluated();
            continue;
        }
        let Some(presented) = presented_or_skip(run, &pair) else { continue };
        run.evaluated();
        let Identity::LocalOnly { why } = &presented.identity else { continue };
        let key = (pair.a_name.to_lowercase(), pair.b_name.to_lowercase());
        if seen.contains(&key) {
            continue;
        }
        seen.push(key);
        let (a, b, account) = (pair.a_name, pair.b_name, presented.account);
        let endpoint_text = match endpoint {
            Some(e) => format!(
                "{a}'s database mirroring endpoint [{}] accepts Windows authentication only (connection_auth_desc = {})",
                e.str("name").unwrap_or("?"),
                e.str("connection_auth_desc").unwrap_or("?")
            ),
            None => format!(
                "{a} has no database mirroring endpoint yet, and the one the endpoint.missing fix creates ([{DEFAULT_ENDPOINT}]) uses Windows authentication"
            ),
        };
        let mut evidence = json!({
            "ag": pair.ag,
            "replica": b,
            "dm_server_services": presented.service.pick(SERVICE_COLUMNS),
            "derived": why,
            "database_mirroring_endpoints": endpoint.map(|e| e.pick(ENDPOINT_COLUMNS)),
        });
        if let Some(p) = presented.props {
            evidence["server_properties"] = p.pick(PROPERTY_COLUMNS);
        }
        if let Some(e) = b_endpoint {
            evidence["partner_database_mirroring_endpoints"] = e.pick(ENDPOINT_COLUMNS);
        }
        run.finding(Severity::Error, account)
            .instance(a)
            .ag(pair.ag)
            .replica(b)
            .message(format!(
                "{b}'s SQL Server service runs as {account}: {why}. {endpoint_text}, so {b} can never \
                 authenticate to it and stays DISCONNECTED in availability group {}. No login or GRANT can fix this: \
                 the endpoints must use certificate authentication (\"Use Certificates for a Database Mirroring \
                 Endpoint\"), or {b}'s service must run under a domain account, a gMSA or a virtual account on a \
                 domain-joined computer.",
                pair.ag
            ))
            .evidence(evidence)
            .remediation(format!(
                "Either run {b}'s SQL Server service under a domain account (or gMSA, or NT Service\\... on a \
                 domain-joined computer) and give that login CONNECT on every other replica, or set up certificate \
                 authentication between the replicas: on each replica a master key and a certificate used by its \
                 endpoint; on every other replica a login and a user mapped to that certificate, with CONNECT on \
                 the endpoint."
            ))
            .fixes([
                FixStep::manual(
                    b,
                    Phase::AlterEndpoint,
                    format!(
                        "Certificate for {b}'s outbound connections (see \"Use Certificates for a Database Mirroring Endpoint\"):\n\
                         CREATE MASTER KEY ENCRYPTION BY PASSWORD = '<strong password>';\n\
                         CREATE CERTIFICATE <host_cert> WITH SUBJECT = '<host> endpoint certificate', EXPIRY_DATE = '<date>';\n\
                         BACKUP CERTIFICATE <host_cert> TO FILE = '<path>\\<host_cert>.cer';  -- copy to every other replica\n\
                         ALTER ENDPOINT <endpoint> FOR DATABASE_MIRRORING (AUTHENTICATION = CERTIFICATE <host_cert>, ENCRYPTION = REQUIRED ALGORITHM AES, ROLE = ALL);"
                    ),
                ),
                FixStep::manual(
                    a,
                    Phase::AlterEndpoint,
                    format!(
                        "On {a}, accept {b}'s certificate (and create {a}'s own certificate the same way):\n\
                         CREATE LOGIN <partner_login> WITH PASSWORD = '<strong password>';\n\
                         CREATE USER <partner_user> FOR LOGIN <partner_login>;  -- in master\n\
                         CREATE CERTIFICATE <partner_cert> AUTHORIZATION <partner_user> FROM FILE = '<path>\\<partner_cert>.cer';\n\
                         GRANT CONNECT ON ENDPOINT::<endpoint> TO <partner_login>;\n\
                         ALTER ENDPOINT <endpoint> FOR DATABASE_MIRRORING (AUTHENTICATION = WINDOWS NEGOTIATE CERTIFICATE <host_cert>, ENCRYPTION = REQUIRED ALGORITHM AES, ROLE = ALL);  -- keeps Windows authentication for the other partners"
                    ),
                ),
            ])
            .emit();
    }
}

fn mixed_service_accounts(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for ag in &ctx.topology.ags {
        if ag.row.bit("is_distributed") == Some(true) {
            continue;
        }
        // Endpoints that authenticate with certificates only: no service account reaches a partner.
        let certificate_only = ag.replicas.iter().all(|r| {
            let inst = match r.instance {
                Some(i) => Some(&ctx.snapshot.instances[i]),
                None => find_instance(ctx, r.server_name),
            };
            inst.and_then(|i| mirroring_endpoint(i).ok().flatten()).map(auth).is_some_and(|a| a.cert && !a.windows)
        });
        if certificate_only {
            run.evaluated();
            continue;
        }
        let mut known: Vec<(&str, Presented<'_>)> = Vec::new();
        for r in &ag.replicas {
            let inst = match r.instance {
                Some(i) => Some(&ctx.snapshot.instances[i]),
                None => find_instance(ctx, r.server_name),
            };
            match presented(r.server_name, inst) {
                Ok(p) => known.push((r.server_name, p)),
                Err(reason) => run.skip(&format!("{} ({})", r.server_name, ag.name), reason),
            }
        }
        if known.len() < 2 {
            continue;
        }
        run.evaluated();
        let mut identities: Vec<String> = known.iter().map(|(_, p)| p.key()).collect();
        identities.sort();
        identities.dedup();
        if identities.len() < 2 {
            continue;
        }
        let lines: Vec<String> = known
            .iter()
            .map(|(name, p)| match &p.identity {
                Identity::Windows { login, .. } if !login.eq_ignore_ascii_case(p.account) => {
                    format!("{name} runs as {} and presents {login}", p.account)
                }
                _ => format!("{name} runs as {}", p.account),
            })
            .collect();
        let evidence = json!({
            "replicas": known.iter().map(|(name, p)| {
                let (presents, derived) = match &p.identity {
                    Identity::Windows { login, how, .. } => (Value::from(login.as_str()), how.clone()),
                    Identity::LocalOnly { why } => (Value::Null, why.clone()),
                };
                json!({
                    "replica": name,
                    "dm_server_services": p.service.pick(SERVICE_COLUMNS),
                    "presents": presents,
                    "derived": derived,
                })
            }).collect::<Vec<_>>(),
        });
        run.finding(Severity::Info, ag.name)
            .ag(ag.name)
            .message(format!(
                "The replicas of availability group {} present {} different accounts to each other's endpoints: {}. \
                 Each of these accounts needs a login and CONNECT on the database mirroring endpoint of every other \
                 replica (the other accounts checks verify that), and the same must be repeated whenever a replica \
                 is added or a service account changes. Running every replica under the same domain account is the \
                 simple, recommended setup: one login and one GRANT, identical everywhere.",
                ag.name,
                identities.len(),
                lines.join("; ")
            ))
            .evidence(evidence)
            .remediation(
                "No change is required if every account has its login and CONNECT everywhere. To simplify, run the \
                 SQL Server service on every replica under one domain account or gMSA (SQL Server Configuration \
                 Manager, which restarts the service), then create that login and grant it CONNECT on every \
                 replica's endpoint.",
            )
            .emit();
    }
}
