//! Fakes for the decisions' unit tests: a scripted libpam, a scripted
//! rosterd, a host with a made-up passwd, and a real snapshot file.

use crate::codes::{Error, Outcome};
use crate::handle::{Ctx, Item, Pam, Token};
use crate::options::Options;
use crate::rosterd::Rosterd;
use crate::snapshot_check::tests::{FakeHost, snapshot_with};
use libc::c_int;
use roster_client::{
    AccountOutcome, AccountReply, AuthOutcome, AuthReply, CurrentPassword, OpenSession,
    RosterError, Secret, SessionOpened,
};
use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;

pub const ALICE_UID: u32 = 1_879_048_193;

pub fn unreachable() -> RosterError {
    RosterError::ZBus(zbus::Error::InputOutput(std::sync::Arc::new(
        std::io::Error::from(std::io::ErrorKind::ConnectionRefused),
    )))
}

/// The error the proxy answers when rosterd's auth reply names
/// `outcome`, a word this side doesn't know: a real decode of the reply's
/// body (outcome, locked_until, message).
pub fn undecodable_auth_reply(outcome: &str) -> RosterError {
    use zbus::wire::{LE, serialized::Context, to_bytes};
    let body = (outcome, 0i64, "");
    let decoded = to_bytes(Context::new(LE, 0), &body)
        .and_then(|data| data.deserialize::<AuthReply>().map(|_| ()));
    match decoded {
        Err(e) => RosterError::ZBus(e),
        // Not a decode error: a test expecting Error::Protocol fails.
        Ok(()) => RosterError::AuthFailed(format!("{outcome:?} decoded after all")),
    }
}

#[derive(Default)]
pub struct FakePam {
    pub user: RefCell<String>,
    pub answers: RefCell<VecDeque<String>>,
    pub prompts: RefCell<Vec<String>>,
    pub errors: RefCell<Vec<String>>,
    pub infos: RefCell<Vec<String>>,
    pub logs: RefCell<Vec<String>>,
    pub tokens: RefCell<HashMap<&'static str, String>>,
    pub service: RefCell<Option<String>>,
    pub tty: RefCell<Option<String>>,
    pub rhost: RefCell<Option<String>>,
}

fn key(token: Token) -> &'static str {
    match token {
        Token::Auth => "authtok",
        Token::Old => "oldauthtok",
    }
}

impl FakePam {
    pub fn prompts(&self) -> Vec<String> {
        self.prompts.borrow().clone()
    }
    pub fn errors(&self) -> Vec<String> {
        self.errors.borrow().clone()
    }
    pub fn infos(&self) -> Vec<String> {
        self.infos.borrow().clone()
    }
    pub fn logs(&self) -> Vec<String> {
        self.logs.borrow().clone()
    }
    pub fn token_value(&self, token: Token) -> Option<String> {
        self.tokens.borrow().get(key(token)).cloned()
    }
    pub fn set_token_value(&self, token: Token, value: &str) {
        self.tokens
            .borrow_mut()
            .insert(key(token), value.to_owned());
    }
}

impl Pam for FakePam {
    fn user(&self) -> Result<String, Error> {
        Ok(self.user.borrow().clone())
    }
    fn item(&self, item: Item) -> Option<String> {
        match item {
            Item::Service => self.service.borrow().clone(),
            Item::Tty => self.tty.borrow().clone(),
            Item::RemoteHost => self.rhost.borrow().clone(),
        }
    }
    fn token(&self, token: Token) -> Result<Option<Secret>, Error> {
        Ok(self.token_value(token).map(Secret::from))
    }
    fn set_token(&self, token: Token, value: &Secret) -> Result<(), Error> {
        self.set_token_value(token, value.expose());
        Ok(())
    }
    fn prompt_hidden(&self, prompt: &str) -> Result<Secret, Error> {
        self.prompts.borrow_mut().push(prompt.to_owned());
        self.answers
            .borrow_mut()
            .pop_front()
            .map(Secret::from)
            .ok_or_else(|| Error::Conversation("no scripted answer".into()))
    }
    fn error(&self, message: &str) {
        self.errors.borrow_mut().push(message.to_owned());
    }
    fn info(&self, message: &str) {
        self.infos.borrow_mut().push(message.to_owned());
    }
    fn log(&self, _priority: c_int, message: &str) {
        self.logs.borrow_mut().push(message.to_owned());
    }
}

/// A scripted answer: `replace` sets the next answers, calls clone it.
pub struct Slot<T>(RefCell<T>);

impl<T: Clone> Slot<T> {
    fn new(value: T) -> Self {
        Slot(RefCell::new(value))
    }
    pub fn replace(&self, value: T) {
        *self.0.borrow_mut() = value;
    }
    fn get(&self) -> T {
        self.0.borrow().clone()
    }
}

pub struct FakeRosterd {
    pub auth: Slot<Result<AuthReply, RosterError>>,
    pub account: Slot<Result<AccountReply, RosterError>>,
    pub session: Slot<Result<SessionOpened, RosterError>>,
    pub close: Slot<Result<(), RosterError>>,
    pub change: Slot<Result<(), RosterError>>,
    pub pending: Slot<Result<bool, RosterError>>,
    calls: RefCell<Vec<String>>,
    secrets: RefCell<Vec<String>>,
    currents: RefCell<Vec<CurrentPassword>>,
}

