//! `agdiag analyze <snapshot.json>`.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use agdiag::findings::Severity;
use agdiag::fix::ScriptOptions;
use agdiag::{AnalyzeOptions, Error, Snapshot};

use super::{table, Exit, FailOn, Format};

#[derive(Debug, clap::Args)]
pub struct AnalyzeArgs {
    /// Snapshot file(s) (format agdiag.snapshot/1), or `-` for stdin. Several files (one per
    /// replica from collect.sql, say) are analyzed as one AG.
    #[arg(required = true, num_args = 1..)]
    pub snapshots: Vec<PathBuf>,
    #[command(flatten)]
    pub report: ReportArgs,
}

/// What to analyze and how to report it; shared by `analyze` and `check`.
#[derive(Debug, clap::Args)]
pub struct ReportArgs {
    #[arg(long, value_enum, default_value_t = Format::Table)]
    pub format: Format,
    /// Also write the SQLCMD fix script to this file (`-` for stdout, after the findings).
    #[arg(long, value_name = "FILE")]
    pub fix_script: Option<PathBuf>,
    /// Also write the report as one self-contained HTML page (topology drawn, findings, fix
    /// script) to this file.
    #[arg(long, value_name = "FILE")]
    pub html: Option<PathBuf>,
    /// Run only these checks (ids, categories or `endpoint.*`); repeatable or comma-separated.
    #[arg(long, value_delimiter = ',')]
    pub checks: Vec<String>,
    /// Exit 1 when a finding at or above this severity exists.
    #[arg(long, value_enum, default_value_t = FailOn::Error)]
    pub fail_on: FailOn,
}

impl ReportArgs {
    /// A `--checks` selector that matches no check is a typo: running nothing and reporting "No
    /// findings" (exit 0) would read as a pass.
    pub fn validate_checks(&self) -> Result<(), Error> {
        agdiag::checks::validate_selection(&self.checks)
    }
}

pub fn read_snapshot(path: &Path) -> Result<Snapshot, Error> {
    let named = |e: agdiag::Error| Error::new(e.kind, format!("{}: {}", path.display(), e.message));
    let bytes = if path.as_os_str() == "-" {
        let mut bytes = Vec::new();
        std::io::stdin()
            .read_to_end(&mut bytes)
            .map_err(|e| Error::invalid_argument(format!("cannot read the snapshot from stdin: {e}")))?;
        bytes
    } else {
        std::fs::read(path).map_err(|e| Error::invalid_argument(format!("cannot read snapshot {}: {e}", path.display())))?
    };
    let text = agdiag::snapshot::text_input::decode(&bytes).map_err(named)?;
    Snapshot::from_text(&text).map_err(named)
}

pub fn run(args: AnalyzeArgs) -> Result<Exit, Error> {
    args.report.validate_checks()?;
    let snapshot = Snapshot::merge(args.snapshots.iter().map(|p| read_snapshot(p)).collect::<Result<_, _>>()?)?;
    let options = &args.report;
    let report = agdiag::analyze(snapshot, &AnalyzeOptions { checks: options.checks.clone(), generated_at: None });
    output(&report, options)
}

/// Prints the findings (and the fix script when asked) and maps them to the exit code; shared
/// with `agdiag check`.
pub fn output(report: &agdiag::Report, options: &ReportArgs) -> Result<Exit, Error> {
    let (format, fix_script, fail_on) = (options.format, options.fix_script.as_ref(), options.fail_on);
    if let Some(path) = &options.html {
        write_html(report, path)?;
    }
    let mut out = std::io::stdout().lock();
    let body = match format {
        Format::Json => report.findings_json() + "\n",
        Format::Table => table::report(report),
    };
    let script = fix_script.map(|_| report.fix_script(&ScriptOptions::default()));
    match (fix_script, script) {
        (Some(path), Some(script)) if path.as_os_str() == "-" => {
            write_stdout(&mut out, &body)?;
            write_stdout(&mut out, "\n")?;
            write_stdout(&mut out, &script)?;
        }
        (Some(path), Some(script)) => {
            // With a BOM: sqlcmd -i reads a BOM-less file in the ANSI code page (CONTOSO\Jürgen).
            std::fs::write(path, format!("\u{FEFF}{script}"))
                .map_err(|e| Error::invalid_argument(format!("cannot write fix script {}: {e}", path.display())))?;
            write_stdout(&mut out, &body)?;
            if format == Format::Table {
                write_stdout(&mut out, &format!("Fix script written to {} (review before running).\n", path.display()))?;
            }
        }
        _ => {
            write_stdout(&mut out, &body)?;
            let fixable = report.findings.iter().filter(|f| !f.fix_steps.is_empty()).count();
            if format == Format::Table && fixable > 0 {
                write_stdout(
                    &mut out,
                    &format!("\n{fixable} finding(s) have fix steps: add --fix-script fix.sql (or -) to write the script.\n"),
                )?;
            }
        }
    }
    // Not after a script written to stdout: that output must stay a runnable script.
    if let Some(path) = &options.html
        && format == Format::Table
        && fix_script.is_none_or(|p| p.as_os_str() != "-")
    {
        write_stdout(&mut out, &format!("HTML report written to {}.\n", path.display()))?;
    }
    let threshold = match fail_on {
        FailOn::Error => Some(Severity::Error),
        FailOn::Warning => Some(Severity::Warning),
        FailOn::Info => Some(Severity::Info),
        FailOn::Never => None,
    };
    // Nothing evaluated (no instance connected, or no view readable) is not a pass: a script gating
    // on the exit code must not read "could not look" as "healthy".
    let summary = &report.summary;
    if threshold.is_some() && summary.checks_run > 0 && summary.not_evaluated == summary.checks_run {
        eprintln!(
            "agdiag: none of the {} checks could be evaluated (see \"Not evaluated\"): this is not a pass",
            summary.checks_run
        );
        return Ok(Exit::BadInput);
    }
    let failing = match (threshold, report.worst_severity()) {
        (Some(t), Some(worst)) => worst <= t,
        _ => false,
    };
    Ok(if failing { Exit::Findings } else { Exit::Clean })
}

/// Writes the HTML report. Stdout is for the findings, so `-` is refused rather than mixed in.
fn write_html(report: &agdiag::Report, path: &Path) -> Result<(), Error> {
    if path.as_os_str() == "-" {
        return Err(Error::invalid_argument("--html needs a file name (stdout carries the findings)"));
    }
    let page = agdiag::html::render(report, &agdiag::html::HtmlOptions::default());
    std::fs::write(path, page).map_err(|e| Error::invalid_argument(format!("cannot write HTML report {}: {e}", path.display())))
}

/// Writes to stdout; a closed pipe (`agdiag analyze … | head`) is not an error.
pub fn write_stdout(out: &mut impl Write, text: &str) -> Result<(), Error> {
    match out.write_all(text.as_bytes()) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(Error::invalid_argument(format!("cannot write to stdout: {e}"))),
    }
}
