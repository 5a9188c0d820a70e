//! Roster's uid range (and the private gids equal to it) and `admin_gid`
//! must stay clear of every id the host hands out by other means, or a
//! Roster user would own someone else's files. The same rules rosterd
//! applies before it starts (DESIGN.md), so the doctor names the clash
//! rosterd would refuse to start over, and also one that appeared later
//! (a local account created inside the range).

use super::accounts::{self, Kind, RosterAccounts};
use super::{Finding, Host};

/// systemd's reserved ranges (systemd's docs/UIDS-GIDS.md).
pub const SYSTEMD_RESERVED: &[(u64, u64, &str)] = &[
    (60001, 60577, "systemd's range for systemd-homed users"),
    (61184, 65535, "systemd's range for DynamicUser= services"),
    (
        524_288,
        1_879_048_191,
        "systemd's range for systemd-nspawn containers",
    ),
    (
        2_147_352_576,
        2_147_418_111,
        "systemd's range for foreign (mapped) ids",
    ),
];

/// Above this, ids break tools that treat uids as signed 32-bit numbers.
pub const MAX_ID: u64 = 2_147_483_646;

fn overlaps(a: (u64, u64), b: (u64, u64)) -> bool {
    a.0 <= b.1 && b.0 <= a.1
}

/// The host's files, as text (a missing file is empty).
pub struct Files {
    pub login_defs: String,
    pub subuid: String,
    pub subgid: String,
    pub passwd: String,
    pub group: String,
}

/// Every clash, one sentence each (empty when none).
pub fn clashes(
    config: &super::config::Config,
    files: &Files,
    roster: &RosterAccounts,
) -> Vec<String> {
    let users = (u64::from(config.uid_min), u64::from(config.uid_max));
    let users_text = format!("the user range {}–{}", users.0, users.1);
    let admin = (u64::from(config.admin_gid), u64::from(config.admin_gid));
    let admin_text = format!("admin_gid {}", admin.0);
    let mut out = Vec::new();

    if users.0 > users.1 {
        out.push(format!("{users_text} is empty (uid_min is above uid_max)"));
    }
    if users.1 > MAX_ID {
        out.push(format!("{users_text} goes past {MAX_ID}"));
    }
    if admin.0 > MAX_ID {
        out.push(format!("{admin_text} is past {MAX_ID}"));
    }
    if overlaps(users, admin) {
        out.push(format!(
            "{admin_text} lies in {users_text} (a user's private gid would be the admin group)"
        ));
    }

    let defs = accounts::login_defs(&files.login_defs);
    if overlaps(users, (defs.uid_min, defs.uid_max)) {
        out.push(format!(
            "{users_text} overlaps login.defs' UID_MIN–UID_MAX {}–{}",
            defs.uid_min, defs.uid_max
        ));
    }
    // Private groups: a user's gid is its uid.
    if overlaps(users, (defs.gid_min, defs.gid_max)) {
        out.push(format!(
            "{users_text} (its private gids) overlaps login.defs' GID_MIN–GID_MAX {}–{}",
            defs.gid_min, defs.gid_max
        ));
    }
    if overlaps(admin, (defs.gid_min, defs.gid_max)) {
        out.push(format!(
            "{admin_text} lies in login.defs' GID_MIN–GID_MAX {}–{}",
            defs.gid_min, defs.gid_max
        ));
    }
    for &(lo, hi, what) in SYSTEMD_RESERVED {
        if overlaps(users, (lo, hi)) {
            out.push(format!("{users_text} overlaps {lo}–{hi}, {what}"));
        }
        if overlaps(admin, (lo, hi)) {
            out.push(format!("{admin_text} lies in {lo}–{hi}, {what}"));
        }
    }
    for (owner, lo, hi) in accounts::sub_ranges(&files.subuid) {
        if overlaps(users, (lo, hi)) {
            out.push(format!(
                "{users_text} overlaps {owner}'s subordinate uids {lo}–{hi}"
            ));
        }
    }
    for (owner, lo, hi) in accounts::sub_ranges(&files.subgid) {
        if overlaps(users, (lo, hi)) {
            out.push(format!(
                "{users_text} (its private gids) overlaps {owner}'s subordinate gids {lo}–{hi}"
            ));
        }
        if overlaps(admin, (lo, hi)) {
            out.push(format!(
                "{admin_text} lies in {owner}'s subordinate gids {lo}–{hi}"
            ));
        }
    }
    let in_users = |id: u32| (config.uid_min..=config.uid_max).contains(&id);
    for entry in accounts::entries(&files.passwd, Kind::Passwd) {
        // A Roster user copied into the local files (getent passwd > …) is
        // not a clash with itself.
        if roster.is_user(&entry) {
            continue;
        }
        if let Some(uid) = entry.id.filter(|&id| in_users(id)) {
            out.push(format!(
                "local user {:?} has uid {uid}, inside {users_text}",
                entry.name
            ));
        }
        if entry.gid == Some(config.admin_gid) {
            out.push(format!(
                "local user {:?} has primary gid {}, the {admin_text}",
                entry.name, config.admin_gid
            ));
        }
    }
    for entry in accounts::entries(&files.group, Kind::Group) {
        if roster.is_group(&entry) {
            continue;
        }
        if let Some(gid) = entry.id.filter(|&id| in_users(id)) {
            out.push(format!(
                "local group {:?} has gid {gid}, inside {users_text}",
                entry.name
            ));
        }
        if entry.id == Some(config.admin_gid) {
            out.push(format!(
                "local group {:?} has gid {}, the {admin_text}",
                entry.name, config.admin_gid
            ));
        }
        if entry.name == config.admin_group {
            out.push(format!(
                "local group {:?} has the name of admin_group: Roster serves that group itself",
                entry.name
            ));
        }
    }
    out
}

