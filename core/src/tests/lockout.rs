use crate::config::LockoutConfig;
use crate::lockout::Counter;
use std::time::Duration;

fn config() -> LockoutConfig {
    LockoutConfig {
        attempts: 3,
        window: Duration::from_secs(60),
        duration: Duration::from_secs(300),
    }
}

#[test]
fn attempts_within_the_window_lock() {
    let c = config();
    let mut k = Counter::default();
    assert_eq!(k.fail(&c, 100), None);
    assert_eq!(k.fail(&c, 110), None);
    assert_eq!(k.fail(&c, 120), Some(420));
    assert_eq!(k.locked_at(120), Some(420));
    assert_eq!(k.locked_at(419), Some(420));
    assert_eq!(k.locked_at(420), None, "the lock ends on time");
    // Failures while locked neither extend it nor count.
    assert_eq!(k.fail(&c, 200), None);
    assert_eq!(k.locked_at(419), Some(420));
}

#[test]
fn failures_outside_the_window_drop_out() {
    let c = config();
    let mut k = Counter::default();
    k.fail(&c, 0);
    k.fail(&c, 30);
    // t=61: the first failure is out of the 60 s window.
    assert_eq!(k.fail(&c, 61), None);
    assert_eq!(k.fail(&c, 89), Some(389));
}

#[test]
fn a_fresh_count_after_a_lock() {
    let c = config();
    let mut k = Counter::default();
    for t in [0, 1, 2] {
        k.fail(&c, t);
    }
    assert_eq!(k.fail(&c, 400), None);
    assert_eq!(k.fail(&c, 401), None);
    assert_eq!(k.fail(&c, 402), Some(702));
}

#[test]
fn one_attempt_locks_at_once() {
    let c = LockoutConfig {
        attempts: 1,
        ..config()
    };
    assert_eq!(Counter::default().fail(&c, 5), Some(305));
}

#[test]
fn encoding_round_trips() {
    let c = config();
    let mut k = Counter::default();
    k.fail(&c, 10);
    k.fail(&c, 20);
    let back = Counter::decode(&k.encode_failures(), k.locked_until);
    assert_eq!(back, k);
    assert_eq!(Counter::decode("", None), Counter::default());
    assert_eq!(Counter::decode("x 5 y", Some(9)).failures, vec![5]);
    assert!(!k.is_clear(&c, 30));
    assert!(k.is_clear(&c, 200));
}
