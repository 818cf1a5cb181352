//! The quarantine's budgets, its records and what it keeps, without Kafka.

use super::*;
use rdkafka::message::{OwnedMessage, Timestamp};

fn quarantine(config: &QuarantineConfig) -> Quarantine {
    let cap = ReplicaCap::new(config).expect("valid");
    Quarantine::new(
        "github",
        VerifierKind::Github,
        "q",
        config,
        &cap,
        SecretPlace {
            header: Some("X-Webhook-Token"),
            query: Some("key"),
        },
    )
    .expect("valid")
}

fn held(body: &'static [u8]) -> Held {
    let mut headers = HeaderMap::new();
    headers.insert("x-hub-signature-256", "sha256=abc".parse().expect("v"));
    headers.insert("authorization", "Bearer secret".parse().expect("v"));
    headers.insert("x-webhook-token", "secret".parse().expect("v"));
    headers.append("x-repeated", "one".parse().expect("v"));
    headers.append("x-repeated", "two".parse().expect("v"));
    Held {
        method: Method::POST,
        path: "/webhooks/github".into(),
        query: Some("token=secret&key=secret&page=2&tok%65n=secret".into()),
        headers,
        body: Bytes::from_static(body),
    }
}

fn refused() -> Refused<'static> {
    Refused {
        reason: Reason::SignatureMismatch,
        message: "no secret matches",
        event_id: None,
        client: ClientAddr::Known("192.30.252.1".parse().expect("ip")),
        from_trusted_proxy: false,
        trace: TraceParent::continue_or_start(&HeaderMap::new()),
        received_at: SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_764_500_000),
    }
}

/// The record `offer` would write, read back.
fn round_trip(quarantine: &Quarantine, held: &Held) -> Quarantined {
    let refused = refused();
    let kept = held.body.len().min(quarantine.max_body_bytes);
    let message = OwnedMessage::new(
        Some(held.body[..kept].to_vec()),
        Some(b"github".to_vec()),
        "q".into(),
        Timestamp::CreateTime(0),
        0,
        0,
        Some(quarantine.headers("github", held, &refused)),
    );
    Quarantined::read(&message).expect("reads")
}

#[test]
fn a_request_comes_back_as_it_arrived_without_its_secrets() {
    let quarantine = quarantine(&QuarantineConfig::default());
    let back = round_trip(&quarantine, &held(b"{\"id\":1}"));
    assert_eq!(back.source, "github");
    assert_eq!(back.reason, "signature_mismatch");
    assert_eq!(back.message, "no secret matches");
    assert_eq!(back.client, Some("192.30.252.1".parse().expect("ip")));
    assert_eq!(back.received_at, refused().received_at);
    assert_eq!(back.path, "/webhooks/github");
    assert_eq!(back.body.as_ref(), b"{\"id\":1}");
    assert!(!back.truncated);
    assert_eq!(back.headers["x-hub-signature-256"], "sha256=abc");
    assert_eq!(back.headers["authorization"], REDACTED);
    assert_eq!(back.headers["x-webhook-token"], REDACTED);
    let repeated: Vec<_> = back.headers.get_all("x-repeated").iter().collect();
    assert_eq!(repeated, ["one", "two"]);
    assert_eq!(
        back.query.as_deref(),
        Some("token=[redacted]&key=[redacted]&page=2&tok%65n=[redacted]")
    );
    assert!(back.traceparent.is_some_and(|t| t.len() == 55));
}

#[tokio::test]
async fn a_forwarded_request_and_one_beyond_the_budget_are_not_kept() {
    let config = QuarantineConfig {
        burst: 1,
        ..QuarantineConfig::default()
    };
    let small = quarantine(&config);
    let mut forwarded = held(b"{}");
    forwarded
        .headers
        .insert(FORWARDED_FROM, "q/0/7".parse().expect("v"));
    let mut claimed = 0;
    small.offer("github", &forwarded, refused(), |_| {
        claimed += 1;
        Ok(None)
    });
    assert_eq!(claimed, 1, "the header alone, from anyone, is not believed");
    let from_proxy = Refused {
        from_trusted_proxy: true,
        ..refused()
    };
    small.offer("github", &forwarded, from_proxy, |_| {
        panic!("a request forwarded through a trusted proxy is not quarantined again")
    });
    let small = quarantine(&config);
    let mut enqueued = 0;
    for _ in 0..3 {
        small.offer("github", &held(b"{}"), refused(), |_| {
            enqueued += 1;
            Ok(None)
        });
    }
    assert_eq!(enqueued, 1, "a burst of one");
    // Headers count against the byte budget: one record of more than a
    // second's bytes is never kept.
    let config = QuarantineConfig {
        bytes_per_second: 70_000,
        ..QuarantineConfig::default()
    };
    let tight = quarantine(&config);
    let mut heavy = held(b"");
    for n in 0..20 {
        heavy.headers.insert(
            http::HeaderName::from_bytes(format!("x-pad-{n}").as_bytes()).expect("name"),
            "p".repeat(4000).parse().expect("v"),
        );
    }
    tight.offer("github", &heavy, refused(), |_| {
        panic!("80 kB of headers exceed a budget of 70 kB a second")
    });
}

