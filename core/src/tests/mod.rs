//! The crate's tests that span modules (one test binary, so one link).

mod authz_table;
mod credential;
mod fixture;
mod flow_steps;
mod flows;
mod lockout;
mod lockout_paths;
mod model_prop;
mod password;
mod roster_credentials;
mod roster_grants;
mod roster_keys;
mod roster_pam;
mod roster_users;
mod rules;
mod smoke;
mod store;
mod validate;
