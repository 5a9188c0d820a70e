use crate::config::{Argon2Config, PasswordConfig};
use crate::error::Error;
use crate::password::{Hasher, check_phc, check_policy};
use crate::secret::Secret;

fn cheap() -> Hasher {
    Hasher::new(&Argon2Config {
        memory_kib: 256,
        iterations: 1,
        ..Default::default()
    })
    .unwrap()
}

/// A PHC string for `password`, made with `memory_kib` and one pass.
fn hash_with_memory(memory_kib: u32, password: &str) -> String {
    Hasher::new(&Argon2Config {
        memory_kib,
        iterations: 1,
        ..Default::default()
    })
    .unwrap()
    .hash(&Secret::new(password))
    .unwrap()
}

#[test]
fn hash_and_verify() {
    let h = cheap();
    let phc = h.hash(&Secret::new("hunter2 is long")).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=256,t=1,p=1$"), "{phc}");
    check_phc(&phc).unwrap();
    assert!(h.verify(&Secret::new("hunter2 is long"), Some(&phc)));
    assert!(!h.verify(&Secret::new("hunter2 is lonG"), Some(&phc)));
    assert!(!h.verify(&Secret::new(""), Some(&phc)));
    // A fresh salt each time.
    assert_ne!(phc, h.hash(&Secret::new("hunter2 is long")).unwrap());
}

#[test]
fn the_defaults_hash_with_designs_parameters() {
    let h = Hasher::new(&Argon2Config::default()).unwrap();
    let phc = h.hash(&Secret::new("correct horse battery")).unwrap();
    assert!(phc.starts_with("$argon2id$v=19$m=19456,t=2,p=1$"), "{phc}");
    assert!(h.verify(&Secret::new("correct horse battery"), Some(&phc)));
}

#[test]
fn hashes_made_with_other_parameters_still_verify() {
    let old = cheap().hash(&Secret::new("pw")).unwrap();
    let newer = Hasher::new(&Argon2Config {
        memory_kib: 512,
        iterations: 2,
        ..Default::default()
    })
    .unwrap();
    assert!(newer.verify(&Secret::new("pw"), Some(&old)));
}

#[test]
fn no_hash_means_false_after_the_same_work() {
    let h = cheap();
    assert!(!h.verify(&Secret::new("anything"), None));
    assert!(!h.verify(&Secret::new(""), None));
    // A corrupt stored hash is treated like none, never like a match.
    assert!(!h.verify(&Secret::new("x"), Some("$argon2id$garbage")));
    assert!(!h.verify(&Secret::new("x"), Some("")));
    // A megabyte of password is refused to hash and never matches.
    let huge = Secret::new("x".repeat(1 << 20));
    assert!(matches!(h.hash(&huge), Err(Error::InvalidArgument(_))));
    assert!(!h.verify(&huge, None));
}

#[test]
fn the_dummy_costs_what_a_real_verify_costs() {
    // Same parameters → same work: the dummy's PHC carries the configured
    // parameters (checked through a real verify timing ratio, loosely, so
    // a loaded machine doesn't flake).
    let h = Hasher::new(&Argon2Config {
        memory_kib: 4096,
        iterations: 2,
        ..Default::default()
    })
    .unwrap();
    let phc = h.hash(&Secret::new("pw")).unwrap();
    let _ = h.verify(&Secret::new("warm"), None);
    let time = |f: &dyn Fn()| {
        let t = std::time::Instant::now();
        for _ in 0..5 {
            f();
        }
        t.elapsed().as_secs_f64()
    };
    let real = time(&|| {
        h.verify(&Secret::new("wrong"), Some(&phc));
    });
    let dummy = time(&|| {
        h.verify(&Secret::new("wrong"), None);
    });
    let ratio = real / dummy;
    assert!(
        (0.33..3.0).contains(&ratio),
        "real {real}s vs dummy {dummy}s"
    );
}

#[test]
fn bad_parameters_are_refused() {
    assert!(matches!(
        Hasher::new(&Argon2Config {
            memory_kib: 1,
            ..Default::default()
        }),
        Err(Error::Config(_))
    ));
    assert!(matches!(
        Hasher::new(&Argon2Config {
            iterations: 0,
            ..Default::default()
        }),
        Err(Error::Config(_))
    ));
}

