//! One HTTP/1.1 exchange over TLS with a controller, and the reading of
//! its answer: the envelope, the protocol check, the error body.

use crate::AgentError;
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use roster_fleet_protocol::{Answer, ErrorAnswer, ErrorCode, PROTOCOL_HEADER, PROTOCOL_VERSION};
use rustls::ClientConfig;
use rustls::pki_types::ServerName;
use serde::de::DeserializeOwned;
use std::sync::Arc;
use std::time::Duration;

/// Connecting and the TLS handshake, at most.
pub(crate) const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// The largest answer read (a 100,000-user snapshot is tens of MB).
const MAX_ANSWER_BYTES: usize = 512 << 20;

/// Answers larger than this are parsed off the async threads.
const PARSE_INLINE_BYTES: usize = 256 << 10;

/// A controller's base URL, taken apart: `https://host[:port][/prefix]`.
#[derive(Clone, Debug)]
pub(crate) struct Endpoint {
    pub url: String,
    /// What to connect to (an IPv6 address without brackets).
    host: String,
    port: u16,
    /// The `host` header: as in the URL.
    authority: String,
    /// Any path before `/v1/…`, without a trailing slash.
    prefix: String,
    server_name: ServerName<'static>,
}

impl Endpoint {
    pub(crate) fn parse(url: &str) -> Result<Endpoint, AgentError> {
        let refuse = |why: &str| {
            AgentError::Bad(format!(
                "the controller URL {url:?} is not one ({why}): give it as https://HOST[:PORT]"
            ))
        };
        let uri: hyper::Uri = url.trim().parse().map_err(|_| refuse("unreadable"))?;
        if uri.scheme_str() != Some("https") {
            return Err(refuse("the scheme must be https"));
        }
        let authority = uri.authority().ok_or_else(|| refuse("no host"))?;
        if authority.as_str().contains('@') {
            return Err(refuse("no user name is taken"));
        }
        let host = authority.host();
        let bare = host
            .trim_start_matches('[')
            .trim_end_matches(']')
            .to_owned();
        if bare.is_empty() {
            return Err(refuse("no host"));
        }
        let server_name = ServerName::try_from(bare.clone())
            .map_err(|_| refuse("the host is neither a DNS name nor an IP address"))?;
        if uri.query().is_some() {
            return Err(refuse("no query is taken"));
        }
        Ok(Endpoint {
            url: url.trim().to_owned(),
            host: bare,
            port: authority.port_u16().unwrap_or(443),
            authority: authority.as_str().to_owned(),
            prefix: uri.path().trim_end_matches('/').to_owned(),
            server_name,
        })
    }

    /// A connection ready for requests: TCP, the TLS handshake (within
    /// [`CONNECT_TIMEOUT`]), HTTP/1.1.
    pub(crate) async fn connect(
        &self,
        config: Arc<ClientConfig>,
    ) -> Result<SendRequest<Full<Bytes>>, AgentError> {
        let unreachable = |e: String| AgentError::Unreachable(format!("{}: {e}", self.url));
        let handshake = async {
            let tcp = tokio::net::TcpStream::connect((self.host.as_str(), self.port))
                .await
                .map_err(|e| unreachable(e.to_string()))?;
            let _ = tcp.set_nodelay(true);
            tokio_rustls::TlsConnector::from(config)
                .connect(self.server_name.clone(), tcp)
                .await
                .map_err(|e| {
                    if e.kind() == std::io::ErrorKind::InvalidData {
                        AgentError::Tls(format!("the handshake with {} failed: {e}", self.url))
                    } else {
                        unreachable(format!("during the TLS handshake: {e}"))
                    }
                })
        };
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, handshake)
            .await
            .map_err(|_| unreachable(format!("no connection within {CONNECT_TIMEOUT:?}")))??;
        let (sender, connection) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(tls))
                .await
                .map_err(|e| unreachable(e.to_string()))?;
        // Ends when the sender is dropped or the peer closes.
        tokio::spawn(connection);
        Ok(sender)
    }

    /// One request on `sender`: every request names this host's protocol
    /// version; the answer is read whole (up to a limit).
    pub(crate) async fn exchange(
        &self,
        sender: &mut SendRequest<Full<Bytes>>,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
    ) -> Result<Exchange, AgentError> {
        self.exchange_as(sender, method, path, body, PROTOCOL_VERSION)
            .await
    }

    /// [`Endpoint::exchange`] naming `protocol` as the host's version.
    pub(crate) async fn exchange_as(
        &self,
        sender: &mut SendRequest<Full<Bytes>>,
        method: &str,
        path: &str,
        body: Option<Vec<u8>>,
        protocol: u32,
    ) -> Result<Exchange, AgentError> {
        let unreachable = |e: String| AgentError::Unreachable(format!("{}: {e}", self.url));
        let mut builder = hyper::Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.prefix))
            .header(hyper::header::HOST, self.authority.as_str())
            .header(PROTOCOL_HEADER, protocol)
            // The controller gzips snapshots for a host that says so.
            .header(hyper::header::ACCEPT_ENCODING, "gzip");
        if body.is_some() {
            builder = builder.header(hyper::header::CONTENT_TYPE, "application/json");
        }
        let request = builder
            .body(Full::new(Bytes::from(body.unwrap_or_default())))
            .map_err(|e| AgentError::Bad(format!("cannot make the request {path}: {e}")))?;
        sender
            .ready()
            .await
            .map_err(|e| unreachable(e.to_string()))?;
        // From here the request may have reached the controller.
        let no_answer = |e: String| AgentError::NoAnswer(format!("{}: {e}", self.url));
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| no_answer(e.to_string()))?;
        let status = response.status().as_u16();
        let protocol = response
            .headers()
            .get(PROTOCOL_HEADER)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.trim().parse::<u32>().ok());
        let gzipped = response
            .headers()
            .get(hyper::header::CONTENT_ENCODING)
            .is_some_and(|value| value.as_bytes().eq_ignore_ascii_case(b"gzip"));
        let body = Limited::new(response.into_body(), MAX_ANSWER_BYTES)
            .collect()
            .await
            .map_err(|e| no_answer(format!("reading the answer to {path}: {e}")))?
            .to_bytes();
        let body = if gzipped {
            gunzip(body)
                .await
                .map_err(|e| no_answer(format!("the answer to {path} doesn't decompress: {e}")))?
        } else {
            body
        };
        Ok(Exchange {
            status,
            protocol,
            body,
        })
    }
}

