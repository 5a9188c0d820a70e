//! The config's schema, defaults and rules (moved here from core with the
//! config itself; the assertions are core's).

// Test code: a failed unwrap or a panic is the failure report.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use roster_hostconfig::{Config, Level, parse_duration};
use std::path::PathBuf;
use std::time::Duration;

/// DESIGN.md's config block, verbatim.
const DESIGN_BLOCK: &str = r#"
database     = "/var/lib/roster/roster.db"
nss_cache    = "/var/cache/roster/nss.cache"
environment  = "default"          # the environment this host belongs to
login_level  = "write"            # the level that may log in here
uid_min      = 1879048193         # users' uids and private gids (0x70000001 …)
uid_max      = 1895825407
admin_group  = "roster-admins"
admin_gid    = 1879048192
home_base    = "/home"
shell        = "/bin/bash"
passwd_file  = "/etc/passwd"      # local files checked for name and id collisions
group_file   = "/etc/group"
login_defs   = "/etc/login.defs"
subuid_file  = "/etc/subuid"
subgid_file  = "/etc/subgid"
create_home  = true               # rosterd creates a missing home from /etc/skel (0700) at the first session

[argon2]
memory_kib     = 19456
iterations     = 2
parallelism    = 1
max_concurrent = 0                # 0 = number of CPUs; further requests queue…
queue_max      = 64               # …at most this many…
queue_wait     = "2s"             # …for at most this long (under the PAM module's 3 s timeout); a caller gone is dropped

[password]
min_length = 8

[lockout]
attempts = 5
window   = "15m"
duration = "15m"

[sessions]
end_grace = "5s"

[registration]
ttl = "72h"
"#;

fn config_err(text: &str) -> String {
    match Config::parse(text) {
        Err(e) => e.to_string(),
        other => panic!("expected a config error for {text:?}, got {other:?}"),
    }
}

#[test]
fn the_design_block_is_the_default() {
    assert_eq!(Config::parse(DESIGN_BLOCK).unwrap(), Config::default());
}

#[test]
fn an_empty_file_is_the_default() {
    assert_eq!(Config::parse("").unwrap(), Config::default());
    assert_eq!(Config::parse("[argon2]\n").unwrap(), Config::default());
}

#[test]
fn defaults_are_designs() {
    let c = Config::default();
    assert_eq!(c.database, PathBuf::from("/var/lib/roster/roster.db"));
    assert_eq!(c.nss_cache, PathBuf::from("/var/cache/roster/nss.cache"));
    assert_eq!(c.environment, "default");
    assert_eq!(c.login_level, Level::Write);
    assert_eq!((c.uid_min, c.uid_max), (0x7000_0001, 1_895_825_407));
    assert_eq!(
        (c.admin_group.as_str(), c.admin_gid),
        ("roster-admins", 0x7000_0000)
    );
    assert_eq!(c.home_base, PathBuf::from("/home"));
    assert_eq!(c.shell, PathBuf::from("/bin/bash"));
    assert!(c.create_home);
    assert_eq!(
        (
            c.argon2.memory_kib,
            c.argon2.iterations,
            c.argon2.parallelism
        ),
        (19456, 2, 1)
    );
    assert_eq!((c.argon2.max_concurrent, c.argon2.queue_max), (0, 64));
    assert_eq!(c.argon2.queue_wait, Duration::from_secs(2));
    assert_eq!(c.password.min_length, 8);
    assert_eq!(c.lockout.attempts, 5);
    assert_eq!(c.lockout.remote_attempts, 20, "4 × attempts");
    assert_eq!(c.lockout.window, Duration::from_secs(900));
    assert_eq!(c.lockout.duration, Duration::from_secs(900));
    assert_eq!(c.sessions.end_grace, Duration::from_secs(5));
    assert_eq!(c.registration.ttl, Duration::from_secs(72 * 3600));
    c.validate().unwrap();
}

#[test]
fn values_are_read() {
    let c = Config::parse(
        "environment = \"prod\"\nlogin_level = \"admin\"\nuid_min = 2000000000\nuid_max = 2000000100\n\
         [lockout]\nattempts = 3\nremote_attempts = 9\nwindow = \"30s\"\nduration = \"7d\"\n[registration]\nttl = \"1h\"\n",
    )
    .unwrap();
    assert_eq!(c.environment, "prod");
    assert_eq!(c.login_level, Level::Admin);
    assert_eq!((c.uid_min, c.uid_max), (2_000_000_000, 2_000_000_100));
    assert_eq!(c.lockout.attempts, 3);
    assert_eq!(c.lockout.remote_attempts, 9);
    assert_eq!(c.lockout.window, Duration::from_secs(30));
    assert_eq!(c.lockout.duration, Duration::from_secs(7 * 86400));
    assert_eq!(c.registration.ttl, Duration::from_secs(3600));
}

