#!/usr/bin/env bash
# Runs every test: formatting, clippy, unit and property tests, and the
# end-to-end tests against a real dbus-daemon, rosterd, libpam and glibc NSS,
# and the packages installed into a fresh Debian root (scripts/install-test.sh).
# Installs the Debian packages it needs (as root) when they are missing.
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
roster_install_deps
roster_install_patroni

step() { printf '\n==> %s\n' "$*" >&2; }

step "format"
cargo fmt --all --check

step "build (workspace and the two modules, each alone)"
cargo build --all-targets
roster_build_modules

step "what each crate may link (DESIGN.md)"
# Only the controller may link a PostgreSQL client or an HTTP server; rosterd
# gains an HTTPS client for fleet mode (the sync agent: rustls on ring, no
# OpenSSL, no aws-lc) and nothing else; the CLI and core link no HTTP or TLS
# at all; the modules, which run inside other people's processes, link no
# store and no runtime either.
forbidden='^(postgres|tokio-postgres|postgres-protocol|hyper|axum|axum-server|rustls|tokio-rustls) '
no_store_no_server='^(postgres|tokio-postgres|postgres-protocol|axum|axum-server|openssl|openssl-sys|aws-lc-rs|aws-lc-sys) '
# The tree is taken first, so a cargo tree that fails fails the run rather
# than passing the check unseen.
links() { cargo tree -p "$1" -e normal --prefix none; }
tree=$(links rosterd)
if grep -E "$no_store_no_server" <<<"$tree"; then
    echo "rosterd links a PostgreSQL client, an HTTP server, OpenSSL or aws-lc (above): it may have the fleet agent's rustls client only" >&2
    exit 1
fi
# The host simulator (a test tool) links the agent and no more: its
# controllers and PostgreSQL are its tests' dev-dependencies.
for pkg in roster roster-fleet-agent roster-fleet-sim; do
    tree=$(links "$pkg")
    if grep -E "$no_store_no_server" <<<"$tree"; then
        echo "$pkg links a PostgreSQL client, an HTTP server, OpenSSL or aws-lc (above)" >&2
        exit 1
    fi
done
tree=$(links roster)
if grep -E "$forbidden" <<<"$tree"; then
    echo "roster links an HTTP/TLS stack (above): the CLI asks rosterd, which talks to the controller" >&2
    exit 1
fi
# Core runs inside rosterd: no PostgreSQL client may reach it through a
# feature either.
tree=$(links roster-core)
if grep -E "$forbidden" <<<"$tree"; then
    echo "roster-core links a PostgreSQL client or an HTTP/TLS stack (above): only the controller may" >&2
    exit 1
fi
# The controller's TLS is rustls on ring: no OpenSSL, no aws-lc (a long C
# build on two CPUs).
tree=$(links roster-controller)
if grep -E '^(openssl|openssl-sys|aws-lc-rs|aws-lc-sys) ' <<<"$tree"; then
    echo "roster-controller links OpenSSL or aws-lc (above): keep rustls on ring" >&2
    exit 1
fi
for module in nss_roster pam_roster; do
    tree=$(links "$module")
    if grep -E "$forbidden|^(rusqlite|roster-core|tokio) " <<<"$tree"; then
        echo "$module links a store, a runtime or an HTTP stack (above): the modules must not" >&2
        exit 1
    fi
done

step "clippy"
cargo clippy --all-targets -- -D warnings
cargo clippy -p nss_roster --all-targets --target-dir target/nss -- -D warnings
cargo clippy -p pam_roster --all-targets --target-dir target/pam -- -D warnings

# A test that can't run here (no root, no unshare, no sshd) fails rather
# than skips: a green run means every test ran.
export ROSTER_TESTS_REQUIRE_ALL=1
export ROSTER_BIN_DIR="$PWD/target/debug"
export ROSTER_NSS_SO="$PWD/target/nss/modules/libnss_roster.so"
export ROSTER_PAM_SO="$PWD/target/pam/modules/libpam_roster.so"

step "tests"
cargo test
cargo test -p nss_roster --target-dir target/nss --release
cargo test -p pam_roster --target-dir target/pam --release

step "packages: build, lintian, install into a fresh Debian root, log in, purge"
scripts/install-test.sh

step "all tests passed"
