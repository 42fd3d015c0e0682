//! `vouch serve` over TLS (`vouch::server::tls::serve_tls`), end to end on 127.0.0.1: a PKI made
//! with rcgen (a CA, a server certificate for 127.0.0.1/localhost, client certificates from that
//! CA and from another one), real TLS clients (tokio-rustls, and reqwest for one request each),
//! certificate files replaced on disk while serving, mTLS, and graceful shutdown.

#[allow(dead_code)] // shared test support; each binary uses part of it
#[path = "support/guests.rs"]
mod guests;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use axum::Router;
use axum::routing;
use rcgen::{
    BasicConstraints, CertificateParams, CertifiedIssuer, DnType, ExtendedKeyUsagePurpose, IsCa,
    KeyPair, KeyUsagePurpose, SerialNumber,
};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use rustls::{ClientConfig, RootCertStore, SupportedProtocolVersion};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::{Notify, oneshot};
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use vouch::server::tls::{TlsError, TlsSettings, serve_tls};

/// Bound on any one client step, so that a broken server fails a test instead of hanging it.
const STEP: Duration = Duration::from_secs(5);

/// A certificate authority.
struct Ca {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

impl Ca {
    fn new(name: &str) -> Ca {
        let mut params = CertificateParams::new(Vec::<String>::new()).unwrap();
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
            KeyUsagePurpose::DigitalSignature,
        ];
        Ca {
            issuer: CertifiedIssuer::self_signed(params, KeyPair::generate().unwrap()).unwrap(),
        }
    }

    fn pem(&self) -> String {
        self.issuer.pem()
    }

    /// A leaf certificate for `sans`, named `cn`, with `serial`, for `usage`.
    fn leaf(&self, cn: &str, sans: &[&str], serial: u64, usage: ExtendedKeyUsagePurpose) -> Leaf {
        let mut params =
            CertificateParams::new(sans.iter().map(|s| s.to_string()).collect::<Vec<_>>()).unwrap();
        params.distinguished_name.push(DnType::CommonName, cn);
        params.serial_number = Some(SerialNumber::from(serial));
        params.extended_key_usages = vec![usage];
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        let key = KeyPair::generate().unwrap();
        let cert = params.signed_by(&key, &self.issuer).unwrap();
        Leaf {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            der: cert.der().to_vec(),
        }
    }

    fn server(&self, cn: &str, serial: u64) -> Leaf {
        self.leaf(
            cn,
            &["127.0.0.1", "localhost"],
            serial,
            ExtendedKeyUsagePurpose::ServerAuth,
        )
    }

    fn client(&self, cn: &str) -> Leaf {
        self.leaf(cn, &[], 7, ExtendedKeyUsagePurpose::ClientAuth)
    }
}

/// A certificate and its key.
struct Leaf {
    cert_pem: String,
    key_pem: String,
    der: Vec<u8>,
}

impl Leaf {
    fn certs(&self) -> Vec<CertificateDer<'static>> {
        vec![CertificateDer::from(self.der.clone())]
    }

    fn key(&self) -> PrivateKeyDer<'static> {
        PrivateKeyDer::from_pem_slice(self.key_pem.as_bytes()).unwrap()
    }
}

/// Files on disk: the server's certificate and key, and the CA bundle.
struct Files {
    _dir: tempfile::TempDir,
    cert: PathBuf,
    key: PathBuf,
    ca: PathBuf,
}

impl Files {
    fn new(ca: &Ca, server: &Leaf) -> Files {
        let dir = tempfile::tempdir().unwrap();
        let files = Files {
            cert: dir.path().join("tls.crt"),
            key: dir.path().join("tls.key"),
            ca: dir.path().join("ca.crt"),
            _dir: dir,
        };
        std::fs::write(&files.ca, ca.pem()).unwrap();
        files.install(server);
        files
    }

    /// Replace the certificate and key files (each by rename, as a secret volume update does).
    fn install(&self, leaf: &Leaf) {
        replace(&self.cert, leaf.cert_pem.as_bytes());
        replace(&self.key, leaf.key_pem.as_bytes());
    }

    fn settings(&self) -> TlsSettings {
        let mut s = TlsSettings::new(&self.cert, &self.key);
        s.reload_interval = Duration::from_millis(100);
        s
    }
}

fn replace(path: &Path, content: &[u8]) {
    let tmp = path.with_extension("tmp");
    std::fs::write(&tmp, content).unwrap();
    std::fs::rename(&tmp, path).unwrap();
}

