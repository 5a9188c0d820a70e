//! `pam_sm_chauthtok`: a Roster user's new password, set by rosterd.
//!
//! Works in Debian's stack where pam_unix runs first and answers
//! user-unknown without prompting: the new password is asked for here
//! whenever no earlier module left one (even with `use_authtok`). For a
//! pending user, the registration code stands where the current password
//! would; whether the user is pending is asked of rosterd, never carried
//! over from auth (sshd's password mode runs `passwd` in a fresh handle,
//! as the user).

use crate::codes::{Error, Outcome};
use crate::ffi::{PAM_PRELIM_CHECK, PAM_UPDATE_AUTHTOK};
use crate::handle::{Ctx, LOG_NOTICE, Token};
use crate::rosterd::classify;
use crate::snapshot_check::roster_uid;
use roster_client::{CurrentPassword, RosterError, Secret};

pub const CURRENT_PROMPT: &str = "Current password: ";
pub const CODE_PROMPT: &str = "Registration code: ";
pub const NEW_PROMPT: &str = "New password: ";
pub const RETYPE_PROMPT: &str = "Retype new password: ";
pub const MISMATCH: &str = "Sorry, passwords do not match.";
pub const EMPTY: &str = "No password has been supplied.";
pub const SAME_AS_CODE: &str = "The new password must not be the registration code.";

pub fn change(ctx: &Ctx) -> Result<Outcome, Error> {
    let user = ctx.user()?;
    roster_uid(ctx.opts, ctx.host, &user)?;

    if ctx.flags & PAM_PRELIM_CHECK != 0 {
        // Only "can this module do it now": rosterd answers. No prompt
        // and no hash here.
        ctx.rosterd.is_pending(&user).map_err(classify)?;
        return Ok(Outcome::Success);
    }
    if ctx.flags & PAM_UPDATE_AUTHTOK == 0 {
        return Err(Error::Protocol(
            "chauthtok called without PRELIM_CHECK or UPDATE_AUTHTOK".into(),
        ));
    }

    let pending = ctx.rosterd.is_pending(&user).map_err(classify)?;
    // Root (login, sshd, `passwd USER` run by root) sets a password
    // without the current one, as with pam_unix; anyone else proves it.
    let current = if ctx.host.is_root() {
        CurrentPassword::SetByAdmin
    } else {
        CurrentPassword::Given(current_token(ctx, pending)?)
    };
    let new = new_token(ctx, &current, pending)?;

    let changed = match ctx.rosterd.change_password(&user, &current, &new) {
        // The password is changed; only NSS lags (the admin group, for a
        // pending user turned active). Failing here would send the user
        // back to a code that is already used up.
        Err(RosterError::SnapshotStale(message)) => {
            ctx.pam.log(
                LOG_NOTICE,
                &format!("password changed, but rosterd says: {message}"),
            );
            Ok(())
        }
        other => other,
    };
    match changed {
        Ok(()) => {
            // For later modules in the password stack (a keyring).
            if let Err(e) = ctx.pam.set_token(Token::Auth, &new) {
                ctx.pam
                    .log(LOG_NOTICE, &format!("can't set PAM_AUTHTOK: {e:?}"));
            }
            ctx.pam.info(if pending {
                "Registration complete: your password is set."
            } else {
                "Password changed."
            });
            Ok(Outcome::Success)
        }
        Err(RosterError::InvalidArgument(message) | RosterError::Conflict(message)) => {
            ctx.pam.error(&message);
            Err(Error::TokenRejected(message))
        }
        Err(RosterError::AuthFailed(_)) => {
            ctx.pam.error(if pending {
                "The registration code is wrong or has expired."
            } else {
                "The current password is wrong."
            });
            Err(Error::AuthFailed)
        }
        Err(RosterError::Locked(message)) => {
            ctx.pam.error(&message);
            Err(Error::Locked)
        }
        Err(e) => Err(classify(e)),
    }
}

/// The current password, or a pending user's code: an earlier module's
/// PAM_OLDAUTHTOK with try_first_pass/use_first_pass, else asked for.
fn current_token(ctx: &Ctx, pending: bool) -> Result<Secret, Error> {
    if ctx.opts.try_first_pass || ctx.opts.use_first_pass {
        if let Some(token) = ctx.pam.token(Token::Old)? {
            return Ok(token);
        }
        if ctx.opts.use_first_pass {
            return Err(Error::NoToken);
        }
    }
    let token = ctx
        .pam
        .prompt_hidden(if pending { CODE_PROMPT } else { CURRENT_PROMPT })?;
    // A password is handed on like pam_unix does; a code is not.
    if !pending {
        let _ = ctx.pam.set_token(Token::Old, &token);
    }
    Ok(token)
}

