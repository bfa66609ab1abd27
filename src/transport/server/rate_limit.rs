//! The inbound rate limit of a native connection: a token bucket of `burst` tokens
//! refilled at `per_second` ([`RateLimit`]).
//!
//! Owns when a message is handled, dropped, or ends its connection (more than `burst`
//! dropped in a row). It must not count or close anything itself: the caller does.

use std::time::Instant;

use super::RateLimit;

/// The inbound token bucket of [`ServerConfig::rate_limit`](super::ServerConfig::rate_limit).
pub(super) struct RateLimiter {
    limit: RateLimit,
    tokens: f64,
    refilled: Instant,
    dropped_in_a_row: u32,
}

/// What the rate limiter says about one inbound message.
pub(super) enum Admit {
    /// A token was taken: handle the message.
    Handle,
    /// No token: drop the message.
    Drop,
    /// No token, and more than `burst` dropped in a row: close the connection.
    Close,
}

impl RateLimiter {
    pub(super) fn new(limit: RateLimit) -> Self {
        Self {
            limit,
            tokens: f64::from(limit.burst),
            refilled: Instant::now(),
            dropped_in_a_row: 0,
        }
    }

    /// Refills the bucket for the time since the last message, then takes a token.
    pub(super) fn admit(&mut self) -> Admit {
        let now = Instant::now();
        self.tokens = (self.tokens
            + now.duration_since(self.refilled).as_secs_f64() * self.limit.per_second)
            .min(f64::from(self.limit.burst));
        self.refilled = now;
        if self.tokens < 1.0 {
            self.dropped_in_a_row += 1;
            if self.dropped_in_a_row > self.limit.burst {
                return Admit::Close;
            }
            return Admit::Drop;
        }
        self.tokens -= 1.0;
        self.dropped_in_a_row = 0;
        Admit::Handle
    }
}
