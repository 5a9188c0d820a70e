//! Rule tests that reach past the store's traits into SQLite itself
//! (holding its write lock from a second connection, counting rows with
//! SQL, timing its login path): run on SQLite only, outside the suite
//! every backend runs (`crate::conformance`).

use super::fixture::*;
use crate::conformance::flows::local_failures;
use crate::flows::LoginOutcome;
use crate::*;

/// A second connection holding SQLite's write lock: anything that then
/// needs to write waits out the busy timeout and fails.
fn hold_write_lock(f: &Fixture) -> rusqlite::Connection {
    let conn = rusqlite::Connection::open(&f.roster.config().database).unwrap();
    conn.execute_batch("BEGIN IMMEDIATE").unwrap();
    conn
}

#[test]
fn a_login_with_no_failure_to_clear_writes_nothing() {
    let mut f = fixture();
    f.create("bob");
    let writer = hold_write_lock(&f);
    // The whole successful-login path of pam_roster's auth and account
    // steps: reads only, so they go through while someone else writes.
    let t = std::time::Instant::now();
    let check = f
        .roster
        .login_check(&Actor::Root, "bob", Some("a"))
        .unwrap();
    assert!(check.known && check.locked_until.is_none());
    assert!(
        !f.roster
            .verify_code(&Actor::Root, "bob", &Secret::new("x"))
            .unwrap()
    );
    assert_eq!(
        f.roster
            .record_login_result("bob", Some("a"), true)
            .unwrap(),
        None
    );
    assert_eq!(
        f.roster.record_login_result("ghost", None, true).unwrap(),
        None
    );
    f.roster.check_account(&Actor::Root, "bob").unwrap();
    assert!(
        t.elapsed() < std::time::Duration::from_secs(2),
        "{:?}",
        t.elapsed()
    );
    drop(writer);
}

#[test]
fn a_success_after_a_failure_clears_the_counter() {
    let mut f = fixture_with(|c| c.lockout.attempts = 2);
    f.create("bob");
    f.roster
        .record_login_result("bob", Some("a"), false)
        .unwrap();
    // Something to clear: this success writes (and would wait for a writer).
    f.roster
        .record_login_result("bob", Some("a"), true)
        .unwrap();
    assert_eq!(
        f.roster
            .record_login_result("bob", Some("a"), false)
            .unwrap(),
        None,
        "the count restarted"
    );
    let writer = hold_write_lock(&f);
    assert!(
        f.roster
            .record_login_result("bob", Some("a"), true)
            .is_err(),
        "a counter to clear needs the write lock"
    );
    drop(writer);
}

#[test]
#[ignore = "timing figures: cargo test -p roster-core --release login_path_timing -- --ignored --nocapture"]
fn login_path_timing() {
    let mut f = fixture();
    f.create("bob");
    let n = 300;
    let t = std::time::Instant::now();
    for _ in 0..n {
        f.roster.login_check(&Actor::Root, "bob", None).unwrap();
        f.roster.record_login_result("bob", None, true).unwrap();
    }
    eprintln!(
        "login_check + record_login_result(success), no counter: {:?} per login",
        t.elapsed() / n
    );
}

#[test]
fn the_nss_reader_sees_every_commit_on_a_connection_of_its_own() {
    let mut f = fixture_with(|c| c.environment = "lab".into());
    f.create_admin("ann");
    let mut reader = f.roster.nss_reader().unwrap();
    let names = |r: &mut roster::NssReader| -> Vec<String> {
        r.view()
            .unwrap()
            .users
            .into_iter()
            .map(|u| u.name)
            .collect()
    };
    assert_eq!(names(&mut reader), ["ann"]);
    // A commit made after the reader opened shows in its next view, as
    // the store's own connection shows it.
    f.create("bob");
    f.grant("bob", "lab", Level::Admin);
    let view = reader.view().unwrap();
    assert_eq!(view.admin_members, ["ann", "bob"]);
    assert_eq!(
        view.admin_members,
        f.roster.nss_view().unwrap().admin_members
    );
    // It reads while another connection holds the write lock: it never
    // waits on a writer.
    let writer = rusqlite::Connection::open(&f.roster.config().database).unwrap();
    writer.execute_batch("BEGIN IMMEDIATE").unwrap();
    let t = std::time::Instant::now();
    assert_eq!(names(&mut reader), ["ann", "bob"]);
    assert!(t.elapsed() < std::time::Duration::from_secs(2));
    drop(writer);
}

#[test]
fn a_bad_remote_host_is_refused_and_nothing_is_stored() {
    let mut f = fixture();
    f.create("bob");
    let long = "a".repeat(256);
    for bad in [long.as_str(), "a b", "a\nb", "a\0b", "*"] {
        assert!(matches!(
            f.roster.login_check(&Actor::Root, "bob", Some(bad)),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            f.roster.record_login_result("bob", Some(bad), false),
            Err(Error::InvalidArgument(_))
        ));
        assert!(matches!(
            f.roster.record_login_result("bob", Some(bad), true),
            Err(Error::InvalidArgument(_))
        ));
    }
    let rows: i64 = rusqlite::Connection::open(&f.roster.config().database)
        .unwrap()
        .query_row("SELECT COUNT(*) FROM lockouts", [], |r| r.get(0))
        .unwrap();
    assert_eq!(rows, 0);
}

#[test]
fn a_login_reads_once_to_begin_and_writes_only_what_it_records() {
    let mut f = fixture_with(|c| c.lockout.attempts = 3);
    f.create("bob");
    let writer = hold_write_lock(&f);
    // Begin is a read; a success with nothing to clear finishes with a
    // read too: both go through while someone else writes.
    let plan = f
        .roster
        .begin_login(&Actor::Root, "bob", Some("a"))
        .unwrap();
    assert_eq!(
        f.roster.finish_login(plan, &Secret::new(""), true).unwrap(),
        LoginOutcome::Success
    );
    drop(writer);
    // A failure is the one write of its finish.
    let plan = f.roster.begin_login(&Actor::Root, "bob", None).unwrap();
    assert_eq!(
        f.roster
            .finish_login(plan, &Secret::new(""), false)
            .unwrap(),
        LoginOutcome::Failed
    );
    // A success with a counter to clear is the one write of its finish.
    let plan = f.roster.begin_login(&Actor::Root, "bob", None).unwrap();
    let writer = hold_write_lock(&f);
    assert!(f.roster.finish_login(plan, &Secret::new(""), true).is_err());
    drop(writer);
    let plan = f.roster.begin_login(&Actor::Root, "bob", None).unwrap();
    assert_eq!(
        f.roster.finish_login(plan, &Secret::new(""), true).unwrap(),
        LoginOutcome::Success
    );
    assert_eq!(local_failures(&mut f, "bob"), 0, "cleared");
}
