#!/usr/bin/env bash
# The controller's figures (issue 16), side by side in one run:
#
#   scripts/bench-controller.sh      # as root (PostgreSQL refuses to run as root: the
#                                    # bench starts it as the postgres user)
#
# a committed change → visible in 100 waiting long polls (p50/p99 over 200
# changes), mTLS connections accepted per second, the controller's RSS per
# open long poll, and a full environment snapshot for 100,000 users. It
# builds the controller and the bench in release (two cargo runs, so the
# bench's test-only features never reach the controller binary) and starts
# a private PostgreSQL 15 in /tmp like the tests. Knobs (environment):
# ROSTER_BENCH_POLLS, ROSTER_BENCH_CHANGES, ROSTER_BENCH_IDLE,
# ROSTER_BENCH_USERS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
roster_install_deps
cargo build --release -p roster-controller --bin roster-controller
cargo build --release -p roster-controller --example fleet_bench
ROSTER_CONTROLLER_BIN="$PWD/target/release/roster-controller" \
    ROSTER_TESTS_REQUIRE_ALL=1 target/release/examples/fleet_bench
