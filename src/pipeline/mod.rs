//! The pipeline: one request, from its path to its answer. Who sent it and
//! what its body may hold, which source it is for, its signature ([`verify`](crate::verify)), its event id and type,
//! dedup at the edge ([`dedup`](crate::dedup)), handing it to Kafka
//! ([`kafka`](crate::kafka)), and the answer, every refusal with its reason;
//! what is refused after its body was read goes to the quarantine.

pub(crate) mod answer;
pub(crate) mod budget;
pub mod client_addr;
pub(crate) mod event;
pub mod ingest;
pub mod locate;
pub mod printable;
pub mod quarantine;
pub(crate) mod rate_limit;
pub(crate) mod route;
pub mod source;
pub mod trace;
