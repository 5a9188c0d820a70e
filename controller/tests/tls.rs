//! The hosts' TLS end to end on loopback: a real axum server behind
//! `MtlsAcceptor`, real certificates from `pki`, clients on tokio-rustls and
//! hyper. Nothing is mocked.

// Test code: a failed unwrap is a failed test (helpers outside #[test]
// included, which clippy.toml's allow-*-in-tests don't cover).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime};

use axum::routing::get;
use axum::{Extension, Router};
use http_body_util::{BodyExt, Empty};
use hyper::body::Bytes;
use hyper_util::rt::TokioIo;
use rcgen::{CertificateParams, DnType, KeyPair, PKCS_ECDSA_P256_SHA256};
use roster_controller::pki::{CA_KEY_FILE, Ca, CaBundle, HostSubject};
use roster_controller::tls::{
    AcceptLimiter, AcceptStats, MtlsAcceptor, PeerHost, client_config, enrollment_client_config,
    server_config,
};
use rustls::ClientConfig;
use rustls::pki_types::{CertificateDer, ServerName};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

const DAY: Duration = Duration::from_secs(24 * 3600);

/// A running server and what the tests look at.
struct Server {
    address: SocketAddr,
    stats: Arc<AcceptStats>,
    handle: axum_server::Handle<SocketAddr>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.handle.shutdown();
    }
}

/// The route answers what it was told about its peer.
async fn whoami(Extension(PeerHost(peer)): Extension<PeerHost>) -> String {
    match peer {
        Some(host) => format!("host {} {} {}", host.id, host.name, host.environment),
        None => "anonymous".to_owned(),
    }
}

async fn start_server(ca: &Ca, limiter: AcceptLimiter) -> Server {
    let (key, chain) = ca
        .issue_server_cert(
            &["127.0.0.1".to_owned(), "localhost".to_owned()],
            SystemTime::now(),
        )
        .unwrap();
    let config = server_config(&chain, &key, &[ca.cert_der().clone()]).unwrap();
    let acceptor = MtlsAcceptor::new(config, limiter).handshake_timeout(Duration::from_secs(5));
    let stats = acceptor.stats();
    let handle = axum_server::Handle::new();
    let app = Router::new().route("/whoami", get(whoami));
    let server = axum_server::bind(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)))
        .acceptor(acceptor)
        .handle(handle.clone());
    tokio::spawn(server.serve(app.into_make_service()));
    let address = handle.listening().await.expect("the server listens");
    Server {
        address,
        stats,
        handle,
    }
}

fn generous_limiter() -> AcceptLimiter {
    AcceptLimiter::new(10_000.0, 10_000).unwrap()
}

/// A host key and the certificate `ca` issues for it at `issued_at`, as
/// (certificate PEM, key PEM). The request claims another name, which the
/// certificate must not carry.
fn host_credentials(ca: &Ca, id: i64, issued_at: SystemTime) -> (String, String) {
    let key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(vec!["claimed.example".to_owned()]).unwrap();
    params
        .distinguished_name
        .push(DnType::CommonName, "claimed-name");
    let csr = params.serialize_request(&key).unwrap().pem().unwrap();
    let host = HostSubject {
        id,
        name: format!("host-{id}"),
        environment: "prod".to_owned(),
    };
    let issued = ca.sign_host_csr(&csr, &host, issued_at).unwrap();
    (issued.cert_pem, key.serialize_pem())
}

fn trust(ca: &Ca) -> Vec<CertificateDer<'static>> {
    vec![ca.cert_der().clone()]
}

/// One TLS connection to the server (the client side of the handshake done).
async fn connect(
    address: SocketAddr,
    config: Arc<ClientConfig>,
) -> Result<tokio_rustls::client::TlsStream<tokio::net::TcpStream>, AnyError> {
    let tcp = tokio::net::TcpStream::connect(address).await?;
    let server_name = ServerName::IpAddress(IpAddr::from(Ipv4Addr::LOCALHOST).into());
    Ok(tokio_rustls::TlsConnector::from(config)
        .connect(server_name, tcp)
        .await?)
}

/// One TLS connection, one `GET /whoami`, the answer's body.
async fn whoami_over(address: SocketAddr, config: Arc<ClientConfig>) -> Result<String, AnyError> {
    let tls = connect(address, config).await?;
    let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(connection);
    let request = hyper::Request::get("/whoami")
        .header("host", "127.0.0.1")
        .body(Empty::<Bytes>::new())?;
    let response = sender.send_request(request).await?;
    if !response.status().is_success() {
        return Err(format!("status {}", response.status()).into());
    }
    let body = response.into_body().collect().await?.to_bytes();
    Ok(String::from_utf8(body.to_vec())?)
}

