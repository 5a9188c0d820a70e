//! libcrypt (libxcrypt, as pam_unix uses it) for the yescrypt comparison.
fn main() {
    println!("cargo:rustc-link-lib=crypt");
}
