//! HubSpot (signature v3): `X-HubSpot-Signature-v3: <base64>`, HMAC-SHA256
//! keyed by the app's client secret over `POST{uri}{body}{timestamp}`, where
//! `uri` is the URL HubSpot called with the escapes HubSpot lists decoded
//! (`%3A : %2F / %3F ? %40 @ %21 ! %24 $ %27 ' %28 ( %29 ) %2A * %2C , %3B ;`,
//! nothing else), and `timestamp` is `X-HubSpot-Request-Timestamp` in
//! milliseconds. HubSpot rejects requests older than 5 minutes; hookgate
//! checks the tolerance in both directions.
//!
//! The URL HubSpot calls is the one it was given: the source's `public_url`,
//! its query included. hookgate signs that URL as configured and refuses a
//! request whose query is not exactly the configured one. Nothing in the
//! signed string marks where the URI ends and the body begins, so were the
//! request's query signed instead, its tail could be moved into the body
//! (`?portal=1` + `[{…}]` and `?portal=1[` + `{…}]` sign the same) and the
//! same signature would carry another body. The body is a JSON array of up to
//! 100 events, and HubSpot documents `eventId` as not unique and sends no
//! delivery id, so the body's SHA-256 stands for one (a retry carries a new
//! `attemptNumber`, so it is a new body).
//! Source: https://developers.hubspot.com/docs/apps/developer-platform/build-apps/authentication/request-validation

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;

use crate::config::secret::Secret;
use crate::verify::mac::{Algorithm, Encoding, Keys, Signature};
use crate::verify::{
    BuildError, Defaults, Provider, SchemeHeader, Signed, VerifyError, check_timestamp_millis,
    verdict,
};

const SIGNATURE: &str = "X-HubSpot-Signature-v3";
const TIMESTAMP: &str = "X-HubSpot-Request-Timestamp";
/// HubSpot's webhooks are POSTs; the method is the first thing signed.
const METHOD: &[u8] = b"POST";

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: Some("json:/0/subscriptionType"),
    forward_headers: &[],
    timestamped: true,
    replay_guard: false,
    tolerance: Some(Duration::from_secs(300)),
    partition_key: None,
};

/// The percent-escapes HubSpot decodes in the URI before signing it; any
/// other escape is signed as it is.
const DECODED: [(&str, u8); 12] = [
    ("3A", b':'),
    ("2F", b'/'),
    ("3F", b'?'),
    ("40", b'@'),
    ("21", b'!'),
    ("24", b'$'),
    ("27", b'\''),
    ("28", b'('),
    ("29", b')'),
    ("2A", b'*'),
    ("2C", b','),
    ("3B", b';'),
];

/// `text` with the escapes of [`DECODED`] (in either case) decoded.
fn decode_listed(text: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(text.len());
    let mut rest = text;
    while let Some((&first, tail)) = rest.split_first() {
        let decoded = if first == b'%' {
            tail.get(..2).and_then(|code| {
                DECODED
                    .iter()
                    .find(|(escape, _)| code.eq_ignore_ascii_case(escape.as_bytes()))
                    .map(|&(_, byte)| byte)
            })
        } else {
            None
        };
        match decoded {
            Some(byte) => {
                out.push(byte);
                rest = tail.get(2..).unwrap_or_default();
            }
            None => {
                out.push(first);
                rest = tail;
            }
        }
    }
    out
}

#[derive(Debug)]
pub(super) struct HubSpot {
    keys: Keys,
    /// The source's `public_url`, its query included, its listed escapes
    /// decoded once: the URI every delivery signs.
    url: Vec<u8>,
    /// The query of `public_url` (`None`: none, or an empty one), its listed
    /// escapes decoded; a request must come with this query (compared with
    /// its listed escapes decoded too, as HubSpot signs either spelling
    /// alike).
    query: Option<Vec<u8>>,
    tolerance: u64,
    signature: SchemeHeader,
    timestamp: SchemeHeader,
}

