//! The state every interface shares, and the few steps every call takes:
//! learn the caller and answer ([`Daemon::audited`] around an audited
//! call's body, [`Daemon::begin_read`] for a read), run store work off the
//! async threads ([`Daemon::store`], [`Daemon::acting`]), and hash through
//! the queue ([`Daemon::hash`], [`Daemon::verify`]).
//!
//! The NSS snapshot is refreshed from the store's commit, never by a
//! handler: a committed change that NSS shows sets core's
//! [`roster_core::store::CommitMark`]; [`Daemon::store`] drains it (under
//! the store's lock, so the mark is exactly that call's) and asks the
//! [`SnapshotWriter`] for a write, recording the generation on the
//! [`Call`]; [`Daemon::finish`] waits for that write before answering and
//! turns its failure into `SnapshotStale` (said with how to get a new code
//! when the call answers one, [`Call::answers_code`]). Work that must
//! happen after the change (ending sessions) happens before the wait, so
//! it happens even when NSS can't show the change yet. A login, a session
//! or a token touches nothing NSS shows, so it costs no snapshot write.

use crate::audit::{Audit, Entry};
use crate::caller::{Peer, Peers};
use crate::errors::{internal, result_word, to_bus};
use crate::procfs::Proc;
use crate::queue::{HashQueue, QueueError, Requester};
use crate::snapshot::SnapshotWriter;
use roster_client::{MAX_SECRET_BYTES, RosterError};
use roster_core::password::Hasher;
use roster_core::{Actor, Config, Roster, Secret};
use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use zbus::Connection;
use zbus::fdo::DBusProxy;
use zbus::message::Header;

pub type Result<T> = std::result::Result<T, RosterError>;

fn is_legacy(hash: &str) -> bool {
    roster_core::legacy_hash::LegacyKind::of(hash).is_some()
}

pub struct Daemon {
    pub roster: Arc<Mutex<Roster>>,
    pub config: Arc<Config>,
    pub hasher: Hasher,
    pub queue: HashQueue,
    pub snapshot: Arc<SnapshotWriter>,
    pub audit: Audit,
    pub peers: Arc<Peers>,
    pub dbus: DBusProxy<'static>,
    pub conn: Connection,
    pub proc: Proc,
    pub limiter: RateLimiter,
    /// Where a new home's files come from.
    pub skel: std::path::PathBuf,
    /// `rosterd.toml`, read again when joining a controller (the keys it
    /// decides must be absent).
    pub config_path: std::path::PathBuf,
    /// Fleet mode: the enrollment and the sync agent (idle on a
    /// standalone host).
    pub fleet: crate::fleet::Fleet,
    /// The crypt dummy an unknown user's verify runs while adopted crypt
    /// hashes remain in the store (see [`crate::legacy_crypt`]).
    pub legacy_dummy: crate::legacy_crypt::LegacyDummy,
}

/// One call in progress: who made it and what the audit line will say.
pub struct Call {
    pub peer: Arc<Peer>,
    /// The caller's unique name on the bus (a signal for it alone: the
    /// CLI's "store failing over, retrying").
    pub bus_name: String,
    pub action: &'static str,
    pub target: String,
    /// Reads are not audited (DESIGN.md: every admin action and login
    /// result is; a `users list` is neither).
    audited: bool,
    details: Mutex<Vec<(&'static str, String)>>,
    result_override: Mutex<Option<&'static str>>,
    /// The real uid root's PAM module passed on (a setuid `su` or
    /// `passwd` run by that uid); 0 = root's own request.
    passed_uid: AtomicU32,
    /// Whether this call has taken its one check from the rate limiter.
    rate_taken: AtomicBool,
    /// The highest snapshot generation this call's changes asked for (0 =
    /// none): [`Daemon::finish`] waits for it before answering.
    snapshot_generation: AtomicU64,
    /// The user whose registration code this call's answer carries.
    code_of: Mutex<Option<String>>,
}

impl Call {
    /// Adds `key=value` to the audit line (never a secret).
    pub fn detail(&self, key: &'static str, value: impl Into<String>) {
        if let Ok(mut d) = self.details.lock() {
            d.push((key, value.into()));
        }
    }

    /// A successful call whose outcome is not "ok" (a failed login).
    pub fn outcome(&self, word: &'static str) {
        if let Ok(mut r) = self.result_override.lock() {
            *r = Some(word);
        }
    }

