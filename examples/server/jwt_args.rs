//! The server's JWT flags beyond `--jwt-secret`: public keys (optionally with a `kid`), a
//! JWKS file or URL and its refresh settings, issuer, audience, leeway. They fill the schema's `jwt` section ([`JwtConfig`]), so the files
//! are read and checked by the same code as for C, Python and Node.

use microcoaster_realtime::auth::JwtSettings;
use microcoaster_realtime::config::{JwtConfig, PublicKey};

/// JWT keys and checks (flattened into the server's arguments).
#[derive(clap::Args, Debug)]
pub struct JwtArgs {
    /// RS256 / ES256 / EdDSA public key (PEM file), or `KID=FILE` for a key that tokens
    /// naming that `kid` choose; repeat for several keys.
    #[arg(
        long = "jwt-public-key",
        env = "MCRT_JWT_PUBLIC_KEYS",
        value_delimiter = ','
    )]
    pub public_keys: Vec<String>,
    /// A JWKS document: a file path, or an `http(s)://` URL fetched at start, on an
    /// interval and on an unknown `kid`; tokens choose its keys by `kid`.
    #[arg(long = "jwt-jwks", env = "MCRT_JWT_JWKS")]
    pub jwks: Option<String>,
    /// With a JWKS URL: seconds between scheduled fetches.
    #[arg(
        long = "jwt-jwks-refresh-secs",
        env = "MCRT_JWT_JWKS_REFRESH_SECS",
        default_value_t = JwtConfig::default().jwks_refresh_secs
    )]
    pub jwks_refresh_secs: u64,
    /// With a JWKS URL: shortest time between two fetches caused by unknown `kid`s.
    #[arg(
        long = "jwt-jwks-min-refresh-secs",
        env = "MCRT_JWT_JWKS_MIN_REFRESH_SECS",
        default_value_t = JwtConfig::default().jwks_min_refresh_secs
    )]
    pub jwks_min_refresh_secs: u64,
    /// With a JWKS URL: limit on one fetch, in milliseconds.
    #[arg(
        long = "jwt-jwks-timeout-ms",
        env = "MCRT_JWT_JWKS_TIMEOUT_MS",
        default_value_t = JwtConfig::default().jwks_timeout_ms
    )]
    pub jwks_timeout_ms: u64,
    /// With an `https://` JWKS URL: PEM file of the authorities to trust instead of the
    /// public roots.
    #[arg(long = "jwt-jwks-ca", env = "MCRT_JWT_JWKS_CA")]
    pub jwks_ca_file: Option<String>,
    /// Tokens must carry this `iss`.
    #[arg(long = "jwt-issuer", env = "MCRT_JWT_ISSUER")]
    pub issuer: Option<String>,
    /// Tokens' `aud` must contain this.
    #[arg(long = "jwt-audience", env = "MCRT_JWT_AUDIENCE")]
    pub audience: Option<String>,
    /// Clock skew tolerated on `exp` / `nbf`, in seconds.
    #[arg(
        long = "jwt-leeway-secs",
        env = "MCRT_JWT_LEEWAY_SECS",
        default_value_t = 0
    )]
    pub leeway_secs: u64,
}

impl JwtArgs {
    /// The settings, or exits naming the flag's file that could not be used.
    pub fn settings(&self) -> JwtSettings {
        let config = JwtConfig {
            public_keys: self.public_keys.iter().map(|arg| public_key(arg)).collect(),
            jwks: self.jwks.clone(),
            jwks_refresh_secs: self.jwks_refresh_secs.max(1),
            jwks_min_refresh_secs: self.jwks_min_refresh_secs,
            jwks_timeout_ms: self.jwks_timeout_ms.max(1),
            jwks_ca_file: self.jwks_ca_file.clone(),
            issuer: self.issuer.clone(),
            audience: self.audience.clone(),
            leeway_secs: self.leeway_secs,
            ..JwtConfig::default()
        };
        config.settings().unwrap_or_else(|error| {
            eprintln!("--jwt-public-key / --jwt-jwks: {error}");
            std::process::exit(1);
        })
    }
}

/// `FILE`, or `KID=FILE` when the part before the first `=` is not itself a path.
fn public_key(arg: &str) -> PublicKey {
    match arg.split_once('=') {
        Some((kid, path)) if !kid.is_empty() && !kid.contains(['/', '\\']) => PublicKey::WithKid {
            pem: path.to_owned(),
            kid: kid.to_owned(),
        },
        _ => PublicKey::Pem(arg.to_owned()),
    }
}
