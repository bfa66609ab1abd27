//! How binary attachments travel as JSON (a host call in the HTTP API and on the
//! broker, a parked connection's frames handed to another node):
//! a list of base64 strings (standard alphabet, padded). This module must not check
//! placeholders: the call's `check` does. Guarded by `call::tests`.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD as BASE64;
use bytes::Bytes;
use serde::{Deserialize, Deserializer, Serializer};

/// Writes the attachments as base64 strings.
pub(crate) fn serialize<S: Serializer>(list: &[Bytes], serializer: S) -> Result<S::Ok, S::Error> {
    serializer.collect_seq(list.iter().map(|data| BASE64.encode(data)))
}

/// Reads base64 strings back into attachments; invalid base64 is refused.
pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Vec<Bytes>, D::Error> {
    let list = Vec::<String>::deserialize(deserializer)?;
    list.into_iter()
        .map(|text| {
            BASE64
                .decode(text)
                .map(Bytes::from)
                .map_err(|_| serde::de::Error::custom("attachments must be base64 strings"))
        })
        .collect()
}
