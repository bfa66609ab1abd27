//! The host → clients API: the seed's twelve `emit_*` calls plus `emit_to_user` /
//! `emit_to_admins`. Each decides change in the store under the emit lock and hands its
//! events to `deliver.rs`; none resolves audiences or encodes frames itself.

#[allow(clippy::wildcard_imports)]
use super::*;

use super::cluster::{Shared, field};

/// A user id argument: text or a number (the seed uses `userId: 123`).
#[derive(Debug, Clone)]
pub enum IdArg {
    /// A textual id.
    Text(String),
    /// A numeric id, sent as its decimal string.
    Number(i64),
    /// A JSON value (string or integer).
    Json(Value),
}

impl IdArg {
    pub(super) fn to_user_id(&self) -> Result<UserId, IdError> {
        match self {
            Self::Text(text) => UserId::new(text),
            Self::Number(n) => UserId::from_json(&json!(n)),
            Self::Json(value) => UserId::from_json(value),
        }
    }

    pub(super) fn to_json(&self) -> Value {
        match self {
            Self::Text(text) => json!(text),
            Self::Number(n) => json!(n),
            Self::Json(value) => value.clone(),
        }
    }
}

impl From<&str> for IdArg {
    fn from(text: &str) -> Self {
        Self::Text(text.to_owned())
    }
}
impl From<String> for IdArg {
    fn from(text: String) -> Self {
        Self::Text(text)
    }
}
impl From<&UserId> for IdArg {
    fn from(id: &UserId) -> Self {
        Self::Text(id.as_str().to_owned())
    }
}
impl From<i64> for IdArg {
    fn from(n: i64) -> Self {
        Self::Number(n)
    }
}
impl From<i32> for IdArg {
    fn from(n: i32) -> Self {
        Self::Number(n.into())
    }
}
impl From<u32> for IdArg {
    fn from(n: u32) -> Self {
        Self::Number(n.into())
    }
}
impl From<&Value> for IdArg {
    fn from(value: &Value) -> Self {
        Self::Json(value.clone())
    }
}
impl From<Value> for IdArg {
    fn from(value: Value) -> Self {
        Self::Json(value)
    }
}

pub(super) fn user_view(id: &UserId, role: Role, profile: &Map<String, Value>) -> Value {
    let mut view = profile.clone();
    view.insert("userId".into(), json!(id));
    view.insert("role".into(), json!(role.as_str()));
    Value::Object(view)
}

pub(super) fn check_event_name(name: &str) -> Result<(), HubError> {
    if name.is_empty() || name.len() > 128 || name.chars().any(char::is_control) {
        return Err(HubError::InvalidEventName(format!(
            "{name:?}: 1 to 128 bytes, no control characters"
        )));
    }
    Ok(())
}

pub(super) fn check_host_event(name: &str) -> Result<(), HubError> {
    check_event_name(name)?;
    if event::is_reserved(name) || name == event::CLIENT_AUTHENTICATE || name == event::CLIENT_PAGE
    {
        return Err(HubError::ReservedEvent(name.to_owned()));
    }
    Ok(())
}

impl Hub {
    // ----- host → clients --------------------------------------------------------

    /// A module came online (seed: `emitModuleOnline(id, info)`); `info` is
    /// `{userId, name?, type?, …}` (`userId` required the first time a module is seen).
    /// Sends `module:status:changed` unless it was already online.
    pub fn emit_module_online(
        &self,
        module_id: &str,
        info: &Value,
    ) -> Result<EmitOutcome, HubError> {
        self.module_status("module_online", module_id, info, true)
    }

    /// A module went offline (seed: `emitModuleOffline(id, info)`). Sends
    /// `module:status:changed` unless it was already offline (a module never seen is
    /// recorded as offline and nothing is sent).
    pub fn emit_module_offline(
        &self,
        module_id: &str,
        info: &Value,
    ) -> Result<EmitOutcome, HubError> {
        self.module_status("module_offline", module_id, info, false)
    }