    /// The PAM module's word on whose request this is (the process's real
    /// uid): taken from root only; any other caller is its own bus uid.
    pub fn requested_by(&self, real_uid: u32) {
        if self.peer.uid == 0 {
            self.passed_uid.store(real_uid, Ordering::SeqCst);
            if real_uid != 0 {
                self.detail("for_uid", real_uid.to_string());
            }
        }
    }

    /// This call's answer carries `user`'s registration code: should the
    /// snapshot write fail, the error (which can't carry the code) says
    /// how to get a new one.
    pub fn answers_code(&self, user: &str) {
        if let Ok(mut code_of) = self.code_of.lock() {
            *code_of = Some(user.to_owned());
        }
    }

    /// The call's answer must wait for snapshot write `generation`.
    fn wants_snapshot(&self, generation: u64) {
        self.snapshot_generation
            .fetch_max(generation, Ordering::SeqCst);
    }

    /// Whose share this call's hashing counts in (see [`Requester`]).
    pub fn requester(&self) -> Requester {
        if self.peer.uid != 0 {
            return Requester::Uid(self.peer.uid);
        }
        match self.peer.token() {
            Ok(Some(token)) => return Requester::Token(token),
            Ok(None) => {}
            // Never Root: an unreadable binding counts as a token's share
            // (the call itself is refused where the token is needed).
            Err(_) => return Requester::Token("<unreadable>".into()),
        }
        match self.passed_uid.load(Ordering::SeqCst) {
            0 => Requester::Root,
            uid => Requester::Uid(uid),
        }
    }
}

impl Daemon {
    /// Resolves the caller of an audited call. Private: handlers go
    /// through [`Daemon::audited`], which always finishes what this began.
    async fn begin(&self, hdr: &Header<'_>, action: &'static str, target: &str) -> Result<Call> {
        self.start(hdr, action, target, true).await
    }

    /// Resolves the caller of a read (not audited).
    pub async fn begin_read(&self, hdr: &Header<'_>, action: &'static str) -> Result<Call> {
        self.start(hdr, action, "", false).await
    }

    async fn start(
        &self,
        hdr: &Header<'_>,
        action: &'static str,
        target: &str,
        audited: bool,
    ) -> Result<Call> {
        let sender = hdr.sender().ok_or_else(|| {
            RosterError::PermissionDenied("the call carries no sender on the bus".into())
        })?;
        let peer = self.peers.resolve(&self.dbus, sender).await?;
        Ok(Call {
            peer,
            bus_name: sender.to_string(),
            action,
            target: target.to_owned(),
            audited,
            details: Mutex::new(Vec::new()),
            result_override: Mutex::new(None),
            passed_uid: AtomicU32::new(0),
            rate_taken: AtomicBool::new(false),
            snapshot_generation: AtomicU64::new(0),
            code_of: Mutex::new(None),
        })
    }

    /// Runs one audited call: resolves the caller, runs `body`, then
    /// [`Daemon::finish`] on whatever it answered, so no way out of a
    /// handler skips the snapshot wait or the audit line.
    pub async fn audited<T>(
        &self,
        hdr: &Header<'_>,
        action: &'static str,
        target: &str,
        body: impl AsyncFnOnce(&Call) -> Result<T>,
    ) -> Result<T> {
        let call = self.begin(hdr, action, target).await?;
        // An enrolled host's database is the fleet's cache: a change the
        // controller must make is never made in it (the next batch would
        // undo it). The forwarded ones go there; the rest are refused.
        let fleet_change = crate::fleet::forward::FLEET_CHANGES.contains(&action);
        let result = if fleet_change && self.fleet.membership.try_lock().is_err() {
            // A join reads the host's own users before it enrolls and
            // swaps the store for the fleet's after: a change made in
            // between would be lost without a word.
            Err(RosterError::Unavailable(
                "this host is joining or leaving a fleet right now (`roster hosts join` or \
                 `leave` is running): nothing changed; try again once it has finished"
                    .into(),
            ))
        } else if self.forwards()
            && fleet_change
            && !crate::fleet::forward::FORWARDED.contains(&action)
        {
            Err(crate::fleet::forward::not_forwarded(action))
        } else {
            body(&call).await
        };
        self.finish(&call, result).await
    }

