//! Every error rosterd answers on the bus comes out of [`to_bus`]: one
//! place that maps core's errors onto the named D-Bus errors, so a caller
//! always gets the same name for the same condition.

use roster_client::RosterError;

/// core's error → the named D-Bus error the proxies decode.
///
/// `Store` is rosterd's own failure (a full disk, a broken file): the
/// caller can only try again later, so it is `Unavailable`, and the detail
/// goes to stderr rather than to a possibly unprivileged caller.
/// Anything core's error comes from (a level name parsed by the config
/// crate's `Level`) maps the same way.
pub fn to_bus(error: impl Into<roster_core::Error>) -> RosterError {
    use roster_core::Error as E;
    match error.into() {
        E::NotFound(m) => RosterError::NotFound(m),
        E::PermissionDenied(m) => RosterError::PermissionDenied(m),
        E::InvalidArgument(m) => RosterError::InvalidArgument(m),
        E::AlreadyExists(m) => RosterError::AlreadyExists(m),
        E::Conflict(m) => RosterError::Conflict(m),
        E::AuthFailed(m) => RosterError::AuthFailed(m),
        E::Locked { message, .. } => RosterError::Locked(message),
        E::TokenRevoked(m) => RosterError::TokenRevoked(m),
        E::TokenExpired(m) => RosterError::TokenExpired(m),
        E::Config(m) => {
            eprintln!("rosterd: configuration error while serving a call: {m}");
            RosterError::Unavailable("rosterd's configuration is wrong: see its log".into())
        }
        E::Store(m) => {
            eprintln!("rosterd: database error: {m}");
            RosterError::Unavailable(
                "rosterd's database failed: see rosterd's log, then try again".into(),
            )
        }
    }
}

/// A short, secret-free word for the audit line's `result=`.
pub fn result_word(error: &RosterError) -> &'static str {
    match error {
        RosterError::ZBus(_) => "bus-error",
        RosterError::NotFound(_) => "not-found",
        RosterError::PermissionDenied(_) => "denied",
        RosterError::InvalidArgument(_) => "invalid",
        RosterError::AlreadyExists(_) => "exists",
        RosterError::Conflict(_) => "conflict",
        RosterError::Unavailable(_) => "unavailable",
        RosterError::AuthFailed(_) => "auth-failed",
        RosterError::Locked(_) => "locked",
        RosterError::TokenRevoked(_) => "token-revoked",
        RosterError::TokenExpired(_) => "token-expired",
        // The change is made; only its NSS snapshot write failed.
        RosterError::SnapshotStale(_) => "ok-snapshot-stale",
    }
}

/// A task rosterd spawned died (a panic in core, say): the call fails
/// without taking the daemon down.
pub fn internal(what: &str) -> RosterError {
    eprintln!("rosterd: internal failure: {what}");
    RosterError::Unavailable("rosterd hit an internal error: see its log".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_core_error_has_its_bus_name() {
        use roster_core::Error as E;
        let cases = [
            (E::NotFound("x".into()), "NotFound"),
            (E::PermissionDenied("x".into()), "PermissionDenied"),
            (E::InvalidArgument("x".into()), "InvalidArgument"),
            (E::AlreadyExists("x".into()), "AlreadyExists"),
            (E::Conflict("x".into()), "Conflict"),
            (E::AuthFailed("x".into()), "AuthFailed"),
            (
                E::Locked {
                    until: 5,
                    message: "x".into(),
                },
                "Locked",
            ),
            (E::TokenRevoked("x".into()), "TokenRevoked"),
            (E::TokenExpired("x".into()), "TokenExpired"),
            (E::Store("disk".into()), "Unavailable"),
        ];
        for (error, name) in cases {
            let bus = to_bus(error);
            let got = zbus::DBusError::name(&bus).to_string();
            assert_eq!(got, format!("org.roster.Error.{name}"));
        }
    }

    #[test]
    fn store_details_stay_in_the_log() {
        let bus = to_bus(roster_core::Error::Store(
            "/var/lib/roster/roster.db: disk I/O".into(),
        ));
        assert!(!bus.to_string().contains("/var/lib"));
    }
}
