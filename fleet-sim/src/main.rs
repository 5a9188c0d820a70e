//! `roster-fleet-sim`: N simulated hosts against a running controller.
//!
//! ```text
//! roster-fleet-sim --controller https://127.0.0.1:8443 --ca-fingerprint SHA256:… \
//!     --tokens tokens.txt [--count N] [--protocol V] [--threads T] [--name-prefix sim]
//! ```
//!
//! Enrolls N hosts (one join token per line of the tokens file, as
//! `roster-controller token create` prints them), starts their agents,
//! prints how long enrollment and the first syncs took and the memory
//! per agent, then a line of status every 10 s until interrupted.

use roster_fleet_agent::protocol::{LocalIds, PROTOCOL_VERSION};
use roster_fleet_agent::{AgentConfig, JoinRequest};
use roster_fleet_sim::{Sim, SimConfig, Spread, own_rss_kib};
use std::process::ExitCode;
use std::time::{Duration, Instant};

const USAGE: &str = "usage: roster-fleet-sim --controller URL --ca-fingerprint SHA256:… --tokens FILE \
[--count N] [--protocol V] [--threads T] [--name-prefix P] [--backoff-max SECS]";

struct Args {
    controller: String,
    fingerprint: String,
    tokens: std::path::PathBuf,
    count: Option<usize>,
    protocol: u32,
    threads: usize,
    prefix: String,
    backoff_max: Option<Duration>,
}

fn parse(mut args: impl Iterator<Item = String>) -> Result<Args, String> {
    let (mut controller, mut fingerprint, mut tokens) = (None, None, None);
    let mut parsed = Args {
        controller: String::new(),
        fingerprint: String::new(),
        tokens: Default::default(),
        count: None,
        protocol: PROTOCOL_VERSION,
        threads: 2,
        prefix: "sim".into(),
        backoff_max: None,
    };
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or_else(|| format!("{flag} needs a value"));
        let number = |text: String| {
            text.parse::<u64>()
                .map_err(|_| format!("{flag}: {text:?} is not a number"))
        };
        match flag.as_str() {
            "--controller" => controller = Some(value()?),
            "--ca-fingerprint" => fingerprint = Some(value()?),
            "--tokens" => tokens = Some(value()?.into()),
            "--count" => parsed.count = Some(number(value()?)? as usize),
            "--protocol" => parsed.protocol = number(value()?)? as u32,
            "--threads" => parsed.threads = number(value()?)? as usize,
            "--name-prefix" => parsed.prefix = value()?,
            "--backoff-max" => parsed.backoff_max = Some(Duration::from_secs(number(value()?)?)),
            "-h" | "--help" => return Err(USAGE.into()),
            other => return Err(format!("unknown argument {other:?}\n{USAGE}")),
        }
    }
    parsed.controller = controller.ok_or_else(|| format!("--controller is needed\n{USAGE}"))?;
    parsed.fingerprint =
        fingerprint.ok_or_else(|| format!("--ca-fingerprint is needed\n{USAGE}"))?;
    parsed.tokens = tokens.ok_or_else(|| format!("--tokens is needed\n{USAGE}"))?;
    Ok(parsed)
}

fn main() -> ExitCode {
    match main_result() {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("roster-fleet-sim: {error}");
            ExitCode::FAILURE
        }
    }
}

fn main_result() -> Result<(), String> {
    let args = parse(std::env::args().skip(1))?;
    let text = std::fs::read_to_string(&args.tokens)
        .map_err(|e| format!("cannot read the tokens file {}: {e}", args.tokens.display()))?;
    let tokens: Vec<&str> = text
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty())
        .collect();
    let count = args.count.unwrap_or(tokens.len());
    if count == 0 || count > tokens.len() {
        return Err(format!(
            "{} has {} tokens; {count} hosts need one each",
            args.tokens.display(),
            tokens.len()
        ));
    }
    let mut agent = AgentConfig::default();
    if let Some(max) = args.backoff_max {
        agent.backoff_max = max;
    }
    let mut sim = Sim::new(SimConfig {
        threads: args.threads,
        agent,
        ..SimConfig::default()
    })
    .map_err(|e| e.to_string())?;
    let requests = tokens
        .iter()
        .take(count)
        .enumerate()
        .map(|(index, token)| JoinRequest {
            url: args.controller.clone(),
            ca_fingerprint: args.fingerprint.clone(),
            join_token: zeroize::Zeroizing::new((*token).to_owned()),
            hostname: format!("{}-{index}", args.prefix),
            local: LocalIds::default(),
            standalone: None,
        })
        .collect();
    let before = own_rss_kib().unwrap_or(0);
    let enrolled = sim.enroll(requests).map_err(|e| e.to_string())?;
    println!("{count} hosts enrolled in {:.1} s", enrolled.as_secs_f64());
    let started = Instant::now();
    sim.start_all(args.protocol).map_err(|e| e.to_string())?;
    let connected = sim
        .wait_all("a first sync", Duration::from_secs(600), |s| {
            s.first_synced.is_some()
        })
        .map_err(|e| e.to_string())?;
    let spread = Spread::of(
        sim.hosts()
            .filter_map(|h| h.with(|s| s.first_synced))
            .map(|at| at.saturating_duration_since(started))
            .collect(),
    );
    println!(
        "{count} hosts synced (protocol {}) in {:.1} s; first syncs {}",
        args.protocol,
        connected.as_secs_f64(),
        spread.map_or_else(|| "none".into(), |s| s.to_string())
    );
    let after = own_rss_kib().unwrap_or(0);
    println!(
        "simulator RSS {} KiB more ({} KiB an agent)",
        after.saturating_sub(before),
        after.saturating_sub(before) / count as u64
    );
    let runtime = sim.runtime();
    loop {
        let interrupted = runtime.block_on(async {
            tokio::select! {
                _ = tokio::signal::ctrl_c() => true,
                () = tokio::time::sleep(Duration::from_secs(10)) => false,
            }
        });
        if interrupted {
            break;
        }
        let (synced, failing, resyncs) = sim.hosts().fold((0, 0, 0), |(a, b, c), host| {
            host.with(|s| {
                (
                    a + usize::from(s.position.is_some()),
                    b + usize::from(
                        s.last_answer
                            .is_none_or(|at| at.elapsed() > Duration::from_secs(40)),
                    ),
                    c + s.snapshots.saturating_sub(1) as usize,
                )
            })
        });
        println!(
            "{synced} synced, {failing} without an answer for 40 s, {resyncs} full resyncs since the first"
        );
    }
    sim.stop_all();
    Ok(())
}