/// A running server.
struct Running {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    task: tokio::task::JoinHandle<Result<(), TlsError>>,
}

impl Running {
    /// Ask for shutdown.
    fn shutdown(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }

    /// Ask for shutdown and wait for the server to return.
    async fn stop(mut self) -> Result<(), TlsError> {
        self.shutdown();
        tokio::time::timeout(Duration::from_secs(10), self.task)
            .await
            .expect("serve_tls did not return after shutdown")
            .unwrap()
    }
}

/// Handlers: `/hello` answers at once; `/slow` notifies `started`, then answers after `delay`.
fn router(started: Arc<Notify>, delay: Duration) -> Router {
    Router::new()
        .route("/hello", routing::get(|| async { "hello" }))
        .route(
            "/slow",
            routing::get(move || {
                let started = started.clone();
                async move {
                    started.notify_one();
                    tokio::time::sleep(delay).await;
                    "slow done"
                }
            }),
        )
}

async fn start_with(settings: TlsSettings, router: Router) -> Running {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve_tls(listener, router, settings, async {
        let _ = stopped.await;
    }));
    Running {
        addr,
        stop: Some(stop),
        task,
    }
}

async fn start(settings: TlsSettings) -> Running {
    start_with(
        settings,
        router(Arc::new(Notify::new()), Duration::from_millis(300)),
    )
    .await
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::aws_lc_rs::default_provider())
}

/// A client trusting `ca`, speaking only `versions`, presenting `identity` if any.
fn client(
    ca: &Ca,
    versions: &[&'static SupportedProtocolVersion],
    identity: Option<&Leaf>,
    alpn: &[&[u8]],
) -> Arc<ClientConfig> {
    let mut roots = RootCertStore::empty();
    roots.add(ca.issuer.der().clone()).unwrap();
    let builder = ClientConfig::builder_with_provider(provider())
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots);
    let mut config = match identity {
        Some(leaf) => builder
            .with_client_auth_cert(leaf.certs(), leaf.key())
            .unwrap(),
        None => builder.with_no_client_auth(),
    };
    config.alpn_protocols = alpn.iter().map(|p| p.to_vec()).collect();
    Arc::new(config)
}

/// A reqwest client trusting only `ca`, presenting `identity` when given.
fn https_client(ca: &Ca, identity: Option<reqwest::Identity>) -> reqwest::Client {
    let builder = reqwest::Client::builder()
        .tls_certs_only([reqwest::Certificate::from_pem(ca.pem().as_bytes()).unwrap()]);
    let builder = match identity {
        Some(identity) => builder.identity(identity),
        None => builder,
    };
    builder.build().unwrap()
}

fn tls13_client(ca: &Ca, identity: Option<&Leaf>) -> Arc<ClientConfig> {
    client(ca, &[&rustls::version::TLS13], identity, &[b"http/1.1"])
}

/// A TLS connection to `addr` as `localhost`.
async fn connect(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
) -> std::io::Result<TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").unwrap();
    tokio::time::timeout(STEP, TlsConnector::from(config).connect(name, tcp))
        .await
        .map_err(|_| std::io::Error::other("handshake timed out"))?
}

/// The certificate the server presents to a new connection.
async fn served_certificate(addr: SocketAddr, ca: &Ca) -> Vec<u8> {
    let tls = connect(addr, tls13_client(ca, None)).await.unwrap();
    tls.get_ref().1.peer_certificates().unwrap()[0].to_vec()
}

/// `GET path` over HTTP/1.1 on a new TLS connection: (status, body), or why there is none.
async fn get(
    addr: SocketAddr,
    config: Arc<ClientConfig>,
    path: &str,
) -> Result<(u16, String), String> {
    let mut tls = connect(addr, config)
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    let request = format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
    let exchange = async {
        tls.write_all(request.as_bytes()).await?;
        let mut response = Vec::new();
        match tls.read_to_end(&mut response).await {
            Ok(_) => Ok(response),
            // A close without close_notify after a full response is still a response.
            Err(_) if !response.is_empty() => Ok(response),
            Err(e) => Err(e),
        }
    };
    let response = tokio::time::timeout(STEP, exchange)
        .await
        .map_err(|_| "no response in time".to_owned())?
        .map_err(|e| format!("exchange: {e}"))?;
    let text = String::from_utf8(response).map_err(|e| e.to_string())?;
    let (head, body) = text
        .split_once("\r\n\r\n")
        .ok_or_else(|| format!("no HTTP response: {text:?}"))?;
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| format!("no status line: {head:?}"))?;
    Ok((status, body.to_owned()))
}

