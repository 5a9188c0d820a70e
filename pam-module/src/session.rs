//! `pam_sm_open_session` / `pam_sm_close_session`: tell rosterd a Roster
//! user's session started or ended, identified by its leader process.
//!
//! The leader is the process calling pam_open_session (sshd's privileged
//! per-connection process, `login`, `su`): it lives exactly as long as the
//! session and is the ancestor of everything the session starts, and its
//! pid plus start time can't be confused with a later process that reuses
//! the pid. close_session runs in the same process, so it sends the same
//! triple.
//!
//! Only root may register sessions (rosterd refuses anyone else). A
//! non-root caller (a screen locker, `su` run by a user) gets
//! `PAM_IGNORE`: there is nothing to record and nothing to fail, and the
//! session stack goes on as if this module weren't there.

use crate::codes::{Error, Outcome};
use crate::handle::{Ctx, Item, LOG_WARNING};
use crate::rosterd::classify;
use crate::snapshot_check::roster_uid;
use roster_client::{OpenSession, RosterError};

pub fn open(ctx: &Ctx) -> Result<Outcome, Error> {
    let user = ctx.user()?;
    roster_uid(ctx.opts, ctx.host, &user)?;
    if !ctx.host.is_root() {
        ctx.debug(&format!("not root: session of {user} not recorded"));
        return Ok(Outcome::Ignore);
    }
    let (leader_pid, leader_start) = ctx.host.session_leader()?;
    let request = OpenSession {
        user: user.clone(),
        service: ctx.pam.item(Item::Service).unwrap_or_default(),
        tty: ctx.pam.item(Item::Tty).unwrap_or_default(),
        remote_host: ctx.pam.item(Item::RemoteHost).unwrap_or_default(),
        leader_pid,
        leader_start,
    };
    let opened = ctx.rosterd.open_session(&request).map_err(classify)?;
    if !opened.message.is_empty() {
        // A home rosterd refused: the person should know before they
        // trust its files, and the host's log should say so too.
        ctx.pam.error(&opened.message);
        ctx.pam
            .log(LOG_WARNING, &format!("{user}: {}", opened.message));
    }
    ctx.debug(&format!(
        "session {} opened for {user} (leader {leader_pid}, home created: {})",
        opened.id, opened.home_created
    ));
    Ok(Outcome::Success)
}

pub fn close(ctx: &Ctx) -> Result<Outcome, Error> {
    let user = ctx.user()?;
    roster_uid(ctx.opts, ctx.host, &user)?;
    if !ctx.host.is_root() {
        return Ok(Outcome::Ignore);
    }
    let (leader_pid, leader_start) = ctx.host.session_leader()?;
    match ctx.rosterd.close_session(&user, leader_pid, leader_start) {
        Ok(()) => Ok(Outcome::Success),
        // Already ended (suspended, reaped): the goal is reached.
        Err(RosterError::NotFound(_)) => Ok(Outcome::Success),
        Err(e) => Err(classify(e)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::*;
    use roster_client::SessionOpened;

    #[test]
    fn open_sends_who_where_and_the_leader() {
        let w = World::new("sess-open");
        w.pam.service.replace(Some("sshd".into()));
        w.pam.tty.replace(Some("ssh".into()));
        w.pam.rhost.replace(Some("198.51.100.7".into()));
        w.rosterd.session.replace(Ok(SessionOpened {
            id: 1,
            home_created: true,
            message: String::new(),
        }));
        assert_eq!(w.run(open), Ok(Outcome::Success));
        assert_eq!(
            w.rosterd.calls(),
            vec!["open_session alice service=sshd tty=ssh rhost=198.51.100.7 leader=4242@987654"]
        );
        assert!(w.pam.errors().is_empty());
    }

    #[test]
    fn a_refused_home_is_shown_and_logged_and_the_session_still_opens() {
        let w = World::new("sess-home");
        let message = "your home /home/alice was not set up by Roster and is not yours";
        w.rosterd.session.replace(Ok(SessionOpened {
            id: 2,
            home_created: false,
            message: message.into(),
        }));
        assert_eq!(w.run(open), Ok(Outcome::Success));
        assert_eq!(w.pam.errors(), vec![message]);
        assert!(
            w.pam.logs().iter().any(|l| l.contains(message)),
            "{:?}",
            w.pam.logs()
        );
    }

    #[test]
    fn close_sends_the_same_leader_and_an_ended_session_is_fine() {
        let w = World::new("sess-close");
        assert_eq!(w.run(close), Ok(Outcome::Success));
        assert_eq!(
            w.rosterd.calls(),
            vec!["close_session alice leader=4242@987654"]
        );
        w.rosterd
            .close
            .replace(Err(RosterError::NotFound("gone".into())));
        assert_eq!(w.run(close), Ok(Outcome::Success));
    }

    #[test]
    fn non_root_callers_are_ignored_without_a_call() {
        let w = World::new("sess-nonroot");
        w.host.borrow_mut().root = false;
        assert_eq!(w.run(open), Ok(Outcome::Ignore));
        assert_eq!(w.run(close), Ok(Outcome::Ignore));
        assert!(w.rosterd.calls().is_empty());
    }

    #[test]
    fn unreachable_is_an_error_and_local_users_are_unknown() {
        let w = World::new("sess-down");
        w.rosterd.session.replace(Err(unreachable()));
        assert!(matches!(w.run(open), Err(Error::Unreachable(_))));
        let w = World::new("sess-root").user("root");
        assert!(matches!(w.run(open), Err(Error::NotRosterUser(_))));
        assert!(w.rosterd.calls().is_empty());
    }
}
