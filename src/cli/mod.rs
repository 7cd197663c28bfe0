//! Command-line arguments and dispatch. Exit codes, from one place:
//! 0 = nothing at or above the `--fail-on` threshold, 1 = findings at or above it, 2 = bad input.

mod analyze;
mod collect;
mod table;
mod timeline;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand, ValueEnum};

#[derive(Debug, Parser)]
#[command(name = "agdiag", version, about = "Diagnose SQL Server Always On Availability Groups that will not connect, join, synchronize or route")]
pub struct Args {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Analyze a snapshot file and print findings (and optionally a fix script).
    Analyze(analyze::AnalyzeArgs),
    /// Collect a snapshot from live instances (and the replicas they name).
    Collect(collect::CollectArgs),
    /// Collect from live instances and analyze at once.
    Check(collect::CheckArgs),
    /// Print the incident timeline: every replica's AlwaysOn_health events in UTC order, and the failovers.
    Timeline(timeline::TimelineArgs),
    /// List every check AgDiag runs.
    Checks {
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Explain a SQL Server error number (1418, 35250, ...) and the checks that diagnose it.
    Explain {
        /// The SQL Server error number, e.g. 1418 or 35250 (an unknown number lists the known ones).
        number: u32,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
    /// Check a client connection string against the AG in a snapshot.
    ConnectionString {
        /// Snapshot file (`-` for stdin).
        snapshot: PathBuf,
        /// The connection string, e.g. "Server=tcp:ag1-listener,1433;Database=SalesDB;ApplicationIntent=ReadOnly".
        connection_string: String,
        #[arg(long, value_enum, default_value_t = Format::Table)]
        format: Format,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Table,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum FailOn {
    Error,
    Warning,
    Info,
    Never,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Exit {
    Clean = 0,
    Findings = 1,
    BadInput = 2,
}

impl From<Exit> for ExitCode {
    fn from(e: Exit) -> ExitCode {
        ExitCode::from(e as u8)
    }
}

pub fn run(args: Args) -> Result<Exit, agdiag::Error> {
    match args.command {
        Command::Analyze(a) => analyze::run(a),
        Command::Collect(a) => collect::collect(a),
        Command::Check(a) => collect::check(a),
        Command::Timeline(a) => timeline::run(a),
        Command::Checks { format } => {
            match format {
                Format::Json => println!("{}", agdiag::check_catalog::catalog_json()),
                Format::Table => print!("{}", table::checks()),
            }
            Ok(Exit::Clean)
        }
        Command::Explain { number, format } => {
            let Some(explanation) = agdiag::explain::explain(number) else {
                return Err(agdiag::Error::invalid_argument(format!(
                    "AgDiag has no explanation for error {number}; known: {}",
                    agdiag::explain::known_errors().iter().map(u32::to_string).collect::<Vec<_>>().join(", ")
                )));
            };
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&explanation).expect("serializes")),
                Format::Table => print!("{}", table::explanation(&explanation)),
            }
            Ok(Exit::Clean)
        }
        Command::ConnectionString { snapshot, connection_string, format } => {
            let snapshot = analyze::read_snapshot(&snapshot)?;
            let findings = agdiag::connection_string::check_connection_string(&connection_string, &snapshot);
            match format {
                Format::Json => println!("{}", serde_json::to_string_pretty(&findings).expect("serializes")),
                Format::Table => print!("{}", table::findings(&findings.iter().collect::<Vec<_>>())),
            }
            Ok(if findings.is_empty() { Exit::Clean } else { Exit::Findings })
        }
    }
}
