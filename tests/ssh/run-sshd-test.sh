#!/usr/bin/env bash
# A real sshd for tests: loopback only, private config and host key, users
# resolved through glibc NSS with libnss_roster, public keys only from an
# AuthorizedKeysCommand. Nothing on the host changes: the NSS module,
# nsswitch.conf, ld.so.cache (tests/nss/in-private-ns.sh) and the login
# records (wtmp, lastlog, utmp: /dev/null; btmp: a temp file) are mounted
# inside a private mount namespace that dies with sshd; /etc/ssh is never
# read. Sessions get ROSTER_NSS_CACHE too (SetEnv), so `id` works in them.
#
#   run-sshd-test.sh --keys-command PROG [--keys-arg ARG]... [--keys-env NAME=VALUE]...
#                    [--keys-user USER] [--nss-cache PATH] [--so LIB] [--pam-dir DIR]
#                    [--log FILE] [--sshd PATH] [-- CMD [ARGS...]]
#
#   --keys-command PROG  sshd's AuthorizedKeysCommand. Copied into a root-owned
#                        0755 folder under /run (sshd refuses a command with a
#                        group- or world-writable folder anywhere on its path,
#                        so /tmp won't do).
#   --keys-arg ARG       one argument after it, as written in sshd_config (%u is
#                        the user name); repeat. No blanks or quotes in ARG.
#   --keys-env N=V       sshd runs the command with PATH alone; each N=V is set
#                        for it by a root-owned wrapper (e.g.
#                        DBUS_SYSTEM_BUS_ADDRESS=unix:path=…); repeat.
#   --keys-user USER     AuthorizedKeysCommandUser (default nobody). It must be
#                        able to read everything the command needs (the bus
#                        socket, the snapshot): put those in 0755 folders.
#   --nss-cache PATH     the NSS snapshot: ROSTER_NSS_CACHE for sshd (so
#                        getpwnam finds Roster users) and for the command.
#   --so LIB             libnss_roster (default target/nss/modules/libnss_roster.so;
#                        build it with cargo build --profile modules -p nss_roster
#                        --target-dir target/nss).
#   --pam-dir DIR        UsePAM yes, with DIR mounted on /etc/pam.d (service
#                        "sshd"); without it, UsePAM no.
#   --log FILE           where sshd's log (LogLevel VERBOSE) is copied at exit;
#                        without it, it goes to this script's stderr at exit.
#   -- CMD [ARGS...]     run CMD with ROSTER_SSHD_PORT set while sshd listens,
#                        then stop; the exit status is CMD's.
#
# Without `-- CMD`, it prints one line `port N` on stdout once sshd listens
# on 127.0.0.1:N, and keeps sshd running until its standard input reaches
# end of file (or it gets SIGTERM/SIGINT), then stops sshd and everything
# it started and removes its folder. That is how the Rust test calls it:
#
#   let mut fixture = Command::new("tests/ssh/run-sshd-test.sh")
#       .args(["--keys-command", roster_bin, "--keys-arg", "ssh-authorized-keys",
#              "--keys-arg", "--snapshot", "--keys-arg", nss_cache, "--keys-arg", "%u",
#              "--keys-env", &format!("DBUS_SYSTEM_BUS_ADDRESS={bus}"),
#              "--nss-cache", nss_cache, "--so", nss_so, "--log", log])
#       .stdin(Stdio::piped()).stdout(Stdio::piped()).spawn()?;
#   // read "port N" from stdout, then log in:
#   ssh -F /dev/null -i KEY -p N -o StrictHostKeyChecking=no
#       -o UserKnownHostsFile=/dev/null -o BatchMode=yes -o IdentitiesOnly=yes
#       -o PreferredAuthentications=publickey -o ConnectTimeout=10 USER@127.0.0.1 true
#   // exit 0: accepted; 255: refused ("Permission denied (publickey)").
#   // Dropping stdin (or the child) stops the fixture; wait() for it.
#
# The bus socket and the snapshot must be reachable by --keys-user (the
# harness's folders are 0755). KEY must be 0600. Needs root, unshare(1),
# /usr/sbin/sshd (apt install openssh-server) and ssh-keygen. Creates
# /run/sshd (sshd's fixed privilege-separation folder, which the
# openssh-server package creates at boot) when it is missing. Exit status
# 97: the fixture couldn't be set up (the message says why); a Rust test
# should check root and /usr/sbin/sshd itself and skip loudly without them,
# and treat 97 otherwise as a failure.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)

