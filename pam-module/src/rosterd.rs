//! Talking with rosterd: the [`Rosterd`] trait the decisions use, and
//! [`BusRosterd`], which makes each call on a fresh bus connection inside
//! one `zbus::block_on`, bounded by `timeout=`, and closes the connection
//! before returning so that no zbus helper thread is left in the host
//! process. The connection's round trips: the SASL handshake (one write,
//! one answer), then the bus's `Hello` and the call together.

use crate::codes::Error;
use crate::options::Options;
use roster_client::{
    AccountReply, AuthReply, CurrentPassword, OpenSession, PamProxy, RosterError, Secret,
    SessionOpened,
};
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

/// rosterd's PAM interface, one blocking call each.
pub trait Rosterd {
    fn authenticate(
        &self,
        user: &str,
        secret: &Secret,
        remote_host: &str,
    ) -> Result<AuthReply, RosterError>;
    fn check_account(&self, user: &str) -> Result<AccountReply, RosterError>;
    fn open_session(&self, request: &OpenSession) -> Result<SessionOpened, RosterError>;
    fn close_session(
        &self,
        user: &str,
        leader_pid: u32,
        leader_start: u64,
    ) -> Result<(), RosterError>;
    fn change_password(
        &self,
        user: &str,
        current: &CurrentPassword,
        new: &Secret,
    ) -> Result<(), RosterError>;
    fn is_pending(&self, user: &str) -> Result<bool, RosterError>;
}

/// rosterd's errors that every call site treats alike. Call sites match
/// the ones they give a meaning of their own first (a wrong password, a
/// policy failure).
pub fn classify(error: RosterError) -> Error {
    match error {
        // A reply that doesn't decode (a word of a closed set this module
        // doesn't know, a wrong signature): rosterd answered, but not
        // something this module understands. zbus turns every decode error
        // into `Failure`.
        RosterError::ZBus(zbus::Error::Failure(m)) => {
            Error::Protocol(format!("rosterd's answer doesn't decode: {m}"))
        }
        // No answer from rosterd at all: no bus, no daemon, a timeout.
        // Whatever zbus says, rosterd's answer is unavailable.
        RosterError::ZBus(e) => Error::Unreachable(e.to_string()),
        RosterError::Unavailable(m) => Error::Unreachable(m),
        RosterError::AuthFailed(_) => Error::AuthFailed,
        RosterError::Locked(_) => Error::Locked,
        RosterError::NotFound(_) => Error::NotRosterUser("unknown to rosterd"),
        RosterError::PermissionDenied(m) => Error::CallerRefused(m),
        RosterError::InvalidArgument(m)
        | RosterError::AlreadyExists(m)
        | RosterError::Conflict(m)
        | RosterError::TokenRevoked(m)
        | RosterError::TokenExpired(m)
        | RosterError::SnapshotStale(m) => Error::Protocol(m),
    }
}

/// rosterd on a D-Bus bus at a fixed address.
pub struct BusRosterd {
    address: String,
    timeout: Duration,
}

impl BusRosterd {
    /// The address comes from `bus=` or the standard system bus socket,
    /// never from the environment.
    pub fn new(opts: &Options) -> Self {
        BusRosterd {
            address: opts.bus.clone(),
            timeout: opts.timeout,
        }
    }

