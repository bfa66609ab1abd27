//! The Redis broker on a Redis Cluster (`redis+cluster://`): three masters and three
//! replicas (`cluster-node-timeout` 500 ms) started here on free ports and joined with
//! `redis-cli --cluster create`; the master owning the broker's slot is SIGKILLed during
//! a stream of emits. Fails, never skips, when `redis-server` or `redis-cli` is missing.

use std::process::Command;

use crate::ha_redis::{
    Process, failover_during_stream, query, server_args, text, tool, wait_until,
};
use crate::redis_server::free_port;
use crate::support::TempDir;

struct Cluster {
    nodes: Vec<Process>,
    _dir: TempDir,
}

fn start_cluster() -> Cluster {
    let server = tool("MCRT_REDIS_SERVER", "redis-server");
    let cli = tool("MCRT_REDIS_CLI", "redis-cli");
    let dir = TempDir::new("redis-cluster");
    let nodes: Vec<Process> = (0..6)
        .map(|_| {
            let port = free_port();
            let mut args = server_args(port, &dir);
            args.extend(
                ["--cluster-enabled", "yes", "--cluster-node-timeout", "500"].map(str::to_owned),
            );
            Process::start(&server, &args, port)
        })
        .collect();
    let created = Command::new(&cli)
        .args(["--cluster", "create"])
        .args(nodes.iter().map(|n| format!("127.0.0.1:{}", n.port)))
        .args(["--cluster-replicas", "1", "--cluster-yes"])
        .output()
        .unwrap_or_else(|error| panic!("{cli} could not run: {error}"));
    assert!(
        created.status.success(),
        "redis-cli --cluster create failed: {}",
        String::from_utf8_lossy(&created.stdout)
    );
    for node in &nodes {
        wait_until("every node sees the cluster ok and in sync", || {
            let replication = text(node.port, &["INFO", "replication"]);
            text(node.port, &["CLUSTER", "INFO"]).contains("cluster_state:ok")
                && (replication.contains("role:master")
                    || replication.contains("master_link_status:up"))
        });
    }
    Cluster { nodes, _dir: dir }
}

/// The port of the master owning the slot of `key`, as `port` sees the cluster.
fn owner_of(port: u16, key: &str) -> u16 {
    let Ok(redis::Value::Int(slot)) = query(port, &["CLUSTER", "KEYSLOT", key]) else {
        panic!("CLUSTER KEYSLOT")
    };
    let Ok(redis::Value::Array(ranges)) = query(port, &["CLUSTER", "SLOTS"]) else {
        panic!("CLUSTER SLOTS")
    };
    for range in ranges {
        let redis::Value::Array(fields) = range else {
            continue;
        };
        let (redis::Value::Int(start), redis::Value::Int(end)) = (&fields[0], &fields[1]) else {
            continue;
        };
        if (*start..=*end).contains(&slot)
            && let redis::Value::Array(master) = &fields[2]
            && let redis::Value::Int(owner) = master[1]
        {
            return u16::try_from(owner).expect("a port");
        }
    }
    panic!("no master owns slot {slot}")
}

#[test]
fn a_cluster_shard_failover_during_an_emit_stream_loses_no_local_delivery() {
    let mut cluster = start_cluster();
    // One seed is enough: the broker learns the other nodes from it.
    let seed = cluster.nodes[0].port;
    let owner = owner_of(seed, "{mcrt:}seq");
    let url = format!("redis+cluster://127.0.0.1:{seed}");
    let victim = cluster
        .nodes
        .iter_mut()
        .find(|n| n.port == owner)
        .expect("the owner is one of ours");
    let resumed = failover_during_stream(&url, || victim.kill());
    eprintln!("cluster failover: cross-node delivery resumed {resumed:?} after the kill");
}
