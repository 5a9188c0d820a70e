//! What a fleet host receives (DESIGN.md "What a host receives"): the
//! rule, decided from the host's environment as the controller's row of
//! it says, never from anything the host asks for. The controller
//! projects every change and every snapshot through here; rosterd in
//! fleet mode applies what comes out.

use crate::clock::{BootTime, Timestamp};
use crate::level::Level;
use crate::model::{Role, User, UserState};
use crate::store::KeyRow;
use base64ct::{Base64, Encoding};
use roster_fleet_protocol::{EnvironmentView, HostKey, HostUser, IdRange, PasswordView};
use std::time::Duration;

/// The default `offline_grace`: a day of logins from the cache after the
/// last answer.
pub const DEFAULT_OFFLINE_GRACE: Duration = Duration::from_secs(24 * 60 * 60);

/// The settings of one environment that the controller decides for its
/// hosts (`roster-controller environments set E key=value…`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EnvironmentPolicy {
    /// The level that may log in on the environment's hosts.
    pub login_level: Level,
    /// How long logins go on from the cache with no answer; zero = none.
    pub offline_grace: Duration,
    /// uid 0 on a host of this environment has the rights of an `admin`
    /// holder of it (a migration aid; never a role admin's rights).
    pub host_root_is_admin: bool,
}

impl Default for EnvironmentPolicy {
    fn default() -> Self {
        EnvironmentPolicy {
            login_level: Level::Write,
            offline_grace: DEFAULT_OFFLINE_GRACE,
            host_root_is_admin: false,
        }
    }
}

impl EnvironmentPolicy {
    pub fn view(&self, environment: &str) -> EnvironmentView {
        EnvironmentView {
            name: environment.to_string(),
            login_level: self.login_level.as_str().to_string(),
            offline_grace_secs: self.offline_grace.as_secs(),
            host_root_is_admin: self.host_root_is_admin,
        }
    }
}

/// Whether the hosts of `environment` receive the user's password hash
/// and SSH keys: `user`-role users who may log in there (at or above
/// its login level), active or pending (a pending user's hash arrives
/// with its registration). Role admins may log in everywhere, but their
/// hashes are not spread to every host: they are verified online at their
/// first login on a host and cached there until the next password change.
pub fn host_receives_credentials(user: &User, environment: &str, login_level: Level) -> bool {
    user.role == Role::User
        && matches!(user.state, UserState::Active | UserState::Pending)
        && user
            .level_in(environment)
            .is_some_and(|held| held >= login_level)
}

/// The user as a host of `environment` sees it: every user's public entry
/// with state and role, the grant in that environment only, the "password
/// changed" mark always, and the hash and keys only when
/// [`host_receives_credentials`]. `hash` and `keys` are what the store
/// holds; this decides whether they go.
pub fn project_user(
    user: &User,
    environment: &str,
    policy: &EnvironmentPolicy,
    hash: Option<&str>,
    keys: &[KeyRow],
) -> HostUser {
    let credentials = host_receives_credentials(user, environment, policy.login_level);
    projected(user, environment, credentials, hash, keys)
}

/// The user as a host of `environment` receives it after a login there
/// checked online by the controller: hash and keys go whenever the user
/// may log in there ([`crate::rules::may_log_in_here`]), a role admin
/// included, so the host caches them until the next "password changed".
pub fn project_after_online_login(
    user: &User,
    environment: &str,
    policy: &EnvironmentPolicy,
    hash: Option<&str>,
    keys: &[KeyRow],
) -> HostUser {
    let credentials = crate::rules::may_log_in_here(user, environment, policy.login_level);
    projected(user, environment, credentials, hash, keys)
}

fn projected(
    user: &User,
    environment: &str,
    credentials: bool,
    hash: Option<&str>,
    keys: &[KeyRow],
) -> HostUser {
    HostUser {
        uid: user.uid,
        name: user.name.clone(),
        display_name: user.display_name.clone(),
        role: user.role.as_str().to_string(),
        state: user.state.as_str().to_string(),
        home: user.home.clone(),
        shell: user.shell.clone(),
        level: user
            .level_in(environment)
            .map(|level| level.as_str().to_string()),
        password: PasswordView {
            changed: user.password_changed,
            hash: hash.filter(|_| credentials).map(str::to_string),
        },
        keys: if credentials {
            keys.iter().map(host_key).collect()
        } else {
            Vec::new()
        },
    }
}

