//! The one bus connection a command uses, and the token presented on it.
//!
//! The CLI honours `DBUS_SYSTEM_BUS_ADDRESS` (DESIGN.md: it runs with its
//! caller's own rights, so a fake bus could only fool its caller); the PAM
//! module, which runs inside setuid programs, never does. The address is
//! kept so that "rosterd is not running" can say where it looked.

use crate::errors::{CliError, from_call};
use roster_client::{
    DEFAULT_SYSTEM_BUS, EnvironmentsProxy, FleetProxy, GrantsProxy, ImportProxy, KeysProxy,
    RegistrationProxy, RosterError, Secret, SessionsProxy, TokenInfo, TokensProxy, UsersProxy,
};
use std::path::Path;
use std::time::Duration;
use zbus::proxy::CacheProperties;

/// The bus the CLI talks to: `$DBUS_SYSTEM_BUS_ADDRESS`, else the standard
/// system bus socket.
pub fn bus_address(from_env: Option<String>) -> String {
    match from_env {
        Some(address) if !address.trim().is_empty() => address,
        _ => DEFAULT_SYSTEM_BUS.to_owned(),
    }
}

/// The token to act with: `--token-file` wins over `$ROSTER_TOKEN`.
///
/// The file holds the token on its first line (surrounding whitespace is
/// ignored, so `roster tokens create > FILE` and an editor's final newline
/// both work). An empty `ROSTER_TOKEN` means no token.
pub fn load_token(
    file: Option<&Path>,
    from_env: Option<String>,
) -> Result<Option<Secret>, CliError> {
    if let Some(path) = file {
        let text = Secret::new(std::fs::read_to_string(path).map_err(|e| {
            CliError::Local(format!("can't read the token file {}: {e}", path.display()))
        })?);
        let token = text.expose().lines().next().unwrap_or("").trim();
        if token.is_empty() {
            return Err(CliError::Local(format!(
                "the token file {} is empty",
                path.display()
            )));
        }
        if token.contains('\0') {
            return Err(CliError::Local(format!(
                "the token file {} holds a NUL byte",
                path.display()
            )));
        }
        return Ok(Some(Secret::from(token)));
    }
    let from_env = from_env.map(Secret::new);
    Ok(from_env
        .as_ref()
        .map(|t| t.expose().trim())
        .filter(|t| !t.is_empty())
        .map(Secret::from))
}

/// How long a command waits for rosterd's answer to one call before it
/// says rosterd did not answer (a stopped or stuck rosterd, the name
/// still owned, would otherwise keep it waiting forever).
///
/// The slowest legitimate call ends a user's processes (suspend, delete,
/// revoke `--end-sessions`): SIGTERM, `end_grace` (5 s by default), then
/// SIGKILL and up to 2 s for the kills to land, repeated for what forked
/// meanwhile: about 7–11 s with the defaults. A password change waits in
/// the hash queue for at most `queue_wait` (2 s) before its hash. 60 s
/// leaves that slowest call several times its usual length on a loaded
/// host; `ROSTER_TIMEOUT` changes it (an `end_grace` of a minute or more
/// needs a longer one).
pub const CALL_TIMEOUT: Duration = Duration::from_secs(60);

/// The longest `ROSTER_TIMEOUT` taken: a day.
const CALL_TIMEOUT_MAX_SECS: u64 = 86_400;

/// The call timeout: `$ROSTER_TIMEOUT` (whole seconds, 1–86400) when set
/// and not empty, else [`CALL_TIMEOUT`].
pub fn call_timeout(from_env: Option<String>) -> Result<Duration, CliError> {
    let Some(text) = from_env.filter(|t| !t.trim().is_empty()) else {
        return Ok(CALL_TIMEOUT);
    };
    match text.trim().parse::<u64>() {
        Ok(secs) if (1..=CALL_TIMEOUT_MAX_SECS).contains(&secs) => Ok(Duration::from_secs(secs)),
        _ => Err(CliError::Usage(format!(
            "ROSTER_TIMEOUT={text:?} is not a number of seconds from 1 to {CALL_TIMEOUT_MAX_SECS} \
             (e.g. ROSTER_TIMEOUT=120); unset it for the default {} s",
            CALL_TIMEOUT.as_secs()
        ))),
    }
}

