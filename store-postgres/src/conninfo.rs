//! The store's connection string, libpq's syntax, with libpq's TLS keys
//! the `postgres` crate doesn't know.
//!
//! The crate reads `sslmode` as disable, prefer or require only, and no
//! `sslrootcert` at all, so those two keys are taken out here, honouring
//! libpq's quoting (`key='a value'`, backslash escapes) in the key=value
//! form and percent-encoding in the URI form (`postgresql://…?sslmode=…`),
//! and the rest goes to the crate unchanged. What this controller accepts:
//!
//! - no `sslmode`, or `sslmode=disable`: plain, as before (a unix socket, a
//!   loopback address);
//! - `sslmode=verify-full sslrootcert=FILE`: TLS to every host of the
//!   string, each server's certificate checked against the CAs in FILE
//!   and against the name it was reached by (src/tls.rs).
//!
//! Everything else about TLS is refused, with the fix: `require` and
//! `verify-ca` (libpq's do no or half a check), `prefer` and `allow`
//! (they fall back to plain text without a word), verify-full without
//! `sslrootcert` (a store's CA is private: the system's CAs would let any
//! public certificate for the name through), and the client-certificate
//! keys. Messages never carry a value but sslmode's and the file's name:
//! a password stays out of logs.

use crate::tls::VerifyFull;
use std::path::{Path, PathBuf};

/// libpq's TLS keys the controller doesn't support (client certificates,
/// revocation lists): named in the refusal rather than the crate's
/// "unknown option".
const UNSUPPORTED_TLS_KEYS: [&str; 6] = [
    "sslcert",
    "sslkey",
    "sslpassword",
    "sslcrl",
    "sslcrldir",
    "requiressl",
];

/// What is wrong with the store's connection string's TLS settings.
#[derive(Debug, thiserror::Error)]
pub enum ConninfoError {
    #[error(
        "the PostgreSQL connection string can't be read ({0}): write it as key=value pairs, e.g. host=/run/postgresql dbname=roster"
    )]
    Syntax(String),
    #[error(
        "sslmode={mode} in the PostgreSQL connection string {why}: write sslmode=verify-full sslrootcert=/etc/roster/store-ca.crt (the CA that signed the store's certificates), or leave sslmode out for a unix socket"
    )]
    WeakMode { mode: String, why: &'static str },
    #[error(
        "sslmode={0} in the PostgreSQL connection string isn't a libpq sslmode: write sslmode=verify-full with sslrootcert=FILE, or leave sslmode out for a unix socket"
    )]
    UnknownMode(String),
    #[error(
        "sslmode=verify-full needs sslrootcert=FILE in the PostgreSQL connection string: the CA certificate (PEM) that signed the store's certificates; the system's CAs aren't used, a store's CA is private"
    )]
    NoRootCert,
    #[error(
        "sslrootcert=system in the PostgreSQL connection string: the system's CAs aren't used (any public certificate for the name would pass); write sslrootcert=FILE, the CA that signed the store's certificates"
    )]
    SystemRoots,
    #[error(
        "sslrootcert is set but sslmode isn't verify-full in the PostgreSQL connection string: add sslmode=verify-full to use TLS, or drop sslrootcert"
    )]
    RootCertWithoutTls,
    #[error(
        "{0} in the PostgreSQL connection string isn't supported (no client certificates or revocation lists): authenticate with a password over sslmode=verify-full"
    )]
    UnsupportedKey(&'static str),
    #[error(
        "host {0} in the PostgreSQL connection string is a unix socket folder, which takes no TLS: with sslmode=verify-full name TCP hosts only, or drop sslmode for the socket"
    )]
    SocketWithTls(String),
    #[error(
        "sslmode=verify-full checks each server's certificate against the host name it was reached by: give host= names (hostaddr alone names nothing to check)"
    )]
    NoHostName,
    #[error(
        "can't read sslrootcert {}: {source}: give a file the controller can read, the CA certificate (PEM) that signed the store's certificates",
        .file.display()
    )]
    RootUnreadable {
        file: PathBuf,
        source: std::io::Error,
    },
    #[error(
        "sslrootcert {} holds no certificate: give the CA certificate (PEM, -----BEGIN CERTIFICATE-----) that signed the store's certificates",
        .file.display()
    )]
    NoCertificate { file: PathBuf },
    #[error(
        "sslrootcert {}: a certificate in it can't be used as a CA ({why}): give the CA certificate (PEM) that signed the store's certificates",
        .file.display()
    )]
    BadRoot { file: PathBuf, why: String },
}

