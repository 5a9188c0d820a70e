//! What the `cli_*` tests share: a bus and a rosterd per test, and the few
//! steps nearly every test takes (create a user, find its uid, grant).

#![allow(dead_code)]

use roster_tests::{Run, TestBus, TestConfig, TestDaemon};

/// A private bus and a rosterd on it. The daemon is declared first so it
/// is dropped (killed) before its bus.
pub struct Host {
    pub daemon: TestDaemon,
    pub bus: TestBus,
}

impl Host {
    pub fn start() -> Host {
        Self::start_with(TestConfig::new())
    }

    /// The harness gives each daemon its own block of uids (a suspend
    /// signals every process of a uid, so tests running at once must never
    /// share one) and a bus that resolves them.
    pub fn start_with(config: TestConfig) -> Host {
        let bus = TestBus::start();
        let daemon = TestDaemon::start_with(&bus, config);
        Host { daemon, bus }
    }

    /// `roster ARGS` as root.
    pub fn root(&self, args: &[&str]) -> Run {
        self.daemon.roster(args).run()
    }

    /// `roster ARGS` as `uid`.
    pub fn as_uid(&self, uid: u32, args: &[&str]) -> Run {
        self.daemon.roster(args).as_uid(uid).run()
    }

    /// Creates `name` as root with its standard password; its uid.
    pub fn user(&self, name: &str) -> u32 {
        self.user_with(name, &[])
    }

    /// Creates `name` as root with extra flags (`--set-role admin`).
    pub fn user_with(&self, name: &str, extra: &[&str]) -> u32 {
        let mut args = vec!["users", "create", name, "--password-stdin"];
        args.extend_from_slice(extra);
        self.daemon
            .roster(&args)
            .stdin(&format!("{}\n", password_of(name)))
            .run()
            .expect_ok();
        self.uid_of(name)
    }

    pub fn uid_of(&self, name: &str) -> u32 {
        let shown = self
            .root(&["users", "show", name, "--json"])
            .expect_ok()
            .json();
        shown["uid"]
            .as_u64()
            .and_then(|u| u32::try_from(u).ok())
            .unwrap_or_else(|| panic!("no uid in {shown}"))
    }

    /// `roster users grant NAME LEVEL [--environment ENV]` as root.
    pub fn grant(&self, name: &str, level: &str, environment: Option<&str>) {
        let mut args = vec!["users", "grant", name, level];
        if let Some(env) = environment {
            args.extend_from_slice(&["--environment", env]);
        }
        self.root(&args).expect_ok();
    }

    /// The names `users list --all --json` shows root.
    pub fn names(&self) -> Vec<String> {
        names_in(&self.root(&["users", "list", "--all", "--json"]).expect_ok())
    }

    /// The user as root sees it (`users show --json`).
    pub fn show(&self, name: &str) -> serde_json::Value {
        self.root(&["users", "show", name, "--json"])
            .expect_ok()
            .json()
    }
}

/// Every test user's password: long enough for the policy, and unique, so
/// a grep for it in logs means something.
///
/// The policy refuses a password holding the user name, so the name is
/// shifted a letter (`alice` → `bmjdf`) rather than copied.
pub fn password_of(name: &str) -> String {
    let shifted: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_lowercase() {
                (((c as u8 - b'a' + 1) % 26) + b'a') as char
            } else {
                c
            }
        })
        .collect();
    format!("Pw-{shifted}-Correct-Horse-9")
}

/// The `name`s of a `users list --json` output.
pub fn names_in(run: &Run) -> Vec<String> {
    let value = run.json();
    value
        .as_array()
        .unwrap_or_else(|| panic!("not a list: {value}"))
        .iter()
        .filter_map(|u| u["name"].as_str().map(str::to_owned))
        .collect()
}

/// Asserts a failed run: exit `code`, a `roster:` sentence containing
/// `needle` on stderr, nothing on stdout.
#[track_caller]
pub fn assert_fails(run: &Run, code: i32, needle: &str) {
    assert_eq!(
        run.code,
        Some(code),
        "expected exit {code}\nstdout: {}\nstderr: {}",
        run.stdout,
        run.stderr
    );
    assert!(
        run.stderr.contains(needle),
        "stderr lacks {needle:?}:\n{}",
        run.stderr
    );
    if code == 1 {
        assert!(
            run.stderr.starts_with("roster: "),
            "errors are sentences after `roster: `:\n{}",
            run.stderr
        );
    }
}