    /// Waits until the NSS snapshot shows the call's changes (if it made
    /// any NSS shows), writes the audit line (for audited calls) and
    /// passes the result on: a change made but not yet in NSS answers
    /// `SnapshotStale` instead of its success.
    async fn finish<T>(&self, call: &Call, result: Result<T>) -> Result<T> {
        let result = self.published(call, result).await;
        if call.audited {
            let word = match &result {
                Ok(_) => call
                    .result_override
                    .lock()
                    .ok()
                    .and_then(|r| *r)
                    .unwrap_or("ok"),
                Err(e) => result_word(e),
            };
            let entry = Entry {
                action: call.action,
                target: call.target.clone(),
                actor_uid: call.peer.uid,
                login_uid: call.peer.login_uid(),
                pid: call.peer.pid,
                // The call was refused already if the token is unreadable.
                token: call
                    .peer
                    .token()
                    .unwrap_or_else(|_| Some("<unreadable>".into())),
                result: word,
                details: call.details.lock().map(|d| d.clone()).unwrap_or_default(),
            };
            self.audit.record(&entry);
            if self.fleet.enrolled() {
                // Kept in the cache until the controller has it; written
                // off the answer's path (a login never waits for it).
                let report = crate::fleet::report_of(&entry, crate::fleet::now());
                let roster = self.roster.clone();
                tokio::task::spawn_blocking(move || {
                    let mut guard = roster.lock().unwrap_or_else(|p| p.into_inner());
                    if let Err(e) = guard.queue_fleet_report(&report) {
                        eprintln!("rosterd: can't keep a report for the controller: {e}");
                    }
                });
                if matches!(call.action, "pam.open_session" | "pam.close_session") {
                    self.report_live_sessions();
                }
            }
        }
        result
    }

    /// `result`, once the snapshot write the call asked for is done (see
    /// [`published`]).
    async fn published<T>(&self, call: &Call, result: Result<T>) -> Result<T> {
        published(&self.snapshot, call, result).await
    }

    /// Runs `f` on the store for `call`, on a blocking thread. When it
    /// committed a change NSS shows, a snapshot write is requested and
    /// [`Daemon::finish`] waits for it (also when `f` failed after such a
    /// commit: the change is made).
    pub async fn store<T, F>(&self, call: &Call, f: F) -> Result<T>
    where
        F: FnOnce(&mut Roster) -> roster_core::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (result, generation) = self.run_store(f).await?;
        if let Some(generation) = generation {
            call.wants_snapshot(generation);
        }
        result.map_err(to_bus)
    }

