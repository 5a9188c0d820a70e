#!/bin/sh
# Benchmark: glibc's nss_files, SSSD's memory cache and libnss_roster side by
# side, in one run, through glibc's real getpwnam/getpwuid (issue 21).
#
#   scripts/bench-sssd.sh [SIZES...]      default: 24 10000 100000
#
# Needs root, unshare(1), strace, overlayfs and apt-get (the host's own apt
# sources). Nothing on the host changes: Debian's sssd packages are fetched
# with `apt-get download` into target/sssd-debs and unpacked with `dpkg -x`
# (never installed: installing would edit the host's nsswitch.conf and PAM);
# every size runs in a private mount namespace (unshare -m) where
#   /usr      is an overlay: the module (as libnss_roster.so.2) and the
#             unpacked sssd packages over the host's /usr (read only);
#   /etc      is an overlay with a tmpfs upper layer: nsswitch.conf,
#             ld.so.cache (as the packages' ldconfig would) and sssd.conf
#             are written there, the generated passwd and group files are
#             bind-mounted on it;
#   /var      is an overlay with a tmpfs upper layer, with tmpfs over
#             /var/lib/sss (SSSD's cache and sockets);
#   /run      is a tmpfs.
# All of it dies with the namespace. What a lookup reads, SSSD's memory
# cache (/var/lib/sss/mc), Roster's snapshot (/var/cache/roster) and the
# module's library, is on disk as on a host (directories under target/,
# bind-mounted or in the /usr overlay's lower layer; libnss_sss comes from
# the unpacked packages, on disk too). On tmpfs (4 KiB pages here) a fresh
# process's first lookup takes a page fault per page it touches (~5 µs
# each on this VM), where a disk filesystem's page cache holds a written
# file in large folios that one fault maps: the module's first call
# measured 45 µs with the snapshot on tmpfs, 13 µs on ext4, at 10,000 users.
#
# SSSD: the proxy provider over nss_files (id_provider = proxy,
# proxy_lib_name = files, auth_provider = none), over the same generated
# users as nss_files and libnss_roster's snapshot (above 20,000 users the
# proxy reads them through libnss_roster instead: see files_source_max).
# Its memory cache is warmed with one getpwnam per user (through sssd_nss,
# four clients at once, then every user once more, checked) before anything
# is timed: ~2 min at 10,000 users and ~15 min at 100,000 on a busy 2-vCPU
# machine. An strace of a timed loop counts the connects to SSSD's socket
# (0: every call answered from the memory cache).
#
# Knobs: ROSTER_NSS_SO (a module already built), ROSTER_BENCH_SSSD_MC_MB
# (memcache_size_passwd, default 64), ROSTER_BENCH_SSSD_FILES_SOURCE_MAX
# (the largest size whose proxy reads nss_files, default 20000),
# ROSTER_BENCH_SSSD_RAW=1 (every process's figures on stderr).
#
# Figures (per service, the three services' processes interleaved):
#   getpwnam / getpwuid   ns per call: median over 3 processes × 9 rounds,
#                         each round 2,000 calls of random users timed as a
#                         whole on the thread's CPU clock, so time spent
#                         waiting for a CPU on a busy machine is left out
#                         (nss_files: fewer calls per round at large sizes,
#                         it is linear in the file)
#   first lookup          µs on the thread's CPU clock: a fresh process's
#                         first getpwnam of a cached user (nsswitch.conf,
#                         the module's dlopen and its file's mmap), median
#                         of 31 processes
#   enumeration           ms on the thread's CPU clock: setpwent … getpwent
#                         … endpwent in a fresh process, with the number of
#                         entries it returned (SSSD's proxy domain does not
#                         enumerate: its default, enumerate = false,
#                         returns none)
#   (a second line per size gives the wall-clock figures of both)
#   same 24 users         getpwnam / getpwuid as above, but of ruser0 …
#                         ruser23 only, at every size: the lookup without
#                         the caches' and TLB's share
#   memory floor          ns per dependent load to a random line of a
#                         buffer the size of the snapshot (bench_nss.c
#                         chase), on 4 KiB pages (as the mapped file gets)
#                         and on 2 MiB pages: a lookup of a random user
#                         that is k dependent loads into the file can't
#                         take less than k times it
#   load average          /proc/loadavg before and after each size
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)