    /// Connects, runs `call` on a Pam proxy, and closes the connection,
    /// all inside one `zbus::block_on` and all within `timeout`.
    fn call<T, F, Fut>(&self, call: F) -> Result<T, RosterError>
    where
        F: FnOnce(PamProxy<'static>) -> Fut,
        Fut: Future<Output = Result<T, RosterError>>,
    {
        zbus::block_on(async {
            // The thread's zbus runtime, for its timer: the same runtime the
            // connection runs on, so the deadline is watched by the same
            // reactor and needs no thread of its own.
            let runtime = zruntime::SharedRuntime::current()
                .map_err(|e| RosterError::ZBus(zbus::Error::InputOutput(Arc::new(e))))?;
            let talk = async {
                // Authenticated, without zbus's own `Hello` (`p2p`): the
                // bus's `Hello` goes out right before the call instead, so
                // the two share one round trip rather than waiting for the
                // unique name, which this module never uses.
                let connection = zbus::connection::Builder::address(self.address.as_str())
                    .p2p()
                    .method_timeout(self.timeout)
                    .build()
                    .await?;
                let result = async {
                    connection.send(&bus_hello()?).await?;
                    let proxy = PamProxy::builder(&connection)
                        // No properties on this interface: don't subscribe
                        // to PropertiesChanged (one round trip fewer).
                        .cache_properties(zbus::proxy::CacheProperties::No)
                        .build()
                        .await?;
                    call(proxy).await
                }
                .await;
                // Closed here, inside block_on: a connection still alive when
                // block_on returns would be handed to a zbus helper thread.
                let _ = connection.close().await;
                result
            };
            match runtime.timeout(self.timeout, talk).await {
                Ok(result) => result,
                // Dropping `talk` dropped the connection, inside block_on.
                Err(_) => Err(RosterError::ZBus(zbus::Error::InputOutput(Arc::new(
                    std::io::Error::new(
                        std::io::ErrorKind::TimedOut,
                        format!("rosterd didn't answer within {:?}", self.timeout),
                    ),
                )))),
            }
        })
    }
}

/// The bus's `Hello`, which must be a connection's first message: the
/// bus refuses anything else before it and answers it with the unique
/// name, which nobody here waits for (zbus drops a reply no call awaits).
/// Sent first on the connection and followed at once by the call, the bus
/// handles both in order, one round trip for the two.
fn bus_hello() -> Result<zbus::Message, RosterError> {
    Ok(zbus::Message::method_call("/org/freedesktop/DBus", "Hello")
        .destination("org.freedesktop.DBus")
        .interface("org.freedesktop.DBus")
        .build(&())?)
}

/// This process's real uid, for rosterd's fair queuing: `su` and
/// `passwd` are setuid, so their calls reach the bus as root, while the
/// real uid still names the user who ran them.
fn real_uid() -> u32 {
    // SAFETY: getuid has no preconditions and can't fail.
    unsafe { libc::getuid() }
}

impl Rosterd for BusRosterd {
    fn authenticate(
        &self,
        user: &str,
        secret: &Secret,
        remote_host: &str,
    ) -> Result<AuthReply, RosterError> {
        self.call(|p| async move {
            p.authenticate(user, secret.expose(), remote_host, real_uid())
                .await
        })
    }

    fn check_account(&self, user: &str) -> Result<AccountReply, RosterError> {
        self.call(|p| async move { p.check_account(user).await })
    }

    fn open_session(&self, request: &OpenSession) -> Result<SessionOpened, RosterError> {
        self.call(|p| async move { p.open_session(request).await })
    }

    fn close_session(
        &self,
        user: &str,
        leader_pid: u32,
        leader_start: u64,
    ) -> Result<(), RosterError> {
        self.call(|p| async move { p.close_session(user, leader_pid, leader_start).await })
    }

    fn change_password(
        &self,
        user: &str,
        current: &CurrentPassword,
        new: &Secret,
    ) -> Result<(), RosterError> {
        self.call(|p| async move {
            p.change_password(user, current, new.expose(), real_uid())
                .await
        })
    }

