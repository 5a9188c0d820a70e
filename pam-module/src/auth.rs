//! `pam_sm_authenticate` and `pam_sm_setcred`: rosterd checks the password
//! (or a pending user's registration code); this module only finds out
//! who, gets the secret, and says what rosterd answered.

use crate::codes::{Error, Outcome};
use crate::handle::{Ctx, Item, LOG_NOTICE, Token};
use crate::rosterd::classify;
use crate::snapshot_check::roster_uid;
use roster_client::{AuthOutcome, MAX_SECRET_BYTES, RosterError, Secret};

pub const PASSWORD_PROMPT: &str = "Password: ";

pub fn authenticate(ctx: &Ctx) -> Result<Outcome, Error> {
    let user = ctx.user()?;
    // Before any prompt or call: root and local users go straight on to
    // the next module.
    roster_uid(ctx.opts, ctx.host, &user)?;
    let (secret, prompted) = password(ctx)?;
    if secret.expose().len() > MAX_SECRET_BYTES {
        // No Roster password is that long: wrong, without a call that
        // would carry it to rosterd.
        ctx.pam.log(
            LOG_NOTICE,
            &format!("a password longer than {MAX_SECRET_BYTES} bytes for {user}: refused"),
        );
        return Err(Error::AuthFailed);
    }
    let remote_host = ctx.pam.item(Item::RemoteHost).unwrap_or_default();
    let reply = match ctx.rosterd.authenticate(&user, &secret, &remote_host) {
        Ok(reply) => reply,
        Err(RosterError::Locked(message)) => {
            ctx.pam.error(&message);
            return Err(Error::Locked);
        }
        Err(e) => return Err(classify(e)),
    };
    // zbus parsed the outcome: a word this module doesn't know never got
    // this far (a decode error, Error::Protocol in `classify`).
    match reply.outcome {
        AuthOutcome::Success => {
            if prompted {
                // For later modules with use_first_pass (a keyring unlock).
                if let Err(e) = ctx.pam.set_token(Token::Auth, &secret) {
                    ctx.pam
                        .log(LOG_NOTICE, &format!("can't set PAM_AUTHTOK: {e:?}"));
                }
            }
            Ok(Outcome::Success)
        }
        // A pending user typed its registration code. The account check
        // answers "new password required" next; the code itself is not
        // handed on as a token.
        AuthOutcome::CodeAccepted => {
            ctx.debug(&format!("registration code accepted for {user}"));
            Ok(Outcome::Success)
        }
        AuthOutcome::Failed => Err(Error::AuthFailed),
        AuthOutcome::Locked => {
            // rosterd's sentence (roster_core::lockout::lock_message), the
            // one every path shows: the module words no lockout of its own.
            if !reply.message.is_empty() {
                ctx.pam.error(&reply.message);
            }
            Err(Error::Locked)
        }
        AuthOutcome::Unknown => Err(Error::NotRosterUser("unknown to rosterd")),
    }
}

/// The password: an earlier module's (use_first_pass, try_first_pass) or
/// asked for. The flag says whether it was asked for here.
fn password(ctx: &Ctx) -> Result<(Secret, bool), Error> {
    if ctx.opts.use_first_pass || ctx.opts.try_first_pass {
        if let Some(token) = ctx.pam.token(Token::Auth)? {
            return Ok((token, false));
        }
        if ctx.opts.use_first_pass {
            return Err(Error::NoToken);
        }
    }
    Ok((ctx.pam.prompt_hidden(PASSWORD_PROMPT)?, true))
}

