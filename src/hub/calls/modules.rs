//! The host calls about modules: `module_online` / `module_offline` ([`Status`]),
//! `module_added` ([`Added`]), `module_removed` ([`Removed`]) and `telemetry_update`.
//! Each changes one module's record; the events go to the owner (and admins for added
//! and removed).

use serde_json::{Value, json};

use crate::call::{ModuleStatus, Step, Telemetry};
use crate::event::{self, Audience, Event, now_ms, object};
use crate::hub::cluster::{Shared, field};
use crate::hub::run::{Apply, Audited, Mode};
use crate::hub::{Claimed, Hub, HubError};
use crate::ids::{ModuleId, UserId};
use crate::input::{self, InputError, ModuleFields};
use crate::store::{ModuleRecord, Store, StoreError};

/// `module_online` (`online`) or `module_offline`.
pub(in crate::hub) struct Status<'c, 'a> {
    pub(in crate::hub) body: &'c ModuleStatus<'a>,
    pub(in crate::hub) online: bool,
}

/// A module call's checked arguments and the time it was applied.
pub(in crate::hub) struct ModuleArgs {
    fields: ModuleFields,
    now: u64,
}

fn owner_event(name: &'static str, payload: Value, owner: &UserId) -> Event {
    Event::new(
        name,
        payload,
        Audience::User {
            user: owner.clone(),
            except_session: None,
        },
    )
}

impl Apply for Status<'_, '_> {
    type Args = ModuleArgs;

    fn check(&self, hub: &Hub) -> Result<ModuleArgs, HubError> {
        let id = &*self.body.module_id;
        ModuleId::validate(id)?;
        hub.confirm_restored(id);
        Ok(ModuleArgs {
            fields: ModuleFields::parse("info", &self.body.info)?,
            now: 0,
        })
    }

    fn claim(
        &self,
        args: &mut ModuleArgs,
        hub: &Hub,
        claimed: &mut Claimed,
    ) -> Result<Shared, HubError> {
        let owner = args.fields.owner.as_ref().map_or("", UserId::as_str);
        let claim = [
            field("online", if self.online { "1" } else { "0" }),
            field("owner", owner),
        ];
        let claim = if owner.is_empty() {
            &claim[..1]
        } else {
            &claim[..]
        };
        let key = || format!("module:{}:status", self.body.module_id);
        Ok(hub.claim(claimed, key, claim))
    }

    fn apply(
        &self,
        args: &mut ModuleArgs,
        hub: &Hub,
        store: &mut Store,
        mode: Mode,
    ) -> Result<bool, HubError> {
        let id = &*self.body.module_id;
        // The allocation-free answer of the most frequent unchanged call.
        if mode == Mode::Local
            && store.is_unchanged_online(id, args.fields.owner.as_ref(), self.online)
        {
            return Ok(false);
        }
        let module = ModuleId::new(id)?;
        args.now = now_ms();
        let changed = store
            .set_online(&module, &args.fields, self.online, args.now)?
            .is_some();
        Ok(save_module(hub, store, id, changed, mode))
    }

    fn steps(&self, args: ModuleArgs, store: &Store) -> Vec<Step> {
        let Some(record) = store.module(&self.body.module_id) else {
            return Vec::new();
        };
        let mut payload = record.extra.clone();
        payload.insert("moduleId".into(), json!(record.id));
        payload.insert("online".into(), json!(self.online));
        payload.insert("userId".into(), json!(record.owner));
        payload.insert("name".into(), json!(record.name));
        payload.insert("type".into(), json!(record.kind));
        payload.insert("lastChange".into(), json!(record.last_change));
        payload.insert("timestamp".into(), json!(args.now));
        let name = event::MODULE_STATUS_CHANGED;
        vec![Step::Event(owner_event(
            name,
            Value::Object(payload),
            &record.owner,
        ))]
    }

