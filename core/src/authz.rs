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

/// What an actor's user holds on one secret, worked out by core from the
/// secret and the actor (the table decides what it allows).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct SecretAccess {
    /// The actor's user owns the secret.
    pub owner: bool,
    /// The secret is shared with the actor's user, with this role.
    pub grant: Option<crate::secrets::SecretRole>,
    /// An environment secret: the level the actor's user holds there.
    pub environment_level: Option<Level>,
}

/// Every operation the daemon serves, with the targets the table looks at.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Operation<'a> {
    CreateUser,
    EditUser {
        target: &'a str,
    },
    DeleteUser {
        target: &'a str,
    },
    SuspendUser {
        target: &'a str,
    },
    EnableUser {
        target: &'a str,
    },
    UnlockUser {
        target: &'a str,
    },
    /// `users password --reset`: back to pending with a new code.
    ResetPassword {
        target: &'a str,
    },
    /// A password set by someone else (an admin), without the current one.
    SetOthersPassword {
        target: &'a str,
    },
    /// Own password, with the current one.
    ChangeOwnPassword {
        target: &'a str,
    },
    AddEnvironment,
    RemoveEnvironment,
    ListEnvironments,
    Grant {
        target: &'a str,
        environment: &'a str,
        level: Level,
    },
    Revoke {
        target: &'a str,
        environment: &'a str,
    },
    /// `users list`: allowed for everyone; what they see is
    /// [`visible_user`]'s business.
    ListUsers,
    ShowUser {
        target: &'a str,
        target_grants: &'a BTreeMap<String, Level>,
    },
    /// `users sessions` on this host (`environment` = the host's);
    /// `target` = the user whose sessions are asked for, if one.
    ListSessions {
        environment: &'a str,
        target: Option<&'a str>,
    },
    AddKey {
        target: &'a str,
    },
    RemoveKey {
        target: &'a str,
    },
    ListKeys {
        target: &'a str,
    },
    CreateToken,
    RenameToken {
        owner: &'a str,
    },
    DeleteToken {
        owner: &'a str,
    },
    ListTokens {
        owner: &'a str,
    },
    WhoAmI,
    Register,
    AuthorizedKeys,
    /// PAM: verify a password or code for `target`.
    VerifyPassword {
        target: &'a str,
    },
    /// PAM: the account check for `target`.
    CheckAccount {
        target: &'a str,
    },
    /// PAM: open or close a session (root only).
    OpenSession,
    CloseSession,
    /// A fleet's controller: list its hosts and join tokens.
    ViewFleet,
    /// A fleet's controller: join tokens, revoking hosts, environments'
    /// fleet settings.
    ManageFleet,
    /// Join this host to a controller, or leave it (root only: the
    /// machine's own business, like its network).
    EnrollHost,
    /// Add a secret: the actor's own (None), or an environment's.
    CreateSecret {
        environment: Option<&'a str>,
    },
    /// List secrets: open to all; what each sees is [`secret_visible`]'s
    /// business.
    ListSecrets,
    /// Read a secret's metadata or the revision one tracks (and so pin
    /// it: the reader's own bookkeeping). `secret` names it in messages.
    ViewSecret {
        secret: &'a str,
        access: SecretAccess,
    },
    /// Update, grant, revoke, remove, see every revision.
    ManageSecret {
        secret: &'a str,
        access: SecretAccess,
    },
    /// Re-wrap every secret under a new key (root only: the key file is
    /// the machine's).
    RekeySecrets,
    /// `roster users import` and its `--undo`: adopt the host's own local
    /// accounts (root only: the CLI edits `/etc` for it).
    ImportUsers,
}

