//! Signing certificates a provider names by URL in each delivery (SNS's
//! `SigningCertURL`, PayPal's `PAYPAL-CERT-URL`): fetched only over https from
//! the hosts the provider's scheme allows (or those a source names instead),
//! once per URL, in the background; kept by URL, a bounded number; or pinned
//! by the source, for installs that cannot reach the provider.
//!
//! A delivery whose certificate is not at hand is never made to wait for it:
//! it is answered 503 (the provider retries) and the certificate is fetched
//! behind it, within a per-source budget, so that requests naming URLs of
//! their own cannot make hookgate fetch without bound or slow anyone else.

use std::collections::{HashMap, HashSet, VecDeque};
use std::num::NonZeroU32;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use bytes::Bytes;
use governor::{DefaultDirectRateLimiter, Quota, RateLimiter};
use http_body_util::Full;
use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use super::BuildError;
use crate::ops::throttle::Throttle;

/// Certificates kept per source; a provider signs with one or two at a time.
const CACHED: usize = 32;
/// Fetches a source may start a minute, whatever its requests name.
const FETCHES_PER_MINUTE: u32 = 6;
/// Jobs waiting for the fetcher; beyond, a request's fetch waits for its retry.
const QUEUED: usize = 16;
/// A certificate is a few KiB; a larger answer is not one.
const MAX_CERTIFICATE_BYTES: usize = 64 * 1024;
/// How long one fetch may take.
const FETCH_TIMEOUT: Duration = Duration::from_secs(10);
/// How long a URL whose fetch failed is not fetched again.
const FAILED_BACKOFF: Duration = Duration::from_secs(60);

/// `[sources.certificates]`: where a source's certificates come from.
#[derive(Debug, Clone, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct CertificateOptions {
    /// Hosts (`host` or `host:port`) certificates are fetched from instead of
    /// the provider's own: a mirror, or a test server standing in for it.
    #[serde(default)]
    pub hosts: Vec<String>,
    /// A CA certificate (PEM) to trust beside the system's when fetching.
    #[serde(default)]
    pub ca: Option<PathBuf>,
    /// Certificates (PEM) to verify with instead of fetching any, for
    /// installs that cannot reach the provider; a provider's rotation then
    /// needs the new one added here.
    #[serde(default)]
    pub pinned: Vec<PathBuf>,
}

impl CertificateOptions {
    /// The same, its paths taken from `base_dir` (the config file's folder).
    pub fn relative_to(&self, base_dir: &Path) -> Self {
        Self {
            hosts: self.hosts.clone(),
            ca: self.ca.as_ref().map(|ca| base_dir.join(ca)),
            pinned: self.pinned.iter().map(|pem| base_dir.join(pem)).collect(),
        }
    }
}

/// The RSA public key of a certificate, for RSASSA-PKCS1-v1_5.
#[derive(Debug)]
pub(crate) struct RsaKey(Vec<u8>);

impl RsaKey {
    /// The key of the first certificate in `pem`.
    pub(crate) fn from_pem(pem: &[u8]) -> Result<Self, String> {
        use rustls_pki_types::CertificateDer;
        use rustls_pki_types::pem::PemObject;
        use x509_cert::der::Decode;
        let der = CertificateDer::pem_slice_iter(pem)
            .next()
            .ok_or("holds no PEM certificate")?
            .map_err(|err| format!("cannot read the PEM certificate: {err}"))?;
        let certificate = x509_cert::Certificate::from_der(der.as_ref())
            .map_err(|err| format!("not an X.509 certificate: {err}"))?;
        let key = certificate
            .tbs_certificate
            .subject_public_key_info
            .subject_public_key
            .raw_bytes()
            .to_vec();
        Ok(Self(key))
    }

    /// Whether `signature` is this key's over `message`.
    pub(crate) fn verifies(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        let algorithm: &dyn ring::signature::VerificationAlgorithm = match hash {
            Hash::Sha1 => &ring::signature::RSA_PKCS1_2048_8192_SHA1_FOR_LEGACY_USE_ONLY,
            Hash::Sha256 => &ring::signature::RSA_PKCS1_2048_8192_SHA256,
        };
        ring::signature::UnparsedPublicKey::new(algorithm, &self.0)
            .verify(message, signature)
            .is_ok()
    }
}

