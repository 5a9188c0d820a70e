//! The host's own account files (`passwd`, `group`, `login.defs`,
//! `subuid`/`subgid`), read as `roster-hostconfig` reads them for rosterd
//! and the doctor alike.

pub use roster_hostconfig::local_files::*;
