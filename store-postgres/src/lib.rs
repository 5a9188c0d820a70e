//! Roster's store on PostgreSQL: core's [`Backend`] and
//! [`Transaction`](roster_core::store::Transaction) for the fleet's
//! controller (DESIGN.md "Fleet mode"). Only the
//! controller links this crate: rosterd, the CLI and the modules keep
//! SQLite and never see a PostgreSQL client.
//!
//! Every method has the SQLite backend's semantics (core/src/store/sqlite):
//! the same rows, the same order, the same error variant for the same
//! condition (every database failure is [`Error::Store`], as SQLite's
//! are), and the [`CommitMark`] set by the same methods, only after a
//! successful COMMIT. One condition SQLite never meets: removing an
//! environment that still has enrolled hosts, which `delete_environment`
//! refuses as [`Error::Conflict`] naming them, before anything changes.
//!
//! ## How writes serialize
//!
//! SQLite's writers take the write lock up front (`BEGIN IMMEDIATE`), so
//! a read-then-write can't fail halfway. Here a write transaction runs at
//! READ COMMITTED and takes one transaction-scoped advisory lock
//! ([`WRITE_LOCK`]) as its first statement: writers queue on it (across
//! connections and across controller replicas sharing the database) and
//! every statement after it sees every commit made before, so the rules'
//! read-then-write sees the latest state and never needs a retry.
//! SERIALIZABLE would instead abort one of two overlapping writers with a
//! serialization failure, which core's callers don't retry. Reads run at
//! REPEATABLE READ, READ ONLY: one consistent snapshot, like SQLite's read
//! transaction, taking no lock.
//!
//! ## Migrations
//!
//! A one-row `schema_version` table holds the version; each step of the
//! migration list (src/schema.rs) runs in its own transaction with its
//! version bump, under the write lock (two replicas starting at once
//! migrate once). A database newer than this build is refused.
//!
//! ## TLS to the store (src/conninfo.rs, src/tls.rs)
//!
//! Over the network the store is reached with libpq's
//! `sslmode=verify-full sslrootcert=FILE`: rustls on ring, every host of
//! a multi-host string checked against the CAs in FILE and the name it
//! was reached by. The `postgres` crate knows neither key, so they are
//! taken out of the string ([`StoreConninfo::parse`]) before it reads the
//! rest. The weaker modes (require, verify-ca, prefer, allow) are refused;
//! no sslmode stays plain, for a unix socket. A certificate or a name
//! refused is [`Error::Store`] naming the host, the CA file and the fix,
//! and not a failover ([`failing_over`] answers false): no retry cures it.
//!
//! ## The fleet: the change log and the rest (src/fleet.rs)
//!
//! Migration 2 adds the fleet's tables (DESIGN.md "Fleet mode"): the
//! store's epoch, hosts with what they reported at enrollment, join
//! tokens, request ids with their first answers, the audit, the hosts'
//! reports, and the change log. Triggers fill the change log, so no code
//! path (this crate's, a hand-typed statement's) can change what hosts
//! are told without its row, written in the same transaction (what is
//! logged, and what is not — logins, lockouts, sessions, tokens, codes,
//! a host's requests and renewals — is listed in src/schema.rs): each
//! logged row first bumps the one `change_head` row, whose row lock is
//! held to the commit, so sequence order is commit order and a reader
//! after a cursor never skips a row that commits later; a rolled-back
//! transaction takes its bumps back with it (no gap). Writers still take
//! [`WRITE_LOCK`] first (the rules' read-then-write needs it, and a
//! transaction that logs nothing takes no head lock); the head bump then
//! never waits on another writer. Each logged row rings the doorbell
//! (`NOTIFY roster_changes`, delivered at commit only): a controller
//! LISTENs ([`PgStore::listen_changes`], [`PgStore::wait_doorbell`]) and
//! re-reads the log anyway every second, since notifications are lost
//! across a reconnect or a failover. A transaction tags its rows with
//! the request id and time it sets ([`PgTx::set_request_id`],
//! [`PgTx::set_change_time`]). [`PgStore::fleet_read`] and
//! [`PgStore::fleet_write`] hand out [`PgTx`] itself, with the fleet's
//! methods beside core's [`Transaction`](roster_core::store::Transaction)
//! ones, so a batch of change rows and the users' state are read in one
//! snapshot.

