//! One test (or a few) per row of DESIGN §4's host-call table, over the in-process
//! transport: who receives each event, with which payload, who does not, and when
//! nothing is sent at all (`EmitOutcome::Unchanged`).
//!
//! Every "receives nothing" is proved with a sentinel the same connection must receive
//! next (`support::assert_nothing_then_sentinel`). Cast: user 1 is an admin, users 2
//! (Alice) and 3 (Bob) are plain users.
//!
//! Files: `events/modules.rs`, `events/users.rs`, `events/admin.rs` (the rows by
//! call), `events/tabs.rs` (several tabs, snapshots); this file holds the cast and the
//! payload checks they share.

use microcoaster_realtime::{EmitOutcome, Hub};
use serde_json::{Value, json};

use crate::support::{Tab, anonymous, assert_nothing_then_sentinel, assert_timestamp, connect};

mod admin;
mod modules;
mod tabs;
mod users;

const ADMIN: &str = "1";
const ALICE: &str = "2";
const BOB: &str = "3";

fn delivered(connections: usize) -> EmitOutcome {
    EmitOutcome::Delivered { connections }
}

/// Alice's station, with her id given as a number as the seed does.
fn station_info() -> Value {
    json!({"userId": 2, "name": "Station principale", "type": "Station"})
}

fn assert_status_payload(payload: &Value, online: bool) {
    assert_eq!(payload["moduleId"], json!("MC-1"));
    assert_eq!(payload["online"], json!(online));
    assert_eq!(
        payload["userId"],
        json!(ALICE),
        "user ids are sent as strings"
    );
    assert_eq!(payload["name"], json!("Station principale"));
    assert_eq!(payload["type"], json!("Station"));
    assert_timestamp(payload);
}

/// The tabs most routing tests need: Alice on each page, an admin on `admin` and on
/// `modules`, Bob, and a stranger who never authenticates.
struct Cast {
    alice_modules: Tab,
    alice_dashboard: Tab,
    alice_admin_page: Tab,
    admin_admin_page: Tab,
    admin_modules: Tab,
    bob: Tab,
    stranger: Tab,
}

impl Cast {
    fn new(hub: &Hub) -> Self {
        Self {
            alice_modules: connect(hub, ALICE, "user", "s-alice", "modules"),
            alice_dashboard: connect(hub, ALICE, "user", "s-alice", "dashboard"),
            alice_admin_page: connect(hub, ALICE, "user", "s-alice", "admin"),
            admin_admin_page: connect(hub, ADMIN, "admin", "s-admin", "admin"),
            admin_modules: connect(hub, ADMIN, "admin", "s-admin", "modules"),
            bob: connect(hub, BOB, "user", "s-bob", "modules"),
            stranger: anonymous(hub),
        }
    }

    /// Every tab has nothing queued (checked with sentinels).
    fn assert_all_quiet(&mut self, hub: &Hub) {
        assert_nothing_then_sentinel(
            hub,
            &mut [
                &mut self.alice_modules,
                &mut self.alice_dashboard,
                &mut self.alice_admin_page,
                &mut self.admin_admin_page,
                &mut self.admin_modules,
                &mut self.bob,
                &mut self.stranger,
            ],
        );
    }
}
