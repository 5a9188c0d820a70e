#!/usr/bin/env bash
# Proof by installation (issue 8 §5), as root:
#
#   scripts/install-test.sh [--no-package] [--no-systemd] [--keep] [--write-lists]
#
# 1. builds the packages (scripts/package.sh, which also runs lintian) unless
#    --no-package, then checks the .deb and .rpm file lists, modes and config
#    flags against tests/packaging/*.list;
# 2. unpacks a fresh Debian bookworm root (debootstrap, minbase + dbus,
#    libpam-runtime, pamtester, sudo, systemd; cached as a tarball under
#    target/install-test/ so later runs skip the download) into a temp folder
#    and, in a private mount and pid namespace (nothing leaks to the host, and
#    every process started inside dies with it), chroots into it to:
#    dpkg -i the three .debs; check /etc/pam.d/common-* and nsswitch.conf;
#    start the system dbus-daemon and rosterd (D-Bus activation first);
#    create a user with the installed roster; getent passwd it; authenticate
#    it and check its account with pamtester through common-auth and
#    common-account; open a session and find its home; suspend it and see
#    common-account deny it; change its password through common-password;
#    dpkg --purge all three and compare common-* and nsswitch.conf with the
#    files from before the install, byte for byte;
# 3. boots a second copy of that root with systemd-nspawn (unless
#    --no-systemd) and, under a running systemd, installs the packages again
#    to check the hardened rosterd.service: started by the postinst,
#    StateDirectory/CacheDirectory modes, a home created, a suspended user's
#    leftover process ended, Restart=on-failure, roster doctor clean (with a
#    local break-glass admin), a clean purge.
# Never touches the host's /etc. Prints PASS/FAIL per step and a summary;
# exits non-zero when a step fails. --keep leaves the root for inspection.
# --write-lists rewrites tests/packaging/*.list from the built packages and
# stops (after an intended change of contents; review the diff).
# Environment: ROSTER_DEBIAN_MIRROR (default: the mirror this host's own apt
# sources use for bookworm).
set -euo pipefail
cd "$(dirname "$0")/.."

package=1
keep=0
write_lists=0
with_systemd=1
for arg in "$@"; do
    case $arg in
        --no-package) package=0 ;;
        --keep) keep=1 ;;
        --write-lists) write_lists=1 ;;
        --no-systemd) with_systemd=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "install-test.sh: unknown option $arg (try --help)" >&2
            exit 2
            ;;
    esac
done
[[ $(id -u) -eq 0 ]] || {
    echo "install-test.sh: run as root (it debootstraps and chroots)" >&2
    exit 1
}

# shellcheck source=scripts/deps.sh
source scripts/deps.sh
roster_install_deps

step() { printf '\n==> %s\n' "$*" >&2; }
results=()
pass() {
    results+=("PASS  $*")
    echo "PASS: $*" >&2
}
fail() {
    results+=("FAIL  $*")
    echo "FAIL: $*" >&2
}
summary() {
    printf '\n==> install test summary\n' >&2
    local line failed=0
    for line in "${results[@]}"; do
        echo "$line" >&2
        [[ $line == FAIL* ]] && failed=1
    done
    return "$failed"
}

t0=$(date +%s)
if ((package)); then
    step "build the packages"
    scripts/package.sh