mod call_tag;
pub mod conninfo;
pub mod fleet;
pub mod schema;
mod secrets;
#[cfg(feature = "test-server")]
pub mod test_server;
#[cfg(feature = "test-server")]
pub mod test_tier;
pub mod tls;
mod tx;

pub use call_tag::{CallTag, CallTags, claimed_before};
pub use conninfo::{ConninfoError, StoreConninfo};
pub use fleet::{
    AuditRow, ChangeKind, ChangeRow, HostRange, HostRow, IdKind, JoinTokenRow, NewHost,
    PurgeCounts, RangeKind, ReportRow, ReportedId, RequestClaim, RequestRow,
};
pub use tx::PgTx;

use postgres::{Client, IsolationLevel, NoTls};
use roster_core::clock::{Clock, SystemClock};
use roster_core::error::Error;
use roster_core::store::{Backend, CommitMark, TxFn};
use std::cell::{Cell, RefCell};

/// The schema version this build migrates to (the length of the
/// migration list in src/schema.rs).
pub const SCHEMA_VERSION: u32 = schema::MIGRATIONS.len() as u32;

/// The advisory lock every write transaction (and every migration step)
/// holds until it ends: a fixed key, b"roster\0\x01" as an integer, so
/// another application's advisory locks in the same database don't
/// collide with it by accident.
pub const WRITE_LOCK: i64 = 0x726f_7374_6572_0001;

/// A database failure, as core reports SQLite's: [`Error::Store`] with
/// PostgreSQL's message (the server's own for a constraint, e.g.
/// `duplicate key value violates unique constraint "users_name_key"`).
/// A failure that comes from the store failing over (see
/// [`failing_over`]) starts with [`FAILING_OVER`].
pub(crate) fn db(error: postgres::Error) -> Error {
    if failover_class(&error) {
        Error::Store(format!("{FAILING_OVER} ({})", message(&error)))
    } else {
        Error::Store(message(&error))
    }
}

/// How a store failure caused by a failover starts: the connection lost,
/// the server shutting down or starting up, a standby refusing a write.
pub const FAILING_OVER: &str = "the store is failing over";

/// How a failure to connect starts (during a failover: no node takes
/// writes yet).
const CANT_CONNECT: &str = "can't connect to PostgreSQL";

/// Whether `error` is the store failing over (or otherwise out of reach
/// for a moment) rather than a failure that trying again can't cure: the
/// connection was lost or refused, the server is shutting down or
/// starting up, or the node reached is a read-only standby. The
/// controller retries a write that failed so with its request id (which
/// makes a retry after a commit whose answer was lost safe).
pub fn failing_over(error: &Error) -> bool {
    matches!(error, Error::Store(message) if message.starts_with(FAILING_OVER) || message.starts_with(CANT_CONNECT))
}

/// A client-side failure of the connection itself (lost, refused, timed
/// out), or one of the server's SQLSTATEs for the same: class 08
/// (connection exception), 57P01–57P03 (shut down by an administrator,
/// crashed, can't connect now: starting up, shutting down, in recovery),
/// 25006 (a write on a read-only standby: the old leader came back as a
/// replica).
fn failover_class(error: &postgres::Error) -> bool {
    if error.is_closed() {
        return true;
    }
    match error.code() {
        Some(code) => {
            let code = code.code();
            code.starts_with("08") || matches!(code, "57P01" | "57P02" | "57P03" | "25006")
        }
        None => {
            error.as_db_error().is_none()
                && std::error::Error::source(error)
                    .is_some_and(|source| source.is::<std::io::Error>())
        }
    }
}

