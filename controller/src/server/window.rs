//! The in-memory window of recent changes every long poll is answered
//! from: one feed reader fills it (one query per batch for the whole
//! replica, never one per host), hosts read it through their cursor.
//!
//! Sequence numbers are gap-free (the store's `change_head` bump makes
//! commit order equal sequence order, and a rolled-back bump rolls back),
//! so the window is a run of consecutive seqs `floor+1 ..= head`. A
//! cursor below `floor` has missed changes the window no longer holds:
//! that host needs the full snapshot (410).

use roster_core::fleet::{EnvironmentPolicy, project_user};
use roster_core::model::User;
use roster_core::store::KeyRow;
use roster_fleet_protocol::HostChange;
use std::collections::VecDeque;
use std::sync::Arc;

/// One change as the store holds it now, before any host's projection.
#[derive(Clone, Debug, PartialEq)]
pub enum FleetChange {
    /// A user's whole current state: entry, grants, hash, keys.
    User {
        user: User,
        hash: Option<String>,
        keys: Vec<KeyRow>,
    },
    UserDeleted {
        uid: u32,
    },
    /// An environment's settings; none when it was removed.
    Environment {
        name: String,
        policy: Option<EnvironmentPolicy>,
    },
    /// A host's row changed: revoked (or removed) hosts are told so.
    Host {
        id: i64,
        revoked: bool,
    },
    /// A change hosts don't receive (a retired uid arrives with its
    /// user's deletion), kept so the window stays gap-free.
    Unseen,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Entry {
    pub seq: i64,
    /// When the change committed (the store's clock), for the feed lag.
    pub at: i64,
    pub change: FleetChange,
}

/// What a host's cursor gets.
#[derive(Debug, PartialEq)]
pub enum Collected {
    /// The cursor is older than the window: fetch the snapshot.
    TooOld,
    /// Changes for this host after the cursor, and the new cursor (the
    /// window's head: entries this host doesn't receive are passed over).
    Changes {
        cursor: i64,
        changes: Vec<HostChange>,
    },
}

#[derive(Debug)]
pub struct Window {
    capacity: usize,
    /// Every seq at or below this has left the window (or predates it).
    floor: i64,
    entries: VecDeque<Arc<Entry>>,
}

/// Who is asking: a host's row, as the controller's directory has it.
#[derive(Clone, Copy, Debug)]
pub struct Reader<'a> {
    pub host_id: i64,
    pub environment: &'a str,
    pub policy: &'a EnvironmentPolicy,
}

impl Window {
    /// An empty window starting after `head` (the store's head when the
    /// feed started: older cursors get the snapshot).
    pub fn new(capacity: usize, head: i64) -> Window {
        Window {
            capacity: capacity.max(1),
            floor: head,
            entries: VecDeque::new(),
        }
    }

    pub fn head(&self) -> i64 {
        self.entries.back().map_or(self.floor, |entry| entry.seq)
    }

    pub fn floor(&self) -> i64 {
        self.floor
    }

    /// Append the feed's next entry. Entries come in seq order with no
    /// gap; one the window holds already is ignored (a re-read), and a gap
    /// (a missed batch) restarts the window after it, so a cursor from
    /// before the gap gets the snapshot rather than a silent hole.
    pub fn push(&mut self, entry: Entry) {
        let head = self.head();
        if entry.seq <= head {
            return;
        }
        if entry.seq != head + 1 {
            self.entries.clear();
            self.floor = entry.seq - 1;
        }
        self.entries.push_back(Arc::new(entry));
        while self.entries.len() > self.capacity {
            if let Some(oldest) = self.entries.pop_front() {
                self.floor = oldest.seq;
            }
        }
    }

    /// The entries after `cursor`, as `reader`'s host receives them.
    /// A cursor at or past the head collects nothing (and keeps its place:
    /// a host may have been served by a replica whose feed is ahead).
    pub fn collect(&self, cursor: i64, reader: Reader<'_>) -> Collected {
        if cursor < self.floor {
            return Collected::TooOld;
        }
        let head = self.head();
        if cursor >= head {
            return Collected::Changes {
                cursor,
                changes: Vec::new(),
            };
        }
        // Consecutive seqs: the entry after `cursor` sits at this index.
        let skip = usize::try_from(cursor - self.floor).unwrap_or(usize::MAX);
        // The host's environment's settings changed: which users' hashes
        // and keys it may hold changes with them (a raised login level
        // takes some away, a lowered one brings some), so it takes the
        // whole environment again rather than a settings change alone.
        let resettled = self.entries.iter().skip(skip).any(|entry| {
            matches!(&entry.change, FleetChange::Environment { name, .. } if name == reader.environment)
        });
        if resettled {
            return Collected::TooOld;
        }
        let changes = self
            .entries
            .iter()
            .skip(skip)
            .filter_map(|entry| project(&entry.change, reader))
            .collect();
        Collected::Changes {
            cursor: head,
            changes,
        }
    }

    /// The newest entry's commit time, for the feed lag.
    pub fn newest_at(&self) -> Option<i64> {
        self.entries.back().map(|entry| entry.at)
    }
}

