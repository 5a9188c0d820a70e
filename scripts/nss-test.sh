#!/bin/sh
# The NSS module's tests, the way scripts/test.sh runs them: build
# libnss_roster.so alone into its own target dir (DESIGN.md: feature
# unification), point the tests at it, run the format crate's and the
# module's tests. The real-glibc tests need root and unshare -m; without
# them they print "*** SKIPPED …" (run with --nocapture to see it).
set -eu
cd "$(dirname "$0")/.."
cargo build --profile modules -p nss_roster --target-dir target/nss
ROSTER_NSS_SO=$(pwd)/target/nss/modules/libnss_roster.so
export ROSTER_NSS_SO
cargo test -p roster-snapshot "$@"
cargo test -p nss_roster --target-dir target/nss "$@"
