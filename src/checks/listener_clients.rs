//! Beyond the seeds: the listener as clients see it, from the machine that ran AgDiag.
//!
//! - `listener.dns_records`: what the listener name resolves to (the `resolved` list of the
//!   listener's by-name probe) against the listener's `ip_address` rows. Every DNS condition of a
//!   listener name is reported here, not by `network.name_resolution`.
//! - `listener.kerberos`: the `auth_scheme` of AgDiag's own login through the listener name (the
//!   listener's `login` probe).
//!
//! RegisterAllProvidersIP and HostRecordTTL are cluster resource properties that no catalog view
//! shows: DNS itself tells whether every subnet's IP is registered (several records) or only the
//! online one.

use std::net::IpAddr;

use serde_json::json;

use super::listener::{IP_COLUMNS, Listener, listeners, run_has_no_gaps, same_ip, subnet};
use super::network::{FROM_HERE, NO_PROBES, unresolved};
use super::service_account::service_identity;
use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::fix::tsql;
use crate::snapshot::{Probe, keys};

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "listener.dns_records",
            category: Category::Listener,
            title: "Listener name has no DNS record, or a record naming another address",
            description: "Resolves the listener name from the machine that ran AgDiag and compares every address it returns with the listener's IP addresses (sys.availability_group_listener_ip_addresses). No record at all, or a record naming an address the listener does not have (a stale record, a hosts file entry), is an error: clients cannot connect through the name. A name that resolves only to OFFLINE listener IPs is a warning (clients wait for the record to be updated). Several records (one per subnet: RegisterAllProvidersIP = 1) mean clients without MultiSubnetFailover=True time out on every other attempt; one record for a multi-subnet listener (RegisterAllProvidersIP = 0) means clients wait for the record's TTL after a failover to another subnet. Both are information. A DNN listener resolves to every node's address by design.",
            needs: &["probes", keys::AVAILABILITY_GROUP_LISTENERS, keys::AVAILABILITY_GROUP_LISTENER_IP_ADDRESSES],
            related_errors: &[],
            seed: "beyond the seeds: docs/seed-coverage.md (the listener as clients see it: DNS records)",
        },
        run: dns_records,
    },
    Check {
        info: CheckInfo {
            id: "listener.kerberos",
            category: Category::Listener,
            title: "Windows logins through the listener use NTLM, not Kerberos",
            description: "AgDiag logs in through the listener name with integrated authentication and reads auth_scheme of its own session in sys.dm_exec_connections. NTLM instead of KERBEROS means the listener's SPN (MSSQLSvc/<listener FQDN>:<port>) is missing or registered on another account than the one SQL Server runs as: Windows logins still work, but delegation (double-hop: linked servers, SSRS) fails and policies that require Kerberos refuse them. With SQL Server authentication auth_scheme is SQL and Kerberos cannot be judged.",
            needs: &["probes", keys::AVAILABILITY_GROUP_LISTENERS, keys::DM_SERVER_SERVICES],
            related_errors: &[],
            seed: "beyond the seeds: docs/seed-coverage.md (the listener as clients see it: Kerberos)",
        },
        run: kerberos,
    },
];

/// The probes of `listener` done `via` (`name`, `login`) on its port.
fn listener_probes<'s>(ctx: &Ctx<'s>, l: &Listener<'_>, port: u16, via: &str) -> Vec<&'s Probe> {
    ctx.snapshot
        .probes
        .iter()
        .filter(|p| {
            p.purpose.eq_ignore_ascii_case("listener")
                && p.via.eq_ignore_ascii_case(via)
                && p.port == port
                && (p.subject.eq_ignore_ascii_case(l.name) || p.host.eq_ignore_ascii_case(l.name))
        })
        .collect()
}

/// What the listener name resolved to: every address when the probe recorded them, else only the
/// address the by-name probe used (snapshots written before `resolved` existed). `None`: no record.
struct Resolution<'s> {
    addresses: Vec<&'s str>,
    /// True when only the probe's own address is known, not the whole answer.
    partial: bool,
}

fn resolution<'s>(probes: &[&'s Probe]) -> Option<Resolution<'s>> {
    if let Some(all) = probes.iter().find_map(|p| p.resolved.as_ref().filter(|r| !r.is_empty())) {
        let mut addresses: Vec<&str> = Vec::new();
        for a in all.iter().map(|a| a.trim()) {
            if !addresses.contains(&a) {
                addresses.push(a);
            }
        }
        return Some(Resolution { addresses, partial: false });
    }
    let used: Vec<&str> = probes.iter().filter(|p| !unresolved(p)).filter_map(|p| p.address.as_deref()).map(str::trim).collect();
    (!used.is_empty()).then_some(Resolution { addresses: used, partial: true })
}

