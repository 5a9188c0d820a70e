//! `roster users create / edit / password / delete / suspend / enable /
//! unlock / list / show`.

use super::{Ctx, print_json};
use crate::args::{NewPasswordArgs, ProfileArgs};
use crate::errors::CliError;
use crate::output::table::{Table, clean, fields};
use crate::output::{count, ended, json, time};
use crate::prompt::{self, ARGV_PASSWORD_WARNING, NewPassword};
use roster_client::{
    CreateUser, Created, CurrentPassword, EditUser, Role, Secret, UserInfo, UserState,
};

/// Where the password comes from, warning about one on argv.
fn password_source(on_argv: Option<String>, from_stdin: bool) -> NewPassword {
    match on_argv {
        Some(password) => {
            eprintln!("{ARGV_PASSWORD_WARNING}");
            NewPassword::Argv(Secret::new(password))
        }
        None if from_stdin => NewPassword::Stdin,
        None => NewPassword::Ask,
    }
}

#[allow(clippy::too_many_arguments)]
pub async fn create(
    ctx: &mut Ctx<'_>,
    username: Option<String>,
    set_password: Option<String>,
    password_stdin: bool,
    register: bool,
    role: Option<Role>,
    profile: ProfileArgs,
) -> Result<(), CliError> {
    let source = password_source(set_password, password_stdin);
    let name = prompt::username(ctx.input, username)?;
    let password = if register {
        Secret::default()
    } else {
        prompt::new_password(
            ctx.input,
            source,
            &name,
            "use --password-stdin, or --register to give the user a registration code instead",
        )?
    };
    let request = CreateUser {
        name,
        display_name: profile.display_name.unwrap_or_default(),
        role: role.into(),
        home: profile.home.unwrap_or_default(),
        shell: profile.shell.unwrap_or_default(),
        register,
    };
    let users = ctx.client.users().await?;
    let created = users
        .create(&request, password.expose())
        .await
        .map_err(|e| ctx.client.error(e))?;
    print!("{}", render_created(created, ctx.now));
    Ok(())
}

/// What `create` and `password --reset` print. The registration code is
/// the one secret the CLI ever prints: it is shown once, to the admin who
/// must hand it over.
pub fn render_created(created: Created, now: i64) -> String {
    let Created {
        user,
        registration_code,
        code_expires,
    } = created;
    let code = Secret::new(registration_code);
    let mut out = String::new();
    if code.is_empty() {
        out.push_str(&format!(
            "User \"{}\" created (uid {}, role {}).\n",
            user.name, user.uid, user.role
        ));
        if user.role != Role::Admin && user.grants.is_empty() {
            out.push_str(&format!(
                "\"{0}\" has no grants yet: `roster users grant {0} write` lets them log in to this environment's hosts.\n",
                user.name
            ));
        }
        return out;
    }
    out.push_str(&format!(
        "User \"{}\" (uid {}, role {}) is pending registration.\n",
        user.name, user.uid, user.role
    ));
    let expiry = if code_expires > 0 {
        format!(
            "; it expires {} ({})",
            time::until(code_expires, now),
            time::timestamp(code_expires)
        )
    } else {
        String::new()
    };
    out.push_str(&format!(
        "Registration code (shown only now, single use{expiry}):\n\n    {}\n\n",
        code.expose()
    ));
    out.push_str(&format!(
        "Give it to {0} privately. {0} finishes by running `roster register` on this host and entering the code, \
         or by logging in and typing the code at the password prompt; then they choose a password.\n",
        user.name
    ));
    out
}

