//! The name rule shared by user names, environment names and
//! `admin_group`, and how a value is quoted in a message. core's
//! `validate` answers them as invalid arguments; the config as problems.

/// POSIX portable user names are at most 32 bytes (`useradd`'s limit).
pub const MAX_NAME_BYTES: usize = 32;
/// PATH_MAX counts the NUL; homes and shells are far shorter in practice.
pub const MAX_PATH_BYTES: usize = 1024;

/// A value as it may appear in an error message: at most 40 characters,
/// escaped.
pub fn shown(value: &str) -> String {
    let mut short: String = value.chars().take(40).collect();
    if short.len() < value.len() {
        short.push('…');
    }
    format!("{short:?}")
}

/// `^[a-z_][a-z0-9_-]{0,31}$`, the POSIX portable name rule; `what` names
/// the kind of name in the sentence ("user name", "environment name").
pub fn name_rule(name: &str, what: &str) -> Result<(), String> {
    let rule = "use 1–32 characters: lowercase letters, digits, '_' and '-', starting with a letter or '_'";
    if name.is_empty() {
        return Err(format!("the {what} is empty: {rule}"));
    }
    if name.len() > MAX_NAME_BYTES {
        return Err(format!(
            "the {what} {} is {} bytes long: {rule}",
            shown(name),
            name.len()
        ));
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
        Err(format!("invalid {what} {}: {rule}", shown(name)))
    }
}
