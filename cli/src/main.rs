//! `roster`: the admin's and the user's command line for Roster.
//!
//! What it is for: turning DESIGN.md's commands into calls on rosterd's
//! D-Bus interfaces and printing the answers for a person (tables, relative
//! times, sentences) or a program (`--json`). What it is not for: deciding
//! anything. Who may do what, which names are valid, which levels exist in
//! an environment: rosterd decides every rule from the caller's uid (or the
//! token presented); the CLI links no `roster-core`.
//!
//! Secrets (passwords, registration codes, tokens) are held in
//! `roster_client::Secret`, which never prints and is wiped on drop; they
//! come from a prompt, standard input or a file, never from argv without a
//! warning (codes never from argv).

// Tests may unwrap: a panic there is the failure report.
#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod args;
mod commands;
mod connection;
mod doctor;
mod errors;
mod generate;
mod output;
mod prompt;
mod session;

use clap::Parser;
use std::process::ExitCode;

fn main() -> ExitCode {
    // `roster users list | head` must end quietly, not panic on EPIPE:
    // take back the default SIGPIPE disposition Rust's runtime ignores.
    // SAFETY: setting a signal's disposition to SIG_DFL has no preconditions.
    unsafe {
        libc::signal(libc::SIGPIPE, libc::SIG_DFL);
    }

    // `roster generate man|completions DIR` (scripts/package.sh): parsed on
    // its own so the generated pages and completions don't offer it.
    let argv: Vec<std::ffi::OsString> = std::env::args_os().collect();
    if argv.get(1).is_some_and(|a| a == "generate") {
        let generate = args::GenerateCli::parse_from(&argv[1..]);
        return match generate::run(generate.what) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("{}", error.render(errors::Caller::default()));
                ExitCode::from(error.exit_code())
            }
        };
    }

    // Usage errors exit 2 from here (clap's own code), --help/--version 0.
    let cli = args::Cli::parse();

    let mut caller = errors::Caller {
        // SAFETY: geteuid has no preconditions and can't fail.
        is_root: unsafe { libc::geteuid() } == 0,
        with_token: false,
    };
    let mut terminal = prompt::Terminal;
    let result = zbus::block_on(commands::run(cli, &mut terminal, &mut caller));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("{}", error.render(caller));
            ExitCode::from(error.exit_code())
        }
    }
}