pub async fn edit(
    ctx: &mut Ctx<'_>,
    name: String,
    password: NewPasswordArgs,
    role: Option<Role>,
    profile: ProfileArgs,
) -> Result<(), CliError> {
    // Every value is gathered before anything changes, so a mistyped
    // confirmation leaves the user as it was.
    let new_password = if password.set_password.is_some() || password.password_stdin {
        let source = password_source(password.set_password, password.password_stdin);
        Some(prompt::new_password(
            ctx.input,
            source,
            &name,
            "use --password-stdin",
        )?)
    } else {
        None
    };
    let changes = EditUser {
        display_name: profile.display_name.unwrap_or_default(),
        role: role.into(),
        home: profile.home.unwrap_or_default(),
        shell: profile.shell.unwrap_or_default(),
    };
    let users = ctx.client.users().await?;
    // The role goes first (Concourse): the password change voids the
    // user's tokens, and must not come between the two halves of an edit.
    if changes != EditUser::default() {
        let user = users
            .edit(&name, &changes)
            .await
            .map_err(|e| ctx.client.error(e))?;
        println!(
            "User \"{}\" updated: {}.",
            user.name,
            describe_changes(&changes)
        );
    }
    if let Some(new_password) = new_password {
        users
            .set_password(&name, &CurrentPassword::SetByAdmin, new_password.expose())
            .await
            .map_err(|e| ctx.client.error(e))?;
        println!(
            "Password changed for \"{name}\"; their tokens and any registration code no longer work."
        );
    }
    Ok(())
}

fn describe_changes(changes: &EditUser) -> String {
    let mut parts = Vec::new();
    if let Some(role) = *changes.role {
        parts.push(format!("role {role}"));
    }
    if !changes.display_name.is_empty() {
        parts.push(format!("display name \"{}\"", changes.display_name));
    }
    if !changes.home.is_empty() {
        parts.push(format!("home {}", changes.home));
    }
    if !changes.shell.is_empty() {
        parts.push(format!("shell {}", changes.shell));
    }
    parts.join(", ")
}

pub async fn password(
    ctx: &mut Ctx<'_>,
    username: Option<String>,
    password_stdin: bool,
    reset: bool,
) -> Result<(), CliError> {
    let users = ctx.client.users().await?;
    if reset {
        let name = username.ok_or_else(|| {
            CliError::Usage("--reset needs the USERNAME whose registration code to renew".into())
        })?;
        let created = users
            .reset_password(&name)
            .await
            .map_err(|e| ctx.client.error(e))?;
        print!("{}", render_created(created, ctx.now));
        return Ok(());
    }

    let me = users.who_am_i().await.map_err(|e| ctx.client.error(e))?;
    let name = match username {
        Some(name) => name,
        None if !me.user.is_empty() => me.user.clone(),
        None if me.is_root => {
            return Err(CliError::Usage(
                "root is not a Roster user: name the user whose password to set".into(),
            ));
        }
        None => {
            return Err(CliError::Usage(format!(
                "uid {} is not a Roster user: name the user whose password to set",
                me.uid
            )));
        }
    };
    // Your own password takes the current one (as passwd does), so an
    // unlocked terminal left alone can't be used to take the account over.
    // (Root presenting a token acts as the token's user, so it counts too.)
    let own = me.user == name && (!me.is_root || !me.token_id.is_empty());
    let current = if !own {
        CurrentPassword::SetByAdmin
    } else if password_stdin {
        CurrentPassword::Given(prompt::stdin_value(ctx.input, "current password")?)
    } else {
        CurrentPassword::Given(prompt::ask_secret(
            ctx.input,
            "Current password: ",
            "current password",
            "use --password-stdin (the current password on the first line, the new one on the second)",
        )?)
    };
    let source = if password_stdin {
        NewPassword::Stdin
    } else {
        NewPassword::Ask
    };
    let new = prompt::new_password(ctx.input, source, &name, "use --password-stdin")?;
    users
        .set_password(&name, &current, new.expose())
        .await
        .map_err(|e| ctx.client.error(e))?;
    println!("Password changed for \"{name}\".");
    Ok(())
}

