//! Entry points shared by the cargo-fuzz targets in `fuzz/` and the corpus replay test
//! (`tests/fuzz_corpora.rs`), so CI replays every checked-in input without cargo-fuzz.
//!
//! Each function feeds arbitrary bytes to one parser and checks the properties that
//! must hold for any input (no panic; what decodes re-encodes to an equal value). This
//! module must not be used by the library itself.

use serde_json::Value;

use crate::auth::AuthRequest;
use crate::protocol::native;

/// The native-protocol frame decoder: never panics; a decoded frame re-encodes and
/// decodes to the same frame.
pub fn native_frame(data: &[u8]) {
    if let Ok(frame) = native::decode(data, 64 * 1024) {
        let bytes = native::encode_event(&frame.event, &frame.data);
        let again = native::decode(bytes.as_bytes(), usize::MAX).expect("an encoded frame decodes");
        assert_eq!(again, frame);
    }
}

/// The `client:authenticate` payload parser: never panics on any JSON value.
pub fn auth_payload(data: &[u8]) {
    if let Ok(value) = serde_json::from_slice::<Value>(data)
        && let Ok(request) = AuthRequest::parse(&value)
    {
        assert_eq!(request.raw, value);
    }
}
