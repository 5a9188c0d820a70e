//! The fleet's part of the store (DESIGN.md "Fleet mode"), beside core's
//! [`Transaction`](roster_core::store::Transaction): what the controller
//! reads and writes that a single host never has. One file per concept:
//!
//! - [`epoch`]: the store's epoch, made by `init`, replaced by `restore`;
//! - [`changes`]: the change log (filled by triggers, see src/schema.rs),
//!   the request id and time a transaction tags its change rows with;
//! - [`environments`]: an environment's fleet settings;
//! - [`join_tokens`] and [`hosts`]: enrollment and the hosts' rows;
//! - [`requests`]: request ids and their first answers;
//! - [`audit`], [`reports`], [`retention`]: who changed what, what hosts
//!   reported, and dropping both (and old request ids) after a while.
//!
//! Every method hangs off [`PgTx`] and runs in the transaction the caller
//! opened with [`PgStore::fleet_read`] or [`PgStore::fleet_write`], so a
//! feed read can take a batch of change rows and the users' state
//! (`tx.user_by_uid`, `tx.keys_of`, …) from one snapshot.

pub mod audit;
pub mod bulk;
pub mod changes;
pub mod environments;
pub mod epoch;
pub mod hosts;
pub mod join_tokens;
pub mod reports;
pub mod requests;
pub mod retention;

pub use audit::AuditRow;
pub use changes::{ChangeKind, ChangeRow};
pub use hosts::{HostRange, HostRow, IdKind, NewHost, RangeKind, ReportedId};
pub use join_tokens::JoinTokenRow;
pub use reports::ReportRow;
pub use requests::{RequestClaim, RequestRow};
pub use retention::{FEED_APPLICATION_PREFIX, PurgeCounts};

use crate::{PgStore, PgTx, db};
use postgres::fallible_iterator::FallibleIterator;
use roster_core::error::Error;
use std::time::Duration;

type Result<T> = roster_core::Result<T>;

/// The NOTIFY channel the change-log trigger rings once per change row,
/// with the row's sequence number as payload (delivered at commit).
pub const CHANGES_CHANNEL: &str = "roster_changes";

impl PgStore {
    /// Run `query` in one read transaction (REPEATABLE READ, READ ONLY:
    /// one snapshot, so a batch of change rows and the state they point
    /// at agree).
    pub fn fleet_read<T>(&mut self, query: impl FnOnce(&PgTx<'_>) -> Result<T>) -> Result<T> {
        self.read_tx(query)
    }

    /// Run `change` in one write transaction, as
    /// [`Backend::write_with`](roster_core::store::Backend::write_with)
    /// does (the write lock first, committed on Ok, rolled back on Err,
    /// the commit mark set when it changed what NSS shows).
    pub fn fleet_write<T>(&mut self, change: impl FnOnce(&PgTx<'_>) -> Result<T>) -> Result<T> {
        self.write_tx(change)
    }

    /// LISTEN on [`CHANGES_CHANNEL`] on this store's connection: from now
    /// on [`PgStore::wait_doorbell`] hears every commit that logged a
    /// change. A doorbell only: notifications are lost across a reconnect
    /// or failover, so the caller re-reads the log anyway (every second).
    pub fn listen_changes(&mut self) -> Result<()> {
        self.client
            .get_mut()
            .batch_execute(&format!("LISTEN {CHANGES_CHANNEL}"))
            .map_err(db)
    }

    /// Wait up to `timeout` for the doorbell; true when it rang (every
    /// notification pending is drained: one answer for a burst), false on
    /// the timeout. A lost connection is an error: the caller reconnects,
    /// LISTENs again and re-reads the log from its cursor (what rang
    /// meanwhile is lost).
    pub fn wait_doorbell(&mut self, timeout: Duration) -> Result<bool> {
        let client = self.client.get_mut();
        let rang = {
            let mut notifications = client.notifications();
            // Already here (read along with an earlier query's answer) or
            // waiting on the socket: no need to block.
            let mut rang = drain(&mut notifications)?;
            if !rang {
                rang = notifications
                    .timeout_iter(timeout)
                    .next()
                    .map_err(lost)?
                    .is_some();
                if rang {
                    drain(&mut notifications)?;
                }
            }
            rang
        };
        if client.is_closed() {
            return Err(Error::Store(
                "the change-log connection to PostgreSQL was lost: reconnect, LISTEN again and re-read the log from the cursor"
                    .into(),
            ));
        }
        Ok(rang)
    }
}

/// Take every notification pending without blocking; true if any was.
fn drain(notifications: &mut postgres::Notifications<'_>) -> Result<bool> {
    let mut pending = notifications.iter();
    let mut any = false;
    while pending.next().map_err(lost)?.is_some() {
        any = true;
    }
    Ok(any)
}

fn lost(error: postgres::Error) -> Error {
    Error::Store(format!(
        "the change-log connection to PostgreSQL failed ({}): reconnect, LISTEN again and re-read the log from the cursor",
        crate::message(&error)
    ))
}
