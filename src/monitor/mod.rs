//! Monitoring the hub from outside: the delivery-latency histogram, this process's
//! memory and CPU, and the Prometheus exposition of the hub's counters.
//!
//! This module must not resolve audiences, encode frames nor touch sockets.

pub mod latency;
pub(crate) mod process;
pub mod prometheus;
