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
    /// The change IS made and saved, but rosterd couldn't write the NSS
    /// snapshot: `getent`, `id` and sudo show the state from before it
    /// until rosterd's retry succeeds (no new change is needed). Don't
    /// repeat the change; fix what the message names (the cache folder's
    /// disk) and check rosterd's log.
    SnapshotStale(String),
}

impl RosterError {
    /// True when the call got no answer from rosterd: no bus at the
    /// address, no rosterd on the bus, or no reply in time. The caller
    /// should say "rosterd is not running". A refusal by the bus policy or
    /// an unknown method is an answer, not an absence.
    pub fn is_unreachable(&self) -> bool {
        use zbus::fdo::Error as Fdo;
        let RosterError::ZBus(error) = self else {
            return false;
        };
        match error {
            zbus::Error::Connection(..)
            | zbus::Error::InputOutput(_)
            | zbus::Error::Address(_)
            | zbus::Error::Handshake(_) => true,
            zbus::Error::FDO(fdo) => matches!(
                fdo.as_ref(),
                Fdo::ServiceUnknown(_)
                    | Fdo::NameHasNoOwner(_)
                    | Fdo::NoReply(_)
                    | Fdo::Timeout(_)
                    | Fdo::TimedOut(_)
                    | Fdo::NoServer(_)
                    | Fdo::Disconnected(_)
                    | Fdo::IOError(_)
                    | Fdo::BadAddress(_)
            ),
            zbus::Error::MethodError(name, _, _) => matches!(
                name.as_str(),
                "org.freedesktop.DBus.Error.ServiceUnknown"
                    | "org.freedesktop.DBus.Error.NameHasNoOwner"
                    | "org.freedesktop.DBus.Error.NoReply"
                    | "org.freedesktop.DBus.Error.Timeout"
            ),
            _ => false,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_daemon_and_no_bus_are_unreachable() {
        let missing = RosterError::ZBus(zbus::Error::InputOutput(std::sync::Arc::new(
            std::io::Error::from(std::io::ErrorKind::NotFound),
        )));
        assert!(missing.is_unreachable());
        let no_daemon = RosterError::ZBus(zbus::Error::FDO(Box::new(
            zbus::fdo::Error::ServiceUnknown("no owner".into()),
        )));
        assert!(no_daemon.is_unreachable());
    }

    #[test]
    fn answers_are_not_unreachable() {
        let policy = RosterError::ZBus(zbus::Error::FDO(Box::new(zbus::fdo::Error::AccessDenied(
            "policy".into(),
        ))));
        assert!(!policy.is_unreachable());
        assert!(!RosterError::NotFound("user \"x\" not found".into()).is_unreachable());
    }
}
