//! HTTPS termination: the certificate and key of `[server.tls]`, loaded and
//! checked against each other, swapped for new ones on reload without
//! touching open connections, and the handshake of every new connection
//! under its own deadline. rustls with ring: TLS 1.2 and 1.3 only, ALPN `h2`
//! and `http/1.1`.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use arc_swap::ArcSwap;
use rustls::ServerConfig;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use serde::{Deserialize, Serialize};
use tokio::net::TcpStream;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

use crate::ops::https::read_certificates;
use crate::ops::reason::TlsHandshake;

/// `[server.tls]`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TlsConfig {
    /// PEM file: the server's certificate first, then its chain. Relative to
    /// the config file's folder.
    pub certificate: PathBuf,
    /// PEM file: the private key (PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
    /// Time a new connection has to complete its TLS handshake; silent and
    /// slow clients are closed, and counted.
    #[serde(default = "default_handshake_timeout", with = "humantime_serde")]
    pub handshake_timeout: Duration,
}

fn default_handshake_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Why the certificate and key cannot be used.
#[derive(Debug, thiserror::Error)]
pub enum TlsError {
    #[error("{path}: {message}")]
    Certificate { path: PathBuf, message: String },
    #[error("cannot read a PEM private key from {path}: {message}")]
    Key { path: PathBuf, message: String },
    #[error("the key in {key} cannot serve the certificate in {certificate}: {message}")]
    Pair {
        certificate: PathBuf,
        key: PathBuf,
        message: String,
    },
}

impl TlsError {
    /// The setting to fix.
    pub fn field(&self) -> &'static str {
        match self {
            Self::Certificate { .. } => "server.tls.certificate",
            Self::Key { .. } => "server.tls.key",
            Self::Pair { .. } => "server.tls",
        }
    }
}

/// A checked certificate and key: what new connections are offered; open
/// ones keep what they began with.
pub struct TlsMaterial {
    acceptor: TlsAcceptor,
    handshake_timeout: Duration,
    /// When the first certificate of the chain expires.
    expires_at: Option<SystemTime>,
}

impl std::fmt::Debug for TlsMaterial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("TlsMaterial")
            .field("handshake_timeout", &self.handshake_timeout)
            .finish_non_exhaustive()
    }
}

/// The listener's TLS side, replaceable while it serves.
#[derive(Debug)]
pub struct Tls {
    current: ArcSwap<TlsMaterial>,
}

impl Tls {
    /// Reads and checks the certificate and key (paths relative to `base_dir`).
    pub fn load(config: &TlsConfig, base_dir: &Path) -> Result<Self, TlsError> {
        let material = TlsMaterial::load(config, base_dir)?;
        material.report_expiry();
        Ok(Self {
            current: ArcSwap::from_pointee(material),
        })
    }

    /// Offers new connections `material` (a renewed certificate); open
    /// connections keep theirs.
    pub fn install(&self, material: TlsMaterial) {
        material.report_expiry();
        self.current.store(Arc::new(material));
    }

    /// Takes a new connection through its handshake; how it failed, and
    /// why (for the log).
    pub async fn accept(
        &self,
        stream: TcpStream,
    ) -> Result<TlsStream<TcpStream>, (TlsHandshake, String)> {
        let current = self.current.load_full();
        match tokio::time::timeout(current.handshake_timeout, current.acceptor.accept(stream)).await
        {
            Ok(Ok(stream)) => Ok(stream),
            Ok(Err(err)) => Err((TlsHandshake::Failed, err.to_string())),
            Err(_elapsed) => Err((
                TlsHandshake::TimedOut,
                "not done within server.tls.handshake_timeout".to_owned(),
            )),
        }
    }
}

