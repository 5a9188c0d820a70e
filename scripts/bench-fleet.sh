#!/usr/bin/env bash
# Fleet hosts' figures (issue 17, "Performance"), side by side in one run:
#
#   scripts/bench-fleet.sh      # as root (PostgreSQL refuses to run as root: the
#                               # bench starts it as the postgres user)
#
# a change committed at the controller → applied on three real hosts
# (p50/p99/max over 50 creates and suspensions), the full sync of a
# 100,000-user environment on a fourth host (`roster hosts join`, its
# split, a forced resync, a change applied there afterwards), and a login
# (PAM auth + account, default argon2 cost) on a fleet host against a
# standalone host's, interleaved, plus on the fleet host with its
# controller killed. Every host is a real rosterd with its own private
# dbus-daemon and database, joined with `roster hosts join` to a real
# roster-controller on loopback; logins go through real libpam, the
# modules and nss_wrapper. It builds rosterd, roster, the controller and
# the modules in release, then the bench (a second cargo run, so the
# bench's test-only features never reach the binaries it measures).
# Knobs (environment): ROSTER_BENCH_CHANGES (≤ 50), ROSTER_BENCH_LOGINS,
# ROSTER_BENCH_USERS.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
roster_install_deps
cargo build --release -p rosterd -p roster -p roster-controller
cargo build --profile modules -p pam_roster --target-dir target/pam
cargo build --profile modules -p nss_roster --target-dir target/nss
export ROSTER_BIN_DIR="$PWD/target/release"
export ROSTER_PAM_SO="$PWD/target/pam/modules/libpam_roster.so"
export ROSTER_NSS_SO="$PWD/target/nss/modules/libnss_roster.so"
export ROSTER_TESTS_REQUIRE_ALL=1
cargo bench -p roster-tests --bench fleet_bench
