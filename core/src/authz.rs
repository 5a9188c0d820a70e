//! DESIGN.md's "Who may do what", as one function.
//!
//! The daemon resolves every caller into an [`Actor`] (through
//! [`crate::Roster::actor`]) and every request into an [`Operation`];
//! [`authorize`] answers. The table lives here and nowhere else.

use crate::level::Level;
use crate::model::{Role, Scope, UserState};
use std::collections::BTreeMap;

/// A Roster user acting, with what the table needs to know about them.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ActingUser {
    pub name: String,
    pub uid: u32,
    pub role: Role,
    pub state: UserState,
    pub grants: BTreeMap<String, Level>,
}

/// Who is asking, resolved from the bus credentials and any token.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Actor {
    /// uid 0: a full admin.
    Root,
    /// A uid that belongs to a Roster user.
    User(ActingUser),
    /// A caller presenting a valid token: its user, within the scope.
    Token {
        user: ActingUser,
        scope: Scope,
        token_id: String,
    },
    /// A uid Roster doesn't know.
    Stranger { uid: u32 },
}

/// Every operation the daemon serves, with the targets the table looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation<'a> {
    CreateUser,
    EditUser { target: &'a str },
    DeleteUser { target: &'a str },
    SuspendUser { target: &'a str },
    EnableUser { target: &'a str },
    UnlockUser { target: &'a str },
    /// `users password --reset`: back to pending with a new code.
    ResetPassword { target: &'a str },
    /// A password set by someone else (an admin), without the current one.
    SetOthersPassword { target: &'a str },
    /// Own password, with the current one.
    ChangeOwnPassword { target: &'a str },
    AddEnvironment,
    RemoveEnvironment,
    ListEnvironments,
    Grant { target: &'a str, environment: &'a str, level: Level },
    Revoke { target: &'a str, environment: &'a str },
    /// `users list`: allowed for everyone; what they see is
    /// [`visible_user`]'s business.
    ListUsers,
    ShowUser { target: &'a str, target_grants: &'a BTreeMap<String, Level> },
    /// `users sessions` on this host (`environment` = the host's);
    /// `target` = the user whose sessions are asked for, if one.
    ListSessions { environment: &'a str, target: Option<&'a str> },
    AddKey { target: &'a str },
    RemoveKey { target: &'a str },
    ListKeys { target: &'a str },
    CreateToken,
    RenameToken { owner: &'a str },
    DeleteToken { owner: &'a str },
    ListTokens { owner: &'a str },
    WhoAmI,
    Register,
    AuthorizedKeys,
    /// PAM: verify a password or code for `target`.
    VerifyPassword { target: &'a str },
    /// PAM: the account check for `target`.
    CheckAccount { target: &'a str },
    /// PAM: open or close a session (root only).
    OpenSession,
    CloseSession,
}

impl Operation<'_> {
    /// True for operations that change nothing (what a read-only token may call).
    pub fn is_read_only(&self) -> bool {
        todo!("core engineer")
    }

    /// True for the PAM operations, which go by the caller's uid alone.
    pub fn is_pam(&self) -> bool {
        todo!("core engineer")
    }
}

/// Allowed, or `Error::PermissionDenied` with a sentence that says how to
/// get the right ("run with sudo", "ask an admin of ENV").
pub fn authorize(actor: &Actor, operation: &Operation<'_>) -> crate::Result<()> {
    let _ = (actor, operation);
    todo!("core engineer")
}

/// Whether `actor` may see `target` (a user with `target_grants`) in a
/// list: root and role admins see all, `read`+ holders of E see the users
/// holding grants in E, everyone sees themselves.
pub fn visible_user(
    actor: &Actor,
    target: &str,
    target_grants: &BTreeMap<String, Level>,
) -> bool {
    let _ = (actor, target, target_grants);
    todo!("core engineer")
}
