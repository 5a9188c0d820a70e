//! chauthtok through real libpam in the packaged stack (pam_unix first,
//! answering user-unknown for Roster users without prompting), and the
//! registration-code login (issue 6 §3): the code typed at the password
//! prompt, "new password required", the new password twice.

mod pam_common;
use pam_common::*;

const OLD: &str = "correct horse 1";
const NEW: &str = "battery staple 2";

#[test]
fn root_changes_a_password_and_the_old_one_then_fails() {
    let w = World::start();
    w.user("alice", OLD, Some("write"));
    let out = w
        .pam("alice")
        .steps(&["chauthtok"])
        .answers(&[NEW, NEW])
        .run();
    assert_eq!(out.code("chauthtok"), PAM_SUCCESS, "{out:?}");
    assert_eq!(out.prompts, vec!["New password: ", "Retype new password: "]);
    let old = w.pam("alice").steps(&["auth"]).answers(&[OLD]).run();
    assert_eq!(old.code("auth"), PAM_AUTH_ERR);
    let new = w
        .pam("alice")
        .steps(&["auth", "acct"])
        .answers(&[NEW])
        .run();
    assert_eq!(new.codes(), vec![PAM_SUCCESS; 2], "{new:?}");
}

#[test]
fn a_user_changes_its_own_password_with_the_current_one() {
    let w = World::start();
    let uid = w.user("alice", OLD, Some("write"));
    w.service("passwd", &w.module_args());
    w.open_to_everyone();
    let wrong = w
        .pam("alice")
        .service("passwd")
        .run_as(uid)
        .steps(&["chauthtok"])
        .answers(&["not the password", NEW, NEW])
        .run();
    assert_ne!(wrong.code("chauthtok"), PAM_SUCCESS, "{wrong:?}");
    let out = w
        .pam("alice")
        .service("passwd")
        .run_as(uid)
        .steps(&["chauthtok"])
        .answers(&[OLD, NEW, NEW])
        .run();
    assert_eq!(out.code("chauthtok"), PAM_SUCCESS, "{out:?}");
    assert_eq!(
        out.prompts,
        vec![
            "Current password: ",
            "New password: ",
            "Retype new password: "
        ]
    );
    let old = w.pam("alice").steps(&["auth"]).answers(&[OLD]).run();
    assert_eq!(old.code("auth"), PAM_AUTH_ERR);
    let new = w.pam("alice").steps(&["auth"]).answers(&[NEW]).run();
    assert_eq!(new.code("auth"), PAM_SUCCESS);
}

#[test]
fn policy_failures_and_mismatches_say_why_and_change_nothing() {
    let w = World::start();
    w.user("alice", OLD, Some("write"));
    let short = w
        .pam("alice")
        .steps(&["chauthtok"])
        .answers(&["short", "short"])
        .run();
    assert_eq!(short.code("chauthtok"), PAM_AUTHTOK_ERR, "{short:?}");
    assert!(
        !short.errors.is_empty(),
        "rosterd's reason is shown: {short:?}"
    );
    let named = w
        .pam("alice")
        .steps(&["chauthtok"])
        .answers(&["alice-alice-1", "alice-alice-1"])
        .run();
    assert_eq!(named.code("chauthtok"), PAM_AUTHTOK_ERR, "{named:?}");
    let mismatch = w
        .pam("alice")
        .steps(&["chauthtok"])
        .answers(&[NEW, "battery staple 3"])
        .run();
    assert_eq!(mismatch.code("chauthtok"), PAM_AUTHTOK_ERR);
    assert!(
        mismatch.errors.iter().any(|e| e.contains("do not match")),
        "{mismatch:?}"
    );
    let still = w.pam("alice").steps(&["auth"]).answers(&[OLD]).run();
    assert_eq!(still.code("auth"), PAM_SUCCESS, "nothing changed");
}

