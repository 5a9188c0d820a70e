//! `pam_sm_acct_mgmt`: the gate. It runs for public-key ssh logins too,
//! where auth doesn't, so every "may this Roster user log in here" answer
//! comes from rosterd here, and no answer means no.

use crate::codes::{Error, Outcome};
use crate::handle::Ctx;
use crate::rosterd::classify;
use crate::snapshot_check::roster_uid;
use roster_client::{AccountOutcome, RosterError};

pub const SUSPENDED_MESSAGE: &str = "Your Roster account is suspended (account suspended).";
pub const PENDING_MESSAGE: &str =
    "Your Roster account is waiting for registration: choose a new password now.";

pub fn check(ctx: &Ctx) -> Result<Outcome, Error> {
    let user = ctx.user()?;
    let uid = roster_uid(ctx.opts, ctx.host, &user)?;
    let reply = match ctx.rosterd.check_account(&user) {
        Ok(reply) => reply,
        // The snapshot and the host's NSS say this is a Roster user, so a
        // rosterd that doesn't know it means a stale snapshot (a user
        // deleted moments ago). User-unknown would let pam_unix's account
        // check, which passes any user without a shadow entry, wave it
        // through: deny instead.
        Err(RosterError::NotFound(m)) => return Err(Error::Denied(m)),
        Err(e) => return Err(classify(e)),
    };
    // zbus parsed the outcome: a word this module doesn't know never got
    // this far (a decode error, Error::Protocol in `classify`).
    match reply.outcome {
        AccountOutcome::Ok if reply.uid == uid => Ok(Outcome::Success),
        AccountOutcome::Ok => Err(Error::Denied(format!(
            "rosterd gives uid {} where the snapshot says {uid}",
            reply.uid
        ))),
        AccountOutcome::Suspended => {
            ctx.pam.error(SUSPENDED_MESSAGE);
            Err(Error::Suspended)
        }
        AccountOutcome::Pending => {
            ctx.pam.info(PENDING_MESSAGE);
            Ok(Outcome::NewAuthtokRequired)
        }
        AccountOutcome::Denied => {
            let message = if reply.message.is_empty() {
                "You may not log in to this host.".to_owned()
            } else {
                reply.message
            };
            ctx.pam.error(&message);
            Err(Error::Denied(message))
        }
        // See NotFound above: fail closed rather than hand over to pam_unix.
        AccountOutcome::Unknown => Err(Error::Denied("rosterd doesn't know this user".into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use roster_client::AccountReply;

    fn reply(
        outcome: AccountOutcome,
        uid: u32,
        message: &str,
    ) -> Result<AccountReply, RosterError> {
        Ok(AccountReply {
            outcome,
            uid,
            message: message.into(),
        })
    }

    #[test]
    fn an_allowed_user_passes() {
        let w = World::new("acct-ok");
        w.rosterd
            .account
            .replace(reply(AccountOutcome::Ok, ALICE_UID, ""));
        assert_eq!(w.run(check), Ok(Outcome::Success));
        assert_eq!(w.rosterd.calls(), vec!["check_account alice"]);
    }

    #[test]
    fn suspended_is_expired_with_a_message() {
        let w = World::new("acct-susp");
        w.rosterd
            .account
            .replace(reply(AccountOutcome::Suspended, ALICE_UID, ""));
        assert_eq!(w.run(check), Err(Error::Suspended));
        assert!(w.pam.errors()[0].contains("account suspended"));
    }

    #[test]
    fn pending_needs_a_new_password() {
        let w = World::new("acct-pending");
        w.rosterd
            .account
            .replace(reply(AccountOutcome::Pending, ALICE_UID, ""));
        assert_eq!(w.run(check), Ok(Outcome::NewAuthtokRequired));
        assert_eq!(w.pam.infos(), vec![PENDING_MESSAGE]);
    }

    #[test]
    fn below_the_login_level_is_denied_with_rosterds_message() {
        let w = World::new("acct-denied");
        let msg = "alice may not log in to hosts of environment \"prod\" (needs write)";
        w.rosterd
            .account
            .replace(reply(AccountOutcome::Denied, ALICE_UID, msg));
        assert_eq!(w.run(check), Err(Error::Denied(msg.into())));
        assert_eq!(w.pam.errors(), vec![msg]);
    }

    #[test]
    fn unreachable_fails_closed() {
        let w = World::new("acct-down");
        w.rosterd.account.replace(Err(unreachable()));
        assert!(matches!(w.run(check), Err(Error::Unreachable(_))));
    }

    #[test]
    fn a_user_rosterd_forgot_or_renumbered_is_denied_not_handed_to_pam_unix() {
        let w = World::new("acct-forgot");
        w.rosterd
            .account
            .replace(reply(AccountOutcome::Unknown, 0, ""));
        assert!(matches!(w.run(check), Err(Error::Denied(_))));
        let w = World::new("acct-notfound");
        w.rosterd
            .account
            .replace(Err(RosterError::NotFound("no alice".into())));
        assert!(matches!(w.run(check), Err(Error::Denied(_))));
        let w = World::new("acct-renumbered");
        w.rosterd
            .account
            .replace(reply(AccountOutcome::Ok, ALICE_UID + 1, ""));
        assert!(matches!(w.run(check), Err(Error::Denied(_))));
    }

    #[test]
    fn root_and_local_users_never_reach_rosterd() {
        for (user, tag) in [("root", "acct-root"), ("bob", "acct-bob")] {
            let w = World::new(tag).user(user);
            w.rosterd.account.replace(Err(unreachable()));
            assert!(matches!(w.run(check), Err(Error::NotRosterUser(_))));
            assert!(w.rosterd.calls().is_empty());
        }
    }
}