impl TlsMaterial {
    /// Reads the files `config` names (relative to `base_dir`) and checks that
    /// the key is the certificate's.
    pub fn load(config: &TlsConfig, base_dir: &Path) -> Result<Self, TlsError> {
        let certificate = base_dir.join(&config.certificate);
        let key = base_dir.join(&config.key);
        let chain = read_certificates(&certificate).map_err(|message| TlsError::Certificate {
            path: certificate.clone(),
            message,
        })?;
        let private_key = PrivateKeyDer::from_pem_file(&key).map_err(|err| TlsError::Key {
            path: key.clone(),
            message: err.to_string(),
        })?;
        let expires_at = expiry(&chain);
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let mut server = ServerConfig::builder_with_provider(provider)
            .with_protocol_versions(&[&rustls::version::TLS13, &rustls::version::TLS12])
            .and_then(|builder| {
                // Also checks that the key is the certificate's.
                builder
                    .with_no_client_auth()
                    .with_single_cert(chain, private_key)
            })
            .map_err(|err| TlsError::Pair {
                certificate,
                key,
                message: err.to_string(),
            })?;
        server.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
        Ok(Self {
            acceptor: TlsAcceptor::from(Arc::new(server)),
            handshake_timeout: config.handshake_timeout,
            expires_at,
        })
    }

    fn report_expiry(&self) {
        if let Some(expires_at) = self.expires_at {
            crate::ops::metrics::certificate_expiry("edge", expires_at);
        }
    }
}

/// When the first certificate of `chain` to expire does: a chain is as good
/// as its shortest-lived link. `None` if none can be read as X.509.
pub fn expiry(chain: &[CertificateDer<'_>]) -> Option<SystemTime> {
    use x509_cert::der::Decode;
    chain
        .iter()
        .filter_map(|der| x509_cert::Certificate::from_der(der.as_ref()).ok())
        .map(|certificate| {
            certificate
                .tbs_certificate
                .validity
                .not_after
                .to_system_time()
        })
        .min()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write_pair(dir: &Path, name: &str) -> TlsConfig {
        let made = rcgen::generate_simple_self_signed(vec!["localhost".to_owned()]).expect("cert");
        std::fs::write(dir.join(format!("{name}.crt")), made.cert.pem()).expect("write");
        std::fs::write(
            dir.join(format!("{name}.key")),
            made.key_pair.serialize_pem(),
        )
        .expect("write");
        TlsConfig {
            certificate: format!("{name}.crt").into(),
            key: format!("{name}.key").into(),
            handshake_timeout: default_handshake_timeout(),
        }
    }

    #[test]
    fn a_pair_loads_and_each_bad_file_is_named() {
        let dir = tempfile::tempdir().expect("dir");
        let good = write_pair(dir.path(), "a");
        let other = write_pair(dir.path(), "b");
        let load = |config: &TlsConfig| TlsMaterial::load(config, dir.path());
        load(&good).expect("a good pair loads");

        let missing = TlsConfig {
            certificate: "nowhere.crt".into(),
            ..good.clone()
        };
        let err = load(&missing).expect_err("missing file");
        assert_eq!(err.field(), "server.tls.certificate");
        assert!(err.to_string().contains("nowhere.crt"), "{err}");

        // A key file given as the certificate: PEM, but no certificate in it.
        let swapped = TlsConfig {
            certificate: good.key.clone(),
            ..good.clone()
        };
        let err = load(&swapped).expect_err("no certificate");
        assert_eq!(err.field(), "server.tls.certificate");
        assert!(
            err.to_string().ends_with("holds no PEM certificate"),
            "{err}"
        );

        let no_key = TlsConfig {
            key: good.certificate.clone(),
            ..good.clone()
        };
        let err = load(&no_key).expect_err("no key");
        assert_eq!(err.field(), "server.tls.key", "{err}");

        // Another certificate's key.
        let mismatched = TlsConfig {
            key: other.key.clone(),
            ..good.clone()
        };
        let err = load(&mismatched).expect_err("mismatch");
        assert!(matches!(err, TlsError::Pair { .. }), "{err}");

        load(&other).expect("another good pair");
    }
}
