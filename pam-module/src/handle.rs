//! The `Pam` trait hides libpam from the decisions, and [`LibPam`] is its
//! one implementation over a real `pam_handle_t` (the only `unsafe` talk
//! with libpam besides the conversation).

use crate::codes::Error;
use crate::conversation::{converse, wipe};
use crate::ffi::*;
use crate::host::Host;
use crate::options::Options;
use crate::rosterd::Rosterd;
use libc::{c_char, c_int, c_void};
use roster_client::Secret;
use std::cell::RefCell;
use std::ffi::{CStr, CString};
use std::ptr;

/// syslog priorities (`<syslog.h>`), for [`Pam::log`].
pub const LOG_ERR: c_int = 3;
pub const LOG_WARNING: c_int = 4;
pub const LOG_NOTICE: c_int = 5;
pub const LOG_DEBUG: c_int = 7;

/// The plain-text items the module reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item {
    Service,
    Tty,
    RemoteHost,
}

/// The two secret items.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Token {
    /// PAM_AUTHTOK: the password at auth, the new password at chauthtok.
    Auth,
    /// PAM_OLDAUTHTOK: the current password at chauthtok.
    Old,
}

/// What the decisions need from libpam.
pub trait Pam {
    /// PAM_USER, asking the application if it isn't set yet.
    fn user(&self) -> Result<String, Error>;
    /// A plain item; `None` when unset.
    fn item(&self, item: Item) -> Option<String>;
    /// A secret item an earlier module set. `Err(BadToken)` when it isn't
    /// UTF-8 (it can't be a Roster password then).
    fn token(&self, token: Token) -> Result<Option<Secret>, Error>;
    fn set_token(&self, token: Token, value: &Secret) -> Result<(), Error>;
    /// Asks the person, without echo.
    fn prompt_hidden(&self, prompt: &str) -> Result<Secret, Error>;
    /// Tells the person something went wrong (not with PAM_SILENT).
    fn error(&self, message: &str);
    /// Tells the person something (not with PAM_SILENT).
    fn info(&self, message: &str);
    /// syslog(3) through pam_syslog, as authpriv. Never pass a secret.
    fn log(&self, priority: c_int, message: &str);
}

/// Everything a decision runs with: libpam, the host, rosterd and the
/// service file's options. Tests build one from fakes.
pub struct Ctx<'a> {
    pub pam: &'a dyn Pam,
    pub host: &'a dyn Host,
    pub rosterd: &'a dyn Rosterd,
    pub opts: &'a Options,
    /// The flags libpam passed (PAM_SILENT, PAM_PRELIM_CHECK, …).
    pub flags: c_int,
    /// The user the decision worked on, for the log line afterwards.
    pub user: RefCell<Option<String>>,
}

impl<'a> Ctx<'a> {
    pub fn new(
        pam: &'a dyn Pam,
        host: &'a dyn Host,
        rosterd: &'a dyn Rosterd,
        opts: &'a Options,
        flags: c_int,
    ) -> Self {
        Ctx {
            pam,
            host,
            rosterd,
            opts,
            flags,
            user: RefCell::new(None),
        }
    }

    /// PAM_USER, remembered for the log line.
    pub fn user(&self) -> Result<String, Error> {
        let user = self.pam.user()?;
        *self.user.borrow_mut() = Some(user.clone());
        Ok(user)
    }

    /// Logs only with the `debug` option.
    pub fn debug(&self, message: &str) {
        if self.opts.debug {
            self.pam.log(LOG_DEBUG, message);
        }
    }
}

/// A real PAM handle. Built only from a non-NULL pointer.
pub struct LibPam {
    pamh: *mut PamHandle,
    silent: bool,
}

impl LibPam {
    /// `None` for a NULL handle (nothing can be done without one).
    pub fn new(pamh: *mut PamHandle, flags: c_int) -> Option<LibPam> {
        if pamh.is_null() {
            return None;
        }
        Some(LibPam {
            pamh,
            silent: flags & PAM_SILENT != 0,
        })
    }

    fn raw_item(&self, item_type: c_int) -> *const c_void {
        let mut value: *const c_void = ptr::null();
        // SAFETY: a live handle and a valid out-pointer.
        let code = unsafe { pam_get_item(self.pamh, item_type, &mut value) };
        if code == PAM_SUCCESS {
            value
        } else {
            ptr::null()
        }
    }

    fn message(&self, style: c_int, text: &str) {
        if self.silent {
            return;
        }
        let conv = self.raw_item(PAM_CONV).cast::<PamConv>();
        if conv.is_null() {
            return;
        }
        // SAFETY: libpam's own pam_conv for this handle, checked non-NULL.
        let result = unsafe { converse(&*conv, style, text) };
        if let Ok(Some(mut ignored)) = result {
            wipe(&mut ignored);
        }
    }
}

/// The service file's arguments as Rust strings; NULL entries skipped.
///
/// # Safety
/// `argv` is NULL or points at `argc` pointers, each NULL or a C string.
pub unsafe fn args(argc: c_int, argv: *const *const c_char) -> Vec<String> {
    if argv.is_null() || argc <= 0 {
        return Vec::new();
    }
    let count = usize::try_from(argc).unwrap_or(0);
    (0..count)
        .filter_map(|i| {
            // SAFETY: `i < argc` entries are readable per libpam's contract.
            let arg = unsafe { *argv.add(i) };
            // SAFETY: a non-NULL C string from the service file.
            (!arg.is_null()).then(|| {
                unsafe { CStr::from_ptr(arg) }
                    .to_string_lossy()
                    .into_owned()
            })
        })
        .collect()
}

