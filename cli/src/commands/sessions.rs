//! `roster users sessions`.

use super::{Ctx, print_json};
use crate::errors::CliError;
use crate::output::table::Table;
use crate::output::{json, time};
use roster_client::SessionInfo;

pub async fn list(
    ctx: &mut Ctx<'_>,
    user: Option<String>,
    all: bool,
    as_json: bool,
) -> Result<(), CliError> {
    let sessions = ctx.client.sessions().await?;
    let list = sessions
        .list(user.as_deref().unwrap_or(""), all)
        .await
        .map_err(|e| ctx.client.error(e))?;
    if as_json {
        let out: Vec<json::Session> = list.iter().map(json::Session::from).collect();
        return print_json(&out);
    }
    print!("{}", render(&list, all, ctx.now));
    Ok(())
}

pub fn render(sessions: &[SessionInfo], all: bool, now: i64) -> String {
    if sessions.is_empty() {
        return if all {
            "No sessions.\n"
        } else {
            "No live sessions.\n"
        }
        .to_owned();
    }
    let mut headers = vec!["ID", "User", "Service", "TTY", "From", "PID", "Started"];
    if all {
        headers.push("Ended");
    }
    let mut table = Table::new(&headers);
    for s in sessions {
        let mut row = vec![
            s.id.to_string(),
            s.user.clone(),
            s.service.clone(),
            dash(&s.tty),
            if s.remote_host.is_empty() {
                "local".to_owned()
            } else {
                s.remote_host.clone()
            },
            s.leader_pid.to_string(),
            time::ago(s.started, now),
        ];
        if all {
            row.push(if s.ended > 0 {
                time::ago(s.ended, now)
            } else {
                "live".to_owned()
            });
        }
        table.row(row);
    }
    table.render()
}

fn dash(text: &str) -> String {
    if text.is_empty() {
        "-".to_owned()
    } else {
        text.to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_800_000_000;

    fn session(id: i64, ended: i64) -> SessionInfo {
        SessionInfo {
            id,
            user: "bob".into(),
            uid: 1_879_048_193,
            service: "sshd".into(),
            tty: String::new(),
            remote_host: "10.0.0.7".into(),
            leader_pid: 4242,
            leader_start: 123,
            started: NOW - 7200,
            ended,
        }
    }

    #[test]
    fn live_sessions_as_a_table() {
        let out = render(&[session(1, 0)], false, NOW);
        assert_eq!(
            out,
            "ID  User  Service  TTY  From      PID   Started\n\
             1   bob   sshd     -    10.0.0.7  4242  2 hours ago\n"
        );
    }

    #[test]
    fn all_adds_the_end() {
        let out = render(&[session(1, 0), session(2, NOW - 60)], true, NOW);
        let lines: Vec<&str> = out.lines().collect();
        assert!(lines[0].ends_with("Ended"), "{out}");
        assert!(lines[1].ends_with("live"), "{out}");
        assert!(lines[2].ends_with("1 minute ago"), "{out}");
    }

    #[test]
    fn nothing_to_show_says_so() {
        assert_eq!(render(&[], false, NOW), "No live sessions.\n");
        assert_eq!(render(&[], true, NOW), "No sessions.\n");
    }
}
