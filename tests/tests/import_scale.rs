//! `roster users import` at scale, slow on purpose (its own binary):
//! 10,000 accounts timed (printed, never asserted: the machine is
//! shared), and a `kill -9` of the CLI, or of rosterd, mid-import
//! followed by a re-run that completes without duplicates.

mod import_common;

use import_common::*;
use roster_tests::{TestBus, TestConfig, TestDaemon};
use std::collections::BTreeSet;
use std::path::Path;
use std::time::{Duration, Instant};

/// A host of `n` human accounts sharing one real sha512-crypt hash (one
/// `openssl passwd` run: 10,000 would take minutes), without homes.
fn big_host(n: usize) -> (tempfile::TempDir, TestConfig) {
    let dir = tempfile::Builder::new()
        .prefix("roster-import-scale-")
        .tempdir()
        .unwrap();
    let etc = dir.path().join("etc");
    std::fs::create_dir_all(&etc).unwrap();
    let hash = crypt(&["openssl", "passwd", "-6"], "scale-password-1");
    let mut passwd = String::from("root:x:0:0:root:/root:/bin/bash\n");
    let mut shadow = String::from("root:$6$x$y:19000:0:99999:7:::\n");
    let mut group = String::from("root:x:0:\nsudo:x:27:\n");
    for i in 0..n {
        let uid = 2000 + i;
        passwd.push_str(&format!(
            "u{i:05}:x:{uid}:{uid}:User {i}:/home/u{i:05}:/bin/bash\n"
        ));
        shadow.push_str(&format!("u{i:05}:{hash}:19000:0:99999:7:::\n"));
        group.push_str(&format!("u{i:05}:x:{uid}:\n"));
    }
    std::fs::write(etc.join("passwd"), passwd).unwrap();
    std::fs::write(etc.join("shadow"), shadow).unwrap();
    std::fs::write(etc.join("group"), group).unwrap();
    std::fs::write(etc.join("login.defs"), "UID_MIN 1000\nUID_MAX 60000\n").unwrap();
    let q = |p: &Path| p.display().to_string();
    let config = TestConfig::new()
        .set_str("passwd_file", &q(&etc.join("passwd")))
        .set_str("group_file", &q(&etc.join("group")))
        .set_str("login_defs", &q(&etc.join("login.defs")))
        // A range of its own, wide enough (the harness's blocks are 32).
        .set("uid_min", "1890000000")
        .set("uid_max", "1890100000");
    (dir, config)
}

/// A process's user + system CPU time, from /proc/PID/stat.
fn cpu_seconds(pid: u32) -> f64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    let after = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest)
        .unwrap_or_default();
    let fields: Vec<&str> = after.split_whitespace().collect();
    let ticks = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse::<f64>().ok())
            .unwrap_or(0.0)
    };
    // utime and stime are fields 14 and 15 (11 and 12 after the name).
    (ticks(11) + ticks(12)) / 100.0
}

fn local_users_left(root: &Path) -> usize {
    std::fs::read_to_string(root.join("etc/passwd"))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('u'))
        .count()
}

#[test]
fn ten_thousand_accounts_import_with_one_snapshot_write_per_batch() {
    let (root, config) = big_host(10_000);
    let bus = TestBus::start();
    let daemon = TestDaemon::start_with(&bus, config);
    let started = Instant::now();
    let out = daemon
        .roster(&[
            "users",
            "import",
            "--root",
            &root.path().display().to_string(),
            "--all-human",
            "--level",
            "write",
        ])
        .run()
        .expect_ok();
    let took = started.elapsed();
    eprintln!(
        "import of 10,000 accounts took {:.1} s (rosterd used {:.1} s of CPU)",
        took.as_secs_f64(),
        cpu_seconds(daemon.pid())
    );
    assert!(out.stdout.contains("imported 10000,"), "{}", out.stdout);
    assert_eq!(daemon.sqlite("SELECT count(*) FROM users").trim(), "10000");
    assert_eq!(local_users_left(root.path()), 0);
    // The snapshot lists them all.
    let snapshot = std::fs::read(daemon.nss_cache_path()).unwrap();
    assert!(snapshot.windows(6).any(|w| w == b"u09999"));
}

