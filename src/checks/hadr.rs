//! Seed: "Always On Availability Groups Is Not Enabled" (troubleshoot-ag-configuration.md).
//! The feature must be enabled on every instance that hosts a replica, its manager must be running,
//! and a WSFC-type AG needs the instance to see its cluster.

use serde_json::json;

use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::snapshot::keys;

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "hadr.disabled",
            category: Category::Hadr,
            title: "Always On Availability Groups feature is disabled",
            description: "SERVERPROPERTY('IsHadrEnabled') is 0: the instance cannot create or host an availability replica.",
            needs: &[keys::SERVER_PROPERTIES],
            related_errors: &[35221],
            seed: "troubleshoot-ag-configuration: Always On Availability Groups Is Not Enabled",
        },
        run: disabled,
    },
    Check {
        info: CheckInfo {
            id: "hadr.manager_not_running",
            category: Category::Hadr,
            title: "Always On manager is not running",
            description: "SERVERPROPERTY('HadrManagerStatus') is 0 (not started, pending communication) or 2 (failed to start): the instance cannot take part in any AG until it runs.",
            needs: &[keys::SERVER_PROPERTIES],
            related_errors: &[35220, 35221],
            seed: "troubleshoot-ag-configuration: Always On Availability Groups Is Not Enabled",
        },
        run: manager_not_running,
    },
    Check {
        info: CheckInfo {
            id: "hadr.no_cluster",
            category: Category::Hadr,
            title: "Always On is enabled but no failover cluster is visible",
            description: "The feature is enabled but sys.dm_hadr_cluster returns no row while the instance hosts (or is to host) a WSFC-type AG: the feature was enabled before the Failover Clustering feature was installed, the cluster was rebuilt underneath it, or the node has lost quorum.",
            needs: &[keys::SERVER_PROPERTIES, keys::DM_HADR_CLUSTER, keys::AVAILABILITY_GROUPS],
            related_errors: &[35220, 19407],
            seed: "troubleshoot-ag-configuration: Always On Availability Groups Is Not Enabled (disable, restart, enable, restart)",
        },
        run: no_cluster,
    },
];

fn enable_steps(instance: &str) -> Vec<FixStep> {
    vec![FixStep::manual(
        instance,
        Phase::Prerequisite,
        format!(
            "Enable Always On and restart the service (PowerShell, SqlServer module):\n\
             Enable-SqlAlwaysOn -ServerInstance '{}' -Force\n\
             or: SQL Server Configuration Manager > SQL Server Services > SQL Server > Properties > Always On Availability Groups > Enable, then restart.",
            instance.replace('\'', "''")
        ),
    )]
}

fn disabled(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for inst in ctx.instances() {
        let Some(rows) = run.rows(inst, keys::SERVER_PROPERTIES) else { continue };
        let Some(props) = rows.first() else { continue };
        if props.int("IsHadrEnabled") != Some(0) {
            continue;
        }
        let name = inst.name();
        run.finding(Severity::Error, name)
            .instance(name)
            .message(format!(
                "Always On Availability Groups is not enabled on {name} (IsHadrEnabled = 0). The instance cannot \
                 create an availability group or host a replica; creating one fails with \"The Always On \
                 Availability Groups feature must be enabled for server instance '{name}'\"."
            ))
            .evidence(json!({ "server_properties": props.pick(&["ServerName", "IsHadrEnabled", "HadrManagerStatus", "ProductVersion"]) }))
            .remediation(
                "Enable the feature in SQL Server Configuration Manager (SQL Server service > Properties > Always On \
                 Availability Groups) or with Enable-SqlAlwaysOn, then restart the SQL Server service. The node must be \
                 a member of a Windows Server Failover Cluster for a WSFC-type AG.",
            )
            .fixes(enable_steps(name))
            .emit();
    }
}

