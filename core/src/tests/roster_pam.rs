use super::fixture::*;
use crate::roster::{InitialCredential, PasswordChange};
use crate::*;

fn session(user: &str, pid: u32) -> NewSession {
    NewSession {
        user: user.into(),
        service: "sshd".into(),
        tty: "pts/0".into(),
        remote_host: "10.0.0.9".into(),
        leader_pid: pid,
        leader_start: 777,
    }
}

rule_tests! {
#[test]
fn login_check_answers_what_argon2_needs() {
    let mut f = fixture();
    f.create("bob");
    f.roster
        .create_user(
            &Actor::Root,
            NewUser {
                name: "pen".into(),
                ..Default::default()
            },
            InitialCredential::Register,
        )
        .unwrap();
    let c = f.roster.login_check(&Actor::Root, "bob", None).unwrap();
    assert_eq!(
        (c.hash, c.known, c.pending, c.locked_until),
        (Some(phc()), true, false, None)
    );
    let c = f
        .roster
        .login_check(&Actor::Root, "pen", Some("h"))
        .unwrap();
    assert_eq!((c.hash, c.known, c.pending), (None, true, true));
    let c = f.roster.login_check(&Actor::Root, "ghost", None).unwrap();
    assert_eq!((c.hash, c.known, c.pending), (None, false, false));
    // A user for their own account (a screen locker); nobody else.
    let bob = f.actor("bob");
    f.roster.login_check(&bob, "bob", None).unwrap();
    assert!(matches!(
        f.roster.login_check(&bob, "pen", None),
        Err(Error::PermissionDenied(_))
    ));
}

#[test]
fn lockout_per_user_and_host() {
    let mut f = fixture(); // 5 attempts in 15m → 15m
    f.create("bob");
    let ssh = Some("203.0.113.7");
    for _ in 0..4 {
        assert_eq!(
            f.roster.record_login_result("bob", ssh, false).unwrap(),
            None
        );
    }
    let until = f.roster.record_login_result("bob", ssh, false).unwrap();
    assert_eq!(until, Some(T0 + 900));
    let check = |f: &mut Fixture, host| {
        f.roster
            .login_check(&Actor::Root, "bob", host)
            .unwrap()
            .locked_until
    };
    assert_eq!(check(&mut f, ssh), Some(T0 + 900));
    assert_eq!(check(&mut f, None), None, "the console stays open");
    assert_eq!(check(&mut f, Some("198.51.100.1")), None);
    assert_eq!(
        f.roster
            .show_user(&Actor::Root, "bob")
            .unwrap()
            .locked_until,
        Some(T0 + 900)
    );
    f.clock.advance(900);
    assert_eq!(check(&mut f, ssh), None, "it ends on time");
    assert_eq!(
        f.roster
            .show_user(&Actor::Root, "bob")
            .unwrap()
            .locked_until,
        None
    );
    // Unknown users count nothing and lock nothing.
    assert_eq!(
        f.roster.record_login_result("ghost", ssh, false).unwrap(),
        None
    );
}

#[test]
fn success_clears_that_host_only() {
    let mut f = fixture_with(|c| c.lockout.attempts = 2);
    f.create("bob");
    f.roster
        .record_login_result("bob", Some("a"), false)
        .unwrap();
    f.roster.record_login_result("bob", None, false).unwrap();
    f.roster
        .record_login_result("bob", Some("a"), true)
        .unwrap();
    assert_eq!(
        f.roster
            .record_login_result("bob", Some("a"), false)
            .unwrap(),
        None,
        "a's count restarted"
    );
    assert!(
        f.roster
            .record_login_result("bob", None, false)
            .unwrap()
            .is_some(),
        "local kept its count"
    );
}

#[test]
fn unlock_and_password_change_clear_every_lockout() {
    let mut f = fixture_with(|c| c.lockout.attempts = 1);
    f.create("bob");
    f.roster
        .record_login_result("bob", Some("a"), false)
        .unwrap();
    f.roster.record_login_result("bob", None, false).unwrap();
    assert!(
        f.roster
            .show_user(&Actor::Root, "bob")
            .unwrap()
            .locked_until
            .is_some()
    );
    let u = f.roster.unlock_user(&Actor::Root, "bob").unwrap();
    assert_eq!(u.locked_until, None);
    assert_eq!(
        f.roster
            .login_check(&Actor::Root, "bob", Some("a"))
            .unwrap()
            .locked_until,
        None
    );
    f.roster
        .record_login_result("bob", Some("a"), false)
        .unwrap();
    f.roster
        .set_password_hash(&Actor::Root, "bob", PasswordChange::ByAdmin, phc())
        .unwrap();
    assert_eq!(
        f.roster
            .login_check(&Actor::Root, "bob", Some("a"))
            .unwrap()
            .locked_until,
        None
    );
    let bob = f.actor("bob");
    assert!(matches!(
        f.roster.unlock_user(&bob, "bob"),
        Err(Error::PermissionDenied(_))
    ));
}

#[test]
fn account_check() {
    let mut f = fixture_with(|c| c.environment = "lab".into());
    f.create_admin("ann");
    f.create("wes");
    f.create("rea");
    f.create("sus");
    f.create("oth");
    f.grant("wes", "lab", Level::Write);
    f.grant("rea", "lab", Level::Read);
    f.grant("sus", "lab", Level::Admin);
    f.grant("oth", "default", Level::Admin);
    f.roster.suspend_user(&Actor::Root, "sus").unwrap();
    f.roster
        .create_user(
            &Actor::Root,
            NewUser {
                name: "pen".into(),
                ..Default::default()
            },
            InitialCredential::Register,
        )
        .unwrap();
    let mut check = |name: &str| f.roster.check_account(&Actor::Root, name).unwrap();
    assert!(
        matches!(check("ann"), AccountStatus::Ok { .. }),
        "role admins log in everywhere"
    );
    assert!(matches!(check("wes"), AccountStatus::Ok { uid } if uid > 0));
    let denied = AccountStatus::Denied {
        environment: "lab".into(),
        level: Level::Write,
    };
    assert_eq!(check("rea"), denied);
    assert_eq!(check("oth"), denied, "a grant elsewhere doesn't count here");
    assert_eq!(check("sus"), AccountStatus::Suspended);
    assert_eq!(check("pen"), AccountStatus::Pending);
    assert_eq!(check("ghost"), AccountStatus::Unknown);
    let wes = f.actor("wes");
    assert!(matches!(
        f.roster.check_account(&wes, "wes"),
        Ok(AccountStatus::Ok { .. })
    ));
    assert!(matches!(
        f.roster.check_account(&wes, "ann"),
        Err(Error::PermissionDenied(_))
    ));
}

#[test]
fn login_level_is_configurable() {
    let mut f = fixture_with(|c| c.login_level = Level::Status);
    f.create("sid");
    f.grant("sid", "default", Level::Status);
    assert!(matches!(
        f.roster.check_account(&Actor::Root, "sid"),
        Ok(AccountStatus::Ok { .. })
    ));
}

#[test]
fn sessions_open_close_list() {
    let mut f = fixture();
    f.create("bob");
    f.create("pat");
    f.create("sid");
    f.grant("sid", "default", Level::Status);
    f.clock.advance(5);
    let (s, first) = f
        .roster
        .open_session(&Actor::Root, session("bob", 100))
        .unwrap();
    assert!(first);
    assert_eq!(
        (
            s.user.as_str(),
            s.leader_pid,
            s.leader_start,
            s.started,
            s.ended
        ),
        ("bob", 100, 777, T0 + 5, None)
    );
    assert_eq!(
        f.roster.show_user(&Actor::Root, "bob").unwrap().last_login,
        Some(T0 + 5)
    );
    let (_, first) = f
        .roster
        .open_session(&Actor::Root, session("bob", 101))
        .unwrap();
    assert!(!first);
    f.roster
        .open_session(&Actor::Root, session("pat", 200))
        .unwrap();
    // Only root opens and closes.
    let bob = f.actor("bob");
    assert!(matches!(
        f.roster.open_session(&bob, session("bob", 1)),
        Err(Error::PermissionDenied(_))
    ));
    assert!(matches!(
        f.roster.close_session(&bob, "bob", 100, 777),
        Err(Error::PermissionDenied(_))
    ));
    // Bad input.
    assert!(matches!(
        f.roster.open_session(
            &Actor::Root,
            NewSession {
                tty: "x\n".into(),
                ..session("bob", 3)
            }
        ),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        f.roster.open_session(&Actor::Root, session("bob", 0)),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        f.roster.open_session(&Actor::Root, session("ghost", 3)),
        Err(Error::NotFound(_))
    ));
    // A recycled pid (another start time) is not the session.
    assert!(matches!(
        f.roster.close_session(&Actor::Root, "bob", 100, 778),
        Err(Error::NotFound(_))
    ));
    f.clock.advance(5);
    f.roster
        .close_session(&Actor::Root, "bob", 100, 777)
        .unwrap();
    assert!(matches!(
        f.roster.close_session(&Actor::Root, "bob", 100, 777),
        Err(Error::NotFound(_))
    ));
    let count = |f: &mut Fixture, actor: &Actor, user: Option<&str>, all: bool| {
        f.roster.list_sessions(actor, user, all).unwrap().len()
    };
    assert_eq!(count(&mut f, &Actor::Root, None, false), 2);
    assert_eq!(count(&mut f, &Actor::Root, None, true), 3);
    assert_eq!(count(&mut f, &Actor::Root, Some("bob"), true), 2);
    assert_eq!(count(&mut f, &bob, None, true), 2, "own only");
    assert!(matches!(
        f.roster.list_sessions(&bob, Some("pat"), false),
        Err(Error::PermissionDenied(_))
    ));
    let sid = f.actor("sid");
    assert_eq!(
        count(&mut f, &sid, None, false),
        2,
        "status sees this environment's sessions"
    );
    assert_eq!(count(&mut f, &sid, Some("pat"), false), 1);
    let live = f.roster.live_sessions().unwrap();
    assert_eq!(live.len(), 2);
    f.roster
        .end_sessions(&[live[0].id, live[1].id, 9999])
        .unwrap();
    assert!(f.roster.live_sessions().unwrap().is_empty());
    let ended = f
        .roster
        .list_sessions(&Actor::Root, Some("pat"), true)
        .unwrap();
    assert_eq!(ended[0].ended, Some(T0 + 10));
}

#[test]
fn actors_are_resolved_from_the_caller() {
    let mut f = fixture();
    let bob = f.create("bob");
    assert_eq!(
        f.roster
            .actor(&Caller {
                uid: 0,
                token_id: None
            })
            .unwrap(),
        Actor::Root
    );
    assert_eq!(
        f.roster
            .actor(&Caller {
                uid: 1000,
                token_id: None
            })
            .unwrap(),
        Actor::Stranger { uid: 1000 }
    );
    match f
        .roster
        .actor(&Caller {
            uid: bob.uid,
            token_id: None,
        })
        .unwrap()
    {
        Actor::User(u) => assert_eq!((u.name.as_str(), u.uid), ("bob", bob.uid)),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        f.roster.actor(&Caller {
            uid: 0,
            token_id: Some("nonexist".into())
        }),
        Err(Error::TokenRevoked(_))
    ));
}

