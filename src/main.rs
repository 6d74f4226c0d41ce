use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    checkoff::cli::run(checkoff::cli::Cli::parse())
}
