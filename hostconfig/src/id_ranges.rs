//! The id-range checks rosterd runs before it starts, and the doctor runs
//! on the same files: Roster's uids (and the private gids equal to them)
//! and `admin_gid` must stay clear of every id the host hands out by
//! other means, or a Roster user would own someone else's files.
//!
//! An id in the local files inside Roster's range is a clash whoever it
//! belongs to, a Roster user copied into `/etc/passwd` (`getent passwd >
//! …`) included: that copy would answer for the user from the files
//! before Roster does, and keep answering after a suspend or a delete.
//!
//! Every clash found is reported, each naming both sides and the file.

use crate::config::Config;
use crate::error::ConfigError;
use crate::local_files::{self, Kind};
use std::path::{Path, PathBuf};

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

/// The text of the host files a config names (a missing file is empty).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct HostFiles {
    pub login_defs: String,
    pub subuid: String,
    pub subgid: String,
    pub passwd: String,
    pub group: String,
}

impl HostFiles {
    /// Reads the files `config` names, each path as `locate` maps it
    /// (rosterd: as it is; the doctor: under its `--root`).
    pub fn read(
        config: &Config,
        locate: impl Fn(&Path) -> PathBuf,
    ) -> Result<HostFiles, ConfigError> {
        let read = |path: &Path| local_files::read_or_empty(&locate(path));
        Ok(HostFiles {
            login_defs: read(&config.login_defs)?,
            subuid: read(&config.subuid_file)?,
            subgid: read(&config.subgid_file)?,
            passwd: read(&config.passwd_file)?,
            group: read(&config.group_file)?,
        })
    }
}

/// Reads the files at the config's paths and runs every check; `Ok` when
/// nothing clashes.
pub fn check(config: &Config) -> Result<(), ConfigError> {
    let files = HostFiles::read(config, Path::to_path_buf)?;
    let found = clashes(config, &files);
    if found.is_empty() {
        Ok(())
    } else {
        Err(ConfigError::IdClash(found))
    }
}

/// The clashes as one sentence, as rosterd and the doctor say it.
pub fn clash_sentence(clashes: &[String]) -> String {
    format!("Roster's ids clash with the host's: {}", clashes.join("; "))
}

/// Every clash, one sentence each (empty when none). Files are named by
/// the config's paths, as the host names them.
pub fn clashes(config: &Config, files: &HostFiles) -> Vec<String> {
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

    let defs = local_files::login_defs(&files.login_defs);
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

    let subuid_path = config.subuid_file.display();
    for (owner, lo, hi) in local_files::sub_ranges(&files.subuid) {
        if overlaps(users, (lo, hi)) {
            out.push(format!(
                "{users_text} overlaps {owner}'s subordinate uids {lo}–{hi} in {subuid_path}"
            ));
        }
    }
    let subgid_path = config.subgid_file.display();
    for (owner, lo, hi) in local_files::sub_ranges(&files.subgid) {
        if overlaps(users, (lo, hi)) {
            out.push(format!(
                "{users_text} (its private gids) overlaps {owner}'s subordinate gids {lo}–{hi} in {subgid_path}"
            ));
        }
        if overlaps(admin, (lo, hi)) {
            out.push(format!(
                "{admin_text} lies in {owner}'s subordinate gids {lo}–{hi} in {subgid_path}"
            ));
        }
    }

    let in_users = |id: u32| (config.uid_min..=config.uid_max).contains(&id);
    let passwd_path = config.passwd_file.display();
    for entry in local_files::entries(&files.passwd, Kind::Passwd) {
        if let Some(uid) = entry.id.filter(|&id| in_users(id)) {
            out.push(format!(
                "local user {:?} has uid {uid} in {passwd_path}, inside {users_text}",
                entry.name
            ));
        }
        if entry.gid == Some(config.admin_gid) {
            out.push(format!(
                "local user {:?} has primary gid {} in {passwd_path}, the {admin_text}",
                entry.name, config.admin_gid
            ));
        }
    }
    let group_path = config.group_file.display();
    for entry in local_files::entries(&files.group, Kind::Group) {
        if let Some(gid) = entry.id.filter(|&id| in_users(id)) {
            out.push(format!(
                "local group {:?} has gid {gid} in {group_path}, inside {users_text}",
                entry.name
            ));
        }
        if entry.id == Some(config.admin_gid) {
            out.push(format!(
                "local group {:?} has gid {} in {group_path}, the {admin_text}",
                entry.name, config.admin_gid
            ));
        }
        if entry.name == config.admin_group {
            out.push(format!(
                "local group {:?} in {group_path} has the name of admin_group: Roster serves that group itself; rename it or change `admin_group`",
                entry.name
            ));
        }
    }
    out
}
