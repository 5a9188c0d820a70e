//! What went wrong, as one sentence with the fix, and the exit code.
//!
//! rosterd's messages are already sentences naming the thing
//! (`user "bob" not found`), so they are printed as they come; this module
//! only adds what the daemon can't know: how the caller may get the right
//! (sudo), and where the bus was that nobody answered on.

use roster_client::RosterError;
use std::fmt;

/// Exit code for a failed command.
pub const EXIT_ERROR: u8 = 1;
/// Exit code for a command line that is wrong or incomplete (clap uses it too).
pub const EXIT_USAGE: u8 = 2;

#[derive(Debug)]
pub enum CliError {
    /// The command line is wrong or incomplete: a value is missing and there
    /// is no terminal to ask on, or flags contradict each other.
    Usage(String),
    /// rosterd answered with an error.
    Daemon(RosterError),
    /// Nobody answered on the bus (no bus, or no rosterd on it).
    Unreachable { address: String },
    /// The bus closed the connection while checking who we are: most
    /// often it can't resolve our uid because NSS lacks `roster`
    /// (`resolves_here` false: this host's NSS doesn't know the uid
    /// either); otherwise one of the bus's limits.
    BusRefused {
        address: String,
        uid: u32,
        resolves_here: bool,
    },
    /// rosterd owns its name but did not answer a call in time (stopped,
    /// stuck, or slower than the call timeout).
    NoAnswer {
        address: String,
        after: std::time::Duration,
    },
    /// Something on this side failed: reading a file, standard input, the terminal.
    Local(String),
}

/// What the error's rendering needs to know about the caller.
#[derive(Debug, Clone, Copy, Default)]
pub struct Caller {
    pub is_root: bool,
    pub with_token: bool,
}

impl CliError {
    pub fn exit_code(&self) -> u8 {
        match self {
            CliError::Usage(_) => EXIT_USAGE,
            _ => EXIT_ERROR,
        }
    }

    /// The lines to print on stderr, each starting with `roster:` or `hint:`.
    pub fn render(&self, caller: Caller) -> String {
        match self {
            CliError::Usage(message) => {
                format!("roster: {message}\n(see roster --help)")
            }
            CliError::Unreachable { address } => {
                format!("roster: rosterd is not running (bus: {address})")
            }
            CliError::BusRefused {
                address,
                uid,
                resolves_here: false,
            } => format!(
                "roster: the bus at {address} closed the connection while checking who you are (uid {uid}): \
                 dbus-daemon drops a uid it can't resolve, and this host doesn't resolve uid {uid}, \
                 as happens to a Roster user when /etc/nsswitch.conf's passwd: line lacks roster\n\
                 hint: add roster to the passwd: and group: lines of /etc/nsswitch.conf \
                 (passwd: files roster), check with `getent passwd {uid}`, or run `roster doctor` as root"
            ),
            CliError::BusRefused {
                address,
                uid,
                resolves_here: true,
            } => format!(
                "roster: the bus at {address} closed the connection while checking who you are (uid {uid})\n\
                 hint: uid {uid} resolves here, so it is not nsswitch.conf: check the bus's log \
                 (journalctl -u dbus) for a limit it hit"
            ),
            CliError::NoAnswer { address, after } => format!(
                "roster: rosterd did not answer within {} s (bus: {address}): it may be stopped or stuck\n\
                 hint: check `systemctl status rosterd` and its log (`journalctl -u rosterd`); \
                 a change you asked for may still be made. ROSTER_TIMEOUT=SECONDS waits longer",
                after.as_secs()
            ),
            CliError::Local(message) => format!("roster: {message}"),
            CliError::Daemon(error) => render_daemon_error(error, caller),
        }
    }
}

