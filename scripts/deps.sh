#!/usr/bin/env bash
# Installs the Debian packages the demo and the tests need, when missing.
# Sourced by scripts/demo.sh and scripts/test.sh; needs root to install.
set -euo pipefail

roster_apt_packages=(
    dbus            # dbus-daemon for the private test bus
    pamtester       # drives the real PAM stack
    libpam-wrapper  # loads PAM services from a test directory
    libnss-wrapper  # loads libnss_roster without touching /etc/nsswitch.conf
    libuid-wrapper  # initgroups under nss_wrapper
    libpam0g-dev    # links pam_roster.so against libpam
    sqlite3         # integrity checks in the durability test
    util-linux      # setpriv, unshare, nsenter
    strace          # the NSS module's "no system call on the hot path" test
    iproute2        # ip: the fleet tests' veth pairs between host namespaces
    gcc             # the small C test programs
    procps
    openssh-server  # a real sshd for the AuthorizedKeysCommand test
    openssh-client  # ssh, ssh-keygen
    openssl         # a test makes a throw-away key pair; import tests' crypt hashes
    whois           # mkpasswd: the import tests' yescrypt, sha512-crypt and bcrypt hashes
    libcrypt-dev    # rosterd links the system's libcrypt (crypt_r) for adopted hashes
    binutils        # readelf (a module test), strip (packaging)
    sudo            # visudo checks the sudoers drop-in (doctor tests, packaging)
    # scripts/package.sh and scripts/install-test.sh, the test command's last step:
    dpkg-dev        # dpkg-shlibdeps, dpkg-architecture
    fakeroot
    rpm             # rpmbuild, rpm -qp
    lintian
    debootstrap     # the fresh Debian root of the installation test
    systemd-container # systemd-nspawn boots that root under systemd
    # store-postgres's test: initdb and postgres (/usr/lib/postgresql/15/bin)
    # for a private cluster in a temp dir, run as the postgres user this
    # package creates (the test needs no runuser: it sets the uid itself;
    # the package's own cluster on port 5432 is left alone).
    postgresql-15
    # The store tier of the fleet's failover tests (scripts/store-tier.sh):
    # three etcd members (there is no package named etcd) and Patroni,
    # from PyPI into a venv that roster_install_patroni builds from
    # Debian's python3 (pinned in scripts/patroni-requirements.txt).
    etcd-server
    python3-venv
)

roster_install_deps() {
    local missing=()
    for pkg in "${roster_apt_packages[@]}"; do
        dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
    done
    if ((${#missing[@]})); then
        if [[ $(id -u) -ne 0 ]]; then
            echo "missing packages: ${missing[*]} — run as root (sudo) so they can be installed" >&2
            exit 1
        fi
        echo "installing: ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${missing[@]}" >&2
    fi
    if ! command -v cargo >/dev/null; then
        echo "cargo not found: install Rust (https://rustup.rs) first" >&2
        exit 1
    fi
}

# Where roster_install_patroni puts Patroni's venv: a fixed path outside
# /root (Patroni runs as the postgres user, who can't enter /root).
roster_patroni_venv=/opt/roster-patroni

# Patroni 4.1.5 and psycopg2-binary from PyPI, at the versions
# scripts/patroni-requirements.txt pins, in a venv built from Debian's
# /usr/bin/python3 (never a Python under /root: Patroni runs as postgres).
# Rebuilt when the pins change; otherwise a no-op.
roster_install_patroni() {
    local here requirements stamp
    here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
    requirements=$here/patroni-requirements.txt
    stamp=$roster_patroni_venv/.roster-requirements
    if [[ -x $roster_patroni_venv/bin/patroni ]] && cmp -s "$requirements" "$stamp"; then
        return
    fi
    if [[ $(id -u) -ne 0 ]]; then
        echo "Patroni's venv $roster_patroni_venv is missing or out of date — run as root (sudo) so it can be built" >&2
        exit 1
    fi
    echo "building Patroni's venv in $roster_patroni_venv" >&2
    rm -rf "$roster_patroni_venv"
    /usr/bin/python3 -m venv "$roster_patroni_venv"
    "$roster_patroni_venv/bin/pip" install -q --disable-pip-version-check -r "$requirements" >&2
    cp "$requirements" "$stamp"
    chmod -R a+rX "$roster_patroni_venv"
}

# The Debian mirror this host's own apt sources use for SUITE (e.g.
# bookworm), so the installation test downloads from wherever this host
# does (a local mirror included); ROSTER_DEBIAN_MIRROR overrides it.
roster_debian_mirror() {
    local suite=$1 uri
    if [[ -n ${ROSTER_DEBIAN_MIRROR:-} ]]; then
        printf '%s\n' "$ROSTER_DEBIAN_MIRROR"
        return
    fi
    roster_mirror_of() {
        apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(COMPONENT) $(IDENTIFIER)' 2>/dev/null |
            awk -v suite="$1" '$2 == suite && $3 == "main" && $4 == "Packages" { sub(/\/$/, "", $1); print $1; exit }'
    }
    uri=$(roster_mirror_of "$suite")
    if [[ -z $uri ]]; then
        # No index downloaded yet (a fresh machine): apt knows its sources
        # once it has fetched them.
        DEBIAN_FRONTEND=noninteractive apt-get update -q >&2 || true
        uri=$(roster_mirror_of "$suite")
    fi
    if [[ -z $uri ]]; then
        echo "no apt source on this host serves Debian $suite main: add one, or set ROSTER_DEBIAN_MIRROR" >&2
        return 1
    fi
    printf '%s\n' "$uri"
}

# The C modules are built alone so that cargo's feature unification can't
# hand pam_roster zbus's tokio feature (DESIGN.md, "What each crate may link").
roster_build_modules() {
    cargo build --profile modules -p nss_roster --target-dir target/nss
    cargo build --profile modules -p pam_roster --target-dir target/pam
    # The tree first (cargo tree takes no --target-dir: given one, it failed
    # and the check passed unseen), then the search.
    local features
    features=$(cargo tree -p pam_roster -e features)
    if grep -q 'tokio' <<<"$features"; then
        echo "pam_roster's dependency tree contains tokio: the PAM module must not carry a runtime" >&2
        exit 1
    fi
    ln -sf libnss_roster.so target/nss/modules/libnss_roster.so.2
    ln -sf libpam_roster.so target/pam/modules/pam_roster.so
}
