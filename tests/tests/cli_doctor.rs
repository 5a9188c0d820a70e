//! `roster doctor` end to end: a fake host root in a temp folder (`--root`)
//! for every file check, its ✓, its ✗ and `--fix`; a live rosterd on a
//! private bus for "rosterd reachable", and the same rosterd stopped. Also
//! `roster generate`, the packaging hook (man pages and completions).

mod cli_common;

use cli_common::Host;
use roster_tests::{TestConfig, binary, skip_or_fail};
use serde_json::Value;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

/// What a doctor run printed.
struct Out {
    code: Option<i32>,
    stdout: String,
    stderr: String,
}

impl Out {
    #[track_caller]
    fn json(&self) -> Vec<Value> {
        let v: Value = serde_json::from_str(&self.stdout)
            .unwrap_or_else(|e| panic!("not JSON ({e}):\n{}\n{}", self.stdout, self.stderr));
        v.as_array()
            .unwrap_or_else(|| panic!("not a list: {v}"))
            .clone()
    }
}

/// The findings of one check (several for `database` and `sudoers`).
fn findings<'a>(list: &'a [Value], check: &str) -> Vec<&'a Value> {
    list.iter().filter(|f| f["check"] == check).collect()
}

/// The one finding of `check`, asserting its status.
#[track_caller]
fn expect<'a>(list: &'a [Value], check: &str, status: &str) -> &'a Value {
    let found = findings(list, check);
    let Some(first) = found.first() else {
        panic!("no {check} finding in {list:#?}")
    };
    assert!(
        found.iter().any(|f| f["status"] == status),
        "{check}: expected {status}, got {found:#?}"
    );
    found
        .iter()
        .find(|f| f["status"] == status)
        .copied()
        .unwrap_or(first)
}

fn mode_of(path: &Path) -> u32 {
    std::fs::metadata(path)
        .unwrap_or_else(|e| panic!("{}: {e}", path.display()))
        .permissions()
        .mode()
        & 0o7777
}

const NSSWITCH: &str = "# /etc/nsswitch.conf\n\npasswd:         files systemd roster\ngroup:          files systemd roster\nshadow:         files\nhosts:          files dns\n";

/// A Debian host with Roster installed and set up as the packages do.
struct FakeHost {
    dir: tempfile::TempDir,
}

impl FakeHost {
    fn good() -> FakeHost {
        let dir = tempfile::Builder::new()
            .prefix("roster-doctor-")
            .tempdir()
            .unwrap_or_else(|e| panic!("temp dir: {e}"));
        let host = FakeHost { dir };
        host.write(
            "etc/roster/rosterd.toml",
            "environment = \"default\"\n",
            0o644,
        );
        host.mkdir("var/lib/roster", 0o700);
        host.write("var/lib/roster/roster.db", "SQLite format 3\0", 0o600);
        host.write("var/cache/roster/nss.cache", "not a snapshot", 0o644);
        host.write("etc/nsswitch.conf", NSSWITCH, 0o644);
        host.write(
            "etc/pam.d/common-auth",
            "auth\t[success=2 default=ignore]\tpam_unix.so nullok\n\
             auth\t[success=1 new_authtok_reqd=done default=ignore]\tpam_roster.so use_first_pass\n\
             auth\trequisite\t\t\tpam_deny.so\nauth\trequired\t\t\tpam_permit.so\n",
            0o644,
        );
        host.write(
            "etc/pam.d/common-account",
            "account\t[success=1 new_authtok_reqd=done default=ignore]\tpam_unix.so\n\
             account\trequisite\t\t\tpam_deny.so\naccount\trequired\t\t\tpam_permit.so\n\
             account\t[default=bad success=ok new_authtok_reqd=done user_unknown=ignore]\tpam_roster.so\n",
            0o644,
        );
        host.write(
            "etc/pam.d/common-password",
            "password\t[success=2 default=ignore]\tpam_unix.so obscure yescrypt\n\
             password\t[success=1 default=ignore]\tpam_roster.so try_first_pass\n\
             password\trequisite\t\t\tpam_deny.so\npassword\trequired\t\t\tpam_permit.so\n",
            0o644,
        );
        host.write(
            "etc/pam.d/common-session",
            "session\t[default=1]\t\t\tpam_permit.so\nsession\trequisite\t\t\tpam_deny.so\n\
             session\trequired\t\t\tpam_permit.so\nsession\trequired\tpam_unix.so\n\
             session\toptional\t\t\tpam_roster.so\n",
            0o644,
        );
        host.write(
            "etc/pam.d/sshd",
            "@include common-auth\nsession required pam_loginuid.so\n",
            0o644,
        );
        host.write("usr/lib/x86_64-linux-gnu/security/pam_roster.so", "", 0o644);
        host.write(
            "etc/login.defs",
            "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n",
            0o644,
        );
        host.write(
            "etc/passwd",
            "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\n",
            0o644,
        );
        host.write(
            "etc/group",
            "root:x:0:\nsudo:x:27:alice\nalice:x:1000:\n",
            0o644,
        );
        host.write(
            "etc/shadow",
            "root:*:19000:0:99999:7:::\nalice:$y$j9T$abc$def:19000:0:99999:7:::\n",
            0o640,
        );
        host.write("etc/subuid", "alice:100000:65536\n", 0o644);
        host.write("etc/subgid", "alice:100000:65536\n", 0o644);
        host.write(
            "etc/sudoers",
            "Defaults env_reset\nroot ALL=(ALL:ALL) ALL\n@includedir /etc/sudoers.d\n",
            0o440,
        );
        host.write(
            "etc/sudoers.d/roster",
            "%roster-admins ALL=(ALL:ALL) ALL\n",
            0o440,
        );
        host
    }