/// The server's words, with its detail (which row, which key), or the
/// client's (connection lost, a type that doesn't fit).
pub(crate) fn message(error: &postgres::Error) -> String {
    match error.as_db_error() {
        Some(server) => match server.detail() {
            Some(detail) => format!("{} ({detail})", server.message()),
            None => server.message().to_string(),
        },
        None => error.to_string(),
    }
}

/// A connection string as [`PgStore::open`] takes it, or why not.
fn parse(conninfo: &str) -> roster_core::Result<StoreConninfo> {
    StoreConninfo::parse(conninfo).map_err(|e| Error::Config(e.to_string()))
}

/// A failure to reach the store (the controller retries it as a failover).
fn cant_connect(config: &postgres::Config, error: &postgres::Error) -> Error {
    Error::Store(format!(
        "{CANT_CONNECT} (hosts {:?}, database {:?}): {}",
        config.get_hosts(),
        config.get_dbname().unwrap_or("(the user's)"),
        with_causes(error)
    ))
}

/// An error with its causes: the `postgres` crate's own words are its
/// kind only ("error connecting to server", "db error"), the reason
/// (refused, the server's FATAL, a timeout) is in its source. None of
/// them holds the password.
fn with_causes(error: &postgres::Error) -> String {
    let mut text = error.to_string();
    let mut cause = std::error::Error::source(error);
    while let Some(inner) = cause {
        text.push_str(": ");
        text.push_str(&inner.to_string());
        cause = inner.source();
    }
    text
}

/// The `postgres` crate's answer when a server says it takes no TLS (it
/// has no error kind of its own for it), as a sentence with the fix.
fn tls_refusal(error: &postgres::Error) -> Option<String> {
    let source = std::error::Error::source(error)?;
    (source.to_string() == "server does not support TLS").then(|| {
        "the server takes no TLS connections (ssl = off): sslmode=verify-full never falls back to plain text; turn ssl on with a certificate for its host name (packaging/ha/patroni.yml)".to_string()
    })
}

/// The store on one PostgreSQL connection.
pub struct PgStore {
    /// In a RefCell so [`Backend::schema_version`]'s `&self` can ask too;
    /// a transaction borrows it through `&mut self` (`get_mut`).
    client: RefCell<Client>,
    conninfo: StoreConninfo,
    mark: CommitMark,
    /// The call the next write carries out (see [`CallTag`]).
    tags: CallTags,
    /// A handle from [`Backend::open_reader`]: its transactions are
    /// READ ONLY, so a write through it fails as SQLite's read-only
    /// connection does.
    reader: bool,
}

impl std::fmt::Debug for PgStore {
    // Never the password: hosts, port and database name only.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("hosts", &self.conninfo.config.get_hosts())
            .field("dbname", &self.conninfo.config.get_dbname())
            .field("verify_full", &self.conninfo.tls.is_some())
            .field("reader", &self.reader)
            .finish()
    }
}

impl PgStore {
    /// Connect with a libpq-style connection string (`host=/run/postgresql
    /// dbname=roster user=roster`; `sslmode=verify-full sslrootcert=FILE`
    /// for TLS, see [`StoreConninfo`]) and bring the schema to this build's.
    pub fn open(conninfo: &str) -> roster_core::Result<PgStore> {
        PgStore::open_with(&parse(conninfo)?)
    }

    /// Connect with a parsed config (plain) and bring the schema to this build's.
    pub fn connect(config: &postgres::Config) -> roster_core::Result<PgStore> {
        PgStore::open_with(&StoreConninfo::from(config.clone()))
    }

