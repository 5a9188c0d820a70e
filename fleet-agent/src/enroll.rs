//! Joining a controller: `POST /v1/enroll` with a join token, over TLS
//! checked against the operator's CA pin alone.

use crate::pin::{CaPin, certificates, pinned_config};
use crate::transport::Endpoint;
use crate::{AgentError, HostKey};
use roster_fleet_protocol::{EnrollAnswer, EnrollRequest, FleetSettings, LocalIds, Standalone};
use serde::{Deserialize, Serialize};
use std::fmt;
use std::time::Duration;
use zeroize::Zeroizing;

/// The longest an enrollment waits for its answer.
const ENROLL_TIMEOUT: Duration = Duration::from_secs(60);

/// What an enrolled host keeps (rosterd stores it as JSON in its state
/// directory; the key goes in a file of its own).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Enrollment {
    pub host_id: i64,
    pub hostname: String,
    pub environment: String,
    /// The host's certificate (PEM).
    pub certificate_pem: String,
    /// Every CA the host trusts for its controllers, and nothing else.
    pub ca_bundle_pem: String,
    /// Base URLs, tried in turn: `https://controller.example:8443`.
    pub controllers: Vec<String>,
    /// The pin the host joined with, `SHA256:…`.
    pub ca_fingerprint: String,
    pub epoch: String,
    pub cursor: i64,
    /// The uid range and admin group the controller decides (none from a
    /// controller that predates them, and in enrollments written before).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fleet: Option<FleetSettings>,
}

/// What `roster hosts join` gives.
#[derive(Clone)]
pub struct JoinRequest {
    /// The controller's base URL.
    pub url: String,
    /// `SHA256:…` (or hex) of the fleet CA's certificate.
    pub ca_fingerprint: String,
    pub join_token: Zeroizing<String>,
    pub hostname: String,
    pub local: LocalIds,
    /// The host's own users, adopted or discarded (none: it has none).
    pub standalone: Option<Standalone>,
}

impl fmt::Debug for JoinRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JoinRequest")
            .field("url", &self.url)
            .field("ca_fingerprint", &self.ca_fingerprint)
            .field("join_token", &"<redacted>")
            .field("hostname", &self.hostname)
            .field("local", &self.local)
            .field("standalone", &self.standalone)
            .finish()
    }
}

/// Enrolls this host: the controller at `request.url` is trusted only if
/// its chain holds the pinned CA and its certificate verifies under it
/// (the token is sent only then); `key`'s public half goes in a CSR.
/// The answer's CA bundle must hold the pinned CA too, and its
/// certificate must be `key`'s. The controllers the host will use are
/// the ones the controller lists, then the join URL if not among them.
pub async fn enroll(request: &JoinRequest, key: &HostKey) -> Result<Enrollment, AgentError> {
    Ok(enroll_reporting(request, key).await?.0)
}

/// [`enroll`], with what the controller did with the host's own users
/// (`request.standalone`), a sentence each.
pub async fn enroll_reporting(
    request: &JoinRequest,
    key: &HostKey,
) -> Result<(Enrollment, Vec<String>), AgentError> {
    let pin = CaPin::parse(&request.ca_fingerprint)?;
    let endpoint = Endpoint::parse(&request.url)?;
    let (config, verifier) = pinned_config(pin)?;
    let body = serde_json::to_vec(&EnrollRequest {
        join_token: request.join_token.as_str().to_owned(),
        hostname: request.hostname.clone(),
        csr_pem: key.certificate_request(&request.hostname)?,
        local: request.local.clone(),
        standalone: request.standalone.clone(),
    })
    .map(Zeroizing::new)
    .map_err(|e| AgentError::Bad(format!("cannot write the enrollment request: {e}")))?;
    let exchange = async {
        let mut sender = endpoint.connect(config).await?;
        endpoint
            .exchange(&mut sender, "POST", "/v1/enroll", Some(body.to_vec()))
            .await
    };
    let exchange = tokio::time::timeout(ENROLL_TIMEOUT, exchange)
        .await
        .map_err(|_| {
            AgentError::Unreachable(format!(
                "{}: no answer to the enrollment within {ENROLL_TIMEOUT:?}",
                endpoint.url
            ))
        })?
        .map_err(|error| match verifier.refusal() {
            Some(why) => AgentError::CaMismatch(format!("{}: {why}", endpoint.url)),
            None => error,
        })?;
    let answer = exchange.decode::<EnrollAnswer>(&endpoint.url).await?.body;
    let bundle = certificates(&answer.ca_bundle_pem, "the enrollment's CA bundle")?;
    if !bundle.iter().any(|ca| pin.matches(ca)) {
        return Err(AgentError::CaMismatch(format!(
            "{}: the CA bundle it sent doesn't hold the pinned CA {pin}: refusing to trust it",
            endpoint.url
        )));
    }
    // The certificate must be for this key (a bad answer fails here,
    // not at the first sync).
    crate::pin::mtls_config(&answer.ca_bundle_pem, &answer.certificate_pem, key.pem())?;
    // The controllers it lists, then the URL that just answered (if it
    // isn't listed: this host reaches it).
    let mut controllers = answer.controllers;
    if !controllers
        .iter()
        .any(|url| url.trim_end_matches('/') == endpoint.url.trim_end_matches('/'))
    {
        controllers.push(endpoint.url.clone());
    }
    let enrollment = Enrollment {
        host_id: answer.host_id,
        hostname: answer.hostname,
        environment: answer.environment,
        certificate_pem: answer.certificate_pem,
        ca_bundle_pem: answer.ca_bundle_pem,
        controllers,
        ca_fingerprint: pin.to_string(),
        epoch: answer.epoch,
        cursor: answer.cursor,
        fleet: answer.fleet,
    };
    Ok((enrollment, answer.standalone))
}