/// Poll `check` every 50 ms until it holds (the reloader checks every 100 ms); fail after 5 s,
/// saying what was awaited.
async fn eventually(what: &str, mut check: impl AsyncFnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(5);
    while !check().await {
        assert!(Instant::now() < deadline, "not within 5 s: {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Wait until `addr` serves the certificate `der`.
async fn wait_for_certificate(addr: SocketAddr, ca: &Ca, der: &[u8]) {
    let what = "the new certificate served";
    eventually(what, async || served_certificate(addr, ca).await == der).await;
}

#[tokio::test]
async fn serves_http1_and_h2_over_tls13() {
    let ca = Ca::new("Vouch test CA");
    let server = ca.server("vouch", 1);
    let files = Files::new(&ca, &server);
    let running = start(files.settings()).await;

    let (status, body) = get(running.addr, tls13_client(&ca, None), "/hello")
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "hello"));

    // The version and ALPN negotiated, and the certificate presented.
    let tls = connect(
        running.addr,
        client(&ca, &[&rustls::version::TLS13], None, &[b"h2", b"http/1.1"]),
    )
    .await
    .unwrap();
    let conn = tls.get_ref().1;
    assert_eq!(
        conn.protocol_version(),
        Some(rustls::ProtocolVersion::TLSv1_3)
    );
    assert_eq!(conn.alpn_protocol(), Some(&b"h2"[..]));
    assert_eq!(
        conn.peer_certificates().unwrap()[0].as_ref(),
        &server.der[..]
    );

    // And it speaks HTTP/2 there: the client preface and SETTINGS get a SETTINGS frame back.
    let mut tls = tls;
    tls.write_all(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n\0\0\0\x04\0\0\0\0\0")
        .await
        .unwrap();
    let mut frame_header = [0u8; 9];
    tokio::time::timeout(STEP, tls.read_exact(&mut frame_header))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(frame_header[3], 0x4, "first server frame is SETTINGS");
    drop(tls);

    // A real HTTP client, trusting only the CA, by IP address (the certificate's IP SAN).
    let http = https_client(&ca, None);
    let response = http
        .get(format!("https://{}/hello", running.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    assert_eq!(response.text().await.unwrap(), "hello");

    running.stop().await.unwrap();
}

#[tokio::test]
async fn tls12_clients_are_refused_and_the_server_keeps_serving() {
    let ca = Ca::new("Vouch test CA");
    let files = Files::new(&ca, &ca.server("vouch", 1));
    let running = start(files.settings()).await;

    let tls12 = client(&ca, &[&rustls::version::TLS12], None, &[b"http/1.1"]);
    let err = connect(running.addr, tls12.clone()).await.unwrap_err();
    assert!(
        err.to_string().to_lowercase().contains("protocol version")
            || err.to_string().contains("ProtocolVersion"),
        "unexpected error: {err}"
    );
    assert!(get(running.addr, tls12, "/hello").await.is_err());

    // A client that never completes its handshake blocks neither other clients nor shutdown.
    let _idle = TcpStream::connect(running.addr).await.unwrap();
    let (status, _) = get(running.addr, tls13_client(&ca, None), "/hello")
        .await
        .unwrap();
    assert_eq!(status, 200);

    let asked = Instant::now();
    running.stop().await.unwrap();
    let took = asked.elapsed();
    assert!(took < Duration::from_secs(2), "returned after {took:?}");
}

#[tokio::test]
async fn a_stalled_handshake_is_dropped_after_the_timeout() {
    let ca = Ca::new("Vouch test CA");
    let files = Files::new(&ca, &ca.server("vouch", 1));
    let mut settings = files.settings();
    settings.handshake_timeout = Duration::from_millis(200);
    let running = start(settings).await;

    let started = Instant::now();
    let mut idle = TcpStream::connect(running.addr).await.unwrap();
    let mut buf = [0u8; 16];
    let read = tokio::time::timeout(STEP, idle.read(&mut buf))
        .await
        .expect("a silent client is never disconnected");
    assert!(matches!(read, Ok(0) | Err(_)), "{read:?}");
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(150) && waited < Duration::from_secs(3),
        "disconnected after {waited:?}"
    );

    running.stop().await.unwrap();
}

#[tokio::test]
async fn certificate_files_are_reloaded_and_a_broken_pair_is_not() {
    let ca = Ca::new("Vouch test CA");
    let first = ca.server("vouch-1", 1);
    let files = Files::new(&ca, &first);
    let running = start(files.settings()).await;
    assert_eq!(served_certificate(running.addr, &ca).await, first.der);

    // Rotation: a new certificate (new serial and CN) and key.
    let second = ca.server("vouch-2", 2);
    files.install(&second);
    wait_for_certificate(running.addr, &ca, &second.der).await;
    let (status, body) = get(running.addr, tls13_client(&ca, None), "/hello")
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "hello"));

    // A broken replacement: a new certificate with a garbage key. Rejected; the second stays.
    let third = ca.server("vouch-3", 3);
    replace(&files.cert, third.cert_pem.as_bytes());
    replace(
        &files.key,
        b"-----BEGIN PRIVATE KEY-----\nZ2FyYmFnZQ==\n-----END PRIVATE KEY-----\n",
    );
    tokio::time::sleep(Duration::from_millis(600)).await; // several reload checks
    assert_eq!(served_certificate(running.addr, &ca).await, second.der);
    let (status, _) = get(running.addr, tls13_client(&ca, None), "/hello")
        .await
        .unwrap();
    assert_eq!(status, 200);

    // Fixing the key puts the third certificate in service.
    replace(&files.key, third.key_pem.as_bytes());
    wait_for_certificate(running.addr, &ca, &third.der).await;

    running.stop().await.unwrap();
}

#[tokio::test]
async fn mtls_requires_a_client_certificate_from_the_ca() {
    let ca = Ca::new("Vouch test CA");
    let other_ca = Ca::new("Someone else's CA");
    let files = Files::new(&ca, &ca.server("vouch", 1));
    let gatekeeper = ca.client("gatekeeper");
    let stranger = other_ca.client("gatekeeper");
    let running = start(files.settings().with_client_ca(&files.ca)).await;

    // No certificate: refused (in TLS 1.3 the client may finish its side first, so the refusal
    // can surface on the first read; either way no response comes back).
    let err = get(running.addr, tls13_client(&ca, None), "/hello")
        .await
        .unwrap_err();
    assert!(err.contains("CertificateRequired"), "{err}");

    // A certificate from another CA: refused.
    let err = get(running.addr, tls13_client(&ca, Some(&stranger)), "/hello")
        .await
        .unwrap_err();
    assert!(err.contains("UnknownCA"), "{err}");

    // A certificate from the CA: served.
    let (status, body) = get(running.addr, tls13_client(&ca, Some(&gatekeeper)), "/hello")
        .await
        .unwrap();
    assert_eq!((status, body.as_str()), (200, "hello"));

    // The same with reqwest presenting an identity (certificate + PKCS#8 key in one PEM).
    let identity = reqwest::Identity::from_pem(
        format!("{}{}", gatekeeper.cert_pem, gatekeeper.key_pem).as_bytes(),
    )
    .unwrap();
    let http = https_client(&ca, Some(identity));
    let response = http
        .get(format!("https://{}/hello", running.addr))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let anonymous = https_client(&ca, None);
    assert!(
        anonymous
            .get(format!("https://{}/hello", running.addr))
            .send()
            .await
            .is_err()
    );

    running.stop().await.unwrap();
}

/// Wait until a request presenting `client`'s certificate is served (`want`) or refused.
async fn wait_for_client_access(addr: SocketAddr, ca: &Ca, client: &Leaf, want: bool) {
    let what = format!("client access {want}");
    eventually(&what, async || {
        let served = get(addr, tls13_client(ca, Some(client)), "/hello").await;
        served.is_ok() == want
    })
    .await;
}

#[tokio::test]
async fn a_rotated_client_ca_bundle_applies_to_new_connections() {
    let ca = Ca::new("Vouch test CA");
    let (old_ca, new_ca) = (Ca::new("Client CA 2025"), Ca::new("Client CA 2026"));
    let (old_client, new_client) = (old_ca.client("gatekeeper"), new_ca.client("gatekeeper"));
    let files = Files::new(&ca, &ca.server("vouch", 1));
    replace(&files.ca, old_ca.pem().as_bytes());
    let running = start(files.settings().with_client_ca(&files.ca)).await;
    wait_for_client_access(running.addr, &ca, &old_client, true).await;
    let err = get(running.addr, tls13_client(&ca, Some(&new_client)), "/hello")
        .await
        .unwrap_err();
    assert!(err.contains("UnknownCA"), "{err}");

    // Rotation, step 1: both CAs in the bundle while clients move over.
    replace(
        &files.ca,
        format!("{}{}", old_ca.pem(), new_ca.pem()).as_bytes(),
    );
    wait_for_client_access(running.addr, &ca, &new_client, true).await;
    wait_for_client_access(running.addr, &ca, &old_client, true).await;

    // Step 2: the old CA retired.
    replace(&files.ca, new_ca.pem().as_bytes());
    wait_for_client_access(running.addr, &ca, &old_client, false).await;

    // A broken bundle is not applied: the last good one stays in force.
    replace(
        &files.ca,
        b"-----BEGIN CERTIFICATE-----\nAAECAwQF\n-----END CERTIFICATE-----\n",
    );
    tokio::time::sleep(Duration::from_millis(600)).await; // several reload checks
    wait_for_client_access(running.addr, &ca, &new_client, true).await;
    wait_for_client_access(running.addr, &ca, &old_client, false).await;

    running.stop().await.unwrap();
}

#[tokio::test]
async fn shutdown_finishes_in_flight_requests_and_refuses_new_connections() {
    let ca = Ca::new("Vouch test CA");
    let files = Files::new(&ca, &ca.server("vouch", 1));
    let started = Arc::new(Notify::new());
    let mut running = start_with(
        files.settings(),
        router(started.clone(), Duration::from_millis(300)),
    )
    .await;
    let addr = running.addr;

    let config = tls13_client(&ca, None);
    let in_flight = tokio::spawn(async move { get(addr, config, "/slow").await });
    tokio::time::timeout(STEP, started.notified())
        .await
        .expect("the slow request never reached its handler");
    let asked = Instant::now();
    running.shutdown();

    // While the slow request drains, new connections are refused and the server has not returned.
    tokio::time::sleep(Duration::from_millis(50)).await;
    let refused = TcpStream::connect(addr).await;
    assert!(
        refused.is_err(),
        "a new connection was accepted during shutdown"
    );
    assert!(!running.task.is_finished());

    let (status, body) = in_flight.await.unwrap().unwrap();
    assert_eq!((status, body.as_str()), (200, "slow done"));
    tokio::time::timeout(Duration::from_secs(5), &mut running.task)
        .await
        .expect("serve_tls did not return once drained")
        .unwrap()
        .unwrap();
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(200),
        "returned after {took:?}"
    );
    assert!(TcpStream::connect(addr).await.is_err());
}

