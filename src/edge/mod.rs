//! The edge: what faces the providers. Connections and their limits, HTTP/2
//! protections, timeouts, graceful shutdown, and TLS. It hands every request
//! to the [`pipeline`](crate::pipeline) and knows nothing of what happens to
//! it there.

pub(crate) mod server;
pub mod tls;
