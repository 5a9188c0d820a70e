//! The credential flows, each in two phases around the argon2 work that
//! rosterd runs in its bounded queue (core never hashes on a request's
//! path: it says what must be verified and hashed, and commits).
//!
//! - A login ([`login`]): [`Roster::begin_login`](crate::Roster::begin_login)
//!   reads once (authorization, the user, its lock, the hash to verify, a
//!   pending user's code row); rosterd runs exactly one argon2 verify
//!   against [`LoginPlan::hash_to_verify`]; then
//!   [`Roster::finish_login`](crate::Roster::finish_login) checks a code in
//!   memory, records the result in one transaction and decides the
//!   [`LoginOutcome`].
//! - Every password change ([`password_change`]: create with a password,
//!   an own change with the current password, an admin's or root's change
//!   without it, a registration by code):
//!   [`Roster::plan_password_change`](crate::Roster::plan_password_change)
//!   → rosterd verifies what [`PasswordPlan::to_verify`] names →
//!   [`PasswordPlan::password_to_hash`] (the policy and the code rule) →
//!   rosterd hashes →
//!   [`Roster::commit_password_change`](crate::Roster::commit_password_change).
//! - The registration code's rules ([`code`]): whether a secret is a
//!   pending user's live code, and "the new password must not be the
//!   code", for every path.
//!
//! Rate limiting and the queue stay in rosterd: they are about the
//! process. Every decision about a credential is made here, once.

pub mod code;
pub mod login;
pub mod password_change;

pub use login::{LoginOutcome, LoginPlan};
pub use password_change::{Channel, PasswordPlan, PasswordRequest};
