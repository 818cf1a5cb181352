//! The example signer of the schemes that sign with a certificate (SNS,
//! PayPal): a key pair made for examples and tests, with which `hookgate
//! send` signs. A source pins its certificate (`[sources.certificates]
//! pinned`) to accept such deliveries. Its private key is public: never pin
//! this certificate where real deliveries arrive.

use base64::Engine as _;

/// The certificate, to pin.
pub const CERTIFICATE: &str = include_str!("providers/example/signing.cert.pem");
const KEY: &str = include_str!("providers/example/signing.key.pem");

/// Where an example SNS message says its certificate is.
pub(crate) const SNS_CERT_URL: &str = "https://sns.us-east-1.amazonaws.com/SimpleNotificationService-0000000000000000000000000000000e.pem";
/// Where an example PayPal delivery says its certificate is.
pub(crate) const PAYPAL_CERT_URL: &str =
    "https://api.paypal.com/v1/notifications/certs/CERT-360caa42-fca2a594-hookgate-example";

/// RSASSA-PKCS1-v1_5 with SHA-256 of `message`, in base64.
pub(crate) fn sign(message: &[u8]) -> Result<String, String> {
    use rustls_pki_types::PrivatePkcs8KeyDer;
    use rustls_pki_types::pem::PemObject;
    let der = PrivatePkcs8KeyDer::from_pem_slice(KEY.as_bytes())
        .map_err(|err| format!("the example key: {err}"))?;
    let key = ring::signature::RsaKeyPair::from_pkcs8(der.secret_pkcs8_der())
        .map_err(|err| format!("the example key: {err}"))?;
    let mut signature = vec![0; key.public().modulus_len()];
    key.sign(
        &ring::signature::RSA_PKCS1_SHA256,
        &ring::rand::SystemRandom::new(),
        message,
        &mut signature,
    )
    .map_err(|err| format!("cannot sign: {err}"))?;
    Ok(base64::engine::general_purpose::STANDARD.encode(signature))
}

/// The certificate's file, for tests that pin it.
#[cfg(test)]
pub(crate) fn certificate_path() -> std::path::PathBuf {
    concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/src/verify/providers/example/signing.cert.pem"
    )
    .into()
}
