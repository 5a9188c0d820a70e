//! `roster-controller secrets rekey`: the fleet's secrets are sealed
//! with the controller's key (`secrets_key_file`), so they are re-keyed
//! here, by root on the controller machine (a host refuses `roster
//! secrets rekey`, naming this). Core's rekey: the key file first holds
//! the new key and the old ones, every value is re-sealed in one
//! transaction, then the file holds the new key only; a `kill -9` at any
//! point leaves a file that opens every stored value. Replicas load the
//! key at each secret call: each needs the new file copied to it.

use super::now;
use crate::error::Fail;
use crate::store::Store;
use roster_core::Actor;
use roster_core::secrets::SecretKeys;
use roster_store_postgres::fleet::AuditRow;

pub fn rekey(store: &Store) -> Result<(), Fail> {
    let (path, id, count) = store.with_roster(|roster| {
        let mut keys = SecretKeys::load_for_this_call(roster);
        let path = keys.path().to_path_buf();
        let (id, count) = keys.rekey(roster, &Actor::Root)?;
        Ok((path, id, count))
    })?;
    // The audit row after the commit (the key id, never a key): `restore`
    // lists it with the rest.
    let entry = AuditRow {
        at: now(),
        person: "root@controller".into(),
        host: String::new(),
        request_id: None,
        action: "secrets rekey".into(),
        target: String::new(),
        detail: format!("key {id}, {count} value(s)"),
    };
    if let Err(e) = store.with(|s| s.fleet_write(|tx| tx.append_audit(&entry))) {
        eprintln!("roster-controller: the rekey is done but its audit row was not written: {e}");
    }
    println!(
        "Re-sealed {count} value(s) under key {id} in {}. Copy this file to every other controller replica (and to its backup).",
        path.display()
    );
    Ok(())
}
