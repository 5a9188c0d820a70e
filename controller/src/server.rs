//! `roster-controller serve`: the hosts' API on HTTPS with mutual TLS and
//! `/metrics` on its own listener, over one store shared by any number
//! of replicas. Each replica keeps one feed connection and a window of
//! recent changes in memory and answers long polls from it.

pub mod api;
pub mod feed;
pub mod hosts;
pub mod metrics;
pub mod window;

use crate::config::ControllerConfig;
use crate::error::Fail;
use crate::pki::CaBundle;
use crate::store::Store;
use crate::tls::{AcceptLimiter, AcceptStats, HostLimiter, MtlsAcceptor};
use api::snapshot::{SnapshotCache, SnapshotLimits};
use feed::Feed;
use hosts::HostDirectory;
use metrics::{AcceptCounters, Metrics};
use roster_core::clock::{Clock, SystemClock};
use roster_core::store::Transaction;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

/// How often what hosts did (last seen, cursor) is written.
const ACTIVITY_FLUSH: Duration = Duration::from_secs(10);
/// How often reports, audit rows and request ids past retention go.
const PURGE_EVERY: Duration = Duration::from_secs(3600);
/// HTTP/1 buffer per connection (hyper's default is ~400 KiB): request
/// heads and bodies are read through it and answers written through it,
/// so it bounds what one connection holds beyond its body (itself
/// bounded by `MAX_BODY_BYTES`). 8 KiB is hyper's first allocation; it
/// grows towards this only for a connection moving a lot of bytes.
const HTTP1_BUFFER_BYTES: usize = 64 << 10;
/// Request headers at most (hyper's default is 100): a host sends five.
const MAX_HEADERS: usize = 32;

/// What every handler shares.
pub struct Shared {
    pub store: Arc<Store>,
    pub config: ControllerConfig,
    pub feed: Arc<Feed>,
    pub hosts: Arc<HostDirectory>,
    pub metrics: Arc<Metrics>,
    pub ca: Arc<CaBundle>,
    pub snapshots: SnapshotCache,
    pub host_limiter: HostLimiter,
    pub accept: Arc<AcceptStats>,
    pub argon2: api::ops::Argon2Quota,
}

pub fn serve(config: ControllerConfig) -> Result<(), Fail> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("roster-controller")
        .build()
        .map_err(Fail::io("starting the runtime"))?;
    runtime.block_on(run(config))
}

