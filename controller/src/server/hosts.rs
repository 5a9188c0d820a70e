//! The enrolled hosts as this replica knows them: who a certificate's
//! host id is, its environment (from its row, never from a request) and
//! whether it was revoked. Kept in memory so a long poll costs no query;
//! the feed marks revocations as they commit, and an id not known yet
//! (enrolled through another replica) is read once.
//!
//! What hosts did (last seen, cursor, protocol) is gathered here too and
//! written for all of them at once every few seconds, not per request.

use crate::store::Store;
use roster_store_postgres::fleet::HostRow;
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, Instant};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct HostInfo {
    pub id: i64,
    pub name: String,
    pub environment: String,
    pub revoked: bool,
    /// The serial of the certificate the host's row holds now: an older
    /// certificate of the same id (renewed since, or from before a
    /// restore that handed the id out again) is refused.
    pub cert_serial: String,
    /// The certificate the last renewal replaced: good for `/v1/renew`
    /// only (a host that lost the renewal's answer renews again).
    pub prev_cert_serial: String,
}

impl From<&HostRow> for HostInfo {
    fn from(row: &HostRow) -> HostInfo {
        HostInfo {
            id: row.id,
            name: row.name.clone(),
            environment: row.environment.clone(),
            revoked: row.revoked.is_some(),
            cert_serial: row.cert_serial.clone(),
            prev_cert_serial: row.prev_cert_serial.clone(),
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Activity {
    pub at: i64,
    pub cursor: i64,
    pub protocol: u32,
}

#[derive(Debug, Default)]
pub struct HostDirectory {
    hosts: RwLock<HashMap<i64, HostInfo>>,
    /// Revocations the feed saw for hosts not in `hosts` (yet): a row read
    /// just before its revocation committed can't slip in after it.
    revoked: RwLock<HashSet<i64>>,
    /// When each host's row was last read for a certificate it didn't
    /// match: a superseded certificate presented again and again costs
    /// one read in [`REREAD_EVERY`], not one per request.
    reread: Mutex<HashMap<i64, Instant>>,
    activity: Mutex<HashMap<i64, Activity>>,
}

/// The least time between two reads of one host's row for a certificate
/// that doesn't match the one known.
const REREAD_EVERY: Duration = Duration::from_secs(10);

impl HostDirectory {
    pub fn new(rows: &[HostRow]) -> Arc<HostDirectory> {
        Arc::new(HostDirectory {
            hosts: RwLock::new(
                rows.iter()
                    .map(|row| (row.id, HostInfo::from(row)))
                    .collect(),
            ),
            revoked: RwLock::default(),
            reread: Mutex::default(),
            activity: Mutex::default(),
        })
    }

    /// The host with this id, read from the store when not known here or
    /// when the certificate presented (`serial`) isn't the one known (a
    /// renewal through another replica): one read, then remembered.
    pub async fn resolve(
        &self,
        store: &Arc<Store>,
        id: i64,
        serial: &str,
    ) -> roster_core::Result<Option<HostInfo>> {
        if let Some(info) = self.known(id) {
            if info.revoked || info.cert_serial == serial {
                return Ok(Some(info));
            }
            let mut reread = self.reread.lock().unwrap_or_else(PoisonError::into_inner);
            let recent = reread
                .get(&id)
                .is_some_and(|at| at.elapsed() < REREAD_EVERY);
            if recent {
                return Ok(Some(info));
            }
            reread.insert(id, Instant::now());
        }
        let row = store.run(move |s| s.fleet_read(|tx| tx.host(id))).await?;
        Ok(row.map(|row| {
            let info = HostInfo::from(&row);
            self.remember(info.clone());
            self.known(id).unwrap_or(info)
        }))
    }

    pub fn known(&self, id: i64) -> Option<HostInfo> {
        self.hosts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .get(&id)
            .cloned()
    }

    pub fn remember(&self, mut info: HostInfo) {
        // The hosts' lock first, as `changed` takes it: a revocation can't
        // land between the check and the insert.
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        if self
            .revoked
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&info.id)
        {
            info.revoked = true;
        }
        hosts.insert(info.id, info);
    }

    /// A new epoch (a restore): host ids may have been handed out again,
    /// so nothing known stands; every host is read again.
    pub fn forget_all(&self) {
        self.hosts
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        self.revoked
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
    }

    /// The feed saw the host's row change: a revocation sticks at once;
    /// anything else is re-read at the host's next request.
    pub fn changed(&self, id: i64, revoked: bool) {
        let mut hosts = self.hosts.write().unwrap_or_else(PoisonError::into_inner);
        if revoked {
            self.revoked
                .write()
                .unwrap_or_else(PoisonError::into_inner)
                .insert(id);
            if let Some(info) = hosts.get_mut(&id) {
                info.revoked = true;
            }
        } else {
            hosts.remove(&id);
        }
    }

    /// How many hosts this replica knows of.
    pub fn count(&self) -> usize {
        self.hosts
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .len()
    }

    pub fn seen(&self, id: i64, activity: Activity) {
        self.activity
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(id, activity);
    }

    /// Everything seen since the last take, to write at once.
    pub fn take_activity(&self) -> HashMap<i64, Activity> {
        std::mem::take(&mut *self.activity.lock().unwrap_or_else(PoisonError::into_inner))
    }

    /// Write what hosts did since the last flush, in one transaction.
    pub async fn flush(&self, store: &Arc<Store>) -> roster_core::Result<usize> {
        let activity = self.take_activity();
        if activity.is_empty() {
            return Ok(0);
        }
        let written = activity.len();
        store
            .run(move |s| {
                s.fleet_write(|tx| {
                    for (id, seen) in &activity {
                        tx.touch_host(*id, seen.at, seen.cursor, seen.protocol)?;
                    }
                    Ok(())
                })
            })
            .await?;
        Ok(written)
    }
}
