//! The fleet's admin surface, one implementation behind both doors: root
//! on the controller machine (`roster-controller token|hosts|environments`,
//! who holds the store's credentials anyway) and a role admin through
//! `/v1/ops` (core's `Operation::ViewFleet`/`ManageFleet` decide, checked
//! by the API before it calls here). Each runs inside the caller's store
//! transaction.

use roster_core::config::parse_duration;
use roster_core::error::Error;
use roster_core::fleet::EnvironmentPolicy;
use roster_core::level::Level;
use roster_core::store::Transaction;
use roster_core::{Result, Secret, credential};
use roster_fleet_protocol::{HostView, JoinTokenView};
use roster_store_postgres::PgTx;
use roster_store_postgres::fleet::{HostRow, JoinTokenRow};
use std::time::Duration;

/// A join token is for enrolling now, not a standing credential.
pub const JOIN_TOKEN_MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

/// A new join token for a host of `environment`: the whole string (shown
/// once) and the row stored (its hash only).
pub fn create_join_token(
    tx: &PgTx<'_>,
    environment: &str,
    expires: &str,
    created_by: &str,
    now: i64,
) -> Result<(Secret, JoinTokenRow)> {
    let lifetime = parse_duration(expires.trim())
        .map_err(|e| Error::InvalidArgument(format!("expires {expires:?}: {e}")))?;
    if lifetime.is_zero() || lifetime > JOIN_TOKEN_MAX_LIFETIME {
        return Err(Error::InvalidArgument(
            "a join token expires within 1s to 7d: it is for enrolling now".into(),
        ));
    }
    if tx.environment(environment)?.is_none() {
        return Err(Error::NotFound(format!(
            "no environment named {environment:?}: create it with `roster-controller environments set {environment} login_level=write`"
        )));
    }
    let issued = credential::issue()?;
    let row = JoinTokenRow {
        public_id: issued.id.clone(),
        hash: issued.hash.clone(),
        environment: environment.to_string(),
        created: now,
        expires: now.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
        created_by: created_by.to_string(),
        used: None,
        used_by: None,
    };
    tx.insert_join_token(&row)?;
    Ok((issued.full.clone(), row))
}

pub fn delete_join_token(tx: &PgTx<'_>, id: &str) -> Result<()> {
    if tx.delete_join_token(id)? {
        Ok(())
    } else {
        Err(Error::NotFound(format!(
            "no join token {id:?} (see `roster-controller token list`)"
        )))
    }
}

pub fn revoke_host(tx: &PgTx<'_>, name: &str, now: i64) -> Result<()> {
    if tx.revoke_host(name, now)? {
        Ok(())
    } else {
        Err(Error::NotFound(format!(
            "no enrolled host {name:?} that isn't revoked already (see `roster-controller hosts list`)"
        )))
    }
}

/// Every host (of one environment), as listed, with its lag behind the
/// store's head.
pub fn hosts(tx: &PgTx<'_>, environment: Option<&str>) -> Result<Vec<HostView>> {
    let head = tx.change_head()?;
    Ok(tx
        .hosts(environment)?
        .iter()
        .map(|row| host_view(row, head))
        .collect())
}

fn host_view(row: &HostRow, head: i64) -> HostView {
    HostView {
        name: row.name.clone(),
        environment: row.environment.clone(),
        enrolled: row.enrolled,
        last_seen: row.last_seen,
        lag: head.saturating_sub(row.cursor).max(0),
        certificate_expires: row.cert_expires,
        revoked: row.revoked,
    }
}

pub fn join_token_view(row: &JoinTokenRow) -> JoinTokenView {
    JoinTokenView {
        id: row.public_id.clone(),
        environment: row.environment.clone(),
        created: row.created,
        expires: row.expires,
        created_by: row.created_by.clone(),
        used: row.used,
    }
}

/// Set `key=value` settings on `environment` (created when named for the
/// first time): the settings after, and whether it was created.
pub fn set_environment(
    tx: &PgTx<'_>,
    environment: &str,
    settings: &[String],
    now: i64,
) -> Result<(EnvironmentPolicy, bool)> {
    roster_core::validate::environment_name(environment)?;
    let created = tx.environment(environment)?.is_none();
    if created {
        tx.insert_environment(environment, now)?;
    }
    let current = tx.environment_settings(environment)?.unwrap_or_default();
    let policy = apply_settings(current, settings)?;
    tx.set_environment_settings(environment, &policy)?;
    Ok((policy, created))
}

/// Apply `key=value` settings on top of `policy`, every bad one named;
/// nothing changes when one is bad.
pub fn apply_settings(
    mut policy: EnvironmentPolicy,
    settings: &[String],
) -> Result<EnvironmentPolicy> {
    let mut problems = Vec::new();
    for setting in settings {
        let Some((key, value)) = setting.split_once('=') else {
            problems.push(format!("{setting:?} is not KEY=VALUE"));
            continue;
        };
        let value = value.trim();
        match key.trim() {
            "login_level" => match value.parse::<Level>() {
                Ok(level) => policy.login_level = level,
                Err(e) => problems.push(format!("login_level: {e}")),
            },
            // DESIGN.md's "0 means no offline logins", unit or none.
            "offline_grace" if value == "0" => policy.offline_grace = Duration::ZERO,
            "offline_grace" => match parse_duration(value) {
                Ok(grace) => policy.offline_grace = grace,
                Err(e) => problems.push(format!("offline_grace: {e} (0 = no offline logins)")),
            },
            "host_root_is_admin" => match value {
                "true" => policy.host_root_is_admin = true,
                "false" => policy.host_root_is_admin = false,
                other => problems.push(format!(
                    "host_root_is_admin: {other:?} is not true or false"
                )),
            },
            other => problems.push(format!(
                "unknown setting {other:?} (known: login_level, offline_grace, host_root_is_admin)"
            )),
        }
    }
    if problems.is_empty() {
        Ok(policy)
    } else {
        Err(Error::InvalidArgument(format!(
            "nothing was changed: {}",
            problems.join("; ")
        )))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_apply_on_top_and_bad_ones_change_nothing() {
        let policy = apply_settings(
            EnvironmentPolicy::default(),
            &["login_level=admin".into(), "offline_grace=0".into()],
        )
        .unwrap();
        assert_eq!(policy.login_level, Level::Admin);
        assert_eq!(policy.offline_grace, Duration::ZERO);
        assert!(!policy.host_root_is_admin);
        let bad = apply_settings(
            EnvironmentPolicy::default(),
            &[
                "login_level=boss".into(),
                "grace=1h".into(),
                "host_root_is_admin=yes".into(),
            ],
        )
        .unwrap_err()
        .to_string();
        for named in ["login_level", "grace", "host_root_is_admin"] {
            assert!(bad.contains(named), "{bad}");
        }
    }
}
