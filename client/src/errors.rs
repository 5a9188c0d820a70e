//! The named D-Bus errors rosterd answers with.

/// Every error rosterd sends, by its D-Bus name `org.roster.Error.*`.
///
/// The message is a sentence meant for a person (`user "bob" not found`);
/// the variant says what the caller should do about it.
#[derive(Clone, Debug, zbus::DBusError, PartialEq)]
#[zbus(prefix = "org.roster.Error", impl_display = true)]
pub enum RosterError {
    /// The bus or the transport failed; the call may not have reached rosterd.
    #[zbus(error)]
    ZBus(zbus::Error),
    /// The named user, environment, session, token or key does not exist.
    NotFound(String),
    /// The caller's uid, role, grants or token scope do not allow the call.
    PermissionDenied(String),
    /// The input breaks a rule (a name, a level, a size, a policy); nothing changed.
    InvalidArgument(String),
    /// The thing to create exists already; nothing changed.
    AlreadyExists(String),
    /// The call contradicts the current state (the last admin, grants that
    /// still exist, a self-suspend); nothing changed.
    Conflict(String),
    /// rosterd can't do it now (the hash queue is full or its deadline
    /// passed); try again later.
    Unavailable(String),
    /// The password or code was wrong.
    AuthFailed(String),
    /// Too many failed attempts; the message says until when.
    Locked(String),
    /// The token presented was voided (password change, suspend, delete).
    TokenRevoked(String),
    /// The token presented is past its expiry.
    TokenExpired(String),
}

impl RosterError {
    /// True when the call never got an answer from rosterd (no bus, no
    /// daemon, a timeout): the caller should say "rosterd is not running".
    pub fn is_unreachable(&self) -> bool {
        match self {
            RosterError::ZBus(zbus::Error::MethodError(name, _, _)) => matches!(
                name.as_str(),
                "org.freedesktop.DBus.Error.ServiceUnknown"
                    | "org.freedesktop.DBus.Error.NameHasNoOwner"
                    | "org.freedesktop.DBus.Error.NoReply"
                    | "org.freedesktop.DBus.Error.Timeout"
            ),
            RosterError::ZBus(zbus::Error::FDO(_)) => true,
            RosterError::ZBus(zbus::Error::InputOutput(_)) => true,
            RosterError::ZBus(zbus::Error::Address(_)) => true,
            RosterError::ZBus(zbus::Error::Handshake(_)) => true,
            _ => false,
        }
    }
}
