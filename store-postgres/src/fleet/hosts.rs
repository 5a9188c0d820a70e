//! Enrolled hosts: their rows, the ids they reported inside Roster's
//! range (a create colliding with one is refused, naming the host) and
//! their local id ranges. A host's revocation, rename, move or deletion
//! logs a `host` change (the triggers on `hosts`); its last_seen, cursor
//! and certificate don't.

use crate::PgTx;
use crate::tx::{Result, corrupt, get, get_u32, id};
use postgres::Row;
use roster_core::clock::Timestamp;
use roster_core::error::Error;

/// A name a host uses for a user or for a group.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IdKind {
    User,
    Group,
}

impl IdKind {
    pub fn as_str(self) -> &'static str {
        match self {
            IdKind::User => "user",
            IdKind::Group => "group",
        }
    }

    pub fn from_word(word: &str) -> Option<IdKind> {
        match word {
            "user" => Some(IdKind::User),
            "group" => Some(IdKind::Group),
            _ => None,
        }
    }
}

/// A local user or group, inside Roster's range, that a host reported.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ReportedId {
    pub kind: IdKind,
    pub name: String,
    pub id: u32,
}

/// Which of a host's local id ranges.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RangeKind {
    /// Roster's uid and gid range as the host had it configured.
    Uid,
    Gid,
    /// /etc/subuid and /etc/subgid entries.
    Subuid,
    Subgid,
    /// login.defs UID_MIN..UID_MAX, GID_MIN..GID_MAX.
    LoginDefsUid,
    LoginDefsGid,
    /// login.defs SYS_UID_MIN..SYS_UID_MAX, SYS_GID_MIN..SYS_GID_MAX.
    LoginDefsSysUid,
    LoginDefsSysGid,
}

impl RangeKind {
    pub const ALL: [RangeKind; 8] = [
        RangeKind::Uid,
        RangeKind::Gid,
        RangeKind::Subuid,
        RangeKind::Subgid,
        RangeKind::LoginDefsUid,
        RangeKind::LoginDefsGid,
        RangeKind::LoginDefsSysUid,
        RangeKind::LoginDefsSysGid,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            RangeKind::Uid => "uid",
            RangeKind::Gid => "gid",
            RangeKind::Subuid => "subuid",
            RangeKind::Subgid => "subgid",
            RangeKind::LoginDefsUid => "login_defs_uid",
            RangeKind::LoginDefsGid => "login_defs_gid",
            RangeKind::LoginDefsSysUid => "login_defs_sys_uid",
            RangeKind::LoginDefsSysGid => "login_defs_sys_gid",
        }
    }

    pub fn from_word(word: &str) -> Option<RangeKind> {
        RangeKind::ALL
            .into_iter()
            .find(|kind| kind.as_str() == word)
    }
}

/// `count` ids from `first`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct HostRange {
    pub kind: RangeKind,
    pub first: u64,
    pub count: u64,
}

/// A host being enrolled: everything but the id the store assigns.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct NewHost {
    pub name: String,
    pub environment: String,
    /// The certificate's SubjectPublicKeyInfo, DER.
    pub public_key: Vec<u8>,
    pub cert_serial: String,
    pub cert_expires: Timestamp,
    pub enrolled: Timestamp,
    /// The protocol version the host spoke at enrollment.
    pub protocol: u32,
    pub reported_ids: Vec<ReportedId>,
    pub ranges: Vec<HostRange>,
}

/// A host's row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostRow {
    pub id: i64,
    pub name: String,
    pub environment: String,
    pub enrolled: Timestamp,
    /// The current certificate's SubjectPublicKeyInfo, DER.
    pub public_key: Vec<u8>,
    pub cert_serial: String,
    pub cert_expires: Timestamp,
    /// Its last request; `None` before the first after enrollment.
    pub last_seen: Option<Timestamp>,
    /// The change-log sequence number it last asked after.
    pub cursor: i64,
    pub protocol: u32,
    pub revoked: Option<Timestamp>,
    /// The certificate the last renewal replaced ('' when none).
    pub prev_cert_serial: String,
}

const FIELDS: &str = "id, name, environment, enrolled, public_key, cert_serial, cert_expires, \
     last_seen, cursor, protocol, revoked, prev_cert_serial";

fn host_row(row: &Row) -> Result<HostRow> {
    let protocol: i32 = get(row, 9)?;
    Ok(HostRow {
        id: get(row, 0)?,
        name: get(row, 1)?,
        environment: get(row, 2)?,
        enrolled: get(row, 3)?,
        public_key: get(row, 4)?,
        cert_serial: get(row, 5)?,
        cert_expires: get(row, 6)?,
        last_seen: get(row, 7)?,
        cursor: get(row, 8)?,
        protocol: u32::try_from(protocol)
            .map_err(|_| corrupt("protocol", &protocol.to_string()))?,
        revoked: get(row, 10)?,
        prev_cert_serial: get(row, 11)?,
    })
}

