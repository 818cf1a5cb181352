//! Signature verification beside a bare `hmac` + `sha2` call over the same bytes:
//! the ratio is what hookgate's header parsing and secret handling cost.
//! `cargo bench --bench verify`

use std::hint::black_box;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use hmac::{Hmac, Mac};
use hookgate::config::secret::Secret;
use hookgate::verify::{self, DEFAULT_TOLERANCE, SchemeOptions, Verifier, VerifierKind};
use http::{HeaderMap, HeaderName, HeaderValue};
use sha2::Sha256;

const SECRET: &[u8] = b"bench-secret";

fn headers(pairs: Vec<(String, String)>) -> HeaderMap {
    pairs
        .into_iter()
        .map(|(k, v)| {
            (
                HeaderName::from_bytes(k.as_bytes()).expect("name"),
                HeaderValue::from_str(&v).expect("value"),
            )
        })
        .collect()
}

fn bench(c: &mut Criterion) {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("clock")
        .as_secs() as i64;
    for size in [256usize, 1024, 16 * 1024, 1024 * 1024] {
        let body = Bytes::from(vec![b'a'; size]);
        let mut group = c.benchmark_group(format!("verify/{size}B"));
        group.throughput(Throughput::Bytes(size as u64));

        group.bench_function("bare hmac-sha256", |b| {
            let key = Hmac::<Sha256>::new_from_slice(SECRET).expect("key");
            let expected = key.clone().chain_update(&body).finalize().into_bytes();
            b.iter(|| {
                let mut mac = key.clone();
                mac.update(black_box(&body));
                mac.verify_slice(&expected).is_ok()
            })
        });
        for kind in [
            VerifierKind::Github,
            VerifierKind::Stripe,
            VerifierKind::StandardWebhooks,
        ] {
            let secret = if kind == VerifierKind::StandardWebhooks {
                verify::example_secret(VerifierKind::StandardWebhooks)
            } else {
                SECRET
            };
            let verifier = Verifier::build(
                kind,
                &[Secret::new(secret)],
                DEFAULT_TOLERANCE,
                SchemeOptions::default(),
            )
            .expect("verifier");
            let signed = headers(
                verify::sign(kind, secret, &body, "evt_1", now, SchemeOptions::default())
                    .expect("sign")
                    .headers,
            );
            group.bench_function(BenchmarkId::new("hookgate", kind.name()), |b| {
                b.iter(|| {
                    verifier
                        .verify(black_box(&signed), body.clone(), now)
                        .is_ok()
                })
            });
        }
        group.finish();
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