#[test]
fn unknown_keys_are_named_with_their_section() {
    let m = config_err("databse = \"/x\"\n");
    assert!(m.contains("`databse`") && m.contains("top level"), "{m}");
    let m = config_err("[argon2]\nmemroy_kib = 5\n");
    assert!(m.contains("`memroy_kib`") && m.contains("[argon2]"), "{m}");
    let m = config_err("[lockout]\nattempt = 5\n");
    assert!(m.contains("`attempt`") && m.contains("[lockout]"), "{m}");
    let m = config_err("[lockout]\nremote_attempt = 5\n");
    assert!(
        m.contains("`remote_attempt`") && m.contains("remote_attempts"),
        "{m}"
    );
    let m = config_err("[nonsense]\nx = 1\n");
    assert!(m.contains("`nonsense`"), "{m}");
    let m = config_err("argon2 = 5\n");
    assert!(m.contains("argon2"), "{m}");
}

#[test]
fn durations() {
    assert_eq!(parse_duration("30s").unwrap(), Duration::from_secs(30));
    assert_eq!(parse_duration("15m").unwrap(), Duration::from_secs(900));
    assert_eq!(parse_duration("72h").unwrap(), Duration::from_secs(259_200));
    assert_eq!(parse_duration("7d").unwrap(), Duration::from_secs(604_800));
    for bad in [
        "",
        "s",
        "15",
        "15x",
        "1.5h",
        "-1s",
        "15 m",
        "99999999999999d",
        "1h30m",
    ] {
        assert!(parse_duration(bad).is_err(), "{bad:?} accepted");
    }
    let m = config_err("[lockout]\nwindow = \"15 minutes\"\n");
    assert!(m.contains("window") || m.contains("15 minutes"), "{m}");
    let m = config_err("[lockout]\nwindow = \"0s\"\n");
    assert!(m.contains("window"), "{m}");
}

#[test]
fn bad_values_are_refused_naming_the_key() {
    for (text, key) in [
        ("login_level = \"root\"\n", "root"),
        ("uid_min = \"many\"\n", "uid_min"),
        ("uid_min = -1\n", "uid_min"),
        ("database = \"relative/roster.db\"\n", "database"),
        ("home_base = \"home\"\n", "home_base"),
        ("shell = \"bash\"\n", "shell"),
        ("passwd_file = \"passwd\"\n", "passwd_file"),
        ("environment = \"Prod!\"\n", "environment"),
        ("admin_group = \"Admins\"\n", "admin_group"),
        ("uid_min = 2000000100\nuid_max = 2000000000\n", "uid_min"),
        ("uid_min = 0\n", "uid_min"),
        ("admin_gid = 1879048200\n", "admin_gid"),
        ("admin_gid = 0\n", "admin_gid"),
        ("[argon2]\nmemory_kib = 4\n", "memory_kib"),
        ("[argon2]\nmemory_kib = 99999999\n", "memory_kib"),
        ("[argon2]\niterations = 0\n", "iterations"),
        ("[argon2]\nparallelism = 0\n", "parallelism"),
        ("[argon2]\nqueue_wait = \"0s\"\n", "queue_wait"),
        ("[password]\nmin_length = 0\n", "min_length"),
        ("[lockout]\nattempts = 0\n", "attempts"),
        ("[lockout]\nremote_attempts = 0\n", "remote_attempts"),
        ("[lockout]\nremote_attempts = 1001\n", "remote_attempts"),
        ("[lockout]\nremote_attempts = -1\n", "remote_attempts"),
        ("[registration]\nttl = \"0s\"\n", "ttl"),
        ("[sessions]\nend_grace = \"2d\"\n", "end_grace"),
        ("create_home = \"yes\"\n", "create_home"),
    ] {
        let m = config_err(text);
        assert!(m.contains(key), "{text:?}: {m}");
    }
    assert!(config_err("uid_min = [\n").contains("TOML"));
}

#[test]
fn load_reads_a_file_and_names_it() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("rosterd.toml");
    std::fs::write(&path, "environment = \"lab\"\n").unwrap();
    assert_eq!(Config::load(&path).unwrap().environment, "lab");
    std::fs::write(&path, "enviroment = \"lab\"\n").unwrap();
    match Config::load(&path).map_err(|e| e.to_string()) {
        Err(m) => {
            assert!(
                m.contains("rosterd.toml") && m.contains("`enviroment`"),
                "{m}"
            )
        }
        other => panic!("{other:?}"),
    }
    match Config::load(&dir.path().join("missing.toml")).map_err(|e| e.to_string()) {
        Err(m) => assert!(m.contains("missing.toml"), "{m}"),
        other => panic!("{other:?}"),
    }
    std::fs::write(&path, "#".repeat(2 << 20)).unwrap();
    assert!(matches!(Config::load(&path), Err(e) if e.to_string().contains("1 MiB")));
}
