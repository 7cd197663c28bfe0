//! Seed: "Join Database Fails (35250)" step 7 (troubleshoot-ag-configuration.md): "Ensure your SQL
//! Server is running a recent build (preferably the latest build) to protect from running into
//! fixed issues."
//!
//! The bundled table holds the latest cumulative update (or the final service pack: 2012, 2016) per
//! major version, from Microsoft's "Latest updates and version history for SQL Server" (KB321185),
//! as of `BUILD_TABLE_AS_OF`. Every finding states that date: newer updates may exist.

use serde_json::json;

use super::{Check, CheckInfo, CheckRun, Ctx};
use crate::findings::{Category, FixStep, Phase, Severity};
use crate::snapshot::keys;

/// The date of the newest entry in `LATEST`; the table knows nothing released after it.
const BUILD_TABLE_AS_OF: &str = "2026-08-13";

/// The newest servicing level of one major version.
struct Latest {
    major: u32,
    product: &'static str,
    update: &'static str,
    build: [u32; 4],
    kb: &'static str,
    released: &'static str,
    /// Build numbers from here up are the cumulative-update branch; below are RTM and GDR-only
    /// builds, which carry security fixes but none of the CU fixes (`None`: no CU branch to join).
    cu_branch_from: Option<u32>,
    note: &'static str,
}

const LATEST: &[Latest] = &[
    Latest {
        major: 17,
        product: "SQL Server 2025",
        update: "CU8",
        build: [17, 0, 4075, 5],
        kb: "KB5104822",
        released: "2026-08-13",
        cu_branch_from: Some(4000),
        note: "",
    },
    Latest {
        major: 16,
        product: "SQL Server 2022",
        update: "CU26",
        build: [16, 0, 4265, 3],
        kb: "KB5093420",
        released: "2026-07-16",
        cu_branch_from: Some(4000),
        note: "",
    },
    Latest {
        major: 15,
        product: "SQL Server 2019",
        update: "CU32",
        build: [15, 0, 4430, 1],
        kb: "KB5054833",
        released: "2025-02-27",
        cu_branch_from: Some(4000),
        note: " CU32 is the final cumulative update for SQL Server 2019; security updates continue on top of it (CU32 + GDR 15.0.4480.2, KB5102335, July 2026).",
    },
    Latest {
        major: 14,
        product: "SQL Server 2017",
        update: "CU31",
        build: [14, 0, 3456, 2],
        kb: "KB5016884",
        released: "2022-09-20",
        cu_branch_from: Some(3000),
        note: " CU31 is the final cumulative update for SQL Server 2017; security updates continue on top of it (CU31 + GDR 14.0.3540.1, KB5102337, July 2026).",
    },
    Latest {
        major: 13,
        product: "SQL Server 2016",
        update: "SP3",
        build: [13, 0, 6300, 2],
        kb: "KB5003279",
        released: "2021-09-15",
        cu_branch_from: None,
        note: " SP3 is the final service pack for SQL Server 2016 (GDR for SP3: 13.0.6500.1, KB5102340, July 2026); its extended support ended on 2026-07-14, so plan an upgrade.",
    },
    Latest {
        major: 12,
        product: "SQL Server 2014",
        update: "SP3 CU4",
        build: [12, 0, 6329, 1],
        kb: "KB4500181",
        released: "2019-07-29",
        // SP2 cumulative updates (12.0.5xxx) are below SP3's GDR branch: no single number splits them.
        cu_branch_from: None,
        note: " SP3 CU4 is the final cumulative update for SQL Server 2014; security updates continue on top of it (SP3 CU4 + GDR 12.0.6449.1, KB5029185, October 2023, and later ones under Extended Security Updates). Its extended support ended on 2024-07-09, so plan an upgrade.",
    },
    Latest {
        major: 11,
        product: "SQL Server 2012",
        update: "SP4",
        build: [11, 0, 7001, 0],
        kb: "KB4018073",
        released: "2017-10-04",
        cu_branch_from: None,
        note: " SP4 is the final service pack for SQL Server 2012 (GDR for SP4: 11.0.7507.2, KB4583465, January 2021); its extended support ended on 2022-07-12, so plan an upgrade.",
    },
];

