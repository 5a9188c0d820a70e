//! A pending user's registration code, as the flows check it: whether a
//! typed secret is the code (at the login prompt, as the current password
//! of a change), and the rule that a new password must not be the code in
//! any spelling. Both compare in memory against the code row a flow read
//! in its one transaction: no second trip to the store.

use crate::clock::Timestamp;
use crate::credential;
use crate::error::Error;
use crate::secret::Secret;
use crate::store::CodeRow;

/// Whether `typed` is the live code `row` at `now`, in any spelling
/// [`credential::parse`] forgives (case, spaces, o/0, i/l/1). The hash is
/// compared first and always, in constant time, whatever else is wrong.
pub fn is_live_code(typed: &Secret, row: &CodeRow, now: Timestamp) -> bool {
    let Some((id, secret)) = credential::parse(typed) else {
        return false;
    };
    let right = credential::matches(&secret, &row.hash);
    right && row.public_id == id && row.expires > now
}

/// What a pending user is told when the new password is their code.
pub fn code_as_password() -> Error {
    Error::InvalidArgument("the new password must not be the registration code".into())
}

/// The one check, on every path (PAM's change with the code or by root,
/// `users password` by an admin, `roster register`): a pending user's new
/// password must not be their registration code, in any spelling.
/// `code` is the target's code row when the target is pending.
pub fn refuse_the_code(new: &Secret, code: Option<&CodeRow>, now: Timestamp) -> crate::Result<()> {
    match code {
        Some(row) if is_live_code(new, row, now) => Err(code_as_password()),
        _ => Ok(()),
    }
}