/// The new password: an earlier module's with use_authtok when one is
/// set, else asked for twice.
fn new_token(ctx: &Ctx, current: &CurrentPassword, pending: bool) -> Result<Secret, Error> {
    let given = match current {
        CurrentPassword::Given(secret) => Some(secret),
        CurrentPassword::SetByAdmin => None,
    };
    let earlier = if ctx.opts.use_authtok {
        // A PAM_AUTHTOK equal to the current token (the password or the
        // code) is not a new password an earlier module chose: ask.
        ctx.pam
            .token(Token::Auth)
            .map_err(|_| Error::TokenRejected("not UTF-8".into()))?
            .filter(|t| !t.is_empty() && given.is_none_or(|current| t != current))
    } else {
        None
    };
    let new = match earlier {
        Some(token) => token,
        None => {
            let first = ctx
                .pam
                .prompt_hidden(NEW_PROMPT)
                .map_err(not_utf8_is_rejected)?;
            if first.is_empty() {
                ctx.pam.error(EMPTY);
                return Err(Error::TokenRejected(EMPTY.into()));
            }
            let second = ctx
                .pam
                .prompt_hidden(RETYPE_PROMPT)
                .map_err(not_utf8_is_rejected)?;
            if first != second {
                ctx.pam.error(MISMATCH);
                return Err(Error::TokenRejected(MISMATCH.into()));
            }
            first
        }
    };
    // rosterd refuses it too; saying so here spares a round trip. (As
    // root there is no code at hand: libpam wiped what auth read, so only
    // rosterd can compare then.)
    if pending && given.is_some_and(|current| new == *current) {
        ctx.pam.error(SAME_AS_CODE);
        return Err(Error::TokenRejected(SAME_AS_CODE.into()));
    }
    Ok(new)
}

