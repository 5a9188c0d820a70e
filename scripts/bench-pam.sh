#!/usr/bin/env bash
# bench-pam.sh: how long `pamtester SERVICE USER authenticate` takes through
# pam_roster, pam_permit and pam_unix (a yescrypt entry), side by side in
# one run, plus one bare argon2id verify with rosterd's default parameters,
# and pam_roster for a user whose hash has argon2's minimal cost (all of a
# login but the hash).
# Writes the figures to pam-module/BENCH.md.
#
#   sudo scripts/bench-pam.sh [ROUNDS]      (default 31 rounds, interleaved)
#
# Everything runs on temp files: a private dbus-daemon and rosterd (default
# argon2 parameters: m=19456 KiB, t=2, p=1), and, for pam_unix, a private
# mount namespace (unshare -m) in which a temp passwd and shadow are bound
# over /etc/passwd and /etc/shadow, so the host's files are never read or
# written. Users resolve through nss_wrapper (the same for all three
# stacks): the local one from a temp passwd file, the Roster one through
# the real libnss_roster.so.2.
#
# The bars (issue 5 §8): pam_roster <= 0.5 x pam_unix, and
# pam_roster - pam_permit - one argon2 verify <= 2 ms; issue 15 lowers the
# second to 1.5 ms. The last line printed is that overhead figure.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
ROUNDS=${1:-31}

[ "$(id -u)" = 0 ] || { echo "bench-pam.sh: run as root (unshare -m, bind mounts)" >&2; exit 1; }
for tool in pamtester dbus-daemon unshare cc; do
    command -v "$tool" >/dev/null || { echo "bench-pam.sh: $tool is missing" >&2; exit 1; }
done
PAM_WRAPPER=/usr/lib/x86_64-linux-gnu/libpam_wrapper.so
NSS_WRAPPER=/usr/lib/x86_64-linux-gnu/libnss_wrapper.so
SECURITY=/usr/lib/x86_64-linux-gnu/security
for f in "$PAM_WRAPPER" "$NSS_WRAPPER" "$SECURITY/pam_unix.so"; do
    [ -e "$f" ] || { echo "bench-pam.sh: $f is missing (libpam-wrapper, libnss-wrapper)" >&2; exit 1; }
done

echo "==> building (the two modules alone, rosterd and roster, the argon2 probe)" >&2
cargo build -q --profile modules -p pam_roster --target-dir target/pam
cargo build -q --profile modules -p nss_roster --target-dir target/nss
# rosterd as shipped: a release build (a debug rosterd adds ~30 ms a call).
BIN=${ROSTER_BIN_DIR:-$ROOT/target/release}
if [ -z "${ROSTER_BIN_DIR:-}" ]; then cargo build -q --release -p rosterd -p roster; fi
cargo build -q --release --manifest-path tests/pam/bench-argon2/Cargo.toml --target-dir target/bench-pam
PAM_SO=$ROOT/target/pam/modules/libpam_roster.so
NSS_SO=$ROOT/target/nss/modules/libnss_roster.so.2
[ -e "$NSS_SO" ] || NSS_SO=$ROOT/target/nss/modules/libnss_roster.so

TMP=$(mktemp -d /tmp/roster-bench-pam.XXXXXX)
PIDS=()
cleanup() {
    for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$TMP"
}
trap cleanup EXIT
mkdir -p "$TMP"/{etc,db,cache,home,pam.d,nss}
chmod 700 "$TMP/db"
cc -O1 -o "$TMP/yescrypt" tests/pam/yescrypt.c -lcrypt
cc -O2 -o "$TMP/pam_driver" tests/pam/pam_driver.c -lpam

echo "==> private bus and rosterd" >&2
cat >"$TMP/bus.conf" <<EOF
<!DOCTYPE busconfig PUBLIC "-//freedesktop//DTD D-Bus Bus Configuration 1.0//EN"
 "http://www.freedesktop.org/standards/dbus/1.0/busconfig.dtd">
