//! What a joining host tells its controller about the ids it uses itself
//! (DESIGN.md "Enrollment"): its login.defs and subordinate ranges, the
//! Roster range it had, and the local names and ids inside that range,
//! so the fleet never hands out a uid that collides here. Capped at
//! [`MAX_REPORTED_IDS`] entries: a host with more is refused by name
//! rather than reported in part.

use roster_core::Config;
use roster_core::id_ranges::HostFiles;
use roster_core::local_files::{Kind, entries, login_defs, sub_ranges};
use roster_fleet_protocol::{IdKind, IdRange, LocalIds, MAX_REPORTED_IDS, RangeKind, UsedId};

fn range(kind: RangeKind, first: u64, last: u64) -> Option<IdRange> {
    let first32 = u32::try_from(first).ok()?;
    let count = u32::try_from(last.checked_sub(first)?.saturating_add(1)).unwrap_or(u32::MAX);
    Some(IdRange {
        kind,
        first: first32,
        count,
    })
}

/// The host's ids as `files` (read at the config's paths) show them.
pub fn local_ids(config: &Config, files: &HostFiles) -> Result<LocalIds, String> {
    let defs = login_defs(&files.login_defs);
    let mut ranges: Vec<IdRange> = [
        range(RangeKind::LoginDefsUid, defs.uid_min, defs.uid_max),
        range(RangeKind::LoginDefsGid, defs.gid_min, defs.gid_max),
        range(
            RangeKind::Uid,
            u64::from(config.uid_min),
            u64::from(config.uid_max),
        ),
        range(
            RangeKind::Gid,
            u64::from(config.uid_min),
            u64::from(config.uid_max),
        ),
    ]
    .into_iter()
    .flatten()
    .collect();
    for (kind, text) in [
        (RangeKind::Subuid, &files.subuid),
        (RangeKind::Subgid, &files.subgid),
    ] {
        ranges.extend(
            sub_ranges(text)
                .into_iter()
                .filter_map(|(_, first, last)| range(kind, first, last)),
        );
    }
    let inside = |id: u32| (config.uid_min..=config.uid_max).contains(&id);
    let mut used = Vec::new();
    for (kind, text, file) in [
        (IdKind::User, &files.passwd, Kind::Passwd),
        (IdKind::Group, &files.group, Kind::Group),
    ] {
        used.extend(entries(text, file).into_iter().filter_map(|entry| {
            entry.id.filter(|id| inside(*id)).map(|id| UsedId {
                kind,
                name: entry.name.clone(),
                id,
            })
        }));
    }
    let ids = LocalIds { ranges, used };
    if ids.entries() > MAX_REPORTED_IDS {
        return Err(format!(
            "this host has {} id ranges and local accounts inside Roster's range {}–{}, more than the \
             {MAX_REPORTED_IDS} a join reports: move local accounts out of that range first",
            ids.entries(),
            config.uid_min,
            config.uid_max
        ));
    }
    Ok(ids)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_and_the_local_accounts_inside_rosters_range_are_reported() {
        let config = Config {
            uid_min: 70_000,
            uid_max: 80_000,
            ..Config::default()
        };
        let files = HostFiles {
            login_defs: "UID_MIN 1000\nUID_MAX 60000\n".into(),
            subuid: "alice:100000:65536\n".into(),
            subgid: String::new(),
            passwd: "root:x:0:0::/root:/bin/bash\nsvc:x:70005:70005::/:/bin/false\n".into(),
            group: "svc:x:70005:\nwheel:x:10:\n".into(),
        };
        let ids = local_ids(&config, &files).unwrap();
        assert!(ids.ranges.contains(&IdRange {
            kind: RangeKind::Subuid,
            first: 100_000,
            count: 65_536
        }));
        assert!(ids.ranges.contains(&IdRange {
            kind: RangeKind::LoginDefsUid,
            first: 1000,
            count: 59_001
        }));
        assert_eq!(
            ids.used,
            vec![
                UsedId {
                    kind: IdKind::User,
                    name: "svc".into(),
                    id: 70_005
                },
                UsedId {
                    kind: IdKind::Group,
                    name: "svc".into(),
                    id: 70_005
                },
            ]
        );
    }
}
