//! Input rules: names, display names, homes, shells, and the free-text
//! fields of sessions and tokens. Each check answers
//! `Error::InvalidArgument` with a sentence; values are quoted shortened,
//! so a megabyte of input never ends up in an error message or a log.

use crate::config::Config;
use crate::error::Error;
use crate::local_files;

/// POSIX portable user names are at most 32 bytes (`useradd`'s limit).
pub const MAX_NAME_BYTES: usize = 32;
pub const MAX_DISPLAY_NAME_BYTES: usize = 256;
/// PATH_MAX counts the NUL; homes and shells are far shorter in practice.
pub const MAX_PATH_BYTES: usize = 1024;
/// Session fields (service, tty, remote host) and token names.
pub const MAX_FIELD_BYTES: usize = 256;

/// Names that would confuse sudo, su or the admin group whatever the
/// local files say.
pub const RESERVED_NAMES: &[&str] = &["root", "admin", "wheel", "sudo"];

/// A value as it may appear in an error message: at most 40 characters,
/// escaped.
pub fn shown(value: &str) -> String {
    let mut short: String = value.chars().take(40).collect();
    if short.len() < value.len() {
        short.push('…');
    }
    format!("{short:?}")
}

/// `^[a-z_][a-z0-9_-]{0,31}$`, the POSIX portable name rule (also used for
/// `admin_group`). Doesn't look at local files: see [`new_user_name`].
pub fn user_name_syntax(name: &str) -> crate::Result<()> {
    name_rule(name, "user name")
}

/// Environment names follow the user-name rule (`^[a-z_][a-z0-9_-]{0,31}$`):
/// they are typed on command lines and appear in messages and logs, so the
/// same short, unambiguous alphabet serves them.
pub fn environment_name(name: &str) -> crate::Result<()> {
    name_rule(name, "environment name")
}

fn name_rule(name: &str, what: &str) -> crate::Result<()> {
    let rule = "use 1–32 characters: lowercase letters, digits, '_' and '-', starting with a letter or '_'";
    if name.is_empty() {
        return Err(Error::InvalidArgument(format!(
            "the {what} is empty: {rule}"
        )));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(Error::InvalidArgument(format!(
            "the {what} {} is {} bytes long: {rule}",
            shown(name),
            name.len()
        )));
    }
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c == '_');
    let rest_ok =
        chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_' || c == '-');
    if first_ok && rest_ok {
        Ok(())
    } else {
        Err(Error::InvalidArgument(format!(
            "invalid {what} {}: {rule}",
            shown(name)
        )))
    }
}

/// A name a new Roster user may take: the syntax, not reserved, not the
/// admin group, and not a name in the host's passwd or group file (a
/// local account would shadow or be shadowed by it).
pub fn new_user_name(name: &str, config: &Config) -> crate::Result<()> {
    user_name_syntax(name)?;
    if RESERVED_NAMES.contains(&name) || name == config.admin_group {
        return Err(Error::InvalidArgument(format!(
            "the name {name:?} is reserved (root, admin, wheel, sudo and the admin group {:?} are): pick another",
            config.admin_group
        )));
    }
    for (path, entries, what) in [
        (
            &config.passwd_file,
            local_files::passwd(&config.passwd_file),
            "user",
        ),
        (
            &config.group_file,
            local_files::group(&config.group_file),
            "group",
        ),
    ] {
        if entries?.iter().any(|e| e.name == name) {
            return Err(Error::InvalidArgument(format!(
                "{name:?} is a local {what} in {}: pick another name",
                path.display()
            )));
        }
    }
    Ok(())
}

/// No ':' (the passwd field separator), no newline or other control
/// character (NUL included), at most `max` bytes.
fn text_field(value: &str, what: &str, max: usize) -> crate::Result<()> {
    if value.len() > max {
        return Err(Error::InvalidArgument(format!(
            "the {what} is {} bytes long: at most {max} are allowed",
            value.len()
        )));
    }
    if value.contains(':') {
        return Err(Error::InvalidArgument(format!(
            "the {what} {} holds a ':', which passwd uses as a separator",
            shown(value)
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "the {what} {} holds a newline, NUL or other control character",
            shown(value)
        )));
    }
    Ok(())
}

pub fn display_name(value: &str) -> crate::Result<()> {
    text_field(value, "display name", MAX_DISPLAY_NAME_BYTES)
}

fn absolute_path(value: &str, what: &str) -> crate::Result<()> {
    text_field(value, what, MAX_PATH_BYTES)?;
    if !value.starts_with('/') {
        return Err(Error::InvalidArgument(format!(
            "the {what} {} must be an absolute path (start with '/')",
            shown(value)
        )));
    }
    // `..` would let a home escape `home_base` in ways nobody reads.
    if value.split('/').any(|part| part == "..") {
        return Err(Error::InvalidArgument(format!(
            "the {what} {} must not contain '..'",
            shown(value)
        )));
    }
    Ok(())
}

pub fn home(value: &str) -> crate::Result<()> {
    absolute_path(value, "home")
}

pub fn shell(value: &str) -> crate::Result<()> {
    absolute_path(value, "shell")
}

/// A session's service, tty or remote host, or a token name: free text
/// without control characters, at most 256 bytes.
pub fn field(value: &str, what: &str) -> crate::Result<()> {
    if value.len() > MAX_FIELD_BYTES {
        return Err(Error::InvalidArgument(format!(
            "the {what} is {} bytes long: at most {MAX_FIELD_BYTES} are allowed",
            value.len()
        )));
    }
    if value.chars().any(char::is_control) {
        return Err(Error::InvalidArgument(format!(
            "the {what} {} holds a control character",
            shown(value)
        )));
    }
    Ok(())
}
