//! rosterd and `roster doctor` judge a host's config and account files
//! with the same code (roster-hostconfig): fed the same bad configs and
//! host files, both refuse (or both accept) and name the same problem in
//! the same words. rosterd is asked with `--check-config`, which runs its
//! startup checks (config, then id ranges) and exits; the doctor with
//! `--json --root / --config PATH`, so it reads the very files rosterd does.

use roster_tests::{TestBus, TestConfig, TestDaemon, binary};
use serde_json::Value;
use std::path::Path;
use std::process::{Command, Stdio};

/// rosterd's verdict: accepted, and what it said on stderr.
fn rosterd_verdict(config: &Path) -> (bool, String) {
    let out = Command::new(binary("rosterd"))
        .arg("--check-config")
        .arg("--config")
        .arg(config)
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("can't run rosterd: {e}"));
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    match out.status.code() {
        Some(0) => (true, stderr),
        Some(1) => (false, stderr),
        other => panic!("rosterd --check-config exited {other:?}: {stderr}"),
    }
}

/// The doctor's verdict on the config and the ids: accepted when both
/// checks are ✓, and the messages of the ones that failed.
fn doctor_verdict(config: &Path, scratch: &Path) -> (bool, Vec<String>) {
    let nobody = format!("unix:path={}", scratch.join("no-bus").display());
    let out = Command::new(binary("roster"))
        .args(["doctor", "--json", "--root", "/", "--config"])
        .arg(config)
        .env("DBUS_SYSTEM_BUS_ADDRESS", nobody)
        .env_remove("ROSTER_TOKEN")
        .stdin(Stdio::null())
        .output()
        .unwrap_or_else(|e| panic!("can't run roster: {e}"));
    let list: Vec<Value> = serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_else(|| {
            panic!(
                "not JSON: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            )
        });
    let mut failed = Vec::new();
    for check in ["config", "ids"] {
        let finding = list
            .iter()
            .find(|f| f["check"] == check)
            .unwrap_or_else(|| panic!("no {check} finding in {list:#?}"));
        if finding["status"] != "ok" {
            let message = finding["message"].as_str().unwrap_or_default();
            // The doctor carries on with the defaults and says so; the
            // problem itself is rosterd's sentence.
            let problem = message
                .strip_suffix("; checking with the defaults")
                .unwrap_or(message);
            failed.push(problem.to_owned());
        }
    }
    (failed.is_empty(), failed)
}

/// Runs both on `config` and requires the same verdict, the problem named
/// by `names` (None: both accept), and every sentence the doctor fails
/// with said by rosterd word for word.
#[track_caller]
fn agree(case: &str, config: &Path, scratch: &Path, names: Option<&str>) -> Vec<String> {
    let (rosterd_ok, stderr) = rosterd_verdict(config);
    let (doctor_ok, doctor_says) = doctor_verdict(config, scratch);
    assert_eq!(
        rosterd_ok,
        doctor_ok,
        "{case}: rosterd {} but the doctor {}\nrosterd: {stderr}\ndoctor: {doctor_says:#?}",
        if rosterd_ok { "accepts" } else { "refuses" },
        if doctor_ok { "accepts" } else { "refuses" },
    );
    match names {
        None => assert!(rosterd_ok, "{case}: refused: {stderr}"),
        Some(problem) => {
            assert!(!rosterd_ok, "{case}: rosterd accepted it");
            assert!(stderr.contains(problem), "{case}: rosterd: {stderr}");
            assert!(
                doctor_says.iter().any(|m| m.contains(problem)),
                "{case}: doctor: {doctor_says:#?}"
            );
            for sentence in &doctor_says {
                assert!(
                    stderr.contains(sentence.as_str()),
                    "{case}: the doctor said what rosterd didn't:\n  doctor: {sentence}\n  rosterd: {stderr}"
                );
            }
        }
    }
    doctor_says
}

#[test]
fn the_doctor_and_rosterd_agree_on_bad_configs_and_host_files() {
    let cases: Vec<(&str, TestConfig, Option<&str>)> = vec![
        ("a good config", TestConfig::new(), None),
        (
            "an unknown key",
            TestConfig::new().raw_line("databse = \"/tmp/x.db\""),
            Some("unknown key `databse`"),
        ),
        (
            "an unknown key in a section",
            TestConfig::new().set("lockout.attempt", "5"),
            Some("unknown key `attempt` in section [lockout]"),
        ),
        (
            "a typo'd duration",
            TestConfig::new().set("lockout.window", "\"15 mins\""),
            Some("`window` in [lockout]: invalid duration \"15 mins\""),
        ),
        (
            "a value of the wrong type",
            TestConfig::new().set("admin_group", "7"),
            Some("`admin_group` should be a string"),
        ),
        (
            "a value out of range",
            TestConfig::new().set("argon2.memory_kib", "1"),
            Some("[argon2] `memory_kib` must be between"),
        ),
        (
            "a uid range overlapping login.defs",
            TestConfig::new()
                .login_defs("UID_MIN 1000\nUID_MAX 1879048200\nGID_MIN 1000\nGID_MAX 60000\n"),
            Some("overlaps UID_MIN–UID_MAX 1000–1879048200"),
        ),
        (
            "a subuid overlap",
            TestConfig::new().subuid("localuser:100000:65536\nbuilder:1879048000:1000\n"),
            Some("builder's subordinate uids 1879048000–1879048999"),
        ),
        (
            "an id in the local passwd",
            TestConfig::new().passwd(
                "root:x:0:0:root:/root:/bin/bash\nsvc:x:1879048300:100::/:/usr/sbin/nologin\n",
            ),
            Some("local user \"svc\" has uid 1879048300"),
        ),
        (
            "the admin group's name in the local group file",
            TestConfig::new().group("root:x:0:\nroster-admins:x:5000:\n"),
            Some("has the name of admin_group"),
        ),
        (
            "a range past 2147483646",
            TestConfig::new()
                .set("uid_min", "2147483000")
                .set("uid_max", "2147483647"),
            Some("goes past 2147483646"),
        ),
    ];
    for (case, config, names) in cases {
        let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
        let path = config.write_in(dir.path());
        agree(case, &path, dir.path(), names);
    }
}

/// The drift the shared crate fixed: a Roster user copied into the local
/// files (`getent passwd bob >> /etc/passwd`). rosterd refuses to start
/// over it; the doctor skipped Roster's own accounts and said ✓.
#[test]
fn a_roster_account_copied_into_the_local_files_is_refused_by_both() {
    let bus = TestBus::start();
    let mut daemon = TestDaemon::start(&bus);
    let uid = daemon.create_user("copied", "user", "correct horse battery");
    daemon.stop();
    let config = daemon.config_path();
    agree("before the copy", &config, daemon.dir(), None);

    let passwd = daemon.passwd_path();
    let mut text = std::fs::read_to_string(&passwd).unwrap_or_else(|e| panic!("{e}"));
    text.push_str(&format!("copied:x:{uid}:{uid}::/home/copied:/bin/bash\n"));
    std::fs::write(&passwd, text).unwrap_or_else(|e| panic!("{e}"));

    let said = agree(
        "a Roster user copied into passwd",
        &config,
        daemon.dir(),
        Some(&format!("local user \"copied\" has uid {uid}")),
    );
    assert_eq!(said.len(), 1, "only the ids fail: {said:#?}");

    // The doctor's fix says which line is the copy.
    let out = Command::new(binary("roster"))
        .args(["doctor", "--json", "--root", "/", "--config"])
        .arg(&config)
        .env(
            "DBUS_SYSTEM_BUS_ADDRESS",
            format!("unix:path={}", daemon.dir().join("no-bus").display()),
        )
        .output()
        .unwrap_or_else(|e| panic!("roster: {e}"));
    let list: Value = serde_json::from_slice(&out.stdout).unwrap_or_default();
    let fix = list
        .as_array()
        .and_then(|l| l.iter().find(|f| f["check"] == "ids"))
        .and_then(|f| f["fix"].as_str())
        .unwrap_or_default()
        .to_owned();
    assert!(
        fix.contains("user \"copied\" in the local files is Roster's own"),
        "{fix}"
    );
}
