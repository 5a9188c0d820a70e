//! `roster hosts join | status | leave`: this host and its controller.
//!
//! rosterd does the work (its key, the enrollment, the sync); the CLI
//! takes the join token from a prompt or stdin (never argv) and, where
//! systemd runs rosterd on the real system bus, links the fleet drop-in
//! in (rosterd's standalone unit has no network) and restarts rosterd
//! before the join, and takes it out again after a leave or a failed join.

use super::{Ctx, print_json};
use crate::errors::CliError;
use crate::output::time;
use crate::prompt;
use roster_client::{FleetStatus, Secret};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

/// The drop-in the package ships, and where `join` links it.
const SHIPPED_DROP_IN: &str = "/usr/share/roster/systemd/rosterd-fleet.conf";
const DROP_IN: &str = "/etc/systemd/system/rosterd.service.d/fleet.conf";

/// How long a restarted rosterd may take to own its bus name again.
const RESTART_WAIT: Duration = Duration::from_secs(30);

/// Whether rosterd here is systemd's `rosterd.service` on the system bus
/// (not a private bus a test or the demo started).
fn systemd_runs_rosterd() -> bool {
    std::env::var_os("DBUS_SYSTEM_BUS_ADDRESS").is_none()
        && Path::new("/run/systemd/system").exists()
        && Command::new("systemctl")
            .args(["is-active", "--quiet", "rosterd.service"])
            .status()
            .is_ok_and(|s| s.success())
}

fn systemctl(args: &[&str]) -> Result<(), CliError> {
    let status = Command::new("systemctl")
        .args(args)
        .status()
        .map_err(|e| CliError::Local(format!("can't run systemctl {}: {e}", args.join(" "))))?;
    if status.success() {
        Ok(())
    } else {
        Err(CliError::Local(format!(
            "systemctl {} failed ({status})",
            args.join(" ")
        )))
    }
}

/// Links (or removes) the fleet drop-in and restarts rosterd with it.
fn set_drop_in(enabled: bool) -> Result<(), CliError> {
    let drop_in = PathBuf::from(DROP_IN);
    if enabled {
        if let Some(dir) = drop_in.parent() {
            std::fs::create_dir_all(dir)
                .map_err(|e| CliError::Local(format!("can't create {}: {e}", dir.display())))?;
        }
        let _ = std::fs::remove_file(&drop_in);
        std::os::unix::fs::symlink(SHIPPED_DROP_IN, &drop_in).map_err(|e| {
            CliError::Local(format!(
                "can't link {SHIPPED_DROP_IN} as {}: {e}",
                drop_in.display()
            ))
        })?;
    } else {
        match std::fs::remove_file(&drop_in) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(()),
            Err(e) => {
                return Err(CliError::Local(format!(
                    "can't remove {}: {e}",
                    drop_in.display()
                )));
            }
        }
    }
    systemctl(&["daemon-reload"])?;
    systemctl(&["restart", "rosterd.service"])
}

/// Waits until rosterd answers on the bus again after a restart.
async fn wait_for_rosterd(ctx: &Ctx<'_>) -> Result<(), CliError> {
    let started = Instant::now();
    loop {
        let fleet = ctx.client.fleet().await?;
        match fleet.status().await {
            Ok(_) => return Ok(()),
            Err(_) if started.elapsed() < RESTART_WAIT => {
                // Nothing else runs on this thread meanwhile (block_on).
                std::thread::sleep(Duration::from_millis(200));
            }
            Err(e) => return Err(ctx.client.error(e)),
        }
    }
}

pub async fn join(
    ctx: &mut Ctx<'_>,
    url: String,
    ca_fingerprint: String,
    name: Option<String>,
    token_stdin: bool,
    mode: &str,
) -> Result<(), CliError> {
    let token = if token_stdin {
        prompt::stdin_value(ctx.input, "join token")?
    } else {
        prompt::ask_secret(
            ctx.input,
            "Join token: ",
            "join token",
            "use --token-stdin (the token on the first line)",
        )?
    };
    // Tokens are copied and pasted: surrounding blanks are never part of one.
    let token = Secret::from(token.expose().trim());
    let systemd = systemd_runs_rosterd();
    if systemd {
        println!("Opening rosterd's network (the fleet drop-in {DROP_IN}) and restarting it…");
        set_drop_in(true)?;
        wait_for_rosterd(ctx).await?;
    }
    let fleet = ctx.client.fleet().await?;
    let joined = fleet
        .join(
            &url,
            &ca_fingerprint,
            token.expose(),
            name.as_deref().unwrap_or(""),
            mode,
        )
        .await;
    let joined = match joined {
        Ok(joined) => joined,
        Err(e) => {
            let error = ctx.client.error(e);
            // Nothing enrolled: rosterd goes back to no network at all.
            let enrolled = fleet.status().await.is_ok_and(|s| s.enrolled);
            if systemd && !enrolled {
                let _ = set_drop_in(false);
            }
            return Err(error);
        }
    };
    println!(
        "Joined {} as host {:?} in environment {:?}: {} user(s) synced (cursor {}).",
        joined.controller, joined.hostname, joined.environment, joined.users, joined.cursor
    );
    for note in &joined.standalone {
        println!("  - {note}");
    }
    println!(
        "Users, grants and keys now come from the controller; `roster hosts status` shows the link."
    );
    if !joined.restart.is_empty() {
        println!(
            "rosterd restarts now: {} (systemd starts it again; without systemd, start rosterd yourself).",
            joined.restart
        );
        if systemd {
            wait_for_rosterd(ctx).await?;
        }
    }
    Ok(())
}

