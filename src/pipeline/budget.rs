//! What requests hold while they are handled, in all and per client: a place
//! among `server.max_requests_in_flight`, and the body bytes received so far
//! within `server.max_buffered_body_bytes`.
//!
//! Bytes are charged as they arrive, never for what a request declares: a
//! sender that announces a large body and then says nothing holds nothing.
//! And each client ([`ClientKey`]: an address, an IPv6 network) may hold at
//! most its share of both, so that one address cannot take what every
//! provider needs; beyond its share only that client is turned away.

use dashmap::DashMap;
use metrics::Gauge;
use tokio::sync::{Semaphore, SemaphorePermit};

use crate::config::ServerConfig;
use crate::pipeline::client_addr::ClientKey;

/// The limits of one gateway, and what its requests hold now.
#[derive(Debug)]
pub(crate) struct Budget {
    requests: Semaphore,
    body_bytes: Semaphore,
    /// Requests and bytes held by each client that holds any.
    by_client: DashMap<ClientKey, Held>,
    /// 0: no share (behind a load balancer whose address every client has).
    requests_per_client: usize,
    /// 0: no share.
    body_bytes_per_client: usize,
    ipv6_prefix: u8,
    held_bytes: Gauge,
}

#[derive(Debug, Default, Clone, Copy)]
struct Held {
    requests: usize,
    bytes: usize,
}

/// Which limit a request met.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum OverBudget {
    /// `server.max_requests_in_flight` requests are being handled.
    Requests,
    /// The bodies held add up to `server.max_buffered_body_bytes`.
    BodyBytes,
    /// This client has `server.max_requests_in_flight_per_client` requests
    /// being handled.
    ClientRequests,
    /// This client's bodies add up to
    /// `server.max_buffered_body_bytes_per_client`.
    ClientBodyBytes,
}

impl OverBudget {
    /// Whether the client's own share is full, not the gateway's budget.
    pub(crate) fn is_the_clients(self) -> bool {
        matches!(self, Self::ClientRequests | Self::ClientBodyBytes)
    }

    /// What the sender is told.
    pub(crate) fn message(self) -> &'static str {
        match self {
            Self::Requests => "hookgate is handling as many requests as it may; retry later",
            Self::BodyBytes => "hookgate holds as many request bodies as it may; retry later",
            Self::ClientRequests => {
                "this client has as many requests in flight as one client may; retry later"
            }
            Self::ClientBodyBytes => {
                "this client's request bodies take all the memory one client may use; retry later"
            }
        }
    }
}

/// What one request holds; given back when dropped.
#[derive(Debug)]
pub(crate) struct Ticket<'a> {
    budget: &'a Budget,
    client: ClientKey,
    bytes: usize,
    _request: SemaphorePermit<'a>,
}

impl Budget {
    pub(crate) fn new(config: &ServerConfig) -> Self {
        Self {
            requests: Semaphore::new(config.max_requests_in_flight.min(Semaphore::MAX_PERMITS)),
            body_bytes: Semaphore::new(config.max_buffered_body_bytes.min(Semaphore::MAX_PERMITS)),
            by_client: DashMap::new(),
            requests_per_client: config.max_requests_in_flight_per_client,
            body_bytes_per_client: config.max_buffered_body_bytes_per_client,
            ipv6_prefix: config.ipv6_client_prefix,
            held_bytes: crate::ops::metrics::body_bytes_held(),
        }
    }

    /// The key `client`'s share is counted under.
    pub(crate) fn key(&self, client: crate::pipeline::client_addr::ClientAddr) -> ClientKey {
        ClientKey::of(client, self.ipv6_prefix)
    }

    /// A place for one request of `client`, or the limit it met.
    pub(crate) fn admit(&self, client: ClientKey) -> Result<Ticket<'_>, OverBudget> {
        let request = self
            .requests
            .try_acquire()
            .map_err(|_| OverBudget::Requests)?;
        let mut held = self.by_client.entry(client).or_default();
        if self.requests_per_client > 0 && held.requests >= self.requests_per_client {
            drop(held);
            self.forget_if_idle(client);
            return Err(OverBudget::ClientRequests);
        }
        held.requests += 1;
        Ok(Ticket {
            budget: self,
            client,
            bytes: 0,
            _request: request,
        })
    }

    /// Removes a client that holds nothing, so the map has only those that do.
    fn forget_if_idle(&self, client: ClientKey) {
        self.by_client
            .remove_if(&client, |_, held| held.requests == 0 && held.bytes == 0);
    }
}

