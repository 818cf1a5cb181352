//! Standard Webhooks (and Svix, which uses the same scheme under `svix-` header
//! names): `webhook-signature: v1,<base64> [v1,<base64> …]`, HMAC-SHA256 of
//! `{webhook-id}.{webhook-timestamp}.{body}`, keyed by the base64 after `whsec_`.

use base64::Engine as _;

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Candidates, Encoding, Keys, Signature};
use crate::verify::{
    BuildError, BuildInput, Defaults, Provider, Scheme, SchemeHeader, Signed, VerifyError,
    check_timestamp, verdict,
};

const ID: &str = "webhook-id";
const TIMESTAMP: &str = "webhook-timestamp";
const SIGNATURE: &str = "webhook-signature";
const SVIX_ID: &str = "svix-id";
const SVIX_TIMESTAMP: &str = "svix-timestamp";
const SVIX_SIGNATURE: &str = "svix-signature";

pub(super) const DEFAULTS: Defaults = Defaults {
    // Svix's customers (Clerk, Resend, ...) send the same scheme under svix-*.
    event_id: "header:webhook-id | header:svix-id",
    event_type: Some("json:/type"),
    forward_headers: &[],
    timestamped: true,
    replay_guard: false,
    tolerance: None,
    partition_key: None,
};

#[derive(Debug)]
pub(super) struct StandardWebhooks {
    keys: Keys,
    tolerance: u64,
    /// id, timestamp and signature, under the spec's names and under Svix's.
    spec: [SchemeHeader; 3],
    svix: [SchemeHeader; 3],
}

/// How a sender turns its secret into the HMAC key: senders that follow the
/// scheme differ here, and only here.
#[derive(Clone, Copy, Debug)]
pub(super) enum KeyForm {
    /// The specification's: the base64 after `whsec_`.
    Base64,
    /// OpenAI's SDKs: the base64 after `whsec_`; a secret without the
    /// prefix, its bytes as they are.
    Base64OrBytes,
    /// Polar's: endpoints made since 2026-09-08 key the base64 after
    /// `whsec_`, older ones the whole secret's bytes; both are tried.
    Base64AndBytes,
}

impl KeyForm {
    fn keys(self, text: &[u8]) -> Option<Vec<Vec<u8>>> {
        let standard = decode_secret(text);
        match self {
            Self::Base64 => standard.map(|key| vec![key]),
            Self::Base64OrBytes if text.starts_with(b"whsec_") => standard.map(|key| vec![key]),
            Self::Base64OrBytes => (!text.is_empty()).then(|| vec![text.to_vec()]),
            Self::Base64AndBytes => {
                let keys: Vec<Vec<u8>> = standard
                    .into_iter()
                    .chain((!text.is_empty()).then(|| text.to_vec()))
                    .collect();
                (!keys.is_empty()).then_some(keys)
            }
        }
    }

    fn refusal(self) -> &'static str {
        match self {
            Self::Base64 => "a Standard Webhooks secret is `whsec_` followed by base64",
            Self::Base64OrBytes | Self::Base64AndBytes => {
                "the secret is empty, or `whsec_` not followed by base64"
            }
        }
    }
}

impl StandardWebhooks {
    pub(super) fn new(secrets: &[Secret], tolerance: u64) -> Result<Self, Vec<BuildError>> {
        Self::with_keys(secrets, tolerance, KeyForm::Base64)
    }

    /// The check for a sender whose keys come from its secrets as `form` says.
    pub(super) fn with_keys(
        secrets: &[Secret],
        tolerance: u64,
        form: KeyForm,
    ) -> Result<Self, Vec<BuildError>> {
        let keys: Vec<Vec<u8>> =
            crate::verify::parse_keys(secrets, |text| form.keys(text), form.refusal())?
                .into_iter()
                .flatten()
                .collect();
        Ok(Self {
            keys: Keys::new(Algorithm::Sha256, keys.iter().map(Vec::as_slice)),
            tolerance,
            spec: [ID, TIMESTAMP, SIGNATURE].map(SchemeHeader::new),
            svix: [SVIX_ID, SVIX_TIMESTAMP, SVIX_SIGNATURE].map(SchemeHeader::new),
        })
    }
}

