use super::fixture::*;
use crate::*;

rule_tests! {
#[test]
fn create_list_grant_nss() {
    let mut f = fixture();
    let bob = f.create("bob");
    assert_eq!(bob.uid, f.roster.config().uid_min);
    assert_eq!(bob.home, "/home/bob");
    f.create_admin("ann");
    assert_eq!(
        f.roster
            .grant(&Actor::Root, "bob", None, Level::Admin)
            .unwrap(),
        Level::Admin
    );
    let users = f.roster.list_users(&Actor::Root, false).unwrap();
    assert_eq!(users.len(), 2);
    let view = f.roster.nss_view().unwrap();
    assert_eq!(
        view.admin_members,
        vec!["ann".to_string(), "bob".to_string()]
    );
    let hasher = password::Hasher::new(&f.roster.config().argon2).unwrap();
    let phc = hasher.hash(&Secret::new("pw")).unwrap();
    assert!(hasher.verify(&Secret::new("pw"), Some(&phc)));
    assert!(!hasher.verify(&Secret::new("px"), Some(&phc)));
    assert!(!hasher.verify(&Secret::new("pw"), None));
}

/// rosterd keeps `Roster` behind a mutex and hands `Hasher` to blocking
/// threads: both must cross threads.
#[test]
fn the_daemons_types_cross_threads() {
    fn send<T: Send>() {}
    fn send_sync<T: Send + Sync>() {}
    send::<Roster>();
    send_sync::<password::Hasher>();
    send_sync::<Config>();
    send_sync::<Error>();
}
}
