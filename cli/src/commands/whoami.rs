//! `roster whoami`: who rosterd thinks the caller is.

use super::{Ctx, print_json};
use crate::errors::CliError;
use crate::output::json;
use crate::output::table::fields;
use roster_client::{Role, Scope, WhoAmI};

pub async fn run(ctx: &mut Ctx<'_>, as_json: bool) -> Result<(), CliError> {
    let users = ctx.client.users().await?;
    let me = users.who_am_i().await.map_err(|e| ctx.client.error(e))?;
    if as_json {
        return print_json(&json::Identity::from(&me));
    }
    print!("{}", render(&me));
    Ok(())
}

pub fn render(me: &WhoAmI) -> String {
    let user = if !me.user.is_empty() {
        format!("{} (role {})", me.user, me.role.map_or("", Role::as_str))
    } else if me.is_root {
        "root (not a Roster user; a full admin)".to_owned()
    } else {
        "none (this uid is not a Roster user)".to_owned()
    };
    let login_uid = if me.login_uid == u32::MAX {
        "unset".to_owned()
    } else {
        me.login_uid.to_string()
    };
    let grants = if me.grants.is_empty() {
        "none".to_owned()
    } else {
        me.grants
            .iter()
            .map(|g| format!("{} in {}", g.level, g.environment))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let mut pairs = vec![
        ("user", user),
        ("uid", me.uid.to_string()),
        ("login uid", login_uid),
        ("environment", format!("{} (this host)", me.environment)),
        ("grants", grants),
    ];
    if !me.token_id.is_empty() {
        let scope = me.token_scope.map_or("", Scope::as_str);
        pairs.push(("token", format!("{} ({scope})", me.token_id)));
    }
    fields(&pairs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_client::GrantInfo;

    fn me() -> WhoAmI {
        WhoAmI {
            uid: 1_879_048_193,
            login_uid: 1000,
            user: "bob".into(),
            role: Some(Role::User).into(),
            is_root: false,
            token_id: String::new(),
            token_scope: None.into(),
            environment: "default".into(),
            grants: vec![GrantInfo {
                environment: "default".into(),
                level: roster_client::Level::Write,
            }],
        }
    }

    #[test]
    fn a_user_sees_role_and_grants() {
        let out = render(&me());
        assert!(out.contains("user:         bob (role user)\n"), "{out}");
        assert!(out.contains("grants:       write in default\n"), "{out}");
        assert!(out.contains("environment:  default (this host)\n"), "{out}");
        assert!(!out.contains("token"), "{out}");
    }

    #[test]
    fn root_and_strangers_are_named() {
        let mut root = me();
        root.user.clear();
        *root.role = None;
        root.is_root = true;
        root.uid = 0;
        root.login_uid = u32::MAX;
        root.grants.clear();
        let out = render(&root);
        assert!(out.contains("root (not a Roster user"), "{out}");
        assert!(out.contains("login uid:    unset"), "{out}");
        let mut stranger = root.clone();
        stranger.is_root = false;
        assert!(render(&stranger).contains("not a Roster user"));
    }

    #[test]
    fn a_token_is_shown_by_id_and_scope() {
        let mut with_token = me();
        with_token.token_id = "rt_1234".into();
        with_token.token_scope = Some(Scope::ReadOnly).into();
        assert!(render(&with_token).contains("token:        rt_1234 (read-only)\n"));
    }
}
