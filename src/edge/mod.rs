//! The edge: what faces the providers. Connections and their limits, TLS,
//! who a client is, and what each client's requests may hold. It hands every
//! request to the [`pipeline`](crate::pipeline) and knows nothing of what
//! happens to it there.

pub(crate) mod budget;
pub mod client_addr;
pub(crate) mod server;
pub mod tls;