    fn audited(&self) -> Audited {
        (None, ModuleId::new(&self.body.module_id).ok())
    }
}

/// Saves a module's record when it changed or when the decision is not the local
/// store's; returns whether the call goes on to its steps.
fn save_module(hub: &Hub, store: &Store, id: &str, changed: bool, mode: Mode) -> bool {
    if !changed && mode == Mode::Local {
        return false;
    }
    if let Some(record) = store.module(id) {
        hub.save(|db| db.save_module(record));
    }
    true
}

/// `module_added`: the module object.
pub(in crate::hub) struct Added<'c>(pub(in crate::hub) &'c Value);

/// An added or removed module's checked arguments.
pub(in crate::hub) struct ObjectArgs {
    id: ModuleId,
    fields: ModuleFields,
    online: Option<bool>,
    /// The removed record (`module_removed`).
    removed: Option<ModuleRecord>,
}

fn module_object(module: &Value) -> Result<ObjectArgs, HubError> {
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
    Ok(ObjectArgs {
        id,
        fields,
        online,
        removed: None,
    })
}

fn added_or_removed(
    name: (&'static str, &'static str),
    record: &ModuleRecord,
    view: Value,
) -> Vec<Step> {
    let now = now_ms();
    vec![
        Step::Event(owner_event(
            name.0,
            object(vec![("module", view.clone())], now),
            &record.owner,
        )),
        Step::Event(Event::new(
            name.1,
            object(vec![("module", view)], now),
            Audience::Admins,
        )),
    ]
}

impl Apply for Added<'_> {
    type Args = ObjectArgs;

    fn check(&self, _hub: &Hub) -> Result<ObjectArgs, HubError> {
        module_object(self.0)
    }

    fn claim(
        &self,
        args: &mut ObjectArgs,
        hub: &Hub,
        claimed: &mut Claimed,
    ) -> Result<Shared, HubError> {
        let key = || format!("module:{}:exists", args.id);
        Ok(hub.claim(claimed, key, &[field("added", "1")]))
    }

    fn apply(
        &self,
        args: &mut ObjectArgs,
        hub: &Hub,
        store: &mut Store,
        mode: Mode,
    ) -> Result<bool, HubError> {
        let changed = store
            .add_module(&args.id, &args.fields, args.online, now_ms())?
            .is_some();
        Ok(save_module(hub, store, args.id.as_str(), changed, mode))
    }

    fn steps(&self, args: ObjectArgs, store: &Store) -> Vec<Step> {
        let Some(record) = store.module(args.id.as_str()) else {
            return Vec::new();
        };
        let names = (event::USER_MODULE_ADDED, event::ADMIN_MODULE_ADDED);
        added_or_removed(names, record, record.to_json())
    }

    fn audited(&self) -> Audited {
        (None, input::module_object(self.0).ok().map(|(id, _)| id))
    }
}

/// `module_removed`: the module object.
pub(in crate::hub) struct Removed<'c>(pub(in crate::hub) &'c Value);

