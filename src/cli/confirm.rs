//! Asking a person at a terminal to confirm what cannot be undone.

use std::io::{BufRead, IsTerminal, Write};

use super::Failure;

/// On a terminal, asks `question` and goes on only if `expected` is typed back; with `yes`
/// (`--yes`) goes on at once. Without a terminal (a script, cron, ssh without -t) nothing can be
/// asked, and nothing is done unless `--yes` says so: a script that destroys says it means to.
pub(super) fn typed_back(question: &str, expected: &str, yes: bool) -> Result<(), Failure> {
    if yes {
        return Ok(());
    }
    if !std::io::stdin().is_terminal() {
        return Err(Failure(format!(
            "{question} Nothing changed: there is no terminal to confirm on; add --yes to go ahead."
        )));
    }
    print!("{question} Type {expected} to confirm: ");
    std::io::stdout()
        .flush()
        .map_err(|e| Failure(format!("cannot ask: {e}")))?;
    let mut line = String::new();
    std::io::stdin()
        .lock()
        .read_line(&mut line)
        .map_err(|e| Failure(format!("cannot read the answer: {e}")))?;
    if line.trim() == expected {
        Ok(())
    } else {
        Err("Not confirmed; nothing changed (--yes skips the question).".into())
    }
}
