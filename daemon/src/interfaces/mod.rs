//! The D-Bus interfaces rosterd serves, all on `/org/roster/Roster1`. Each
//! method resolves its caller, hands the request to core (which
//! authorizes it), refreshes the NSS snapshot when the change shows there,
//! and writes its audit line; the method names and signatures match
//! roster-client's proxies.

pub mod environments;
pub mod grants;
pub mod keys;
pub mod pam;
pub mod registration;
pub mod sessions;
pub mod tokens;
pub mod users;