/// A C string from libpam as a secret, without a lossy conversion (a
/// changed password would be a different password).
fn secret_from_bytes(bytes: Vec<u8>) -> Result<Secret, Error> {
    match String::from_utf8(bytes) {
        Ok(text) => Ok(Secret::new(text)),
        Err(e) => {
            let mut bytes = e.into_bytes();
            wipe(&mut bytes);
            Err(Error::BadToken)
        }
    }
}

impl Pam for LibPam {
    fn user(&self) -> Result<String, Error> {
        let mut user: *const c_char = ptr::null();
        // SAFETY: a live handle; a NULL prompt means libpam's default.
        let code = unsafe { pam_get_user(self.pamh, &mut user, ptr::null()) };
        if code != PAM_SUCCESS {
            return Err(Error::Pam(code));
        }
        if user.is_null() {
            return Err(Error::Pam(PAM_USER_UNKNOWN));
        }
        // SAFETY: libpam's NUL-terminated PAM_USER.
        let user = unsafe { CStr::from_ptr(user) };
        // Roster names are ASCII: anything else is someone else's user.
        match user.to_str() {
            Ok(name) if !name.is_empty() => Ok(name.to_owned()),
            _ => Err(Error::NotRosterUser("the user name isn't a Roster name")),
        }
    }

    fn item(&self, item: Item) -> Option<String> {
        let item_type = match item {
            Item::Service => PAM_SERVICE,
            Item::Tty => PAM_TTY,
            Item::RemoteHost => PAM_RHOST,
        };
        let value = self.raw_item(item_type).cast::<c_char>();
        if value.is_null() {
            return None;
        }
        // SAFETY: string items are NUL-terminated C strings owned by libpam.
        Some(
            unsafe { CStr::from_ptr(value) }
                .to_string_lossy()
                .into_owned(),
        )
    }

    fn token(&self, token: Token) -> Result<Option<Secret>, Error> {
        let item_type = match token {
            Token::Auth => PAM_AUTHTOK,
            Token::Old => PAM_OLDAUTHTOK,
        };
        let value = self.raw_item(item_type).cast::<c_char>();
        if value.is_null() {
            return Ok(None);
        }
        // SAFETY: libpam's NUL-terminated copy of the token.
        let bytes = unsafe { CStr::from_ptr(value) }.to_bytes().to_vec();
        secret_from_bytes(bytes).map(Some)
    }

    fn set_token(&self, token: Token, value: &Secret) -> Result<(), Error> {
        let item_type = match token {
            Token::Auth => PAM_AUTHTOK,
            Token::Old => PAM_OLDAUTHTOK,
        };
        let mut bytes = Vec::with_capacity(value.expose().len() + 1);
        bytes.extend_from_slice(value.expose().as_bytes());
        let text = match CString::new(bytes) {
            Ok(text) => text,
            Err(e) => {
                let mut bytes = e.into_vec();
                wipe(&mut bytes);
                return Err(Error::BadToken);
            }
        };
        // SAFETY: a live handle; libpam copies the string.
        let code = unsafe { pam_set_item(self.pamh, item_type, text.as_ptr().cast()) };
        let mut bytes = text.into_bytes_with_nul();
        wipe(&mut bytes);
        if code == PAM_SUCCESS {
            Ok(())
        } else {
            Err(Error::Pam(code))
        }
    }

    fn prompt_hidden(&self, prompt: &str) -> Result<Secret, Error> {
        let conv = self.raw_item(PAM_CONV).cast::<PamConv>();
        if conv.is_null() {
            return Err(Error::Conversation(
                "the application set no conversation".into(),
            ));
        }
        // SAFETY: libpam's own pam_conv for this handle, checked non-NULL.
        match unsafe { converse(&*conv, PAM_PROMPT_ECHO_OFF, prompt) }? {
            Some(bytes) => secret_from_bytes(bytes),
            None => Err(Error::Conversation("no answer to the prompt".into())),
        }
    }

    fn error(&self, message: &str) {
        self.message(PAM_ERROR_MSG, message);
    }

    fn info(&self, message: &str) {
        self.message(PAM_TEXT_INFO, message);
    }

    fn log(&self, priority: c_int, message: &str) {
        let Ok(text) = CString::new(message.replace('\0', " ")) else {
            return;
        };
        // SAFETY: a live handle; "%s" with one C string argument.
        unsafe { pam_syslog(self.pamh, priority, c"%s".as_ptr(), text.as_ptr()) };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn no_handle_no_pam() {
        assert!(LibPam::new(ptr::null_mut(), 0).is_none());
    }

    #[test]
    fn arguments_survive_null_pointers() {
        assert!(unsafe { args(3, ptr::null()) }.is_empty());
        let debug = c"debug";
        let bus = c"bus=unix:path=/x";
        let argv = [debug.as_ptr(), ptr::null(), bus.as_ptr()];
        assert_eq!(
            unsafe { args(3, argv.as_ptr()) },
            vec!["debug".to_owned(), "bus=unix:path=/x".to_owned()]
        );
        assert!(unsafe { args(-1, argv.as_ptr()) }.is_empty());
    }

    #[test]
    fn a_token_that_is_not_utf8_is_refused_not_mangled() {
        assert_eq!(secret_from_bytes(vec![0xff, 0x41]), Err(Error::BadToken));
        assert_eq!(
            secret_from_bytes(b"pw".to_vec()).map(|s| s.expose().to_owned()),
            Ok("pw".to_owned())
        );
    }
}
