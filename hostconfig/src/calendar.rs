//! Times for a person: calendar dates in UTC from seconds since the Unix
//! epoch, with no time-zone database (the CLI and the controller print
//! the same form).

const MINUTE: i64 = 60;
const HOUR: i64 = 60 * MINUTE;
const DAY: i64 = 24 * HOUR;

/// `YYYY-MM-DD` (UTC).
pub fn date(time: i64) -> String {
    let (year, month, day) = civil_from_days(time.div_euclid(DAY));
    format!("{year:04}-{month:02}-{day:02}")
}

/// `YYYY-MM-DD HH:MM:SS UTC`, for the detail views.
pub fn timestamp(time: i64) -> String {
    let seconds = time.rem_euclid(DAY);
    format!(
        "{} {:02}:{:02}:{:02} UTC",
        date(time),
        seconds / HOUR,
        (seconds % HOUR) / MINUTE,
        seconds % MINUTE
    )
}

/// The proleptic Gregorian date of a day count since 1970-01-01
/// (Howard Hinnant's `civil_from_days`).
fn civil_from_days(days: i64) -> (i64, u32, u32) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097); // [0, 146096]
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365; // [0, 399]
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100); // [0, 365]
    let mp = (5 * doy + 2) / 153; // [0, 11]
    let day = doy - (153 * mp + 2) / 5 + 1; // [1, 31]
    let month = if mp < 10 { mp + 3 } else { mp - 9 }; // [1, 12]
    let year = yoe + era * 400 + i64::from(month <= 2);
    // Both are in range by construction; the fallbacks are never taken.
    (
        year,
        u32::try_from(month).unwrap_or(1),
        u32::try_from(day).unwrap_or(1),
    )
}

/// Seconds since the Unix epoch of `YYYY-MM-DDTHH:MM:SSZ` (or a space for
/// the `T`, or a date alone for its midnight), UTC only; `None` for
/// anything else, an impossible date included.
pub fn parse_utc(text: &str) -> Option<i64> {
    let text = text.trim();
    let (date, time) = match text.split_once(['T', ' ']) {
        Some((date, time)) => (date, Some(time.strip_suffix('Z').unwrap_or(time))),
        None => (text, None),
    };
    let mut parts = date.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    let days = days_from_civil(year, month, day)?;
    let seconds = match time {
        None => 0,
        Some(time) => {
            let mut parts = time.splitn(3, ':');
            let hour: i64 = parts.next()?.parse().ok()?;
            let minute: i64 = parts.next()?.parse().ok()?;
            let second: i64 = parts.next().unwrap_or("0").parse().ok()?;
            if !(0..24).contains(&hour) || !(0..60).contains(&minute) || !(0..60).contains(&second)
            {
                return None;
            }
            hour * HOUR + minute * MINUTE + second
        }
    };
    Some(days * DAY + seconds)
}

/// The inverse of [`civil_from_days`], checking the date exists.
fn days_from_civil(year: i64, month: u32, day: u32) -> Option<i64> {
    if !(1..=12).contains(&month) || day == 0 {
        return None;
    }
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y.rem_euclid(400);
    let m = i64::from(month);
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + i64::from(day) - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    let days = era * 146_097 + doe - 719_468;
    // Day 31 of a 30-day month rolls into the next: refuse it.
    (civil_from_days(days) == (year, month, day)).then_some(days)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_and_times_in_utc() {
        assert_eq!(timestamp(0), "1970-01-01 00:00:00 UTC");
        assert_eq!(date(951_782_400), "2000-02-29");
        assert_eq!(timestamp(1_796_601_600 + 3661), "2026-12-07 01:01:01 UTC");
        assert_eq!(date(-1), "1969-12-31");
    }

    #[test]
    fn utc_times_read_back() {
        for at in [0, 951_782_400, 1_796_601_600 + 3661, -86_400] {
            let text = timestamp(at).replace(" UTC", "Z").replacen(' ', "T", 1);
            assert_eq!(parse_utc(&text), Some(at), "{text}");
        }
        assert_eq!(parse_utc("2026-12-07"), Some(1_796_601_600));
        for bad in [
            "2026-02-30",
            "2026-13-01",
            "2026-12-07T24:00:00Z",
            "yesterday",
            "",
        ] {
            assert_eq!(parse_utc(bad), None, "{bad}");
        }
    }
}
