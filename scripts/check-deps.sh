#!/usr/bin/env bash
# Checks that scripts/deps.sh installs everything the README's commands
# call, on a fresh Debian root rather than on this (already furnished) host:
#
#   scripts/check-deps.sh [ROOT]
#
# Without ROOT, debootstraps a minimal bookworm (minbase: no sudo, no
# openssl, no dbus) into a temp folder from this host's own apt mirror;
# then, chrooted in a private mount namespace, runs roster_install_deps
# exactly as the test command does and looks for every program, library and
# header that scripts/*.sh, tests/ and the packaging steps use. Prints each
# missing one and exits 1 if any is. Run it as root after adding a
# dependency; it is not part of scripts/test.sh (it downloads ~300 MB).
set -euo pipefail
cd "$(dirname "$0")/.."
[[ $(id -u) -eq 0 ]] || {
    echo "check-deps.sh: run as root (it debootstraps and chroots)" >&2
    exit 1
}
# shellcheck source=scripts/deps.sh
source scripts/deps.sh

root=${1:-}
made=0
if [[ -z $root ]]; then
    command -v debootstrap >/dev/null || roster_install_deps
    root=$(mktemp -d /tmp/roster-check-deps.XXXXXX)/root
    made=1
    mirror=$(roster_debian_mirror bookworm)
    echo "check-deps.sh: debootstrap bookworm minbase from $mirror into $root" >&2
    unshare --mount --propagation private \
        debootstrap --variant=minbase bookworm "$root" "$mirror" >"$root.log" 2>&1 || {
        tail -n 20 "$root.log" >&2
        exit 1
    }
fi
cleanup() {
    local rc=$?
    if ((made)) && ! grep -q " $root" /proc/self/mountinfo; then
        rm -rf --one-file-system "$(dirname "$root")"
    fi
    exit "$rc"
}
trap cleanup EXIT

install -m 0644 scripts/deps.sh "$root/tmp/deps.sh"
# What the scripts and tests run, by name; libraries and headers by path.
programs=(
    bash awk sed grep tar md5sum install mktemp timeout sleep kill
    dbus-daemon pamtester setpriv unshare setsid su getent id cc gcc
    sqlite3 ssh ssh-keygen sshd openssl readelf strip ps
    visudo dpkg-deb dpkg-shlibdeps dpkg-architecture fakeroot rpm rpmbuild
    lintian debootstrap systemd-nspawn mount chroot
    strace ip nsenter
    mkpasswd
)
lib=/usr/lib/$(gcc -print-multiarch)
files=(
    "$lib/libpam_wrapper.so"
    "$lib/libnss_wrapper.so"
    "$lib/libuid_wrapper.so"
    "$lib/libpam.so"
    "$lib/libcrypt.so"
    /usr/include/security/pam_modules.h
    # The PostgreSQL backend's and the controller's tests start their own.
    /usr/lib/postgresql/15/bin/initdb
    /usr/lib/postgresql/15/bin/postgres
)
# shellcheck disable=SC2016 # expanded by the inner bash
unshare --mount --propagation private bash -c '
    set -euo pipefail
    root=$1; shift
    mount -t proc proc "$root/proc"
    mount --bind /dev "$root/dev"
    cp /etc/resolv.conf "$root/etc/resolv.conf" 2>/dev/null || true
    exec chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root bash -c "
        set -euo pipefail
        source /tmp/deps.sh
        # cargo comes from rustup, not apt: stand in for it here.
        cargo() { :; }
        command() { if [[ \$1 == -v && \$2 == cargo ]]; then echo cargo; else builtin command \"\$@\"; fi; }
        roster_install_deps
        unset -f command
        missing=0
        for p in \"\$@\"; do
            case \$p in
                /*) [[ -e \$p ]] || { echo \"MISSING file \$p\"; missing=1; } ;;
                *) builtin command -v \$p >/dev/null || { echo \"MISSING program \$p\"; missing=1; } ;;
            esac
        done
        exit \$missing
    " _ "$@"
' _ "$root" "${programs[@]}" "${files[@]}" && echo "check-deps.sh: every program and file is there after roster_install_deps" >&2
