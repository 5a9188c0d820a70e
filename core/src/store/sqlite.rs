//! The SQLite backend: the one place with SQL.
//!
//! DESIGN.md's "Storage": WAL with `synchronous=FULL` (an acknowledged
//! suspend survives a power cut), foreign keys, a busy timeout, versioned
//! migrations (`PRAGMA user_version`), one transaction per change, the
//! file 0600 in a 0700 folder. A database newer than this build is refused.
//!
//! [`SqliteStore`] implements [`Backend`]: [`SqliteStore::write`] and
//! [`SqliteStore::read`] run a closure in one transaction over a
//! [`SqliteTx`], whose methods (in the submodules, one per table family)
//! implement [`Transaction`] and are the only way to the data. Methods
//! that change what the NSS snapshot shows flag the transaction
//! (`SqliteTx::touches_view`); a flagged transaction that commits sets
//! the store's [`CommitMark`]. The rules live in [`crate::roster`];
//! nothing here decides what is allowed.
//!
//! Modes: a missing folder is created 0700. An existing folder looser than
//! 0700 is tightened only when it is ours alone (owned by rosterd's uid and
//! holding nothing but the database's files): the packaging or a test may
//! have made it with the default umask. A shared folder (`/tmp`,
//! `/var/lib`) is never touched: that is refused, asking for a folder of
//! its own, since chmod-ing it would break the host. A database file we own
//! is tightened to 0600. Anything owned by another uid is refused, since
//! someone else could have put or changed the database.

mod credentials;
mod fleet_cache;
mod grants;
mod keys;
mod lockouts;
pub(crate) mod migrations;
mod secrets;
mod sessions;
mod users;

use super::{Backend, CodeRow, CommitMark, KeyRow, TokenRow, Transaction, TxFn};
use super::{SealedValue, SecretGrantRow, SecretOwnerRow, SecretRevisionRow, SecretRow};
use crate::clock::Timestamp;
use crate::error::Error;
use crate::level::Level;
use crate::lockout::Counter;
use crate::model::{Environment, NewSession, Session, Token, User, UserState};
use rusqlite::{Connection, TransactionBehavior};
use std::cell::Cell;
use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};
use std::time::Duration;

/// How long a writer waits for another connection's lock (the daemon has
/// one connection; `sqlite3` run by an admin may hold a lock briefly).
const BUSY_TIMEOUT: Duration = Duration::from_secs(5);

pub struct SqliteStore {
    conn: Connection,
    path: PathBuf,
    mark: CommitMark,
}

/// One open SQLite transaction: the store's typed operations hang off it.
pub struct SqliteTx<'a> {
    conn: &'a Connection,
    /// Set by a method that changes what the NSS snapshot shows.
    view_changed: Cell<bool>,
}

impl<'a> SqliteTx<'a> {
    fn on(conn: &'a Connection) -> Self {
        SqliteTx {
            conn,
            view_changed: Cell::new(false),
        }
    }