if [ "${ROSTER_BENCH_SSSD_INNER:-}" = 1 ]; then
    # ---- inside the private mount namespace: one size ----
    work=$1 n=$2 bench=$3 so=$4 sssroot=$5 files_source_max=$6 disk=$7
    fail() { echo "bench-sssd.sh: $*" >&2; exit 97; }
    [ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] || fail "not in a private mount namespace"
    ns=$work/ns-$n
    mkdir -p "$ns"
    mount --make-rprivate / || fail "mount --make-rprivate failed"
    mount -t tmpfs -o mode=0755 roster-bench-sssd "$ns" || fail "tmpfs on $ns failed"
    libdir=lib/x86_64-linux-gnu
    mkdir -p "$disk/extra-$n/$libdir" "$ns/etc-up" "$ns/etc-work" "$ns/var-up" "$ns/var-work"
    cp "$so" "$disk/extra-$n/$libdir/libnss_roster.so.2"
    chmod 0644 "$disk/extra-$n/$libdir/libnss_roster.so.2"
    mount -t overlay roster-bench-usr -o "lowerdir=$disk/extra-$n:$sssroot/usr:/usr" /usr || fail "overlay on /usr failed"
    mount -t overlay roster-bench-etc -o "lowerdir=/etc,upperdir=$ns/etc-up,workdir=$ns/etc-work" /etc \
        || fail "overlay on /etc failed"
    mount -t overlay roster-bench-var -o "lowerdir=/var,upperdir=$ns/var-up,workdir=$ns/var-work" /var \
        || fail "overlay on /var failed"
    mkdir -p /var/lib/sss /var/log/sssd
    mount -t tmpfs -o mode=0755 roster-bench-sss /var/lib/sss || fail "tmpfs on /var/lib/sss failed"
    cp -a "$sssroot/var/lib/sss/." /var/lib/sss/
    mkdir -p /var/lib/sss/mc "$disk/mc-$n"
    mount --bind "$disk/mc-$n" /var/lib/sss/mc || fail "bind mount on /var/lib/sss/mc failed"
    mount -t tmpfs -o mode=0755 roster-bench-run /run || fail "tmpfs on /run failed"
    # Bind mounts, as bench-nss.sh does: nss_files opens /etc/passwd on
    # every call, and an open through the overlay would cost it more.
    proxy_lib=files
    [ "$n" -le "$files_source_max" ] || proxy_lib=roster
    echo "proxy_lib=$proxy_lib"
    cp "$work/passwd.$n" "$ns/passwd"
    cp "$work/group.$n" "$ns/group"
    mount --bind "$ns/passwd" /etc/passwd || fail "bind mount on /etc/passwd failed"
    mount --bind "$ns/group" /etc/group || fail "bind mount on /etc/group failed"
    ldconfig -X -C /etc/ld.so.cache || fail "ldconfig failed"
    mkdir -p /etc/sssd
    cat > /etc/sssd/sssd.conf <<EOF
[sssd]
services = nss
domains = bench
timeout = 60

[nss]
memcache_timeout = 3600
memcache_size_passwd = ${ROSTER_BENCH_SSSD_MC_MB:-64}
timeout = 60

