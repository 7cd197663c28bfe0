//! `agdiag collect` (live collection → snapshot file) and `agdiag check` (collect + analyze).
//! A password comes from an environment variable or stdin, never from an argument.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Read, Write};
use std::path::PathBuf;
use std::time::Duration;

use agdiag::collect::{Authentication, Encrypt, Job, Request, Secret, Timeouts};
use agdiag::Error;

use super::{analyze, Exit};

#[derive(Debug, clap::Args)]
pub struct ConnectArgs {
    /// Instances: `host`, `host\instance`, `host,port`, `tcp:host,port`; comma-separated or repeated.
    #[arg(short = 'S', long = "server", required = true)]
    pub servers: Vec<String>,
    /// SQL login (SQL Server authentication). Without it, integrated authentication is used.
    #[arg(short = 'U', long)]
    pub user: Option<String>,
    /// Read the password from this environment variable.
    #[arg(long, value_name = "VAR", conflicts_with = "password_stdin")]
    pub password_env: Option<String>,
    /// Read the password from the first line of stdin.
    #[arg(long)]
    pub password_stdin: bool,
    /// TDS encryption: mandatory (default, validates the certificate), optional, strict (TDS 8.0), off (only the
    /// login is encrypted, unless the server forces encryption), none (nothing at all: test servers only).
    #[arg(long, default_value = "mandatory")]
    pub encrypt: String,
    /// Accept any server certificate (recorded in the snapshot): no protection against a man in the middle.
    #[arg(long)]
    pub trust_server_certificate: bool,
    /// Reach a replica at another address: `SQL2=sql2.contoso.com,14330`; repeatable.
    #[arg(long = "override", value_name = "REPLICA=ADDRESS")]
    pub overrides: Vec<String>,
    /// Collect only the instances given, not the other replicas they name.
    #[arg(long)]
    pub no_discover: bool,
    /// Skip the probes: TCP reachability of endpoints, listeners and routing URLs, and the login
    /// through each listener (its auth_scheme).
    #[arg(long)]
    pub no_probes: bool,
    /// Instances collected at once.
    #[arg(long, default_value_t = 16)]
    pub concurrency: usize,
    #[arg(long, value_name = "MS", default_value_t = Timeouts::default().connect_ms)]
    pub connect_timeout_ms: u64,
    #[arg(long, value_name = "MS", default_value_t = Timeouts::default().login_ms)]
    pub login_timeout_ms: u64,
    #[arg(long, value_name = "MS", default_value_t = Timeouts::default().command_ms)]
    pub command_timeout_ms: u64,
    #[arg(long, value_name = "MS", default_value_t = Timeouts::default().probe_ms)]
    pub probe_timeout_ms: u64,
    /// Days of AlwaysOn_health event history to read from each instance (the newest 50,000 events
    /// at most); 0 reads none.
    #[arg(long, value_name = "N", default_value_t = agdiag::collect::queries::History::default().days)]
    pub history_days: u32,
}

#[derive(Debug, clap::Args)]
pub struct CollectArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    /// Write the snapshot here (`-` for stdout).
    #[arg(short = 'o', long, default_value = "-")]
    pub output: PathBuf,
}

#[derive(Debug, clap::Args)]
pub struct CheckArgs {
    #[command(flatten)]
    pub connect: ConnectArgs,
    #[command(flatten)]
    pub report: analyze::ReportArgs,
    /// Also save the collected snapshot here.
    #[arg(short = 'o', long)]
    pub output: Option<PathBuf>,
}

/// `-S sql1,sql2,14330` → `sql1`, `sql2,14330`: a piece that is only digits is the port of the
/// piece before it.
pub fn split_servers(values: &[String]) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for value in values {
        for piece in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            match out.last_mut() {
                Some(last) if piece.chars().all(|c| c.is_ascii_digit()) && !last.contains(',') => {
                    last.push(',');
                    last.push_str(piece);
                }
                _ => out.push(piece.to_string()),
            }
        }
    }
    out
}

