//! `roster-controller restore --backup-time T`, run after the store was
//! restored from a backup: a new epoch (every host drops its cursor and
//! resyncs in full, so none keeps a change the backup undid), and the
//! audit entries since the backup's time, printed so an admin can
//! re-apply what was undone (a suspension lost with the backup is a user
//! active again).

use super::{now, when};
use crate::error::Fail;
use crate::store::Store;
use roster_hostconfig::calendar::parse_utc;

pub fn run(store: &Store, backup_time: &str) -> Result<(), Fail> {
    let since = backup_time
        .trim()
        .parse::<i64>()
        .ok()
        .or_else(|| parse_utc(backup_time))
        .ok_or_else(|| {
            Fail::Usage(format!(
                "--backup-time {backup_time:?}: give seconds since the epoch or a UTC time like 2026-12-07T10:00:00Z"
            ))
        })?;
    let at = now();
    let (epoch, audit) = store.with(|s| {
        s.fleet_write(|tx| {
            if tx.epoch()?.is_none() {
                return Err(roster_core::Error::Conflict(
                    "this store was never initialized: run `roster-controller init`".into(),
                ));
            }
            Ok((tx.new_epoch(at)?, tx.audit_since(since)?))
        })
    })?;
    println!("New epoch {epoch}: every host resyncs in full at its next request.");
    if audit.is_empty() {
        println!(
            "No audit entries since {}: nothing to re-apply.",
            when(since)
        );
        return Ok(());
    }
    println!(
        "{} audit entries since {} (what the backup may have undone; re-apply what still stands):",
        audit.len(),
        when(since)
    );
    for entry in audit {
        println!(
            "{}  {:<12} {:<20} {} {} {}",
            when(entry.at),
            entry.person,
            if entry.host.is_empty() {
                "(controller)"
            } else {
                entry.host.as_str()
            },
            entry.action,
            entry.target,
            entry.detail
        );
    }
    Ok(())
}
