//! One exchange with the application's conversation function: a prompt or
//! a message out, at most one answer back, wiped and freed here.

use crate::codes::Error;
use crate::ffi::{PAM_SUCCESS, PamConv, PamMessage, PamResponse};
use libc::{c_char, c_int};
use std::ffi::CString;
use std::ptr;
use zeroize::Zeroize;

/// Sends one message of `style` and returns the answer, if the application
/// gave one. The answer's C copy is zeroed and freed before returning,
/// whatever the conversation's return code.
///
/// # Safety
/// `conv` must be the `pam_conv` libpam handed out for this handle.
pub unsafe fn converse(conv: &PamConv, style: c_int, text: &str) -> Result<Option<Vec<u8>>, Error> {
    let Some(function) = conv.conv else {
        return Err(Error::Conversation(
            "the application gave no conversation function".into(),
        ));
    };
    // A NUL inside a message would cut it short; none of ours holds one,
    // but rosterd's messages are passed through.
    let text = CString::new(text.replace('\0', " "))
        .map_err(|_| Error::Conversation("message holds a NUL byte".into()))?;
    let message = PamMessage {
        msg_style: style,
        msg: text.as_ptr(),
    };
    let mut messages: [*const PamMessage; 1] = [&message];
    let mut responses: *mut PamResponse = ptr::null_mut();
    // SAFETY: `messages` points at one valid pam_message whose text lives
    // until the call returns; `responses` is an out-pointer the
    // application fills with a malloc'd array (or leaves NULL).
    let code = unsafe { function(1, messages.as_mut_ptr(), &mut responses, conv.appdata_ptr) };
    // SAFETY: `responses` is NULL or the application's malloc'd array of
    // one pam_response, which this module now owns.
    let answer = unsafe { take_response(responses) };
    if code != PAM_SUCCESS {
        if let Some(mut bytes) = answer {
            wipe(&mut bytes);
        }
        return Err(Error::Conversation(format!(
            "the application's conversation answered {code}"
        )));
    }
    Ok(answer)
}

/// Copies the answer out of the application's response array, zeroes the
/// C string and frees both allocations (the caller owns them per the PAM
/// conversation contract).
///
/// # Safety
/// `responses` is NULL or a malloc'd array of at least one pam_response
/// whose `resp` is NULL or a malloc'd NUL-terminated string.
unsafe fn take_response(responses: *mut PamResponse) -> Option<Vec<u8>> {
    if responses.is_null() {
        return None;
    }
    // SAFETY: non-NULL per the contract above.
    let text: *mut c_char = unsafe { (*responses).resp };
    let answer = if text.is_null() {
        None
    } else {
        // SAFETY: a NUL-terminated string the application allocated.
        let len = unsafe { libc::strlen(text) };
        // SAFETY: `len` bytes are readable before the terminating NUL.
        let bytes = unsafe { std::slice::from_raw_parts(text.cast::<u8>(), len) };
        let mut copy = Vec::with_capacity(len);
        copy.extend_from_slice(bytes);
        // SAFETY: the same `len` bytes, writable: the string is ours now.
        wipe(unsafe { std::slice::from_raw_parts_mut(text.cast::<u8>(), len) });
        // SAFETY: allocated by the application with malloc, owned by us.
        unsafe { libc::free(text.cast()) };
        Some(copy)
    };
    // SAFETY: the array itself, malloc'd by the application.
    unsafe { libc::free(responses.cast()) };
    answer
}

/// Zeroes a buffer in a way the optimiser can't drop (zeroize's volatile
/// writes).
pub fn wipe(bytes: &mut [u8]) {
    bytes.zeroize();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ffi::{PAM_CONV_ERR, PAM_PROMPT_ECHO_OFF};
    use libc::c_void;

    /// A conversation that answers "s3cret" in a malloc'd response, the
    /// way applications do, and records the prompt it saw.
    unsafe extern "C" fn answering(
        n: c_int,
        msg: *mut *const PamMessage,
        resp: *mut *mut PamResponse,
        appdata: *mut c_void,
    ) -> c_int {
        unsafe {
            assert_eq!(n, 1);
            let m = &**msg;
            let seen = &mut *(appdata as *mut String);
            *seen = std::ffi::CStr::from_ptr(m.msg)
                .to_string_lossy()
                .into_owned();
            let array = libc::calloc(1, std::mem::size_of::<PamResponse>()) as *mut PamResponse;
            (*array).resp = libc::strdup(c"s3cret".as_ptr());
            *resp = array;
        }
        PAM_SUCCESS
    }

    unsafe extern "C" fn failing(
        _n: c_int,
        _msg: *mut *const PamMessage,
        resp: *mut *mut PamResponse,
        _appdata: *mut c_void,
    ) -> c_int {
        unsafe {
            let array = libc::calloc(1, std::mem::size_of::<PamResponse>()) as *mut PamResponse;
            (*array).resp = libc::strdup(c"ignored".as_ptr());
            *resp = array;
        }
        PAM_CONV_ERR
    }

    #[test]
    fn an_answer_comes_back_and_its_prompt_went_out() {
        let mut seen = String::new();
        let conv = PamConv {
            conv: Some(answering),
            appdata_ptr: &mut seen as *mut String as *mut c_void,
        };
        let answer = unsafe { converse(&conv, PAM_PROMPT_ECHO_OFF, "Password: ") };
        assert_eq!(answer, Ok(Some(b"s3cret".to_vec())));
        assert_eq!(seen, "Password: ");
    }

    #[test]
    fn a_failed_conversation_is_an_error_and_frees_what_it_got() {
        let conv = PamConv {
            conv: Some(failing),
            appdata_ptr: ptr::null_mut(),
        };
        let answer = unsafe { converse(&conv, PAM_PROMPT_ECHO_OFF, "Password: ") };
        assert!(matches!(answer, Err(Error::Conversation(_))));
    }

    #[test]
    fn no_conversation_function_is_an_error_not_a_crash() {
        let conv = PamConv {
            conv: None,
            appdata_ptr: ptr::null_mut(),
        };
        let answer = unsafe { converse(&conv, PAM_PROMPT_ECHO_OFF, "Password: ") };
        assert!(matches!(answer, Err(Error::Conversation(_))));
    }

    #[test]
    fn wipe_zeroes() {
        let mut b = b"hunter2".to_vec();
        wipe(&mut b);
        assert_eq!(b, vec![0; 7]);
    }
}
