//! `roster-controller token create|list|delete`: join tokens. A token is
//! printed once; the store keeps its SHA-256 (it has 130 random bits, as
//! API tokens do), its environment and its expiry, and enrollment burns
//! it in the transaction that adds the host.

use super::{now, root_tag, when};
use crate::error::Fail;
use crate::fleet_admin;
use crate::store::Store;

/// Who made a token from the controller machine, in its row.
const ROOT_HERE: &str = "root@controller";

pub fn create(store: &Store, environment: &str, expires: &str) -> Result<(), Fail> {
    let at = now();
    let tag = root_tag("token create", environment)?;
    let (token, row) = store.with(|s| {
        s.call_tags().set(tag);
        s.fleet_write(|tx| fleet_admin::create_join_token(tx, environment, expires, ROOT_HERE, at))
    })?;
    println!("{}", token.expose());
    eprintln!(
        "Join token {} for a host of {environment:?}, valid until {}: shown once, give it to `roster hosts join` on the host's prompt.",
        row.public_id,
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
    let tag = root_tag("token delete", id)?;
    store.with(|s| {
        s.call_tags().set(tag);
        s.fleet_write(|tx| fleet_admin::delete_join_token(tx, id))
    })?;
    println!("Deleted the join token {id}.");
    Ok(())
}
