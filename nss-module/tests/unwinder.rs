//! The module carries its own unwinder (libgcc_eh, see build.rs): it must
//! not need `libgcc_s.so.1`, and a panic inside an export must still come
//! back as `NSS_STATUS_UNAVAIL` in a process that never loaded libgcc_s.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

/// The shared libraries `so` asks the dynamic loader for.
fn needed(so: &Path) -> Vec<String> {
    let out = Command::new("readelf")
        .arg("-d")
        .arg(so)
        .output()
        .expect("running readelf (binutils)");
    assert!(out.status.success(), "readelf -d {} failed", so.display());
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .filter(|l| l.contains("(NEEDED)"))
        .filter_map(|l| l.split('[').nth(1))
        .map(|l| l.trim_end_matches(']').to_string())
        .collect()
}

/// The module built with `--features panic-probe`, in its own target dir,
/// with the profile the shipped module is built with (fat LTO included).
fn probe_build() -> PathBuf {
    let ws = common::workspace();
    let dir = ws.join("target/nss-panic-probe");
    let cargo = std::env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let st = Command::new(cargo)
        .current_dir(&ws)
        .args([
            "build",
            "--profile",
            "modules",
            "-p",
            "nss_roster",
            "--features",
            "panic-probe",
        ])
        .arg("--target-dir")
        .arg(&dir)
        .status()
        .expect("running cargo");
    assert!(
        st.success(),
        "building nss_roster with --features panic-probe failed"
    );
    dir.join("modules/libnss_roster.so")
}

fn compile_c(name: &str) -> PathBuf {
    let dir = common::workspace().join("target/nss/probe");
    std::fs::create_dir_all(&dir).unwrap();
    let out = dir.join(name);
    let tmp = dir.join(format!("{name}.{}", std::process::id()));
    let st = Command::new("cc")
        .args(["-O2", "-Wall", "-o"])
        .arg(&tmp)
        .arg(common::workspace().join(format!("tests/nss/{name}.c")))
        .arg("-ldl")
        .status()
        .expect("running cc (install gcc)");
    assert!(st.success(), "compiling tests/nss/{name}.c failed");
    std::fs::rename(&tmp, &out).unwrap();
    out
}

#[test]
fn the_module_needs_only_libc() {
    let needed = needed(common::so());
    assert!(
        !needed.iter().any(|n| n.starts_with("libgcc_s")),
        "libnss_roster.so needs {needed:?}: the unwinder should be linked in (build.rs)"
    );
    assert!(needed.iter().any(|n| n == "libc.so.6"), "{needed:?}");
}

#[test]
fn a_panic_comes_back_unavail_without_libgcc_s() {
    let so = probe_build();
    assert!(
        !needed(&so).iter().any(|n| n.starts_with("libgcc_s")),
        "the probe build needs libgcc_s"
    );
    let out = Command::new(compile_c("panic_probe"))
        .arg(&so)
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the probe died ({:?}): {stdout}{stderr}",
        out.status
    );
    // NSS_STATUS_UNAVAIL, ENOENT, and the unwinder was the module's own.
    assert_eq!(stdout.trim(), "status=-1 errno=2 libgcc_s=0", "{stderr}");
    assert!(stderr.contains("nss_roster panic probe"), "{stderr}");
}