/// An IPv6 link-local address is the host's own interface address, never a registered listener IP.
fn link_local(address: &str) -> bool {
    matches!(address.parse::<IpAddr>(), Ok(IpAddr::V6(v6)) if (v6.segments()[0] & 0xffc0) == 0xfe80)
}

fn ps_quote(text: &str) -> String {
    format!("'{}'", tsql::comment(text).replace('\'', "''"))
}

fn dns_records(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    if ctx.snapshot.probes.is_empty() {
        run.skip("probes", NO_PROBES);
        return;
    }
    let all = listeners(ctx, run, true, false);
    if all.is_empty() && !ctx.topology.ags.is_empty() && run_has_no_gaps(run) {
        run.evaluated(); // the catalog was read and there is no listener to resolve
    }
    for l in all {
        let Some(port) = l.port() else {
            run.evaluated(); // listener.port_not_set: nothing was probed
            continue;
        };
        let by_name = listener_probes(ctx, &l, port, "name");
        if by_name.is_empty() {
            run.skip(l.name, "the snapshot's probes include no probe of the listener name");
            continue;
        }
        run.evaluated();
        let mut evidence = l.evidence();
        evidence["probes"] = json!(by_name);
        let Some(found) = resolution(&by_name) else {
            no_record(run, &l, port, &by_name, evidence);
            continue;
        };
        evidence["resolved"] = json!(found.addresses);
        if found.partial {
            evidence["resolved_note"] =
                json!("the snapshot records only the address the by-name probe used, not every address of the answer");
        }
        if l.is_dnn() {
            continue; // a DNN name resolves to every node's address: there is no listener IP to compare
        }
        if l.ips.is_empty() {
            continue; // no IP rows to compare with (listener.no_online_ip reports a listener without IPs)
        }
        let listener_ips: Vec<&str> = l.ips.iter().filter_map(|r| r.str("ip_address")).collect();
        let foreign: Vec<&str> = found
            .addresses
            .iter()
            .copied()
            .filter(|a| !link_local(a) && !listener_ips.iter().any(|ip| same_ip(ip, a)))
            .collect();
        if !foreign.is_empty() {
            foreign_record(run, &l, port, &found, &foreign, &listener_ips, evidence);
            continue;
        }
        if found.partial {
            continue; // one address of the answer: nothing more can be judged
        }
        let online: Vec<&str> = l.online_ips().iter().filter_map(|r| r.str("ip_address")).collect();
        let published: Vec<&str> = found.addresses.iter().copied().filter(|a| !link_local(a)).collect();
        let names_online = published.iter().any(|a| online.iter().any(|ip| same_ip(ip, a)));
        if l.ag.is_wsfc() && !online.is_empty() && !names_online {
            offline_only(run, &l, port, &published, &online, evidence);
        } else if published.len() > 1 {
            several_records(run, &l, port, &published, evidence);
        } else if distinct_subnets(&l) > 1 {
            one_record_multi_subnet(run, &l, &published, evidence);
        }
    }
}

fn distinct_subnets(l: &Listener<'_>) -> usize {
    let mut subnets: Vec<String> = l.ips.iter().filter_map(|r| subnet(r)).collect();
    subnets.sort();
    subnets.dedup();
    subnets.len()
}

/// How the listener's name gets into DNS: the cluster registers it (WSFC), else an administrator.
fn registration_step(l: &Listener<'_>) -> String {
    let name = ps_quote(l.name);
    if l.ag.is_wsfc() {
        format!(
            "On a replica's computer (the cluster registers the listener's network name in DNS):\n\
             Get-ClusterResource | Where-Object {{ $_.ResourceType -in 'Network Name','Distributed Network Name' }} | Format-Table Name, State, OwnerGroup\n\
             Get-ClusterResource <network name> | Get-ClusterParameter DnsName, RegisterAllProvidersIP, HostRecordTTL\n\
             Get-ClusterResource <network name> | Update-ClusterNetworkNameResource   # re-registers the name's records\n\
             Resolve-DnsName {name}"
        )
    } else {
        format!(
            "This availability group's cluster manager does not register DNS records (CLUSTER_TYPE EXTERNAL or NONE): \
             create or correct the A record of {} in the DNS zone so that it names the listener's IP address, e.g. \
             Add-DnsServerResourceRecordA -ZoneName <zone> -Name {name} -IPv4Address <listener ip> (or nsupdate on a \
             BIND server), then Resolve-DnsName {name}",
            tsql::comment(l.name)
        )
    }
}

