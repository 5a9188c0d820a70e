//! `roster-probe METHOD ARG_JSON…`: one call through roster-client's
//! proxies, for tests that check rosterd without going through the CLI.
//!
//! Prints `{"ok": <reply as JSON>}` and exits 0, or
//! `{"error": "org.roster.Error.X", "message": "…"}` and exits 1; a usage
//! mistake exits 2. With `ROSTER_TOKEN` set, `Tokens.Present` is called
//! first on the same connection. Connects to `DBUS_SYSTEM_BUS_ADDRESS`.
//! An ARG_JSON of `-` is read from stdin (one larger than the kernel lets
//! a command line carry: a 10 MB password).

use roster_client::*;
use serde::Serialize;
use serde::de::DeserializeOwned;
use serde_json::{Value, json};

fn main() {
    let mut args: Vec<String> = std::env::args().skip(1).collect();
    if let Some(from_stdin) = args.iter_mut().skip(1).find(|a| *a == "-") {
        let mut text = String::new();
        if let Err(e) = std::io::Read::read_to_string(&mut std::io::stdin(), &mut text) {
            eprintln!("roster-probe: can't read an argument from stdin: {e}");
            std::process::exit(2);
        }
        *from_stdin = text;
    }
    let Some((method, rest)) = args.split_first() else {
        eprintln!("usage: roster-probe Interface.Method [ARG_JSON…]");
        std::process::exit(2);
    };
    let outcome = zbus::block_on(call(method, rest));
    match outcome {
        Ok(value) => {
            println!("{}", json!({ "ok": value }));
        }
        Err(Failure::Usage(message)) => {
            eprintln!("roster-probe: {message}");
            std::process::exit(2);
        }
        Err(Failure::Call(error)) => {
            let (name, message) = describe(&error);
            println!("{}", json!({ "error": name, "message": message }));
            std::process::exit(1);
        }
    }
}

enum Failure {
    Usage(String),
    Call(RosterError),
}

impl From<RosterError> for Failure {
    fn from(e: RosterError) -> Self {
        Failure::Call(e)
    }
}

impl From<zbus::Error> for Failure {
    fn from(e: zbus::Error) -> Self {
        Failure::Call(RosterError::ZBus(e))
    }
}

fn describe(error: &RosterError) -> (String, String) {
    use zbus::DBusError;
    match error {
        RosterError::ZBus(zbus::Error::MethodError(name, message, _)) => {
            (name.to_string(), message.clone().unwrap_or_default())
        }
        RosterError::ZBus(other) => ("zbus".to_owned(), other.to_string()),
        other => (
            other.name().to_string(),
            other.description().unwrap_or_default().to_owned(),
        ),
    }
}

fn arg<T: DeserializeOwned>(args: &[String], i: usize) -> Result<T, Failure> {
    let text = args
        .get(i)
        .ok_or_else(|| Failure::Usage(format!("argument {} is missing", i + 1)))?;
    serde_json::from_str(text)
        .map_err(|e| Failure::Usage(format!("argument {} ({text}): {e}", i + 1)))
}

/// The current password of `Users.SetPassword` and `Pam.ChangePassword`:
/// a JSON string is the password given, except `""`, which keeps meaning
/// what the tests always sent it for, set by an admin (the wire said that
/// with an empty string before [`CurrentPassword`]); `null` is set by an
/// admin too, and `{"given": "…"}` gives any password, an empty one
/// included.
fn current(args: &[String], i: usize) -> Result<CurrentPassword, Failure> {
    match arg::<Value>(args, i)? {
        Value::Null => Ok(CurrentPassword::SetByAdmin),
        Value::String(s) if s.is_empty() => Ok(CurrentPassword::SetByAdmin),
        Value::String(s) => Ok(CurrentPassword::Given(Secret::new(s))),
        Value::Object(fields) => match fields.get("given") {
            Some(Value::String(s)) => Ok(CurrentPassword::Given(Secret::new(s.clone()))),
            _ => Err(Failure::Usage(format!(
                "argument {}: an object names the password as {{\"given\": \"…\"}}",
                i + 1
            ))),
        },
        other => Err(Failure::Usage(format!(
            "argument {}: {other} is no current password (a string, null or {{\"given\": …}})",
            i + 1
        ))),
    }
}

