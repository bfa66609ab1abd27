//! `--demo`: two users with a few modules each, going online and offline and streaming
//! telemetry, plus stats for admins, and the tokens to log in as them. Must not run
//! unless asked: anyone who can reach the server may use these logins.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use microcoaster_realtime::Hub;
use serde_json::{Value, json};

/// A JWT for `user` with `role` and session `sid`, valid for a day.
fn token(secret: &str, user: &str, role: &str, sid: &str) -> String {
    let exp = microcoaster_realtime::event::now_ms() / 1000 + 24 * 3600;
    jsonwebtoken::encode(
        &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
        &json!({"sub": user, "role": role, "sid": sid, "exp": exp}),
        &jsonwebtoken::EncodingKey::from_secret(secret.as_bytes()),
    )
    .expect("HS256 signing cannot fail")
}

/// The demo logins the dashboard offers at `/demo/tokens` (demo mode only: anyone who
/// can reach the server may use them).
pub fn demo_logins(secret: &str) -> Value {
    json!([
        {"key": "ada", "label": "Ada (user 1)", "page": "modules", "token": token(secret, "1", "user", "demo-ada")},
        {"key": "bob", "label": "Bob (user 2)", "page": "modules", "token": token(secret, "2", "user", "demo-bob")},
        {"key": "admin", "label": "Admin (user 100)", "page": "admin", "token": token(secret, "100", "admin", "demo-admin")},
    ])
}

/// The demo: two users with a few modules each, going online and offline and streaming
/// telemetry, plus stats for admins.
pub fn run_demo(hub: Hub, running: Arc<AtomicBool>) {
    let modules: [(&str, &str, &str, &str); 4] = [
        ("MC-0001-STN", "1", "Station", "Station principale"),
        ("MC-0002-LFT", "1", "Lift", "Lift hill"),
        ("MC-0003-SWT", "1", "Switch", "Aiguillage"),
        ("MC-0101-STN", "2", "Station", "Gare de Bob"),
    ];
    let _ = hub.emit_user_registered(&json!({"id": 1, "name": "Ada"}));
    let _ = hub.emit_user_registered(&json!({"id": 2, "name": "Bob"}));
    for (id, owner, kind, name) in modules {
        let _ =
            hub.emit_module_added(&json!({"id": id, "userId": owner, "type": kind, "name": name}));
    }
    let mut tick: u64 = 0;
    while running.load(Ordering::SeqCst) {
        for (index, (id, owner, kind, name)) in modules.iter().enumerate() {
            // Each module cycles: online for a while, offline for a moment.
            let online = (tick + index as u64 * 3) % 12 < 9;
            let info = json!({"userId": owner, "type": kind, "name": name});
            let _ = if online {
                hub.emit_module_online(id, &info)
            } else {
                hub.emit_module_offline(id, &info)
            };
            if online {
                let telemetry = json!({
                    "speed": ((tick * 7 + index as u64 * 13) % 40) as f64 / 4.0,
                    "temperature": 20 + (tick + index as u64) % 5,
                    "laps": tick,
                });
                let _ = hub.emit_telemetry_update(id, &telemetry);
            }
        }
        let online = modules
            .iter()
            .enumerate()
            .filter(|(index, _)| (tick + *index as u64 * 3) % 12 < 9)
            .count();
        let _ = hub.emit_stats_update(Some(&json!({
            "users": 2, "modules": modules.len(), "online": online
        })));
        tick += 1;
        std::thread::sleep(Duration::from_secs(1));
    }
}

/// Prints the demo's tokens to log in with.
pub fn print_tokens(secret: &str) {
    println!(
        "  demo user token  (user 1, Ada) : {}",
        token(secret, "1", "user", "demo-ada")
    );
    println!(
        "  demo user token  (user 2, Bob) : {}",
        token(secret, "2", "user", "demo-bob")
    );
    println!(
        "  demo admin token (user 100)    : {}",
        token(secret, "100", "admin", "demo-admin")
    );
}