fn render_daemon_error(error: &RosterError, caller: Caller) -> String {
    match error {
        RosterError::PermissionDenied(message) => {
            let hint = if caller.with_token {
                "the token's user or its scope doesn't allow this: use a token with --scope full, or run without a token"
            } else if caller.is_root || message.contains("sudo") {
                // Root is never refused for lack of rights, and rosterd's own
                // sentence may already say how to get them: say nothing more.
                return format!("roster: {}", sentence(message, "permission denied"));
            } else {
                "run with sudo, or ask a Roster admin for the right"
            };
            format!(
                "roster: {}\nhint: {hint}",
                sentence(message, "permission denied")
            )
        }
        RosterError::NotFound(m) => format!("roster: {}", sentence(m, "not found")),
        RosterError::InvalidArgument(m) => format!("roster: {}", sentence(m, "invalid argument")),
        RosterError::AlreadyExists(m) => format!("roster: {}", sentence(m, "it exists already")),
        RosterError::Conflict(m) => {
            format!("roster: {}", sentence(m, "refused by the current state"))
        }
        RosterError::Unavailable(m) => format!(
            "roster: {}\nhint: try again in a moment",
            sentence(m, "rosterd is busy")
        ),
        RosterError::AuthFailed(m) => format!("roster: {}", sentence(m, "wrong password or code")),
        // rosterd always words a lockout (roster_core::lockout::lock_message,
        // the one sentence every path shows); the label is for a blank one.
        RosterError::Locked(m) => format!("roster: {}", sentence(m, "locked out")),
        RosterError::TokenRevoked(m) => format!(
            "roster: {}\nhint: create a new token with roster tokens create",
            sentence(m, "token revoked")
        ),
        RosterError::TokenExpired(m) => format!(
            "roster: {}\nhint: create a new token with roster tokens create",
            sentence(m, "token expired")
        ),
        RosterError::SnapshotStale(m) => format!(
            "roster: {}",
            sentence(m, "the change is made, but NSS doesn't show it yet")
        ),
        RosterError::ZBus(zbus::Error::FDO(fdo)) => match fdo.as_ref() {
            zbus::fdo::Error::UnknownMethod(detail)
            | zbus::fdo::Error::UnknownInterface(detail)
            | zbus::fdo::Error::UnknownObject(detail) => format!(
                "roster: this rosterd doesn't offer that command ({detail}); is it older than this roster?"
            ),
            zbus::fdo::Error::AccessDenied(detail) => format!(
                "roster: the bus's policy refused the call ({detail}); check /usr/share/dbus-1/system.d/org.roster.Roster1.conf"
            ),
            zbus::fdo::Error::LimitsExceeded(detail) => {
                format!("roster: the request is too large for the bus ({detail})")
            }
            other => format!("roster: the bus answered: {other}"),
        },
        RosterError::ZBus(zbus::Error::MethodError(name, message, _)) => format!(
            "roster: rosterd answered {name}: {}",
            message.as_deref().unwrap_or("")
        ),
        RosterError::ZBus(other) => format!("roster: talking to rosterd failed: {other}"),
    }
}

/// The daemon's message, or a fallback when it sent none.
///
/// A message that echoes a huge argument (a 100 KiB name in "user … not
/// found") is cut: a sentence on a terminal is never useful past a screen.
fn sentence<'a>(message: &'a str, fallback: &'a str) -> std::borrow::Cow<'a, str> {
    const LONGEST: usize = 400;
    if message.trim().is_empty() {
        return fallback.into();
    }
    match message.char_indices().nth(LONGEST) {
        None => message.into(),
        Some((cut, _)) => format!(
            "{}… ({} more bytes not shown)",
            &message[..cut],
            message.len() - cut
        )
        .into(),
    }
}

impl fmt::Display for CliError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.render(Caller::default()))
    }
}

impl From<RosterError> for CliError {
    fn from(error: RosterError) -> Self {
        CliError::Daemon(error)
    }
}

impl From<std::io::Error> for CliError {
    fn from(error: std::io::Error) -> Self {
        CliError::Local(error.to_string())
    }
}

/// Turns an error from a call into `Unreachable` when nothing answered.
pub fn from_call(error: RosterError, address: &str) -> CliError {
    if std::env::var_os("ROSTER_DEBUG").is_some() {
        eprintln!("roster: debug: {error:?}");
    }
    if is_unreachable(&error) {
        CliError::Unreachable {
            address: address.to_owned(),
        }
    } else {
        CliError::Daemon(error)
    }
}

/// True when the call got no answer from rosterd (the client crate decides).
pub fn is_unreachable(error: &RosterError) -> bool {
    error.is_unreachable()
}

#[cfg(test)]
mod tests {
    use super::*;

    const USER: Caller = Caller {
        is_root: false,
        with_token: false,
    };
    const ROOT: Caller = Caller {
        is_root: true,
        with_token: false,
    };

