#!/usr/bin/env bash
# The fleet's HA store tier on one machine, for tests: 3 etcd members and
# 3 Patroni-managed PostgreSQL 15 nodes on free loopback ports (chosen at
# start, never fixed: other PostgreSQL tests run on this machine at the
# same time), data, sockets, logs and pid files under DIR.
#
#   store-tier.sh start DIR        start everything, wait for a leader and a
#                                  synchronous standby; writes DIR/tier.env
#   store-tier.sh stop DIR         stop everything (Patroni stops its
#                                  PostgreSQL), then kill whatever is left:
#                                  no process of the tier survives
#   store-tier.sh start-node DIR N start node N (0–2) again, e.g. after its
#                                  Patroni and PostgreSQL were killed
#
# DIR/tier.env (shell syntax, read by store-postgres's TestTier):
#   PG_PORTS=a,b,c  REST_PORTS=…  ETCD_PORTS=…  CONNINFO='host=… port=…'
#
# Replication is synchronous and strict (synchronous_mode_strict): a commit
# is acknowledged only once a standby has it, so losing the leader loses no
# acknowledged write; the price is that with a single node left the store
# takes no writes (it stays readable) rather than acknowledging writes one
# more failure would lose. An identity store prefers that: hosts keep
# logging in from their caches, and an admin's change waits ("store failing
# over") instead of being undone silently later. ttl 20 is the least Patroni
# takes; loop_wait 1 and retry_timeout 4 make failover as quick as that
# allows (about 20 s after a leader dies).
#
# Needs: etcd (etcd-server), PostgreSQL 15 (postgresql-15), Patroni's venv
# (scripts/deps.sh: roster_install_patroni), setpriv (util-linux) when run
# as root (PostgreSQL refuses root: everything runs as postgres).
set -euo pipefail

venv=${ROSTER_PATRONI_VENV:-/opt/roster-patroni}
pg_bin=/usr/lib/postgresql/15/bin
nodes=(0 1 2)

die() {
    echo "store-tier.sh: $*" >&2
    exit 1
}

usage() {
    die "usage: store-tier.sh start DIR | stop DIR | start-node DIR N"
}

check_tools() {
    command -v etcd >/dev/null || die "etcd is missing: install etcd-server (scripts/deps.sh does)"
    [[ -x $pg_bin/initdb ]] || die "$pg_bin/initdb is missing: install postgresql-15 (scripts/deps.sh does)"
    [[ -x $venv/bin/patroni ]] ||
        die "Patroni is missing from $venv: run 'source scripts/deps.sh; roster_install_patroni' as root"
    if [[ $(id -u) -eq 0 ]]; then
        command -v setpriv >/dev/null || die "setpriv is missing: install util-linux"
        id -u postgres >/dev/null 2>&1 || die "there is no postgres user (postgresql-15 makes it)"
    fi
}

# Start a command in the background as the user the tier runs as
# (postgres when we are root), its output appended to LOG and its pid (the
# command's own: bash forks and execs a simple command, and setpriv execs
# too) written to PIDFILE.
spawn() {
    local log=$1 pidfile=$2
    shift 2
    if [[ $(id -u) -eq 0 ]]; then
        setpriv --reuid=postgres --regid=postgres --init-groups -- "$@" </dev/null >>"$log" 2>&1 &
    else
        "$@" </dev/null >>"$log" 2>&1 &
    fi
    echo $! >"$pidfile"
}

# 12 distinct free loopback ports, all held at once while chosen.
free_ports() {
    "$venv/bin/python" - <<'EOF'
import socket
held = []
for _ in range(12):
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    held.append(s)
print(" ".join(str(s.getsockname()[1]) for s in held))
EOF
}

# GET http://127.0.0.1:PORT/PATH; true when it answers 200.
http_ok() {
    "$venv/bin/python" - "$1" "$2" <<'EOF'
import sys, urllib.request
try:
    with urllib.request.urlopen(f"http://127.0.0.1:{sys.argv[1]}/{sys.argv[2]}", timeout=1) as r:
        sys.exit(0 if r.status == 200 else 1)
except Exception:
    sys.exit(1)
EOF
}