    /// Runs `f` on the store for no call (the reaper, the sweep): a change
    /// NSS shows still gets its snapshot write, which nobody waits for.
    pub async fn store_unattended<T, F>(&self, f: F) -> Result<T>
    where
        F: FnOnce(&mut Roster) -> roster_core::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let (result, _) = self.run_store(f).await?;
        result.map_err(to_bus)
    }

    /// `f`'s result, and the snapshot generation requested when its
    /// commits changed what NSS shows. The mark is drained under the
    /// store's lock, so it is this `f`'s and no other call's.
    async fn run_store<T, F>(&self, f: F) -> Result<(roster_core::Result<T>, Option<u64>)>
    where
        F: FnOnce(&mut Roster) -> roster_core::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let roster = self.roster.clone();
        let snapshot = self.snapshot.clone();
        tokio::task::spawn_blocking(move || {
            // A panic inside core poisons the lock; SQLite rolled its
            // transaction back, so the store itself is consistent.
            let mut guard = roster.lock().unwrap_or_else(|p| p.into_inner());
            let result = f(&mut guard);
            let generation = guard.commit_mark().take().then(|| snapshot.request());
            (result, generation)
        })
        .await
        .map_err(|e| internal(&format!("store task: {e}")))
    }

    /// Runs `f` as the caller (resolved by core from uid and bound token).
    pub async fn acting<T, F>(&self, call: &Call, f: F) -> Result<T>
    where
        F: FnOnce(&mut Roster, &Actor) -> roster_core::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let caller = call.peer.caller(true)?;
        self.store(call, move |r| {
            let actor = r.actor(&caller)?;
            f(r, &actor)
        })
        .await
    }

    /// As [`Daemon::acting`], by the caller's uid alone (PAM operations:
    /// tokens never authorize them).
    pub async fn acting_by_uid<T, F>(&self, call: &Call, f: F) -> Result<T>
    where
        F: FnOnce(&mut Roster, &Actor) -> roster_core::Result<T> + Send + 'static,
        T: Send + 'static,
    {
        let caller = call.peer.caller(false)?;
        self.store(call, move |r| {
            let actor = r.actor(&caller)?;
            f(r, &actor)
        })
        .await
    }

    /// Takes this call's one check from the rate limiter, unless it is
    /// root's own (see [`Requester`]) or took it already: every call that
    /// costs an argon2 hash or verify for a non-root caller, a token or a
    /// setuid program's user pays once, before the cost.
    pub fn limit(&self, call: &Call) -> Result<()> {
        let requester = call.requester();
        if requester == Requester::Root || call.rate_taken.swap(true, Ordering::SeqCst) {
            return Ok(());
        }
        self.limiter
            .take(&requester)
            .map_err(|refusal| refusal.to_error())
    }

    /// An argon2id hash of `secret`, through the bounded queue. Not rate
    /// limited by itself: a hash with no verify before it is an admin's
    /// (create, set another's password) or follows a registration code,
    /// which takes its check first; the queue's shares keep admins'
    /// bulk work from delaying logins, and a guess always goes through
    /// [`Daemon::verify`] (or the code check), which is limited.
    pub async fn hash(&self, call: &Call, secret: Secret) -> Result<String> {
        check_secret_length("password", &secret)?;
        let hasher = self.hasher.clone();
        self.queue
            .run(&call.requester(), &call.peer.gone, move || {
                hasher.hash(&secret)
            })
            .await
            .map_err(queue_error)?
            .map_err(to_bus)
    }

    /// Whether `secret` matches `phc` (a dummy hash when None, same cost),
    /// through the bounded queue. Answers before the hasher wipes its
    /// working buffer, which happens after, within the same turn.
    pub async fn verify(&self, call: &Call, secret: Secret, phc: Option<String>) -> Result<bool> {
        // Refused whoever the user is: the refusal tells nothing about them.
        check_secret_length("password", &secret)?;
        self.limit(call)?;
        let hasher = self.hasher.clone();
        // An adopted crypt hash, or any verify while adopted hashes
        // remain: libcrypt and argon2 both, in the same queue turn.
        if phc.as_deref().is_some_and(is_legacy) || self.legacy_dummy.kind().is_some() {
            return Ok(self.verify_upgrading(call, secret, phc, false).await?.right);
        }
        self.queue
            .run_answering(&call.requester(), &call.peer.gone, move |tx| {
                hasher.verify_then(&secret, phc.as_deref(), |right| {
                    // The receiver is gone only if the call was dropped.
                    let _ = tx.send(right);
                });
            })
            .await
            .map_err(queue_error)
    }

    /// As [`Daemon::verify`], for any stored hash (argon2id, an adopted
    /// crypt hash, none) in one queue turn; with `upgrade`, a right
    /// password against a crypt hash comes back rehashed with argon2id
    /// for the login to store (see [`crate::legacy_crypt::verify_any`]).
    pub async fn verify_upgrading(
        &self,
        call: &Call,
        secret: Secret,
        hash: Option<String>,
        upgrade: bool,
    ) -> Result<crate::legacy_crypt::Verified> {
        check_secret_length("password", &secret)?;
        self.limit(call)?;
        let (hasher, dummy) = (self.hasher.clone(), self.legacy_dummy.clone());
        self.queue
            .run(&call.requester(), &call.peer.gone, move || {
                crate::legacy_crypt::verify_any(&hasher, &dummy, &secret, hash.as_deref(), upgrade)
            })
            .await
            .map_err(queue_error)
    }

    /// Ends every process of `uid`: logind's TerminateUser where logind is
    /// on the bus, then the `/proc` sweep (always: logind misses cron
    /// jobs, `su` and services). Answers how many processes were ended.
    pub async fn end_user_processes(&self, uid: u32) -> u32 {
        self.ask_logind_to_terminate(uid).await;
        let proc = self.proc.clone();
        let range = (self.config.uid_min, self.config.uid_max);
        let grace = self.config.sessions.end_grace;
        tokio::task::spawn_blocking(move || crate::sweep::end_processes(&proc, uid, range, grace))
            .await
            .unwrap_or(0)
    }

    async fn ask_logind_to_terminate(&self, uid: u32) {
        let Ok(name) = zbus::names::BusName::try_from("org.freedesktop.login1") else {
            return;
        };
        if !self.dbus.name_has_owner(name).await.unwrap_or(false) {
            return;
        }
        let reply = self
            .conn
            .call_method(
                Some("org.freedesktop.login1"),
                "/org/freedesktop/login1",
                Some("org.freedesktop.login1.Manager"),
                "TerminateUser",
                &(uid,),
            )
            .await;
        if let Err(e) = reply {
            // logind may not know the user (no session there): the sweep
            // does the work anyway.
            eprintln!("rosterd: logind TerminateUser({uid}): {e}");
        }
    }

    /// Ends every live session of `uid` in the store; answers how many.
    pub async fn end_sessions_of(&self, call: &Call, uid: u32) -> Result<u32> {
        self.store(call, move |r| {
            let ids: Vec<i64> = r
                .live_sessions()?
                .into_iter()
                .filter(|s| s.uid == uid)
                .map(|s| s.id)
                .collect();
            r.end_sessions(&ids)?;
            Ok(u32::try_from(ids.len()).unwrap_or(u32::MAX))
        })
        .await
    }

    /// How many live sessions `uid` has.
    pub async fn live_session_count(&self, call: &Call, uid: u32) -> Result<u32> {
        self.store(call, move |r| {
            let n = r.live_sessions()?.iter().filter(|s| s.uid == uid).count();
            Ok(u32::try_from(n).unwrap_or(u32::MAX))
        })
        .await
    }

    /// Marks ended every live session whose leader (pid + start time) is
    /// gone. Never by pid alone: a recycled pid is another process. Ending
    /// a session changes nothing NSS shows, so no answer waits for it.
    pub async fn reap(&self) -> Result<u32> {
        let proc = self.proc.clone();
        self.store_unattended(move |r| {
            let dead: Vec<i64> = r
                .live_sessions()?
                .into_iter()
                .filter(|s| !leader_alive(&proc, s.leader_pid, s.leader_start))
                .map(|s| s.id)
                .collect();
            if !dead.is_empty() {
                r.end_sessions(&dead)?;
            }
            Ok(u32::try_from(dead.len()).unwrap_or(u32::MAX))
        })
        .await
        .inspect(|&reaped| {
            if reaped > 0 {
                self.report_live_sessions();
            }
        })
    }
}