    fn path(&self, relative: &str) -> PathBuf {
        self.dir.path().join(relative)
    }

    fn mkdir(&self, relative: &str, mode: u32) {
        let path = self.path(relative);
        std::fs::create_dir_all(&path).unwrap_or_else(|e| panic!("mkdir {relative}: {e}"));
        self.chmod(relative, mode);
    }

    fn write(&self, relative: &str, text: &str, mode: u32) {
        let path = self.path(relative);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).unwrap_or_else(|e| panic!("mkdir: {e}"));
        }
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {relative}: {e}"));
        self.chmod(relative, mode);
    }

    fn read(&self, relative: &str) -> String {
        std::fs::read_to_string(self.path(relative))
            .unwrap_or_else(|e| panic!("read {relative}: {e}"))
    }

    fn chmod(&self, relative: &str, mode: u32) {
        std::fs::set_permissions(self.path(relative), std::fs::Permissions::from_mode(mode))
            .unwrap_or_else(|e| panic!("chmod {relative}: {e}"));
    }

    /// `roster doctor --root DIR ARGS` with a bus address nobody listens on.
    fn doctor(&self, args: &[&str]) -> Out {
        let nobody = format!("unix:path={}", self.path("no-bus").display());
        self.doctor_on(&nobody, args)
    }

    fn doctor_on(&self, bus: &str, args: &[&str]) -> Out {
        let out = Command::new(binary("roster"))
            .arg("doctor")
            .arg("--root")
            .arg(self.dir.path())
            .args(args)
            .env("DBUS_SYSTEM_BUS_ADDRESS", bus)
            .env_remove("ROSTER_TOKEN")
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("can't run roster: {e}"));
        Out {
            code: out.status.code(),
            stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
            stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
        }
    }

    /// `--json` findings.
    fn json(&self, args: &[&str]) -> Vec<Value> {
        let mut all = vec!["--json"];
        all.extend_from_slice(args);
        self.doctor(&all).json()
    }
}

#[test]
fn a_good_host_passes_every_file_check() {
    let host = FakeHost::good();
    let list = host.json(&[]);
    for f in &list {
        if f["check"] != "rosterd" {
            assert_eq!(f["status"], "ok", "{f:#}");
            assert!(f["fix"].is_null(), "{f:#}");
        }
    }
    for check in [
        "config",
        "database",
        "database-folder",
        "snapshot",
        "snapshot-current",
        "nsswitch",
        "pam-auth",
        "pam-account",
        "pam-password",
        "pam-session",
        "pam-module",
        "lastlog",
        "ids",
        "sudoers",
        "break-glass",
    ] {
        expect(&list, check, "ok");
    }
    // The human form: one ✓ line per check.
    let out = host.doctor(&[]);
    assert!(out.stdout.contains("✓ nsswitch"), "{}", out.stdout);
    assert!(out.stdout.contains("✓ break-glass"), "{}", out.stdout);
}

/// rosterd keeps `<database>.snapshot-stale` while it can't write the
/// snapshot (tests/nss_daemon.rs shows it doing so): the doctor says the
/// snapshot is older than the database, since when, why, and what to do.
#[test]
fn a_snapshot_older_than_the_database_fails_with_where_to_look() {
    let host = FakeHost::good();
    let an_hour_ago = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() - 3600)
        .unwrap_or(0);
    host.write(
        "var/lib/roster/roster.db.snapshot-stale",
        &format!(
            "{an_hour_ago}\n/var/cache/roster/nss.cache: No space left on device (os error 28)\n"
        ),
        0o644,
    );
    let list = host.json(&[]);
    let f = expect(&list, "snapshot-current", "fail");
    let message = f["message"].as_str().unwrap_or_default();
    assert!(message.contains("is older than the database"), "{f:#}");
    assert!(message.contains("for 60 min"), "{f:#}");
    assert!(message.contains("No space left on device"), "{f:#}");
    let fix = f["fix"].as_str().unwrap_or_default();
    assert!(
        fix.contains("df ") && fix.contains("/var/cache/roster"),
        "{f:#}"
    );
    assert!(fix.contains("rosterd's log"), "{f:#}");
    let out = host.doctor(&[]);
    assert_eq!(out.code, Some(1));
    assert!(out.stdout.contains("✗ snapshot-current"), "{}", out.stdout);

    // A mark older than the snapshot (rosterd wrote since, but couldn't
    // remove it): a warning naming the file to remove.
    let mark = host.path("var/lib/roster/roster.db.snapshot-stale");
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(7200);
    std::fs::File::options()
        .write(true)
        .open(&mark)
        .and_then(|f| f.set_modified(old))
        .unwrap_or_else(|e| panic!("{e}"));
    let list = host.json(&[]);
    let f = expect(&list, "snapshot-current", "warn");
    assert!(
        f["fix"].as_str().unwrap_or_default().starts_with("rm "),
        "{f:#}"
    );
}