fn no_record(run: &mut CheckRun<'_>, l: &Listener<'_>, port: u16, probes: &[&Probe], evidence: serde_json::Value) {
    let errors: Vec<&str> = probes.iter().filter_map(|p| p.error.as_deref()).collect();
    let target = l.primary();
    run.finding(Severity::Error, l.name)
        .instance(&target)
        .ag(l.ag.name)
        .message(format!(
            "Listener {} of availability group {} has no DNS record this machine can resolve: the name did not resolve \
             ({}). {FROM_HERE}. Clients \
             that connect with Server={},{port} fail before they reach SQL Server.",
            l.name,
            l.ag.name,
            if errors.is_empty() { "no address".to_string() } else { errors.join("; ") },
            l.name,
        ))
        .evidence(evidence)
        .remediation(if l.ag.is_wsfc() {
            "Check the listener's network name resource in Failover Cluster Manager (it must be online, and the cluster \
             computer object must be allowed to register the name in DNS), re-register it, and check the DNS suffix \
             search list of the clients."
        } else {
            "Create the listener name's A record in DNS (the cluster manager of an EXTERNAL or NONE availability group \
             does not register it), naming the listener's IP address."
        })
        .fix(FixStep::manual(&target, Phase::Prerequisite, registration_step(l)))
        .emit();
}

fn foreign_record(
    run: &mut CheckRun<'_>,
    l: &Listener<'_>,
    port: u16,
    found: &Resolution<'_>,
    foreign: &[&str],
    listener_ips: &[&str],
    mut evidence: serde_json::Value,
) {
    evidence["foreign_addresses"] = json!(foreign);
    let target = l.primary();
    let name = ps_quote(l.name);
    let mut removal: Vec<String> = vec![
        format!("From this machine and from a client: Resolve-DnsName {name}; Get-Content C:\\Windows\\System32\\drivers\\etc\\hosts"),
    ];
    for address in foreign {
        removal.push(format!(
            "Remove-DnsServerResourceRecord -ZoneName <zone> -RRType A -Name {name} -RecordData {}   # stale record",
            ps_quote(address)
        ));
    }
    removal.push("ipconfig /flushdns   # on the clients".into());
    run.finding(Severity::Error, l.name)
        .instance(&target)
        .ag(l.ag.name)
        .message(format!(
            "Listener {} resolves to {} but its IP addresses are {} (sys.availability_group_listener_ip_addresses): {} \
             the listener does not have, a stale DNS record or a hosts file entry. {FROM_HERE}. Clients that get {} \
             connect to another machine, or time out, instead of reaching the primary on port {port}.",
            l.name,
            found.addresses.join(", "),
            listener_ips.join(", "),
            if foreign.len() == 1 { format!("{} is an address", foreign[0]) } else { format!("{} are addresses", foreign.join(", ")) },
            if foreign.len() == 1 { "that address" } else { "those addresses" },
        ))
        .evidence(evidence)
        .remediation(format!(
            "Delete the A record(s) of {} that name {} from the DNS zone (and any hosts file entry), make sure the record \
             names the listener's IP, then flush the clients' DNS caches.",
            l.name,
            foreign.join(", ")
        ))
        .fixes([
            FixStep::manual(&target, Phase::Prerequisite, removal.join("\n")),
            FixStep::manual(&target, Phase::Prerequisite, registration_step(l)),
        ])
        .emit();
}

fn offline_only(run: &mut CheckRun<'_>, l: &Listener<'_>, port: u16, published: &[&str], online: &[&str], evidence: serde_json::Value) {
    let target = l.primary();
    run.finding(Severity::Warning, l.name)
        .instance(&target)
        .ag(l.ag.name)
        .message(format!(
            "Listener {} resolves only to {}, which the cluster has OFFLINE; the ONLINE listener IP is {}. The record \
             was not updated after the availability group moved to another subnet (RegisterAllProvidersIP = 0 \
             registers only the online IP, and clients keep the old one for the record's TTL, HostRecordTTL). {FROM_HERE}. \
             Clients that connect through the name on port {port} time out until the record and their cache are updated.",
            l.name,
            published.join(", "),
            online.join(", ")
        ))
        .evidence(evidence)
        .remediation(
            "Re-register the listener's network name (Update-ClusterNetworkNameResource), flush the clients' DNS caches; \
             for faster client failover lower HostRecordTTL (e.g. 300 s) or set RegisterAllProvidersIP = 1 with \
             MultiSubnetFailover=True in the connection strings.",
        )
        .fix(FixStep::manual(&target, Phase::Prerequisite, registration_step(l)))
        .emit();
}

