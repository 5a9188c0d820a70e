//! `roster users import` end to end: a fake host root (import_common)
//! with every crypt kind made by the real tools, the real CLI editing its
//! files, a real rosterd, then logins through the real PAM stack with the
//! old passwords.

mod import_common;
mod pam_common;

use import_common::*;
use pam_common::*;
use std::os::unix::fs::MetadataExt;

fn stored_hash(w: &World, name: &str) -> String {
    w.daemon
        .sqlite(&format!(
            "SELECT password_hash FROM users WHERE name = '{name}'"
        ))
        .trim()
        .to_owned()
}

fn import(w: &World, host: &FakeHost, extra: &[&str]) -> roster_tests::Run {
    let mut args: Vec<String> = host.import_args();
    args.extend(extra.iter().map(|s| s.to_string()));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    w.daemon.roster(&args).run()
}

#[test]
fn every_hash_kind_imports_and_logs_in_with_the_old_password_then_is_argon2id() {
    let host = standard_host();
    let w = World::start_with(host.config());
    let out = import(
        &w,
        &host,
        &[
            "--all-human",
            "--level",
            "write",
            "--sudoers-level",
            "admin",
        ],
    )
    .expect_ok();
    let text = &out.stdout;
    // admin is a name Roster refuses: skipped with the reason, left local.
    assert!(
        text.contains("skipped admin") && text.contains("--rename admin=NEW"),
        "{text}"
    );
    assert!(text.contains("imported 9,"), "{text}");
    assert!(text.contains("registration codes issued 2"), "{text}");
    // svc (uid 999) and root are never imported.
    assert!(
        w.daemon
            .sqlite("SELECT name FROM users WHERE name IN ('svc','root')")
            .trim()
            .is_empty()
    );
    // The local entries are gone, the untouched ones stay, a backup exists.
    let passwd = host.read("passwd");
    assert!(!passwd.contains("alice:") && passwd.contains("admin:") && passwd.contains("svc:"));
    assert!(!host.read("shadow").contains("alice:"));
    let group = host.read("group");
    assert!(group.contains("sudo:x:27:admin\n"), "{group}");
    assert!(
        group.contains("users:x:100:\n") && !group.contains("alice:x"),
        "{group}"
    );
    assert!(host.read("gshadow").contains("sudo:*::admin\n"));
    assert!(text.contains("harry left the local group sudo"), "{text}");
    let backups: Vec<_> = std::fs::read_dir(host.root().join("var/backups"))
        .unwrap()
        .collect();
    assert_eq!(backups.len(), 1);
    // Homes moved to the new uids; alice's stray file is counted, not moved.
    let alice_uid = w.uid("alice");
    assert!(w.daemon.uid_range().contains(&alice_uid));
    for path in [
        host.home("alice"),
        host.home("alice").join("docs/deep/notes.txt"),
    ] {
        let meta = std::fs::metadata(&path).unwrap();
        assert_eq!(
            (meta.uid(), meta.gid()),
            (alice_uid, alice_uid),
            "{}",
            path.display()
        );
    }
    assert_eq!(host.owner(&host.root().join("tmp/alice-was-here")), 1001);
    assert!(text.contains("alice-was-here"), "{text}");
    assert_eq!(w.state("frank"), "suspended");
    assert_eq!(w.state("gina"), "pending");
    assert_eq!(w.state("hank"), "pending");
    let harry = w.roster(&["users", "show", "harry", "--json"]);
    assert!(harry.contains("\"admin\""), "{harry}");

    for (name, kind) in [
        ("alice", "yescrypt"),
        ("bob", "sha512-crypt"),
        ("carol", "sha256-crypt"),
        ("dave", "bcrypt"),
        ("erin", "md5-crypt"),
    ] {
        let show = w.roster(&["users", "show", name]);
        assert!(
            show.contains(&format!("legacy hash ({kind}), upgraded at next login")),
            "{show}"
        );
        let password = host.users.iter().find(|u| u.name == name).unwrap().password;
        let wrong = w
            .pam(name)
            .steps(&["auth"])
            .answers(&["not-the-password"])
            .run();
        assert_eq!(wrong.code("auth"), PAM_AUTH_ERR, "{name}: {wrong:?}");
        assert!(!stored_hash(&w, name).starts_with("$argon2id$"));
        let ok = w
            .pam(name)
            .steps(&["auth", "acct"])
            .answers(&[password])
            .run();
        assert_eq!(ok.codes(), vec![PAM_SUCCESS, PAM_SUCCESS], "{name}: {ok:?}");
        assert!(stored_hash(&w, name).starts_with("$argon2id$"), "{name}");
        // The argon2id hash takes the same old password.
        let again = w.pam(name).steps(&["auth"]).answers(&[password]).run();
        assert_eq!(again.code("auth"), PAM_SUCCESS, "{name}: {again:?}");
        let show = w.roster(&["users", "show", name]);
        assert!(!show.contains("legacy hash"), "{show}");
    }
    // The locked entry stays suspended: its right password opens nothing.
    let frank = w
        .pam("frank")
        .steps(&["auth", "acct"])
        .answers(&["old-password-frank"])
        .run();
    assert_ne!(frank.codes(), vec![PAM_SUCCESS, PAM_SUCCESS], "{frank:?}");
    assert_eq!(w.state("frank"), "suspended");
    assert!(!stored_hash(&w, "frank").starts_with("$argon2id$"));

    // A re-run finds nothing left to do and duplicates nothing.
    let again = import(
        &w,
        &host,
        &[
            "--all-human",
            "--level",
            "write",
            "--sudoers-level",
            "admin",
        ],
    )
    .expect_ok();
    assert!(
        again.stdout.contains("imported 0, already imported 0"),
        "{}",
        again.stdout
    );
    assert_eq!(w.daemon.sqlite("SELECT count(*) FROM users").trim(), "9");
}