fi
version=$(awk '
    /^\[/ { in_pkg = ($0 == "[workspace.package]") }
    in_pkg && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' Cargo.toml)
arch=$(dpkg --print-architecture)
out=target/packages
debs=()
for pkg in roster libpam-roster libnss-roster; do
    deb=$out/${pkg}_${version}_${arch}.deb
    [[ -f $deb ]] || {
        echo "install-test.sh: $deb is missing: run scripts/package.sh" >&2
        exit 1
    }
    debs+=("$deb")
done

# --- package contents against tests/packaging/ ----------------------------
step "package contents"
# The same data as dpkg-deb -c and rpm -qlpv, minus sizes and dates, plus
# rpm's file flags (c = config file, d = doc, l = license).
list_deb() { # DEB: TYPE+MODE OWNER/GROUP PATH
    dpkg-deb -c "$1" | awk '{ p = $6; for (i = 7; i <= NF; i++) p = p " " $i; print $1, $2, p }' | LC_ALL=C sort -k3
}
list_rpm() { # RPM: FLAGS MODE OWNER GROUP PATH
    rpm -qp --qf '[%{FILEFLAGS:fflags} %{FILEMODES:perms} %{FILEUSERNAME} %{FILEGROUPNAME} %{FILENAMES}\n]' "$1" |
        awk '{ if (NF == 4) { $1 = $1; $0 = "- " $0 } print }' | LC_ALL=C sort -k5
}
for pkg in roster libpam-roster libnss-roster; do
    deb=$out/${pkg}_${version}_${arch}.deb
    rpm_file=$(find "$out" -maxdepth 1 -name "$pkg-$version-*.$(uname -m).rpm" | head -n1)
    if ((write_lists)); then
        list_deb "$deb" >"tests/packaging/deb-$pkg.list"
        [[ -n $rpm_file ]] && list_rpm "$rpm_file" >"tests/packaging/rpm-$pkg.list"
        continue
    fi
    expected=tests/packaging/deb-$pkg.list
    if diff -u "$expected" <(list_deb "$deb"); then
        pass "deb $pkg lists exactly the files and modes of $expected"
    else
        fail "deb $pkg contents differ from $expected (diff above)"
    fi
    expected=tests/packaging/rpm-$pkg.list
    if [[ -z $rpm_file ]]; then
        fail "rpm $pkg: no .rpm in $out"
    elif diff -u "$expected" <(list_rpm "$rpm_file"); then
        rpm -qlpv "$rpm_file" >&2
        pass "rpm $pkg lists exactly the files, modes and config flags of $expected"
    else
        fail "rpm $pkg contents differ from $expected (diff above)"
    fi
done
if ((write_lists)); then
    echo "install-test.sh: wrote tests/packaging/{deb,rpm}-*.list: review them with git diff" >&2
    exit 0
fi

# --- a fresh Debian root ---------------------------------------------------
suite=bookworm
include=dbus,libpam-runtime,pamtester,sudo,procps,systemd,systemd-sysv
cache_dir=target/install-test
cache=$cache_dir/$suite-minbase-$(printf '%s' "$include" | md5sum | cut -c1-8).tar.gz
if [[ ! -f $cache ]]; then
    mirror=$(roster_debian_mirror "$suite")
    step "debootstrap $suite (minbase + $include) from $mirror, cached in $cache"
    mkdir -p "$cache_dir"
    boot=$(mktemp -d /tmp/roster-debootstrap.XXXXXX)
    # debootstrap mounts proc and sys itself; a private mount namespace keeps
    # them (and any left behind by a failure) away from the host.
    if ! unshare --mount --propagation private \
        debootstrap --variant=minbase --include="$include" "$suite" "$boot/root" "$mirror" >"$cache_dir/debootstrap.log" 2>&1; then
        tail -n 30 "$cache_dir/debootstrap.log" >&2
        rm -rf --one-file-system "$boot"
        echo "install-test.sh: debootstrap failed (log: $cache_dir/debootstrap.log)" >&2
        exit 1
    fi
    rm -rf "$boot/root/var/cache/apt/archives/"*.deb
    tar --numeric-owner -C "$boot/root" -czf "$cache.tmp" .
    mv "$cache.tmp" "$cache"
    rm -rf --one-file-system "$boot"
fi

root=$(mktemp -d /tmp/roster-install-test.XXXXXX)
roots=("$root")
cleanup() {
    local rc=$? r
    for r in "${roots[@]}"; do
        # The mounts live in namespaces (unshare's, nspawn's) that are gone by
        # now; never remove a root while anything is still mounted below it.
        if grep -q " $r/" /proc/self/mountinfo; then
            echo "install-test.sh: mounts left under $r, not removing it" >&2
        elif ((keep)); then
            echo "install-test.sh: root kept in $r" >&2
        else
            rm -rf --one-file-system "$r"
        fi
    done
    exit "$rc"
}
trap cleanup EXIT
step "unpack the $suite root into $root"
tar --numeric-owner -C "$root" -xzf "$cache"
install -d -m 0755 "$root/tmp/debs"
cp "${debs[@]}" "$root/tmp/debs/"
install -m 0755 tests/packaging/in-chroot.sh "$root/root/inner.sh"

step "install and exercise the packages in the $suite root"
inner_log=$cache_dir/inner.log
# A private mount and pid namespace: the mounts vanish and every process
# started inside (dbus-daemon, rosterd) is killed when it ends.
# shellcheck disable=SC2016 # expanded by the inner bash
unshare --mount --pid --fork --propagation private bash -c '
    set -euo pipefail
    root=$1
    mount -t proc proc "$root/proc"
    mount -t sysfs sysfs "$root/sys" 2>/dev/null || true
    mount --bind /dev "$root/dev"
    mount -t devpts -o newinstance,ptmxmode=0666 devpts "$root/dev/pts" 2>/dev/null || true
    mount -t tmpfs -o mode=0755 tmpfs "$root/run"
    exec chroot "$root" /root/inner.sh
' _ "$root" 2>&1 | tee "$inner_log" || true
while IFS= read -r line; do
    case $line in
        PASS:*) results+=("PASS  ${line#PASS: }") ;;
        FAIL:*) results+=("FAIL  ${line#FAIL: }") ;;
        SKIP:*) results+=("SKIP  ${line#SKIP: }") ;;
    esac
