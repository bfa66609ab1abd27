//! Token minting for the integration tests, in one place: HS256 tokens for users,
//! admins and devices, tokens signed with any algorithm or secret (to be refused), and
//! unsigned `alg: none` tokens. It must not build hubs or connections.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

/// An `exp` one hour from now, in seconds.
pub fn future_exp() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        + 3600
}

/// A token with `claims`, signed with `secret` using `algorithm`.
pub fn sign(claims: &Value, secret: &[u8], algorithm: Algorithm) -> String {
    jsonwebtoken::encode(
        &Header::new(algorithm),
        claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("encodable claims")
}

/// A valid HS256 token for `user` with `role`, bound to login session `sid` if given;
/// expires in an hour.
pub fn user_token(secret: &[u8], user: &str, role: &str, sid: Option<&str>) -> String {
    let mut claims = json!({"sub": user, "role": role, "exp": future_exp()});
    if let Some(sid) = sid {
        claims["sid"] = json!(sid);
    }
    sign(&claims, secret, Algorithm::HS256)
}

/// A valid HS256 device credential: role `device`, `sub` the module id, and its owner.
pub fn device_token(secret: &[u8], module: &str, owner: &str) -> String {
    sign(
        &json!({"sub": module, "role": "device", "owner": owner, "exp": future_exp()}),
        secret,
        Algorithm::HS256,
    )
}

/// An unsigned token (`alg: none`) with `claims`, which every hub must refuse.
pub fn unsigned_token(claims: &Value) -> String {
    format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(br#"{"alg":"none","typ":"JWT"}"#),
        URL_SAFE_NO_PAD.encode(claims.to_string())
    )
}
