//! The change log as the controller reads it. Rows are written by the
//! schema's triggers only (src/schema.rs, migration 2), in the
//! transaction that made the change; this file reads them and sets what
//! the triggers tag a transaction's rows with.

use crate::PgTx;
use crate::tx::{Result, corrupt, get, get_u32};
use postgres::Row;
use roster_core::clock::Timestamp;

/// What a change-log row is about (the triggers' kinds).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ChangeKind {
    /// A user's row, grants or SSH keys: `uid` set; `environment` set
    /// when a grant in it changed.
    User,
    /// An environment added, changed (its settings) or removed:
    /// `environment` set.
    Environment,
    /// A uid retired (its user deleted): `uid` set.
    Retired,
    /// A host revoked, renamed, moved or deleted: `host_id` and
    /// `environment` set.
    Host,
}

impl ChangeKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ChangeKind::User => "user",
            ChangeKind::Environment => "environment",
            ChangeKind::Retired => "retired",
            ChangeKind::Host => "host",
        }
    }

    /// The stored word; `None` for one this build doesn't know.
    pub fn from_word(word: &str) -> Option<ChangeKind> {
        Some(match word {
            "user" => ChangeKind::User,
            "environment" => ChangeKind::Environment,
            "retired" => ChangeKind::Retired,
            "host" => ChangeKind::Host,
            _ => return None,
        })
    }
}

/// One change-log row.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ChangeRow {
    /// Gap-free and in commit order.
    pub seq: i64,
    /// The transaction's change time ([`PgTx::set_change_time`]), else
    /// the server's clock at the transaction's start.
    pub at: Timestamp,
    pub kind: ChangeKind,
    pub uid: Option<u32>,
    pub environment: Option<String>,
    pub host_id: Option<i64>,
    /// The request id the transaction set ([`PgTx::set_request_id`]).
    pub request_id: Option<String>,
}

fn change_row(row: &Row) -> Result<ChangeRow> {
    let kind: String = get(row, 2)?;
    Ok(ChangeRow {
        seq: get(row, 0)?,
        at: get(row, 1)?,
        kind: ChangeKind::from_word(&kind).ok_or_else(|| corrupt("change kind", &kind))?,
        uid: match get::<Option<i64>>(row, 3)? {
            Some(_) => Some(get_u32(row, 3)?),
            None => None,
        },
        environment: get(row, 4)?,
        host_id: get(row, 5)?,
        request_id: get(row, 6)?,
    })
}

impl PgTx<'_> {
    /// The newest sequence number (0 before the first change).
    pub fn change_head(&self) -> Result<i64> {
        get(&self.query_one("SELECT seq FROM change_head", &[])?, 0)
    }

    /// Up to `limit` rows after `after`, ascending.
    pub fn changes_after(&self, after: i64, limit: u32) -> Result<Vec<ChangeRow>> {
        self.query(
            "SELECT seq, at, kind, uid, environment, host_id, request_id FROM change_log \
             WHERE seq > $1 ORDER BY seq LIMIT $2",
            &[&after, &i64::from(limit)],
        )?
        .iter()
        .map(change_row)
        .collect()
    }

    /// Tag this transaction's change rows with a request id (`None`:
    /// untag). Lasts until the transaction ends (SET LOCAL).
    pub fn set_request_id(&self, id: Option<&str>) -> Result<()> {
        self.query_one(
            "SELECT set_config('roster.request_id', $1, true)",
            &[&id.unwrap_or("")],
        )?;
        Ok(())
    }

    /// Stamp this transaction's change rows with `at` (the caller's
    /// clock) instead of the server's. Lasts until the transaction ends.
    pub fn set_change_time(&self, at: Timestamp) -> Result<()> {
        self.query_one(
            "SELECT set_config('roster.change_time', $1, true)",
            &[&at.to_string()],
        )?;
        Ok(())
    }
}
