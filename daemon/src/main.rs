//! rosterd: owns the Roster database and serves `org.roster.Roster1` on the
//! system bus.
//!
//! What it does: identifies every caller by its bus credentials (and any
//! token bound to its connection), hands each request to `roster-core`,
//! which authorizes, validates and commits it; runs argon2 in a bounded
//! queue off the async threads; writes the public NSS snapshot before
//! acknowledging a change that shows there (core's commit mark says
//! which, see `daemon.rs`); ends a suspended or deleted
//! user's processes; creates homes at the first session; writes an audit
//! line per admin action and login result to syslog (authpriv).
//!
//! What it does not: decide any rule itself (core does), talk to NSS or
//! PAM directly (they read the snapshot and call the bus).

mod args;
mod audit;
mod caller;
mod convert;
mod daemon;
mod errors;
mod fleet;
mod home;
mod interfaces;
mod legacy_crypt;
mod procfs;
mod queue;
mod snapshot;
mod sweep;

use crate::args::Args;
use crate::daemon::{Daemon, RateLimiter};
use roster_core::password::Hasher;
use roster_core::{Config, Roster, SystemClock};
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::signal::unix::{SignalKind, signal};
use zbus::fdo::{DBusProxy, RequestNameFlags, RequestNameReply};

/// How often sessions whose leader is gone are reaped (also on every list).
const REAP_EVERY: Duration = Duration::from_secs(30);

fn main() -> ExitCode {
    // Help, version and usage errors exit here (0, 0, 2).
    let args = Args::from_env();
    if let Some(dir) = &args.generate_man {
        return match args::write_man_page(dir) {
            Ok(page) => {
                println!("{}", page.display());
                ExitCode::SUCCESS
            }
            Err(e) => {
                eprintln!("rosterd: can't write rosterd.8 into {}: {e}", dir.display());
                ExitCode::FAILURE
            }
        };
    }
    let config = match Config::load(&args.config) {
        Ok(config) => config,
        Err(e) => {
            eprintln!("rosterd: {e}");
            return ExitCode::FAILURE;
        }
    };
    if let Err(e) = config.check_id_ranges() {
        eprintln!("rosterd: {}: {e}", args.config.display());
        return ExitCode::FAILURE;
    }
    if args.check_config {
        println!("rosterd: {} is valid", args.config.display());
        return ExitCode::SUCCESS;
    }
    limit_retained_memory();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("rosterd: can't start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(serve(args, config)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("rosterd: {message}");
            ExitCode::FAILURE
        }
    }
}

/// argon2 allocates `memory_kib` (19 MiB by default) per hash. glibc
/// raises its mmap threshold after such a block is freed, so later hashes
/// come from the malloc arenas and stay resident (~19 MiB per arena, one
/// arena per blocking thread) long after they finish. A fixed threshold
/// keeps every large block an mmap that is returned when freed, and fewer
/// arenas keep the store's small allocations from spreading. Verifies,
/// the hot path, don't allocate: they reuse the hasher's kept buffers (at
/// most `max_concurrent`, see `keep_buffers` in `serve`), since a fresh
/// mmap per verify page-faulted 19 MiB each time (~13 ms of ~30).
/// The most argon2 working buffers rosterd keeps between verifies.
const KEPT_HASH_BUFFERS_MAX: usize = 4;

fn limit_retained_memory() {
    // SAFETY: mallopt only tunes glibc's allocator; called before any
    // thread exists.
    unsafe {
        libc::mallopt(libc::M_MMAP_THRESHOLD, 256 * 1024);
        libc::mallopt(libc::M_ARENA_MAX, 2);
    }
}

fn bus_address() -> String {
    std::env::var("DBUS_SYSTEM_BUS_ADDRESS")
        .unwrap_or_else(|_| roster_client::DEFAULT_SYSTEM_BUS.to_owned())
}

