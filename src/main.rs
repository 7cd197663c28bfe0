//! `agdiag`: the command-line front end over the agdiag library.

mod cli;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = cli::Args::parse();
    match cli::run(args) {
        Ok(code) => code.into(),
        Err(err) => {
            eprintln!("agdiag: {err}");
            cli::Exit::BadInput.into()
        }
    }
}
