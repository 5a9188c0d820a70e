//! Times one argon2id hash and one verify with DESIGN.md's default
//! parameters (m=19456 KiB, t=2, p=1), plus a dummy verify (unknown user).
//! `cargo run --release -p roster-core --example hash_timing`

use roster_core::Secret;
use roster_core::config::Argon2Config;
use roster_core::password::Hasher;
use std::time::Instant;

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

fn main() -> roster_core::Result<()> {
    let hasher = Hasher::new(&Argon2Config::default())?;
    let pw = Secret::new("correct horse battery staple");
    let phc = hasher.hash(&pw)?;
    let _ = hasher.verify(&pw, None); // computes the dummy once
    let (mut hash, mut verify, mut dummy) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..15 {
        let t = Instant::now();
        hasher.hash(&pw)?;
        hash.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        assert!(hasher.verify(&pw, Some(&phc)));
        verify.push(t.elapsed().as_secs_f64() * 1e3);
        let t = Instant::now();
        assert!(!hasher.verify(&pw, None));
        dummy.push(t.elapsed().as_secs_f64() * 1e3);
    }
    println!("{phc}");
    println!(
        "median of 15: hash {:.1} ms, verify {:.1} ms, dummy verify {:.1} ms",
        median(hash),
        median(verify),
        median(dummy)
    );
    Ok(())
}
