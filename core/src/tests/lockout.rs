use crate::config::LockoutConfig;
use crate::error::Error;
use crate::lockout::{ALL_REMOTE_HOSTS, Counter, LOCAL, MAX_REMOTE_HOST_BYTES, remote_host_key};
use std::time::Duration;

fn config() -> LockoutConfig {
    LockoutConfig {
        attempts: 3,
        remote_attempts: 5,
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

#[test]
fn the_remote_counter_locks_after_remote_attempts() {
    let c = config();
    let mut k = Counter::default();
    for t in 0..4 {
        assert_eq!(k.fail_remote(&c, t), None, "{t}: more than `attempts`");
    }
    assert_eq!(k.fail_remote(&c, 4), Some(304));
    assert_eq!(k.locked_at(303), Some(304));
    // The same window: failures older than it drop out.
    let mut k = Counter::default();
    for t in [0, 10, 20, 30] {
        k.fail_remote(&c, t);
    }
    assert_eq!(k.fail_remote(&c, 65), None, "t=0 is out of the window");
    assert_eq!(k.fail_remote(&c, 66), Some(366));
}

#[test]
fn remote_hosts_are_host_names_or_addresses() {
    for host in [
        "203.0.113.7",
        "2001:db8::1",
        "::ffff:192.0.2.1",
        "fe80::1%eth0",
        "fe80::1%enp0s31f6",
        "host.example.org",
        "build-01.lab_net.example",
        "LOCALHOST",
    ] {
        assert_eq!(remote_host_key(Some(host)).unwrap(), host);
    }
    assert_eq!(remote_host_key(None).unwrap(), LOCAL);
    assert_eq!(remote_host_key(Some("")).unwrap(), LOCAL, "empty = local");
    let longest = "a".repeat(MAX_REMOTE_HOST_BYTES);
    assert_eq!(remote_host_key(Some(&longest)).unwrap(), longest);

    let too_long = "a".repeat(MAX_REMOTE_HOST_BYTES + 1);
    let megabyte = "h".repeat(1 << 20);
    for bad in [
        too_long.as_str(),
        megabyte.as_str(),
        ALL_REMOTE_HOSTS,
        "a b",
        " host",
        "host\n",
        "ho\tst",
        "ho\0st",
        "\u{1b}[31mred",
        "host;rm",
        "user@host",
        "hôst.example",
        "[2001:db8::1]",
        "host/24",
    ] {
        match remote_host_key(Some(bad)) {
            Err(Error::InvalidArgument(m)) => {
                assert!(m.contains("remote host"), "{m}");
                assert!(m.len() < 300, "the value is shown shortened: {m}");
            }
            other => panic!("{bad:.40?}: {other:?}"),
        }
    }
}