#[test]
fn only_argon2id_phc_strings_are_stored() {
    for bad in [
        "",
        "plain",
        "$argon2i$v=19$m=256,t=1,p=1$c2FsdHNhbHQ$aGFzaGhhc2hoYXNo",
        "$6$salt$hash",
        "$argon2id$v=19$m=256,t=1,p=1",
    ] {
        assert!(
            matches!(check_phc(bad), Err(Error::InvalidArgument(_))),
            "{bad}"
        );
    }
    assert!(check_phc(&"$argon2id$".repeat(100)).is_err());
}

#[test]
fn policy() {
    let p = PasswordConfig { min_length: 8 };
    let ok = |pw: &str, old: Option<&str>| {
        check_policy(&p, "bob", &Secret::new(pw), old.map(Secret::new).as_ref())
    };
    ok("long enough pw", None).unwrap();
    ok("long enough pw", Some("something else")).unwrap();
    let msg = |r: crate::Result<()>| match r {
        Err(Error::InvalidArgument(m)) => m,
        other => panic!("{other:?}"),
    };
    assert!(msg(ok("short", None)).contains("fewer than the 8"));
    assert!(msg(ok("xxBOBxxxxx", None)).contains("user name"));
    assert!(msg(ok("same old pw", Some("same old pw"))).contains("same as the old"));
    assert!(msg(ok("has\0nul byte", None)).contains("NUL"));
    assert!(msg(ok(&"y".repeat(2000), None)).contains("longer than 1024"));
    // Several failures, one sentence each.
    let m = msg(ok("bob", Some("bob")));
    assert!(
        m.contains("fewer") && m.contains("user name") && m.contains("old"),
        "{m}"
    );
    // Short names: only equality counts, or `a` could use no password with an "a".
    check_policy(&p, "a", &Secret::new("a long passphrase"), None).unwrap();
    assert!(msg(check_policy(&p, "ab", &Secret::new("AB"), None)).contains("user name"));
    // Characters, not bytes.
    ok("ääääääää", None).unwrap();
    assert!(msg(ok("äääää", None)).contains("5 characters"));
}

#[test]
fn reused_buffers_verify_hashes_of_any_size_and_variant() {
    use argon2::password_hash::phc::PasswordHash;
    use argon2::{Algorithm, Argon2, Params, PasswordHasher, Version};
    // The kept buffer is made for 256 KiB; hashes needing more (and less)
    // memory, and the other argon2 variants, verify through it in turn.
    let h = cheap().keep_buffers(1);
    let made = |alg, m, version| {
        let params = Params::new(m, 1, 1, None).unwrap();
        Argon2::new(alg, version, params)
            .hash_password_with_salt(b"pw pw pw", b"some salt here")
            .unwrap()
            .to_string()
    };
    for (alg, m, version) in [
        (Algorithm::Argon2id, 1024, Version::V0x13),
        (Algorithm::Argon2id, 64, Version::V0x13),
        (Algorithm::Argon2i, 256, Version::V0x13),
        (Algorithm::Argon2d, 512, Version::V0x10),
        (Algorithm::Argon2id, 256, Version::V0x13),
    ] {
        let phc = made(alg, m, version);
        assert!(PasswordHash::new(&phc).is_ok(), "{phc}");
        assert!(h.verify(&Secret::new("pw pw pw"), Some(&phc)), "{phc}");
        assert!(!h.verify(&Secret::new("pw pw pX"), Some(&phc)), "{phc}");
    }
}

#[test]
fn verify_then_answers_once_and_matches_verify() {
    let h = cheap();
    let phc = h.hash(&Secret::new("hunter2 is long")).unwrap();
    for (pw, expected) in [("hunter2 is long", true), ("nope nope", false)] {
        let mut answers = Vec::new();
        h.verify_then(&Secret::new(pw), Some(&phc), |right| answers.push(right));
        assert_eq!(answers, [expected]);
    }
    let mut answers = Vec::new();
    h.verify_then(&Secret::new("x"), None, |right| answers.push(right));
    assert_eq!(answers, [false]);
}

