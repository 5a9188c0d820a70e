// The unwinder both C-boundary modules link in, shared by their build
// scripts (`include!`d by nss-module/build.rs and pam-module/build.rs: a
// build script can't depend on a workspace crate, and this file lives in
// the one crate both modules already share).
//
// Why: `catch_unwind` needs an unwinder, and Rust's std takes it from
// `libgcc_s.so.1`, which few of the programs that load these modules have
// loaded (`getent`, `ls -l`, `id`; `pamtester`, `login`, `su`). Loading it
// costs a fresh process ~120-130 µs: it doubled the NSS module's first
// lookup (~120 of ~250 µs) and was most of what dlopen of pam_roster.so
// costs above pam_permit.so's. `libgcc_eh.a` is the same unwinder as an
// archive; once it provides the symbols, the linker's `--as-needed` drops
// `libgcc_s.so.1`. Its symbols stay local to the module (only the
// `_nss_roster_*` / `pam_sm_*` functions are exported), so they never
// interpose on the host program's unwinder.

fn link_unwinder_statically() {
    let var = |name: &str| std::env::var(name).unwrap_or_default();
    println!("cargo:rerun-if-env-changed=CC");
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
            "cargo:warning=libgcc_eh.a not found (gcc): {} links libgcc_s.so.1, \
             and a fresh process pays its dlopen",
            var("CARGO_PKG_NAME")
        ),
    }
}

/// Where the C compiler keeps `libgcc_eh.a`; it prints the bare name when
/// it has none.
fn libgcc_eh() -> Option<std::path::PathBuf> {
    let cc = std::env::var("CC").unwrap_or_else(|_| "cc".into());
    let out = std::process::Command::new(cc)
        .arg("-print-file-name=libgcc_eh.a")
        .output()
        .ok()?;
    let path = std::path::PathBuf::from(String::from_utf8(out.stdout).ok()?.trim());
    (out.status.success() && path.is_absolute() && path.is_file()).then_some(path)
}