/// `result`, once `snapshot` has finished the write `call` asked for (none
/// asked: at once); that write's failure turns a success into
/// `SnapshotStale` (an earlier error stands: it says more).
async fn published<T>(snapshot: &SnapshotWriter, call: &Call, result: Result<T>) -> Result<T> {
    let generation = call.snapshot_generation.load(Ordering::SeqCst);
    if generation == 0 {
        return result;
    }
    let written = snapshot.wait(generation).await;
    match (result, written) {
        (Ok(answer), Ok(())) => Ok(answer),
        (Ok(_), Err(stale)) => {
            let code_of = call.code_of.lock().ok().and_then(|c| c.clone());
            Err(match code_of {
                Some(user) => stale.losing_code(&user),
                None => stale.into(),
            })
        }
        (Err(e), _) => Err(e),
    }
}

/// A session leader counts as alive while a non-zombie process with its
/// pid and start time exists.
pub fn leader_alive(proc: &Proc, pid: u32, start: u64) -> bool {
    matches!(proc.state_and_start(pid), Some((state, s)) if s == start && state != 'Z' && state != 'X')
}

/// Refuses a password, code or current password longer than
/// [`MAX_SECRET_BYTES`] before it costs a hash (see there for why that bound).
pub fn check_secret_length(what: &str, secret: &Secret) -> Result<()> {
    let length = secret.expose().len();
    if length > MAX_SECRET_BYTES {
        return Err(RosterError::InvalidArgument(format!(
            "the {what} is {length} bytes long: rosterd takes at most {MAX_SECRET_BYTES}"
        )));
    }
    Ok(())
}

fn queue_error(e: QueueError) -> RosterError {
    match e {
        QueueError::Failed => internal("a password task panicked"),
        other => RosterError::Unavailable(other.to_string()),
    }
}