#[test]
fn no_bus_fails_with_its_fix_and_exit_1() {
    let host = FakeHost::good();
    let out = host.doctor(&[]);
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    assert!(out.stdout.contains("✗ rosterd"), "{}", out.stdout);
    assert!(
        out.stdout.contains("no D-Bus system bus answers"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("fix: start D-Bus"), "{}", out.stdout);
    assert!(
        out.stderr.contains("roster: 1 check failed"),
        "{}",
        out.stderr
    );
    // JSON: the same, parsable, exit 1 too.
    let json = host.doctor(&["--json"]);
    assert_eq!(json.code, Some(1));
    let list = json.json();
    let f = expect(&list, "rosterd", "fail");
    assert!(f["fix"].as_str().is_some_and(|s| s.contains("dbus")), "{f}");
}

#[test]
fn loose_modes_fail_and_fix_repairs_them() {
    let host = FakeHost::good();
    host.chmod("var/lib/roster/roster.db", 0o644);
    host.write("var/lib/roster/roster.db-wal", "", 0o644);
    host.chmod("var/lib/roster", 0o755);
    host.chmod("var/cache/roster/nss.cache", 0o600);
    let list = host.json(&[]);
    let db = expect(&list, "database", "fail");
    assert!(
        db["message"]
            .as_str()
            .is_some_and(|m| m.contains("mode 0644, not 0600")),
        "{db}"
    );
    assert!(
        db["fix"].as_str().is_some_and(|m| m.contains("chmod 0600")),
        "{db}"
    );
    expect(&list, "database-folder", "fail");
    expect(&list, "snapshot", "fail");

    let fixed = host.json(&["--fix"]);
    for check in ["database", "database-folder", "snapshot"] {
        let f = expect(&fixed, check, "ok");
        assert!(!f["fixed"].as_array().is_none_or(|a| a.is_empty()), "{f}");
        assert!(
            findings(&fixed, check).iter().all(|f| f["status"] == "ok"),
            "{fixed:#?}"
        );
    }
    assert_eq!(mode_of(&host.path("var/lib/roster/roster.db")), 0o600);
    assert_eq!(mode_of(&host.path("var/lib/roster/roster.db-wal")), 0o600);
    assert_eq!(mode_of(&host.path("var/lib/roster")), 0o700);
    assert_eq!(mode_of(&host.path("var/cache/roster/nss.cache")), 0o644);
}

#[test]
fn missing_files_fail_with_what_creates_them() {
    let host = FakeHost::good();
    std::fs::remove_file(host.path("var/cache/roster/nss.cache")).unwrap_or_default();
    std::fs::remove_file(host.path("etc/roster/rosterd.toml")).unwrap_or_default();
    let list = host.json(&[]);
    let f = expect(&list, "snapshot", "fail");
    assert!(
        f["fix"]
            .as_str()
            .is_some_and(|s| s.contains("start rosterd")),
        "{f}"
    );
    let f = expect(&list, "config", "fail");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("is missing")),
        "{f}"
    );
}

#[test]
fn a_config_moves_the_checked_paths() {
    let host = FakeHost::good();
    host.write(
        "etc/roster/rosterd.toml",
        "database = \"/srv/roster/r.db\"\nnss_cache = \"/srv/cache/nss\"\n",
        0o644,
    );
    let list = host.json(&[]);
    let f = expect(&list, "database", "fail");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("/srv/roster/r.db")),
        "{f}"
    );
    // --config names the file as it is (not under the root).
    let other = host.path("elsewhere.toml");
    std::fs::write(&other, "admin_group = 7\n").unwrap_or_default();
    let list = host.json(&["--config", &other.display().to_string()]);
    let f = expect(&list, "config", "fail");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("`admin_group` should be a string")),
        "{f}"
    );
}

#[test]
fn nsswitch_without_roster_fails_and_fix_adds_it_once() {
    let host = FakeHost::good();
    let before = "# keep me\npasswd:         files systemd\ngroup:          files systemd # local\nshadow:         files\n";
    host.write("etc/nsswitch.conf", before, 0o644);
    let list = host.json(&[]);
    let f = expect(&list, "nsswitch", "fail");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("passwd and group lines don't name roster")),
        "{f}"
    );

    let fixed = host.json(&["--fix"]);
    let f = expect(&fixed, "nsswitch", "ok");
    assert!(
        f["fixed"][0]
            .as_str()
            .is_some_and(|s| s.contains("added roster")),
        "{f}"
    );
    assert_eq!(
        host.read("etc/nsswitch.conf"),
        "# keep me\npasswd:         files systemd roster\ngroup:          files systemd roster # local\nshadow:         files\n"
    );
    assert_eq!(mode_of(&host.path("etc/nsswitch.conf")), 0o644);
    // Idempotent: nothing more to do.
    let again = host.json(&["--fix"]);
    let f = expect(&again, "nsswitch", "ok");
    assert_eq!(f["fixed"], Value::Array(vec![]));
    assert_eq!(host.read("etc/nsswitch.conf").matches("roster").count(), 2);

    // A missing line is reported, never invented.
    host.write("etc/nsswitch.conf", "passwd: files roster\n", 0o644);
    let list = host.json(&["--fix"]);
    let f = expect(&list, "nsswitch", "fail");
    assert!(
        f["fix"]
            .as_str()
            .is_some_and(|s| s.contains("group: files roster")),
        "{f}"
    );
    assert_eq!(host.read("etc/nsswitch.conf"), "passwd: files roster\n");
}