#[test]
fn a_start_time_past_i64_max_is_refused_and_nothing_is_stored() {
    let mut f = fixture();
    f.create("bob");
    let before = f.roster.show_user(&Actor::Root, "bob").unwrap();
    for start in [u64::MAX, i64::MAX as u64 + 1] {
        let r = f.roster.open_session(
            &Actor::Root,
            NewSession {
                leader_start: start,
                ..session("bob", 100)
            },
        );
        match r {
            Err(Error::InvalidArgument(m)) => assert!(m.contains(&start.to_string()), "{m}"),
            other => panic!("expected InvalidArgument, got {other:?}"),
        }
        assert!(matches!(
            f.roster.close_session(&Actor::Root, "bob", 100, start),
            Err(Error::InvalidArgument(_))
        ));
    }
    assert!(
        f.roster
            .list_sessions(&Actor::Root, None, true)
            .unwrap()
            .is_empty()
    );
    // Not even the last login moved.
    assert_eq!(f.roster.show_user(&Actor::Root, "bob").unwrap(), before);
    // The largest start time that fits is kept exactly.
    let (s, _) = f
        .roster
        .open_session(
            &Actor::Root,
            NewSession {
                leader_start: i64::MAX as u64,
                ..session("bob", 100)
            },
        )
        .unwrap();
    assert_eq!(s.leader_start, i64::MAX as u64);
    let listed = f.roster.list_sessions(&Actor::Root, None, false).unwrap();
    assert_eq!(listed[0].leader_start, i64::MAX as u64);
    f.roster
        .close_session(&Actor::Root, "bob", 100, i64::MAX as u64)
        .unwrap();
}
}