#[test]
fn a_pending_user_logs_in_with_the_code_and_chooses_a_password() {
    let w = World::start();
    let code = w.pending_user("pete", "write");
    assert_eq!(w.state("pete"), "pending");
    // sshd keyboard-interactive, login, su: one handle, the expired-password
    // flow (chauthtok with PAM_CHANGE_EXPIRED_AUTHTOK after acct).
    let out = w
        .pam("pete")
        .steps(&["auth", "acct", "chauthtok-expired", "open", "close"])
        .answers(&[&code, NEW, NEW])
        .run();
    assert_eq!(
        out.codes(),
        vec![
            PAM_SUCCESS,
            PAM_NEW_AUTHTOK_REQD,
            PAM_SUCCESS,
            PAM_SUCCESS,
            PAM_SUCCESS
        ],
        "{out:?}"
    );
    assert_eq!(
        out.prompts,
        vec!["Password: ", "New password: ", "Retype new password: "]
    );
    assert_eq!(w.state("pete"), "active");
    // Then a normal login with the new password; the code is spent.
    let login = w.pam("pete").steps(&["auth", "acct"]).answers(&[NEW]).run();
    assert_eq!(login.codes(), vec![PAM_SUCCESS; 2], "{login:?}");
    let reuse = w.pam("pete").steps(&["auth"]).answers(&[&code]).run();
    assert_eq!(reuse.code("auth"), PAM_AUTH_ERR);
    for text in [w.daemon.audit_log(), w.daemon.stderr_log()] {
        assert!(!text.contains(&code), "the code reached a log: {text}");
    }
}

#[test]
fn a_pending_user_finishes_through_passwd_as_itself() {
    // sshd's password mode runs `passwd` as the user in a fresh handle:
    // nothing from auth, so the module asks rosterd and wants the code.
    let w = World::start();
    let code = w.pending_user("pete", "write");
    let uid = w.uid("pete");
    w.service("passwd", &w.module_args());
    w.open_to_everyone();
    let same = w
        .pam("pete")
        .service("passwd")
        .run_as(uid)
        .steps(&["chauthtok"])
        .answers(&[&code, &code, &code])
        .run();
    assert_eq!(
        same.code("chauthtok"),
        PAM_AUTHTOK_ERR,
        "the code is not a password: {same:?}"
    );
    assert_eq!(w.state("pete"), "pending");
    let out = w
        .pam("pete")
        .service("passwd")
        .run_as(uid)
        .steps(&["chauthtok"])
        .answers(&[&code, NEW, NEW])
        .run();
    assert_eq!(out.code("chauthtok"), PAM_SUCCESS, "{out:?}");
    assert_eq!(
        out.prompts,
        vec![
            "Registration code: ",
            "New password: ",
            "Retype new password: "
        ]
    );
    assert_eq!(w.state("pete"), "active");
}

#[test]
fn pamtester_drives_the_code_flow_with_chauthtok_before_acct_mgmt() {
    // pamtester can't answer "new password required" itself: it needs
    // chauthtok(PAM_CHANGE_EXPIRED_AUTHTOK) before acct_mgmt. Through
    // pam_wrapper, which points libpam at the test's service folder.
    let w = World::start();
    let code = w.pending_user("pete", "write");
    let out = std::process::Command::new("pamtester")
        .args([
            "-v",
            "login",
            "pete",
            "authenticate",
            "chauthtok(PAM_CHANGE_EXPIRED_AUTHTOK)",
            "acct_mgmt",
            "open_session",
            "close_session",
        ])
        .env_clear()
        .env("PATH", "/usr/sbin:/usr/bin:/sbin:/bin")
        .env(
            "LD_PRELOAD",
            format!("/usr/lib/x86_64-linux-gnu/libpam_wrapper.so:{NSS_WRAPPER}"),
        )
        .env("PAM_WRAPPER", "1")
        .env("PAM_WRAPPER_SERVICE_DIR", w.services())
        .env("NSS_WRAPPER_PASSWD", w.dir().join("passwd"))
        .env("NSS_WRAPPER_GROUP", w.dir().join("group"))
        .env("NSS_WRAPPER_MODULE_SO_PATH", nss_so())
        .env("NSS_WRAPPER_MODULE_FN_PREFIX", "roster")
        .env("ROSTER_NSS_CACHE", w.daemon.nss_cache_path())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .and_then(|mut c| {
            use std::io::Write;
            if let Some(mut i) = c.stdin.take() {
                let _ = i.write_all(format!("{code}\n{NEW}\n{NEW}\n").as_bytes());
            }
            c.wait_with_output()
        })
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(out.status.success(), "{stderr}");
    assert!(
        stderr.contains("performing operation - close_session"),
        "{stderr}"
    );
    assert_eq!(w.state("pete"), "active");
}

#[test]
fn the_code_is_refused_as_the_new_password_even_from_root() {
    // login/sshd run chauthtok as root, which needs no current password:
    // only rosterd knows the code then, and must refuse it as the new one.
    let w = World::start();
    let code = w.pending_user("pete", "write");
    let out = w
        .pam("pete")
        .steps(&["auth", "acct", "chauthtok-expired"])
        .answers(&[&code, &code, &code])
        .run();
    assert_eq!(out.code("chauthtok-expired"), PAM_AUTHTOK_ERR, "{out:?}");
    assert_eq!(w.state("pete"), "pending");
}
