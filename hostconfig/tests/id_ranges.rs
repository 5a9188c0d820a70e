//! rosterd's id-range checks on temp files (moved here from core with the
//! checks; the assertions are core's).

// Test code: a failed unwrap or a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_hostconfig::Config;
use std::fs;

const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
alice_local:x:1000:1000::/home/alice_local:/bin/bash\n";
const GROUP: &str = "root:x:0:\nsudo:x:27:alice_local\nstaff:x:50:\nalice_local:x:1000:\n";

/// A config whose host files all live in a temp folder (core's fixture).
fn setup() -> (tempfile::TempDir, Config) {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let config = Config {
        database: d.join("db/roster.db"),
        nss_cache: d.join("nss.cache"),
        passwd_file: d.join("passwd"),
        group_file: d.join("group"),
        login_defs: d.join("login.defs"),
        subuid_file: d.join("subuid"),
        subgid_file: d.join("subgid"),
        ..Config::default()
    };
    fs::write(&config.passwd_file, PASSWD).unwrap();
    fs::write(&config.group_file, GROUP).unwrap();
    (dir, config)
}

fn clash(config: &Config) -> String {
    match config.check_id_ranges() {
        Err(e) => e.to_string(),
        other => panic!("expected a clash, got {other:?}"),
    }
}

#[test]
fn the_defaults_clear_a_stock_host() {
    let (_dir, config) = setup();
    fs::write(
        &config.login_defs,
        "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n",
    )
    .unwrap();
    fs::write(&config.subuid_file, "alice_local:100000:65536\n").unwrap();
    fs::write(&config.subgid_file, "alice_local:100000:65536\n").unwrap();
    config.check_id_ranges().unwrap();
}

#[test]
fn missing_files_count_as_empty() {
    let (_dir, mut config) = setup();
    config.passwd_file = "/nonexistent/passwd".into();
    config.subuid_file = "/nonexistent/subuid".into();
    config.check_id_ranges().unwrap();
}

#[test]
fn login_defs_overlap_is_named() {
    let (_dir, config) = setup();
    fs::write(
        &config.login_defs,
        "# comment\nUID_MIN\t1879048000\nUID_MAX 1879048500\n",
    )
    .unwrap();
    let m = clash(&config);
    assert!(m.contains("UID_MIN–UID_MAX 1879048000–1879048500"), "{m}");
    fs::write(
        &config.login_defs,
        "GID_MIN 1879048192\nGID_MAX 1879048192\n",
    )
    .unwrap();
    let m = clash(&config);
    assert!(
        m.contains("GID_MIN–GID_MAX") && m.contains("admin_gid 1879048192"),
        "{m}"
    );
}

#[test]
fn systemd_ranges_are_refused() {
    for (min, max, what) in [
        (60000, 60010, "homed"),
        (61184, 61190, "DynamicUser"),
        (600_000, 600_100, "nspawn"),
        (2_147_352_576, 2_147_352_600, "foreign"),
    ] {
        let (_dir, mut config) = setup();
        config.uid_min = min;
        config.uid_max = max;
        let m = clash(&config);
        assert!(m.contains(what), "{min}: {m}");
    }
    let (_dir, mut config) = setup();
    config.admin_gid = 65534;
    assert!(clash(&config).contains("admin_gid 65534 lies in 61184–65535"));
}

#[test]
fn past_the_signed_limit_is_refused() {
    let (_dir, mut config) = setup();
    config.uid_min = 2_147_483_600;
    config.uid_max = 2_147_483_647;
    assert!(clash(&config).contains("goes past 2147483646"));
    let (_dir, mut config) = setup();
    config.admin_gid = 4_000_000_000;
    assert!(clash(&config).contains("admin_gid 4000000000 is past"));
}

#[test]
fn subordinate_ranges_are_refused() {
    let (_dir, config) = setup();
    fs::write(&config.subuid_file, "bob:1879048000:1000\n").unwrap();
    let m = clash(&config);
    assert!(
        m.contains("bob's subordinate uids 1879048000–1879048999"),
        "{m}"
    );
    let (_dir, config) = setup();
    fs::write(&config.subgid_file, "carol:1879048192:1\n").unwrap();
    let m = clash(&config);
    assert!(
        m.contains("carol's subordinate gids") && m.contains("admin_gid"),
        "{m}"
    );
}

#[test]
fn local_ids_are_refused() {
    let (_dir, config) = setup();
    fs::write(&config.passwd_file, "svc:x:1879048200:100::/:/bin/false\n").unwrap();
    let m = clash(&config);
    assert!(
        m.contains("local user \"svc\"") && m.contains("uid 1879048200"),
        "{m}"
    );
    let (_dir, config) = setup();
    fs::write(
        &config.group_file,
        "grp:x:1879048300:\nadm2:x:1879048192:\n",
    )
    .unwrap();
    let m = clash(&config);
    assert!(m.contains("local group \"grp\""), "{m}");
    assert!(
        m.contains("local group \"adm2\"") && m.contains("admin_gid"),
        "{m}"
    );
    let (_dir, config) = setup();
    fs::write(&config.group_file, "roster-admins:x:5000:\n").unwrap();
    assert!(clash(&config).contains("`admin_group`"));
    let (_dir, config) = setup();
    fs::write(&config.passwd_file, "svc:x:500:1879048192::/:/bin/false\n").unwrap();
    assert!(clash(&config).contains("primary gid 1879048192"));
}

#[test]
fn every_clash_is_reported_at_once() {
    let (_dir, mut config) = setup();
    config.uid_min = 1000;
    config.uid_max = 70000;
    config.admin_gid = 999;
    let m = clash(&config);
    assert!(
        m.contains("UID_MIN") && m.contains("homed") && m.contains("DynamicUser"),
        "{m}"
    );
}