/// The hash of an RSASSA-PKCS1-v1_5 signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Hash {
    Sha1,
    Sha256,
}

/// Where a provider's certificates (and, for SNS, its confirmation links)
/// may be fetched from: an https URL whose host and path it documents.
#[derive(Debug, Clone, Copy)]
pub(crate) struct UrlRule {
    pub(crate) host: fn(&str) -> bool,
    pub(crate) path: fn(&str) -> bool,
}

/// A source's certificates: pinned, or fetched by URL as deliveries name them.
pub(crate) struct Certificates {
    rule: UrlRule,
    /// Hosts a source fetches from instead of the provider's.
    hosts: Vec<String>,
    pinned: Vec<Arc<RsaKey>>,
    fetcher: Fetcher,
}

/// The certificates fetched so far, by URL, for every source: a provider's
/// certificates are public, and kept here they outlive a reload (which
/// builds every source's check anew) instead of being fetched again.
fn cache() -> &'static Mutex<Cache> {
    static CACHE: OnceLock<Mutex<Cache>> = OnceLock::new();
    CACHE.get_or_init(Mutex::default)
}

impl std::fmt::Debug for Certificates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Certificates")
            .field("pinned", &self.pinned.len())
            .field("hosts", &self.hosts)
            .finish_non_exhaustive()
    }
}

/// The keys a delivery is checked with.
pub(crate) enum Keys<'a> {
    Pinned(&'a [Arc<RsaKey>]),
    Fetched(Arc<RsaKey>),
}

impl Keys<'_> {
    /// Whether one of the keys signed `message` with `signature`.
    pub(crate) fn verify(&self, hash: Hash, message: &[u8], signature: &[u8]) -> bool {
        match self {
            Self::Pinned(keys) => keys
                .iter()
                .any(|key| key.verifies(hash, message, signature)),
            Self::Fetched(key) => key.verifies(hash, message, signature),
        }
    }
}

impl Certificates {
    /// A source's certificates, as `options` says; the pinned ones read now.
    pub(crate) fn new(
        rule: UrlRule,
        options: Option<&CertificateOptions>,
    ) -> Result<Self, Vec<BuildError>> {
        let options = options.cloned().unwrap_or_default();
        let mut errors = Vec::new();
        let mut pinned = Vec::new();
        for (i, path) in options.pinned.iter().enumerate() {
            let key = std::fs::read(path)
                .map_err(|err| format!("cannot read {}: {err}", path.display()))
                .and_then(|pem| {
                    RsaKey::from_pem(&pem).map_err(|err| format!("{}: {err}", path.display()))
                });
            match key {
                Ok(key) => pinned.push(Arc::new(key)),
                Err(message) => errors.push(BuildError {
                    field: format!("certificates.pinned[{i}]"),
                    message,
                }),
            }
        }
        if let Some(ca) = &options.ca
            && let Err(message) = crate::ops::https::read_certificates(ca)
        {
            errors.push(BuildError {
                field: "certificates.ca".into(),
                message: format!("{}: {message}", ca.display()),
            });
        }
        if !errors.is_empty() {
            return Err(errors);
        }
        Ok(Self {
            rule,
            hosts: options.hosts,
            pinned,
            fetcher: Fetcher::new(options.ca),
        })
    }

