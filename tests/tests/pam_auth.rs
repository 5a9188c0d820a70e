//! pam_roster's auth through real libpam, stacked after pam_unix as the
//! packaged profile puts it, against a real rosterd.

mod pam_common;
use pam_common::*;

#[test]
fn right_and_wrong_password() {
    let w = World::start();
    w.user("alice", "correct horse 1", Some("write"));
    let ok = w
        .pam("alice")
        .steps(&["auth", "acct"])
        .answers(&["correct horse 1"])
        .run();
    assert_eq!(ok.codes(), vec![PAM_SUCCESS, PAM_SUCCESS], "{ok:?}");
    assert_eq!(ok.prompts, vec!["Password: "], "pam_unix asks once; pam_roster uses its token");
    let bad = w
        .pam("alice")
        .steps(&["auth"])
        .answers(&["wrong horse"])
        .run();
    assert_eq!(bad.code("auth"), PAM_AUTH_ERR, "{bad:?}");
}
