//! The crate's tests that span modules (one test binary, so one link).
//! The rule tests every store backend runs live beside these files but
//! are compiled as `crate::conformance` (see there).

pub use crate::conformance::fixture;

mod authz_table;
mod credential;
mod host_cache;
mod lockout;
mod model_prop;
mod password;
mod rules;
mod sqlite_rules;
mod store;
mod validate;
