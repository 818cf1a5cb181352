# hookgate, built from source. librdkafka is compiled in by the rdkafka crate,
# linked against Debian's OpenSSL (TLS, SASL SCRAM) and libcurl (OAUTHBEARER
# OIDC), which the runtime image carries and Debian keeps patched.
FROM rust:1.88-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends cmake pkg-config libssl-dev libcurl4-openssl-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY src ./src
COPY benches ./benches
COPY tests ./tests
COPY loadtest ./loadtest
RUN cargo build --release --locked --bin hookgate

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends ca-certificates libssl3 libcurl4 && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 hookgate
COPY --from=build /src/target/release/hookgate /usr/local/bin/hookgate
USER hookgate
EXPOSE 8080 9464
ENTRYPOINT ["hookgate"]
CMD ["serve", "--config", "/etc/hookgate/hookgate.toml"]
