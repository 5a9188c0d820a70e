//! Asking for what is missing: only on a terminal, passwords twice and
//! without echo; with no terminal a missing value is an error naming the
//! flag that supplies it, never a wait on a stdin nobody will write to.
//!
//! The decisions are made against the `Input` trait so tests can script a
//! terminal (or its absence); `Terminal` is the real one.

use crate::errors::CliError;
use roster_client::Secret;
use std::io::{self, BufRead, IsTerminal, Write};
use zeroize::Zeroizing;

/// Where values come from when they are not on the command line.
pub trait Input {
    /// True when a person can be asked: standard input is a terminal.
    fn interactive(&self) -> bool;
    /// Asks without echo (passwords, codes).
    fn secret(&mut self, prompt: &str) -> io::Result<Secret>;
    /// Asks with echo (a user name, a yes/no).
    fn line(&mut self, prompt: &str) -> io::Result<String>;
    /// The next line of standard input without its line ending; `None` at
    /// end of input.
    fn stdin_secret(&mut self) -> io::Result<Option<Secret>>;
}

/// The process's own terminal and standard input.
pub struct Terminal;

impl Input for Terminal {
    fn interactive(&self) -> bool {
        io::stdin().is_terminal()
    }

    fn secret(&mut self, prompt: &str) -> io::Result<Secret> {
        // rpassword prompts on and reads from /dev/tty with echo off.
        rpassword::prompt_password(prompt).map(Secret::new)
    }

    fn line(&mut self, prompt: &str) -> io::Result<String> {
        // Prompts go to stderr so stdout carries only results.
        let mut err = io::stderr().lock();
        err.write_all(prompt.as_bytes())?;
        err.flush()?;
        let mut answer = String::new();
        io::stdin().lock().read_line(&mut answer)?;
        Ok(answer.trim().to_owned())
    }

    fn stdin_secret(&mut self) -> io::Result<Option<Secret>> {
        // Room for a long passphrase up front, so the buffer holding the
        // secret is rarely reallocated (leaving copies in freed memory).
        // Wiped on every way out, a failed read's partial line included.
        let mut line = Zeroizing::new(String::with_capacity(256));
        if io::stdin().lock().read_line(&mut line)? == 0 {
            return Ok(None);
        }
        strip_line_ending(&mut line);
        Ok(Some(Secret::new(std::mem::take(&mut *line))))
    }
}

/// Removes one trailing `\n` or `\r\n`, in place (no copy of the secret).
pub fn strip_line_ending(line: &mut String) {
    if line.ends_with('\n') {
        line.pop();
        if line.ends_with('\r') {
            line.pop();
        }
    }
}

/// Where a new password comes from, as the command line said.
pub enum NewPassword {
    /// `--set-password PW` (already warned about).
    Argv(Secret),
    /// `--password-stdin`.
    Stdin,
    /// Nothing given: ask on the terminal.
    Ask,
}

/// The warning printed when a password is given on the command line.
pub const ARGV_PASSWORD_WARNING: &str = "warning: a password on the command line can be read by every user of this host (ps, /proc); use --password-stdin instead";

/// A NUL byte can't travel in a D-Bus string, and no terminal sends one:
/// refuse it here with a sentence instead of a transport error.
fn check_sendable(secret: Secret, what: &str) -> Result<Secret, CliError> {
    if secret.expose().contains('\0') {
        Err(CliError::Local(format!(
            "the {what} contains a NUL byte; nothing changed"
        )))
    } else {
        Ok(secret)
    }
}

/// Reads one line of standard input as `what` (e.g. "new password").
pub fn stdin_value(input: &mut dyn Input, what: &str) -> Result<Secret, CliError> {
    match input.stdin_secret()? {
        Some(secret) => check_sendable(secret, what),
        None => Err(CliError::Local(format!(
            "standard input ended before the {what}; nothing changed"
        ))),
    }
}

/// The new password for `whose`, from where the command line said.
///
/// `missing` is the advice for when there is nothing to read it from,
/// e.g. "use --password-stdin or --register".
pub fn new_password(
    input: &mut dyn Input,
    source: NewPassword,
    whose: &str,
    missing: &str,
) -> Result<Secret, CliError> {
    match source {
        NewPassword::Argv(secret) => check_sendable(secret, "password"),
        NewPassword::Stdin => stdin_value(input, "new password"),
        NewPassword::Ask => {
            if !input.interactive() {
                return Err(CliError::Usage(format!(
                    "no password given and no terminal to ask for one on: {missing}"
                )));
            }
            ask_twice(input, &format!("New password for {whose}: "))
        }
    }
}

