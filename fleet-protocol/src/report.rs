//! `POST /v1/report` (what happened on the host: sessions, login results,
//! audit lines, about the reporting host only; buffered while offline and
//! sent once) and `POST /v1/renew` (a new certificate over mutual TLS).

use serde::{Deserialize, Serialize};

/// The most entries one report may carry; a host with more sends several.
pub const MAX_REPORT_ENTRIES: usize = 1_000;

/// The longest text of one entry, in bytes.
pub const MAX_ENTRY_BYTES: usize = 4_096;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportRequest {
    /// The reporting host's own name: a report naming another host is
    /// refused (the certificate says who reports).
    pub host: String,
    pub entries: Vec<ReportEntry>,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReportEntry {
    /// When it happened on the host (seconds since the Unix epoch).
    pub at: i64,
    pub kind: ReportKind,
    /// What happened, readable (never a secret): e.g. `alice ssh from
    /// 10.0.0.5 opened session 17`.
    pub text: String,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ReportKind {
    Session,
    LoginResult,
    Audit,
    /// Every live session of the host, as JSON ([`crate::ops::SessionView`]s).
    LiveSessions,
}

impl ReportKind {
    pub fn as_str(self) -> &'static str {
        match self {
            ReportKind::Session => "session",
            ReportKind::LoginResult => "login_result",
            ReportKind::Audit => "audit",
            ReportKind::LiveSessions => crate::ops::LIVE_SESSIONS_KIND,
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReportAnswer {
    /// How many entries were kept.
    pub kept: usize,
}

/// A host renewing its certificate, over mutual TLS with the current one
/// (at two thirds of its life). The host may send a new key's request or
/// its current key's; only the request's public key is used.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RenewRequest {
    pub csr_pem: String,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RenewAnswer {
    pub certificate_pem: String,
    /// Every CA hosts must trust now (a rotation adds one).
    pub ca_bundle_pem: String,
    /// Seconds since the Unix epoch.
    pub not_after: i64,
}