impl Ticket<'_> {
    /// Charges `bytes` more of the request's body, as they arrive.
    pub(crate) fn charge(&mut self, bytes: usize) -> Result<(), OverBudget> {
        if bytes == 0 {
            return Ok(());
        }
        let budget = self.budget;
        let Some(mut held) = budget.by_client.get_mut(&self.client) else {
            // The ticket's own entry lives as long as the ticket.
            return Err(OverBudget::ClientBodyBytes);
        };
        if budget.body_bytes_per_client > 0
            && held.bytes.saturating_add(bytes) > budget.body_bytes_per_client
        {
            return Err(OverBudget::ClientBodyBytes);
        }
        let permits = u32::try_from(bytes).map_err(|_| OverBudget::BodyBytes)?;
        budget
            .body_bytes
            .try_acquire_many(permits)
            .map_err(|_| OverBudget::BodyBytes)?
            .forget();
        held.bytes += bytes;
        self.bytes += bytes;
        budget.held_bytes.increment(bytes as f64);
        Ok(())
    }
}

impl Drop for Ticket<'_> {
    fn drop(&mut self) {
        let budget = self.budget;
        if self.bytes > 0 {
            budget.body_bytes.add_permits(self.bytes);
            budget.held_bytes.decrement(self.bytes as f64);
        }
        if let Some(mut held) = budget.by_client.get_mut(&self.client) {
            held.requests = held.requests.saturating_sub(1);
            held.bytes = held.bytes.saturating_sub(self.bytes);
        }
        budget.forget_if_idle(self.client);
    }
}

#[cfg(test)]
mod tests {
    use std::net::IpAddr;

    use super::*;

    fn budget(requests: usize, bytes: usize, per_client: (usize, usize)) -> Budget {
        Budget::new(&ServerConfig {
            max_requests_in_flight: requests,
            max_buffered_body_bytes: bytes,
            max_requests_in_flight_per_client: per_client.0,
            max_buffered_body_bytes_per_client: per_client.1,
            ..ServerConfig::default()
        })
    }

    fn client(ip: &str) -> ClientKey {
        ClientKey::of_ip(ip.parse::<IpAddr>().expect("ip"), 64)
    }

    #[test]
    fn a_declared_body_costs_nothing_until_its_bytes_arrive() {
        let budget = budget(10, 100, (0, 0));
        let mut tickets: Vec<_> = (0..10)
            .map(|_| budget.admit(client("192.0.2.1")).expect("a place"))
            .collect();
        assert_eq!(
            budget.admit(client("192.0.2.2")).err(),
            Some(OverBudget::Requests)
        );
        // Ten requests hold places but no bytes; the bytes are all there.
        tickets[0].charge(100).expect("all of it");
        assert_eq!(tickets[1].charge(1), Err(OverBudget::BodyBytes));
        drop(tickets.remove(0));
        tickets[0].charge(100).expect("given back on drop");
    }

    #[test]
    fn one_client_cannot_take_another_clients_share() {
        let budget = budget(100, 1000, (3, 300));
        let greedy = client("192.0.2.1");
        let mut held: Vec<_> = (0..3)
            .map(|_| budget.admit(greedy).expect("a place"))
            .collect();
        assert_eq!(budget.admit(greedy).err(), Some(OverBudget::ClientRequests));
        held[0].charge(200).expect("within its share");
        assert_eq!(held[1].charge(101), Err(OverBudget::ClientBodyBytes));
        held[1].charge(100).expect("up to its share");
        // Another address is served in full.
        let mut other = budget.admit(client("192.0.2.2")).expect("a place");
        other.charge(300).expect("its own share");
        drop(held);
        let mut again = budget.admit(greedy).expect("given back");
        again.charge(300).expect("given back");
        drop((again, other));
        assert!(budget.by_client.is_empty(), "no client holds anything");
    }

    #[test]
    fn an_ipv6_network_is_one_client() {
        let budget = budget(100, 1000, (2, 0));
        let _first = budget.admit(client("2001:db8:1:2::1")).expect("a place");
        let _second = budget
            .admit(client("2001:db8:1:2:ffff::9"))
            .expect("a place");
        assert_eq!(
            budget.admit(client("2001:db8:1:2:abcd::1")).err(),
            Some(OverBudget::ClientRequests),
            "the same /64"
        );
        budget
            .admit(client("2001:db8:1:3::1"))
            .expect("another /64 is another client");
    }
}
