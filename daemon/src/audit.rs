//! The audit trail: one line per admin action and per login result, to
//! syslog (facility authpriv), with the actor's uid and login uid, the
//! action, its target, the result and the token id if one was used.
//!
//! No secret ever reaches this module: the callers hand it names, ids and
//! result words only, and every value is quoted and cut short so a hostile
//! target can't forge a second line. Without a syslog socket rosterd keeps
//! running and writes the lines to stderr instead; `--audit-log FILE` also
//! appends them to a file (tests grep it for secrets).
//!
//! Repeats are collapsed, as syslog and journald do: a line identical to
//! the one before (same actor, action, target, result and details; the pid
//! may differ) is counted, not written, and `message repeated N times:
//! [line]` is written when a different line comes, or [`REPEAT_FLUSH`]
//! after the first uncounted repeat. A flood of one user's refused calls
//! then costs a few lines, not one per call.

use std::fmt::Write as _;
use std::fs::{File, OpenOptions};
use std::io::Write as _;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, PoisonError};
use std::time::{Duration, Instant};
use syslog::{Facility, Formatter3164, Logger, LoggerBackend};

type SyslogLogger = Logger<LoggerBackend, Formatter3164>;

/// The longest value kept on a line (a megabyte name is someone's attack).
const MAX_VALUE: usize = 96;

/// How long repeats of a line are counted before their summary is
/// written: short, so the log is never far behind what happened.
pub const REPEAT_FLUSH: Duration = Duration::from_secs(2);

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
        self.render(true)
    }

    /// The line without its pid: what makes two lines "identical".
    fn identity(&self) -> String {
        self.render(false)
    }

    fn render(&self, with_pid: bool) -> String {
        let mut line = String::with_capacity(160);
        let login = match self.login_uid {
            None => "-".to_owned(),
            Some(u32::MAX) => "unset".to_owned(),
            Some(uid) => uid.to_string(),
        };
        let _ = write!(
            line,
            "action={} target={} uid={} login_uid={}",
            self.action,
            quote(&self.target),
            self.actor_uid,
            login,
        );
        if with_pid {
            let _ = write!(line, " pid={}", self.pid);
        }
        let _ = write!(
            line,
            " token={} result={}",
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
    /// The last line written and how often it came again since.
    last: Mutex<Option<Repeats>>,
    repeat_flush: Duration,
}

struct Repeats {
    identity: String,
    warning: bool,
    /// Repeats not yet summarized.
    count: u64,
    /// When the count started (the line, or the last summary).
    since: Instant,
}

impl Repeats {
    /// The summary of the counted repeats, which restarts the count.
    fn summary(&mut self) -> Option<String> {
        if self.count == 0 {
            return None;
        }
        let text = format!(
            "message repeated {} time{}: [{}]",
            self.count,
            if self.count == 1 { "" } else { "s" },
            self.identity
        );
        self.count = 0;
        self.since = Instant::now();
        Some(text)
    }
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
            last: Mutex::new(None),
            repeat_flush: REPEAT_FLUSH,
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

    /// Writes one event (or counts it, when it repeats the last line);
    /// a success is `info`, a refusal `warning`.
    pub fn record(&self, entry: &Entry) {
        let warning = entry.result != "ok" && entry.result != "success";
        let identity = entry.identity();
        // Held while writing, so a summary never lands after the line
        // that ended its run.
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(repeats) = last.as_mut()
            && repeats.identity == identity
        {
            repeats.count += 1;
            if repeats.since.elapsed() >= self.repeat_flush
                && let Some(summary) = repeats.summary()
            {
                self.write(&summary, repeats.warning);
            }
            return;
        }
        if let Some(mut ended) = last.take()
            && let Some(summary) = ended.summary()
        {
            self.write(&summary, ended.warning);
        }
        self.write(&entry.format(), warning);
        *last = Some(Repeats {
            identity,
            warning,
            count: 0,
            since: Instant::now(),
        });
    }

    /// Writes the summary of repeats counted for [`REPEAT_FLUSH`] or
    /// longer (rosterd calls it every second), or of any repeats at all
    /// with `all` (at exit).
    pub fn flush_repeats(&self, all: bool) {
        let mut last = self.last.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(repeats) = last.as_mut()
            && (all || repeats.since.elapsed() >= self.repeat_flush)
            && let Some(summary) = repeats.summary()
        {
            self.write(&summary, repeats.warning);
        }
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

    fn entry(pid: u32, result: &'static str, rhost: &str) -> Entry {
        Entry {
            action: "users.password",
            target: "mallory".into(),
            actor_uid: 1000,
            login_uid: Some(1000),
            pid,
            token: None,
            result,
            details: vec![("rhost", rhost.to_owned())],
        }
    }

    fn audit_to_file(dir: &Path) -> (Audit, PathBuf) {
        let file = dir.join("audit");
        let audit = Audit::open(Some(&dir.join("no-socket")), Some(&file))
            .unwrap_or_else(|e| panic!("{e}"));
        (audit, file)
    }

    #[test]
    fn identical_lines_collapse_into_a_summary_when_another_comes() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (audit, file) = audit_to_file(dir.path());
        // The pid may differ (80 connections of one user).
        for pid in 1..=50 {
            audit.record(&entry(pid, "unavailable", "local"));
        }
        // A different detail, then a different result, end the run.
        audit.record(&entry(51, "unavailable", "203.0.113.9"));
        audit.record(&entry(52, "auth-failed", "local"));
        audit.record(&entry(53, "auth-failed", "local"));
        audit.flush_repeats(true);
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 5, "{text}");
        assert!(lines[0].contains("pid=1 ") && lines[0].contains("result=unavailable"));
        assert_eq!(
            lines[1],
            "message repeated 49 times: [action=users.password target=mallory uid=1000 \
             login_uid=1000 token=- result=unavailable rhost=local]"
        );
        assert!(lines[2].contains("pid=51 ") && lines[2].contains("rhost=203.0.113.9"));
        assert!(lines[3].contains("pid=52 ") && lines[3].contains("result=auth-failed"));
        assert!(
            lines[4].starts_with("message repeated 1 time: ["),
            "{}",
            lines[4]
        );
    }

    #[test]
    fn repeats_are_summarized_after_the_interval_without_another_line() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let (mut audit, file) = audit_to_file(dir.path());
        audit.repeat_flush = Duration::ZERO;
        audit.record(&entry(1, "unavailable", "local"));
        // Nothing to summarize yet.
        audit.flush_repeats(false);
        audit.record(&entry(2, "unavailable", "local"));
        audit.record(&entry(3, "unavailable", "local"));
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        // With a zero interval each repeat is summarized as it comes.
        assert_eq!(text.lines().count(), 3, "{text}");
        audit.repeat_flush = Duration::from_secs(3600);
        audit.record(&entry(4, "unavailable", "local"));
        audit.flush_repeats(false);
        assert_eq!(
            std::fs::read_to_string(&file)
                .unwrap_or_default()
                .lines()
                .count(),
            3
        );
        audit.repeat_flush = Duration::ZERO;
        audit.flush_repeats(false);
        let text = std::fs::read_to_string(&file).unwrap_or_default();
        assert_eq!(text.lines().count(), 4, "{text}");
        assert!(
            text.ends_with("result=unavailable rhost=local]\n"),
            "{text}"
        );
    }

    #[test]
    fn no_socket_means_stderr_and_no_failure() {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
        let audit =
            Audit::open(Some(&dir.path().join("missing")), None).unwrap_or_else(|e| panic!("{e}"));
        audit.record(&Entry::default());
    }
}