done <"$inner_log"
grep -qx 'END-OF-INSTALL-TEST' "$inner_log" || results+=("FAIL  the chroot test did not reach the end (log: $inner_log)")

# --- the same packages under a running systemd -------------------------------
if ((with_systemd)); then
    step "boot the $suite root with systemd-nspawn and exercise rosterd.service"
    if command -v systemd-nspawn >/dev/null; then
        boot=$(mktemp -d /tmp/roster-install-test-boot.XXXXXX)
        roots+=("$boot")
        tar --numeric-owner -C "$boot" -xzf "$cache"
        install -d -m 0755 "$boot/root/debs"
        cp "${debs[@]}" "$boot/root/debs/"
        install -m 0755 tests/packaging/in-systemd.sh "$boot/root/in-systemd.sh"
        cat >"$boot/etc/systemd/system/roster-install-test.service" <<'UNIT'
[Unit]
Description=Roster install test under systemd
Wants=dbus.service
After=dbus.service

[Service]
Type=oneshot
ExecStart=/root/in-systemd.sh
StandardOutput=journal+console
StandardError=journal+console
UNIT
        ln -s ../roster-install-test.service "$boot/etc/systemd/system/multi-user.target.wants/roster-install-test.service"
        timeout 300 systemd-nspawn -q -D "$boot" --register=no --keep-unit --boot </dev/null \
            >"$cache_dir/nspawn.log" 2>&1 || true
        sed 's/^/    /' "$boot/root/systemd-results.log" >&2 2>/dev/null || true
        while IFS= read -r line; do
            case $line in
                PASS:*) results+=("PASS  ${line#PASS: }") ;;
                FAIL:*) results+=("FAIL  ${line#FAIL: }") ;;
            esac
        done < <(cat "$boot/root/systemd-results.log" 2>/dev/null || true)
        grep -qx 'END-OF-SYSTEMD-TEST' "$boot/root/systemd-results.log" 2>/dev/null ||
            results+=("FAIL  systemd: the booted container did not finish the test (log: $cache_dir/nspawn.log)")
    else
        results+=("FAIL  systemd: systemd-nspawn not available (systemd-container); --no-systemd skips this part")
    fi
fi

echo "install-test.sh: $(($(date +%s) - t0)) s" >&2
summary
