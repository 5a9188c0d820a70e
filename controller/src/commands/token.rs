//! `roster-controller token create|list|delete`: join tokens. A token is
//! printed once; the store keeps its SHA-256 (it has 130 random bits, as
//! API tokens do), its environment and its expiry, and enrollment burns
//! it in the transaction that adds the host.

use super::{now, when};
use crate::error::Fail;
use crate::store::Store;
use roster_core::credential;
use roster_core::store::Transaction;
use roster_store_postgres::fleet::JoinTokenRow;
use std::time::Duration;

/// A join token is for enrolling now, not a standing credential.
pub const MAX_LIFETIME: Duration = Duration::from_secs(7 * 24 * 3600);

pub fn create(store: &Store, environment: &str, expires: &str) -> Result<(), Fail> {
    let lifetime = roster_core::config::parse_duration(expires.trim())
        .map_err(|e| Fail::Usage(format!("--expires {expires:?}: {e}")))?;
    if lifetime.is_zero() || lifetime > MAX_LIFETIME {
        return Err(Fail::Usage(
            "--expires must be between 1s and 7d: a join token is for enrolling now".into(),
        ));
    }
    let issued = credential::issue()?;
    let at = now();
    let row = JoinTokenRow {
        public_id: issued.id.clone(),
        hash: issued.hash.clone(),
        environment: environment.to_string(),
        created: at,
        expires: at.saturating_add(i64::try_from(lifetime.as_secs()).unwrap_or(i64::MAX)),
        created_by: "root@controller".into(),
        used: None,
        used_by: None,
    };
    store.with(|s| {
        s.fleet_write(|tx| {
            if tx.environment(environment)?.is_none() {
                return Err(roster_core::Error::NotFound(format!(
                    "no environment named {environment:?}: create it with `roster-controller environments set {environment} login_level=write`"
                )));
            }
            tx.insert_join_token(&row)
        })
    })?;
    println!("{}", issued.full.expose());
    eprintln!(
        "Join token {} for a host of {environment:?}, valid until {}: shown once, give it to `roster hosts join` on the host's prompt.",
        issued.id,
        when(row.expires)
    );
    Ok(())
}

pub fn list(store: &Store) -> Result<(), Fail> {
    let tokens = store.with(|s| s.fleet_read(|tx| tx.join_tokens()))?;
    let at = now();
    println!("{:<10} {:<20} {:<24} STATE", "ID", "ENVIRONMENT", "EXPIRES");
    for token in tokens {
        let state = match (token.used, token.expires <= at) {
            (Some(used), _) => format!("used {}", when(used)),
            (None, true) => "expired".to_string(),
            (None, false) => "usable".to_string(),
        };
        println!(
            "{:<10} {:<20} {:<24} {state}",
            token.public_id,
            token.environment,
            when(token.expires)
        );
    }
    Ok(())
}

pub fn delete(store: &Store, id: &str) -> Result<(), Fail> {
    if store.with(|s| s.fleet_write(|tx| tx.delete_join_token(id)))? {
        println!("Deleted the join token {id}.");
        Ok(())
    } else {
        Err(Fail::Store(roster_core::Error::NotFound(format!(
            "no join token {id:?} (see `roster-controller token list`)"
        ))))
    }
}
