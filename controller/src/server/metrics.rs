//! `/metrics`, Prometheus text on its own plain-HTTP listener (keep it on
//! loopback or a management network): connected hosts, the feed's head
//! and lag, requests by endpoint and outcome, and what the limiters
//! turned away.

use std::fmt::Write;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

#[derive(Debug, Default)]
pub struct Metrics {
    /// Long polls waiting now.
    pub long_polls: AtomicI64,
    pub feed_head: AtomicI64,
    /// Seconds between the newest change's commit and the feed reading it.
    pub feed_lag_seconds: AtomicI64,
    pub feed_errors: AtomicU64,
    pub enroll_ok: AtomicU64,
    pub enroll_refused: AtomicU64,
    pub sync_answers: AtomicU64,
    pub sync_too_old: AtomicU64,
    pub snapshots_built: AtomicU64,
    pub snapshots_served: AtomicU64,
    /// Requests that waited for a snapshot slot.
    pub snapshot_queued: AtomicU64,
    /// Snapshot requests answered 429 (the queue full, or no turn in
    /// time).
    pub snapshot_refused: AtomicU64,
    /// Snapshots cut off at `snapshot_send_timeout`.
    pub snapshot_send_timeouts: AtomicU64,
    /// Requests answered 429 because their host was over its own limit.
    pub host_throttled: AtomicU64,
    /// Long polls held back because their host polled faster than its
    /// rate.
    pub host_paced: AtomicU64,
    /// Change-log rows pruned.
    pub changes_pruned: AtomicU64,
    pub refused: AtomicU64,
    pub ops_answered: AtomicU64,
    pub reports: AtomicU64,
    pub renewals: AtomicU64,
}

/// The limiter counters the TLS acceptor keeps.
pub struct AcceptCounters {
    pub limiter_drops: u64,
    pub handshake_failures: u64,
}

impl Metrics {
    pub fn render(&self, known_hosts: usize, accept: &AcceptCounters) -> String {
        let mut out = String::new();
        let mut gauge = |name: &str, help: &str, kind: &str, value: String| {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} {kind}\n{name} {value}"
            );
        };
        let load = |v: &AtomicU64| v.load(Ordering::Relaxed).to_string();
        gauge(
            "roster_connected_hosts",
            "Long polls waiting on this replica now.",
            "gauge",
            self.long_polls.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "roster_known_hosts",
            "Enrolled hosts this replica knows of.",
            "gauge",
            known_hosts.to_string(),
        );
        gauge(
            "roster_feed_head",
            "The newest change sequence in the window.",
            "gauge",
            self.feed_head.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "roster_feed_lag_seconds",
            "Seconds between the newest change's commit and the feed reading it.",
            "gauge",
            self.feed_lag_seconds.load(Ordering::Relaxed).to_string(),
        );
        gauge(
            "roster_feed_errors_total",
            "Times the feed lost the store.",
            "counter",
            load(&self.feed_errors),
        );
        gauge(
            "roster_enroll_total",
            "Enrollments that succeeded.",
            "counter",
            load(&self.enroll_ok),
        );
        gauge(
            "roster_enroll_refused_total",
            "Enrollments refused.",
            "counter",
            load(&self.enroll_refused),
        );
        gauge(
            "roster_sync_answers_total",
            "Long polls answered.",
            "counter",
            load(&self.sync_answers),
        );
        gauge(
            "roster_sync_too_old_total",
            "Cursors sent to the snapshot (410).",
            "counter",
            load(&self.sync_too_old),
        );
        gauge(
            "roster_snapshots_built_total",
            "Environment snapshots built.",
            "counter",
            load(&self.snapshots_built),
        );
        gauge(
            "roster_snapshots_served_total",
            "Snapshots served.",
            "counter",
            load(&self.snapshots_served),
        );
        gauge(
            "roster_snapshot_queued_total",
            "Snapshot requests that waited for the limiter.",
            "counter",
            load(&self.snapshot_queued),
        );
        gauge(
            "roster_snapshot_refused_total",
            "Snapshot requests told to retry later (429): the queue was full or no turn came in time.",
            "counter",
            load(&self.snapshot_refused),
        );
        gauge(
            "roster_snapshot_send_timeouts_total",
            "Snapshots cut off at snapshot_send_timeout.",
            "counter",
            load(&self.snapshot_send_timeouts),
        );
        gauge(
            "roster_host_throttled_total",
            "Requests refused (429) because their host was over its own rate.",
            "counter",
            load(&self.host_throttled),
        );
        gauge(
            "roster_host_paced_total",
            "Long polls held back (up to 1 s) because their host polled faster than its rate.",
            "counter",
            load(&self.host_paced),
        );
        gauge(
            "roster_changes_pruned_total",
            "Change-log rows this replica pruned.",
            "counter",
            load(&self.changes_pruned),
        );
        gauge(
            "roster_refused_total",
            "Requests answered with a 4xx.",
            "counter",
            load(&self.refused),
        );
        gauge(
            "roster_limiter_drops_total",
            "Connections closed by the accept limiter.",
            "counter",
            accept.limiter_drops.to_string(),
        );
        gauge(
            "roster_handshake_failures_total",
            "TLS handshakes that failed.",
            "counter",
            accept.handshake_failures.to_string(),
        );
        out
    }
}