pub async fn delete(
    ctx: &mut Ctx<'_>,
    name: String,
    keep_sessions: bool,
    yes: bool,
) -> Result<(), CliError> {
    let users = ctx.client.users().await?;
    if !yes {
        // Refuse early (no terminal) before asking rosterd anything.
        if !ctx.input.interactive() {
            return Err(CliError::Usage(format!(
                "deleting \"{name}\" needs confirmation and there is no terminal to ask on: pass --yes"
            )));
        }
        // Show who is about to go, and fail on a typo before asking.
        let user = users.show(&name).await.map_err(|e| ctx.client.error(e))?;
        let who = if user.display_name.is_empty() {
            format!("\"{}\" (uid {})", user.name, user.uid)
        } else {
            format!(
                "\"{}\" ({}, uid {})",
                user.name,
                clean(&user.display_name),
                user.uid
            )
        };
        let question =
            format!("Delete user {who} for good? Their files keep the uid, which is never reused.");
        if !prompt::confirm(ctx.input, &question, "--yes")? {
            return Err(CliError::Local(format!("\"{name}\" was not deleted")));
        }
    }
    let result = users
        .delete(&name, keep_sessions)
        .await
        .map_err(|e| ctx.client.error(e))?;
    println!(
        "User \"{name}\" deleted; {}.",
        sessions_clause(&result, keep_sessions)
    );
    Ok(())
}

/// What happened to the user's sessions, for delete and suspend.
fn sessions_clause(result: &roster_client::Ended, kept: bool) -> String {
    if kept {
        format!(
            "{} left running (--keep-sessions)",
            count(result.sessions, "live session", "live sessions")
        )
    } else {
        ended(result)
    }
}

pub async fn suspend(ctx: &mut Ctx<'_>, name: String, keep_sessions: bool) -> Result<(), CliError> {
    let users = ctx.client.users().await?;
    let result = users
        .suspend(&name, keep_sessions)
        .await
        .map_err(|e| ctx.client.error(e))?;
    println!(
        "User \"{name}\" suspended: logins refused, tokens void; {}.",
        sessions_clause(&result, keep_sessions)
    );
    Ok(())
}

pub async fn enable(ctx: &mut Ctx<'_>, name: String) -> Result<(), CliError> {
    let users = ctx.client.users().await?;
    let user = users.enable(&name).await.map_err(|e| ctx.client.error(e))?;
    println!("User \"{}\" enabled.", user.name);
    Ok(())
}

pub async fn unlock(ctx: &mut Ctx<'_>, name: String) -> Result<(), CliError> {
    let users = ctx.client.users().await?;
    let user = users.unlock(&name).await.map_err(|e| ctx.client.error(e))?;
    println!("User \"{}\" unlocked: failed attempts cleared.", user.name);
    Ok(())
}

pub async fn list(ctx: &mut Ctx<'_>, all: bool, as_json: bool) -> Result<(), CliError> {
    let users = ctx.client.users().await?;
    let mut list = users.list(all).await.map_err(|e| ctx.client.error(e))?;
    list.sort_by(|a, b| a.name.cmp(&b.name));
    // An enrolled host answers from its cache: said when it is stale.
    super::fleet::say_if_stale(ctx).await;
    if as_json {
        let out: Vec<json::User> = list.iter().map(json::User::from).collect();
        return print_json(&out);
    }
    print!("{}", render_list(&list, ctx.now));
    Ok(())
}

/// Juju's `users` table; states other than active are marked after the
/// last login ("never (suspended)").
pub fn render_list(users: &[UserInfo], now: i64) -> String {
    if users.is_empty() {
        return "No users to show.\n".to_owned();
    }
    let mut table = Table::new(&["Name", "Display name", "Role", "Created", "Last login"]);
    for user in users {
        let mut last = time::ago(user.last_login, now);
        if user.state != UserState::Active {
            last.push_str(&format!(" ({})", user.state));
        }
        table.row(vec![
            user.name.clone(),
            user.display_name.clone(),
            user.role.to_string(),
            time::ago(user.created, now),
            last,
        ]);
    }
    table.render()
}