/// Asks for a new password and its confirmation.
pub fn ask_twice(input: &mut dyn Input, prompt: &str) -> Result<Secret, CliError> {
    let first = input.secret(prompt)?;
    let second = input.secret("Retype new password: ")?;
    if first != second {
        return Err(CliError::Local(
            "the two passwords don't match; nothing changed".into(),
        ));
    }
    check_sendable(first, "password")
}

/// A value asked for on the terminal (once, without echo), or an error
/// naming `missing` when there is no terminal.
pub fn ask_secret(
    input: &mut dyn Input,
    prompt: &str,
    what: &str,
    missing: &str,
) -> Result<Secret, CliError> {
    if !input.interactive() {
        return Err(CliError::Usage(format!(
            "no {what} given and no terminal to ask for it on: {missing}"
        )));
    }
    let secret = input.secret(prompt)?;
    check_sendable(secret, what)
}

/// A user name given on the command line, or asked for on a terminal.
pub fn username(input: &mut dyn Input, given: Option<String>) -> Result<String, CliError> {
    if let Some(name) = given {
        return Ok(name);
    }
    if !input.interactive() {
        return Err(CliError::Usage(
            "no USERNAME given and no terminal to ask for one on".into(),
        ));
    }
    let name = input.line("Username: ")?;
    if name.is_empty() {
        return Err(CliError::Usage("no USERNAME given".into()));
    }
    Ok(name)
}

/// A yes/no question on the terminal (default no). With no terminal the
/// answer can't be had: the caller must pass `flag`.
pub fn confirm(input: &mut dyn Input, question: &str, flag: &str) -> Result<bool, CliError> {
    if !input.interactive() {
        return Err(CliError::Usage(format!(
            "no terminal to confirm on: pass {flag} to go ahead"
        )));
    }
    let answer = input.line(&format!("{question} [y/N] "))?;
    Ok(matches!(answer.to_ascii_lowercase().as_str(), "y" | "yes"))
}

#[cfg(test)]
pub mod testing {
    //! A scripted terminal for the tests of this crate.
    use super::*;
    use std::collections::VecDeque;

    #[derive(Default)]
    pub struct Scripted {
        pub terminal: bool,
        /// Answers to `secret` and `line`, in order.
        pub typed: VecDeque<String>,
        /// Lines of standard input.
        pub stdin: VecDeque<String>,
        /// Every prompt shown.
        pub prompts: Vec<String>,
    }

    impl Scripted {
        pub fn terminal(typed: &[&str]) -> Self {
            Scripted {
                terminal: true,
                typed: typed.iter().map(|s| (*s).to_owned()).collect(),
                ..Self::default()
            }
        }

        pub fn pipe(lines: &[&str]) -> Self {
            Scripted {
                terminal: false,
                stdin: lines.iter().map(|s| (*s).to_owned()).collect(),
                ..Self::default()
            }
        }
    }

    impl Input for Scripted {
        fn interactive(&self) -> bool {
            self.terminal
        }

        fn secret(&mut self, prompt: &str) -> io::Result<Secret> {
            self.prompts.push(prompt.to_owned());
            self.typed
                .pop_front()
                .map(Secret::new)
                .ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
        }

        fn line(&mut self, prompt: &str) -> io::Result<String> {
            self.prompts.push(prompt.to_owned());
            self.typed
                .pop_front()
                .ok_or_else(|| io::ErrorKind::UnexpectedEof.into())
        }

