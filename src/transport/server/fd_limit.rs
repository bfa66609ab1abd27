//! The process's open-file limit (`RLIMIT_NOFILE`), raised at start so the server can
//! hold as many sockets as the system lets it.
//!
//! Every connection is one file descriptor, and most systems start a process with a soft
//! limit of 1,024 although the hard limit allows far more (often 524,288): a server left
//! at the soft limit refuses its 1,025th connection with `EMFILE` whatever
//! `max_connections` says. With [`ServerConfig::raise_fd_limit`] (on by default) the
//! server raises the soft limit to the hard one, which needs no privilege; it never
//! lowers a limit, never touches the hard limit, and a failure to raise it is logged,
//! not fatal. The limit is process-wide, so an application embedding the library that
//! must keep a lower soft limit turns this off.
//!
//! Guarded by `fd_limit::starting_a_server_raises_the_soft_limit_to_the_hard_one` and
//! `fd_limit::with_raise_fd_limit_off_the_soft_limit_stays` (`tests/server/fd_limit.rs`,
//! each in a child process of its own).

use super::ServerConfig;

/// The soft open-file limit the process runs with after raising it (when `config`
/// asks), or `None` where the platform has none (not unix) or it cannot be read.
pub(super) fn prepare(config: &ServerConfig) -> Option<u64> {
    #[cfg(unix)]
    {
        let (soft, hard) = rlimit::Resource::NOFILE.get().ok()?;
        let limit = if config.raise_fd_limit && soft < hard {
            match rlimit::increase_nofile_limit(hard) {
                Ok(raised) => {
                    tracing::info!(from = soft, to = raised, "raised the open-file limit");
                    raised
                }
                Err(error) => {
                    tracing::warn!(%error, soft, hard, "cannot raise the open-file limit");
                    soft
                }
            }
        } else {
            soft
        };
        tracing::info!(limit, hard, "open-file limit");
        if usize::try_from(limit).unwrap_or(usize::MAX) < config.max_connections {
            tracing::warn!(
                limit,
                max_connections = config.max_connections,
                "the open-file limit is below max_connections: connections past it fail \
                 to be accepted (raise the hard limit: `ulimit -Hn`, LimitNOFILE=)"
            );
        }
        Some(limit)
    }
    #[cfg(not(unix))]
    {
        let _ = config;
        None
    }
}
