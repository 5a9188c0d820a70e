//! Gives the shared object the SONAME glibc's NSS loader asks for: it
//! dlopens `libnss_<service>.so.2`.
fn main() {
    println!("cargo:rustc-cdylib-link-arg=-Wl,-soname,libnss_roster.so.2");
    println!("cargo:rerun-if-changed=build.rs");
}
