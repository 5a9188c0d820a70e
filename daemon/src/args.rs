//! rosterd's command line: one clap definition that rosterd parses with
//! and that rosterd(8) is rendered from (`rosterd --generate-man DIR`,
//! hidden, for scripts/package.sh), so the page can't drift from the flags.

use clap::{CommandFactory, Parser};
use std::path::{Path, PathBuf};

/// Also append every audit line to this file when `--audit-log` isn't
/// given (the integration tests read it; admins may want a plain file).
const AUDIT_FILE_VARIABLE: &str = "ROSTERD_AUDIT_FILE";

#[derive(Debug, Parser)]
#[command(
    name = "rosterd",
    version,
    about = "Roster's daemon: owns the user store and serves org.roster.Roster1 on the system bus",
    long_about = "rosterd owns Roster's SQLite database, serves the org.roster.Roster1 D-Bus \
        interface on the system bus (the roster command and pam_roster talk to it), \
        writes the public NSS snapshot that libnss_roster reads, and writes every admin \
        action and login result to syslog (authpriv).\n\n\
        It is started by systemd (rosterd.service) or by D-Bus activation, as root. It \
        refuses to start, naming the clash, when the configured uid range or admin_gid \
        overlaps ids the host hands out by other means (login.defs, systemd's reserved \
        ranges, subuid/subgid, the local passwd and group files).\n\n\
        Files: /etc/roster/rosterd.toml (the config; every key is listed there with its \
        default), /var/lib/roster/roster.db (the database, 0600 in a 0700 folder), \
        /var/cache/roster/nss.cache (the NSS snapshot, 0644).\n\n\
        Environment: DBUS_SYSTEM_BUS_ADDRESS (the system bus), ROSTERD_AUDIT_FILE \
        (the default of --audit-log).\n\n\
        Exit codes: 0 stopped cleanly (or the config is valid), 1 error (named on \
        stderr), 2 usage.\n\n\
        See also: roster(1); `roster doctor` checks a host's setup.",
    // A flag given twice takes its last value, as the hand-written parser
    // this replaced did (clap refuses a repeat otherwise).
    args_override_self = true
)]
pub struct Args {
    /// The config file
    #[arg(
        short,
        long,
        value_name = "PATH",
        default_value = roster_core::config::DEFAULT_PATH
    )]
    pub config: PathBuf,

    /// Check the config file and exit (0 when it is valid)
    #[arg(long)]
    pub check_config: bool,

    /// Also append every audit line to PATH (besides syslog); default: $ROSTERD_AUDIT_FILE when set
    #[arg(long, value_name = "PATH")]
    pub audit_log: Option<PathBuf>,

    /// The syslog socket (default /dev/log); when it is missing rosterd logs to stderr
    #[arg(long, value_name = "PATH")]
    pub syslog_socket: Option<PathBuf>,

    /// Write rosterd.8 into DIR and exit (for scripts/package.sh)
    #[arg(long, value_name = "DIR", hide = true)]
    pub generate_man: Option<PathBuf>,
}

impl Args {
    /// The process's arguments; prints the help or version and exits 0,
    /// or prints the usage error and exits 2, as clap does.
    pub fn from_env() -> Args {
        Args::parse().with_audit_file_default(std::env::var_os(AUDIT_FILE_VARIABLE))
    }

    /// `--audit-log` wins over the variable.
    fn with_audit_file_default(mut self, variable: Option<std::ffi::OsString>) -> Args {
        if self.audit_log.is_none() {
            self.audit_log = variable.map(PathBuf::from);
        }
        self
    }
}