impl Apply for Removed<'_> {
    type Args = ObjectArgs;

    fn check(&self, _hub: &Hub) -> Result<ObjectArgs, HubError> {
        let (id, fields) = input::module_object(self.0)?;
        Ok(ObjectArgs {
            id,
            fields,
            online: None,
            removed: None,
        })
    }

    fn claim(
        &self,
        args: &mut ObjectArgs,
        hub: &Hub,
        claimed: &mut Claimed,
    ) -> Result<Shared, HubError> {
        let id = &args.id;
        // A removed module starts afresh if it is added again: its shared status and
        // telemetry are cleared with it.
        let clear = || {
            vec![
                format!("module:{id}:status"),
                format!("module:{id}:telemetry"),
            ]
        };
        let key = || format!("module:{id}:exists");
        Ok(hub.claim_clearing(claimed, key, &[field("added", "0")], clear))
    }

    fn apply(
        &self,
        args: &mut ObjectArgs,
        hub: &Hub,
        store: &mut Store,
        mode: Mode,
    ) -> Result<bool, HubError> {
        let record = match store.remove_module(&args.id, args.fields.owner.as_ref())? {
            Some(record) => record,
            // Removed cluster-wide although this node's mirror never saw the module (it
            // was added on another node an instant ago): the view comes from the
            // argument, which then must name the owner.
            None if mode == Mode::Forced => {
                let owner = args
                    .fields
                    .owner
                    .clone()
                    .ok_or_else(|| StoreError::MissingOwner(args.id.clone()))?;
                let mut record = ModuleRecord::new(args.id.clone(), owner, now_ms());
                record.merge(&args.fields);
                record
            }
            None => return Ok(false),
        };
        hub.save(|db| db.remove_module(&args.id));
        args.removed = Some(record);
        Ok(true)
    }

    fn steps(&self, args: ObjectArgs, _store: &Store) -> Vec<Step> {
        let Some(record) = args.removed else {
            return Vec::new();
        };
        let mut view = record.to_json();
        if let Value::Object(map) = &mut view {
            map.insert("online".into(), json!(false));
        }
        let names = (event::USER_MODULE_REMOVED, event::ADMIN_MODULE_REMOVED);
        added_or_removed(names, &record, view)
    }

    fn audited(&self) -> Audited {
        (None, input::module_object(self.0).ok().map(|(id, _)| id))
    }
}

/// A telemetry call's arguments as the skeleton carries them: when it was applied and,
/// once a change is applied, the module's id and owner taken from the record
/// `set_telemetry` returned (looking the record up again for the event cost about 6%
/// of a changed emit's instructions).
pub(in crate::hub) struct TelemetryArgs {
    now: u64,
    target: Option<(ModuleId, UserId)>,
}

impl Apply for Telemetry<'_> {
    type Args = TelemetryArgs;

    fn check(&self, _hub: &Hub) -> Result<TelemetryArgs, HubError> {
        ModuleId::validate(&self.module_id)?;
        Ok(TelemetryArgs {
            now: 0,
            target: None,
        })
    }

    fn claim(
        &self,
        _args: &mut TelemetryArgs,
        hub: &Hub,
        claimed: &mut Claimed,
    ) -> Result<Shared, HubError> {
        let canonical = hub.canonical(&self.telemetry);
        let key = || format!("module:{}:telemetry", self.module_id);
        Ok(hub.claim(claimed, key, &[field("value", &canonical)]))
    }

    fn apply(
        &self,
        args: &mut TelemetryArgs,
        hub: &Hub,
        store: &mut Store,
        mode: Mode,
    ) -> Result<bool, HubError> {
        args.now = now_ms();
        if let Some(record) = store.set_telemetry(&self.module_id, &self.telemetry, args.now)? {
            hub.save(|db| db.save_module(record));
            args.target = Some((record.id.clone(), record.owner.clone()));
            return Ok(true);
        }
        Ok(save_module(hub, store, &self.module_id, false, mode))
    }

    fn steps(&self, args: TelemetryArgs, store: &Store) -> Vec<Step> {
        // Unchanged locally but changed for the cluster (`Mode::Forced`): the record is
        // read here.
        let target = args.target.or_else(|| {
            store
                .module(&self.module_id)
                .map(|record| (record.id.clone(), record.owner.clone()))
        });
        let Some((id, owner)) = target else {
            return Vec::new();
        };
        let payload = object(
            vec![
                ("moduleId", json!(id)),
                ("telemetry", self.telemetry.as_ref().clone()),
            ],
            args.now,
        );
        let mut event = owner_event(event::MODULE_TELEMETRY_UPDATED, payload, &owner);
        event.conflation_key = Some(id);
        vec![Step::Event(event)]
    }

    fn audited(&self) -> Audited {
        (None, ModuleId::new(&self.module_id).ok())
    }
}
