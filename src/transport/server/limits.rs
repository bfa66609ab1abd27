//! Per-client limits of the HTTP acceptance path: handshakes per second per remote IP
//! ([`ServerConfig::handshakes_per_second`](super::ServerConfig::handshakes_per_second)),
//! and the counting of the header limits hyper enforces
//! ([`ServerConfig::max_header_bytes`](super::ServerConfig::max_header_bytes),
//! [`ServerConfig::header_timeout`](super::ServerConfig::header_timeout)).
//!
//! A handshake is a request that would open a connection: Socket.IO or Engine.IO
//! without `sid`, and every `/ws` request. Past its IP's bucket it gets 429 with
//! `{"code":3,"message":"Too many handshakes"}` and counts
//! `bad_input{kind="handshake_rate"}`; requests of live sessions are never limited here.
//! Behind a proxy listed in `trusted_proxies`, the client's address is taken from
//! `X-Forwarded-For` (`client_addr`); from any other peer that header is ignored.
//! The bucket is this module's own (a refill on each handshake, like the per-message
//! one in `rate_limit.rs`) rather than a keyed limiter crate: it is a dozen lines and
//! its table is pruned of idle addresses so a scan of many addresses cannot grow it
//! without bound.
//!
//! Open connections per remote IP
//! ([`ServerConfig::max_connections_per_ip`](super::ServerConfig::max_connections_per_ip))
//! are counted in [`OpenPerIp`]: taken when a handshake opens an Engine.IO session or a
//! `/ws` socket, given back when that session or socket ends. Past it the handshake
//! gets 429 with `{"code":3,"message":"Too many connections from this address"}` and
//! counts `bad_input{kind="connections_per_ip"}`. This module must not close sessions. Guarded by
//! `tests/server/client_limits.rs` and the unit test below.

use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::time::Instant;

use hyper::{Response, StatusCode};
use parking_lot::Mutex;

use super::Shared;
use super::http::{self, Body};
use crate::metrics::BadInputKind;

/// Addresses kept before idle ones (full buckets) are forgotten.
const PRUNE_AT: usize = 4096;

/// One token bucket per remote IP for handshakes.
#[derive(Default)]
pub(crate) struct Handshakes {
    buckets: Mutex<HashMap<IpAddr, Bucket>>,
}

struct Bucket {
    tokens: f64,
    refilled: Instant,
}

impl Handshakes {
    /// Takes a token of `ip`'s bucket (`per_second` tokens a second, as many at most);
    /// `false` when it is empty. `per_second` 0 admits everything.
    fn admit(&self, ip: IpAddr, per_second: f64, now: Instant) -> bool {
        if per_second <= 0.0 {
            return true;
        }
        let burst = per_second.max(1.0);
        let mut buckets = self.buckets.lock();
        if buckets.len() >= PRUNE_AT {
            buckets.retain(|_, bucket| {
                bucket.tokens + now.duration_since(bucket.refilled).as_secs_f64() * per_second
                    < burst
            });
        }
        let bucket = buckets.entry(ip).or_insert(Bucket {
            tokens: burst,
            refilled: now,
        });
        let elapsed = now.duration_since(bucket.refilled).as_secs_f64();
        bucket.tokens = (bucket.tokens + elapsed * per_second).min(burst);
        bucket.refilled = now;
        if bucket.tokens < 1.0 {
            return false;
        }
        bucket.tokens -= 1.0;
        true
    }
}

/// The refusal (429, counted) of a handshake from `ip` past its bucket; `None` admits
/// it.
pub(crate) fn handshake_refusal(shared: &Shared, ip: IpAddr) -> Option<Response<Body>> {
    let per_second = shared.config.handshakes_per_second;
    if shared.handshakes.admit(ip, per_second, Instant::now()) {
        return None;
    }
    shared.hub.count_bad_input(BadInputKind::HandshakeRate);
    tracing::debug!(%ip, "handshake refused: over the per-address rate");
    Some(http::json_error(
        StatusCode::TOO_MANY_REQUESTS,
        3,
        "Too many handshakes",
    ))
}

/// Open connections by remote IP. An address leaves the table with its last
/// connection, so the table is as large as the set of connected addresses.
#[derive(Default)]
pub(crate) struct OpenPerIp {
    open: Mutex<HashMap<IpAddr, usize>>,
}

