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
}
