//! Which request headers are a provider's own: those its scheme signs with
//! (as [`sign`] sends them), those its default event id and type are read
//! from, those it forwards to consumers, and the content type and user agent
//! every sender sets. Derived from the provider table, so a new provider
//! needs nothing here. `hookgate forward` passes on only these from a
//! quarantined request, which was never verified: whatever else it carries
//! (`X-Forwarded-Host`, `X-HTTP-Method-Override`, …) came from whoever sent it.

use http::HeaderName;

use super::{SchemeOptions, VerifierKind, example_secret, sample, sign};
use crate::pipeline::locate::Locator;

/// What every sender sets, whatever its scheme.
const EVERY_SENDER: [HeaderName; 2] = [http::header::CONTENT_TYPE, http::header::USER_AGENT];

/// The headers `kind`'s deliveries carry by the provider's documentation,
/// lower-case and without repeats. For `token`, whose header a source
/// configures (`[sources.token]`), only those every sender sets; for `hmac`,
/// its default header (`[sources.hmac]` may name another).
pub fn provider_headers(kind: VerifierKind) -> Vec<HeaderName> {
    let mut names: Vec<HeaderName> = EVERY_SENDER.to_vec();
    if kind == VerifierKind::Token {
        return names;
    }
    let defaults = kind.defaults();
    // Only the header names matter: any id, time and URL give the same ones.
    let (id, now) = ("evt_provider_headers", 1_700_000_000);
    let payload = serde_json::to_vec(&sample(kind, id, now)).unwrap_or_default();
    let options = SchemeOptions {
        hmac: None,
        public_url: Some("https://hooks.example.com/webhook"),
        token: None,
        verify_token: None,
        certificates: None,
        confirm_subscriptions: false,
    };
    let signed = sign(kind, example_secret(kind), &payload, id, now, options)
        .map(|delivery| delivery.headers)
        .unwrap_or_default();
    let signed = signed
        .iter()
        .filter_map(|(name, _)| HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok());
    let located = std::iter::once(defaults.event_id)
        .chain(defaults.event_type)
        .filter_map(|spec| Locator::parse(spec).ok())
        .flat_map(|locator| located_headers(&locator));
    let forwarded = defaults
        .forward_headers
        .iter()
        .filter_map(|name| HeaderName::from_bytes(name.to_ascii_lowercase().as_bytes()).ok());
    for name in signed.chain(located).chain(forwarded) {
        if !names.contains(&name) {
            names.push(name);
        }
    }
    names
}

/// The headers a locator reads.
fn located_headers(locator: &Locator) -> Vec<HeaderName> {
    match locator {
        Locator::Header(name) | Locator::HeaderSha256(name) | Locator::JwsSha256(name) => {
            vec![name.clone()]
        }
        Locator::FirstOf(choices) => choices.iter().flat_map(located_headers).collect(),
        Locator::Json { .. } | Locator::BodySha256 => Vec::new(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(kind: VerifierKind) -> Vec<String> {
        provider_headers(kind)
            .iter()
            .map(|name| name.as_str().to_owned())
            .collect()
    }

    #[test]
    fn github_sends_its_signature_delivery_and_event_headers() {
        let github = names(VerifierKind::Github);
        for name in [
            "content-type",
            "user-agent",
            "x-hub-signature-256",
            "x-github-delivery",
            "x-github-event",
        ] {
            assert!(github.contains(&name.to_owned()), "{name}: {github:?}");
        }
        for name in [
            "x-forwarded-host",
            "x-http-method-override",
            "true-client-ip",
        ] {
            assert!(!github.contains(&name.to_owned()), "{name}: {github:?}");
        }
    }

    #[test]
    fn each_list_has_no_repeats_and_a_configured_or_in_body_scheme_only_the_common_ones() {
        for kind in VerifierKind::ALL {
            let all = names(kind);
            let mut unique = all.clone();
            unique.sort();
            unique.dedup();
            assert_eq!(
                all.len(),
                unique.len(),
                "{}: repeats in {all:?}",
                kind.name()
            );
        }
        // The token's header is the source's; Mailgun signs inside its body.
        for kind in [VerifierKind::Token, VerifierKind::Mailgun] {
            assert_eq!(
                names(kind),
                ["content-type", "user-agent"],
                "{}",
                kind.name()
            );
        }
        assert_eq!(
            names(VerifierKind::Hmac),
            ["content-type", "user-agent", "x-signature"],
            "the default header of the hmac scheme"
        );
    }

    #[test]
    fn a_scheme_that_signs_with_a_timestamp_header_sends_it() {
        let stripe = names(VerifierKind::Stripe);
        assert!(
            stripe.contains(&"stripe-signature".to_owned()),
            "{stripe:?}"
        );
        let svix = names(VerifierKind::Svix);
        for name in ["svix-id", "svix-timestamp", "svix-signature"] {
            assert!(svix.contains(&name.to_owned()), "{name}: {svix:?}");
        }
    }
}
