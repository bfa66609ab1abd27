//! The one configuration schema every binding reads: [`HubConfig`] (C `mcrt_builder_new`,
//! Node `new RealTimeAPI(io, db, options)`, Python `Hub(config)`) and [`ServeConfig`]
//! (C `mcrt_serve`, Node `options.server`, Python `Hub.serve(...)` keywords), with their
//! one set of defaults ([`Default`]) and their one validation ([`HubConfig::from_json`]).
//!
//! The canonical form is camelCase JSON with durations in milliseconds (`…Ms`, a number,
//! fractions allowed); [`Serialize`](serde::Serialize) writes it, every default filled in. The forms the
//! bindings accepted before are documented aliases of the same fields, so no binding
//! keeps a schema of its own: snake_case for every key; Python's seconds
//! (`device_grace`, `ping_interval`, `ping_timeout`, `auth_deadline`); Python's nested
//! `limits` section; `routes` as a map `event → {users, admins}` besides the list of
//! `{event, userPages, adminPages}`; `jwtSecret` as an array of bytes (Python `bytes`).
//! A setting given twice (`limits.queue_capacity` and `queueCapacity`) is refused.
//!
//! Unknown keys are refused so that a typo never silently falls back to a default, and
//! every error is a [`ConfigError`] naming the key (`persist.path`, `routes[0].event`),
//! what was expected and what arrived.
//!
//! Files: `hub.rs` ([`HubConfig`]), `jwt.rs` (its `jwt` section, [`JwtConfig`]),
//! `serve.rs` ([`ServeConfig`]), `error.rs` ([`ConfigError`]), `accept.rs` (the accepted
//! forms and aliases of the hub's settings), `values.rs` (the scalar forms every section
//! shares: durations, secrets, a setting under two names), `check.rs` (unknown keys,
//! conflicts), `tests.rs` (the schema's unit tests); this file keeps the canonical form
//! of durations.
//!
//! This module must not build or start anything (it returns a
//! [`HubBuilder`](crate::HubBuilder) or a [`ServerConfig`](crate::ServerConfig)) and
//! holds no host hooks: callables stay in each binding, which takes them out of its
//! options before handing the rest here. Guarded by the unit tests below
//! (`defaults_are_the_documented_ones`, `every_alias_reaches_its_field`,
//! `unknown_keys_are_refused_naming_the_key`, …), `tests/c/test_ffi.c`
//! (`test_config_schema`), `bindings/node/test/config.test.js` and
//! `bindings/python/tests/test_config.py`, which check that each binding accepts the same
//! keys with the same defaults.

mod accept;
mod check;
mod error;
mod hub;
mod jwt;
mod serve;
mod values;

use std::time::Duration;

use serde::Serializer;

pub use error::ConfigError;
pub use hub::{HubConfig, Persist, Route, Secret};
pub use jwt::{JwtConfig, PublicKey};
pub use serve::ServeConfig;

/// Durations are written as whole milliseconds when they are, else fractional ones.
pub(crate) fn millis<S: Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    if duration.subsec_nanos().is_multiple_of(1_000_000) {
        serializer.serialize_u128(duration.as_millis())
    } else {
        serializer.serialize_f64(duration.as_secs_f64() * 1000.0)
    }
}

#[cfg(test)]
mod tests;
