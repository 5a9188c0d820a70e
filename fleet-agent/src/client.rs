//! An enrolled host's client: mutual TLS to its controllers, tried in
//! turn from the one that answered last, a few kept-alive connections
//! reused, and the certificate switched in place at renewal.

use crate::pin::{certificate_validity, mtls_config};
use crate::transport::{Endpoint, Exchange};
use crate::{AgentError, Enrollment, HostKey};
use http_body_util::Full;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use roster_fleet_protocol::{
    Answer, HelloAnswer, LONG_POLL_MAX_SECS, OLDEST_SERVED, OpsAnswer, OpsRequest,
    PROTOCOL_VERSION, RenewAnswer, RenewRequest, ReportAnswer, ReportRequest, SnapshotAnswer,
    SyncAnswer,
};
use rustls::ClientConfig;
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

/// A request other than the long poll gets its answer within this.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// The long poll: the controller's longest wait and a margin.
const SYNC_TIMEOUT: Duration = Duration::from_secs(LONG_POLL_MAX_SECS + 15);

/// Idle connections kept for reuse (a long poll and a report at once).
const MAX_IDLE: usize = 2;

/// Mutual TLS to an enrollment's controllers. Cloning is cheap and the
/// clones share the connections and the certificate (a renewal switches
/// every clone).
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

struct Inner {
    hostname: String,
    /// The protocol version this host speaks (this build's, or the one
    /// before it for a simulated older host).
    protocol: u32,
    endpoints: Vec<Endpoint>,
    /// The endpoint that answered last: requests start there.
    preferred: AtomicUsize,
    identity: RwLock<Identity>,
    idle: Mutex<Vec<Idle>>,
}

/// The certificate in use, its TLS configuration and a generation that
/// tells a connection made with an older one.
struct Identity {
    generation: u64,
    config: Arc<ClientConfig>,
    certificate_pem: String,
    ca_bundle_pem: String,
}

struct Idle {
    endpoint: usize,
    generation: u64,
    sender: SendRequest<Full<Bytes>>,
}

impl std::fmt::Debug for Client {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Client")
            .field("hostname", &self.inner.hostname)
            .field(
                "controllers",
                &self
                    .inner
                    .endpoints
                    .iter()
                    .map(|e| &e.url)
                    .collect::<Vec<_>>(),
            )
            .finish_non_exhaustive()
    }
}

impl Client {
    /// A client of `enrollment`'s controllers, presenting its certificate
    /// with `key` and trusting exactly its CA bundle.
    pub fn new(enrollment: &Enrollment, key: &HostKey) -> Result<Client, AgentError> {
        Client::speaking(enrollment, key, PROTOCOL_VERSION)
    }

    /// [`Client::new`] for a host speaking protocol `version` rather than
    /// this build's: an older host in a rolling upgrade, as the host
    /// simulator plays it. Versions this build doesn't know (newer than
    /// its own, or older than the oldest a controller of this build
    /// serves) are refused.
    pub fn speaking(
        enrollment: &Enrollment,
        key: &HostKey,
        version: u32,
    ) -> Result<Client, AgentError> {
        if !roster_fleet_protocol::serves(version) {
            return Err(AgentError::Bad(format!(
                "protocol {version} is not one this build can speak: {OLDEST_SERVED} to {PROTOCOL_VERSION}"
            )));
        }
        if enrollment.controllers.is_empty() {
            return Err(AgentError::Bad(
                "the enrollment lists no controller: join again".into(),
            ));
        }
        let endpoints = enrollment
            .controllers
            .iter()
            .map(|url| Endpoint::parse(url))
            .collect::<Result<Vec<_>, _>>()?;
        let config = mtls_config(
            &enrollment.ca_bundle_pem,
            &enrollment.certificate_pem,
            key.pem(),
        )?;
        Ok(Client {
            inner: Arc::new(Inner {
                hostname: enrollment.hostname.clone(),
                protocol: version,
                endpoints,
                preferred: AtomicUsize::new(0),
                identity: RwLock::new(Identity {
                    generation: 0,
                    config,
                    certificate_pem: enrollment.certificate_pem.clone(),
                    ca_bundle_pem: enrollment.ca_bundle_pem.clone(),
                }),
                idle: Mutex::new(Vec::new()),
            }),
        })
    }

    /// The name the host is enrolled under (what its reports name).
    pub fn hostname(&self) -> &str {
        &self.inner.hostname
    }

    /// The protocol version this client speaks.
    pub fn protocol(&self) -> u32 {
        self.inner.protocol
    }

    /// The controller URL requests start from now (the last that answered).
    pub fn controller(&self) -> &str {
        let index = self.inner.preferred.load(Ordering::Relaxed) % self.inner.endpoints.len();
        &self.inner.endpoints[index].url
    }