#[test]
fn a_wrong_pam_stack_is_named_and_never_fixed() {
    let host = FakeHost::good();
    host.write(
        "etc/pam.d/common-account",
        "account required pam_unix.so\naccount [default=bad success=ok] pam_roster.so\n",
        0o644,
    );
    host.write(
        "etc/pam.d/common-password",
        "password [success=1 default=ignore] pam_unix.so\npassword [success=1 default=ignore] pam_roster.so use_authtok\n",
        0o644,
    );
    host.write(
        "etc/pam.d/common-session",
        "session required pam_unix.so\n",
        0o644,
    );
    std::fs::remove_file(host.path("etc/pam.d/common-auth")).unwrap_or_default();
    let before = host.read("etc/pam.d/common-account");
    let list = host.json(&["--fix"]);
    let f = expect(&list, "pam-account", "fail");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("user_unknown=ignore")),
        "{f}"
    );
    assert!(
        f["fix"]
            .as_str()
            .is_some_and(|s| s.contains("pam-auth-update")),
        "{f}"
    );
    let f = expect(&list, "pam-password", "fail");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("use_authtok")),
        "{f}"
    );
    expect(&list, "pam-session", "fail");
    let f = expect(&list, "pam-auth", "fail");
    assert!(
        f["message"].as_str().is_some_and(|s| s.contains("missing")),
        "{f}"
    );
    expect(&list, "pam-module", "ok");
    assert_eq!(host.read("etc/pam.d/common-account"), before);

    // Stacked but not installed: every login refused.
    std::fs::remove_file(host.path("usr/lib/x86_64-linux-gnu/security/pam_roster.so"))
        .unwrap_or_default();
    let list = host.json(&[]);
    let f = expect(&list, "pam-module", "fail");
    assert!(
        f["fix"]
            .as_str()
            .is_some_and(|s| s.contains("--remove roster")),
        "{f}"
    );
}

#[test]
fn pam_lastlog_is_a_warning() {
    let host = FakeHost::good();
    host.write(
        "etc/pam.d/login",
        "@include common-auth\nsession optional pam_lastlog.so showfailed\n",
        0o644,
    );
    let list = host.json(&[]);
    let f = expect(&list, "lastlog", "warn");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("(login)") && s.contains("550 GB")),
        "{f}"
    );
    let out = host.doctor(&[]);
    assert!(out.stdout.contains("! lastlog"), "{}", out.stdout);
}

