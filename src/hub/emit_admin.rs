//! The host calls for admins and everyone: `emit_stats_update`, `emit_admin_action`,
//! `emit_maintenance_mode`, and the host's own events (`emit_to_user`,
//! `emit_to_admins`). Same rules as `emit.rs`: decide under the emit lock, hand the
//! events to `deliver.rs`.

#[allow(clippy::wildcard_imports)]
use super::*;

use super::cluster::{Shared, field};
use super::emit::{IdArg, check_event_name, check_host_event};

impl Hub {
    /// Asks the stats provider for current stats (seed: `emitStatsUpdate()`) and sends
    /// `admin:stats:updated {stats}` to admins if they differ from the last sent.
    pub fn emit_stats_update(&self) -> Result<EmitOutcome, HubError> {
        let provider = self.inner.stats.as_ref().ok_or(HubError::NoStatsProvider);
        let stats = provider.and_then(|provider| {
            guarded(&self.inner.metrics, "stats_provider", || provider.stats())
                .ok_or_else(|| HubError::StatsProvider("the stats provider panicked".into()))?
                .map_err(HubError::StatsProvider)
        });
        match stats {
            Ok(stats) => self.emit_stats_update_with(&stats),
            Err(error) => {
                self.inner.metrics.emits_failed.increment();
                Err(error)
            }
        }
    }

    /// Sends `admin:stats:updated {stats}` with the given stats (an object) if they
    /// differ from the last sent.
    pub fn emit_stats_update_with(&self, stats: &Value) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            input::object("stats", stats)?;
            let mut guard = self.lock()?;
            let canonical = self.canonical(stats);
            let shared = self.claim(
                &mut guard,
                || "stats".to_owned(),
                &[field("value", &canonical)],
            );
            if shared == Shared::Unchanged
                || !guard.store.set_stats(stats) && shared != Shared::Changed
            {
                return Ok((None, guard));
            }
            self.save(|db| db.save_stats(stats));
            let event = Event::new(
                event::ADMIN_STATS_UPDATED,
                object(vec![("stats", stats.clone())], now_ms()),
                Audience::Admins,
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "stats_update",
                user: None,
                module: None,
            },
            || json!({"stats": stats}),
            result,
        )
    }

    /// An administrator acted (seed: `emitAdminAction(adminId, action, details)`).
    /// Always sends `admin:action {adminId, action, details}` to admins.
    pub fn emit_admin_action(
        &self,
        admin_id: impl Into<IdArg>,
        action: &str,
        details: &Value,
    ) -> Result<EmitOutcome, HubError> {
        let admin_id = admin_id.into();
        let result = (|| {
            let admin = admin_id.to_user_id()?;
            check_event_name(action).map_err(|_| {
                HubError::Input(InputError::WrongType {
                    field: "action",
                    expected: "a non-empty name without control characters",
                    found: "string",
                })
            })?;
            let guard = self.lock()?;
            let event = Event::new(
                event::ADMIN_ACTION,
                object(
                    vec![
                        ("adminId", json!(admin)),
                        ("action", json!(action)),
                        ("details", details.clone()),
                    ],
                    now_ms(),
                ),
                Audience::Admins,
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "admin_action",
                user: admin_id.to_user_id().ok(),
                module: None,
            },
            || json!({"adminId": admin_id.to_json(), "action": action, "details": details}),
            result,
        )
    }

    /// Switches maintenance mode (seed: `emitMaintenanceMode(on, msg, adminId)`). Sends
    /// `system:maintenance {enabled, message, adminId}` to every authenticated
    /// connection, unless already in that state with that message. While on, newly
    /// authenticated connections receive it too.
    pub fn emit_maintenance_mode(
        &self,
        enabled: bool,
        message: &str,
        admin_id: impl Into<IdArg>,
    ) -> Result<EmitOutcome, HubError> {
        let admin_id = admin_id.into();
        let result = (|| {
            let admin = admin_id.to_user_id()?;
            let mut guard = self.lock()?;
            let shared = self.claim(
                &mut guard,
                || "maintenance".to_owned(),
                &[
                    field("enabled", if enabled { "1" } else { "0" }),
                    field("message", message),
                ],
            );
            if shared == Shared::Unchanged
                || !guard.store.set_maintenance(enabled, message) && shared != Shared::Changed
            {
                return Ok((None, guard));
            }
            self.save(|db| db.save_maintenance(guard.store.maintenance()));
            let event = Event::new(
                event::SYSTEM_MAINTENANCE,
                object(
                    vec![
                        ("enabled", json!(enabled)),
                        ("message", json!(message)),
                        ("adminId", json!(admin)),
                    ],
                    now_ms(),
                ),
                Audience::Everyone,
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "maintenance_mode",
                user: admin_id.to_user_id().ok(),
                module: None,
            },
            || json!({"enabled": enabled, "message": message, "adminId": admin_id.to_json()}),
            result,
        )
    }

    /// Sends a host event to every connection of one user (seed: `emitToUser`), for
    /// anything the twelve calls don't cover. Names in a reserved prefix are refused;
    /// object data gets `timestamp`.
    pub fn emit_to_user(
        &self,
        user_id: impl Into<IdArg>,
        event_name: &str,
        data: &Value,
    ) -> Result<EmitOutcome, HubError> {
        let user_id = user_id.into();
        let result = (|| {
            let user = user_id.to_user_id()?;
            check_host_event(event_name)?;
            let guard = self.lock()?;
            let event = Event::new(
                event_name,
                event::with_timestamp(data.clone(), now_ms()),
                Audience::User {
                    user,
                    except_session: None,
                },
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "to_user",
                user: user_id.to_user_id().ok(),
                module: None,
            },
            || json!({"userId": user_id.to_json(), "event": event_name, "data": data}),
            result,
        )
    }

    /// Sends a host event to admin connections (seed: `emitToAdmins`), on every page
    /// unless a route says otherwise.
    pub fn emit_to_admins(&self, event_name: &str, data: &Value) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            check_host_event(event_name)?;
            let guard = self.lock()?;
            let event = Event::new(
                event_name,
                event::with_timestamp(data.clone(), now_ms()),
                Audience::Admins,
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "to_admins",
                user: None,
                module: None,
            },
            || json!({"event": event_name, "data": data}),
            result,
        )
    }
}
