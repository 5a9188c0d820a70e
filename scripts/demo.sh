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

# NSS: resolve Roster users through glibc, as sshd and `id` do. nss_wrapper
# loads libnss_roster.so.2 for these commands only (the host's nsswitch.conf
# is untouched); the module reads rosterd's snapshot.
cp /etc/passwd "$demo/passwd"; cp /etc/group "$demo/group"
nss=(env LD_PRELOAD=libnss_wrapper.so
     NSS_WRAPPER_PASSWD="$demo/passwd" NSS_WRAPPER_GROUP="$demo/group"
     NSS_WRAPPER_MODULE_SO_PATH="$PWD/target/nss/modules/libnss_roster.so.2"
     NSS_WRAPPER_MODULE_FN_PREFIX=roster ROSTER_NSS_CACHE="$demo/cache/nss.cache")
say "getent passwd bob alice   # through nss_wrapper + libnss_roster.so.2"
"${nss[@]}" getent passwd bob alice
say "getent group roster-admins"
"${nss[@]}" getent group roster-admins
say "id bob"
"${nss[@]}" id bob

# PAM: the packaged profile's lines after pam_unix, in a service folder of
# the demo's own (pam_wrapper), with pam_roster talking to the private bus.
run roster users grant bob write   # write lets bob log in to this host's environment
pam_so="$PWD/target/pam/modules/pam_roster.so"
opts="bus=$DBUS_SYSTEM_BUS_ADDRESS snapshot=$demo/cache/nss.cache"
mkdir -p "$demo/pam.d"
cat >"$demo/pam.d/roster-demo" <<PAM
auth     [success=2 default=ignore]                     pam_unix.so nullok
auth     [success=1 new_authtok_reqd=done default=ignore] $pam_so use_first_pass $opts
auth     requisite                                      pam_deny.so
auth     required                                       pam_permit.so
account  [success=1 new_authtok_reqd=done default=ignore] pam_unix.so
account  requisite                                      pam_deny.so
account  required                                       pam_permit.so
account  [default=bad success=ok new_authtok_reqd=done user_unknown=ignore] $pam_so $opts
session  optional                                       $pam_so $opts
PAM
pam=("${nss[@]}" LD_PRELOAD="libpam_wrapper.so libnss_wrapper.so"
     PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$demo/pam.d")
pam_run() {
    "${pam[@]}" pamtester -v "$@" 2>&1 | grep -v '^PWRAP_ERROR.*no default config'
    return "${PIPESTATUS[0]}"
}
say "pamtester roster-demo bob authenticate acct_mgmt open_session close_session   # the right password"
echo 'builder-of-things-42' | pam_run roster-demo bob authenticate acct_mgmt open_session close_session
say "pamtester roster-demo bob authenticate   # a wrong password"
echo 'not-the-password' | pam_run roster-demo bob authenticate || echo "(refused, as it should be)"
run roster users sessions --all
run roster users suspend bob
say "pamtester roster-demo bob authenticate acct_mgmt   # suspended"
echo 'builder-of-things-42' | pam_run roster-demo bob authenticate acct_mgmt || echo "(refused: bob is suspended)"
run roster users enable bob
echo
echo "done: everything above ran against $demo and is removed now."