    /// Connect with a parsed connection string and bring the schema to
    /// this build's.
    pub fn open_with(conninfo: &StoreConninfo) -> roster_core::Result<PgStore> {
        let mut client = Self::client(conninfo)?;
        schema::migrate(&mut client)?;
        Ok(PgStore {
            client: RefCell::new(client),
            conninfo: conninfo.clone(),
            mark: CommitMark::default(),
            tags: CallTags::default(),
            reader: false,
        })
    }

    /// A further connection to a store already migrated (by
    /// [`PgStore::open`] at start): one query checks the schema is this
    /// build's, with no lock and no DDL, so a connection per call stays
    /// cheap.
    pub fn attach(conninfo: &str) -> roster_core::Result<PgStore> {
        PgStore::attach_with(&parse(conninfo)?)
    }

    /// [`PgStore::attach`] with a connection string parsed once (its CA
    /// file read once), as the controller's pool keeps it.
    pub fn attach_with(conninfo: &StoreConninfo) -> roster_core::Result<PgStore> {
        let mut client = Self::client(conninfo)?;
        let version = schema::version(&mut client)?;
        let known = schema::MIGRATIONS.len();
        if usize::try_from(version).ok() != Some(known) {
            return Err(Error::Store(format!(
                "the PostgreSQL database has schema version {version}, this build {known}: restart the controller so it migrates, or run the build that matches"
            )));
        }
        Ok(PgStore {
            client: RefCell::new(client),
            conninfo: conninfo.clone(),
            mark: CommitMark::default(),
            tags: CallTags::default(),
            reader: false,
        })
    }

    fn client(conninfo: &StoreConninfo) -> roster_core::Result<Client> {
        let config = &conninfo.config;
        let Some(tls) = &conninfo.tls else {
            return config.connect(NoTls).map_err(|e| cant_connect(config, &e));
        };
        let connector = tls.for_one_connect();
        match config.connect(connector.clone()) {
            Ok(client) => Ok(client),
            Err(e) => {
                let mut why = connector.failures();
                let refused = tls_refusal(&e);
                // A certificate, a name, a server without TLS: the store's
                // or the config's to fix, not a failover to wait out. (When
                // the last host failed otherwise, say a timeout after an
                // earlier host's refused certificate, the caller retries,
                // with every host's TLS failure in the message.)
                let verification = refused.is_some()
                    || std::error::Error::source(&e)
                        .and_then(|source| source.downcast_ref::<tls::StoreTlsError>())
                        .is_some_and(tls::StoreTlsError::is_verification);
                why.extend(refused);
                if why.is_empty() {
                    return Err(cant_connect(config, &e));
                }
                let message = format!(
                    "TLS to PostgreSQL (sslmode=verify-full, hosts {:?}, database {:?}): {}",
                    config.get_hosts(),
                    config.get_dbname().unwrap_or("(the user's)"),
                    why.join("; ")
                );
                if verification {
                    Err(Error::Store(message))
                } else {
                    Err(Error::Store(format!(
                        "{CANT_CONNECT}: {message}; last: {}",
                        with_causes(&e)
                    )))
                }
            }
        }
    }

    /// A second connection to the same database whose transactions are
    /// read-only (see [`Backend::open_reader`]). A read begun after a
    /// commit sees it: each read transaction takes a fresh snapshot.
    pub fn open_reader(&self) -> roster_core::Result<PgStore> {
        Ok(PgStore {
            client: RefCell::new(Self::client(&self.conninfo)?),
            conninfo: self.conninfo.clone(),
            // A reader never commits a change: a mark of its own.
            mark: CommitMark::default(),
            tags: CallTags::default(),
            reader: true,
        })
    }

    /// Where the controller tags the next write with the call it carries
    /// out (request id, person, host); shared with clones of the handle.
    pub fn call_tags(&self) -> CallTags {
        self.tags.clone()
    }

    /// Use `tags` (one call's, see [`CallTags::with`]) from now on: the
    /// caller keeps a clone to learn whether a write took its tag.
    pub fn share_call_tags(&mut self, tags: CallTags) {
        self.tags = tags;
    }