    /// The certificate presented now (PEM).
    pub fn certificate_pem(&self) -> String {
        self.identity().certificate_pem.clone()
    }

    /// The CA bundle trusted now (PEM).
    pub fn ca_bundle_pem(&self) -> String {
        self.identity().ca_bundle_pem.clone()
    }

    /// The current certificate's not-before and not-after.
    pub fn certificate_validity(&self) -> Result<(SystemTime, SystemTime), AgentError> {
        certificate_validity(&self.identity().certificate_pem)
    }

    /// Presents `certificate_pem` with `key` from the next request on,
    /// trusting `ca_bundle_pem`; kept-alive connections made with the
    /// old certificate are dropped (the controller refuses a replaced
    /// one).
    pub fn switch_certificate(
        &self,
        certificate_pem: &str,
        ca_bundle_pem: &str,
        key: &HostKey,
    ) -> Result<(), AgentError> {
        let config = mtls_config(ca_bundle_pem, certificate_pem, key.pem())?;
        {
            let mut identity = self
                .inner
                .identity
                .write()
                .unwrap_or_else(PoisonError::into_inner);
            *identity = Identity {
                generation: identity.generation.wrapping_add(1),
                config,
                certificate_pem: certificate_pem.to_owned(),
                ca_bundle_pem: ca_bundle_pem.to_owned(),
            };
        }
        self.inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .clear();
        Ok(())
    }

    /// `GET /v1/hello`: who the controller takes this host for, and its clock.
    pub async fn hello(&self) -> Result<Answer<HelloAnswer>, AgentError> {
        self.call("GET", "/v1/hello", None, REQUEST_TIMEOUT).await
    }

    /// `GET /v1/sync?after=…&epoch=…`: the long poll. `410` is
    /// [`AgentError::Gone`].
    pub async fn sync(&self, epoch: &str, after: i64) -> Result<Answer<SyncAnswer>, AgentError> {
        let path = format!("/v1/sync?after={after}&epoch={}", query_escape(epoch));
        self.call("GET", &path, None, SYNC_TIMEOUT).await
    }

    /// `GET /v1/snapshot`: the environment's full state.
    pub async fn snapshot(&self) -> Result<Answer<SnapshotAnswer>, AgentError> {
        self.call("GET", "/v1/snapshot", None, REQUEST_TIMEOUT * 4)
            .await
    }

    /// `POST /v1/ops`: a change or read made for a person (their
    /// credential inside). Sent again to the next controller when one
    /// can't answer: the request id makes that safe.
    pub async fn ops(&self, request: &OpsRequest) -> Result<Answer<OpsAnswer>, AgentError> {
        self.call("POST", "/v1/ops", Some(json(request)?), REQUEST_TIMEOUT)
            .await
    }

    /// `POST /v1/report`.
    pub async fn report(
        &self,
        request: &ReportRequest,
    ) -> Result<Answer<ReportAnswer>, AgentError> {
        self.call("POST", "/v1/report", Some(json(request)?), REQUEST_TIMEOUT)
            .await
    }

    /// `POST /v1/renew`: a new certificate for `key` (a new key's or the
    /// current one's). The client keeps presenting the current one until
    /// [`Client::switch_certificate`].
    pub async fn renew(&self, key: &HostKey) -> Result<Answer<RenewAnswer>, AgentError> {
        let request = RenewRequest {
            csr_pem: key.certificate_request(&self.inner.hostname)?,
        };
        self.call("POST", "/v1/renew", Some(json(&request)?), REQUEST_TIMEOUT)
            .await
    }