impl crate::verify::Scheme for StandardWebhooks {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        // The spec's names win; Svix senders use the same scheme under svix-*.
        let ([id, timestamp, signature], other) = if self.spec[2].is_in(request.headers) {
            (&self.spec, &self.svix)
        } else if self.svix[2].is_in(request.headers) {
            (&self.svix, &self.spec)
        } else {
            return Err(VerifyError::MissingHeader(SIGNATURE));
        };
        let id = id.required(request.headers)?;
        // A source reads its id under either name: the other name, when
        // present, must carry the signed id, or an unsigned one could be swapped in.
        if other[0].is_in(request.headers) && other[0].required(request.headers)? != id {
            return Err(VerifyError::MalformedHeader(other[0].label()));
        }
        let (timestamp, signatures) = (
            timestamp.required(request.headers)?,
            signature.required(request.headers)?,
        );
        let mut candidates = Candidates::new();
        for item in signatures
            .split(|&b| b == b' ')
            .filter(|item| !item.is_empty())
        {
            // Other versions (v1a is asymmetric) are not ours to check.
            if let Some(b64) = item.strip_prefix(b"v1,") {
                candidates.push(
                    Signature::decode(b64, Encoding::Base64)
                        .ok_or(VerifyError::MalformedHeader(SIGNATURE))?,
                );
            }
        }
        if candidates.is_empty() {
            return Err(VerifyError::MalformedHeader(SIGNATURE));
        }
        check_timestamp(timestamp, request.now, self.tolerance, TIMESTAMP)?;
        verdict(
            self.keys
                .verify(&[id, b".", timestamp, b".", request.body], &candidates),
        )
    }
}

fn decode_secret(text: &[u8]) -> Option<Vec<u8>> {
    let b64 = text.strip_prefix(b"whsec_").unwrap_or(text);
    base64::engine::general_purpose::STANDARD
        .decode(b64)
        .ok()
        .filter(|key| !key.is_empty())
}

pub(super) fn sign(
    secret: &[u8],
    body: &[u8],
    event_id: &str,
    now: i64,
) -> Result<Vec<(String, String)>, String> {
    sign_as([ID, TIMESTAMP, SIGNATURE], secret, body, event_id, now)
}

/// Signs under the given id, timestamp and signature header names.
fn sign_as(
    names: [&str; 3],
    secret: &[u8],
    body: &[u8],
    event_id: &str,
    now: i64,
) -> Result<Vec<(String, String)>, String> {
    let key =
        decode_secret(secret).ok_or("a Standard Webhooks secret is `whsec_` followed by base64")?;
    let t = now.to_string();
    let mac = crate::verify::mac::sign(
        Algorithm::Sha256,
        &key,
        &[event_id.as_bytes(), b".", t.as_bytes(), b".", body],
    );
    Ok(vec![
        (names[0].into(), event_id.into()),
        (names[1].into(), t),
        (
            names[2].into(),
            format!(
                "v1,{}",
                base64::engine::general_purpose::STANDARD.encode(mac)
            ),
        ),
    ])
}

/// The secret of the Standard Webhooks specification's own examples.
const EXAMPLE_SECRET: &[u8] = b"whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";

/// A source's check, whichever names its provider sends the scheme under.
fn build(input: &BuildInput<'_>) -> Result<Box<dyn Scheme>, Vec<BuildError>> {
    Ok(Box::new(StandardWebhooks::new(
        input.secrets,
        input.tolerance,
    )?))
}

pub(in crate::verify) const PROVIDER: Provider = branded(DEFAULTS, build);

/// A provider that sends this scheme under its own name (OpenAI, Polar,
/// Replicate): its defaults, and `build` for how its secret becomes keys.
pub(super) const fn branded(defaults: Defaults, build: crate::verify::provider::BuildFn) -> Provider {
    Provider::shared_secret(defaults, build, |input| {
        input.with_headers(sign(
            input.secret,
            input.payload,
            input.event_id,
            input.now,
        )?)
    })
    .with_example_secret(EXAMPLE_SECRET)
}