[domain/bench]
id_provider = proxy
proxy_lib_name = $proxy_lib
auth_provider = none
entry_cache_timeout = 3600
timeout = 60
EOF
    chmod 0600 /etc/sssd/sssd.conf
    use() { printf 'passwd: %s\ngroup: %s\nshadow: files\n' "$1" "$1" > /etc/nsswitch.conf; }
    # Where an installed rosterd writes it (so the module, also when SSSD's
    # proxy loads it, needs no environment variable).
    mkdir -p /var/cache/roster
    mount --bind "$disk/roster-$n" /var/cache/roster || fail "bind mount on /var/cache/roster failed"
    unset ROSTER_NSS_CACHE

    /usr/sbin/sssd -i --logger=stderr > "$ns/sssd.log" 2>&1 &
    sssd_pid=$!
    trap 'kill "$sssd_pid" 2>/dev/null || true; wait "$sssd_pid" 2>/dev/null || true' EXIT
    waited=0
    until [ -S /var/lib/sss/pipes/nss ]; do
        kill -0 "$sssd_pid" 2>/dev/null || { cat "$ns/sssd.log" >&2; fail "sssd exited at start"; }
        [ "$waited" -lt 600 ] || { cat "$ns/sssd.log" >&2; fail "sssd's nss socket never appeared"; }
        sleep 0.1
        waited=$((waited + 1))
    done
    use sss
    # The first request may race the domain coming online: retry a little.
    tries=0
    until "$bench" first ruser0 > /dev/null 2>&1; do
        [ "$tries" -lt 100 ] || { cat "$ns/sssd.log" >&2; fail "sssd never answered ruser0"; }
        sleep 0.2
        tries=$((tries + 1))
    done
    # Four clients at once: sssd_nss and sssd_be overlap their requests.
    warm_started=$(date +%s%N)
    quarter=$(((n + 3) / 4))
    warmers=
    for part in 0 1 2 3; do
        from=$((part * quarter)) to=$(((part + 1) * quarter))
        [ "$to" -le "$n" ] || to=$n
        [ "$from" -lt "$to" ] || continue
        "$bench" warm ruser "$from" "$to" > /dev/null &
        warmers="$warmers $!"
    done
    for pid in $warmers; do wait "$pid" || true; done
    # Then every user once more, checked: answered from the memory cache.
    "$bench" warm ruser "$n" > /dev/null || { cat "$ns/sssd.log" >&2; fail "warming SSSD's cache failed"; }
    echo "warm_ms=$((($(date +%s%N) - warm_started) / 1000000))"

    # No socket in the timed loop: strace a short run of it.
    strace -f -C -e trace=connect -o "$ns/strace" "$bench" rounds ruser "$n" 1 2000 99 > /dev/null
    echo "sss_connects=$(grep -c '/var/lib/sss/pipes' "$ns/strace" || true)"
    echo "nscd_probes=$(grep -c 'nscd/socket' "$ns/strace" || true)"

    files_calls=$((200000 / (n + 100)))
    [ "$files_calls" -ge 10 ] || files_calls=10
    [ "$files_calls" -le 2000 ] || files_calls=2000
    for process in 1 2 3; do
        for svc in files sss roster; do
            calls=2000
            [ "$svc" != files ] || calls=$files_calls
            use "$svc"
            "$bench" rounds ruser "$n" 9 "$calls" "$process" | sed "s/^/$svc /"
        done
    done
    # The same 24 users (ruser0 … ruser23) at every size: a working set
    # that stays in the caches whatever the file's size, so these rows are
    # the lookup's own cost, without the memory hierarchy's share.
    for process in 1 2 3; do
        for svc in files sss roster; do
            use "$svc"
            "$bench" rounds ruser 24 9 2000 "$process" | sed "s/^/$svc-fixed24 /"
        done
    done
    # Interleaved, as the warm rounds are: a drift in the machine's load
    # falls on the three services alike.
    i=0
    while [ $i -lt 31 ]; do
        for svc in files sss roster; do
            use "$svc"
            "$bench" first "ruser$((n / 2))" | sed "s/^/$svc /"
        done
        i=$((i + 1))
    done
    for svc in files sss roster; do
        use "$svc"
        "$bench" enum | sed "s/^/$svc /"
    done
    # The memory cache was used throughout, never the socket: sssd_nss
    # answered only the warm-up.
    kill -0 "$sssd_pid" 2>/dev/null || fail "sssd died during the run"
    exit 0
fi

cd "$root"
sizes=${*:-24 10000 100000}
if [ "$(id -u)" != 0 ]; then
    echo "bench-sssd.sh: needs root (private mount namespace, overlays)" >&2
    exit 1
fi
for tool in unshare strace apt-get dpkg cc; do
    command -v "$tool" > /dev/null || { echo "bench-sssd.sh: needs $tool" >&2; exit 1; }