    fn identity(&self) -> std::sync::RwLockReadGuard<'_, Identity> {
        self.inner
            .identity
            .read()
            .unwrap_or_else(PoisonError::into_inner)
    }

    /// The request to each controller in turn, starting from the one
    /// that answered last, until one answers; a refusal is an answer (no
    /// other controller is asked), a connection failure, a lost answer
    /// or a store failing over is not. When none answers: `NoAnswer` if
    /// the request may have reached one, else `Unreachable` (nothing
    /// was sent) or `FailingOver`.
    async fn call<T: DeserializeOwned + Send + 'static>(
        &self,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        timeout: Duration,
    ) -> Result<Answer<T>, AgentError> {
        let count = self.inner.endpoints.len();
        let first = self.inner.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        let mut last = None;
        // Whether any controller may have received the request.
        let mut sent = false;
        for step in 0..count {
            let index = (first + step) % count;
            let endpoint = &self.inner.endpoints[index];
            let outcome =
                tokio::time::timeout(timeout, self.exchange(index, method, path, body.clone()))
                    .await
                    .unwrap_or_else(|_| {
                        // Connecting has a shorter limit of its own: the
                        // request was out.
                        Err(AgentError::NoAnswer(format!(
                            "{}: no answer to {path} within {timeout:?}",
                            endpoint.url
                        )))
                    });
            let decoded = match outcome {
                Ok(exchange) => {
                    exchange
                        .decode_as::<T>(&endpoint.url, self.inner.protocol)
                        .await
                }
                Err(error) => Err(error),
            };
            match decoded {
                Err(error) if error.try_next_controller() => {
                    sent |= matches!(error, AgentError::NoAnswer(_));
                    failures.push(error.to_string());
                    last = Some(error);
                }
                decoded => {
                    self.inner.preferred.store(index, Ordering::Relaxed);
                    return decoded;
                }
            }
        }
        let failures = failures.join("; ");
        match last {
            // One controller: its own error as it was.
            Some(error) if count == 1 => Err(error),
            _ if sent => Err(AgentError::NoAnswer(failures)),
            Some(AgentError::FailingOver(_)) => Err(AgentError::FailingOver(failures)),
            _ => Err(AgentError::Unreachable(failures)),
        }
    }

    /// One exchange with endpoint `index`, on a kept-alive connection if
    /// one is idle (and again on a new one if that one had closed).
    async fn exchange(
        &self,
        index: usize,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Exchange, AgentError> {
        let endpoint = &self.inner.endpoints[index];
        let (generation, config) = {
            let identity = self.identity();
            (identity.generation, Arc::clone(&identity.config))
        };
        // A kept-alive connection the controller closed meanwhile fails:
        // the request goes again on a new one.
        if let Some(mut sender) = self.take_idle(index, generation)
            && let Ok(exchange) = endpoint
                .exchange_as(&mut sender, method, path, body.clone(), self.inner.protocol)
                .await
        {
            self.keep_idle(index, generation, sender);
            return Ok(exchange);
        }
        let mut sender = endpoint.connect(config).await?;
        let exchange = endpoint
            .exchange_as(&mut sender, method, path, body, self.inner.protocol)
            .await?;
        self.keep_idle(index, generation, sender);
        Ok(exchange)
    }

    fn take_idle(&self, index: usize, generation: u64) -> Option<SendRequest<Full<Bytes>>> {
        let mut idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        idle.retain(|kept| !kept.sender.is_closed());
        let position = idle
            .iter()
            .position(|kept| kept.endpoint == index && kept.generation == generation)?;
        Some(idle.swap_remove(position).sender)
    }

    fn keep_idle(&self, index: usize, generation: u64, sender: SendRequest<Full<Bytes>>) {
        if sender.is_closed() || !sender.is_ready() {
            return;
        }
        let current = self.identity().generation;
        let mut idle = self
            .inner
            .idle
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        if generation == current && idle.len() < MAX_IDLE {
            idle.push(Idle {
                endpoint: index,
                generation,
                sender,
            });
        }
    }
}

fn json<T: Serialize>(value: &T) -> Result<Vec<u8>, AgentError> {
    serde_json::to_vec(value).map_err(|e| AgentError::Bad(format!("cannot write the request: {e}")))
}

/// An epoch in a query: kept as is when it is plain (the controller's
/// are), else percent-encoded.
fn query_escape(value: &str) -> String {
    let mut escaped = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~') {
            escaped.push(char::from(byte));
        } else {
            escaped.push_str(&format!("%{byte:02X}"));
        }
    }
    escaped
}

#[cfg(test)]
mod tests {
    use super::*;

    fn enrollment() -> Enrollment {
        Enrollment {
            host_id: 1,
            hostname: "web-1".into(),
            environment: "default".into(),
            certificate_pem: String::new(),
            ca_bundle_pem: String::new(),
            controllers: Vec::new(),
            ca_fingerprint: String::new(),
            epoch: "e".into(),
            cursor: 0,
            fleet: None,
        }
    }

    #[test]
    fn a_client_speaks_only_a_version_a_controller_of_this_build_serves() {
        let key = HostKey::generate().unwrap();
        for version in [0, OLDEST_SERVED.saturating_sub(1), PROTOCOL_VERSION + 1] {
            if roster_fleet_protocol::serves(version) {
                continue;
            }
            let error = Client::speaking(&enrollment(), &key, version).unwrap_err();
            assert!(
                error.to_string().contains("not one this build can speak"),
                "{error}"
            );
        }
        // The versions served get past the check (to the enrollment's own).
        for version in [OLDEST_SERVED, PROTOCOL_VERSION] {
            let error = Client::speaking(&enrollment(), &key, version).unwrap_err();
            assert!(error.to_string().contains("lists no controller"), "{error}");
        }
    }
}
