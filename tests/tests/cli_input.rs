//! Bad input of every kind through the CLI: a clear sentence, the right
//! exit code, and nothing changed (DESIGN.md's non-negotiables).

mod cli_common;

use cli_common::{Host, assert_fails, password_of};
use std::time::Duration;

/// Everything root can see, to compare before and after a refused command.
fn state(host: &Host) -> (serde_json::Value, serde_json::Value) {
    (
        host.root(&["users", "list", "--all", "--json"])
            .expect_ok()
            .json(),
        host.root(&["environments", "list", "--json"])
            .expect_ok()
            .json(),
    )
}

#[test]
fn invalid_and_refused_names_are_refused() {
    let host = Host::start();
    host.user("keeper");
    let before = state(&host);
    let too_long = "a".repeat(33);
    let invalid = [
        "Bob",
        "1bob",
        "bob smith",
        "bob:x",
        "",
        "bob\u{e9}",
        "bob\n",
        "bob/..",
        too_long.as_str(),
    ];
    // Local accounts (the harness's passwd and group files) and the names
    // DESIGN.md reserves.
    let refused = [
        "root",
        "admin",
        "wheel",
        "sudo",
        "roster-admins",
        "localuser",
        "daemon",
        "nobody",
    ];
    for name in invalid.iter().chain(refused.iter()) {
        let out = host
            .daemon
            .roster(&["users", "create", name, "--password-stdin"])
            .stdin("A-fine-password-1\n")
            .run();
        assert_eq!(
            out.code,
            Some(1),
            "{name:?} must be refused: {}",
            out.stderr
        );
        assert!(
            out.stderr.starts_with("roster: "),
            "{name:?}: {}",
            out.stderr
        );
        assert!(
            out.stderr.lines().count() <= 3,
            "one sentence: {}",
            out.stderr
        );
    }
    // A leading dash reads as a flag: a usage error.
    let out = host.root(&["users", "create", "-bob", "--password-stdin"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(state(&host), before, "nothing changed");
}

#[test]
fn unknown_users_levels_and_environments_change_nothing() {
    let host = Host::start();
    host.user("keeper");
    host.grant("keeper", "read", None);
    let before = state(&host);
    assert_fails(
        &host.root(&["users", "grant", "ghost", "write"]),
        1,
        "\"ghost\" not found",
    );
    assert_fails(
        &host.root(&["users", "show", "ghost"]),
        1,
        "\"ghost\" not found",
    );
    let out = host.root(&["users", "grant", "keeper", "write", "--environment", "prdo"]);
    assert_fails(&out, 1, "roster environments add prdo");
    let out = host.root(&["users", "grant", "keeper", "superuser"]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert!(
        out.stderr.contains("status, read, write, admin"),
        "lists the levels: {}",
        out.stderr
    );
    let out = host.root(&[
        "users",
        "create",
        "newbie",
        "--register",
        "--set-role",
        "superuser",
    ]);
    assert_eq!(out.code, Some(2), "{}", out.stderr);
    assert_eq!(state(&host), before);
}

#[test]
fn nul_bytes_are_refused_before_anything_is_sent() {
    let host = Host::start();
    host.user("keeper");
    let before = state(&host);
    let out = host
        .daemon
        .roster(&["users", "create", "nully", "--password-stdin"])
        .stdin_bytes(b"pass\0word-long-enough\n")
        .run();
    assert_fails(&out, 1, "NUL");
    let out = host
        .daemon
        .roster(&["users", "password", "keeper", "--password-stdin"])
        .stdin_bytes(b"\0\n")
        .run();
    assert_fails(&out, 1, "NUL");
    let out = host
        .daemon
        .roster(&["register", "--stdin"])
        .stdin_bytes(b"CODE\0X\nA-new-password-1\n")
        .run();
    assert_fails(&out, 1, "NUL");
    let token = host.daemon.dir().join("nul.token");
    std::fs::write(&token, b"rt_abc\0def\n").unwrap_or_else(|e| panic!("{e}"));
    let out = host.root(&["--token-file", token.to_str().unwrap_or_default(), "whoami"]);
    assert_fails(&out, 1, "NUL");
    assert_eq!(state(&host), before);
    assert_eq!(
        host.daemon
            .probe(
                "Pam.Authenticate",
                &[
                    "\"keeper\"",
                    &serde_json::to_string(&password_of("keeper")).unwrap_or_default(),
                    "\"\""
                ]
            )
            .run()
            .json()["ok"]["outcome"],
        "success",
        "the password is unchanged"
    );
}

#[test]
fn huge_strings_are_refused() {
    let host = Host::start();
    host.user("keeper");
    let before = state(&host);
    // A single argv string is capped at 128 KiB by the kernel: 100 KiB here.
    let big = "x".repeat(100 * 1024);
    let big_path = format!("/{big}");
    for args in [
        &["users", "create", big.as_str(), "--register"][..],
        &[
            "users",
            "create",
            "bigun",
            "--register",
            "--display-name",
            big.as_str(),
        ],
        &[
            "users",
            "create",
            "bigun",
            "--register",
            "--home",
            big_path.as_str(),
        ],
        &[
            "users",
            "create",
            "bigun",
            "--register",
            "--shell",
            big_path.as_str(),
        ],
        &["users", "edit", "keeper", "--display-name", big.as_str()],
        &["environments", "add", big.as_str()],
        &[
            "users",
            "grant",
            "keeper",
            "read",
            "--environment",
            big.as_str(),
        ],
        &["users", "show", big.as_str()],
    ] {
        let out = host.root(args);
        assert_eq!(out.code, Some(1), "{:?}: {}", &args[..2], out.stderr);
        assert!(
            out.stderr.len() < 2048,
            "{:?}: the error doesn't echo the megabyte: {} bytes: {:.300}",
            &args[..2],
            out.stderr.len(),
            out.stderr
        );
    }
    // A megabyte through standard input.
    let megabyte = format!("{}\n", "p".repeat(1024 * 1024));
    let out = host
        .daemon
        .roster(&["users", "create", "bigpw", "--password-stdin"])
        .stdin(&megabyte)
        .run();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert!(out.stderr.len() < 2048);
    let out = host
        .daemon
        .roster(&["users", "password", "keeper", "--password-stdin"])
        .stdin(&megabyte)
        .run();
    assert_eq!(out.code, Some(1), "{}", out.stderr);
    assert_eq!(state(&host), before);
}

#[test]
fn control_characters_and_colons_in_profiles_are_refused() {
    let host = Host::start();
    host.user("keeper");
    let before = state(&host);
    for value in ["Evil\u{1b}]0;x\u{7}", "two\nlines", "a:b", "tab\there"] {
        let out = host.root(&["users", "edit", "keeper", "--display-name", value]);
        assert_eq!(out.code, Some(1), "{value:?}: {}", out.stderr);
        assert!(
            !out.stderr.contains('\u{1b}'),
            "no escape reaches the terminal"
        );
    }
    for value in ["relative/path", "/bin/sh:x", "/home/a\nb"] {
        assert_eq!(
            host.root(&["users", "edit", "keeper", "--shell", value])
                .code,
            Some(1),
            "{value:?}"
        );
        assert_eq!(
            host.root(&["users", "edit", "keeper", "--home", value])
                .code,
            Some(1),
            "{value:?}"
        );
    }
    assert_eq!(state(&host), before);
}

#[test]
fn profiles_that_read_as_something_else_are_refused() {
    let host = Host::start();
    host.user("keeper");
    let before = state(&host);
    for (flag, value, why) in [
        ("--display-name", "Bob\u{202E}nimda", "U+202E"),
        ("--display-name", "ad\u{200B}min", "U+200B"),
        ("--display-name", "\u{2066}Alice\u{2069}", "U+2066"),
        ("--shell", "/bin/sh -c 'id'", "one program"),
        ("--home", "/", "normalised path below /"),
        ("--home", "/home/./keeper", "normalised"),
    ] {
        let out = host.root(&["users", "edit", "keeper", flag, value]);
        assert_eq!(out.code, Some(1), "{flag} {value:?}: {}", out.stderr);
        assert!(out.stderr.contains(why), "{flag} {value:?}: {}", out.stderr);
        let out = host
            .daemon
            .roster(&["users", "create", "newbie", "--register", flag, value])
            .run();
        assert_eq!(out.code, Some(1), "{flag} {value:?}: {}", out.stderr);
    }
    assert_eq!(state(&host), before);
}

#[test]
fn no_terminal_means_an_error_never_a_wait() {
    let host = Host::start();
    let uid = host.user("keeper");
    // The harness closes stdin: each of these would otherwise prompt.
    for (args, uid, flag) in [
        (&["users", "create", "newbie"][..], 0, "--password-stdin"),
        (&["users", "create"], 0, "USERNAME"),
        (
            &["users", "edit", "keeper", "--password-stdin"],
            0,
            "standard input ended",
        ),
        (&["users", "password", "keeper"], 0, "--password-stdin"),
        (&["users", "password"], uid, "--password-stdin"),
        (&["users", "delete", "keeper"], 0, "--yes"),
        (&["register"], STRANGER, "--stdin"),
    ] {
        let out = host.as_uid(uid, args);
        assert!(
            out.code == Some(2) || out.code == Some(1),
            "{args:?}: {:?} {}",
            out.code,
            out.stderr
        );
        assert!(
            out.stderr.contains(flag),
            "{args:?} names {flag}: {}",
            out.stderr
        );
        assert!(
            out.elapsed < Duration::from_secs(10),
            "{args:?} took {:?}",
            out.elapsed
        );
    }
    assert_eq!(host.names(), ["keeper"]);
}

const STRANGER: u32 = roster_tests::STRANGER_UID;
