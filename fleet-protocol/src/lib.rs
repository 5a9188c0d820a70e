//! The JSON that Roster's controller and its enrolled hosts exchange
//! (DESIGN.md "Fleet mode"): serde types only, no network, no store, so
//! rosterd and `roster-controller` share one definition of the wire.
//!
//! ## Versions
//!
//! Every request names the protocol version its sender speaks in the
//! [`PROTOCOL_HEADER`]; every answer carries the controller's version and
//! time in the [`Answer`] envelope. A controller serves hosts of its own
//! version and of the one before ([`OLDEST_SERVED`]: rolling upgrades move
//! the controllers first), and refuses hosts newer than itself; a host
//! refuses a controller older than itself.
//!
//! ## Forward and backward
//!
//! What a host sends is read strictly by the controller
//! (`deny_unknown_fields`: a typo or a field from a newer host is a clear
//! 400, never ignored). What the controller answers is read leniently by
//! hosts (no `deny_unknown_fields`): a controller one version ahead may
//! add fields an older host doesn't know, and the older host must still
//! be served.

pub mod enroll;
pub mod error;
pub mod ops;
pub mod report;
pub mod secrets;
pub mod sync;

pub use enroll::{
    AdoptedKey, AdoptedUser, EnrollAnswer, EnrollRequest, FleetSettings, IdKind, IdRange, LocalIds,
    MAX_ADOPTED_USERS, RangeKind, RetiredUid, Standalone, UsedId,
};
pub use error::{ErrorAnswer, ErrorCode};
pub use ops::{
    Credential, EnvironmentInfo, HostView, JoinTokenView, KeyView, LIVE_SESSIONS_KIND, Op,
    OpsAnswer, OpsRequest, SessionView, TokenView, UserView,
};
pub use report::{RenewAnswer, RenewRequest, ReportAnswer, ReportEntry, ReportKind, ReportRequest};
pub use secrets::{SecretEntry, SecretGrantView, SecretRead, SecretRevisionView, SecretView};
pub use sync::{
    EnvironmentView, HelloAnswer, HostChange, HostKey, HostUser, PasswordView, SnapshotAnswer,
    SyncAnswer,
};

use serde::{Deserialize, Serialize};

/// The version this build speaks. 2 added the enrollment's `standalone`
/// (adopt or discard a host's own users), the ops `rename_token`,
/// `add_keys` and `list_sessions`, the `host_root` credential and the
/// `live_sessions` report: a host of 2 refuses a controller of 1 (which
/// would answer those with 400, and refuse a report batch carrying one
/// whole) rather than half-work, and a controller of 2 serves hosts of 1.
///
/// The `secret_*` ops came later within 2 (no bump: hosts and controllers
/// of 2 serve each other for everything else, and the tests pin 1 as the
/// oldest served): a controller of 2 without them answers 400 naming the
/// unknown variant, which a host says as "upgrade the controllers".
pub const PROTOCOL_VERSION: u32 = 2;

/// The oldest host version a controller of this build serves.
pub const OLDEST_SERVED: u32 = PROTOCOL_VERSION.saturating_sub(1);

/// The request header naming the sender's protocol version.
pub const PROTOCOL_HEADER: &str = "roster-protocol";

/// The longest a long poll waits before an empty answer (the heartbeat).
pub const LONG_POLL_MAX_SECS: u64 = 25;

/// The most local ids a host may report when it enrolls.
pub const MAX_REPORTED_IDS: usize = 10_000;

/// The largest request body the controller reads, in bytes. Enrollment
/// with [`MAX_REPORTED_IDS`] entries stays well under it.
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// Whether a controller of this build serves a host speaking `version`.
pub fn serves(version: u32) -> bool {
    (OLDEST_SERVED..=PROTOCOL_VERSION).contains(&version)
}

/// Every answer of the controller: its protocol version, its clock (a
/// host more than 60 s off says so in `roster doctor`) and the body.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Answer<T> {
    pub protocol: u32,
    /// Seconds since the Unix epoch, the controller's wall clock.
    pub time: i64,
    pub body: T,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_controller_serves_its_own_version_and_the_one_before_only() {
        assert!(serves(PROTOCOL_VERSION));
        assert!(serves(OLDEST_SERVED));
        assert!(!serves(PROTOCOL_VERSION + 1));
        assert!(
            OLDEST_SERVED
                .checked_sub(1)
                .is_none_or(|older| !serves(older))
        );
    }
}
