//! A way in when rosterd is down: sudo goes through pam_roster, whose
//! account check fails closed for Roster users while rosterd is
//! unreachable, so a host whose only admins are Roster users can't be
//! repaired without a local admin: a local account in `sudo` or `wheel`
//! with a password, or a root password.

use super::accounts::{self, Kind};
use super::{Finding, Host};
use std::path::Path;

/// The inputs, as text.
pub struct Files<'a> {
    pub passwd: &'a str,
    pub group: &'a str,
    /// `None` when shadow can't be read (not root).
    pub shadow: Option<&'a str>,
}

/// The finding from the host's passwd, group and shadow: ok when a local
/// sudo/wheel member (not a Roster user, not root) or root has a usable
/// password.
pub fn admins(files: &Files, roster_users: &std::collections::HashSet<String>) -> Finding {
    let passwd = accounts::entries(files.passwd, Kind::Passwd);
    let groups = accounts::entries(files.group, Kind::Group);
    let local = |name: &str| {
        name != "root" && !roster_users.contains(name) && passwd.iter().any(|p| p.name == name)
    };
    let mut candidates: Vec<(String, &str)> = Vec::new();
    for group in groups
        .iter()
        .filter(|g| g.name == "sudo" || g.name == "wheel")
    {
        for member in group.members.iter().filter(|m| local(m)) {
            candidates.push((member.clone(), group.name.as_str()));
        }
        // A primary group counts as membership too.
        for user in passwd
            .iter()
            .filter(|p| group.id.is_some() && p.gid == group.id && local(&p.name))
        {
            candidates.push((user.name.clone(), group.name.as_str()));
        }
    }
    candidates.sort();
    candidates.dedup();
    let fix = "give a local account sudo and a password (usermod -aG sudo NAME; passwd NAME), or set root's password (passwd root)";
    let why = "sudo fails closed for Roster users while rosterd is down";
    let Some(shadow) = files.shadow else {
        return Finding::warn(
            "break-glass",
            format!(
                "can't read shadow to check passwords; local admins by group: {}",
                if candidates.is_empty() {
                    "none".to_owned()
                } else {
                    names(&candidates)
                }
            ),
            "run roster doctor with sudo",
        );
    };
    let shadow = accounts::entries(shadow, Kind::Shadow);
    let usable = |name: &str| {
        shadow
            .iter()
            .any(|s| s.name == name && accounts::usable_hash(&s.password))
    };
    let with_password: Vec<(String, &str)> = candidates
        .iter()
        .filter(|(n, _)| usable(n))
        .cloned()
        .collect();
    if !with_password.is_empty() {
        return Finding::ok(
            "break-glass",
            format!(
                "local admin {} can use sudo while rosterd is down",
                names(&with_password)
            ),
        );
    }
    if usable("root") {
        return Finding::ok(
            "break-glass",
            "root has a password: su or the console work while rosterd is down",
        );
    }
    let detail = if candidates.is_empty() {
        "no local account is in sudo or wheel and root has no password".to_owned()
    } else {
        format!(
            "{} in sudo/wheel but without a usable password, and root has none",
            names(&candidates)
        )
    };
    Finding::fail(
        "break-glass",
        format!("no local break-glass admin: {detail} ({why})"),
        fix,
    )
}

fn names(list: &[(String, &str)]) -> String {
    list.iter()
        .map(|(n, g)| format!("{n} ({g})"))
        .collect::<Vec<_>>()
        .join(", ")
}

pub fn check(host: &Host) -> Vec<Finding> {
    let read = |p: &Path| accounts::read_or_empty(&host.path(p));
    let (passwd, group) = match (
        read(&host.config.passwd_file),
        read(&host.config.group_file),
    ) {
        (Ok(p), Ok(g)) => (p, g),
        (Err(e), _) | (_, Err(e)) => return vec![Finding::fail("break-glass", e, "run with sudo")],
    };
    let shadow = accounts::read_or_empty(&host.path(Path::new("/etc/shadow"))).ok();
    let roster = host.roster_accounts();
    vec![admins(
        &Files {
            passwd: &passwd,
            group: &group,
            shadow: shadow.as_deref(),
        },
        &roster.user_names,
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::Status;
    use std::collections::HashSet;

    const PASSWD: &str =
        "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/h:/bin/sh\nops:x:1001:10::/h:/bin/sh\n";

    fn run(group: &str, shadow: Option<&str>, roster: &[&str]) -> Finding {
        let roster: HashSet<String> = roster.iter().map(|s| (*s).to_owned()).collect();
        admins(
            &Files {
                passwd: PASSWD,
                group,
                shadow,
            },
            &roster,
        )
    }

    #[test]
    fn a_sudo_member_with_a_password_is_enough() {
        let f = run(
            "sudo:x:27:alice\n",
            Some("root:*:1::::::\nalice:$y$x:1::::::\n"),
            &[],
        );
        assert_eq!(f.status, Status::Ok, "{}", f.message);
        assert!(f.message.contains("alice (sudo)"));
        // Primary group wheel.
        let f = run(
            "wheel:x:10:\n",
            Some("root:!:1::::::\nops:$6$x:1::::::\n"),
            &[],
        );
        assert_eq!(f.status, Status::Ok, "{}", f.message);
    }

    #[test]
    fn a_root_password_is_enough() {
        let f = run("sudo:x:27:\n", Some("root:$y$abc:1::::::\n"), &[]);
        assert_eq!(f.status, Status::Ok);
        assert!(f.message.contains("root has a password"));
    }

    #[test]
    fn roster_users_locked_accounts_and_strangers_dont_count() {
        // bob is not local; alice is a Roster user here; root locked.
        let f = run(
            "sudo:x:27:bob,alice\n",
            Some("root:!$6$x:1::::::\nalice:$6$x:1::::::\n"),
            &["alice"],
        );
        assert_eq!(f.status, Status::Fail, "{}", f.message);
        let f = run(
            "sudo:x:27:alice\n",
            Some("root:*:1::::::\nalice:!:1::::::\n"),
            &[],
        );
        assert_eq!(f.status, Status::Fail);
        assert!(
            f.message.contains("without a usable password"),
            "{}",
            f.message
        );
        assert!(f.fix.unwrap().contains("passwd root"));
    }

    #[test]
    fn an_unreadable_shadow_is_a_warning() {
        let f = run("sudo:x:27:alice\n", None, &[]);
        assert_eq!(f.status, Status::Warn);
        assert!(f.fix.unwrap().contains("sudo"));
    }
}