#[test]
fn a_dry_run_prints_the_plan_and_changes_nothing() {
    let host = standard_host();
    let w = World::start_with(host.config());
    let before = host.tree();
    let out = import(
        &w,
        &host,
        &[
            "--all-human",
            "--level",
            "read",
            "--sudoers-level",
            "admin",
            "--rename",
            "admin=boss",
            "--dry-run",
        ],
    )
    .expect_ok();
    let text = &out.stdout;
    assert!(text.contains("admin as boss"), "{text}");
    assert!(
        text.contains("alice: uid 1001 → a Roster uid, level read, yescrypt → active"),
        "{text}"
    );
    assert!(
        text.contains("frank") && text.contains("locked → suspended"),
        "{text}"
    );
    assert!(text.contains("files to chown"), "{text}");
    // Both local sudoers would go: the plan says the run would refuse.
    assert!(
        text.contains("refused as it stands") && text.contains("--force"),
        "{text}"
    );
    assert_eq!(host.tree(), before);
    assert_eq!(w.daemon.sqlite("SELECT count(*) FROM users").trim(), "0");
}

#[test]
fn the_level_is_always_said_and_sudoers_need_theirs() {
    let host = standard_host();
    let w = World::start_with(host.config());
    let before = host.tree();
    let no_level = import(&w, &host, &["--users", "alice"]).expect_code(2);
    assert!(no_level.stderr.contains("--level"), "{}", no_level.stderr);
    let sudoer = import(&w, &host, &["--users", "alice,harry", "--level", "write"]).expect_code(2);
    assert!(
        sudoer.stderr.contains("harry") && sudoer.stderr.contains("--sudoers-level"),
        "{}",
        sudoer.stderr
    );
    assert_eq!(host.tree(), before);
}

#[test]
fn an_invalid_record_refuses_the_whole_batch_unless_skipped() {
    let host = standard_host();
    let w = World::start_with(host.config());
    // bob's hash becomes a DES crypt Roster doesn't adopt.
    let shadow = host.read("shadow");
    let bob = host.users.iter().find(|u| u.name == "bob").unwrap();
    std::fs::write(
        host.etc("shadow"),
        shadow.replace(&bob.shadow, "abJnggxhB/yWI"),
    )
    .unwrap();
    let before = host.tree();
    let refused = import(
        &w,
        &host,
        &["--users", "alice,bob,carol", "--level", "write"],
    )
    .expect_code(1);
    assert!(
        refused.stderr.contains("passwd line 5"),
        "{}",
        refused.stderr
    );
    assert!(
        refused.stderr.contains("\"bob\"") && refused.stderr.contains("nothing was imported"),
        "{}",
        refused.stderr
    );
    assert_eq!(host.tree(), before);
    assert_eq!(w.daemon.sqlite("SELECT count(*) FROM users").trim(), "0");
    let skipped = import(
        &w,
        &host,
        &[
            "--users",
            "alice,bob,carol",
            "--level",
            "write",
            "--skip-invalid",
        ],
    )
    .expect_ok();
    assert!(skipped.stdout.contains("imported 2,"), "{}", skipped.stdout);
    assert!(
        skipped.stdout.contains("passwd line 5"),
        "{}",
        skipped.stdout
    );
    assert!(host.read("passwd").contains("bob:x:1002"));
}

