//! The Redis broker on a Sentinel group (`redis+sentinel://`): a master, one replica and
//! three `redis-sentinel`s (quorum 2, 300 ms down-after, 2 s failover timeout) started
//! here on free ports; the master is SIGKILLed during a stream of emits. Fails, never
//! skips, when `redis-server` or `redis-sentinel` is missing.

use crate::ha_redis::{
    Process, failover_during_stream, query, server_args, text, tool, wait_until,
};
use crate::redis_server::free_port;
use crate::support::TempDir;

const MASTER_NAME: &str = "main";

struct Group {
    master: Process,
    _replica: Process,
    sentinels: Vec<Process>,
    _dir: TempDir,
}

fn sentinel_config(dir: &TempDir, port: u16, master: u16) -> String {
    let path = dir.path().join(format!("sentinel-{port}.conf"));
    let config = format!(
        "port {port}\nbind 127.0.0.1\ndir {dir}\n\
         sentinel monitor {MASTER_NAME} 127.0.0.1 {master} 2\n\
         sentinel down-after-milliseconds {MASTER_NAME} 300\n\
         sentinel failover-timeout {MASTER_NAME} 2000\n\
         sentinel parallel-syncs {MASTER_NAME} 1\n",
        dir = dir.path().display()
    );
    std::fs::write(&path, config).expect("sentinel config");
    path.to_string_lossy().into_owned()
}

/// Starts the group and waits until the replica is in sync and every sentinel knows the
/// replica and the two other sentinels (before that a failover could not happen).
fn start_group() -> Group {
    let server = tool("MCRT_REDIS_SERVER", "redis-server");
    let sentinel = tool("MCRT_REDIS_SENTINEL", "redis-sentinel");
    let dir = TempDir::new("sentinel");
    let master_port = free_port();
    let master = Process::start(&server, &server_args(master_port, &dir), master_port);
    let replica_port = free_port();
    let mut args = server_args(replica_port, &dir);
    args.extend([
        "--replicaof".into(),
        "127.0.0.1".into(),
        master_port.to_string(),
    ]);
    let replica = Process::start(&server, &args, replica_port);
    wait_until("the replica is in sync", || {
        text(replica_port, &["INFO", "replication"]).contains("master_link_status:up")
    });
    let sentinels: Vec<Process> = (0..3)
        .map(|_| {
            let port = free_port();
            let config = sentinel_config(&dir, port, master_port);
            Process::start(&sentinel, &[config], port)
        })
        .collect();
    for s in &sentinels {
        wait_until("each sentinel knows the replica and the others", || {
            let Ok(redis::Value::Array(fields)) =
                query(s.port, &["SENTINEL", "MASTER", MASTER_NAME])
            else {
                return false;
            };
            let field = |name: &str| {
                fields
                    .chunks(2)
                    .find(|pair| pair[0] == redis::Value::BulkString(name.as_bytes().to_vec()))
                    .map(|pair| pair[1].clone())
            };
            let number = |name: &str| match field(name) {
                Some(redis::Value::BulkString(b)) => String::from_utf8_lossy(&b).into_owned(),
                _ => String::new(),
            };
            number("num-slaves") == "1" && number("num-other-sentinels") == "2"
        });
    }
    Group {
        master,
        _replica: replica,
        sentinels,
        _dir: dir,
    }
}

#[test]
fn a_sentinel_failover_during_an_emit_stream_loses_no_local_delivery() {
    let mut group = start_group();
    let hosts: Vec<String> = group
        .sentinels
        .iter()
        .map(|s| format!("127.0.0.1:{}", s.port))
        .collect();
    let url = format!("redis+sentinel://{}/{MASTER_NAME}", hosts.join(","));
    let master = &mut group.master;
    let resumed = failover_during_stream(&url, || master.kill());
    eprintln!("sentinel failover: cross-node delivery resumed {resumed:?} after the kill");
}