impl Operation<'_> {
    /// True for operations that change nothing (what a read-only token may call).
    pub fn is_read_only(&self) -> bool {
        use Operation::*;
        match self {
            ListEnvironments
            | ListUsers
            | ShowUser { .. }
            | ListSessions { .. }
            | ListKeys { .. }
            | ListTokens { .. }
            | WhoAmI
            | AuthorizedKeys
            | ViewFleet
            | ListSecrets
            | ViewSecret { .. }
            | CheckAccount { .. } => true,
            CreateUser
            | EditUser { .. }
            | DeleteUser { .. }
            | SuspendUser { .. }
            | EnableUser { .. }
            | UnlockUser { .. }
            | ResetPassword { .. }
            | SetOthersPassword { .. }
            | ChangeOwnPassword { .. }
            | AddEnvironment
            | RemoveEnvironment
            | Grant { .. }
            | Revoke { .. }
            | AddKey { .. }
            | RemoveKey { .. }
            | CreateToken
            | RenameToken { .. }
            | DeleteToken { .. }
            | Register
            // Counts failures toward the lockout.
            | VerifyPassword { .. }
            | OpenSession
            | CloseSession
            | ManageFleet
            | EnrollHost
            | CreateSecret { .. }
            | ManageSecret { .. }
            | RekeySecrets
            | ImportUsers => false,
        }
    }

    /// True for the PAM operations, which go by the caller's uid alone.
    pub fn is_pam(&self) -> bool {
        matches!(
            self,
            Operation::VerifyPassword { .. }
                | Operation::CheckAccount { .. }
                | Operation::OpenSession
                | Operation::CloseSession
        )
    }

    /// What the operation does, for "only … may {what}" sentences.
    pub fn describe(&self) -> String {
        use Operation::*;
        match self {
            CreateUser => "create users".into(),
            EditUser { target } => format!("edit user {target:?}"),
            DeleteUser { target } => format!("delete user {target:?}"),
            SuspendUser { target } => format!("suspend user {target:?}"),
            EnableUser { target } => format!("enable user {target:?}"),
            UnlockUser { target } => format!("unlock user {target:?}"),
            ResetPassword { target } => format!("reset the password of {target:?}"),
            SetOthersPassword { target } => format!("set the password of {target:?}"),
            ChangeOwnPassword { target } => format!("change the password of {target:?}"),
            AddEnvironment => "add environments".into(),
            ViewFleet => "list the fleet's hosts and join tokens".into(),
            ManageFleet => "manage the fleet (join tokens, hosts, environment settings)".into(),
            EnrollHost => "join this host to a controller or leave it".into(),
            ImportUsers => "import the host's local accounts".into(),
            RemoveEnvironment => "remove environments".into(),
            ListEnvironments => "list environments".into(),
            Grant {
                target,
                environment,
                level,
            } => {
                format!("grant {level} to {target:?} in environment {environment:?}")
            }
            Revoke {
                target,
                environment,
            } => {
                format!("revoke from {target:?} in environment {environment:?}")
            }
            ListUsers => "list users".into(),
            ShowUser { target, .. } => format!("show user {target:?}"),
            ListSessions {
                target: Some(target),
                ..
            } => format!("list the sessions of {target:?}"),
            ListSessions { target: None, .. } => "list sessions".into(),
            AddKey { target } => format!("add SSH keys for {target:?}"),
            RemoveKey { target } => format!("remove SSH keys of {target:?}"),
            ListKeys { target } => format!("list the SSH keys of {target:?}"),
            CreateToken => "create tokens".into(),
            RenameToken { owner } => format!("rename the tokens of {owner:?}"),
            DeleteToken { owner } => format!("delete the tokens of {owner:?}"),
            ListTokens { owner } => format!("list the tokens of {owner:?}"),
            WhoAmI => "ask who you are".into(),
            Register => "register".into(),
            AuthorizedKeys => "read authorized keys".into(),
            VerifyPassword { target } => format!("verify the password of {target:?}"),
            CheckAccount { target } => format!("check the account of {target:?}"),
            OpenSession => "open sessions".into(),
            CloseSession => "close sessions".into(),
            CreateSecret { environment: None } => "add secrets".into(),
            CreateSecret {
                environment: Some(environment),
            } => format!("add secrets of environment {environment:?}"),
            ListSecrets => "list secrets".into(),
            ViewSecret { secret, .. } => format!("read secret {secret}"),
            ManageSecret { secret, .. } => format!("manage secret {secret}"),
            RekeySecrets => "re-key the secrets".into(),
        }
    }
}

fn denied(message: String) -> crate::Error {
    crate::Error::PermissionDenied(message)
}

/// The user a token or a uid acts as, whatever the scope.
fn acting_user(actor: &Actor) -> Option<&ActingUser> {
    match actor {
        Actor::User(user) | Actor::Token { user, .. } => Some(user),
        Actor::Root | Actor::Stranger { .. } => None,
    }
}

fn is_active_admin(user: &ActingUser) -> bool {
    user.role == Role::Admin && user.state == UserState::Active
}

