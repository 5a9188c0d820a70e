//! The body of every answer that isn't a success.

use serde::{Deserialize, Serialize};

/// What went wrong, for a program; the HTTP status says the class.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ErrorCode {
    /// Bad JSON, a wrong type, an unknown field, a bad parameter (400).
    BadRequest,
    /// No client certificate, or one the controller doesn't accept (401).
    Unauthenticated,
    /// A certificate or credential that may not do this (403).
    Forbidden,
    /// The host was revoked: wipe cached hashes and keys at once (403).
    Revoked,
    NotFound,
    /// A join token or request id used already, a name taken (409).
    Conflict,
    /// The cursor is older than the controller's window: fetch
    /// `/v1/snapshot` (410).
    CursorTooOld,
    /// The store's epoch changed (a restore): drop the cursor, resync in
    /// full (410).
    EpochChanged,
    /// The host speaks a protocol version this controller doesn't serve
    /// (426 when too new, 400 when too old).
    ProtocolUnsupported,
    /// The body is larger than the controller reads (413).
    TooLarge,
    /// A limiter said no: retry after the answer's delay (429).
    TooManyRequests,
    /// The store is failing over: retry with the same request id (503).
    FailingOver,
    /// The controller can't reach its store (503).
    Unavailable,
    Internal,
}

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorAnswer {
    pub code: ErrorCode,
    /// For a person: what happened and what to do.
    pub message: String,
}
