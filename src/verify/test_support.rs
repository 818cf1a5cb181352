//! Test helpers every provider's vectors go through: requests built from
//! header pairs, a scheme run as the gateway runs it, and the whole contract
//! of a one-header HMAC provider checked against its vector.

use http::{HeaderMap, HeaderName, HeaderValue};

pub(crate) fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
    let mut map = HeaderMap::new();
    for (name, value) in pairs {
        map.append(
            HeaderName::from_bytes(name.as_bytes()).expect("header name"),
            HeaderValue::from_str(value).expect("header value"),
        );
    }
    map
}

/// Runs a scheme on a request with these headers, body and clock (Unix
/// seconds), as the gateway does: every provider's vectors go through it.
pub(crate) fn run(
    scheme: &dyn super::Scheme,
    pairs: &[(&str, &str)],
    body: &[u8],
    now: i64,
) -> Result<(), super::VerifyError> {
    run_with_query(scheme, pairs, None, body, now)
}

/// As [`run`], for a request whose URI had `query`.
pub(crate) fn run_with_query(
    scheme: &dyn super::Scheme,
    pairs: &[(&str, &str)],
    query: Option<&str>,
    body: &[u8],
    now: i64,
) -> Result<(), super::VerifyError> {
    scheme.verify(super::Signed {
        headers: &headers(pairs),
        body,
        now,
        query,
    })
}

/// A token check whose secrets are `old-token` and `new-token`, presented
/// at `place`.
pub(super) fn two_tokens(place: super::presented::Place) -> super::presented::Token {
    super::presented::Token::new(
        &[
            crate::config::secret::Secret::new(b"old-token".as_slice()),
            crate::config::secret::Secret::new(b"new-token".as_slice()),
        ],
        place,
    )
}

/// Offers a scheme a request as a provider's unsigned check would come.
pub(crate) fn challenge(
    scheme: &dyn super::Scheme,
    method: http::Method,
    pairs: &[(&str, &str)],
    query: Option<&str>,
    body: &[u8],
) -> Option<super::Handshake> {
    scheme.challenge(super::Challenge {
        method: &method,
        request: super::Signed {
            headers: &headers(pairs),
            body,
            now: 0,
            query,
        },
    })
}

/// The headers `kind`'s provider sends for `body`, signed with `secret`.
pub(crate) fn signed_headers(
    kind: super::VerifierKind,
    secret: &[u8],
    body: &[u8],
    event_id: &str,
    now: i64,
) -> Vec<(String, String)> {
    super::sign(
        kind,
        secret,
        body,
        event_id,
        now,
        super::SchemeOptions::default(),
    )
    .expect("signs")
    .headers
}

pub(crate) fn owned(pairs: &[(String, String)]) -> HeaderMap {
    let borrowed: Vec<(&str, &str)> = pairs
        .iter()
        .map(|(k, v)| (k.as_str(), v.as_str()))
        .collect();
    headers(&borrowed)
}

/// Everything a one-header HMAC provider must do, checked against its
/// vector: `signature` is what the provider sends for `body` under
/// `secret`. It verifies, and signing makes it; any configured secret
/// may match (rotation); another secret, a changed body or a cut
/// signature do not; a missing header, an empty one, one without the
/// prefix or not in the encoding are told apart.
pub(crate) fn header_hmac_vector(
    shape: &super::header::HeaderHmac,
    secret: &[u8],
    body: &[u8],
    signature: &str,
) {
    use super::VerifyError::{MalformedHeader, Mismatch, MissingHeader};
    let check = |secrets: &[&[u8]], value: Option<&str>, body: &[u8]| {
        let secrets: Vec<crate::config::secret::Secret> = secrets
            .iter()
            .map(|secret| crate::config::secret::Secret::new(*secret))
            .collect();
        let pairs: Vec<(&str, &str)> = value.map(|v| (shape.header, v)).into_iter().collect();
        run(&shape.scheme(&secrets), &pairs, body, 0)
    };
    let header = shape.header;
    assert_eq!(check(&[secret], Some(signature), body), Ok(()), "{header}");
    assert_eq!(
        shape.sign(secret, &[body]),
        (header.to_owned(), signature.to_owned()),
        "{header}"
    );
    assert_eq!(
        check(&[b"another-secret", secret], Some(signature), body),
        Ok(()),
        "{header}: a second secret"
    );
    assert_eq!(
        check(&[b"another-secret"], Some(signature), body),
        Err(Mismatch),
        "{header}"
    );
    let mut changed = body.to_vec();
    if let Some(last) = changed.last_mut() {
        *last ^= 1;
    }
    assert_eq!(
        check(&[secret], Some(signature), &changed),
        Err(Mismatch),
        "{header}"
    );
    let cut = &signature[..signature.len() - 4];
    assert!(
        check(&[secret], Some(cut), body).is_err(),
        "{header}: {cut}"
    );
    assert_eq!(
        check(&[secret], None, body),
        Err(MissingHeader(header)),
        "{header}"
    );
    let mut malformed = vec![String::new(), format!("{}%%%", shape.prefix)];
    if !shape.prefix.is_empty() {
        malformed.push(signature[shape.prefix.len()..].to_owned());
    }
    for bad in &malformed {
        assert_eq!(
            check(&[secret], Some(bad), body),
            Err(MalformedHeader(header)),
            "{header}: {bad:?}"
        );
    }
}
