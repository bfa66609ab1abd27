//! Unit tests of saving a store image and loading it back.

use rusqlite::Connection;
use serde_json::{Map, json};

use super::{StateWrite, StoreImage, apply, load};
use crate::ids::{ModuleId, UserId};
use crate::input::ModuleFields;
use crate::persist::schema;
use crate::store::Store;

fn tables() -> Connection {
    let conn = Connection::open_in_memory().unwrap();
    let version = conn.pragma_query_value(None, "user_version", |row| row.get::<_, i64>(0));
    assert_eq!(version.unwrap(), 0);
    conn.execute_batch(schema::V1).unwrap();
    conn.execute_batch(schema::V2).unwrap();
    conn
}

#[test]
fn a_store_image_loads_back_into_an_equivalent_store() {
    let mut store = Store::default();
    let owner = UserId::new("123").unwrap();
    let id = ModuleId::new("MC-1").unwrap();
    let fields = ModuleFields {
        owner: Some(owner.clone()),
        ..ModuleFields::default()
    };
    store.set_online(&id, &fields, true, 5).unwrap();
    store.set_telemetry("MC-1", &json!({"v": 1}), 6).unwrap();
    store.set_stats(&json!({"n": 1}));
    store.register_user(&owner, json!({"name": "Ada"}).as_object().unwrap());

    let mut conn = tables();
    let tx = conn.transaction().unwrap();
    apply(&tx, &StateWrite::Store(Box::new(StoreImage::of(&store)))).unwrap();
    tx.commit().unwrap();
    let mut restored = load(&conn).unwrap().to_store();

    assert!(restored.is_unchanged_online("MC-1", Some(&owner), true));
    assert_eq!(restored.module("MC-1"), store.module("MC-1"));
    assert!(
        restored
            .set_telemetry("MC-1", &json!({"v": 1}), 7)
            .unwrap()
            .is_none()
    );
    assert!(!restored.set_stats(&json!({"n": 1})));
    assert!(
        !restored.register_user(&owner, &Map::new()),
        "already registered"
    );
    assert_eq!(restored.modules_of(&owner).count(), 1);
}
