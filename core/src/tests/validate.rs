use super::fixture::config_in;
use crate::error::Error;
use crate::validate::*;

fn invalid<T: std::fmt::Debug>(r: crate::Result<T>) -> String {
    match r {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("expected InvalidArgument, got {other:?}"),
    }
}

#[test]
fn user_names_follow_the_posix_rule() {
    for ok in [
        "a",
        "_",
        "bob",
        "b0b",
        "b-b",
        "b_b",
        "_svc",
        &"a".repeat(32),
    ] {
        user_name_syntax(ok).unwrap();
    }
    for bad in [
        "",
        "Bob",
        "0bob",
        "-bob",
        "bo b",
        "bob!",
        "bøb",
        "bob\n",
        "bob\0",
        "b.b",
        "bob$",
        &"a".repeat(33),
    ] {
        invalid(user_name_syntax(bad));
    }
    let huge = "a".repeat(1 << 20);
    let m = invalid(user_name_syntax(&huge));
    assert!(m.len() < 300, "the message must not echo a megabyte");
}

#[test]
fn reserved_and_local_names_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    config.admin_group = "ops".into();
    for name in ["root", "admin", "wheel", "sudo", "ops"] {
        assert!(
            invalid(new_user_name(name, &config)).contains("reserved"),
            "{name}"
        );
    }
    assert!(invalid(new_user_name("daemon", &config)).contains("local user"));
    assert!(invalid(new_user_name("staff", &config)).contains("local group"));
    new_user_name("bob", &config).unwrap();
    config.admin_group = "roster-admins".into();
    assert!(invalid(new_user_name("roster-admins", &config)).contains("reserved"));
}

#[test]
fn environment_names_follow_the_same_rule() {
    environment_name("default").unwrap();
    environment_name("prod-eu_1").unwrap();
    for bad in ["", "Prod", "prod eu", "prod/eu", "1prod", &"e".repeat(33)] {
        invalid(environment_name(bad));
    }
}

#[test]
fn display_names() {
    display_name("").unwrap();
    display_name("Bob O'Brien, Room 4 — ☃").unwrap();
    assert!(invalid(display_name("a:b")).contains("':'"));
    assert!(invalid(display_name("a\nb")).contains("control"));
    assert!(invalid(display_name("a\0b")).contains("NUL"));
    assert!(invalid(display_name("a\u{7f}b")).contains("control"));
    let m = invalid(display_name(&"x".repeat(1 << 20)));
    assert!(m.contains("1048576 bytes") && m.len() < 200, "{m}");
}

#[test]
fn homes_and_shells() {
    home("/home/bob").unwrap();
    shell("/bin/bash").unwrap();
    for bad in [
        "home/bob",
        "",
        "/home/bob:x",
        "/home/b\nob",
        "/home/../etc",
        "/x\0",
    ] {
        invalid(home(bad));
        invalid(shell(bad));
    }
    assert!(invalid(home(&format!("/{}", "h".repeat(5000)))).contains("bytes"));
}

#[test]
fn free_text_fields() {
    field("sshd", "PAM service").unwrap();
    field("", "tty").unwrap();
    invalid(field("ss\nhd", "PAM service"));
    invalid(field(&"x".repeat(300), "remote host"));
}

#[test]
fn shown_is_short_and_escaped() {
    assert_eq!(shown("bob"), "\"bob\"");
    assert_eq!(shown("a\nb"), "\"a\\nb\"");
    assert!(shown(&"x".repeat(1000)).chars().count() < 50);
}