    /// The schema version this database is at.
    pub fn schema_version(&self) -> roster_core::Result<u32> {
        schema::version(&mut self.client.borrow_mut())
    }
}

impl PgStore {
    /// One write transaction: READ COMMITTED, [`WRITE_LOCK`] taken first,
    /// committed when `change` answers Ok (and then the [`CommitMark`]
    /// set if it changed what NSS shows), rolled back otherwise.
    pub(crate) fn write_tx<T>(
        &mut self,
        change: impl FnOnce(&PgTx<'_>) -> roster_core::Result<T>,
    ) -> roster_core::Result<T> {
        let mut tx = self
            .client
            .get_mut()
            .build_transaction()
            .isolation_level(IsolationLevel::ReadCommitted)
            .read_only(self.reader)
            .start()
            .map_err(db)?;
        // Serialize against every other writer before reading anything
        // (see the module's doc): the BEGIN IMMEDIATE of this backend.
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&WRITE_LOCK])
            .map_err(db)?;
        let typed = PgTx {
            tx: RefCell::new(tx),
            view_changed: Cell::new(false),
        };
        let tag = self.tags.take();
        if let Some(tag) = &tag {
            typed.set_request_id(Some(&tag.request_id))?;
            let claim = RequestClaim {
                id: tag.request_id.clone(),
                at: SystemClock.now(),
                person: tag.person.clone(),
                host: tag.host.clone(),
                action: tag.action.clone(),
            };
            if !typed.claim_request(&claim)? {
                return Err(claimed_before(&tag.request_id));
            }
        }
        // An error drops the transaction: postgres rolls it back.
        let answer = change(&typed)?;
        if let Some(tag) = tag {
            typed.append_audit(&AuditRow {
                at: SystemClock.now(),
                person: tag.person,
                host: tag.host,
                request_id: Some(tag.request_id),
                action: tag.action,
                target: tag.target,
                detail: String::new(),
            })?;
        }
        let view_changed = typed.view_changed.get();
        typed.tx.into_inner().commit().map_err(db)?;
        if view_changed {
            self.mark.set();
        }
        Ok(answer)
    }

    /// One read transaction: REPEATABLE READ, READ ONLY (one snapshot).
    pub(crate) fn read_tx<T>(
        &mut self,
        query: impl FnOnce(&PgTx<'_>) -> roster_core::Result<T>,
    ) -> roster_core::Result<T> {
        let tx = self
            .client
            .get_mut()
            .build_transaction()
            .isolation_level(IsolationLevel::RepeatableRead)
            .read_only(true)
            .start()
            .map_err(db)?;
        let typed = PgTx {
            tx: RefCell::new(tx),
            view_changed: Cell::new(false),
        };
        let answer = query(&typed)?;
        typed.tx.into_inner().commit().map_err(db)?;
        Ok(answer)
    }
}

impl Backend for PgStore {
    fn write_with(&mut self, change: &mut TxFn<'_>) -> roster_core::Result<()> {
        self.write_tx(|tx| change(tx))
    }

    fn read_with(&mut self, query: &mut TxFn<'_>) -> roster_core::Result<()> {
        self.read_tx(|tx| query(tx))
    }

    fn schema_version(&self) -> roster_core::Result<u32> {
        PgStore::schema_version(self)
    }

    fn open_reader(&self) -> roster_core::Result<Box<dyn Backend>> {
        Ok(Box::new(PgStore::open_reader(self)?))
    }

    fn commit_mark(&self) -> CommitMark {
        self.mark.clone()
    }

    /// Every PostgreSQL commit is durable (and replicated, with
    /// synchronous replication) when it answers: nothing to defer.
    fn defer_sync(&mut self, _deferred: bool) -> roster_core::Result<()> {
        Ok(())
    }
}
