//! TLS termination inside the binary: TLS 1.3 only, and a renewed
//! certificate is served without a restart.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};
use rustls::{ClientConfig, RootCertStore};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::time::Instant;
use tokio_rustls::TlsConnector;
use zenoauth_server::config::PublicUrl;
use zenoauth_server::http::security::connections::{serve_with_tls, ConnectionLimits};
use zenoauth_server::http::security::tls::{ReloadingCertificate, TlsFiles};
use zenoauth_server::http::{app, StoresReadiness};
use zenoauth_store_memory::MemoryDatabase;

use crate::support::{assert_one_line_error, test_state, zenoauth};

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/tls").join(name)
}

fn certificate(name: &str) -> CertificateDer<'static> {
    CertificateDer::from_pem_file(fixture(&format!("{name}.cert.pem"))).unwrap()
}

/// Puts the `name` pair in place (key first, as a renewal tool might).
fn install(directory: &Path, name: &str) -> TlsFiles {
    let files = TlsFiles { certificate: directory.join("cert.pem"), private_key: directory.join("key.pem") };
    std::fs::copy(fixture(&format!("{name}.key.pem")), &files.private_key).unwrap();
    std::fs::copy(fixture(&format!("{name}.cert.pem")), &files.certificate).unwrap();
    files
}

fn client(versions: &[&'static rustls::SupportedProtocolVersion]) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(certificate("first")).unwrap();
    roots.add(certificate("second")).unwrap();
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = ClientConfig::builder_with_provider(provider)
        .with_protocol_versions(versions)
        .unwrap()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// GET /healthz over TLS 1.3: the certificate the server presented, and the answer's status line.
async fn get_healthz(address: std::net::SocketAddr) -> (CertificateDer<'static>, String) {
    let stream = TcpStream::connect(address).await.unwrap();
    let mut tls =
        client(&[&rustls::version::TLS13]).connect(ServerName::try_from("localhost").unwrap(), stream).await.unwrap();
    let (_, connection) = tls.get_ref();
    assert_eq!(connection.protocol_version(), Some(rustls::ProtocolVersion::TLSv1_3));
    assert_eq!(connection.alpn_protocol(), None, "the client offered no ALPN");
    let presented = connection.peer_certificates().unwrap()[0].clone().into_owned();
    tls.write_all(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n").await.unwrap();
    let mut answer = Vec::new();
    let _ = tls.read_to_end(&mut answer).await;
    let answer = String::from_utf8_lossy(&answer);
    (presented, answer.lines().next().unwrap_or_default().to_owned())
}

#[tokio::test]
async fn tls_13_is_served_and_a_renewed_certificate_is_picked_up_without_restart() {
    let directory = tempfile::tempdir().unwrap();
    let files = install(directory.path(), "first");
    let reloading = ReloadingCertificate::load(files).unwrap();
    let watcher = tokio::spawn(reloading.clone().watch(Duration::from_millis(50)));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap();
    let stores = MemoryDatabase::new().stores();
    let state = test_state(stores.clone(), Arc::new(StoresReadiness(stores)))
        .with_public_url(PublicUrl::parse(&format!("https://{address}")).unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    tokio::spawn(serve_with_tls(
        listener,
        app(state),
        async {
            let _ = stopped.await;
        },
        Duration::from_secs(5),
        ConnectionLimits::default(),
        Some(reloading.server_config().unwrap()),
    ));

    let (presented, status) = get_healthz(address).await;
    assert_eq!(presented, certificate("first"));
    assert_eq!(status, "HTTP/1.1 200 OK");

    // TLS 1.2 is refused.
    let stream = TcpStream::connect(address).await.unwrap();
    let old = client(&[&rustls::version::TLS12]).connect(ServerName::try_from("localhost").unwrap(), stream).await;
    assert!(old.is_err(), "a TLS 1.2-only client must not connect");

    // A half-installed renewal (new key, old certificate) keeps the old pair in service…
    std::fs::copy(fixture("second.key.pem"), directory.path().join("key.pem")).unwrap();
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(get_healthz(address).await.0, certificate("first"));
    // …and the finished one is served without a restart.
    install(directory.path(), "second");
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let (presented, status) = get_healthz(address).await;
        if presented == certificate("second") {
            assert_eq!(status, "HTTP/1.1 200 OK");
            break;
        }
        assert!(Instant::now() < deadline, "the renewed certificate was not picked up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    watcher.abort();
    let _ = stop.send(());
}

#[test]
fn a_key_that_does_not_match_the_certificate_stops_serve_in_one_line() {
    let directory = tempfile::tempdir().unwrap();
    let output = zenoauth(directory.path())
        .env("ZENOAUTH_BIND", "127.0.0.1:0")
        .env("ZENOAUTH_TLS_CERTIFICATE_FILE", fixture("first.cert.pem"))
        .env("ZENOAUTH_TLS_PRIVATE_KEY_FILE", fixture("second.key.pem"))
        .arg("serve")
        .output()
        .unwrap();
    let line = assert_one_line_error(&output);
    assert!(line.contains("server.tls_certificate_file"), "{line}");
    assert_eq!(output.status.code(), Some(2));
    // Only one of the two is a configuration error too.
    let output = zenoauth(directory.path())
        .env("ZENOAUTH_TLS_CERTIFICATE_FILE", fixture("first.cert.pem"))
        .arg("serve")
        .output()
        .unwrap();
    assert!(assert_one_line_error(&output).contains("server.tls_private_key_file"));
}
