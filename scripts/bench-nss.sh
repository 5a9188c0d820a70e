#!/bin/sh
# Benchmark: libnss_roster (`passwd: roster` alone) against glibc's
# nss_files (`passwd: files` alone) at 24, 10,000 and 100,000 users, through
# glibc's real getpwnam/getpwuid, in a private mount namespace (the host's
# /etc is never touched: tests/nss/in-private-ns.sh bind-mounts a generated
# nsswitch.conf and passwd file there). Needs root and unshare(1).
#
#   scripts/bench-nss.sh [SIZES...]      default: 24 10000 100000
#
# With ROSTER_NSS_BASELINE_SO=path/to/an/older/libnss_roster.so, each size
# gets a second row ("N base") timing that module in the same run, on a
# snapshot of format version ROSTER_NSS_BASELINE_FORMAT (default 1, what
# rosterd wrote before the hash indexes): before/after figures under the
# same load.
#
# Figures (medians, µs unless marked):
#   getpwnam / getpwuid   a long-running process, users drawn at random
#   first lookup          a fresh process's first getpwnam (nsswitch.conf,
#                         dlopen of the module / open of /etc/passwd), median of 31 runs
#   enumeration           setpwent … getpwent … endpwent over everything, ms
set -eu

root=$(cd "$(dirname "$0")/.." && pwd)
cd "$root"
sizes=${*:-24 10000 100000}
runs=31

if [ "$(id -u)" != 0 ]; then
    echo "bench-nss.sh: needs root (private mount namespace, bind mounts)" >&2
    exit 1
fi

if [ -z "${ROSTER_NSS_SO:-}" ]; then
    cargo build --quiet --profile modules -p nss_roster --target-dir target/nss
    ROSTER_NSS_SO=$root/target/nss/modules/libnss_roster.so
fi
cargo build --quiet --release -p roster-snapshot --example gen --target-dir target/nss
gen=$root/target/nss/release/examples/gen

work=$(mktemp -d /tmp/roster-bench-nss.XXXXXX)
trap 'rm -rf "$work"' EXIT
cc -O2 -o "$work/bench" tests/nss/bench_nss.c

baseline=${ROSTER_NSS_BASELINE_SO:-}
baseline_format=${ROSTER_NSS_BASELINE_FORMAT:-1}
if [ -n "$baseline" ] && [ ! -f "$baseline" ]; then
    echo "bench-nss.sh: ROSTER_NSS_BASELINE_SO=$baseline: no such file" >&2
    exit 1
fi

# One namespace per (service, size, module): runs the long-running loop,
# the fresh-process first lookups and the enumeration.
measure() { # service size iterations [module snapshot tag]
    service=$1 n=$2 iter=$3 so=${4:-$ROSTER_NSS_SO} cache=${5:-$work/nss.$n} tag=${6:-}
    mkdir -p "$work/ns-$service-$n$tag"
    ROSTER_NSS_CACHE="$cache" tests/nss/in-private-ns.sh \
        --work "$work/ns-$service-$n$tag" --so "$so" \
        --passwd "$service" --group "$service" \
        --passwd-file "$work/passwd.$n" --group-file "$work/group.$n" \
        -- sh -c '
            b=$1 n=$2 iter=$3 runs=$4
            "$b" loop ruser "$n" "$iter"
            i=0; while [ $i -lt "$runs" ]; do "$b" first "ruser$((n / 2))"; i=$((i + 1)); done \
                | sed "s/first_us=//" | sort -n | awk "{v[NR]=\$1} END {print \"first_us=\" v[int((NR+1)/2)]}"
            "$b" enum
        ' sh "$work/bench" "$n" "$iter" "$runs"
}

field() { # text key
    printf '%s\n' "$1" | tr ' ' '\n' | sed -n "s/^$2=//p" | head -n 1
}

ratio() { awk -v a="$1" -v b="$2" 'BEGIN { if (b > 0) printf "%.3f", a / b; else print "-" }'; }

printf 'load average before: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
printf '\n%-8s | %-22s | %-22s | %-24s | %-22s\n' "users" "getpwnam µs" "getpwuid µs" "first lookup µs" "enumeration ms"
printf '%-8s | %-22s | %-22s | %-24s | %-22s\n' "" "files  roster  ratio" "files  roster  ratio" "files  roster  ratio" "files  roster"
printf '%s\n' "---------+------------------------+------------------------+--------------------------+-----------------------"
for n in $sizes; do
    "$gen" --out "$work/nss.$n" --users "$n" --passwd "$work/passwd.$n" --group "$work/group.$n"
    # nss_files is linear in the file: fewer iterations keep big sizes quick.
    files_iter=$((2000000 / (n + 100)))
    [ "$files_iter" -ge 100 ] || files_iter=100
    [ "$files_iter" -le 20000 ] || files_iter=20000
    f=$(measure files "$n" "$files_iter" | tr '\n' ' ')
    r=$(measure roster "$n" 20000 | tr '\n' ' ')
    fn=$(field "$f" nam_us) rn=$(field "$r" nam_us)
    fu=$(field "$f" uid_us) ru=$(field "$r" uid_us)
    ff=$(field "$f" first_us) rf=$(field "$r" first_us)
    fe=$(field "$f" enum_ms) re=$(field "$r" enum_ms)
    printf '%-8s | %6s %7s %7s | %6s %7s %7s | %7s %7s %7s | %9s %9s\n' "$n" \
        "$fn" "$rn" "$(ratio "$rn" "$fn")" "$fu" "$ru" "$(ratio "$ru" "$fu")" \
        "$ff" "$rf" "$(ratio "$rf" "$ff")" "$fe" "$re"
    if [ -n "$baseline" ]; then
        "$gen" --out "$work/nss-base.$n" --users "$n" --format-version "$baseline_format"
        b=$(measure roster "$n" 20000 "$baseline" "$work/nss-base.$n" -base | tr '\n' ' ')
        bn=$(field "$b" nam_us) bu=$(field "$b" uid_us) bf=$(field "$b" first_us) be=$(field "$b" enum_ms)
        printf '%-8s | %6s %7s %7s | %6s %7s %7s | %7s %7s %7s | %9s %9s\n' "$n base" \
            "$fn" "$bn" "$(ratio "$bn" "$fn")" "$fu" "$bu" "$(ratio "$bu" "$fu")" \
            "$ff" "$bf" "$(ratio "$bf" "$ff")" "$fe" "$be"
    fi
done
printf '\nratio = roster / files (lower is better). Module: %s (%s bytes)\n' \
    "$ROSTER_NSS_SO" "$(wc -c < "$ROSTER_NSS_SO")"
if [ -n "$baseline" ]; then
    printf '"N base" rows: %s (%s bytes) on format version %s snapshots\n' \
        "$baseline" "$(wc -c < "$baseline")" "$baseline_format"
fi
printf 'load average after: %s\n' "$(cut -d' ' -f1-3 /proc/loadavg)"