#[tokio::test]
async fn shutdown_over_h2_finishes_in_flight_requests_and_closes_idle_connections() {
    let ca = Ca::new("Vouch test CA");
    let files = Files::new(&ca, &ca.server("vouch", 1));
    let started = Arc::new(Notify::new());
    let running = start_with(
        files.settings(),
        router(started.clone(), Duration::from_millis(300)),
    )
    .await;
    let addr = running.addr;

    // Like Gatekeeper (Go): HTTP/2 negotiated by ALPN, connections pooled and kept open.
    let http = https_client(&ca, None);
    let warm = http
        .get(format!("https://{addr}/hello"))
        .send()
        .await
        .unwrap();
    assert_eq!(warm.version(), reqwest::Version::HTTP_2);
    let in_flight = tokio::spawn({
        let http = http.clone();
        async move {
            let response = http.get(format!("https://{addr}/slow")).send().await?;
            let version = response.version();
            Ok::<_, reqwest::Error>((response.status(), version, response.text().await?))
        }
    });
    tokio::time::timeout(STEP, started.notified())
        .await
        .expect("the slow request never reached its handler");
    let asked = Instant::now();
    running.stop().await.unwrap();
    let took = asked.elapsed();
    let (status, version, body) = in_flight.await.unwrap().unwrap();
    assert_eq!(
        (status.as_u16(), version, body.as_str()),
        (200, reqwest::Version::HTTP_2, "slow done")
    );
    // Returned once the request was answered, without waiting for the client to hang up.
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(3),
        "returned after {took:?}"
    );
    drop(http);
}

