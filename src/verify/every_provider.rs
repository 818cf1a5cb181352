//! What every provider in the table must do, checked for all of them: it
//! accepts what it signs and refuses a changed body, its defaults parse, an
//! event id it leaves unsigned is guarded or its gap stated, and the docs
//! give its scheme, its handshake and its replay guard
//! (`docs/providers.md`, `docs/configuration.md`).

#[cfg(test)]
mod tests {
    use bytes::Bytes;
    use http::{HeaderMap, HeaderName, HeaderValue};

    use super::super::*;
    use crate::config::secret::Secret;

    #[test]
    fn every_scheme_accepts_what_it_signs_and_nothing_else() {
        let options = HmacOptions::default();
        for kind in VerifierKind::ALL {
            let secret_text = example_secret(kind);
            let key = verification_key(kind, secret_text).expect("a verification key");
            // What `hookgate send` signs with, for the schemes that sign with a certificate.
            let example_certificate = crate::verify::CertificateOptions {
                pinned: vec![crate::verify::example_signer::certificate_path()],
                ..crate::verify::CertificateOptions::default()
            };
            let scheme_options = SchemeOptions {
                hmac: Some(&options),
                public_url: Some("https://hooks.example.com/in"),
                token: None,
                verify_token: None,
                certificates: Some(&example_certificate),
                confirm_subscriptions: false,
            };
            let verifier =
                Verifier::build(kind, &[Secret::new(key)], DEFAULT_TOLERANCE, scheme_options)
                    .expect("builds");
            let payload = br#"{"id":"evt_1","event_id":"Ev1","webhookTimestamp":1700000000000}"#;
            let signed = sign(
                kind,
                secret_text,
                payload,
                "evt_1",
                1_700_000_000,
                scheme_options,
            )
            .expect("signs");
            let headers = test_support::owned(&signed.headers);
            let body = Bytes::from(signed.body.clone());
            let query = signed.query.as_deref();
            assert!(
                verifier
                    .verify_with_query(&headers, query, body.clone(), 1_700_000_000)
                    .is_ok(),
                "{kind:?}"
            );
            let tampered = String::from_utf8(signed.body)
                .expect("utf-8")
                .replace("Ev1", "Ev2");
            let outcome =
                verifier.verify_with_query(&headers, query, Bytes::from(tampered), 1_700_000_000);
            if !kind.provider().signs_body {
                assert!(outcome.is_ok(), "{kind:?}");
            } else {
                assert_eq!(outcome.unwrap_err(), VerifyError::Mismatch, "{kind:?}");
            }
            // The payload alone, without what signing added (headers, a
            // query, Mailgun's block or Graph's clientState in the body),
            // verifies for no scheme.
            assert!(
                verifier
                    .verify(
                        &HeaderMap::new(),
                        Bytes::from_static(payload),
                        1_700_000_000
                    )
                    .is_err(),
                "{kind:?}"
            );
        }
    }

