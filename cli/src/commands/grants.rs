//! `roster users grant` and `roster users revoke`.

use super::Ctx;
use crate::errors::CliError;
use crate::output::{count, ended};
use roster_client::{Level, Revoked};

/// The environment to name in messages: the one given, else this host's
/// as rosterd reports it (an empty name on the wire means the same).
async fn environment_name(ctx: &Ctx<'_>, given: Option<String>) -> Result<String, CliError> {
    if let Some(name) = given {
        return Ok(name);
    }
    let users = ctx.client.users().await?;
    let me = users.who_am_i().await.map_err(|e| ctx.client.error(e))?;
    Ok(me.environment)
}

pub async fn grant(
    ctx: &mut Ctx<'_>,
    user: String,
    level: Level,
    environment: Option<String>,
) -> Result<(), CliError> {
    let environment = environment_name(ctx, environment).await?;
    let grants = ctx.client.grants().await?;
    let held = grants
        .grant(&user, level, &environment)
        .await
        .map_err(|e| ctx.client.error(e))?;
    println!(
        "{}",
        render_grant(&user, level.as_str(), held.as_str(), &environment)
    );
    Ok(())
}

pub fn render_grant(user: &str, asked: &str, held: &str, environment: &str) -> String {
    if held == asked {
        format!("\"{user}\" holds {held} in environment \"{environment}\".")
    } else {
        // Grants only add: a lower level than the one held changes nothing.
        format!(
            "\"{user}\" already holds {held} in environment \"{environment}\", above {asked}; nothing changed (use revoke to lower it)."
        )
    }
}

pub async fn revoke(
    ctx: &mut Ctx<'_>,
    user: String,
    level: Option<Level>,
    environment: Option<String>,
    end_sessions: bool,
) -> Result<(), CliError> {
    let environment = environment_name(ctx, environment).await?;
    let grants = ctx.client.grants().await?;
    let result = grants
        .revoke(&user, level.into(), &environment, end_sessions)
        .await
        .map_err(|e| ctx.client.error(e))?;
    let level = level.map_or("", Level::as_str);
    let (out, warning) = render_revoke(&user, level, &environment, &result, end_sessions);
    println!("{out}");
    if let Some(warning) = warning {
        eprintln!("{warning}");
    }
    Ok(())
}

/// The result line, and the warning for stderr when `admin` was taken away
/// while sessions that keep the admin group are still running.
pub fn render_revoke(
    user: &str,
    level: &str,
    environment: &str,
    result: &Revoked,
    end_sessions: bool,
) -> (String, Option<String>) {
    let what = if level.is_empty() {
        "Revoked everything".to_owned()
    } else {
        format!("Revoked {level} and above")
    };
    let left = match *result.remaining {
        None => format!("\"{user}\" holds nothing there now"),
        Some(remaining) => format!("\"{user}\" now holds {remaining}"),
    };
    let mut out = format!("{what} from \"{user}\" in environment \"{environment}\"; {left}.");
    if end_sessions {
        out.push_str(&format!(" Sessions: {}.", ended(&result.ended)));
    }
    let warning = (result.admin_removed && !end_sessions && result.live_sessions > 0).then(|| {
        format!(
            "warning: \"{user}\" lost admin, but their {} keep the admin (sudo) group until they end; \
             `roster users revoke {user} admin --environment {environment} --end-sessions` ends them now",
            count(result.live_sessions, "live session", "live sessions")
        )
    });
    (out, warning)
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_client::Ended;

    fn revoked(remaining: &str, admin_removed: bool, live: u32) -> Revoked {
        Revoked {
            // "" is none left, as on the wire.
            remaining: remaining.parse::<Level>().ok().into(),
            admin_removed,
            live_sessions: live,
            ended: Ended::default(),
        }
    }

    #[test]
    fn grant_says_what_is_held() {
        assert_eq!(
            render_grant("bob", "write", "write", "default"),
            "\"bob\" holds write in environment \"default\"."
        );
        let out = render_grant("bob", "read", "admin", "default");
        assert!(
            out.contains("already holds admin") && out.contains("nothing changed"),
            "{out}"
        );
    }

    #[test]
    fn revoke_says_what_is_left() {
        let (out, warning) = render_revoke(
            "bob",
            "read",
            "default",
            &revoked("status", false, 0),
            false,
        );
        assert_eq!(
            out,
            "Revoked read and above from \"bob\" in environment \"default\"; \"bob\" now holds status."
        );
        assert!(warning.is_none());
        let (out, _) = render_revoke("bob", "", "staging", &revoked("", false, 0), false);
        assert_eq!(
            out,
            "Revoked everything from \"bob\" in environment \"staging\"; \"bob\" holds nothing there now."
        );
    }

    #[test]
    fn taking_admin_from_live_sessions_warns() {
        let (_, warning) =
            render_revoke("bob", "admin", "default", &revoked("write", true, 2), false);
        let warning = warning.expect("a warning");
        assert!(warning.starts_with("warning: "), "{warning}");
        assert!(
            warning.contains("2 live sessions") && warning.contains("--end-sessions"),
            "{warning}"
        );
        // No live session, or ended ones: nothing to warn about.
        assert!(
            render_revoke("bob", "admin", "default", &revoked("write", true, 0), false)
                .1
                .is_none()
        );
        assert!(
            render_revoke("bob", "admin", "default", &revoked("write", true, 2), true)
                .1
                .is_none()
        );
    }

    #[test]
    fn ended_sessions_are_counted() {
        let mut r = revoked("write", true, 1);
        r.ended = Ended {
            sessions: 1,
            processes: 3,
        };
        let (out, _) = render_revoke("bob", "admin", "default", &r, true);
        assert!(
            out.ends_with("Sessions: ended 1 session (3 processes)."),
            "{out}"
        );
    }
}