/// Waits until `counter` reaches `at_least` (the server counts after the
/// client has seen the failure); gives up after 10 s.
async fn wait_for(counter: &std::sync::atomic::AtomicU64, at_least: u64) -> u64 {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let value = counter.load(Ordering::Relaxed);
        if value >= at_least || Instant::now() > deadline {
            return value;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

#[tokio::test]
async fn a_host_certificate_gives_the_route_its_identity() {
    let ca = Ca::create("Roster fleet CA", SystemTime::now()).unwrap();
    let server = start_server(&ca, generous_limiter()).await;
    let (cert, key) = host_credentials(&ca, 17, SystemTime::now());
    let config = client_config(&trust(&ca), &cert, &key).unwrap();
    let answer = whoami_over(server.address, config).await.unwrap();
    assert_eq!(answer, "host 17 host-17 prod");
    assert_eq!(server.stats.handshakes.load(Ordering::Relaxed), 1);
    assert_eq!(server.stats.handshake_failures.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn no_client_certificate_is_let_through_as_anonymous() {
    let ca = Ca::create("Roster fleet CA", SystemTime::now()).unwrap();
    let server = start_server(&ca, generous_limiter()).await;
    let config = enrollment_client_config(&trust(&ca)).unwrap();
    let answer = whoami_over(server.address, config).await.unwrap();
    assert_eq!(answer, "anonymous");
    assert_eq!(server.stats.handshake_failures.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_certificate_from_another_ca_fails_the_handshake_and_is_counted() {
    let ca = Ca::create("Roster fleet CA", SystemTime::now()).unwrap();
    let server = start_server(&ca, generous_limiter()).await;
    let other_ca = Ca::create("Someone else's CA", SystemTime::now()).unwrap();
    let (cert, key) = host_credentials(&other_ca, 17, SystemTime::now());
    // The client trusts our server; only its own certificate is foreign.
    let config = client_config(&trust(&ca), &cert, &key).unwrap();
    let result = whoami_over(server.address, config).await;
    assert!(result.is_err(), "answered: {result:?}");
    assert_eq!(wait_for(&server.stats.handshake_failures, 1).await, 1);
    assert_eq!(server.stats.handshakes.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn an_expired_host_certificate_is_refused() {
    let ca = Ca::create("Roster fleet CA", SystemTime::now() - 40 * DAY).unwrap();
    let server = start_server(&ca, generous_limiter()).await;
    let (cert, key) = host_credentials(&ca, 17, SystemTime::now() - 31 * DAY);
    let config = client_config(&trust(&ca), &cert, &key).unwrap();
    let result = whoami_over(server.address, config).await;
    assert!(result.is_err(), "answered: {result:?}");
    assert_eq!(wait_for(&server.stats.handshake_failures, 1).await, 1);

    // The same CA's fresh certificate still gets in.
    let (cert, key) = host_credentials(&ca, 18, SystemTime::now());
    let config = client_config(&trust(&ca), &cert, &key).unwrap();
    assert_eq!(
        whoami_over(server.address, config).await.unwrap(),
        "host 18 host-18 prod"
    );
}

#[tokio::test]
async fn a_controller_certificate_is_no_host_certificate() {
    let ca = Ca::create("Roster fleet CA", SystemTime::now()).unwrap();
    let server = start_server(&ca, generous_limiter()).await;
    // Signed by our CA, but for servers (no clientAuth, no roster-host URI).
    let (key, chain) = ca
        .issue_server_cert(&["other-controller.example".to_owned()], SystemTime::now())
        .unwrap();
    let config = client_config(&trust(&ca), &chain, &key).unwrap();
    let result = whoami_over(server.address, config).await;
    assert!(result.is_err(), "answered: {result:?}");
    assert_eq!(wait_for(&server.stats.handshake_failures, 1).await, 1);
}

#[tokio::test]
async fn a_trusted_client_certificate_without_a_host_id_is_refused() {
    // Our own CA signs a clientAuth certificate that names no roster-host:
    // valid for TLS, but it must not pass as an anonymous enrollment client.
    let dir = tempfile::tempdir().unwrap();
    let bundle = CaBundle::init(dir.path(), "Roster fleet CA", SystemTime::now()).unwrap();
    let server = start_server(&bundle.signing, generous_limiter()).await;
    let ca_key =
        KeyPair::from_pem(&std::fs::read_to_string(dir.path().join(CA_KEY_FILE)).unwrap()).unwrap();
    let issuer = rcgen::Issuer::from_ca_cert_der(bundle.signing.cert_der(), ca_key).unwrap();
    let client_key = KeyPair::generate_for(&PKCS_ECDSA_P256_SHA256).unwrap();
    let mut params = CertificateParams::new(vec!["not-a-host.example".to_owned()]).unwrap();
    params.extended_key_usages = vec![rcgen::ExtendedKeyUsagePurpose::ClientAuth];
    let cert = params.signed_by(&client_key, &issuer).unwrap();
    let config = client_config(
        &trust(&bundle.signing),
        &cert.pem(),
        &client_key.serialize_pem(),
    )
    .unwrap();
    let result = whoami_over(server.address, config).await;
    assert!(result.is_err(), "answered: {result:?}");
    assert_eq!(wait_for(&server.stats.handshake_failures, 1).await, 1);
    assert_eq!(server.stats.handshakes.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn a_client_that_does_not_trust_the_controller_gives_up() {
    let ca = Ca::create("Roster fleet CA", SystemTime::now()).unwrap();
    let server = start_server(&ca, generous_limiter()).await;
    let pinned_elsewhere = Ca::create("Someone else's CA", SystemTime::now()).unwrap();
    let config = enrollment_client_config(&trust(&pinned_elsewhere)).unwrap();
    assert!(whoami_over(server.address, config).await.is_err());
}

#[tokio::test]
async fn connections_over_the_bucket_are_closed_and_counted() {
    let ca = Ca::create("Roster fleet CA", SystemTime::now()).unwrap();
    let server = start_server(&ca, AcceptLimiter::new(1.0, 2).unwrap()).await;
    let config = enrollment_client_config(&trust(&ca)).unwrap();
    let attempts: Vec<_> = (0..5)
        .map(|_| tokio::spawn(whoami_over(server.address, config.clone())))
        .collect();
    let mut answered = 0;
    let mut refused = 0;
    for attempt in attempts {
        match attempt.await.unwrap() {
            Ok(answer) => {
                assert_eq!(answer, "anonymous");
                answered += 1;
            }
            Err(_) => refused += 1,
        }
    }
    assert!(answered >= 1, "nothing got through the burst");
    assert!(refused >= 1, "the bucket let all 5 through");
    let drops = server.stats.limiter_drops.load(Ordering::Relaxed);
    assert!(drops > 0);
    assert_eq!(drops, refused);
    assert_eq!(server.stats.handshake_failures.load(Ordering::Relaxed), 0);
}

/// Not a timed assertion: prints how many mTLS connections (handshake with a
/// host certificate + one request) the server accepts per second on
/// loopback, with full handshakes (client-side resumption off: every
/// connection verifies the host's certificate and signs) and with TLS 1.3
/// resumption (what a host reconnecting to the same controller gets).
/// `cargo test -p roster-controller --test tls -- --ignored --nocapture`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "a measurement, run by hand"]
async fn measure_mtls_accept_rate() {
    let ca = Ca::create("Roster fleet CA", SystemTime::now()).unwrap();
    let server = start_server(&ca, generous_limiter()).await;
    let (cert, key) = host_credentials(&ca, 1, SystemTime::now());
    let resuming = client_config(&trust(&ca), &cert, &key).unwrap();
    let mut full = (*resuming).clone();
    full.resumption = rustls::client::Resumption::disabled();
    let full = Arc::new(full);
    // Check that each configuration does what its name says.
    for (config, expected) in [
        (&full, rustls::HandshakeKind::Full),
        (&resuming, rustls::HandshakeKind::Resumed),
    ] {
        whoami_over(server.address, config.clone()).await.unwrap();
        let stream = connect(server.address, config.clone()).await.unwrap();
        assert_eq!(stream.get_ref().1.handshake_kind(), Some(expected));
    }
    for (handshakes, config) in [("full", full), ("resumed", resuming)] {
        for (clients, per_client) in [(1u32, 300u32), (8, 100)] {
            let started = Instant::now();
            let tasks: Vec<_> = (0..clients)
                .map(|_| {
                    let config = config.clone();
                    let address = server.address;
                    tokio::spawn(async move {
                        for _ in 0..per_client {
                            let answer = whoami_over(address, config.clone()).await.unwrap();
                            assert_eq!(answer, "host 1 host-1 prod");
                        }
                    })
                })
                .collect();
            for task in tasks {
                task.await.unwrap();
            }
            let elapsed = started.elapsed();
            let total = clients * per_client;
            println!(
                "{handshakes} handshakes, {clients} concurrent client(s): {total} mTLS connections in {:.2} s = {:.0} connections/s (client and server on the same 2 vCPUs)",
                elapsed.as_secs_f64(),
                f64::from(total) / elapsed.as_secs_f64()
            );
        }
    }
    assert_eq!(server.stats.handshake_failures.load(Ordering::Relaxed), 0);
}
