//! What a check reports: a finding with its evidence, a plain explanation, a remediation and, where
//! T-SQL can fix it, fix steps that the fix script orders and renders.

use serde::{Deserialize, Serialize};
use serde_json::Value;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
    Info,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Error => "error",
            Severity::Warning => "warning",
            Severity::Info => "info",
        }
    }

    pub fn parse(s: &str) -> Option<Severity> {
        match s.to_ascii_lowercase().as_str() {
            "error" => Some(Severity::Error),
            "warning" => Some(Severity::Warning),
            "info" => Some(Severity::Info),
            _ => None,
        }
    }
}

/// The seed area a check belongs to; one module under `checks/` per category.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Hadr,
    Accounts,
    Endpoint,
    EndpointUrl,
    Network,
    Listener,
    Routing,
    Session,
    Health,
    Errorlog,
    Build,
    Distributed,
    History,
    Failover,
    Seeding,
    Certificate,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Hadr => "hadr",
            Category::Accounts => "accounts",
            Category::Endpoint => "endpoint",
            Category::EndpointUrl => "endpoint_url",
            Category::Network => "network",
            Category::Listener => "listener",
            Category::Routing => "routing",
            Category::Session => "session",
            Category::Health => "health",
            Category::Errorlog => "errorlog",
            Category::Build => "build",
            Category::Distributed => "distributed",
            Category::History => "history",
            Category::Failover => "failover",
            Category::Seeding => "seeding",
            Category::Certificate => "certificate",
        }
    }
}

/// Where a fix step runs in the script, in dependency order: a login exists before it is granted
/// anything, an endpoint exists before it is re-owned, re-owning (which drops every permission on
/// the endpoint) comes before the grants, a routing URL is set before a list names the replica.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Phase {
    /// Outside SQL Server: enable the feature, restart, firewall, DNS. Rendered as comments.
    Prerequisite,
    CreateLogin,
    EnableLogin,
    CreateEndpoint,
    AlterEndpoint,
    EndpointOwner,
    GrantConnect,
    /// Server-level permissions (`GRANT ... TO [NT AUTHORITY\SYSTEM]` for the cluster).
    ServerPermissions,
    StartEndpoint,
    ReplicaOptions,
    RoutingUrl,
    RoutingList,
    Listener,
    DataMovement,
    /// Extended events sessions (AlwaysOn_health started and set to start with the server).
    EventSession,
}

/// One step of a fix: T-SQL to run on `target`, or a manual action to take (rendered commented).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FixStep {
    /// Instance to `:Connect` to (a replica server name as SQL Server reports it).
    pub target: String,
    pub phase: Phase,
    /// T-SQL, or for `manual` steps the command or action text.
    pub text: String,
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub manual: bool,
}

impl FixStep {
    pub fn sql(target: &str, phase: Phase, text: impl Into<String>) -> FixStep {
        FixStep { target: target.to_string(), phase, text: text.into(), manual: false }
    }

    pub fn manual(target: &str, phase: Phase, text: impl Into<String>) -> FixStep {
        FixStep { target: target.to_string(), phase, text: text.into(), manual: true }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    /// Stable id: `<check>@<instance>/<object>`.
    pub id: String,
    pub check: String,
    pub category: Category,
    pub severity: Severity,
    pub instance: Option<String>,
    pub availability_group: Option<String>,
    pub replica: Option<String>,
    pub object: Option<String>,
    pub title: String,
    pub message: String,
    /// The rows and values that prove the finding.
    pub evidence: Value,
    pub remediation: String,
    /// The T-SQL fix as one text (the `sql` steps joined), or null when T-SQL cannot fix it.
    pub fix: Option<String>,
    /// Every fix step, T-SQL and manual, with where it runs; the fix script is built from these.
    #[serde(default)]
    pub fix_steps: Vec<FixStep>,
    pub related_errors: Vec<u32>,
}

impl Finding {
    pub fn has_sql_fix(&self) -> bool {
        self.fix_steps.iter().any(|s| !s.manual)
    }
}