keys_command='' keys_user=nobody nss_cache='' pam_dir='' log='' sshd=/usr/sbin/sshd
so=$repo/target/nss/modules/libnss_roster.so
keys_args=() keys_env=()
fail() { echo "run-sshd-test.sh: $*" >&2; exit 97; }
while [ $# -gt 0 ]; do
    case "$1" in
        --keys-command) keys_command=$2; shift 2 ;;
        --keys-arg) keys_args+=("$2"); shift 2 ;;
        --keys-env) keys_env+=("$2"); shift 2 ;;
        --keys-user) keys_user=$2; shift 2 ;;
        --nss-cache) nss_cache=$2; shift 2 ;;
        --so) so=$2; shift 2 ;;
        --pam-dir) pam_dir=$2; shift 2 ;;
        --log) log=$2; shift 2 ;;
        --sshd) sshd=$2; shift 2 ;;
        --) shift; break ;;
        *) fail "unknown argument $1 (see the header of $0)" ;;
    esac
done

[ "$(id -u)" = 0 ] || fail "needs root (a private mount namespace and sshd)"
command -v unshare >/dev/null || fail "needs unshare(1) (util-linux)"
[ -x "$sshd" ] || fail "$sshd missing: apt install openssh-server"
command -v ssh-keygen >/dev/null || fail "needs ssh-keygen: apt install openssh-client"
[ -n "$keys_command" ] || fail "--keys-command PROG is required"
{ [ -f "$keys_command" ] && [ -x "$keys_command" ]; } || fail "--keys-command $keys_command is not an executable file"
[ -f "$so" ] || fail "--so $so: no such file (cargo build --profile modules -p nss_roster --target-dir target/nss)"
[ -z "$nss_cache" ] || [ "${nss_cache#/}" != "$nss_cache" ] || fail "--nss-cache must be an absolute path"
[ -z "$pam_dir" ] || [ -d "$pam_dir" ] || fail "--pam-dir $pam_dir is not a folder"
getent passwd "$keys_user" >/dev/null || fail "--keys-user $keys_user does not exist"
for arg in ${keys_args[@]+"${keys_args[@]}"}; do
    case "$arg" in
        *[[:space:]\"\'\\]* | '') fail "--keys-arg '$arg': no blanks, quotes or backslashes (sshd_config splits on them)" ;;
    esac
done
for pair in ${keys_env[@]+"${keys_env[@]}"}; do
    case "$pair" in
        [A-Za-z_]*=*) ;;
        *) fail "--keys-env '$pair' is not NAME=VALUE" ;;
    esac
done
[ -z "$nss_cache" ] || keys_env+=("ROSTER_NSS_CACHE=$nss_cache")

