//! Durations as Roster writes them: `30s`, `15m`, `72h`, `7d`. The one
//! parser for rosterd.toml (re-exported by roster-hostconfig), the CLI's
//! `--expires` and pam_roster's `timeout=`.
//!
//! It lives in this crate because the PAM module must read the same form
//! and may link neither serde nor toml (DESIGN.md), which roster-hostconfig
//! carries; this crate links nothing and every Roster program and both
//! modules link it.

use std::fmt;
use std::time::Duration;

/// The longest number we read: 12 digits of days is already far past any
/// timestamp, and it keeps the multiplication well inside u64.
const MAX_DIGITS: usize = 12;

/// Text that isn't a whole number and one unit, or overflows.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DurationError(String);

impl fmt::Display for DurationError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid duration {:?}: write a whole number and a unit, like 30s, 15m, 72h or 7d",
            self.0
        )
    }
}

impl std::error::Error for DurationError {}

/// Parse `30s`, `15m`, `72h`, `7d`: a whole number and one unit, nothing
/// around them (no spaces, no sign, no fractions, no `1h30m`).
pub fn parse_duration(text: &str) -> Result<Duration, DurationError> {
    parse(text, Extras::None)
}

/// The same form for a short bound (pam_roster's `timeout=`), which also
/// takes milliseconds (`500ms`) and a bare number of seconds (`3`, the
/// form its service files have always been allowed).
pub fn parse_short_duration(text: &str) -> Result<Duration, DurationError> {
    parse(text, Extras::MillisAndBareSeconds)
}

/// What a caller accepts beyond a whole number and `s`, `m`, `h` or `d`.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Extras {
    None,
    MillisAndBareSeconds,
}

fn parse(text: &str, extras: Extras) -> Result<Duration, DurationError> {
    let bad = || DurationError(text.chars().take(40).collect());
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() || number.len() > MAX_DIGITS {
        return Err(bad());
    }
    let count: u64 = number.parse().map_err(|_| bad())?;
    let factor = match (unit, extras) {
        ("s", _) => 1,
        ("m", _) => 60,
        ("h", _) => 3600,
        ("d", _) => 86_400,
        ("ms", Extras::MillisAndBareSeconds) => return Ok(Duration::from_millis(count)),
        ("", Extras::MillisAndBareSeconds) => 1,
        _ => return Err(bad()),
    };
    count
        .checked_mul(factor)
        .map(Duration::from_secs)
        .ok_or_else(bad)
}

/// `duration` as the config writes it (`90s`, `15m`, `72h`, `7d`).
pub fn format(duration: Duration) -> String {
    let secs = duration.as_secs();
    match secs {
        0 => "0s".to_owned(),
        s if s % 86_400 == 0 => format!("{}d", s / 86_400),
        s if s % 3600 == 0 => format!("{}h", s / 3600),
        s if s % 60 == 0 => format!("{}m", s / 60),
        s => format!("{s}s"),
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    #[test]
    fn format_round_trips() {
        for text in ["0s", "90s", "15m", "5h", "7d"] {
            assert_eq!(format(parse_duration(text).unwrap()), text);
        }
    }

    #[test]
    fn whitespace_is_refused() {
        // core once trimmed, the CLI didn't: one parser, the strict rule.
        assert!(parse_duration(" 7d").is_err());
        assert!(parse_duration("7d ").is_err());
        assert!(parse_short_duration(" 3").is_err());
        assert!(parse_short_duration("3s ").is_err());
    }

    #[test]
    fn a_short_duration_also_takes_milliseconds_and_bare_seconds() {
        for (text, expected) in [
            ("500ms", Duration::from_millis(500)),
            ("3", Duration::from_secs(3)),
            ("3s", Duration::from_secs(3)),
            ("1m", Duration::from_secs(60)),
            ("0", Duration::ZERO),
        ] {
            assert_eq!(parse_short_duration(text), Ok(expected), "{text}");
        }
        // The config's form takes neither.
        assert!(parse_duration("500ms").is_err());
        assert!(parse_duration("3").is_err());
        for bad in [
            "", "ms", "s", "+5", "-1", "1.5s", "15x", "3 s", "1s500ms", "forever", "5MS",
        ] {
            assert!(parse_short_duration(bad).is_err(), "{bad:?} accepted");
        }
    }
}
