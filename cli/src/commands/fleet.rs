//! The fleet from an enrolled host, through the local rosterd (which asks
//! the controller with the person's credential): `roster hosts token
//! create|list|delete`, `roster hosts list|revoke`, `roster environments
//! set`, `roster users sessions --fleet`; the password a `roster login`
//! session can't stand in for (a token, a join token, one's own key); and
//! how fresh the cache is that reads answer from.

use super::{Ctx, print_json};
use crate::errors::CliError;
use crate::output::table::Table;
use crate::output::time;
use crate::prompt;
use roster_client::{FleetHostInfo, FleetSessionInfo, JoinTokenInfo, Secret};
use serde::Serialize;

/// How old the cache's last answer may be before a read says so.
pub const FRESH_FOR_SECS: i64 = 60;

/// Whether the controller refused because a `roster login` session can't
/// make a lasting credential (the person's password can).
pub fn wants_password(error: &CliError) -> bool {
    error.to_string().contains("give your password instead")
}

/// Presents the person's Roster name and current password on this
/// connection, read from stdin or asked on the terminal. The name is the
/// session's or token's user, else the caller's own Roster user.
pub async fn present_password(ctx: &mut Ctx<'_>, from_stdin: bool) -> Result<(), CliError> {
    let user = match ctx.acting_as.clone() {
        Some(user) => user,
        None => {
            let users = ctx.client.users().await?;
            let me = users.who_am_i().await.map_err(|e| ctx.client.error(e))?;
            if me.user.is_empty() {
                return Err(CliError::Usage(
                    "this needs a Roster user's password: run it as that user, or `roster login` first"
                        .into(),
                ));
            }
            me.user
        }
    };
    let password = if from_stdin {
        prompt::stdin_value(ctx.input, "password")?
    } else {
        prompt::ask_secret(
            ctx.input,
            &format!(
                "Password for {user} (a `roster login` session makes no lasting credential): "
            ),
            "password",
            "use --password-stdin, or act with an API token of scope full",
        )?
    };
    let fleet = ctx.client.fleet().await?;
    fleet
        .present_password(&user, password.expose())
        .await
        .map_err(|e| ctx.client.error(e))
}

/// Seconds since this host's cache last heard from its controller, when
/// that is more than [`FRESH_FOR_SECS`] on an enrolled host; None on a
/// standalone host, a fresh cache, or when rosterd can't say.
pub async fn stale_for(ctx: &Ctx<'_>) -> Option<i64> {
    let fleet = ctx.client.fleet().await.ok()?;
    let status = fleet.status().await.ok()?;
    if !status.enrolled {
        return None;
    }
    let age = if status.last_answer == 0 {
        i64::MAX
    } else {
        ctx.now.saturating_sub(status.last_answer)
    };
    (age > FRESH_FOR_SECS).then_some(age)
}

/// The line a read from a stale cache prints on stderr.
pub fn stale_note(age: i64, now: i64) -> String {
    if age == i64::MAX {
        return "roster: from this host's cache, which has no answer from its controller yet"
            .into();
    }
    format!(
        "roster: from this host's cache: the controller last answered {} (`roster hosts status`)",
        time::ago(now.saturating_sub(age), now)
    )
}

/// Says on stderr how old the cache is a read answered from, if stale.
pub async fn say_if_stale(ctx: &Ctx<'_>) -> Option<i64> {
    let age = stale_for(ctx).await?;
    eprintln!("{}", stale_note(age, ctx.now));
    Some(age)
}

