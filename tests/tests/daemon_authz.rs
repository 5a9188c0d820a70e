//! DESIGN.md's "Who may do what", end to end: real callers with real uids
//! (through setpriv) asking the real rosterd through the proxies.

use roster_tests::{STRANGER_UID, TestBus, TestDaemon};
use serde_json::Value;

const PW: &str = "correct horse battery";

struct World {
    _bus: TestBus,
    d: TestDaemon,
    boss: u32,
    envadmin: u32,
    reader: u32,
    plain: u32,
    target: u32,
}

fn world() -> World {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    d.add_environment("prod");
    let boss = d.create_user("boss", "admin", PW);
    let envadmin = d.create_user("envadmin", "user", PW);
    let reader = d.create_user("reader", "user", PW);
    let plain = d.create_user("plain", "user", PW);
    let target = d.create_user("target", "user", PW);
    d.create_user("other", "user", PW);
    d.grant("envadmin", "admin", "prod");
    d.grant("reader", "read", "prod");
    d.grant("target", "write", "prod");
    d.grant("other", "write", "default");
    World {
        _bus: bus,
        d,
        boss,
        envadmin,
        reader,
        plain,
        target,
    }
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

impl World {
    /// The error's short name, or "ok".
    fn call(&self, uid: Option<u32>, method: &str, args: &[String]) -> (String, Value) {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        let mut cmd = self.d.probe(method, &args);
        if let Some(uid) = uid {
            cmd = cmd.as_uid(uid);
        }
        let out = cmd.run();
        let v: Value = serde_json::from_str(&out.stdout)
            .unwrap_or_else(|_| panic!("{method}: no JSON: {} {}", out.stdout, out.stderr));
        match out.probe_error() {
            Some(e) => (e, v),
            None => ("ok".into(), v["ok"].clone()),
        }
    }

    fn outcome(&self, uid: Option<u32>, method: &str, args: &[String]) -> String {
        self.call(uid, method, args).0
    }

    fn names(&self, uid: Option<u32>) -> Vec<String> {
        let (r, v) = self.call(uid, "Users.List", &["false".into()]);
        assert_eq!(r, "ok", "{v}");
        let mut names: Vec<String> = v
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|u| u["name"].as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default();
        names.sort();
        names
    }
}

fn create_req(name: &str) -> String {
    serde_json::json!({"name": name, "display_name": "", "role": "", "home": "", "shell": "", "register": false})
        .to_string()
}

#[test]
fn users_create_is_for_root_and_role_admins() {
    let w = world();
    let pw = q(PW);
    assert_eq!(
        w.outcome(None, "Users.Create", &[create_req("n1"), pw.clone()]),
        "ok"
    );
    assert_eq!(
        w.outcome(
            Some(w.boss),
            "Users.Create",
            &[create_req("n2"), pw.clone()]
        ),
        "ok"
    );
    for uid in [w.envadmin, w.reader, w.plain, STRANGER_UID] {
        assert_eq!(
            w.outcome(Some(uid), "Users.Create", &[create_req("n3"), pw.clone()]),
            "PermissionDenied",
            "uid {uid}"
        );
    }
    // A refused create left nothing behind.
    assert_eq!(w.outcome(None, "Users.Show", &[q("n3")]), "NotFound");
}

#[test]
fn grants_in_an_environment_are_for_its_admins_only_there() {
    let w = world();
    let grant = |env: &str| vec![q("plain"), q("status"), q(env)];
    assert_eq!(
        w.outcome(Some(w.envadmin), "Grants.Grant", &grant("prod")),
        "ok"
    );
    assert_eq!(
        w.outcome(Some(w.envadmin), "Grants.Grant", &grant("default")),
        "PermissionDenied"
    );
    assert_eq!(
        w.outcome(Some(w.boss), "Grants.Grant", &grant("default")),
        "ok"
    );
    for uid in [w.reader, w.plain, w.target, STRANGER_UID] {
        assert_eq!(
            w.outcome(Some(uid), "Grants.Grant", &grant("prod")),
            "PermissionDenied",
            "uid {uid}"
        );
    }
    let revoke = vec![q("target"), q("write"), q("prod"), "false".into()];
    assert_eq!(
        w.outcome(Some(w.reader), "Grants.Revoke", &revoke),
        "PermissionDenied"
    );
    let (r, v) = w.call(Some(w.envadmin), "Grants.Revoke", &revoke);
    assert_eq!(r, "ok", "{v}");
    assert_eq!(v["remaining"], "read");
    // Nobody changes their own grants.
    let own = vec![q("envadmin"), q("status"), q("prod"), "false".into()];
    assert_ne!(w.outcome(Some(w.envadmin), "Grants.Revoke", &own), "ok");
}

#[test]
fn who_sees_which_users() {
    let w = world();
    let everyone = vec!["boss", "envadmin", "other", "plain", "reader", "target"];
    assert_eq!(w.names(None), everyone);
    assert_eq!(w.names(Some(w.boss)), everyone);
    // read+ holders of prod see prod's grant holders, and themselves.
    assert_eq!(
        w.names(Some(w.reader)),
        vec!["envadmin", "reader", "target"]
    );
    assert_eq!(w.names(Some(w.plain)), vec!["plain"]);
    assert!(w.names(Some(STRANGER_UID)).is_empty());
    assert_eq!(
        w.outcome(Some(w.reader), "Users.Show", &[q("target")]),
        "ok"
    );
    assert_ne!(w.outcome(Some(w.reader), "Users.Show", &[q("other")]), "ok");
    assert_ne!(w.outcome(Some(w.plain), "Users.Show", &[q("target")]), "ok");
    assert_eq!(w.outcome(Some(w.plain), "Users.Show", &[q("plain")]), "ok");
}

#[test]
fn admin_actions_are_for_root_and_role_admins() {
    let w = world();
    for uid in [w.envadmin, w.reader, w.plain, STRANGER_UID] {
        assert_eq!(
            w.outcome(Some(uid), "Users.Suspend", &[q("target"), "true".into()]),
            "PermissionDenied"
        );
        assert_eq!(
            w.outcome(Some(uid), "Users.Delete", &[q("target"), "true".into()]),
            "PermissionDenied"
        );
        assert_eq!(
            w.outcome(Some(uid), "Environments.Add", &[q("staging")]),
            "PermissionDenied"
        );
        assert_eq!(
            w.outcome(Some(uid), "Users.ResetPassword", &[q("target")]),
            "PermissionDenied"
        );
        assert_eq!(
            w.outcome(
                Some(uid),
                "Users.SetPassword",
                &[q("target"), q(""), q("a brand new secret")]
            ),
            "PermissionDenied"
        );
    }
    assert_eq!(
        w.outcome(Some(w.boss), "Users.Suspend", &[q("target"), "true".into()]),
        "ok"
    );
    assert_eq!(
        w.outcome(Some(w.boss), "Users.Enable", &[q("target")]),
        "ok"
    );
    assert_eq!(
        w.outcome(Some(w.boss), "Environments.Add", &[q("staging")]),
        "ok"
    );
    // Nobody suspends or deletes themselves.
    assert_ne!(
        w.outcome(Some(w.boss), "Users.Suspend", &[q("boss"), "true".into()]),
        "ok"
    );
    assert_ne!(
        w.outcome(Some(w.boss), "Users.Delete", &[q("boss"), "true".into()]),
        "ok"
    );
}

#[test]
fn a_user_changes_their_own_password_with_the_current_one() {
    let w = world();
    let new = q("another long secret");
    assert_eq!(
        w.outcome(
            Some(w.plain),
            "Users.SetPassword",
            &[q("plain"), q("wrong one"), new.clone()]
        ),
        "AuthFailed"
    );
    assert_eq!(
        w.outcome(
            Some(w.plain),
            "Users.SetPassword",
            &[q("plain"), q(PW), new.clone()]
        ),
        "ok"
    );
    // Not someone else's, even with a right "current".
    assert_ne!(
        w.outcome(
            Some(w.plain),
            "Users.SetPassword",
            &[q("target"), q(PW), new]
        ),
        "ok"
    );
}

#[test]
fn pam_calls_go_by_uid() {
    let w = world();
    let auth = |user: &str, pw: &str| vec![q(user), q(pw), q("")];
    let (r, v) = w.call(None, "Pam.Authenticate", &auth("target", PW));
    assert_eq!((r.as_str(), v["outcome"].as_str()), ("ok", Some("success")));
    // A screen locker checks its own user's password.
    let (r, v) = w.call(Some(w.target), "Pam.Authenticate", &auth("target", PW));
    assert_eq!((r.as_str(), v["outcome"].as_str()), ("ok", Some("success")));
    // Never someone else's, not even a role admin's uid.
    for uid in [w.plain, w.boss, STRANGER_UID] {
        assert_eq!(
            w.outcome(Some(uid), "Pam.Authenticate", &auth("target", PW)),
            "PermissionDenied"
        );
    }
    let session = serde_json::json!({
        "user": "target", "service": "sshd", "tty": "", "remote_host": "",
        "leader_pid": std::process::id(), "leader_start": 0
    })
    .to_string();
    for uid in [w.boss, w.target, STRANGER_UID] {
        assert_eq!(
            w.outcome(Some(uid), "Pam.OpenSession", std::slice::from_ref(&session)),
            "PermissionDenied"
        );
    }
}

#[test]
fn whoami_says_who_the_daemon_thinks_the_caller_is() {
    let w = world();
    let (_, me) = w.call(None, "Users.WhoAmI", &[]);
    assert_eq!(me["is_root"], true);
    let (_, me) = w.call(Some(w.reader), "Users.WhoAmI", &[]);
    assert_eq!(me["user"], "reader");
    assert_eq!(me["uid"], w.reader);
    assert_eq!(me["grants"][0]["environment"], "prod");
    let (_, me) = w.call(Some(STRANGER_UID), "Users.WhoAmI", &[]);
    assert_eq!(me["user"], "");
    assert_eq!(me["uid"], STRANGER_UID);
}

#[test]
fn sessions_are_for_status_holders_and_their_owners() {
    let w = world();
    // This host's environment is `default`: `other` holds write there.
    assert_eq!(
        w.outcome(None, "Sessions.List", &[q(""), "false".into()]),
        "ok"
    );
    assert_eq!(
        w.outcome(Some(w.boss), "Sessions.List", &[q(""), "false".into()]),
        "ok"
    );
    // Everyone may list their own.
    assert_eq!(
        w.outcome(
            Some(w.plain),
            "Sessions.List",
            &[q("plain"), "false".into()]
        ),
        "ok"
    );
    assert_ne!(
        w.outcome(
            Some(w.plain),
            "Sessions.List",
            &[q("target"), "false".into()]
        ),
        "ok"
    );
}
