//! Optional TLS termination inside the binary, with rustls: TLS 1.3 only,
//! the aws-lc-rs provider, ALPN `http/1.1`. The certificate chain and key
//! are read from PEM files and **reloaded when they change** (checked every
//! few seconds by modification time and size), so a renewed certificate
//! (certbot, cert-manager) is picked up without a restart; a file that does
//! not load keeps the previous certificate in service and logs a warning.

use std::path::{Path, PathBuf};
use std::sync::{Arc, PoisonError, RwLock};
use std::time::{Duration, SystemTime};

use rustls::crypto::aws_lc_rs;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;
use rustls::ServerConfig;

/// Where the certificate chain and the private key are.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TlsFiles {
    /// PEM: the end-entity certificate first, then intermediates.
    pub certificate: PathBuf,
    /// PEM: PKCS#8, PKCS#1 (RSA) or SEC1 (EC) private key.
    pub private_key: PathBuf,
}

/// How often the files are checked for changes.
pub const RELOAD_CHECK_INTERVAL: Duration = Duration::from_secs(5);

/// Why the certificate or key could not be used. One line, no key material.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("cannot read the TLS certificate {path}: {reason}")]
    Certificate { path: PathBuf, reason: String },
    #[error("cannot read the TLS private key {path}: {reason}")]
    PrivateKey { path: PathBuf, reason: String },
    #[error("the TLS certificate and private key do not form a usable pair: {0}")]
    Pair(String),
}

/// Modification time and size of both files: a change of either reloads.
type Stamp = Option<(SystemTime, u64, SystemTime, u64)>;

fn stamp(files: &TlsFiles) -> Stamp {
    let read = |path: &Path| std::fs::metadata(path).ok().and_then(|meta| Some((meta.modified().ok()?, meta.len())));
    let (certificate, private_key) = (read(&files.certificate)?, read(&files.private_key)?);
    Some((certificate.0, certificate.1, private_key.0, private_key.1))
}

/// Loads and checks the pair (the key must match the certificate).
pub fn load(files: &TlsFiles) -> Result<CertifiedKey, TlsError> {
    let certificate_error = |reason: String| TlsError::Certificate { path: files.certificate.clone(), reason };
    let chain = CertificateDer::pem_file_iter(&files.certificate)
        .map_err(|error| certificate_error(error.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| certificate_error(error.to_string()))?;
    if chain.is_empty() {
        return Err(certificate_error("no certificate in the file".to_owned()));
    }
    let key = PrivateKeyDer::from_pem_file(&files.private_key)
        .map_err(|error| TlsError::PrivateKey { path: files.private_key.clone(), reason: error.to_string() })?;
    CertifiedKey::from_der(chain, key, &aws_lc_rs::default_provider())
        .map_err(|error| TlsError::Pair(error.to_string()))
}

/// The certificate in service, replaced when the files change.
#[derive(Debug)]
pub struct ReloadingCertificate {
    files: TlsFiles,
    current: RwLock<(Arc<CertifiedKey>, Stamp)>,
}

impl ReloadingCertificate {
    /// Loads the pair now (an error here stops start-up).
    pub fn load(files: TlsFiles) -> Result<Arc<Self>, TlsError> {
        let stamp = stamp(&files);
        let key = Arc::new(load(&files)?);
        Ok(Arc::new(Self { files, current: RwLock::new((key, stamp)) }))
    }

    /// Reloads if either file changed since the last load; `Ok(true)` when
    /// a new certificate is now in service.
    pub fn reload_if_changed(&self) -> Result<bool, TlsError> {
        let now = stamp(&self.files);
        if now == self.current.read().unwrap_or_else(PoisonError::into_inner).1 {
            return Ok(false);
        }
        let key = Arc::new(load(&self.files)?);
        *self.current.write().unwrap_or_else(PoisonError::into_inner) = (key, now);
        Ok(true)
    }

    /// Checks the files every `interval`, forever.
    pub async fn watch(self: Arc<Self>, interval: Duration) {
        let mut ticks = tokio::time::interval(interval);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.reload_if_changed() {
                Ok(true) => tracing::info!(certificate = %self.files.certificate.display(), "TLS certificate reloaded"),
                Ok(false) => {}
                // Often a half-written renewal: the next check will see the finished files.
                Err(error) => tracing::warn!(error = %error, "TLS certificate not reloaded; keeping the current one"),
            }
        }
    }

    /// A TLS 1.3-only server configuration that serves the current certificate.
    pub fn server_config(self: &Arc<Self>) -> Result<Arc<ServerConfig>, TlsError> {
        let resolver: Arc<dyn ResolvesServerCert> = self.clone();
        let mut config = ServerConfig::builder_with_provider(Arc::new(aws_lc_rs::default_provider()))
            .with_protocol_versions(&[&rustls::version::TLS13])
            .map_err(|error| TlsError::Pair(error.to_string()))?
            .with_no_client_auth()
            .with_cert_resolver(resolver);
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Arc::new(config))
    }
}

impl ResolvesServerCert for ReloadingCertificate {
    fn resolve(&self, _client_hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current.read().unwrap_or_else(PoisonError::into_inner).0.clone())
    }
}
