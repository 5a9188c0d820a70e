//! `roster login` / `roster logout` on an enrolled host: a session from
//! the controller for the Roster user who typed their password, kept in
//! their runtime folder ([`crate::session`]) and presented by every later
//! command of theirs, `sudo roster …` included.

use super::Ctx;
use crate::errors::CliError;
use crate::output::time;
use crate::prompt;
use crate::session::SessionFile;
use roster_client::Secret;

fn session_file() -> Result<SessionFile, CliError> {
    SessionFile::locate().ok_or_else(|| {
        CliError::Local(
            "no runtime folder to keep a session in ($XDG_RUNTIME_DIR is unset): log in on a \
             terminal session (systemd-logind makes one)"
                .into(),
        )
    })
}

pub async fn login(
    ctx: &mut Ctx<'_>,
    username: Option<String>,
    password_stdin: bool,
    hours: Option<u32>,
) -> Result<(), CliError> {
    let file = session_file()?;
    let name = prompt::username(ctx.input, username)?;
    let password = if password_stdin {
        prompt::stdin_value(ctx.input, "password")?
    } else {
        prompt::ask_secret(
            ctx.input,
            &format!("Password for {name}: "),
            "password",
            "use --password-stdin",
        )?
    };
    let fleet = ctx.client.fleet().await?;
    let (token, expires) = fleet
        .login(&name, password.expose(), hours.unwrap_or(0))
        .await
        .map_err(|e| ctx.client.error(e))?;
    file.save(&Secret::new(token))?;
    println!(
        "Logged in as {name} at the controller; the session ends {} ({}).",
        time::until(expires, ctx.now),
        file.path.display()
    );
    Ok(())
}

pub async fn logout(ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let file = session_file()?;
    if file.load().is_none() {
        println!("No `roster login` session here.");
        return Ok(());
    }
    // Deleted at the controller first (the session was presented when the
    // command connected); the file goes whatever it answers.
    let fleet = ctx.client.fleet().await?;
    let deleted = fleet.logout().await;
    file.remove()?;
    match deleted {
        Ok(()) => println!("Logged out: the session is deleted here and at the controller."),
        Err(e) => println!(
            "Logged out here; the controller didn't confirm deleting the session ({}): it ends at its expiry.",
            ctx.client.error(e)
        ),
    }
    Ok(())
}