fn manager_not_running(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for inst in ctx.instances() {
        let Some(rows) = run.rows(inst, keys::SERVER_PROPERTIES) else { continue };
        let Some(props) = rows.first() else { continue };
        if props.int("IsHadrEnabled") != Some(1) {
            continue; // hadr.disabled covers it; the manager never starts when the feature is off.
        }
        let name = inst.name();
        let (severity, what) = match props.int("HadrManagerStatus") {
            Some(2) => (Severity::Error, "failed to start (HadrManagerStatus = 2)"),
            Some(0) => (Severity::Warning, "has not started and is waiting for communication with the cluster (HadrManagerStatus = 0)"),
            _ => continue,
        };
        run.finding(severity, name)
            .instance(name)
            .message(format!(
                "The Always On manager on {name} {what}. Until it runs, the instance cannot bring any availability \
                 replica online."
            ))
            .evidence(json!({ "server_properties": props.pick(&["ServerName", "IsHadrEnabled", "HadrManagerStatus"]) }))
            .remediation(
                "Check the SQL Server error log and the cluster service on this node (errors 35220/35221). If the \
                 cluster was installed or rebuilt after Always On was enabled: disable Always On, restart the service, \
                 enable it again, restart again.",
            )
            .emit();
    }
}

fn no_cluster(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for inst in ctx.instances() {
        let Some(rows) = run.rows(inst, keys::SERVER_PROPERTIES) else { continue };
        let Some(props) = rows.first() else { continue };
        if props.int("IsHadrEnabled") != Some(1) {
            continue;
        }
        if only_non_wsfc_ags(inst) {
            run.evaluated(); // EXTERNAL / NONE AGs only: no cluster to need, collected or not
            continue;
        }
        let Some(cluster) = run.rows(inst, keys::DM_HADR_CLUSTER) else { continue };
        if !cluster.is_empty() {
            continue;
        }
        let Some(ags) = run.rows(inst, keys::AVAILABILITY_GROUPS) else { continue };
        let wsfc_ags: Vec<_> = ags
            .iter()
            .filter(|ag| crate::snapshot::domains::is_wsfc_ag(ag))
            .collect();
        // An instance with only EXTERNAL/NONE AGs needs no WSFC; one with no AG yet is being set up.
        if !ags.is_empty() && wsfc_ags.is_empty() {
            continue;
        }
        let name = inst.name();
        let severity = if wsfc_ags.is_empty() { Severity::Warning } else { Severity::Error };
        let ag_names: Vec<&str> = wsfc_ags.iter().filter_map(|a| a.str("name")).collect();
        let mut draft = run.finding(severity, name).instance(name);
        if let Some(first) = ag_names.first() {
            draft = draft.ag(*first);
        }
        draft
            .message(format!(
                "Always On is enabled on {name} but sys.dm_hadr_cluster returns no row{}. Either the node has lost \
                 quorum, or Always On was enabled before the Windows Failover Clustering feature was installed (or the \
                 cluster was removed and rebuilt while Always On stayed configured).",
                if ag_names.is_empty() { String::new() } else { format!(" while it hosts WSFC availability group(s) {}", ag_names.join(", ")) }
            ))
            .evidence(json!({
                "server_properties": props.pick(&["ServerName", "IsHadrEnabled", "HadrManagerStatus", "IsClustered"]),
                "dm_hadr_cluster": [],
                "availability_groups": wsfc_ags.iter().map(|a| a.pick(&["name", "cluster_type", "cluster_type_desc"])).collect::<Vec<_>>(),
            }))
            .remediation(
                "First make sure the cluster service runs and the node has quorum (Get-ClusterNode, Get-ClusterQuorum). \
                 If the cluster is healthy, re-register Always On with it: disable the Always On feature, restart the \
                 SQL Server service, enable the feature again, and restart the service again.",
            )
            .fix(FixStep::manual(
                name,
                Phase::Prerequisite,
                format!(
                    "Disable-SqlAlwaysOn -ServerInstance '{0}' -Force   # restarts the service\n\
                     Enable-SqlAlwaysOn -ServerInstance '{0}' -Force    # restarts it again",
                    name.replace('\'', "''")
                ),
            ))
            .emit();
    }
}

/// The instance hosts availability groups and none is a WSFC AG (Linux/Pacemaker, read-scale):
/// the WSFC views (`dm_hadr_cluster`, `dm_hadr_cluster_members`) have nothing to say about it.
pub(super) fn only_non_wsfc_ags(inst: &crate::snapshot::Instance) -> bool {
    inst.rows(keys::AVAILABILITY_GROUPS)
        .is_ok_and(|ags| !ags.is_empty() && !ags.iter().any(crate::snapshot::domains::is_wsfc_ag))
}