pub async fn token_create(
    ctx: &mut Ctx<'_>,
    environment: String,
    expires: Option<String>,
    password_stdin: bool,
) -> Result<(), CliError> {
    if password_stdin {
        present_password(ctx, true).await?;
    }
    let expires = expires.unwrap_or_default();
    let fleet = ctx.client.fleet().await?;
    let mut created = fleet
        .join_token_create(&environment, &expires)
        .await
        .map_err(|e| ctx.client.error(e));
    if let Err(e) = &created
        && wants_password(e)
        && !password_stdin
        && ctx.input.interactive()
    {
        present_password(ctx, false).await?;
        let fleet = ctx.client.fleet().await?;
        created = fleet
            .join_token_create(&environment, &expires)
            .await
            .map_err(|e| ctx.client.error(e));
    }
    let (token, info) = created?;
    let token = Secret::new(token);
    eprintln!(
        "Join token {} for environment {:?} created; it expires {} and works once.\n\
         It is printed below once: give it to the new host's `roster hosts join`.",
        info.id,
        info.environment,
        time::until(info.expires, ctx.now)
    );
    println!("{}", token.expose());
    Ok(())
}

#[derive(Serialize)]
struct JoinTokenJson<'a> {
    id: &'a str,
    environment: &'a str,
    created: i64,
    expires: i64,
    created_by: &'a str,
    used: Option<i64>,
}

pub async fn token_list(ctx: &mut Ctx<'_>, as_json: bool) -> Result<(), CliError> {
    let fleet = ctx.client.fleet().await?;
    let tokens = fleet
        .join_token_list()
        .await
        .map_err(|e| ctx.client.error(e))?;
    if as_json {
        let out: Vec<JoinTokenJson> = tokens
            .iter()
            .map(|t| JoinTokenJson {
                id: &t.id,
                environment: &t.environment,
                created: t.created,
                expires: t.expires,
                created_by: &t.created_by,
                used: (t.used > 0).then_some(t.used),
            })
            .collect();
        return print_json(&out);
    }
    print!("{}", render_join_tokens(&tokens, ctx.now));
    Ok(())
}

pub fn render_join_tokens(tokens: &[JoinTokenInfo], now: i64) -> String {
    if tokens.is_empty() {
        return "No join tokens.\n".into();
    }
    let mut table = Table::new(&["ID", "Environment", "Created by", "Expires", "Used"]);
    for t in tokens {
        table.row(vec![
            t.id.clone(),
            t.environment.clone(),
            t.created_by.clone(),
            time::until(t.expires, now),
            if t.used > 0 {
                time::ago(t.used, now)
            } else {
                "no".into()
            },
        ]);
    }
    table.render()
}

pub async fn token_delete(ctx: &mut Ctx<'_>, id: String) -> Result<(), CliError> {
    let fleet = ctx.client.fleet().await?;
    fleet
        .join_token_delete(&id)
        .await
        .map_err(|e| ctx.client.error(e))?;
    println!("Join token {id} deleted.");
    Ok(())
}

#[derive(Serialize)]
struct HostJson<'a> {
    name: &'a str,
    environment: &'a str,
    enrolled: i64,
    last_seen: Option<i64>,
    lag: i64,
    certificate_expires: i64,
    revoked: Option<i64>,
}

pub async fn hosts_list(
    ctx: &mut Ctx<'_>,
    environment: Option<String>,
    as_json: bool,
) -> Result<(), CliError> {
    let fleet = ctx.client.fleet().await?;
    let mut hosts = fleet
        .hosts_list(environment.as_deref().unwrap_or(""))
        .await
        .map_err(|e| ctx.client.error(e))?;
    hosts.sort_by(|a, b| (&a.environment, &a.name).cmp(&(&b.environment, &b.name)));
    if as_json {
        let out: Vec<HostJson> = hosts
            .iter()
            .map(|h| HostJson {
                name: &h.name,
                environment: &h.environment,
                enrolled: h.enrolled,
                last_seen: (h.last_seen > 0).then_some(h.last_seen),
                lag: h.lag,
                certificate_expires: h.certificate_expires,
                revoked: (h.revoked > 0).then_some(h.revoked),
            })
            .collect();
        return print_json(&out);
    }
    print!("{}", render_hosts(&hosts, ctx.now));
    Ok(())
}

