//! `--json`: the machine-readable form of every read command.
//!
//! The CLI defines its own output structures instead of serialising the
//! wire types, so the JSON stays stable when the D-Bus types grow, and so
//! that nothing secret can reach it by a new field: these structures have
//! no field for a hash, a password, a code or a token secret. Times are
//! seconds since the Unix epoch; `null` means never (or no expiry).

use roster_client::{
    EnvironmentInfo, GrantInfo, KeyInfo, Level, Role, Scope, SessionInfo, TokenInfo, UserInfo,
    UserState, WhoAmI,
};
use serde::Serialize;

fn time(t: i64) -> Option<i64> {
    (t > 0).then_some(t)
}

#[derive(Debug, Serialize, PartialEq, Eq)]
pub struct Grant {
    pub environment: String,
    pub level: Level,
}

impl From<&GrantInfo> for Grant {
    fn from(g: &GrantInfo) -> Self {
        Grant {
            environment: g.environment.clone(),
            level: g.level,
        }
    }
}

#[derive(Debug, Serialize)]
pub struct User {
    pub name: String,
    pub display_name: String,
    pub role: Role,
    pub state: UserState,
    pub uid: u32,
    pub home: String,
    pub shell: String,
    pub created: Option<i64>,
    pub last_login: Option<i64>,
    pub password_changed: Option<i64>,
    pub locked_until: Option<i64>,
    pub grants: Vec<Grant>,
}