async fn serve(args: Args, mut config: Config) -> Result<(), String> {
    let database = config.database.clone();
    // An enrolled host runs with the fleet's uid range and admin group
    // (rosterd.toml may not set them then: checked below).
    if let Ok(Some((enrollment, _))) = fleet::files::FleetFiles::beside(&database).load()
        && let Some(settings) = &enrollment.fleet
    {
        fleet::settings::apply(&mut config, settings);
    }
    let opened = tokio::task::spawn_blocking(move || {
        Roster::open(config.clone(), Arc::new(SystemClock)).map(|r| (r, config))
    })
    .await
    .map_err(|e| format!("opening the database failed: {e}"))?;
    let (mut roster, config) =
        opened.map_err(|e| format!("can't open the database {}: {e}", database.display()))?;
    let fleet = fleet::Fleet::new(fleet::files::FleetFiles::beside(&config.database));
    let enrollment = fleet.files.load()?;
    if enrollment.is_some() {
        let text = std::fs::read_to_string(&args.config)
            .map_err(|e| format!("can't read {}: {e}", args.config.display()))?;
        let set = roster_core::config::fleet_decided_keys_set(&text).map_err(|e| e.to_string())?;
        if !set.is_empty() {
            return Err(format!(
                "{} sets {}: this host is enrolled with a controller, which decides these keys; \
                 remove them from the file (or `roster hosts leave` first)",
                args.config.display(),
                set.join(", ")
            ));
        }
        roster
            .follow_fleet()
            .map_err(|e| format!("can't read the fleet's state from the database: {e}"))?;
    } else if roster
        .fleet_state()
        .map_err(|e| format!("can't read the fleet's state from the database: {e}"))?
        .is_some()
    {
        // A leave that stopped between removing the enrollment and the
        // database's state: finish it.
        roster
            .leave_fleet()
            .map_err(|e| format!("can't finish leaving the fleet: {e}"))?;
        eprintln!("rosterd: finished an interrupted `roster hosts leave`: standalone");
    }
    // Secrets' key ring: a missing or wrong key file refuses secrets only.
    let secrets_state = Arc::new(interfaces::secrets::SecretsState::load(&mut roster));
    let config = Arc::new(config);
    let nss_reader = roster
        .nss_reader()
        .map_err(|e| format!("can't open the database {}: {e}", database.display()))?;
    // The start's write below shows everything committed so far.
    roster.commit_mark().take();
    // While adopted crypt hashes remain, unknown users pay a crypt of
    // their kind too (DESIGN.md's equal-time rule).
    let legacy_dummy = legacy_crypt::LegacyDummy::default();
    legacy_dummy.set_from(
        roster
            .legacy_hash_sample()
            .map_err(|e| format!("can't read the database {}: {e}", database.display()))?
            .as_deref(),
    );
    let roster = Arc::new(Mutex::new(roster));
    let hasher = Hasher::new(&config.argon2).map_err(|e| e.to_string())?;
    let audit = audit::Audit::open(args.syslog_socket.as_deref(), args.audit_log.as_deref())
        .map_err(|e| format!("can't open the audit log: {e}"))?;

    let snapshot = snapshot::SnapshotWriter::new(
        &config.nss_cache,
        snapshot::Retry::default(),
        snapshot::StaleMark::beside(&config.database),
    );
    snapshot
        .write_now(&roster, &config)
        .map_err(|e| format!("can't write the NSS snapshot: {e}"))?;

    let address = bus_address();
    let conn = zbus::connection::Builder::system()
        .build()
        .await
        .map_err(|e| format!("can't connect to the system bus at {address}: {e}"))?;
    let dbus = DBusProxy::new(&conn)
        .await
        .map_err(|e| format!("the system bus at {address} does not answer: {e}"))?;
    let peers = Arc::new(caller::Peers::default());
    // Subscribed before the name is ours: no caller can leave unseen.
    let departures = caller::watch_departures(dbus.clone(), peers.clone())
        .await
        .map_err(|e| format!("can't follow NameOwnerChanged on {address}: {e}"))?;

    let queue = queue::HashQueue::new(
        config.argon2.max_concurrent,
        config.argon2.queue_max,
        config.argon2.queue_wait,
    );
    // As many argon2 buffers kept as hashes may run at once, so no verify
    // pays a fresh buffer's page faults — but never more than
    // KEPT_HASH_BUFFERS_MAX: an idle rosterd on a 64-CPU host must not hold
    // 64 × memory_kib (beyond the cap a verify allocates, as a hash does).
    let hasher = hasher.keep_buffers(queue.max_concurrent().min(KEPT_HASH_BUFFERS_MAX));
    let d = Arc::new(Daemon {
        roster: roster.clone(),
        config: config.clone(),
        hasher,
        queue,
        snapshot: snapshot.clone(),
        audit,
        peers,
        dbus: dbus.clone(),
        conn: conn.clone(),
        proc: procfs::Proc::default(),
        limiter: RateLimiter::default(),
        skel: PathBuf::from("/etc/skel"),
        config_path: args.config.clone(),
        fleet,
        legacy_dummy,
    });

    let server = conn.object_server();
    let path = roster_client::OBJECT_PATH;
    let served = async {
        server
            .at(path, interfaces::users::Users { d: d.clone() })
            .await?;
        server
            .at(path, interfaces::grants::Grants { d: d.clone() })
            .await?;
        server
            .at(
                path,
                interfaces::environments::Environments { d: d.clone() },
            )
            .await?;
        server
            .at(path, interfaces::sessions::Sessions { d: d.clone() })
            .await?;
        server
            .at(path, interfaces::pam::Pam { d: d.clone() })
            .await?;
        server
            .at(path, interfaces::import::Import { d: d.clone() })
            .await?;
        server
            .at(path, interfaces::tokens::Tokens { d: d.clone() })
            .await?;
        server
            .at(path, interfaces::keys::Keys { d: d.clone() })
            .await?;
        server
            .at(
                path,
                interfaces::registration::Registration { d: d.clone() },
            )
            .await?;
        server
            .at(path, interfaces::fleet::Fleet { d: d.clone() })
            .await?;
        server
            .at(
                path,
                interfaces::secrets::Secrets {
                    d: d.clone(),
                    s: secrets_state.clone(),
                },
            )
            .await?;
        Ok::<(), zbus::Error>(())
    };
    served
        .await
        .map_err(|e| format!("can't serve {path}: {e}"))?;

    tokio::spawn(departures);
    tokio::spawn(
        snapshot
            .clone()
            .run(snapshot::file_writer(nss_reader, config.clone())),
    );
    tokio::spawn(reaper(d.clone()));
    tokio::spawn(interfaces::secrets::ticker(Arc::new(
        interfaces::secrets::Secrets {
            d: d.clone(),
            s: secrets_state.clone(),
        },
    )));
    if let Some((enrollment, key)) = enrollment {
        d.fleet.start(&d, &enrollment, key).map_err(|e| {
            format!(
                "can't start the fleet sync with {}: {e}",
                enrollment.controllers.join(", ")
            )
        })?;
        eprintln!(
            "rosterd: fleet mode: {} in environment {}, syncing with {}",
            enrollment.hostname,
            enrollment.environment,
            enrollment.controllers.join(", ")
        );
    }
    tokio::spawn(audit_repeats(d.clone()));

    let taken = || {
        format!(
            "the bus name {} on {address} is taken: is another rosterd running?",
            roster_client::BUS_NAME
        )
    };
    match conn
        .request_name_with_flags(roster_client::BUS_NAME, RequestNameFlags::DO_NOT_QUEUE)
        .await
    {
        Ok(RequestNameReply::PrimaryOwner | RequestNameReply::AlreadyOwner) => {}
        Ok(RequestNameReply::Exists | RequestNameReply::InQueue) => return Err(taken()),
        Err(zbus::Error::NameTaken) => return Err(taken()),
        Err(e) => {
            return Err(format!(
                "can't own {} on {address}: {e} (does the bus policy org.roster.Roster1.conf let this uid own it?)",
                roster_client::BUS_NAME
            ));
        }
    }
    eprintln!(
        "rosterd: serving {} on {address} (database {}, snapshot {})",
        roster_client::BUS_NAME,
        config.database.display(),
        config.nss_cache.display()
    );

    let mut term = signal(SignalKind::terminate()).map_err(|e| e.to_string())?;
    let mut int = signal(SignalKind::interrupt()).map_err(|e| e.to_string())?;
    let why = tokio::select! {
        _ = term.recv() => "SIGTERM",
        _ = int.recv() => "SIGINT",
        why = d.fleet.restart_wanted() => {
            d.audit.flush_repeats(true);
            return Err(format!("{why}: exiting so that systemd starts rosterd serving it"));
        }
        // The bus went away (dbus-daemon stopped, crashed or restarted).
        // We exit rather than reconnect: a new connection would have to
        // own the name again, and every peer's identity and bound token
        // belong to connections on the old bus, which are gone anyway.
        // Exiting non-zero lets systemd's `Restart=on-failure` start a
        // fresh rosterd once the bus is back; a deaf rosterd alive
        // forever would never be restarted.
        () = conn.closed() => {
            d.audit.flush_repeats(true);
            return Err(lost_bus(&address));
        }
    };
    eprintln!("rosterd: stopping ({why})");
    d.audit.flush_repeats(true);
    // Every acknowledged change is committed already; releasing the name
    // first makes new callers see "not running" rather than a timeout.
    let _ = conn.release_name(roster_client::BUS_NAME).await;
    Ok(())
}

/// Why rosterd stops when its bus connection closes under it.
fn lost_bus(address: &str) -> String {
    format!(
        "lost the system bus at {address}: the connection closed (dbus-daemon stopped or restarted); \
         exiting so that systemd restarts rosterd on the new bus"
    )
}

/// Writes the summary of collapsed audit repeats once they are
/// [`audit::REPEAT_FLUSH`] old, also when no other line comes to end them.
async fn audit_repeats(d: Arc<Daemon>) {
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    loop {
        tick.tick().await;
        d.audit.flush_repeats(false);
    }
}

/// Reaps sessions whose leader is gone, every [`REAP_EVERY`].
async fn reaper(d: Arc<Daemon>) {
    let mut tick = tokio::time::interval(REAP_EVERY);
    loop {
        tick.tick().await;
        match d.reap().await {
            Ok(0) => {}
            Ok(n) => eprintln!("rosterd: reaped {n} session(s) whose leader is gone"),
            Err(e) => eprintln!("rosterd: reaping sessions: {e}"),
        }
    }
}
