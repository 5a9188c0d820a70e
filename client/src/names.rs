//! The well-known names every part agrees on.

/// The bus name rosterd owns on the system bus.
pub const BUS_NAME: &str = "org.roster.Roster1";
/// The one object rosterd serves; every interface lives on it.
pub const OBJECT_PATH: &str = "/org/roster/Roster1";
/// The system bus socket the PAM module uses when no `bus=` is given.
pub const DEFAULT_SYSTEM_BUS: &str = "unix:path=/run/dbus/system_bus_socket";

pub const USERS_INTERFACE: &str = "org.roster.Roster1.Users";
pub const GRANTS_INTERFACE: &str = "org.roster.Roster1.Grants";
pub const ENVIRONMENTS_INTERFACE: &str = "org.roster.Roster1.Environments";
pub const SESSIONS_INTERFACE: &str = "org.roster.Roster1.Sessions";
pub const PAM_INTERFACE: &str = "org.roster.Roster1.Pam";
pub const TOKENS_INTERFACE: &str = "org.roster.Roster1.Tokens";
pub const KEYS_INTERFACE: &str = "org.roster.Roster1.Keys";
pub const REGISTRATION_INTERFACE: &str = "org.roster.Roster1.Registration";
pub const FLEET_INTERFACE: &str = "org.roster.Roster1.Fleet";
/// The signal rosterd sends the caller of a change it forwarded when the
/// controller says its store is failing over (on [`FLEET_INTERFACE`],
/// addressed to that caller alone; its body the request id): the CLI
/// prints "store failing over, retrying" and keeps waiting for the answer.
pub const RETRYING_SIGNAL: &str = "Retrying";
