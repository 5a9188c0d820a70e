use super::fixture::*;
use crate::roster::{InitialCredential, PasswordChange};
use crate::*;
use std::time::Duration;

fn pending(f: &mut Fixture, name: &str) -> Secret {
    let (u, code) = f
        .roster
        .create_user(
            &Actor::Root,
            NewUser {
                name: name.into(),
                ..Default::default()
            },
            InitialCredential::Register,
        )
        .unwrap();
    assert_eq!(u.state, UserState::Pending);
    let code = code.unwrap();
    assert_eq!(code.expires, T0 + 72 * 3600);
    code.code
}

fn auth_failed<T: std::fmt::Debug>(r: Result<T>) -> String {
    match r {
        Err(Error::AuthFailed(m)) => m,
        other => panic!("expected AuthFailed, got {other:?}"),
    }
}

fn token(f: &mut Fixture, owner: &str, scope: Scope, expires: Option<Duration>) -> (Token, Secret) {
    let actor = f.actor(owner);
    f.roster
        .create_token(&actor, Some("ci"), scope, expires)
        .unwrap()
}

rule_tests! {
#[test]
fn register_activates_once() {
    let mut f = fixture();
    let code = pending(&mut f, "bob");
    assert!(f.roster.verify_code(&Actor::Root, "bob", &code).unwrap());
    let u = f.roster.register(&code, phc()).unwrap();
    assert_eq!(
        (u.name.as_str(), u.state, u.password_changed),
        ("bob", UserState::Active, Some(T0))
    );
    assert_eq!(
        f.roster
            .login_check(&Actor::Root, "bob", None)
            .unwrap()
            .hash,
        Some(phc())
    );
    // Single use.
    auth_failed(f.roster.register(&code, phc()));
    assert!(!f.roster.verify_code(&Actor::Root, "bob", &code).unwrap());
}

#[test]
fn a_new_code_voids_the_old() {
    let mut f = fixture();
    let old = pending(&mut f, "bob");
    let (_, new) = f.roster.reset_password(&Actor::Root, "bob").unwrap();
    assert!(!f.roster.verify_code(&Actor::Root, "bob", &old).unwrap());
    auth_failed(f.roster.register(&old, phc()));
    f.roster.register(&new.code, phc()).unwrap();
}

#[test]
fn codes_expire() {
    let mut f = fixture();
    let code = pending(&mut f, "bob");
    f.clock.advance(72 * 3600);
    assert!(!f.roster.verify_code(&Actor::Root, "bob", &code).unwrap());
    assert!(auth_failed(f.roster.register(&code, phc())).contains("expired"));
    assert_eq!(
        f.roster.show_user(&Actor::Root, "bob").unwrap().state,
        UserState::Pending
    );
}

#[test]
fn wrong_codes_count_toward_the_lockout() {
    let mut f = fixture_with(|c| c.lockout.attempts = 2);
    let code = pending(&mut f, "bob");
    let id = code.expose().split('-').next().unwrap().to_string();
    let wrong = Secret::new(format!("{id}-{}", "0".repeat(26)));
    auth_failed(f.roster.register(&wrong, phc()));
    auth_failed(f.roster.register(&wrong, phc()));
    match f.roster.register(&code, phc()) {
        Err(Error::Locked { until, message }) => {
            assert_eq!(until, T0 + 900);
            assert_eq!(
                message, "account locked after too many failed attempts: try again in 15 minutes",
                "the message PAM gives"
            );
        }
        other => panic!("{other:?}"),
    }
    f.roster.unlock_user(&Actor::Root, "bob").unwrap();
    f.roster.register(&code, phc()).unwrap();
    // Garbage names no user and counts nothing.
    auth_failed(f.roster.register(&Secret::new("garbage"), phc()));
    auth_failed(f.roster.register(&Secret::new(""), phc()));
}

#[test]
fn code_owner_names_the_user_without_using_the_code_up() {
    let mut f = fixture_with(|c| c.lockout.attempts = 2);
    let code = pending(&mut f, "bob");
    let owner = f.roster.code_owner(&code).unwrap();
    assert_eq!(
        (owner.name.as_str(), owner.state),
        ("bob", UserState::Pending)
    );
    // Asked twice: still live, still pending.
    assert_eq!(f.roster.code_owner(&code).unwrap().name, "bob");
    assert!(f.roster.verify_code(&Actor::Root, "bob", &code).unwrap());

    // A wrong secret counts as register's does: the second one locks.
    let id = code.expose().split('-').next().unwrap().to_string();
    let wrong = Secret::new(format!("{id}-{}", "0".repeat(26)));
    auth_failed(f.roster.code_owner(&wrong));
    auth_failed(f.roster.code_owner(&wrong));
    assert!(matches!(
        f.roster.code_owner(&code),
        Err(Error::Locked { .. })
    ));
    f.roster.unlock_user(&Actor::Root, "bob").unwrap();
    auth_failed(f.roster.code_owner(&Secret::new("garbage")));

    // Used up by register: no owner any more.
    f.roster.register(&code, phc()).unwrap();
    auth_failed(f.roster.code_owner(&code));

    // Expired.
    let late = pending(&mut f, "carol");
    f.clock.advance(72 * 3600);
    assert!(auth_failed(f.roster.code_owner(&late)).contains("expired"));

    // Suspended.
    let (_, fresh) = f.roster.reset_password(&Actor::Root, "carol").unwrap();
    f.roster.suspend_user(&Actor::Root, "carol").unwrap();
    assert!(matches!(
        f.roster.code_owner(&fresh.code),
        Err(Error::PermissionDenied(_))
    ));
}

#[test]
fn verify_code_is_for_the_named_pending_user_only() {
    let mut f = fixture();
    let bob = pending(&mut f, "bob");
    let _pat = pending(&mut f, "pat");
    assert!(!f.roster.verify_code(&Actor::Root, "pat", &bob).unwrap());
    assert!(!f.roster.verify_code(&Actor::Root, "ghost", &bob).unwrap());
    assert!(
        !f.roster
            .verify_code(&Actor::Root, "bob", &Secret::new("x"))
            .unwrap()
    );
    f.roster.suspend_user(&Actor::Root, "bob").unwrap();
    assert!(!f.roster.verify_code(&Actor::Root, "bob", &bob).unwrap());
    assert!(
        matches!(f.roster.register(&bob, phc()), Err(Error::PermissionDenied(m)) if m.contains("suspended"))
    );
    let stranger = Actor::Stranger { uid: 5 };
    assert!(matches!(
        f.roster.verify_code(&stranger, "bob", &bob),
        Err(Error::PermissionDenied(_))
    ));
}

#[test]
fn an_admin_setting_the_password_uses_up_the_code() {
    let mut f = fixture();
    let code = pending(&mut f, "bob");
    let u = f
        .roster
        .set_password_hash(&Actor::Root, "bob", PasswordChange::ByAdmin, phc())
        .unwrap();
    assert_eq!(u.state, UserState::Active);
    auth_failed(f.roster.register(&code, phc()));
}

#[test]
fn tokens_act_as_their_user_within_scope() {
    let mut f = fixture();
    f.create_admin("ann");
    f.create("bob");
    let (t, secret) = token(&mut f, "ann", Scope::ReadOnly, None);
    assert_eq!(
        (
            t.user.as_str(),
            t.name.as_str(),
            t.scope,
            t.created,
            t.last_used
        ),
        ("ann", "ci", Scope::ReadOnly, T0, None)
    );
    assert!(!secret.expose().is_empty() && secret.expose().starts_with(&t.id));
    f.clock.advance(3);
    let presented = f.roster.present_token(&secret).unwrap();
    assert_eq!(
        (presented.id.as_str(), presented.last_used),
        (t.id.as_str(), Some(T0 + 3))
    );
    let actor = f
        .roster
        .actor(&Caller {
            uid: 4242,
            token_id: Some(t.id.clone()),
        })
        .unwrap();
    assert!(
        matches!(&actor, Actor::Token { scope: Scope::ReadOnly, user, .. } if user.name == "ann")
    );
    assert_eq!(f.roster.list_users(&actor, false).unwrap().len(), 2);
    assert!(
        matches!(f.roster.suspend_user(&actor, "bob"), Err(Error::PermissionDenied(m)) if m.contains("read-only"))
    );
    assert!(
        matches!(f.roster.check_account(&actor, "ann"), Err(Error::PermissionDenied(m)) if m.contains("tokens never"))
    );
    let (full, _) = token(&mut f, "ann", Scope::Full, None);
    let actor = f
        .roster
        .actor(&Caller {
            uid: 4242,
            token_id: Some(full.id),
        })
        .unwrap();
    f.roster.suspend_user(&actor, "bob").unwrap();
}

#[test]
fn token_management() {
    let mut f = fixture();
    f.create_admin("ann");
    f.create("bob");
    f.create("pat");
    let (t1, _) = token(&mut f, "bob", Scope::ReadOnly, None);
    let (t2, _) = token(&mut f, "bob", Scope::Full, Some(Duration::from_secs(60)));
    assert_eq!(t2.expires, Some(T0 + 60));
    let bob = f.actor("bob");
    let pat = f.actor("pat");
    let ann = f.actor("ann");
    assert_eq!(f.roster.list_tokens(&bob, None).unwrap().len(), 2);
    assert_eq!(f.roster.list_tokens(&ann, Some("bob")).unwrap().len(), 2);
    assert_eq!(
        f.roster.list_tokens(&Actor::Root, None).unwrap().len(),
        2,
        "root: everyone's"
    );
    assert!(f.roster.list_tokens(&ann, None).unwrap().is_empty());
    assert!(matches!(
        f.roster.list_tokens(&pat, Some("bob")),
        Err(Error::PermissionDenied(_))
    ));
    assert_eq!(
        f.roster.rename_token(&bob, &t1.id, "monitor").unwrap().name,
        "monitor"
    );
    assert!(matches!(
        f.roster.rename_token(&pat, &t1.id, "x"),
        Err(Error::PermissionDenied(_))
    ));
    assert!(matches!(
        f.roster.rename_token(&bob, &t1.id, ""),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        f.roster.rename_token(&bob, &t1.id, "a\nb"),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        f.roster.delete_token(&pat, &t1.id),
        Err(Error::PermissionDenied(_))
    ));
    f.roster.delete_token(&ann, &t1.id).unwrap();
    assert!(matches!(
        f.roster.delete_token(&bob, &t1.id),
        Err(Error::NotFound(_))
    ));
    assert!(matches!(
        f.roster.actor(&Caller {
            uid: 1,
            token_id: Some(t1.id)
        }),
        Err(Error::TokenRevoked(_))
    ));
    f.roster.delete_token(&bob, &t2.id).unwrap();
    assert!(f.roster.list_tokens(&bob, None).unwrap().is_empty());
    // Root has no tokens of its own; bad lifetimes.
    assert!(matches!(
        f.roster.create_token(&Actor::Root, None, Scope::Full, None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        f.roster
            .create_token(&bob, None, Scope::Full, Some(Duration::ZERO)),
        Err(Error::InvalidArgument(_))
    ));
    let ro = Actor::Token {
        user: match &bob {
            Actor::User(u) => u.clone(),
            _ => unreachable!(),
        },
        scope: Scope::ReadOnly,
        token_id: "x".into(),
    };
    assert!(matches!(
        f.roster.create_token(&ro, None, Scope::Full, None),
        Err(Error::PermissionDenied(_))
    ));
}

#[test]
fn tokens_expire() {
    let mut f = fixture();
    f.create("bob");
    let (t, secret) = token(
        &mut f,
        "bob",
        Scope::ReadOnly,
        Some(Duration::from_secs(60)),
    );
    f.clock.advance(60);
    assert!(matches!(
        f.roster.present_token(&secret),
        Err(Error::TokenExpired(_))
    ));
    assert!(matches!(
        f.roster.actor(&Caller { uid: 1, token_id: Some(t.id) }),
        Err(Error::TokenExpired(m)) if m.contains("expired")
    ));
}

#[test]
fn garbage_tokens_are_refused_cleanly() {
    let mut f = fixture();
    f.create("bob");
    let (t, secret) = token(&mut f, "bob", Scope::ReadOnly, None);
    for bad in [
        String::new(),
        "garbage".into(),
        secret.expose()[..secret.expose().len() - 1].to_string(),
        format!("{}-{}", t.id, "0".repeat(26)),
        "\0".repeat(1 << 16),
    ] {
        assert!(matches!(
            f.roster.present_token(&Secret::new(bad)),
            Err(Error::PermissionDenied(_))
        ));
    }
}

#[test]
fn tokens_are_voided_by_password_change_reset_suspend_delete_and_register() {
    type Void = fn(&mut Fixture);
    let voiders: [(&str, Void); 5] = [
        ("password change", |f| {
            let bob = f.actor("bob");
            f.roster
                .set_password_hash(&bob, "bob", super::fixture::own_change(), phc())
                .unwrap();
        }),
        ("reset", |f| {
            f.roster.reset_password(&Actor::Root, "bob").unwrap();
        }),
        ("suspend", |f| {
            f.roster.suspend_user(&Actor::Root, "bob").unwrap();
        }),
        ("delete", |f| {
            f.roster.delete_user(&Actor::Root, "bob").unwrap();
        }),
        ("register", |f| {
            let (_, code) = f.roster.reset_password(&Actor::Root, "bob").unwrap();
            f.roster.register(&code.code, phc()).unwrap();
        }),
    ];
    for (what, void) in voiders {
        let mut f = fixture();
        f.create("bob");
        let (t, secret) = token(&mut f, "bob", Scope::Full, None);
        void(&mut f);
        assert!(
            matches!(f.roster.present_token(&secret), Err(Error::TokenRevoked(_))),
            "{what}"
        );
        assert!(
            matches!(
                f.roster.actor(&Caller {
                    uid: 1,
                    token_id: Some(t.id)
                }),
                Err(Error::TokenRevoked(_))
            ),
            "{what}"
        );
        if what != "delete" {
            assert!(
                f.roster
                    .list_tokens(&Actor::Root, Some("bob"))
                    .unwrap()
                    .is_empty(),
                "{what}"
            );
        }
    }
}

#[test]
fn secrets_never_print() {
    let mut f = fixture();
    f.create("bob");
    let (t, secret) = token(&mut f, "bob", Scope::Full, None);
    assert_eq!(format!("{secret:?} {secret}"), "<redacted> <redacted>");
    let listed = format!("{:?}", f.roster.list_tokens(&Actor::Root, None).unwrap());
    let tail = &secret.expose()[t.id.len() + 1..];
    assert!(!listed.contains(tail));
    let code = pending(&mut f, "pen");
    assert!(
        !format!("{:?}", f.roster.show_user(&Actor::Root, "pen").unwrap()).contains(code.expose())
    );
}
}
