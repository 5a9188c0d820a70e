//! Random sequences of create/grant/revoke/suspend/enable/delete, by root
//! and by users, against a small reference model written from DESIGN.md's
//! text (not from the implementation): after every step the error kind
//! and the whole state must agree, and uids must never come back.

use super::fixture::*;
use crate::roster::InitialCredential;
use crate::*;
use proptest::prelude::*;
use std::collections::{BTreeMap, BTreeSet};

const NAMES: [&str; 4] = ["ann", "bob", "cat", "dan"];
const ENVS: [&str; 2] = ["default", "prod"];

#[derive(Clone, Debug)]
enum Step {
    Create {
        name: usize,
        admin: bool,
    },
    Grant {
        by: Option<usize>,
        target: usize,
        env: usize,
        level: Level,
    },
    Revoke {
        by: Option<usize>,
        target: usize,
        env: usize,
        level: Option<Level>,
    },
    Suspend {
        by: Option<usize>,
        target: usize,
    },
    Enable {
        by: Option<usize>,
        target: usize,
    },
    Delete {
        by: Option<usize>,
        target: usize,
    },
}

fn level() -> impl Strategy<Value = Level> {
    prop::sample::select(Level::ALL.to_vec())
}

fn step() -> impl Strategy<Value = Step> {
    let who = prop::option::weighted(0.7, 0..NAMES.len());
    let name = 0..NAMES.len();
    let env = 0..ENVS.len();
    prop_oneof![
        (name.clone(), any::<bool>()).prop_map(|(name, admin)| Step::Create { name, admin }),
        (who.clone(), name.clone(), env.clone(), level()).prop_map(|(by, target, env, level)| {
            Step::Grant {
                by,
                target,
                env,
                level,
            }
        }),
        (who.clone(), name.clone(), env, prop::option::of(level())).prop_map(
            |(by, target, env, level)| Step::Revoke {
                by,
                target,
                env,
                level
            }
        ),
        (who.clone(), name.clone()).prop_map(|(by, target)| Step::Suspend { by, target }),
        (who.clone(), name.clone()).prop_map(|(by, target)| Step::Enable { by, target }),
        (who, name).prop_map(|(by, target)| Step::Delete { by, target }),
    ]
}

#[derive(Clone, Debug, PartialEq, Eq)]
struct M {
    admin: bool,
    active: bool,
    grants: BTreeMap<String, Level>,
}

/// What can go wrong, by kind.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Denied,
    Conflict,
    NotFound,
    Exists,
}

fn kind(e: &Error) -> Kind {
    match e {
        Error::PermissionDenied(_) => Kind::Denied,
        Error::Conflict(_) => Kind::Conflict,
        Error::NotFound(_) => Kind::NotFound,
        Error::AlreadyExists(_) => Kind::Exists,
        other => panic!("unexpected error {other:?}"),
    }
}

struct Model {
    users: BTreeMap<String, M>,
}

impl Model {
    /// "root: everything; role admin: everything; admin holders of E may
    /// grant and revoke in E"; a suspended user may do nothing.
    fn may(&self, by: Option<&str>, grant_env: Option<&str>) -> bool {
        let Some(by) = by else { return true };
        let Some(u) = self.users.get(by) else {
            return false;
        };
        u.active && (u.admin || grant_env.is_some_and(|e| u.grants.get(e) == Some(&Level::Admin)))
    }

    fn active_admins(&self) -> usize {
        self.users.values().filter(|u| u.admin && u.active).count()
    }

    /// "Nobody can suspend or delete themselves or change their own …
    /// grants, and the last active admin can't be deleted, suspended".
    fn safety(&self, by: Option<&str>, target: &str, last_admin_matters: bool) -> Result<(), Kind> {
        if by == Some(target) {
            return Err(Kind::Conflict);
        }
        let t = &self.users[target];
        if last_admin_matters && t.admin && t.active && self.active_admins() <= 1 {
            return Err(Kind::Conflict);
        }
        Ok(())
    }