<busconfig>
  <type>system</type>
  <listen>unix:path=$TMP/bus</listen>
  <auth>EXTERNAL</auth>
  <policy context="default">
    <allow user="*"/><allow own="*"/>
    <allow send_type="method_call"/><allow send_type="signal"/>
    <allow send_requested_reply="true" send_type="method_return"/>
    <allow send_requested_reply="true" send_type="error"/>
    <allow receive_type="method_call"/><allow receive_type="method_return"/>
    <allow receive_type="error"/><allow receive_type="signal"/>
  </policy>
</busconfig>
EOF
dbus-daemon --config-file="$TMP/bus.conf" --nofork --nopidfile 2>/dev/null &
PIDS+=($!)
BUS="unix:path=$TMP/bus"
for _ in $(seq 100); do [ -S "$TMP/bus" ] && break; sleep 0.05; done

printf 'root:x:0:0:root:/root:/bin/bash\nnobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n' >"$TMP/etc/passwd"
printf 'root:x:0:\nnogroup:x:65534:\n' >"$TMP/etc/group"
printf 'UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n' >"$TMP/etc/login.defs"
: >"$TMP/etc/subuid"; : >"$TMP/etc/subgid"
cat >"$TMP/rosterd.toml" <<EOF
database = "$TMP/db/roster.db"
nss_cache = "$TMP/cache/nss.cache"
passwd_file = "$TMP/etc/passwd"
group_file = "$TMP/etc/group"
login_defs = "$TMP/etc/login.defs"
subuid_file = "$TMP/etc/subuid"
subgid_file = "$TMP/etc/subgid"
home_base = "$TMP/home"
EOF
# The minimal argon2id cost argon2 allows (8 KiB, one pass): `bob`'s hash is
# made with it, so his logins measure everything pam_roster does but the
# hash (rosterd verifies with the parameters in the stored PHC string).
cp "$TMP/rosterd.toml" "$TMP/rosterd-cheap.toml"
printf '[argon2]\nmemory_kib = 8\niterations = 1\n' >>"$TMP/rosterd-cheap.toml"
roster() { DBUS_SYSTEM_BUS_ADDRESS=$BUS "$BIN/roster" "$@"; }
ROSTERD_PID=
start_rosterd() { # CONFIG
    DBUS_SYSTEM_BUS_ADDRESS=$BUS "$BIN/rosterd" --config "$1" --audit-log "$TMP/audit.log" --syslog-socket "$TMP/no-syslog" 2>>"$TMP/rosterd.log" &
    ROSTERD_PID=$!
    PIDS+=($!)
    for _ in $(seq 200); do roster whoami >/dev/null 2>&1 && return; sleep 0.05; done
    echo "bench-pam.sh: rosterd did not come up: $(cat "$TMP/rosterd.log")" >&2
    exit 1
}
PASSWORD='correct horse 1'
start_rosterd "$TMP/rosterd-cheap.toml"
printf '%s\n' "$PASSWORD" | roster users create bob --password-stdin >/dev/null
roster users grant bob write >/dev/null
kill "$ROSTERD_PID"; wait "$ROSTERD_PID" 2>/dev/null || true
# Then rosterd as shipped: DESIGN.md's parameters for alice and the dummy.
start_rosterd "$TMP/rosterd.toml"
printf '%s\n' "$PASSWORD" | roster users create alice --password-stdin >/dev/null
roster users grant alice write >/dev/null

echo "==> service files and the yescrypt entry" >&2
echo "auth required $SECURITY/pam_permit.so" >"$TMP/pam.d/bench-permit"
echo "auth required $SECURITY/pam_unix.so" >"$TMP/pam.d/bench-unix"
echo "auth required $PAM_SO bus=$BUS snapshot=$TMP/cache/nss.cache" >"$TMP/pam.d/bench-roster"
HASH=$("$TMP/yescrypt" "$PASSWORD")
# The private copies bound over /etc inside the namespace.
printf 'root:x:0:0:root:/root:/bin/bash\nlocal:x:1000:1000::/home/local:/bin/sh\n' >"$TMP/nss/passwd"
printf 'root:x:0:\nlocal:x:1000:\n' >"$TMP/nss/group"
printf 'root:*:19000:0:99999:7:::\nlocal:%s:19000:0:99999:7:::\n' "$HASH" >"$TMP/nss/shadow"
chmod 640 "$TMP/nss/shadow"