/// The name of a `roster login` session's token: it records the host it
/// was made on (its name and its id, which a later host of the same name
/// doesn't share), the only host it works from.
pub fn session_name(host: &str, host_id: i64) -> String {
    format!("{SESSION_PREFIX}{host}#{host_id}")
}

const SESSION_PREFIX: &str = "login session on ";

/// Whether a token is a `roster login` session.
pub fn is_session(token: &crate::model::Token) -> bool {
    token.name.starts_with(SESSION_PREFIX)
}

/// A session made by `roster login` is bound to its host's certificate:
/// used from any other host it is refused, so a session copied off one
/// machine is worth nothing elsewhere. Other tokens work from any host.
pub fn token_usable_from(token: &crate::model::Token, host: &str, host_id: i64) -> bool {
    match token.name.strip_prefix(SESSION_PREFIX) {
        Some(bound) => bound == format!("{host}#{host_id}"),
        None => true,
    }
}

/// The first of a joining host's own id ranges (login.defs, subordinate
/// ids) that overlaps the fleet's uid range `min..=max`: such a host
/// would hand out, or map, ids the fleet gives its users, so it can't
/// join until one of the two moves (DESIGN.md "Fleet-wide rules"). The
/// Roster range the host had as a standalone host (`uid`, `gid`) is not
/// its own: in the fleet the controller's replaces it.
pub fn overlapping_range(min: u32, max: u32, ranges: &[IdRange]) -> Option<&IdRange> {
    use roster_fleet_protocol::RangeKind;
    ranges.iter().find(|range| {
        if matches!(range.kind, RangeKind::Uid | RangeKind::Gid) {
            return false;
        }
        let Some(last) = range.count.checked_sub(1) else {
            return false;
        };
        let end = range.first.saturating_add(last);
        range.first <= max && end >= min
    })
}

/// When a fleet host last had an answer from a controller (a heartbeat
/// counts), as its clocks read then.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LastAnswer {
    /// The wall clock then.
    pub wall: Timestamp,
    /// `CLOCK_BOOTTIME` then.
    pub boot: BootTime,
    /// The latest wall-clock time the host has seen since (kept as it
    /// runs): across a reboot a clock set back can't make the time offline
    /// look shorter than what was already seen.
    pub wall_seen: Timestamp,
}

/// With `offline_grace` zero a login still needs an answer this recent.
pub const NO_GRACE_ANSWER_AGE: Duration = Duration::from_secs(60);

/// How long the host has gone without an answer, as of `now_wall` and
/// `now_boot` (DESIGN.md "Offline"): on `CLOCK_BOOTTIME` within one boot
/// (it runs through suspend and can't be set), on the wall clock across a
/// reboot, never less than the wall time already seen allows: setting a
/// clock back extends nothing.
pub fn offline_for(last: &LastAnswer, now_wall: Timestamp, now_boot: &BootTime) -> Duration {
    let same_boot = !now_boot.boot_id.is_empty() && now_boot.boot_id == last.boot.boot_id;
    let millis = if same_boot {
        now_boot
            .since_boot_ms
            .saturating_sub(last.boot.since_boot_ms)
    } else {
        now_wall
            .max(last.wall_seen)
            .saturating_sub(last.wall)
            .saturating_mul(1000)
    };
    Duration::from_millis(u64::try_from(millis).unwrap_or(0))
}

/// Whether logins from the cache may go on after `offline` without an
/// answer under `grace` (zero: only with an answer from the last
/// [`NO_GRACE_ANSWER_AGE`]).
pub fn within_offline_grace(grace: Duration, offline: Duration) -> bool {
    if grace.is_zero() {
        offline <= NO_GRACE_ANSWER_AGE
    } else {
        offline <= grace
    }
}

