//! DESIGN.md's "Who may do what", exhaustively: every actor kind × every
//! operation against a table written out here.

use crate::authz::{ActingUser, Actor, Operation, SecretAccess, authorize, visible_user};
use crate::error::Error;
use crate::level::Level;
use crate::model::{Role, Scope, UserState};
use std::collections::BTreeMap;

/// Columns: the actor kinds.
/// R root · S stranger · A role admin · a suspended role admin ·
/// E admin of `prod` · r read in prod · s status in prod · U plain user ·
/// X suspended user · P pending user · F full token of U · O read-only
/// token of U · G full token of A · Q read-only token of A.
/// `n` = refused as not-found (a secret the actor can't see).
const COLUMNS: &str = "RSAaErsUXPFOGQ";

/// Rows: an operation (`self` = the actor's own name, `tom` holds write in
/// prod, `dan` holds read in dev) and who may, column by column.
const TABLE: &str = "
CreateUser                 y.y.........y.
EditUser(tom)              y.y.........y.
EditUser(self)             y.y.........y.
DeleteUser(tom)            y.y.........y.
DeleteUser(self)           y.y.........y.
SuspendUser(tom)           y.y.........y.
SuspendUser(self)          y.y.........y.
EnableUser(tom)            y.y.........y.
UnlockUser(tom)            y.y.........y.
ResetPassword(tom)         y.y.........y.
SetOthersPassword(tom)     y.y.........y.
ChangeOwnPassword(self)    y.y.yyyy..y.y.
ChangeOwnPassword(tom)     y.y.........y.
AddEnvironment             y.y.........y.
RemoveEnvironment          y.y.........y.
ListEnvironments           y.y.yyyy..yyyy
Grant(tom,prod)            y.y.y.......y.
Grant(tom,dev)             y.y.........y.
Grant(self,prod)           y.y.y.......y.
Revoke(tom,prod)           y.y.y.......y.
Revoke(tom,dev)            y.y.........y.
ListUsers                  yyyyyyyyyyyyyy
ShowUser(self)             y.y.yyyy..yyyy
ShowUser(tom)              y.y.yy......yy
ShowUser(dan)              y.y.........yy
ListSessions(all)          y.y.yyyy..yyyy
ListSessions(self)         y.y.yyyy..yyyy
ListSessions(tom)          y.y.yyy.....yy
AddKey(self)               y.y.yyyy..y.y.
AddKey(tom)                y.y.........y.
RemoveKey(self)            y.y.yyyy..y.y.
RemoveKey(tom)             y.y.........y.
ListKeys(self)             y.y.yyyy..yyyy
ListKeys(tom)              y.y.........yy
CreateToken                y.y.yyyy..y.y.
RenameToken(self)          y.y.yyyy..y.y.
RenameToken(tom)           y.y.........y.
DeleteToken(self)          y.y.yyyy..y.y.
DeleteToken(tom)           y.y.........y.
ListTokens(self)           y.y.yyyy..yyyy
ListTokens(tom)            y.y.........yy
ViewFleet                  y.y.........yy
ManageFleet                y.y.........y.
EnrollHost                 y.............
ImportUsers                y.............
WhoAmI                     yyyyyyyyyyyyyy
Register                   yyyyyyyyyyy.y.
AuthorizedKeys             yyyyyyyyyyyyyy
VerifyPassword(self)       y.yyyyyyyy....
VerifyPassword(tom)        y.............
CheckAccount(self)         y.yyyyyyyy....
CheckAccount(tom)          y.............
OpenSession                y.............
CloseSession               y.............
CreateSecret               y.y.yyyy..y.y.
CreateSecret(prod)         y.y.y.......y.
ListSecrets                y.y.yyyy..yyyy
RekeySecrets               y.............
ViewSecret(own)            ynynyyyynnyyyy
ManageSecret(own)          ynynyyyynny.y.
ViewSecret(viewgrant)      ynynyyyynnyyyy
ManageSecret(viewgrant)    ynyn....nn..y.
ViewSecret(prod)           ynynynnnnnnnyy
ManageSecret(prod)         ynynynnnnnnny.
ViewSecret(others)         ynynnnnnnnnnyy
ManageSecret(others)       ynynnnnnnnnny.
";

fn user(name: &str, role: Role, state: UserState, grants: &[(&str, Level)]) -> ActingUser {
    ActingUser {
        name: name.into(),
        uid: 1_879_048_300,
        role,
        state,
        grants: grants.iter().map(|(e, l)| (e.to_string(), *l)).collect(),
    }
}