fn latest_for(major: u32) -> Option<&'static Latest> {
    LATEST.iter().find(|l| l.major == major)
}

/// `major.minor.build.revision` as numbers; `None` unless all four parts are numeric.
pub fn parse_version(text: &str) -> Option<[u32; 4]> {
    let mut parts = text.trim().split('.').map(|p| p.parse::<u32>().ok());
    let version = [parts.next()??, parts.next()??, parts.next()??, parts.next()??];
    parts.next().is_none().then_some(version)
}

fn dotted(v: [u32; 4]) -> String {
    format!("{}.{}.{}.{}", v[0], v[1], v[2], v[3])
}

pub const CHECKS: &[Check] = &[
    Check {
        info: CheckInfo {
            id: "build.outdated",
            category: Category::Build,
            title: "SQL Server build is older than the latest update",
            description: "SERVERPROPERTY('ProductVersion') is older than the latest cumulative update AgDiag knows for that major version (a bundled table with its date; newer updates may exist). Availability group fixes ship in cumulative updates; RTM and GDR-only builds carry none of them. The 35250 checklist's last step is to run a recent build.",
            needs: &[keys::SERVER_PROPERTIES],
            related_errors: &[35250],
            seed: "troubleshoot-ag-configuration: Join Database Fails (35250) step 7",
        },
        run: outdated,
    },
    Check {
        info: CheckInfo {
            id: "build.mixed_versions",
            category: Category::Build,
            title: "Replicas of one availability group run different SQL Server builds",
            description: "The instances hosting one AG's replicas report different ProductVersion values. Different major versions are supported only during a rolling upgrade: once the primary moves to the newer version, replicas on the older one stop synchronizing. Different builds of one major version usually mean an unfinished rolling update.",
            needs: &[keys::SERVER_PROPERTIES, keys::AVAILABILITY_REPLICAS],
            related_errors: &[],
            seed: "troubleshoot-ag-configuration: Join Database Fails (35250) step 7",
        },
        run: mixed_versions,
    },
];

fn outdated(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for inst in ctx.instances() {
        let Some(rows) = run.rows(inst, keys::SERVER_PROPERTIES) else { continue };
        let name = inst.name();
        let Some(props) = rows.first() else {
            run.skip(name, "server_properties returned no row");
            continue;
        };
        let Some(text) = props.str("ProductVersion") else {
            run.skip(name, "ProductVersion was not collected");
            continue;
        };
        let Some(version) = parse_version(text) else {
            run.skip(name, format!("ProductVersion {text:?} is not major.minor.build.revision"));
            continue;
        };
        let Some(latest) = latest_for(version[0]) else {
            run.skip(
                name,
                format!(
                    "ProductVersion {text}: major version {} is not in AgDiag's build table (SQL Server 2012 to 2025, as of {BUILD_TABLE_AS_OF})",
                    version[0]
                ),
            );
            continue;
        };
        if version >= latest.build {
            continue;
        }
        let level = match (props.str("ProductLevel"), props.str("ProductUpdateLevel")) {
            (Some(l), Some(u)) => format!(" ({l}-{u})"),
            (Some(l), None) => format!(" ({l})"),
            (None, Some(u)) => format!(" ({u})"),
            (None, None) => String::new(),
        };
        let off_cu_branch = latest.cu_branch_from.is_some_and(|from| version[2] < from);
        let (severity, branch_note) = if off_cu_branch {
            (
                Severity::Warning,
                " This build is on the RTM/GDR branch: it carries security fixes only and none of the availability group fixes shipped in cumulative updates.",
            )
        } else {
            (Severity::Info, "")
        };
        let latest_build = dotted(latest.build);
        run.finding(severity, text)
            .instance(name)
            .message(format!(
                "{name} runs {} build {text}{level}, older than {} ({latest_build}, {}, released {}), the latest \
                 update in AgDiag's build table as of {BUILD_TABLE_AS_OF}; newer updates may exist.{branch_note}{} \
                 Known availability group issues fixed in later updates can still affect this instance.",
                latest.product, latest.update, latest.kb, latest.released, latest.note
            ))
            .evidence(json!({
                "server_properties": props.pick(&["ServerName", "ProductVersion", "ProductLevel", "ProductUpdateLevel", "ProductUpdateReference", "Edition"]),
                "latest_known": { "update": latest.update, "build": latest_build, "kb": latest.kb, "released": latest.released },
                "table_as_of": BUILD_TABLE_AS_OF,
            }))
            .remediation(format!(
                "Install {} {} ({}) or the newest update available today, as a rolling update: secondaries first, \
                 then fail over and update the former primary. Check Microsoft's \"Latest updates and version \
                 history for SQL Server\" for anything newer than {BUILD_TABLE_AS_OF}.",
                latest.product, latest.update, latest.kb
            ))
            .fix(FixStep::manual(
                name,
                Phase::Prerequisite,
                format!(
                    "Install {} {} ({}) or later on this instance (rolling update: secondaries first, then fail over).",
                    latest.product, latest.update, latest.kb
                ),
            ))
            .emit();
    }
}

