//! Durations as Roster writes them: `30s`, `15m`, `72h`, `7d`. The one
//! parser for the config and the CLI's `--expires`.

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
    let bad = || DurationError(text.chars().take(40).collect());
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    if number.is_empty() || number.len() > MAX_DIGITS {
        return Err(bad());
    }
    let count: u64 = number.parse().map_err(|_| bad())?;
    let factor = match unit {
        "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
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
    }
}