cat >"$TMP/measure.sh" <<'EOF'
set -euo pipefail
mount --make-rprivate /
mount --bind "$TMP/nss/passwd" /etc/passwd
mount --bind "$TMP/nss/shadow" /etc/shadow
export LD_PRELOAD="$PAM_WRAPPER:$NSS_WRAPPER" PAM_WRAPPER=1 PAM_WRAPPER_SERVICE_DIR="$TMP/pam.d"
export NSS_WRAPPER_PASSWD="$TMP/nss/passwd" NSS_WRAPPER_GROUP="$TMP/nss/group"
export NSS_WRAPPER_MODULE_SO_PATH="$NSS_SO" NSS_WRAPPER_MODULE_FN_PREFIX=roster
export ROSTER_NSS_CACHE="$TMP/cache/nss.cache"
# The password comes from a here-string, not `printf | pamtester`: pam_permit
# never reads it, so a pipe's writer, run late on a loaded machine, could
# die of SIGPIPE and fail the pipeline (pipefail).
one() { # SERVICE USER -> ms
    local t0=$EPOCHREALTIME
    pamtester "$1" "$2" authenticate <<<"$PASSWORD" >/dev/null 2>"$TMP/last.err" \
        || { echo "pamtester $1 $2 failed: $(cat "$TMP/last.err")" >&2; exit 1; }
    local t1=$EPOCHREALTIME
    echo "scale=3; (${t1/./} - ${t0/./}) / 1000" | bc
}
# `local` through pam_roster: user-unknown at once (the module's load and
# its snapshot check, no rosterd call); pamtester's exit status is then 1.
unknown() {
    local t0=$EPOCHREALTIME
    pamtester bench-roster local authenticate <<<"$PASSWORD" >/dev/null 2>&1 || true
    local t1=$EPOCHREALTIME
    echo "scale=3; (${t1/./} - ${t0/./}) / 1000" | bc
}
# pam_authenticate alone, timed inside one pam_driver process (no exec,
# no libpam start-up): the modules' own cost. pam_start_confdir reads the
# same service files, so pam_wrapper is left out.
inproc() { # SERVICE USER -> ms
    LD_PRELOAD=$NSS_WRAPPER "$TMP/pam_driver" --confdir "$TMP/pam.d" "$1" "$2" auth <<<"$PASSWORD" >"$TMP/driver.out" 2>&1 \
        || { echo "pam_driver $1 $2 failed: $(cat "$TMP/driver.out")" >&2; exit 1; }
    local line
    line=$(grep '^step auth ' "$TMP/driver.out") || { echo "pam_driver $1 $2: $(cat "$TMP/driver.out")" >&2; exit 1; }
    [ "$(echo "$line" | cut -d' ' -f3)" = 0 ] || { echo "pam_driver $1 $2 refused: $line" >&2; exit 1; }
    echo "$line" | sed -n 's/.* ms=\([0-9.]*\) .*/\1/p'
}
for _ in 1 2 3; do one bench-permit local >/dev/null; one bench-unix local >/dev/null; one bench-roster alice >/dev/null; one bench-roster bob >/dev/null; done
# Interleaved, with one argon2 verify per round, so every figure is taken
# under the same load (the machine may be shared).
for _ in $(seq "$ROUNDS"); do
    echo "permit $(one bench-permit local)"
    echo "unix $(one bench-unix local)"
    echo "roster $(one bench-roster alice)"
    echo "cheap $(one bench-roster bob)"
    echo "inproc_permit $(inproc bench-permit local)"
    echo "inproc_cheap $(inproc bench-roster bob)"
    echo "inproc_roster $(inproc bench-roster alice)"
    echo "unknown $(unknown)"
    env -u LD_PRELOAD "$ARGON2_PROBE" | sed -E 's/^(argon2_fresh|argon2_kept|yescrypt)_ms /\1 /'