/// Allowed, or `Error::PermissionDenied` with a sentence that says how to
/// get the right ("run with sudo", "ask an admin of ENV").
///
/// Beyond DESIGN.md's table (decisions recorded here, tested in
/// `tests::table`):
/// - a suspended or pending user acts with a stranger's rights (whoami,
///   register, authorized keys, an empty list), plus the PAM checks of
///   their own account, which go by uid and answer "suspended"/"pending";
///   a suspended role admin is no admin;
/// - listing environments is open to root and every active user (grants
///   name them), not to strangers;
/// - root and active role admins may do everything but the root-only PAM
///   operations, renaming others' tokens included;
/// - the self rules (nobody changes their own grants or role, suspends or
///   deletes themselves) are model rules, refused with `Conflict` by
///   [`crate::rules`], not here.
pub fn authorize(actor: &Actor, operation: &Operation<'_>) -> crate::Result<()> {
    use Operation::*;
    let what = operation.describe();

    // A secret the actor can't see does not exist for them: not-found,
    // before anything (a token's scope included) could tell otherwise.
    if let ViewSecret { .. } | ManageSecret { .. } = operation {
        return authorize_secret(actor, operation);
    }

    // PAM operations go by the caller's uid alone; a token never counts.
    if operation.is_pam() {
        return match actor {
            Actor::Root => Ok(()),
            Actor::Token { .. } => Err(denied(format!(
                "tokens never authorize PAM operations: may not {what} with a token"
            ))),
            Actor::User(user) => match operation {
                VerifyPassword { target } | CheckAccount { target } if *target == user.name => {
                    Ok(())
                }
                VerifyPassword { .. } | CheckAccount { .. } => Err(denied(format!(
                    "only root or the user themselves may {what}"
                ))),
                _ => Err(denied(format!("only root may {what}"))),
            },
            Actor::Stranger { .. } => Err(denied(match operation {
                OpenSession | CloseSession => format!("only root may {what}"),
                _ => format!("only root or the user themselves may {what}"),
            })),
        };
    }

    let read_only_token = matches!(
        actor,
        Actor::Token {
            scope: Scope::ReadOnly,
            ..
        }
    );
    if read_only_token && !operation.is_read_only() {
        return Err(denied(format!(
            "this token is read-only: to {what}, use a token with scope full or run without a token"
        )));
    }

    // Anyone, whoever they are.
    if matches!(operation, WhoAmI | Register | AuthorizedKeys | ListUsers) {
        return Ok(());
    }
    if matches!(actor, Actor::Root) {
        return Ok(());
    }
    if matches!(operation, EnrollHost | ImportUsers) {
        return Err(denied(format!("only root may {what}: run with sudo")));
    }
    if matches!(operation, RekeySecrets) {
        return Err(denied(format!(
            "only root may {what} (the key file is the machine's): run with sudo"
        )));
    }
    let Some(user) = acting_user(actor) else {
        return Err(denied(format!(
            "you are not a Roster user: to {what}, run with sudo or ask a Roster admin"
        )));
    };
    match user.state {
        UserState::Active => {}
        UserState::Suspended => {
            return Err(denied(format!(
                "the account {:?} is suspended: ask a Roster admin to enable it",
                user.name
            )));
        }
        UserState::Pending => {
            return Err(denied(format!(
                "the account {:?} is pending: finish registration with `roster register` first",
                user.name
            )));
        }
    }
    if user.role == Role::Admin {
        return Ok(());
    }
    let admin_only = || {
        Err(denied(format!(
            "only root or a Roster admin may {what}: run with sudo"
        )))
    };
    let own = |target: &str| target == user.name;
    match operation {
        CreateUser
        | EditUser { .. }
        | DeleteUser { .. }
        | SuspendUser { .. }
        | EnableUser { .. }
        | UnlockUser { .. }
        | ResetPassword { .. }
        | SetOthersPassword { .. }
        | AddEnvironment
        | RemoveEnvironment
        | ViewFleet
        | ManageFleet => admin_only(),
        // Refused above for anyone but root.
        EnrollHost | ImportUsers => Err(denied(format!("only root may {what}: run with sudo"))),
        ListEnvironments | CreateToken => Ok(()),
        Grant { environment, .. } | Revoke { environment, .. } => {
            if user.grants.get(*environment) == Some(&Level::Admin) {
                Ok(())
            } else {
                Err(denied(format!(
                    "only root, a Roster admin or an admin of environment {environment:?} may {what}: ask one of them, or run with sudo"
                )))
            }
        }
        ShowUser {
            target,
            target_grants,
        } => {
            if visible_user(actor, target, target_grants) {
                Ok(())
            } else {
                Err(denied(format!(
                    "you may not {what}: you see yourself and, with read or more in an environment, the users holding grants there"
                )))
            }
        }
        ListSessions {
            environment,
            target,
        } => match target {
            Some(target) if !own(target) && !sees_all_sessions(actor, environment) => {
                Err(denied(format!(
                    "you may not {what}: that takes status or more in environment {environment:?}, or sudo"
                )))
            }
            _ => Ok(()),
        },
        ChangeOwnPassword { target }
        | AddKey { target }
        | RemoveKey { target }
        | ListKeys { target } => {
            if own(target) {
                Ok(())
            } else {
                Err(denied(format!(
                    "you may not {what}: only your own, unless you run with sudo"
                )))
            }
        }
        RenameToken { owner } | DeleteToken { owner } | ListTokens { owner } => {
            if own(owner) {
                Ok(())
            } else {
                Err(denied(format!(
                    "you may not {what}: tokens are managed by their owner (root and Roster admins may list and delete them)"
                )))
            }
        }
        WhoAmI | Register | AuthorizedKeys | ListUsers => Ok(()),
        VerifyPassword { .. } | CheckAccount { .. } | OpenSession | CloseSession => {
            Err(denied(format!("only root may {what}")))
        }
        ListSecrets | CreateSecret { environment: None } => Ok(()),
        CreateSecret {
            environment: Some(environment),
        } => {
            if user.grants.get(*environment) == Some(&Level::Admin) {
                Ok(())
            } else {
                Err(denied(format!(
                    "only root, a Roster admin or an admin of environment {environment:?} may {what}"
                )))
            }
        }
        ViewSecret { .. } | ManageSecret { .. } => authorize_secret(actor, operation),
        RekeySecrets => Err(denied(format!("only root may {what}: run with sudo"))),
    }
}

