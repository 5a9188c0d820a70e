//! `roster whoami`: who rosterd thinks the caller is, and on a host
//! enrolled with a controller, which controller answers and who the host
//! is to the fleet.

use super::{Ctx, print_json};
use crate::errors::CliError;
use crate::output::json;
use crate::output::table::fields;
use roster_client::{FleetStatus, Role, Scope, WhoAmI};

pub async fn run(ctx: &mut Ctx<'_>, as_json: bool) -> Result<(), CliError> {
    let users = ctx.client.users().await?;
    let me = users.who_am_i().await.map_err(|e| ctx.client.error(e))?;
    // Anyone may ask where the host stands; a rosterd that can't say
    // leaves the fleet lines out rather than failing whoami.
    let fleet = match ctx.client.fleet().await {
        Ok(fleet) => fleet.status().await.ok().filter(|s| s.enrolled),
        Err(_) => None,
    };
    if as_json {
        let mut identity = json::Identity::from(&me);
        identity.fleet = fleet.as_ref().map(json::FleetIdentity::from);
        return print_json(&identity);
    }
    let mut out = render(&me);
    if let Some(fleet) = &fleet {
        out.push_str(&render_fleet(fleet));
    }
    print!("{out}");
    Ok(())
}

/// The controller that answers and the host's fleet identity.
pub fn render_fleet(fleet: &FleetStatus) -> String {
    let controller = if fleet.controller.is_empty() {
        format!(
            "none answers now (tried {}; see `roster hosts status`)",
            fleet.controllers.join(", ")
        )
    } else {
        fleet.controller.clone()
    };
    let identity = if fleet.certificate_subject.is_empty() {
        format!("host {}", fleet.hostname)
    } else {
        format!("host {} ({})", fleet.hostname, fleet.certificate_subject)
    };
    fields(&[("controller", controller), ("fleet identity", identity)])
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
    fn an_enrolled_host_names_its_controller_and_its_identity() {
        let mut fleet = FleetStatus {
            enrolled: true,
            hostname: "web-1".into(),
            controllers: vec!["https://c1:8443".into(), "https://c2:8443".into()],
            controller: "https://c2:8443".into(),
            certificate_subject: "CN=web-1, O=prod".into(),
            ..FleetStatus::default()
        };
        let out = render_fleet(&fleet);
        assert!(
            out.contains("controller:") && out.contains("https://c2:8443\n"),
            "{out}"
        );
        assert!(out.contains("host web-1 (CN=web-1, O=prod)"), "{out}");
        fleet.controller.clear();
        let out = render_fleet(&fleet);
        assert!(out.contains("none answers now"), "{out}");
    }

    #[test]
    fn a_token_is_shown_by_id_and_scope() {
        let mut with_token = me();
        with_token.token_id = "rt_1234".into();
        with_token.token_scope = Some(Scope::ReadOnly).into();
        assert!(render(&with_token).contains("token:        rt_1234 (read-only)\n"));
    }
}