done

if [ -z "${ROSTER_NSS_SO:-}" ]; then
    cargo build --quiet --profile modules -p nss_roster --target-dir target/nss
    ROSTER_NSS_SO=$root/target/nss/modules/libnss_roster.so
fi
cargo build --quiet --release -p roster-snapshot --example gen --target-dir target/nss
gen=$root/target/nss/release/examples/gen

# SSSD's packages and what they need that the host lacks (the closure of
# their Depends, minus what is installed), fetched once.
debs=$root/target/sssd-debs
if [ ! -f "$debs/.complete" ]; then
    mkdir -p "$debs"
    todo="sssd-common sssd-proxy libnss-sss" seen=
    while [ -n "$todo" ]; do
        set -- $todo
        pkg=$1
        shift
        todo="$*"
        case " $seen " in *" $pkg "*) continue ;; esac
        seen="$seen $pkg"
        for dep in $(apt-cache depends --no-recommends --no-suggests --no-conflicts --no-breaks \
            --no-replaces --no-enhances "$pkg" | awk '/Depends:/ && $2 !~ /^</ {print $2}'); do
            dpkg-query -W -f='${Status}' "$dep" 2> /dev/null | grep -q 'ok installed' || todo="$todo $dep"
        done
    done
    (cd "$debs" && apt-get download $seen) > "$debs/download.log" 2>&1 || {
        cat "$debs/download.log" >&2
        echo "bench-sssd.sh: apt-get download of $seen failed" >&2
        exit 1
    }
    touch "$debs/.complete"
fi