/// How far `actor` reaches into one secret with `access`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SecretReach {
    /// It does not exist for them.
    None,
    View,
    Manage,
}

/// DESIGN.md "Secrets": root and active role admins manage every secret;
/// the owner (for an environment secret: its `admin` holders) and
/// `manage` grantees manage; `view` grantees and, for an environment
/// secret, its `write` holders view; nobody else (`status` and `read`
/// holders included, and every suspended or pending user) sees it.
pub fn secret_reach(actor: &Actor, access: &SecretAccess) -> SecretReach {
    use crate::secrets::SecretRole;
    if matches!(actor, Actor::Root) {
        return SecretReach::Manage;
    }
    let Some(user) = acting_user(actor) else {
        return SecretReach::None;
    };
    if user.state != UserState::Active {
        return SecretReach::None;
    }
    if user.role == Role::Admin
        || access.owner
        || access.grant == Some(SecretRole::Manage)
        || access.environment_level == Some(Level::Admin)
    {
        return SecretReach::Manage;
    }
    if access.grant == Some(SecretRole::View)
        || access.environment_level.is_some_and(|l| l >= Level::Write)
    {
        return SecretReach::View;
    }
    SecretReach::None
}

/// Whether `actor` learns that a secret with `access` exists (lists).
pub fn secret_visible(actor: &Actor, access: &SecretAccess) -> bool {
    secret_reach(actor, access) > SecretReach::None
}

fn authorize_secret(actor: &Actor, operation: &Operation<'_>) -> crate::Result<()> {
    let (secret, access, needed) = match operation {
        Operation::ViewSecret { secret, access } => (*secret, access, SecretReach::View),
        Operation::ManageSecret { secret, access } => (*secret, access, SecretReach::Manage),
        _ => return Err(denied(format!("may not {}", operation.describe()))),
    };
    let reach = secret_reach(actor, access);
    if reach == SecretReach::None {
        return Err(crate::Error::NotFound(format!(
            "secret {} not found",
            crate::validate::shown(secret)
        )));
    }
    if reach < needed {
        return Err(denied(format!(
            "you may read secret {secret} but not manage it: ask its owner for `--role manage`"
        )));
    }
    let read_only_token = matches!(
        actor,
        Actor::Token {
            scope: Scope::ReadOnly,
            ..
        }
    );
    if read_only_token && !operation.is_read_only() {
        return Err(denied(format!(
            "this token is read-only: to {}, use a token with scope full or run without a token",
            operation.describe()
        )));
    }
    Ok(())
}

/// "Sees all sessions" on this host (whose environment is
/// `environment`): root, an active role admin, and an active holder of
/// `status` or more there; everyone else sees their own only. The one
/// answer for the authorization of `users sessions USER` and for what
/// the listing shows.
pub fn sees_all_sessions(actor: &Actor, environment: &str) -> bool {
    if matches!(actor, Actor::Root) {
        return true;
    }
    let Some(user) = acting_user(actor) else {
        return false;
    };
    user.state == UserState::Active
        && (user.role == Role::Admin
            || user
                .grants
                .get(environment)
                .is_some_and(|held| *held >= Level::Status))
}

/// Whether `actor` may see `target` (a user with `target_grants`) in a
/// list: root and role admins see all, `read`+ holders of E see the users
/// holding grants in E, everyone sees themselves.
pub fn visible_user(actor: &Actor, target: &str, target_grants: &BTreeMap<String, Level>) -> bool {
    if matches!(actor, Actor::Root) {
        return true;
    }
    let Some(user) = acting_user(actor) else {
        return false;
    };
    if user.name == target {
        return true;
    }
    if user.state != UserState::Active {
        return false;
    }
    if is_active_admin(user) {
        return true;
    }
    user.grants
        .iter()
        .any(|(env, level)| *level >= Level::Read && target_grants.contains_key(env))
}