impl HubSpot {
    pub(super) fn new(
        secrets: &[Secret],
        tolerance: u64,
        public_url: Option<&str>,
    ) -> Result<Self, Vec<BuildError>> {
        let url = public_url.ok_or_else(|| {
            vec![BuildError {
                field: "public_url".into(),
                message: "HubSpot signs the URL it calls: set public_url to the URL given to HubSpot, its query included".into(),
            }]
        })?;
        let query = url
            .split_once('?')
            .map(|(_, query)| query)
            .filter(|query| !query.is_empty());
        Ok(Self {
            keys: Keys::from_secrets(Algorithm::Sha256, secrets),
            url: decode_listed(url.as_bytes()),
            query: query.map(|query| decode_listed(query.as_bytes())),
            tolerance,
            signature: SchemeHeader::new(SIGNATURE),
            timestamp: SchemeHeader::new(TIMESTAMP),
        })
    }
}

impl crate::verify::Scheme for HubSpot {
    fn verify(&self, request: Signed<'_>) -> Result<(), VerifyError> {
        let signature =
            Signature::decode(self.signature.required(request.headers)?, Encoding::Base64)
                .ok_or(VerifyError::MalformedHeader(SIGNATURE))?;
        let timestamp = self.timestamp.required(request.headers)?;
        check_timestamp_millis(timestamp, request.now, self.tolerance, TIMESTAMP)?;
        // The signed URI is the configured one: a request's query is never
        // signed, only compared, so no byte can move between it and the body.
        let query = request
            .query
            .filter(|query| !query.is_empty())
            .map(|query| decode_listed(query.as_bytes()));
        if query != self.query {
            return Err(VerifyError::Mismatch);
        }
        verdict(self.keys.verify_one(
            &[METHOD, self.url.as_slice(), request.body, timestamp],
            signature,
        ))
    }
}

