//! For scripts/bench-pam.sh, once per round (so its figures share the
//! round's load with the logins timed around it):
//!
//!     bench-argon2
//!
//! prints, for rosterd's default argon2id parameters (m=19456 KiB, t=2,
//! p=1): `argon2_fresh_ms`, a verify allocating its memory as a fresh
//! process does (argon2's own `verify_password`); `argon2_kept_ms`, the
//! same hash again in a buffer already faulted in (as rosterd verifies,
//! through its kept buffers); and `yescrypt_ms`, one yescrypt hash through
//! libcrypt's crypt() at libcrypt's default cost (what pam_unix checks on
//! Debian 12), in the same process right after.

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Block, Params, PasswordHasher, PasswordVerifier, Version};
use std::ffi::{CStr, CString, c_char, c_int, c_ulong};
use std::time::Instant;

unsafe extern "C" {
    fn crypt_gensalt(
        prefix: *const c_char,
        count: c_ulong,
        rbytes: *const c_char,
        nrbytes: c_int,
    ) -> *const c_char;
    fn crypt(phrase: *const c_char, setting: *const c_char) -> *const c_char;
}

const PASSWORD: &str = "correct horse 1";

fn ms_since(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}

/// crypt(3) of `phrase` with `setting`, as an owned string.
fn crypt_owned(phrase: &CStr, setting: &CStr) -> String {
    // SAFETY: both are C strings; crypt returns a static buffer (or null),
    // copied before the next call.
    let out = unsafe { crypt(phrase.as_ptr(), setting.as_ptr()) };
    assert!(!out.is_null(), "crypt failed");
    unsafe { CStr::from_ptr(out) }
        .to_string_lossy()
        .into_owned()
}

fn main() {
    let params = Params::new(19456, 2, 1, None).expect("params");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let phc = argon2
        .hash_password_with_salt(PASSWORD.as_bytes(), b"roster-bench-salt")
        .expect("hash")
        .to_string();
    let parsed = PasswordHash::new(&phc).expect("phc");

    // Hashing `phc` above freed its memory: glibc hands a block that size
    // back to the kernel, so this verify page-faults 19 MiB again.
    let started = Instant::now();
    let ok = argon2.verify_password(b"wrong horse 1", &parsed).is_ok();
    println!("argon2_fresh_ms {:.2}", ms_since(started));
    assert!(!ok);

    let mut memory = vec![Block::new(); params.block_count()];
    let mut out = [0u8; 32];
    let mut kept = || {
        argon2
            .hash_password_into_with_memory(
                PASSWORD.as_bytes(),
                b"roster-bench-salt",
                &mut out,
                &mut memory,
            )
            .expect("hash");
    };
    kept(); // faults the buffer in
    let started = Instant::now();
    kept();
    println!("argon2_kept_ms {:.2}", ms_since(started));

    // SAFETY: "$y$" is a C string; null rbytes asks libcrypt for random bytes.
    let setting = unsafe { crypt_gensalt(c"$y$".as_ptr(), 0, std::ptr::null(), 0) };
    assert!(!setting.is_null(), "crypt_gensalt failed");
    let setting = unsafe { CStr::from_ptr(setting) }.to_owned();
    let phrase = CString::new(PASSWORD).expect("no NUL");
    let yescrypt = CString::new(crypt_owned(&phrase, &setting)).expect("no NUL");
    let started = Instant::now();
    let again = crypt_owned(&phrase, &yescrypt);
    println!("yescrypt_ms {:.2}", ms_since(started));
    assert_eq!(again.as_bytes(), yescrypt.as_bytes());
}
