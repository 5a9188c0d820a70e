#!/bin/sh
# Runs a command with glibc's real NSS dispatch pointed at libnss_roster,
# inside a private mount namespace, so nothing on the host changes:
#
#   in-private-ns.sh --work DIR --so LIB [--passwd "files roster"] [--group "files roster"]
#                    [--passwd-file F] [--group-file F] [--pam-dir D] -- CMD [ARGS...]
#
# In the namespace: DIR (an empty directory) gets a tmpfs; LIB is copied there as
# libnss_roster.so.2 and that directory is overlaid on top of
# /usr/lib/x86_64-linux-gnu (where glibc's dlopen of "libnss_roster.so.2"
# looks, also for setuid programs, unlike LD_LIBRARY_PATH); a generated
# ld.so.cache that lists it and an nsswitch.conf are bind-mounted on
# /etc; optionally F files
# on /etc/passwd and /etc/group and D on /etc/pam.d. Every mount dies with
# the namespace. Needs root and unshare(1). Exit status: the command's, or
# 97 when the namespace can't be set up.
set -eu

if [ "${ROSTER_NSS_NS_INNER:-}" != 1 ]; then
    ROSTER_NSS_NS_INNER=1 exec unshare -m "$0" "$@"
fi

work= so= pw_services="files roster" gr_services="files roster" passwd_file= group_file= pam_dir=
while [ $# -gt 0 ]; do
    case "$1" in
        --work) work=$2; shift 2 ;;
        --so) so=$2; shift 2 ;;
        --passwd) pw_services=$2; shift 2 ;;
        --group) gr_services=$2; shift 2 ;;
        --passwd-file) passwd_file=$2; shift 2 ;;
        --group-file) group_file=$2; shift 2 ;;
        --pam-dir) pam_dir=$2; shift 2 ;;
        --) shift; break ;;
        *) echo "in-private-ns.sh: unknown argument $1" >&2; exit 97 ;;
    esac
done
fail() { echo "in-private-ns.sh: $*" >&2; exit 97; }
[ -n "$work" ] && [ -d "$work" ] || fail "--work DIR must exist"
[ -f "$so" ] || fail "--so $so: no such file (cargo build --profile modules -p nss_roster --target-dir target/nss)"
[ $# -gt 0 ] || fail "no command"
# Belt and braces: never bind-mount anything unless we really are in a
# mount namespace of our own.
[ "$(readlink /proc/self/ns/mnt)" != "$(readlink /proc/1/ns/mnt)" ] || fail "not in a private mount namespace"

libdir=/usr/lib/x86_64-linux-gnu
[ -d "$libdir" ] || libdir=$(dirname "$(ldconfig -p | awk '/libnss_files.so.2/ {print $NF; exit}')")

mount --make-rprivate / || fail "mount --make-rprivate failed"
mount -t tmpfs -o mode=0755 roster-nss-test "$work" || fail "tmpfs on $work failed"
mkdir "$work/lib"
cp "$so" "$work/lib/libnss_roster.so.2"
chmod 0644 "$work/lib/libnss_roster.so.2"
mount -t overlay roster-nss-lib -o "lowerdir=$work/lib:$libdir" "$libdir" || fail "overlay on $libdir failed"
# As a package's postinst would: put the module in ld.so.cache, so the
# loader opens it directly instead of probing every hwcaps directory
# (which would also make the benchmark's first lookup unfairly slow).
if ldconfig -X -C "$work/ld.so.cache" 2>/dev/null; then
    mount --bind "$work/ld.so.cache" /etc/ld.so.cache
fi
printf 'passwd: %s\ngroup: %s\nshadow: files\n' "$pw_services" "$gr_services" > "$work/nsswitch.conf"
mount --bind "$work/nsswitch.conf" /etc/nsswitch.conf
[ -z "$passwd_file" ] || mount --bind "$passwd_file" /etc/passwd
[ -z "$group_file" ] || mount --bind "$group_file" /etc/group
[ -z "$pam_dir" ] || mount --bind "$pam_dir" /etc/pam.d
exec "$@"