    /// This transaction changes what the NSS snapshot shows: its commit
    /// sets the store's [`CommitMark`].
    fn touches_view(&self) {
        self.view_changed.set(true);
    }
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

fn euid() -> u32 {
    // SAFETY: geteuid has no preconditions and can't fail.
    unsafe { libc::geteuid() }
}

/// Create or check the folder and the file (and SQLite's side files) so
/// the database is never readable by others, even for a moment.
fn prepare_files(path: &Path) -> crate::Result<()> {
    let dir = match path.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.exists() {
        fs::DirBuilder::new()
            .recursive(true)
            .mode(0o700)
            .create(&dir)
            .map_err(|e| Error::Store(format!("can't create the folder {}: {e}", dir.display())))?;
    }
    secure_folder(&dir, path)?;
    if !path.exists() {
        fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(path)
            .map_err(|e| Error::Store(format!("can't create {}: {e}", path.display())))?;
    }
    secure(path, 0o600, "database")?;
    for suffix in ["-wal", "-shm", "-journal"] {
        let mut side = path.as_os_str().to_owned();
        side.push(suffix);
        let side = PathBuf::from(side);
        if side.exists() {
            secure(&side, 0o600, "database")?;
        }
    }
    Ok(())
}

/// Whether every entry of `dir` is the database or one of SQLite's side
/// files for it.
fn holds_only_the_database(dir: &Path, database: &Path) -> crate::Result<bool> {
    let Some(name) = database.file_name() else {
        return Ok(false);
    };
    let name = name.to_string_lossy().into_owned();
    let entries = fs::read_dir(dir)
        .map_err(|e| Error::Store(format!("can't list the folder {}: {e}", dir.display())))?;
    for entry in entries {
        let entry = entry
            .map_err(|e| Error::Store(format!("can't list the folder {}: {e}", dir.display())))?;
        let entry_name = entry.file_name().to_string_lossy().into_owned();
        let ours = entry_name == name
            || ["-wal", "-shm", "-journal"]
                .iter()
                .any(|suffix| entry_name == format!("{name}{suffix}"));
        if !ours {
            return Ok(false);
        }
    }
    Ok(true)
}

fn secure_folder(dir: &Path, database: &Path) -> crate::Result<()> {
    let meta = fs::metadata(dir)
        .map_err(|e| Error::Store(format!("can't inspect {}: {e}", dir.display())))?;
    let mode = meta.mode() & 0o7777;
    if meta.uid() == euid() && mode & 0o077 == 0 {
        return Ok(());
    }
    if meta.uid() == euid() && mode & 0o1000 == 0 && holds_only_the_database(dir, database)? {
        return secure(dir, 0o700, "folder");
    }
    Err(Error::Store(format!(
        "the database's folder {} has mode {mode:o} (owner uid {}) and is shared with other files: give the database a folder of its own, owned by rosterd's uid {} with mode 700 (e.g. /var/lib/roster)",
        dir.display(),
        meta.uid(),
        euid()
    )))
}

fn secure(path: &Path, mode: u32, what: &str) -> crate::Result<()> {
    let meta = fs::metadata(path)
        .map_err(|e| Error::Store(format!("can't inspect {}: {e}", path.display())))?;
    if meta.uid() != euid() {
        return Err(Error::Store(format!(
            "the {what} {} belongs to uid {}, not to rosterd's uid {}: someone else could change the database; chown it or pick another path",
            path.display(),
            meta.uid(),
            euid()
        )));
    }
    if meta.mode() & 0o077 != 0 {
        fs::set_permissions(path, fs::Permissions::from_mode(mode)).map_err(|e| {
            Error::Store(format!(
                "the {what} {} has mode {:o} and can't be set to {mode:o}: {e}",
                path.display(),
                meta.mode() & 0o7777
            ))
        })?;
    }
    Ok(())
}

impl SqliteStore {
    /// Open (creating if missing) and migrate the database at `path`.
    pub fn open(path: &Path) -> crate::Result<SqliteStore> {
        prepare_files(path)?;
        let conn = Connection::open(path)
            .map_err(|e| Error::Store(format!("can't open {}: {e}", path.display())))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        let mode: String = conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get(0))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(Error::Store(format!(
                "{} can't use WAL mode (got {mode}): is it on a network filesystem?",
                path.display()
            )));
        }
        conn.execute_batch("PRAGMA synchronous = FULL; PRAGMA foreign_keys = ON;")?;
        let mut store = SqliteStore {
            conn,
            path: path.to_path_buf(),
            mark: CommitMark::default(),
        };
        migrations::migrate(&mut store.conn, path)?;
        // SQLite made -wal and -shm just now; keep them as tight as the file.
        prepare_files(path)?;
        Ok(store)
    }

    /// A second connection to the same database, read-only: long reads
    /// (the NSS snapshot's every-user view) run on it without holding up
    /// the connection that serves calls. Under WAL a read transaction sees
    /// every commit made before it began.
    pub fn open_reader(&self) -> crate::Result<SqliteStore> {
        use rusqlite::OpenFlags;
        let conn = Connection::open_with_flags(
            &self.path,
            OpenFlags::SQLITE_OPEN_READ_ONLY | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(|e| Error::Store(format!("can't open {}: {e}", self.path.display())))?;
        conn.busy_timeout(BUSY_TIMEOUT)?;
        Ok(SqliteStore {
            conn,
            path: self.path.clone(),
            // A reader never commits a change: a mark of its own.
            mark: CommitMark::default(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The connection's settings as SQLite reports them: (journal_mode,
    /// synchronous, foreign_keys), e.g. ("wal", 2, 1). For `roster doctor`
    /// and the tests.
    pub fn settings(&self) -> crate::Result<(String, i64, i64)> {
        let mode: String = self
            .conn
            .query_row("PRAGMA journal_mode", [], |r| r.get(0))?;
        let sync: i64 = self
            .conn
            .query_row("PRAGMA synchronous", [], |r| r.get(0))?;
        let fk: i64 = self
            .conn
            .query_row("PRAGMA foreign_keys", [], |r| r.get(0))?;
        Ok((mode, sync, fk))
    }

    /// The schema version (`PRAGMA user_version`).
    pub fn schema_version(&self) -> crate::Result<u32> {
        Ok(self
            .conn
            .query_row("PRAGMA user_version", [], |r| r.get(0))?)
    }

    /// Run `change` in one write transaction: committed when it answers
    /// `Ok` (setting the [`CommitMark`] if it changed what NSS shows),
    /// rolled back (nothing changed, nothing marked) when it answers `Err`.
    pub fn write<T>(
        &mut self,
        change: impl FnOnce(&SqliteTx<'_>) -> crate::Result<T>,
    ) -> crate::Result<T> {
        // IMMEDIATE takes the write lock up front, so a read-then-write
        // can't fail halfway with SQLITE_BUSY.
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Immediate)?;
        let typed = SqliteTx::on(&tx);
        let out = change(&typed)?;
        let view_changed = typed.view_changed.get();
        tx.commit()?;
        if view_changed {
            self.mark.set();
        }
        Ok(out)
    }

    /// Run `query` in one read transaction (a consistent snapshot).
    pub fn read<T>(
        &mut self,
        query: impl FnOnce(&SqliteTx<'_>) -> crate::Result<T>,
    ) -> crate::Result<T> {
        let tx = self
            .conn
            .transaction_with_behavior(TransactionBehavior::Deferred)?;
        let out = query(&SqliteTx::on(&tx))?;
        tx.commit()?;
        Ok(out)
    }
}

impl Backend for SqliteStore {
    fn write_with(&mut self, change: &mut TxFn<'_>) -> crate::Result<()> {
        self.write(|tx| change(tx))
    }

    fn read_with(&mut self, query: &mut TxFn<'_>) -> crate::Result<()> {
        self.read(|tx| query(tx))
    }

    fn schema_version(&self) -> crate::Result<u32> {
        SqliteStore::schema_version(self)
    }

    fn open_reader(&self) -> crate::Result<Box<dyn Backend>> {
        Ok(Box::new(SqliteStore::open_reader(self)?))
    }

    fn commit_mark(&self) -> CommitMark {
        self.mark.clone()
    }

    fn defer_sync(&mut self, deferred: bool) -> crate::Result<()> {
        if deferred {
            // WAL with synchronous=NORMAL: a commit appends to the WAL
            // without an fsync (still atomic: a torn tail is discarded at
            // recovery).
            self.conn.execute_batch("PRAGMA synchronous = NORMAL")?;
            return Ok(());
        }
        self.conn.execute_batch("PRAGMA synchronous = FULL")?;
        // The WAL is append-only (restarted from its start only after a
        // checkpoint, which NORMAL syncs itself): one fsync of the file
        // covers every frame the deferred commits wrote.
        let wal = {
            let mut name = self.path.clone().into_os_string();
            name.push("-wal");
            PathBuf::from(name)
        };
        match std::fs::File::open(&wal) {
            Ok(file) => file
                .sync_all()
                .map_err(|e| Error::Store(format!("can't sync {}: {e}", wal.display()))),
            // No WAL file: nothing was written since the last checkpoint.
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
            Err(e) => Err(Error::Store(format!("can't open {}: {e}", wal.display()))),
        }
    }

    fn host_cache(&mut self) -> Option<&mut SqliteStore> {
        Some(self)
    }
}

/// `Transaction`'s methods, each answered by the inherent method of the
/// same name (in the submodules, beside its SQL).
macro_rules! delegate {
    ($( fn $name:ident(&self $(, $arg:ident: $ty:ty)* $(,)?) -> $ret:ty; )*) => {
        impl Transaction for SqliteTx<'_> {
            $(
                fn $name(&self $(, $arg: $ty)*) -> $ret {
                    SqliteTx::$name(self $(, $arg)*)
                }
            )*
        }
    };
}

delegate! {
    fn user(&self, name: &str, now: Timestamp) -> crate::Result<Option<User>>;
    fn user_by_uid(&self, uid: u32, now: Timestamp) -> crate::Result<Option<User>>;
    fn users(&self, now: Timestamp) -> crate::Result<Vec<User>>;
    fn insert_user(&self, user: &User, password_hash: Option<&str>) -> crate::Result<()>;
    fn update_profile(&self, user: &User) -> crate::Result<()>;
    fn set_state(&self, uid: u32, state: UserState) -> crate::Result<()>;
    fn set_password(&self, uid: u32, hash: Option<&str>, changed: Option<Timestamp>) -> crate::Result<()>;
    fn password_hash(&self, uid: u32) -> crate::Result<Option<String>>;
    fn set_last_login(&self, uid: u32, at: Timestamp) -> crate::Result<()>;
    fn delete_user(&self, uid: u32, name: &str, now: Timestamp) -> crate::Result<()>;
    fn active_admins(&self) -> crate::Result<u32>;
    fn taken_uids(&self, min: u32, max: u32) -> crate::Result<Vec<u32>>;
    fn is_retired(&self, uid: u32) -> crate::Result<bool>;
    fn grants_of(&self, uid: u32) -> crate::Result<BTreeMap<String, Level>>;
    fn all_grants(&self) -> crate::Result<BTreeMap<u32, BTreeMap<String, Level>>>;
    fn set_grant(&self, uid: u32, environment: &str, level: Level) -> crate::Result<()>;
    fn delete_grant(&self, uid: u32, environment: &str) -> crate::Result<()>;
    fn holders(&self, environment: &str, level: Level) -> crate::Result<Vec<String>>;
    fn environment(&self, name: &str) -> crate::Result<Option<Environment>>;
    fn environments(&self) -> crate::Result<Vec<Environment>>;
    fn insert_environment(&self, name: &str, now: Timestamp) -> crate::Result<()>;
    fn delete_environment(&self, name: &str) -> crate::Result<u32>;
    fn insert_key(&self, uid: u32, key: &KeyRow) -> crate::Result<()>;
    fn keys_of(&self, uid: u32) -> crate::Result<Vec<KeyRow>>;
    fn delete_key(&self, uid: u32, fingerprint: &str) -> crate::Result<bool>;
    fn lockout(&self, uid: u32, remote_host: &str) -> crate::Result<Counter>;
    fn counted_uid(&self, name: &str, remote_host: &str) -> crate::Result<Option<u32>>;
    fn save_lockout(&self, uid: u32, remote_host: &str, counter: &Counter) -> crate::Result<()>;
    fn clear_lockout(&self, uid: u32, remote_host: &str) -> crate::Result<()>;
    fn clear_lockouts(&self, uid: u32) -> crate::Result<()>;
    fn insert_session(&self, new: &NewSession, uid: u32, now: Timestamp) -> crate::Result<Session>;
    fn session_count(&self, uid: u32) -> crate::Result<i64>;
    fn end_session(&self, uid: u32, leader_pid: u32, leader_start: u64, now: Timestamp) -> crate::Result<bool>;
    fn end_sessions(&self, ids: &[i64], now: Timestamp) -> crate::Result<()>;
    fn sessions(&self, uid: Option<u32>, ended: bool) -> crate::Result<Vec<Session>>;
    fn set_code(&self, code: &CodeRow) -> crate::Result<()>;
    fn code_by_id(&self, public_id: &str) -> crate::Result<Option<CodeRow>>;
    fn code_of(&self, uid: u32) -> crate::Result<Option<CodeRow>>;
    fn delete_code(&self, uid: u32) -> crate::Result<()>;
    fn insert_token(&self, token: &Token, hash: &[u8]) -> crate::Result<()>;
    fn token(&self, public_id: &str) -> crate::Result<Option<TokenRow>>;
    fn tokens(&self, uid: Option<u32>) -> crate::Result<Vec<Token>>;
    fn rename_token(&self, public_id: &str, name: &str) -> crate::Result<()>;
    fn delete_token(&self, public_id: &str) -> crate::Result<()>;
    fn touch_token(&self, public_id: &str, now: Timestamp) -> crate::Result<()>;
    fn revoke_tokens(&self, uid: u32, now: Timestamp) -> crate::Result<u32>;
    fn secret_count(&self) -> crate::Result<u64>;
    fn insert_secret(&self, secret: &SecretRow) -> crate::Result<()>;
    fn update_secret(&self, secret: &SecretRow) -> crate::Result<()>;
    fn delete_secret(&self, id: &str) -> crate::Result<bool>;
    fn secret(&self, id: &str) -> crate::Result<Option<SecretRow>>;
    fn secret_named(&self, owner: &SecretOwnerRow, name: &str) -> crate::Result<Option<SecretRow>>;
    fn secrets(&self) -> crate::Result<Vec<SecretRow>>;
    fn insert_secret_revision(&self, id: &str, revision: &SecretRevisionRow, values: &[SealedValue]) -> crate::Result<()>;
    fn secret_revisions(&self, id: &str) -> crate::Result<Vec<SecretRevisionRow>>;
    fn delete_secret_revision(&self, id: &str, revision: u32) -> crate::Result<bool>;
    fn sealed_values(&self, id: &str, revision: u32) -> crate::Result<Vec<SealedValue>>;
    fn reseal_value(&self, id: &str, revision: u32, value: &SealedValue) -> crate::Result<()>;
    fn set_secret_expiry(&self, id: &str, revision: u32, expires: Option<Timestamp>) -> crate::Result<()>;
    fn set_secret_checksum(&self, id: &str, revision: u32, checksum: &[u8], checksum_key: &str) -> crate::Result<()>;
    fn secret_key_ids(&self) -> crate::Result<Vec<String>>;
    fn secret_grants(&self, id: &str) -> crate::Result<Vec<SecretGrantRow>>;
    fn set_secret_grant(&self, id: &str, grant: &SecretGrantRow) -> crate::Result<()>;
    fn delete_secret_grant(&self, id: &str, uid: u32) -> crate::Result<bool>;
    fn secret_pin(&self, id: &str, uid: u32) -> crate::Result<Option<u32>>;
    fn set_secret_pin(&self, id: &str, uid: u32, revision: u32) -> crate::Result<()>;
    fn delete_secret_pin(&self, id: &str, uid: u32) -> crate::Result<()>;
    fn secret_pins(&self, id: &str) -> crate::Result<Vec<(u32, u32)>>;
}

/// Text columns that hold an enum: a value we don't know means the
/// database was edited by hand or by a newer build.
fn corrupt(what: &str, value: &str) -> rusqlite::Error {
    rusqlite::Error::FromSqlConversionFailure(
        0,
        rusqlite::types::Type::Text,
        format!("unknown {what} {value:?} in the database").into(),
    )
}