    /// What a scheme does not sign is where a captured delivery can take a
    /// new event id: each copy of (`headers`, `body`) with its id changed
    /// there, as `locator` finds the id, and how it was changed.
    fn with_id_changed(
        locator: &crate::pipeline::locate::Locator,
        headers: &HeaderMap,
        body: &[u8],
    ) -> Vec<(HeaderMap, Vec<u8>, String)> {
        use crate::pipeline::locate::{LocateError, Locator};
        match locator {
            Locator::Header(name) => {
                let mut changed = headers.clone();
                changed.insert(name, HeaderValue::from_static("hookgate-changed-id"));
                vec![(changed, body.to_vec(), format!("a new {name}"))]
            }
            Locator::Json { pointer, .. } => {
                let Ok(mut json) = serde_json::from_slice::<serde_json::Value>(body) else {
                    return Vec::new();
                };
                let Some(value) = json.pointer_mut(pointer) else {
                    return Vec::new();
                };
                *value = "hookgate-changed-id".into();
                let changed = serde_json::to_vec(&json).expect("serialises");
                vec![(
                    headers.clone(),
                    changed,
                    format!("a new {pointer} in the body"),
                )]
            }
            Locator::BodySha256 => {
                let mut changed = body.to_vec();
                changed.push(b' ');
                vec![(headers.clone(), changed, "a space after the body".into())]
            }
            Locator::HeaderSha256(name) | Locator::JwsSha256(name) => headers
                .get(name)
                .and_then(|value| high_s_twin(value.to_str().ok()?))
                .map(|twin| {
                    let mut changed = headers.clone();
                    let twin = HeaderValue::from_str(&twin).expect("base64url");
                    changed.insert(name, twin);
                    (changed, body.to_vec(), format!("the high-S twin in {name}"))
                })
                .into_iter()
                .collect(),
            // The alternative this delivery's id was taken from.
            Locator::FirstOf(choices) => choices
                .iter()
                .find(|choice| {
                    !matches!(choice.extract(headers, body), Err(LocateError::Missing(_)))
                })
                .map(|choice| with_id_changed(choice, headers, body))
                .unwrap_or_default(),
        }
    }

    /// A compact JWS whose ECDSA P-256 signature `(r, s)` is written as its
    /// twin `(r, n - s)`, which verifies as well; `None` for any other value.
    fn high_s_twin(token: &str) -> Option<String> {
        use base64::Engine as _;
        use base64::engine::general_purpose::URL_SAFE_NO_PAD;
        let (signing_input, signature) = token.rsplit_once('.')?;
        let raw = URL_SAFE_NO_PAD.decode(signature).ok()?;
        let signature = p256::ecdsa::Signature::from_slice(&raw).ok()?;
        let (r, s) = signature.split_scalars();
        let twin = p256::ecdsa::Signature::from_scalars(r, -s).ok()?;
        Some(format!(
            "{signing_input}.{}",
            URL_SAFE_NO_PAD.encode(twin.to_bytes())
        ))
    }

    /// For every scheme: a signed delivery whose event id is changed where
    /// the scheme leaves it unsigned, and that still verifies, is a captured
    /// delivery sent again as a new event. The replay guard must be on by
    /// default and remember the same thing of both copies, or the provider
    /// must say why it cannot.
    #[test]
    fn every_unsigned_event_id_is_guarded_or_its_gap_documented() {
        let options = HmacOptions::default();
        // What `hookgate send` signs with, for the schemes that sign with a certificate.
        let example_certificate = crate::verify::CertificateOptions {
            pinned: vec![crate::verify::example_signer::certificate_path()],
            ..crate::verify::CertificateOptions::default()
        };
        let scheme_options = SchemeOptions {
            hmac: Some(&options),
            public_url: Some("https://hooks.example.com/in"),
            token: None,
            verify_token: None,
            certificates: Some(&example_certificate),
            confirm_subscriptions: false,
        };
        let now = 1_700_000_000;
        let payload = br#"{"id":"evt_1","event_id":"evt_1","eventId":"evt_1","messageId":"evt_1","event":{"id":"evt_1"},"action":{"id":"evt_1"},"data":{"id":"evt_1"},"meta":{"id":"evt_1"},"type":"Issue","webhookTimestamp":1700000000000}"#;
        let mut unguarded = Vec::new();
        for kind in VerifierKind::ALL {
            let secret = example_secret(kind);
            let key = verification_key(kind, secret).expect("a verification key");
            let verifier =
                Verifier::build(kind, &[Secret::new(key)], DEFAULT_TOLERANCE, scheme_options)
                    .expect("builds");
            let signed = sign(kind, secret, payload, "evt_1", now, scheme_options).expect("signs");
            let headers = test_support::owned(&signed.headers);
            let query = signed.query.as_deref();
            let verify = |headers: &HeaderMap, body: &[u8]| {
                verifier.verify_with_query(headers, query, Bytes::copy_from_slice(body), now)
            };
            let original = verify(&headers, &signed.body).expect("verifies");
            let locator =
                crate::pipeline::locate::Locator::parse(kind.defaults().event_id).expect("parses");
            let id = locator
                .extract(&headers, original.body())
                .unwrap_or_else(|err| panic!("{kind:?}: {err}"));
            let changes = with_id_changed(&locator, &headers, &signed.body);
            assert!(!changes.is_empty(), "{kind:?}: its id could not be changed");
            for (changed_headers, changed_body, how) in changes {
                let Ok(copy) = verify(&changed_headers, &changed_body) else {
                    continue;
                };
                let copy_id = locator.extract(&changed_headers, copy.body());
                if copy_id.as_ref() == Ok(&id) {
                    continue;
                }
                let guarded = kind.defaults().replay_guard
                    && copy.replay_material() == original.replay_material();
                if !guarded && kind.provider().unguarded_because.is_none() {
                    unguarded.push(format!(
                        "{}: {how} still verifies and is event {copy_id:?}, not {id:?}, yet the replay guard is {}",
                        kind.name(),
                        if kind.defaults().replay_guard {
                            "on but remembers something else of it"
                        } else {
                            "off"
                        },
                    ));
                }
            }
        }
        assert!(
            unguarded.is_empty(),
            "event ids that are not signed and not guarded, with no reason given:\n{}",
            unguarded.join("\n")
        );
    }

