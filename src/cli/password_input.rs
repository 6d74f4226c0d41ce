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
        return one_line(&text);
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

/// The password in piped input: one line, its line ending dropped. More lines are refused rather
/// than silently kept in (or cut from) the password.
fn one_line(text: &str) -> Result<String, Failure> {
    let mut lines = text.lines();
    let first = lines.next().unwrap_or_default();
    if lines.any(|line| !line.is_empty()) || text.contains("\n\n") {
        return Err("--password-stdin takes the password as a single line".into());
    }
    Ok(first.to_owned())
}

#[cfg(test)]
mod tests {
    use super::one_line;

    #[test]
    fn piped_passwords_are_one_line_without_its_ending() {
        assert_eq!(one_line("Secret1234\n").unwrap(), "Secret1234");
        assert_eq!(one_line("Secret1234\r\n").unwrap(), "Secret1234");
        assert_eq!(one_line("Secret1234").unwrap(), "Secret1234");
        assert_eq!(one_line("with space \n").unwrap(), "with space ");
    }

    #[test]
    fn more_than_one_line_is_refused() {
        assert!(one_line("Secret1234\n\n").is_err());
        assert!(one_line("Secret1234\nother\n").is_err());
    }
}
