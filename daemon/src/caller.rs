//! Who is calling: every method call's sender (a unique bus name) resolved
//! to the peer's uid and pid through the bus daemon's credentials, and the
//! token (if any) bound to that connection with `Tokens.Present`.
//!
//! A unique name is never reused by the bus, so what we learn about one
//! stays true until it leaves; we keep it in a map and drop it when
//! `NameOwnerChanged` says the name is gone. Leaving also marks the peer
//! `gone`, which the argon2 queue checks so a caller that gave up costs no
//! hash.

use crate::procfs::Proc;
use futures_util::StreamExt;
use roster_client::RosterError;
use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use zbus::fdo::DBusProxy;
use zbus::names::{BusName, UniqueName};

/// How many recently vanished names we remember (see [`Peers::resolve`]).
const RECENTLY_GONE: usize = 4096;

/// One connection on the bus that called us.
#[derive(Debug)]
pub struct Peer {
    pub uid: u32,
    /// 0 when the bus did not tell.
    pub pid: u32,
    /// Set when the connection left the bus.
    pub gone: AtomicBool,
    token: Mutex<Option<String>>,
    /// On an enrolled host: the token or `roster login` session this
    /// connection presented, whole, for the controller to check on each
    /// change (the host holds no tokens to check it against).
    fleet_token: Mutex<Option<roster_core::Secret>>,
    /// On an enrolled host: a Roster name and current password this
    /// connection presented (`Fleet.PresentPassword`), for the changes a
    /// session may not make (a token, one's own key).
    fleet_password: Mutex<Option<(String, roster_core::Secret)>>,
}

impl Peer {
    pub fn new(uid: u32, pid: u32) -> Peer {
        Peer {
            uid,
            pid,
            gone: AtomicBool::new(false),
            token: Mutex::new(None),
            fleet_token: Mutex::new(None),
            fleet_password: Mutex::new(None),
        }
    }

    /// The public id of the token bound to this connection, if any. An
    /// error when that can't be known (a panic poisoned the lock): the
    /// call is refused rather than run with the uid's own rights, which
    /// may be wider than the token's scope.
    pub fn token(&self) -> Result<Option<String>, RosterError> {
        match self.token.lock() {
            Ok(t) => Ok(t.clone()),
            Err(_) => Err(token_unknown()),
        }
    }

    /// Binds the token `id` to this connection (`Tokens.Present`); an
    /// error when the binding can't be recorded, so the caller never
    /// believes its later calls run as the token when they wouldn't.
    pub fn bind_token(&self, id: String) -> Result<(), RosterError> {
        match self.token.lock() {
            Ok(mut t) => {
                *t = Some(id);
                Ok(())
            }
            Err(_) => Err(token_unknown()),
        }
    }

    /// The credential this connection presented on an enrolled host.
    pub fn fleet_token(&self) -> Result<Option<roster_core::Secret>, RosterError> {
        match self.fleet_token.lock() {
            Ok(t) => Ok(t.clone()),
            Err(_) => Err(token_unknown()),
        }
    }

    pub fn bind_fleet_token(&self, token: roster_core::Secret) -> Result<(), RosterError> {
        match self.fleet_token.lock() {
            Ok(mut t) => {
                *t = Some(token);
                Ok(())
            }
            Err(_) => Err(token_unknown()),
        }
    }

    pub fn fleet_password(&self) -> Result<Option<(String, roster_core::Secret)>, RosterError> {
        match self.fleet_password.lock() {
            Ok(p) => Ok(p.clone()),
            Err(_) => Err(token_unknown()),
        }
    }

    pub fn bind_fleet_password(
        &self,
        user: String,
        password: roster_core::Secret,
    ) -> Result<(), RosterError> {
        match self.fleet_password.lock() {
            Ok(mut p) => {
                *p = Some((user, password));
                Ok(())
            }
            Err(_) => Err(token_unknown()),
        }
    }

    /// The caller's login uid (`sudo roster …` keeps the person's), read
    /// at the time of the call.
    pub fn login_uid(&self) -> Option<u32> {
        if self.pid == 0 {
            return None;
        }
        Proc::default().login_uid(self.pid)
    }

    #[cfg(test)]
    pub fn is_gone(&self) -> bool {
        self.gone.load(Ordering::SeqCst)
    }

    /// The Caller core resolves into an Actor. PAM operations go by the
    /// uid alone (DESIGN.md: tokens never authorize them). An error when
    /// the bound token can't be read: see [`Peer::token`].
    pub fn caller(&self, with_token: bool) -> Result<roster_core::Caller, RosterError> {
        Ok(roster_core::Caller {
            uid: self.uid,
            token_id: if with_token { self.token()? } else { None },
        })
    }
}

/// The connection's token can't be known: refuse (the connection may
/// have bound a token narrower than its uid).
fn token_unknown() -> RosterError {
    crate::errors::internal("a connection's token binding is unreadable (its lock was poisoned)")
}

#[derive(Default)]
struct Gone {
    order: VecDeque<String>,
    set: HashSet<String>,
}

#[derive(Default)]
pub struct Peers {
    map: Mutex<HashMap<String, Arc<Peer>>>,
    gone: Mutex<Gone>,
}

