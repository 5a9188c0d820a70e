//! A Roster on temp files: config paths, local account files, a clock the
//! test moves, and cheap argon2 parameters; its store comes from the
//! backend the running suite names ([`crate::conformance::backend_for`]).

#![allow(dead_code)]

use crate::authz::{ActingUser, Actor};
use crate::clock::FixedClock;
use crate::config::Config;
use crate::password::Hasher;
use crate::roster::{InitialCredential, Roster};
use crate::secret::Secret;
use crate::{Level, NewUser, Role, User};
use std::sync::{Arc, OnceLock};

pub const T0: i64 = 1_800_000_000;

pub const PASSWD: &str = "root:x:0:0:root:/root:/bin/bash\n\
daemon:x:1:1:daemon:/usr/sbin:/usr/sbin/nologin\n\
alice_local:x:1000:1000::/home/alice_local:/bin/bash\n";
pub const GROUP: &str = "root:x:0:\nsudo:x:27:alice_local\nstaff:x:50:\nalice_local:x:1000:\n";

pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub clock: Arc<FixedClock>,
    pub roster: Roster,
}

/// A config whose paths all point into `dir`, with small argon2 params.
pub fn config_in(dir: &std::path::Path) -> Config {
    let mut config = Config {
        database: dir.join("db/roster.db"),
        nss_cache: dir.join("nss.cache"),
        passwd_file: dir.join("passwd"),
        group_file: dir.join("group"),
        login_defs: dir.join("login.defs"),
        subuid_file: dir.join("subuid"),
        subgid_file: dir.join("subgid"),
        ..Config::default()
    };
    config.argon2.memory_kib = 256;
    config.argon2.iterations = 1;
    let _ = std::fs::write(&config.passwd_file, PASSWD);
    let _ = std::fs::write(&config.group_file, GROUP);
    config
}

pub fn fixture() -> Fixture {
    fixture_with(|_| {})
}

pub fn fixture_with(edit: impl FnOnce(&mut Config)) -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let mut config = config_in(dir.path());
    edit(&mut config);
    let clock = Arc::new(FixedClock::at(T0));
    let store = crate::conformance::backend_for(&config).unwrap();
    let roster = Roster::with_backend(config, clock.clone(), store).unwrap();
    Fixture { dir, clock, roster }
}

/// One cheap hash, shared: hashing is the slow part of these tests.
pub fn phc() -> String {
    static PHC: OnceLock<String> = OnceLock::new();
    PHC.get_or_init(|| {
        let config = crate::config::Argon2Config {
            memory_kib: 256,
            iterations: 1,
            ..Default::default()
        };
        Hasher::new(&config)
            .unwrap()
            .hash(&Secret::new("correct horse"))
            .unwrap()
    })
    .clone()
}

/// An own password change by a fixture user, whose stored hash is
/// [`phc`]: the current password verified against it.
pub(crate) fn own_change() -> crate::roster::PasswordChange {
    crate::roster::PasswordChange::Own {
        verified_against: Some(phc()),
    }
}

impl Fixture {
    pub fn create(&mut self, name: &str) -> User {
        self.roster
            .create_user(
                &Actor::Root,
                NewUser {
                    name: name.into(),
                    ..NewUser::default()
                },
                InitialCredential::PasswordHash(phc()),
            )
            .unwrap()
            .0
    }

    pub fn create_admin(&mut self, name: &str) -> User {
        self.roster
            .create_user(
                &Actor::Root,
                NewUser {
                    name: name.into(),
                    role: Some(Role::Admin),
                    ..NewUser::default()
                },
                InitialCredential::PasswordHash(phc()),
            )
            .unwrap()
            .0
    }

    /// The actor for an existing user, as `Roster::actor` resolves it.
    pub fn actor(&mut self, name: &str) -> Actor {
        let user = self.roster.user_by_name(name).unwrap().unwrap();
        Actor::User(ActingUser {
            name: user.name,
            uid: user.uid,
            role: user.role,
            state: user.state,
            grants: user.grants,
        })
    }

    pub fn grant(&mut self, name: &str, env: &str, level: Level) {
        self.roster
            .grant(&Actor::Root, name, Some(env), level)
            .unwrap();
    }
}
