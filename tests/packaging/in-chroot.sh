#!/bin/bash
# Runs inside the Debian root that scripts/install-test.sh prepares (as
# /root/inner.sh, under chroot). Prints one "PASS: …"/"FAIL: …" line per step.
set -euo pipefail
export PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin LC_ALL=C.UTF-8
pass() { echo "PASS: $*"; }
fail() { echo "FAIL: $*"; }
skip() { echo "SKIP: $*"; }
note() { printf '    %s\n' "$@"; }
verdict() { # OK PASS-MESSAGE FAIL-MESSAGE
    if (($1)); then pass "$2"; else fail "$3"; fi
}
pw1='Correct-horse-42'
pw2='Battery-staple-43'
user=alice

mkdir -p /root/before
cp -a /etc/pam.d/common-auth /etc/pam.d/common-account /etc/pam.d/common-password \
    /etc/pam.d/common-session /etc/pam.d/common-session-noninteractive /etc/nsswitch.conf /root/before/

# --- install ---------------------------------------------------------------
if dpkg -i /tmp/debs/*.deb >/root/dpkg-install.log 2>&1; then
    pass "dpkg -i roster libpam-roster libnss-roster"
else
    fail "dpkg -i (log follows)"
    sed 's/^/    /' /root/dpkg-install.log
    exit 0
fi

ok=1
for f in /usr/sbin/rosterd /usr/bin/roster /usr/lib/x86_64-linux-gnu/security/pam_roster.so \
    /usr/lib/x86_64-linux-gnu/libnss_roster.so.2 /etc/roster/rosterd.toml /etc/sudoers.d/roster \
    /usr/share/dbus-1/system.d/org.roster.Roster1.conf /usr/share/dbus-1/system-services/org.roster.Roster1.service \
    /lib/systemd/system/rosterd.service /usr/share/roster/systemd/rosterd-fleet.conf /usr/share/pam-configs/roster; do
    [[ -e $f ]] || { note "missing $f"; ok=0; }
done
if [[ $(stat -c %a /etc/sudoers.d/roster) == 440 ]] && visudo -cf /etc/sudoers.d/roster >/dev/null; then :; else
    note "/etc/sudoers.d/roster: mode $(stat -c %a /etc/sudoers.d/roster) or visudo -c fails"
    ok=0
fi
verdict "$ok" "installed files in place (sudoers drop-in 0440, visudo -c clean)" "installed files"

# --- the fleet drop-in -----------------------------------------------------
# Linked in as `roster hosts join` links it, then taken out again: systemd
# (verify, security --offline, as in this root) must read the unit with it,
# and it must open the network and nothing else. --man=no: no man-db here.
unit=/lib/systemd/system/rosterd.service
fleet_conf=/usr/share/roster/systemd/rosterd-fleet.conf
fleet_link=/etc/systemd/system/rosterd.service.d/fleet.conf
exposure() { grep -o 'Overall exposure level for rosterd.service: [0-9.]*' | grep -o '[0-9.]*$'; }
ok=1
[[ $(stat -c '%a %U:%G' "$fleet_conf" 2>&1) == '644 root:root' ]] || { note "$fleet_conf: $(stat -c '%a %U:%G' "$fleet_conf" 2>&1)"; ok=0; }
grep -qx 'PrivateNetwork=yes' "$unit" || { note "$unit lacks PrivateNetwork=yes"; ok=0; }
systemd-analyze security --offline=yes rosterd.service >/root/security-standalone.log 2>&1 || true
standalone=$(exposure </root/security-standalone.log || true)
grep -q '✓ PrivateNetwork=' /root/security-standalone.log || { note "standalone: systemd doesn't see PrivateNetwork=yes"; ok=0; }
mkdir -p "${fleet_link%/*}"
ln -sf "$fleet_conf" "$fleet_link"
if systemd-analyze verify --man=no rosterd.service >/root/verify-fleet.log 2>&1 && ! grep -q . /root/verify-fleet.log; then :; else
    note "systemd-analyze verify with the drop-in:"
    sed 's/^/      /' /root/verify-fleet.log
    ok=0
fi
systemd-analyze security --offline=yes rosterd.service >/root/security-fleet.log 2>&1 || true
fleet=$(exposure </root/security-fleet.log || true)
grep -q '✗ PrivateNetwork=' /root/security-fleet.log || { note "with the drop-in systemd still sees PrivateNetwork=yes (not applied?)"; ok=0; }
# Only the network lines may change between the two.
changed=$(diff <(grep -E '^[✓✗]' /root/security-standalone.log | sort) <(grep -E '^[✓✗]' /root/security-fleet.log | sort) |
    grep -E '^[<>]' | grep -Ev 'PrivateNetwork=|IPAddressDeny=|RestrictAddressFamilies=~AF_\(INET\|INET6\)' || true)
if [[ -n $changed ]]; then
    note "the drop-in changes more than the network:"
    sed 's/^/      /' <<<"$changed"
    ok=0
fi
rm -f "$fleet_link"
rmdir "${fleet_link%/*}" 2>/dev/null || true
verdict "$ok" "fleet drop-in $fleet_conf (0644): systemd-analyze verify clean with it linked in; exposure standalone ${standalone:-?} (PrivateNetwork=yes), with the drop-in ${fleet:-?} (only the network settings differ)" "the fleet drop-in"

# --- PAM stacks written by pam-auth-update ---------------------------------
ok=1
want() { # FILE REGEX
    grep -Eq "$2" "$1" || { note "$1 lacks /$2/"; ok=0; }
}
want /etc/pam.d/common-auth $'^auth\t\\[success=[0-9]+ new_authtok_reqd=done default=ignore\\]\tpam_roster\\.so use_first_pass$'
want /etc/pam.d/common-account $'^account\t\\[default=bad success=ok new_authtok_reqd=done user_unknown=ignore\\]\tpam_roster\\.so[[:space:]]*$'
want /etc/pam.d/common-password $'^password\t\\[success=[0-9]+ default=ignore\\]\tpam_roster\\.so try_first_pass$'
want /etc/pam.d/common-session $'^session\toptional\tpam_roster\\.so[[:space:]]*$'
# Priority 128: after pam_unix in the primary blocks.
for f in common-auth common-password; do
    unix=$(grep -n 'pam_unix\.so' "/etc/pam.d/$f" | head -n1 | cut -d: -f1)
    ros=$(grep -n 'pam_roster\.so' "/etc/pam.d/$f" | head -n1 | cut -d: -f1)
    [[ -n $unix && -n $ros && $unix -lt $ros ]] || { note "$f: pam_roster not after pam_unix"; ok=0; }
done
if grep -q pam_roster /etc/pam.d/common-session-noninteractive; then
    note "common-session-noninteractive names pam_roster (Session-Interactive-Only: yes)"
    ok=0
fi
verdict "$ok" "pam-auth-update put the profile's lines in common-{auth,account,password,session}" "PAM stacks"
for f in common-auth common-account common-password common-session; do
    grep -n pam_roster "/etc/pam.d/$f" | sed "s|^|    $f:|"
done

ok=1
grep -Eq '^passwd:[[:space:]]+files roster$' /etc/nsswitch.conf || { note "passwd line: $(grep '^passwd:' /etc/nsswitch.conf)"; ok=0; }
grep -Eq '^group:[[:space:]]+files roster$' /etc/nsswitch.conf || { note "group line: $(grep '^group:' /etc/nsswitch.conf)"; ok=0; }
diff <(grep -Ev '^(passwd|group):' /root/before/nsswitch.conf) <(grep -Ev '^(passwd|group):' /etc/nsswitch.conf) >/dev/null ||
    { note "nsswitch.conf: other lines changed"; ok=0; }
# Idempotent: configuring again adds nothing.
cp /etc/nsswitch.conf /root/nsswitch.once
DPKG_MAINTSCRIPT_PACKAGE=libnss-roster "$(dpkg-query --control-path libnss-roster postinst)" configure
cmp -s /etc/nsswitch.conf /root/nsswitch.once || { note "a second postinst run changed nsswitch.conf"; ok=0; }
verdict "$ok" "nsswitch.conf: roster appended to passwd and group, idempotently, nothing else touched" "nsswitch.conf"

# --- an upgrade (the same version again) changes nothing -------------------
mkdir -p /root/installed
cp -a /etc/pam.d/common-auth /etc/pam.d/common-account /etc/pam.d/common-password \
    /etc/pam.d/common-session /etc/nsswitch.conf /root/installed/
if dpkg -i /tmp/debs/*.deb >/root/dpkg-reinstall.log 2>&1; then
    ok=1
    for f in common-auth common-account common-password common-session nsswitch.conf; do
        [[ $f == nsswitch.conf ]] && now=/etc/$f || now=/etc/pam.d/$f
        cmp -s "/root/installed/$f" "$now" || { note "$now changed on reinstall"; ok=0; }
    done
    verdict "$ok" "reinstalling (prerm upgrade, postinst configure OLD) leaves common-* and nsswitch.conf as they were" "reinstall"
else
    fail "dpkg -i a second time: $(tail -n 5 /root/dpkg-reinstall.log | tr '\n' ' ')"
fi

# --- the packaged config -----------------------------------------------------
# Every key commented out with its default: rosterd must accept it as is.
if /usr/sbin/rosterd --check-config --config /etc/roster/rosterd.toml >/root/check-config.log 2>&1; then
    pass "rosterd --check-config accepts the packaged /etc/roster/rosterd.toml"
else
    fail "rosterd --check-config on the packaged config: $(tr '\n' ' ' </root/check-config.log)"
fi
for key in database nss_cache environment login_level uid_min uid_max admin_group admin_gid home_base shell \
    passwd_file group_file login_defs subuid_file subgid_file create_home memory_kib iterations parallelism \
    max_concurrent queue_max queue_wait min_length attempts window duration end_grace ttl; do
    grep -Eq "^#${key}[[:space:]]+=" /etc/roster/rosterd.toml || fail "rosterd.toml lacks the commented key $key"
done

# --- local users while rosterd is down --------------------------------------
# pam_roster is in every stack now, the account line with default=bad: a
# local user must still log in, without a bus or a daemon to ask.
printf '@include common-%s\n' auth account password session >/etc/pam.d/roster-test
useradd -m localuser
printf 'localuser:%s\n' 'Local-pass-44' | chpasswd
if printf '%s\n' 'Local-pass-44' | timeout 20 pamtester roster-test localuser authenticate acct_mgmt >/root/pam.log 2>&1; then
    pass "a local user authenticates and passes common-account with pam_roster stacked and no rosterd"
else
    fail "local user through the installed stacks without rosterd: $(tr '\n' ' ' </root/pam.log)"
fi
userdel -r localuser >/dev/null 2>&1 || true

# --- the running system: bus, daemon, a user, logins ---------------------
# Stops at the first step the rest depends on; the purge checks run anyway.
exercise() {
    # --- dbus-daemon and rosterd -----------------------------------------------
    dbus-uuidgen --ensure
    mkdir -p /run/dbus
    if dbus-daemon --system --fork --print-pid >/run/dbus-daemon.pid 2>/root/dbus.log; then
        pass "system dbus-daemon started"
    else
        fail "system dbus-daemon (log follows)"
        sed 's/^/    /' /root/dbus.log
        return 1
    fi
    for _ in $(seq 50); do [[ -S /run/dbus/system_bus_socket ]] && break; sleep 0.1; done

    rosterd_up() { dbus-send --system --print-reply --dest=org.freedesktop.DBus /org/freedesktop/DBus \
        org.freedesktop.DBus.NameHasOwner string:org.roster.Roster1 2>/dev/null | grep -q 'boolean true'; }
    # D-Bus activation through the installed activation file (no systemd here,
    # so dbus-daemon-launch-helper runs rosterd as root).
    dbus-send --system --print-reply --reply-timeout=10000 --dest=org.roster.Roster1 /org/roster/Roster1 \
        org.freedesktop.DBus.Peer.Ping >/root/activation.log 2>&1 || true
    if rosterd_up; then
        pass "D-Bus activation started rosterd (activation file, policy)"
    else
        fail "D-Bus activation of org.roster.Roster1: $(head -c 300 /root/activation.log)"
        /usr/sbin/rosterd --config /etc/roster/rosterd.toml >/root/rosterd.log 2>&1 &
        for _ in $(seq 100); do rosterd_up && break; sleep 0.1; done
        if rosterd_up; then
            pass "rosterd started by hand owns org.roster.Roster1"
        else
            fail "rosterd does not own org.roster.Roster1 (log follows)"
            sed 's/^/    /' /root/rosterd.log
            return 1
        fi
    fi

    # --- a user ----------------------------------------------------------------
    if printf '%s\n' "$pw1" | roster users create "$user" --display-name 'Alice Example' --password-stdin >/root/create.log 2>&1 &&
        roster users grant "$user" write >>/root/create.log 2>&1; then
        pass "roster users create $user + grant write (installed CLI, system bus)"
    else
        fail "roster users create/grant (output follows)"
        sed 's/^/    /' /root/create.log
        return 1
    fi

    if entry=$(getent passwd "$user") && [[ $(cut -d: -f3 <<<"$entry") -ge 1879048193 ]]; then
        pass "getent passwd $user through nsswitch.conf: $entry"
    else
        fail "getent passwd $user: '${entry:-}'"
    fi


    if printf '%s\n' "$pw1" | pamtester roster-test "$user" authenticate acct_mgmt >/root/pam.log 2>&1; then
        pass "pamtester authenticate + acct_mgmt through common-auth and common-account"
    else
        fail "pamtester authenticate + acct_mgmt: $(tr '\n' ' ' </root/pam.log)"
    fi
    if printf '%s\n' 'wrong-password' | pamtester roster-test "$user" authenticate >/root/pam.log 2>&1; then
        fail "a wrong password authenticated"
    else
        pass "a wrong password is refused"
    fi
    if printf '%s\n' 'whatever' | pamtester roster-test root authenticate >/root/pam.log 2>&1; then
        fail "root authenticated with a made-up password"
    else
        pass "root (no password in the chroot) still goes through pam_unix only and is refused"
    fi

    home=$(getent passwd "$user" | cut -d: -f6)
    home=${home:-/home/$user}
    if pamtester roster-test "$user" open_session close_session >/root/pam.log 2>&1 && [[ -d $home ]]; then
        st=$(stat -c '%u %a' "$home")
        if [[ $st == "$(id -u "$user") 700" ]]; then
            pass "open_session created $home (owner $user, 0700)"
        else
            fail "open_session created $home with owner/mode $st"
        fi
    else
        fail "open_session/close_session or home $home: $(tr '\n' ' ' </root/pam.log)"
    fi

    if roster users suspend "$user" >/root/suspend.log 2>&1; then
        if pamtester roster-test "$user" acct_mgmt >/root/pam.log 2>&1; then
            fail "a suspended user passed common-account"
        else
            pass "suspended $user is denied by common-account ($(tr '\n' ' ' </root/pam.log | head -c 120))"
        fi
        roster users enable "$user" >>/root/suspend.log 2>&1 || fail "roster users enable $user"
    else
        fail "roster users suspend $user: $(tr '\n' ' ' </root/suspend.log)"
    fi

    # chauthtok as the user would run passwd: the current password, then the new one twice.
    uid=$(id -u "$user")
    if printf '%s\n%s\n%s\n' "$pw1" "$pw2" "$pw2" |
        setpriv --reuid="$uid" --regid="$uid" --clear-groups pamtester roster-test "$user" chauthtok >/root/pam.log 2>&1; then
        if printf '%s\n' "$pw2" | pamtester roster-test "$user" authenticate >/dev/null 2>&1 &&
            ! printf '%s\n' "$pw1" | pamtester roster-test "$user" authenticate >/dev/null 2>&1; then
            pass "pamtester chauthtok through common-password: the new password works, the old one no longer does"
        else
            fail "chauthtok succeeded but the new password does not authenticate (or the old one still does)"
        fi
    else
        fail "pamtester chauthtok through common-password: $(tr '\n' ' ' </root/pam.log)"
    fi
}
exercise || skip "the remaining login steps (they need the step that failed above)"

# --- purge -----------------------------------------------------------------
pkill -x rosterd || true
for _ in $(seq 50); do pgrep -x rosterd >/dev/null || break; sleep 0.1; done
if dpkg --purge libpam-roster libnss-roster roster >/root/dpkg-purge.log 2>&1; then
    pass "dpkg --purge libpam-roster libnss-roster roster"
else
    fail "dpkg --purge (log follows)"
    sed 's/^/    /' /root/dpkg-purge.log
fi
ok=1
for f in common-auth common-account common-password common-session common-session-noninteractive nsswitch.conf; do
    [[ $f == nsswitch.conf ]] && now=/etc/$f || now=/etc/pam.d/$f
    cmp -s "/root/before/$f" "$now" || { note "$now differs:"; diff "/root/before/$f" "$now" | sed 's/^/      /' || true; ok=0; }
done
verdict "$ok" "after purge /etc/pam.d/common-* and /etc/nsswitch.conf are byte-identical to before" "files after purge"
left=$(ls -d /etc/roster /etc/sudoers.d/roster /var/lib/roster /var/cache/roster /usr/share/pam-configs/roster 2>/dev/null || true)
if [[ -z $left ]]; then pass "purge left no Roster files behind"; else fail "left after purge: $left"; fi
echo "END-OF-INSTALL-TEST"
