//! roster-controller: the fleet's store on PostgreSQL, served to enrolled hosts over mutual TLS.
pub mod pki;
pub mod tls;