/// One change as one host receives it, or nothing.
fn project(change: &FleetChange, reader: Reader<'_>) -> Option<HostChange> {
    match change {
        FleetChange::User { user, hash, keys } => Some(HostChange::User(project_user(
            user,
            reader.environment,
            reader.policy,
            hash.as_deref(),
            keys,
        ))),
        FleetChange::UserDeleted { uid } => Some(HostChange::UserDeleted { uid: *uid }),
        FleetChange::Environment { name, policy } => match policy {
            Some(policy) if name == reader.environment => {
                Some(HostChange::Environment(policy.view(name)))
            }
            _ => None,
        },
        FleetChange::Host { id, revoked } if *id == reader.host_id && *revoked => {
            Some(HostChange::Revoked)
        }
        FleetChange::Host { .. } | FleetChange::Unseen => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use roster_core::level::Level;
    use roster_core::model::{Role, UserState};
    use std::collections::BTreeMap;

    fn user(uid: u32, grants: &[(&str, Level)]) -> FleetChange {
        FleetChange::User {
            user: User {
                name: format!("u{uid}"),
                display_name: String::new(),
                role: Role::User,
                state: UserState::Active,
                uid,
                home: format!("/home/u{uid}"),
                shell: "/bin/sh".into(),
                created: 0,
                last_login: None,
                password_changed: Some(1),
                locked_until: None,
                grants: grants
                    .iter()
                    .map(|(e, l)| (e.to_string(), *l))
                    .collect::<BTreeMap<_, _>>(),
            },
            hash: Some("$argon2id$h".into()),
            keys: Vec::new(),
        }
    }

    fn entry(seq: i64, change: FleetChange) -> Entry {
        Entry { seq, at: 0, change }
    }

    fn reader<'a>(policy: &'a EnvironmentPolicy) -> Reader<'a> {
        Reader {
            host_id: 7,
            environment: "prod",
            policy,
        }
    }

    #[test]
    fn a_cursor_gets_what_came_after_it_and_the_head() {
        let policy = EnvironmentPolicy::default();
        let mut window = Window::new(10, 100);
        window.push(entry(101, user(1, &[("prod", Level::Write)])));
        window.push(entry(102, user(2, &[])));
        window.push(entry(103, FleetChange::UserDeleted { uid: 1 }));
        let Collected::Changes { cursor, changes } = window.collect(101, reader(&policy)) else {
            panic!("in the window")
        };
        assert_eq!(cursor, 103);
        assert_eq!(changes.len(), 2);
        assert!(
            matches!(&changes[0], HostChange::User(u) if u.uid == 2 && u.password.hash.is_none())
        );
        assert_eq!(changes[1], HostChange::UserDeleted { uid: 1 });
        let Collected::Changes { changes, .. } = window.collect(100, reader(&policy)) else {
            panic!()
        };
        assert!(matches!(&changes[0], HostChange::User(u) if u.password.hash.is_some()));
    }

    #[test]
    fn older_than_the_window_is_too_old_and_ahead_keeps_its_place() {
        let policy = EnvironmentPolicy::default();
        let mut window = Window::new(2, 0);
        for seq in 1..=5 {
            window.push(entry(seq, FleetChange::Unseen));
        }
        assert_eq!(window.floor(), 3);
        assert_eq!(window.collect(2, reader(&policy)), Collected::TooOld);
        assert!(matches!(
            window.collect(3, reader(&policy)),
            Collected::Changes { cursor: 5, .. }
        ));
        assert_eq!(
            window.collect(9, reader(&policy)),
            Collected::Changes {
                cursor: 9,
                changes: Vec::new()
            }
        );
    }

    #[test]
    fn a_re_read_is_ignored_and_a_gap_restarts_the_window() {
        let policy = EnvironmentPolicy::default();
        let mut window = Window::new(10, 0);
        window.push(entry(1, FleetChange::Unseen));
        window.push(entry(1, FleetChange::UserDeleted { uid: 3 }));
        assert_eq!(window.head(), 1);
        window.push(entry(4, FleetChange::Unseen));
        assert_eq!(window.floor(), 3);
        assert_eq!(window.collect(1, reader(&policy)), Collected::TooOld);
    }

    #[test]
    fn other_environments_and_other_hosts_changes_pass_over() {
        let policy = EnvironmentPolicy::default();
        let settings = |name: &str| FleetChange::Environment {
            name: name.into(),
            policy: Some(EnvironmentPolicy::default()),
        };
        let mut window = Window::new(10, 0);
        window.push(entry(1, settings("dev")));
        window.push(entry(
            2,
            FleetChange::Host {
                id: 8,
                revoked: true,
            },
        ));
        window.push(entry(
            3,
            FleetChange::Host {
                id: 9,
                revoked: false,
            },
        ));
        window.push(entry(4, FleetChange::Unseen));
        let Collected::Changes { cursor, changes } = window.collect(0, reader(&policy)) else {
            panic!("in the window")
        };
        assert_eq!(cursor, 4);
        assert!(changes.is_empty(), "{changes:?}");
        // Its own host's revocation goes.
        window.push(entry(
            5,
            FleetChange::Host {
                id: 7,
                revoked: true,
            },
        ));
        let Collected::Changes { changes, .. } = window.collect(4, reader(&policy)) else {
            panic!("in the window")
        };
        assert_eq!(changes, vec![HostChange::Revoked]);
        // Its own environment's settings: the whole environment again.
        window.push(entry(6, settings("prod")));
        assert_eq!(window.collect(4, reader(&policy)), Collected::TooOld);
        assert!(matches!(
            window.collect(6, reader(&policy)),
            Collected::Changes { .. }
        ));
    }
}