/// The headers HubSpot sends with a POST of `body` to `url` (its query
/// included, as the request is sent to it) at `now` (seconds).
pub(super) fn sign(secret: &[u8], body: &[u8], url: &str, now: i64) -> Vec<(String, String)> {
    let timestamp = now.saturating_mul(1000).to_string();
    let uri = decode_listed(url.as_bytes());
    let mac = crate::verify::mac::sign(
        Algorithm::Sha256,
        secret,
        &[METHOD, uri.as_slice(), body, timestamp.as_bytes()],
    );
    vec![
        (SIGNATURE.into(), STANDARD.encode(mac)),
        (TIMESTAMP.into(), timestamp),
    ]
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| {
        Ok(Box::new(HubSpot::new(
            input.secrets,
            input.tolerance,
            input.options.public_url,
        )?))
    },
    |input| {
        let url = input
            .options
            .public_url
            .ok_or("HubSpot signs the URL it calls: give the URL it was sent to")?;
        input.with_headers(sign(input.secret, input.payload, url, input.now))
    },
)
.with_sample(|_id, now| {
    serde_json::json!([{
        "eventId": 1_000_001,
        "subscriptionId": 2_000_002,
        "portalId": 62515,
        "appId": 1_160_452,
        "occurredAt": now.saturating_mul(1000),
        "subscriptionType": "contact.propertyChange",
        "attemptNumber": 0,
        "objectId": 123,
        "changeSource": "CRM",
        "propertyName": "email",
        "propertyValue": "sample@example.com"
    }])
});

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::Scheme as _;
    use crate::verify::test_support::{headers, run};

    const URL: &str = "https://hooks.example.com/webhooks/hubspot";
    const SECRET: &[u8] = b"hubspot-client-secret";
    const BODY: &[u8] = br#"[{"eventId":1,"subscriptionId":2,"portalId":3,"appId":4,"occurredAt":1700000000000,"subscriptionType":"contact.creation","attemptNumber":0,"objectId":123,"changeSource":"CRM"}]"#;
    const TS: &str = "1700000000000";
    const NOW: i64 = 1_700_000_000;
    /// `printf '%s' "POST${URL}${BODY}${TS}" | openssl dgst -sha256 -hmac hubspot-client-secret -binary | base64`
    const SIG: &str = "LOdHaFo8oT8Afv7yXi3EaJMhjy502Pw3UpNQIpbqO9I=";
    /// The query as it reaches hookgate, escaped.
    const QUERY: &str = "portal=3&next=https%3A%2F%2Fx.example%2Fa%20b";
    /// `printf '%s' "POST${URL}?portal=3&next=https://x.example/a%20b${BODY}${TS}"
    /// | openssl dgst -sha256 -hmac hubspot-client-secret -binary | base64`
    /// (HubSpot decodes `%3A` and `%2F`, not `%20`).
    const SIG_QUERY: &str = "1d6a0xrvLmLiZF8xVxU5JT6eU4ZwM3YUfeRDxijca68=";

    fn hubspot(secrets: &[&[u8]]) -> HubSpot {
        let secrets: Vec<Secret> = secrets.iter().map(|s| Secret::new(*s)).collect();
        HubSpot::new(&secrets, 300, Some(URL)).expect("builds")
    }

    /// A source whose `public_url` is `public_url`, posted `body` to with
    /// `query` and these signature headers.
    fn post_to(
        public_url: &str,
        pairs: &[(&str, &str)],
        query: Option<&str>,
        body: &[u8],
    ) -> Result<(), VerifyError> {
        HubSpot::new(&[Secret::new(SECRET)], 300, Some(public_url))
            .expect("builds")
            .verify(Signed {
                headers: &headers(pairs),
                body,
                now: NOW,
                query,
            })
    }

    fn check(signature: &str, timestamp: &str, body: &[u8], now: i64) -> Result<(), VerifyError> {
        run(
            &hubspot(&[SECRET]),
            &[(SIGNATURE, signature), (TIMESTAMP, timestamp)],
            body,
            now,
        )
    }

    fn check_query(signature: &str, query: Option<&str>) -> Result<(), VerifyError> {
        let headers = headers(&[(SIGNATURE, signature), (TIMESTAMP, TS)]);
        hubspot(&[SECRET]).verify(Signed {
            headers: &headers,
            body: BODY,
            now: NOW,
            query,
        })
    }

    #[test]
    fn accepts_the_vector() {
        assert_eq!(check(SIG, TS, BODY, NOW), Ok(()));
        // An empty query is no query.
        assert_eq!(check_query(SIG, Some("")), Ok(()));
    }

    #[test]
    fn signs_the_configured_query_with_hubspots_escapes_decoded() {
        let given = format!("{URL}?{QUERY}");
        let pairs = [(SIGNATURE, SIG_QUERY), (TIMESTAMP, TS)];
        assert_eq!(post_to(&given, &pairs, Some(QUERY), BODY), Ok(()));
        // HubSpot signs `%3A` and `:` alike: either spelling is the same query.
        let spelled = "portal=3&next=https://x.example/a%20b";
        assert_eq!(post_to(&given, &pairs, Some(spelled), BODY), Ok(()));
        assert_eq!(
            decode_listed(b"%3a%2F%20%3F%7e%2c%"),
            b":/%20?%7e,%".to_vec()
        );
    }

    #[test]
    fn a_query_other_than_the_configured_one_is_refused() {
        let given = format!("{URL}?{QUERY}");
        let pairs = [(SIGNATURE, SIG_QUERY), (TIMESTAMP, TS)];
        for other in [
            None,
            Some(""),
            Some("portal=3"),
            Some(&format!("{QUERY}&x=1")),
        ] {
            assert_eq!(
                post_to(&given, &pairs, other, BODY),
                Err(VerifyError::Mismatch),
                "{other:?}"
            );
        }
        // Configured without one, a request must come without one.
        assert_eq!(
            check_query(SIG_QUERY, Some(QUERY)),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(check_query(SIG, Some(QUERY)), Err(VerifyError::Mismatch));
    }

    #[test]
    fn the_boundary_between_query_and_body_cannot_move() {
        // HubSpot was given `{URL}?portal=1` and signs a post of BODY to it.
        let given = format!("{URL}?portal=1");
        let signed = sign(SECRET, BODY, &given, NOW);
        let pairs = [
            (SIGNATURE, signed[0].1.as_str()),
            (TIMESTAMP, signed[1].1.as_str()),
        ];
        // The same bytes in a row, the body's `[` moved into the query.
        let (moved_query, moved_body) = ("portal=1[", &BODY[1..]);
        assert_eq!(moved_body.first(), Some(&b'{'));
        // However the source names the URL (the query given to HubSpot in
        // its public_url or not), if it accepts the delivery it refuses the
        // moved one.
        let mut accepted = 0;
        for public_url in [given.as_str(), URL] {
            if post_to(public_url, &pairs, Some("portal=1"), BODY).is_ok() {
                accepted += 1;
                assert_eq!(
                    post_to(public_url, &pairs, Some(moved_query), moved_body),
                    Err(VerifyError::Mismatch),
                    "{public_url}"
                );
            }
        }
        assert_eq!(accepted, 1);
    }

    #[test]
    fn rejects_tampering_other_secrets_and_malformed_headers() {
        assert_eq!(
            check(SIG, TS, &BODY[..BODY.len() - 1], NOW),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(SIG, "1700000000001", BODY, NOW),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            run(
                &hubspot(&[b"another-secret".as_slice()]),
                &[(SIGNATURE, SIG), (TIMESTAMP, TS)],
                BODY,
                NOW
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check("%%%", TS, BODY, NOW),
            Err(VerifyError::MalformedHeader(SIGNATURE))
        );
        for bad in ["", "1.7e12", "-1700000000000", "soon"] {
            assert_eq!(
                check(SIG, bad, BODY, NOW),
                Err(VerifyError::MalformedHeader(TIMESTAMP)),
                "{bad:?}"
            );
        }
        assert_eq!(
            run(&hubspot(&[SECRET]), &[(TIMESTAMP, TS)], BODY, NOW),
            Err(VerifyError::MissingHeader(SIGNATURE))
        );
        assert_eq!(
            run(&hubspot(&[SECRET]), &[(SIGNATURE, SIG)], BODY, NOW),
            Err(VerifyError::MissingHeader(TIMESTAMP))
        );
    }

    #[test]
    fn the_timestamp_is_in_milliseconds_and_checked_both_ways() {
        assert_eq!(check(SIG, TS, BODY, NOW + 300), Ok(()));
        assert_eq!(check(SIG, TS, BODY, NOW - 300), Ok(()));
        assert_eq!(
            check(SIG, TS, BODY, NOW + 301),
            Err(VerifyError::StaleTimestamp)
        );
        assert_eq!(
            check(SIG, TS, BODY, NOW - 301),
            Err(VerifyError::StaleTimestamp)
        );
    }

    #[test]
    fn a_rotated_secret_still_verifies() {
        assert_eq!(
            run(
                &hubspot(&[b"new-secret".as_slice(), SECRET]),
                &[(SIGNATURE, SIG), (TIMESTAMP, TS)],
                BODY,
                NOW
            ),
            Ok(())
        );
    }

    #[test]
    fn what_it_signs_verifies_and_the_url_is_required() {
        let signed = sign(SECRET, BODY, URL, NOW);
        assert_eq!(signed[0].1, SIG);
        assert_eq!(signed[1].1, TS);
        let given = format!("{URL}?{QUERY}");
        assert_eq!(sign(SECRET, BODY, &given, NOW)[0].1, SIG_QUERY);
        let err = HubSpot::new(&[Secret::new(SECRET)], 300, None).unwrap_err();
        assert_eq!(err[0].field, "public_url");
    }
}
