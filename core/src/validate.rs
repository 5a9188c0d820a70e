//! Input rules: names, display names, homes, shells, and the free-text
//! fields of sessions and tokens. Each check answers
//! `Error::InvalidArgument` with a sentence; values are quoted shortened,
//! so a megabyte of input never ends up in an error message or a log.

use crate::config::Config;
use crate::error::Error;
use crate::local_files;

pub use roster_hostconfig::names::{MAX_NAME_BYTES, MAX_PATH_BYTES, shown};
pub const MAX_DISPLAY_NAME_BYTES: usize = 256;
/// Session fields (service, tty, remote host) and token names.
pub const MAX_FIELD_BYTES: usize = 256;

/// Names that would confuse sudo, su or the admin group whatever the
/// local files say.
pub const RESERVED_NAMES: &[&str] = &["root", "admin", "wheel", "sudo"];

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
    roster_hostconfig::names::name_rule(name, what).map_err(Error::InvalidArgument)
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

/// Characters that don't show but change how text reads: Unicode's
/// format characters (category Cf: the bidirectional embeddings,
/// overrides and isolates U+202A–U+202E and U+2066–U+2069, the marks
/// U+200E/U+200F and U+061C, the zero-width U+200B–U+200D, U+2060 and
/// U+FEFF, the soft hyphen, invisible operators, tag characters, …) and
/// the line and paragraph separators U+2028/U+2029. In a display name
/// they make one name read as another (`"Bob\u{202E}nimda"` shows as
/// "Bobadmin"), in a path they hide what it names.
pub fn is_invisible_or_bidi(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{2028}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// No ':' (the passwd field separator), no newline or other control
/// character (NUL included), no invisible or direction-changing
/// character ([`is_invisible_or_bidi`]), at most `max` bytes.
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
    visible(value, what)
}

/// Refuses an invisible or direction-changing character
/// ([`is_invisible_or_bidi`]).
fn visible(value: &str, what: &str) -> crate::Result<()> {
    if let Some(c) = value.chars().find(|c| is_invisible_or_bidi(*c)) {
        return Err(Error::InvalidArgument(format!(
            "the {what} {} holds U+{:04X}, an invisible or text-direction character \
             that can make it read as something else: remove it",
            shown(value),
            u32::from(c)
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
    // One spelling per path: `/home//bob`, `/home/./bob` and `/home/bob/`
    // name the same folder as `/home/bob` but compare as different ones.
    let below_root = value.strip_prefix('/').unwrap_or(value);
    if below_root
        .split('/')
        .any(|part| part.is_empty() || part == ".")
    {
        return Err(Error::InvalidArgument(format!(
            "the {what} {} must be a normalised path below / (no '//', '/./' or trailing '/'), \
             e.g. /home/bob",
            shown(value)
        )));
    }
    Ok(())
}

/// An absolute, normalised path other than `/` (a home of `/` would make
/// the whole file system the user's home).
pub fn home(value: &str) -> crate::Result<()> {
    absolute_path(value, "home")
}

/// The characters a shell's path may hold: letters, digits and `/._+-`.
fn is_shell_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '/' | '.' | '_' | '+' | '-')
}

/// An absolute, normalised path made of letters, digits and `/._+-` only:
/// login and sshd run the shell as one program, so a value with spaces,
/// quotes or shell metacharacters (`/bin/sh -c 'id'`) is never a shell
/// that works, only one that reads as a command. Not checked against
/// `/etc/shells`: rosterd doesn't read the host's files for it, and
/// `/usr/sbin/nologin`, a common choice, isn't listed there.
pub fn shell(value: &str) -> crate::Result<()> {
    absolute_path(value, "shell")?;
    if let Some(c) = value.chars().find(|c| !is_shell_path_char(*c)) {
        return Err(Error::InvalidArgument(format!(
            "the shell {} holds {c:?}: a shell is the path of one program, \
             made of letters, digits and / . _ + - only (e.g. /bin/bash)",
            shown(value)
        )));
    }
    Ok(())
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
    // Shown in `roster users sessions` and `tokens list`: one must not
    // read as another.
    visible(value, what)
}