fn actor(kind: char) -> Actor {
    let ann = || user("ann", Role::Admin, UserState::Active, &[]);
    let pat = || user("pat", Role::User, UserState::Active, &[]);
    match kind {
        'R' => Actor::Root,
        'S' => Actor::Stranger { uid: 4242 },
        'A' => Actor::User(ann()),
        'a' => Actor::User(user("abe", Role::Admin, UserState::Suspended, &[])),
        'E' => Actor::User(user(
            "eve",
            Role::User,
            UserState::Active,
            &[("prod", Level::Admin)],
        )),
        'r' => Actor::User(user(
            "rod",
            Role::User,
            UserState::Active,
            &[("prod", Level::Read)],
        )),
        's' => Actor::User(user(
            "sid",
            Role::User,
            UserState::Active,
            &[("prod", Level::Status)],
        )),
        'U' => Actor::User(pat()),
        'X' => Actor::User(user(
            "xan",
            Role::User,
            UserState::Suspended,
            &[("prod", Level::Admin)],
        )),
        'P' => Actor::User(user(
            "pen",
            Role::User,
            UserState::Pending,
            &[("prod", Level::Admin)],
        )),
        'F' => Actor::Token {
            user: pat(),
            scope: Scope::Full,
            token_id: "t1".into(),
        },
        'O' => Actor::Token {
            user: pat(),
            scope: Scope::ReadOnly,
            token_id: "t2".into(),
        },
        'G' => Actor::Token {
            user: ann(),
            scope: Scope::Full,
            token_id: "t3".into(),
        },
        'Q' => Actor::Token {
            user: ann(),
            scope: Scope::ReadOnly,
            token_id: "t4".into(),
        },
        other => panic!("no actor kind {other}"),
    }
}

fn self_name(actor: &Actor) -> String {
    match actor {
        Actor::User(u) | Actor::Token { user: u, .. } => u.name.clone(),
        Actor::Root | Actor::Stranger { .. } => "nobody".into(),
    }
}

/// The operation a row names, with `me` for `self`.
fn operation<'a>(
    row: &str,
    me: &'a str,
    tom_grants: &'a BTreeMap<String, Level>,
    dan_grants: &'a BTreeMap<String, Level>,
    me_grants: &'a BTreeMap<String, Level>,
) -> Operation<'a> {
    let (name, args) = match row.split_once('(') {
        Some((name, rest)) => (name, rest.trim_end_matches(')')),
        None => (row, ""),
    };
    let mut args = args.split(',');
    let target: &'a str = match args.next() {
        Some("self") => me,
        Some("tom") => "tom",
        Some("dan") => "dan",
        _ => "",
    };
    let env: &'a str = match args.next() {
        Some("prod") => "prod",
        Some("dev") => "dev",
        _ => "",
    };
    use Operation::*;
    match name {
        "CreateUser" => CreateUser,
        "EditUser" => EditUser { target },
        "DeleteUser" => DeleteUser { target },
        "SuspendUser" => SuspendUser { target },
        "EnableUser" => EnableUser { target },
        "UnlockUser" => UnlockUser { target },
        "ResetPassword" => ResetPassword { target },
        "SetOthersPassword" => SetOthersPassword { target },
        "ChangeOwnPassword" => ChangeOwnPassword { target },
        "AddEnvironment" => AddEnvironment,
        "RemoveEnvironment" => RemoveEnvironment,
        "ListEnvironments" => ListEnvironments,
        "Grant" => Grant {
            target,
            environment: env,
            level: Level::Write,
        },
        "Revoke" => Revoke {
            target,
            environment: env,
        },
        "ListUsers" => ListUsers,
        "ShowUser" => ShowUser {
            target,
            target_grants: match target {
                "tom" => tom_grants,
                "dan" => dan_grants,
                _ => me_grants,
            },
        },
        "ListSessions" => ListSessions {
            environment: "prod",
            target: if target.is_empty() {
                None
            } else {
                Some(target)
            },
        },
        "AddKey" => AddKey { target },
        "RemoveKey" => RemoveKey { target },
        "ListKeys" => ListKeys { target },
        "CreateToken" => CreateToken,
        "RenameToken" => RenameToken { owner: target },
        "DeleteToken" => DeleteToken { owner: target },
        "ListTokens" => ListTokens { owner: target },
        "WhoAmI" => WhoAmI,
        "Register" => Register,
        "AuthorizedKeys" => AuthorizedKeys,
        "VerifyPassword" => VerifyPassword { target },
        "CheckAccount" => CheckAccount { target },
        "OpenSession" => OpenSession,
        "CloseSession" => CloseSession,
        "ViewFleet" => ViewFleet,
        "ManageFleet" => ManageFleet,
        "EnrollHost" => EnrollHost,
        "CreateSecret" => CreateSecret {
            environment: (env_arg(row) == "prod").then_some("prod"),
        },
        "ListSecrets" => ListSecrets,
        "RekeySecrets" => RekeySecrets,
        "ViewSecret" => ViewSecret {
            secret: "s",
            access: secret_access(env_arg(row), me_grants),
        },
        "ManageSecret" => ManageSecret {
            secret: "s",
            access: secret_access(env_arg(row), me_grants),
        },
        "ImportUsers" => ImportUsers,
        other => panic!("unknown operation {other}"),
    }
}