fn several_records(run: &mut CheckRun<'_>, l: &Listener<'_>, port: u16, published: &[&str], evidence: serde_json::Value) {
    run.finding(Severity::Info, l.name)
        .instance(l.primary())
        .ag(l.ag.name)
        .message(format!(
            "Listener {} resolves to {} addresses ({}): the cluster registers one record per subnet \
             (RegisterAllProvidersIP = 1). Clients with MultiSubnetFailover=True try them all at once and connect at \
             once; clients without it try them in turn and time out on every attempt that starts with an OFFLINE IP \
             (see listener.multi_subnet for the connection string).",
            l.name,
            published.len(),
            published.join(", "),
        ))
        .evidence(evidence)
        .remediation(format!(
            "Connect with MultiSubnetFailover=True (Server=tcp:{},{port};MultiSubnetFailover=True). For clients whose \
             driver cannot set it, set RegisterAllProvidersIP = 0 on the listener's network name and lower HostRecordTTL \
             (their failover then waits for the record's TTL).",
            l.name
        ))
        .emit();
}

fn one_record_multi_subnet(run: &mut CheckRun<'_>, l: &Listener<'_>, published: &[&str], evidence: serde_json::Value) {
    run.finding(Severity::Info, l.name)
        .instance(l.primary())
        .ag(l.ag.name)
        .message(format!(
            "Listener {} has IP addresses in {} subnets but resolves to one address ({}): only the online IP is \
             registered (RegisterAllProvidersIP = 0). After a failover to another subnet, clients reach the listener \
             only when the record is updated and their cached record expires (HostRecordTTL, 1200 s by default).",
            l.name,
            distinct_subnets(l),
            published.join(", "),
        ))
        .evidence(evidence)
        .remediation(
            "Lower HostRecordTTL on the listener's network name (e.g. 300 s) for faster client failover, or set \
             RegisterAllProvidersIP = 1 and connect with MultiSubnetFailover=True.",
        )
        .emit();
}

/// `listener.contoso.com`: the listener name when qualified, else qualified with the DNS suffix the
/// snapshot shows (the login probe's host, the instances' targets).
fn qualified_name(ctx: &Ctx<'_>, l: &Listener<'_>, login: &Probe) -> Option<String> {
    if l.name.contains('.') {
        return Some(l.name.to_string());
    }
    if login.host.contains('.') && login.host.split('.').next().is_some_and(|h| h.eq_ignore_ascii_case(l.name)) {
        return Some(login.host.clone());
    }
    ctx.instances().find_map(|inst| {
        // `tcp:sql1.contoso.com\INST1,1433` → `sql1.contoso.com`
        let target = inst.target.trim();
        let target = target.get(..4).filter(|p| p.eq_ignore_ascii_case("tcp:")).map_or(target, |_| &target[4..]);
        let host = target.split([',', '\\']).next()?.trim();
        let (_, suffix) = host.split_once('.')?;
        (host.parse::<IpAddr>().is_err() && !suffix.is_empty()).then(|| format!("{}.{suffix}", l.name))
    })
}

