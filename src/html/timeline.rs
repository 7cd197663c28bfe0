//! The incident timeline section: the report's failovers and AlwaysOn_health events, newest last.

use std::fmt::Write;

use super::escape::{untrusted, untrusted_multiline};
use super::TimelineItem;
use crate::findings::Severity;
use crate::report::Report;
use crate::timeline::{EventKind, FailoverKind};

/// The most events the page lists: the newest. A week of a troubled AG can hold 50,000 per
/// replica; `agdiag timeline` lists every one.
pub(super) const MAX_ITEMS: usize = 500;

/// How much an event matters to someone reading what happened.
fn severity(kind: EventKind) -> Option<Severity> {
    match kind {
        EventKind::ForcedFailover
        | EventKind::LeaseExpired
        | EventKind::HealthCheckFailure
        | EventKind::HandshakeFailure
        | EventKind::EndpointError
        | EventKind::DatabaseIoError => Some(Severity::Error),
        EventKind::ConnectionTimeout
        | EventKind::ConnectionLost
        | EventKind::DataMovementSuspended
        | EventKind::FailoverValidation
        | EventKind::ReplicaManagerState
        | EventKind::OtherError => Some(Severity::Warning),
        EventKind::RoleChange
        | EventKind::ManualFailover
        | EventKind::AgDdl
        | EventKind::ConnectionEstablished
        | EventKind::DataMovementResumed
        | EventKind::SyncStateChange
        | EventKind::DatabaseRoleChange => Some(Severity::Info),
    }
}

/// The report's own timeline as page rows: each failover (with its cause) and the newest
/// [`MAX_ITEMS`] events, oldest first. Empty when the snapshot has no event history.
pub fn timeline_items(report: &Report) -> Vec<TimelineItem> {
    let timeline = &report.timeline;
    let skip = timeline.entries.len().saturating_sub(MAX_ITEMS);
    let mut items: Vec<TimelineItem> = Vec::new();
    if skip > 0 {
        items.push(TimelineItem {
            at: timeline.entries[0].time.clone(),
            instance: None,
            severity: None,
            text: format!("{skip} earlier events are not shown here: `agdiag timeline` lists every event."),
        });
    }
    for entry in &timeline.entries[skip..] {
        items.push(TimelineItem {
            at: entry.time.clone(),
            instance: Some(entry.replica.clone()),
            severity: severity(entry.kind),
            text: entry.message.clone(),
        });
    }
    for failover in &timeline.failovers {
        // As history.failover grades them: forced (possible data loss) is an error, an unplanned
        // automatic failover a warning, a planned one info.
        let severity = match failover.kind {
            FailoverKind::Forced => Severity::Error,
            FailoverKind::Automatic => Severity::Warning,
            FailoverKind::Planned => Severity::Info,
        };
        let from = failover.from.as_deref().map(|f| format!(" from {f}")).unwrap_or_default();
        items.push(TimelineItem {
            at: failover.time.clone(),
            instance: Some(failover.to.clone()),
            severity: Some(severity),
            text: format!(
                "{} failover of {}{from} to {}: {}",
                failover.kind.as_str(),
                failover.availability_group,
                failover.to,
                failover.cause_text
            ),
        });
    }
    // Times are ISO 8601 UTC text of one format, so text order is time order; stable, so a
    // failover stays after the event that completed it.
    items.sort_by(|a, b| a.at.cmp(&b.at));
    items
}

/// One row per event, in the order given.
pub fn timeline_section(page: &mut String, items: &[TimelineItem]) {
    page.push_str("<section id=\"timeline\">\n<h2>Incident timeline</h2>\n<div class=\"scroll\"><table class=\"timeline\"><thead><tr><th>When</th><th>Replica</th><th>Severity</th><th>What happened</th></tr></thead><tbody>");
    for item in items {
        let sev = item.severity.map(Severity::as_str).unwrap_or("");
        let _ = write!(
            page,
            "<tr{}><td class=\"mono\">{}</td><td>{}</td><td>{sev}</td><td>{}</td></tr>",
            if item.severity == Some(Severity::Error) { " class=\"bad\"" } else { "" },
            untrusted(&item.at),
            item.instance.as_deref().map(untrusted).unwrap_or_default(),
            untrusted_multiline(&item.text)
        );
    }
    page.push_str("</tbody></table></div>\n</section>\n");
}