/// `pam_sm_setcred`: nothing to establish (groups come from NSS), but
/// answer for Roster users only, as every module in the stack should.
pub fn set_credentials(ctx: &Ctx) -> Result<Outcome, Error> {
    let user = ctx.user()?;
    roster_uid(ctx.opts, ctx.host, &user)?;
    Ok(Outcome::Success)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use roster_client::AuthReply;

    fn reply(outcome: AuthOutcome) -> Result<AuthReply, RosterError> {
        Ok(AuthReply {
            outcome,
            locked_until: 0,
            message: String::new(),
        })
    }

    #[test]
    fn right_password_succeeds_and_is_handed_on() {
        let w = World::new("auth-ok").answers(&["pw"]);
        w.rosterd.auth.replace(reply(AuthOutcome::Success));
        assert_eq!(w.run(authenticate), Ok(Outcome::Success));
        assert_eq!(w.pam.prompts(), vec![PASSWORD_PROMPT]);
        assert_eq!(w.rosterd.calls(), vec!["authenticate alice rhost="]);
        assert_eq!(w.pam.token_value(Token::Auth).as_deref(), Some("pw"));
        assert_eq!(w.rosterd.last_secret(), "pw");
    }

    #[test]
    fn a_password_over_the_bound_fails_without_a_call() {
        let long = "x".repeat(MAX_SECRET_BYTES + 1);
        let w = World::new("auth-long").answers(&[&long]);
        w.rosterd.auth.replace(reply(AuthOutcome::Success));
        assert_eq!(w.run(authenticate), Err(Error::AuthFailed));
        assert!(w.rosterd.calls().is_empty(), "{:?}", w.rosterd.calls());
        // Exactly the bound still reaches rosterd.
        let at_bound = "x".repeat(MAX_SECRET_BYTES);
        let w = World::new("auth-bound").answers(&[&at_bound]);
        w.rosterd.auth.replace(reply(AuthOutcome::Success));
        assert_eq!(w.run(authenticate), Ok(Outcome::Success));
        assert_eq!(w.rosterd.calls(), vec!["authenticate alice rhost="]);
    }

    #[test]
    fn wrong_password_fails() {
        let w = World::new("auth-bad").answers(&["nope"]);
        w.rosterd.auth.replace(reply(AuthOutcome::Failed));
        assert_eq!(w.run(authenticate), Err(Error::AuthFailed));
        assert_eq!(w.pam.token_value(Token::Auth), None);
    }

    #[test]
    fn the_remote_host_is_sent_so_failures_count_per_host() {
        let w = World::new("auth-rhost").answers(&["pw"]);
        w.pam.rhost.replace(Some("203.0.113.9".into()));
        w.rosterd.auth.replace(reply(AuthOutcome::Failed));
        let _ = w.run(authenticate);
        assert_eq!(
            w.rosterd.calls(),
            vec!["authenticate alice rhost=203.0.113.9"]
        );
    }

    #[test]
    fn a_registration_code_is_accepted_but_not_handed_on() {
        let w = World::new("auth-code").answers(&["CODE-1234"]);
        w.rosterd.auth.replace(reply(AuthOutcome::CodeAccepted));
        assert_eq!(w.run(authenticate), Ok(Outcome::Success));
        assert_eq!(w.pam.token_value(Token::Auth), None);
    }

    /// rosterd's sentence, as `roster_core::lockout::lock_message` words it.
    const ROSTERD_LOCK_MESSAGE: &str =
        "account locked after too many failed attempts: try again in 15 minutes";

    #[test]
    fn locked_out_says_until_when_in_rosterds_words() {
        let w = World::new("auth-locked").answers(&["pw"]);
        w.rosterd.auth.replace(Ok(AuthReply {
            outcome: AuthOutcome::Locked,
            locked_until: 1_795_000_000,
            message: ROSTERD_LOCK_MESSAGE.into(),
        }));
        assert_eq!(w.run(authenticate), Err(Error::Locked));
        assert_eq!(w.pam.errors(), vec![ROSTERD_LOCK_MESSAGE]);
    }

    #[test]
    fn locked_as_a_named_error_is_locked_too() {
        let w = World::new("auth-locked2").answers(&["pw"]);
        w.rosterd
            .auth
            .replace(Err(RosterError::Locked("locked until noon".into())));
        assert_eq!(w.run(authenticate), Err(Error::Locked));
        assert_eq!(w.pam.errors(), vec!["locked until noon"]);
    }

    #[test]
    fn users_outside_the_snapshot_are_unknown_without_a_prompt_or_a_call() {
        for (name, tag) in [("root", "auth-root"), ("bob", "auth-local")] {
            let w = World::new(tag).user(name).answers(&["pw"]);
            assert!(matches!(w.run(authenticate), Err(Error::NotRosterUser(_))));
            assert!(w.pam.prompts().is_empty());
            assert!(w.rosterd.calls().is_empty());
        }
    }

    #[test]
    fn a_shadowing_local_account_is_unknown_without_a_call() {
        let w = World::new("auth-shadow").answers(&["pw"]);
        w.host.borrow_mut().passwd.insert("alice".into(), 1000);
        assert!(matches!(w.run(authenticate), Err(Error::NotRosterUser(_))));
        assert!(w.rosterd.calls().is_empty());
    }

    #[test]
    fn rosterd_unreachable_or_busy_is_authinfo_unavail() {
        let w = World::new("auth-down").answers(&["pw"]);
        w.rosterd.auth.replace(Err(unreachable()));
        assert!(matches!(w.run(authenticate), Err(Error::Unreachable(_))));
        let w = World::new("auth-busy").answers(&["pw"]);
        w.rosterd
            .auth
            .replace(Err(RosterError::Unavailable("hash queue deadline".into())));
        assert!(matches!(w.run(authenticate), Err(Error::Unreachable(_))));
    }

    #[test]
    fn rosterd_unknown_is_user_unknown_and_a_refused_caller_is_insufficient() {
        let w = World::new("auth-unknown").answers(&["pw"]);
        w.rosterd.auth.replace(reply(AuthOutcome::Unknown));
        assert!(matches!(w.run(authenticate), Err(Error::NotRosterUser(_))));
        let w = World::new("auth-refused").answers(&["pw"]);
        w.rosterd
            .auth
            .replace(Err(RosterError::PermissionDenied("not yours".into())));
        assert!(matches!(w.run(authenticate), Err(Error::CallerRefused(_))));
    }

    #[test]
    fn use_first_pass_takes_the_earlier_token_and_never_prompts() {
        let w = World::new("auth-ufp").options(&["use_first_pass"]);
        w.pam.set_token_value(Token::Auth, "from-unix");
        w.rosterd.auth.replace(reply(AuthOutcome::Success));
        assert_eq!(w.run(authenticate), Ok(Outcome::Success));
        assert!(w.pam.prompts().is_empty());
        assert_eq!(w.rosterd.last_secret(), "from-unix");

        let w = World::new("auth-ufp-none").options(&["use_first_pass"]);
        assert_eq!(w.run(authenticate), Err(Error::NoToken));
        assert!(w.pam.prompts().is_empty());
        assert!(w.rosterd.calls().is_empty());
    }

    #[test]
    fn try_first_pass_prompts_only_without_a_token() {
        let w = World::new("auth-tfp").options(&["try_first_pass"]);
        w.pam.set_token_value(Token::Auth, "earlier");
        w.rosterd.auth.replace(reply(AuthOutcome::Success));
        assert_eq!(w.run(authenticate), Ok(Outcome::Success));
        assert!(w.pam.prompts().is_empty());

        let w = World::new("auth-tfp-none")
            .options(&["try_first_pass"])
            .answers(&["typed"]);
        w.rosterd.auth.replace(reply(AuthOutcome::Success));
        assert_eq!(w.run(authenticate), Ok(Outcome::Success));
        assert_eq!(w.pam.prompts(), vec![PASSWORD_PROMPT]);
        assert_eq!(w.rosterd.last_secret(), "typed");
    }

    #[test]
    fn a_failed_conversation_fails_without_a_call() {
        let w = World::new("auth-conv");
        assert!(matches!(w.run(authenticate), Err(Error::Conversation(_))));
        assert!(w.rosterd.calls().is_empty());
    }

    #[test]
    fn an_unknown_outcome_is_not_a_success() {
        let w = World::new("auth-weird").answers(&["pw"]);
        w.rosterd.auth.replace(Err(undecodable_auth_reply("maybe")));
        assert!(matches!(w.run(authenticate), Err(Error::Protocol(_))));
    }

    #[test]
    fn setcred_answers_for_roster_users_only() {
        let w = World::new("setcred");
        assert_eq!(w.run(set_credentials), Ok(Outcome::Success));
        let w = World::new("setcred-root").user("root");
        assert!(matches!(
            w.run(set_credentials),
            Err(Error::NotRosterUser(_))
        ));
        assert!(w.rosterd.calls().is_empty());
    }

    #[test]
    fn no_secret_reaches_a_log_line_or_a_message() {
        let w = World::new("auth-nolog")
            .options(&["debug"])
            .answers(&["hunter2-secret"]);
        w.rosterd.auth.replace(reply(AuthOutcome::Failed));
        let _ = w.run(authenticate);
        let w2 = World::new("auth-nolog2")
            .options(&["debug"])
            .answers(&["hunter2-secret"]);
        w2.rosterd.auth.replace(reply(AuthOutcome::CodeAccepted));
        let _ = w2.run(authenticate);
        for world in [&w, &w2] {
            for line in world.pam.logs().iter().chain(world.pam.errors().iter()) {
                assert!(!line.contains("hunter2"), "{line}");
            }
        }
    }
}
