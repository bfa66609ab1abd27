//! The seed's twelve emits (and `emit_to_user` / `emit_to_admins` / `emit_to_everyone`)
//! over the C ABI.
//! Every payload is UTF-8 JSON with an explicit length; ids that the seed gives as
//! numbers or strings (`userId`, `adminId`) cross as JSON values; module ids, session
//! ids, event names and messages as plain UTF-8. Optional JSON arguments (`info_json`,
//! `details_json`, `data_json`) may be NULL, meaning JSON `null` (no info, no details, no
//! data), as an omitted argument does in Rust, Python and Node. Each writes what happened
//! to an optional `McrtOutcome *out` (NULL: not wanted). Each function's doc is the
//! call's one doc (`docs/calls/<call>.md`, written here by `scripts/call-docs`): its
//! argument `x` is the parameter `x_json` (or `x`) of the function.
//!
//! Threads: any; frames for host connections are handed to the frame callback on the
//! calling thread before the emit returns. Not from inside a before-emit filter or the
//! frame/close callbacks (`MCRT_STATUS_REENTRANT`).
//!
//! Files, as in `hub/calls/`: `emit/modules.rs`, `emit/users.rs`, `emit/admin.rs`; this
//! file keeps the shared conversion of the outcome. This module must not decide
//! anything: it converts arguments and calls the hub. Guarded by `tests/c/test_ffi.c`
//! and `scripts/call-docs --check` (the docs match `docs/calls/`).

mod admin;
mod modules;
mod users;

// Each call's path stays `ffi::emit::mcrt_emit_<call>`.
pub use admin::{
    mcrt_emit_admin_action, mcrt_emit_maintenance_mode, mcrt_emit_stats_update,
    mcrt_emit_to_admins, mcrt_emit_to_everyone, mcrt_emit_to_user,
};
pub use modules::{
    mcrt_emit_module_added, mcrt_emit_module_offline, mcrt_emit_module_online,
    mcrt_emit_module_removed, mcrt_emit_telemetry_update,
};
pub use users::{
    mcrt_emit_user_logged_in, mcrt_emit_user_logged_out, mcrt_emit_user_profile_updated,
    mcrt_emit_user_registered,
};

use super::{FfiError, McrtHub, McrtOutcome, McrtStatus, args, hub_entry};
use crate::hub::{EmitOutcome, Hub};

/// Runs `call` on the hub behind `hub` and writes its outcome to a non-null `out`.
pub(super) fn emit(
    hub: *const McrtHub,
    out: *mut McrtOutcome,
    call: impl FnOnce(&Hub) -> Result<EmitOutcome, FfiError>,
) -> McrtStatus {
    hub_entry(hub, |hub| {
        let outcome = call(&hub.hub)?;
        // SAFETY: a non-null `out` is writable per the caller's contract.
        unsafe { args::write_optional(out, outcome.into()) };
        Ok(())
    })
}