pub async fn show(ctx: &mut Ctx<'_>, name: String, as_json: bool) -> Result<(), CliError> {
    let users = ctx.client.users().await?;
    let user = users.show(&name).await.map_err(|e| ctx.client.error(e))?;
    let stale = super::fleet::say_if_stale(ctx).await;
    if as_json {
        let mut out = serde_json::to_value(json::User::from(&user))
            .map_err(|e| CliError::Local(format!("can't write JSON: {e}")))?;
        // Only from a stale cache: seconds since the controller answered
        // (null: never).
        if let (Some(age), Some(fields)) = (stale, out.as_object_mut()) {
            fields.insert(
                "cache_age_secs".into(),
                (age != i64::MAX).then_some(age).into(),
            );
        }
        return print_json(&out);
    }
    print!("{}", render_show(&user, ctx.now));
    // An adopted crypt hash (`roster users import`) is said; an older
    // rosterd without the Import interface says nothing.
    if let Ok(import) = ctx.client.import().await
        && let Ok(kind) = import.password_kind(&name).await
        && kind.starts_with("legacy")
    {
        println!("password hash: {kind}");
    }
    Ok(())
}

/// A relative time with the exact one after it.
fn when(t: i64, now: i64) -> String {
    if t <= 0 {
        time::ago(t, now)
    } else {
        format!("{} ({})", time::ago(t, now), time::timestamp(t))
    }
}

