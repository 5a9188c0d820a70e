//! The closed sets that cross the bus as strings: roles, states, levels,
//! scopes and the PAM outcomes.
//!
//! Each is a D-Bus `s` carrying the same lowercase word as always, parsed
//! once where it arrives (zbus decodes the enum, so a handler or a caller
//! only ever sees a variant). A word this side doesn't know is a decode
//! error naming the set and its words ([`UnknownValue`]), never a panic and
//! never a silent default. Where the wire says "none" with an empty string
//! (a revoke of everything, a role to leave unchanged), the field is a
//! [`zbus::Optional`] of the enum.

use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::str::FromStr;

/// A word that names no member of a closed set.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct UnknownValue {
    /// What the set is (`role`, `level`, `auth outcome`, …).
    pub what: &'static str,
    /// The word as given.
    pub given: String,
    /// Every word the set has.
    pub expected: &'static [&'static str],
}

impl fmt::Display for UnknownValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "unknown {} {:?}: use one of {}",
            self.what,
            self.given,
            self.expected.join(", ")
        )
    }
}

impl std::error::Error for UnknownValue {}

/// One closed set: the enum, its words both ways, serde as the word and
/// zbus's `Type` as `s`.
macro_rules! wire_enum {
    (
        $(#[$meta:meta])*
        $name:ident ($what:literal) {
            $( $(#[$vmeta:meta])* $variant:ident = $word:literal, )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum $name {
            $( $(#[$vmeta])* $variant, )+
        }

        impl $name {
            /// Every member, in declaration order.
            pub const ALL: &'static [$name] = &[$($name::$variant),+];
            /// Every word, in declaration order.
            pub const WORDS: &'static [&'static str] = &[$($word),+];

            /// The word on the wire.
            pub fn as_str(self) -> &'static str {
                match self {
                    $( $name::$variant => $word, )+
                }
            }
        }

        impl FromStr for $name {
            type Err = UnknownValue;
            fn from_str(s: &str) -> Result<Self, UnknownValue> {
                match s {
                    $( $word => Ok($name::$variant), )+
                    other => Err(UnknownValue {
                        what: $what,
                        given: other.to_owned(),
                        expected: $name::WORDS,
                    }),
                }
            }
        }

        impl TryFrom<String> for $name {
            type Error = UnknownValue;
            fn try_from(s: String) -> Result<Self, UnknownValue> {
                s.parse()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                let word = String::deserialize(deserializer)?;
                word.parse().map_err(serde::de::Error::custom)
            }
        }

        impl zbus::Type for $name {
            const SIGNATURE: &'static zbus::Signature = &zbus::Signature::Str;
        }

        /// The empty string is "none" (`zbus::Optional<Self>`).
        impl zbus::NoneValue for $name {
            type NoneType = String;
            fn null_value() -> String {
                String::new()
            }
        }
    };
}

wire_enum! {
    /// A user's role, one per user. Nothing becomes `Admin` by default.
    Role ("role") {
        Admin = "admin",
        User = "user",
    }
}

wire_enum! {
    UserState ("state") {
        Active = "active",
        Suspended = "suspended",
        /// Created with `--register`; waits for its registration code.
        Pending = "pending",
    }
}

wire_enum! {
    /// What a grant allows in one environment, ordered `status < read <
    /// write < admin` (the declaration order).
    #[derive(PartialOrd, Ord)]
    Level ("level") {
        Status = "status",
        Read = "read",
        Write = "write",
        Admin = "admin",
    }
}

wire_enum! {
    /// A token's scope.
    Scope ("token scope") {
        /// Only operations that change nothing (the default).
        ReadOnly = "read-only",
        /// Everything its user may do.
        Full = "full",
    }
}

wire_enum! {
    /// The answer to a PAM authentication.
    AuthOutcome ("auth outcome") {
        /// The password is right.
        Success = "success",
        /// A pending user's registration code is right: the account check
        /// will ask for a new password.
        CodeAccepted = "code-accepted",
        /// Wrong password or code (counted toward the lockout).
        Failed = "failed",
        /// Locked out from this remote host (or locally).
        Locked = "locked",
        /// rosterd knows no such user.
        Unknown = "unknown",
    }
}

wire_enum! {
    /// The answer to a PAM account check.
    AccountOutcome ("account outcome") {
        Ok = "ok",
        Suspended = "suspended",
        /// Pending: a new password must be set (PAM_NEW_AUTHTOK_REQD).
        Pending = "pending",
        /// Below the host's `login_level` and not a role admin.
        Denied = "denied",
        Unknown = "unknown",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use zbus::Optional;
    use zbus::wire::{LE, serialized::Context, to_bytes};

    /// The body bytes of `value`; empty when it doesn't encode (which
    /// the comparisons then show).
    fn encode<T: Serialize + zbus::Type>(value: &T) -> Vec<u8> {
        to_bytes(Context::new(LE, 0), value)
            .map(|data| data.bytes().to_vec())
            .unwrap_or_default()
    }

    fn decode<T: for<'de> Deserialize<'de> + zbus::Type>(word: &str) -> Result<T, String> {
        let data = to_bytes(Context::new(LE, 0), &word).map_err(|e| e.to_string())?;
        data.deserialize::<T>()
            .map(|(value, _)| value)
            .map_err(|e| e.to_string())
    }

    fn round_trips<T>(all: &[T])
    where
        T: Copy + fmt::Debug + PartialEq + fmt::Display + Serialize + zbus::Type,
        T: for<'de> Deserialize<'de>,
    {
        for value in all {
            let word = value.to_string();
            // Encoded exactly as the plain string always was.
            assert_eq!(encode(value), encode(&word), "{word}");
            assert!(!encode(value).is_empty());
            assert_eq!(decode::<T>(&word), Ok(*value));
        }
    }

    #[test]
    fn every_word_round_trips_as_the_same_d_bus_string() {
        round_trips(Role::ALL);
        round_trips(UserState::ALL);
        round_trips(Level::ALL);
        round_trips(Scope::ALL);
        round_trips(AuthOutcome::ALL);
        round_trips(AccountOutcome::ALL);
        assert_eq!(Scope::ReadOnly.as_str(), "read-only");
        assert_eq!(AuthOutcome::CodeAccepted.as_str(), "code-accepted");
        assert!(Level::Status < Level::Read && Level::Write < Level::Admin);
    }

    #[test]
    fn an_unknown_word_from_a_peer_is_a_clear_decode_error() {
        let text = decode::<AuthOutcome>("maybe").err().unwrap_or_default();
        assert!(
            text.contains("unknown auth outcome \"maybe\": use one of success, code-accepted"),
            "{text}"
        );
        assert_eq!(
            "superuser".parse::<Level>().map_err(|e| e.to_string()),
            Err("unknown level \"superuser\": use one of status, read, write, admin".to_owned())
        );
        // An empty word is no member either: only an Optional takes it.
        assert!("".parse::<Role>().is_err());
        assert!(decode::<Scope>("").is_err());
    }

    #[test]
    fn an_empty_string_is_none_where_the_wire_allows_none() {
        let none: Optional<Level> = Optional::from(None);
        assert_eq!(encode(&none), encode(&""));
        assert_eq!(decode::<Optional<Level>>(""), Ok(Optional::from(None)));
        let some: Optional<Level> = Optional::from(Some(Level::Write));
        assert_eq!(encode(&some), encode(&"write"));
        assert_eq!(decode::<Optional<Level>>("write"), Ok(some));
        assert!(decode::<Optional<Level>>("writ").is_err());
    }
}
