//! Test and benchmark generator: writes a snapshot (and, if asked, the
//! same users as `/etc/passwd`/`/etc/group`-style files for nss_files) the
//! way rosterd will, through `encode` + `write_atomically`.
//!
//! ```text
//! gen --out PATH [--users N] [--generation G] [--admins N] [--prefix P]
//!     [--passwd PATH] [--group PATH] [--loop SECONDS] [--format-version 1] [--timing]
//! ```
//!
//! Users are `{P}{i}` (default prefix `ruser`), uid = gid = 0x70000001 + i,
//! each with a private group; `roster-admins` (gid 0x70000000) lists the
//! first N (default 2) users. `--loop S` rewrites the snapshot for S
//! seconds, alternating two generations whose users differ in GECOS,
//! home and shell, each one self-consistent (for the torn-answer test).
//! `--timing` prints to stderr how long the first snapshot took to encode
//! and to write (rosterd's share of a change: `encode` +
//! `write_atomically`), on the wall clock and on the thread's CPU clock. `--format-version 1` writes the format rosterd wrote before the hash
//! indexes (to measure or test a module against an old rosterd's file).

use roster_snapshot::{SnapshotGroup, SnapshotUser, encode, write_atomically};
use std::fmt::Write as _;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::{Duration, Instant};

struct Args {
    out: PathBuf,
    users: u32,
    generation: u64,
    admins: u32,
    prefix: String,
    passwd: Option<PathBuf>,
    group: Option<PathBuf>,
    loop_secs: Option<u64>,
    v1: bool,
    timing: bool,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args {
        out: PathBuf::new(),
        users: 24,
        generation: 1,
        admins: 2,
        prefix: "ruser".into(),
        passwd: None,
        group: None,
        loop_secs: None,
        v1: false,
        timing: false,
    };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let mut val = || it.next().ok_or(format!("{flag} needs a value"));
        let num = |v: String| v.parse::<u64>().map_err(|e| format!("{flag}: {e}"));
        match flag.as_str() {
            "--out" => a.out = val()?.into(),
            "--users" => a.users = num(val()?)? as u32,
            "--generation" => a.generation = num(val()?)?,
            "--admins" => a.admins = num(val()?)? as u32,
            "--prefix" => a.prefix = val()?,
            "--passwd" => a.passwd = Some(val()?.into()),
            "--group" => a.group = Some(val()?.into()),
            "--loop" => a.loop_secs = Some(num(val()?)?),
            "--timing" => a.timing = true,
            "--format-version" => match num(val()?)? {
                1 => a.v1 = true,
                2 => a.v1 = false,
                v => return Err(format!("--format-version {v}: 1 or 2")),
            },
            _ => return Err(format!("unknown argument {flag}")),
        }
    }
    if a.out.as_os_str().is_empty() {
        return Err("--out PATH is required".into());
    }
    Ok(a)
}

/// Generation parity picks one of two variants of every user: a reader
/// that ever mixes fields of two generations sees a mismatch.
fn users(a: &Args, generation: u64) -> Vec<SnapshotUser> {
    let v = generation % 2;
    (0..a.users)
        .map(|i| {
            let name = format!("{}{i}", a.prefix);
            SnapshotUser {
                uid: 0x7000_0001 + i,
                gid: 0x7000_0001 + i,
                gecos: format!("Roster User {i} v{v}"),
                home: format!("/home/v{v}/{name}"),
                shell: if v == 0 { "/bin/bash" } else { "/bin/sh" }.into(),
                name,
            }
        })
        .collect()
}

fn groups(a: &Args, users: &[SnapshotUser]) -> Vec<SnapshotGroup> {
    let mut g: Vec<SnapshotGroup> = users
        .iter()
        .map(|u| SnapshotGroup {
            name: u.name.clone(),
            gid: u.gid,
            members: vec![],
        })
        .collect();
    g.push(SnapshotGroup {
        name: "roster-admins".into(),
        gid: 0x7000_0000,
        members: users
            .iter()
            .take(a.admins as usize)
            .map(|u| u.name.clone())
            .collect(),
    });
    g
}

/// This thread's time on a CPU so far, in ns (`/proc/thread-self/schedstat`'s
/// first field): unlike the wall clock, it leaves out the time spent
/// waiting for a CPU on a busy machine. 0 where there is no such file.
fn cpu_ns() -> u64 {
    std::fs::read_to_string("/proc/thread-self/schedstat")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

fn write(a: &Args, generation: u64) -> Result<(), String> {
    let u = users(a, generation);
    let g = groups(a, &u);
    let cpu_started = cpu_ns();
    let started = Instant::now();
    let bytes = if a.v1 {
        roster_snapshot::encode_v1(generation, &u, &g)
    } else {
        encode(generation, &u, &g)
    }
    .map_err(|e| e.to_string())?;
    let encoded = started.elapsed();
    let cpu_encoded = cpu_ns();
    write_atomically(&a.out, &bytes).map_err(|e| format!("{}: {e}", a.out.display()))?;
    let cpu_written = cpu_ns();
    if a.timing {
        let ms = |ns: u64| ns as f64 / 1e6;
        eprintln!(
            "users={} bytes={} encode_ms={:.2} write_ms={:.2} total_ms={:.2} \
             encode_cpu_ms={:.2} write_cpu_ms={:.2} total_cpu_ms={:.2}",
            a.users,
            bytes.len(),
            encoded.as_secs_f64() * 1e3,
            (started.elapsed() - encoded).as_secs_f64() * 1e3,
            started.elapsed().as_secs_f64() * 1e3,
            ms(cpu_encoded.saturating_sub(cpu_started)),
            ms(cpu_written.saturating_sub(cpu_encoded)),
            ms(cpu_written.saturating_sub(cpu_started)),
        );
    }
    Ok(())
}

fn run() -> Result<(), String> {
    let a = parse_args()?;
    write(&a, a.generation)?;
    let u = users(&a, a.generation);
    if let Some(p) = &a.passwd {
        let mut s = String::from("root:x:0:0:root:/root:/bin/bash\n");
        for u in &u {
            let _ = writeln!(
                s,
                "{}:*:{}:{}:{}:{}:{}",
                u.name, u.uid, u.gid, u.gecos, u.home, u.shell
            );
        }
        std::fs::write(p, s).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if let Some(p) = &a.group {
        let mut s = String::from("root:x:0:\n");
        for g in groups(&a, &u) {
            let _ = writeln!(s, "{}:*:{}:{}", g.name, g.gid, g.members.join(","));
        }
        std::fs::write(p, s).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    if let Some(secs) = a.loop_secs {
        let end = Instant::now() + Duration::from_secs(secs);
        let mut generation = a.generation;
        let mut writes = 0u64;
        while Instant::now() < end {
            generation += 1;
            write(&a, generation)?;
            writes += 1;
        }
        println!("{writes} snapshots written");
    }
    Ok(())
}

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("gen: {e}");
            ExitCode::from(2)
        }
    }
}
