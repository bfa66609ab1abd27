//! The change-detecting state store: modules, users, last stats sent, maintenance.
//!
//! Every mutating method answers *whether anything changed*; the hub emits only then
//! (DESIGN §1 "nothing is sent that did not change"). The store never builds events and
//! never knows who is connected. It lives behind the hub's emit lock, which also gives
//! every event its place in one total order.
//!
//! What counts as a change, guarded by `tests/hub/events.rs` (`*_unchanged` tests):
//! - a module going to the online state it already has: no change;
//! - adding a module that was already added: no change;
//! - removing an unknown module: no change;
//! - telemetry equal (as JSON) to the last value: no change;
//! - a profile update whose fields all equal the stored (or, if none is stored, the old)
//!   values: no change; otherwise only the differing fields are reported;
//! - stats equal to the last sent; maintenance already in that state with that message
//!   (switching off while off is no change, whatever the message).

mod modules;
mod pages;
mod users;

pub use modules::ModuleRecord;
pub use pages::ModulePage;

use std::collections::{BTreeSet, HashMap};

use serde_json::{Map, Value};

use crate::ids::{ModuleId, UserId};
use crate::input::ModuleFields;

/// Why the store refused a change.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StoreError {
    /// The module is not known and the call cannot create it.
    #[error("unknown module {0:?}")]
    UnknownModule(String),
    /// A new module needs an owner (`userId`) so its events can be routed.
    #[error("module {0} is new and has no userId: its owner must be given")]
    MissingOwner(ModuleId),
    /// The call names another owner than the recorded one. Transfer a module by
    /// removing it and adding it again, so neither owner is left with a stale view.
    #[error("module {module} belongs to user {owner}, not {claimed}")]
    OwnerMismatch {
        /// The module.
        module: ModuleId,
        /// Its recorded owner.
        owner: UserId,
        /// The owner the call named.
        claimed: UserId,
    },
}

/// Maintenance mode as last switched.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Maintenance {
    /// Whether maintenance is on.
    pub enabled: bool,
    /// The message shown to users.
    pub message: String,
}

/// The store's maps: every emit looks its id up here, and SipHash (std's default) was
/// the largest single cost of an unchanged emit under callgrind. foldhash is seeded per
/// process, so ids chosen to collide cannot be precomputed.
type IdMap<K, V> = HashMap<K, V, foldhash::fast::RandomState>;

/// The state.
#[derive(Debug, Default)]
pub struct Store {
    modules: IdMap<ModuleId, ModuleRecord>,
    /// Every module id in order, for snapshot pages (`pages.rs`).
    ordered: BTreeSet<ModuleId>,
    by_owner: IdMap<UserId, BTreeSet<ModuleId>>,
    users: IdMap<UserId, users::UserRecord>,
    last_stats: Option<Value>,
    maintenance: Maintenance,
}

impl Store {
    /// Sets a module's online state. A module seen for the first time is recorded
    /// (offline, owned by `fields.owner`, which is then required) before the change is
    /// decided. Returns the record when the state changed.
    pub fn set_online(
        &mut self,
        id: &ModuleId,
        fields: &ModuleFields,
        online: bool,
        now: u64,
    ) -> Result<Option<&ModuleRecord>, StoreError> {
        let record = self.ensure_module(id, fields, now)?;
        record.merge(fields);
        if record.online == online {
            return Ok(None);
        }
        record.online = online;
        record.last_change = now;
        Ok(Some(record))
    }

    /// Whether `id` is already in the `online` state with an owner `claimed` accepts;
    /// the allocation-free fast path of an unchanged emit.
    pub fn is_unchanged_online(&self, id: &str, claimed: Option<&UserId>, online: bool) -> bool {
        self.modules.get(id).is_some_and(|record| {
            record.online == online && claimed.is_none_or(|claimed| *claimed == record.owner)
        })
    }

    /// The module's record, created (offline, not yet added) if it is new; a new module
    /// needs an owner, and a known one refuses a different claimed owner.
    fn ensure_module(
        &mut self,
        id: &ModuleId,
        fields: &ModuleFields,
        now: u64,
    ) -> Result<&mut ModuleRecord, StoreError> {
        if let Some(record) = self.modules.get(id) {
            if let Some(claimed) = &fields.owner
                && *claimed != record.owner
            {
                return Err(StoreError::OwnerMismatch {
                    module: id.clone(),
                    owner: record.owner.clone(),
                    claimed: claimed.clone(),
                });
            }
        } else {
            let owner = fields
                .owner
                .clone()
                .ok_or_else(|| StoreError::MissingOwner(id.clone()))?;
            self.by_owner
                .entry(owner.clone())
                .or_default()
                .insert(id.clone());
            self.ordered.insert(id.clone());
            self.modules
                .insert(id.clone(), ModuleRecord::new(id.clone(), owner, now));
        }
        self.modules
            .get_mut(id)
            .ok_or_else(|| StoreError::UnknownModule(id.to_string()))
    }

    /// Records an added module; returns it unless it was already added.
    pub fn add_module(
        &mut self,
        id: &ModuleId,
        fields: &ModuleFields,
        online: Option<bool>,
        now: u64,
    ) -> Result<Option<&ModuleRecord>, StoreError> {
        let record = self.ensure_module(id, fields, now)?;
        if record.added {
            return Ok(None);
        }
        record.added = true;
        record.merge(fields);
        if let Some(online) = online {
            record.online = online;
        }
        record.last_change = now;
        Ok(Some(record))
    }