impl OpenPerIp {
    /// Counts a connection from `ip` unless it already has `max` (0: no limit, still
    /// counted so a later release balances).
    fn acquire(&self, ip: IpAddr, max: usize) -> bool {
        let mut open = self.open.lock();
        let count = open.entry(ip).or_insert(0);
        if max > 0 && *count >= max {
            if *count == 0 {
                open.remove(&ip);
            }
            return false;
        }
        *count += 1;
        true
    }

    /// Gives back a connection `acquire` counted.
    pub(crate) fn release(&self, ip: IpAddr) {
        let mut open = self.open.lock();
        if let Some(count) = open.get_mut(&ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&ip);
            }
        }
    }
}

/// Takes a connection slot of `ip`, or the refusal (429, counted) when it has
/// `max_connections_per_ip` open. The caller releases the slot when the connection
/// ends (`OpenPerIp::release`).
pub(crate) fn open_refusal(shared: &Shared, ip: IpAddr) -> Option<Response<Body>> {
    if shared
        .open_per_ip
        .acquire(ip, shared.config.max_connections_per_ip)
    {
        return None;
    }
    shared.hub.count_bad_input(BadInputKind::ConnectionsPerIp);
    tracing::info!(%ip, "connection refused: too many open from this address");
    Some(http::json_error(
        StatusCode::TOO_MANY_REQUESTS,
        3,
        "Too many connections from this address",
    ))
}

/// The client's address: the peer, or, when the peer is a trusted proxy, the last
/// `X-Forwarded-For` address that is not itself a trusted proxy (the rightmost one a
/// trusted hop appended; anything left of it the client could have written).
pub(crate) fn client_addr(
    trusted: &[ipnet::IpNet],
    request: &hyper::Request<hyper::body::Incoming>,
    peer: SocketAddr,
) -> SocketAddr {
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if !is_trusted(&peer.ip()) {
        return peer;
    }
    let forwarded = request
        .headers()
        .get_all("x-forwarded-for")
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .map(|part| part.trim().parse::<IpAddr>())
        .collect::<Vec<_>>();
    for hop in forwarded.iter().rev() {
        match hop {
            Ok(ip) if is_trusted(ip) => continue,
            Ok(ip) => return SocketAddr::new(*ip, 0),
            Err(_) => return peer,
        }
    }
    peer
}

/// Counts a connection hyper gave up on for a header limit. hyper's header timeout also
/// ends a kept-alive connection idle between requests, which is no attack: only a
/// connection that never completed a request head (`answered` false) counts as
/// `header_timeout`.
pub(crate) fn count_connection_error(shared: &Shared, error: &hyper::Error, answered: bool) {
    if error.is_parse_too_large() {
        shared.hub.count_bad_input(BadInputKind::HeaderTooLarge);
    } else if error.is_timeout() && !answered {
        shared.hub.count_bad_input(BadInputKind::HeaderTimeout);
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn each_address_has_its_own_bucket_that_refills() {
        let limiter = Handshakes::default();
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        let now = Instant::now();
        assert!((0..4).all(|_| limiter.admit(a, 4.0, now)));
        assert!(!limiter.admit(a, 4.0, now), "the burst is the rate");
        assert!(
            limiter.admit(b, 4.0, now),
            "another address is not affected"
        );
        assert!(limiter.admit(a, 4.0, now + Duration::from_millis(250)));
        assert!(!limiter.admit(a, 4.0, now + Duration::from_millis(250)));
        assert!((0..100).all(|_| limiter.admit(a, 0.0, now)), "0 is off");
    }

    #[test]
    fn open_connections_are_counted_per_address_and_released() {
        let open = OpenPerIp::default();
        let (a, b) = (IpAddr::from([10, 0, 0, 1]), IpAddr::from([10, 0, 0, 2]));
        assert!(open.acquire(a, 2) && open.acquire(a, 2));
        assert!(!open.acquire(a, 2), "the third is over the limit");
        assert!(open.acquire(b, 2), "another address is not affected");
        open.release(a);
        assert!(open.acquire(a, 2), "a released slot is free again");
        open.release(a);
        open.release(a);
        open.release(b);
        assert!(open.open.lock().is_empty(), "idle addresses are forgotten");
        assert!((0..10).all(|_| open.acquire(a, 0)), "0 is off");
    }
}
