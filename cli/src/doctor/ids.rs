//! Roster's uid range (and the private gids equal to it) and `admin_gid`
//! must stay clear of every id the host hands out by other means, or a
//! Roster user would own someone else's files. The checks are rosterd's
//! own (`roster_hostconfig::id_ranges`), on the same files, so the doctor
//! fails exactly where rosterd would refuse to start, and also on a clash
//! that appeared later (a local account created inside the range).
//!
//! A Roster account copied into the local files (`getent passwd > …`) is
//! such a clash too, as rosterd says: the doctor only adds, in its fix,
//! which lines are those copies.

use super::accounts::{self, Kind, RosterAccounts};
use super::{Finding, Host};
use roster_hostconfig::HostFiles;
use roster_hostconfig::id_ranges::{clash_sentence, clashes};

/// The local lines that are Roster's own accounts copied in.
fn copies(files: &HostFiles, roster: &RosterAccounts) -> Vec<String> {
    let users = accounts::entries(&files.passwd, Kind::Passwd)
        .into_iter()
        .filter(|e| roster.is_user(e))
        .map(|e| format!("user {:?}", e.name));
    let groups = accounts::entries(&files.group, Kind::Group)
        .into_iter()
        .filter(|e| roster.is_group(e))
        .map(|e| format!("group {:?}", e.name));
    users.chain(groups).collect()
}

pub fn check(host: &Host) -> Vec<Finding> {
    let c = &host.config;
    let files = match HostFiles::read(c, |p| host.path(p)) {
        Ok(files) => files,
        Err(e) => return vec![Finding::fail("ids", e.to_string(), "run with sudo")],
    };
    let found = clashes(c, &files);
    if found.is_empty() {
        return vec![Finding::ok(
            "ids",
            format!(
                "uids {}–{} and admin_gid {} are clear of the host's ids",
                c.uid_min, c.uid_max, c.admin_gid
            ),
        )];
    }
    let mut fix = format!(
        "choose uid_min/uid_max/admin_gid clear of them in {} (before creating users: their uids can't move), or move the local account",
        host.config_path.display()
    );
    let copied = copies(&files, &host.roster_accounts());
    if !copied.is_empty() {
        fix.push_str(&format!(
            "; {} in the local files {} Roster's own, copied there: delete those lines (Roster serves them)",
            copied.join(", "),
            if copied.len() == 1 { "is" } else { "are" }
        ));
    }
    vec![Finding::fail("ids", clash_sentence(&found), fix)]
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_hostconfig::Config;

    fn debian() -> HostFiles {
        HostFiles {
            login_defs: "UID_MIN 1000\nUID_MAX 60000\nGID_MIN 1000\nGID_MAX 60000\n".into(),
            subuid: "alice:100000:65536\n".into(),
            subgid: "alice:100000:65536\n".into(),
            passwd: "root:x:0:0::/root:/bin/sh\nalice:x:1000:1000::/home/alice:/bin/sh\n".into(),
            group: "root:x:0:\nsudo:x:27:alice\n".into(),
        }
    }

    /// Everything rosterd would refuse: the config's own rules, then the
    /// clashes with the host's files.
    fn refusals(config: &Config, files: &HostFiles) -> Vec<String> {
        let mut out: Vec<String> = config
            .validate()
            .err()
            .map(|e| e.problems())
            .into_iter()
            .collect();
        out.extend(clashes(config, files));
        out
    }

    #[test]
    fn the_defaults_are_clear_on_a_debian_host() {
        assert_eq!(
            refusals(&Config::default(), &debian()),
            Vec::<String>::new()
        );
    }

    #[test]
    fn each_rule_is_named() {
        let with = |f: &dyn Fn(&mut Config)| {
            let mut c = Config::default();
            f(&mut c);
            refusals(&c, &debian()).join("\n")
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
        let text = refusals(&Config::default(), &files).join("\n");
        assert!(
            text.contains("local user \"intruder\" has uid 1879048200"),
            "{text}"
        );
        assert!(text.contains("primary gid 1879048192"), "{text}");
        assert!(text.contains("name of admin_group"), "{text}");
    }

    /// The drift this crate's sharing fixed: the doctor skipped Roster's
    /// own accounts copied into the local files, where rosterd refuses to
    /// start over them, so the doctor said ✓ to a host rosterd wouldn't
    /// run on. Now both refuse; the doctor's fix says which lines are copies.
    #[test]
    fn rosters_accounts_copied_into_the_local_files_clash_as_in_rosterd() {
        let mut files = debian();
        files
            .passwd
            .push_str("bob:x:1879048193:1879048193::/home/bob:/bin/sh\n");
        files.group.push_str("bob:x:1879048193:\n");
        let mut roster = RosterAccounts::default();
        roster.users.insert(("bob".into(), 1_879_048_193));
        roster.groups.insert(("bob".into(), 1_879_048_193));
        assert_eq!(clashes(&Config::default(), &files).len(), 2);
        assert_eq!(copies(&files, &roster), ["user \"bob\"", "group \"bob\""]);
        assert!(copies(&files, &RosterAccounts::default()).is_empty());
    }
}