/// Whether connecting failed because the bus accepted the socket and then
/// closed it (or rejected us) while it checked who we are, rather than
/// because nothing listens at the address (refused, no socket).
///
/// dbus-daemon does that to a uid `getpwuid()` can't resolve: a Roster
/// uid on a host whose nsswitch.conf lacks `roster`. The socket then reads
/// end-of-file or a broken pipe in the middle of the SASL exchange or the
/// `Hello`, where "no socket" is `NotFound` or `ConnectionRefused`.
pub fn closed_during_auth(error: &zbus::Error) -> bool {
    use std::io::ErrorKind;
    match error {
        zbus::Error::Handshake(_) => true,
        zbus::Error::InputOutput(io) => matches!(
            io.kind(),
            ErrorKind::BrokenPipe | ErrorKind::UnexpectedEof | ErrorKind::ConnectionReset
        ),
        _ => false,
    }
}

/// Whether this host's NSS (the same nsswitch.conf the system bus reads)
/// gives `uid` a passwd entry (`getpwuid_r`).
fn uid_resolves(uid: u32) -> bool {
    let mut size = 16 * 1024;
    loop {
        let mut buf = vec![0 as libc::c_char; size];
        // SAFETY: `pwd` is plain data that getpwuid_r fills; `buf` outlives
        // the call and its length is passed; `result` is only read after.
        let mut pwd: libc::passwd = unsafe { std::mem::zeroed() };
        let mut result: *mut libc::passwd = std::ptr::null_mut();
        let rc =
            unsafe { libc::getpwuid_r(uid, &mut pwd, buf.as_mut_ptr(), buf.len(), &mut result) };
        if rc == libc::ERANGE && size < 1024 * 1024 {
            size *= 4;
            continue;
        }
        return rc == 0 && !result.is_null();
    }
}

/// Prints "store failing over, retrying" when rosterd says so
/// ([`roster_client::RETRYING_SIGNAL`], sent to this connection alone while
/// a change it forwarded waits for the controller's store), on a thread of
/// its own that only reads this connection's incoming messages; the
/// command keeps waiting for its answer. The line is this program's own
/// words (the signal's body is only a request id, checked for its form), so
/// another bus client can't make it print anything else.
fn say_when_retrying(conn: &zbus::Connection) {
    use zbus::export::futures_core::Stream;
    let mut incoming = zbus::MessageStream::from(conn);
    let spawned = std::thread::Builder::new()
        .name("roster-retrying".into())
        .spawn(move || {
            zbus::block_on(async move {
                let mut said = false;
                while let Some(message) =
                    std::future::poll_fn(|cx| std::pin::Pin::new(&mut incoming).poll_next(cx)).await
                {
                    let Ok(message) = message else { continue };
                    let header = message.header();
                    let ours = message.message_type() == zbus::message::Type::Signal
                        && header.interface().map(|i| i.as_str())
                            == Some(roster_client::FLEET_INTERFACE)
                        && header.member().map(|m| m.as_str())
                            == Some(roster_client::RETRYING_SIGNAL);
                    if !ours || said {
                        continue;
                    }
                    let id = message.body().deserialize::<String>().unwrap_or_default();
                    let plain = (16..=64).contains(&id.len())
                        && id
                            .chars()
                            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
                    if plain {
                        eprintln!("roster: store failing over, retrying (request {id})");
                    } else {
                        eprintln!("roster: store failing over, retrying");
                    }
                    said = true;
                }
            });
        });
    if let Err(e) = spawned {
        // Without it the command still works: it only waits unannounced.
        if std::env::var_os("ROSTER_DEBUG").is_some() {
            eprintln!("roster: debug: no thread to listen for rosterd's notices: {e}");
        }
    }
}

pub struct Client {
    conn: zbus::Connection,
    address: String,
    timeout: Option<Duration>,
}