#[test]
fn id_clashes_are_named() {
    let host = FakeHost::good();
    host.write(
        "etc/login.defs",
        "UID_MIN 1000\nUID_MAX 1879048195\nGID_MIN 1000\nGID_MAX 60000\n",
        0o644,
    );
    host.write(
        "etc/passwd",
        "root:x:0:0:root:/root:/bin/bash\nalice:x:1000:1000::/home/alice:/bin/bash\nsquat:x:1879048300:100::/:/bin/sh\n",
        0o644,
    );
    let list = host.json(&[]);
    let f = expect(&list, "ids", "fail");
    let message = f["message"].as_str().unwrap_or_default();
    assert!(
        message.contains("UID_MIN–UID_MAX 1000–1879048195"),
        "{message}"
    );
    assert!(
        message.contains("local user \"squat\" has uid 1879048300"),
        "{message}"
    );
    assert!(
        f["fix"].as_str().is_some_and(|s| s.contains("uid_min")),
        "{f}"
    );

    // A range past 2147483646 and an admin_gid in systemd's range.
    let host = FakeHost::good();
    host.write(
        "etc/roster/rosterd.toml",
        "uid_min = 2147483000\nuid_max = 2147483647\nadmin_gid = 61200\n",
        0o644,
    );
    let list = host.json(&[]);
    let message = expect(&list, "ids", "fail")["message"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    assert!(message.contains("goes past 2147483646"), "{message}");
    assert!(message.contains("DynamicUser"), "{message}");
}

#[test]
fn sudoers_drop_in_missing_is_written_by_fix_after_visudo() {
    let host = FakeHost::good();
    std::fs::remove_file(host.path("etc/sudoers.d/roster")).unwrap_or_default();
    let list = host.json(&[]);
    let f = expect(&list, "sudoers", "fail");
    assert!(
        f["message"].as_str().is_some_and(|s| s.contains("missing")),
        "{f}"
    );

    let fixed = host.json(&["--fix"]);
    let f = expect(&fixed, "sudoers", "ok");
    assert!(
        f["fixed"][0]
            .as_str()
            .is_some_and(|s| s.contains("visudo -cf passed")),
        "{f}"
    );
    let text = host.read("etc/sudoers.d/roster");
    assert!(
        text.contains("\n%roster-admins ALL=(ALL:ALL) ALL\n"),
        "{text}"
    );
    assert_eq!(mode_of(&host.path("etc/sudoers.d/roster")), 0o440);
    let check = Command::new(visudo())
        .arg("-cf")
        .arg(host.path("etc/sudoers.d/roster"))
        .output()
        .unwrap_or_else(|e| panic!("visudo: {e}"));
    assert!(check.status.success(), "{check:?}");
    // No temp file left where sudo looks.
    let left: Vec<_> = std::fs::read_dir(host.path("etc/sudoers.d"))
        .map(|d| d.filter_map(Result::ok).map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert_eq!(left, ["roster"]);
}

#[test]
fn sudoers_naming_another_group_is_rewritten_keeping_the_old_one() {
    let host = FakeHost::good();
    host.write("etc/roster/rosterd.toml", "admin_group = \"ops\"\n", 0o644);
    let list = host.json(&[]);
    let f = expect(&list, "sudoers", "fail");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("no rule for %ops")),
        "{f}"
    );
    host.json(&["--fix"]);
    assert!(
        host.read("etc/sudoers.d/roster")
            .contains("\n%ops ALL=(ALL:ALL) ALL\n")
    );
    assert_eq!(
        host.read("etc/sudoers.d/roster.doctor-old"),
        "%roster-admins ALL=(ALL:ALL) ALL\n"
    );

    // A group name that isn't one is never written into sudoers.
    let host = FakeHost::good();
    host.write(
        "etc/roster/rosterd.toml",
        "admin_group = \"ops ALL=(ALL) NOPASSWD: ALL\"\n",
        0o644,
    );
    std::fs::remove_file(host.path("etc/sudoers.d/roster")).unwrap_or_default();
    let list = host.json(&["--fix"]);
    let f = expect(&list, "sudoers", "fail");
    assert!(
        f["fixed"][0]
            .as_str()
            .is_some_and(|s| s.contains("couldn't repair")),
        "{f}"
    );
    assert!(!host.path("etc/sudoers.d/roster").exists());

    // World-writable: sudo ignores it; --fix makes it 0440.
    let host = FakeHost::good();
    host.chmod("etc/sudoers.d/roster", 0o666);
    expect(&host.json(&[]), "sudoers", "fail");
    expect(&host.json(&["--fix"]), "sudoers", "ok");
    assert_eq!(mode_of(&host.path("etc/sudoers.d/roster")), 0o440);

    // Without the include, the drop-in is never read.
    let host = FakeHost::good();
    host.write("etc/sudoers", "root ALL=(ALL:ALL) ALL\n", 0o440);
    let list = host.json(&[]);
    let f = expect(&list, "sudoers", "fail");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("includedir")),
        "{f}"
    );
}

#[test]
fn break_glass_needs_a_local_admin_or_a_root_password() {
    let host = FakeHost::good();
    host.write("etc/group", "root:x:0:\nsudo:x:27:\nalice:x:1000:\n", 0o644);
    let list = host.json(&[]);
    let f = expect(&list, "break-glass", "fail");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("rosterd is down")),
        "{f}"
    );
    assert!(
        f["fix"].as_str().is_some_and(|s| s.contains("passwd root")),
        "{f}"
    );

    host.write(
        "etc/shadow",
        "root:$y$j9T$salt$hash:19000:0:99999:7:::\nalice:!:19000::::::\n",
        0o640,
    );
    let f = expect(&host.json(&[]), "break-glass", "ok").clone();
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("root has a password")),
        "{f}"
    );

    // wheel counts as sudo does; a locked member doesn't count.
    host.write("etc/group", "root:x:0:\nwheel:x:10:alice\n", 0o644);
    expect(&host.json(&[]), "break-glass", "ok");
    host.write("etc/shadow", "root:*:1::::::\nalice:!$y$x:1::::::\n", 0o640);
    expect(&host.json(&[]), "break-glass", "fail");
}

#[test]
fn json_is_a_list_of_check_status_message_fix() {
    let host = FakeHost::good();
    host.chmod("var/cache/roster/nss.cache", 0o666);
    for f in host.json(&[]) {
        assert!(f["check"].is_string(), "{f}");
        assert!(
            ["ok", "warn", "fail"].contains(&f["status"].as_str().unwrap_or("")),
            "{f}"
        );
        assert!(f["message"].is_string(), "{f}");
        if f["status"] == "ok" {
            assert!(f["fix"].is_null(), "{f}");
        } else {
            assert!(f["fix"].is_string(), "{f}");
        }
        assert!(f["fixed"].is_array(), "{f}");
    }
}

