#!/usr/bin/env bash
# The demo: builds Roster, starts a private dbus-daemon and rosterd on a
# throw-away database and config, and manages users with the real CLI,
# without touching the host's /etc. Installs missing Debian packages (root).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/deps.sh
roster_install_deps

say() { printf '\n\033[1m$ %s\033[0m\n' "$*"; }
run() { say "$*"; "$@"; }

cargo build --quiet -p rosterd -p roster
roster_build_modules >/dev/null 2>&1 || roster_build_modules
bin="$PWD/target/debug"

demo=$(mktemp -d /tmp/roster-demo.XXXXXX)
chmod 0755 "$demo"
cleanup() {
    [[ -n ${rosterd_pid:-} ]] && kill "$rosterd_pid" 2>/dev/null && wait "$rosterd_pid" 2>/dev/null
    [[ -n ${bus_pid:-} ]] && kill "$bus_pid" 2>/dev/null
    rm -rf "$demo"
}
trap cleanup EXIT

# A private bus with the policy Roster ships.
sed -e "s|@SOCKET@|$demo/bus|" -e "s|@POLICY@|$PWD/packaging/dbus/org.roster.Roster1.conf|" \
    scripts/private-bus.conf.in >"$demo/bus.conf"
dbus-daemon --config-file="$demo/bus.conf" --nofork --nopidfile &
bus_pid=$!
export DBUS_SYSTEM_BUS_ADDRESS="unix:path=$demo/bus"

# A throw-away database and snapshot; the host's files are only read.
cat >"$demo/rosterd.toml" <<TOML
database  = "$demo/state/roster.db"
nss_cache = "$demo/cache/nss.cache"
home_base = "$demo/home"

[argon2]
memory_kib = 19456
TOML
for _ in $(seq 50); do [[ -S $demo/bus ]] && break; sleep 0.1; done
"$bin/rosterd" --config "$demo/rosterd.toml" 2>"$demo/rosterd.log" &
rosterd_pid=$!
for _ in $(seq 100); do "$bin/roster" whoami >/dev/null 2>&1 && break; sleep 0.1; done

roster() { "$bin/roster" "$@"; }

echo "rosterd is up on a private bus ($DBUS_SYSTEM_BUS_ADDRESS), database $demo/state/roster.db"
run roster whoami
say "roster users create alice --set-role admin --display-name 'Alice Admin' --password-stdin"
echo 'correct horse battery staple' | roster users create alice --set-role admin --display-name 'Alice Admin' --password-stdin
say "roster users create bob --display-name 'Bob Builder' --password-stdin"
echo 'builder-of-things-42' | roster users create bob --display-name 'Bob Builder' --password-stdin
run roster environments add staging
run roster environments list
run roster users grant bob write
run roster users grant bob read --environment staging
run roster users list
run roster users show bob
run roster users revoke bob write
run roster users suspend bob
run roster users list
run roster users list --all
run roster users enable bob
run roster users list --json
echo
echo "done: everything above ran against $demo and is removed now."