    fn is_pending(&self, user: &str) -> Result<bool, RosterError> {
        self.call(|p| async move { p.is_pending(user).await })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Read;
    use std::os::unix::net::UnixListener;
    use std::time::Instant;

    /// Serialises the tests that talk over a socket, so one test's call
    /// can't be mistaken for another's leftover thread.
    static SERIAL: std::sync::Mutex<()> = std::sync::Mutex::new(());

    /// Threads of zbus's runtime in this process ("zruntime", the helper
    /// that takes over a connection left alive, and "zruntime blocking
    /// work"). Counted by name: the test harness runs other threads.
    fn zbus_threads() -> usize {
        std::fs::read_dir("/proc/self/task")
            .map(|d| {
                d.filter_map(|t| t.ok())
                    .filter_map(|t| std::fs::read_to_string(t.path().join("comm")).ok())
                    .filter(|comm| comm.starts_with("zruntime"))
                    .count()
            })
            .unwrap_or(0)
    }

    fn rosterd_at(address: String, timeout: Duration) -> BusRosterd {
        BusRosterd { address, timeout }
    }

    #[test]
    fn a_missing_bus_is_unreachable_at_once() {
        let _serial = SERIAL.lock();
        let r = rosterd_at(
            "unix:path=/nonexistent/roster-test-bus".into(),
            Duration::from_secs(3),
        );
        let started = Instant::now();
        let err = r.is_pending("alice").unwrap_err();
        assert!(matches!(classify(err), Error::Unreachable(_)));
        assert!(started.elapsed() < Duration::from_secs(1));
    }

    /// A socket standing in for the bus, in a folder of its own:
    /// (the folder, the socket's path, the listener).
    fn fake_bus(tag: &str) -> (std::path::PathBuf, std::path::PathBuf, UnixListener) {
        let dir = std::env::temp_dir().join(format!("pam-roster-{tag}-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("bus");
        let _ = std::fs::remove_file(&path);
        let listener = UnixListener::bind(&path).unwrap();
        (dir, path, listener)
    }

    #[test]
    fn a_bus_that_never_answers_times_out_and_leaves_no_thread() {
        // Accepts the connection, reads the handshake, never answers: the
        // SASL exchange itself must be bounded, not only the method call.
        let _serial = SERIAL.lock();
        let (dir, path, listener) = fake_bus("hang");
        let server = std::thread::spawn(move || {
            let (mut s, _) = listener.accept().unwrap();
            let mut buf = [0u8; 256];
            // Hold the socket open until the client gives up.
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
            }
        });
        let r = rosterd_at(
            format!("unix:path={}", path.display()),
            Duration::from_millis(300),
        );
        let started = Instant::now();
        let err = r.check_account("alice").unwrap_err();
        let took = started.elapsed();
        assert!(matches!(classify(err), Error::Unreachable(_)));
        assert!(took >= Duration::from_millis(300), "{took:?}");
        assert!(took < Duration::from_secs(2), "{took:?}");
        assert_eq!(zbus_threads(), 0, "a zbus thread outlived the call");
        server.join().unwrap();
        let _ = std::fs::remove_dir_all(&dir);
    }

    /// A bus that answers the SASL handshake and then reads messages
    /// without answering any: both the bus's `Hello` (first, as the bus
    /// requires) and the call must reach it without waiting for a reply
    /// to the `Hello`, the round trip this module no longer spends.
    #[test]
    fn the_hello_and_the_call_go_out_together_hello_first() {
        let _serial = SERIAL.lock();
        let (dir, path, listener) = fake_bus("pipe");
        let server = std::thread::spawn(move || {
            use std::io::Write;
            let (mut s, _) = listener.accept().unwrap();
            s.set_read_timeout(Some(Duration::from_secs(5))).unwrap();
            let mut seen = Vec::new();
            let mut buf = [0u8; 4096];
            let contains =
                |hay: &[u8], needle: &[u8]| hay.windows(needle.len()).position(|w| w == needle);
            while contains(&seen, b"BEGIN\r\n").is_none() {
                let n = s.read(&mut buf).unwrap();
                assert!(n > 0, "closed during the handshake");
                seen.extend_from_slice(&buf[..n]);
            }
            let mut answer = b"OK 0123456789abcdef0123456789abcdef\r\n".to_vec();
            if contains(&seen, b"NEGOTIATE_UNIX_FD").is_some() {
                answer.extend_from_slice(b"AGREE_UNIX_FD\r\n");
            }
            s.write_all(&answer).unwrap();
            // Nothing more is answered: read until the client gives up.
            while let Ok(n) = s.read(&mut buf) {
                if n == 0 {
                    break;
                }
                seen.extend_from_slice(&buf[..n]);
            }
            (contains(&seen, b"Hello"), contains(&seen, b"IsPending"))
        });
        let r = rosterd_at(
            format!("unix:path={}", path.display()),
            Duration::from_millis(300),
        );
        let err = r.is_pending("alice").unwrap_err();
        assert!(matches!(classify(err), Error::Unreachable(_)));
        let (hello, call) = server.join().unwrap();
        let (hello, call) = (hello.expect("no Hello"), call.expect("no call"));
        assert!(hello < call, "the call went out before the Hello");
        assert_eq!(zbus_threads(), 0, "a zbus thread outlived the call");
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn rosterds_named_errors_keep_their_meaning() {
        assert_eq!(
            classify(RosterError::AuthFailed("x".into())),
            Error::AuthFailed
        );
        assert_eq!(classify(RosterError::Locked("x".into())), Error::Locked);
        assert!(matches!(
            classify(RosterError::Unavailable("queue full".into())),
            Error::Unreachable(_)
        ));
        assert!(matches!(
            classify(RosterError::PermissionDenied("x".into())),
            Error::CallerRefused(_)
        ));
        assert!(matches!(
            classify(RosterError::NotFound("x".into())),
            Error::NotRosterUser(_)
        ));
    }
}