async fn run(config: ControllerConfig) -> Result<(), Fail> {
    // The postgres client runs its own runtime: it connects off the
    // executor's threads, as every store call here does.
    let (conninfo, rules) = (config.store.conninfo.clone(), config.rules());
    let store = tokio::task::spawn_blocking(move || Store::open(&conninfo, rules))
        .await
        .map_err(|e| Fail::Usage(format!("opening the store: {e}")))??;
    let (epoch, head, host_rows, policies) = {
        let store = Arc::clone(&store);
        tokio::task::spawn_blocking(move || {
            store.with(|s| {
                s.fleet_read(|tx| {
                    let epoch = tx.epoch()?.ok_or_else(|| {
                        roster_core::Error::Config(
                            "the store isn't initialized: run `roster-controller init --admin NAME` first".into(),
                        )
                    })?;
                    let mut policies = HashMap::new();
                    for environment in tx.environments()? {
                        if let Some(policy) = tx.environment_settings(&environment.name)? {
                            policies.insert(environment.name, policy);
                        }
                    }
                    Ok((epoch, tx.change_head()?, tx.hosts(None)?, policies))
                })
            })
        })
        .await
        .map_err(|e| Fail::Usage(format!("reading the store: {e}")))??
    };
    let ca = Arc::new(CaBundle::load(&config.tls.ca_dir).map_err(Fail::pki)?);
    let chain = read(&config.tls.server_cert)?;
    let key = zeroize::Zeroizing::new(read(&config.tls.server_key)?);
    let tls = crate::tls::server_config(&chain, &key, &ca.trusted).map_err(Fail::pki)?;
    let limiter = AcceptLimiter::new(
        f64::from(config.limits.accept_rate),
        config.limits.accept_burst,
    )
    .map_err(Fail::pki)?;
    let acceptor = MtlsAcceptor::new(tls, limiter);
    let host_limiter =
        HostLimiter::new(f64::from(config.limits.host_rate), config.limits.host_burst)
            .map_err(Fail::pki)?;
    let metrics = Arc::new(Metrics::default());
    let hosts = HostDirectory::new(&host_rows);
    // The window starts `window_changes` behind the head and the feed
    // reads it full: hosts that synced with this replica (or another)
    // before a restart carry on from their cursors instead of all asking
    // for snapshots at once.
    let capacity = i64::try_from(config.limits.window_changes).unwrap_or(i64::MAX);
    let floor = head.saturating_sub(capacity).max(0);
    let feed = Feed::new(config.limits.window_changes, floor, head, epoch, policies);
    feed::spawn(
        Arc::clone(&store),
        Arc::clone(&feed),
        Arc::clone(&hosts),
        Arc::clone(&metrics),
    )
    .map_err(Fail::io("starting the feed thread"))?;
    let argon2 = api::ops::Argon2Quota::new(
        config.limits.argon2_per_host,
        roster_core::password::Hasher::new(&config.argon2)?,
    );
    let shared = Arc::new(Shared {
        argon2,
        store,
        snapshots: SnapshotCache::new(SnapshotLimits {
            at_once: config.limits.snapshots_at_once,
            queue: config.limits.snapshot_queue,
            queue_wait: config.limits.snapshot_queue_wait,
            send_timeout: config.limits.snapshot_send_timeout,
        }),
        host_limiter,
        config,
        feed,
        hosts,
        metrics,
        ca,
        accept: acceptor.stats(),
    });
    tokio::spawn(flush_activity(Arc::clone(&shared)));
    tokio::spawn(purge(Arc::clone(&shared)));
    tokio::spawn(prune_changes(Arc::clone(&shared)));

    let metrics_listener = tokio::net::TcpListener::bind(shared.config.listen.metrics)
        .await
        .map_err(Fail::io(format!(
            "listening on {} for /metrics",
            shared.config.listen.metrics
        )))?;
    let metrics_address = metrics_listener
        .local_addr()
        .map_err(Fail::io("the metrics listener's address"))?;
    tokio::spawn(serve_metrics(metrics_listener, Arc::clone(&shared)));

    let handle = axum_server::Handle::new();
    tokio::spawn(stop_on_signal(handle.clone()));
    let api = shared.config.listen.api;
    let idle = shared.config.limits.idle_timeout;
    let listener = listen_api(api).map_err(Fail::io(format!("listening on {api}")))?;
    let mut server = axum_server::from_tcp(listener)
        .map_err(Fail::io(format!("listening on {api}")))?
        .handle(handle.clone())
        .acceptor(acceptor)
        // The API is HTTP/1.1 only (the ALPN offered says so).
        .http1_only()
        // A connection that never sends its first request goes.
        .first_request_timeout(idle);
    server
        .http_builder()
        .http1()
        .max_buf_size(HTTP1_BUFFER_BYTES)
        .max_headers(MAX_HEADERS)
        // Runs while hyper waits for a request's head: between requests
        // (an idle kept-alive connection) and while one trickles in.
        .header_read_timeout(idle);
    let server = server.serve(api::router(Arc::clone(&shared)).into_make_service());
    let announce = async {
        if let Some(address) = handle.listening().await {
            announce(address, metrics_address);
        }
    };
    let (served, ()) = tokio::join!(server, announce);
    served.map_err(Fail::io(format!("serving hosts on {api}")))?;
    // Hosts' last activity is written before the process ends.
    if let Err(e) = shared.hosts.flush(&shared.store).await {
        eprintln!("roster-controller: writing hosts' last activity: {e}");
    }
    Ok(())
}

/// The hosts' listener's queue of connections not yet accepted. Hosts
/// reconnecting together (a restart, a failover: thousands within a
/// second) arrive faster than they are accepted; a short queue (tokio's
/// default is 1,024) drops their SYNs, and each dropped SYN costs a host
/// the kernel's retransmission, 1 s, then 3 s, 7 s, 15 s… The kernel caps
/// it at `net.core.somaxconn`.
const API_BACKLOG: u32 = 16_384;

fn listen_api(address: SocketAddr) -> std::io::Result<std::net::TcpListener> {
    let socket = if address.is_ipv4() {
        tokio::net::TcpSocket::new_v4()?
    } else {
        tokio::net::TcpSocket::new_v6()?
    };
    // As tokio's own bind: a restarted controller takes its port back at once.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(API_BACKLOG)?.into_std()
}

/// The line operators (and the tests) read to know where it listens.
fn announce(api: SocketAddr, metrics: SocketAddr) {
    eprintln!(
        "roster-controller: serving hosts on https://{api}, metrics on http://{metrics}/metrics"
    );
}

fn read(path: &std::path::Path) -> Result<String, Fail> {
    std::fs::read_to_string(path).map_err(Fail::io(format!("{}: reading", path.display())))
}

