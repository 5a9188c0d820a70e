//! For scripts/bench-pam.sh:
//!
//!     bench-argon2 [N]
//!
//! prints the median of N argon2id verifications (rosterd's default
//! parameters: m=19456 KiB, t=2, p=1), each allocating its memory as a
//! fresh process would, and the first one (cold); then the two hashes
//! alone, side by side: N argon2id hashes in one kept buffer (as rosterd
//! verifies) alternating with N yescrypt hashes through libcrypt's crypt()
//! with libcrypt's default cost (what pam_unix checks on Debian 12).

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

fn median(mut times: Vec<f64>) -> f64 {
    times.sort_by(|a, b| a.total_cmp(b));
    times[times.len() / 2]
}

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
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(21);
    let params = Params::new(19456, 2, 1, None).expect("params");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params.clone());
    let phc = argon2
        .hash_password_with_salt(PASSWORD.as_bytes(), b"roster-bench-salt")
        .expect("hash")
        .to_string();
    let parsed = PasswordHash::new(&phc).expect("phc");
    let mut times = Vec::with_capacity(n);
    let mut cold = 0.0;
    for i in 0..=n {
        let started = Instant::now();
        let ok = argon2.verify_password(b"wrong horse 1", &parsed).is_ok();
        let ms = ms_since(started);
        assert!(!ok);
        if i == 0 {
            cold = ms;
        } else {
            times.push(ms);
        }
    }
    println!("argon2_verify_ms {:.2}", median(times));
    println!("argon2_cold_ms {cold:.2}");
    if n < 2 {
        return;
    }

    // SAFETY: "$y$" is a C string; null rbytes asks libcrypt for random bytes.
    let setting = unsafe { crypt_gensalt(c"$y$".as_ptr(), 0, std::ptr::null(), 0) };
    assert!(!setting.is_null(), "crypt_gensalt failed");
    let setting = unsafe { CStr::from_ptr(setting) }.to_owned();
    let phrase = CString::new(PASSWORD).expect("no NUL");
    let yescrypt = CString::new(crypt_owned(&phrase, &setting)).expect("no NUL");
    let mut memory = vec![Block::new(); params.block_count()];
    let mut out = [0u8; 32];
    let (mut argon_times, mut yescrypt_times) = (Vec::new(), Vec::new());
    for _ in 0..n {
        let started = Instant::now();
        argon2
            .hash_password_into_with_memory(
                PASSWORD.as_bytes(),
                b"roster-bench-salt",
                &mut out,
                &mut memory,
            )
            .expect("hash");
        argon_times.push(ms_since(started));
        let started = Instant::now();
        let again = crypt_owned(&phrase, &yescrypt);
        yescrypt_times.push(ms_since(started));
        assert_eq!(again.as_bytes(), yescrypt.as_bytes());
    }
    println!("argon2_kept_buffer_ms {:.2}", median(argon_times));
    println!("yescrypt_ms {:.2}", median(yescrypt_times));
}
