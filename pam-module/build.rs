//! Links the unwinder in (see snapshot/link_unwinder.rs): without it every
//! `dlopen` of pam_roster.so in a process that hasn't loaded
//! `libgcc_s.so.1` (login, su, pamtester) loads it too, ~130 µs a login.

include!("../snapshot/link_unwinder.rs");

fn main() {
    println!("cargo:rerun-if-changed=build.rs");
    println!("cargo:rerun-if-changed=../snapshot/link_unwinder.rs");
    link_unwinder_statically();
}