    /// The keys to check a delivery naming `url` with: the pinned ones, or
    /// the certificate at `url` if it has been fetched. A URL `path` (or the
    /// rule) does not allow is refused; one not fetched yet is asked for,
    /// and the delivery is answered 503 meanwhile.
    pub(crate) fn keys(&self, url: &str, path: fn(&str) -> bool) -> Result<Keys<'_>, Unavailable> {
        if !self.pinned.is_empty() {
            return Ok(Keys::Pinned(&self.pinned));
        }
        let url = self.allowed(url, path).ok_or(Unavailable::NotAllowed)?;
        if let Some(key) = cache().lock().unwrap_or_else(|p| p.into_inner()).get(&url) {
            return Ok(Keys::Fetched(key));
        }
        self.fetcher.ask(Job::Certificate(url));
        Err(Unavailable::Pending)
    }

    /// Visits `url` once, in the background (SNS's subscription
    /// confirmation), if `rule`'s path and this source's hosts allow it;
    /// whether it will.
    pub(crate) fn visit(&self, url: &str, rule: UrlRule) -> bool {
        // A query is what a confirmation link is made of: checked as the
        // rule's path, kept as it is.
        let Ok(uri) = url.parse::<http::Uri>() else {
            return false;
        };
        let without_query = format!(
            "{}://{}{}",
            uri.scheme_str().unwrap_or_default(),
            uri.authority()
                .map(http::uri::Authority::as_str)
                .unwrap_or_default(),
            uri.path()
        );
        self.allowed(&without_query, rule.path).is_some()
            && !url.contains('#')
            && self.fetcher.ask(Job::Visit(url.to_owned()))
    }

    /// The URL as it is kept and fetched (`https://host/path`, the host in
    /// lower case), if it is an https URL without credentials, query,
    /// fragment or port, to an allowed host, with a path `path` allows. One
    /// certificate has one such URL, so a request cannot name it anew to
    /// make it fetched again.
    fn allowed(&self, url: &str, path: fn(&str) -> bool) -> Option<String> {
        let uri = url.parse::<http::Uri>().ok()?;
        let authority = uri.authority()?;
        if uri.scheme_str() != Some("https")
            || authority.as_str().contains('@')
            || uri.query().is_some()
            || url.contains('#')
        {
            return None;
        }
        let host = authority.host().to_ascii_lowercase();
        let host_allowed = if self.hosts.is_empty() {
            !authority.as_str().contains(':') && (self.rule.host)(&host)
        } else {
            self.hosts
                .iter()
                .any(|allowed| allowed.eq_ignore_ascii_case(authority.as_str()))
        };
        let canonical = if self.hosts.is_empty() {
            format!("https://{host}{}", uri.path())
        } else {
            format!(
                "https://{}{}",
                authority.as_str().to_ascii_lowercase(),
                uri.path()
            )
        };
        (host_allowed && path(uri.path())).then_some(canonical)
    }
}

/// Why no key is at hand for a delivery.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Unavailable {
    /// The URL is not one the provider's rule (or the source) allows.
    NotAllowed,
    /// Being fetched: answer 503, the retry finds it.
    Pending,
}

/// Certificates by URL, the oldest dropped first beyond [`CACHED`].
#[derive(Default)]
struct Cache {
    keys: HashMap<String, Arc<RsaKey>>,
    order: VecDeque<String>,
}

impl Cache {
    /// The key at `url`, now the last to be dropped.
    fn get(&mut self, url: &str) -> Option<Arc<RsaKey>> {
        let key = self.keys.get(url).cloned()?;
        if let Some(at) = self.order.iter().position(|kept| kept == url)
            && let Some(used) = self.order.remove(at)
        {
            self.order.push_back(used);
        }
        Some(key)
    }

    fn insert(&mut self, url: String, key: RsaKey) {
        if self.keys.insert(url.clone(), Arc::new(key)).is_none() {
            self.order.push_back(url);
        }
        while self.order.len() > CACHED {
            if let Some(oldest) = self.order.pop_front() {
                self.keys.remove(&oldest);
            }
        }
    }
}

/// What the fetcher does with a URL.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
enum Job {
    /// Fetch the certificate and keep its key.
    Certificate(String),
    /// GET it and log the answer.
    Visit(String),
}

impl Job {
    fn url(&self) -> &str {
        match self {
            Self::Certificate(url) | Self::Visit(url) => url,
        }
    }
}

/// Fetches a source's certificates one at a time on a task of its own,
/// started with the first job.
struct Fetcher {
    ca: Option<PathBuf>,
    budget: DefaultDirectRateLimiter,
    jobs: OnceLock<Option<mpsc::Sender<Job>>>,
    throttle: Throttle,
}

/// Jobs asked for and not done, across sources (each is done once however
/// often asked), and URLs whose fetch failed lately.
#[derive(Default)]
struct Pending {
    jobs: HashSet<Job>,
    failed: HashMap<String, Instant>,
}