#[test]
fn a_live_rosterd_is_reachable_and_a_stopped_one_fails_with_its_fix() {
    let mut live = Host::start();
    let host = FakeHost::good();
    let out = host.doctor_on(live.bus.address(), &[]);
    assert!(
        out.stdout.contains("✓ rosterd"),
        "{}\n{}",
        out.stdout,
        out.stderr
    );
    assert!(
        out.stdout.contains("rosterd is reachable"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("you are root"), "{}", out.stdout);
    // Every check passes: exit 0; a warning alone doesn't change that.
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
    host.write(
        "etc/pam.d/login",
        "session optional pam_lastlog.so\n",
        0o644,
    );
    let out = host.doctor_on(live.bus.address(), &[]);
    assert!(out.stdout.contains("! lastlog"), "{}", out.stdout);
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);

    live.daemon.stop();
    let out = host.doctor_on(live.bus.address(), &["--json"]);
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
    let list = out.json();
    let f = expect(&list, "rosterd", "fail");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("rosterd is not running")),
        "{f}"
    );
    assert!(
        f["fix"]
            .as_str()
            .is_some_and(|s| s.contains("systemctl start rosterd")),
        "{f}"
    );
}

#[test]
fn a_live_rosterds_own_files_have_their_modes() {
    let live = Host::start();
    live.user("doctorbob");
    let out = Command::new(binary("roster"))
        .args(["doctor", "--json", "--config"])
        .arg(live.daemon.config_path())
        .env("DBUS_SYSTEM_BUS_ADDRESS", live.bus.address())
        .output()
        .unwrap_or_else(|e| panic!("roster: {e}"));
    let list: Vec<Value> = serde_json::from_slice::<Value>(&out.stdout)
        .ok()
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_else(|| panic!("not JSON: {}", String::from_utf8_lossy(&out.stdout)));
    for check in [
        "config",
        "rosterd",
        "database",
        "database-folder",
        "snapshot",
        "snapshot-current",
    ] {
        expect(&list, check, "ok");
    }
}

fn visudo() -> PathBuf {
    ["/usr/sbin/visudo", "/sbin/visudo", "/usr/bin/visudo"]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .unwrap_or_else(|| panic!("visudo is missing: apt-get install sudo"))
}

/// The packaging hooks: `roster generate man DIR`, `rosterd --generate-man
/// DIR` and `roster generate completions DIR`, as scripts/package.sh calls
/// them.
#[test]
fn generate_writes_man_pages_and_completions_for_packaging() {
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let man = dir.path().join("man");
    let run = |args: &[&str]| {
        Command::new(binary("roster"))
            .args(args)
            .output()
            .unwrap_or_else(|e| panic!("roster: {e}"))
    };
    let out = run(&["generate", "man", &man.display().to_string()]);
    assert!(out.status.success(), "{out:?}");
    let out = Command::new(binary("rosterd"))
        .arg("--generate-man")
        .arg(&man)
        .output()
        .unwrap_or_else(|e| panic!("rosterd: {e}"));
    assert!(out.status.success(), "{out:?}");
    // A folder it can't create: an error naming it, exit 1.
    let blocker = dir.path().join("a-file");
    std::fs::write(&blocker, "").unwrap_or_else(|e| panic!("{e}"));
    let failed = Command::new(binary("rosterd"))
        .arg("--generate-man")
        .arg(blocker.join("man"))
        .output()
        .unwrap_or_else(|e| panic!("rosterd: {e}"));
    assert_eq!(failed.status.code(), Some(1), "{failed:?}");
    assert!(
        String::from_utf8_lossy(&failed.stderr).contains("a-file"),
        "{failed:?}"
    );
    for page in [
        "roster.1",
        "roster-doctor.1",
        "roster-users-create.1",
        "rosterd.8",
    ] {
        assert!(man.join(page).is_file(), "{page}");
    }
    let completions = dir.path().join("completions");
    let out = run(&[
        "generate",
        "completions",
        &completions.display().to_string(),
    ]);
    assert!(out.status.success(), "{out:?}");
    let mut names: Vec<String> = std::fs::read_dir(&completions)
        .map(|d| {
            d.filter_map(Result::ok)
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .collect()
        })
        .unwrap_or_default();
    names.sort();
    assert_eq!(names, ["_roster", "roster.bash", "roster.fish"]);
    // Hidden from the help.
    let help = run(&["--help"]);
    let help = String::from_utf8_lossy(&help.stdout);
    assert!(help.contains("doctor"), "{help}");
    assert!(!help.contains("generate"), "{help}");

    // rosterd(8) comes from rosterd's own parser: every flag
    // `rosterd --help` shows must be in it.
    let page = std::fs::read_to_string(man.join("rosterd.8"))
        .unwrap_or_default()
        .replace("\\-", "-");
    let daemon_help = Command::new(binary("rosterd"))
        .arg("--help")
        .output()
        .unwrap_or_else(|e| panic!("rosterd: {e}"));
    let daemon_help = format!(
        "{}{}",
        String::from_utf8_lossy(&daemon_help.stdout),
        String::from_utf8_lossy(&daemon_help.stderr)
    );
    let flags: Vec<&str> = daemon_help
        .split(|c: char| !(c.is_ascii_alphanumeric() || c == '-'))
        .filter(|w| w.starts_with("--") && w.len() > 2)
        .collect();
    assert!(flags.contains(&"--config"), "{daemon_help}");
    for flag in flags {
        assert!(page.contains(flag), "rosterd.8 lacks {flag}");
    }
}