impl Default for FakeRosterd {
    fn default() -> Self {
        FakeRosterd {
            auth: Slot::new(Ok(AuthReply {
                outcome: AuthOutcome::Success,
                locked_until: 0,
                message: String::new(),
            })),
            account: Slot::new(Ok(AccountReply {
                outcome: AccountOutcome::Ok,
                uid: ALICE_UID,
                message: String::new(),
            })),
            session: Slot::new(Ok(SessionOpened {
                id: 1,
                home_created: false,
                message: String::new(),
            })),
            close: Slot::new(Ok(())),
            change: Slot::new(Ok(())),
            pending: Slot::new(Ok(false)),
            calls: RefCell::new(Vec::new()),
            secrets: RefCell::new(Vec::new()),
            currents: RefCell::new(Vec::new()),
        }
    }
}

impl FakeRosterd {
    pub fn calls(&self) -> Vec<String> {
        self.calls.borrow().clone()
    }
    pub fn last_secret(&self) -> String {
        self.secrets.borrow().last().cloned().unwrap_or_default()
    }
    /// What the last password change rested on.
    pub fn last_current(&self) -> Option<CurrentPassword> {
        self.currents.borrow().last().cloned()
    }
    fn record(&self, call: String) {
        self.calls.borrow_mut().push(call);
    }
}

impl Rosterd for FakeRosterd {
    fn authenticate(
        &self,
        user: &str,
        secret: &Secret,
        remote_host: &str,
    ) -> Result<AuthReply, RosterError> {
        self.record(format!("authenticate {user} rhost={remote_host}"));
        self.secrets.borrow_mut().push(secret.expose().to_owned());
        self.auth.get()
    }
    fn check_account(&self, user: &str) -> Result<AccountReply, RosterError> {
        self.record(format!("check_account {user}"));
        self.account.get()
    }
    fn open_session(&self, r: &OpenSession) -> Result<SessionOpened, RosterError> {
        self.record(format!(
            "open_session {} service={} tty={} rhost={} leader={}@{}",
            r.user, r.service, r.tty, r.remote_host, r.leader_pid, r.leader_start
        ));
        self.session.get()
    }
    fn close_session(&self, user: &str, pid: u32, start: u64) -> Result<(), RosterError> {
        self.record(format!("close_session {user} leader={pid}@{start}"));
        self.close.get()
    }
    fn change_password(
        &self,
        user: &str,
        current: &CurrentPassword,
        new: &Secret,
    ) -> Result<(), RosterError> {
        let shown = match current {
            CurrentPassword::SetByAdmin => "",
            CurrentPassword::Given(secret) => secret.expose(),
        };
        self.record(format!(
            "change_password {user} current={shown} new={}",
            new.expose()
        ));
        self.currents.borrow_mut().push(current.clone());
        self.change.get()
    }
    fn is_pending(&self, user: &str) -> Result<bool, RosterError> {
        self.record(format!("is_pending {user}"));
        self.pending.get()
    }
}

/// One PAM call's surroundings: user `alice` (a Roster user listed in a
/// real snapshot file with the uid the host resolves), run as root.
pub struct World {
    pub pam: FakePam,
    pub rosterd: FakeRosterd,
    pub host: RefCell<FakeHost>,
    pub opts: Options,
    pub flags: c_int,
}

impl World {
    pub fn new(tag: &str) -> World {
        let snapshot: PathBuf = snapshot_with(tag, &[("alice", ALICE_UID)]);
        let pam = FakePam::default();
        pam.user.replace("alice".into());
        World {
            pam,
            rosterd: FakeRosterd::default(),
            host: RefCell::new(FakeHost {
                passwd: [("alice", ALICE_UID), ("bob", 1000), ("root", 0)]
                    .iter()
                    .map(|(n, u)| ((*n).to_owned(), *u))
                    .collect(),
                root: true,
            }),
            opts: Options {
                snapshot,
                ..Options::default()
            },
            flags: 0,
        }
    }
    pub fn user(self, name: &str) -> World {
        self.pam.user.replace(name.into());
        self
    }
    pub fn answers(self, answers: &[&str]) -> World {
        self.pam
            .answers
            .replace(answers.iter().map(|a| (*a).to_owned()).collect());
        self
    }
    pub fn options(mut self, args: &[&str]) -> World {
        let snapshot = self.opts.snapshot.clone();
        self.opts = Options {
            snapshot,
            ..Options::parse(args)
        };
        self
    }
    pub fn flags(mut self, flags: c_int) -> World {
        self.flags = flags;
        self
    }
    pub fn not_root(self) -> World {
        self.host.borrow_mut().root = false;
        self
    }
    pub fn run(&self, decide: fn(&Ctx) -> Result<Outcome, Error>) -> Result<Outcome, Error> {
        let host = self.host.borrow();
        let ctx = Ctx::new(&self.pam, &*host, &self.rosterd, &self.opts, self.flags);
        decide(&ctx)
    }
}