#[test]
fn a_long_body_is_cut_and_says_so() {
    let config = QuarantineConfig {
        max_body_bytes: 4,
        ..QuarantineConfig::default()
    };
    let back = round_trip(&quarantine(&config), &held(b"0123456789"));
    assert_eq!(back.body.as_ref(), b"0123");
    assert!(back.truncated);
}

#[test]
fn only_what_was_read_and_is_not_retried_is_kept() {
    let kept: Vec<_> = Reason::ALL.into_iter().filter(|r| keeps(*r)).collect();
    for reason in &kept {
        assert!(!reason.is_retryable(), "{reason:?}");
    }
    for reason in [
        Reason::UnknownPath,
        Reason::IpNotAllowed,
        Reason::MethodNotAllowed,
        Reason::RateLimited,
        Reason::BodyTooLarge,
        Reason::KafkaUnavailable,
    ] {
        assert!(!keeps(reason), "{reason:?}");
    }
    assert!(keeps(Reason::SignatureMismatch) && keeps(Reason::RecordTooLarge));
}

#[test]
fn a_budget_that_could_never_be_met_is_refused() {
    let config = QuarantineConfig {
        max_body_bytes: 2_000_000,
        ..QuarantineConfig::default()
    };
    let fields: Vec<_> = config.problems().into_iter().map(|p| p.0).collect();
    assert_eq!(fields, ["max_body_bytes"]);
}

#[tokio::test]
async fn the_replica_cap_binds_sources_together_and_a_flooded_source_takes_none_of_it() {
    let config = QuarantineConfig {
        bytes_per_second: 70_000,
        max_bytes_per_second: 100_000,
        ..QuarantineConfig::default()
    };
    let cap = ReplicaCap::new(&config).expect("valid");
    let source = |name: &str| {
        Quarantine::new(
            name,
            VerifierKind::Github,
            "q",
            &config,
            &cap,
            SecretPlace::default(),
        )
        .expect("valid")
    };
    let (flooded, second, third) = (source("a"), source("b"), source("c"));
    // Each record is about 40 kB: within one source's 70 kB once.
    let body = Bytes::from(vec![b'x'; 40_000]);
    let big = Held { body, ..held(b"") };
    let handed = |_: FutureRecord<'_, [u8], [u8]>| Ok(None);
    assert_eq!(flooded.offer("a", &big, refused(), handed), Offered::Handed);
    for _ in 0..5 {
        assert_eq!(
            flooded.offer("a", &big, refused(), handed),
            Offered::Dropped(QuarantineDrop::SourceBudget)
        );
    }
    // Had the drops above counted against the cap, nothing were left.
    assert_eq!(second.offer("b", &big, refused(), handed), Offered::Handed);
    assert_eq!(
        third.offer("c", &big, refused(), handed),
        Offered::Dropped(QuarantineDrop::ReplicaCap),
        "80 kB of 100 kB taken: another 40 kB is beyond the replica's cap"
    );
}

#[test]
fn the_topic_is_bounded_in_time_and_bytes() {
    let config = QuarantineConfig {
        retention: Duration::from_secs(2 * 24 * 3600),
        retention_bytes: 512 * 1024 * 1024,
        ..QuarantineConfig::default()
    };
    assert_eq!(
        topic_settings(&config),
        [
            ("cleanup.policy", "delete".to_owned()),
            ("retention.ms", "172800000".to_owned()),
            ("retention.bytes", "536870912".to_owned()),
            ("segment.bytes", "134217728".to_owned()),
            ("segment.ms", "43200000".to_owned()),
        ]
    );
    let defaults = topic_settings(&QuarantineConfig::default());
    assert_eq!(defaults[1], ("retention.ms", "604800000".to_owned()));
    assert_eq!(defaults[2], ("retention.bytes", "1073741824".to_owned()));
}

#[test]
fn a_volume_bound_that_bounds_nothing_is_refused_by_field() {
    let config = QuarantineConfig {
        max_bytes_per_second: 1000,
        retention: Duration::from_secs(5),
        retention_bytes: 10,
        ..QuarantineConfig::default()
    };
    let fields: Vec<_> = config.problems().into_iter().map(|p| p.0).collect();
    assert_eq!(
        fields,
        ["max_bytes_per_second", "retention", "retention_bytes"]
    );
    let zero = QuarantineConfig {
        max_bytes_per_second: 0,
        bytes_per_second: 0,
        max_body_bytes: 0,
        ..QuarantineConfig::default()
    };
    let fields: Vec<_> = zero.problems().into_iter().map(|p| p.0).collect();
    assert_eq!(fields, ["bytes_per_second", "max_bytes_per_second"]);
    let parsed: QuarantineConfig = toml::from_str(
        "retention = \"3d\"\nretention_bytes = 2097152\nmax_bytes_per_second = 2000000\n",
    )
    .expect("parses");
    assert_eq!(parsed.retention, Duration::from_secs(3 * 24 * 3600));
    assert_eq!(parsed.retention_bytes, 2_097_152);
    assert!(parsed.problems().is_empty());
}

#[test]
fn the_record_names_the_provider() {
    let quarantine = quarantine(&QuarantineConfig::default());
    let back = round_trip(&quarantine, &held(b"{}"));
    assert_eq!(back.provider.as_deref(), Some("github"));
}