pub fn render_show(user: &UserInfo, now: i64) -> String {
    let password = if user.password_changed > 0 {
        format!("set {}", when(user.password_changed, now))
    } else if user.state == UserState::Pending {
        "none yet (waiting for the registration code)".to_owned()
    } else {
        "none".to_owned()
    };
    let locked = if user.locked_until > now {
        format!(
            "until {} ({})",
            time::timestamp(user.locked_until),
            time::until(user.locked_until, now)
        )
    } else {
        "no".to_owned()
    };
    let mut out = fields(&[
        ("name", user.name.clone()),
        ("display name", user.display_name.clone()),
        ("role", user.role.to_string()),
        ("state", user.state.to_string()),
        ("uid", user.uid.to_string()),
        ("home", user.home.clone()),
        ("shell", user.shell.clone()),
        ("created", when(user.created, now)),
        ("last login", when(user.last_login, now)),
        ("password", password),
        ("locked", locked),
    ]);
    if user.grants.is_empty() {
        let none = if user.role == Role::Admin {
            "grants:        none (role admin: everything, everywhere)\n"
        } else {
            "grants:        none\n"
        };
        out.push_str(none);
    } else {
        out.push_str("grants:\n");
        let mut table = Table::new(&["  Environment", "Level"]);
        for grant in &user.grants {
            table.row(vec![
                format!("  {}", grant.environment),
                grant.level.to_string(),
            ]);
        }
        out.push_str(&table.render());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_client::GrantInfo;

    const NOW: i64 = 1_800_000_000;

    fn user(name: &str, state: &str, last_login: i64) -> UserInfo {
        UserInfo {
            name: name.into(),
            display_name: String::new(),
            role: Role::User,
            state: state.parse().expect("a state word"),
            uid: 1_879_048_193,
            home: format!("/home/{name}"),
            shell: "/bin/bash".into(),
            created: NOW - 17 * 60,
            last_login,
            password_changed: NOW - 17 * 60,
            locked_until: 0,
            grants: vec![],
        }
    }

    #[test]
    fn the_list_reads_like_jujus() {
        let mut admin = user("admin", "active", NOW - 5);
        admin.role = Role::Admin;
        admin.display_name = "The Admin".into();
        let out = render_list(
            &[
                admin,
                user("mike", "suspended", 0),
                user("pat", "pending", 0),
            ],
            NOW,
        );
        assert_eq!(
            out,
            "Name   Display name  Role   Created         Last login\n\
             admin  The Admin     admin  17 minutes ago  just now\n\
             mike                 user   17 minutes ago  never (suspended)\n\
             pat                  user   17 minutes ago  never (pending)\n"
        );
    }

    #[test]
    fn an_empty_list_says_so() {
        assert_eq!(render_list(&[], NOW), "No users to show.\n");
    }

    #[test]
    fn show_prints_every_public_field_and_the_grants() {
        let mut bob = user("bob", "active", NOW - 3 * 3600);
        bob.display_name = "Bob B".into();
        bob.grants = vec![
            GrantInfo {
                environment: "default".into(),
                level: roster_client::Level::Write,
            },
            GrantInfo {
                environment: "staging".into(),
                level: roster_client::Level::Status,
            },
        ];
        bob.locked_until = NOW + 600;
        let out = render_show(&bob, NOW);
        for want in [
            "name:          bob\n",
            "display name:  Bob B\n",
            "role:          user\n",
            "state:         active\n",
            "uid:           1879048193\n",
            "home:          /home/bob\n",
            "shell:         /bin/bash\n",
            "created:       17 minutes ago (",
            "last login:    3 hours ago (",
            "password:      set 17 minutes ago",
            "locked:        until ",
            "(in 10 minutes)",
            "grants:\n",
            "  default      write\n",
            "  staging      status\n",
        ] {
            assert!(out.contains(want), "missing {want:?} in\n{out}");
        }
    }

    #[test]
    fn show_explains_an_admin_without_grants_and_a_pending_password() {
        let mut pat = user("pat", "pending", 0);
        pat.password_changed = 0;
        pat.role = Role::Admin;
        let out = render_show(&pat, NOW);
        assert!(out.contains("last login:    never\n"), "{out}");
        assert!(
            out.contains("password:      none yet (waiting for the registration code)"),
            "{out}"
        );
        assert!(out.contains("locked:        no\n"), "{out}");
        assert!(out.contains("grants:        none (role admin"), "{out}");
    }

    #[test]
    fn a_created_user_with_a_password_gets_a_grant_hint() {
        let created = Created {
            user: user("bob", "active", 0),
            registration_code: String::new(),
            code_expires: 0,
        };
        let out = render_created(created, NOW);
        assert!(
            out.starts_with("User \"bob\" created (uid 1879048193, role user).\n"),
            "{out}"
        );
        assert!(out.contains("roster users grant bob write"), "{out}");
    }

    #[test]
    fn a_registration_code_is_shown_once_with_what_to_do() {
        let created = Created {
            user: user("bob", "pending", 0),
            registration_code: "RC1-ABCD-EFGH".into(),
            code_expires: NOW + 72 * 3600,
        };
        let out = render_created(created, NOW);
        assert!(out.contains("pending registration"), "{out}");
        assert!(out.contains("\n    RC1-ABCD-EFGH\n"), "{out}");
        assert!(out.contains("expires in 3 days"), "{out}");
        assert!(out.contains("roster register"), "{out}");
        assert!(out.contains("password prompt"), "{out}");
    }

    #[test]
    fn edits_are_described_role_first() {
        let changes = EditUser {
            display_name: "Bob".into(),
            role: Some(Role::Admin).into(),
            home: String::new(),
            shell: "/bin/zsh".into(),
        };
        assert_eq!(
            describe_changes(&changes),
            "role admin, display name \"Bob\", shell /bin/zsh"
        );
    }

    #[test]
    fn kept_sessions_are_counted_not_ended() {
        let e = roster_client::Ended {
            sessions: 2,
            processes: 0,
        };
        assert_eq!(
            sessions_clause(&e, true),
            "2 live sessions left running (--keep-sessions)"
        );
        let e = roster_client::Ended {
            sessions: 1,
            processes: 4,
        };
        assert_eq!(sessions_clause(&e, false), "ended 1 session (4 processes)");
    }
}
