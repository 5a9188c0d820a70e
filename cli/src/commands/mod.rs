//! One module per command group. Each command asks rosterd and prints the
//! answer; none of them decides a rule (that is the daemon's).

pub mod environments;
pub mod fleet;
pub mod grants;
pub mod hosts;
pub mod import;
pub mod keys;
pub mod login;
pub mod register;
pub mod secrets;
pub mod sessions;
pub mod tokens;
pub mod users;
pub mod whoami;

use crate::args::{
    Cli, Command, EnvironmentsCommand, HostsCommand, HostsTokenCommand, KeysCommand, TokensCommand,
    UsersCommand,
};
use crate::connection::{Client, bus_address, call_timeout, load_token};
use crate::errors::{Caller, CliError};
use crate::output::json;
use crate::prompt::Input;

/// What every command works with.
pub struct Ctx<'a> {
    pub client: Client,
    pub input: &'a mut dyn Input,
    /// Seconds since the epoch, for relative times.
    pub now: i64,
    /// The user of the token or `roster login` session presented, if any.
    pub acting_as: Option<String>,
}

/// Prints `value` as JSON on stdout.
pub fn print_json<T: serde::Serialize + ?Sized>(value: &T) -> Result<(), CliError> {
    let text =
        json::render(value).map_err(|e| CliError::Local(format!("can't write JSON: {e}")))?;
    print!("{text}");
    Ok(())
}

