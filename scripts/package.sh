#!/usr/bin/env bash
# Builds Roster's packages from a clean checkout, in one command:
#
#   scripts/package.sh            # as root: installs the tools it needs when missing
#
# It builds rosterd and roster (release), roster-controller (release, in a
# cargo run of its own), builds pam_roster and nss_roster each alone
# (`cargo build -p … --target-dir …`, see DESIGN.md), strips them, lays out
# the files at each distribution's paths and writes
#
#   target/packages/roster_VERSION_amd64.deb              roster-VERSION-1.x86_64.rpm
#   target/packages/libpam-roster_VERSION_amd64.deb       libpam-roster-VERSION-1.x86_64.rpm
#   target/packages/libnss-roster_VERSION_amd64.deb       libnss-roster-VERSION-1.x86_64.rpm
#   target/packages/roster-controller_VERSION_amd64.deb   roster-controller-VERSION-1.x86_64.rpm
#
# with VERSION from the workspace Cargo.toml; then runs lintian on the .debs
# (fails on any error; kept tags are explained in packaging/README.md and
# packaging/lintian-overrides/).
#
# Options: --no-build   package the binaries already in target/ (no cargo)
#          --no-lintian skip lintian
# Environment: ROSTER_MAINTAINER (the Maintainer/Packager field),
#              SOURCE_DATE_EPOCH (changelog date; default: the last commit's).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$PWD

build=1
run_lintian=1
for arg in "$@"; do
    case $arg in
        --no-build) build=0 ;;
        --no-lintian) run_lintian=0 ;;
        -h | --help)
            sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "package.sh: unknown option $arg (try --help)" >&2
            exit 2
            ;;
    esac
done

step() { printf '\n==> %s\n' "$*" >&2; }
die() {
    echo "package.sh: $*" >&2
    exit 1
}

# --- tools ---------------------------------------------------------------
package_apt_needs=(
    dpkg-dev     # dpkg-shlibdeps, dpkg-architecture
    fakeroot
    rpm          # rpmbuild
    lintian
    debootstrap  # scripts/install-test.sh
    sudo         # visudo checks the sudoers drop-in
    binutils     # strip
    libpam0g-dev # pam_roster links against libpam
    gcc          # the linker cargo uses
)
missing=()
for pkg in "${package_apt_needs[@]}"; do
    dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