fn pending() -> &'static Mutex<Pending> {
    static PENDING: OnceLock<Mutex<Pending>> = OnceLock::new();
    PENDING.get_or_init(Mutex::default)
}

impl Fetcher {
    fn new(ca: Option<PathBuf>) -> Self {
        let per_minute = NonZeroU32::new(FETCHES_PER_MINUTE).unwrap_or(NonZeroU32::MIN);
        Self {
            ca,
            budget: RateLimiter::direct(Quota::per_minute(per_minute)),
            jobs: OnceLock::new(),
            throttle: Throttle::default(),
        }
    }

    /// Queues `job` unless it is pending already, failed lately, or the
    /// budget is spent; whether it was queued or is pending.
    fn ask(&self, job: Job) -> bool {
        let mut pending = pending().lock().unwrap_or_else(|p| p.into_inner());
        if pending.jobs.contains(&job) {
            return true;
        }
        if let Job::Certificate(url) = &job
            && pending
                .failed
                .get(url)
                .is_some_and(|at| at.elapsed() < FAILED_BACKOFF)
        {
            return false;
        }
        let Some(jobs) = self.jobs.get_or_init(|| self.start()) else {
            return false;
        };
        if jobs.capacity() == 0 {
            return false;
        }
        // Only a verified delivery asks for a visit: the budget is for the
        // certificate URLs any request can name.
        if matches!(job, Job::Certificate(_)) && self.budget.check().is_err() {
            if let Some(suppressed) = self.throttle.allow() {
                tracing::warn!(url = %job.url(), suppressed, "certificate fetch budget spent: the delivery is answered 503 and fetched on a later retry");
            }
            return false;
        }
        if jobs.try_send(job.clone()).is_err() {
            return false;
        }
        pending.jobs.insert(job);
        true
    }

    /// The worker, on the runtime of the request that first needs it.
    fn start(&self) -> Option<mpsc::Sender<Job>> {
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let client = match crate::ops::https::client(self.ca.as_deref()) {
            Ok(client) => client,
            Err(err) => {
                tracing::error!("cannot fetch provider certificates: {err}");
                return None;
            }
        };
        let (sender, mut receiver) = mpsc::channel::<Job>(QUEUED);
        runtime.spawn(async move {
            while let Some(job) = receiver.recv().await {
                let fetched = fetch(&client, job.url()).await;
                let failed = match (&job, fetched) {
                    (Job::Certificate(url), Ok(pem)) => match RsaKey::from_pem(&pem) {
                        Ok(key) => {
                            tracing::info!(%url, "provider certificate fetched");
                            cache()
                                .lock()
                                .unwrap_or_else(|p| p.into_inner())
                                .insert(url.clone(), key);
                            false
                        }
                        Err(err) => {
                            tracing::warn!(%url, "the provider certificate is unusable: {err}");
                            true
                        }
                    },
                    (Job::Visit(url), Ok(_)) => {
                        tracing::info!(%url, "visited for the provider (subscription confirmed)");
                        false
                    }
                    (job, Err(err)) => {
                        tracing::warn!(url = %job.url(), "cannot fetch: {err}");
                        true
                    }
                };
                let mut pending = pending().lock().unwrap_or_else(|p| p.into_inner());
                pending.jobs.remove(&job);
                if let (true, Job::Certificate(url)) = (failed, &job) {
                    pending.failed.retain(|_, at| at.elapsed() < FAILED_BACKOFF);
                    pending.failed.insert(url.clone(), Instant::now());
                }
            }
        });
        Some(sender)
    }
}

