//! What the two entries of the binary, the command line and the Lambda function, share.

use std::fmt;
use std::process::ExitCode;

/// Runs `work` on a multi-threaded runtime; its failure is told on standard error and in the
/// exit code.
pub fn run_to_exit<E: fmt::Display>(work: impl Future<Output = Result<(), E>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => {
            eprintln!("checkoff: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(work) {
        Ok(()) => ExitCode::SUCCESS,
        Err(failure) => {
            eprintln!("checkoff: {failure}");
            ExitCode::FAILURE
        }
    }
}
