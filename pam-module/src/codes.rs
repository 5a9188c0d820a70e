//! What a decision can end in, and the one place that turns it into a PAM
//! return code. Every code the module returns is chosen in [`pam_code`].

use crate::ffi::*;
use crate::handle::{LOG_ERR, LOG_NOTICE};
use libc::c_int;

/// Which `pam_sm_*` entry point is answering: the same condition can call
/// for a different code depending on what the application asked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Phase {
    Authenticate,
    SetCred,
    Account,
    OpenSession,
    CloseSession,
    Password,
}

impl Phase {
    pub fn name(self) -> &'static str {
        match self {
            Phase::Authenticate => "auth",
            Phase::SetCred => "setcred",
            Phase::Account => "account",
            Phase::OpenSession => "open_session",
            Phase::CloseSession => "close_session",
            Phase::Password => "chauthtok",
        }
    }
}

/// A decision that went the way the application hoped, or needs more.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Outcome {
    Success,
    /// The account is pending: PAM's password-change step must run.
    NewAuthtokRequired,
    /// Nothing for this module to do here (a non-root session open).
    Ignore,
}

/// Why a decision did not succeed. Each variant is documented by what the
/// application ends up being told.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Error {
    /// Not a Roster user here (not in the snapshot, shadowed by a local
    /// account, unknown to rosterd): `PAM_USER_UNKNOWN`, so the stack goes
    /// on to pam_unix.
    NotRosterUser(&'static str),
    /// rosterd or the bus didn't answer in time, or rosterd said it can't
    /// do it now: `PAM_AUTHINFO_UNAVAIL` (the account line fails closed).
    Unreachable(String),
    /// The password or code was wrong: `PAM_AUTH_ERR`.
    AuthFailed,
    /// Too many failed attempts: `PAM_MAXTRIES` (at login).
    Locked,
    /// `PAM_ACCT_EXPIRED`.
    Suspended,
    /// Not allowed to log in here (below the login level, or rosterd no
    /// longer knows a user the snapshot lists): `PAM_PERM_DENIED`.
    Denied(String),
    /// rosterd refused the caller itself (a non-root process asking about
    /// another user, or past its rate limit): `PAM_CRED_INSUFFICIENT` at
    /// auth, `PAM_PERM_DENIED` elsewhere.
    CallerRefused(String),
    /// The new password was refused (policy, mismatch, equal to the code):
    /// `PAM_AUTHTOK_ERR`.
    TokenRejected(String),
    /// `use_first_pass` without a token from an earlier module.
    NoToken,
    /// A token that isn't UTF-8 (so it can't be a Roster password).
    BadToken,
    /// The application's conversation failed: `PAM_CONV_ERR`.
    Conversation(String),
    /// libpam itself answered this code (pam_get_user, pam_set_item).
    Pam(c_int),
    /// rosterd answered something this module doesn't understand.
    Protocol(String),
    /// The host failed us (/proc unreadable, …).
    System(String),
}

/// The PAM return code for a decision. The only place codes are chosen.
pub fn pam_code(phase: Phase, result: &Result<Outcome, Error>) -> c_int {
    use Phase::*;
    match (phase, result) {
        (_, Ok(Outcome::Success)) => PAM_SUCCESS,
        (_, Ok(Outcome::NewAuthtokRequired)) => PAM_NEW_AUTHTOK_REQD,
        (_, Ok(Outcome::Ignore)) => PAM_IGNORE,

        (_, Err(Error::NotRosterUser(_))) => PAM_USER_UNKNOWN,
        // A session that can't be recorded is a session error; the
        // packaged profile stacks the session line `optional`.
        (OpenSession | CloseSession, Err(Error::Unreachable(_))) => PAM_SESSION_ERR,
        (_, Err(Error::Unreachable(_))) => PAM_AUTHINFO_UNAVAIL,
        (_, Err(Error::AuthFailed)) => PAM_AUTH_ERR,
        (Password, Err(Error::Locked)) => PAM_PERM_DENIED,
        (_, Err(Error::Locked)) => PAM_MAXTRIES,
        (_, Err(Error::Suspended)) => PAM_ACCT_EXPIRED,
        (_, Err(Error::Denied(_))) => PAM_PERM_DENIED,
        (Authenticate, Err(Error::CallerRefused(_))) => PAM_CRED_INSUFFICIENT,
        (OpenSession | CloseSession, Err(Error::CallerRefused(_))) => PAM_SESSION_ERR,
        (_, Err(Error::CallerRefused(_))) => PAM_PERM_DENIED,
        (_, Err(Error::TokenRejected(_))) => PAM_AUTHTOK_ERR,
        (Password, Err(Error::NoToken)) => PAM_AUTHTOK_RECOVERY_ERR,
        (_, Err(Error::NoToken)) => PAM_AUTH_ERR,
        (Password, Err(Error::BadToken)) => PAM_AUTHTOK_ERR,
        (_, Err(Error::BadToken)) => PAM_AUTH_ERR,
        (_, Err(Error::Conversation(_))) => PAM_CONV_ERR,
        (_, Err(Error::Pam(code))) => *code,
        (OpenSession | CloseSession, Err(Error::Protocol(_) | Error::System(_))) => PAM_SESSION_ERR,
        (_, Err(Error::Protocol(_))) => PAM_SERVICE_ERR,
        (_, Err(Error::System(_))) => PAM_SYSTEM_ERR,
    }
}