work=$(mktemp -d /tmp/roster-bench-sssd.XXXXXX)
# On the repository's disk whatever /tmp is (see the top).
mkdir -p target
disk=$(mktemp -d "$root/target/bench-sssd-disk.XXXXXX")
trap 'rm -rf "$work" "$disk"' EXIT
sssroot=$work/sssd-root
mkdir -p "$sssroot"
for deb in "$debs"/*.deb; do dpkg -x "$deb" "$sssroot"; done
# Debian's packages still put some files under /lib: merged-/usr hosts
# find them under /usr/lib.
if [ -d "$sssroot/lib" ]; then
    mkdir -p "$sssroot/usr/lib"
    cp -a "$sssroot/lib/." "$sssroot/usr/lib/"
fi
sssd_version=$(dpkg-deb -f "$(ls "$debs"/sssd-common_*.deb | head -n 1)" Version)
cc -O2 -o "$work/bench" tests/nss/bench_nss.c

# Warming SSSD's cache through the proxy over nss_files costs a scan of
# the passwd file per user (quadratic: ~40 s at 10,000 users here, most
# of an hour at 100,000); above this size the proxy reads the same users
# through libnss_roster instead (proxy_lib_name = roster). What is timed is
# SSSD's memory cache either way, filled with the same entries.
files_source_max=${ROSTER_BENCH_SSSD_FILES_SOURCE_MAX:-20000}

median() { tr ',' '\n' | sort -n | awk '{v[NR]=$1} END {if (NR) print v[int((NR+1)/2)]; else print "-"}'; }
pick() { # output service key
    printf '%s\n' "$1" | awk -v s="$2" '$1 == s' | tr ' ' '\n' | sed -n "s/^$3=//p" | tr '\n' ',' | sed 's/,$//'
}
ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.2f", a / b; else print "-" }'; }

printf 'SSSD %s (Debian, unpacked), proxy provider over nss_files; module %s (%s bytes)\n' \
    "$sssd_version" "$ROSTER_NSS_SO" "$(wc -c < "$ROSTER_NSS_SO")"
printf '\n%-7s | %-27s | %-27s | %-23s | %-31s | %s\n' users "getpwnam ns" "getpwuid ns" \
    "first lookup µs (CPU)" "enumeration ms (CPU, entries)" "load before/after"
printf '%-7s | %-27s | %-27s | %-23s | %-31s |\n' "" "files   sssd  roster  r/s" \
    "files   sssd  roster  r/s" "files  sssd roster" "files      sssd       roster"
for n in $sizes; do
    load_before=$(cut -d' ' -f1 /proc/loadavg)
    # Written where the namespace finds it, the way rosterd writes it (one
    # write of the whole file, then a rename): copied, its page cache would
    # be in smaller folios and its first lookup take more page faults.
    mkdir -p "$disk/roster-$n"
    "$gen" --out "$disk/roster-$n/nss.cache" --users "$n" --passwd "$work/passwd.$n" --group "$work/group.$n"
    snapshot_bytes=$(wc -c < "$disk/roster-$n/nss.cache")
    floor=$("$work/bench" chase "$snapshot_bytes")
    out=$(ROSTER_BENCH_SSSD_INNER=1 unshare -m "$0" "$work" "$n" "$work/bench" "$ROSTER_NSS_SO" "$sssroot" "$files_source_max" "$disk")
    load_after=$(cut -d' ' -f1 /proc/loadavg)
    [ -z "${ROSTER_BENCH_SSSD_RAW:-}" ] || printf '%s\n' "$out" | grep -v first_us >&2
    line="$n"
    for key in nam_ns uid_ns; do
        f=$(pick "$out" files "$key" | median) s=$(pick "$out" sss "$key" | median)
        r=$(pick "$out" roster "$key" | median)
        line=$(printf '%s|%7s %6s %6s %5s' "$line" "$f" "$s" "$r" "$(ratio "$r" "$s")")
    done
    firsts= walls=
    for svc in files sss roster; do
        firsts="$firsts $(pick "$out" "$svc" first_cpu_us | median)"
        walls="$walls $(pick "$out" "$svc" first_us | median)"
    done
    enums= enum_walls=
    for svc in files sss roster; do
        enums="$enums $(pick "$out" "$svc" enum_cpu_ms)($(pick "$out" "$svc" entries))"
        enum_walls="$enum_walls $(pick "$out" "$svc" enum_ms)"
    done
    printf '%-7s | %s | %s | %6s %6s %6s | %9s %9s %11s | %s / %s\n' "$n" \
        "$(printf '%s' "$line" | cut -d'|' -f2)" "$(printf '%s' "$line" | cut -d'|' -f3)" \
        $firsts $enums "$load_before" "$load_after"
    # shellcheck disable=SC2086 # word splitting wanted
    printf '        wall clock: first lookup %s / %s / %s µs, enumeration %s / %s / %s ms (files / sssd / roster)\n' \
        $walls $enum_walls
    fixed=
    for key in nam_ns uid_ns; do
        for svc in files sss roster; do
            fixed="$fixed $(pick "$out" "$svc-fixed24" "$key" | median)"
        done
    done
    # shellcheck disable=SC2086 # word splitting wanted
    printf '        same 24 users at this size: getpwnam %s / %s / %s ns, getpwuid %s / %s / %s ns (files / sssd / roster)\n' \
        $fixed
    printf '        memory floor: %s ns per dependent load to a random line of %s bytes on 4 KiB pages, %s ns on 2 MiB pages\n' \
        "$(printf '%s\n' "$floor" | tr ' ' '\n' | sed -n 's/^chase_ns=//p')" "$snapshot_bytes" \
        "$(printf '%s\n' "$floor" | tr ' ' '\n' | sed -n 's/^chase_huge_ns=//p')"
    printf '        SSSD proxy over %s; warm-up %s ms; connects to SSSD in a strace of 2,000+2,000 timed calls: %s (nscd probes: %s)\n' \
        "$(printf '%s\n' "$out" | sed -n 's/^proxy_lib=//p')" \
        "$(printf '%s\n' "$out" | sed -n 's/^warm_ms=//p')" \
        "$(printf '%s\n' "$out" | sed -n 's/^sss_connects=//p')" \
        "$(printf '%s\n' "$out" | sed -n 's/^nscd_probes=//p')"
    rm -rf "$disk/roster-$n" "$disk/mc-$n" "$disk/extra-$n"
    rm -f "$work/passwd.$n" "$work/group.$n"
done
printf '\nr/s = roster / sssd (lower is better). Load average at the end: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