    #[test]
    fn the_docs_list_the_replay_guards_defaults_and_gaps() {
        let configuration = include_str!("../../docs/configuration.md");
        let providers = include_str!("../../docs/providers.md");
        let row = configuration
            .lines()
            .find(|line| line.starts_with("| `replay_guard` |"))
            .expect("the replay_guard row of the configuration reference");
        let gaps = providers
            .split("**What the replay guard cannot catch.**")
            .nth(1)
            .and_then(|rest| rest.split("\n\n").next())
            .expect("a paragraph on what the replay guard cannot catch");
        for kind in VerifierKind::ALL {
            let name = format!("`{}`", kind.name());
            if kind.defaults().replay_guard {
                assert!(row.contains(&name), "{name}: on by default, not in {row}");
            }
            if kind.provider().unguarded_because.is_some() {
                assert!(gaps.contains(&name), "{name}: its gap is not in {gaps}");
            }
        }
    }

    #[test]
    fn every_providers_defaults_parse() {
        for kind in VerifierKind::ALL {
            let defaults = kind.defaults();
            assert!(
                crate::pipeline::locate::Locator::parse(defaults.event_id).is_ok(),
                "{kind:?}"
            );
            if let Some(partition_key) = defaults.partition_key {
                assert!(
                    crate::pipeline::locate::Locator::parse(partition_key).is_ok(),
                    "{kind:?}"
                );
            }
            if let Some(event_type) = defaults.event_type {
                assert!(
                    crate::pipeline::locate::Locator::parse(event_type).is_ok(),
                    "{kind:?}"
                );
            }
            for name in defaults.forward_headers {
                assert!(
                    HeaderName::from_bytes(name.as_bytes()).is_ok(),
                    "{kind:?} {name}"
                );
            }
        }
    }

    #[test]
    fn the_docs_give_every_scheme_and_its_handshake() {
        let providers = include_str!("../../docs/providers.md");
        let section = |start: &str, end: &str| {
            let from = providers.find(start).expect(start);
            let to = from + providers[from..].find(end).expect(end);
            &providers[from..to]
        };
        let schemes = section("## Signature schemes", "**Handshakes.**");
        let handshakes = section("**Handshakes.**", "**Batches.**");
        for name in VerifierKind::NAMES {
            let cell = format!("| `{name}`");
            assert!(
                schemes.lines().any(|line| line.starts_with(&cell)),
                "{name}: no row in docs/providers.md's table of signature schemes"
            );
            assert!(
                handshakes.contains(&format!("`{name}`")),
                "{name}: not in docs/providers.md's table of handshakes"
            );
        }
    }
}
