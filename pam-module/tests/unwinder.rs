//! The module carries its own unwinder (libgcc_eh, see
//! snapshot/link_unwinder.rs): it must not need `libgcc_s.so.1`, whose
//! loading cost every login in a process that hadn't loaded it (login, su,
//! pamtester) ~130 µs. A panic caught at the boundary is proved by the
//! unit test `a_panic_is_caught_at_the_boundary` and, for the unwinder in
//! a process without libgcc_s, by the NSS module's tests/unwinder.rs (the
//! same build helper links both).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::path::PathBuf;
use std::process::Command;

/// The release build `roster_build_modules` makes (or `ROSTER_PAM_SO`).
fn module() -> Option<PathBuf> {
    let so = std::env::var_os("ROSTER_PAM_SO")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../target/pam/modules/libpam_roster.so")
        });
    so.is_file().then_some(so)
}

#[test]
fn the_module_does_not_need_libgcc_s() {
    let Some(so) = module() else {
        assert!(
            std::env::var_os("ROSTER_TESTS_REQUIRE_ALL").is_none(),
            "pam_roster.so not built: run roster_build_modules (scripts/deps.sh)"
        );
        eprintln!("skipped: pam_roster.so not built (roster_build_modules)");
        return;
    };
    let out = Command::new("readelf")
        .arg("-d")
        .arg(&so)
        .output()
        .expect("running readelf (binutils)");
    assert!(out.status.success(), "readelf -d {} failed", so.display());
    let needed: Vec<String> = String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1))
        .map(|l| l.trim_end_matches(']').to_string())
        .collect();
    assert!(
        needed.iter().any(|n| n.starts_with("libpam.so")),
        "{needed:?}"
    );
    assert!(
        !needed.iter().any(|n| n.starts_with("libgcc_s")),
        "{} needs libgcc_s: {needed:?}",
        so.display()
    );
}