fn read_password(args: &ConnectArgs) -> Result<Option<Secret>, Error> {
    if let Some(var) = &args.password_env {
        return std::env::var(var)
            .map(|p| Some(Secret::new(p)))
            .map_err(|_| Error::invalid_argument(format!("environment variable {var} is not set (or not UTF-8)")));
    }
    if args.password_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| Error::invalid_argument(format!("cannot read the password from stdin: {e}")))?;
        let line = text.lines().next().unwrap_or("").to_string();
        // Overwrite the buffer that held the whole input before it is freed.
        text.clear();
        text.extend(std::iter::repeat_n('\0', text.capacity()));
        return Ok(Some(Secret::new(line)));
    }
    Ok(None)
}

pub fn request(args: &ConnectArgs, checks: Vec<String>) -> Result<Request, Error> {
    let password = read_password(args)?;
    let authentication = match (&args.user, password) {
        (Some(user), Some(password)) => Authentication::Sql { user: user.clone(), password },
        (Some(_), None) => {
            return Err(Error::invalid_argument(
                "-U needs a password: pass --password-env VAR or --password-stdin (never a plain argument)",
            ));
        }
        (None, Some(_)) => return Err(Error::invalid_argument("a password was given without -U")),
        (None, None) => Authentication::Integrated,
    };
    let mut overrides = BTreeMap::new();
    for o in &args.overrides {
        let (name, target) = o
            .split_once('=')
            .ok_or_else(|| Error::invalid_argument(format!("--override \"{o}\" is not REPLICA=ADDRESS")))?;
        overrides.insert(name.trim().to_string(), target.trim().to_string());
    }
    let mut request = Request::new(split_servers(&args.servers), authentication);
    request.encrypt = Encrypt::parse(&args.encrypt)?;
    request.trust_server_certificate = args.trust_server_certificate;
    request.overrides = overrides;
    request.discover_replicas = !args.no_discover;
    request.probes = !args.no_probes;
    request.concurrency = args.concurrency;
    request.checks = checks;
    request.history_days = args.history_days;
    request.timeouts = Timeouts {
        connect_ms: args.connect_timeout_ms,
        login_ms: args.login_timeout_ms,
        command_ms: args.command_timeout_ms,
        probe_ms: args.probe_timeout_ms,
    };
    request.validate()?;
    Ok(request)
}

/// Runs the job, drawing a one-line progress indicator on stderr when it is a terminal.
fn run_job(request: Request) -> Result<agdiag::Report, Error> {
    let job = Job::start(request);
    let mut stderr = std::io::stderr();
    let interactive = stderr.is_terminal();
    while !job.wait(Some(Duration::from_millis(100))) {
        if interactive {
            let p = job.progress();
            let line = format!(
                "[{}/{}] {} ({:.1} s)",
                p.instances_done(),
                p.instances_total(),
                p.current_step(),
                p.elapsed().as_secs_f64()
            );
            let _ = write!(stderr, "\r\x1b[2K{line}");
            let _ = stderr.flush();
        }
    }
    if interactive {
        let _ = write!(stderr, "\r\x1b[2K");
    }
    job.report()
}

pub fn collect(args: CollectArgs) -> Result<Exit, Error> {
    let report = run_job(request(&args.connect, Vec::new())?)?;
    write_snapshot(&args.output, &report.snapshot)?;
    Ok(Exit::Clean)
}

fn write_snapshot(path: &PathBuf, snapshot: &agdiag::Snapshot) -> Result<(), Error> {
    let text = snapshot.to_json_pretty() + "\n";
    if path.as_os_str() == "-" {
        let _ = std::io::stdout().lock().write_all(text.as_bytes());
        Ok(())
    } else {
        std::fs::write(path, text)
            .map_err(|e| Error::invalid_argument(format!("cannot write snapshot {}: {e}", path.display())))
    }
}

pub fn check(args: CheckArgs) -> Result<Exit, Error> {
    args.report.validate_checks()?;
    let report = run_job(request(&args.connect, args.report.checks.clone())?)?;
    if let Some(path) = &args.output {
        write_snapshot(path, &report.snapshot)?;
    }
    analyze::output(&report, &args.report)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_servers_keeping_ports() {
        let got = split_servers(&["sql1,sql2,14330".into(), "tcp:sql3,1433".into(), "SQL4\\INST".into()]);
        assert_eq!(got, vec!["sql1", "sql2,14330", "tcp:sql3,1433", "SQL4\\INST"]);
    }
}
