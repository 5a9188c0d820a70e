//! `roster register`: a pending user finishes with the code an admin gave
//! them. The code is never taken on argv (any local user can read another's
//! command line in /proc): it is asked for without echo, or read from stdin.

use super::Ctx;
use crate::errors::CliError;
use crate::prompt;
use roster_client::Secret;

pub async fn run(ctx: &mut Ctx<'_>, from_stdin: bool) -> Result<(), CliError> {
    let (code, password) = if from_stdin {
        let code = prompt::stdin_value(ctx.input, "registration code")?;
        let password = prompt::stdin_value(ctx.input, "new password")?;
        (code, password)
    } else {
        let code = prompt::ask_secret(
            ctx.input,
            "Registration code: ",
            "registration code",
            "use --stdin (the code on the first line, the new password on the second)",
        )?;
        let password = prompt::ask_twice(ctx.input, "New password: ")?;
        (code, password)
    };
    // Codes are copied and pasted: surrounding blanks are never part of one.
    let code = Secret::from(code.expose().trim());
    let registration = ctx.client.registration().await?;
    let name = registration
        .register(code.expose(), password.expose())
        .await
        .map_err(|e| ctx.client.error(e))?;
    println!(
        "Welcome, {name}: your password is set and your account is active. Log in as \"{name}\"."
    );
    Ok(())
}
