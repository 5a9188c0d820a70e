//! A fleet host's cache: the users its controller sent, written over the
//! same tables a standalone host uses (so PAM, NSS, the snapshot and every
//! read keep working unchanged), plus where the feed stands and the
//! reports not yet delivered. The rules of what to keep are
//! [`crate::host_cache`]'s; here is only the SQL.

use super::{SqliteTx, corrupt};
use crate::clock::{BootTime, Timestamp};
use crate::fleet::{EnvironmentPolicy, LastAnswer};
use crate::host_cache::{FleetState, QueuedReport};
use crate::level::Level;
use crate::model::{Role, User, UserState, in_admin_group};
use crate::store::KeyRow;
use rusqlite::{OptionalExtension, params};
use std::collections::BTreeSet;
use std::time::Duration;

/// What the NSS snapshot shows of one user (rosterd's snapshot and
/// [`crate::roster::NssView`]): its passwd and group entries (the gid is
/// the uid) and whether it is in the admin group. That membership needs an
/// active user and either the admin role or an `admin` grant in the
/// host's environment: the environments it holds `admin` in are kept
/// whole, so no environment needs naming here.
#[derive(Debug, PartialEq, Eq)]
struct NssFace {
    name: String,
    display_name: String,
    home: String,
    shell: String,
    /// For an active user in some admin group: (role admin, the
    /// environments granting it `admin`).
    admin: Option<(bool, BTreeSet<String>)>,
}

impl NssFace {
    fn of(user: &User) -> NssFace {
        NssFace {
            name: user.name.clone(),
            display_name: user.display_name.clone(),
            home: user.home.clone(),
            shell: user.shell.clone(),
            admin: admin_face(
                user.state,
                user.role,
                user.grants
                    .iter()
                    .filter(|(_, level)| **level == Level::Admin)
                    .map(|(environment, _)| environment.clone())
                    .collect(),
            ),
        }
    }
}

/// [`NssFace::admin`]: none when the user is in no environment's admin
/// group (so a user-role user's suspension shows nothing new).
fn admin_face(
    state: UserState,
    role: Role,
    admin_of: BTreeSet<String>,
) -> Option<(bool, BTreeSet<String>)> {
    // The environments are kept whole, so "in the admin group of some
    // environment" is the rule with an `admin` grant whenever one exists.
    let level = (!admin_of.is_empty()).then_some(Level::Admin);
    in_admin_group(state, role, level).then_some((role == Role::Admin, admin_of))
}