// ------------------------------------------------------------ fleet mode

/// Only the `fleet*` findings.
fn fleet_findings(list: &[Value]) -> Vec<&Value> {
    list.iter()
        .filter(|f| f["check"].as_str().is_some_and(|c| c.starts_with("fleet")))
        .collect()
}

/// An enrollment as rosterd writes it (`fleet/enrollment.json` and
/// `fleet/host.key` beside the database), with the given PEMs.
fn write_enrollment(folder: &Path, certificate_pem: &str, key_pem: &str, file_mode: u32) {
    std::fs::create_dir_all(folder).unwrap_or_else(|e| panic!("mkdir {}: {e}", folder.display()));
    let enrollment = serde_json::json!({
        "host_id": 7,
        "hostname": "web-1",
        "environment": "prod",
        "certificate_pem": certificate_pem,
        "ca_bundle_pem": certificate_pem,
        // Nobody serves this: the agent fails, never reaches a controller.
        "controllers": ["https://127.0.0.1:1"],
        "ca_fingerprint": "SHA256:none",
        "epoch": "e1",
        "cursor": 0,
    });
    for (name, text) in [
        ("enrollment.json", enrollment.to_string()),
        ("host.key", key_pem.to_owned()),
    ] {
        let path = folder.join(name);
        std::fs::write(&path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(file_mode))
            .unwrap_or_else(|e| panic!("chmod {}: {e}", path.display()));
    }
}

#[test]
fn a_standalone_host_has_one_fleet_line() {
    let host = FakeHost::good();
    let list = host.json(&[]);
    let fleet = fleet_findings(&list);
    assert_eq!(fleet.len(), 1, "{fleet:#?}");
    let f = expect(&list, "fleet", "ok");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("standalone")),
        "{f:#}"
    );
    // A drop-in or a fleet folder without an enrollment is no enrollment.
    host.mkdir("var/lib/roster/fleet", 0o755);
    host.write(
        "etc/systemd/system/rosterd.service.d/fleet.conf",
        "[Service]\nPrivateNetwork=no\n",
        0o644,
    );
    assert_eq!(fleet_findings(&host.json(&[])).len(), 1);

    // rosterd answering Fleet.Status as a standalone host: the same line.
    let live = Host::start();
    let out = host.doctor_on(live.bus.address(), &["--json"]);
    let list = out.json();
    expect(&list, "rosterd", "ok");
    let fleet = fleet_findings(&list);
    assert_eq!(fleet.len(), 1, "{fleet:#?}");
    expect(&list, "fleet", "ok");
    assert_eq!(out.code, Some(0), "{}\n{}", out.stdout, out.stderr);
}

/// The files of an enrolled host, with rosterd not answering: the modes
/// (and `--fix`), the drop-in under `--root`, and a line saying what
/// rosterd would have told.
#[test]
fn an_enrolled_hosts_files_are_checked_without_rosterd_and_fix_tightens_them() {
    let host = FakeHost::good();
    write_enrollment(
        &host.path("var/lib/roster/fleet"),
        "not checked here",
        "-----BEGIN PRIVATE KEY-----\n",
        0o644,
    );
    host.chmod("var/lib/roster/fleet", 0o755);
    let list = host.json(&[]);
    let f = expect(&list, "fleet", "ok");
    let message = f["message"].as_str().unwrap_or_default();
    assert!(message.contains("\"web-1\""), "{f:#}");
    assert!(message.contains("\"prod\""), "{f:#}");
    assert!(message.contains("https://127.0.0.1:1"), "{f:#}");
    for check in ["fleet-folder", "fleet-enrollment", "fleet-key"] {
        let f = expect(&list, check, "fail");
        assert!(
            f["fix"]
                .as_str()
                .is_some_and(|s| s.contains("roster doctor --fix does the chmod")),
            "{f:#}"
        );
    }
    let f = expect(&list, "fleet-key", "fail");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("mode 0644, not 0600") && s.contains("private key")),
        "{f:#}"
    );
    let f = expect(&list, "fleet-status", "warn");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("not checked") && s.contains("rosterd didn't answer")),
        "{f:#}"
    );
    // Under --root the drop-in is looked for in the root.
    let f = expect(&list, "fleet-drop-in", "fail");
    assert!(
        f["message"].as_str().is_some_and(|s| s
            .contains("etc/systemd/system/rosterd.service.d/fleet.conf is missing")
            && s.contains("PrivateNetwork=yes")),
        "{f:#}"
    );
    assert!(
        f["fix"]
            .as_str()
            .is_some_and(|s| s.contains("ln -s /usr/share/roster/systemd/rosterd-fleet.conf")),
        "{f:#}"
    );

    let fixed = host.json(&["--fix"]);
    for check in ["fleet-folder", "fleet-enrollment", "fleet-key"] {
        let f = expect(&fixed, check, "ok");
        assert!(!f["fixed"].as_array().is_none_or(|a| a.is_empty()), "{f}");
    }
    assert_eq!(mode_of(&host.path("var/lib/roster/fleet")), 0o700);
    assert_eq!(
        mode_of(&host.path("var/lib/roster/fleet/enrollment.json")),
        0o600
    );
    assert_eq!(mode_of(&host.path("var/lib/roster/fleet/host.key")), 0o600);

    // Linked in as `roster hosts join` links it: a link to the packaged
    // file, read under the root, dangling until the package ships it.
    let link = host.path("etc/systemd/system/rosterd.service.d/fleet.conf");
    std::fs::create_dir_all(link.parent().unwrap_or(Path::new("/")))
        .unwrap_or_else(|e| panic!("{e}"));
    std::os::unix::fs::symlink("/usr/share/roster/systemd/rosterd-fleet.conf", &link)
        .unwrap_or_else(|e| panic!("{e}"));
    let f = expect(&host.json(&[]), "fleet-drop-in", "fail").clone();
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("which is missing")),
        "{f:#}"
    );
    let shipped = std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../packaging/systemd/rosterd-fleet.conf"),
    )
    .unwrap_or_else(|e| panic!("the shipped drop-in: {e}"));
    host.write(
        "usr/share/roster/systemd/rosterd-fleet.conf",
        &shipped,
        0o644,
    );
    expect(&host.json(&[]), "fleet-drop-in", "ok");
    // A missing key is named with the way back.
    std::fs::remove_file(host.path("var/lib/roster/fleet/host.key")).unwrap_or_default();
    let list = host.json(&[]);
    let f = expect(&list, "fleet-key", "fail");
    assert!(
        f["fix"]
            .as_str()
            .is_some_and(|s| s.contains("roster hosts leave")),
        "{f:#}"
    );
}