#[tokio::test]
async fn shutdown_drain_is_bounded() {
    let ca = Ca::new("Vouch test CA");
    let files = Files::new(&ca, &ca.server("vouch", 1));
    let mut settings = files.settings();
    settings.drain_timeout = Duration::from_millis(200);
    let started = Arc::new(Notify::new());
    let running = start_with(settings, router(started.clone(), Duration::from_secs(30))).await;
    let addr = running.addr;

    let config = tls13_client(&ca, None);
    let in_flight = tokio::spawn(async move { get(addr, config, "/slow").await });
    tokio::time::timeout(STEP, started.notified())
        .await
        .expect("the slow request never reached its handler");
    let asked = Instant::now();
    running.stop().await.unwrap();
    let took = asked.elapsed();
    assert!(
        took >= Duration::from_millis(150) && took < Duration::from_secs(3),
        "returned after {took:?}"
    );
    // The request that outlived the drain time was cut off, not answered.
    assert!(in_flight.await.unwrap().is_err());
}

#[tokio::test]
async fn unusable_files_stop_the_start_with_a_named_error() {
    let ca = Ca::new("Vouch test CA");
    let files = Files::new(&ca, &ca.server("vouch", 1));
    replace(&files.key, b"garbage");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let err = serve_tls(
        listener,
        router(Arc::new(Notify::new()), Duration::ZERO),
        files.settings(),
        std::future::pending(),
    )
    .await
    .unwrap_err();
    assert_eq!(
        err.to_string(),
        format!(
            "no private key found in {} (expected an unencrypted PKCS#8, PKCS#1 RSA or SEC1 EC key in PEM)",
            files.key.display()
        )
    );
}