    fn apply(&mut self, step: &Step) -> Result<(), Kind> {
        let name = |i: usize| NAMES[i].to_string();
        let by_name = |by: &Option<usize>| by.map(|i| NAMES[i]);
        match step {
            Step::Create { name: n, admin } => {
                if self.users.contains_key(NAMES[*n]) {
                    return Err(Kind::Exists);
                }
                self.users.insert(
                    name(*n),
                    M {
                        admin: *admin,
                        active: true,
                        grants: BTreeMap::new(),
                    },
                );
            }
            Step::Grant {
                by,
                target,
                env,
                level,
            } => {
                let (target, env) = (name(*target), ENVS[*env]);
                if !self.may(by_name(by), Some(env)) {
                    return Err(Kind::Denied);
                }
                if !self.users.contains_key(&target) {
                    return Err(Kind::NotFound);
                }
                self.safety(by_name(by), &target, false)?;
                // "granting a level at or below the one held changes
                // nothing; a higher one raises it"
                let held = self.users[&target].grants.get(env).copied();
                if held.is_none_or(|h| h < *level) {
                    self.users
                        .get_mut(&target)
                        .unwrap()
                        .grants
                        .insert(env.into(), *level);
                }
            }
            Step::Revoke {
                by,
                target,
                env,
                level,
            } => {
                let (target, env) = (name(*target), ENVS[*env]);
                if !self.may(by_name(by), Some(env)) {
                    return Err(Kind::Denied);
                }
                if !self.users.contains_key(&target) {
                    return Err(Kind::NotFound);
                }
                self.safety(by_name(by), &target, false)?;
                let grants = &mut self.users.get_mut(&target).unwrap().grants;
                match level {
                    // "revoke USER with no level removes everything … in that environment"
                    None => {
                        grants.remove(env);
                    }
                    // "removes LEVEL and everything above it"
                    Some(level) => {
                        if grants.get(env).is_some_and(|h| h >= level) {
                            let below = Level::ALL.iter().rev().find(|l| *l < level).copied();
                            match below {
                                Some(b) => {
                                    grants.insert(env.into(), b);
                                }
                                None => {
                                    grants.remove(env);
                                }
                            }
                        }
                    }
                }
            }
            Step::Suspend { by, target } | Step::Delete { by, target } => {
                let target = name(*target);
                if !self.may(by_name(by), None) {
                    return Err(Kind::Denied);
                }
                if !self.users.contains_key(&target) {
                    return Err(Kind::NotFound);
                }
                self.safety(by_name(by), &target, true)?;
                if matches!(step, Step::Delete { .. }) {
                    self.users.remove(&target);
                } else {
                    self.users.get_mut(&target).unwrap().active = false;
                }
            }
            Step::Enable { by, target } => {
                let target = name(*target);
                if !self.may(by_name(by), None) {
                    return Err(Kind::Denied);
                }
                let Some(u) = self.users.get_mut(&target) else {
                    return Err(Kind::NotFound);
                };
                u.active = true;
            }
        }
        Ok(())
    }
}

fn actor(f: &mut Fixture, by: &Option<usize>) -> Actor {
    match by {
        None => Actor::Root,
        Some(i) => match f.roster.user_by_name(NAMES[*i]).unwrap() {
            Some(_) => f.actor(NAMES[*i]),
            None => Actor::Stranger { uid: 4242 },
        },
    }
}

fn run(f: &mut Fixture, step: &Step) -> Result<(), Kind> {
    let r: Result<()> = match step {
        Step::Create { name, admin } => f
            .roster
            .create_user(
                &Actor::Root,
                NewUser {
                    name: NAMES[*name].into(),
                    role: Some(if *admin { Role::Admin } else { Role::User }),
                    ..Default::default()
                },
                InitialCredential::PasswordHash(phc()),
            )
            .map(drop),
        Step::Grant {
            by,
            target,
            env,
            level,
        } => {
            let a = actor(f, by);
            f.roster
                .grant(&a, NAMES[*target], Some(ENVS[*env]), *level)
                .map(drop)
        }
        Step::Revoke {
            by,
            target,
            env,
            level,
        } => {
            let a = actor(f, by);
            f.roster
                .revoke(&a, NAMES[*target], Some(ENVS[*env]), *level)
                .map(drop)
        }
        Step::Suspend { by, target } => {
            let a = actor(f, by);
            f.roster.suspend_user(&a, NAMES[*target]).map(drop)
        }
        Step::Enable { by, target } => {
            let a = actor(f, by);
            f.roster.enable_user(&a, NAMES[*target]).map(drop)
        }
        Step::Delete { by, target } => {
            let a = actor(f, by);
            f.roster.delete_user(&a, NAMES[*target]).map(drop)
        }
    };
    r.map_err(|e| kind(&e))
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 48, ..ProptestConfig::default() })]

    #[test]
    fn the_store_follows_the_design(steps in prop::collection::vec(step(), 1..40)) {
        let mut f = fixture();
        f.roster.add_environment(&Actor::Root, "prod").unwrap();
        let mut model = Model { users: BTreeMap::new() };
        let mut uids_seen = BTreeSet::new();
        for (i, step) in steps.iter().enumerate() {
            let expected = model.apply(step);
            let got = run(&mut f, step);
            prop_assert_eq!(got, expected, "step {} {:?}", i, step);
            let users = f.roster.list_users(&Actor::Root, true).unwrap();
            let actual: BTreeMap<String, M> = users
                .iter()
                .map(|u| {
                    (u.name.clone(), M {
                        admin: u.role == Role::Admin,
                        active: u.state == UserState::Active,
                        grants: u.grants.clone(),
                    })
                })
                .collect();
            prop_assert_eq!(&actual, &model.users, "state after step {} {:?}", i, step);
            if let (Step::Create { name, .. }, Ok(())) = (step, got) {
                let uid = users.iter().find(|u| u.name == NAMES[*name]).unwrap().uid;
                prop_assert!(uids_seen.insert(uid), "uid {} handed out twice", uid);
            }
        }
    }
}
