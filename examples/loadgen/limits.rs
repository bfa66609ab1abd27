//! What the machine lets one process open, settled before any client connects: the
//! open-file limit (raised to the hard one, and a run that cannot fit refused up front,
//! naming the limit, instead of failing midway), and the loopback source addresses that
//! take the clients past one address's ephemeral ports.

use std::net::{IpAddr, Ipv4Addr, SocketAddr};

use crate::args::Args;

/// Descriptors kept beside the clients' sockets (the runtime, the emit API, the control
/// pipes, logs; the server likewise): the largest run is the hard limit minus this.
pub const FD_MARGIN: u64 = 256;

/// Clients per source address: below the ~28,000 ephemeral ports of one address
/// (`net.ipv4.ip_local_port_range`, 32768–60999 by default), with room for other
/// processes' connections.
pub const CLIENTS_PER_ADDRESS: u32 = 25_000;

/// Raises the soft open-file limit to the hard one; an error, naming the limit and the
/// largest run that fits, when `connections` clients cannot be opened under it.
pub fn open_files_for(connections: u32) -> Result<u64, String> {
    let needed = u64::from(connections) + FD_MARGIN;
    // Returns the limit the process runs with: the hard one once raised.
    let limit = rlimit::increase_nofile_limit(u64::MAX)
        .map_err(|error| format!("cannot read or raise the open-file limit: {error}"))?;
    if limit >= needed {
        return Ok(limit);
    }
    Err(format!(
        "{connections} connections need {needed} open files in this process (one per \
         client, {FD_MARGIN} spare) and as many in the server, but the open-file limit is \
         {limit}: the hard limit (RLIMIT_NOFILE, `ulimit -Hn`), which only a privileged \
         process (CAP_SYS_RESOURCE) or the system's configuration (limits.conf, systemd's \
         LimitNOFILE=, docker's --ulimit nofile=) can raise. The largest --connections \
         that fits is {}.",
        limit.saturating_sub(FD_MARGIN)
    ))
}

/// The source address of each client, round robin (empty: let the system choose):
/// `--source-addresses`, or by default one per [`CLIENTS_PER_ADDRESS`] clients when
/// every server is on loopback and one address is not enough. A bound socket's port is
/// chosen at `bind`, by a search of the address's ports that slows as they fill (18,000
/// binds to one address took 52 s here, against a connect's own choice of port, which
/// is quick), so a run that fits one address does not bind at all.
pub fn source_addresses(args: &Args, servers: &[SocketAddr]) -> Vec<IpAddr> {
    let loopback = servers
        .iter()
        .all(|server| server.ip().is_loopback() && server.is_ipv4());
    let needed = args.connections.div_ceil(CLIENTS_PER_ADDRESS);
    let count = args
        .source_addresses
        .unwrap_or(if loopback && needed > 1 { needed } else { 0 });
    // 127.0.0.1, 127.0.0.2, …: the whole of 127.0.0.0/8 is local on Linux.
    (0..count.min(254))
        .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, 1 + i as u8)))
        .collect()
}

#[cfg(test)]
mod tests {
    use clap::Parser;

    use super::*;

    fn args(extra: &[&str]) -> Args {
        Args::parse_from([&["loadgen"], extra].concat())
    }

    #[test]
    fn one_source_address_per_25000_clients_on_loopback() {
        let local: SocketAddr = "127.0.0.1:3000".parse().unwrap();
        let addresses = source_addresses(&args(&["--connections", "100000"]), &[local]);
        let expected: Vec<IpAddr> = (1..=4)
            .map(|i| IpAddr::V4(Ipv4Addr::new(127, 0, 0, i)))
            .collect();
        assert_eq!(addresses, expected);
        let fits_one = args(&["--connections", "18000"]);
        assert!(source_addresses(&fits_one, &[local]).is_empty());
        let given = args(&["--connections", "10", "--source-addresses", "2"]);
        assert_eq!(source_addresses(&given, &[local]).len(), 2);
        let remote: SocketAddr = "192.0.2.1:3000".parse().unwrap();
        assert!(source_addresses(&args(&["--connections", "100000"]), &[remote]).is_empty());
    }

    #[test]
    fn a_run_past_the_hard_limit_is_refused_naming_it() {
        let error = open_files_for(u32::MAX).unwrap_err();
        assert!(error.contains("ulimit -Hn"), "{error}");
        assert!(error.contains("largest --connections"), "{error}");
    }
}
