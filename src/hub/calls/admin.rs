//! The host calls for admins and everyone: `stats_update`, `admin_action`,
//! `maintenance_mode`, and the host's own events (`to_user`, `to_admins`,
//! `to_everyone`).

use serde_json::{Value, json};

use super::{check_event_name, check_host_event};
use crate::call::{AdminAction, Maintenance, Stats, Step, ToAdmins, ToEveryone, ToUser};
use crate::event::{self, Audience, Event, now_ms, object};
use crate::hub::cluster::{Shared, field};
use crate::hub::run::{Apply, Audited, Mode};
use crate::hub::{Claimed, Hub, HubError};
use crate::ids::UserId;
use crate::input::{self, InputError};
use crate::store::Store;

impl Apply for Stats<'_> {
    type Args = ();

    fn check(&self, _hub: &Hub) -> Result<(), HubError> {
        // `Hub::run` asks the stats provider before dispatching, so `None` is only
        // possible from a malformed broker message.
        let stats = self.stats.as_deref().ok_or(HubError::NoStatsProvider)?;
        input::object("stats", stats)?;
        Ok(())
    }

    fn claim(&self, _: &mut (), hub: &Hub, claimed: &mut Claimed) -> Result<Shared, HubError> {
        let canonical = self
            .stats
            .as_deref()
            .map(|s| hub.canonical(s))
            .unwrap_or_default();
        Ok(hub.claim(
            claimed,
            || "stats".to_owned(),
            &[field("value", &canonical)],
        ))
    }

    fn apply(
        &self,
        _: &mut (),
        hub: &Hub,
        store: &mut Store,
        mode: Mode,
    ) -> Result<bool, HubError> {
        let stats = self.stats.as_deref().unwrap_or(&Value::Null);
        if !store.set_stats(stats) && mode == Mode::Local {
            return Ok(false);
        }
        hub.save(|db| db.save_stats(stats));
        Ok(true)
    }

    fn steps(&self, _: (), _store: &Store) -> Vec<Step> {
        let stats = self.stats.as_deref().cloned().unwrap_or(Value::Null);
        let payload = object(vec![("stats", stats)], now_ms());
        let name = event::ADMIN_STATS_UPDATED;
        vec![Step::Event(Event::new(name, payload, Audience::Admins))]
    }
}

impl Apply for AdminAction<'_> {
    type Args = UserId;

    fn check(&self, _hub: &Hub) -> Result<UserId, HubError> {
        let admin = self.admin_id.to_user_id()?;
        check_event_name(&self.action).map_err(|_| {
            HubError::Input(InputError::WrongType {
                field: "action",
                expected: "a non-empty name without control characters",
                found: "string",
            })
        })?;
        Ok(admin)
    }

    fn apply(&self, _: &mut UserId, _: &Hub, _: &mut Store, _: Mode) -> Result<bool, HubError> {
        Ok(true)
    }

    fn steps(&self, admin: UserId, _store: &Store) -> Vec<Step> {
        let payload = object(
            vec![
                ("adminId", json!(admin)),
                ("action", json!(self.action)),
                ("details", self.details.as_ref().clone()),
            ],
            now_ms(),
        );
        let name = event::ADMIN_ACTION;
        vec![Step::Event(Event::new(name, payload, Audience::Admins))]
    }

    fn audited(&self) -> Audited {
        (self.admin_id.to_user_id().ok(), None)
    }
}

impl Apply for Maintenance<'_> {
    type Args = UserId;

    fn check(&self, _hub: &Hub) -> Result<UserId, HubError> {
        Ok(self.admin_id.to_user_id()?)
    }

    fn claim(&self, _: &mut UserId, hub: &Hub, claimed: &mut Claimed) -> Result<Shared, HubError> {
        let fields = [
            field("enabled", if self.enabled { "1" } else { "0" }),
            field("message", &self.message),
        ];
        Ok(hub.claim(claimed, || "maintenance".to_owned(), &fields))
    }

    fn apply(
        &self,
        _: &mut UserId,
        hub: &Hub,
        store: &mut Store,
        mode: Mode,
    ) -> Result<bool, HubError> {
        if !store.set_maintenance(self.enabled, &self.message) && mode == Mode::Local {
            return Ok(false);
        }
        hub.save(|db| db.save_maintenance(store.maintenance()));
        Ok(true)
    }

    fn steps(&self, admin: UserId, _store: &Store) -> Vec<Step> {
        let payload = object(
            vec![
                ("enabled", json!(self.enabled)),
                ("message", json!(self.message)),
                ("adminId", json!(admin)),
            ],
            now_ms(),
        );
        let name = event::SYSTEM_MAINTENANCE;
        vec![Step::Event(Event::new(name, payload, Audience::Everyone))]
    }

    fn audited(&self) -> Audited {
        (self.admin_id.to_user_id().ok(), None)
    }
}

impl Apply for ToUser<'_> {
    type Args = UserId;

    fn check(&self, _hub: &Hub) -> Result<UserId, HubError> {
        let user = self.user_id.to_user_id()?;
        check_host_event(&self.event)?;
        check_placeholders(&self.data, &self.attachments)?;
        Ok(user)
    }

    fn apply(&self, _: &mut UserId, _: &Hub, _: &mut Store, _: Mode) -> Result<bool, HubError> {
        Ok(true)
    }

    fn steps(&self, user: UserId, _store: &Store) -> Vec<Step> {
        let payload = event::host_payload(self.data.as_ref().clone(), now_ms());
        let audience = Audience::User {
            user,
            except_session: None,
        };
        let mut event = Event::new(&*self.event, payload, audience);
        event.attachments.clone_from(&self.attachments);
        vec![Step::Event(event)]
    }

    fn audited(&self) -> Audited {
        (self.user_id.to_user_id().ok(), None)
    }
}

impl Apply for ToAdmins<'_> {
    type Args = ();

    fn check(&self, _hub: &Hub) -> Result<(), HubError> {
        check_host_event(&self.event)?;
        check_placeholders(&self.data, &self.attachments)
    }

    fn apply(&self, _: &mut (), _: &Hub, _: &mut Store, _: Mode) -> Result<bool, HubError> {
        Ok(true)
    }

    fn steps(&self, _: (), _store: &Store) -> Vec<Step> {
        let payload = event::host_payload(self.data.as_ref().clone(), now_ms());
        let mut event = Event::new(&*self.event, payload, Audience::Admins);
        event.attachments.clone_from(&self.attachments);
        vec![Step::Event(event)]
    }
}

impl Apply for ToEveryone<'_> {
    type Args = ();

    fn check(&self, _hub: &Hub) -> Result<(), HubError> {
        check_host_event(&self.event)?;
        check_placeholders(&self.data, &self.attachments)
    }

    fn apply(&self, _: &mut (), _: &Hub, _: &mut Store, _: Mode) -> Result<bool, HubError> {
        Ok(true)
    }

    fn steps(&self, _: (), _store: &Store) -> Vec<Step> {
        let payload = event::host_payload(self.data.as_ref().clone(), now_ms());
        let mut event = Event::new(&*self.event, payload, Audience::Everyone);
        event.attachments.clone_from(&self.attachments);
        vec![Step::Event(event)]
    }
}

/// Refuses a host event whose binary placeholders point past its attachments.
fn check_placeholders(data: &Value, attachments: &[bytes::Bytes]) -> Result<(), HubError> {
    crate::protocol::binary::check_placeholders(data, attachments.len())
        .map_err(|error| HubError::Input(error.into()))
}