/// (host name, kind, name, id) as a host's name and its reported id.
fn reported_row(row: &Row) -> Result<(String, ReportedId)> {
    let kind: String = get(row, 1)?;
    Ok((
        get(row, 0)?,
        ReportedId {
            kind: IdKind::from_word(&kind).ok_or_else(|| corrupt("id kind", &kind))?,
            name: get(row, 2)?,
            id: get_u32(row, 3)?,
        },
    ))
}

/// A protocol version as stored (INTEGER).
fn protocol(version: u32) -> Result<i32> {
    i32::try_from(version)
        .map_err(|_| Error::InvalidArgument(format!("protocol version {version} is out of range")))
}

/// A range bound as stored (BIGINT).
fn bound(value: u64, what: &str) -> Result<i64> {
    i64::try_from(value).map_err(|_| {
        Error::InvalidArgument(format!("a reported range's {what} {value} is out of range"))
    })
}

impl PgTx<'_> {
    /// Add a host with what it reported; answers its row (id assigned).
    /// A name a live host has → [`Error::AlreadyExists`] (a revoked host's
    /// name may enroll again: its row stays, revoked); a missing environment →
    /// [`Error::NotFound`]; nothing changed either way.
    pub fn insert_host(&self, new: &NewHost) -> Result<HostRow> {
        if let Some(existing) = self.host_by_name(&new.name)?
            && existing.revoked.is_none()
        {
            return Err(Error::AlreadyExists(format!(
                "a host named {:?} is enrolled already (environment {:?}, since {}): revoke it first, or enroll under another name",
                existing.name, existing.environment, existing.enrolled
            )));
        }
        if self
            .query_opt(
                "SELECT 1 FROM environments WHERE name = $1",
                &[&new.environment],
            )?
            .is_none()
        {
            return Err(Error::NotFound(format!(
                "environment {:?} not found: a host can only join an existing environment",
                new.environment
            )));
        }
        let sql = format!(
            "INSERT INTO hosts (name, environment, enrolled, public_key, cert_serial, \
             cert_expires, protocol) VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING {FIELDS}"
        );
        let row = self.query_one(
            &sql,
            &[
                &new.name,
                &new.environment,
                &new.enrolled,
                &new.public_key,
                &new.cert_serial,
                &new.cert_expires,
                &protocol(new.protocol)?,
            ],
        )?;
        let host = host_row(&row)?;
        // One statement for each list, however long (up to the 10,000
        // the protocol allows): arrays unnested server-side.
        let kinds: Vec<&str> = new.reported_ids.iter().map(|r| r.kind.as_str()).collect();
        let names: Vec<&str> = new.reported_ids.iter().map(|r| r.name.as_str()).collect();
        let ids: Vec<i64> = new.reported_ids.iter().map(|r| id(r.id)).collect();
        self.execute(
            "INSERT INTO host_ids (host_id, kind, name, id) \
             SELECT $1, kind, name, id FROM unnest($2::TEXT[], $3::TEXT[], $4::BIGINT[]) \
             AS reported (kind, name, id)",
            &[&host.id, &kinds, &names, &ids],
        )?;
        let kinds: Vec<&str> = new.ranges.iter().map(|r| r.kind.as_str()).collect();
        let firsts = new
            .ranges
            .iter()
            .map(|r| bound(r.first, "first id"))
            .collect::<Result<Vec<i64>>>()?;
        let counts = new
            .ranges
            .iter()
            .map(|r| bound(r.count, "count"))
            .collect::<Result<Vec<i64>>>()?;
        self.execute(
            "INSERT INTO host_ranges (host_id, kind, first, count) \
             SELECT $1, kind, first, count FROM unnest($2::TEXT[], $3::BIGINT[], $4::BIGINT[]) \
             AS reported (kind, first, count)",
            &[&host.id, &kinds, &firsts, &counts],
        )?;
        Ok(host)
    }

    pub fn host(&self, host_id: i64) -> Result<Option<HostRow>> {
        let sql = format!("SELECT {FIELDS} FROM hosts WHERE id = $1");
        self.query_opt(&sql, &[&host_id])?
            .map(|row| host_row(&row))
            .transpose()
    }

    pub fn host_by_name(&self, name: &str) -> Result<Option<HostRow>> {
        // The live host of that name, else its latest revoked one.
        let sql = format!(
            "SELECT {FIELDS} FROM hosts WHERE name = $1 \
             ORDER BY (revoked IS NULL) DESC, id DESC LIMIT 1"
        );
        self.query_opt(&sql, &[&name])?
            .map(|row| host_row(&row))
            .transpose()
    }

    /// The hosts of one environment, or all; by name (bytewise).
    pub fn hosts(&self, environment: Option<&str>) -> Result<Vec<HostRow>> {
        let sql = format!(
            "SELECT {FIELDS} FROM hosts WHERE ($1::TEXT IS NULL OR environment = $1) ORDER BY name"
        );
        self.query(&sql, &[&environment])?
            .iter()
            .map(host_row)
            .collect()
    }

    /// Revoke the host named `name`: true when it was enrolled and not
    /// revoked yet. Logs a `host` change.
    pub fn revoke_host(&self, name: &str, now: Timestamp) -> Result<bool> {
        let revoked = self.execute(
            "UPDATE hosts SET revoked = $2 WHERE name = $1 AND revoked IS NULL",
            &[&name, &now],
        )?;
        Ok(revoked > 0)
    }

    /// Remove the host named `name` with what it reported (its reports
    /// too; its burnt join token forgets it): false when there was none.
    /// Logs a `host` change. An environment's hosts must go before it.
    pub fn delete_host(&self, name: &str) -> Result<bool> {
        Ok(self.execute("DELETE FROM hosts WHERE name = $1", &[&name])? > 0)
    }

    /// A request from the host: when, the cursor it asked after and the
    /// protocol it spoke. Logs no change. False when there is no such host.
    pub fn touch_host(
        &self,
        host_id: i64,
        now: Timestamp,
        cursor: i64,
        version: u32,
    ) -> Result<bool> {
        let touched = self.execute(
            "UPDATE hosts SET last_seen = $2, cursor = $3, protocol = $4 WHERE id = $1",
            &[&host_id, &now, &cursor, &protocol(version)?],
        )?;
        Ok(touched > 0)
    }

    /// A renewed certificate. Logs no change. False when there is no
    /// such host.
    pub fn set_host_certificate(
        &self,
        host_id: i64,
        public_key: &[u8],
        serial: &str,
        expires: Timestamp,
    ) -> Result<bool> {
        let set = self.execute(
            "UPDATE hosts SET public_key = $2, prev_cert_serial = cert_serial, cert_serial = $3, \
             cert_expires = $4 WHERE id = $1",
            &[&host_id, &public_key, &serial, &expires],
        )?;
        Ok(set > 0)
    }

    /// What the hosts of one environment (or of all) reported, with each
    /// host's name: for the create-time collision check. Ordered by
    /// host name, then kind, name and id; revoked hosts included (their
    /// files still exist).
    pub fn reported_ids(&self, environment: Option<&str>) -> Result<Vec<(String, ReportedId)>> {
        self.query(
            "SELECT h.name, i.kind, i.name, i.id FROM host_ids i JOIN hosts h ON h.id = i.host_id \
             WHERE ($1::TEXT IS NULL OR h.environment = $1) \
             ORDER BY h.name, i.kind, i.name, i.id",
            &[&environment],
        )?
        .iter()
        .map(reported_row)
        .collect()
    }

    /// What any host reported that a new user named `name` with uid `uid`
    /// (and its group of the same name and id) would collide with: the
    /// name, or the id, of a user or a group. The create-time check for
    /// one user, through the indexes (hosts × 10,000 reported ids need
    /// not be read); same order as [`PgTx::reported_ids`].
    pub fn reported_collisions(&self, name: &str, uid: u32) -> Result<Vec<(String, ReportedId)>> {
        self.query(
            "SELECT h.name, i.kind, i.name, i.id FROM host_ids i JOIN hosts h ON h.id = i.host_id \
             WHERE i.name = $1 OR i.id = $2 ORDER BY h.name, i.kind, i.name, i.id",
            &[&name, &id(uid)],
        )?
        .iter()
        .map(reported_row)
        .collect()
    }

    /// The local id ranges a host reported, in a stable order.
    pub fn host_ranges(&self, host_id: i64) -> Result<Vec<HostRange>> {
        self.query(
            "SELECT kind, first, count FROM host_ranges WHERE host_id = $1 \
             ORDER BY kind, first, count",
            &[&host_id],
        )?
        .iter()
        .map(|row| {
            let kind: String = get(row, 0)?;
            let first: i64 = get(row, 1)?;
            let count: i64 = get(row, 2)?;
            Ok(HostRange {
                kind: RangeKind::from_word(&kind).ok_or_else(|| corrupt("range kind", &kind))?,
                first: u64::try_from(first).unwrap_or(0),
                count: u64::try_from(count).unwrap_or(0),
            })
        })
        .collect()
    }

    /// Refuse to remove an environment that still has hosts (the schema's
    /// foreign key would, with its own words): names up to five of them.
    pub(crate) fn refuse_if_hosts(&self, environment: &str) -> Result<()> {
        let rows = self.query(
            "SELECT name, COUNT(*) OVER () FROM hosts WHERE environment = $1 ORDER BY name LIMIT 5",
            &[&environment],
        )?;
        let Some(first) = rows.first() else {
            return Ok(());
        };
        let total: i64 = get(first, 1)?;
        let names = rows
            .iter()
            .map(|row| get::<String>(row, 0))
            .collect::<Result<Vec<String>>>()?;
        let more = if total > 5 { ", …" } else { "" };
        Err(Error::Conflict(format!(
            "environment {environment:?} still has {total} enrolled host(s) ({}{more}): an environment with hosts can't be removed; delete its hosts first",
            names.join(", ")
        )))
    }
}
