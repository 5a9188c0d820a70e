//! The TLS acceptor for axum-server: the accept limiter first, then
//! axum-server's rustls handshake, then the peer's identity attached to every
//! request of the connection.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use axum::http::Request;
use axum_server::accept::Accept;
use axum_server::tls::TlsService;
use axum_server::tls_rustls::{RustlsAcceptor, RustlsConfig};
use rustls::ServerConfig;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::server::TlsStream;
use tower_service::Service;

use super::AcceptLimiter;
use crate::pki::HostIdentity;

/// The verified host behind a request's connection, `None` when the client
/// presented no certificate (enrollment). Handlers take it as
/// `Extension(PeerHost(peer))`.
///
/// The certificate was verified when the connection began (or when the
/// session it resumes began: rustls carries the client's certificate
/// through TLS 1.3 resumption). A keep-alive connection can outlive the
/// certificate and a host can be revoked while connected, so handlers still
/// check `not_after` and the host's row (revoked, serial) on each request.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PeerHost(pub Option<HostIdentity>);

/// Counters for `/metrics`, shared by every clone of one acceptor.
#[derive(Debug, Default)]
pub struct AcceptStats {
    /// Connections closed unanswered because the accept bucket was empty.
    pub limiter_drops: AtomicU64,
    /// Handshakes that failed: bad or untrusted certificate, expired
    /// certificate, protocol error, timeout, or a trusted certificate that
    /// names no host.
    pub handshake_failures: AtomicU64,
    /// Handshakes that completed (with or without a client certificate).
    pub handshakes: AtomicU64,
}

/// axum-server's rustls acceptor with an accept limiter in front and the
/// peer's [`PeerHost`] added to every request. Use with
/// `axum_server::bind(address).acceptor(acceptor)`.
#[derive(Clone)]
pub struct MtlsAcceptor {
    inner: RustlsAcceptor,
    rustls_config: RustlsConfig,
    limiter: Arc<AcceptLimiter>,
    stats: Arc<AcceptStats>,
}

impl std::fmt::Debug for MtlsAcceptor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MtlsAcceptor")
            .field("limiter", &self.limiter)
            .field("stats", &self.stats)
            .finish_non_exhaustive()
    }
}

impl MtlsAcceptor {
    /// Handshake timeout unless [`MtlsAcceptor::handshake_timeout`] says
    /// otherwise: a slow or silent client holds a task and a socket no
    /// longer than this.
    pub const DEFAULT_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

    /// An acceptor serving `config` (from [`server_config`](super::server_config)),
    /// limited by `limiter`.
    pub fn new(config: Arc<ServerConfig>, limiter: AcceptLimiter) -> MtlsAcceptor {
        let rustls_config = RustlsConfig::from_config(config);
        MtlsAcceptor {
            inner: RustlsAcceptor::new(rustls_config.clone())
                .handshake_timeout(Self::DEFAULT_HANDSHAKE_TIMEOUT),
            rustls_config,
            limiter: Arc::new(limiter),
            stats: Arc::new(AcceptStats::default()),
        }
    }

    /// Sets how long a handshake may take.
    pub fn handshake_timeout(mut self, timeout: Duration) -> MtlsAcceptor {
        self.inner = self.inner.handshake_timeout(timeout);
        self
    }

    /// The counters, for `/metrics`.
    pub fn stats(&self) -> Arc<AcceptStats> {
        self.stats.clone()
    }

    /// The live configuration: `reload_from_config` on it swaps the server
    /// certificate or the client trust (after `ca rotate`) for new
    /// connections without a restart.
    pub fn rustls_config(&self) -> &RustlsConfig {
        &self.rustls_config
    }
}

/// A boxed accept future (one allocation per connection; the handshake
/// itself costs far more).
type AcceptFuture<Stream, Service> =
    Pin<Box<dyn Future<Output = io::Result<(Stream, Service)>> + Send>>;

impl<I, S> Accept<I, S> for MtlsAcceptor
where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
    S: Send + 'static,
{
    type Stream = TlsStream<I>;
    type Service = PeerHostService<TlsService<S>>;
    type Future = AcceptFuture<Self::Stream, Self::Service>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        if !self.limiter.try_acquire() {
            self.stats.limiter_drops.fetch_add(1, Ordering::Relaxed);
            // Dropping the stream closes the connection before any TLS work.
            drop(stream);
            return Box::pin(std::future::ready(Err(io::Error::new(
                io::ErrorKind::ConnectionRefused,
                "connection dropped: over the accept rate limit",
            ))));
        }
        let handshake = self.inner.accept(stream, service);
        let stats = self.stats.clone();
        Box::pin(async move {
            let (tls_stream, tls_service) = match handshake.await {
                Ok(accepted) => accepted,
                Err(error) => {
                    stats.handshake_failures.fetch_add(1, Ordering::Relaxed);
                    return Err(error);
                }
            };
            let peer = match tls_stream.get_ref().1.peer_certificates() {
                None | Some([]) => None,
                Some([leaf, ..]) => match HostIdentity::from_cert_der(leaf) {
                    Ok(identity) => Some(identity),
                    Err(error) => {
                        // Our CA signed it, but it names no host (a
                        // controller's certificate used as a client one):
                        // never let it in as an anonymous client.
                        stats.handshake_failures.fetch_add(1, Ordering::Relaxed);
                        return Err(io::Error::new(io::ErrorKind::PermissionDenied, error));
                    }
                },
            };
            stats.handshakes.fetch_add(1, Ordering::Relaxed);
            Ok((
                tls_stream,
                PeerHostService {
                    inner: tls_service,
                    peer: PeerHost(peer),
                },
            ))
        })
    }
}

/// Adds the connection's [`PeerHost`] to every request.
#[derive(Clone, Debug)]
pub struct PeerHostService<S> {
    inner: S,
    peer: PeerHost,
}

impl<S, B> Service<Request<B>> for PeerHostService<S>
where
    S: Service<Request<B>>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request<B>) -> Self::Future {
        // Whatever the client sent can't pose as this: extensions are
        // server-side only, and this insert replaces any earlier value.
        request.extensions_mut().insert(self.peer.clone());
        self.inner.call(request)
    }
}
