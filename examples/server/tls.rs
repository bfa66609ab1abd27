//! `--tls-cert` / `--tls-key`: serve `https://` and `wss://` on the server's port
//! (cargo feature `tls`, on by default). Owns reading the PEM files for the example and
//! refusing to start when they are unusable; the handshake itself is the library's
//! (`src/transport/server/tls.rs`). Guarded by `tests/server/tls.rs`.

use std::path::Path;

use microcoaster_realtime::transport::server::ServerConfig;

/// `config` serving TLS with the PEM certificate chain and key when both are given;
/// exits with the reason when they cannot be loaded (or the build has no TLS).
#[cfg(feature = "tls")]
pub fn apply(mut config: ServerConfig, cert: Option<&Path>, key: Option<&Path>) -> ServerConfig {
    use microcoaster_realtime::transport::server::TlsConfig;
    let (Some(cert), Some(key)) = (cert, key) else {
        return config;
    };
    match TlsConfig::from_pem_files(cert, key) {
        Ok(tls) => config.tls = Some(tls),
        Err(error) => {
            eprintln!("cannot start: TLS: {error}");
            std::process::exit(1);
        }
    }
    config
}

/// Without the `tls` feature a TLS flag is an error rather than a plain-text server.
#[cfg(not(feature = "tls"))]
pub fn apply(config: ServerConfig, cert: Option<&Path>, key: Option<&Path>) -> ServerConfig {
    if cert.is_some() || key.is_some() {
        eprintln!("cannot start: this build has no TLS support (cargo feature `tls`)");
        std::process::exit(1);
    }
    config
}
