//! rosterd comes up on a private bus and answers through the proxies.

use roster_tests::{TestBus, TestDaemon};

#[test]
fn rosterd_serves_users_through_the_proxies() {
    let bus = TestBus::start();
    let daemon = TestDaemon::start(&bus);
    let created = daemon
        .probe(
            "Users.Create",
            &[r#"{"name":"alice","display_name":"Alice","role":"","home":"","shell":"","register":false}"#, r#""correct horse battery""#],
        )
        .run()
        .expect_ok();
    assert_eq!(created.json()["ok"]["user"]["name"], "alice");
    let shown = daemon
        .probe("Users.Show", &[r#""alice""#])
        .run()
        .expect_ok();
    assert_eq!(shown.json()["ok"]["display_name"], "Alice");
    assert!(daemon.nss_cache_path().exists());
    assert!(
        daemon
            .audit_log()
            .contains("action=users.create target=alice")
    );
}
