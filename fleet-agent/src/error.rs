//! What can go wrong talking to a controller, and a host's own failures.

use roster_fleet_protocol::ErrorCode;

/// A failure of the host's side ([`crate::Host`]'s methods): the message
/// says what and why.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct HostError(pub String);

/// Why a call to a controller (or the agent) failed.
#[derive(Clone, Debug, thiserror::Error)]
pub enum AgentError {
    /// No controller could be reached (connection refused, timed out,
    /// the handshake cut): nothing was sent, nothing changed.
    #[error("controller unreachable: {0}")]
    Unreachable(String),
    /// The request went out (or may have) and no answer came: whether
    /// it took effect is unknown. A change retried with the same request
    /// id is safe.
    #[error("no answer from the controller (the request may have been applied): {0}")]
    NoAnswer(String),
    /// `410 Gone`: the cursor is older than the controller's window, or
    /// the store's epoch changed; a full snapshot is needed.
    #[error("{}", if *epoch_changed { "the controller's store has a new epoch (a restore): a full resync is needed" } else { "the cursor is older than the controller keeps: a full resync is needed" })]
    Gone { epoch_changed: bool },
    /// The controller says this host was revoked: its cached hashes and
    /// keys must be wiped.
    #[error(
        "this host was revoked at the controller: its cached credentials are wiped; join again to come back"
    )]
    Revoked,
    /// The controller answered with a refusal.
    #[error("the controller refused ({code:?}): {message}")]
    Refused { code: ErrorCode, message: String },
    /// The controller's store is failing over: retry the same request.
    #[error("store failing over, retrying: {0}")]
    FailingOver(String),
    /// The controller doesn't serve this host's protocol version.
    #[error("the controller doesn't serve this host's protocol: {0}")]
    ProtocolUnsupported(String),
    /// The controller speaks an older protocol than this host: a host
    /// never talks to a controller older than itself (upgrade the
    /// controllers first).
    #[error(
        "the controller speaks protocol {controller}, older than this host's {host}: upgrade the controllers before the hosts"
    )]
    ControllerTooOld { controller: u32, host: u32 },
    /// The controller's certificate chain holds no CA with the pinned
    /// fingerprint (enrollment).
    #[error("{0}")]
    CaMismatch(String),
    /// TLS failed: a handshake refused, a configuration unusable.
    #[error("TLS: {0}")]
    Tls(String),
    /// Within an epoch, an answer older than the host's cursor: refused
    /// as a replay.
    #[error(
        "refused a replayed answer: it ends at cursor {answer}, older than this host's {host} in the same epoch"
    )]
    Replay { answer: i64, host: i64 },
    /// The host's own side failed.
    #[error("the host's cache: {0}")]
    Host(#[from] HostError),
    /// Something malformed: an answer that isn't the JSON expected, a
    /// bad URL, fingerprint, key or certificate.
    #[error("{0}")]
    Bad(String),
}

impl AgentError {
    /// Whether trying again later (or another controller now) may help.
    pub fn is_retryable(&self) -> bool {
        match self {
            AgentError::Unreachable(_)
            | AgentError::NoAnswer(_)
            | AgentError::FailingOver(_)
            | AgentError::Tls(_)
            | AgentError::Replay { .. }
            | AgentError::Host(_)
            | AgentError::Gone { .. } => true,
            AgentError::Refused { code, .. } => matches!(
                code,
                ErrorCode::Unavailable | ErrorCode::TooManyRequests | ErrorCode::Internal
            ),
            AgentError::Revoked
            | AgentError::ProtocolUnsupported(_)
            | AgentError::ControllerTooOld { .. }
            | AgentError::CaMismatch(_)
            | AgentError::Bad(_) => false,
        }
    }

    /// Whether another controller of the list may answer where this one
    /// didn't (a connection failure, a store failing over, a controller
    /// unable to reach its store).
    pub(crate) fn try_next_controller(&self) -> bool {
        match self {
            AgentError::Unreachable(_)
            | AgentError::NoAnswer(_)
            | AgentError::FailingOver(_)
            | AgentError::Tls(_) => true,
            AgentError::Refused { code, .. } => {
                matches!(code, ErrorCode::Unavailable | ErrorCode::TooManyRequests)
            }
            _ => false,
        }
    }
}