    #[test]
    fn daemon_sentences_are_printed_as_they_come() {
        let e = CliError::Daemon(RosterError::NotFound("user \"bob\" not found".into()));
        assert_eq!(e.render(USER), "roster: user \"bob\" not found");
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn permission_denied_says_how_to_get_the_right() {
        let e = CliError::Daemon(RosterError::PermissionDenied(
            "you may not create users".into(),
        ));
        let text = e.render(USER);
        assert!(
            text.starts_with("roster: you may not create users\n"),
            "{text}"
        );
        assert!(text.contains("run with sudo"), "{text}");
        assert!(!e.render(ROOT).contains("sudo"));
        let says_it = CliError::Daemon(RosterError::PermissionDenied(
            "only root or a Roster admin may create users: run with sudo".into(),
        ));
        assert_eq!(says_it.render(USER).matches("sudo").count(), 1);
        let with_token = e.render(Caller {
            is_root: false,
            with_token: true,
        });
        assert!(with_token.contains("--scope full"), "{with_token}");
    }

    #[test]
    fn a_change_nss_does_not_show_yet_is_said_as_rosterd_words_it_and_exits_1() {
        let said = "the change is made, but NSS doesn't show it yet: rosterd couldn't write \
                    the NSS snapshot /var/cache/roster/nss.cache and retries until it can";
        let e = CliError::Daemon(RosterError::SnapshotStale(said.into()));
        assert_eq!(e.render(ROOT), format!("roster: {said}"));
        assert_eq!(e.exit_code(), 1);
        let bare = CliError::Daemon(RosterError::SnapshotStale(String::new()));
        assert!(bare.render(ROOT).contains("NSS doesn't show it yet"));
    }

    #[test]
    fn unreachable_names_the_bus() {
        let e = CliError::Unreachable {
            address: "unix:path=/tmp/x".into(),
        };
        assert_eq!(
            e.render(USER),
            "roster: rosterd is not running (bus: unix:path=/tmp/x)"
        );
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn a_bus_refusal_says_what_happened_and_the_nsswitch_fix() {
        let e = CliError::BusRefused {
            address: "unix:path=/tmp/x".into(),
            uid: 1879048200,
            resolves_here: false,
        };
        let text = e.render(USER);
        assert!(
            text.starts_with("roster: the bus at unix:path=/tmp/x closed the connection"),
            "{text}"
        );
        assert!(!text.contains("not running"), "{text}");
        assert!(text.contains("passwd: files roster"), "{text}");
        assert!(text.contains("getent passwd 1879048200"), "{text}");
        assert_eq!(e.exit_code(), 1);
        // A uid this host resolves: not nsswitch's fault, say so.
        let e = CliError::BusRefused {
            address: "unix:path=/tmp/x".into(),
            uid: 0,
            resolves_here: true,
        };
        let text = e.render(USER);
        assert!(text.contains("closed the connection"), "{text}");
        assert!(!text.contains("passwd: files roster"), "{text}");
        assert!(text.contains("journalctl -u dbus"), "{text}");
    }

    #[test]
    fn no_answer_names_rosterd_and_what_to_check() {
        let e = CliError::NoAnswer {
            address: "unix:path=/tmp/x".into(),
            after: std::time::Duration::from_secs(60),
        };
        let text = e.render(USER);
        assert!(
            text.starts_with("roster: rosterd did not answer within 60 s (bus: unix:path=/tmp/x)"),
            "{text}"
        );
        assert!(text.contains("systemctl status rosterd"), "{text}");
        assert_eq!(e.exit_code(), 1);
    }

    #[test]
    fn usage_errors_exit_2() {
        let e = CliError::Usage("no password given".into());
        assert_eq!(e.exit_code(), 2);
        assert!(e.render(USER).starts_with("roster: no password given"));
    }

    #[test]
    fn a_huge_daemon_message_is_cut() {
        let name = "é".repeat(100_000);
        let e = CliError::Daemon(RosterError::NotFound(format!("user \"{name}\" not found")));
        let text = e.render(USER);
        assert!(text.len() < 1000, "{} bytes", text.len());
        assert!(text.ends_with("more bytes not shown)"), "{text}");
    }

    #[test]
    fn an_empty_daemon_message_still_reads_as_a_sentence() {
        let e = CliError::Daemon(RosterError::Conflict(String::new()));
        assert_eq!(e.render(USER), "roster: refused by the current state");
    }

    #[test]
    fn a_missing_daemon_is_unreachable() {
        let missing = RosterError::ZBus(zbus::Error::InputOutput(std::sync::Arc::new(
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )));
        assert!(matches!(
            from_call(missing, "unix:path=/x"),
            CliError::Unreachable { .. }
        ));
        let no_daemon = RosterError::ZBus(zbus::Error::FDO(Box::new(
            zbus::fdo::Error::ServiceUnknown("no owner".into()),
        )));
        assert!(is_unreachable(&no_daemon));
        let policy = RosterError::ZBus(zbus::Error::FDO(Box::new(zbus::fdo::Error::AccessDenied(
            "policy".into(),
        ))));
        assert!(!is_unreachable(&policy));
        let named = RosterError::NotFound("user \"x\" not found".into());
        assert!(matches!(
            from_call(named, "unix:path=/x"),
            CliError::Daemon(_)
        ));
    }
}