/// A provider that sends through Svix (Clerk, Resend, ...): this scheme under
/// the `svix-*` names, its id Svix's message id and its type the body's
/// `type`; each such provider adds its own sample event.
pub(super) const fn svix_branded() -> Provider {
    Provider::shared_secret(
        Defaults {
            event_id: "header:svix-id | header:webhook-id",
            event_type: Some("json:/type"),
            forward_headers: &[],
            timestamped: true,
            replay_guard: false,
            tolerance: None,
            partition_key: None,
        },
        build,
        |input| {
            input.with_headers(sign_as(
                [SVIX_ID, SVIX_TIMESTAMP, SVIX_SIGNATURE],
                input.secret,
                input.payload,
                input.event_id,
                input.now,
            )?)
        },
    )
    .with_example_secret(EXAMPLE_SECRET)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::test_support::run;

    /// The example in the Standard Webhooks specification and Svix's documentation.
    const SECRET: &[u8] = EXAMPLE_SECRET;
    const ID_VALUE: &str = "msg_p5jXN8AQM9LWM0D4loKWxJek";
    const T: &str = "1614265330";
    const NOW: i64 = 1_614_265_330;
    const BODY: &[u8] = br#"{"test": 2432232314}"#;
    const DOCUMENTED: &str = "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=";

    fn verifier() -> StandardWebhooks {
        StandardWebhooks::new(&[Secret::new(SECRET)], 300).expect("valid secret")
    }

    fn check(names: [&str; 3], signature: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        run(
            &verifier(),
            &[(names[0], ID_VALUE), (names[1], T), (names[2], signature)],
            body,
            now,
        )
    }

    const SPEC: [&str; 3] = [ID, TIMESTAMP, SIGNATURE];
    const SVIX: [&str; 3] = [SVIX_ID, SVIX_TIMESTAMP, SVIX_SIGNATURE];

    #[test]
    fn accepts_the_documented_vector_under_both_header_names() {
        assert_eq!(check(SPEC, DOCUMENTED, BODY, NOW), Ok(()));
        assert_eq!(check(SVIX, DOCUMENTED, BODY, NOW), Ok(()));
        let several = format!("v1a,ignored v1,{} {DOCUMENTED}", "A".repeat(44));
        assert_eq!(check(SPEC, &several, BODY, NOW), Ok(()));
    }

    #[test]
    fn rejects_replays_tampering_and_malformed_headers() {
        assert_eq!(
            check(SPEC, DOCUMENTED, BODY, NOW - 301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(SPEC, DOCUMENTED, br#"{"test": 2432232315}"#, NOW),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(SPEC, "v1,g0hM9SsE+OTPJTGt", BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(
                SPEC,
                "v2,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=",
                BODY,
                NOW
            ),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(
            check(SPEC, "v1,%%%", BODY, NOW),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        assert_eq!(
            check(SPEC, "", BODY, NOW),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
    }

    #[test]
    fn svix_names_carry_the_id_a_source_reads_and_another_id_beside_them_is_refused() {
        let svix_only = [
            (SVIX_ID, ID_VALUE),
            (SVIX_TIMESTAMP, T),
            (SVIX_SIGNATURE, DOCUMENTED),
        ];
        assert_eq!(run(&verifier(), &svix_only, BODY, NOW), Ok(()));
        let id = crate::pipeline::locate::Locator::parse(DEFAULTS.event_id)
            .expect("valid")
            .extract(&crate::verify::test_support::headers(&svix_only), BODY)
            .expect("the id of a Svix-branded delivery");
        assert_eq!(id.as_str(), ID_VALUE);
        // An unsigned webhook-id beside Svix's signed id would be the one read.
        let mut swapped = svix_only.to_vec();
        swapped.push((ID, "msg_other"));
        assert_eq!(
            run(&verifier(), &swapped, BODY, NOW),
            Err(VerifyError::MalformedHeader(ID))
        );
        let mut same = svix_only.to_vec();
        same.push((ID, ID_VALUE));
        assert_eq!(run(&verifier(), &same, BODY, NOW), Ok(()));
        // And the other way round.
        let spec = [
            (ID, ID_VALUE),
            (TIMESTAMP, T),
            (SIGNATURE, DOCUMENTED),
            (SVIX_ID, "msg_other"),
        ];
        assert_eq!(
            run(&verifier(), &spec, BODY, NOW),
            Err(VerifyError::MalformedHeader(SVIX_ID))
        );
    }

    #[test]
    fn unusable_secrets_are_refused_at_start_up() {
        let errors = StandardWebhooks::new(
            &[Secret::new(SECRET), Secret::new(b"whsec_***".as_slice())],
            300,
        )
        .unwrap_err();
        assert_eq!(errors.len(), 1);
        assert_eq!(errors[0].field, "secrets[1]");
        assert!(!errors[0].message.contains("***"));
    }
}