impl Client {
    /// Connects to the bus at `address`. `timeout` bounds every call:
    /// [`CALL_TIMEOUT`] for commands, shorter for sshd's
    /// AuthorizedKeysCommand (which must never stall a login) and the doctor.
    pub async fn connect(address: &str, timeout: Option<Duration>) -> Result<Client, CliError> {
        let unreachable = |e: zbus::Error| {
            if std::env::var_os("ROSTER_DEBUG").is_some() {
                eprintln!("roster: debug: {e:?}");
            }
            if closed_during_auth(&e) {
                // SAFETY: geteuid has no preconditions and can't fail.
                // The bus sees the effective uid (SO_PEERCRED).
                let uid = unsafe { libc::geteuid() };
                CliError::BusRefused {
                    address: address.to_owned(),
                    uid,
                    resolves_here: uid_resolves(uid),
                }
            } else {
                CliError::Unreachable {
                    address: address.to_owned(),
                }
            }
        };
        let mut builder = zbus::connection::Builder::address(address);
        if let Some(timeout) = timeout {
            builder = builder.method_timeout(timeout);
        }
        // method_timeout bounds calls only: the connect, SASL and Hello
        // round trips are bounded here, or a stopped bus daemon (which
        // still accepts on its socket) would hold the command forever.
        let handshake = builder.build();
        let conn = match timeout {
            Some(after) => {
                let runtime = zruntime::SharedRuntime::current().map_err(|e| {
                    CliError::Local(format!("can't start the bus connection's runtime: {e}"))
                })?;
                match runtime.timeout(after, handshake).await {
                    Ok(connected) => connected.map_err(unreachable)?,
                    Err(_) => {
                        return Err(CliError::NoAnswer {
                            address: address.to_owned(),
                            after,
                        });
                    }
                }
            }
            None => handshake.await.map_err(unreachable)?,
        };
        say_when_retrying(&conn);
        Ok(Client {
            conn,
            address: address.to_owned(),
            timeout,
        })
    }

    /// Binds `token` to this connection: every later call acts as the
    /// token's user within its scope.
    pub async fn present(&self, token: &Secret) -> Result<TokenInfo, CliError> {
        let tokens = self.tokens().await?;
        tokens
            .present(token.expose())
            .await
            .map_err(|e| self.error(e))
    }

    /// An error from a call, turned into "rosterd is not running" when
    /// nothing answered, or "rosterd did not answer" when the call timed out.
    pub fn error(&self, error: RosterError) -> CliError {
        if let (Some(after), RosterError::ZBus(zbus::Error::InputOutput(io))) =
            (self.timeout, &error)
            && io.kind() == std::io::ErrorKind::TimedOut
        {
            return CliError::NoAnswer {
                address: self.address.clone(),
                after,
            };
        }
        from_call(error, &self.address)
    }

    fn build_error(&self, error: zbus::Error) -> CliError {
        self.error(RosterError::ZBus(error))
    }

