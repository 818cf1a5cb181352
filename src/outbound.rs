//! The HTTP client of hookgate's tools (`hookgate send`): `http://` and
//! `https://` URLs, HTTP/1.1 or HTTP/2 as the server offers by ALPN. TLS is
//! rustls, trusting the system's certificate authorities plus, with `--ca`,
//! one more (a private CA, or a test certificate).

use std::path::{Path, PathBuf};
use std::sync::Arc;

use bytes::Bytes;
use http_body_util::Full;
use hyper_rustls::HttpsConnector;
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use rustls::{ClientConfig, RootCertStore};
use rustls_pki_types::CertificateDer;
use rustls_pki_types::pem::PemObject;

/// A client for `http://` and `https://` URLs.
pub type HttpsClient = Client<HttpsConnector<HttpConnector>, Full<Bytes>>;

/// Why no client could be made.
#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("--ca {path}: cannot read PEM certificates: {message}")]
    Ca { path: PathBuf, message: String },
    #[error("--ca {path}: holds no PEM certificate")]
    EmptyCa { path: PathBuf },
    #[error("cannot set up TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// rustls settings trusting the system's authorities and those in `ca`.
pub fn tls_config(ca: Option<&Path>) -> Result<ClientConfig, ClientError> {
    let mut roots = RootCertStore::empty();
    // Unreadable system certificates are skipped; a `--ca` still works alone.
    let native = rustls_native_certs::load_native_certs();
    roots.add_parsable_certificates(native.certs);
    if let Some(path) = ca {
        let certs = CertificateDer::pem_file_iter(path)
            .and_then(|certs| certs.collect::<Result<Vec<_>, _>>())
            .map_err(|err| ClientError::Ca {
                path: path.to_owned(),
                message: err.to_string(),
            })?;
        if certs.is_empty() {
            return Err(ClientError::EmptyCa {
                path: path.to_owned(),
            });
        }
        let (_added, ignored) = roots.add_parsable_certificates(certs);
        if ignored > 0 {
            return Err(ClientError::Ca {
                path: path.to_owned(),
                message: format!("{ignored} certificate(s) are not valid X.509"),
            });
        }
    }
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    Ok(ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_no_client_auth())
}

/// A client for both schemes, offering `h2` and `http/1.1` over TLS.
pub fn client(ca: Option<&Path>) -> Result<HttpsClient, ClientError> {
    let connector = hyper_rustls::HttpsConnectorBuilder::new()
        .with_tls_config(tls_config(ca)?)
        .https_or_http()
        .enable_http1()
        .enable_http2()
        .build();
    Ok(Client::builder(TokioExecutor::new()).build(connector))
}