fn not_utf8_is_rejected(e: Error) -> Error {
    match e {
        Error::BadToken => Error::TokenRejected("the new password is not valid UTF-8".into()),
        other => other,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;

    #[test]
    fn prelim_only_asks_rosterd_whether_it_is_there() {
        let w = World::new("pw-prelim").flags(PAM_PRELIM_CHECK);
        assert_eq!(w.run(change), Ok(Outcome::Success));
        assert_eq!(w.rosterd.calls(), vec!["is_pending alice"]);
        assert!(w.pam.prompts().is_empty());
        let w = World::new("pw-prelim-down").flags(PAM_PRELIM_CHECK);
        w.rosterd.pending.replace(Err(unreachable()));
        assert!(matches!(w.run(change), Err(Error::Unreachable(_))));
    }

    #[test]
    fn a_user_gives_the_current_password_then_the_new_one_twice() {
        let w = World::new("pw-user")
            .flags(PAM_UPDATE_AUTHTOK)
            .not_root()
            .answers(&["old-pw", "new-pw-123", "new-pw-123"]);
        assert_eq!(w.run(change), Ok(Outcome::Success));
        assert_eq!(
            w.pam.prompts(),
            vec![CURRENT_PROMPT, NEW_PROMPT, RETYPE_PROMPT]
        );
        assert_eq!(
            w.rosterd.calls(),
            vec![
                "is_pending alice",
                "change_password alice current=old-pw new=new-pw-123"
            ]
        );
        assert_eq!(
            w.pam.token_value(Token::Auth).as_deref(),
            Some("new-pw-123")
        );
    }

    #[test]
    fn root_is_not_asked_for_the_current_password() {
        let w = World::new("pw-root")
            .flags(PAM_UPDATE_AUTHTOK)
            .answers(&["new-pw-123", "new-pw-123"]);
        assert_eq!(w.run(change), Ok(Outcome::Success));
        assert_eq!(w.pam.prompts(), vec![NEW_PROMPT, RETYPE_PROMPT]);
        assert_eq!(
            w.rosterd.calls()[1],
            "change_password alice current= new=new-pw-123"
        );
        assert_eq!(w.rosterd.last_current(), Some(CurrentPassword::SetByAdmin));
    }

    #[test]
    fn a_user_with_an_empty_current_password_gives_it_never_sets_by_admin() {
        let w = World::new("pw-user-empty")
            .flags(PAM_UPDATE_AUTHTOK)
            .not_root()
            .answers(&["", "new-pw-123", "new-pw-123"]);
        w.rosterd
            .change
            .replace(Err(RosterError::AuthFailed("wrong".into())));
        assert_eq!(w.run(change), Err(Error::AuthFailed));
        assert_eq!(
            w.rosterd.last_current(),
            Some(CurrentPassword::Given(Secret::default()))
        );
    }

    #[test]
    fn a_pending_user_gives_the_code_where_the_password_would_go() {
        let w = World::new("pw-pending")
            .flags(PAM_UPDATE_AUTHTOK)
            .not_root()
            .answers(&["CODE-XYZ", "brand-new-pw", "brand-new-pw"]);
        w.rosterd.pending.replace(Ok(true));
        assert_eq!(w.run(change), Ok(Outcome::Success));
        assert_eq!(
            w.pam.prompts(),
            vec![CODE_PROMPT, NEW_PROMPT, RETYPE_PROMPT]
        );
        assert_eq!(
            w.rosterd.calls()[1],
            "change_password alice current=CODE-XYZ new=brand-new-pw"
        );
        // The code is never handed on as a token.
        assert_eq!(w.pam.token_value(Token::Old), None);
    }

    #[test]
    fn the_code_is_refused_as_the_new_password() {
        let w = World::new("pw-samecode")
            .flags(PAM_UPDATE_AUTHTOK)
            .not_root()
            .answers(&["CODE-XYZ", "CODE-XYZ", "CODE-XYZ"]);
        w.rosterd.pending.replace(Ok(true));
        assert_eq!(
            w.run(change),
            Err(Error::TokenRejected(SAME_AS_CODE.into()))
        );
        assert_eq!(w.rosterd.calls(), vec!["is_pending alice"]);
    }

    #[test]
    fn a_mismatch_or_an_empty_password_is_refused_before_rosterd() {
        let w = World::new("pw-mismatch")
            .flags(PAM_UPDATE_AUTHTOK)
            .answers(&["one-password", "another-one"]);
        assert_eq!(w.run(change), Err(Error::TokenRejected(MISMATCH.into())));
        assert_eq!(w.pam.errors(), vec![MISMATCH]);
        assert_eq!(w.rosterd.calls(), vec!["is_pending alice"]);

        let w = World::new("pw-empty")
            .flags(PAM_UPDATE_AUTHTOK)
            .answers(&[""]);
        assert_eq!(w.run(change), Err(Error::TokenRejected(EMPTY.into())));
    }

    #[test]
    fn policy_failures_show_rosterds_message() {
        let w = World::new("pw-policy")
            .flags(PAM_UPDATE_AUTHTOK)
            .answers(&["short", "short"]);
        let msg = "the password must be at least 8 characters long";
        w.rosterd
            .change
            .replace(Err(RosterError::InvalidArgument(msg.into())));
        assert_eq!(w.run(change), Err(Error::TokenRejected(msg.into())));
        assert_eq!(w.pam.errors(), vec![msg]);
    }

    #[test]
    fn a_change_nss_does_not_show_yet_is_still_a_changed_password() {
        let w = World::new("pw-stale")
            .flags(PAM_UPDATE_AUTHTOK)
            .not_root()
            .answers(&["old-pw", "new-pw-123", "new-pw-123"]);
        w.rosterd.change.replace(Err(RosterError::SnapshotStale(
            "NSS doesn't show it yet".into(),
        )));
        assert_eq!(w.run(change), Ok(Outcome::Success));
        assert_eq!(w.pam.infos(), vec!["Password changed."]);
        assert!(
            w.pam
                .logs()
                .iter()
                .any(|l| l.contains("NSS doesn't show it yet")),
            "{:?}",
            w.pam.logs()
        );
    }

    #[test]
    fn a_wrong_current_password_is_an_auth_error() {
        let w = World::new("pw-wrongold")
            .flags(PAM_UPDATE_AUTHTOK)
            .not_root()
            .answers(&["wrong", "new-pw-123", "new-pw-123"]);
        w.rosterd
            .change
            .replace(Err(RosterError::AuthFailed("wrong".into())));
        assert_eq!(w.run(change), Err(Error::AuthFailed));
    }

    #[test]
    fn try_first_pass_uses_an_earlier_old_token() {
        let w = World::new("pw-tfp")
            .flags(PAM_UPDATE_AUTHTOK)
            .not_root()
            .options(&["try_first_pass"])
            .answers(&["new-pw-123", "new-pw-123"]);
        w.pam.set_token_value(Token::Old, "old-from-earlier");
        assert_eq!(w.run(change), Ok(Outcome::Success));
        assert_eq!(w.pam.prompts(), vec![NEW_PROMPT, RETYPE_PROMPT]);
        assert_eq!(
            w.rosterd.calls()[1],
            "change_password alice current=old-from-earlier new=new-pw-123"
        );
    }

    #[test]
    fn use_authtok_without_a_token_still_prompts() {
        let w = World::new("pw-ua-none")
            .flags(PAM_UPDATE_AUTHTOK)
            .options(&["use_authtok"])
            .answers(&["new-pw-123", "new-pw-123"]);
        assert_eq!(w.run(change), Ok(Outcome::Success));
        assert_eq!(w.pam.prompts(), vec![NEW_PROMPT, RETYPE_PROMPT]);

        let w = World::new("pw-ua-set")
            .flags(PAM_UPDATE_AUTHTOK)
            .options(&["use_authtok"]);
        w.pam.set_token_value(Token::Auth, "chosen-earlier");
        assert_eq!(w.run(change), Ok(Outcome::Success));
        assert!(w.pam.prompts().is_empty());
        assert_eq!(
            w.rosterd.calls()[1],
            "change_password alice current= new=chosen-earlier"
        );
    }

    #[test]
    fn local_users_are_unknown_without_a_prompt() {
        let w = World::new("pw-local").user("bob").flags(PAM_UPDATE_AUTHTOK);
        assert!(matches!(w.run(change), Err(Error::NotRosterUser(_))));
        assert!(w.pam.prompts().is_empty());
        assert!(w.rosterd.calls().is_empty());
    }
}
