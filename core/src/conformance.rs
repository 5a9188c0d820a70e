//! Core's rule tests as a suite every store backend runs.
//!
//! The rule tests (core/src/tests/roster_*.rs, lockout_paths.rs,
//! commit_mark.rs, smoke.rs) are written against [`crate::store::Backend`]
//! and [`crate::store::Transaction`] only: [`fixture`] builds each test's
//! [`crate::Roster`] with [`crate::Roster::with_backend`] on the backend
//! the running suite names. Each file wraps its tests in `rule_tests!`,
//! which makes every test a public function (listed in the file's `TESTS`)
//! and, in core's own `cargo test`, a `#[test]` that runs the body once
//! per entry of [`BACKENDS`] (today SQLite alone). The bodies stay at the
//! left margin inside the macro, as they were before it, so moving them
//! in is a two-line change per file. Only `#[test] fn name() { … }` items
//! go inside (anything else fails to compile there): helpers and
//! constants stay above it. A test that needs SQLite itself belongs in
//! core/src/tests/sqlite_rules.rs instead.
//!
//! ## How a second backend joins
//!
//! Core can't see a backend crate (that crate depends on core), so the
//! backend brings the suite to itself: it depends on `roster-core` with
//! the `conformance` feature (a dev-dependency is enough) and runs
//!
//! ```ignore
//! #[test]
//! fn cores_rules_hold_on_postgresql() {
//!     roster_core::conformance::run_all("postgresql", |config| {
//!         // A fresh, migrated, empty store for each test; `config`'s
//!         // paths point into that test's own temporary folder.
//!         Ok(Box::new(PgStore::connect_fresh(config)?))
//!     });
//! }
//! ```
//!
//! [`run_all`] runs every rule test's body on that backend and fails
//! naming each test that failed. SQLite-only tests (holding SQLite's
//! write lock, counting rows with SQL, its file modes and pragmas) stay
//! in core/src/tests (store.rs, sqlite_rules.rs) and are not part of it.

use crate::Result;
use crate::config::Config;
use crate::store::{Backend, SqliteStore};
use std::cell::Cell;

/// Opens a fresh, empty store for one test, given that test's config.
pub type BackendFactory = fn(&Config) -> Result<Box<dyn Backend>>;

/// The SQLite backend at `config.database`.
pub fn sqlite(config: &Config) -> Result<Box<dyn Backend>> {
    Ok(Box::new(SqliteStore::open(&config.database)?))
}

/// The backends core's own `cargo test` runs every rule test against.
pub const BACKENDS: &[(&str, BackendFactory)] = &[("sqlite", sqlite)];

thread_local! {
    /// The backend of the test running on this thread (None: SQLite).
    static CURRENT: Cell<Option<BackendFactory>> = const { Cell::new(None) };
}

/// A fresh store for a test, from the backend the running suite names.
pub fn backend_for(config: &Config) -> Result<Box<dyn Backend>> {
    let factory = CURRENT.with(Cell::get).unwrap_or(sqlite as BackendFactory);
    factory(config)
}

/// Restores the thread's backend, and names it when the test failed.
struct Running {
    name: &'static str,
    before: Option<BackendFactory>,
}

impl Drop for Running {
    fn drop(&mut self) {
        if std::thread::panicking() {
            eprintln!("(the failing rule test ran on the {} backend)", self.name);
        }
        CURRENT.with(|c| c.set(self.before));
    }
}

/// Runs `body` with `factory` as the backend of every fixture it builds.
pub fn on_backend(name: &'static str, factory: BackendFactory, body: fn()) {
    let _running = Running {
        name,
        before: CURRENT.with(|c| c.replace(Some(factory))),
    };
    body();
}

/// Runs `body` once on each of [`BACKENDS`].
pub fn on_every_backend(body: fn()) {
    for (name, factory) in BACKENDS {
        on_backend(name, *factory, body);
    }
}

/// One file's rule tests: (name, body).
pub type Tests = &'static [(&'static str, fn())];

/// Every rule test, by file.
pub const SUITES: &[(&str, Tests)] = &[
    ("commit_mark", commit_mark::TESTS),
    ("flows", flows::TESTS),
    ("lockout_paths", lockout_paths::TESTS),
    ("roster_credentials", roster_credentials::TESTS),
    ("roster_grants", roster_grants::TESTS),
    ("roster_keys", roster_keys::TESTS),
    ("roster_pam", roster_pam::TESTS),
    ("roster_secrets", roster_secrets::TESTS),
    ("roster_users", roster_users::TESTS),
    ("smoke", smoke::TESTS),
];

/// Runs every rule test on the backend `factory` opens; panics naming
/// each test that failed (each failure's own message is printed as it
/// happens). For a backend crate's test, see the module's doc.
pub fn run_all(name: &'static str, factory: BackendFactory) {
    let mut failed = Vec::new();
    let mut ran = 0;
    for (file, tests) in SUITES {
        for (test, body) in *tests {
            ran += 1;
            let outcome = std::panic::catch_unwind(|| on_backend(name, factory, *body));
            if outcome.is_err() {
                failed.push(format!("{file}::{test}"));
            }
        }
    }
    assert!(
        failed.is_empty(),
        "{} of {ran} rule tests failed on the {name} backend: {}",
        failed.len(),
        failed.join(", ")
    );
}

/// Wraps a file's `#[test] fn name() { … }` items: each becomes a public
/// function listed in the file's `TESTS`, and under `cargo test` a test
/// (keeping its attributes: `#[ignore]`, docs) run on every backend.
macro_rules! rule_tests {
    ($( $(#[$meta:meta])* fn $name:ident() $body:block )*) => {
        $( pub fn $name() $body )*

        /// This file's rule tests, by name (see `crate::conformance`).
        pub const TESTS: crate::conformance::Tests = &[$((stringify!($name), $name as fn())),*];

        #[cfg(test)]
        mod on_every_backend {
            $(
                $(#[$meta])*
                fn $name() {
                    crate::conformance::on_every_backend(super::$name);
                }
            )*
        }
    };
}

#[path = "tests/commit_mark.rs"]
pub mod commit_mark;
#[path = "tests/fixture.rs"]
pub mod fixture;
#[path = "tests/flow_steps.rs"]
pub mod flow_steps;
#[path = "tests/flows.rs"]
pub mod flows;
#[path = "tests/lockout_paths.rs"]
pub mod lockout_paths;
#[path = "tests/roster_credentials.rs"]
pub mod roster_credentials;
#[path = "tests/roster_grants.rs"]
pub mod roster_grants;
#[path = "tests/roster_keys.rs"]
pub mod roster_keys;
#[path = "tests/roster_pam.rs"]
pub mod roster_pam;
#[path = "tests/roster_secrets.rs"]
pub mod roster_secrets;
#[path = "tests/roster_users.rs"]
pub mod roster_users;
#[path = "tests/smoke.rs"]
pub mod smoke;

#[cfg(test)]
mod tests {
    /// The public entry point a backend crate calls, on SQLite.
    #[test]
    fn run_all_runs_every_rule_test_on_sqlite() {
        super::run_all("sqlite", super::sqlite);
        for (file, tests) in super::SUITES {
            assert!(!tests.is_empty(), "{file} lists no rule test");
        }
    }
}
