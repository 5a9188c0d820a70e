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
    // A token name or a tty shown in a list must not read as another.
    field("ci deploy", "token name").unwrap();
    field("pts/0", "tty").unwrap();
    let m = invalid(field("deploy\u{202E}nimda", "token name"));
    assert!(m.contains("U+202E") && m.contains("token name"), "{m}");
    invalid(field("pts/\u{200B}0", "tty"));
}

#[test]
fn shown_is_short_and_escaped() {
    assert_eq!(shown("bob"), "\"bob\"");
    assert_eq!(shown("a\nb"), "\"a\\nb\"");
    assert!(shown(&"x".repeat(1000)).chars().count() < 50);
}

#[test]
fn display_names_refuse_invisible_and_direction_characters() {
    // Accents, CJK, emoji and joiners inside emoji are ordinary text.
    display_name("Zoë Ångström 王小明 🙂").unwrap();
    for (c, name) in [
        ('\u{202A}', "LRE"),
        ('\u{202B}', "RLE"),
        ('\u{202C}', "PDF"),
        ('\u{202D}', "LRO"),
        ('\u{202E}', "RLO"),
        ('\u{2066}', "LRI"),
        ('\u{2067}', "RLI"),
        ('\u{2068}', "FSI"),
        ('\u{2069}', "PDI"),
        ('\u{200E}', "LRM"),
        ('\u{200F}', "RLM"),
        ('\u{061C}', "ALM"),
        ('\u{200B}', "ZWSP"),
        ('\u{200C}', "ZWNJ"),
        ('\u{200D}', "ZWJ"),
        ('\u{2060}', "WJ"),
        ('\u{FEFF}', "BOM"),
        ('\u{00AD}', "soft hyphen"),
        ('\u{2028}', "line separator"),
        ('\u{2029}', "paragraph separator"),
        ('\u{E0041}', "tag A"),
        ('\u{0085}', "NEL (a C1 control)"),
        ('\u{009B}', "CSI (a C1 control)"),
    ] {
        let value = format!("Bob{c}nimda");
        let m = invalid(display_name(&value));
        assert!(
            m.contains("invisible") || m.contains("control"),
            "{name}: {m}"
        );
        if !c.is_control() {
            assert!(
                m.contains(&format!("U+{:04X}", u32::from(c))),
                "{name}: {m}"
            );
        }
        // Homes and shells take the same rule.
        invalid(home(&format!("/home/b{c}ob")));
        invalid(shell(&format!("/bin/b{c}ash")));
    }
}

#[test]
fn homes_are_normalised_paths_below_the_root() {
    home("/home/bob").unwrap();
    home("/srv/homes/bob.smith").unwrap();
    home("/home/bob smith").unwrap();
    for bad in [
        "/",
        "//",
        "/home//bob",
        "/home/./bob",
        "/./home",
        "/home/bob/",
        "/home/bob/.",
        "/home/..",
        "/..",
        "/home/bob/../alice",
    ] {
        let m = invalid(home(bad));
        assert!(m.contains("normalised") || m.contains(".."), "{bad}: {m}");
    }
}

#[test]
fn shells_are_one_program_path() {
    for ok in [
        "/bin/bash",
        "/usr/bin/zsh",
        "/usr/sbin/nologin",
        "/usr/local/bin/fish",
        "/opt/tool-1.2_x/bin/sh+",
    ] {
        shell(ok).unwrap();
    }
    for bad in [
        "/bin/sh -c 'id'",
        "/bin/sh\t-c",
        "/bin/sh;id",
        "/bin/$SHELL",
        "/bin/`id`",
        "/bin/sh|id",
        "/bin/sh&",
        "/bin/sh>x",
        "/bin/\"sh\"",
        "/bin/s*",
        "/bin/sh\\",
        "/bin/bäsh",
        "/",
        "/bin//sh",
        "/bin/sh/",
    ] {
        invalid(shell(bad));
    }
    let m = invalid(shell("/bin/sh -c 'id'"));
    assert!(m.contains("' '") && m.contains("one program"), "{m}");
}
