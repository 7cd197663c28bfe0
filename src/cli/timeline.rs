//! `agdiag timeline <snapshot>… [--since 7d] [--format table|json]`.

use std::path::PathBuf;

use agdiag::{Error, Snapshot};

use super::analyze::read_snapshot;
use super::{table, Exit, Format};

#[derive(Debug, clap::Args)]
pub struct TimelineArgs {
    /// Snapshot file(s) (format agdiag.snapshot/1), or `-` for stdin; several are merged as one AG.
    #[arg(required = true, num_args = 1..)]
    pub snapshots: Vec<PathBuf>,
    /// How far back from the snapshot's collected_at (not from now): 7d, 36h, 90m.
    #[arg(long, default_value = "7d", value_name = "DURATION")]
    pub since: String,
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
}

pub fn run(args: TimelineArgs) -> Result<Exit, Error> {
    let window = agdiag::timeline::parse_window(&args.since)?;
    let snapshot = Snapshot::merge(args.snapshots.iter().map(|p| read_snapshot(p)).collect::<Result<_, _>>()?)?;
    let timeline = agdiag::timeline::build(&snapshot, window);
    let text = match args.format {
        Format::Json => timeline.to_json_pretty() + "\n",
        Format::Table => table::timeline(&timeline, &args.since, snapshot.instances.len()),
    };
    super::analyze::write_stdout(&mut std::io::stdout().lock(), &text)?;
    Ok(Exit::Clean)
}
