//! The C ABI's old names, kept as documented aliases of the calls that replaced them so
//! that C code written against them still links: each forwards to its call with the old
//! contract. This module must not do anything the call it forwards to does not. Guarded
//! by `tests/c/test_ffi.c` and `tests/c/test_host.c` (the alias cases).

use std::ffi::c_char;

use super::emit::{self, emit};
use super::{McrtHub, McrtOutcome, McrtStatus, args};

/// Alias of `mcrt_emit_stats_update` with a non-NULL `stats_json`, kept for code written
/// when the stats call was two functions. Same arguments, ownership and threads.
#[unsafe(no_mangle)]
pub unsafe extern "C" fn mcrt_emit_stats_update_with(
    hub: *const McrtHub,
    stats_json: *const c_char,
    len: usize,
    out: *mut McrtOutcome,
) -> McrtStatus {
    if stats_json.is_null() {
        // Keep this form's old contract: the stats are required here.
        return emit(hub, out, |_| Err(args::null("stats_json")));
    }
    // SAFETY: forwarded with the caller's own contract.
    unsafe { emit::mcrt_emit_stats_update(hub, stats_json, len, out) }
}
