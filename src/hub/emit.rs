//! The host → clients API about modules (`emit_module_online` / `_offline` / `_added` /
//! `_removed`, `emit_telemetry_update`) and the argument helpers every emit file shares;
//! users and sessions are in `emit_users.rs`, admins and everyone in `emit_admin.rs`.
//! Each call decides change (in the shared broker when there is one, else the store)
//! under the emit lock and hands its events to `deliver.rs`; none resolves audiences or
//! encodes frames itself.

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
            let record = match guard.store.remove_module(&id, fields.owner.as_ref())? {
                Some(record) => record,
                // Removed cluster-wide although this node's mirror never saw the module
                // (it was added on another node an instant ago): the view comes from the
                // argument, which then must name the owner.
                None if shared == Shared::Changed => {
                    let owner = fields
                        .owner
                        .clone()
                        .ok_or_else(|| StoreError::MissingOwner(id.clone()))?;
                    let mut record = crate::store::ModuleRecord::new(id.clone(), owner, now_ms());
                    record.merge(&fields);
                    record
                }
                None => return Ok((None, guard)),
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
}