/// How a result is logged: its syslog priority (`None`: only worth a line
/// with the `debug` option) and words. No secret can be in
/// here: errors carry rosterd's sentences and the module's own.
pub fn log_line(result: &Result<Outcome, Error>) -> (Option<c_int>, String) {
    const N: Option<c_int> = Some(LOG_NOTICE);
    match result {
        Ok(outcome) => (None, format!("{outcome:?}")),
        Err(Error::NotRosterUser(why)) => (None, format!("not a Roster user: {why}")),
        Err(Error::Unreachable(why)) => (Some(LOG_ERR), format!("rosterd unreachable: {why}")),
        Err(Error::AuthFailed) => (N, "authentication failure".into()),
        Err(Error::Locked) => (N, "account locked out".into()),
        Err(Error::Suspended) => (N, "account suspended".into()),
        Err(Error::Denied(why)) => (N, format!("access denied: {why}")),
        Err(Error::CallerRefused(why)) => (N, format!("rosterd refused the caller: {why}")),
        Err(Error::TokenRejected(why)) => (N, format!("new password refused: {why}")),
        Err(Error::NoToken) => (N, "use_first_pass given but no earlier token".into()),
        Err(Error::BadToken) => (N, "a token that isn't UTF-8".into()),
        Err(Error::Conversation(why)) => (N, format!("conversation failed: {why}")),
        Err(Error::Pam(code)) => (N, format!("libpam answered {code}")),
        Err(Error::Protocol(why)) => (N, format!("unexpected answer: {why}")),
        Err(Error::System(why)) => (N, format!("system error: {why}")),
    }
}

/// The code returned when a decision panicked (caught at the boundary):
/// a failure every phase's stack treats as "not this module's success".
pub const PANIC_CODE: c_int = PAM_SYSTEM_ERR;

/// A code for a failure before any decision could run (no handle, no
/// memory for the arguments).
pub const BROKEN_CALL_CODE: c_int = PAM_SERVICE_ERR;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_table() {
        use Phase::*;
        let cases: &[(Phase, Result<Outcome, Error>, c_int)] = &[
            (Authenticate, Ok(Outcome::Success), PAM_SUCCESS),
            (Authenticate, Err(Error::AuthFailed), PAM_AUTH_ERR),
            (Authenticate, Err(Error::Locked), PAM_MAXTRIES),
            (
                Authenticate,
                Err(Error::NotRosterUser("x")),
                PAM_USER_UNKNOWN,
            ),
            (
                Authenticate,
                Err(Error::Unreachable("x".into())),
                PAM_AUTHINFO_UNAVAIL,
            ),
            (
                Authenticate,
                Err(Error::CallerRefused("x".into())),
                PAM_CRED_INSUFFICIENT,
            ),
            (Authenticate, Err(Error::NoToken), PAM_AUTH_ERR),
            (Authenticate, Err(Error::BadToken), PAM_AUTH_ERR),
            (SetCred, Err(Error::NotRosterUser("x")), PAM_USER_UNKNOWN),
            (
                Account,
                Ok(Outcome::NewAuthtokRequired),
                PAM_NEW_AUTHTOK_REQD,
            ),
            (Account, Err(Error::Suspended), PAM_ACCT_EXPIRED),
            (Account, Err(Error::Denied("x".into())), PAM_PERM_DENIED),
            (
                Account,
                Err(Error::Unreachable("x".into())),
                PAM_AUTHINFO_UNAVAIL,
            ),
            (OpenSession, Ok(Outcome::Ignore), PAM_IGNORE),
            (
                OpenSession,
                Err(Error::Unreachable("x".into())),
                PAM_SESSION_ERR,
            ),
            (
                CloseSession,
                Err(Error::System("x".into())),
                PAM_SESSION_ERR,
            ),
            (
                Password,
                Err(Error::TokenRejected("x".into())),
                PAM_AUTHTOK_ERR,
            ),
            (Password, Err(Error::NoToken), PAM_AUTHTOK_RECOVERY_ERR),
            (Password, Err(Error::Locked), PAM_PERM_DENIED),
            (
                Password,
                Err(Error::Unreachable("x".into())),
                PAM_AUTHINFO_UNAVAIL,
            ),
            (Password, Err(Error::Conversation("x".into())), PAM_CONV_ERR),
            (Password, Err(Error::Pam(PAM_SYSTEM_ERR)), PAM_SYSTEM_ERR),
            (Account, Err(Error::Protocol("x".into())), PAM_SERVICE_ERR),
        ];
        for (phase, result, code) in cases {
            assert_eq!(pam_code(*phase, result), *code, "{phase:?} {result:?}");
        }
    }
}