/// At most a few password checks per requester other than root (a
/// screen locker checking its own user, a password change, a token's
/// work, `su` run by a user): a local user can't use rosterd to guess at
/// full speed, or to keep the argon2 queue busy for everyone.
pub struct RateLimiter {
    buckets: Mutex<HashMap<Requester, (f64, Instant)>>,
    burst: f64,
    per_second: f64,
}

impl Default for RateLimiter {
    fn default() -> Self {
        RateLimiter {
            buckets: Mutex::new(HashMap::new()),
            burst: 5.0,
            per_second: 0.5,
        }
    }
}

/// Why [`RateLimiter::take`] refused.
#[derive(Debug, PartialEq)]
pub enum Refusal {
    /// The uid used its checks up: the next one comes after this wait.
    Wait(Duration),
    /// The limiter's lock is poisoned (a panic while it was held): it
    /// refuses everyone it limits until rosterd restarts, rather than let
    /// anyone guess at full speed.
    Broken,
}

impl Refusal {
    /// The error the caller gets.
    pub fn to_error(&self) -> RosterError {
        match self {
            Refusal::Wait(wait) => RosterError::Unavailable(format!(
                "too many password checks: wait {} s",
                wait.as_secs().max(1)
            )),
            Refusal::Broken => RosterError::Unavailable(
                "rosterd's password-check rate limiter failed: checks by non-root callers are \
                 refused until rosterd is restarted (systemctl restart rosterd)"
                    .into(),
            ),
        }
    }
}

