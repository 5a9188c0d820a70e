//! The call a write transaction carries out for a person at the
//! controller: its request id, who, through which host, what. Core's
//! rules open their own transactions, so the controller hands the tag to
//! the store before calling them ([`CallTags::set`]) and the next write
//! transaction takes it: it tags its change-log rows with the request id,
//! claims the id (a repeat that races the first attempt finds it claimed
//! and changes nothing) and writes the audit row, all in the change's own
//! transaction, so a change is never without its request id or its audit
//! row and a rolled-back change leaves neither.

use roster_core::error::Error;
use std::sync::{Arc, Mutex, PoisonError};

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallTag {
    pub request_id: String,
    /// The Roster name the credential proved.
    pub person: String,
    /// The host the call came through ('' = the controller machine).
    pub host: String,
    /// The op (e.g. `suspend_user`).
    pub action: String,
    /// What it acts on (a user, an environment), for the audit row.
    pub target: String,
}

/// Where the next write transaction finds its tag; clones share it.
#[derive(Clone, Debug, Default)]
pub struct CallTags(Arc<Mutex<Option<CallTag>>>);

impl CallTags {
    pub fn set(&self, tag: CallTag) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Some(tag);
    }

    pub(crate) fn take(&self) -> Option<CallTag> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner).take()
    }
}

/// A request id claimed before: the earlier attempt's change stands and
/// this one changes nothing.
pub fn claimed_before(id: &str) -> Error {
    Error::Conflict(format!(
        "the request {id} was carried out by an earlier attempt: its answer stands"
    ))
}
