//! The call a write transaction carries out for a person at the
//! controller: its request id, who, through which host, what. Core's
//! rules open their own transactions, so the controller hands the tag to
//! the store before calling them ([`CallTags::set`]) and the next write
//! transaction takes it: it tags its change-log rows with the request id,
//! claims the id (a repeat that races the first attempt finds it claimed
//! and changes nothing) and writes the audit row, all in the change's own
//! transaction, so a change is never without its request id or its audit
//! row and a rolled-back change leaves neither. Whether a write took the
//! tag ([`CallTags::was_taken`]) tells the controller, when the call then
//! fails, whether the claim is its own to release.

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

#[derive(Debug, Default)]
enum Slot {
    #[default]
    Empty,
    Pending(CallTag),
    Taken,
}

/// Where the next write transaction finds its tag; clones share it.
#[derive(Clone, Debug, Default)]
pub struct CallTags(Arc<Mutex<Slot>>);

impl CallTags {
    /// Tags made for one call: `tag` pending for its first write.
    pub fn with(tag: CallTag) -> CallTags {
        CallTags(Arc::new(Mutex::new(Slot::Pending(tag))))
    }

    pub fn set(&self, tag: CallTag) {
        *self.0.lock().unwrap_or_else(PoisonError::into_inner) = Slot::Pending(tag);
    }

    pub(crate) fn take(&self) -> Option<CallTag> {
        let mut slot = self.0.lock().unwrap_or_else(PoisonError::into_inner);
        match std::mem::take(&mut *slot) {
            Slot::Pending(tag) => {
                *slot = Slot::Taken;
                Some(tag)
            }
            other => {
                *slot = other;
                None
            }
        }
    }

    /// Whether a write transaction took the tag (and so, if it committed,
    /// claimed the request id).
    pub fn was_taken(&self) -> bool {
        matches!(
            *self.0.lock().unwrap_or_else(PoisonError::into_inner),
            Slot::Taken
        )
    }
}

/// A request id claimed before: the earlier attempt's change stands and
/// this one changes nothing.
pub fn claimed_before(id: &str) -> Error {
    Error::Conflict(format!(
        "the request {id} was carried out by an earlier attempt: its answer stands"
    ))
}
