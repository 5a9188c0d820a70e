//! Enrollment: `POST /v1/enroll`, the one call a host makes without a
//! client certificate (it has none yet).

use serde::{Deserialize, Serialize};

/// What a host sends to join. The controller uses only the CSR's public
/// key: the certificate's name, environment and every other field come
/// from the host's row (name from `hostname`, environment from the
/// token).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EnrollRequest {
    /// The join token, as `roster-controller token create` printed it.
    pub join_token: String,
    /// The name the host is enrolled under: unique in the fleet.
    pub hostname: String,
    /// A PKCS#10 request in PEM, signed by the host's own key (which
    /// never leaves the host).
    pub csr_pem: String,
    pub local: LocalIds,
    /// What becomes of the users the host had as a standalone host
    /// (`roster hosts join --adopt | --discard`); none: it has none. Done
    /// in the transaction that burns the token and adds the host, so a
    /// refusal changes nothing anywhere.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub standalone: Option<Standalone>,
}

/// The most users a joining host may move to the controller in one
/// enrollment (each with a hash and keys: the body stays under
/// [`crate::MAX_BODY_BYTES`]).
pub const MAX_ADOPTED_USERS: usize = 2_000;

/// A joining host's own users, and what becomes of them.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "mode", rename_all = "snake_case", deny_unknown_fields)]
pub enum Standalone {
    /// `--adopt`: the users move to the controller with their uids, hashes,
    /// grants and keys. A name or uid the fleet has already (a user, the
    /// retired list, another host's local account) refuses the whole
    /// join, naming each; the uids the host retired join the fleet's
    /// retired list.
    Adopt {
        /// The environment the host served standalone: its grants there
        /// become grants in the environment the host joins.
        environment: String,
        users: Vec<AdoptedUser>,
        retired: Vec<RetiredUid>,
    },
    /// `--discard`: the users go; every uid the host used (its users' and
    /// the ones it retired) joins the fleet's retired list, so nobody
    /// inherits their files. A uid a fleet user holds refuses the join.
    Discard { uids: Vec<RetiredUid> },
}

/// A uid a host used, with the name that held it.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RetiredUid {
    pub uid: u32,
    pub name: String,
}

/// A standalone host's user as it moves to the controller.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdoptedUser {
    pub uid: u32,
    pub name: String,
    pub display_name: String,
    /// "admin" or "user".
    pub role: String,
    /// "active", "suspended" or "pending".
    pub state: String,
    pub home: String,
    pub shell: String,
    pub created: i64,
    /// The PHC string; none for a pending user.
    pub password_hash: Option<String>,
    pub password_changed: Option<i64>,
    /// environment → level.
    pub grants: std::collections::BTreeMap<String, String>,
    pub keys: Vec<AdoptedKey>,
}

impl std::fmt::Debug for AdoptedUser {
    // Never the hash.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AdoptedUser")
            .field("uid", &self.uid)
            .field("name", &self.name)
            .field("role", &self.role)
            .field("state", &self.state)
            .field("grants", &self.grants)
            .field("keys", &self.keys.len())
            .finish_non_exhaustive()
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdoptedKey {
    /// e.g. "ssh-ed25519".
    pub key_type: String,
    /// The key blob, standard base64 (as in authorized_keys).
    pub blob: String,
    pub comment: String,
    /// Seconds since the Unix epoch.
    pub added: i64,
}

/// The host's own id ranges and the local names and ids it uses inside
/// Roster's range, so the controller never hands out a uid that would
/// collide there (at most [`crate::MAX_REPORTED_IDS`] entries in all).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LocalIds {
    pub ranges: Vec<IdRange>,
    pub used: Vec<UsedId>,
}

impl LocalIds {
    /// How many entries count against the cap.
    pub fn entries(&self) -> usize {
        self.ranges.len().saturating_add(self.used.len())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RangeKind {
    /// Roster's uid and gid range as the host had it configured.
    Uid,
    Gid,
    /// One line of `/etc/subuid`.
    Subuid,
    /// One line of `/etc/subgid`.
    Subgid,
    /// `/etc/login.defs` UID_MIN..=UID_MAX.
    LoginDefsUid,
    /// `/etc/login.defs` GID_MIN..=GID_MAX.
    LoginDefsGid,
    /// `/etc/login.defs` SYS_UID_MIN..=SYS_UID_MAX.
    LoginDefsSysUid,
    /// `/etc/login.defs` SYS_GID_MIN..=SYS_GID_MAX.
    LoginDefsSysGid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct IdRange {
    pub kind: RangeKind,
    pub first: u32,
    pub count: u32,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum IdKind {
    User,
    Group,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsedId {
    pub kind: IdKind,
    pub name: String,
    pub id: u32,
}

/// What an enrolled host keeps (in rosterd's state directory).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrollAnswer {
    pub host_id: i64,
    pub hostname: String,
    pub environment: String,
    /// The host's certificate (PEM), 30 days.
    pub certificate_pem: String,
    /// Every CA certificate hosts must trust (two during a rotation).
    pub ca_bundle_pem: String,
    /// Every controller URL a host may try, in order.
    pub controllers: Vec<String>,
    /// The store's epoch: a host that later sees another resyncs in full.
    pub epoch: String,
    /// Where the host's first sync starts (0: from a full snapshot).
    pub cursor: i64,
    /// What became of the host's own users, a sentence each (adopted,
    /// retired, and what didn't move and why). Empty when it had none.
    #[serde(default)]
    pub standalone: Vec<String>,
    /// The fleet-wide settings a host takes from its controller (none
    /// from a controller that predates them: the host keeps its own).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetSettings>,
}

/// What every host of a fleet must agree on, decided in the
/// controller's configuration (DESIGN.md: in fleet mode the uid range and
/// the admin group come from the controller, never from rosterd.toml).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FleetSettings {
    /// The uids (and private gids) users get, fleet-wide.
    pub uid_min: u32,
    pub uid_max: u32,
    /// The group NSS shows holding the admins who may log in on a host.
    pub admin_group: String,
    pub admin_gid: u32,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_host_without_users_of_its_own_sends_no_standalone_field() {
        let plain = EnrollRequest {
            join_token: "t".into(),
            hostname: "web-1".into(),
            csr_pem: "csr".into(),
            local: LocalIds::default(),
            standalone: None,
        };
        let wire = serde_json::to_string(&plain).unwrap();
        assert!(!wire.contains("standalone"), "{wire}");
        assert_eq!(serde_json::from_str::<EnrollRequest>(&wire).unwrap(), plain);
    }

    #[test]
    fn adopted_users_are_strict_on_the_wire_and_never_print_their_hash() {
        let wire = r#"{"join_token":"t","hostname":"web-1","csr_pem":"c","local":{"ranges":[],"used":[]},
            "standalone":{"mode":"adopt","environment":"default","retired":[],"users":[{"uid":60001,
            "name":"bob","display_name":"Bob","role":"user","state":"active","home":"/home/bob",
            "shell":"/bin/bash","created":1,"password_hash":"$argon2id$secret","password_changed":2,
            "grants":{"default":"write"},"keys":[]}]}}"#;
        let request: EnrollRequest = serde_json::from_str(wire).unwrap();
        let Some(Standalone::Adopt { users, .. }) = &request.standalone else {
            panic!("{request:?}");
        };
        assert_eq!(users[0].name, "bob");
        assert!(!format!("{request:?}").contains("secret"));
        let unknown = wire.replace("\"keys\":[]", "\"keys\":[],\"sudo\":true");
        assert!(serde_json::from_str::<EnrollRequest>(&unknown).is_err());
    }
}
