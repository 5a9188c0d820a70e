//! The commands root runs on the controller machine (DESIGN.md "The
//! controller"): each opens the store with the config's connection
//! string, does its work in the store's transactions and prints for a
//! person.

pub mod ca;
pub mod environments;
pub mod hosts;
pub mod init;
pub mod restore;
pub mod token;

use roster_core::clock::{Clock, SystemClock, Timestamp};

pub(crate) fn now() -> Timestamp {
    SystemClock.now()
}

/// A time for a person: `YYYY-MM-DD HH:MM:SS UTC`, as the CLI prints it.
pub(crate) fn when(at: Timestamp) -> String {
    roster_hostconfig::calendar::timestamp(at)
}
