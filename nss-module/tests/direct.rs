//! The module's exports called directly (dlopen + dlsym, from the C
//! probe), so the exact `nss_status` and `*errnop` glibc sees are checked.
//! Needs neither root nor a namespace.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::indexing_slicing
)]

mod common;
use common::*;

const SUCCESS: &str = "status=1 errno=0";
const NOTFOUND: &str = "status=0 errno=2"; // NSS_STATUS_NOTFOUND, ENOENT
const UNAVAIL: &str = "status=-1 errno=2"; // NSS_STATUS_UNAVAIL, ENOENT
const TRYAGAIN_ERANGE: &str = "status=-2 errno=34";

#[test]
fn user_found_by_name_and_uid_with_star_password() {
    let w = World::new("direct-found");
    write_snapshot(&w.cache(), 24, 4);
    let want = format!("{SUCCESS}\n{}\n", user_line(7, 4));
    assert_eq!(w.direct(&["pwnam", "ruser7", "1024"]), want);
    assert_eq!(
        w.direct(&["pwuid", &(UID_BASE + 7).to_string(), "1024"]),
        want
    );
    assert_eq!(
        w.direct(&["grnam", "roster-admins", "1024"]),
        format!("{SUCCESS}\nroster-admins:*:{ADMIN_GID}:ruser0,ruser1\n")
    );
    let private = format!("{SUCCESS}\nruser3:*:{}:\n", UID_BASE + 3);
    assert_eq!(
        w.direct(&["grgid", &(UID_BASE + 3).to_string(), "1024"]),
        private
    );
}

#[test]
fn unknown_names_and_ids_are_notfound_enoent() {
    let w = World::new("direct-notfound");
    write_snapshot(&w.cache(), 24, 1);
    for args in [
        &["pwnam", "root", "1024"][..],
        &["pwnam", "ruser24", "1024"],
        &["pwnam", "", "1024"],
        &["pwuid", "0", "1024"],
        &["grnam", "wheel", "1024"],
        &["grgid", "0", "1024"],
    ] {
        assert_eq!(w.direct(args), format!("{NOTFOUND}\n"), "{args:?}");
    }
}

#[test]
fn small_buffers_are_tryagain_erange_until_the_answer_fits() {
    let w = World::new("direct-erange");
    write_snapshot(&w.cache(), 4, 1);
    // name\0 *\0 gecos\0 home\0 shell\0 (uid and gid live in the struct)
    let need = [
        "ruser2",
        "*",
        "Roster User 2 v1",
        "/home/v1/ruser2",
        "/bin/sh",
    ]
    .iter()
    .map(|s| s.len() + 1)
    .sum::<usize>();
    for len in 0..need {
        assert_eq!(
            w.direct(&["pwnam", "ruser2", &len.to_string()]),
            format!("{TRYAGAIN_ERANGE}\n"),
            "buflen {len}"
        );
    }
    assert!(
        w.direct(&["pwnam", "ruser2", &need.to_string()])
            .starts_with(SUCCESS)
    );
    // Groups: the member pointer array (aligned) comes first.
    let mut first_ok = None;
    for len in 0..256 {
        let out = w.direct(&["grnam", "roster-admins", &len.to_string()]);
        if out.starts_with(SUCCESS) {
            first_ok = Some(len);
            break;
        }
        assert_eq!(out, format!("{TRYAGAIN_ERANGE}\n"), "buflen {len}");
    }
    let first_ok = first_ok.expect("roster-admins never fit in 256 bytes");
    // Two member pointers and the NULL, then the strings (malloc'd buffer:
    // no alignment padding).
    let strings: usize = ["roster-admins", "*", "ruser0", "ruser1"]
        .iter()
        .map(|s| s.len() + 1)
        .sum();
    assert_eq!(first_ok, 3 * 8 + strings);
}

#[test]
fn unusable_snapshots_are_unavail_enoent_never_a_crash() {
    let w = World::new("direct-unavail");
    let lookups: [&[&str]; 4] = [
        &["pwnam", "ruser1", "1024"],
        &["pwuid", "1879048194", "1024"],
        &["grnam", "roster-admins", "1024"],
        &["grgid", "1879048192", "1024"],
    ];
    let check = |what: &str| {
        for args in lookups {
            assert_eq!(w.direct(args), format!("{UNAVAIL}\n"), "{what}: {args:?}");
        }
        assert!(w.direct(&["pwent", "1024"]).starts_with(UNAVAIL), "{what}");
        assert!(w.direct(&["grent", "1024"]).starts_with(UNAVAIL), "{what}");
        assert!(
            w.direct(&["initgroups", "ruser0", "1879048193", "4", "0"])
                .starts_with(UNAVAIL),
            "{what}"
        );
    };
    check("missing file");
    std::fs::write(w.cache(), b"").unwrap();
    check("empty file");
    std::fs::write(w.cache(), b"root:x:0:0:root:/root:/bin/bash\n").unwrap();
    check("a passwd file");
    std::fs::write(w.cache(), vec![0xa5u8; 8192]).unwrap();
    check("garbage");
    std::fs::remove_file(w.cache()).unwrap();
    std::fs::create_dir(w.cache()).unwrap();
    check("a directory");
    std::fs::remove_dir(w.cache()).unwrap();

    let u = users(24, 1);
    let good = roster_snapshot::encode(1, &u, &groups(&u, 2, 0)).unwrap();
    for len in [1, 63, 64, 65, good.len() / 2, good.len() - 1] {
        std::fs::write(w.cache(), &good[..len]).unwrap();
        check(&format!("truncated to {len}"));
    }
    let mut longer = good.clone();
    longer.extend_from_slice(b"trailing");
    std::fs::write(w.cache(), &longer).unwrap();
    check("trailing bytes");
    let mut foreign = good.clone();
    foreign[..8].copy_from_slice(b"SSSDMMAP");
    std::fs::write(w.cache(), &foreign).unwrap();
    check("foreign magic");
    let mut newer = good.clone();
    newer[8] = 9;
    std::fs::write(w.cache(), &newer).unwrap();
    check("unknown version");
    let mut flipped = good.clone();
    flipped[30] ^= 0x40;
    std::fs::write(w.cache(), &flipped).unwrap();
    check("corrupt header");

    // A body corrupted past the header checks: never a crash, and any
    // answer it gives is either absent or a well-formed one.
    for at in (64..good.len()).step_by(7) {
        let mut b = good.clone();
        b[at] ^= 0xff;
        std::fs::write(w.cache(), &b).unwrap();
        let out = w.direct(&["pwnam", "ruser1", "1024"]);
        assert!(out.starts_with("status="), "flip at {at}: {out}");
    }
    // And it recovers once a good file is back (0644 whatever the umask:
    // a group-writable snapshot is refused).
    std::fs::write(w.cache(), &good).unwrap();
    std::fs::set_permissions(
        w.cache(),
        std::os::unix::fs::PermissionsExt::from_mode(0o644),
    )
    .unwrap();
    assert!(w.direct(&["pwnam", "ruser1", "1024"]).starts_with(SUCCESS));
}