pub fn check(host: &Host) -> Vec<Finding> {
    let c = &host.config;
    let read = |p: &std::path::Path| accounts::read_or_empty(&host.path(p));
    let files = (|| {
        Ok::<_, String>(Files {
            login_defs: read(&c.login_defs)?,
            subuid: read(&c.subuid_file)?,
            subgid: read(&c.subgid_file)?,
            passwd: read(&c.passwd_file)?,
            group: read(&c.group_file)?,
        })
    })();
    let files = match files {
        Ok(files) => files,
        Err(e) => return vec![Finding::fail("ids", e, "run with sudo")],
    };
    let found = clashes(c, &files, &host.roster_accounts());
    if found.is_empty() {
        return vec![Finding::ok(
            "ids",
            format!(
                "uids {}–{} and admin_gid {} are clear of the host's ids",
                c.uid_min, c.uid_max, c.admin_gid
            ),
        )];
    }
    vec![Finding::fail(
        "ids",
        format!("Roster's ids clash with the host's: {}", found.join("; ")),
        format!(
            "choose uid_min/uid_max/admin_gid clear of them in {} (before creating users: their uids can't move), or move the local account",
            host.config_path.display()
        ),
    )]
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::doctor::config::Config;

    fn debian() -> Files {
        Files {
            login_defs: "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n".into(),
            subuid: "alice:100000:65536\n".into(),
            subgid: "alice:100000:65536\n".into(),
            passwd: "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n".into(),
            group: "root:x:0:\nsudo:x:27:alice\n".into(),
        }
    }

    #[test]
    fn the_defaults_are_clear_on_a_debian_host() {
        assert_eq!(
            clashes(&Config::default(), &debian(), &RosterAccounts::default()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_rule_is_named() {
        let none = RosterAccounts::default();
        let with = |f: &dyn Fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            clashes(&c, &debian(), &none).join("\n")
        };
        assert!(with(&|c| c.uid_max = 2_147_483_647).contains("goes past 2147483646"));
        assert!(
            with(&|c| {
                c.uid_min = 500;
                c.uid_max = 2000
            })
            .contains("UID_MIN–UID_MAX 1000–60000")
        );
        assert!(
            with(&|c| {
                c.uid_min = 60_100;
                c.uid_max = 60_200
            })
            .contains("systemd-homed")
        );
        assert!(with(&|c| c.admin_gid = 65_000).contains("DynamicUser"));
        assert!(
            with(&|c| {
                c.uid_min = 2_147_400_000;
                c.uid_max = 2_147_400_010
            })
            .contains("foreign")
        );
        assert!(
            with(&|c| {
                c.uid_min = 150_000;
                c.uid_max = 150_010
            })
            .contains("alice's subordinate uids")
        );
        assert!(with(&|c| c.admin_gid = 1_879_048_200).contains("lies in the user range"));

        let mut files = debian();
        files
            .passwd
            .push_str("intruder:x:1879048200:1879048192::/:/bin/sh\n");
        files.group.push_str("roster-admins:x:5:\n");
        let text = clashes(&Config::default(), &files, &none).join("\n");
        assert!(
            text.contains("local user \"intruder\" has uid 1879048200"),
            "{text}"
        );
        assert!(text.contains("primary gid 1879048192"), "{text}");
        assert!(text.contains("name of admin_group"), "{text}");
    }

    #[test]
    fn rosters_own_accounts_are_skipped() {
        let mut files = debian();
        files
            .passwd
            .push_str("bob:x:1879048193:1879048193::/home/bob:/bin/sh\n");
        files.group.push_str("bob:x:1879048193:\n");
        let mut roster = RosterAccounts::default();
        roster.users.insert(("bob".into(), 1_879_048_193));
        roster.groups.insert(("bob".into(), 1_879_048_193));
        assert!(clashes(&Config::default(), &files, &roster).is_empty());
        assert_eq!(
            clashes(&Config::default(), &files, &RosterAccounts::default()).len(),
            2
        );
    }
}
