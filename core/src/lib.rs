//! Roster's core: the model and its rules, passwords, the store (behind
//! the [`store::Backend`] and [`store::Transaction`] traits, SQLite's
//! implementation in [`store::sqlite`]) and the configuration.
//!
//! Only rosterd links this crate. Every rule of DESIGN.md's model lives
//! here once: the daemon identifies the caller and hands each request to
//! [`Roster`], which authorizes it ([`authz::authorize`]), validates it,
//! applies the rules and commits it in one store transaction. The
//! credential flows ([`flows`]: a login, every password change) are two
//! phases around the argon2 work rosterd runs in its queue. Nothing here
//! knows about D-Bus, tokio or any transport; time comes in through
//! [`clock::Clock`] so tests move a clock instead of sleeping.
//!
//! Not here: talking to the bus, the argon2 queue (the daemon runs
//! [`password::Hasher`] off its async threads), signalling processes, the
//! NSS snapshot file. What core does say about the snapshot is when it
//! must be rewritten: a committed change to what NSS shows sets the
//! store's [`store::CommitMark`] ([`Roster::commit_mark`]), which rosterd
//! drains after each call to request a snapshot write; nothing else asks
//! for one.

pub mod authz;
pub mod clock;
pub mod config;
pub mod credential;
pub mod error;
pub mod fleet;
pub mod flows;
pub mod host_cache;
pub mod id_ranges;
pub mod import;
pub mod legacy_hash;
pub mod level;
pub mod local_files;
pub mod lockout;
pub mod model;
pub mod password;
pub mod roster;
pub mod rules;
pub mod secret;
pub mod secrets;
pub mod ssh_key;
pub mod store;
pub mod validate;

pub use authz::{Actor, Operation};
pub use clock::{Clock, FixedClock, SystemClock};
pub use config::Config;
pub use error::{Error, Result};
pub use level::Level;
pub use model::*;
pub use roster::Roster;
pub use roster_hostconfig::calendar;
pub use secret::Secret;

// Core's rule tests as a suite any store backend runs (the `conformance`
// feature; always in core's own tests).
#[cfg(any(test, feature = "conformance"))]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
pub mod conformance;

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests;
