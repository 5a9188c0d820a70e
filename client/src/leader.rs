//! What `leader_start` means on the wire: a session leader's start time,
//! field 22 of `/proc/PID/stat`, in clock ticks since boot. The one parser
//! of that line, for the PAM module (which sends it) and rosterd (which
//! checks it against the live process and reaps by it).

/// The state letter (field 3: `R`, `S`, `Z` …) and the start time (field
/// 22) of a `/proc/PID/stat` line. The command name (field 2) is in
/// parentheses and may hold spaces and parentheses itself, so fields are
/// counted after the line's last `)`.
pub fn stat_state_and_start(stat: &str) -> Option<(char, u64)> {
    let (_, after_name) = stat.rsplit_once(')')?;
    let mut fields = after_name.split_whitespace();
    let state = fields.next()?.chars().next()?;
    // Field 3 was the first after the name; field 22 is the 20th.
    let start = fields.nth(18)?.parse().ok()?;
    Some((state, start))
}

/// The start time (field 22) of a `/proc/PID/stat` line.
pub fn stat_start_time(stat: &str) -> Option<u64> {
    stat_state_and_start(stat).map(|(_, start)| start)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fields_are_counted_after_the_last_parenthesis_of_the_name() {
        let hostile = "4242 (evil) 1 2 3 4 5) S 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 100";
        assert_eq!(stat_state_and_start(hostile), Some(('S', 987654)));
        let odd =
            "4242 (a) b (c)) Z 1 4242 4242 0 -1 4194560 100 0 0 0 1 2 0 0 20 0 1 0 987654 1000 10";
        assert_eq!(stat_state_and_start(odd), Some(('Z', 987654)));
        assert_eq!(stat_start_time(odd), Some(987654));
    }

    #[test]
    fn a_truncated_or_garbled_line_is_none() {
        assert_eq!(stat_start_time("12 (x) S 1 2"), None);
        assert_eq!(stat_start_time("no paren"), None);
        assert_eq!(stat_start_time("garbage"), None);
        assert_eq!(stat_start_time("1 (x) S 1"), None);
        assert_eq!(stat_state_and_start("1 (x)"), None);
        let not_a_number = "1 (x) S 1 1 1 0 -1 0 0 0 0 0 0 0 0 0 20 0 1 0 soon 1000 10";
        assert_eq!(stat_start_time(not_a_number), None);
    }

    #[test]
    fn our_own_process_has_a_start_time() {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        assert!(stat_start_time(&stat).is_some_and(|t| t > 0), "{stat}");
    }
}
