//! The commit mark (`store::CommitMark`): set when a committed change
//! alters what the NSS snapshot shows, never by a login's writes, never by
//! a rolled-back change. rosterd writes the snapshot on it alone, so a
//! backend that marks too little leaves NSS stale, and one that marks too
//! much rewrites the snapshot at every login.

use super::fixture::*;
use crate::conformance::backend_for;
use crate::roster::{InitialCredential, PasswordChange};
use crate::*;

/// Whether `change` set the mark (which is cleared first).
fn marks(f: &mut Fixture, change: impl FnOnce(&mut Fixture)) -> bool {
    let mark = f.roster.commit_mark();
    mark.take();
    change(f);
    mark.take()
}

rule_tests! {
#[test]
fn a_user_create_marks() {
    let mut f = fixture();
    assert!(marks(&mut f, |f| {
        f.create("bob");
    }));
    // A pending user (with a code) resolves too.
    assert!(marks(&mut f, |f| {
        f.roster
            .create_user(
                &Actor::Root,
                NewUser {
                    name: "carol".into(),
                    ..NewUser::default()
                },
                InitialCredential::Register,
            )
            .unwrap();
    }));
}

#[test]
fn changes_nss_shows_mark() {
    let mut f = fixture_with(|c| c.environment = "lab".into());
    f.create("bob");
    f.create_admin("ann");
    assert!(marks(&mut f, |f| f.grant("bob", "lab", Level::Admin)));
    assert!(marks(&mut f, |f| {
        f.roster
            .revoke(&Actor::Root, "bob", Some("lab"), Some(Level::Admin))
            .unwrap();
    }));
    assert!(marks(&mut f, |f| {
        let changes = UserChanges {
            shell: Some("/bin/sh".into()),
            ..UserChanges::default()
        };
        f.roster.edit_user(&Actor::Root, "bob", changes).unwrap();
    }));
    assert!(marks(&mut f, |f| {
        f.roster.suspend_user(&Actor::Root, "bob").unwrap();
    }));
    assert!(marks(&mut f, |f| {
        f.roster.enable_user(&Actor::Root, "bob").unwrap();
    }));
    // Pending users leave the admin group: a reset shows.
    assert!(marks(&mut f, |f| {
        f.roster.reset_password(&Actor::Root, "bob").unwrap();
    }));
    f.roster.add_environment(&Actor::Root, "staging").unwrap();
    f.grant("ann", "staging", Level::Admin);
    assert!(marks(&mut f, |f| {
        assert_eq!(
            f.roster
                .remove_environment(&Actor::Root, "staging", true)
                .unwrap(),
            1
        );
    }));
    assert!(marks(&mut f, |f| {
        f.roster.delete_user(&Actor::Root, "bob").unwrap();
    }));
}

#[test]
fn a_login_marks_nothing() {
    let mut f = fixture_with(|c| c.lockout.attempts = 2);
    f.create("bob");
    let session = NewSession {
        user: "bob".into(),
        service: "sshd".into(),
        tty: "pts/0".into(),
        remote_host: "a".into(),
        leader_pid: 4242,
        leader_start: 7,
    };
    assert!(!marks(&mut f, |f| {
        f.roster.login_check(&Actor::Root, "bob", Some("a")).unwrap();
        // A failure, the lock it brings, and a success after it.
        f.roster.record_login_result("bob", Some("a"), false).unwrap();
        f.roster.record_login_result("bob", Some("a"), false).unwrap();
        f.roster.record_login_result("bob", None, false).unwrap();
        f.roster.record_login_result("bob", None, true).unwrap();
        f.roster.check_account(&Actor::Root, "bob").unwrap();
        f.roster.open_session(&Actor::Root, session.clone()).unwrap();
        f.roster
            .close_session(&Actor::Root, "bob", 4242, 7)
            .unwrap();
        // The reaper's and the sweep's write.
        let (reaped, _) = f.roster.open_session(&Actor::Root, session.clone()).unwrap();
        f.roster.end_sessions(&[reaped.id]).unwrap();
    }));
    // Unlocking, keys and tokens change nothing NSS shows either.
    let bob = f.actor("bob");
    assert!(!marks(&mut f, |f| {
        f.roster.unlock_user(&Actor::Root, "bob").unwrap();
        f.roster
            .add_key(
                &Actor::Root,
                "bob",
                "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIMXtbZtsUU3Rg6LDCnL0LId6oQW31p5H0qK0BLC2qTmN",
            )
            .unwrap();
        let (_, secret) = f
            .roster
            .create_token(&bob, None, Scope::Full, None)
            .unwrap();
        f.roster.present_token(&secret).unwrap();
    }));
    // A password change stores a hash: NSS shows none.
    assert!(!marks(&mut f, |f| {
        f.roster
            .set_password_hash(&Actor::Root, "bob", PasswordChange::ByAdmin, phc())
            .unwrap();
    }));
}

#[test]
fn a_failed_change_marks_nothing() {
    let mut f = fixture();
    f.create("bob");
    f.create_admin("ann");
    // Refused by a rule: nothing committed.
    assert!(!marks(&mut f, |f| {
        assert!(f.roster.delete_user(&Actor::Root, "ann").is_err());
        assert!(f.roster.edit_user(&Actor::Root, "ghost", UserChanges::default()).is_err());
        assert!(f.roster.grant(&Actor::Root, "bob", Some("nowhere"), Level::Read).is_err());
    }));
    // Rolled back after a change NSS would show: the backend marks nothing.
    let dir = tempfile::tempdir().unwrap();
    let mut store = backend_for(&config_in(dir.path())).unwrap();
    let mark = store.commit_mark();
    let user = f.roster.user_by_name("bob").unwrap().unwrap();
    let rolled_back: Result<()> = store.write(|tx| {
        tx.insert_environment("lab", T0)?;
        tx.insert_user(&user, None)?;
        tx.set_grant(user.uid, "lab", Level::Admin)?;
        Err(Error::Conflict("changed my mind".into()))
    });
    assert!(matches!(rolled_back, Err(Error::Conflict(_))));
    assert!(!mark.is_set());
    assert_eq!(store.read(|tx| tx.user("bob", T0)).unwrap(), None);
    // The same change committed marks.
    store.write(|tx| tx.insert_user(&user, None)).unwrap();
    assert!(mark.take());
    // A read marks nothing.
    store.read(|tx| tx.users(T0)).unwrap();
    assert!(!mark.is_set());
}
}