#[test]
fn concurrent_verifies_each_get_a_buffer_and_agree() {
    let h = cheap().keep_buffers(2);
    let phc = h.hash(&Secret::new("right one here")).unwrap();
    std::thread::scope(|s| {
        let handles: Vec<_> = (0..6)
            .map(|i| {
                let (h, phc) = (h.clone(), phc.clone());
                s.spawn(move || {
                    let pw = if i % 2 == 0 {
                        "right one here"
                    } else {
                        "wrong one here"
                    };
                    (0..5).all(|_| h.verify(&Secret::new(pw), Some(&phc)) == (i % 2 == 0))
                })
            })
            .collect();
        for handle in handles {
            assert!(handle.join().unwrap());
        }
    });
}

#[test]
fn kept_buffers_are_wiped_and_capped() {
    let h = cheap().keep_buffers(2);
    let phc = h.hash(&Secret::new("right one here")).unwrap();
    assert!(h.kept_buffers_wiped().is_empty());
    assert!(h.verify(&Secret::new("right one here"), Some(&phc)));
    assert_eq!(h.kept_buffers_wiped(), [true]);
    std::thread::scope(|s| {
        for _ in 0..4 {
            let (h, phc) = (h.clone(), phc.clone());
            s.spawn(move || h.verify(&Secret::new("x"), Some(&phc)));
        }
    });
    let kept = h.kept_buffers_wiped();
    assert!(!kept.is_empty() && kept.len() <= 2, "{kept:?}");
    assert!(kept.iter().all(|wiped| *wiped));
    // A hash needing more memory than configured: its buffer is not kept.
    let big = hash_with_memory(1024, "pw");
    let h = cheap().keep_buffers(1);
    assert!(h.verify(&Secret::new("pw"), Some(&big)));
    assert!(h.kept_buffers_wiped().is_empty());
    // A cheaper hash than configured, through a kept buffer a full verify
    // dirtied first: what it wrote is wiped, and the buffer stays whole.
    let small = hash_with_memory(8, "pw");
    let h = cheap().keep_buffers(1);
    assert!(h.verify(&Secret::new("right one here"), Some(&phc)));
    assert!(h.verify(&Secret::new("pw"), Some(&small)));
    assert!(!h.verify(&Secret::new("px"), Some(&small)));
    assert_eq!(h.kept_buffers_wiped(), [true]);
    assert_eq!(h.kept_buffer_blocks(), [256]);
    // keep_buffers(0): nothing is kept.
    let h = cheap().keep_buffers(0);
    assert!(!h.verify(&Secret::new("pw"), Some(&phc)));
    assert!(h.kept_buffers_wiped().is_empty());
}

#[test]
fn the_dummy_hash_is_made_with_the_hasher_and_matches_nothing() {
    let h = cheap();
    // Made already (not on first use), a real argon2id hash of the
    // configured cost.
    check_phc(h.dummy_hash()).unwrap();
    assert!(h.dummy_hash().starts_with("$argon2id$v=19$m=256,t=1,p=1$"));
    assert!(!h.verify(&Secret::new(""), None));
    assert!(!h.verify(&Secret::new("any password"), None));
    // Random: two hashers have different dummies.
    assert_ne!(h.dummy_hash(), cheap().dummy_hash());
}

#[test]
fn without_randomness_for_the_dummy_no_hasher_is_made() {
    let params = Argon2Config {
        memory_kib: 256,
        iterations: 1,
        ..Default::default()
    };
    let failing: crate::password::Randomness = |_| Err("injected failure".into());
    let err = Hasher::with_randomness(&params, failing).unwrap_err();
    let Error::Config(message) = &err else {
        panic!("not a Config error: {err:?}");
    };
    assert!(message.contains("dummy password hash"), "{message}");
    assert!(message.contains("injected failure"), "{message}");
    assert!(message.contains("getrandom"), "{message}");
    // The same parameters with the kernel's randomness work.
    let working: crate::password::Randomness = |buf| {
        buf.fill(7);
        Ok(())
    };
    assert!(Hasher::with_randomness(&params, working).is_ok());
}