wait_for() {
    local what=$1 seconds=$2
    shift 2
    local deadline=$((SECONDS + seconds))
    until "$@"; do
        if ((SECONDS > deadline)); then
            echo "store-tier.sh: $what not ready within ${seconds}s; logs:" >&2
            tail -n 30 "$dir"/*.log "$dir"/node*/*.log >&2 2>/dev/null || true
            return 1
        fi
        sleep 0.2
    done
}

write_patroni_config() {
    local n=$1
    local node=$dir/node$n
    mkdir -p "$node"
    cat >"$node/patroni.yml" <<EOF
scope: roster-tier
name: node$n
log:
  level: WARNING
restapi:
  listen: 127.0.0.1:${rest_ports[n]}
  connect_address: 127.0.0.1:${rest_ports[n]}
etcd3:
  hosts: 127.0.0.1:${etcd_client_ports[0]},127.0.0.1:${etcd_client_ports[1]},127.0.0.1:${etcd_client_ports[2]}
bootstrap:
  dcs:
    ttl: 20
    loop_wait: 1
    retry_timeout: 4
    maximum_lag_on_failover: 1048576
    synchronous_mode: true
    synchronous_mode_strict: true
    synchronous_node_count: 1
    postgresql:
      use_pg_rewind: true
      use_slots: true
      parameters:
        wal_log_hints: 'on'
        max_connections: 200
        max_wal_senders: 10
        max_replication_slots: 10
        # Test speed: a process killed loses nothing the kernel holds, and
        # the point here is replication, not surviving a power cut.
        fsync: 'off'
        full_page_writes: 'off'
  initdb:
    - encoding: UTF8
    - locale: C
    - auth: trust
postgresql:
  listen: 127.0.0.1:${pg_ports[n]}
  connect_address: 127.0.0.1:${pg_ports[n]}
  data_dir: $node/data
  bin_dir: $pg_bin
  pgpass: $node/pgpass
  authentication:
    superuser:
      username: postgres
    replication:
      username: postgres
    rewind:
      username: postgres
  parameters:
    unix_socket_directories: '$node'
  pg_hba:
    - local all all trust
    - host all all 127.0.0.1/32 trust
    - host replication all 127.0.0.1/32 trust
EOF
}

start_etcd() {
    local n=$1 cluster=""
    for m in "${nodes[@]}"; do
        cluster+="${cluster:+,}etcd$m=http://127.0.0.1:${etcd_peer_ports[m]}"
    done
    spawn "$dir/etcd$n.log" "$dir/etcd$n.pid" etcd --name "etcd$n" --data-dir "$dir/etcd$n" \
        --listen-client-urls "http://127.0.0.1:${etcd_client_ports[n]}" \
        --advertise-client-urls "http://127.0.0.1:${etcd_client_ports[n]}" \
        --listen-peer-urls "http://127.0.0.1:${etcd_peer_ports[n]}" \
        --initial-advertise-peer-urls "http://127.0.0.1:${etcd_peer_ports[n]}" \
        --initial-cluster "$cluster" --initial-cluster-token "roster-tier-$$" \
        --initial-cluster-state new --log-level warn
}

start_patroni() {
    local n=$1
    spawn "$dir/node$n/patroni.log" "$dir/node$n/patroni.pid" "$venv/bin/patroni" "$dir/node$n/patroni.yml"
}

load_env() {
    [[ -f $dir/tier.env ]] || die "$dir/tier.env is missing: was the tier started there?"
    # shellcheck source=/dev/null
    source "$dir/tier.env"
    IFS=, read -r -a pg_ports <<<"$PG_PORTS"
    IFS=, read -r -a rest_ports <<<"$REST_PORTS"
    IFS=, read -r -a etcd_client_ports <<<"$ETCD_PORTS"
}

any_primary() {
    local n
    for n in "${nodes[@]}"; do
        http_ok "${rest_ports[n]}" primary && return 0
    done
    return 1
}

any_sync_standby() {
    local n
    for n in "${nodes[@]}"; do
        http_ok "${rest_ports[n]}" sync && return 0
    done
    return 1
}

all_running() {
    local n
    for n in "${nodes[@]}"; do
        http_ok "${rest_ports[n]}" health || return 1
    done
}