/// GETs `url`: its body, if it answered 200 with at most
/// [`MAX_CERTIFICATE_BYTES`] (read no further) within [`FETCH_TIMEOUT`].
async fn fetch(client: &crate::ops::https::HttpsClient, url: &str) -> Result<Bytes, String> {
    use http_body_util::BodyExt;
    let request = http::Request::get(url)
        .header(http::header::USER_AGENT, "hookgate")
        .body(Full::new(Bytes::new()))
        .map_err(|err| err.to_string())?;
    let answered = async {
        let response = client
            .request(request)
            .await
            .map_err(|err| crate::ops::https::describe(&err))?;
        if response.status() != http::StatusCode::OK {
            return Err(format!("answered {}", response.status()));
        }
        http_body_util::Limited::new(response.into_body(), MAX_CERTIFICATE_BYTES)
            .collect()
            .await
            .map(http_body_util::Collected::to_bytes)
            .map_err(|err| format!("the answer: {err}"))
    };
    tokio::time::timeout(FETCH_TIMEOUT, answered)
        .await
        .map_err(|_| "no answer in time".to_owned())?
}

#[cfg(test)]
mod tests {
    use super::*;

    const RULE: UrlRule = UrlRule {
        host: |host| host == "certs.example.com",
        path: |path| path.ends_with(".pem"),
    };

    #[test]
    fn only_https_urls_to_the_rule_s_hosts_and_paths_are_allowed() {
        let certificates = Certificates::new(RULE, None).expect("builds");
        let allows =
            |certificates: &Certificates, url: &str| certificates.allowed(url, RULE.path).is_some();
        assert!(allows(&certificates, "https://certs.example.com/a.pem"));
        for refused in [
            "http://certs.example.com/a.pem",
            "https://certs.example.com:8443/a.pem",
            "https://user@certs.example.com/a.pem",
            "https://certs.example.com.evil.test/a.pem",
            "https://certs.example.com/a.txt",
            "https://evil.test/certs.example.com/a.pem",
            "https://certs.example.com/a.pem?again=1",
            "https://certs.example.com/a.pem#again",
            "https://certs.example.com:/a.pem",
            "not a url",
        ] {
            assert!(!allows(&certificates, refused), "{refused}");
        }
        // A source's own hosts stand in for the provider's, port and all.
        let options = CertificateOptions {
            hosts: vec!["127.0.0.1:8443".into()],
            ..CertificateOptions::default()
        };
        let mirrored = Certificates::new(RULE, Some(&options)).expect("builds");
        // One certificate, one URL: a request cannot name it anew.
        assert_eq!(
            certificates.allowed("https://CERTS.example.com/a.pem", RULE.path),
            certificates.allowed("https://certs.example.com/a.pem", RULE.path)
        );
        assert!(allows(&mirrored, "https://127.0.0.1:8443/a.pem"));
        assert!(!allows(&mirrored, "https://certs.example.com/a.pem"));
    }

    #[test]
    fn a_url_not_fetched_yet_is_pending_and_a_refused_one_is_malformed() {
        let certificates = Certificates::new(RULE, None).expect("builds");
        assert!(matches!(
            certificates.keys("https://certs.example.com/a.pem", RULE.path),
            Err(Unavailable::Pending)
        ));
        assert!(matches!(
            certificates.keys("https://evil.test/a.pem", RULE.path),
            Err(Unavailable::NotAllowed)
        ));
    }

    #[test]
    fn the_cache_keeps_the_newest_certificates() {
        let pem = include_bytes!("providers/example/signing.cert.pem");
        let mut cache = Cache::default();
        for n in 0..CACHED + 3 {
            cache.insert(format!("u{n}"), RsaKey::from_pem(pem).expect("key"));
        }
        assert_eq!(cache.keys.len(), CACHED);
        assert!(cache.get("u0").is_none());
        assert!(cache.get(&format!("u{}", CACHED + 2)).is_some());
        // A certificate in use is kept while others come and go.
        assert!(cache.get("u3").is_some());
        for n in 0..CACHED - 1 {
            cache.insert(format!("v{n}"), RsaKey::from_pem(pem).expect("key"));
        }
        assert!(cache.get("u3").is_some());
    }

    #[test]
    fn a_pinned_certificate_that_cannot_be_read_is_named() {
        let options = CertificateOptions {
            pinned: vec!["/nonexistent/cert.pem".into()],
            ..CertificateOptions::default()
        };
        let errors = Certificates::new(RULE, Some(&options)).expect_err("refused");
        assert_eq!(errors[0].field, "certificates.pinned[0]");
    }
}
