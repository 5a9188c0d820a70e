//! roster-controller: the fleet's store on PostgreSQL served to enrolled
//! hosts (DESIGN.md "Fleet mode"). Only this crate links the PostgreSQL
//! backend and an HTTP/TLS stack; rosterd, the CLI and the modules never
//! do.

pub mod args;
pub mod commands;
pub mod config;
pub mod error;
pub mod fleet_admin;
pub mod pki;
pub mod server;
pub mod store;
pub mod tls;