        fn stdin_secret(&mut self) -> io::Result<Option<Secret>> {
            Ok(self.stdin.pop_front().map(Secret::new))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::testing::Scripted;
    use super::*;

    const MISSING: &str = "use --password-stdin or --register";

    #[test]
    fn a_terminal_is_asked_twice() {
        let mut t = Scripted::terminal(&["s3cret-pw", "s3cret-pw"]);
        let pw = new_password(&mut t, NewPassword::Ask, "bob", MISSING).expect("typed twice");
        assert_eq!(pw.expose(), "s3cret-pw");
        assert_eq!(
            t.prompts,
            ["New password for bob: ", "Retype new password: "]
        );
    }

    #[test]
    fn a_mismatch_changes_nothing() {
        let mut t = Scripted::terminal(&["one-password", "another-one"]);
        let err = new_password(&mut t, NewPassword::Ask, "bob", MISSING).expect_err("mismatch");
        assert!(err.to_string().contains("don't match"), "{err}");
        assert_eq!(err.exit_code(), 1);
    }

    #[test]
    fn no_terminal_is_an_error_naming_the_flags_never_a_wait() {
        let mut t = Scripted::pipe(&["would-be-read"]);
        let err = new_password(&mut t, NewPassword::Ask, "bob", MISSING).expect_err("no terminal");
        assert_eq!(err.exit_code(), 2);
        let text = err.to_string();
        assert!(
            text.contains("--password-stdin") && text.contains("--register"),
            "{text}"
        );
        assert!(t.prompts.is_empty(), "nothing may be asked");
        assert_eq!(t.stdin.len(), 1, "stdin must not be read");
    }

    #[test]
    fn password_stdin_reads_exactly_one_line() {
        let mut t = Scripted::pipe(&["first line", "second line"]);
        let pw = new_password(&mut t, NewPassword::Stdin, "bob", MISSING).expect("read");
        assert_eq!(pw.expose(), "first line");
        assert_eq!(t.stdin.len(), 1);
    }

    #[test]
    fn an_empty_stdin_is_an_error() {
        let mut t = Scripted::pipe(&[]);
        let err = new_password(&mut t, NewPassword::Stdin, "bob", MISSING).expect_err("eof");
        assert!(err.to_string().contains("standard input ended"), "{err}");
    }

    #[test]
    fn a_nul_byte_is_refused_before_sending() {
        let mut t = Scripted::pipe(&["pass\0word"]);
        let err = new_password(&mut t, NewPassword::Stdin, "bob", MISSING).expect_err("nul");
        assert!(err.to_string().contains("NUL"), "{err}");
    }

    #[test]
    fn argv_passwords_are_used_as_given() {
        let mut t = Scripted::pipe(&[]);
        let pw = new_password(
            &mut t,
            NewPassword::Argv(Secret::from("on-argv")),
            "bob",
            MISSING,
        )
        .expect("given");
        assert_eq!(pw.expose(), "on-argv");
    }

    #[test]
    fn line_endings_are_stripped_once() {
        for (raw, want) in [
            ("pw\n", "pw"),
            ("pw\r\n", "pw"),
            ("pw", "pw"),
            ("pw \n", "pw "),
            ("\n", ""),
        ] {
            let mut s = raw.to_owned();
            strip_line_ending(&mut s);
            assert_eq!(s, want, "{raw:?}");
        }
    }

    #[test]
    fn a_missing_username_is_asked_only_on_a_terminal() {
        let mut t = Scripted::terminal(&["carol"]);
        assert_eq!(username(&mut t, None).expect("asked"), "carol");
        let mut t = Scripted::pipe(&["carol"]);
        let err = username(&mut t, None).expect_err("no terminal");
        assert_eq!(err.exit_code(), 2);
        assert_eq!(
            username(&mut t, Some("dave".into())).expect("given"),
            "dave"
        );
    }

    #[test]
    fn confirmation_defaults_to_no_and_needs_a_terminal() {
        assert!(confirm(&mut Scripted::terminal(&["y"]), "Delete?", "--yes").expect("asked"));
        assert!(confirm(&mut Scripted::terminal(&["YES"]), "Delete?", "--yes").expect("asked"));
        assert!(!confirm(&mut Scripted::terminal(&[""]), "Delete?", "--yes").expect("asked"));
        assert!(!confirm(&mut Scripted::terminal(&["n"]), "Delete?", "--yes").expect("asked"));
        let err =
            confirm(&mut Scripted::pipe(&["y"]), "Delete?", "--yes").expect_err("no terminal");
        assert!(err.to_string().contains("--yes"));
        assert_eq!(err.exit_code(), 2);
    }

    #[test]
    fn secrets_asked_once_need_a_terminal() {
        let mut t = Scripted::terminal(&["CODE-1234"]);
        let code = ask_secret(
            &mut t,
            "Registration code: ",
            "registration code",
            "use --stdin",
        )
        .expect("asked");
        assert_eq!(code.expose(), "CODE-1234");
        let err = ask_secret(
            &mut Scripted::pipe(&[]),
            "Code: ",
            "registration code",
            "use --stdin",
        )
        .expect_err("no terminal");
        assert!(err.to_string().contains("--stdin"));
    }
}