    pub(super) fn module_status(
        &self,
        call: &'static str,
        module_id: &str,
        info: &Value,
        online: bool,
    ) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            ModuleId::validate(module_id)?;
            self.confirm_restored(module_id);
            let fields = ModuleFields::parse("info", info)?;
            let mut guard = self.lock()?;
            let owner = fields.owner.as_ref().map_or("", UserId::as_str);
            let claim = [
                field("online", if online { "1" } else { "0" }),
                field("owner", owner),
            ];
            let claim = if owner.is_empty() {
                &claim[..1]
            } else {
                &claim[..]
            };
            let shared = self.claim(&mut guard, || format!("module:{module_id}:status"), claim);
            if shared == Shared::Unchanged
                || shared == Shared::Local
                    && guard
                        .store
                        .is_unchanged_online(module_id, fields.owner.as_ref(), online)
            {
                return Ok((None, guard));
            }
            let module = ModuleId::new(module_id)?;
            let now = now_ms();
            let record = if shared == Shared::Changed {
                guard.store.set_online(&module, &fields, online, now)?;
                guard.store.module(module_id)
            } else {
                guard.store.set_online(&module, &fields, online, now)?
            };
            let Some(record) = record else {
                return Ok((None, guard));
            };
            self.save(|db| db.save_module(record));
            let mut payload = record.extra.clone();
            payload.insert("moduleId".into(), json!(record.id));
            payload.insert("online".into(), json!(online));
            payload.insert("userId".into(), json!(record.owner));
            payload.insert("name".into(), json!(record.name));
            payload.insert("type".into(), json!(record.kind));
            payload.insert("lastChange".into(), json!(record.last_change));
            payload.insert("timestamp".into(), json!(now));
            let event = Event::new(
                event::MODULE_STATUS_CHANGED,
                Value::Object(payload),
                Audience::User {
                    user: record.owner.clone(),
                    except_session: None,
                },
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call,
                user: None,
                module: self.audited_module(module_id),
            },
            || json!({"moduleId": module_id, "info": info}),
            result,
        )
    }

    /// A module was added (seed: `emitModuleAdded(module)`); `module` has `id` or
    /// `moduleId`, `userId`, and any other fields. Sends `user:module:added` to the owner
    /// and `admin:module:added` to admins, unless it was already added.
    pub fn emit_module_added(&self, module: &Value) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let (id, fields) = input::module_object(module)?;
            let online = match input::object("module", module)?.get("online") {
                None | Some(Value::Null) => None,
                Some(Value::Bool(online)) => Some(*online),
                Some(other) => {
                    return Err(HubError::Input(InputError::WrongType {
                        field: "online",
                        expected: "a boolean",
                        found: crate::ids::json_type(other),
                    }));
                }
            };
            let mut guard = self.lock()?;
            let shared = self.claim(
                &mut guard,
                || format!("module:{id}:exists"),
                &[field("added", "1")],
            );
            if shared == Shared::Unchanged {
                return Ok((None, guard));
            }
            let now = now_ms();
            let record = if shared == Shared::Changed {
                guard.store.add_module(&id, &fields, online, now)?;
                guard.store.module(id.as_str())
            } else {
                guard.store.add_module(&id, &fields, online, now)?
            };
            let Some(record) = record else {
                return Ok((None, guard));
            };
            self.save(|db| db.save_module(record));
            let view = record.to_json();
            let owner = record.owner.clone();
            let events = vec![
                Event::new(
                    event::USER_MODULE_ADDED,
                    object(vec![("module", view.clone())], now),
                    Audience::User {
                        user: owner,
                        except_session: None,
                    },
                ),
                Event::new(
                    event::ADMIN_MODULE_ADDED,
                    object(vec![("module", view)], now),
                    Audience::Admins,
                ),
            ];
            Ok((Some(events), guard))
        })();
        self.finish(
            Emission {
                call: "module_added",
                user: None,
                module: self.audited(|| input::module_object(module).ok().map(|(id, _)| id)),
            },
            || module.clone(),
            result,
        )
    }

    /// A module was removed (seed: `emitModuleRemoved(module)`). Sends
    /// `user:module:removed` to the owner and `admin:module:removed` to admins, unless
    /// the module is unknown.
    pub fn emit_module_removed(&self, module: &Value) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let (id, fields) = input::module_object(module)?;
            let mut guard = self.lock()?;
            // A removed module starts afresh if it is added again: its shared status and
            // telemetry are cleared with it (the claim's `clear` keys).
            let shared = self.claim_clearing(
                &mut guard,
                || format!("module:{id}:exists"),
                &[field("added", "0")],
                || {
                    vec![
                        format!("module:{id}:status"),
                        format!("module:{id}:telemetry"),
                    ]
                },
            );
            if shared == Shared::Unchanged {
                return Ok((None, guard));
            }
            let Some(record) = guard.store.remove_module(&id, fields.owner.as_ref())? else {
                return Ok((None, guard));
            };
            self.save(|db| db.remove_module(&id));
            let now = now_ms();
            let mut view = record.to_json();
            if let Value::Object(map) = &mut view {
                map.insert("online".into(), json!(false));
            }
            let events = vec![
                Event::new(
                    event::USER_MODULE_REMOVED,
                    object(vec![("module", view.clone())], now),
                    Audience::User {
                        user: record.owner,
                        except_session: None,
                    },
                ),
                Event::new(
                    event::ADMIN_MODULE_REMOVED,
                    object(vec![("module", view)], now),
                    Audience::Admins,
                ),
            ];
            Ok((Some(events), guard))
        })();
        self.finish(
            Emission {
                call: "module_removed",
                user: None,
                module: self.audited(|| input::module_object(module).ok().map(|(id, _)| id)),
            },
            || module.clone(),
            result,
        )
    }

    /// New telemetry for a known module (seed: `emitTelemetryUpdate(id, t)`). Sends
    /// `module:telemetry:updated` to the owner unless equal to the last value; a slow
    /// connection keeps only the latest telemetry per module.
    pub fn emit_telemetry_update(
        &self,
        module_id: &str,
        telemetry: &Value,
    ) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            ModuleId::validate(module_id)?;
            let mut guard = self.lock()?;
            let canonical = self.canonical(telemetry);
            let shared = self.claim(
                &mut guard,
                || format!("module:{module_id}:telemetry"),
                &[field("value", &canonical)],
            );
            if shared == Shared::Unchanged {
                return Ok((None, guard));
            }
            let now = now_ms();
            let record = if shared == Shared::Changed {
                guard.store.set_telemetry(module_id, telemetry, now)?;
                guard.store.module(module_id)
            } else {
                guard.store.set_telemetry(module_id, telemetry, now)?
            };
            let Some(record) = record else {
                return Ok((None, guard));
            };
            self.save(|db| db.save_module(record));
            let mut event = Event::new(
                event::MODULE_TELEMETRY_UPDATED,
                object(
                    vec![
                        ("moduleId", json!(record.id)),
                        ("telemetry", telemetry.clone()),
                    ],
                    now,
                ),
                Audience::User {
                    user: record.owner.clone(),
                    except_session: None,
                },
            );
            event.conflation_key = Some(record.id.clone());
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "telemetry_update",
                user: None,
                module: self.audited_module(module_id),
            },
            || json!({"moduleId": module_id, "telemetry": telemetry}),
            result,
        )
    }

    /// A user logged in with `session_id` (seed: `emitUserLoggedIn(user, sid)`); `user`
    /// has `id`/`userId`, `role`/`userType` (default `user`) and profile fields. Registers
    /// the session for the session authenticator, then sends `user:session:started` to
    /// the user's other sessions and `admin:user:logged_in` to admins. The same session
    /// logging in twice is `Unchanged`.
    pub fn emit_user_logged_in(
        &self,
        user: &Value,
        session_id: &str,
    ) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let (id, role, profile) = input::user_object(user)?;
            let session = SessionId::new(session_id)?;
            let mut guard = self.lock()?;
            let shared = self.claim(
                &mut guard,
                || format!("session:{session}"),
                &[
                    field("user", id.as_str()),
                    field("role", role.as_str()),
                    field("live", "1"),
                ],
            );
            if shared == Shared::Unchanged {
                return Ok((None, guard));
            }
            guard.store.remember_profile(&id, &profile);
            if !self
                .inner
                .auth
                .sessions
                .log_in(session.clone(), id.clone(), role)
                && shared != Shared::Changed
            {
                return Ok((None, guard));
            }
            self.save(|db| db.save_session(&session, &id, role));
            self.save_user(&guard.store, &id);
            let now = now_ms();
            let events = vec![
                Event::new(
                    event::USER_SESSION_STARTED,
                    object(vec![("userId", json!(id))], now),
                    Audience::User {
                        user: id.clone(),
                        except_session: Some(session),
                    },
                ),
                Event::new(
                    event::ADMIN_USER_LOGGED_IN,
                    object(vec![("user", user_view(&id, role, &profile))], now),
                    Audience::Admins,
                ),
            ];
            Ok((Some(events), guard))
        })();
        self.finish(
            Emission {
                call: "user_logged_in",
                user: self.audited_user(user),
                module: None,
            },
            || json!({"user": user, "sessionId": session_id}),
            result,
        )
    }

    /// A session logged out (seed: `emitUserLoggedOut(user, sid)`). Sends
    /// `user:session:ended` to that session's connections, then closes them (reason
    /// `logged_out`), and `admin:user:logged_out` to admins. The session id is refused
    /// by both built-in authenticators afterwards. A session that is neither logged in
    /// nor connected is `Unchanged`.
    pub fn emit_user_logged_out(
        &self,
        user: &Value,
        session_id: &str,
    ) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let (id, role, profile) = input::user_object(user)?;
            let session = SessionId::new(session_id)?;
            let mut guard = self.lock()?;
            let shared = self.claim(
                &mut guard,
                || format!("session:{session}"),
                &[field("live", "0")],
            );
            if shared == Shared::Unchanged {
                return Ok((None, guard));
            }
            let was_live = self
                .inner
                .auth
                .sessions
                .log_out(&session, &id)
                .map_err(|owner| HubError::SessionMismatch { owner })?;
            // Saved even when it was not live: a JWT may carry this sid, and the id must
            // stay refused after a restart.
            self.save(|db| db.remove_session(&session));
            let now = now_ms();
            let ended = Event::new(
                event::USER_SESSION_ENDED,
                object(vec![("userId", json!(id))], now),
                Audience::Session {
                    user: id.clone(),
                    session: session.clone(),
                },
            );
            if self.inner.shared {
                guard.delivered.push(ended.clone());
            }
            let reached = self.publish(ended);
            let closing = self.inner.registry.end_session(&id, &session);
            for queue in &closing {
                if queue.close(CloseReason::LoggedOut) {
                    self.audit_close(queue.id(), CloseReason::LoggedOut, Some(id.clone()));
                }
            }
            if !was_live && closing.is_empty() && shared != Shared::Changed {
                return Ok((None, guard));
            }
            let admins = Event::new(
                event::ADMIN_USER_LOGGED_OUT,
                object(vec![("user", user_view(&id, role, &profile))], now),
                Audience::Admins,
            );
            if self.inner.shared {
                guard.delivered.push(admins.clone());
            }
            let reached = reached + self.publish(admins);
            Ok((Some(reached), guard))
        })();
        let result = result.map(|(reached, guard)| (reached.map(Published::Done), guard));
        self.finish_published(
            Emission {
                call: "user_logged_out",
                user: self.audited_user(user),
                module: None,
            },
            || json!({"user": user, "sessionId": session_id}),
            result,
        )
    }

    /// A profile changed (seed: `emitUserProfileUpdated(old, new)`). Sends
    /// `user:profile:updated {userId, changes}` to the user's connections with only the
    /// fields that differ from the stored profile (or from `old` the first time);
    /// `Unchanged` when none differs.
    pub fn emit_user_profile_updated(
        &self,
        old: &Value,
        new: &Value,
    ) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let new_map = input::object("new", new)?;
            let old_map = input::object("old", old)?;
            let id = input::user_id(new_map).or_else(|_| input::user_id(old_map))?;
            let old_profile = input::profile_fields(old_map);
            let new_profile = input::profile_fields(new_map);
            let mut guard = self.lock()?;
            let shared = self.claim_profile(&mut guard, &id, &old_profile, &new_profile);
            let mut changes = guard.store.update_profile(&id, &old_profile, &new_profile);
            if let Some(fields) = shared {
                changes = fields
                    .iter()
                    .filter_map(|name| Some((name.clone(), new_profile.get(name)?.clone())))
                    .collect();
            }
            if changes.is_empty() {
                return Ok((None, guard));
            }
            self.save_user(&guard.store, &id);
            let now = now_ms();
            let event = Event::new(
                event::USER_PROFILE_UPDATED,
                object(
                    vec![("userId", json!(id)), ("changes", Value::Object(changes))],
                    now,
                ),
                Audience::User {
                    user: id,
                    except_session: None,
                },
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "user_profile_updated",
                user: None,
                module: None,
            },
            || json!({"old": old, "new": new}),
            result,
        )
    }

    /// A new account (seed: `emitUserRegistered(user)`). Sends `admin:user:registered
    /// {user}` to admins unless that user was already registered.
    pub fn emit_user_registered(&self, user: &Value) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let (id, role, profile) = input::user_object(user)?;
            let mut guard = self.lock()?;
            let shared = self.claim(
                &mut guard,
                || format!("user:{id}:registered"),
                &[field("registered", "1")],
            );
            if shared == Shared::Unchanged
                || !guard.store.register_user(&id, &profile) && shared != Shared::Changed
            {
                return Ok((None, guard));
            }
            self.save_user(&guard.store, &id);
            let event = Event::new(
                event::ADMIN_USER_REGISTERED,
                object(vec![("user", user_view(&id, role, &profile))], now_ms()),
                Audience::Admins,
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "user_registered",
                user: self.audited_user(user),
                module: None,
            },
            || user.clone(),
            result,
        )
    }

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