/// rosterd in fleet mode without a controller: enrolled by hand with a
/// self-signed certificate (openssl) and a controller URL nobody serves,
/// it answers `Fleet.Status` over the real bus, and the doctor judges it:
/// the certificate's near expiry, no answer yet (logins refused).
#[test]
fn an_enrolled_rosterd_is_judged_over_the_bus_without_a_controller() {
    let test = "an_enrolled_rosterd_is_judged_over_the_bus_without_a_controller";
    let dir = tempfile::tempdir().unwrap_or_else(|e| panic!("temp: {e}"));
    let (key, certificate) = (dir.path().join("host.key"), dir.path().join("host.pem"));
    let made = Command::new("openssl")
        .args([
            "req",
            "-x509",
            "-newkey",
            "ec",
            "-pkeyopt",
            "ec_paramgen_curve:prime256v1",
        ])
        .args(["-nodes", "-days", "3", "-subj", "/CN=web-1", "-keyout"])
        .arg(&key)
        .arg("-out")
        .arg(&certificate)
        .output();
    let Ok(made) = made.map_err(|e| skip_or_fail(test, &format!("openssl: {e}"))) else {
        return;
    };
    assert!(
        made.status.success(),
        "openssl: {}",
        String::from_utf8_lossy(&made.stderr)
    );
    let read = |p: &Path| std::fs::read_to_string(p).unwrap_or_else(|e| panic!("{e}"));

    let mut live = Host::start_with(TestConfig::new().fleet_host());
    let database = live.daemon.database_path();
    let folder = database.parent().unwrap_or(Path::new("/")).join("fleet");
    write_enrollment(&folder, &read(&certificate), &read(&key), 0o600);
    std::fs::set_permissions(&folder, std::fs::Permissions::from_mode(0o700))
        .unwrap_or_else(|e| panic!("{e}"));
    live.daemon.restart();

    let out = Command::new(binary("roster"))
        .args(["doctor", "--json", "--config"])
        .arg(live.daemon.config_path())
        .env("DBUS_SYSTEM_BUS_ADDRESS", live.bus.address())
        .output()
        .unwrap_or_else(|e| panic!("roster: {e}"));
    let out = Out {
        code: out.status.code(),
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    };
    let list = out.json();
    expect(&list, "rosterd", "ok");
    let f = expect(&list, "fleet", "ok");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("\"web-1\"") && s.contains("https://127.0.0.1:1")),
        "{f:#}"
    );
    for check in [
        "fleet-folder",
        "fleet-enrollment",
        "fleet-key",
        "fleet-clock",
        "fleet-reports",
    ] {
        expect(&list, check, "ok");
    }
    // Three days left: within the week, so renewal is failing.
    let f = expect(&list, "fleet-certificate", "warn");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("expires in ") && s.contains("renewal is failing")),
        "{f:#}"
    );
    let f = expect(&list, "fleet-answer", "fail");
    assert!(
        f["message"]
            .as_str()
            .is_some_and(|s| s.contains("no controller has answered")
                && s.contains("Roster users can't log in")),
        "{f:#}"
    );
    // The agent's failure shows once it has tried (no waiting for it here).
    assert!(!findings(&list, "fleet-sync").is_empty(), "{list:#?}");
    assert!(findings(&list, "fleet-status").is_empty(), "{list:#?}");
    assert!(!findings(&list, "fleet-drop-in").is_empty(), "{list:#?}");
    assert_eq!(out.code, Some(1), "{}\n{}", out.stdout, out.stderr);
}