# Everything lives here; root-owned, 0755 from /run down, as sshd demands
# of the AuthorizedKeysCommand's path.
base=$(mktemp -d /run/roster-sshd-test.XXXXXX) || fail "can't create a folder under /run"
chmod 0755 "$base"
sshd_pid='' ns='' cat_pid=''
# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
    local status=$?
    trap - EXIT INT TERM
    [ -z "$cat_pid" ] || kill "$cat_pid" 2>/dev/null || true
    if [ -n "$sshd_pid" ]; then
        kill -TERM "$sshd_pid" 2>/dev/null || true
        # Connection children and the keys command share sshd's namespace:
        # end every process in it (all of them are ours).
        if [ -n "$ns" ] && [ "$ns" != "$(readlink /proc/1/ns/mnt)" ] \
            && [ "$ns" != "$(readlink /proc/$$/ns/mnt)" ]; then
            local pid
            for pid in /proc/[0-9]*; do
                pid=${pid#/proc/}
                if [ "$(readlink "/proc/$pid/ns/mnt" 2>/dev/null)" = "$ns" ]; then
                    kill -KILL "$pid" 2>/dev/null || true
                fi
            done
        fi
        wait "$sshd_pid" 2>/dev/null || true
    fi
    if [ -f "$base/sshd.log" ]; then
        if [ -n "$log" ]; then cp "$base/sshd.log" "$log" || true
        else sed 's/^/sshd: /' "$base/sshd.log" >&2 || true
        fi
    fi
    rm -rf "$base"
    exit "$status"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

mkdir -m 0755 "$base/bin" "$base/ns"
mkdir -m 0700 "$base/etc"
prog="$base/bin/$(basename "$keys_command")"
cp "$keys_command" "$prog"
chown root:root "$base/bin" "$prog"
chmod 0755 "$prog"
command_line=$prog
if [ ${#keys_env[@]} -gt 0 ]; then
    quote() { printf "'%s'" "$(printf '%s' "$1" | sed "s/'/'\\\\''/g")"; }
    {
        echo '#!/bin/sh'
        printf 'exec /usr/bin/env -i PATH=/usr/bin:/bin'
        for pair in "${keys_env[@]}"; do printf ' %s' "$(quote "$pair")"; done
        printf ' %s "$@"\n' "$(quote "$prog")"
    } >"$base/bin/keys-command"
    chmod 0755 "$base/bin/keys-command"
    command_line=$base/bin/keys-command
fi
for arg in ${keys_args[@]+"${keys_args[@]}"}; do command_line+=" $arg"; done

ssh-keygen -q -t ed25519 -N '' -C roster-sshd-test -f "$base/etc/host_ed25519_key"
[ -d /run/sshd ] || mkdir -m 0755 /run/sshd

start_sshd() {
    local port=$1
    cat >"$base/etc/sshd_config" <<EOF
ListenAddress 127.0.0.1:$port
HostKey $base/etc/host_ed25519_key
PidFile $base/sshd.pid
LogLevel VERBOSE
PubkeyAuthentication yes
AuthorizedKeysFile none
AuthorizedKeysCommand $command_line
AuthorizedKeysCommandUser $keys_user
PasswordAuthentication no
KbdInteractiveAuthentication no
HostbasedAuthentication no
PermitRootLogin no
UsePAM $([ -n "$pam_dir" ] && echo yes || echo no)
StrictModes yes
AllowAgentForwarding no
AllowTcpForwarding no
X11Forwarding no
PermitTunnel no
PrintMotd no
PrintLastLog no
MaxStartups 50
LoginGraceTime 30
$([ -z "$nss_cache" ] || echo "SetEnv ROSTER_NSS_CACHE=$nss_cache")
EOF
    local ns_args=(--work "$base/ns" --so "$so") sshd_env=(/usr/bin/env)
    [ -z "$nss_cache" ] || sshd_env+=("ROSTER_NSS_CACHE=$nss_cache")
    [ -z "$pam_dir" ] || ns_args+=(--pam-dir "$pam_dir")
    : >"$base/sshd.log"
    install -m 0600 /dev/null "$base/btmp"
    # in-private-ns.sh and unshare exec, so $! is sshd itself. Login
    # records go to /dev/null inside the namespace (a Roster uid would make
    # the host's lastlog huge).
    # shellcheck disable=SC2016 # expanded by the inner sh
    "$repo/tests/nss/in-private-ns.sh" "${ns_args[@]}" -- /bin/sh -c '
        for f in /var/log/wtmp /var/log/lastlog /run/utmp; do
            [ ! -f "$f" ] || mount --bind /dev/null "$f" || exit 97
        done
        [ ! -f /var/log/btmp ] || mount --bind "$0" /var/log/btmp || exit 97
        exec "$@"' "$base/btmp" \
        "${sshd_env[@]}" "$sshd" -D -e -f "$base/etc/sshd_config" \
        </dev/null >>"$base/sshd.log" 2>&1 &
    sshd_pid=$!
    local _
    for _ in $(seq 200); do
        if grep -q "Server listening on 127.0.0.1 port $port" "$base/sshd.log"; then
            ns=$(readlink "/proc/$sshd_pid/ns/mnt")
            return 0
        fi
        if ! kill -0 "$sshd_pid" 2>/dev/null; then
            wait "$sshd_pid" 2>/dev/null || true
            sshd_pid=
            grep -q "Address already in use" "$base/sshd.log" && return 1
            fail "sshd did not start: $(cat "$base/sshd.log")"
        fi
        sleep 0.05
    done
    fail "sshd did not listen within 10 s: $(cat "$base/sshd.log")"
}

port=
for _ in 1 2 3 4 5 6 7 8; do
    candidate=$((20000 + RANDOM % 40000))
    [ -z "$(ss -Htln "sport = :$candidate" 2>/dev/null)" ] || continue
    if start_sshd "$candidate"; then port=$candidate; break; fi
done
[ -n "$port" ] || fail "found no free port for sshd"

if [ $# -gt 0 ]; then
    set +e
    ROSTER_SSHD_PORT=$port "$@"
    status=$?
    set -e
    exit "$status"
fi
echo "port $port"
# Until the caller closes our stdin (a test that dies closes it too).
# In the background so that SIGTERM is handled at once.
cat <&0 >/dev/null &
cat_pid=$!
wait "$cat_pid" || true
cat_pid=
exit 0