start() {
    check_tools
    mkdir -p "$dir"
    [[ -e $dir/tier.env ]] && die "$dir already holds a tier: stop it first"
    local ports
    read -r -a ports <<<"$(free_ports)"
    etcd_client_ports=("${ports[@]:0:3}")
    etcd_peer_ports=("${ports[@]:3:3}")
    rest_ports=("${ports[@]:6:3}")
    pg_ports=("${ports[@]:9:3}")
    for n in "${nodes[@]}"; do
        write_patroni_config "$n"
    done
    if [[ $(id -u) -eq 0 ]]; then
        chown -R postgres:postgres "$dir"
    fi
    local started=$SECONDS
    for n in "${nodes[@]}"; do
        start_etcd "$n"
    done
    for n in "${nodes[@]}"; do
        wait_for "etcd$n" 60 http_ok "${etcd_client_ports[n]}" health
    done
    for n in "${nodes[@]}"; do
        start_patroni "$n"
    done
    local join
    join() {
        local IFS=,
        echo "$*"
    }
    cat >"$dir/tier.env" <<EOF
PG_PORTS=$(join "${pg_ports[@]}")
REST_PORTS=$(join "${rest_ports[@]}")
ETCD_PORTS=$(join "${etcd_client_ports[@]}")
CONNINFO='host=127.0.0.1,127.0.0.1,127.0.0.1 port=$(join "${pg_ports[@]}") user=postgres target_session_attrs=read-write connect_timeout=1'
EOF
    wait_for "a PostgreSQL leader" 120 any_primary
    wait_for "all three PostgreSQL nodes" 120 all_running
    wait_for "a synchronous standby" 120 any_sync_standby
    echo "store tier up in $((SECONDS - started))s in $dir (PostgreSQL on ports $(join "${pg_ports[@]}"))" >&2
}

start_node() {
    local n=$1
    [[ $n =~ ^[012]$ ]] || usage
    check_tools
    load_env
    start_patroni "$n"
}

# Signal the pid in FILE (if it runs) with SIG.
signal_pidfile() {
    local file=$1 sig=$2 pid
    [[ -f $file ]] || return 0
    pid=$(head -n 1 "$file" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] || return 0
    kill "-$sig" "$pid" 2>/dev/null || true
}

alive_pidfile() {
    local file=$1 pid
    [[ -f $file ]] || return 1
    pid=$(head -n 1 "$file" 2>/dev/null || true)
    [[ $pid =~ ^[0-9]+$ ]] && kill -0 "$pid" 2>/dev/null
}

# Whether any process of the tier still runs.
any_alive() {
    local n
    for n in "${nodes[@]}"; do
        alive_pidfile "$dir/node$n/patroni.pid" && return 0
        alive_pidfile "$dir/node$n/data/postmaster.pid" && return 0
        alive_pidfile "$dir/etcd$n.pid" && return 0
    done
    return 1
}

none_alive() { ! any_alive; }

stop() {
    [[ -d $dir ]] || return 0
    local n
    # Patroni first (it stops its PostgreSQL with a fast shutdown), while
    # etcd is still there for it to let go of the leader key.
    for n in "${nodes[@]}"; do
        signal_pidfile "$dir/node$n/patroni.pid" TERM
    done
    local deadline=$((SECONDS + 20))
    while ((SECONDS < deadline)); do
        local left=0
        for n in "${nodes[@]}"; do
            alive_pidfile "$dir/node$n/patroni.pid" && left=1
        done
        ((left)) || break
        sleep 0.2
    done
    # Whatever is left is killed: a Patroni stuck, a PostgreSQL whose
    # Patroni was killed before it (a test's SIGKILL), then etcd.
    for n in "${nodes[@]}"; do
        signal_pidfile "$dir/node$n/patroni.pid" KILL
        signal_pidfile "$dir/node$n/data/postmaster.pid" QUIT
        signal_pidfile "$dir/etcd$n.pid" TERM
    done
    if ! wait_for "the tier's shutdown" 20 none_alive 2>/dev/null; then
        for n in "${nodes[@]}"; do
            signal_pidfile "$dir/node$n/data/postmaster.pid" KILL
            signal_pidfile "$dir/etcd$n.pid" KILL
        done
        sleep 0.5
    fi
    any_alive && die "processes of the tier in $dir are still running"
    return 0
}

[[ $# -ge 2 ]] || usage
command=$1
dir=$(realpath -m "$2")
case $command in
start) start ;;
stop) stop ;;
start-node)
    [[ $# -eq 3 ]] || usage
    start_node "$3"
    ;;
*) usage ;;
esac
