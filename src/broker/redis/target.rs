//! Where the broker's Redis is: one server (`redis://`, `rediss://`, `unix://`), the
//! master that owns the broker's hash slot in a Redis Cluster (`redis+cluster://`), or
//! the master a Sentinel group names (`redis+sentinel://`). Owns parsing those URLs and
//! finding the current master each time a connection is opened, so a reconnect after a
//! failover reaches the promoted replica. Must not run broker commands.
//!
//! Every key of one prefix shares one hash tag (`Shared::key`): the claim script's
//! sequence counter and the history's position counter are shared by every call, so no
//! finer tag would keep each script in one slot. A Cluster therefore gives the broker
//! failover, not sharding; the slot's master serves claims, history and pub/sub (a
//! Cluster's `PUBLISH` reaches every node), through the same plain connection as a
//! single server. Guarded by `tests/cluster/cluster_mode_redis.rs` and
//! `tests/cluster/sentinel_redis.rs`.

use parking_lot::Mutex;
use redis::sentinel::{SentinelClient, SentinelNodeConnectionInfo, SentinelServerType};
use redis::{Client, ConnectionAddr, ConnectionInfo, IntoConnectionInfo, RedisResult, Value};

use super::{COMMAND_TIMEOUT, RedisBrokerError};

/// One of the three ways to reach the broker's Redis.
pub(super) enum Target {
    /// One server.
    Single(Client),
    /// A Redis Cluster: the seed nodes and every node learned since, asked in turn which
    /// master owns the slot of `tagged` (a key carrying the broker's hash tag).
    Cluster {
        nodes: Mutex<Vec<ConnectionInfo>>,
        tagged: String,
    },
    /// A Sentinel group, asked for the master on every new connection.
    Sentinel(Mutex<SentinelClient>),
}

/// Splits `scheme://[userinfo@]host:port,host:port[/rest]` into the userinfo (with its
/// `@`), the hosts and the rest (with its `/`).
fn split_hosts(after_scheme: &str) -> (&str, Vec<&str>, &str) {
    let (authority, rest) = after_scheme
        .find('/')
        .map_or((after_scheme, ""), |i| after_scheme.split_at(i));
    let (userinfo, hosts) = authority
        .rfind('@')
        .map_or(("", authority), |i| authority.split_at(i + 1));
    let hosts = hosts.split(',').filter(|h| !h.is_empty()).collect();
    (userinfo, hosts, rest)
}

fn bad_url(message: impl std::fmt::Display) -> RedisBrokerError {
    RedisBrokerError::Url(message.to_string())
}

impl Target {
    /// Parses `url`; `tagged` is a key carrying the broker's hash tag.
    pub(super) fn parse(url: &str, tagged: String) -> Result<Self, RedisBrokerError> {
        if let Some((scheme, rest)) = url.split_once("+cluster://") {
            let (userinfo, hosts, _) = split_hosts(rest);
            if hosts.is_empty() {
                return Err(bad_url(format!("{url}: no seed node")));
            }
            let nodes = hosts
                .iter()
                .map(|host| format!("{scheme}://{userinfo}{host}").into_connection_info())
                .collect::<RedisResult<Vec<_>>>()
                .map_err(bad_url)?;
            return Ok(Self::Cluster {
                nodes: Mutex::new(nodes),
                tagged,
            });
        }
        if let Some(rest) = url.strip_prefix("redis+sentinel://") {
            return Self::sentinel(url, rest);
        }
        Client::open(url).map(Self::Single).map_err(bad_url)
    }

    /// `redis+sentinel://[user:password@]host:port,…/<master name>[/<db>]`: the
    /// credentials and database are the master's; the sentinels are asked without.
    fn sentinel(url: &str, rest: &str) -> Result<Self, RedisBrokerError> {
        let (userinfo, hosts, path) = split_hosts(rest);
        let mut parts = path.trim_start_matches('/').splitn(2, '/');
        let service = parts.next().unwrap_or_default();
        if hosts.is_empty() || service.is_empty() {
            return Err(bad_url(format!(
                "{url}: expected redis+sentinel://host:port[,host:port…]/<master name>[/<db>]"
            )));
        }
        let db = parts.next().unwrap_or_default();
        let master = format!("redis://{userinfo}{}/{db}", hosts[0])
            .into_connection_info()
            .map_err(bad_url)?;
        let sentinels = hosts
            .iter()
            .map(|host| format!("redis://{host}"))
            .collect::<Vec<_>>();
        let node = SentinelNodeConnectionInfo::default()
            .set_redis_connection_info(master.redis_settings().clone());
        SentinelClient::build(
            sentinels,
            service.to_owned(),
            Some(node),
            SentinelServerType::Master,
        )
        .map(|client| Self::Sentinel(Mutex::new(client)))
        .map_err(bad_url)
    }

    /// A client for the current master.
    pub(super) fn client(&self) -> RedisResult<Client> {
        match self {
            Self::Single(client) => Ok(client.clone()),
            Self::Sentinel(sentinel) => sentinel.lock().get_client(),
            Self::Cluster { nodes, tagged } => slot_owner(nodes, tagged),
        }
    }
}

