//! The service account each replica runs under and the Windows login it presents to other
//! computers' database mirroring endpoints. Shared by the accounts and endpoint checks.

use crate::checks::Ctx;
use crate::snapshot::{Instance, Row, keys};

/// The instance that is `replica`, connected or not. A failed connection has no server properties,
/// so it is matched by its target (`sql3.contoso.com,1433` is `SQL3`).
pub(crate) fn find_instance<'s>(ctx: &Ctx<'s>, replica: &str) -> Option<&'s Instance> {
    ctx.snapshot.instances.iter().find(|i| i.is_named(replica)).or_else(|| {
        ctx.snapshot.instances.iter().find(|i| i.properties().is_none() && target_is(&i.target, replica))
    })
}

pub(crate) fn target_is(target: &str, replica: &str) -> bool {
    let t = target.trim();
    let t = t.strip_prefix("tcp:").or_else(|| t.strip_prefix("TCP:")).unwrap_or(t);
    let has_port = t.contains(',');
    let t = t.split(',').next().unwrap_or(t);
    let (host, instance) = match t.split_once('\\') {
        Some((h, i)) => (h, Some(i)),
        None => (t, None),
    };
    let short = host.split('.').next().unwrap_or(host);
    let (r_host, r_instance) = match replica.split_once('\\') {
        Some((h, i)) => (h, Some(i)),
        None => (replica, None),
    };
    short.eq_ignore_ascii_case(r_host)
        && match (instance, r_instance) {
            (None, None) => true,
            (Some(x), Some(y)) => x.eq_ignore_ascii_case(y),
            // `host,port` names one instance whatever its name: a named instance on a static port.
            (None, Some(_)) => has_port,
            _ => false,
        }
}

/// How B's service authenticates to other computers.
pub(crate) enum Identity {
    /// A Windows login the receiving instance must know.
    Windows { login: String, how: String, fci: bool },
    /// A local account (or Local Service): no Windows authentication to another computer.
    LocalOnly { why: String },
}

pub(crate) struct Presented<'s> {
    pub(crate) account: &'s str,
    pub(crate) service: &'s Row,
    pub(crate) props: Option<&'s Row>,
    pub(crate) identity: Identity,
}

impl Presented<'_> {
    /// The identity used to compare replicas: the presented login, else the account itself.
    pub(crate) fn key(&self) -> String {
        match &self.identity {
            Identity::Windows { login, .. } => login.to_lowercase(),
            Identity::LocalOnly { .. } => self.account.to_lowercase(),
        }
    }
}

pub(crate) fn unavailable_reason(inst_name: &str, key: &str, why: impl std::fmt::Display, permission_hint: bool) -> String {
    let hint = if permission_hint && key == keys::DM_SERVER_SERVICES {
        " (reading it needs VIEW SERVER STATE, or VIEW SERVER SECURITY STATE on SQL Server 2022 and later)"
    } else {
        ""
    };
    format!("{key} of {inst_name} is unavailable: {why}{hint}")
}

/// The service account replica `replica` runs under and the Windows login it presents to other
/// replicas (`None` for an account that cannot authenticate to another computer), or why that is
/// unknown. Shared with `endpoint.owner`, which must tell service accounts from personal logins.
pub(crate) fn service_identity(ctx: &Ctx<'_>, replica: &str) -> Result<(String, Option<String>), String> {
    let p = presented(replica, find_instance(ctx, replica))?;
    let login = match p.identity {
        Identity::Windows { login, .. } => Some(login),
        Identity::LocalOnly { .. } => None,
    };
    Ok((p.account.to_string(), login))
}

/// The login replica `b_name` presents, derived from its `dm_server_services` engine row.
pub(crate) fn presented<'s>(b_name: &str, b: Option<&'s Instance>) -> Result<Presented<'s>, String> {
    let Some(b) = b else {
        return Err(format!(
            "{b_name} was not collected: the service account it runs under, and so the login it presents, is unknown"
        ));
    };
    let services = b.rows(keys::DM_SERVER_SERVICES).map_err(|why| {
        let hint = matches!(why, crate::snapshot::Unavailable::QueryFailed(..));
        format!(
            "{}; the login {b_name} presents cannot be determined",
            unavailable_reason(b_name, keys::DM_SERVER_SERVICES, why, hint)
        )
    })?;
    let Some(service) = engine_service(services, b.properties()) else {
        return Err(format!(
            "dm_server_services of {b_name} has no SQL Server engine row (servicename 'SQL Server (...)'): the login it presents cannot be determined"
        ));
    };
    let Some(account) = service.str("service_account").map(str::trim).filter(|s| !s.is_empty()) else {
        return Err(format!("dm_server_services of {b_name} shows no service_account for the engine"));
    };
    let props = b.properties();
    let identity = derive_identity(b_name, account, props)?;
    Ok(Presented { account, service, props, identity })
}