/// The first argument of a row, as written (`own`, `prod`, …).
fn env_arg(row: &str) -> &str {
    row.split_once('(')
        .map(|(_, rest)| rest.trim_end_matches(')'))
        .unwrap_or("")
}

/// What the actor holds on a secret a row names: its own, one shared
/// with it to view, one of environment prod, or somebody else's.
fn secret_access(which: &str, me_grants: &BTreeMap<String, Level>) -> SecretAccess {
    match which {
        "own" => SecretAccess {
            owner: true,
            ..SecretAccess::default()
        },
        "viewgrant" => SecretAccess {
            grant: Some(crate::secrets::SecretRole::View),
            ..SecretAccess::default()
        },
        "prod" => SecretAccess {
            environment_level: me_grants.get("prod").copied(),
            ..SecretAccess::default()
        },
        _ => SecretAccess::default(),
    }
}

fn variant(op: &Operation<'_>) -> &'static str {
    use Operation::*;
    match op {
        CreateUser => "CreateUser",
        EditUser { .. } => "EditUser",
        DeleteUser { .. } => "DeleteUser",
        SuspendUser { .. } => "SuspendUser",
        EnableUser { .. } => "EnableUser",
        UnlockUser { .. } => "UnlockUser",
        ResetPassword { .. } => "ResetPassword",
        SetOthersPassword { .. } => "SetOthersPassword",
        ChangeOwnPassword { .. } => "ChangeOwnPassword",
        AddEnvironment => "AddEnvironment",
        RemoveEnvironment => "RemoveEnvironment",
        ListEnvironments => "ListEnvironments",
        Grant { .. } => "Grant",
        Revoke { .. } => "Revoke",
        ListUsers => "ListUsers",
        ShowUser { .. } => "ShowUser",
        ListSessions { .. } => "ListSessions",
        AddKey { .. } => "AddKey",
        RemoveKey { .. } => "RemoveKey",
        ListKeys { .. } => "ListKeys",
        CreateToken => "CreateToken",
        RenameToken { .. } => "RenameToken",
        DeleteToken { .. } => "DeleteToken",
        ListTokens { .. } => "ListTokens",
        WhoAmI => "WhoAmI",
        Register => "Register",
        AuthorizedKeys => "AuthorizedKeys",
        VerifyPassword { .. } => "VerifyPassword",
        CheckAccount { .. } => "CheckAccount",
        OpenSession => "OpenSession",
        CloseSession => "CloseSession",
        ViewFleet => "ViewFleet",
        ManageFleet => "ManageFleet",
        EnrollHost => "EnrollHost",
        CreateSecret { .. } => "CreateSecret",
        ListSecrets => "ListSecrets",
        ViewSecret { .. } => "ViewSecret",
        ManageSecret { .. } => "ManageSecret",
        RekeySecrets => "RekeySecrets",
        ImportUsers => "ImportUsers",
    }
}

#[test]
fn the_table_exhaustively() {
    let tom: BTreeMap<String, Level> = [("prod".to_string(), Level::Write)].into();
    let dan: BTreeMap<String, Level> = [("dev".to_string(), Level::Read)].into();
    let mut seen = std::collections::BTreeSet::new();
    let mut failures = Vec::new();
    let mut checked = 0;
    for line in TABLE.lines().filter(|l| !l.trim().is_empty()) {
        let (row, expected) = line.split_at(27);
        let row = row.trim();
        assert_eq!(expected.len(), COLUMNS.len(), "row {row}");
        for (kind, want) in COLUMNS.chars().zip(expected.chars()) {
            let actor = actor(kind);
            let me = self_name(&actor);
            let me_grants = match &actor {
                Actor::User(u) | Actor::Token { user: u, .. } => u.grants.clone(),
                _ => BTreeMap::new(),
            };
            let op = operation(row, &me, &tom, &dan, &me_grants);
            seen.insert(variant(&op));
            let got = authorize(&actor, &op);
            match (&got, want) {
                (Ok(()), 'y') => {}
                (Err(Error::PermissionDenied(m)), '.') => {
                    assert!(m.len() > 20, "{row}/{kind}: a sentence, not {m:?}");
                }
                // A secret the actor may not see: it does not exist for them.
                (Err(Error::NotFound(_)), 'n') => {}
                _ => failures.push(format!("{row} by {kind}: expected {want}, got {got:?}")),
            }
            checked += 1;
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
    // Every Operation variant appears in the table (`variant` is an
    // exhaustive match, so a new variant fails to compile until listed).
    assert_eq!(
        seen.len(),
        40,
        "an Operation variant is missing from the table"
    );
    assert_eq!(checked, 66 * COLUMNS.len());
}

#[test]
fn tokens_never_authorize_pam_whatever_the_scope_or_role() {
    for kind in ['F', 'O', 'G', 'Q'] {
        let actor = actor(kind);
        let me = self_name(&actor);
        for op in [
            Operation::VerifyPassword { target: &me },
            Operation::CheckAccount { target: &me },
            Operation::OpenSession,
            Operation::CloseSession,
        ] {
            match authorize(&actor, &op) {
                Err(Error::PermissionDenied(m)) => assert!(m.contains("tokens never"), "{m}"),
                other => panic!("{kind} {op:?}: {other:?}"),
            }
        }
    }
}

#[test]
fn classification() {
    assert!(Operation::WhoAmI.is_read_only());
    assert!(!Operation::CreateUser.is_read_only());
    assert!(!Operation::VerifyPassword { target: "x" }.is_read_only());
    let pam: Vec<bool> = [
        Operation::VerifyPassword { target: "x" },
        Operation::CheckAccount { target: "x" },
        Operation::OpenSession,
        Operation::CloseSession,
        Operation::WhoAmI,
        Operation::Register,
    ]
    .iter()
    .map(Operation::is_pam)
    .collect();
    assert_eq!(pam, [true, true, true, true, false, false]);
}

#[test]
fn denials_say_how_to_get_the_right() {
    let pat = actor('U');
    match authorize(&pat, &Operation::CreateUser) {
        Err(Error::PermissionDenied(m)) => {
            assert_eq!(
                m,
                "only root or a Roster admin may create users: run with sudo"
            )
        }
        other => panic!("{other:?}"),
    }
    match authorize(
        &pat,
        &Operation::Grant {
            target: "tom",
            environment: "prod",
            level: Level::Read,
        },
    ) {
        Err(Error::PermissionDenied(m)) => {
            assert!(m.contains("admin of environment \"prod\""), "{m}")
        }
        other => panic!("{other:?}"),
    }
    match authorize(&actor('O'), &Operation::CreateToken) {
        Err(Error::PermissionDenied(m)) => assert!(m.contains("read-only"), "{m}"),
        other => panic!("{other:?}"),
    }
    match authorize(&actor('X'), &Operation::ListEnvironments) {
        Err(Error::PermissionDenied(m)) => assert!(m.contains("suspended"), "{m}"),
        other => panic!("{other:?}"),
    }
    match authorize(&actor('P'), &Operation::ListEnvironments) {
        Err(Error::PermissionDenied(m)) => assert!(m.contains("roster register"), "{m}"),
        other => panic!("{other:?}"),
    }
}

#[test]
fn visibility() {
    let tom: BTreeMap<String, Level> = [("prod".to_string(), Level::Write)].into();
    let none = BTreeMap::new();
    assert!(visible_user(&actor('R'), "tom", &none));
    assert!(visible_user(&actor('A'), "tom", &none));
    assert!(!visible_user(&actor('a'), "tom", &tom));
    assert!(
        visible_user(&actor('a'), "abe", &none),
        "everyone sees themselves"
    );
    assert!(visible_user(&actor('r'), "tom", &tom));
    assert!(!visible_user(&actor('r'), "tom", &none));
    assert!(
        !visible_user(&actor('s'), "tom", &tom),
        "status doesn't see users"
    );
    assert!(visible_user(&actor('U'), "pat", &none));
    assert!(!visible_user(&actor('U'), "tom", &tom));
    assert!(!visible_user(&actor('S'), "tom", &tom));
    assert!(!visible_user(&actor('X'), "tom", &tom));
    assert!(visible_user(&actor('O'), "pat", &none));
    assert!(visible_user(&actor('Q'), "tom", &none));
}
