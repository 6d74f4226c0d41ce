use std::process::ExitCode;

use clap::Parser;

// Many small short-lived allocations per request (JSON, rows): mimalloc serves them with less
// CPU and less fragmentation than the system allocator.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    // Before any database is opened; if SQLite refused, it keeps the C library's malloc.
    checkoff::store::sqlite::use_global_allocator();
    // Lambda starts its `bootstrap` with no arguments; anything else is the command line.
    if checkoff::lambda::is_lambda() && std::env::args_os().len() == 1 {
        return checkoff::lambda::run();
    }
    checkoff::cli::run(checkoff::cli::Cli::parse())
}