/// The `vouch serve` binary with `--tls-cert/--tls-key/--tls-client-ca` serves the provider over
/// mTLS only, and `--health-listen` serves health (only health) over plain HTTP for kubelet
/// probes; unusable TLS files stop it before anything loads, naming the file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_serves_mtls_and_plain_health() {
    let ca = Ca::new("Vouch Test CA");
    let files = Files::new(&ca, &ca.server("vouch", 1));
    let gatekeeper = ca.client("gatekeeper");
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("vouch.yaml");
    std::fs::write(
        &config,
        format!(
            "verifiers: [ {{ name: noop, path: '{}' }} ]\n",
            guests::guest("noop").display()
        ),
    )
    .unwrap();
    let port = || {
        std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port()
    };
    let (tls_port, health_port) = (port(), port());
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_vouch"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--listen", &format!("127.0.0.1:{tls_port}")])
        .arg("--tls-cert")
        .arg(&files.cert)
        .arg("--tls-key")
        .arg(&files.key)
        .arg("--tls-client-ca")
        .arg(&files.ca)
        .args(["--health-listen", &format!("127.0.0.1:{health_port}")])
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let http = reqwest::Client::new();
    let health = format!("http://127.0.0.1:{health_port}");
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(r) = http.get(format!("{health}/readyz")).send().await
            && r.status() == 200
        {
            break;
        }
        assert!(Instant::now() < deadline, "vouch serve never became ready");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // The health port answers probes and scrapes, and nothing else.
    let r = http.get(format!("{health}/metrics")).send().await.unwrap();
    assert_eq!(r.status(), 200);
    let r = http
        .post(format!("{health}/ratify/gatekeeper/v1/verify"))
        .body("{}")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);

    let addr: SocketAddr = format!("127.0.0.1:{tls_port}").parse().unwrap();
    let (status, body) = get(addr, tls13_client(&ca, Some(&gatekeeper)), "/healthz")
        .await
        .unwrap();
    assert_eq!((status, body.trim()), (200, "ok"));
    // Without a client certificate the provider port is closed to the caller.
    assert!(
        get(addr, tls13_client(&ca, None), "/healthz")
            .await
            .is_err()
    );
    child.kill().unwrap();
    child.wait().unwrap();

    // A key file that is not a key: exit 2 at once, naming the file.
    std::fs::write(&files.key, "not a key").unwrap();
    let out = std::process::Command::new(env!("CARGO_BIN_EXE_vouch"))
        .arg("serve")
        .arg("--config")
        .arg(&config)
        .args(["--listen", "127.0.0.1:0"])
        .arg("--tls-cert")
        .arg(&files.cert)
        .arg("--tls-key")
        .arg(&files.key)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("tls.key"), "{stderr}");
}