impl SqliteTx<'_> {
    pub fn fleet_state(&self) -> crate::Result<Option<FleetState>> {
        Ok(self
            .conn
            .query_row(
                "SELECT epoch, cursor, environment, login_level, offline_grace, host_root_is_admin, \
                 answered_wall, answered_boot_ms, answered_boot_id, wall_seen, controller_offset \
                 FROM fleet_state WHERE one = 1",
                [],
                |r| {
                    let level: String = r.get(3)?;
                    let grace: i64 = r.get(4)?;
                    Ok(FleetState {
                        epoch: r.get(0)?,
                        cursor: r.get(1)?,
                        environment: r.get(2)?,
                        policy: EnvironmentPolicy {
                            login_level: level
                                .parse::<Level>()
                                .map_err(|_| corrupt("level", &level))?,
                            offline_grace: Duration::from_secs(u64::try_from(grace).unwrap_or(0)),
                            host_root_is_admin: r.get(5)?,
                        },
                        last_answer: LastAnswer {
                            wall: r.get(6)?,
                            boot: BootTime {
                                since_boot_ms: r.get(7)?,
                                boot_id: r.get(8)?,
                            },
                            wall_seen: r.get(9)?,
                        },
                        controller_offset: r.get(10)?,
                    })
                },
            )
            .optional()?)
    }

    pub fn set_fleet_state(&self, state: &FleetState) -> crate::Result<()> {
        let grace = i64::try_from(state.policy.offline_grace.as_secs()).unwrap_or(i64::MAX);
        self.conn.execute(
            "INSERT OR REPLACE INTO fleet_state (one, epoch, cursor, environment, login_level, \
             offline_grace, host_root_is_admin, answered_wall, answered_boot_ms, answered_boot_id, \
             wall_seen, controller_offset) VALUES (1, ?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11)",
            params![
                state.epoch,
                state.cursor,
                state.environment,
                state.policy.login_level.as_str(),
                grace,
                state.policy.host_root_is_admin,
                state.last_answer.wall,
                state.last_answer.boot.since_boot_ms,
                state.last_answer.boot.boot_id,
                state.last_answer.wall_seen,
                state.controller_offset,
            ],
        )?;
        Ok(())
    }

    /// Keep the latest wall time seen (never moves back).
    pub fn see_wall_time(&self, now: Timestamp) -> crate::Result<()> {
        self.conn.execute(
            "UPDATE fleet_state SET wall_seen = MAX(wall_seen, ?1) WHERE one = 1",
            params![now],
        )?;
        Ok(())
    }

    /// Back to standalone: the cache stays as the host's store.
    pub fn clear_fleet_state(&self) -> crate::Result<()> {
        self.conn.execute("DELETE FROM fleet_state", [])?;
        self.conn.execute("DELETE FROM fleet_reports", [])?;
        Ok(())
    }

    /// Write one user as the controller sent it: its entry, its grant in
    /// the host's environment only (every other grant the row had goes),
    /// `hash` as decided by the caller, and its keys replaced by `keys`.
    /// Another row holding the name (a user deleted, or renamed, in a
    /// change still to come) gives way: the next change or snapshot
    /// brings it back under its new name.
    pub fn put_cached_user(
        &self,
        user: &User,
        hash: Option<&str>,
        keys: &[KeyRow],
    ) -> crate::Result<()> {
        // Cached statements: a full snapshot writes 100,000 users at once.
        let shown_before = self.nss_face(user.uid)?;
        let displaced = self
            .conn
            .prepare_cached("DELETE FROM users WHERE name = ?1 AND uid <> ?2")?
            .execute(params![user.name, user.uid])?;
        // Most users a batch carries changed in nothing NSS shows (a hash,
        // a key, a state or grant outside the admin group): rewriting a
        // snapshot of 100,000 users for them would cost a second each.
        if displaced > 0 || shown_before.as_ref() != Some(&NssFace::of(user)) {
            self.touches_view();
        }
        self.conn
            .prepare_cached(
                "INSERT INTO users (uid, name, display_name, role, state, home, shell, created, \
             last_login, password_hash, password_changed) \
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, NULL, ?9, ?10) \
             ON CONFLICT (uid) DO UPDATE SET name = excluded.name, \
             display_name = excluded.display_name, role = excluded.role, state = excluded.state, \
             home = excluded.home, shell = excluded.shell, password_hash = excluded.password_hash, \
             password_changed = excluded.password_changed",
            )?
            .execute(params![
                user.uid,
                user.name,
                user.display_name,
                user.role.as_str(),
                user.state.as_str(),
                user.home,
                user.shell,
                user.created,
                hash,
                user.password_changed,
            ])?;
        self.conn
            .prepare_cached("DELETE FROM grants WHERE uid = ?1")?
            .execute(params![user.uid])?;
        for (environment, level) in &user.grants {
            self.conn
                .prepare_cached(
                    "INSERT OR IGNORE INTO environments (name, created) VALUES (?1, ?2)",
                )?
                .execute(params![environment, user.created])?;
            self.conn
                .prepare_cached("INSERT INTO grants (uid, environment, level) VALUES (?1, ?2, ?3)")?
                .execute(params![user.uid, environment, level.as_str()])?;
        }
        self.conn
            .prepare_cached("DELETE FROM ssh_keys WHERE uid = ?1")?
            .execute(params![user.uid])?;
        for key in keys {
            self.insert_key(user.uid, key)?;
        }
        Ok(())
    }

    /// What NSS shows of the cached user `uid` (none: no such user).
    fn nss_face(&self, uid: u32) -> crate::Result<Option<NssFace>> {
        let row = self
            .conn
            .prepare_cached(
                "SELECT name, display_name, home, shell, role, state FROM users WHERE uid = ?1",
            )?
            .query_row(params![uid], |r| {
                Ok((
                    r.get::<_, String>(0)?,
                    r.get::<_, String>(1)?,
                    r.get::<_, String>(2)?,
                    r.get::<_, String>(3)?,
                    r.get::<_, String>(4)?,
                    r.get::<_, String>(5)?,
                ))
            })
            .optional()?;
        let Some((name, display_name, home, shell, role, state)) = row else {
            return Ok(None);
        };
        let mut admin_of = BTreeSet::new();
        let mut grants = self
            .conn
            .prepare_cached("SELECT environment FROM grants WHERE uid = ?1 AND level = ?2")?;
        for environment in grants.query_map(params![uid, Level::Admin.as_str()], |r| r.get(0))? {
            admin_of.insert(environment?);
        }
        let role: Role = role.parse().map_err(|_| corrupt("role", &role))?;
        let state: UserState = state.parse().map_err(|_| corrupt("state", &state))?;
        Ok(Some(NssFace {
            name,
            display_name,
            home,
            shell,
            admin: admin_face(state, role, admin_of),
        }))
    }

    /// Every uid the cache holds a user for, ascending.
    pub fn cached_uids(&self) -> crate::Result<Vec<u32>> {
        let mut stmt = self.conn.prepare("SELECT uid FROM users ORDER BY uid")?;
        let uids = stmt
            .query_map([], |r| r.get(0))?
            .collect::<rusqlite::Result<Vec<u32>>>()?;
        Ok(uids)
    }

    /// Record `uid` as retired (a user deleted fleet-wide; the cache may
    /// never have held it).
    pub fn retire_uid(&self, uid: u32, name: &str, now: Timestamp) -> crate::Result<()> {
        self.conn
            .prepare_cached(
                "INSERT OR IGNORE INTO retired_uids (uid, name, retired) VALUES (?1, ?2, ?3)",
            )?
            .execute(params![uid, name, now])?;
        Ok(())
    }

    /// Every retired uid with the name that held it, ascending.
    pub fn retired_uids_named(&self) -> crate::Result<Vec<(u32, String)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT uid, name FROM retired_uids ORDER BY uid")?;
        let rows = stmt
            .query_map([], |r| Ok((r.get(0)?, r.get(1)?)))?
            .collect::<rusqlite::Result<Vec<(u32, String)>>>()?;
        Ok(rows)
    }

    /// How many API tokens the host holds.
    pub fn token_count(&self) -> crate::Result<u64> {
        let count: i64 = self
            .conn
            .query_row("SELECT COUNT(*) FROM tokens", [], |r| r.get(0))?;
        Ok(u64::try_from(count).unwrap_or(0))
    }

    /// A joined host's own registration codes and API tokens go (a fleet
    /// checks both at the controller).
    pub fn drop_codes_and_tokens(&self) -> crate::Result<()> {
        self.conn.execute("DELETE FROM registration_codes", [])?;
        self.conn.execute("DELETE FROM tokens", [])?;
        Ok(())
    }

    /// What a revoked host must not keep: every password hash, SSH key,
    /// registration code and token it held.
    pub fn wipe_credentials(&self) -> crate::Result<()> {
        self.conn.execute(
            "UPDATE users SET password_hash = NULL WHERE password_hash IS NOT NULL",
            [],
        )?;
        self.conn.execute("DELETE FROM ssh_keys", [])?;
        self.conn.execute("DELETE FROM registration_codes", [])?;
        self.conn.execute("DELETE FROM tokens", [])?;
        Ok(())
    }

    pub fn queue_report(&self, report: &QueuedReport) -> crate::Result<()> {
        self.conn.execute(
            "INSERT INTO fleet_reports (at, kind, text) VALUES (?1, ?2, ?3)",
            params![report.at, report.kind, report.text],
        )?;
        Ok(())
    }

    /// The oldest `max` reports not yet delivered, with their ids.
    pub fn queued_reports(&self, max: usize) -> crate::Result<Vec<(i64, QueuedReport)>> {
        let mut stmt = self
            .conn
            .prepare("SELECT id, at, kind, text FROM fleet_reports ORDER BY id LIMIT ?1")?;
        let rows = stmt
            .query_map(params![i64::try_from(max).unwrap_or(i64::MAX)], |r| {
                Ok((
                    r.get(0)?,
                    QueuedReport {
                        at: r.get(1)?,
                        kind: r.get(2)?,
                        text: r.get(3)?,
                    },
                ))
            })?
            .collect::<rusqlite::Result<Vec<_>>>()?;
        Ok(rows)
    }

    pub fn drop_reports(&self, ids: &[i64]) -> crate::Result<()> {
        let mut stmt = self
            .conn
            .prepare("DELETE FROM fleet_reports WHERE id = ?1")?;
        for id in ids {
            stmt.execute(params![id])?;
        }
        Ok(())
    }

    /// How many reports wait, and the oldest one's time.
    pub fn report_backlog(&self) -> crate::Result<(u64, Option<Timestamp>)> {
        let (count, oldest): (i64, Option<Timestamp>) =
            self.conn
                .query_row("SELECT COUNT(*), MIN(at) FROM fleet_reports", [], |r| {
                    Ok((r.get(0)?, r.get(1)?))
                })?;
        Ok((u64::try_from(count).unwrap_or(0), oldest))
    }
}
