//! `roster generate man|completions DIR`: the man pages and shell
//! completions packagers ship, rendered from the clap definition the
//! binary itself parses with (so a new flag can't be missing from them).
//!
//! Hidden from `--help`, the man pages and the completions: it is for
//! `scripts/package.sh`, not for admins.

use crate::args::{Cli, GenerateCommand};
use crate::errors::CliError;
use clap::CommandFactory;
use clap_complete::Shell;
use std::path::{Path, PathBuf};

pub fn run(command: GenerateCommand) -> Result<(), CliError> {
    match command {
        GenerateCommand::Man { dir } => {
            for path in man_pages(&dir)? {
                println!("{}", path.display());
            }
        }
        GenerateCommand::Completions { dir } => {
            for path in completions(&dir)? {
                println!("{}", path.display());
            }
        }
    }
    Ok(())
}

fn io_error(dir: &Path) -> impl Fn(std::io::Error) -> CliError + '_ {
    move |e| CliError::Local(format!("can't write into {}: {e}", dir.display()))
}

/// roster.1, roster-users.1, roster-users-create.1, … (every visible
/// subcommand) in `dir`; the paths written, sorted. rosterd.8 comes from
/// rosterd's own definition (`rosterd --generate-man DIR`).
pub fn man_pages(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    clap_mangen::generate_to(Cli::command(), dir).map_err(io_error(dir))?;
    let mut written: Vec<PathBuf> = pages_in(dir)?;
    written.sort();
    for page in &written {
        let text = std::fs::read_to_string(page).map_err(io_error(dir))?;
        std::fs::write(page, breakable_synopsis(&text)).map_err(io_error(dir))?;
    }
    Ok(written)
}

/// clap_mangen writes a group of alternatives as one word
/// (`<--set-password|--password-stdin|…>`), which groff can't fit in 80
/// columns ("cannot adjust line", a lintian warning): let it break after
/// each `|` of the synopsis (`\:` is groff's invisible break point).
fn breakable_synopsis(page: &str) -> String {
    let mut out = String::with_capacity(page.len() + 64);
    let mut in_synopsis = false;
    for line in page.split_inclusive('\n') {
        if line.starts_with(".SH") {
            if in_synopsis {
                // Back to the adjustment mode in force before.
                out.push_str(".ad\n");
            }
            in_synopsis = line.trim_end() == ".SH SYNOPSIS";
            out.push_str(line);
            if in_synopsis {
                // Left-aligned: a justified line this long can't be
                // adjusted either.
                out.push_str(".ad l\n");
            }
        } else if in_synopsis {
            out.push_str(&line.replace('|', "|\\:"));
        } else {
            out.push_str(line);
        }
    }
    out
}

fn pages_in(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    let written: Vec<PathBuf> = std::fs::read_dir(dir)
        .map_err(io_error(dir))?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|p| {
            p.file_name()
                .and_then(|n| n.to_str())
                .is_some_and(|n| n.starts_with("roster") && n.ends_with(".1"))
        })
        .collect();
    Ok(written)
}

/// roster.bash, _roster and roster.fish in `dir`.
pub fn completions(dir: &Path) -> Result<Vec<PathBuf>, CliError> {
    std::fs::create_dir_all(dir).map_err(io_error(dir))?;
    let mut command = Cli::command();
    let mut written = Vec::new();
    for shell in [Shell::Bash, Shell::Zsh, Shell::Fish] {
        written.push(
            clap_complete::generate_to(shell, &mut command, "roster", dir)
                .map_err(io_error(dir))?,
        );
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn temp(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("roster-gen-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        dir
    }

    #[test]
    fn man_pages_cover_every_visible_command() {
        let dir = temp("man");
        let pages = man_pages(&dir).unwrap();
        let names: Vec<String> = pages
            .iter()
            .filter_map(|p| p.file_name()?.to_str().map(str::to_owned))
            .collect();
        for expected in [
            "roster.1",
            "roster-users.1",
            "roster-users-create.1",
            "roster-users-keys-add.1",
            "roster-tokens-create.1",
            "roster-doctor.1",
        ] {
            assert!(
                names.iter().any(|n| n == expected),
                "{expected} in {names:?}"
            );
        }
        assert!(!names.iter().any(|n| n.contains("generate")), "{names:?}");
        let top = std::fs::read_to_string(dir.join("roster.1")).unwrap();
        assert!(top.contains("doctor"), "{top}");
        // rosterd.8 is rosterd's own (daemon/src/args.rs tests it).
        assert!(!names.iter().any(|n| n == "rosterd.8"), "{names:?}");
        let edit = std::fs::read_to_string(dir.join("roster-users-edit.1")).unwrap();
        assert!(edit.contains("\\fB\\-\\-set\\-password\\fR|\\:"), "{edit}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn completions_for_three_shells_without_the_hidden_command() {
        let dir = temp("completions");
        let files = completions(&dir).unwrap();
        assert_eq!(files.len(), 3);
        for (name, needle) in [
            ("roster.bash", "doctor"),
            ("_roster", "doctor"),
            ("roster.fish", "doctor"),
        ] {
            let text = std::fs::read_to_string(dir.join(name)).unwrap();
            assert!(text.contains(needle), "{name}");
            assert!(text.contains("set-role"), "{name}");
            assert!(
                !text.contains("generate"),
                "{name} offers the hidden command"
            );
        }
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
