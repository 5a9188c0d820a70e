//! The host side of Roster's fleet API (DESIGN.md "Fleet mode"): what
//! rosterd links to join a controller and keep its cache in sync, and
//! what the host simulator runs thousands of times in one process. So
//! nothing here is global: no D-Bus, no SQLite, no process-wide crypto
//! provider, no shared state between two [`Client`]s or two [`run`]s.
//!
//! - [`enroll`]: `POST /v1/enroll` over TLS verified against the CA pin
//!   the operator gave (`--ca-fingerprint`), with a key made on the host
//!   ([`HostKey`]); the answer is the host's [`Enrollment`]. The pin is
//!   all the host has, so the controller must present its CA after its
//!   own certificate (its `server_cert` file holds both); the leaf is
//!   then verified under that CA (signature, validity, the name dialled).
//! - [`Client`]: mutual TLS to the enrollment's controllers, tried in
//!   turn, every request and answer version-checked.
//! - [`run`]: the long poll, snapshots, reports and certificate renewal,
//!   driving a [`Host`] (rosterd's SQLite cache, or the simulator's
//!   memory) until shut down or revoked.

mod agent;
mod client;
mod enroll;
mod error;
mod key;
mod pin;
mod transport;

pub use agent::{AgentConfig, Host, Position, backoff_delay, run};
pub use client::Client;
pub use enroll::{Enrollment, JoinRequest, enroll, enroll_reporting};
pub use error::{AgentError, HostError};
pub use key::HostKey;
pub use pin::{CaPin, certificate_subject, certificate_validity};
pub use roster_fleet_protocol as protocol;
pub use roster_fleet_protocol::{
    Answer, ErrorCode, HelloAnswer, LocalIds, OpsAnswer, OpsRequest, RenewAnswer, ReportAnswer,
    ReportEntry, ReportRequest, SnapshotAnswer, SyncAnswer,
};
