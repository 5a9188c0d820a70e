//! The audit trail: one line per admin action and per login result, to
//! syslog (facility authpriv), with the actor's uid and login uid, the
//! action, its target, the result and the token id if one was used.
//!
//! No secret ever reaches this module: the callers hand it names, ids and
//! result words only, and every value is quoted and cut short so a hostile
//! target can't forge a second line. Without a syslog socket rosterd keeps
//! running and writes the lines to stderr instead; `--audit-log FILE` also
//! appends them to a file (tests grep it for secrets).

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

type SyslogLogger = Logger<LoggerBackend, Formatter3164>;

/// The longest value kept on a line (a megabyte name is someone's attack).
const MAX_VALUE: usize = 96;

/// One audit event, built field by field.
#[derive(Clone, Debug, Default)]
pub struct Entry {
    pub action: &'static str,
    pub target: String,
    pub actor_uid: u32,
    /// `None` when unreadable; `Some(u32::MAX)` when unset.
    pub login_uid: Option<u32>,
    pub pid: u32,
    pub token: Option<String>,
    pub result: &'static str,
    pub details: Vec<(&'static str, String)>,
}

impl Entry {
    /// `action=users.create target=alice uid=0 login_uid=1000 pid=42 token=- result=ok …`
    pub fn format(&self) -> String {
        let mut line = String::with_capacity(160);
        let login = match self.login_uid {
            None => "-".to_owned(),
            Some(u32::MAX) => "unset".to_owned(),
            Some(uid) => uid.to_string(),
        };
        let _ = write!(
            line,
            "action={} target={} uid={} login_uid={} pid={} token={} result={}",
            self.action,
            quote(&self.target),
            self.actor_uid,
            login,
            self.pid,
            self.token
                .as_deref()
                .map(quote)
                .unwrap_or_else(|| "-".into()),
            self.result
        );
        for (key, value) in &self.details {
            let _ = write!(line, " {key}={}", quote(value));
        }
        line
    }
}

/// A value as it goes on the line: bare when plain, else quoted with every
/// control character escaped, and at most [`MAX_VALUE`] characters.
pub fn quote(value: &str) -> String {
    let plain = !value.is_empty()
        && value.len() <= MAX_VALUE
        && value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_-.:/@+,".contains(c));
    if plain {
        return value.to_owned();
    }
    let mut out = String::from("\"");
    for (i, c) in value.chars().enumerate() {
        if i == MAX_VALUE {
            out.push('…');
            break;
        }
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if c.is_control() => {
                let _ = write!(out, "\\u{{{:x}}}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

pub struct Audit {
    syslog: Mutex<Option<SyslogLogger>>,
    socket: Option<PathBuf>,
    file: Option<Mutex<File>>,
}

impl Audit {
    /// `socket`: the syslog socket (None = the standard ones, `/dev/log`…);
    /// `file`: a file that gets every line too.
    pub fn open(socket: Option<&Path>, file: Option<&Path>) -> std::io::Result<Audit> {
        let file = match file {
            Some(path) => Some(Mutex::new(
                OpenOptions::new()
                    .create(true)
                    .append(true)
                    .mode(0o600)
                    .open(path)?,
            )),
            None => None,
        };
        let audit = Audit {
            syslog: Mutex::new(None),
            socket: socket.map(Path::to_path_buf),
            file,
        };
        let connected = audit.connect();
        if connected.is_none() {
            eprintln!("rosterd: no syslog socket: audit lines go to stderr");
        }
        if let Ok(mut slot) = audit.syslog.lock() {
            *slot = connected;
        }
        Ok(audit)
    }

    fn connect(&self) -> Option<SyslogLogger> {
        let formatter = Formatter3164 {
            facility: Facility::LOG_AUTHPRIV,
            hostname: None,
            process: "rosterd".into(),
            pid: std::process::id(),
        };
        match &self.socket {
            Some(path) => syslog::unix_custom(formatter, path).ok(),
            None => syslog::unix(formatter).ok(),
        }
    }

    /// Writes one event; a failed success is `info`, a refusal `warning`.
    pub fn record(&self, entry: &Entry) {
        self.write(
            &entry.format(),
            entry.result != "ok" && entry.result != "success",
        );
    }

    fn write(&self, line: &str, warning: bool) {
        if let Some(file) = &self.file
            && let Ok(mut f) = file.lock()
        {
            let _ = writeln!(f, "{line}");
        }
        let sent = match self.syslog.lock() {
            Ok(mut slot) => {
                let mut sent = send(slot.as_mut(), line, warning);
                if !sent {
                    // journald or rsyslog may have restarted: one reconnect.
                    *slot = self.connect();
                    sent = send(slot.as_mut(), line, warning);
                }
                sent
            }
            Err(_) => false,
        };
        if !sent {
            eprintln!("rosterd: audit: {line}");
        }
    }
}

fn send(logger: Option<&mut SyslogLogger>, line: &str, warning: bool) -> bool {
    match logger {
        Some(logger) if warning => logger.warning(line).is_ok(),
        Some(logger) => logger.info(line).is_ok(),
        None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_hostile_target_cannot_forge_a_line() {
        let e = Entry {
            action: "users.create",
            target: "x\nresult=ok action=users.delete".into(),
            result: "invalid",
            ..Entry::default()
        };
        let line = e.format();
        assert!(!line.contains('\n'));
        assert!(line.contains("target=\"x\\u{a}result=ok"));
    }

    #[test]
    fn long_values_are_cut() {
        let long = "a".repeat(1 << 20);
        assert!(quote(&long).len() < 200);
    }

    #[test]
    fn lines_reach_the_file_and_a_syslog_socket() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let sock_path = dir.path().join("log");
        let sock =
            std::os::unix::net::UnixDatagram::bind(&sock_path).unwrap_or_else(|e| panic!("{e}"));
        let file = dir.path().join("audit");
        let audit = Audit::open(Some(&sock_path), Some(&file)).unwrap_or_else(|e| panic!("{e}"));
        audit.record(&Entry {
            action: "users.suspend",
            target: "bob".into(),
            result: "ok",
            ..Entry::default()
        });
        let mut buf = [0u8; 1024];
        let n = sock.recv(&mut buf).unwrap_or(0);
        let datagram = String::from_utf8_lossy(&buf[..n]);
        // <86> = authpriv (10) * 8 + info (6).
        assert!(datagram.starts_with("<86>"), "{datagram}");
        assert!(datagram.contains("action=users.suspend target=bob"));
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert!(text.contains("action=users.suspend"));
    }

    #[test]
    fn no_socket_means_stderr_and_no_failure() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let audit =
            Audit::open(Some(&dir.path().join("missing")), None).unwrap_or_else(|e| panic!("{e}"));
        audit.record(&Entry::default());
    }
}
