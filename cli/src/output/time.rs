//! Times as a person reads them: relative as Juju prints them ("never",
//! "just now", "17 minutes ago", "3 days ago"), dates past a month.
//!
//! Every function takes "now" as an argument so tests never wait.

use std::time::{SystemTime, UNIX_EPOCH};

/// Seconds since the Unix epoch, now.
pub fn now() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(elapsed) => i64::try_from(elapsed.as_secs()).unwrap_or(i64::MAX),
        // A clock before 1970 is broken; treat it as the epoch.
        Err(_) => 0,
    }
}

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;
/// Past this, a relative time reads worse than a date.
const MONTH: i64 = 30 * DAY;

fn plural(count: i64, unit: &str) -> String {
    if count == 1 {
        format!("1 {unit}")
    } else {
        format!("{count} {unit}s")
    }
}

/// A span of seconds in its largest whole unit: "17 minutes", "1 day".
fn span(seconds: i64) -> String {
    if seconds < MINUTE {
        plural(seconds, "second")
    } else if seconds < HOUR {
        plural(seconds / MINUTE, "minute")
    } else if seconds < DAY {
        plural(seconds / HOUR, "hour")
    } else {
        plural(seconds / DAY, "day")
    }
}

/// A past moment: "never" for 0, "just now" under a minute (or a little
/// in the future: clocks drift), "N minutes/hours/days ago", then a date.
pub fn ago(time: i64, now: i64) -> String {
    if time <= 0 {
        return "never".to_owned();
    }
    let elapsed = now.saturating_sub(time);
    if elapsed < MINUTE {
        "just now".to_owned()
    } else if elapsed < MONTH {
        format!("{} ago", span(elapsed))
    } else {
        date(time)
    }
}

/// A future moment (an expiry): "never" for 0, "in 3 hours", or
/// "expired 2 days ago" once it has passed.
pub fn until(time: i64, now: i64) -> String {
    if time <= 0 {
        return "never".to_owned();
    }
    let left = time.saturating_sub(now);
    if left <= 0 {
        let past = now.saturating_sub(time);
        if past < MINUTE {
            "expired just now".to_owned()
        } else {
            format!("expired {} ago", span(past))
        }
    } else if left < MINUTE {
        "in less than a minute".to_owned()
    } else if left < MONTH {
        format!("in {}", span(left))
    } else {
        format!("on {}", date(time))
    }
}

pub use roster_hostconfig::calendar::{date, timestamp};

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    #[test]
    fn past_times_read_as_juju_prints_them() {
        assert_eq!(ago(0, NOW), "never");
        assert_eq!(ago(NOW, NOW), "just now");
        assert_eq!(ago(NOW - 59, NOW), "just now");
        assert_eq!(ago(NOW - 60, NOW), "1 minute ago");
        assert_eq!(ago(NOW - 17 * 60 - 5, NOW), "17 minutes ago");
        assert_eq!(ago(NOW - HOUR, NOW), "1 hour ago");
        assert_eq!(ago(NOW - 2 * HOUR - 59 * 60, NOW), "2 hours ago");
        assert_eq!(ago(NOW - DAY, NOW), "1 day ago");
        assert_eq!(ago(NOW - 3 * DAY - 5, NOW), "3 days ago");
        assert_eq!(ago(NOW - 29 * DAY, NOW), "29 days ago");
    }

    #[test]
    fn old_times_become_dates() {
        assert_eq!(ago(NOW - 31 * DAY, NOW), date(NOW - 31 * DAY));
        assert_eq!(ago(1_544_572_800, NOW), "2018-12-12");
    }

    #[test]
    fn a_little_in_the_future_is_just_now() {
        assert_eq!(ago(NOW + 30, NOW), "just now");
        assert_eq!(ago(NOW + 3 * DAY, NOW), "just now");
    }

    #[test]
    fn expiries_count_down_then_say_expired() {
        assert_eq!(until(0, NOW), "never");
        assert_eq!(until(NOW + 30, NOW), "in less than a minute");
        assert_eq!(until(NOW + 72 * HOUR, NOW), "in 3 days");
        assert_eq!(until(NOW + 90 * 60, NOW), "in 1 hour");
        assert_eq!(until(NOW, NOW), "expired just now");
        assert_eq!(until(NOW - 2 * DAY, NOW), "expired 2 days ago");
        assert_eq!(
            until(NOW + 400 * DAY, NOW),
            format!("on {}", date(NOW + 400 * DAY))
        );
    }

    #[test]
    fn dates_are_gregorian_utc() {
        assert_eq!(date(0), "1970-01-01");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(date(1_709_164_800), "2024-02-29");
        assert_eq!(date(-86_400), "1969-12-31");
        assert_eq!(timestamp(1_700_000_000), "2023-11-14 22:13:20 UTC");
        assert_eq!(timestamp(86_399), "1970-01-01 23:59:59 UTC");
    }
}