pub async fn status(ctx: &mut Ctx<'_>, as_json: bool) -> Result<(), CliError> {
    let fleet = ctx.client.fleet().await?;
    let status = fleet.status().await.map_err(|e| ctx.client.error(e))?;
    if as_json {
        return print_json(&crate::output::json::FleetStatus::from(&status));
    }
    print!("{}", render(&status, ctx.now));
    Ok(())
}

/// `roster hosts status` for a person.
pub fn render(status: &FleetStatus, now: i64) -> String {
    if !status.enrolled {
        return "Standalone: this host is not enrolled with a controller (`roster hosts join URL --ca-fingerprint …`).\n"
            .into();
    }
    let mut out = String::new();
    let mut line = |key: &str, value: String| out.push_str(&format!("{key:<20}{value}\n"));
    line("Host:", status.hostname.clone());
    line("Environment:", status.environment.clone());
    line(
        "Controller:",
        if status.controller.is_empty() {
            "none answers now (see Last failure)".into()
        } else {
            format!("{} (answers now)", status.controller)
        },
    );
    line("Controllers:", status.controllers.join(", "));
    if !status.certificate_subject.is_empty() {
        line("Identity:", status.certificate_subject.clone());
    }
    line("CA:", status.ca_fingerprint.clone());
    if status.revoked {
        let since = if status.revoked_at == 0 {
            String::new()
        } else {
            format!(" {}", time::ago(status.revoked_at, now))
        };
        line(
            "State:",
            format!(
                "REVOKED{since}: cached credentials wiped; `roster hosts leave`, then join again"
            ),
        );
    }
    line(
        "Cursor:",
        format!("{} (epoch {})", status.cursor, status.epoch),
    );
    if !status.login_level.is_empty() {
        line("Login level:", status.login_level.clone());
    }
    line(
        "Last answer:",
        if status.last_answer == 0 {
            "never".into()
        } else {
            time::ago(status.last_answer, now)
        },
    );
    let grace = if status.offline_grace_secs == 0 {
        "none (a login needs an answer from the last minute)".to_string()
    } else {
        roster_hostconfig::duration::format(Duration::from_secs(status.offline_grace_secs))
    };
    line("Offline grace:", grace);
    if status.last_answer != 0 {
        line(
            "Offline logins:",
            if status.within_grace {
                format!("allowed until {}", time::until(status.grace_ends, now))
            } else {
                format!(
                    "ENDED {} (no answer since {}): Roster users can't log in",
                    time::ago(status.grace_ends, now),
                    time::ago(status.last_answer, now)
                )
            },
        );
    }
    if status.certificate_not_after != 0 {
        line(
            "Certificate:",
            format!("expires {}", time::until(status.certificate_not_after, now)),
        );
    }
    if status.clock_offset.abs() > 60 {
        line(
            "Clock:",
            format!(
                "{} s off the controller's: set this host's clock (NTP)",
                status.clock_offset
            ),
        );
    }
    if status.reports_waiting > 0 {
        line("Reports waiting:", status.reports_waiting.to_string());
    }
    if !status.last_error.is_empty() {
        line(
            "Last failure:",
            format!(
                "{} ({})",
                status.last_error,
                time::ago(status.last_error_at, now)
            ),
        );
    }
    out
}

pub async fn leave(ctx: &mut Ctx<'_>) -> Result<(), CliError> {
    let fleet = ctx.client.fleet().await?;
    let (served, now) = fleet.leave().await.map_err(|e| ctx.client.error(e))?;
    if systemd_runs_rosterd() {
        set_drop_in(false)?;
    }
    println!(
        "Left the fleet: this host is standalone again, its users and their hashes kept as its own store."
    );
    if !served.is_empty() && served != now {
        println!(
            "It serves environment {now:?} (rosterd.toml) now, not {served:?}: users with access to {served:?} \
             only can't log in here until you set `environment = \"{served}\"` in rosterd.toml and restart rosterd."
        );
    }
    Ok(())
}