impl From<&UserInfo> for User {
    fn from(u: &UserInfo) -> Self {
        User {
            name: u.name.clone(),
            display_name: u.display_name.clone(),
            role: u.role,
            state: u.state,
            uid: u.uid,
            home: u.home.clone(),
            shell: u.shell.clone(),
            created: time(u.created),
            last_login: time(u.last_login),
            password_changed: time(u.password_changed),
            locked_until: time(u.locked_until),
            grants: u.grants.iter().map(Grant::from).collect(),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Session {
    pub id: i64,
    pub user: String,
    pub uid: u32,
    pub service: String,
    pub tty: String,
    pub remote_host: String,
    pub leader_pid: u32,
    pub started: Option<i64>,
    pub ended: Option<i64>,
}

impl From<&SessionInfo> for Session {
    fn from(s: &SessionInfo) -> Self {
        Session {
            id: s.id,
            user: s.user.clone(),
            uid: s.uid,
            service: s.service.clone(),
            tty: s.tty.clone(),
            remote_host: s.remote_host.clone(),
            leader_pid: s.leader_pid,
            started: time(s.started),
            ended: time(s.ended),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Environment {
    pub name: String,
    pub created: Option<i64>,
    pub grants: u32,
    pub this_host: bool,
}

impl From<&EnvironmentInfo> for Environment {
    fn from(e: &EnvironmentInfo) -> Self {
        Environment {
            name: e.name.clone(),
            created: time(e.created),
            grants: e.grants,
            this_host: e.this_host,
        }
    }
}

/// `roster hosts status --json`: times as seconds since the epoch (`null`
/// when unknown).
#[derive(Debug, Serialize)]
pub struct FleetStatus {
    pub enrolled: bool,
    pub hostname: Option<String>,
    pub environment: Option<String>,
    pub controllers: Vec<String>,
    pub ca_fingerprint: Option<String>,
    pub epoch: Option<String>,
    pub cursor: Option<i64>,
    pub login_level: Option<String>,
    pub last_answer: Option<i64>,
    pub offline_for_secs: Option<u64>,
    pub offline_grace_secs: Option<u64>,
    pub within_grace: Option<bool>,
    pub grace_ends: Option<i64>,
    pub certificate_not_after: Option<i64>,
    pub clock_offset_secs: Option<i64>,
    pub last_error: Option<String>,
    pub last_error_at: Option<i64>,
    pub reports_waiting: u64,
    pub revoked: bool,
    /// When the controller said so; `null` when not revoked (or unknown).
    pub revoked_at: Option<i64>,
    /// The controller that answers now; `null`: none does.
    pub controller: Option<String>,
    /// The host's certificate's subject (`CN=…, O=…`).
    pub certificate_subject: Option<String>,
}

fn text(value: &str) -> Option<String> {
    (!value.is_empty()).then(|| value.to_owned())
}

impl From<&roster_client::FleetStatus> for FleetStatus {
    fn from(s: &roster_client::FleetStatus) -> Self {
        let enrolled = s.enrolled.then_some(());
        let answered = (s.last_answer != 0).then_some(());
        FleetStatus {
            enrolled: s.enrolled,
            hostname: text(&s.hostname),
            environment: text(&s.environment),
            controllers: s.controllers.clone(),
            ca_fingerprint: text(&s.ca_fingerprint),
            epoch: text(&s.epoch),
            cursor: enrolled.map(|()| s.cursor),
            login_level: text(&s.login_level),
            last_answer: time(s.last_answer),
            offline_for_secs: answered.map(|()| s.offline_for_secs),
            offline_grace_secs: enrolled.map(|()| s.offline_grace_secs),
            within_grace: answered.map(|()| s.within_grace),
            grace_ends: time(s.grace_ends),
            certificate_not_after: time(s.certificate_not_after),
            clock_offset_secs: answered.map(|()| s.clock_offset),
            last_error: text(&s.last_error),
            last_error_at: time(s.last_error_at),
            reports_waiting: s.reports_waiting,
            revoked: s.revoked,
            revoked_at: time(s.revoked_at),
            controller: text(&s.controller),
            certificate_subject: text(&s.certificate_subject),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Identity {
    pub uid: u32,
    /// `null` when the kernel keeps no login uid for the caller.
    pub login_uid: Option<u32>,
    /// `null` for root or a uid Roster doesn't know.
    pub user: Option<String>,
    pub role: Option<Role>,
    pub is_root: bool,
    pub token_id: Option<String>,
    pub token_scope: Option<Scope>,
    pub environment: String,
    pub grants: Vec<Grant>,
    /// On a host enrolled with a controller only.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetIdentity>,
}

/// Who an enrolled host is to its fleet, and which controller answers.
#[derive(Debug, Serialize)]
pub struct FleetIdentity {
    pub hostname: String,
    pub environment: String,
    /// `null`: none answers now.
    pub controller: Option<String>,
    pub certificate_subject: Option<String>,
}

impl From<&roster_client::FleetStatus> for FleetIdentity {
    fn from(s: &roster_client::FleetStatus) -> Self {
        FleetIdentity {
            hostname: s.hostname.clone(),
            environment: s.environment.clone(),
            controller: text(&s.controller),
            certificate_subject: text(&s.certificate_subject),
        }
    }
}

fn some(s: &str) -> Option<String> {
    (!s.is_empty()).then(|| s.to_owned())
}

impl From<&WhoAmI> for Identity {
    fn from(w: &WhoAmI) -> Self {
        Identity {
            uid: w.uid,
            login_uid: (w.login_uid != u32::MAX).then_some(w.login_uid),
            user: some(&w.user),
            role: *w.role,
            is_root: w.is_root,
            token_id: some(&w.token_id),
            token_scope: *w.token_scope,
            environment: w.environment.clone(),
            grants: w.grants.iter().map(Grant::from).collect(),
            fleet: None,
        }
    }
}

/// A token as listed: never its secret (the wire type has none either).
#[derive(Debug, Serialize)]
pub struct Token {
    pub id: String,
    pub user: String,
    pub name: String,
    pub scope: Scope,
    pub created: Option<i64>,
    pub last_used: Option<i64>,
    pub expires: Option<i64>,
}

impl From<&TokenInfo> for Token {
    fn from(t: &TokenInfo) -> Self {
        Token {
            id: t.id.clone(),
            user: t.user.clone(),
            name: t.name.clone(),
            scope: t.scope,
            created: time(t.created),
            last_used: time(t.last_used),
            expires: time(t.expires),
        }
    }
}

#[derive(Debug, Serialize)]
pub struct Key {
    pub key_type: String,
    pub bits: u32,
    pub fingerprint: String,
    pub comment: String,
    pub added: Option<i64>,
    pub line: String,
}

impl From<&KeyInfo> for Key {
    fn from(k: &KeyInfo) -> Self {
        Key {
            key_type: k.key_type.clone(),
            bits: k.bits,
            fingerprint: k.fingerprint.clone(),
            comment: k.comment.clone(),
            added: time(k.added),
            line: k.line.clone(),
        }
    }
}

/// Pretty-printed JSON with a final newline.
pub fn render<T: Serialize + ?Sized>(value: &T) -> Result<String, serde_json::Error> {
    let mut text = serde_json::to_string_pretty(value)?;
    text.push('\n');
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bob() -> UserInfo {
        UserInfo {
            name: "bob".into(),
            display_name: "Bob".into(),
            role: Role::User,
            state: UserState::Active,
            uid: 1_879_048_193,
            home: "/home/bob".into(),
            shell: "/bin/bash".into(),
            created: 1_700_000_000,
            last_login: 0,
            password_changed: 1_700_000_100,
            locked_until: 0,
            grants: vec![GrantInfo {
                environment: "default".into(),
                level: Level::Write,
            }],
        }
    }

    #[test]
    fn users_serialise_with_nulls_for_never() {
        let value: serde_json::Value =
            serde_json::from_str(&render(&[User::from(&bob())]).expect("renders")).expect("parses");
        let user = &value[0];
        assert_eq!(user["name"], "bob");
        assert_eq!(user["created"], 1_700_000_000);
        assert!(user["last_login"].is_null());
        assert!(user["locked_until"].is_null());
        assert_eq!(user["grants"][0]["level"], "write");
        let keys: Vec<&String> = user.as_object().expect("object").keys().collect();
        assert!(
            !keys
                .iter()
                .any(|k| k.contains("hash") || k.contains("password\""))
        );
    }

    #[test]
    fn identity_marks_absent_values_null() {
        let w = WhoAmI {
            uid: 0,
            login_uid: u32::MAX,
            user: String::new(),
            role: None.into(),
            is_root: true,
            token_id: String::new(),
            token_scope: None.into(),
            environment: "default".into(),
            grants: vec![],
        };
        let value: serde_json::Value =
            serde_json::from_str(&render(&Identity::from(&w)).expect("renders")).expect("parses");
        assert!(value["login_uid"].is_null());
        assert!(value["user"].is_null());
        assert_eq!(value["is_root"], true);
        assert_eq!(value["environment"], "default");
    }

    #[test]
    fn tokens_have_no_secret_field() {
        let t = TokenInfo {
            id: "rt_abc".into(),
            user: "bob".into(),
            name: "ci".into(),
            scope: Scope::ReadOnly,
            created: 1,
            last_used: 0,
            expires: 0,
        };
        let text = render(&Token::from(&t)).expect("renders");
        assert!(!text.contains("secret") && !text.contains("\"token\""));
        assert!(text.contains("\"expires\": null"));
    }
}