/// A store connection string, parsed once: the crate's config and, with
/// `sslmode=verify-full`, the TLS client that checks each server (its CA
/// file read once, here).
#[derive(Clone)]
pub struct StoreConninfo {
    pub(crate) config: postgres::Config,
    pub(crate) tls: Option<VerifyFull>,
}

impl std::fmt::Debug for StoreConninfo {
    // postgres::Config's Debug leaves the password out.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StoreConninfo")
            .field("hosts", &self.config.get_hosts())
            .field("dbname", &self.config.get_dbname())
            .field("verify_full", &self.tls.is_some())
            .finish()
    }
}

impl StoreConninfo {
    /// Read a libpq connection string (key=value pairs or a
    /// `postgresql://` URI) with its TLS keys (see the module's doc).
    pub fn parse(conninfo: &str) -> Result<StoreConninfo, ConninfoError> {
        let split = split_tls_keys(conninfo)?;
        let mut config: postgres::Config = split
            .rest
            .parse()
            .map_err(|e: postgres::Error| ConninfoError::Syntax(e.to_string()))?;
        let verify_full = match split.sslmode.as_deref() {
            None | Some("disable") => false,
            Some("verify-full") => true,
            Some(mode @ "require") => {
                return Err(ConninfoError::WeakMode {
                    mode: mode.to_string(),
                    why: "encrypts but checks no certificate (anyone on the path can pose as the store)",
                });
            }
            Some(mode @ "verify-ca") => {
                return Err(ConninfoError::WeakMode {
                    mode: mode.to_string(),
                    why: "checks the CA but not the host name (any certificate the CA signed passes)",
                });
            }
            Some(mode @ ("prefer" | "allow")) => {
                return Err(ConninfoError::WeakMode {
                    mode: mode.to_string(),
                    why: "falls back to plain text without a word",
                });
            }
            Some(other) => return Err(ConninfoError::UnknownMode(other.to_string())),
        };
        if !verify_full {
            if split.sslrootcert.is_some() {
                return Err(ConninfoError::RootCertWithoutTls);
            }
            // As before: no TLS. (The crate's default, prefer, would also
            // be plain with no TLS connector; said outright here.)
            config.ssl_mode(postgres::config::SslMode::Disable);
            return Ok(StoreConninfo { config, tls: None });
        }
        let roots = match split.sslrootcert.as_deref() {
            None | Some("") => return Err(ConninfoError::NoRootCert),
            Some("system") => return Err(ConninfoError::SystemRoots),
            Some(file) => PathBuf::from(file),
        };
        if config.get_hosts().is_empty() {
            return Err(ConninfoError::NoHostName);
        }
        for host in config.get_hosts() {
            if let postgres::config::Host::Unix(folder) = host {
                return Err(ConninfoError::SocketWithTls(folder.display().to_string()));
            }
        }
        let tls = VerifyFull::from_roots_file(&roots)?;
        config.ssl_mode(postgres::config::SslMode::Require);
        Ok(StoreConninfo {
            config,
            tls: Some(tls),
        })
    }

    /// The crate's config (hosts, database, user …; TLS is [`Self::verify_full`]'s).
    pub fn config(&self) -> &postgres::Config {
        &self.config
    }

    /// With `sslmode=verify-full`: the CA file every server is checked against.
    pub fn verify_full(&self) -> Option<&Path> {
        self.tls.as_ref().map(VerifyFull::roots_file)
    }
}

impl From<postgres::Config> for StoreConninfo {
    /// A config built in code: plain, as the crate connects without a
    /// TLS connector.
    fn from(config: postgres::Config) -> StoreConninfo {
        StoreConninfo { config, tls: None }
    }
}

/// A connection string with libpq's `sslmode` and `sslrootcert` taken
/// out (the last of each wins, as in libpq).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct SplitConninfo {
    /// The rest, as written (quoting and escapes untouched).
    pub rest: String,
    pub sslmode: Option<String>,
    pub sslrootcert: Option<String>,
}