/// The PAM methods' `requester_uid`: 0 (root's own request) unless given.
fn requester(args: &[String], i: usize) -> Result<u32, Failure> {
    if args.len() > i { arg(args, i) } else { Ok(0) }
}

fn to_json<T: Serialize>(value: T) -> Result<Value, Failure> {
    serde_json::to_value(value).map_err(|e| Failure::Usage(e.to_string()))
}

async fn call(method: &str, a: &[String]) -> Result<Value, Failure> {
    let conn = zbus::Connection::system().await?;
    if let Ok(token) = std::env::var("ROSTER_TOKEN") {
        TokensProxy::new(&conn).await?.present(&token).await?;
    }
    match method {
        "Users.Create" => {
            let p = UsersProxy::new(&conn).await?;
            let req: CreateUser = arg(a, 0)?;
            let pw: String = arg(a, 1)?;
            to_json(p.create(&req, &pw).await?)
        }
        "Users.Edit" => {
            let p = UsersProxy::new(&conn).await?;
            let name: String = arg(a, 0)?;
            let ch: EditUser = arg(a, 1)?;
            to_json(p.edit(&name, &ch).await?)
        }
        "Users.SetPassword" => {
            let p = UsersProxy::new(&conn).await?;
            let (n, c, w): (String, CurrentPassword, String) =
                (arg(a, 0)?, current(a, 1)?, arg(a, 2)?);
            to_json(p.set_password(&n, &c, &w).await?)
        }
        "Users.ResetPassword" => {
            let p = UsersProxy::new(&conn).await?;
            to_json(p.reset_password(&arg::<String>(a, 0)?).await?)
        }
        "Users.Delete" => {
            let p = UsersProxy::new(&conn).await?;
            to_json(p.delete(&arg::<String>(a, 0)?, arg(a, 1)?).await?)
        }
        "Users.Suspend" => {
            let p = UsersProxy::new(&conn).await?;
            to_json(p.suspend(&arg::<String>(a, 0)?, arg(a, 1)?).await?)
        }
        "Users.Enable" => {
            let p = UsersProxy::new(&conn).await?;
            to_json(p.enable(&arg::<String>(a, 0)?).await?)
        }
        "Users.Unlock" => {
            let p = UsersProxy::new(&conn).await?;
            to_json(p.unlock(&arg::<String>(a, 0)?).await?)
        }
        "Users.List" => {
            let p = UsersProxy::new(&conn).await?;
            to_json(p.list(arg(a, 0)?).await?)
        }
        "Users.Show" => {
            let p = UsersProxy::new(&conn).await?;
            to_json(p.show(&arg::<String>(a, 0)?).await?)
        }
        "Users.WhoAmI" => {
            let p = UsersProxy::new(&conn).await?;
            to_json(p.who_am_i().await?)
        }
        "Grants.Grant" => {
            let p = GrantsProxy::new(&conn).await?;
            let (u, l, e): (String, Level, String) = (arg(a, 0)?, arg(a, 1)?, arg(a, 2)?);
            to_json(p.grant(&u, l, &e).await?)
        }
        "Grants.Revoke" => {
            let p = GrantsProxy::new(&conn).await?;
            // "" revokes everything, as on the wire.
            let (u, l, e): (String, Optional<Level>, String) = (arg(a, 0)?, arg(a, 1)?, arg(a, 2)?);
            to_json(p.revoke(&u, l, &e, arg(a, 3)?).await?)
        }
        "Environments.Add" => {
            let p = EnvironmentsProxy::new(&conn).await?;
            to_json(p.add(&arg::<String>(a, 0)?).await?)
        }
        "Environments.List" => {
            let p = EnvironmentsProxy::new(&conn).await?;
            to_json(p.list().await?)
        }
        "Environments.Remove" => {
            let p = EnvironmentsProxy::new(&conn).await?;
            to_json(p.remove(&arg::<String>(a, 0)?, arg(a, 1)?).await?)
        }
        "Sessions.List" => {
            let p = SessionsProxy::new(&conn).await?;
            to_json(p.list(&arg::<String>(a, 0)?, arg(a, 1)?).await?)
        }
        "Pam.Authenticate" => {
            let p = PamProxy::new(&conn).await?;
            let (u, s, r): (String, String, String) = (arg(a, 0)?, arg(a, 1)?, arg(a, 2)?);
            to_json(p.authenticate(&u, &s, &r, requester(a, 3)?).await?)
        }
        "Pam.CheckAccount" => {
            let p = PamProxy::new(&conn).await?;
            to_json(p.check_account(&arg::<String>(a, 0)?).await?)
        }
        "Pam.OpenSession" => {
            let p = PamProxy::new(&conn).await?;
            to_json(p.open_session(&arg::<OpenSession>(a, 0)?).await?)
        }
        "Pam.CloseSession" => {
            let p = PamProxy::new(&conn).await?;
            to_json(
                p.close_session(&arg::<String>(a, 0)?, arg(a, 1)?, arg(a, 2)?)
                    .await?,
            )
        }
        "Pam.ChangePassword" => {
            let p = PamProxy::new(&conn).await?;
            let (u, c, n): (String, CurrentPassword, String) =
                (arg(a, 0)?, current(a, 1)?, arg(a, 2)?);
            to_json(p.change_password(&u, &c, &n, requester(a, 3)?).await?)
        }
        "Pam.IsPending" => {
            let p = PamProxy::new(&conn).await?;
            to_json(p.is_pending(&arg::<String>(a, 0)?).await?)
        }
        "Tokens.Create" => {
            let p = TokensProxy::new(&conn).await?;
            // "" is the default scope, as on the wire.
            let (n, s): (String, Optional<Scope>) = (arg(a, 0)?, arg(a, 1)?);
            to_json(p.create(&n, s, arg(a, 2)?).await?)
        }
        "Tokens.List" => {
            let p = TokensProxy::new(&conn).await?;
            to_json(p.list(&arg::<String>(a, 0)?).await?)
        }
        "Tokens.Rename" => {
            let p = TokensProxy::new(&conn).await?;
            let (i, n): (String, String) = (arg(a, 0)?, arg(a, 1)?);
            to_json(p.rename(&i, &n).await?)
        }
        "Tokens.Delete" => {
            let p = TokensProxy::new(&conn).await?;
            let (i, u): (String, String) = (arg(a, 0)?, arg(a, 1)?);
            to_json(p.delete(&i, &u).await?)
        }
        "Tokens.Present" => {
            let p = TokensProxy::new(&conn).await?;
            to_json(p.present(&arg::<String>(a, 0)?).await?)
        }
        "Keys.Add" => {
            let p = KeysProxy::new(&conn).await?;
            let (u, k): (String, String) = (arg(a, 0)?, arg(a, 1)?);
            to_json(p.add(&u, &k).await?)
        }
        "Keys.List" => {
            let p = KeysProxy::new(&conn).await?;
            to_json(p.list(&arg::<String>(a, 0)?).await?)
        }
        "Keys.Remove" => {
            let p = KeysProxy::new(&conn).await?;
            let (u, f): (String, String) = (arg(a, 0)?, arg(a, 1)?);
            to_json(p.remove(&u, &f).await?)
        }
        "Keys.AuthorizedKeys" => {
            let p = KeysProxy::new(&conn).await?;
            to_json(p.authorized_keys(&arg::<String>(a, 0)?).await?)
        }
        "Registration.Register" => {
            let p = RegistrationProxy::new(&conn).await?;
            let (c, n): (String, String) = (arg(a, 0)?, arg(a, 1)?);
            to_json(p.register(&c, &n).await?)
        }
        "Secrets.Show" => {
            let p = SecretsProxy::new(&conn).await?;
            to_json(p.show(&arg::<String>(a, 0)?).await?)
        }
        "Secrets.Get" => {
            let p = SecretsProxy::new(&conn).await?;
            let (address, mode, revision): (String, String, u32) =
                (arg(a, 0)?, arg(a, 1)?, arg(a, 2)?);
            to_json(p.get(&address, &mode, revision).await?)
        }
        "Secrets.Update" => {
            let p = SecretsProxy::new(&conn).await?;
            let (address, request): (String, SecretRequest) = (arg(a, 0)?, arg(a, 1)?);
            to_json(p.update(&address, &request).await?)
        }
        "Secrets.Grant" => {
            let p = SecretsProxy::new(&conn).await?;
            let (address, user, role): (String, String, String) =
                (arg(a, 0)?, arg(a, 1)?, arg(a, 2)?);
            to_json(p.grant(&address, &user, &role).await?)
        }
        "Secrets.List" => {
            let p = SecretsProxy::new(&conn).await?;
            to_json(p.list("", "").await?)
        }
        other => Err(Failure::Usage(format!("unknown method {other:?}"))),
    }
}
