//! What a warm lookup costs in system calls, counted with strace on the
//! real module (`dlopen`ed by the C probe): none while the snapshot is
//! current and marked by nobody (format version 2), one `stat` per lookup
//! for a version 1 file (older rosterd), whose replacement has no mark to
//! see. Counts, never times. Needs `strace` (apt-get install strace).
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;
use std::process::Command;

const LOOKUPS: u64 = 2000;

/// The system calls the probe's `loop` made between its two `getppid`
/// markers: COUNT getpwnam_r + getpwuid_r on a mapped snapshot.
fn syscalls_in_the_loop(w: &World, test: &str) -> Option<Vec<String>> {
    if Command::new("strace").arg("-V").output().is_err() {
        let why = "strace is not installed (apt-get install strace)";
        if std::env::var_os("ROSTER_TESTS_REQUIRE_ALL").is_some_and(|v| v == "1") {
            panic!(
                "{test} can't run here ({why}) and ROSTER_TESTS_REQUIRE_ALL=1 forbids skipping it"
            );
        }
        eprintln!("\n*** SKIPPED {test}: {why} ***\n");
        return None;
    }
    let trace = w.dir.path().join("strace.out");
    let uid = (UID_BASE + 5).to_string();
    let o = Command::new("strace")
        .arg("-o")
        .arg(&trace)
        .arg(probe())
        .args(["direct", so().to_str().unwrap(), "loop", "ruser5", &uid])
        .arg(LOOKUPS.to_string())
        .arg("1024")
        .env("ROSTER_NSS_CACHE", w.cache())
        .env("ROSTER_NSS_CACHE_OWNER", own_uid())
        .output()
        .unwrap();
    assert!(o.status.success(), "{}", show(&o));
    assert_eq!(stdout(&o), "status=1 errno=0 bad=0\n", "{}", show(&o));
    let lines: Vec<String> = std::fs::read_to_string(&trace)
        .unwrap()
        .lines()
        .map(str::to_owned)
        .collect();
    let markers: Vec<usize> = (0..lines.len())
        .filter(|&i| lines[i].starts_with("getppid("))
        .collect();
    assert_eq!(markers.len(), 2, "two markers in:\n{}", lines.join("\n"));
    Some(lines[markers[0] + 1..markers[1]].to_vec())
}

#[test]
fn a_warm_lookup_makes_no_system_call() {
    let test = "a_warm_lookup_makes_no_system_call";
    let w = World::new("syscalls-v2");
    write_snapshot(&w.cache(), 10_000, 1);
    let Some(calls) = syscalls_in_the_loop(&w, test) else {
        return;
    };
    // 4000 lookups; at most the re-check's one stat per second, should
    // the machine be slow enough for the loop to take that long.
    let stats = calls.iter().filter(|c| c.contains("stat")).count();
    assert!(
        calls.len() == stats && stats <= 4,
        "{} lookups made these system calls:\n{}",
        2 * LOOKUPS,
        calls.join("\n")
    );
}

#[test]
fn a_version_1_snapshot_is_looked_at_on_every_lookup() {
    let test = "a_version_1_snapshot_is_looked_at_on_every_lookup";
    let w = World::new("syscalls-v1");
    let u = users(24, 1);
    let bytes = roster_snapshot::encode_v1(1, &u, &groups(&u, 2, 0)).unwrap();
    roster_snapshot::write_atomically(&w.cache(), &bytes).unwrap();
    let Some(calls) = syscalls_in_the_loop(&w, test) else {
        return;
    };
    let stats = calls.iter().filter(|c| c.contains("stat")).count() as u64;
    assert_eq!(stats, 2 * LOOKUPS, "one stat per lookup");
    assert_eq!(calls.len() as u64, stats, "{}", calls.join("\n"));
}
