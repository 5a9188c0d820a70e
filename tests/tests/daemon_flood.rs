//! Issue 14, finding 2: one ordinary user flooding rosterd with password
//! changes (80 connections calling `Users.SetPassword(self, wrong, new)`)
//! must not starve root's logins, nor the audit log with a line per call.
//!
//! A slow scenario (~10 s), in a test binary of its own. The figures it
//! prints (`--nocapture`) are the ones in the report; its assertions are
//! on fractions and counts, never on speed.

use roster_client::PamProxy;
use roster_tests::{TestBus, TestDaemon, helper_binary};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

const PW: &str = "correct horse battery";
const FLOOD_CONNECTIONS: usize = 80;
const FLOOD_SECONDS: f64 = 8.0;
/// Root's login loops (sshd's and login's privileged processes).
const ROOT_LOOPS: usize = 4;

#[test]
fn one_users_password_flood_leaves_roots_logins_working_and_the_audit_log_short() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    let flooder = d.create_user("mallory", "user", PW);
    d.create_user("alice", "user", PW);
    let audit_before = d.audit_log().lines().count();

    let flood = {
        let cmd = d
            .command(helper_binary("roster-flood"))
            .args(&[
                &FLOOD_CONNECTIONS.to_string(),
                &FLOOD_SECONDS.to_string(),
                "mallory",
                "a wrong guess",
                "brand new password 1",
            ])
            .as_uid(flooder);
        std::thread::spawn(move || cmd.run())
    };
    // Root logs alice in while the flood runs (after it has ramped up,
    // until just before it ends).
    std::thread::sleep(Duration::from_secs(1));
    let stop = Arc::new(AtomicBool::new(false));
    let (ok, calls) = (Arc::new(AtomicU64::new(0)), Arc::new(AtomicU64::new(0)));
    let refusals = Arc::new(std::sync::Mutex::new(Vec::<String>::new()));
    let loops: Vec<_> = (0..ROOT_LOOPS)
        .map(|_| {
            let (address, stop) = (bus.address().to_owned(), stop.clone());
            let (ok, calls, refusals) = (ok.clone(), calls.clone(), refusals.clone());
            std::thread::spawn(move || {
                zbus::block_on(async move {
                    let conn = zbus::connection::Builder::address(address.as_str())
                        .build()
                        .await?;
                    let pam = PamProxy::new(&conn).await?;
                    while !stop.load(Ordering::SeqCst) {
                        let answer = pam.authenticate("alice", PW, "", 0).await;
                        calls.fetch_add(1, Ordering::SeqCst);
                        match answer {
                            Ok(reply) if reply.outcome.as_str() == "success" => {
                                ok.fetch_add(1, Ordering::SeqCst);
                            }
                            Ok(reply) => refusals
                                .lock()
                                .map(|mut r| r.push(reply.outcome.to_string()))
                                .unwrap_or(()),
                            Err(e) => refusals
                                .lock()
                                .map(|mut r| r.push(e.to_string()))
                                .unwrap_or(()),
                        }
                    }
                    Ok::<(), zbus::Error>(())
                })
            })
        })
        .collect();
    std::thread::sleep(Duration::from_secs_f64(FLOOD_SECONDS - 2.0));
    stop.store(true, Ordering::SeqCst);
    for l in loops {
        l.join()
            .unwrap_or_else(|_| panic!("a root login loop panicked"))
            .unwrap_or_else(|e| panic!("root's connection: {e}"));
    }
    let flood = flood
        .join()
        .unwrap_or_else(|_| panic!("the flood thread panicked"))
        .expect_ok();
    let flood = flood.json();
    let flood_calls = flood["calls"].as_u64().unwrap_or(0);
    // The last summary is written at most a few seconds after the flood.
    std::thread::sleep(Duration::from_secs(3));
    let audit = d.audit_log();
    let audit_lines = audit.lines().count() - audit_before;
    let summaries = audit.lines().filter(|l| l.contains(" times: [")).count();

    let (ok, calls) = (ok.load(Ordering::SeqCst), calls.load(Ordering::SeqCst));
    let refusals = refusals.lock().map(|r| r.clone()).unwrap_or_default();
    eprintln!(
        "root: {ok} of {calls} logins succeeded; flooder: {flood_calls} calls, answers {}; \
         audit: {audit_lines} lines ({summaries} repeat summaries) for {} calls",
        flood["answers"],
        flood_calls + calls
    );
    if !refusals.is_empty() {
        eprintln!(
            "root's first refusals: {:?}",
            &refusals[..refusals.len().min(3)]
        );
    }
    assert!(calls >= 20, "root made only {calls} login calls");
    assert!(
        ok * 100 >= calls * 95,
        "root: only {ok} of {calls} logins succeeded: {:?}",
        &refusals[..refusals.len().min(5)]
    );
    assert!(flood_calls > 0, "the flood made no calls: {flood}");
    // Far fewer lines than calls: the flood's identical refusals collapse.
    assert!(
        (audit_lines as u64) * 10 < flood_calls + calls,
        "{audit_lines} audit lines for {} calls",
        flood_calls + calls
    );
    assert!(summaries > 0, "no \"repeated N times\" line in:\n{audit}");
}

fn q(s: &str) -> String {
    serde_json::to_string(s).unwrap_or_default()
}

/// `su` is setuid: its PAM calls reach the bus as root, with the real uid
/// of the user who ran it passed along. Those count in that user's rate
/// limit, never in root's logins'; a non-root caller can't pass 0 to
/// escape its own.
#[test]
fn a_setuid_programs_checks_count_in_its_users_share_not_roots() {
    let bus = TestBus::start();
    let d = TestDaemon::start(&bus);
    d.create_user("alice", "user", PW);
    let sam = d.create_user("sam", "user", PW);
    let mallory = d.create_user("mallory", "user", PW);
    let auth = |user: &str, requester: u32| {
        d.probe(
            "Pam.Authenticate",
            &[&q(user), &q(PW), &q(""), &requester.to_string()],
        )
    };
    let limited = |run: roster_tests::Run| {
        run.probe_error().as_deref() == Some("Unavailable")
            && run.stdout.contains("too many password checks")
    };
    // `su alice` run by sam, over and over: a burst of 5, then one check
    // every 2 s (12 calls would have to take 14 s to all pass).
    let answers: Vec<_> = (0..12).map(|_| auth("alice", sam).run()).collect();
    let refused = answers.into_iter().filter(|r| limited(r.clone())).count();
    assert!(refused >= 1, "sam's su loop was never limited");
    // Root's own logins (sshd, login) are not.
    for _ in 0..8 {
        let ok = auth("alice", 0).run().expect_ok();
        assert_eq!(ok.json()["ok"]["outcome"], "success", "{}", ok.stdout);
    }
    // The audit line names whose request it was.
    assert!(
        d.audit_log().contains(&format!("for_uid={sam}")),
        "{}",
        d.audit_log()
    );
    // A non-root caller passing 0 is still itself.
    let answers: Vec<_> = (0..12)
        .map(|_| auth("mallory", 0).as_uid(mallory).run())
        .collect();
    let refused = answers.into_iter().filter(|r| limited(r.clone())).count();
    assert!(refused >= 1, "mallory escaped the limit by passing uid 0");
}
