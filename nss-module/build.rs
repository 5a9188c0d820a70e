//! Gives the shared object the SONAME glibc's NSS loader asks for (it
//! dlopens `libnss_<service>.so.2`), and links the unwinder in (see
//! snapshot/link_unwinder.rs: a fresh process's first lookup no longer
//! pays for loading `libgcc_s.so.1`).

include!("../snapshot/link_unwinder.rs");

fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_roster.so.2");
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../snapshot/link_unwinder.rs");
    link_unwinder_statically();
}