fn mixed_versions(ctx: &Ctx<'_>, run: &mut CheckRun<'_>) {
    for ag in &ctx.topology.ags {
        // (replica, ProductVersion text, parsed) for every collected replica with a readable version.
        let mut versions: Vec<(&str, &str, [u32; 4])> = Vec::new();
        for replica in &ag.replicas {
            let Some(inst) = replica.instance.map(|i| &ctx.snapshot.instances[i]) else { continue };
            let Some(props) = run.rows(inst, keys::SERVER_PROPERTIES).and_then(|rows| rows.first()) else { continue };
            if let Some((text, parsed)) = props.str("ProductVersion").and_then(|t| parse_version(t).map(|p| (t, p))) {
                versions.push((replica.server_name, text, parsed));
            }
        }
        if versions.len() < 2 {
            continue;
        }
        run.evaluated();
        let first = versions[0].2;
        if versions.iter().all(|v| v.2 == first) {
            continue;
        }
        let mixed_major = versions.iter().any(|v| v.2[0] != first[0]);
        let listing: Vec<String> = versions.iter().map(|(r, t, _)| format!("{r} {t}")).collect();
        let (severity, why) = if mixed_major {
            (
                Severity::Warning,
                "Different major versions are supported only for the duration of a rolling upgrade: a replica on a \
                 newer major version can receive log from an older primary, but once the primary runs the newer \
                 version the replicas on the older one stop synchronizing and cannot take over.",
            )
        } else {
            (
                Severity::Info,
                "This usually means a rolling update was not finished. Run the same build on every replica so a \
                 failover does not change which fixes apply.",
            )
        };
        let instance = ag
            .primary
            .as_deref()
            .and_then(|p| ctx.instance_named(p))
            .unwrap_or(&ctx.snapshot.instances[ag.source])
            .name();
        run.finding(severity, ag.name)
            .instance(instance)
            .ag(ag.name)
            .message(format!(
                "The replicas of availability group {} run different SQL Server builds: {}. {why}",
                ag.name,
                listing.join(", ")
            ))
            .evidence(json!({
                "product_versions": versions.iter().map(|(r, t, _)| json!({ "replica": r, "ProductVersion": t })).collect::<Vec<_>>(),
            }))
            .remediation("Finish the rolling update: bring every replica to the same (latest) build, secondaries first, then fail over and update the former primary.")
            .emit();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_parse_only_with_four_numeric_parts() {
        assert_eq!(parse_version("15.0.4345.5"), Some([15, 0, 4345, 5]));
        assert_eq!(parse_version(" 16.0.4265.3 "), Some([16, 0, 4265, 3]));
        assert_eq!(parse_version("16.0.4265"), None);
        assert_eq!(parse_version("16.0.4265.3.1"), None);
        assert_eq!(parse_version("16.0.x.3"), None);
    }

    #[test]
    fn table_is_ordered_and_dated() {
        assert!(LATEST.windows(2).all(|w| w[0].major > w[1].major));
        assert!(LATEST.iter().all(|l| l.build[0] == l.major && l.released <= BUILD_TABLE_AS_OF));
        assert!(LATEST.iter().any(|l| l.released == BUILD_TABLE_AS_OF));
    }
}
