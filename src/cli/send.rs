//! `hookgate send`: a correctly signed delivery for any provider, posted to
//! a URL, and what it answered.

use std::path::PathBuf;

use hookgate::ops::https;
use hookgate::tools::send::{self as sending, SendRequest};
use hookgate::verify::{SchemeOptions, VerifierKind};

use super::{Failure, Outcome};

#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    /// The signature scheme, as a source's `verifier` names it.
    #[arg(long)]
    provider: VerifierKind,
    /// The signing key, `env:NAME` or `file:PATH`: the shared secret, or for
    /// discord (hex seed) and sendgrid (PKCS#8 PEM) the private key.
    #[arg(long)]
    secret: String,
    /// Where to POST: a source's URL on a running hookgate, http:// or https://.
    #[arg(long)]
    url: String,
    /// A PEM certificate authority to trust for https:// beside the
    /// system's (a private CA, or a self-signed certificate).
    #[arg(long)]
    ca: Option<PathBuf>,
    /// The payload to sign and send, from a file (`-` for stdin); a sample
    /// event in the provider's shape when absent.
    #[arg(long)]
    body: Option<PathBuf>,
    /// The event id; a new one for each run when absent.
    #[arg(long)]
    id: Option<String>,
    /// Send the same signed delivery this many times, as a provider retries.
    #[arg(long, default_value_t = 1)]
    repeat: u32,
    /// The URL the provider signs (square), when it is not --url.
    #[arg(long)]
    public_url: Option<String>,
    /// How long each delivery may wait for its answer (30s, 2m).
    #[arg(long, default_value_t = https::DEFAULT_TIMEOUT.into(), value_parser = https::parse_timeout)]
    timeout: humantime::Duration,
}

/// Signs one delivery and posts it `--repeat` times.
pub(crate) fn run(args: Args) -> Outcome {
    let Args {
        provider: kind,
        secret,
        url,
        ca,
        body,
        id,
        repeat,
        public_url,
        timeout,
    } = args;
    let url = url.as_str();
    let fail = |message: String| Failure::Input(format!("hookgate send: {message}"));
    let secret = match hookgate::config::secret::resolve(&secret, std::path::Path::new(".")) {
        Ok(secret) => secret,
        Err(err) => return Err(fail(format!("--secret: {err}"))),
    };
    let payload = match sending::read_payload(body.as_deref()) {
        Ok(payload) => payload,
        Err(message) => return Err(fail(message)),
    };
    let event_id = id.unwrap_or_else(sending::fresh_event_id);
    let request = SendRequest {
        kind,
        secret: &secret,
        url,
        payload,
        event_id,
        options: SchemeOptions {
            hmac: None,
            public_url: Some(public_url.as_deref().unwrap_or(url)),
            token: None,
            verify_token: None,
            certificates: None,
            confirm_subscriptions: false,
        },
        ca: ca.as_deref(),
        timeout: timeout.into(),
    };
    let delivery = match request.sign() {
        Ok(delivery) => delivery,
        Err(err) => return Err(fail(err.to_string())),
    };
    let runtime = super::runtime(None)?;
    match runtime.block_on(request.post(&delivery, repeat.max(1))) {
        Ok(answers) => {
            for answer in &answers {
                println!("HTTP {} {}", answer.status, answer.body);
            }
            if answers.iter().all(|a| (200..300).contains(&a.status)) {
                Ok(())
            } else {
                Err(Failure::Incomplete)
            }
        }
        Err(err) => Err(fail(err.to_string())),
    }
}
