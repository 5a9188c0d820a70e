//! Durations as Roster writes them: `30s`, `15m`, `72h`, `7d`. The parser
//! lives in roster-snapshot (the one crate pam_roster, which may not link
//! serde or toml, shares with this one), so the PAM module's `timeout=`
//! reads the same form; re-exported here for the config and the CLI.

pub use roster_snapshot::duration::{DurationError, format, parse_duration};