/// The Database Engine's row: `SQL Server (MSSQLSERVER)` / `SQL Server (INST1)`, not the Agent.
pub(crate) fn engine_service<'s>(rows: &'s [Row], props: Option<&Row>) -> Option<&'s Row> {
    let instance = props.and_then(|p| p.str("InstanceName")).unwrap_or("MSSQLSERVER");
    let engines: Vec<&Row> = rows
        .iter()
        .filter(|r| r.str("servicename").is_some_and(|n| n.trim().to_lowercase().starts_with("sql server (")))
        .collect();
    let wanted = format!("sql server ({})", instance.to_lowercase());
    engines
        .iter()
        .find(|r| r.str("servicename").is_some_and(|n| n.trim().to_lowercase() == wanted))
        .or(engines.first())
        .copied()
}

pub(crate) fn derive_identity(b_name: &str, account: &str, props: Option<&Row>) -> Result<Identity, String> {
    let squashed: String = account.to_lowercase().chars().filter(|c| !c.is_whitespace()).collect();
    let machine = props.and_then(|p| p.str("MachineName")).map(str::trim);
    let domain = props.and_then(|p| p.str("DEFAULT_DOMAIN()")).map(str::trim).filter(|d| !d.is_empty());
    let workgroup = matches!((domain, machine), (Some(d), Some(m)) if d.eq_ignore_ascii_case(m));

    if matches!(squashed.as_str(), "ntauthority\\localservice" | ".\\localservice" | "localservice") {
        return Ok(Identity::LocalOnly {
            why: format!("{account} (Local Service) presents anonymous credentials to other computers"),
        });
    }
    let builtin = if squashed.starts_with("ntservice\\") {
        Some("a virtual account")
    } else if matches!(squashed.as_str(), "ntauthority\\networkservice" | "networkservice") {
        Some("Network Service")
    } else if matches!(squashed.as_str(), "localsystem" | ".\\localsystem" | "ntauthority\\system") {
        Some("Local System")
    } else {
        None
    };
    if let Some(kind) = builtin {
        return computer_account(b_name, account, kind, props, domain, workgroup);
    }
    if account.contains('@') && !account.contains('\\') {
        return Err(format!(
            "{b_name} runs as {account} (user principal name form): the DOMAIN\\user login name it presents cannot be derived reliably from it"
        ));
    }
    let Some((prefix, user)) = account.split_once('\\') else {
        return Err(format!("{b_name} runs as {account}, a form AgDiag does not recognize; the login it presents is unknown"));
    };
    let physical = props.and_then(|p| p.str("ComputerNamePhysicalNetBIOS")).map(str::trim);
    if prefix == "." || machine.is_some_and(|m| m.eq_ignore_ascii_case(prefix)) || physical.is_some_and(|p| p.eq_ignore_ascii_case(prefix)) {
        return Ok(Identity::LocalOnly {
            why: format!("{account} is a local account of {b_name}'s computer; other computers cannot authenticate it"),
        });
    }
    if workgroup {
        return Ok(Identity::LocalOnly {
            why: format!(
                "{b_name}'s computer is not in a domain (DEFAULT_DOMAIN() = MachineName = {}): its account {account} cannot authenticate to other computers",
                machine.unwrap_or_default()
            ),
        });
    }
    let how = if user.ends_with('$') {
        format!("{account} is a (group) managed service account: {b_name} presents it as is")
    } else {
        format!("{account} is a domain account: {b_name} presents it as is")
    };
    Ok(Identity::Windows { login: account.to_string(), how, fci: false })
}

pub(crate) fn computer_account(
    b_name: &str,
    account: &str,
    kind: &str,
    props: Option<&Row>,
    domain: Option<&str>,
    workgroup: bool,
) -> Result<Identity, String> {
    let Some(props) = props else {
        return Err(format!(
            "{b_name} runs as {account} ({kind}), which presents the computer account, but its server_properties (DEFAULT_DOMAIN(), MachineName) are unavailable"
        ));
    };
    let fci = props.int("IsClustered") == Some(1);
    let column = if fci { "ComputerNamePhysicalNetBIOS" } else { "MachineName" };
    let Some(computer) = props.str(column).map(str::trim).filter(|c| !c.is_empty()) else {
        return Err(format!("{b_name} runs as {account} ({kind}) but server_properties has no {column}"));
    };
    let Some(domain) = domain else {
        return Err(format!("{b_name} runs as {account} ({kind}) but server_properties has no DEFAULT_DOMAIN()"));
    };
    if workgroup {
        return Ok(Identity::LocalOnly {
            why: format!(
                "{b_name} runs as {account} ({kind}) on a computer that is not in a domain (DEFAULT_DOMAIN() = MachineName = {domain}): its computer account cannot authenticate to other computers"
            ),
        });
    }
    let login = format!("{domain}\\{computer}$");
    let how = if fci {
        format!(
            "{account} is {kind}: it authenticates to other computers as the computer account of the failover cluster node currently running the instance, DEFAULT_DOMAIN() + '\\' + ComputerNamePhysicalNetBIOS + '$' = {login}; the account changes with the active node"
        )
    } else {
        format!(
            "{account} is {kind}: it authenticates to other computers as the computer account, DEFAULT_DOMAIN() + '\\' + MachineName + '$' = {login}"
        )
    };
    Ok(Identity::Windows { login, how, fci })
}
