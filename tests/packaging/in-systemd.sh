#!/bin/bash
# Runs inside the Debian root that scripts/install-test.sh boots with
# systemd-nspawn (as /root/in-systemd.sh, from a oneshot unit): installs the
# packages under a running systemd and checks that the hardened
# rosterd.service works: started by the postinst, state folders from
# StateDirectory=/CacheDirectory=, homes created under ProtectSystem=strict,
# a suspended user's processes ended within the capability bounding set,
# Restart=on-failure, and a clean purge. Writes one "PASS: …"/"FAIL: …" line
# per step to /root/systemd-results.log, then powers the container off.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8
results=/root/systemd-results.log
: >"$results"
pass() { echo "PASS: $*" >>"$results"; }
fail() { echo "FAIL: $*" >>"$results"; }
note() { printf '    %s\n' "$@" >>"$results"; }
finish() {
    echo "END-OF-SYSTEMD-TEST" >>"$results"
    systemctl poweroff --no-block
}
trap finish EXIT
pw='Correct-horse-42'
user=bob

journal_tail() { journalctl -u rosterd.service --no-pager -n 15 -o cat 2>/dev/null | sed 's/^/    /' >>"$results" || true; }

run() {
    if dpkg -i /root/debs/*.deb >/root/dpkg-install.log 2>&1; then
        pass "systemd: dpkg -i under a running systemd"
    else
        fail "systemd: dpkg -i"
        sed 's/^/    /' /root/dpkg-install.log >>"$results"
        return 1
    fi

    local enabled active
    enabled=$(systemctl is-enabled rosterd.service 2>&1 || true)
    for _ in $(seq 50); do
        active=$(systemctl is-active rosterd.service 2>&1 || true)
        [[ $active == active ]] && break
        sleep 0.2
    done
    if [[ $enabled == enabled && $active == active ]]; then
        pass "systemd: the postinst enabled and started rosterd.service (Type=dbus: the name was taken under the hardening)"
    else
        fail "systemd: rosterd.service is $enabled/$active"
        journal_tail
        return 1
    fi

    local modes
    modes="$(stat -c %a /var/lib/roster) $(stat -c %a /var/cache/roster)"
    if [[ $modes == "700 755" ]]; then
        pass "systemd: StateDirectory /var/lib/roster 0700, CacheDirectory /var/cache/roster 0755"
    else
        fail "systemd: /var/lib/roster, /var/cache/roster modes are $modes"
    fi

    if printf '%s\n' "$pw" | roster users create "$user" --password-stdin >/root/create.log 2>&1 &&
        roster users grant "$user" write >>/root/create.log 2>&1 && getent passwd "$user" >/dev/null; then
        pass "systemd: roster users create + grant; getent passwd $user ($(stat -c %a /var/cache/roster/nss.cache) snapshot)"
    else
        fail "systemd: create $user: $(tr '\n' ' ' </root/create.log)"
        journal_tail
        return 1
    fi

    # roster doctor on a fresh install, once the admin has made the local
    # break-glass account the README asks for (warnings allowed).
    useradd -m -G sudo breakglass
    printf 'breakglass:%s\n' 'Break-glass-45' | chpasswd
    if roster doctor >/root/doctor.log 2>&1; then
        pass "systemd: roster doctor passes on the fresh install ($(tail -n 1 /root/doctor.log))"
    else
        fail "systemd: roster doctor:"
        grep -v '✓' /root/doctor.log | sed 's/^/    /' >>"$results"
    fi

    printf '@include common-%s\n' auth account password session >/etc/pam.d/roster-test
    if printf '%s\n' "$pw" | pamtester roster-test "$user" authenticate acct_mgmt open_session close_session \
        >/root/pam.log 2>&1 && [[ $(stat -c '%U %a' "/home/$user" 2>/dev/null) == "$user 700" ]]; then
        pass "systemd: login and session; rosterd (ProtectSystem=strict, ReadWritePaths=/home) created /home/$user 0700"
    else
        fail "systemd: login/session/home: $(tr '\n' ' ' </root/pam.log) home: $(stat -c '%U %a' "/home/$user" 2>&1)"
        journal_tail
    fi

    local uid victim
    uid=$(id -u "$user")
    setpriv --reuid="$uid" --regid="$uid" --clear-groups setsid sleep 600 </dev/null >/dev/null 2>&1 &
    victim=$!
    sleep 0.5
    if roster users suspend "$user" >/root/suspend.log 2>&1; then
        for _ in $(seq 100); do kill -0 "$victim" 2>/dev/null || break; sleep 0.1; done
        if kill -0 "$victim" 2>/dev/null; then
            fail "systemd: suspend left $user's process $victim running (signals blocked by the unit?)"
            journal_tail
            kill -9 "$victim" 2>/dev/null || true
        else
            pass "systemd: suspend ended $user's leftover process (sees /proc, signals through the capability bounding set)"
        fi
    else
        fail "systemd: roster users suspend: $(tr '\n' ' ' </root/suspend.log)"
    fi
    wait "$victim" 2>/dev/null || true

    local pid
    pid=$(systemctl show -p MainPID --value rosterd.service)
    kill -9 "$pid"
    for _ in $(seq 100); do
        sleep 0.1
        [[ $(systemctl show -p MainPID --value rosterd.service) != "$pid" && $(systemctl is-active rosterd.service) == active ]] && break
    done
    if [[ $(systemctl is-active rosterd.service) == active && $(systemctl show -p NRestarts --value rosterd.service) -ge 1 ]]; then
        pass "systemd: after kill -9, Restart=on-failure brought rosterd back"
    else
        fail "systemd: rosterd not restarted after kill -9"
        journal_tail
    fi

    # rosterd's own lines (systemd's notes about the unit, e.g. a container
    # refusing PrivateNetwork's loopback setup, are not rosterd's).
    local denials lines
    lines=$(journalctl _SYSTEMD_UNIT=rosterd.service _COMM=rosterd --no-pager -o cat | wc -l)
    denials=$(journalctl _SYSTEMD_UNIT=rosterd.service _COMM=rosterd --no-pager -o cat |
        grep -Ei 'permission denied|operation not permitted|read-only file system' || true)
    if [[ -n $denials ]]; then
        fail "systemd: rosterd logged a denial:"
        head -n 5 <<<"$denials" | sed 's/^/    /' >>"$results"
    else
        pass "systemd: rosterd logged no permission denial under the hardening ($lines lines of its own checked)"
    fi

    if dpkg --purge libpam-roster libnss-roster roster >/root/dpkg-purge.log 2>&1 &&
        ! systemctl is-active --quiet rosterd.service && [[ ! -e /var/lib/roster && ! -e /lib/systemd/system/rosterd.service ]]; then
        pass "systemd: dpkg --purge stopped rosterd and removed its unit and state"
    else
        local left=""
        for f in /var/lib/roster /lib/systemd/system/rosterd.service; do [[ -e $f ]] && left+=" $f"; done
        fail "systemd: purge: rosterd $(systemctl is-active rosterd.service 2>&1); left:${left:- nothing}"
        sed 's/^/    /' /root/dpkg-purge.log >>"$results"
    fi
}

run || note "the remaining systemd steps depend on the one that failed"