#[test]
fn enumeration_walks_every_user_and_group() {
    let w = World::new("direct-enum");
    write_snapshot(&w.cache(), 300, 1);
    assert_eq!(
        w.direct(&["pwent", "1024"]),
        format!("{NOTFOUND} count=300\n")
    );
    assert_eq!(
        w.direct(&["grent", "1024"]),
        format!("{NOTFOUND} count=301\n")
    );
    // A buffer too small for any entry: TRYAGAIN, never a skipped entry.
    assert_eq!(
        w.direct(&["pwent", "8"]),
        format!("{TRYAGAIN_ERANGE} count=0\n")
    );
}

#[test]
fn initgroups_dyn_grows_the_array_with_realloc_and_honours_limit() {
    let w = World::new("direct-initgroups");
    // ruser0 is in roster-admins and in 40 team groups.
    write_snapshot_with(&w.cache(), 8, 1, 2, 40);
    let primary = UID_BASE.to_string();
    let out = w.direct(&["initgroups", "ruser0", &primary, "1", "0"]);
    let gids: Vec<&str> = out
        .trim()
        .rsplit_once("gids=")
        .unwrap()
        .1
        .split(',')
        .collect();
    assert!(out.starts_with(SUCCESS), "{out}");
    assert_eq!(gids.len(), 42, "primary + 40 teams + roster-admins: {out}");
    assert_eq!(gids[0], primary);
    assert!(gids.contains(&ADMIN_GID.to_string().as_str()));
    let size: i64 = out
        .split("size=")
        .nth(1)
        .unwrap()
        .split(' ')
        .next()
        .unwrap()
        .parse()
        .unwrap();
    assert!(size >= 42, "{out}");

    let out = w.direct(&["initgroups", "ruser0", &primary, "1", "5"]);
    assert!(out.contains("start=5 size=5"), "limit 5: {out}");

    // A member of nothing: NOTFOUND, the array untouched.
    let out = w.direct(&[
        "initgroups",
        "ruser5",
        &(UID_BASE + 5).to_string(),
        "1",
        "0",
    ]);
    assert_eq!(
        out,
        format!("{NOTFOUND} start=1 size=1 gids={}\n", UID_BASE + 5)
    );
    // The primary gid isn't added twice.
    let out = w.direct(&["initgroups", "ruser1", &ADMIN_GID.to_string(), "4", "0"]);
    assert!(
        out.contains(&format!("start=1 size=4 gids={ADMIN_GID}\n")),
        "{out}"
    );
}

/// Whoever can write the snapshot decides who exists and who is in the
/// admin group: a file another uid owns, or that group or others may
/// write, is refused like a missing one (UNAVAIL + ENOENT).
#[test]
fn a_snapshot_not_owned_by_root_or_writable_by_others_is_unavail() {
    use std::os::unix::fs::PermissionsExt;
    let w = World::new("direct-owner");
    write_snapshot(&w.cache(), 4, 1);
    let lookup = ["pwnam", "ruser1", "1024"];
    assert!(w.direct(&lookup).starts_with(SUCCESS));
    let chmod =
        |mode| std::fs::set_permissions(w.cache(), std::fs::Permissions::from_mode(mode)).unwrap();
    for loose in [0o666, 0o664, 0o646] {
        chmod(loose);
        assert_eq!(w.direct(&lookup), format!("{UNAVAIL}\n"), "mode {loose:o}");
        assert!(w.direct(&["pwent", "1024"]).starts_with(UNAVAIL));
    }
    chmod(0o644);
    assert!(w.direct(&lookup).starts_with(SUCCESS));

    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("(not root: the chown half of this test needs root)");
        return;
    }
    let c = std::ffi::CString::new(w.cache().as_os_str().as_encoded_bytes()).unwrap();
    // SAFETY: a NUL-terminated path.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 4242, 4242) }, 0);
    // Without the variable only root's file is believed.
    assert_eq!(w.direct_owned_by("", &lookup), format!("{UNAVAIL}\n"));
    assert_eq!(w.direct_owned_by("0", &lookup), format!("{UNAVAIL}\n"));
    // The test-only way through: the variable names the owner.
    assert!(w.direct_owned_by("4242", &lookup).starts_with(SUCCESS));
    // SAFETY: as above.
    assert_eq!(unsafe { libc::chown(c.as_ptr(), 0, 0) }, 0);
    assert!(w.direct_owned_by("", &lookup).starts_with(SUCCESS));
}
