//! Gives the shared object the SONAME glibc's NSS loader asks for (it
//! dlopens `libnss_<service>.so.2`), and links the unwinder in.
//!
//! Why the unwinder: `catch_unwind` needs one, and Rust's std takes it from
//! `libgcc_s.so.1`, which few programs that resolve a user name have loaded
//! (`getent`, `ls -l` and `id` don't). Loading it doubled the cost of a
//! fresh process's first lookup through this module (~120 µs of ~250 µs).
//! `libgcc_eh.a` is the same unwinder as an archive; once it provides the
//! symbols, the linker's `--as-needed` drops `libgcc_s.so.1`. Its symbols
//! stay local to this object (only the `_nss_roster_*` functions are
//! exported), so they never interpose on the host program's unwinder.
use std::path::PathBuf;
use std::process::Command;

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_roster.so.2");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-env-changed=CC");
    link_unwinder_statically();
}

fn link_unwinder_statically() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    if var("CARGO_CFG_TARGET_OS") != "linux" || var("CARGO_CFG_TARGET_ENV") != "gnu" {
        return;
    }
    match libgcc_eh() {
        Some(archive) => {
            if let Some(dir) = archive.parent() {
                println!("cargo:rustc-link-search=native={}", dir.display());
                println!("cargo:rustc-link-lib=static:-bundle=gcc_eh");
            }
        }
        None => println!(
            "cargo:warning=libgcc_eh.a not found (gcc): libnss_roster links libgcc_s.so.1, \
             and a fresh process's first lookup pays its dlopen"
        ),
    }
}

/// Where the C compiler keeps `libgcc_eh.a`; it prints the bare name when
/// it has none.
fn libgcc_eh() -> Option<PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (out.status.success() && path.is_absolute() && path.is_file()).then_some(path)
}
