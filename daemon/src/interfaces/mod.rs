//! The D-Bus interfaces rosterd serves, all on `/org/roster/Roster1`. Each
//! method resolves its caller, hands the request to core (which
//! authorizes it) and answers; an audited method runs its body inside
//! `Daemon::audited`, which waits for the NSS snapshot when the call's
//! commits changed what NSS shows and writes the audit line whatever way
//! the body ended. The method names and signatures match roster-client's
//! proxies.

pub mod environments;
pub mod fleet;
pub mod grants;
pub mod import;
pub mod keys;
pub mod pam;
pub mod registration;
pub mod secrets;
pub mod sessions;
pub mod tokens;
pub mod users;