done
EOF
echo "==> measuring ($ROUNDS rounds, interleaved)" >&2
# The same values, handed to the child's environment (it reads them there).
# shellcheck disable=SC2097,SC2098
TMP=$TMP PAM_WRAPPER=$PAM_WRAPPER NSS_WRAPPER=$NSS_WRAPPER NSS_SO=$NSS_SO PASSWORD=$PASSWORD ROUNDS=$ROUNDS \
    ARGON2_PROBE=$ROOT/target/bench-pam/release/bench-argon2 \
    unshare -m bash "$TMP/measure.sh" >"$TMP/times"
# A failure inside $(...) leaves an empty figure rather than stopping.
if grep -qvE '^[a-z0-9_]+ [0-9.]+$' "$TMP/times" || [ "$(grep -c '^roster ' "$TMP/times")" != "$ROUNDS" ]; then
    echo "bench-pam.sh: a measurement failed:" >&2
    grep -vE '^[a-z0-9_]+ [0-9.]+$' "$TMP/times" >&2 || true
    exit 1
fi

median() { grep "^$1 " "$TMP/times" | cut -d' ' -f2 | sort -n | awk '{a[NR]=$1} END {print (NR%2 ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2)}'; }
PERMIT=$(median permit)
UNIX=$(median unix)
ROSTER=$(median roster)
UNKNOWN=$(median unknown)
CHEAP=$(median cheap)
IN_PERMIT=$(median inproc_permit)
IN_CHEAP=$(median inproc_cheap)
IN_ROSTER=$(median inproc_roster)
IN_OVER=$(echo "scale=3; $IN_CHEAP - $IN_PERMIT" | bc)
VERIFY=$(median argon2_fresh)
KEPT=$(median argon2_kept)
YESCRYPT=$(median yescrypt)
# rosterd's own argon2 verify, as pam_driver sees it: alice's
# pam_authenticate less bob's (everything but the hash).
IN_HASH=$(echo "scale=2; $IN_ROSTER - $IN_CHEAP" | bc)
HASH_RATIO=$(echo "scale=2; $KEPT / $YESCRYPT" | bc)
# What the first bar leaves argon2: half of pam_unix, less everything
# else pam_roster's login costs (bob's: pamtester, the module, the bus,
# rosterd, all but the hash).
ARGON_BUDGET=$(echo "scale=1; $UNIX / 2 - $CHEAP" | bc)
RATIO=$(echo "scale=2; $ROSTER / $UNIX" | bc)
# The second bar, measured: bob's login is alice's without the hash.
OVER=$(echo "scale=2; $CHEAP - $PERMIT" | bc)
# And worked out from alice's, less the hash as rosterd runs it (a kept
# buffer): the same quantity, noisier (two medians of ~40 ms subtracted).
OVER_KEPT=$(echo "scale=2; $ROSTER - $PERMIT - $KEPT" | bc)
OVER_FRESH=$(echo "scale=2; $ROSTER - $PERMIT - $VERIFY" | bc)
ok() { if [ "$(echo "$1" | bc)" = 1 ]; then echo "met"; else echo "NOT met"; fi; }
LOAD=$(cut -d' ' -f1-3 /proc/loadavg)

cat >pam-module/BENCH.md <<EOF
# pam_roster benchmark

