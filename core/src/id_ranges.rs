//! The id-range checks rosterd runs before it starts: Roster's uids (and
//! the private gids equal to them) and `admin_gid` must stay clear of
//! every id the host hands out by other means, or a Roster user would own
//! someone else's files.
//!
//! Every clash found is reported, each naming both sides, in one
//! `Error::Config`.

use crate::config::Config;
use crate::error::Error;
use crate::local_files;

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

/// Run every check; `Ok` when nothing clashes.
pub fn check(config: &Config) -> crate::Result<()> {
    let clashes = clashes(config)?;
    if clashes.is_empty() {
        Ok(())
    } else {
        Err(Error::Config(format!(
            "Roster's ids clash with the host's: {}; change `uid_min`/`uid_max`/`admin_gid` in the config",
            clashes.join("; ")
        )))
    }
}

/// Every clash, one sentence each (empty when none).
pub fn clashes(config: &Config) -> crate::Result<Vec<String>> {
    let users = (u64::from(config.uid_min), u64::from(config.uid_max));
    let users_text = format!("the user range {}–{}", users.0, users.1);
    let admin = (u64::from(config.admin_gid), u64::from(config.admin_gid));
    let admin_text = format!("admin_gid {}", admin.0);
    let mut out = Vec::new();

    if users.1 > MAX_ID {
        out.push(format!("{users_text} goes past {MAX_ID}"));
    }
    if admin.0 > MAX_ID {
        out.push(format!("{admin_text} is past {MAX_ID}"));
    }

    let defs = local_files::login_defs(&config.login_defs)?;
    let defs_path = config.login_defs.display();
    if overlaps(users, (defs.uid_min, defs.uid_max)) {
        out.push(format!(
            "{users_text} overlaps UID_MIN–UID_MAX {}–{} of {defs_path}",
            defs.uid_min, defs.uid_max
        ));
    }
    // Private groups: a user's gid is its uid.
    if overlaps(users, (defs.gid_min, defs.gid_max)) {
        out.push(format!(
            "{users_text} (its private gids) overlaps GID_MIN–GID_MAX {}–{} of {defs_path}",
            defs.gid_min, defs.gid_max
        ));
    }
    if overlaps(admin, (defs.gid_min, defs.gid_max)) {
        out.push(format!(
            "{admin_text} lies in GID_MIN–GID_MAX {}–{} of {defs_path}",
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

    for (owner, lo, hi) in local_files::sub_ranges(&config.subuid_file)? {
        if overlaps(users, (lo, hi)) {
            out.push(format!(
                "{users_text} overlaps {owner}'s subordinate uids {lo}–{hi} in {}",
                config.subuid_file.display()
            ));
        }
    }
    for (owner, lo, hi) in local_files::sub_ranges(&config.subgid_file)? {
        let path = config.subgid_file.display();
        if overlaps(users, (lo, hi)) {
            out.push(format!(
                "{users_text} (its private gids) overlaps {owner}'s subordinate gids {lo}–{hi} in {path}"
            ));
        }
        if overlaps(admin, (lo, hi)) {
            out.push(format!(
                "{admin_text} lies in {owner}'s subordinate gids {lo}–{hi} in {path}"
            ));
        }
    }

    let in_users = |id: u32| (config.uid_min..=config.uid_max).contains(&id);
    for entry in local_files::passwd(&config.passwd_file)? {
        if let Some(uid) = entry.id.filter(|&id| in_users(id)) {
            out.push(format!(
                "local user {:?} in {} has uid {uid}, inside {users_text}",
                entry.name,
                config.passwd_file.display(),
            ));
        }
        if let Some(gid) = entry.gid
            && gid == config.admin_gid
        {
            out.push(format!(
                "local user {:?} in {} has primary gid {gid}, the {admin_text}",
                entry.name,
                config.passwd_file.display()
            ));
        }
    }
    for entry in local_files::group(&config.group_file)? {
        let path = config.group_file.display();
        if let Some(gid) = entry.id.filter(|&id| in_users(id)) {
            out.push(format!(
                "local group {:?} in {path} has gid {gid}, inside {users_text}",
                entry.name
            ));
        }
        if entry.id == Some(config.admin_gid) {
            out.push(format!(
                "local group {:?} in {path} has gid {}, the {admin_text}",
                entry.name, config.admin_gid
            ));
        }
        if entry.name == config.admin_group {
            out.push(format!(
                "local group {:?} in {path} has the name of `admin_group`: Roster serves that group itself",
                entry.name
            ));
        }
    }
    Ok(out)
}