/// A gzip'd answer decompressed (every member: the controller sends the
/// envelope and the shared body as members of their own), at most
/// [`MAX_ANSWER_BYTES`] of it; a large one off the async threads.
async fn gunzip(compressed: Bytes) -> std::io::Result<Bytes> {
    if compressed.len() <= PARSE_INLINE_BYTES / 8 {
        return inflate(&compressed, MAX_ANSWER_BYTES);
    }
    tokio::task::spawn_blocking(move || inflate(&compressed, MAX_ANSWER_BYTES))
        .await
        .map_err(std::io::Error::other)?
}

/// Every gzip member of `compressed`, refused past `limit` bytes.
fn inflate(compressed: &[u8], limit: usize) -> std::io::Result<Bytes> {
    use std::io::Read;
    let mut plain = Vec::with_capacity(compressed.len().saturating_mul(8).min(limit));
    flate2::read::MultiGzDecoder::new(compressed)
        .take(u64::try_from(limit).unwrap_or(u64::MAX).saturating_add(1))
        .read_to_end(&mut plain)?;
    if plain.len() > limit {
        return Err(std::io::Error::other(format!(
            "larger than {limit} bytes decompressed"
        )));
    }
    Ok(Bytes::from(plain))
}

/// An answer as it came.
pub(crate) struct Exchange {
    pub status: u16,
    /// The `roster-protocol` header, on every answer of a controller.
    pub protocol: Option<u32>,
    pub body: Bytes,
}

impl Exchange {
    /// The answer read: a success in the envelope, or the refusal it is.
    /// A controller older than this host is refused on any answer.
    pub(crate) async fn decode<T: DeserializeOwned + Send + 'static>(
        self,
        url: &str,
    ) -> Result<Answer<T>, AgentError> {
        self.decode_as(url, PROTOCOL_VERSION).await
    }

    /// [`Exchange::decode`] for a host speaking `host` (a controller
    /// older than that is refused).
    pub(crate) async fn decode_as<T: DeserializeOwned + Send + 'static>(
        self,
        url: &str,
        host: u32,
    ) -> Result<Answer<T>, AgentError> {
        if let Some(controller) = self.protocol
            && controller < host
        {
            return Err(AgentError::ControllerTooOld { controller, host });
        }
        if !(200..300).contains(&self.status) {
            return Err(refusal(self.status, &self.body, url));
        }
        let body = self.body;
        let answer: Answer<T> = if body.len() > PARSE_INLINE_BYTES {
            tokio::task::spawn_blocking(move || serde_json::from_slice(&body))
                .await
                .map_err(|e| AgentError::Bad(format!("parsing the answer of {url}: {e}")))?
        } else {
            serde_json::from_slice(&body)
        }
        .map_err(|e| AgentError::Bad(format!("{url} answered JSON this host can't read: {e}")))?;
        if answer.protocol < host {
            return Err(AgentError::ControllerTooOld {
                controller: answer.protocol,
                host,
            });
        }
        Ok(answer)
    }
}