fn kerberos(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    if ctx.snapshot.probes.is_empty() {
        run.skip("probes", NO_PROBES);
        return;
    }
    let all = listeners(ctx, run, false, false);
    if all.is_empty() && !ctx.topology.ags.is_empty() && run_has_no_gaps(run) {
        run.evaluated(); // no listener to log in through
    }
    for l in all {
        let Some(port) = l.port() else {
            run.evaluated(); // listener.port_not_set: nothing listens for it
            continue;
        };
        let logins = listener_probes(ctx, &l, port, "login");
        let Some(login) = logins.iter().copied().find(|p| p.dm_exec_connections.is_some()) else {
            let why = match logins.iter().find_map(|p| p.error.as_deref()) {
                Some(error) => format!("AgDiag could not log in through the listener: {error}"),
                None => "the snapshot records no login through the listener (`agdiag collect` logs in through each \
                         listener and reads auth_scheme of its own session)"
                    .to_string(),
            };
            run.skip(l.name, why);
            continue;
        };
        let row = login.dm_exec_connections.as_ref().expect("found with a row");
        let scheme = row.str("auth_scheme").map(|s| s.trim().to_ascii_uppercase()).unwrap_or_default();
        match scheme.as_str() {
            "KERBEROS" => run.evaluated(),
            "NTLM" => {
                run.evaluated();
                ntlm(ctx, run, &l, port, login);
            }
            "SQL" => run.skip(
                l.name,
                "AgDiag logged in through the listener with SQL Server authentication (auth_scheme SQL): whether Windows \
                 logins get Kerberos cannot be judged; collect with integrated authentication from a domain-joined machine",
            ),
            other => run.skip(
                l.name,
                format!(
                    "auth_scheme of AgDiag's login through the listener is {}: only KERBEROS or NTLM can be judged",
                    if other.is_empty() { "missing" } else { other }
                ),
            ),
        }
    }
}

fn ntlm(ctx: &Ctx<'_>, run: &mut CheckRun<'_>, l: &Listener<'_>, port: u16, login: &Probe) {
    let target = l.primary();
    let fqdn = qualified_name(ctx, l, login);
    let spn_host = fqdn.clone().unwrap_or_else(|| format!("{}.<dns domain>", l.name));
    let short = l.name.split('.').next().unwrap_or(l.name);
    // The SPN belongs to the account the service authenticates as on the network: a domain account
    // or gMSA as is, a virtual account or Network Service as the computer account.
    let (account, account_note) = match service_identity(ctx, &target) {
        Ok((service, Some(login))) => {
            let note = if !service.eq_ignore_ascii_case(&login) {
                format!(
                    " {target} runs as a virtual account or Network Service, which authenticates as its computer account \
                     {login}: an SPN can be on one account only, so Kerberos through the listener keeps working after a \
                     failover only when every replica runs SQL Server under the same domain account or gMSA."
                )
            } else {
                String::new()
            };
            (login, note)
        }
        Ok((account, None)) => (
            "<DOMAIN\\service account>".to_string(),
            format!(" {target} runs as {account}, which cannot authenticate to other computers: run SQL Server under a domain account or gMSA first."),
        ),
        Err(why) => ("<DOMAIN\\service account>".to_string(), format!(" The service account is unknown: {why}.")),
    };
    let spn = format!("MSSQLSvc/{spn_host}:{port}");
    let short_spn = format!("MSSQLSvc/{short}:{port}");
    let quoted_account = tsql::comment(&account);
    let mut evidence = l.evidence();
    evidence["login_probe"] = json!(login);
    evidence["spn"] = json!([&spn, &short_spn]);
    evidence["service_account"] = json!(account);
    evidence["availability_group_listener_ip_addresses"] = json!(l.ips.iter().map(|r| r.pick(IP_COLUMNS)).collect::<Vec<_>>());
    run.finding(Severity::Warning, l.name)
        .instance(&target)
        .ag(l.ag.name)
        .message(format!(
            "AgDiag logged in through listener {} with integrated authentication and got NTLM, not Kerberos \
             (sys.dm_exec_connections.auth_scheme of its own session): the SPN {spn} is missing, or registered on another \
             account than the one SQL Server runs as ({account}). Windows logins through the listener still work with \
             NTLM, but delegation (double-hop: linked servers, SSRS, SSIS) fails and clients or policies that require \
             Kerberos refuse the connection.{account_note}",
            l.name
        ))
        .evidence(evidence)
        .remediation(
            "Register the listener's SPNs on the SQL Server service account (a domain administrator: setspn -S checks for \
             duplicates first), then reconnect and check that auth_scheme is KERBEROS: \
             SELECT auth_scheme FROM sys.dm_exec_connections WHERE session_id = @@SPID;",
        )
        .fix(FixStep::manual(
            &target,
            Phase::Prerequisite,
            format!(
                "As a domain administrator:\n\
                 setspn -Q {}   # which account holds it now, if any\n\
                 setspn -S {} {quoted_account}\n\
                 setspn -S {} {quoted_account}\n\
                 klist purge   # on the client, then reconnect through the listener",
                tsql::comment(&spn),
                tsql::comment(&spn),
                tsql::comment(&short_spn),
            ),
        ))
        .emit();
}