/// Take `sslmode` and `sslrootcert` out of `conninfo`, in either form.
pub(crate) fn split_tls_keys(conninfo: &str) -> Result<SplitConninfo, ConninfoError> {
    for prefix in ["postgres://", "postgresql://"] {
        if let Some(rest) = conninfo.strip_prefix(prefix) {
            return split_uri(prefix, rest);
        }
    }
    split_pairs(conninfo)
}

/// What to do with one parameter.
enum Take {
    Keep,
    SslMode(String),
    SslRootCert(String),
}

fn take(key: &str, value: String) -> Result<Take, ConninfoError> {
    match key {
        "sslmode" => Ok(Take::SslMode(value)),
        "sslrootcert" => Ok(Take::SslRootCert(value)),
        _ => match UNSUPPORTED_TLS_KEYS.iter().find(|known| **known == key) {
            Some(known) => Err(ConninfoError::UnsupportedKey(known)),
            None => Ok(Take::Keep),
        },
    }
}

/// The key=value form, read as the `postgres` crate (and libpq) read it:
/// blanks around `=`, a value either `'quoted'` or bare up to the next
/// blank, a backslash taking the next character as it is in both.
fn split_pairs(conninfo: &str) -> Result<SplitConninfo, ConninfoError> {
    let mut kept: Vec<&str> = Vec::new();
    let mut split = SplitConninfo {
        rest: String::new(),
        sslmode: None,
        sslrootcert: None,
    };
    let mut chars = conninfo.char_indices().peekable();
    loop {
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let Some(&(start, _)) = chars.peek() else {
            break;
        };
        let mut key_end = start;
        while let Some((at, c)) = chars.next_if(|(_, c)| !c.is_whitespace() && *c != '=') {
            key_end = at + c.len_utf8();
        }
        if key_end == start {
            // The crate stops reading at a stray `=` (no key): hand it the
            // rest as written, so it reads what it always read.
            kept.push(&conninfo[start..]);
            break;
        }
        let key = &conninfo[start..key_end];
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        if chars.next_if(|(_, c)| *c == '=').is_none() {
            // Not the key's text: a stray quote may make it a piece of a
            // password.
            return Err(ConninfoError::Syntax(format!(
                "`=` missing after the key at byte {start}"
            )));
        }
        while chars.next_if(|(_, c)| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        let mut end = conninfo.len();
        if chars.next_if(|(_, c)| *c == '\'').is_some() {
            let mut closed = false;
            while let Some((at, c)) = chars.next() {
                match c {
                    '\'' => {
                        closed = true;
                        end = at + 1;
                        break;
                    }
                    '\\' => {
                        if let Some((_, escaped)) = chars.next() {
                            value.push(escaped);
                        }
                    }
                    _ => value.push(c),
                }
            }
            if !closed {
                return Err(ConninfoError::Syntax(format!(
                    "the quoted value of {key} has no closing quote"
                )));
            }
        } else {
            while let Some((_, c)) = chars.next_if(|(_, c)| !c.is_whitespace()) {
                if c == '\\' {
                    if let Some((_, escaped)) = chars.next() {
                        value.push(escaped);
                    }
                } else {
                    value.push(c);
                }
            }
            if let Some(&(at, _)) = chars.peek() {
                end = at;
            }
            if value.is_empty() {
                return Err(ConninfoError::Syntax(format!(
                    "{key} has no value (write {key}='' for an empty one)"
                )));
            }
        }
        match take(key, value)? {
            Take::Keep => kept.push(&conninfo[start..end]),
            Take::SslMode(mode) => split.sslmode = Some(mode),
            Take::SslRootCert(file) => split.sslrootcert = Some(file),
        }
    }
    split.rest = kept.join(" ");
    Ok(split)
}

/// The URI form: parameters after the first `?` that follows the
/// credentials (up to the first `@`, as the crate reads them), the host
/// list and the database, `&`-separated, percent-encoded.
fn split_uri(prefix: &str, rest: &str) -> Result<SplitConninfo, ConninfoError> {
    let after_credentials = rest.find('@').map_or(0, |at| at + 1);
    let Some(query) = rest[after_credentials..]
        .find('?')
        .map(|at| after_credentials + at)
    else {
        return Ok(SplitConninfo {
            rest: format!("{prefix}{rest}"),
            sslmode: None,
            sslrootcert: None,
        });
    };
    let mut split = SplitConninfo {
        rest: String::new(),
        sslmode: None,
        sslrootcert: None,
    };
    let mut kept: Vec<&str> = Vec::new();
    for parameter in rest[query + 1..].split('&') {
        // A parameter without `=` is the crate's to refuse.
        let Some((key, value)) = parameter.split_once('=') else {
            kept.push(parameter);
            continue;
        };
        let decode = |text: &str| {
            percent_encoding::percent_decode_str(text)
                .decode_utf8()
                .map(|decoded| decoded.into_owned())
                .map_err(|_| ConninfoError::Syntax("a parameter isn't UTF-8".into()))
        };
        let key = decode(key)?;
        match take(&key, decode(value)?)? {
            Take::Keep => kept.push(parameter),
            Take::SslMode(mode) => split.sslmode = Some(mode),
            Take::SslRootCert(file) => split.sslrootcert = Some(file),
        }
    }
    split.rest = if kept.is_empty() {
        format!("{prefix}{}", &rest[..query])
    } else {
        format!("{prefix}{}?{}", &rest[..query], kept.join("&"))
    };
    Ok(split)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn split(conninfo: &str) -> SplitConninfo {
        split_tls_keys(conninfo).unwrap()
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_string())
    }

    #[test]
    fn pairs_lose_the_tls_keys_and_keep_the_rest_as_written() {
        let out = split(
            "host=a,b,c port=5432,5433,5434 sslmode=verify-full sslrootcert=/etc/roster/ca.crt target_session_attrs=read-write",
        );
        assert_eq!(
            out.rest,
            "host=a,b,c port=5432,5433,5434 target_session_attrs=read-write"
        );
        assert_eq!(out.sslmode, some("verify-full"));
        assert_eq!(out.sslrootcert, some("/etc/roster/ca.crt"));
    }

    #[test]
    fn quoted_values_and_escapes_are_read_as_libpq_reads_them() {
        let out = split(
            r"password='' user=roster sslrootcert='/etc/my certs/ca.pem' sslmode = 'verify-full' dbname=a\ b",
        );
        assert_eq!(out.sslrootcert, some("/etc/my certs/ca.pem"));
        assert_eq!(out.sslmode, some("verify-full"));
        assert!(
            out.rest.ends_with(r"user=roster dbname=a\ b"),
            "{}",
            out.rest
        );

        let out = split(r"password='a \'b\' sslmode=require' sslrootcert=/tmp/x\ y.pem");
        // sslmode=require inside a quoted password is the password's.
        assert_eq!(out.sslmode, None);
        assert_eq!(out.sslrootcert, some("/tmp/x y.pem"));
        assert_eq!(out.rest, r"password='a \'b\' sslmode=require'");
        let config: postgres::Config = out.rest.parse().unwrap();
        assert_eq!(config.get_password(), Some(&b"a 'b' sslmode=require"[..]));

        let out = split(r"password=se\ cret\\ sslmode=verify-full");
        assert_eq!(out.sslmode, some("verify-full"));
        let config: postgres::Config = out.rest.parse().unwrap();
        assert_eq!(config.get_password(), Some(&br"se cret\"[..]));
    }

    #[test]
    fn the_last_of_a_key_wins_and_blank_strings_stay_blank() {
        let out = split("sslmode=require host=x sslmode=verify-full");
        assert_eq!(out.sslmode, some("verify-full"));
        assert_eq!(out.rest, "host=x");
        assert_eq!(split("").rest, "");
        assert_eq!(split("   ").rest, "");
        let out = split("host=/run/postgresql dbname=roster user=roster");
        assert_eq!(out.rest, "host=/run/postgresql dbname=roster user=roster");
        assert_eq!((out.sslmode, out.sslrootcert), (None, None));
    }

    #[test]
    fn broken_pairs_are_refused_without_their_values() {
        let message = |conninfo: &str| split_tls_keys(conninfo).unwrap_err().to_string();
        let unterminated = message("user=roster password='s3cret sslmode=verify-full");
        assert!(unterminated.contains("password"), "{unterminated}");
        assert!(!unterminated.contains("s3cret"), "{unterminated}");
        assert!(message("host").contains("`=` missing after the key at byte 0"));
        let stray = message("password='s3'cret");
        assert!(!stray.contains("cret"), "{stray}");
        assert!(message("sslmode=").contains("sslmode has no value"));
        let client_cert = message("host=x sslcert=/c.pem sslmode=verify-full");
        assert!(client_cert.contains("sslcert"), "{client_cert}");
    }

    #[test]
    fn uris_lose_the_tls_keys_from_their_query() {
        let out = split(
            "postgresql://roster:pa%26ss@db1:5432,db2:5432/roster?sslmode=verify-full&sslrootcert=%2Fetc%2Froster%2Fca.crt&target_session_attrs=read-write",
        );
        assert_eq!(
            out.rest,
            "postgresql://roster:pa%26ss@db1:5432,db2:5432/roster?target_session_attrs=read-write"
        );
        assert_eq!(out.sslmode, some("verify-full"));
        assert_eq!(out.sslrootcert, some("/etc/roster/ca.crt"));

        let out = split("postgres://db1/roster?sslrootcert=/ca.pem&sslmode=verify-full");
        assert_eq!(out.rest, "postgres://db1/roster");
        // A `?` in the password is the password's (the crate reads up to the first `@`).
        let out = split("postgresql://u:a?b@db1/roster?sslmode=disable");
        assert_eq!(out.rest, "postgresql://u:a?b@db1/roster");
        assert_eq!(out.sslmode, some("disable"));
        let out = split("postgresql://db1/roster");
        assert_eq!(out.rest, "postgresql://db1/roster");
    }

    fn refusal(conninfo: &str) -> String {
        StoreConninfo::parse(conninfo).unwrap_err().to_string()
    }

    #[test]
    fn weak_modes_are_refused_naming_verify_full() {
        for (mode, says) in [
            ("require", "checks no certificate"),
            ("verify-ca", "not the host name"),
            ("prefer", "falls back to plain text"),
            ("allow", "falls back to plain text"),
        ] {
            let message = refusal(&format!(
                "host=db1 password=s3cret sslmode={mode} sslrootcert=/etc/roster/ca.crt"
            ));
            assert!(message.contains(&format!("sslmode={mode}")), "{message}");
            assert!(message.contains(says), "{message}");
            assert!(
                message.contains("sslmode=verify-full sslrootcert="),
                "{message}"
            );
            assert!(!message.contains("s3cret"), "{message}");
        }
        assert!(refusal("host=db1 sslmode=verify_full").contains("isn't a libpq sslmode"));
    }

    #[test]
    fn verify_full_needs_its_own_ca_and_tcp_host_names() {
        let missing = refusal("host=db1 sslmode=verify-full");
        assert!(missing.contains("needs sslrootcert=FILE"), "{missing}");
        let system = refusal("host=db1 sslmode=verify-full sslrootcert=system");
        assert!(system.contains("system's CAs aren't used"), "{system}");
        let root_alone = refusal("host=db1 sslrootcert=/etc/roster/ca.crt");
        assert!(
            root_alone.contains("add sslmode=verify-full"),
            "{root_alone}"
        );
        let socket = refusal("host=/run/postgresql sslmode=verify-full sslrootcert=/x.pem");
        assert!(socket.contains("unix socket folder"), "{socket}");
        let addr_only = refusal("hostaddr=127.0.0.1 sslmode=verify-full sslrootcert=/x.pem");
        assert!(addr_only.contains("give host= names"), "{addr_only}");
        let unreadable =
            refusal("host=db1 sslmode=verify-full sslrootcert=/nonexistent/roster-store-ca.crt");
        assert!(
            unreadable.contains("can't read sslrootcert /nonexistent/roster-store-ca.crt"),
            "{unreadable}"
        );
    }

    #[test]
    fn a_ca_file_without_a_certificate_is_refused() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("empty.pem");
        std::fs::write(&file, "not a certificate\n").unwrap();
        let message = refusal(&format!(
            "host=db1 sslmode=verify-full sslrootcert='{}'",
            file.display()
        ));
        assert!(message.contains("holds no certificate"), "{message}");
        assert!(message.contains(&file.display().to_string()), "{message}");
    }

    #[test]
    fn plain_strings_stay_plain() {
        for conninfo in [
            "host=/run/postgresql dbname=roster user=roster",
            "host=/run/postgresql dbname=roster sslmode=disable",
            "postgresql://roster@localhost/roster",
        ] {
            let parsed = StoreConninfo::parse(conninfo).unwrap();
            assert!(parsed.verify_full().is_none(), "{conninfo}");
            assert_eq!(
                parsed.config().get_ssl_mode(),
                postgres::config::SslMode::Disable
            );
        }
    }
}