/// Writes rosterd.8 into `dir` (created if missing); the path written.
pub fn write_man_page(dir: &Path) -> Result<PathBuf, std::io::Error> {
    std::fs::create_dir_all(dir)?;
    clap_mangen::Man::new(Args::command())
        .section("8")
        .generate_to(dir)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page() -> String {
        let dir = tempfile::tempdir().unwrap();
        let path = write_man_page(&dir.path().join("man")).unwrap();
        assert_eq!(path.file_name().unwrap(), "rosterd.8");
        std::fs::read_to_string(path).unwrap()
    }

    fn parse(args: &[&str]) -> Result<Args, clap::Error> {
        Args::try_parse_from(std::iter::once("rosterd").chain(args.iter().copied()))
    }

    #[test]
    fn man_page_into_an_impossible_folder_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("a-file");
        std::fs::write(&file, "").unwrap();
        assert!(write_man_page(&file.join("man")).is_err());
    }

    #[test]
    fn man_page_is_section_8_and_names_check_config() {
        let daemon = page();
        assert!(daemon.contains(".TH rosterd 8"), "{daemon}");
        assert!(daemon.contains("check\\-config"), "{daemon}");
        assert!(daemon.contains("/etc/roster/rosterd.toml"), "{daemon}");
        assert!(daemon.contains("roster(1)"), "{daemon}");
    }

    /// The page and the parser come from one definition: every flag the
    /// parser accepts is on the page, and the hidden packaging flag isn't.
    #[test]
    fn man_page_lists_exactly_the_parsers_flags() {
        let daemon = page().replace("\\-", "-");
        let mut command = Args::command();
        // Adds --help and --version, as parsing does.
        command.build();
        let mut flags: Vec<String> = Vec::new();
        for arg in command.get_arguments() {
            let mut names: Vec<String> = Vec::new();
            if let Some(long) = arg.get_long() {
                names.push(format!("--{long}"));
            }
            if let Some(short) = arg.get_short() {
                names.push(format!("-{short}"));
            }
            for name in names {
                // The parser accepts it…
                if arg.get_action().takes_values() {
                    parse(&[&name, "/x"]).unwrap_or_else(|e| panic!("{name}: {e}"));
                }
                if arg.is_hide_set() {
                    assert!(!daemon.contains(&name), "rosterd.8 shows hidden {name}");
                } else {
                    // …and the page names it, as a flag of its own.
                    assert!(
                        daemon.contains(&format!("\\fB{name}\\fR")),
                        "rosterd.8 lacks {name}:\n{daemon}"
                    );
                    flags.push(name);
                }
            }
        }
        flags.sort();
        assert_eq!(
            flags,
            [
                "--audit-log",
                "--check-config",
                "--config",
                "--help",
                "--syslog-socket",
                "--version",
                "-V",
                "-c",
                "-h",
            ]
        );
        // No flag on the page that the parser lacks.
        let on_page: Vec<&str> = daemon
            .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
            .filter(|w| w.starts_with("--") && w.len() > 2)
            .collect();
        for flag in on_page {
            assert!(
                flags.iter().any(|f| f == flag),
                "rosterd.8 names {flag}, rosterd doesn't parse it"
            );
        }
    }

    #[test]
    fn parses_the_flags_the_hand_written_parser_did() {
        let args = parse(&[]).unwrap();
        assert_eq!(
            args.config,
            PathBuf::from(roster_core::config::DEFAULT_PATH)
        );
        assert!(!args.check_config);
        assert_eq!(args.audit_log, None);
        assert_eq!(args.syslog_socket, None);

        let args = parse(&[
            "-c",
            "/a.toml",
            "--check-config",
            "--audit-log=/audit",
            "--syslog-socket",
            "/sock",
        ])
        .unwrap();
        assert_eq!(args.config, PathBuf::from("/a.toml"));
        assert!(args.check_config);
        assert_eq!(args.audit_log, Some(PathBuf::from("/audit")));
        assert_eq!(args.syslog_socket, Some(PathBuf::from("/sock")));

        // The last of a repeated flag wins.
        let args = parse(&[
            "--config",
            "/a",
            "--config=/b",
            "--check-config",
            "--check-config",
        ]);
        assert_eq!(args.unwrap().config, PathBuf::from("/b"));
    }

    #[test]
    fn usage_errors_help_and_version() {
        use clap::error::ErrorKind;
        for bad in [&["--bogus"][..], &["--config"], &["extra"]] {
            let error = parse(bad).unwrap_err();
            assert_eq!(error.exit_code(), 2, "{bad:?}");
        }
        assert_eq!(
            parse(&["--help"]).unwrap_err().kind(),
            ErrorKind::DisplayHelp
        );
        let version = parse(&["-V"]).unwrap_err();
        assert_eq!(version.kind(), ErrorKind::DisplayVersion);
        assert_eq!(version.exit_code(), 0);
        assert_eq!(
            version.to_string(),
            format!("rosterd {}\n", env!("CARGO_PKG_VERSION"))
        );
    }

    #[test]
    fn audit_log_flag_wins_over_the_variable() {
        let from_variable = parse(&[])
            .unwrap()
            .with_audit_file_default(Some("/from-env".into()));
        assert_eq!(from_variable.audit_log, Some(PathBuf::from("/from-env")));
        let from_flag = parse(&["--audit-log", "/from-flag"])
            .unwrap()
            .with_audit_file_default(Some("/from-env".into()));
        assert_eq!(from_flag.audit_log, Some(PathBuf::from("/from-flag")));
        let neither = parse(&[]).unwrap().with_audit_file_default(None);
        assert_eq!(neither.audit_log, None);
    }
}