    pub async fn users(&self) -> Result<UsersProxy<'_>, CliError> {
        // Roster's interfaces have no properties: caching them would only
        // add a round trip and a match rule per command.
        UsersProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| self.build_error(e))
    }

    pub async fn grants(&self) -> Result<GrantsProxy<'_>, CliError> {
        GrantsProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| self.build_error(e))
    }

    pub async fn environments(&self) -> Result<EnvironmentsProxy<'_>, CliError> {
        EnvironmentsProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| self.build_error(e))
    }

    pub async fn sessions(&self) -> Result<SessionsProxy<'_>, CliError> {
        SessionsProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| self.build_error(e))
    }

    pub async fn tokens(&self) -> Result<TokensProxy<'_>, CliError> {
        TokensProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| self.build_error(e))
    }

    pub async fn secrets(&self) -> Result<roster_client::SecretsProxy<'_>, CliError> {
        roster_client::SecretsProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| self.build_error(e))
    }

    pub async fn keys(&self) -> Result<KeysProxy<'_>, CliError> {
        KeysProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| self.build_error(e))
    }

    pub async fn fleet(&self) -> Result<FleetProxy<'_>, CliError> {
        FleetProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| self.build_error(e))
    }

    pub async fn import(&self) -> Result<ImportProxy<'_>, CliError> {
        ImportProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| self.build_error(e))
    }

    pub async fn registration(&self) -> Result<RegistrationProxy<'_>, CliError> {
        RegistrationProxy::builder(&self.conn)
            .cache_properties(CacheProperties::No)
            .build()
            .await
            .map_err(|e| self.build_error(e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn the_environment_names_the_bus() {
        assert_eq!(
            bus_address(Some("unix:path=/tmp/bus".into())),
            "unix:path=/tmp/bus"
        );
        assert_eq!(bus_address(None), "unix:path=/run/dbus/system_bus_socket");
        assert_eq!(
            bus_address(Some(String::new())),
            "unix:path=/run/dbus/system_bus_socket"
        );
    }

    #[test]
    fn a_bus_closing_mid_auth_is_not_a_missing_bus() {
        use std::io::{Error, ErrorKind};
        let io = |kind| zbus::Error::InputOutput(std::sync::Arc::new(Error::from(kind)));
        // What dbus-daemon does to a uid it can't resolve.
        assert!(closed_during_auth(&zbus::Error::InputOutput(
            std::sync::Arc::new(Error::new(
                ErrorKind::BrokenPipe,
                "failed to read from socket"
            ))
        )));
        assert!(closed_during_auth(&io(ErrorKind::UnexpectedEof)));
        assert!(closed_during_auth(&io(ErrorKind::ConnectionReset)));
        assert!(closed_during_auth(&zbus::Error::Handshake(
            "REJECTED".into()
        )));
        // Nothing listening: rosterd (or the bus) is not running.
        assert!(!closed_during_auth(&io(ErrorKind::NotFound)));
        assert!(!closed_during_auth(&io(ErrorKind::ConnectionRefused)));
        assert!(!closed_during_auth(&io(ErrorKind::PermissionDenied)));
    }

    #[test]
    fn root_resolves_and_an_unlisted_uid_does_not() {
        assert!(uid_resolves(0));
        assert!(!uid_resolves(4_000_000_000));
    }

    #[test]
    fn the_call_timeout_is_a_minute_unless_roster_timeout_says() {
        assert_eq!(call_timeout(None).unwrap(), Duration::from_secs(60));
        assert_eq!(call_timeout(Some(" ".into())).unwrap(), CALL_TIMEOUT);
        assert_eq!(
            call_timeout(Some("5".into())).unwrap(),
            Duration::from_secs(5)
        );
        for bad in ["0", "-1", "5s", "abc", "86401", "1.5"] {
            let e = call_timeout(Some(bad.into())).expect_err(bad);
            assert_eq!(e.exit_code(), 2, "{bad}");
            assert!(e.to_string().contains("ROSTER_TIMEOUT"), "{e}");
        }
    }

    #[test]
    fn a_token_file_wins_over_the_environment() {
        let dir = std::env::temp_dir().join(format!("roster-cli-token-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("temp dir");
        let path = dir.join("token");
        let mut f = std::fs::File::create(&path).expect("create");
        writeln!(f, "  rt_file_token  ").expect("write");
        let token = load_token(Some(&path), Some("rt_env".into()))
            .expect("loads")
            .expect("some");
        assert_eq!(token.expose(), "rt_file_token");

        std::fs::write(&path, "\n").expect("write");
        assert!(load_token(Some(&path), None).is_err());
        let missing = load_token(Some(&dir.join("missing")), None).expect_err("missing file");
        assert!(
            missing.to_string().contains("can't read the token file"),
            "{missing}"
        );
        std::fs::remove_dir_all(&dir).expect("cleanup");
    }

    #[test]
    fn the_environment_token_is_used_when_set() {
        assert_eq!(
            load_token(None, Some("rt_env".into()))
                .expect("ok")
                .expect("some")
                .expose(),
            "rt_env"
        );
        assert!(load_token(None, Some(" ".into())).expect("ok").is_none());
        assert_eq!(
            load_token(None, Some("rt_x\n".into()))
                .expect("ok")
                .expect("some")
                .expose(),
            "rt_x"
        );
        assert!(load_token(None, None).expect("ok").is_none());
    }
}