#[test]
fn kill_9_mid_import_then_a_rerun_completes_without_duplicates() {
    let n = 3000;
    let (root, config) = big_host(n);
    let bus = TestBus::start();
    let daemon = TestDaemon::start_with(&bus, config);
    let args = [
        "users",
        "import",
        "--root",
        &root.path().display().to_string(),
        "--all-human",
        "--level",
        "read",
        "--json",
    ];
    let mut child = daemon
        .roster(&args)
        .to_command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut killed_at = None;
    while Instant::now() < deadline {
        let count: usize = daemon
            .sqlite("SELECT count(*) FROM users")
            .trim()
            .parse()
            .unwrap_or(0);
        if count > 0 {
            let _ = child.kill();
            killed_at = Some(count);
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.wait();
    eprintln!("killed the import with {killed_at:?} users committed");
    if killed_at.is_some() {
        // The dry run says what the real run will do: continue that import.
        let dry_run: Vec<&str> = args[..args.len() - 1]
            .iter()
            .copied()
            .chain(["--dry-run"])
            .collect();
        let plan = daemon.roster(&dry_run).run().expect_ok();
        assert!(
            plan.stdout
                .contains("an interrupted import is backed up in ")
                && plan.stdout.contains("the run would continue it"),
            "{}",
            plan.stdout
                .lines()
                .rev()
                .take(5)
                .collect::<Vec<_>>()
                .join("\n")
        );
    }
    let rerun = daemon.roster(&args).run().expect_ok();
    let summary = rerun.stdout.lines().last().unwrap_or_default().to_owned();
    let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let imported = v["summary"]["imported"].as_u64().unwrap();
    let already = v["summary"]["already_imported"].as_u64().unwrap();
    if killed_at.is_some() {
        assert!(imported < n as u64, "{summary}");
    }
    assert_eq!(
        daemon.sqlite("SELECT count(*) FROM users").trim(),
        n.to_string()
    );
    assert_eq!(
        daemon
            .sqlite("SELECT count(DISTINCT name) FROM users")
            .trim(),
        n.to_string()
    );
    assert_eq!(local_users_left(root.path()), 0);
    // A line per user with --json.
    let lines = rerun
        .stdout
        .lines()
        .filter(|l| l.contains("\"outcome\""))
        .count();
    assert_eq!(lines as u64, imported + already);
}

/// The names of the big host's accounts (`u…`) in one of its files.
fn local_names(root: &Path, file: &str) -> BTreeSet<String> {
    std::fs::read_to_string(root.join("etc").join(file))
        .unwrap()
        .lines()
        .filter(|l| l.starts_with('u'))
        .filter_map(|l| l.split(':').next())
        .map(str::to_owned)
        .collect()
}

#[test]
fn kill_9_of_rosterd_mid_import_then_a_restart_and_rerun_leaves_files_and_roster_consistent() {
    let n = 3000;
    let (root, config) = big_host(n);
    let bus = TestBus::start();
    let mut daemon = TestDaemon::start_with(&bus, config);
    let host = root.path().display().to_string();
    let args = [
        "users",
        "import",
        "--root",
        &host,
        "--all-human",
        "--level",
        "read",
        "--json",
    ];
    let mut child = daemon
        .roster(&args)
        .to_command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // rosterd dies once a second batch is committed (the CLI sends 250
    // users a call, one after the other): the first batch's users are then
    // out of the files, the second's committed, maybe not yet out of them,
    // the rest not sent.
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut killed_at = None;
    while Instant::now() < deadline {
        let count: usize = daemon
            .sqlite("SELECT count(*) FROM users")
            .trim()
            .parse()
            .unwrap_or(0);
        if count >= 500 {
            daemon.kill9();
            killed_at = Some(count);
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let status = child.wait().unwrap();
    eprintln!("killed rosterd with {killed_at:?} users committed; the CLI ended with {status}");
    if killed_at.is_some_and(|k| k <= n / 2) {
        // Batches were left: the CLI failed, it didn't claim an import.
        assert!(!status.success(), "{status}");
    }

    // Before the re-run: each local account is whole in the files (none
    // half-removed), and every account gone from them is in Roster.
    daemon.restart();
    let passwd = local_names(root.path(), "passwd");
    assert_eq!(passwd, local_names(root.path(), "shadow"));
    assert_eq!(passwd, local_names(root.path(), "group"));
    let in_roster: BTreeSet<String> = daemon
        .sqlite("SELECT name FROM users")
        .lines()
        .map(str::to_owned)
        .collect();
    let everyone: BTreeSet<String> = (0..n).map(|i| format!("u{i:05}")).collect();
    let gone_locally: BTreeSet<&String> = everyone.difference(&passwd).collect();
    if killed_at.is_some() {
        assert!(!gone_locally.is_empty() && !passwd.is_empty());
    }
    assert!(
        gone_locally.iter().all(|name| in_roster.contains(*name)),
        "users out of the files but not in Roster: {:?}",
        gone_locally
            .iter()
            .filter(|name| !in_roster.contains(**name))
            .take(5)
            .collect::<Vec<_>>()
    );
    // Committed in Roster but still local: the batch rosterd answered (or
    // committed) as it died; the re-run finds them "already imported".
    let committed_still_local = passwd.intersection(&in_roster).count();
    eprintln!(
        "{} users committed, {} out of the files, {committed_still_local} committed but still local",
        in_roster.len(),
        gone_locally.len()
    );

    let rerun = daemon.roster(&args).run().expect_ok();
    let summary = rerun.stdout.lines().last().unwrap_or_default().to_owned();
    let v: serde_json::Value = serde_json::from_str(&summary).unwrap();
    let imported = v["summary"]["imported"].as_u64().unwrap();
    let already = v["summary"]["already_imported"].as_u64().unwrap();
    assert_eq!(
        (imported, already),
        (
            (passwd.len() - committed_still_local) as u64,
            committed_still_local as u64
        ),
        "{summary}"
    );
    assert_eq!(
        daemon.sqlite("SELECT count(*) FROM users").trim(),
        n.to_string()
    );
    assert_eq!(
        daemon
            .sqlite("SELECT count(DISTINCT name) FROM users")
            .trim(),
        n.to_string()
    );
    assert_eq!(
        daemon
            .sqlite("SELECT count(DISTINCT uid) FROM users")
            .trim(),
        n.to_string()
    );
    for file in ["passwd", "shadow", "group"] {
        assert!(local_names(root.path(), file).is_empty(), "{file}");
    }
    // The restarted rosterd's snapshot has the first batch and the last.
    let snapshot = std::fs::read(daemon.nss_cache_path()).unwrap();
    for name in [b"u00000", b"u02999"] {
        assert!(snapshot.windows(6).any(|w| w == &name[..]));
    }
}

/// A host of `n` accounts (one real sha512-crypt hash) with a home each
/// under the fake root and a file each of theirs in `srv/shared`, a tree
/// given with `--chown-paths`: answers the root, rosterd's config and
/// each account's (name, old uid).
fn host_with_files(n: usize) -> (tempfile::TempDir, TestConfig, Vec<(String, u32)>) {
    let (dir, config) = big_host(0);
    let root = dir.path();
    let hash = crypt(&["openssl", "passwd", "-6"], "scale-password-1");
    let (mut passwd, mut shadow, mut group) = (
        std::fs::read_to_string(root.join("etc/passwd")).unwrap(),
        std::fs::read_to_string(root.join("etc/shadow")).unwrap(),
        std::fs::read_to_string(root.join("etc/group")).unwrap(),
    );
    let shared = root.join("srv/shared");
    std::fs::create_dir_all(&shared).unwrap();
    let mut accounts = Vec::new();
    for i in 0..n {
        let (name, uid) = (format!("u{i:05}"), 2000 + i as u32);
        let home = root.join("home").join(&name);
        std::fs::create_dir_all(&home).unwrap();
        std::fs::write(home.join(".profile"), "# profile\n").unwrap();
        std::fs::write(shared.join(format!("{name}.txt")), "mine\n").unwrap();
        for path in [
            home.clone(),
            home.join(".profile"),
            shared.join(format!("{name}.txt")),
        ] {
            std::os::unix::fs::lchown(&path, Some(uid), Some(uid)).unwrap();
        }
        passwd.push_str(&format!(
            "{name}:x:{uid}:{uid}:User {i}:{}:/bin/bash\n",
            home.display()
        ));
        shadow.push_str(&format!("{name}:{hash}:19000:0:99999:7:::\n"));
        group.push_str(&format!("{name}:x:{uid}:\n"));
        accounts.push((name, uid));
    }
    std::fs::write(root.join("etc/passwd"), passwd).unwrap();
    std::fs::write(root.join("etc/shadow"), shadow).unwrap();
    std::fs::write(root.join("etc/group"), group).unwrap();
    (dir, config, accounts)
}

/// Each of `paths`' (uid, gid), for comparing ownership before and after.
fn owners(paths: &[std::path::PathBuf]) -> Vec<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    paths
        .iter()
        .map(|p| {
            let meta = std::fs::symlink_metadata(p).unwrap();
            (meta.uid(), meta.gid())
        })
        .collect()
}

#[test]
fn undo_after_a_resumed_run_with_chown_paths_gives_every_file_back() {
    // Four batches: the kill after the second leaves two to resume.
    let n = 1000;
    let (root, config, accounts) = host_with_files(n);
    let bus = TestBus::start();
    let daemon = TestDaemon::start_with(&bus, config);
    let host = root.path().display().to_string();
    let shared = root.path().join("srv/shared");
    let files: Vec<std::path::PathBuf> = accounts
        .iter()
        .flat_map(|(name, _)| {
            [
                root.path().join("home").join(name),
                root.path().join("home").join(name).join(".profile"),
                shared.join(format!("{name}.txt")),
            ]
        })
        .collect();
    let before = owners(&files);
    let passwd_before = std::fs::read_to_string(root.path().join("etc/passwd")).unwrap();
    let shared_arg = shared.display().to_string();
    let args = [
        "users",
        "import",
        "--root",
        &host,
        "--all-human",
        "--level",
        "read",
        "--json",
        "--chown-paths",
        &shared_arg,
    ];
    // The dry run counts each user's files in its home and in the shared
    // tree (one walk of it for all users).
    let plan = daemon
        .roster(&[
            "users",
            "import",
            "--root",
            &host,
            "--all-human",
            "--level",
            "read",
            "--dry-run",
            "--chown-paths",
            &shared_arg,
        ])
        .run()
        .expect_ok();
    let shared_line = format!("    {shared_arg}: 1 files to chown");
    assert_eq!(
        plan.stdout.lines().filter(|l| *l == shared_line).count(),
        n,
        "{}",
        plan.stdout
    );
    let home_line = format!(
        "    {}: 2 files to chown",
        root.path().join("home/u00042").display()
    );
    assert!(
        plan.stdout.lines().any(|l| l == home_line),
        "{}",
        plan.stdout
    );
    assert_eq!(owners(&files), before);
    // The first run dies (kill -9 of the CLI) once a batch is committed:
    // inside its chowns, its file edit or its next call.
    let mut child = daemon
        .roster(&args)
        .to_command()
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(120);
    let mut killed_at = None;
    while Instant::now() < deadline {
        let count: usize = daemon
            .sqlite("SELECT count(*) FROM users")
            .trim()
            .parse()
            .unwrap_or(0);
        if count >= 500 {
            let _ = child.kill();
            killed_at = Some(count);
            break;
        }
        if child.try_wait().unwrap().is_some() {
            break;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    let _ = child.wait();
    eprintln!("killed the first run with {killed_at:?} users committed");
    let resumed = daemon.roster(&args).run().expect_ok();
    let backups = || -> Vec<std::path::PathBuf> {
        let mut dirs: Vec<_> = std::fs::read_dir(root.path().join("var/backups"))
            .unwrap()
            .map(|e| e.unwrap().path())
            .collect();
        dirs.sort();
        dirs
    };
    // The re-run continues the first run's backup: one folder, whose
    // files are the host's before either run.
    if killed_at.is_some() {
        assert!(
            resumed
                .stderr
                .contains("continuing the interrupted import backed up in"),
            "{}",
            resumed.stderr
        );
    }
    assert_eq!(backups().len(), 1, "{:?}", backups());
    assert_eq!(
        std::fs::read_to_string(backups()[0].join("passwd")).unwrap(),
        passwd_before
    );
    assert_eq!(
        daemon.sqlite("SELECT count(*) FROM users").trim(),
        n.to_string()
    );
    // Every file moved to its user's Roster uid.
    let imported = owners(&files);
    assert!(
        imported.iter().zip(&before).all(|(now, old)| now != old),
        "a file kept its old owner after the resumed run"
    );

    // The undo the resumed run prints gives back every account and file.
    let backup = backups()[0].display().to_string();
    if killed_at.is_some() {
        let summary = resumed.stdout.lines().last().unwrap_or_default();
        let v: serde_json::Value = serde_json::from_str(summary).unwrap();
        assert_eq!(v["summary"]["backup"].as_str(), Some(backup.as_str()));
    }
    let undo = daemon
        .roster(&["users", "import", "--undo", &backup, "--json"])
        .run()
        .expect_ok();
    eprintln!("{}", undo.stdout);
    assert_eq!(daemon.sqlite("SELECT count(*) FROM users").trim(), "0");
    assert_eq!(owners(&files), before);
    let mut restored: Vec<String> = std::fs::read_to_string(root.path().join("etc/passwd"))
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let mut expected: Vec<String> = passwd_before.lines().map(str::to_owned).collect();
    restored.sort();
    expected.sort();
    assert_eq!(restored, expected);
    // An import undone (or finished) is never continued: the next one
    // backs up the files anew.
    daemon
        .roster(&[
            "users", "import", "--root", &host, "--users", "u00000", "--level", "read",
        ])
        .run()
        .expect_ok();
    assert_eq!(backups().len(), 2, "{:?}", backups());
}
