//! `pam_roster.so`: host logins for Roster users through PAM.
//!
//! What it is for: letting any PAM service (sshd, login, su, sudo, screen
//! lockers, passwd) authenticate Roster users against rosterd, gate their
//! logins (the account check is the gate, and fails closed), record their
//! sessions and change their passwords. What it is not for: deciding
//! anything itself. rosterd holds every rule; this module finds out who is
//! asking, gets the secret, asks rosterd over D-Bus and says what it
//! answered. Names the NSS snapshot doesn't list are `PAM_USER_UNKNOWN` at
//! once, so root and local users never wait on rosterd.
//!
//! It runs inside other people's processes, so it promises: no panic
//! crosses the C boundary (each export catches them), every pointer from
//! libpam is checked, no thread is left behind (each call's connection is
//! opened and closed inside one `zbus::block_on`), no tokio, the bus
//! address never comes from the environment, and no secret reaches a log.
//!
//! Shape: these exports → [`options::Options::parse`] → a [`handle::Pam`]
//! over libpam → a decision in plain Rust (`auth`, `account`, `session`,
//! `password`) → [`codes::pam_code`], the one table of PAM codes.

#![cfg_attr(test, allow(clippy::unwrap_used, clippy::expect_used, clippy::panic))]

mod account;
mod auth;
mod codes;
mod conversation;
mod ffi;
mod handle;
mod host;
mod options;
mod password;
mod rosterd;
mod session;
mod snapshot_check;
#[cfg(test)]
mod testing;

use codes::{Error, Outcome, Phase};
use ffi::PamHandle;
use handle::{Ctx, LibPam};
use libc::{c_char, c_int};
use std::panic::{AssertUnwindSafe, catch_unwind};

/// Runs one decision behind the C boundary: arguments, handle, decision,
/// log line, code. A panic anywhere inside becomes an error code.
fn run(
    phase: Phase,
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
    decide: fn(&Ctx) -> Result<Outcome, Error>,
) -> c_int {
    catch_unwind(AssertUnwindSafe(|| {
        let Some(pam) = LibPam::new(pamh, flags) else {
            return codes::BROKEN_CALL_CODE;
        };
        // SAFETY: argc/argv as libpam passed them to the pam_sm_* call.
        let opts = options::Options::parse(unsafe { handle::args(argc, argv) });
        for problem in &opts.problems {
            handle::Pam::log(&pam, handle::LOG_WARNING, problem);
        }
        let rosterd = rosterd::BusRosterd::new(&opts);
        let ctx = Ctx::new(&pam, &host::RealHost, &rosterd, &opts, flags);
        let result = decide(&ctx);
        let (priority, words) = codes::log_line(&result);
        let user = ctx.user.borrow().clone().unwrap_or_default();
        let line = format!("{}: user \"{user}\": {words}", phase.name());
        match priority {
            Some(priority) => handle::Pam::log(&pam, priority, &line),
            None => ctx.debug(&line),
        }
        codes::pam_code(phase, &result)
    }))
    .unwrap_or(codes::PANIC_CODE)
}

/// # Safety
/// Called by libpam with a live handle and its module arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_authenticate(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    run(
        Phase::Authenticate,
        pamh,
        flags,
        argc,
        argv,
        auth::authenticate,
    )
}

/// # Safety
/// Called by libpam with a live handle and its module arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_setcred(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    run(
        Phase::SetCred,
        pamh,
        flags,
        argc,
        argv,
        auth::set_credentials,
    )
}

/// # Safety
/// Called by libpam with a live handle and its module arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_acct_mgmt(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    run(Phase::Account, pamh, flags, argc, argv, account::check)
}

/// # Safety
/// Called by libpam with a live handle and its module arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_open_session(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    run(Phase::OpenSession, pamh, flags, argc, argv, session::open)
}

/// # Safety
/// Called by libpam with a live handle and its module arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_close_session(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    run(Phase::CloseSession, pamh, flags, argc, argv, session::close)
}

/// # Safety
/// Called by libpam with a live handle and its module arguments.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn pam_sm_chauthtok(
    pamh: *mut PamHandle,
    flags: c_int,
    argc: c_int,
    argv: *const *const c_char,
) -> c_int {
    run(Phase::Password, pamh, flags, argc, argv, password::change)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn panics(_: &Ctx) -> Result<Outcome, Error> {
        panic!("a bug");
    }

    #[test]
    fn a_null_handle_is_an_error_code_not_a_crash() {
        let code = unsafe { pam_sm_acct_mgmt(std::ptr::null_mut(), 0, 0, std::ptr::null()) };
        assert_eq!(code, codes::BROKEN_CALL_CODE);
    }

    #[test]
    fn a_panic_is_caught_at_the_boundary() {
        // A non-NULL handle is needed to reach the decision; the decision
        // panics before anything dereferences it.
        let mut fake = 0u8;
        let handle = (&mut fake as *mut u8).cast::<PamHandle>();
        let code = run(Phase::Account, handle, 0, 0, std::ptr::null(), panics);
        assert_eq!(code, codes::PANIC_CODE);
    }
}
