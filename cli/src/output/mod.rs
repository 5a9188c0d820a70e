//! How results are printed: aligned tables, `key: value` details, JSON,
//! and relative times.

pub mod json;
pub mod table;
pub mod time;

/// `1 session`, `3 processes`.
pub fn count(n: u32, one: &str, many: &str) -> String {
    if n == 1 {
        format!("1 {one}")
    } else {
        format!("{n} {many}")
    }
}

/// What ending a user's sessions did, as a clause: "ended 2 sessions
/// (5 processes)".
pub fn ended(ended: &roster_client::Ended) -> String {
    format!(
        "ended {} ({})",
        count(ended.sessions, "session", "sessions"),
        count(ended.processes, "process", "processes")
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_agree_in_number() {
        assert_eq!(count(0, "session", "sessions"), "0 sessions");
        assert_eq!(count(1, "session", "sessions"), "1 session");
        let e = roster_client::Ended {
            sessions: 2,
            processes: 1,
        };
        assert_eq!(ended(&e), "ended 2 sessions (1 process)");
    }
}
