//! Access levels, ordered `status < read < write < admin`: defined in
//! `roster-hostconfig`, since the config names one (`login_level`).
//! A name that isn't a level is [`Error::InvalidArgument`](crate::Error).

pub use roster_hostconfig::{Level, UnknownLevel};