async fn stop_on_signal(handle: axum_server::Handle<SocketAddr>) {
    use tokio::signal::unix::{SignalKind, signal};
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        eprintln!("roster-controller: can't watch for SIGTERM; stop it with SIGKILL");
        return;
    };
    tokio::select! {
        _ = term.recv() => {}
        _ = int.recv() => {}
    }
    // Long polls end within their own time; a host reconnects elsewhere.
    handle.graceful_shutdown(Some(Duration::from_secs(2)));
}

async fn flush_activity(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(ACTIVITY_FLUSH);
    loop {
        every.tick().await;
        if let Err(e) = shared.hosts.flush(&shared.store).await {
            eprintln!("roster-controller: writing hosts' last activity: {e}");
        }
    }
}

async fn purge(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(PURGE_EVERY);
    loop {
        every.tick().await;
        let retention = i64::try_from(shared.config.report_retention.as_secs()).unwrap_or(i64::MAX);
        let cutoff = SystemClock.now().saturating_sub(retention);
        match shared
            .store
            .run(move |s| s.fleet_write(|tx| tx.purge_before(cutoff)))
            .await
        {
            Ok(counts) => {
                let gone = counts.audit + counts.reports + counts.requests;
                if gone > 0 {
                    eprintln!(
                        "roster-controller: past report_retention: removed {} audit rows, {} reports, {} request ids",
                        counts.audit, counts.reports, counts.requests
                    );
                }
            }
            Err(e) => eprintln!("roster-controller: removing rows past report_retention: {e}"),
        }
    }
}

/// Change-log rows go once no replica can need them: at or below the
/// lowest window floor any connected feed publishes (a cursor below it
/// gets the snapshot from every replica anyway) and older than the
/// longest `offline_grace` of any environment (what a host may still be
/// working from). One replica prunes at a time (an advisory lock); every
/// replica tries, so one stopping doesn't stop the pruning.
async fn prune_changes(shared: Arc<Shared>) {
    let mut every = tokio::time::interval(shared.config.limits.change_log_prune_every);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        every.tick().await;
        let mut removed = 0;
        // Pass after pass (each a short transaction) while one removes a
        // whole batch.
        loop {
            let now = SystemClock.now();
            let pass = shared
                .store
                .run(move |s| s.fleet_write(|tx| prune_once(tx, now)))
                .await;
            match pass {
                Ok(Some(rows)) => {
                    removed += rows;
                    shared
                        .metrics
                        .changes_pruned
                        .fetch_add(rows, Ordering::Relaxed);
                    if rows < u64::from(PRUNE_BATCH) {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    eprintln!("roster-controller: pruning the change log: {e}");
                    break;
                }
            }
        }
        if removed > 0 {
            eprintln!("roster-controller: pruned {removed} change-log rows no replica needs");
        }
    }
}

/// Change-log rows one pruning pass removes at most: the pass holds the
/// store's write lock, so writers wait for one batch, never the backlog.
const PRUNE_BATCH: u32 = 10_000;

/// One pruning pass: how many rows went (`None`: none may, or another
/// replica is pruning).
fn prune_once(tx: &roster_store_postgres::PgTx<'_>, now: i64) -> roster_core::Result<Option<u64>> {
    let Some(floor) = tx.lowest_feed_floor()? else {
        return Ok(None);
    };
    // Every environment's grace (its default when never set); the
    // default's when there is none at all.
    let mut longest_grace = None;
    for environment in tx.environments()? {
        let grace = tx
            .environment_settings(&environment.name)?
            .unwrap_or_default()
            .offline_grace;
        longest_grace = longest_grace.max(Some(grace));
    }
    let longest_grace = longest_grace
        .unwrap_or_else(|| roster_core::fleet::EnvironmentPolicy::default().offline_grace);
    let grace = i64::try_from(longest_grace.as_secs()).unwrap_or(i64::MAX);
    tx.prune_changes(floor, now.saturating_sub(grace), PRUNE_BATCH)
}

async fn serve_metrics(listener: tokio::net::TcpListener, shared: Arc<Shared>) {
    use axum::routing::get;
    let router = axum::Router::new().route(
        "/metrics",
        get(move || {
            let shared = Arc::clone(&shared);
            async move {
                let accept = AcceptCounters {
                    limiter_drops: shared.accept.limiter_drops.load(Ordering::Relaxed),
                    handshake_failures: shared.accept.handshake_failures.load(Ordering::Relaxed),
                };
                (
                    [(
                        axum::http::header::CONTENT_TYPE,
                        "text/plain; version=0.0.4",
                    )],
                    shared.metrics.render(shared.hosts.count(), &accept),
                )
            }
        }),
    );
    if let Err(e) = axum::serve(listener, router).await {
        eprintln!("roster-controller: the metrics listener stopped: {e}");
    }
}
