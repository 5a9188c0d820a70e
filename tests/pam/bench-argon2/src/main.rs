//! Prints the median of N argon2id verifications (rosterd's default
//! parameters: m=19456 KiB, t=2, p=1), warm and the first one cold.
//!
//!     bench-argon2 [N]

use argon2::password_hash::phc::PasswordHash;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};
use std::time::Instant;

fn main() {
    let n: usize = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(21);
    let params = Params::new(19456, 2, 1, None).expect("params");
    let argon2 = Argon2::new(Algorithm::Argon2id, Version::V0x13, params);
    let phc = argon2
        .hash_password_with_salt(b"correct horse 1", b"roster-bench-salt")
        .expect("hash")
        .to_string();
    let parsed = PasswordHash::new(&phc).expect("phc");
    let mut times = Vec::with_capacity(n);
    let mut cold = 0.0;
    for i in 0..=n {
        let started = Instant::now();
        let ok = argon2.verify_password(b"wrong horse 1", &parsed).is_ok();
        let ms = started.elapsed().as_secs_f64() * 1000.0;
        assert!(!ok);
        if i == 0 {
            cold = ms;
        } else {
            times.push(ms);
        }
    }
    times.sort_by(|a, b| a.total_cmp(b));
    println!("argon2_verify_ms {:.2}", times[times.len() / 2]);
    println!("argon2_cold_ms {cold:.2}");
}