pub fn render_hosts(hosts: &[FleetHostInfo], now: i64) -> String {
    if hosts.is_empty() {
        return "No hosts.\n".into();
    }
    let mut table = Table::new(&[
        "Name",
        "Environment",
        "Last seen",
        "Lag",
        "Certificate",
        "State",
    ]);
    for h in hosts {
        table.row(vec![
            h.name.clone(),
            h.environment.clone(),
            time::ago(h.last_seen, now),
            h.lag.to_string(),
            format!("expires {}", time::until(h.certificate_expires, now)),
            if h.revoked > 0 {
                format!("revoked {}", time::ago(h.revoked, now))
            } else {
                "enrolled".into()
            },
        ]);
    }
    table.render()
}

pub async fn hosts_revoke(ctx: &mut Ctx<'_>, host: String) -> Result<(), CliError> {
    let fleet = ctx.client.fleet().await?;
    fleet
        .hosts_revoke(&host)
        .await
        .map_err(|e| ctx.client.error(e))?;
    println!(
        "Host {host:?} revoked: refused at its next request, which wipes its cached credentials."
    );
    Ok(())
}

pub async fn environments_set(
    ctx: &mut Ctx<'_>,
    name: String,
    settings: Vec<String>,
) -> Result<(), CliError> {
    let fleet = ctx.client.fleet().await?;
    let settings: Vec<&str> = settings.iter().map(String::as_str).collect();
    let said = fleet
        .environments_set(&name, &settings)
        .await
        .map_err(|e| ctx.client.error(e))?;
    println!("{said}");
    Ok(())
}

#[derive(Serialize)]
struct SessionJson<'a> {
    host: &'a str,
    id: i64,
    user: &'a str,
    uid: u32,
    service: &'a str,
    tty: &'a str,
    remote_host: &'a str,
    started: i64,
    reported: i64,
}

pub async fn sessions(
    ctx: &mut Ctx<'_>,
    user: Option<String>,
    as_json: bool,
) -> Result<(), CliError> {
    let fleet = ctx.client.fleet().await?;
    let list = fleet
        .sessions(user.as_deref().unwrap_or(""))
        .await
        .map_err(|e| ctx.client.error(e))?;
    if as_json {
        let out: Vec<SessionJson> = list
            .iter()
            .map(|s| SessionJson {
                host: &s.host,
                id: s.id,
                user: &s.user,
                uid: s.uid,
                service: &s.service,
                tty: &s.tty,
                remote_host: &s.remote_host,
                started: s.started,
                reported: s.reported,
            })
            .collect();
        return print_json(&out);
    }
    print!("{}", render_sessions(&list, ctx.now));
    Ok(())
}

pub fn render_sessions(sessions: &[FleetSessionInfo], now: i64) -> String {
    if sessions.is_empty() {
        return "No live sessions reported by any host.\n".into();
    }
    let mut table = Table::new(&["Host", "User", "Service", "TTY", "From", "Started"]);
    for s in sessions {
        table.row(vec![
            s.host.clone(),
            s.user.clone(),
            s.service.clone(),
            s.tty.clone(),
            s.remote_host.clone(),
            time::ago(s.started, now),
        ]);
    }
    table.render()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_stale_cache_says_since_when() {
        let now = 1_800_000_000;
        let note = stale_note(600, now);
        assert!(note.contains("last answered"), "{note}");
        assert!(note.contains("10m") || note.contains("10 min"), "{note}");
        assert!(stale_note(i64::MAX, now).contains("no answer"));
    }

    #[test]
    fn the_password_refusal_is_recognised() {
        let refused = CliError::Local(
            "a `roster login` session makes no lasting credential (a token): give your password instead".into(),
        );
        assert!(wants_password(&refused));
        assert!(!wants_password(&CliError::Local(
            "user \"x\" not found".into()
        )));
    }
}
