//! Several hubs sharing a real `redis-server` (the Redis broker), a Redis Cluster or a
//! Sentinel group.

#[path = "../support/mod.rs"]
mod support;

mod broker_redis;
mod claims_redis;
mod cluster_mode_redis;
mod config_redis;
mod ha_redis;
mod history_redis;
mod monitor_redis;
mod nodes;
mod redis_server;
mod sentinel_redis;
mod seq_floor_redis;
