//! `agdiag`: the command-line front end over the agdiag library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("agdiag: {}", agdiag::untrusted_text::shown_multiline(&err.to_string()));
            cli::Exit::BadInput.into()
        }
    }
}
