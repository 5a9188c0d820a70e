#!/usr/bin/env bash
# Runs every test: formatting, clippy, unit and property tests, and the
# end-to-end tests against a real dbus-daemon, rosterd, libpam and glibc NSS,
# and the packages installed into a fresh Debian root (scripts/install-test.sh).
# Installs the Debian packages it needs (as root) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
roster_install_deps

step() { printf '\n==> %s\n' "$*" >&2; }

step "format"
cargo fmt --all --check

step "build (workspace and the two modules, each alone)"
cargo build --all-targets
roster_build_modules

step "clippy"
cargo clippy --all-targets -- -D warnings
cargo clippy -p nss_roster --all-targets --target-dir target/nss -- -D warnings
cargo clippy -p pam_roster --all-targets --target-dir target/pam -- -D warnings

# A test that can't run here (no root, no unshare, no sshd) fails rather
# than skips: a green run means every test ran.
export ROSTER_TESTS_REQUIRE_ALL=1
export ROSTER_BIN_DIR="$PWD/target/debug"
export ROSTER_NSS_SO="$PWD/target/nss/release/libnss_roster.so"
export ROSTER_PAM_SO="$PWD/target/pam/release/libpam_roster.so"

step "tests"
cargo test
cargo test -p nss_roster --target-dir target/nss --release
cargo test -p pam_roster --target-dir target/pam --release

step "packages: build, lintian, install into a fresh Debian root, log in, purge"
scripts/install-test.sh

step "all tests passed"