#[test]
fn the_last_local_sudoer_is_kept_unless_forced() {
    let host = standard_host();
    let w = World::start_with(host.config());
    let before = host.tree();
    let args = [
        "--users",
        "harry,admin",
        "--rename",
        "admin=boss",
        "--level",
        "write",
        "--sudoers-level",
        "admin",
    ];
    let refused = import(&w, &host, &args).expect_code(1);
    assert!(
        refused
            .stderr
            .contains("last local account able to use sudo"),
        "{}",
        refused.stderr
    );
    assert!(refused.stderr.contains("--force"), "{}", refused.stderr);
    assert_eq!(host.tree(), before);
    let mut forced: Vec<&str> = args.to_vec();
    forced.push("--force");
    let out = import(&w, &host, &forced).expect_ok();
    assert!(out.stdout.contains("imported 2,"), "{}", out.stdout);
    assert_eq!(w.state("boss"), "active");
}

#[test]
fn undo_merges_the_entries_back_keeping_later_edits_and_changed_users() {
    let host = standard_host();
    let w = World::start_with(host.config());
    import(
        &w,
        &host,
        &["--users", "alice,bob,erin", "--level", "write"],
    )
    .expect_ok();
    let alice_uid = w.uid("alice");
    let backup = std::fs::read_dir(host.root().join("var/backups"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    // Later, unrelated edits to the files, and an edit to erin in Roster.
    let mut passwd = host.read("passwd");
    passwd.push_str("zed:x:1500:1500::/home/zed:/bin/sh\n");
    std::fs::write(host.etc("passwd"), passwd).unwrap();
    let group = host
        .read("group")
        .replace("users:x:100:", "users:x:100:zed");
    std::fs::write(host.etc("group"), group).unwrap();
    w.roster(&["users", "edit", "erin", "--display-name", "Erin, edited"]);

    let out = w
        .daemon
        .roster(&["users", "import", "--undo", &backup.display().to_string()])
        .run()
        .expect_ok();
    assert!(
        out.stdout.contains("restored 2 local accounts"),
        "{}",
        out.stdout
    );
    assert!(out.stdout.contains("kept erin"), "{}", out.stdout);
    let passwd = host.read("passwd");
    assert!(
        passwd.contains("alice:x:1001:1001:") && passwd.contains("bob:x:1002"),
        "{passwd}"
    );
    assert!(passwd.contains("zed:x:1500"), "{passwd}");
    assert!(!passwd.contains("erin:x"), "{passwd}");
    assert!(host.read("shadow").contains("alice:$y$"));
    let group = host.read("group");
    assert!(
        group.contains("alice:x:1001:") && group.contains("users:x:100:zed,alice,bob"),
        "{group}"
    );
    assert!(
        w.daemon
            .sqlite("SELECT name FROM users ORDER BY name")
            .trim()
            == "erin"
    );
    let meta = std::fs::metadata(host.home("alice").join("docs/deep/notes.txt")).unwrap();
    assert_eq!((meta.uid(), meta.gid()), (1001, 1001));
    assert_ne!(alice_uid, 1001);
}

#[test]
fn a_list_imports_without_touching_local_files() {
    let host = standard_host();
    let w = World::start_with(host.config());
    let hash = crypt(&["mkpasswd", "-m", "sha-512"], "list-password-1");
    let csv = host.root().join("users.csv");
    std::fs::write(
        &csv,
        format!(
            "name,display_name,home,shell,hash,level\n\
             lena,\"Lena, from CSV\",/home/lena,/bin/bash,{hash},read\n\
             mo,,/home/mo,/bin/sh,,\n"
        ),
    )
    .unwrap();
    let before = host.tree();
    let out = w
        .daemon
        .roster(&[
            "users",
            "import",
            "--csv",
            &csv.display().to_string(),
            "--all-human",
            "--level",
            "write",
            "--no-codes",
        ])
        .run()
        .expect_ok();
    assert!(out.stdout.contains("imported 2,"), "{}", out.stdout);
    assert!(
        out.stdout.contains("registration codes issued 0"),
        "{}",
        out.stdout
    );
    assert_eq!(host.tree(), before);
    let lena = w.roster(&["users", "show", "lena", "--json"]);
    assert!(
        lena.contains("Lena, from CSV") && lena.contains("\"read\""),
        "{lena}"
    );
    assert_eq!(w.state("mo"), "pending");
    let ok = w
        .pam("lena")
        .steps(&["auth"])
        .answers(&["list-password-1"])
        .run();
    assert_eq!(ok.code("auth"), PAM_SUCCESS, "{ok:?}");
    // A bad row is refused naming its line.
    std::fs::write(
        &csv,
        "name,home,shell,hash\nok,/home/ok,/bin/sh,\nbad,relative,/bin/sh,\n",
    )
    .unwrap();
    let bad = w
        .daemon
        .roster(&[
            "users",
            "import",
            "--csv",
            &csv.display().to_string(),
            "--all-human",
            "--level",
            "write",
        ])
        .run()
        .expect_code(1);
    assert!(bad.stderr.contains("users.csv line 3"), "{}", bad.stderr);
}

#[test]
fn only_root_imports() {
    let w = World::start();
    let denied = w
        .daemon
        .roster(&["users", "import", "--undo", "/nonexistent"])
        .as_uid(roster_tests::STRANGER_UID)
        .run()
        .expect_code(1);
    assert!(denied.stderr.contains("sudo"), "{}", denied.stderr);
}

#[test]
fn the_modules_never_link_libcrypt() {
    for so in [pam_so(), nss_so()] {
        let out = std::process::Command::new("readelf")
            .args(["-d"])
            .arg(&so)
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout);
        assert!(out.status.success());
        assert!(
            !text.contains("libcrypt"),
            "{} links libcrypt:\n{text}",
            so.display()
        );
    }
}

#[test]
fn a_legacy_hash_locks_out_like_any_other_and_a_lock_upgrades_nothing() {
    let host = standard_host();
    let w = World::start_with(host.config().set("lockout.attempts", "3"));
    import(&w, &host, &["--users", "bob", "--level", "write"]).expect_ok();
    w.roster_only("alone", &w.module_args());
    for _ in 0..3 {
        let bad = w
            .pam("bob")
            .service("alone")
            .steps(&["auth"])
            .answers(&["wrong-1"])
            .run();
        assert_ne!(bad.code("auth"), PAM_SUCCESS, "{bad:?}");
    }
    // Locked: the right old password is refused and the hash stays.
    let locked = w
        .pam("bob")
        .service("alone")
        .steps(&["auth"])
        .answers(&["old-password-bob"])
        .run();
    assert_eq!(locked.code("auth"), PAM_MAXTRIES, "{locked:?}");
    assert!(stored_hash(&w, "bob").starts_with("$6$"));
    w.roster(&["users", "unlock", "bob"]);
    let ok = w
        .pam("bob")
        .service("alone")
        .steps(&["auth"])
        .answers(&["old-password-bob"])
        .run();
    assert_eq!(ok.code("auth"), PAM_SUCCESS, "{ok:?}");
    assert!(stored_hash(&w, "bob").starts_with("$argon2id$"));
}

#[test]
fn authorized_keys_come_along_and_a_refused_line_is_named_with_its_reason() {
    let host = standard_host();
    let w = World::start_with(host.config());
    let keys = tempfile::tempdir().unwrap();
    let laptop = ssh_public_key(keys.path(), "alice@laptop");
    let desk = ssh_public_key(keys.path(), "alice@desk");
    let old = ssh_public_key(keys.path(), "alice@old");
    // Line 3 has options before the key: Roster refuses it (its keys are
    // plain), the others come in; a comment and a blank line are no keys.
    write_authorized_keys(
        &host,
        "alice",
        &format!("# alice's keys\n{laptop}\nfrom=\"10.0.0.1\" {old}\n\n{desk}\n"),
    );
    let out = import(&w, &host, &["--users", "alice,bob", "--level", "write"]).expect_ok();
    assert!(out.stdout.contains("imported 2,"), "{}", out.stdout);
    assert!(
        out.stdout.contains("alice: skipped an SSH key line 3: ") && out.stdout.contains("from"),
        "{}",
        out.stdout
    );
    assert_eq!(
        key_comments(&w.daemon, "alice"),
        ["alice@desk", "alice@laptop"]
    );
    let listed = w.roster(&["users", "keys", "list", "alice"]);
    assert!(
        listed.contains("alice@laptop") && !listed.contains("alice@old"),
        "{listed}"
    );
    // bob has no authorized_keys: imported without keys, nothing said.
    assert!(key_comments(&w.daemon, "bob").is_empty());
    assert!(!out.stdout.contains("bob: skipped"), "{}", out.stdout);
}

#[test]
fn ssh_keys_come_from_the_csv_column_and_the_json_array() {
    let host = standard_host();
    let w = World::start_with(host.config());
    let keys = tempfile::tempdir().unwrap();
    let key = |comment: &str| ssh_public_key(keys.path(), comment);
    // A list from elsewhere names homes of another machine: pia's exists
    // here with an authorized_keys, which is not hers to import.
    let pia_home = keys.path().join("home/pia");
    std::fs::create_dir_all(pia_home.join(".ssh")).unwrap();
    std::fs::write(
        pia_home.join(".ssh/authorized_keys"),
        format!("{}\n", key("somebody@this-machine")),
    )
    .unwrap();
    // One key a line inside the quoted field; mo's second line isn't a key.
    let csv = host.root().join("users.csv");
    std::fs::write(
        &csv,
        format!(
            "name,home,shell,hash,ssh_keys\n\
             lena,/home/lena,/bin/bash,,\"{}\n{}\"\n\
             mo,/home/mo,/bin/sh,,\"{}\nssh-ed25519 AAAAnot!base64 mo@broken\"\n\
             pia,{},/bin/bash,,\n",
            key("lena@one"),
            key("lena@two"),
            key("mo@one"),
            pia_home.display(),
        ),
    )
    .unwrap();
    let from_csv = w
        .daemon
        .roster(&[
            "users",
            "import",
            "--csv",
            &csv.display().to_string(),
            "--all-human",
            "--level",
            "write",
            "--no-codes",
        ])
        .run()
        .expect_ok();
    assert!(
        from_csv.stdout.contains("imported 3,"),
        "{}",
        from_csv.stdout
    );
    assert_eq!(key_comments(&w.daemon, "lena"), ["lena@one", "lena@two"]);
    assert_eq!(key_comments(&w.daemon, "mo"), ["mo@one"]);
    assert!(
        key_comments(&w.daemon, "pia").is_empty(),
        "a CSV account took this machine's authorized_keys: {:?}",
        key_comments(&w.daemon, "pia")
    );
    assert!(
        from_csv.stdout.contains("mo: skipped an SSH key line 2: ")
            && from_csv.stdout.contains("base64"),
        "{}",
        from_csv.stdout
    );
    assert!(
        !from_csv.stdout.contains("lena: skipped"),
        "{}",
        from_csv.stdout
    );

    let json = host.root().join("users.json");
    let accounts = serde_json::json!([
        {"name": "nia", "home": "/home/nia", "shell": "/bin/bash",
         "ssh_keys": [key("nia@one"), "ssh-rsa", key("nia@two")]},
        {"name": "oto", "home": "/home/oto", "shell": "/bin/bash",
         "ssh_keys": [key("oto@one")]},
    ]);
    std::fs::write(&json, accounts.to_string()).unwrap();
    let from_json = w
        .daemon
        .roster(&[
            "users",
            "import",
            "--json-file",
            &json.display().to_string(),
            "--all-human",
            "--level",
            "write",
            "--no-codes",
            "--json",
        ])
        .run()
        .expect_ok();
    assert_eq!(key_comments(&w.daemon, "nia"), ["nia@one", "nia@two"]);
    assert_eq!(key_comments(&w.daemon, "oto"), ["oto@one"]);
    // --json: each user's line counts its keys and names the refused one.
    let lines: Vec<serde_json::Value> = from_json
        .stdout
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
        .collect();
    let nia = lines.iter().find(|l| l["name"] == "nia").unwrap();
    assert_eq!(nia["keys"], 2, "{nia}");
    let problems = nia["key_problems"].as_array().unwrap();
    assert_eq!(problems.len(), 1, "{nia}");
    assert!(
        problems[0].as_str().unwrap().starts_with("key line 2: "),
        "{nia}"
    );
    let oto = lines.iter().find(|l| l["name"] == "oto").unwrap();
    assert_eq!(
        (
            oto["keys"].as_u64(),
            oto["key_problems"].as_array().map(Vec::len)
        ),
        (Some(1), Some(0))
    );
}