/// Asks each known node in turn for the master of `tagged`'s slot and returns the first
/// such master that answers; every node a `CLUSTER SLOTS` names is remembered, so the
/// seeds may all die once the cluster has been seen.
fn slot_owner(nodes: &Mutex<Vec<ConnectionInfo>>, tagged: &str) -> RedisResult<Client> {
    let known = nodes.lock().clone();
    let mut last_error = None;
    for seed in &known {
        let asked = Client::open(seed.clone()).and_then(|client| {
            let mut connection = client.get_connection_with_timeout(COMMAND_TIMEOUT)?;
            connection.set_read_timeout(Some(COMMAND_TIMEOUT))?;
            let slot: i64 = redis::cmd("CLUSTER")
                .arg("KEYSLOT")
                .arg(tagged)
                .query(&mut connection)?;
            let slots: Vec<Value> = redis::cmd("CLUSTER").arg("SLOTS").query(&mut connection)?;
            Ok((slot, slots))
        });
        let (slot, slots) = match asked {
            Ok(answer) => answer,
            Err(error) => {
                last_error = Some(error);
                continue;
            }
        };
        let (master, everyone) = read_slots(&slots, slot);
        learn(nodes, seed, everyone);
        let Some((host, port)) = master else { continue };
        let info = seed.clone().set_addr(ConnectionAddr::Tcp(host, port));
        match Client::open(info).and_then(|client| {
            client.get_connection_with_timeout(COMMAND_TIMEOUT)?;
            Ok(client)
        }) {
            Ok(client) => return Ok(client),
            Err(error) => last_error = Some(error),
        }
    }
    Err(last_error.unwrap_or_else(|| {
        redis::RedisError::from((
            redis::ErrorKind::Io,
            "no Redis Cluster node names a reachable master for the broker's slot",
        ))
    }))
}

/// Adds the addresses in `everyone` not known yet, with `seed`'s credentials.
fn learn(nodes: &Mutex<Vec<ConnectionInfo>>, seed: &ConnectionInfo, everyone: Vec<Addr>) {
    let mut nodes = nodes.lock();
    for (host, port) in everyone {
        let addr = ConnectionAddr::Tcp(host, port);
        if !nodes.iter().any(|known| *known.addr() == addr) {
            nodes.push(seed.clone().set_addr(addr));
        }
    }
}

/// A node's host and port.
type Addr = (String, u16);

/// Reads a `CLUSTER SLOTS` answer: the master of `slot` and every node it names.
fn read_slots(slots: &[Value], slot: i64) -> (Option<Addr>, Vec<Addr>) {
    let mut master = None;
    let mut everyone = Vec::new();
    for range in slots {
        let Value::Array(fields) = range else {
            continue;
        };
        let bound = |i: usize| match fields.get(i) {
            Some(Value::Int(n)) => Some(*n),
            _ => None,
        };
        let nodes: Vec<Addr> = fields.iter().skip(2).filter_map(node_addr).collect();
        if let (Some(start), Some(end)) = (bound(0), bound(1))
            && (start..=end).contains(&slot)
        {
            master = nodes.first().cloned();
        }
        everyone.extend(nodes);
    }
    (master, everyone)
}

/// `[host, port, id, …]` as an address.
fn node_addr(node: &Value) -> Option<Addr> {
    let Value::Array(parts) = node else {
        return None;
    };
    let host = match parts.first()? {
        Value::BulkString(bytes) => String::from_utf8(bytes.clone()).ok()?,
        Value::SimpleString(text) => text.clone(),
        _ => return None,
    };
    let Value::Int(port) = parts.get(1)? else {
        return None;
    };
    Some((host, u16::try_from(*port).ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_and_sentinel_urls_parse_and_bad_ones_are_refused() {
        let cluster = Target::parse(
            "redis+cluster://:pw@127.0.0.1:7000,127.0.0.1:7001",
            "{mcrt:}x".into(),
        )
        .expect("a cluster URL");
        let Target::Cluster { nodes, .. } = cluster else {
            panic!("not a cluster target")
        };
        let nodes = nodes.lock();
        assert_eq!(nodes.len(), 2);
        assert_eq!(
            *nodes[1].addr(),
            ConnectionAddr::Tcp("127.0.0.1".into(), 7001)
        );
        assert_eq!(nodes[1].redis_settings().password(), Some("pw"));
        assert!(matches!(
            Target::parse("redis+sentinel://127.0.0.1:26379/main/2", String::new()),
            Ok(Target::Sentinel(_))
        ));
        assert!(matches!(
            Target::parse("redis://127.0.0.1:6379", String::new()),
            Ok(Target::Single(_))
        ));
        for bad in [
            "redis+cluster://",
            "redis+sentinel://127.0.0.1:26379",
            "redis+sentinel:///main",
            "http://x",
        ] {
            assert!(Target::parse(bad, String::new()).is_err(), "{bad}");
        }
    }
}
