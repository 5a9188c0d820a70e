//! The crate's tests that span modules (one test binary, so one link).

mod fixture;
mod smoke;