/// The error an answer other than a success says.
fn refusal(status: u16, body: &[u8], url: &str) -> AgentError {
    let Ok(error) = serde_json::from_slice::<ErrorAnswer>(body) else {
        let text = String::from_utf8_lossy(&body[..body.len().min(200)]).into_owned();
        return if status >= 500 {
            AgentError::Unreachable(format!("{url}: HTTP {status}: {text}"))
        } else {
            AgentError::Bad(format!(
                "{url} answered HTTP {status}, not the API's: {text}"
            ))
        };
    };
    match error.code {
        ErrorCode::Revoked => AgentError::Revoked,
        ErrorCode::CursorTooOld => AgentError::Gone {
            epoch_changed: false,
        },
        ErrorCode::EpochChanged => AgentError::Gone {
            epoch_changed: true,
        },
        ErrorCode::ProtocolUnsupported => AgentError::ProtocolUnsupported(error.message),
        ErrorCode::FailingOver => AgentError::FailingOver(error.message),
        code => AgentError::Refused {
            code,
            message: error.message,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_are_taken_apart_and_bad_ones_refused() {
        let endpoint = Endpoint::parse("https://127.0.0.1:8443").unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("127.0.0.1", 8443));
        assert_eq!(endpoint.prefix, "");
        let endpoint = Endpoint::parse("https://[::1]:9/roster/").unwrap();
        assert_eq!((endpoint.host.as_str(), endpoint.port), ("::1", 9));
        assert_eq!(endpoint.authority, "[::1]:9");
        assert_eq!(endpoint.prefix, "/roster");
        let endpoint = Endpoint::parse("https://controller.example").unwrap();
        assert_eq!(endpoint.port, 443);
        for bad in [
            "http://x:1",
            "x:1",
            "https://",
            "https://u@x",
            "https://x/?a=b",
        ] {
            assert!(Endpoint::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn gzip_members_read_as_one_answer_and_a_bomb_is_refused() {
        use std::io::Write;
        let member = |bytes: &[u8]| {
            let mut encoder =
                flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
            encoder.write_all(bytes).unwrap();
            encoder.finish().unwrap()
        };
        let mut answer = member(b"{\"protocol\":2,\"time\":5,\"body\":");
        answer.extend(member(b"{\"kept\":3}"));
        answer.extend(member(b"}"));
        let plain = gunzip(Bytes::from(answer)).await.unwrap();
        assert_eq!(
            &plain[..],
            b"{\"protocol\":2,\"time\":5,\"body\":{\"kept\":3}}"
        );
        assert!(gunzip(Bytes::from_static(b"not gzip")).await.is_err());
        // More than an answer may be once decompressed: refused.
        let bomb = member(&[0u8; 4096]);
        assert!(bomb.len() < 100);
        let error = inflate(&bomb, 4095).unwrap_err();
        assert!(error.to_string().contains("larger than 4095"), "{error}");
        assert_eq!(inflate(&bomb, 4096).unwrap().len(), 4096);
    }

    #[tokio::test]
    async fn an_answer_from_an_older_controller_is_refused_and_errors_mapped() {
        let old = Exchange {
            status: 200,
            protocol: Some(PROTOCOL_VERSION - 1),
            body: Bytes::from_static(b"{}"),
        };
        assert!(matches!(
            old.decode::<serde_json::Value>("u").await,
            Err(AgentError::ControllerTooOld { .. })
        ));
        let enveloped = format!(
            r#"{{"protocol":{},"time":5,"body":{{}}}}"#,
            PROTOCOL_VERSION - 1
        );
        let old = Exchange {
            status: 200,
            protocol: None,
            body: Bytes::from(enveloped),
        };
        assert!(matches!(
            old.decode::<serde_json::Value>("u").await,
            Err(AgentError::ControllerTooOld { .. })
        ));
        let newer = Exchange {
            status: 200,
            protocol: Some(PROTOCOL_VERSION + 1),
            body: Bytes::from(format!(
                r#"{{"protocol":{},"time":5,"body":{{"kept":1,"new_field":true}}}}"#,
                PROTOCOL_VERSION + 1
            )),
        };
        let answer = newer
            .decode::<roster_fleet_protocol::ReportAnswer>("u")
            .await
            .unwrap();
        assert_eq!(answer.body.kept, 1);
        let gone = Exchange {
            status: 410,
            protocol: Some(PROTOCOL_VERSION),
            body: Bytes::from_static(br#"{"code":"epoch_changed","message":"m"}"#),
        };
        assert!(matches!(
            gone.decode::<serde_json::Value>("u").await,
            Err(AgentError::Gone {
                epoch_changed: true
            })
        ));
        let revoked = Exchange {
            status: 403,
            protocol: Some(PROTOCOL_VERSION),
            body: Bytes::from_static(br#"{"code":"revoked","message":"m"}"#),
        };
        assert!(matches!(
            revoked.decode::<serde_json::Value>("u").await,
            Err(AgentError::Revoked)
        ));
    }
}