    /// Forgets a module; returns its record if it was known. A `claimed` owner other
    /// than the recorded one is refused.
    pub fn remove_module(
        &mut self,
        id: &ModuleId,
        claimed: Option<&UserId>,
    ) -> Result<Option<ModuleRecord>, StoreError> {
        let Some(record) = self.modules.get(id) else {
            return Ok(None);
        };
        if let Some(claimed) = claimed
            && *claimed != record.owner
        {
            return Err(StoreError::OwnerMismatch {
                module: id.clone(),
                owner: record.owner.clone(),
                claimed: claimed.clone(),
            });
        }
        let record = self
            .modules
            .remove(id)
            .ok_or_else(|| StoreError::UnknownModule(id.to_string()))?;
        self.ordered.remove(id);
        if let Some(owned) = self.by_owner.get_mut(&record.owner) {
            owned.remove(id);
            if owned.is_empty() {
                self.by_owner.remove(&record.owner);
            }
        }
        Ok(Some(record))
    }

    /// Sets a module's telemetry; returns the record when it differs from the last value.
    pub fn set_telemetry(
        &mut self,
        id: &str,
        telemetry: &Value,
        now: u64,
    ) -> Result<Option<&ModuleRecord>, StoreError> {
        let Some(record) = self.modules.get_mut(id) else {
            return Err(StoreError::UnknownModule(id.to_owned()));
        };
        if record.telemetry.as_ref() == Some(telemetry) {
            return Ok(None);
        }
        record.telemetry = Some(telemetry.clone());
        record.last_change = now;
        Ok(Some(record))
    }

    /// A module's record.
    pub fn module(&self, id: &str) -> Option<&ModuleRecord> {
        self.modules.get(id)
    }

    /// The modules `owner` owns, in id order.
    pub fn modules_of<'a>(&'a self, owner: &UserId) -> impl Iterator<Item = &'a ModuleRecord> + 'a {
        self.by_owner
            .get(owner)
            .into_iter()
            .flatten()
            .filter_map(|id| self.modules.get(id))
    }

    /// Number of known modules.
    pub fn module_count(&self) -> usize {
        self.modules.len()
    }

    /// Records a registration; false if the user was already registered.
    pub fn register_user(&mut self, id: &UserId, profile: &Map<String, Value>) -> bool {
        let record = self.users.entry(id.clone()).or_default();
        let newly = !record.registered;
        record.registered = true;
        record.absorb(profile);
        newly
    }

    /// Stores profile fields seen at login, without deciding any change.
    pub fn remember_profile(&mut self, id: &UserId, profile: &Map<String, Value>) {
        self.users.entry(id.clone()).or_default().absorb(profile);
    }

    /// Applies a profile update and returns the fields that really changed (empty: none).
    pub fn update_profile(
        &mut self,
        id: &UserId,
        old: &Map<String, Value>,
        new: &Map<String, Value>,
    ) -> Map<String, Value> {
        let record = self.users.entry(id.clone()).or_default();
        record.update(old, new)
    }

    /// Records stats as sent; false if equal to the last sent.
    pub fn set_stats(&mut self, stats: &Value) -> bool {
        if self.last_stats.as_ref() == Some(stats) {
            return false;
        }
        self.last_stats = Some(stats.clone());
        true
    }

    /// The last stats sent.
    pub fn stats(&self) -> Option<&Value> {
        self.last_stats.as_ref()
    }

    /// Switches maintenance; false if already in that state with that message (while
    /// off, the message shows nowhere, so switching off again is no change whatever it
    /// says).
    pub fn set_maintenance(&mut self, enabled: bool, message: &str) -> bool {
        let same_message = self.maintenance.message == message || !enabled;
        if self.maintenance.enabled == enabled && same_message {
            return false;
        }
        self.maintenance = Maintenance {
            enabled,
            message: message.to_owned(),
        };
        true
    }

    /// Current maintenance state.
    pub fn maintenance(&self) -> &Maintenance {
        &self.maintenance
    }

    /// Every module record, in no particular order (for persistence snapshots).
    pub(crate) fn modules(&self) -> impl Iterator<Item = &ModuleRecord> {
        self.modules.values()
    }

    /// Every user the store knows: id, whether registered, recorded profile fields.
    pub(crate) fn users(&self) -> impl Iterator<Item = (&UserId, bool, &Map<String, Value>)> {
        self.users
            .iter()
            .map(|(id, record)| (id, record.registered, record.profile()))
    }

    /// One user's registration flag and recorded profile fields (for persistence saves).
    pub(crate) fn user(&self, id: &UserId) -> Option<(bool, &Map<String, Value>)> {
        self.users
            .get(id)
            .map(|record| (record.registered, record.profile()))
    }

    /// Rebuilds a store from persisted state (`persist::StateSnapshot::to_store`), so
    /// change detection continues across a restart.
    pub(crate) fn restore(
        modules: impl IntoIterator<Item = ModuleRecord>,
        users: impl IntoIterator<Item = (UserId, bool, Map<String, Value>)>,
        last_stats: Option<Value>,
        maintenance: Maintenance,
    ) -> Self {
        let mut store = Self {
            last_stats,
            maintenance,
            ..Self::default()
        };
        for record in modules {
            store
                .by_owner
                .entry(record.owner.clone())
                .or_default()
                .insert(record.id.clone());
            store.ordered.insert(record.id.clone());
            store.modules.insert(record.id.clone(), record);
        }
        for (id, registered, profile) in users {
            store
                .users
                .insert(id, users::UserRecord::restored(registered, profile));
        }
        store
    }
}