if ((${#missing[@]})); then
    [[ $(id -u) -eq 0 ]] || die "missing packages: ${missing[*]} — run as root (sudo) so they can be installed"
    step "installing ${missing[*]}"
    DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
fi
command -v cargo >/dev/null || die "cargo not found: install Rust (https://rustup.rs) first"
visudo=$(command -v visudo || echo /usr/sbin/visudo)

# --- version and metadata ------------------------------------------------
version=$(awk '
    /^\[/ { in_pkg = ($0 == "[workspace.package]") }
    in_pkg && $1 == "version" { gsub(/"/, "", $3); print $3; exit }' Cargo.toml)
[[ $version =~ ^[0-9]+\.[0-9]+\.[0-9]+([.~+][0-9A-Za-z.~+]*)?$ ]] ||
    die "can't read [workspace.package] version from Cargo.toml (got '$version')"
homepage=$(awk '
    /^\[/ { in_pkg = ($0 == "[workspace.package]") }
    in_pkg && $1 == "repository" { gsub(/"/, "", $3); print $3; exit }' Cargo.toml)
maintainer=${ROSTER_MAINTAINER:-Roster maintainers <roster@example.org>}
release=1
deb_arch=$(dpkg --print-architecture)
rpm_arch=$(uname -m)
multiarch=$(dpkg-architecture -qDEB_HOST_MULTIARCH)
epoch=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
export SOURCE_DATE_EPOCH=$epoch
# The sudoers drop-in names the admin group the packaged config defaults to.
admin_group=$(sed -nE 's/^#?admin_group[[:space:]]*=[[:space:]]*"([^"]+)".*/\1/p' packaging/rosterd.toml)
[[ $admin_group =~ ^[a-z_][a-z0-9_-]{0,31}$ ]] || die "no valid admin_group in packaging/rosterd.toml"

# --- build ---------------------------------------------------------------
if ((build)); then
    step "build rosterd and roster (release)"
    cargo build --release -p rosterd -p roster
    step "build roster-controller (release), alone"
    # A cargo run of its own: built together, cargo would unify the
    # controller's dependency features (tokio's, the HTTP and TLS stack's)
    # into rosterd's and roster's binaries.
    cargo build --release -p roster-controller
    step "build pam_roster and nss_roster, each alone"
    # shellcheck source=scripts/deps.sh
    source scripts/deps.sh
    roster_build_modules
fi
rosterd_bin=target/release/rosterd
roster_bin=target/release/roster
controller_bin=target/release/roster-controller
pam_so=target/pam/modules/libpam_roster.so
nss_so=target/nss/modules/libnss_roster.so
for f in "$rosterd_bin" "$roster_bin" "$controller_bin" "$pam_so" "$nss_so"; do
    [[ -f $f ]] || die "$f is missing: build it first (or drop --no-build)"
done

work=target/packaging
out=target/packages
rm -rf "$work" "$out"
mkdir -p "$work" "$out"
umask 022

# --- generated files -----------------------------------------------------
gen=$work/gen
mkdir -p "$gen"
strip_exe() { strip --remove-section=.comment --remove-section=.note -o "$2" "$1"; }
strip_lib() { strip --remove-section=.comment --remove-section=.note --strip-unneeded -o "$2" "$1"; }
strip_exe "$rosterd_bin" "$gen/rosterd"
strip_exe "$roster_bin" "$gen/roster"
strip_exe "$controller_bin" "$gen/roster-controller"
strip_lib "$pam_so" "$gen/pam_roster.so"
strip_lib "$nss_so" "$gen/libnss_roster.so.2"

cat >"$gen/sudoers" <<EOF
# Members of Roster's admin group (admin_group in /etc/roster/rosterd.toml;
# rosterd puts the "admin" holders of this host's environment in it) may run
# any command as any user. Keep this name in step with admin_group.
%$admin_group ALL=(ALL:ALL) ALL
EOF
"$visudo" -cf "$gen/sudoers" >/dev/null || die "visudo rejects the generated sudoers drop-in"

changelog_date=$(date -u -R -d "@$epoch")
packages=(roster libpam-roster libnss-roster roster-controller)
for pkg in "${packages[@]}"; do
    {
        printf '%s (%s) unstable; urgency=medium\n\n' "$pkg" "$version"
        printf '  * Roster %s.\n\n' "$version"
        printf ' -- %s  %s\n' "$maintainer" "$changelog_date"
    } | gzip -9n >"$gen/changelog.$pkg.gz"
done

# Man pages (clap_mangen) and bash/zsh/fish completions (clap_complete),
# each rendered from the clap definition its binary parses with, by a hidden
# subcommand or flag:
#   roster generate man DIR           -> DIR/roster.1, DIR/roster-*.1 (one per subcommand)
#   rosterd --generate-man DIR        -> DIR/rosterd.8
#   roster generate completions DIR   -> DIR/roster.bash, DIR/_roster, DIR/roster.fish
mkdir -p "$gen/man" "$gen/completions"
"$roster_bin" generate man "$gen/man" >/dev/null || die "roster generate man failed"
"$rosterd_bin" --generate-man "$gen/man" >/dev/null || die "rosterd --generate-man failed"
"$roster_bin" generate completions "$gen/completions" >/dev/null || die "roster generate completions failed"
shopt -s nullglob
man_pages=("$gen"/man/*.[1-8])
completions=("$gen"/completions/*)
shopt -u nullglob
((${#man_pages[@]} > 0)) || die "roster generate man wrote no man pages"
((${#completions[@]} == 3)) || die "roster generate completions wrote ${#completions[@]} files, not 3"

# roster-controller.8 the same way (roster-controller --generate-man DIR),
# once the binary has that hidden flag: a binary without it writes no page
# (or refuses the flag), and the package then ships none, with a lintian
# override saying so.
mkdir -p "$gen/controller-man"
controller_man=
if timeout 20 "$controller_bin" --generate-man "$gen/controller-man" >/dev/null 2>&1 &&
    [[ -s $gen/controller-man/roster-controller.8 ]]; then
    controller_man=$gen/controller-man/roster-controller.8
else
    step "roster-controller has no --generate-man yet: no roster-controller.8 in its package"
    cat >"$gen/controller-lintian-overrides" <<'EOF'
# The man page is rendered from the clap definition roster-controller parses
# with (roster-controller --generate-man DIR, as rosterd.8 is); this build
# of the binary doesn't have that flag yet, so scripts/package.sh ships none.
roster-controller: no-manual-page [usr/sbin/roster-controller]
EOF
fi

# --- file layout, shared by both formats ----------------------------------
# lay_out ROOT FLAVOR: puts every package's files under ROOT/PKG/.
lay_out() {
    local root=$1 flavor=$2 libdir secdir unitdir zshdir
    if [[ $flavor == deb ]]; then
        libdir=/usr/lib/$multiarch
        secdir=/usr/lib/$multiarch/security
        unitdir=/lib/systemd/system
        zshdir=/usr/share/zsh/vendor-completions
    else
        libdir=/usr/lib64
        secdir=/usr/lib64/security
        unitdir=/usr/lib/systemd/system
        zshdir=/usr/share/zsh/site-functions
    fi
    local r=$root/roster p=$root/libpam-roster n=$root/libnss-roster ctl=$root/roster-controller
    install -D -m 0755 "$gen/rosterd" "$r/usr/sbin/rosterd"
    install -D -m 0755 "$gen/roster" "$r/usr/bin/roster"
    install -D -m 0644 packaging/rosterd.toml "$r/etc/roster/rosterd.toml"
    install -D -m 0440 "$gen/sudoers" "$r/etc/sudoers.d/roster"
    install -D -m 0644 packaging/dbus/org.roster.Roster1.conf "$r/usr/share/dbus-1/system.d/org.roster.Roster1.conf"
    install -D -m 0644 packaging/dbus/org.roster.Roster1.service "$r/usr/share/dbus-1/system-services/org.roster.Roster1.service"
    install -D -m 0644 packaging/systemd/rosterd.service "$r$unitdir/rosterd.service"
    # Fleet mode's drop-in: shipped, not enabled (`roster hosts join` links it in).
    install -D -m 0644 packaging/systemd/rosterd-fleet.conf "$r/usr/share/roster/systemd/rosterd-fleet.conf"
    local page section
    for page in "${man_pages[@]}"; do
        section=${page##*.}
        install -d -m 0755 "$r/usr/share/man/man$section"
        local gz
        gz=$r/usr/share/man/man$section/$(basename "$page").gz
        gzip -9n -c "$page" >"$gz"
        chmod 0644 "$gz"
    done
    local c
    for c in "${completions[@]}"; do
        case $(basename "$c") in
            roster.bash) install -D -m 0644 "$c" "$r/usr/share/bash-completion/completions/roster" ;;
            _roster) install -D -m 0644 "$c" "$r$zshdir/_roster" ;;
            roster.fish) install -D -m 0644 "$c" "$r/usr/share/fish/vendor_completions.d/roster.fish" ;;
            *) die "unexpected completion file $(basename "$c")" ;;
        esac
    done

    install -D -m 0644 "$gen/pam_roster.so" "$p$secdir/pam_roster.so"
    install -D -m 0644 "$gen/libnss_roster.so.2" "$n$libdir/libnss_roster.so.2"

    install -D -m 0755 "$gen/roster-controller" "$ctl/usr/sbin/roster-controller"
    install -D -m 0644 packaging/controller.toml "$ctl/etc/roster/controller.toml"
    install -D -m 0644 packaging/systemd/roster-controller.service "$ctl$unitdir/roster-controller.service"
    if [[ -n $controller_man ]]; then
        install -d -m 0755 "$ctl/usr/share/man/man8"
        gzip -9n -c "$controller_man" >"$ctl/usr/share/man/man8/roster-controller.8.gz"
        chmod 0644 "$ctl/usr/share/man/man8/roster-controller.8.gz"
    elif [[ $flavor == deb ]]; then
        install -D -m 0644 "$gen/controller-lintian-overrides" "$ctl/usr/share/lintian/overrides/roster-controller"
    fi

    local pkg doc
    for pkg in "${packages[@]}"; do
        doc=$root/$pkg/usr/share/doc/$pkg
        if [[ $flavor == deb ]]; then
            install -D -m 0644 packaging/copyright "$doc/copyright"
            install -D -m 0644 "$gen/changelog.$pkg.gz" "$doc/changelog.gz"
            if [[ -f packaging/lintian-overrides/$pkg ]]; then
                install -D -m 0644 "packaging/lintian-overrides/$pkg" "$root/$pkg/usr/share/lintian/overrides/$pkg"
            fi
        else
            install -D -m 0644 packaging/copyright "$root/$pkg/usr/share/licenses/$pkg/COPYRIGHT"
        fi
    done
    install -D -m 0644 packaging/README.md "$r/usr/share/doc/roster/README.md"
    install -D -m 0644 packaging/README.md "$ctl/usr/share/doc/roster-controller/README.md"
    # pam-auth-update is Debian's; RPM systems use authselect (README).
    if [[ $flavor == deb ]]; then
        install -D -m 0644 packaging/pam-configs/roster "$p/usr/share/pam-configs/roster"
    fi
}

# --- .deb ----------------------------------------------------------------
step "lay out and build the .debs ($version, $deb_arch)"
debroot=$work/deb
lay_out "$debroot" deb

# The unit's hardening, as systemd scores it (0 = locked down, 10 = none).
if command -v systemd-analyze >/dev/null; then
    if systemd-analyze security --offline=yes --root="$top/$debroot/roster" --threshold=25 \
        rosterd.service >"$work/unit-security.txt" 2>&1; then
        grep -o 'Overall exposure level.*' "$work/unit-security.txt" >&2 || true
    else
        cat "$work/unit-security.txt" >&2
        die "rosterd.service exposure above 2.5 (systemd-analyze security)"
    fi
    # The same unit with the fleet drop-in applied, as `roster hosts join`
    # links it: a copy here, since --root doesn't follow the absolute link
    # into the root (it resolves it on the build host). It opens the network
    # (PrivateNetwork=no, AF_INET/AF_INET6, no IPAddressDeny): 2.6 now, 3.0
    # is its bar; systemd must see PrivateNetwork off, or it wasn't applied.
    fleetroot=$work/fleet-unit-root
    rm -rf "$fleetroot"
    cp -a "$debroot/roster" "$fleetroot"
    install -D -m 0644 packaging/systemd/rosterd-fleet.conf "$fleetroot/etc/systemd/system/rosterd.service.d/fleet.conf"
    if systemd-analyze security --offline=yes --root="$top/$fleetroot" --threshold=30 \
        rosterd.service >"$work/fleet-unit-security.txt" 2>&1 &&
        grep -q '✗ PrivateNetwork=' "$work/fleet-unit-security.txt"; then
        printf 'rosterd.service exposure: standalone %s, with the fleet drop-in %s\n' \
            "$(grep -o 'Overall exposure level.*' "$work/unit-security.txt" | grep -o '[0-9]*\.[0-9]')" \
            "$(grep -o 'Overall exposure level.*' "$work/fleet-unit-security.txt" | grep -o '[0-9]*\.[0-9]')" >&2
    else
        cat "$work/fleet-unit-security.txt" >&2
        die "rosterd.service with the fleet drop-in: exposure above 3.0, or the drop-in not applied (systemd-analyze security)"
    fi
    rm -rf "$fleetroot"
    # The controller serves the network (AF_INET/AF_INET6, no IPAddressDeny,
    # no PrivateNetwork), which scores higher than rosterd: 1.1 now, 2.0 is its bar.
    if systemd-analyze security --offline=yes --root="$top/$debroot/roster-controller" --threshold=20 \
        roster-controller.service >"$work/controller-unit-security.txt" 2>&1; then
        grep -o 'Overall exposure level.*' "$work/controller-unit-security.txt" >&2 || true
    else
        cat "$work/controller-unit-security.txt" >&2
        die "roster-controller.service exposure above 2.0 (systemd-analyze security)"
    fi
fi

# shlibs:Depends for PKG's ELF files, from dpkg-shlibdeps in a scratch tree.
shlibs_for() {
    local pkg=$1 scratch files=()
    scratch=$(mktemp -d "$top/$work/shlibs.XXXXXX")
    mkdir -p "$scratch/debian"
    printf 'Source: roster\n\nPackage: %s\nArchitecture: any\n' "$pkg" >"$scratch/debian/control"
    while IFS= read -r f; do files+=("-e$f"); done < <(
        find "$top/$debroot/$pkg" -type f \( -path '*/bin/*' -o -path '*/sbin/*' -o -name '*.so' -o -name '*.so.*' \) | sort
    )
    (cd "$scratch" && dpkg-shlibdeps -O "${files[@]}" 2>/dev/null) | sed -n 's/^shlibs:Depends=//p'
    rm -rf "$scratch"
}

for pkg in "${packages[@]}"; do
    dir=$debroot/$pkg
    meta=packaging/debian/$pkg
    install -d -m 0755 "$dir/DEBIAN"
    shlibs=$(shlibs_for "$pkg")
    [[ -n $shlibs ]] || die "dpkg-shlibdeps found no dependencies for $pkg"
    size=$(du -sk --exclude=DEBIAN "$dir" | cut -f1)
    sed -e "s|@VERSION@|$version|g" -e "s|@ARCH@|$deb_arch|g" -e "s|@MAINTAINER@|$maintainer|g" \
        -e "s|@SIZE@|$size|g" -e "s|@SHLIBS@|$shlibs|g" -e "s|@HOMEPAGE@|$homepage|g" \
        "$meta/control.in" >"$dir/DEBIAN/control"
    for f in conffiles triggers; do
        [[ -f $meta/$f ]] && install -m 0644 "$meta/$f" "$dir/DEBIAN/$f"
    done
    for f in preinst postinst prerm postrm; do
        [[ -f $meta/$f ]] && install -m 0755 "$meta/$f" "$dir/DEBIAN/$f"
    done
    (cd "$dir" && find . -path ./DEBIAN -prune -o -type f -printf '%P\0' | LC_ALL=C sort -z |
        xargs -0 -r md5sum) >"$dir/DEBIAN/md5sums"
    chmod 0644 "$dir/DEBIAN/md5sums"
    find "$dir" -exec touch -h -d "@$epoch" {} +
    dpkg-deb --root-owner-group -Zxz --build "$dir" "$out/${pkg}_${version}_${deb_arch}.deb" >/dev/null
done

# --- .rpm ----------------------------------------------------------------
step "lay out and build the .rpms ($version-$release, $rpm_arch)"
rpmroot=$work/rpm
lay_out "$rpmroot" rpm

# %files lines for a staged tree: every file with its mode, config files
# marked, and only the directories the package alone owns.
files_for() {
    local pkg=$1
    local dir=$rpmroot/$pkg
    (cd "$dir" && find . -mindepth 1 -printf '%y %m /%P\n' | LC_ALL=C sort -k3) |
        while read -r type mode path; do
            case $type in
                d)
                    case $path in
                        /etc/roster | /usr/share/roster | /usr/share/roster/systemd | /usr/share/doc/roster | /usr/share/doc/roster-controller | /usr/share/licenses/*)
                            echo "%dir %attr(0$mode,root,root) $path"
                            ;;
                    esac
                    ;;
                f)
                    case $path in
                        /etc/*) echo "%config(noreplace) %attr(0$mode,root,root) $path" ;;
                        /usr/share/licenses/*) echo "%license %attr(0$mode,root,root) $path" ;;
                        /usr/share/doc/*) echo "%doc %attr(0$mode,root,root) $path" ;;
                        *) echo "%attr(0$mode,root,root) $path" ;;
                    esac
                    ;;
                *) die "unexpected file type $type at $path" ;;
            esac
        done
}

rpmtop=$top/$work/rpmbuild
mkdir -p "$rpmtop"/{BUILD,BUILDROOT,SPECS,RPMS,SRPMS,SOURCES}
spec=$rpmtop/SPECS/roster.spec
{
    sed -e "s|@VERSION@|$version|g" -e "s|@RELEASE@|$release|g" -e "s|@HOMEPAGE@|$homepage|g" \
        -e "s|@STAGE@|$top/$rpmroot|g" -e "s|@MAINTAINER@|$maintainer|g" \
        -e "s|@DATE@|$(LC_ALL=C date -u -d "@$epoch" '+%a %b %d %Y')|g" \
        packaging/rpm/roster.spec.in
} >"$spec"
files_for roster >"$rpmtop/SPECS/roster.files"
files_for libpam-roster >"$rpmtop/SPECS/libpam-roster.files"
files_for libnss-roster >"$rpmtop/SPECS/libnss-roster.files"
files_for roster-controller >"$rpmtop/SPECS/roster-controller.files"
rpmbuild -bb --quiet \
    --define "_topdir $rpmtop" \
    --define "_rpmdir $top/$out" \
    --define "_build_name_fmt %%{NAME}-%%{VERSION}-%%{RELEASE}.%%{ARCH}.rpm" \
    --define "_filelists $rpmtop/SPECS" \
    --define "use_source_date_epoch_as_buildtime 1" \
    --define "clamp_mtime_to_source_date_epoch 1" \
    --target "$rpm_arch" \
    "$spec" >"$work/rpmbuild.log" 2>&1 || {
    cat "$work/rpmbuild.log" >&2
    die "rpmbuild failed"
}

# --- lintian -------------------------------------------------------------
if ((run_lintian)); then
    step "lintian"
    # Errors fail the build; each warning kept is explained in
    # packaging/lintian-overrides/ (shipped in the .debs) or packaging/README.md.
    lintian --fail-on error --display-info --tag-display-limit 0 "$out"/*.deb || die "lintian reports errors"
fi

step "packages in $out/"
ls -l "$out" >&2