\`sudo scripts/bench-pam.sh $ROUNDS\` — $(date -u +%Y-%m-%d), $(nproc) CPUs
($(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //')), load average
at the end $LOAD. Medians of $ROUNDS interleaved runs of
\`pamtester SERVICE USER authenticate\` (a whole process: exec, libpam,
the module, the answer), each stack a single \`auth required\` line, users
resolved through nss_wrapper for all three; the argon2 verify measured in
each round too, so all figures share the machine's load at the time;
rosterd with the default argon2
parameters (m=19456 KiB, t=2, p=1), built from \`${BIN#"$ROOT"/}\`.

| what | median |
|---|---|
| pamtester + pam_permit | $PERMIT ms |
| pamtester + pam_unix, yescrypt entry (private mount namespace) | $UNIX ms |
| pamtester + pam_roster (D-Bus to rosterd, one argon2id verify there) | $ROSTER ms |
| pamtester + pam_roster, a user whose hash has argon2's minimal cost (8 KiB, t=1): all but the hash | $CHEAP ms |
| pamtester + pam_roster, a local user (user-unknown at once: load + snapshot check) | $UNKNOWN ms |
| in one process (pam_driver: pam_authenticate alone, no exec): pam_permit / pam_roster, minimal-cost user / pam_roster | $IN_PERMIT / $IN_CHEAP / $IN_ROSTER ms |
| one bare argon2id verify (argon2's verify_password in a fresh process: it page-faults its 19 MiB) | $VERIFY ms |
| the hashes alone, in one process: argon2id in a buffer already faulted in (as rosterd verifies) / yescrypt via libcrypt's crypt(), its default cost | $KEPT / $YESCRYPT ms ($HASH_RATIO ×) |
| rosterd's argon2id verify as pam_driver sees it (pam_roster − pam_roster with the minimal-cost user, in one process) | $IN_HASH ms |

| bar | figure | |
|---|---|---|
| pam_roster ≤ 0.5 × pam_unix | $RATIO × | $(ok "$RATIO <= 0.5") |
| pam_roster − pam_permit − one argon2 verify ≤ 2 ms (the minimal-cost user − pam_permit) | $OVER ms | $(ok "$OVER <= 2") |
| the same ≤ 1.5 ms (issue 15) | $OVER ms | $(ok "$OVER <= 1.5") |
| the same, pam_authenticate alone in one process | $IN_OVER ms | $(ok "$IN_OVER <= 2") |

The second bar worked out from the full login instead, less the hash as
rosterd runs it (a kept buffer, $KEPT ms): $OVER_KEPT ms; less a verify in
a fresh process ($VERIFY ms, which pays 19 MiB of page faults rosterd
doesn't): $OVER_FRESH ms. Both subtract two medians of ~40 ms, so they
carry a few ms of noise; the minimal-cost user measures the same thing
directly.

The load average matters: argon2id (19 MiB per verify) slows down more
than yescrypt when other processes compete for memory bandwidth, so the
first bar moves with it; run it on an idle machine for figures to quote.

The first bar is a bar on the hash: it leaves rosterd's argon2id verify
at most $ARGON_BUDGET ms here (half of pam_unix, less the rest of a
pam_roster login: the minimal-cost user's), while argon2id with DESIGN.md's parameters
(m=19456 KiB, t=2, p=1) costs $HASH_RATIO × a yescrypt hash at libcrypt's
default cost on this machine, measured side by side in one process.
pam_unix comes out slower than its hash because it pays a fresh process's
page faults for yescrypt's memory; rosterd keeps its argon2 buffers.

What pam_roster adds over pam_permit besides the hash: loading it
(its unwinder linked in, no libgcc_s.so.1), mapping the NSS snapshot
(one binary search), getpwnam_r (the uid cross-check, through NSS), a
new bus connection (the SASL handshake in one write, one answer), the
bus's Hello and the one method call sent together and routed through
dbus-daemon, rosterd's SQLite lookups and its lockout bookkeeping (a
write with synchronous=FULL), and closing the connection.
EOF
cat pam-module/BENCH.md
echo
echo "overhead (the minimal-cost user's login − pam_permit, through pamtester): $OVER ms" \
    "(bar ≤ 1.5 ms: $(ok "$OVER <= 1.5")); pam_authenticate alone, in one process: $IN_OVER ms"
