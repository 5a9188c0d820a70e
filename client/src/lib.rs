//! How a program talks to rosterd: the D-Bus names, the wire types, the
//! named errors and the proxies of `org.roster.Roster1`.
//!
//! Shared by the `roster` CLI, the PAM module and the integration tests;
//! rosterd implements the server half of the same interfaces. This crate
//! holds no rule of the model (that is `roster-core`, which only rosterd
//! links) and picks no async runtime: each consumer enables zbus's runtime
//! feature it needs (tokio in rosterd, zbus's own executor elsewhere).

mod enums;
mod errors;
mod import;
mod leader;
mod names;
mod proxies;
mod secret;
mod secrets;
mod wire;

pub use enums::*;
pub use errors::RosterError;
pub use import::*;
pub use leader::{stat_start_time, stat_state_and_start};
pub use names::*;
pub use proxies::*;
pub use secret::Secret;
pub use secrets::*;
pub use wire::*;
/// "None" as an empty string on the wire, for the enums that allow none.
pub use zbus::Optional;
