//! `roster-controller` as an operator runs it, against a real PostgreSQL
//! 15 started by the test (roster-store-postgres's test server, a fresh
//! database per test): `init`, `token create`, `serve` on loopback, and
//! the hosts' API driven by a client of the test's own (hyper over
//! rustls, with and without a host certificate). Changes to the store are
//! made through core's rules on the PostgreSQL backend, as the
//! controller's own API will make them.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod harness;

use harness::{Controller, HostCert, Reply, create_user};
use roster_core::Actor;
use roster_core::level::Level;
use roster_fleet_protocol::{PROTOCOL_HEADER, PROTOCOL_VERSION};
use serde_json::{Value, json};
use std::process::Command;
use std::time::{Duration, Instant};

#[test]
fn a_host_enrolls_takes_the_snapshot_and_a_long_poll_wakes_on_a_change() {
    let Some(controller) = Controller::start("enroll_sync") else {
        return;
    };
    let (host, enrolled) = controller.enroll("default", "web-1");
    assert_eq!(enrolled["environment"], "default");
    assert_eq!(enrolled["hostname"], "web-1");
    assert_eq!(
        enrolled["controllers"],
        json!(["https://controller.test:8443"])
    );
    let epoch = enrolled["epoch"].as_str().unwrap().to_string();
    assert_eq!(epoch.len(), 26);
    // The certificate carries the host's row, never the CSR's fields.
    let identity = roster_controller::pki::HostIdentity::from_cert_der(
        &rustls_pemfile::certs(&mut host.chain_pem.as_bytes())
            .next()
            .unwrap()
            .unwrap(),
    )
    .unwrap();
    assert_eq!(identity.name, "web-1");
    assert_eq!(identity.environment, "default");

    let hello = controller.call("GET", "/v1/hello", None, Some(&host));
    assert_eq!(hello.status, 200, "{}", hello.json);
    assert_eq!(hello.json["body"]["hostname"], "web-1");
    assert_eq!(hello.json["body"]["epoch"], epoch.as_str());

    // The first admin was created before: cursor 0 is older than the window.
    let old = controller.call(
        "GET",
        &format!("/v1/sync?after=0&epoch={epoch}"),
        None,
        Some(&host),
    );
    assert_eq!(old.status, 410, "{}", old.json);
    assert_eq!(old.json["code"], "cursor_too_old");

    let snapshot = controller.call("GET", "/v1/snapshot", None, Some(&host));
    assert_eq!(snapshot.status, 200, "{}", snapshot.json);
    assert_eq!(snapshot.json["protocol"], PROTOCOL_VERSION);
    assert!(snapshot.json["time"].as_i64().unwrap() > 1_700_000_000);
    let body = &snapshot.json["body"];
    let alice = &body["users"][0];
    assert_eq!(alice["name"], "alice");
    assert_eq!(alice["role"], "admin");
    assert_eq!(
        alice["password"]["hash"],
        Value::Null,
        "role admins' hashes aren't spread"
    );
    assert!(alice["password"]["changed"].as_i64().is_some());
    let cursor = body["cursor"].as_i64().unwrap();

    // A long poll waiting at the head wakes with the change, well before
    // its 20 s heartbeat (which would be empty).
    let waiting = {
        let path = format!("/v1/sync?after={cursor}&epoch={epoch}");
        let host = host.clone();
        let controller = &controller;
        std::thread::scope(|scope| {
            let poll = scope.spawn(move || {
                let started = Instant::now();
                let reply = controller.call("GET", &path, None, Some(&host));
                (reply, started.elapsed())
            });
            std::thread::sleep(Duration::from_millis(500));
            create_user(&mut controller.roster(), "bob", "default", Level::Write);
            poll.join().unwrap()
        })
    };
    let (reply, waited) = waiting;
    assert_eq!(reply.status, 200, "{}", reply.json);
    let changes = reply.json["body"]["changes"].as_array().unwrap().clone();
    assert!(
        !changes.is_empty(),
        "woken by the change, not the heartbeat"
    );
    eprintln!("a long poll answered {waited:?} after it began (the change came at ~0.5 s)");
    // bob is created, then granted (two commits): poll on until the
    // grant arrives, with the hash that comes with it.
    let mut cursor_now = reply.json["body"]["cursor"].as_i64().unwrap();
    assert!(cursor_now > cursor);
    let find_bob = |changes: &[Value]| changes.iter().rev().find(|c| c["name"] == "bob").cloned();
    let mut last_bob = find_bob(&changes);
    for _ in 0..10 {
        if last_bob.as_ref().is_some_and(|bob| bob["level"] == "write") {
            break;
        }
        let path = format!("/v1/sync?after={cursor_now}&epoch={epoch}");
        let next = controller.call("GET", &path, None, Some(&host));
        assert_eq!(next.status, 200, "{}", next.json);
        cursor_now = next.json["body"]["cursor"].as_i64().unwrap();
        if let Some(bob) = find_bob(next.json["body"]["changes"].as_array().unwrap()) {
            last_bob = Some(bob);
        }
    }
    let bob = last_bob.expect("bob's changes arrive");
    assert_eq!(bob["level"], "write");
    assert!(
        bob["password"]["hash"]
            .as_str()
            .unwrap()
            .starts_with("$argon2id$")
    );

    // The hosts list shows it.
    let list = controller.command(&["hosts", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("web-1"));
    // /metrics on its own listener.
    let metrics = controller.metrics_text();
    for name in [
        "roster_connected_hosts",
        "roster_feed_lag_seconds",
        "roster_limiter_drops_total",
        "roster_sync_answers_total",
    ] {
        assert!(metrics.contains(name), "{name} in\n{metrics}");
    }
}

#[test]
fn a_join_token_is_single_use_expires_and_is_kept_by_a_refused_request() {
    let Some(controller) = Controller::start("tokens") else {
        return;
    };
    let token = controller.join_token("default", "1h");

    // A refused request leaves the token usable: a bad CSR, a bad name,
    // an unknown field, a report over the cap.
    let (mut bad_csr, _) = controller.enroll_request(&token, "db-1");
    bad_csr["csr_pem"] =
        json!("-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n-----END CERTIFICATE REQUEST-----\n");
    assert_eq!(
        controller
            .call("POST", "/v1/enroll", Some(bad_csr), None)
            .status,
        400
    );
    let (bad_name, _) = controller.enroll_request(&token, "DB 1");
    assert_eq!(
        controller
            .call("POST", "/v1/enroll", Some(bad_name), None)
            .status,
        400
    );
    let (mut unknown, _) = controller.enroll_request(&token, "db-1");
    unknown["environment"] = json!("prod");
    let reply = controller.call("POST", "/v1/enroll", Some(unknown), None);
    assert_eq!(reply.status, 400);
    assert!(
        reply.json["message"]
            .as_str()
            .unwrap()
            .contains("environment"),
        "{}",
        reply.json
    );
    let (mut over, _) = controller.enroll_request(&token, "db-1");
    over["local"]["used"] = Value::Array(
        (0..10_001)
            .map(|i| json!({"kind": "user", "name": format!("u{i}"), "id": i}))
            .collect(),
    );
    assert_eq!(
        controller
            .call("POST", "/v1/enroll", Some(over), None)
            .status,
        413
    );
    let (mut wrong_type, _) = controller.enroll_request(&token, "db-1");
    wrong_type["local"]["ranges"] = json!("all of them");
    assert_eq!(
        controller
            .call("POST", "/v1/enroll", Some(wrong_type), None)
            .status,
        400
    );
    let not_json = controller
        .request(
            "POST",
            "/v1/enroll",
            Some(b"{not json".to_vec()),
            None,
            Some("1"),
        )
        .unwrap();
    assert_eq!(not_json.status, 400);
    assert_eq!(not_json.json["code"], "bad_request");
    // A body announced larger than the controller reads is refused before
    // it is sent (the controller doesn't read 3 MiB to say no).
    let huge = controller.status_of_raw("POST /v1/enroll", 3 << 20);
    assert_eq!(huge, 413);

    // A host whose own ranges overlap the fleet's uids can't join.
    let (mut overlapping, _) = controller.enroll_request(&token, "db-1");
    overlapping["local"]["ranges"] =
        json!([{"kind": "subuid", "first": 1879048000u32, "count": 65536}]);
    let reply = controller.call("POST", "/v1/enroll", Some(overlapping), None);
    assert_eq!(reply.status, 409, "{}", reply.json);
    assert!(reply.json["message"].as_str().unwrap().contains("overlaps"));

    // Now it works, once.
    let (good, _) = controller.enroll_request(&token, "db-1");
    assert_eq!(
        controller
            .call("POST", "/v1/enroll", Some(good), None)
            .status,
        200
    );
    let (again, _) = controller.enroll_request(&token, "db-2");
    let replay = controller.call("POST", "/v1/enroll", Some(again), None);
    assert_eq!(replay.status, 409, "{}", replay.json);

    // A wrong secret and a mistyped token say the same.
    let mut forged = token.clone();
    forged.replace_range(token.len() - 3.., "000");
    let (forged, _) = controller.enroll_request(&forged, "db-3");
    assert_eq!(
        controller
            .call("POST", "/v1/enroll", Some(forged), None)
            .status,
        403
    );
    let (garbage, _) = controller.enroll_request("hello", "db-3");
    assert_eq!(
        controller
            .call("POST", "/v1/enroll", Some(garbage), None)
            .status,
        403
    );

    // A name taken.
    let other = controller.join_token("default", "1h");
    let (taken, _) = controller.enroll_request(&other, "db-1");
    assert_eq!(
        controller
            .call("POST", "/v1/enroll", Some(taken), None)
            .status,
        409
    );

    // Expired.
    let short = controller.join_token("default", "1s");
    std::thread::sleep(Duration::from_millis(2100));
    let (late, _) = controller.enroll_request(&short, "db-4");
    let late = controller.call("POST", "/v1/enroll", Some(late), None);
    assert_eq!(late.status, 403);
    assert!(late.json["message"].as_str().unwrap().contains("expired"));

    // An environment that doesn't exist gets no token.
    let out = controller.command(&["token", "create", "--environment", "nowhere"]);
    assert!(!out.status.success());
}

#[test]
fn certificates_decide_who_reads_what() {
    let Some(controller) = Controller::start("certificates") else {
        return;
    };
    let set = controller.command(&["environments", "set", "prod", "login_level=read"]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    let (web, enrolled) = controller.enroll("default", "web-1");
    let (db, _) = controller.enroll("prod", "db-1");
    let epoch = enrolled["epoch"].as_str().unwrap().to_string();
    let mut roster = controller.roster();
    create_user(&mut roster, "carol", "prod", Level::Read);

    // No certificate: only enrollment answers.
    for path in ["/v1/snapshot", &format!("/v1/sync?after=0&epoch={epoch}")] {
        let reply = controller.call("GET", path, None, None);
        assert_eq!(reply.status, 401, "{path}: {}", reply.json);
    }
    // Each host sees its own environment's grants and credentials only.
    let seen = |host: &HostCert| {
        let snapshot = controller.call("GET", "/v1/snapshot", None, Some(host));
        assert_eq!(snapshot.status, 200);
        snapshot.json["body"].clone()
    };
    let in_prod = seen(&db);
    assert_eq!(in_prod["environment"]["name"], "prod");
    assert_eq!(in_prod["environment"]["login_level"], "read");
    let carol = in_prod["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "carol")
        .unwrap()
        .clone();
    assert_eq!(carol["level"], "read");
    assert!(carol["password"]["hash"].is_string());
    let in_default = seen(&web);
    let carol = in_default["users"]
        .as_array()
        .unwrap()
        .iter()
        .find(|u| u["name"] == "carol")
        .unwrap()
        .clone();
    assert_eq!(
        carol["level"],
        Value::Null,
        "another environment's grant never goes"
    );
    assert_eq!(carol["password"]["hash"], Value::Null);

    // A revoked host is refused at its next request.
    let out = controller.command(&["hosts", "revoke", "web-1"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = controller.call("GET", "/v1/snapshot", None, Some(&web));
        if reply.status == 403 {
            assert_eq!(reply.json["code"], "revoked");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "still served after revoke: {}",
            reply.json
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(
        controller
            .call("GET", "/v1/snapshot", None, Some(&db))
            .status,
        200
    );

    // A certificate from another CA doesn't even connect.
    let stranger = rcgen::KeyPair::generate().unwrap();
    let self_signed = rcgen::CertificateParams::new(vec!["db-1".into()])
        .unwrap()
        .self_signed(&stranger)
        .unwrap();
    let forged = HostCert {
        chain_pem: self_signed.pem(),
        key_pem: stranger.serialize_pem(),
    };
    assert!(
        controller
            .request("GET", "/v1/snapshot", None, Some(&forged), Some("1"))
            .is_err()
    );
}

#[test]
fn versions_one_behind_are_served_one_ahead_refused_and_every_answer_says_both() {
    let Some(controller) = Controller::start("versions") else {
        return;
    };
    let (host, _) = controller.enroll("default", "web-1");
    let behind = controller
        .request(
            "GET",
            "/v1/snapshot",
            None,
            Some(&host),
            Some(&(PROTOCOL_VERSION - 1).to_string()),
        )
        .unwrap();
    assert_eq!(behind.status, 200);
    let ahead = controller
        .request(
            "GET",
            "/v1/snapshot",
            None,
            Some(&host),
            Some(&(PROTOCOL_VERSION + 1).to_string()),
        )
        .unwrap();
    assert_eq!(ahead.status, 400);
    assert_eq!(ahead.json["code"], "protocol_unsupported");
    let none = controller
        .request("GET", "/v1/snapshot", None, Some(&host), None)
        .unwrap();
    assert_eq!(none.status, 400);
    for reply in [&behind, &ahead, &none] {
        assert_eq!(reply.headers[PROTOCOL_HEADER], PROTOCOL_VERSION.to_string());
        assert!(
            reply.headers["roster-time"]
                .to_str()
                .unwrap()
                .parse::<i64>()
                .unwrap()
                > 1_700_000_000
        );
    }
    let unknown_query = controller.call(
        "GET",
        "/v1/sync?after=1&epoch=x&cursor=3",
        None,
        Some(&host),
    );
    assert_eq!(unknown_query.status, 400);
}

#[test]
fn a_restore_makes_a_new_epoch_and_old_cursors_are_refused() {
    let Some(controller) = Controller::start("restore") else {
        return;
    };
    let (host, enrolled) = controller.enroll("default", "web-1");
    let epoch = enrolled["epoch"].as_str().unwrap().to_string();
    let out = controller.command(&["restore", "--backup-time", "0"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let printed = String::from_utf8_lossy(&out.stdout);
    assert!(
        printed.contains("hosts join"),
        "the audit since the backup: {printed}"
    );
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = controller.call(
            "GET",
            &format!("/v1/sync?after=0&epoch={epoch}"),
            None,
            Some(&host),
        );
        if reply.json["code"] == "epoch_changed" {
            assert_eq!(reply.status, 410);
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the old epoch still served: {}",
            reply.json
        );
        std::thread::sleep(Duration::from_millis(100));
    }
    let snapshot = controller.call("GET", "/v1/snapshot", None, Some(&host));
    assert_ne!(snapshot.json["body"]["epoch"].as_str().unwrap(), epoch);
}

#[test]
fn init_refuses_to_run_twice_and_the_config_is_checked() {
    let Some(controller) = Controller::start("init_twice") else {
        return;
    };
    let again = controller.command_with_stdin(
        &["init", "--admin", "bob", "--password-stdin"],
        "another password\n",
    );
    assert!(!again.status.success());
    assert!(String::from_utf8_lossy(&again.stderr).contains("initialized already"));
    let key = controller.dir.path().join("server.key");
    let mode =
        std::os::unix::fs::PermissionsExt::mode(&std::fs::metadata(&key).unwrap().permissions());
    assert_eq!(mode & 0o777, 0o600);
    let check = controller.command(&["--check-config"]);
    assert!(check.status.success());
    let bad = controller.dir.path().join("bad.toml");
    std::fs::write(&bad, "[listen]\napi_port = 1\n").unwrap();
    let out = Command::new(harness::bin())
        .arg("--config")
        .arg(&bad)
        .arg("--check-config")
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("api_port"));
}

fn request_id() -> String {
    use std::sync::atomic::{AtomicU32, Ordering};
    static NEXT: AtomicU32 = AtomicU32::new(0);
    format!(
        "test-request-{:08}-{}",
        NEXT.fetch_add(1, Ordering::Relaxed),
        std::process::id()
    )
}

fn op(controller: &Controller, host: &HostCert, id: &str, credential: Value, op: Value) -> Reply {
    controller.call(
        "POST",
        "/v1/ops",
        Some(json!({"request_id": id, "credential": credential, "op": op})),
        Some(host),
    )
}

fn password(user: &str, password: &str) -> Value {
    json!({"kind": "password", "user": user, "password": password})
}

#[test]
fn a_person_acts_through_a_host_with_their_own_credential_and_a_retry_applies_once() {
    let Some(controller) = Controller::start("ops") else {
        return;
    };
    let (web, _) = controller.enroll("default", "web-1");
    let (db, _) = controller.enroll("default", "db-1");
    create_user(&mut controller.roster(), "bob", "default", Level::Write);

    // The host's certificate alone authorizes nothing for a person.
    let none = controller.call(
        "POST",
        "/v1/ops",
        Some(json!({"request_id": request_id(), "op": {"op": "suspend_user", "name": "bob"}})),
        Some(&web),
    );
    assert_eq!(none.status, 400, "{}", none.json);
    let forged = op(
        &controller,
        &web,
        &request_id(),
        json!({"kind": "token", "token": "abcdefgh-0123456789abcdefghjkmnpqrs"}),
        json!({"op": "suspend_user", "name": "bob"}),
    );
    assert_eq!(forged.status, 403, "{}", forged.json);
    // bob is no admin: his own password proves him, and he may not suspend.
    let not_allowed = op(
        &controller,
        &web,
        &request_id(),
        password("bob", "a long password"),
        json!({"op": "suspend_user", "name": "alice"}),
    );
    assert!(
        matches!(not_allowed.status, 403 | 404),
        "{}",
        not_allowed.json
    );

    // alice logs in on web-1: a session bound to web-1.
    let login = op(
        &controller,
        &web,
        &request_id(),
        password("alice", "a long password"),
        json!({"op": "login", "hours": null}),
    );
    assert_eq!(login.status, 200, "{}", login.json);
    let session = login.json["body"]["token"].as_str().unwrap().to_string();
    let with_session = json!({"kind": "token", "token": session});
    let elsewhere = op(
        &controller,
        &db,
        &request_id(),
        with_session.clone(),
        json!({"op": "show_user", "name": "bob"}),
    );
    assert_eq!(
        elsewhere.status, 403,
        "a session works from its own host only: {}",
        elsewhere.json
    );

    // A change, retried with the same request id: applied once, the
    // same answer.
    let id = request_id();
    let first = op(
        &controller,
        &web,
        &id,
        with_session.clone(),
        json!({"op": "suspend_user", "name": "bob"}),
    );
    assert_eq!(first.status, 200, "{}", first.json);
    controller
        .roster()
        .enable_user(&Actor::Root, "bob")
        .unwrap();
    let again = op(
        &controller,
        &web,
        &id,
        with_session.clone(),
        json!({"op": "suspend_user", "name": "bob"}),
    );
    assert_eq!(again.status, 200);
    assert_eq!(again.json["body"], first.json["body"]);
    let bob = controller.roster().user_by_name("bob").unwrap().unwrap();
    assert_eq!(bob.state.as_str(), "active", "the repeat changed nothing");

    // A code shown once is not shown again on a repeat.
    let id = request_id();
    let created = op(
        &controller,
        &web,
        &id,
        with_session.clone(),
        json!({"op": "create_user", "name": "carol", "display_name": null, "role": null, "password": null}),
    );
    assert_eq!(created.status, 200, "{}", created.json);
    assert!(created.json["body"]["code"].is_string());
    let repeat = op(
        &controller,
        &web,
        &id,
        with_session.clone(),
        json!({"op": "create_user", "name": "carol", "display_name": null, "role": null, "password": null}),
    );
    assert_eq!(
        repeat.json["body"]["kind"], "already_done",
        "{}",
        repeat.json
    );
    // The code registers carol through the controller.
    let code = created.json["body"]["code"].as_str().unwrap().to_string();
    let registered = op(
        &controller,
        &db,
        &request_id(),
        json!({"kind": "code", "code": code}),
        json!({"op": "register", "new_password": "a secret for registering"}),
    );
    assert_eq!(registered.status, 200, "{}", registered.json);
    // An own password change with the current password.
    let changed = op(
        &controller,
        &db,
        &request_id(),
        password("carol", "a secret for registering"),
        json!({"op": "set_password", "name": "carol", "new_password": "a newer password"}),
    );
    assert_eq!(changed.status, 200, "{}", changed.json);
    // Authenticate: a role admin's hash reaches the host after an online check.
    let online = op(
        &controller,
        &db,
        &request_id(),
        password("alice", "a long password"),
        json!({"op": "authenticate"}),
    );
    assert_eq!(online.status, 200, "{}", online.json);
    assert!(
        online.json["body"]["user"]["password"]["hash"]
            .as_str()
            .unwrap()
            .starts_with("$argon2id$")
    );

    // The audit names the person, the host and the request id.
    let out = controller.command(&["restore", "--backup-time", "0"]);
    let audit = String::from_utf8_lossy(&out.stdout);
    assert!(
        audit.contains("suspend_user") && audit.contains("web-1"),
        "{audit}"
    );
}

#[test]
fn online_guessing_is_locked_out_per_host_and_a_host_over_its_argon2_quota_waits_alone() {
    let Some(controller) = Controller::start_with(
        "guessing",
        harness::TEST_LIMITS,
        "[argon2]\nmemory_kib = 65536\niterations = 2\n[lockout]\nattempts = 3\nremote_attempts = 5\n",
    ) else {
        return;
    };
    let (web, _) = controller.enroll("default", "web-1");
    let (db, _) = controller.enroll("default", "db-1");
    for attempt in 1..=3 {
        let wrong = op(
            &controller,
            &web,
            &request_id(),
            password("alice", "guess"),
            json!({"op": "authenticate"}),
        );
        // The failure that reaches the bound locks at once.
        let expected = if attempt < 3 { 403 } else { 429 };
        assert_eq!(wrong.status, expected, "attempt {attempt}: {}", wrong.json);
    }
    let right = op(
        &controller,
        &web,
        &request_id(),
        password("alice", "a long password"),
        json!({"op": "authenticate"}),
    );
    assert_eq!(
        right.status, 429,
        "locked from web-1 even with the right password: {}",
        right.json
    );
    let other = op(
        &controller,
        &db,
        &request_id(),
        password("alice", "a long password"),
        json!({"op": "authenticate"}),
    );
    assert_eq!(
        other.status, 200,
        "another host isn't locked: {}",
        other.json
    );
    // The bound over all hosts: two more failures from db-1 lock alice
    // everywhere remote.
    for _ in 0..2 {
        op(
            &controller,
            &db,
            &request_id(),
            password("alice", "guess"),
            json!({"op": "authenticate"}),
        );
    }
    let bound = op(
        &controller,
        &db,
        &request_id(),
        password("alice", "a long password"),
        json!({"op": "authenticate"}),
    );
    assert_eq!(bound.status, 429, "{}", bound.json);

    // The argon2 quota: web-1 runs one check at a time; db-1 goes on.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let polls: Vec<_> = (0..4)
            .map(|_| {
                let web = web.clone();
                let controller = &controller;
                scope.spawn(move || {
                    op(
                        controller,
                        &web,
                        &request_id(),
                        password("bob-nobody", "x"),
                        json!({"op": "authenticate"}),
                    )
                    .status
                })
            })
            .collect();
        polls.into_iter().map(|p| p.join().unwrap()).collect()
    });
    assert!(statuses.contains(&429), "over the quota: {statuses:?}");
    assert!(statuses.contains(&403), "one ran: {statuses:?}");
}

#[test]
fn a_host_reports_and_renews_about_itself_only() {
    let Some(controller) = Controller::start("report") else {
        return;
    };
    let (web, enrolled) = controller.enroll("default", "web-1");
    let entry = json!({"at": 1_800_000_000i64, "kind": "login_result", "text": "alice ssh from 10.0.0.5: success"});
    let own = controller.call(
        "POST",
        "/v1/report",
        Some(json!({"host": "web-1", "entries": [entry]})),
        Some(&web),
    );
    assert_eq!(own.status, 200, "{}", own.json);
    assert_eq!(own.json["body"]["kept"], 1);
    let other = controller.call(
        "POST",
        "/v1/report",
        Some(json!({"host": "db-1", "entries": [entry]})),
        Some(&web),
    );
    assert_eq!(other.status, 403, "{}", other.json);
    let many: Vec<Value> = (0..1001).map(|_| entry.clone()).collect();
    let over = controller.call(
        "POST",
        "/v1/report",
        Some(json!({"host": "web-1", "entries": many})),
        Some(&web),
    );
    assert_eq!(over.status, 413, "{}", over.json);
    let anonymous = controller.call(
        "POST",
        "/v1/report",
        Some(json!({"host": "web-1", "entries": []})),
        None,
    );
    assert_eq!(anonymous.status, 401);

    // Renewal with a new key: the new certificate names the same host.
    let key = rcgen::KeyPair::generate().unwrap();
    let csr = rcgen::CertificateParams::new(vec!["anything".to_string()])
        .unwrap()
        .serialize_request(&key)
        .unwrap()
        .pem()
        .unwrap();
    let renewed = controller.call(
        "POST",
        "/v1/renew",
        Some(json!({"csr_pem": csr})),
        Some(&web),
    );
    assert_eq!(renewed.status, 200, "{}", renewed.json);
    let fresh = HostCert {
        chain_pem: renewed.json["body"]["certificate_pem"]
            .as_str()
            .unwrap()
            .to_string(),
        key_pem: key.serialize_pem(),
    };
    let before = roster_controller::pki::HostIdentity::from_cert_pem(&web.chain_pem).unwrap();
    let after = roster_controller::pki::HostIdentity::from_cert_pem(&fresh.chain_pem).unwrap();
    assert_eq!((after.id, after.name.as_str()), (before.id, "web-1"));
    assert_ne!(after.serial, before.serial);
    assert_eq!(
        renewed.json["body"]["ca_bundle_pem"],
        enrolled["ca_bundle_pem"]
    );
    assert_eq!(
        controller
            .call("GET", "/v1/snapshot", None, Some(&fresh))
            .status,
        200
    );
    // A host that lost the renewal's answer renews again with the old one.
    let again = controller.call(
        "POST",
        "/v1/renew",
        Some(json!({"csr_pem": csr})),
        Some(&web),
    );
    assert_eq!(again.status, 200, "{}", again.json);
    let fresh = HostCert {
        chain_pem: again.json["body"]["certificate_pem"]
            .as_str()
            .unwrap()
            .to_string(),
        key_pem: fresh.key_pem.clone(),
    };
    assert_eq!(
        controller
            .call("GET", "/v1/hello", None, Some(&fresh))
            .status,
        200
    );
    // The certificate it replaced is refused from now on.
    assert_eq!(
        controller.call("GET", "/v1/hello", None, Some(&web)).status,
        401
    );
    // Renewal needs a certificate: enrollment's anonymous client gets none.
    let anonymous = controller.call("POST", "/v1/renew", Some(json!({"csr_pem": csr})), None);
    assert_eq!(anonymous.status, 401);
}

#[test]
fn two_replicas_serve_one_store_and_each_wakes_its_own_long_polls() {
    let Some(controller) = Controller::start("replicas") else {
        return;
    };
    let second = controller.another_replica();
    // Enrolled through the first, served by the second (which reads the
    // new host's row once).
    let (host, enrolled) = controller.enroll("default", "web-1");
    let epoch = enrolled["epoch"].as_str().unwrap().to_string();
    let hello = controller
        .request_to(
            &second.api,
            "GET",
            "/v1/hello",
            None,
            Some(&host),
            Some("1"),
        )
        .unwrap();
    assert_eq!(hello.status, 200, "{}", hello.json);
    let head = hello.json["body"]["head"].as_i64().unwrap();
    let (reply, _) = std::thread::scope(|scope| {
        let path = format!("/v1/sync?after={head}&epoch={epoch}");
        let (controller, host, api) = (&controller, &host, second.api.clone());
        let poll = scope.spawn(move || {
            controller
                .request_to(&api, "GET", &path, None, Some(host), Some("1"))
                .unwrap()
        });
        std::thread::sleep(Duration::from_millis(500));
        create_user(&mut controller.roster(), "dave", "default", Level::Read);
        (poll.join().unwrap(), ())
    });
    assert_eq!(reply.status, 200, "{}", reply.json);
    let changes = reply.json["body"]["changes"].as_array().unwrap();
    assert!(
        changes.iter().any(|c| c["name"] == "dave"),
        "{}",
        reply.json
    );
    // A revocation made anywhere reaches every replica.
    let out = controller.command(&["hosts", "revoke", "web-1"]);
    assert!(out.status.success());
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = controller
            .request_to(
                &second.api,
                "GET",
                "/v1/hello",
                None,
                Some(&host),
                Some("1"),
            )
            .unwrap();
        if reply.status == 403 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the second replica still serves a revoked host"
        );
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn a_role_admin_runs_the_fleet_and_the_directory_through_a_host() {
    let Some(controller) = Controller::start("fleet_admin") else {
        return;
    };
    let (web, _) = controller.enroll("default", "web-1");
    create_user(&mut controller.roster(), "bob", "default", Level::Write);
    let login = op(
        &controller,
        &web,
        &request_id(),
        password("alice", "a long password"),
        json!({"op": "login", "hours": 1}),
    );
    assert_eq!(login.status, 200, "{}", login.json);
    let alice = json!({"kind": "token", "token": login.json["body"]["token"]});
    let bob = password("bob", "a long password");

    // Role admins run the fleet; a plain user is refused and nothing changes.
    let set = op(
        &controller,
        &web,
        &request_id(),
        alice.clone(),
        json!({"op": "environments_set", "environment": "prod", "settings": ["login_level=read"]}),
    );
    assert_eq!(set.status, 200, "{}", set.json);
    let token = op(
        &controller,
        &web,
        &request_id(),
        password("alice", "a long password"),
        json!({"op": "join_token_create", "environment": "prod", "expires": "10m"}),
    );
    assert_eq!(token.status, 200, "{}", token.json);
    let join = token.json["body"]["token"].as_str().unwrap().to_string();
    let (request, _) = controller.enroll_request(&join, "db-1");
    let enrolled = controller.call("POST", "/v1/enroll", Some(request), None);
    assert_eq!(enrolled.status, 200, "{}", enrolled.json);
    assert_eq!(enrolled.json["body"]["environment"], "prod");
    let hosts = op(
        &controller,
        &web,
        &request_id(),
        alice.clone(),
        json!({"op": "hosts_list", "environment": null}),
    );
    let names: Vec<&str> = hosts.json["body"]["hosts"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["name"].as_str().unwrap())
        .collect();
    assert_eq!(names, ["db-1", "web-1"]);
    for (what, denied) in [
        (
            "hosts_list",
            json!({"op": "hosts_list", "environment": null}),
        ),
        (
            "hosts_revoke",
            json!({"op": "hosts_revoke", "host": "db-1"}),
        ),
        (
            "join_token_create",
            json!({"op": "join_token_create", "environment": "prod", "expires": null}),
        ),
    ] {
        let reply = op(&controller, &web, &request_id(), bob.clone(), denied);
        assert_eq!(reply.status, 403, "{what}: {}", reply.json);
    }
    let revoke = op(
        &controller,
        &web,
        &request_id(),
        alice.clone(),
        json!({"op": "hosts_revoke", "host": "db-1"}),
    );
    assert_eq!(revoke.status, 200, "{}", revoke.json);

    // The directory: bob's own key and token, alice's environments.
    let key = "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIB7ijdz4CHikv/b4bhY77ZLFwKuEt6De759fDJSMTY/9 bob@laptop";
    let added = op(
        &controller,
        &web,
        &request_id(),
        bob.clone(),
        json!({"op": "add_key", "name": "bob", "line": key}),
    );
    assert_eq!(added.status, 200, "{}", added.json);
    let keys = op(
        &controller,
        &web,
        &request_id(),
        bob.clone(),
        json!({"op": "list_keys", "name": "bob"}),
    );
    assert_eq!(keys.json["body"]["keys"][0]["comment"], "bob@laptop");
    let made = op(
        &controller,
        &web,
        &request_id(),
        bob.clone(),
        json!({"op": "create_token", "name": "ci", "scope": "read-only", "expires_hours": 2}),
    );
    assert_eq!(made.status, 200, "{}", made.json);
    let ci = json!({"kind": "token", "token": made.json["body"]["token"]});
    let read = op(
        &controller,
        &web,
        &request_id(),
        ci.clone(),
        json!({"op": "show_user", "name": "bob"}),
    );
    assert_eq!(read.status, 200, "{}", read.json);
    let write = op(
        &controller,
        &web,
        &request_id(),
        ci,
        json!({"op": "remove_key", "name": "bob", "fingerprint": keys.json["body"]["keys"][0]["fingerprint"]}),
    );
    assert_eq!(
        write.status, 403,
        "a read-only token writes nothing: {}",
        write.json
    );
    let environments = op(
        &controller,
        &web,
        &request_id(),
        alice.clone(),
        json!({"op": "list_environments"}),
    );
    let listed: Vec<&str> = environments.json["body"]["environments"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert!(
        listed.contains(&"prod") && listed.contains(&"default"),
        "{listed:?}"
    );
    let edited = op(
        &controller,
        &web,
        &request_id(),
        alice,
        json!({"op": "edit_user", "name": "bob", "display_name": "Bob B.", "role": null, "home": null, "shell": null}),
    );
    assert_eq!(
        edited.json["body"]["user"]["display_name"], "Bob B.",
        "{}",
        edited.json
    );
}

#[test]
fn a_replica_is_initialized_from_the_ca_key_and_a_rotation_keeps_old_hosts_served() {
    let Some(mut controller) = Controller::start("rotation") else {
        return;
    };
    let (old_host, _) = controller.enroll("default", "web-1");
    let first = controller.command(&["ca", "fingerprint"]);
    let first = String::from_utf8(first.stdout).unwrap().trim().to_string();
    assert!(first.starts_with("SHA256:"), "{first}");

    // A replica with its own folder and server certificate, from the CA key.
    let replica = controller.dir.path().join("replica");
    std::fs::create_dir(&replica).unwrap();
    let config = std::fs::read_to_string(controller.dir.path().join("controller.toml"))
        .unwrap()
        .replace(
            &format!("{}/ca", controller.dir.path().display()),
            &format!("{}/ca", replica.display()),
        )
        .replace(
            &format!("{}/server.", controller.dir.path().display()),
            &format!("{}/server.", replica.display()),
        );
    let replica_config = replica.join("controller.toml");
    std::fs::write(&replica_config, config).unwrap();
    let ca_key = controller.dir.path().join("ca/ca.key");
    let init = Command::new(harness::bin())
        .arg("--config")
        .arg(&replica_config)
        .args(["init", "--replica", "--ca-key"])
        .arg(&ca_key)
        .output()
        .unwrap();
    assert!(
        init.status.success(),
        "{}",
        String::from_utf8_lossy(&init.stderr)
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(replica.join("ca/ca.key"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o777, 0o600);
    assert!(String::from_utf8_lossy(&init.stdout).contains(&first));

    // A rotation: a new CA signs, the old one stays trusted.
    let rotate = controller.command(&["ca", "rotate"]);
    assert!(
        rotate.status.success(),
        "{}",
        String::from_utf8_lossy(&rotate.stderr)
    );
    let second = controller.command(&["ca", "fingerprint"]);
    let second = String::from_utf8(second.stdout).unwrap().trim().to_string();
    assert_ne!(first, second);
    // Restarted on the rotated folder: the old host is still served, a new
    // one gets the new CA's certificate, and the bundle carries both.
    let hello = controller.call("GET", "/v1/hello", None, Some(&old_host));
    let head = hello.json["body"]["head"].as_i64().unwrap();
    let epoch = hello.json["body"]["epoch"].as_str().unwrap().to_string();
    if let Some(mut child) = controller.child.take() {
        let _ = child.kill();
        let _ = child.wait();
    }
    controller.trust = roster_controller::pki::CaBundle::load(&controller.dir.path().join("ca"))
        .unwrap()
        .trusted;
    controller.serve();
    assert_eq!(
        controller
            .call("GET", "/v1/hello", None, Some(&old_host))
            .status,
        200
    );
    // A restarted replica's window reaches back: a host's cursor from
    // before the restart is served, not sent to the snapshot.
    let path = format!("/v1/sync?after={}&epoch={epoch}", head - 1);
    let resumed = controller.call("GET", &path, None, Some(&old_host));
    assert_eq!(resumed.status, 200, "{}", resumed.json);
    let (new_host, enrolled) = controller.enroll("default", "web-2");
    assert_eq!(
        controller
            .call("GET", "/v1/hello", None, Some(&new_host))
            .status,
        200
    );
    let bundle = enrolled["ca_bundle_pem"].as_str().unwrap();
    assert_eq!(bundle.matches("BEGIN CERTIFICATE").count(), 2, "{bundle}");
}

#[test]
fn uids_a_host_uses_locally_are_never_handed_out() {
    let Some(controller) = Controller::start("reported_ids") else {
        return;
    };
    let token = controller.join_token("default", "1h");
    let (mut request, _) = controller.enroll_request(&token, "web-1");
    // The first three uids of Roster's range are taken on web-1 (a local
    // user, a group, a user).
    request["local"]["used"] = json!([
        {"kind": "user", "name": "backup2", "id": 1879048193u32},
        {"kind": "group", "name": "builders", "id": 1879048194u32},
        {"kind": "user", "name": "ci", "id": 1879048195u32},
    ]);
    assert_eq!(
        controller
            .call("POST", "/v1/enroll", Some(request), None)
            .status,
        200
    );
    let mut roster = controller.roster();
    create_user(&mut roster, "erin", "default", Level::Read);
    let erin = roster.user_by_name("erin").unwrap().unwrap();
    assert!(erin.uid > 1879048195, "erin got uid {}", erin.uid);
}

#[test]
fn a_failed_call_frees_its_request_id_and_nobody_else_reads_a_first_answer() {
    let Some(controller) = Controller::start("request_ids") else {
        return;
    };
    let (web, _) = controller.enroll("default", "web-1");
    let (db, _) = controller.enroll("default", "db-1");
    create_user(&mut controller.roster(), "bob", "default", Level::Write);
    let change = json!({"op": "set_password", "name": "bob", "new_password": "a newer password"});

    // A wrong current password: refused, counted, and the id stays free.
    let id = request_id();
    let wrong = op(
        &controller,
        &web,
        &id,
        password("bob", "a wrong password"),
        change.clone(),
    );
    assert_eq!(wrong.status, 403, "{}", wrong.json);
    let right = op(
        &controller,
        &web,
        &id,
        password("bob", "a long password"),
        change.clone(),
    );
    assert_eq!(right.status, 200, "{}", right.json);
    assert_eq!(
        right.json["body"]["kind"], "done",
        "carried out now, not replayed: {}",
        right.json
    );
    // Its retry (the answer lost) carries the old password: the first
    // answer, not a failure counted.
    let retry = op(
        &controller,
        &web,
        &id,
        password("bob", "a long password"),
        change.clone(),
    );
    assert_eq!(retry.status, 200, "{}", retry.json);
    assert_eq!(retry.json["body"], right.json["body"]);

    // The same id from someone else, or through another host: not its answer.
    let login = op(
        &controller,
        &web,
        &request_id(),
        password("alice", "a long password"),
        json!({"op": "login", "hours": 1}),
    );
    let alice = json!({"kind": "token", "token": login.json["body"]["token"]});
    let other_person = op(
        &controller,
        &web,
        &id,
        alice.clone(),
        json!({"op": "suspend_user", "name": "bob"}),
    );
    assert_eq!(other_person.status, 409, "{}", other_person.json);
    assert!(!other_person.json.to_string().contains("is changed"));
    let other_host = op(
        &controller,
        &db,
        &id,
        password("bob", "a newer password"),
        change.clone(),
    );
    assert_eq!(other_host.status, 409, "{}", other_host.json);
    // bob's session? A session makes no further credentials.
    let bob_login = op(
        &controller,
        &web,
        &request_id(),
        password("bob", "a newer password"),
        json!({"op": "login", "hours": 1}),
    );
    let bob_session = json!({"kind": "token", "token": bob_login.json["body"]["token"]});
    let minted = op(
        &controller,
        &web,
        &request_id(),
        bob_session,
        json!({"op": "create_token", "name": "forever", "scope": "full", "expires_hours": null}),
    );
    assert_eq!(minted.status, 403, "{}", minted.json);
}

#[test]
fn a_changed_login_level_resends_the_environment_and_root_s_changes_are_audited() {
    let Some(controller) = Controller::start("login_level") else {
        return;
    };
    let (web, enrolled) = controller.enroll("default", "web-1");
    let epoch = enrolled["epoch"].as_str().unwrap().to_string();
    create_user(&mut controller.roster(), "carol", "default", Level::Read);
    let snapshot = controller.call("GET", "/v1/snapshot", None, Some(&web));
    let cursor = snapshot.json["body"]["cursor"].as_i64().unwrap();
    let carol = |body: &Value| {
        body["users"]
            .as_array()
            .unwrap()
            .iter()
            .find(|u| u["name"] == "carol")
            .unwrap()
            .clone()
    };
    assert_eq!(
        carol(&snapshot.json["body"])["password"]["hash"],
        Value::Null,
        "read is below write"
    );
    let set = controller.command(&["environments", "set", "default", "login_level=read"]);
    assert!(
        set.status.success(),
        "{}",
        String::from_utf8_lossy(&set.stderr)
    );
    // The host's cursor is from before the change: the whole environment again.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let reply = controller.call(
            "GET",
            &format!("/v1/sync?after={cursor}&epoch={epoch}"),
            None,
            Some(&web),
        );
        if reply.status == 410 {
            assert_eq!(reply.json["code"], "cursor_too_old");
            break;
        }
        assert!(Instant::now() < deadline, "{}", reply.json);
    }
    let again = controller.call("GET", "/v1/snapshot", None, Some(&web));
    assert_eq!(again.json["body"]["environment"]["login_level"], "read");
    assert!(
        carol(&again.json["body"])["password"]["hash"].is_string(),
        "{}",
        again.json
    );

    // A revoked host's name enrolls again (a reinstalled machine).
    assert!(
        controller
            .command(&["hosts", "revoke", "web-1"])
            .status
            .success()
    );
    let (reborn, _) = controller.enroll("default", "web-1");
    assert_eq!(
        controller
            .call("GET", "/v1/hello", None, Some(&reborn))
            .status,
        200
    );
    let old = controller.call("GET", "/v1/hello", None, Some(&web));
    assert_eq!(
        old.status, 403,
        "the old machine is still told: {}",
        old.json
    );
    assert_eq!(old.json["code"], "revoked");

    let out = controller.command(&["restore", "--backup-time", "0"]);
    let audit = String::from_utf8_lossy(&out.stdout);
    for line in ["environments set", "hosts revoke"] {
        assert!(audit.contains(line), "{line} in {audit}");
    }
}

#[test]
fn the_operators_commands_refuse_what_isnt_there_and_change_nothing() {
    let Some(controller) = Controller::start("commands") else {
        return;
    };
    let refused = |args: &[&str], named: &str| {
        let out = controller.command(args);
        assert!(!out.status.success(), "{args:?} succeeded");
        let said = String::from_utf8_lossy(&out.stderr);
        assert!(said.contains(named), "{args:?}: {said}");
    };
    refused(&["hosts", "revoke", "no-such-host"], "no-such-host");
    refused(&["token", "delete", "abcdefgh"], "abcdefgh");
    refused(
        &[
            "token",
            "create",
            "--environment",
            "default",
            "--expires",
            "30d",
        ],
        "7d",
    );
    refused(
        &["environments", "set", "default", "login_level=boss"],
        "login_level",
    );
    refused(&["restore", "--backup-time", "yesterday"], "backup-time");
    // Nothing changed: the default environment keeps its settings, no
    // token was made.
    let list = controller.command(&["environments", "list"]);
    assert!(String::from_utf8_lossy(&list.stdout).contains("default: login_level=write"));
    let tokens = controller.command(&["token", "list"]);
    assert_eq!(
        String::from_utf8_lossy(&tokens.stdout).lines().count(),
        1,
        "the header only"
    );
}
