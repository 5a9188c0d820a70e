//! `roster-controller restore --backup-time T [--previous-store FILE]`,
//! run after the store was restored from a backup: a new epoch (every
//! host drops its cursor and resyncs in full, so none keeps a change the
//! backup undid), and what an admin may need to re-apply (a suspension
//! lost with the backup is a user active again).
//!
//! The restored store's own audit ends at the backup, so what the restore
//! undid can only come from the store as it was before: when it can still
//! be read (a bad change undone, a cluster rebuilt beside the old one),
//! `--previous-store` names it and its entries the restored store lacks
//! are listed. It is read before anything changes, so a store that can't
//! be read leaves the epoch as it was.

use super::{now, when};
use crate::args::RestoreArgs;
use crate::error::Fail;
use crate::store::Store;
use roster_core::clock::Timestamp;
use roster_hostconfig::calendar::parse_utc;
use roster_store_postgres::PgStore;
use roster_store_postgres::fleet::AuditRow;
use std::path::Path;

pub fn run(store: &Store, args: &RestoreArgs) -> Result<(), Fail> {
    let backup_time = &args.backup_time;
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
    let previous = match &args.previous_store {
        Some(file) => Some(previous_audit(file, since)?),
        None => None,
    };
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
    match previous {
        Some(previous) => {
            let undone = missing_from(previous, &audit);
            if undone.is_empty() {
                println!(
                    "The previous store has no change since {} that this one lacks: the restore undid nothing.",
                    when(since)
                );
            } else {
                println!(
                    "{} changes in the previous store since {} that the restored store lacks (what the restore undid; re-apply what still stands):",
                    undone.len(),
                    when(since)
                );
                print_entries(&undone);
            }
        }
        None if audit.is_empty() => {
            println!(
                "No audit entries since {} in the restored store. Its audit ends at the backup: to list what the restore undid, run again with --previous-store FILE naming the old store, if it can still be read.",
                when(since)
            );
        }
        None => {
            println!(
                "{} audit entries since {} in the restored store (its audit ends where the backup does; --previous-store FILE lists what the restore undid):",
                audit.len(),
                when(since)
            );
            print_entries(&audit);
        }
    }
    Ok(())
}

/// The audit since `since` of the store `file`'s connection string names:
/// its first line that isn't blank or a `#` comment.
fn previous_audit(file: &Path, since: Timestamp) -> Result<Vec<AuditRow>, Fail> {
    let text = std::fs::read_to_string(file).map_err(Fail::io(format!(
        "--previous-store {}: can't read the file",
        file.display()
    )))?;
    let conninfo = text
        .lines()
        .map(str::trim)
        .find(|line| !line.is_empty() && !line.starts_with('#'))
        .ok_or_else(|| {
            Fail::Usage(format!(
                "--previous-store {}: the file holds no connection string: write the old store's, as controller.toml's conninfo, on one line",
                file.display()
            ))
        })?;
    let mut previous = PgStore::attach(conninfo).map_err(|e| {
        Fail::Usage(format!(
            "--previous-store {}: the store it names can't be read ({e}); nothing changed. Run without --previous-store if the old store is gone",
            file.display()
        ))
    })?;
    Ok(previous.fleet_read(|tx| tx.audit_since(since))?)
}

/// The entries of `previous` that `restored` doesn't hold, in order (each
/// entry of `restored` cancels one equal entry: two equal changes in the
/// same second stay two).
fn missing_from(previous: Vec<AuditRow>, restored: &[AuditRow]) -> Vec<AuditRow> {
    let mut unmatched: Vec<&AuditRow> = restored.iter().collect();
    previous
        .into_iter()
        .filter(|entry| match unmatched.iter().position(|r| *r == entry) {
            Some(at) => {
                unmatched.swap_remove(at);
                false
            }
            None => true,
        })
        .collect()
}

fn print_entries(entries: &[AuditRow]) {
    for entry in entries {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(at: Timestamp, action: &str, target: &str) -> AuditRow {
        AuditRow {
            at,
            person: "ann".into(),
            host: "web-1".into(),
            request_id: None,
            action: action.into(),
            target: target.into(),
            detail: String::new(),
        }
    }

    #[test]
    fn what_the_restored_store_lacks_is_listed_in_order_and_twins_count_twice() {
        let kept = entry(10, "users.create", "kept");
        let previous = vec![
            kept.clone(),
            entry(11, "users.suspend", "bob"),
            entry(12, "users.grant", "cy"),
            entry(12, "users.grant", "cy"),
        ];
        let restored = vec![kept, entry(12, "users.grant", "cy")];
        assert_eq!(
            missing_from(previous, &restored),
            vec![
                entry(11, "users.suspend", "bob"),
                entry(12, "users.grant", "cy")
            ]
        );
        assert!(missing_from(Vec::new(), &restored).is_empty());
    }
}
