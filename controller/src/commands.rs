//! The commands root runs on the controller machine (DESIGN.md "The
//! controller"): each opens the store with the config's connection
//! string, does its work in the store's transactions and prints for a
//! person.

pub mod ca;
pub mod environments;
pub mod hosts;
pub mod init;
pub mod restore;
pub mod secrets;
pub mod token;

use crate::store::CallTag;
use roster_core::clock::{Clock, SystemClock, Timestamp};

pub(crate) fn now() -> Timestamp {
    SystemClock.now()
}

/// A time for a person: `YYYY-MM-DD HH:MM:SS UTC`, as the CLI prints it.
pub(crate) fn when(at: Timestamp) -> String {
    roster_hostconfig::calendar::timestamp(at)
}

/// The tag of a change root makes on the controller machine: a request
/// id of its own and an audit row (person `root@controller`, host ''), so
/// `restore` lists it with the rest.
pub(crate) fn root_tag(action: &str, target: &str) -> roster_core::Result<CallTag> {
    Ok(CallTag {
        request_id: format!(
            "controller-{}",
            roster_store_postgres::fleet::epoch::random_epoch()?
        ),
        person: "root@controller".into(),
        host: String::new(),
        action: action.into(),
        target: target.into(),
    })
}
