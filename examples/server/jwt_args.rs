//! The server's JWT flags beyond `--jwt-secret`: public keys, a JWKS file, issuer,
//! audience, leeway. They fill the schema's `jwt` section ([`JwtConfig`]), so the files
//! are read and checked by the same code as for C, Python and Node.

use microcoaster_realtime::auth::JwtSettings;
use microcoaster_realtime::config::JwtConfig;

/// JWT keys and checks (flattened into the server's arguments).
#[derive(clap::Args, Debug)]
pub struct JwtArgs {
    /// RS256 / ES256 / EdDSA public key (PEM file); repeat for several keys.
    #[arg(
        long = "jwt-public-key",
        env = "MCRT_JWT_PUBLIC_KEYS",
        value_delimiter = ','
    )]
    pub public_keys: Vec<String>,
    /// A JWKS document (file path); tokens choose its keys by `kid`.
    #[arg(long = "jwt-jwks", env = "MCRT_JWT_JWKS")]
    pub jwks: Option<String>,
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
            public_keys: self.public_keys.clone(),
            jwks: self.jwks.clone(),
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
