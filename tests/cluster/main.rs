//! Several hubs sharing a real `redis-server` (the Redis broker).

#[path = "../support/mod.rs"]
mod support;

mod broker_redis;
mod config_redis;
mod history_redis;
mod monitor_redis;
