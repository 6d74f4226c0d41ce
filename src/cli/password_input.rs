//! Reading a password: from standard input when asked, else from the terminal without echo.

use std::io::{IsTerminal, Read};

use super::Failure;

pub(super) enum Confirm {
    Once,
    Twice,
}

pub(super) fn read_password(from_stdin: bool, confirm: Confirm) -> Result<String, Failure> {
    if from_stdin {
        let mut text = String::new();
        std::io::stdin()
            .read_to_string(&mut text)
            .map_err(|e| format!("cannot read the password from standard input: {e}"))?;
        let line = text.strip_suffix('\n').unwrap_or(&text);
        return Ok(line.strip_suffix('\r').unwrap_or(line).to_owned());
    }
    if !std::io::stdin().is_terminal() {
        return Err("no terminal to ask for the password on: pass --password-stdin".into());
    }
    let prompt = |text: &str| {
        rpassword::prompt_password(text)
            .map_err(|e| Failure(format!("cannot read the password: {e}")))
    };
    let password = prompt("Password: ")?;
    if matches!(confirm, Confirm::Twice) && prompt("Repeat password: ")? != password {
        return Err("the two passwords differ".into());
    }
    Ok(password)
}