impl Peers {
    /// The peer behind `sender`, asking the bus for its credentials the
    /// first time.
    pub async fn resolve(
        &self,
        dbus: &DBusProxy<'_>,
        sender: &UniqueName<'_>,
    ) -> Result<Arc<Peer>, RosterError> {
        if let Some(peer) = self.known(sender.as_str())? {
            return Ok(peer);
        }
        let credentials = dbus
            .get_connection_credentials(BusName::Unique(sender.to_owned()))
            .await
            .map_err(|e| RosterError::Unavailable(format!("can't learn who the caller is: {e}")))?;
        let uid = credentials.unix_user_id().ok_or_else(|| {
            RosterError::PermissionDenied("the bus did not say which uid is calling".into())
        })?;
        let pid = credentials.process_id().unwrap_or(0);
        let peer = Arc::new(Peer::new(uid, pid));
        // The name may have left between the bus's answer and now, with
        // its NameOwnerChanged handled first: remember it as gone then.
        let left = self
            .gone
            .lock()
            .map(|g| g.set.contains(sender.as_str()))
            .unwrap_or(false);
        if left {
            peer.gone.store(true, Ordering::SeqCst);
            return Ok(peer);
        }
        match self.map.lock() {
            Ok(mut map) => Ok(map.entry(sender.to_string()).or_insert(peer).clone()),
            Err(_) => Err(crate::errors::internal(
                "the map of callers is unreadable (its lock was poisoned)",
            )),
        }
    }

    /// The peer already learnt for `sender`. An error when the map can't
    /// be read (a panic poisoned its lock): a connection that presented a
    /// token must never come back as a fresh peer without it.
    fn known(&self, sender: &str) -> Result<Option<Arc<Peer>>, RosterError> {
        match self.map.lock() {
            Ok(map) => Ok(map.get(sender).cloned()),
            Err(_) => Err(crate::errors::internal(
                "the map of callers is unreadable (its lock was poisoned)",
            )),
        }
    }

    /// A unique name left the bus.
    pub fn vanished(&self, name: &str) {
        if let Some(peer) = self.map.lock().ok().and_then(|mut m| m.remove(name)) {
            peer.gone.store(true, Ordering::SeqCst);
        }
        if let Ok(mut gone) = self.gone.lock()
            && gone.set.insert(name.to_owned())
        {
            gone.order.push_back(name.to_owned());
            if gone.order.len() > RECENTLY_GONE
                && let Some(old) = gone.order.pop_front()
            {
                gone.set.remove(&old);
            }
        }
    }

    /// How many connections we know.
    #[cfg(test)]
    pub fn len(&self) -> usize {
        self.map.lock().map(|m| m.len()).unwrap_or(0)
    }
}

/// Follows `NameOwnerChanged` until the connection closes, marking the
/// unique names that leave. Subscribed before the name is requested, so no
/// caller can leave unseen.
pub async fn watch_departures(
    dbus: DBusProxy<'static>,
    peers: Arc<Peers>,
) -> zbus::Result<impl std::future::Future<Output = ()>> {
    let mut stream = dbus.receive_name_owner_changed().await?;
    Ok(async move {
        while let Some(signal) = stream.next().await {
            let Ok(args) = signal.args() else { continue };
            if let BusName::Unique(name) = &args.name
                && args.new_owner.is_none()
            {
                peers.vanished(name.as_str());
            }
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_vanished_name_marks_its_peer_gone() {
        let peers = Peers::default();
        let peer = Arc::new(Peer::new(1000, 42));
        if let Ok(mut m) = peers.map.lock() {
            m.insert(":1.5".into(), peer.clone());
        }
        assert!(!peer.is_gone());
        peers.vanished(":1.5");
        assert!(peer.is_gone());
        assert_eq!(peers.len(), 0);
    }

    #[test]
    fn tokens_bind_to_the_peer_and_never_reach_pam() {
        let peer = Peer::new(1000, 1);
        assert_eq!(peer.caller(true).ok().and_then(|c| c.token_id), None);
        assert!(peer.bind_token("tok123".into()).is_ok());
        assert_eq!(
            peer.caller(true).ok().and_then(|c| c.token_id).as_deref(),
            Some("tok123")
        );
        assert_eq!(peer.caller(false).ok().and_then(|c| c.token_id), None);
    }

    /// Poisons `lock` the way a real bug would: a thread panics holding it.
    fn poison<T: Send>(lock: &Mutex<T>) {
        let died = std::thread::scope(|s| {
            s.spawn(|| {
                let _held = lock.lock();
                panic!("poisoning the lock on purpose");
            })
            .join()
        });
        assert!(died.is_err() && lock.is_poisoned());
    }

    #[test]
    fn a_poisoned_token_lock_refuses_the_call_instead_of_dropping_the_token() {
        let peer = Peer::new(1000, 1);
        assert!(peer.bind_token("tok123".into()).is_ok());
        poison(&peer.token);
        // Not "no token" (the uid's own, wider rights): an error.
        assert!(matches!(peer.token(), Err(RosterError::Unavailable(_))));
        assert!(matches!(
            peer.caller(true),
            Err(RosterError::Unavailable(_))
        ));
        assert!(matches!(
            peer.bind_token("other".into()),
            Err(RosterError::Unavailable(_))
        ));
        // PAM's calls go by the uid alone and never read the token.
        assert_eq!(
            peer.caller(false).ok().map(|c| (c.uid, c.token_id)),
            Some((1000, None))
        );
    }

    #[test]
    fn a_poisoned_peer_map_refuses_instead_of_forgetting_the_token() {
        let peers = Peers::default();
        let peer = Arc::new(Peer::new(1000, 42));
        assert!(peer.bind_token("tok123".into()).is_ok());
        if let Ok(mut m) = peers.map.lock() {
            m.insert(":1.5".into(), peer);
        }
        assert!(matches!(peers.known(":1.5"), Ok(Some(_))));
        poison(&peers.map);
        // Not a fresh peer without the token: an error.
        assert!(matches!(
            peers.known(":1.5"),
            Err(RosterError::Unavailable(_))
        ));
    }
}