impl RateLimiter {
    /// Takes one check for `who`, or says why not (fails closed).
    pub fn take(&self, who: &Requester) -> std::result::Result<(), Refusal> {
        let now = Instant::now();
        let Ok(mut buckets) = self.buckets.lock() else {
            return Err(Refusal::Broken);
        };
        if buckets.len() > 10_000 {
            buckets.retain(|_, (_, last)| now.duration_since(*last) < Duration::from_secs(60));
        }
        let (tokens, last) = buckets.entry(who.clone()).or_insert((self.burst, now));
        *tokens =
            (*tokens + now.duration_since(*last).as_secs_f64() * self.per_second).min(self.burst);
        *last = now;
        if *tokens >= 1.0 {
            *tokens -= 1.0;
            Ok(())
        } else {
            Err(Refusal::Wait(Duration::from_secs_f64(
                (1.0 - *tokens) / self.per_second,
            )))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_limiter_allows_a_burst_then_refuses() {
        let l = RateLimiter::default();
        for _ in 0..5 {
            assert!(l.take(&Requester::Uid(1000)).is_ok());
        }
        assert!(l.take(&Requester::Uid(1000)).is_err());
        // Another uid, or a token, has its own bucket.
        assert!(l.take(&Requester::Uid(1001)).is_ok());
        assert!(l.take(&Requester::Token("t1".into())).is_ok());
    }

    fn call_from(uid: u32) -> Call {
        Call {
            peer: Arc::new(Peer::new(uid, 1)),
            bus_name: String::new(),
            action: "test",
            target: String::new(),
            audited: false,
            details: Mutex::new(Vec::new()),
            result_override: Mutex::new(None),
            passed_uid: AtomicU32::new(0),
            rate_taken: AtomicBool::new(false),
            snapshot_generation: AtomicU64::new(0),
            code_of: Mutex::new(None),
        }
    }

    /// A writer whose every write fails (a full cache folder).
    fn failing_writer() -> Arc<SnapshotWriter> {
        let writer = SnapshotWriter::new(
            std::path::Path::new("/var/cache/roster/nss.cache"),
            crate::snapshot::Retry {
                first: Duration::from_secs(60),
                max: Duration::from_secs(60),
            },
            crate::snapshot::StaleMark::default(),
        );
        let write: crate::snapshot::WriteFn =
            Arc::new(|_| Err("No space left on device (os error 28)".into()));
        tokio::spawn(writer.clone().run(write));
        writer
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_change_not_yet_in_nss_answers_snapshot_stale() {
        let writer = failing_writer();
        // A call whose commits changed nothing NSS shows answers as it is.
        let login = call_from(0);
        assert_eq!(published(&writer, &login, Ok(7)).await, Ok(7));
        // One that did hears the change is made but not shown.
        let change = call_from(0);
        change.wants_snapshot(writer.request());
        let Err(RosterError::SnapshotStale(said)) = published(&writer, &change, Ok(7)).await else {
            panic!("a failed snapshot write was acknowledged");
        };
        assert!(said.contains("the change is made"), "{said}");
        assert!(!said.contains("registration code"), "{said}");
        // An answer carrying a code says how to get another.
        let create = call_from(0);
        create.answers_code("carol");
        create.wants_snapshot(writer.request());
        let Err(RosterError::SnapshotStale(said)) = published(&writer, &create, Ok(())).await
        else {
            panic!("a failed snapshot write was acknowledged");
        };
        assert!(
            said.contains("roster users password carol --reset"),
            "{said}"
        );
        // An error the call met after its change stands.
        let failed = call_from(0);
        failed.wants_snapshot(writer.request());
        let refused: Result<()> = Err(RosterError::NotFound("no such thing".into()));
        assert_eq!(
            published(&writer, &failed, refused).await,
            Err(RosterError::NotFound("no such thing".into()))
        );
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_call_waits_for_the_highest_write_it_asked_for() {
        let writer = SnapshotWriter::new(
            std::path::Path::new("/var/cache/roster/nss.cache"),
            crate::snapshot::Retry::default(),
            crate::snapshot::StaleMark::default(),
        );
        let writes = Arc::new(AtomicU32::new(0));
        let counted = writes.clone();
        let write: crate::snapshot::WriteFn = Arc::new(move |_| {
            counted.fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
        tokio::spawn(writer.clone().run(write));
        let call = call_from(0);
        let (first, second) = (writer.request(), writer.request());
        call.wants_snapshot(second);
        call.wants_snapshot(first);
        assert_eq!(call.snapshot_generation.load(Ordering::SeqCst), second);
        assert_eq!(published(&writer, &call, Ok(())).await, Ok(()));
        assert!(writes.load(Ordering::SeqCst) >= 1);
    }

    #[test]
    fn only_root_names_whose_request_it_is() {
        let login = call_from(0);
        assert_eq!(login.requester(), Requester::Root);
        // su run by uid 1000: its PAM calls reach the bus as root.
        let su = call_from(0);
        su.requested_by(1000);
        assert_eq!(su.requester(), Requester::Uid(1000));
        // A non-root caller is its bus uid, whatever it passes.
        for passed in [0, 4242] {
            let user = call_from(1000);
            user.requested_by(passed);
            assert_eq!(user.requester(), Requester::Uid(1000));
        }
        // A token: its own share on a root connection, the uid's otherwise.
        let token = call_from(0);
        assert!(token.peer.bind_token("tok1".into()).is_ok());
        assert_eq!(token.requester(), Requester::Token("tok1".into()));
        let user_token = call_from(1000);
        assert!(user_token.peer.bind_token("tok2".into()).is_ok());
        assert_eq!(user_token.requester(), Requester::Uid(1000));
    }

    #[test]
    fn the_secret_bound_is_cores_password_bound() {
        assert_eq!(MAX_SECRET_BYTES, roster_core::password::MAX_PASSWORD_BYTES);
        let at_bound = Secret::new("x".repeat(MAX_SECRET_BYTES));
        assert!(check_secret_length("password", &at_bound).is_ok());
        let over = Secret::new("x".repeat(MAX_SECRET_BYTES + 1));
        let Err(RosterError::InvalidArgument(message)) = check_secret_length("code", &over) else {
            panic!("a {} byte code was taken", MAX_SECRET_BYTES + 1);
        };
        assert!(message.contains("the code is 1025 bytes long"), "{message}");
    }

    #[test]
    fn a_poisoned_limiter_refuses_everyone() {
        let l = std::sync::Arc::new(RateLimiter::default());
        let poisoner = l.clone();
        let panicked = std::thread::spawn(move || {
            let _held = poisoner.buckets.lock();
            panic!("injected panic while the limiter's lock is held");
        })
        .join();
        assert!(panicked.is_err());
        assert!(l.buckets.is_poisoned());
        // A fresh uid with a full bucket: refused all the same.
        assert_eq!(l.take(&Requester::Uid(1000)), Err(Refusal::Broken));
        assert_eq!(l.take(&Requester::Uid(1001)), Err(Refusal::Broken));
        let message = Refusal::Broken.to_error().to_string();
        assert!(message.contains("restart"), "{message}");
    }
}