/// Runs the parsed command line. `caller` is filled in as soon as it is
/// known (a token presented), for the error's hint.
pub async fn run(cli: Cli, input: &mut dyn Input, caller: &mut Caller) -> Result<(), CliError> {
    let address = bus_address(std::env::var("DBUS_SYSTEM_BUS_ADDRESS").ok());
    // The doctor needs neither rosterd nor a token: it must work exactly
    // when rosterd is down.
    let command = match cli.command {
        Command::Doctor(args) => return crate::doctor::run(args, &address).await,
        other => other,
    };
    let cli = Cli { command, ..cli };
    let token = load_token(
        cli.token_file.as_deref(),
        std::env::var("ROSTER_TOKEN").ok(),
    )?;

    // sshd's AuthorizedKeysCommand: never an error, never a stall.
    if let Command::SshAuthorizedKeys {
        username,
        snapshot,
        config,
    } = &cli.command
    {
        // A moved `nss_cache` must move the snapshot read here too, or no
        // Roster user would ever get a key.
        let snapshot = match snapshot {
            Some(path) => path.clone(),
            None => crate::doctor::config::load(config).0.nss_cache,
        };
        keys::authorized_keys(&address, username, &snapshot).await;
        return Ok(());
    }

    let timeout = call_timeout(std::env::var("ROSTER_TIMEOUT").ok())?;
    let client = Client::connect(&address, Some(timeout)).await?;
    let mut acting_as = None;
    if let Some(token) = &token {
        caller.with_token = true;
        acting_as = Some(client.present(token).await?.user);
    } else if !matches!(cli.command, Command::Login { .. })
        && let Some(session) = crate::session::SessionFile::locate().and_then(|f| f.load())
    {
        // A `roster login` session (enrolled hosts): the person acts with
        // it. One no longer good is said, and the command goes on as the
        // uid.
        match client.present(&session).await {
            Ok(info) => {
                caller.with_token = true;
                acting_as = Some(info.user);
            }
            Err(e) => eprintln!(
                "roster: your `roster login` session is no longer accepted ({e}); run `roster login` again"
            ),
        }
    }
    let mut ctx = Ctx {
        client,
        input,
        now: crate::output::time::now(),
        acting_as,
    };

    match cli.command {
        Command::Users(command) => match command {
            UsersCommand::Create {
                username,
                set_password,
                password_stdin,
                register,
                set_role,
                profile,
            } => {
                users::create(
                    &mut ctx,
                    username,
                    set_password,
                    password_stdin,
                    register,
                    set_role,
                    profile,
                )
                .await
            }
            UsersCommand::Edit {
                username,
                password,
                set_role,
                profile,
            } => users::edit(&mut ctx, username, password, set_role, profile).await,
            UsersCommand::Password {
                username,
                password_stdin,
                reset,
            } => users::password(&mut ctx, username, password_stdin, reset).await,
            UsersCommand::Delete {
                username,
                keep_sessions,
                yes,
            } => users::delete(&mut ctx, username, keep_sessions, yes).await,
            UsersCommand::Grant {
                username,
                level,
                environment,
            } => grants::grant(&mut ctx, username, level, environment).await,
            UsersCommand::Revoke {
                username,
                level,
                environment,
                end_sessions,
            } => grants::revoke(&mut ctx, username, level, environment, end_sessions).await,
            UsersCommand::Suspend {
                username,
                keep_sessions,
            } => users::suspend(&mut ctx, username, keep_sessions).await,
            UsersCommand::Enable { username } => users::enable(&mut ctx, username).await,
            UsersCommand::Unlock { username } => users::unlock(&mut ctx, username).await,
            UsersCommand::Sessions {
                user,
                fleet: true,
                json,
                ..
            } => fleet::sessions(&mut ctx, user, json.json).await,
            UsersCommand::Sessions {
                user, all, json, ..
            } => sessions::list(&mut ctx, user, all, json.json).await,
            UsersCommand::List { all, json } => users::list(&mut ctx, all, json.json).await,
            UsersCommand::Show { username, json } => {
                users::show(&mut ctx, username, json.json).await
            }
            UsersCommand::Import(args) => import::run(&mut ctx, *args).await,
            UsersCommand::Keys(command) => match command {
                KeysCommand::Add {
                    username,
                    key,
                    file,
                } => keys::add(&mut ctx, username, key, file).await,
                KeysCommand::List { username, json } => {
                    keys::list(&mut ctx, username, json.json).await
                }
                KeysCommand::Remove {
                    username,
                    fingerprint,
                } => keys::remove(&mut ctx, username, fingerprint).await,
            },
        },
        Command::Environments(command) => match command {
            EnvironmentsCommand::Add { name } => environments::add(&mut ctx, name).await,
            EnvironmentsCommand::List(json) => environments::list(&mut ctx, json.json).await,
            EnvironmentsCommand::Remove { name, force } => {
                environments::remove(&mut ctx, name, force).await
            }
            EnvironmentsCommand::Set { name, settings } => {
                fleet::environments_set(&mut ctx, name, settings).await
            }
        },
        Command::Whoami(json) => whoami::run(&mut ctx, json.json).await,
        Command::Register { stdin } => register::run(&mut ctx, stdin).await,
        Command::Tokens(command) => match command {
            TokensCommand::Create {
                name,
                scope,
                expires,
                password_stdin,
            } => tokens::create(&mut ctx, name, scope, expires, password_stdin).await,
            TokensCommand::List { user, json } => tokens::list(&mut ctx, user, json.json).await,
            TokensCommand::Rename { id, name } => tokens::rename(&mut ctx, id, name).await,
            TokensCommand::Delete { id, user } => tokens::delete(&mut ctx, id, user).await,
        },
        Command::Login {
            username,
            password_stdin,
            hours,
        } => login::login(&mut ctx, username, password_stdin, hours).await,
        Command::Logout => login::logout(&mut ctx).await,
        Command::Hosts(command) => match command {
            HostsCommand::Join {
                url,
                ca_fingerprint,
                name,
                token_stdin,
                adopt,
                discard,
            } => {
                let mode = if adopt {
                    "adopt"
                } else if discard {
                    "discard"
                } else {
                    ""
                };
                hosts::join(&mut ctx, url, ca_fingerprint, name, token_stdin, mode).await
            }
            HostsCommand::Status(json) => hosts::status(&mut ctx, json.json).await,
            HostsCommand::Leave => hosts::leave(&mut ctx).await,
            HostsCommand::Token(command) => match command {
                HostsTokenCommand::Create {
                    environment,
                    expires,
                    password_stdin,
                } => fleet::token_create(&mut ctx, environment, expires, password_stdin).await,
                HostsTokenCommand::List(json) => fleet::token_list(&mut ctx, json.json).await,
                HostsTokenCommand::Delete { id } => fleet::token_delete(&mut ctx, id).await,
            },
            HostsCommand::List { environment, json } => {
                fleet::hosts_list(&mut ctx, environment, json.json).await
            }
            HostsCommand::Revoke { host } => fleet::hosts_revoke(&mut ctx, host).await,
        },
        Command::Secrets(command) => secrets::run(&mut ctx, command).await,
        // Handled before connecting, above.
        Command::SshAuthorizedKeys { .. } | Command::Doctor(_) => Ok(()),
    }
}
