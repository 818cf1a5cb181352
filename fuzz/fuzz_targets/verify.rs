//! Every signature scheme's header and body parsing, on arbitrary requests:
//! the first byte picks the scheme, then `name: value` lines up to a blank
//! line are the headers (a line `?…` is the query string), and the rest is
//! the body. Nothing may panic: not the checks before verification
//! (handshakes of any method), not verification, not a batch's split.
#![no_main]

use std::sync::OnceLock;
use std::time::Duration;

use bytes::Bytes;
use hookgate::config::secret::Secret;
use hookgate::verify::{SchemeOptions, Verifier, VerifierKind};
use http::Method;
use libfuzzer_sys::fuzz_target;

mod shared;

/// A verifier of every scheme that builds from a plain secret.
fn verifiers() -> &'static Vec<Verifier> {
    static VERIFIERS: OnceLock<Vec<Verifier>> = OnceLock::new();
    VERIFIERS.get_or_init(|| {
        let options = SchemeOptions {
            hmac: None,
            public_url: Some("https://hooks.example.com/webhooks"),
            token: None,
            verify_token: None,
            certificates: None,
            confirm_subscriptions: false,
        };
        VerifierKind::ALL
            .iter()
            .filter_map(|&kind| {
                let secret = Secret::new(b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw".as_slice());
                Verifier::build(kind, &[secret], Duration::from_secs(300), options).ok()
            })
            .collect()
    })
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, rest)) = data.split_first() else {
        return;
    };
    let verifiers = verifiers();
    let verifier = &verifiers[usize::from(pick) % verifiers.len()];
    let (head, body) = match rest.windows(2).position(|w| w == b"\n\n") {
        Some(at) => (&rest[..at], &rest[at + 2..]),
        None => (rest, &[][..]),
    };
    let (headers, query) = shared::request_head(head);
    for method in [Method::GET, Method::HEAD, Method::POST] {
        let _ = verifier.challenge(&method, &headers, query, body, 1_700_000_000);
    }
    let verified =
        verifier.verify_with_query(&headers, query, Bytes::copy_from_slice(body), 1_700_000_000);
    if let Ok(verified) = verified {
        let _ = verified.replay_material();
        let _ = verifier.handshake(&verified);
        let _ = verifier.split(&verified);
    }
});
