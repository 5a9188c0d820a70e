#!/usr/bin/env bash
# Fleet at scale (issue 18, "Performance"), from one run, with the load
# average: N simulated hosts (the real agent, each its own key,
# certificate, mTLS connection, cursor and backoff; fleet-sim) against
# one real roster-controller on loopback, sharing the machine's CPUs:
#
#   scripts/bench-fleet-scale.sh      # as root (the bench starts PostgreSQL 15
#                                     # as the postgres user)
#
# enrollment time, all hosts connected, a suspension → all hosts
# p50/p99/max, the reconnect storm after a SIGKILL of the controller
# (all back, full resyncs), the controller's RSS per connected host and
# the simulator's per agent. Builds the controller in release, then the
# bench (release too). Knobs (environment): ROSTER_BENCH_HOSTS (default
# 10000), ROSTER_BENCH_BACKOFF_MAX (seconds: the agents' backoff cap,
# rosterd's default unless set), ROSTER_SIM_ACCEPT_RATE / ROSTER_SIM_ACCEPT_BURST (the
# controller's accept limiter for the run), ROSTER_SIM_PLAIN_STORE (1, the
# default here: one plain PostgreSQL, so the figures are the controller's;
# 0: the Patroni tier the scenario tests use, synchronous replication and all).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
roster_install_deps
export ROSTER_SIM_PLAIN_STORE="${ROSTER_SIM_PLAIN_STORE:-1}"
[ "$ROSTER_SIM_PLAIN_STORE" = 1 ] || roster_install_patroni
cargo build --release -p roster-controller
export ROSTER_CONTROLLER_BIN="$PWD/target/release/roster-controller"
export ROSTER_TESTS_REQUIRE_ALL=1
# Each host holds a socket in the simulator and one in the controller.
ulimit -n "$(( $(ulimit -Hn) < 65536 ? $(ulimit -Hn) : 65536 ))"
cargo bench -p roster-fleet-sim --bench fleet_scale
