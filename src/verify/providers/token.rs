//! A shared secret the sender presents as it is, for senders that sign
//! nothing (Mailchimp Marketing, Postmark, internal systems): in a header,
//! in the query string, or as HTTP basic auth, set in `[sources.token]`.
//! Weaker than a signature: whoever sees one request (a proxy's log, a
//! misconfigured tracer) can send any body, so keep such sources behind an IP
//! allowlist and turn the replay guard on. GitLab, Mailchimp and Okta use the
//! same check with their own place for the token.

use serde::Deserialize;

use crate::verify::presented::{Place, Token};
use crate::verify::{BuildError, Defaults, Provider, SchemeHeader};

pub(super) const DEFAULTS: Defaults = Defaults {
    event_id: "body-sha256",
    event_type: None,
    forward_headers: &[],
    timestamped: false,
    // The token signs nothing: a captured request could be sent again under
    // any id.
    replay_guard: true,
    tolerance: None,
    partition_key: None,
};

/// Where a `token` source's sender puts its secret. At most one of
/// `header`, `query` and `basic`; none set means the `Authorization` header.
#[derive(Clone, Debug, Default, Deserialize, serde::Serialize, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct TokenOptions {
    /// A request header that carries the token (`X-Webhook-Token`).
    pub header: Option<String>,
    /// Text before the token in that header (`Bearer `), required when set.
    #[serde(default)]
    pub prefix: String,
    /// A query-string parameter that carries it (`?token=…`).
    pub query: Option<String>,
    /// HTTP basic auth: the secret is `user:password`.
    #[serde(default)]
    pub basic: bool,
}

/// The place `[sources.token]` names; a bad header name is a start-up error.
fn configured_place(options: Option<&TokenOptions>) -> Result<Place, Vec<BuildError>> {
    let error = |field: &str, message: String| {
        vec![BuildError {
            field: format!("token.{field}"),
            message,
        }]
    };
    let default = TokenOptions::default();
    let options = options.unwrap_or(&default);
    let places = usize::from(options.header.is_some())
        + usize::from(options.query.is_some())
        + usize::from(options.basic);
    if places > 1 {
        return Err(error(
            "header",
            "set one of header, query and basic: the token has one place".into(),
        ));
    }
    if !options.prefix.is_empty() && options.header.is_none() {
        return Err(error("prefix", "only used with header".into()));
    }
    if let Some(name) = &options.query {
        if name.is_empty() {
            return Err(error("query", "name the query parameter".into()));
        }
        return Ok(Place::Query(interned(name)));
    }
    if options.basic {
        return Ok(Place::basic());
    }
    let name = options.header.as_deref().unwrap_or("Authorization");
    if http::HeaderName::from_bytes(name.as_bytes()).is_err() {
        return Err(error(
            "header",
            format!("{name:?} is not a valid header name"),
        ));
    }
    Ok(Place::Header {
        header: SchemeHeader::new(interned(name)),
        prefix: options.prefix.as_bytes().into(),
    })
}

/// `text` for the process's life, as error messages borrow header and
/// parameter names: each distinct name is kept once, so reloading a
/// configuration again and again does not keep more.
fn interned(text: &str) -> &'static str {
    static NAMES: std::sync::Mutex<Vec<&'static str>> = std::sync::Mutex::new(Vec::new());
    let mut names = NAMES
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    if let Some(name) = names.iter().find(|name| **name == text) {
        return name;
    }
    let name: &'static str = Box::leak(text.to_owned().into_boxed_str());
    names.push(name);
    name
}

pub(in crate::verify) const PROVIDER: Provider = Provider::shared_secret(
    DEFAULTS,
    |input| {
        Ok(Box::new(Token::new(
            input.secrets,
            configured_place(input.options.token)?,
        )))
    },
    |input| {
        let place = configured_place(input.options.token).map_err(|errors| {
            errors
                .into_iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect::<Vec<_>>()
                .join("; ")
        })?;
        input.presenting(&place)
    },
)
.without_body_signature()
.unguarded_because(crate::verify::SIGNS_NOTHING);

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::secret::Secret;
    use crate::verify::VerifyError;
    use crate::verify::test_support::{run_with_query, two_tokens as token};

    fn check(
        scheme: &Token,
        pairs: &[(&str, &str)],
        query: Option<&str>,
    ) -> Result<(), VerifyError> {
        run_with_query(scheme, pairs, query, b"{}", 0)
    }

    #[test]
    fn a_prefix_a_query_parameter_and_basic_auth_are_places_too() {
        let options = TokenOptions {
            header: Some("Authorization".into()),
            prefix: "Bearer ".into(),
            ..TokenOptions::default()
        };
        let bearer = token(configured_place(Some(&options)).expect("valid"));
        assert_eq!(
            check(&bearer, &[("Authorization", "Bearer new-token")], None),
            Ok(())
        );
        assert_eq!(
            check(&bearer, &[("Authorization", "new-token")], None),
            Err(VerifyError::MalformedHeader("Authorization"))
        );

        let options = TokenOptions {
            query: Some("key".into()),
            ..TokenOptions::default()
        };
        let query = token(configured_place(Some(&options)).expect("valid"));
        assert_eq!(check(&query, &[], Some("a=1&key=old-token")), Ok(()));
        assert_eq!(check(&query, &[], Some("key=old%2Dtoken")), Ok(()));
        assert_eq!(
            check(&query, &[], Some("key=other")),
            Err(VerifyError::Mismatch)
        );
        assert!(check(&query, &[], None).is_err());

        let basic = Token::new(
            &[Secret::new(b"postmark:s3cret".as_slice())],
            Place::basic(),
        );
        // printf postmark:s3cret | base64
        assert_eq!(
            check(
                &basic,
                &[("Authorization", "Basic cG9zdG1hcms6czNjcmV0")],
                None
            ),
            Ok(())
        );
        assert_eq!(
            check(
                &basic,
                &[("Authorization", "Basic cG9zdG1hcms6czNjcmV1")],
                None
            ),
            Err(VerifyError::Mismatch)
        );
        assert_eq!(
            check(
                &basic,
                &[("Authorization", "Bearer cG9zdG1hcms6czNjcmV0")],
                None
            ),
            Err(VerifyError::MalformedHeader("Authorization"))
        );
    }

    #[test]
    fn one_place_only_and_a_valid_header_name() {
        let both = TokenOptions {
            header: Some("X-Token".into()),
            query: Some("token".into()),
            ..TokenOptions::default()
        };
        assert_eq!(
            configured_place(Some(&both)).unwrap_err()[0].field,
            "token.header"
        );
        let bad = TokenOptions {
            header: Some("bad header".into()),
            ..TokenOptions::default()
        };
        assert!(configured_place(Some(&bad)).is_err());
        let stray_prefix = TokenOptions {
            prefix: "Bearer ".into(),
            basic: true,
            ..TokenOptions::default()
        };
        assert_eq!(
            configured_place(Some(&stray_prefix)).unwrap_err()[0].field,
            "token.prefix"
        );
    }
}
