//! rosterd's start and stop: a clear message and a non-zero exit for each
//! way it can't start, a clean exit on SIGTERM.

use roster_tests::{TestBus, TestConfig, TestDaemon, binary};
use std::process::Command;

#[test]
fn a_taken_bus_name_is_a_clear_refusal() {
    let bus = TestBus::start();
    let squatter = bus.connect();
    zbus::block_on(squatter.request_name(roster_client::BUS_NAME))
        .unwrap_or_else(|e| panic!("{e}"));
    let failure = match TestDaemon::try_start(&bus, TestConfig::new()) {
        Ok(_) => panic!("rosterd started although the name was taken"),
        Err(f) => f,
    };
    assert_eq!(failure.code(), Some(1), "{failure:?}");
    assert!(failure.stderr.contains("is taken"), "{}", failure.stderr);
    assert!(
        failure.stderr.contains("org.roster.Roster1"),
        "{}",
        failure.stderr
    );
}

#[test]
fn a_second_rosterd_does_not_steal_the_name() {
    let bus = TestBus::start();
    let first = TestDaemon::start(&bus);
    let second = TestDaemon::try_start(&bus, TestConfig::new());
    assert!(second.is_err(), "a second rosterd started");
    // The first one still answers.
    first.probe("Users.WhoAmI", &[]).run().expect_ok();
}

#[test]
fn a_config_typo_names_the_key() {
    let bus = TestBus::start();
    let failure =
        TestDaemon::try_start(&bus, TestConfig::new().raw_line("databse = \"/tmp/x.db\""))
            .err()
            .unwrap_or_else(|| panic!("rosterd accepted a typo"));
    assert_eq!(failure.code(), Some(1));
    assert!(failure.stderr.contains("databse"), "{}", failure.stderr);
}

#[test]
fn a_bad_value_names_the_key() {
    let bus = TestBus::start();
    let failure =
        TestDaemon::try_start(&bus, TestConfig::new().set("argon2.queue_wait", "\"soon\""))
            .err()
            .unwrap_or_else(|| panic!("rosterd accepted a bad duration"));
    assert_eq!(failure.code(), Some(1));
    assert!(failure.stderr.contains("queue_wait"), "{}", failure.stderr);
}

#[test]
fn an_id_range_clash_is_named() {
    let bus = TestBus::start();
    let failure = TestDaemon::try_start(
        &bus,
        TestConfig::new()
            .set("uid_min", "1879048193")
            .set("uid_max", "1879048300")
            .login_defs("UID_MIN 1000\nUID_MAX 1879048200\nGID_MIN 1000\nGID_MAX 60000\n"),
    )
    .err()
    .unwrap_or_else(|| panic!("rosterd accepted an overlapping uid range"));
    assert_eq!(failure.code(), Some(1));
    assert!(
        failure.stderr.contains("UID_MAX") || failure.stderr.contains("login.defs"),
        "{}",
        failure.stderr
    );
}

#[test]
fn an_unreadable_database_is_a_clear_refusal() {
    let bus = TestBus::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let db_dir = dir.path().join("db");
    std::fs::create_dir(&db_dir).unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&db_dir)
            .unwrap_or_else(|e| panic!("{e}"))
            .permissions(),
        0o700,
    );
    let db = db_dir.join("roster.db");
    std::fs::write(&db, vec![0x42u8; 8192]).unwrap_or_else(|e| panic!("{e}"));
    let failure = TestDaemon::try_start(
        &bus,
        TestConfig::new().set_str("database", &db.display().to_string()),
    )
    .err()
    .unwrap_or_else(|| panic!("rosterd started on a garbage database"));
    assert_eq!(failure.code(), Some(1));
    assert!(failure.stderr.contains("database"), "{}", failure.stderr);
    assert!(
        failure.stderr.contains(&db.display().to_string()),
        "{}",
        failure.stderr
    );
}

#[test]
fn no_bus_is_a_clear_refusal() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let address = format!("unix:path={}", dir.path().join("no-bus-here").display());
    let failure = TestDaemon::try_start_at(&address, TestConfig::new())
        .err()
        .unwrap_or_else(|| panic!("rosterd started without a bus"));
    assert_eq!(failure.code(), Some(1));
    assert!(failure.stderr.contains("system bus"), "{}", failure.stderr);
    assert!(failure.stderr.contains("no-bus-here"), "{}", failure.stderr);
}

#[test]
fn sigterm_is_a_clean_exit_that_releases_the_name() {
    let bus = TestBus::start();
    let mut daemon = TestDaemon::start(&bus);
    daemon.create_user("alice", "user", "correct horse battery");
    let status = daemon.stop();
    assert!(status.success(), "exit status {status}");
    assert!(daemon.stderr_log().contains("stopping (SIGTERM)"));
    assert!(!bus.name_has_owner(roster_client::BUS_NAME));
    // And it starts again on the same files, with the user there.
    daemon.restart();
    daemon.probe("Users.Show", &["\"alice\""]).run().expect_ok();
}

#[test]
fn losing_the_bus_makes_rosterd_exit_with_a_message() {
    let mut bus = TestBus::start();
    let mut daemon = TestDaemon::start(&bus);
    daemon.create_user("alice", "user", "correct horse battery");
    // Today's main stayed alive and deaf here: it neither exited nor
    // reconnected, so systemd's Restart=on-failure never fired.
    bus.restart();
    let lost = std::time::Instant::now();
    let status = daemon
        .wait_exit(std::time::Duration::from_secs(30))
        .unwrap_or_else(|| panic!("rosterd still runs 30 s after its bus went away"));
    eprintln!(
        "rosterd exited {:?} after its bus was killed",
        lost.elapsed()
    );
    assert_eq!(status.code(), Some(1), "exit status {status}");
    let stderr = daemon.stderr_log();
    assert!(
        stderr.contains(&format!("lost the system bus at {}", bus.address())),
        "{stderr}"
    );
    // What systemd then does: a fresh rosterd serves on the new bus, with
    // the same database.
    daemon.restart();
    daemon.probe("Users.Show", &["\"alice\""]).run().expect_ok();
}

#[test]
fn check_config_validates_without_starting() {
    let bus = TestBus::start();
    let daemon = TestDaemon::start(&bus);
    let ok = Command::new(binary("rosterd"))
        .arg("--check-config")
        .arg("--config")
        .arg(daemon.config_path())
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert!(
        ok.status.success(),
        "{}",
        String::from_utf8_lossy(&ok.stderr)
    );
    let bad = Command::new(binary("rosterd"))
        .args(["--check-config", "--config", "/nonexistent/rosterd.toml"])
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(bad.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("/nonexistent/rosterd.toml"));
    let usage = Command::new(binary("rosterd"))
        .arg("--bogus")
        .output()
        .unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(usage.status.code(), Some(2));
}

#[test]
fn no_syslog_socket_means_audit_on_stderr_and_still_running() {
    let bus = TestBus::start();
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("{e}"));
    let missing = dir.path().join("no-syslog");
    let daemon = TestDaemon::start_with(
        &bus,
        TestConfig::new().arg(&format!("--syslog-socket={}", missing.display())),
    );
    daemon.create_user("alice", "user", "correct horse battery");
    let stderr = daemon.stderr_log();
    assert!(stderr.contains("no syslog socket"), "{stderr}");
    assert!(
        stderr.contains("audit: action=users.create target=alice"),
        "{stderr}"
    );
}