fn host_key(key: &KeyRow) -> HostKey {
    HostKey {
        key_type: key.key_type.clone(),
        blob: Base64::encode_string(&key.blob),
        comment: key.comment.clone(),
        fingerprint: key.fingerprint.clone(),
        added: key.added,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeMap;

    fn user(role: Role, state: UserState, grants: &[(&str, Level)]) -> User {
        User {
            name: "alice".into(),
            display_name: "Alice".into(),
            role,
            state,
            uid: 60001,
            home: "/home/alice".into(),
            shell: "/bin/bash".into(),
            created: 1,
            last_login: None,
            password_changed: Some(7),
            locked_until: None,
            grants: grants
                .iter()
                .map(|(environment, level)| (environment.to_string(), *level))
                .collect::<BTreeMap<_, _>>(),
        }
    }

    fn key() -> KeyRow {
        KeyRow {
            key_type: "ssh-ed25519".into(),
            blob: vec![1, 2, 3],
            comment: "alice@laptop".into(),
            fingerprint: "SHA256:x".into(),
            added: 5,
        }
    }

    #[test]
    fn a_user_who_may_log_in_there_comes_with_hash_and_keys() {
        let alice = user(Role::User, UserState::Active, &[("prod", Level::Write)]);
        let seen = project_user(
            &alice,
            "prod",
            &EnvironmentPolicy::default(),
            Some("$argon2id$x"),
            &[key()],
        );
        assert_eq!(seen.password.hash.as_deref(), Some("$argon2id$x"));
        assert_eq!(seen.password.changed, Some(7));
        assert_eq!(seen.keys.len(), 1);
        assert_eq!(seen.keys[0].blob, "AQID");
        assert_eq!(seen.level.as_deref(), Some("write"));
    }

    #[test]
    fn below_the_login_level_or_elsewhere_only_the_entry_and_the_mark_go() {
        let policy = EnvironmentPolicy::default();
        for alice in [
            user(Role::User, UserState::Active, &[("prod", Level::Read)]),
            user(Role::User, UserState::Active, &[("dev", Level::Admin)]),
            user(Role::User, UserState::Suspended, &[("prod", Level::Admin)]),
        ] {
            let seen = project_user(&alice, "prod", &policy, Some("$argon2id$x"), &[key()]);
            assert_eq!(seen.password.hash, None, "{alice:?}");
            assert_eq!(seen.password.changed, Some(7), "the mark always goes");
            assert!(seen.keys.is_empty());
            assert_eq!(seen.name, "alice");
        }
    }

    #[test]
    fn other_environments_grants_never_go() {
        let alice = user(
            Role::User,
            UserState::Active,
            &[("dev", Level::Admin), ("prod", Level::Write)],
        );
        let seen = project_user(&alice, "dev", &EnvironmentPolicy::default(), None, &[]);
        assert_eq!(seen.level.as_deref(), Some("admin"));
        let json = format!("{seen:?}");
        assert!(!json.contains("prod"), "{json}");
    }

    #[test]
    fn role_admins_hashes_are_not_spread_but_checked_online() {
        let root_like = user(Role::Admin, UserState::Active, &[("prod", Level::Admin)]);
        let seen = project_user(
            &root_like,
            "prod",
            &EnvironmentPolicy::default(),
            Some("$argon2id$x"),
            &[key()],
        );
        assert_eq!(seen.password.hash, None);
        assert!(seen.keys.is_empty());
        assert_eq!(seen.role, "admin");
        // Checked online at a login there: cached from then on.
        let policy = EnvironmentPolicy::default();
        let after =
            project_after_online_login(&root_like, "prod", &policy, Some("$argon2id$x"), &[key()]);
        assert_eq!(after.password.hash.as_deref(), Some("$argon2id$x"));
        // Never for someone who may not log in there.
        let suspended = user(Role::Admin, UserState::Suspended, &[]);
        let after =
            project_after_online_login(&suspended, "prod", &policy, Some("$argon2id$x"), &[]);
        assert_eq!(after.password.hash, None);
    }

    #[test]
    fn a_session_works_from_its_own_host_only() {
        let token = crate::model::Token {
            id: "abcdefgh".into(),
            user: "alice".into(),
            uid: 60001,
            name: session_name("web-1", 7),
            scope: crate::model::Scope::Full,
            created: 0,
            last_used: None,
            expires: Some(8 * 3600),
        };
        assert!(is_session(&token));
        assert!(token_usable_from(&token, "web-1", 7));
        assert!(!token_usable_from(&token, "web-2", 7));
        assert!(
            !token_usable_from(&token, "web-1", 8),
            "a later host of the same name"
        );
        let api = crate::model::Token {
            name: "ci".into(),
            ..token
        };
        assert!(!is_session(&api));
        assert!(token_usable_from(&api, "web-2", 9));
    }

    #[test]
    fn a_hosts_range_overlapping_the_fleets_is_found() {
        use roster_fleet_protocol::RangeKind;
        let range = |first, count| IdRange {
            kind: RangeKind::Subuid,
            first,
            count,
        };
        let fleet = (1_879_048_193, 1_895_825_407);
        let clear = [
            range(100_000, 65_536),
            range(1000, 59_000),
            range(1_879_048_100, 93),
            range(5, 0),
        ];
        assert_eq!(overlapping_range(fleet.0, fleet.1, &clear), None);
        let touching = [range(100_000, 65_536), range(1_879_048_100, 94)];
        assert_eq!(
            overlapping_range(fleet.0, fleet.1, &touching),
            Some(&touching[1])
        );
        let inside = [range(1_880_000_000, 65_536)];
        assert!(overlapping_range(fleet.0, fleet.1, &inside).is_some());
        let around = [range(0, u32::MAX)];
        assert!(overlapping_range(fleet.0, fleet.1, &around).is_some());
        // A standalone host's own Roster range is the fleet's: not a clash.
        let standalone = [IdRange {
            kind: RangeKind::Uid,
            first: 1_879_048_193,
            count: 16_777_215,
        }];
        assert_eq!(overlapping_range(fleet.0, fleet.1, &standalone), None);
    }

    #[test]
    fn a_pending_user_qualifies_and_the_login_level_is_the_environments() {
        let bob = user(Role::User, UserState::Pending, &[("prod", Level::Read)]);
        let strict = EnvironmentPolicy::default();
        let open = EnvironmentPolicy {
            login_level: Level::Read,
            ..EnvironmentPolicy::default()
        };
        assert!(!host_receives_credentials(&bob, "prod", strict.login_level));
        assert!(host_receives_credentials(&bob, "prod", open.login_level));
    }

    fn boot(id: &str, secs: i64) -> BootTime {
        BootTime {
            boot_id: id.into(),
            since_boot_ms: secs * 1000,
        }
    }

    fn answered(wall: Timestamp, boot_secs: i64) -> LastAnswer {
        LastAnswer {
            wall,
            boot: boot("b1", boot_secs),
            wall_seen: wall,
        }
    }

    #[test]
    fn offline_time_runs_on_boottime_within_a_boot_whatever_the_wall_clock_says() {
        let last = answered(1_000_000, 50);
        // The wall clock set back a day: boottime still says an hour.
        let offline = offline_for(&last, 1_000_000 - 86_400, &boot("b1", 50 + 3_600));
        assert_eq!(offline, Duration::from_secs(3_600));
        assert!(within_offline_grace(Duration::from_secs(7_200), offline));
        assert!(!within_offline_grace(Duration::from_secs(1_800), offline));
    }

    #[test]
    fn across_a_reboot_the_wall_clock_counts_and_setting_it_back_extends_nothing() {
        let mut last = answered(1_000_000, 50);
        last.wall_seen = 1_000_000 + 7_200;
        // After the reboot the clock reads earlier than what was seen.
        let offline = offline_for(&last, 1_000_000 + 60, &boot("b2", 5));
        assert_eq!(offline, Duration::from_secs(7_200));
        let later = offline_for(&last, 1_000_000 + 10_000, &boot("b2", 5));
        assert_eq!(later, Duration::from_secs(10_000));
        // An unknown boot (no /proc) is a reboot, never a shorter time.
        let unknown = offline_for(&last, 1_000_000 + 10_000, &boot("", 999_999));
        assert_eq!(unknown, Duration::from_secs(10_000));
    }

    #[test]
    fn a_zero_grace_allows_only_an_answer_from_the_last_minute() {
        assert!(within_offline_grace(
            Duration::ZERO,
            Duration::from_secs(59)
        ));
        assert!(!within_offline_grace(
            Duration::ZERO,
            Duration::from_secs(61)
        ));
        assert!(within_offline_grace(
            DEFAULT_OFFLINE_GRACE,
            Duration::from_secs(86_399)
        ));
        assert!(!within_offline_grace(
            DEFAULT_OFFLINE_GRACE,
            Duration::from_secs(86_401)
        ));
    }
}
