//! Isolation under random interleavings, checked against a naive model.
//!
//! Each case drives one hub through a random sequence of steps: in-process connections
//! open and close, authenticate (sessions registered by `emit_user_logged_in`, or JWTs;
//! sometimes with wrong claims, unknown pages or forged tokens), re-authenticate as the
//! same or another user (refused), change page, ask for the next snapshot page
//! (`client:snapshot {cursor}`, with the cursor of any module, another user's included,
//! or none), and the host calls every `emit_*`
//! (the twelve plus `emit_to_user` / `emit_to_admins` / `emit_to_everyone`), including logouts that close a
//! session's connections. After every step every open connection is drained and:
//!
//! 1. no non-admin connection received an event scoped to another user, nor another
//!    user's module in its `page:snapshot` (an admin on `admin` lists every module,
//!    everyone else only their own, a page at a time in id order: the page size is cut
//!    to 3 here so that pages are cut), nor in a `page:snapshot:more` after any cursor;
//! 2. no non-admin connection received an `admin:*` (or `emit_to_admins`) event;
//! 3. no unauthenticated connection received anything but its own `auth:error` (and a
//!    device nothing but its auth replies);
//! 4. every connection received exactly the events the model expects, in order, each
//!    once: routed events, its own `auth:ok` / `page:snapshot` / `page:snapshot:more` /
//!    `system:maintenance` / `auth:error` replies and closes; and every call returned what the model expects
//!    (`Unchanged`, `Delivered {connections}`, or the refusal code).
//!
//! The model is written from DESIGN §4's table and the crate docs only: a `Vec` of
//! connections scanned once per event with the table's rule applied literally, and a
//! store that knows just enough (owners, online flags, added flags, last telemetry,
//! profiles, sessions, stats, maintenance) to tell whether an emit changes anything. It
//! never calls registry code nor the library's routing table.
//!
//! Files: `isolation_prop/actions.rs` (what is generated), `isolation_prop/model.rs`
//! (the model), `isolation_prop/snapshot.rs` (snapshot pages: the model's side and the
//! check of their listings), `isolation_prop/real.rs` (the hub under test); this file
//! holds the world and the property.

use microcoaster_realtime::{Hub, InProcessConnection, Received};
use proptest::prelude::*;
use proptest::test_runner::TestCaseError;

use actions::{Action, action, prelude};
use model::{MConn, Model, Outcome, is_admin_only};
use real::perform;

mod actions;
mod model;
mod real;
mod snapshot;

// ----- the world ---------------------------------------------------------------------

/// Users are indexes 0..4, with ids "1".."4" (sent as numbers by the host).
pub(super) const USERS: usize = 4;
/// The role the host gives each user at login (a login may flip it).
pub(super) const HOST_ROLE: [MRole; USERS] = [MRole::Admin, MRole::User, MRole::User, MRole::Admin];
/// Session ids, and the user each belongs to (a host never hands one user's session id
/// to another user; a JWT's `sid` is one of its user's sessions).
pub(super) const SESSIONS: [&str; 6] = ["sess-a", "sess-b", "sess-c", "sess-d", "sess-e", "sess-f"];
pub(super) const SESSION_OWNER: [usize; SESSIONS.len()] = [0, 1, 2, 3, 1, 0];
/// The default pages, in the hub's order.
pub(super) const PAGES: [&str; 3] = ["modules", "admin", "dashboard"];
pub(super) const MODULES_PAGE: usize = 0;
pub(super) const ADMIN_PAGE: usize = 1;
pub(super) const DASHBOARD_PAGE: usize = 2;
pub(super) const MODULES: [&str; 5] = ["MC-0001", "MC-0002", "MC-0003", "MC-0004", "MC-0005"];
pub(super) const MAINTENANCE_MESSAGES: [&str; 2] = ["", "Mise à jour"];
pub(super) const SECRET: &[u8] = b"isolation-prop-secret";
pub(super) const WRONG_SECRET: &[u8] = b"not-the-secret";
/// The hub's default `max_auth_failures`.
pub(super) const MAX_AUTH_FAILURES: u32 = 5;
pub(super) const MAX_OPEN_CONNECTIONS: usize = 8;
/// Modules per snapshot page: fewer than the modules there can be, so pages are cut.
pub(super) const SNAPSHOT_PAGE_SIZE: usize = 3;
/// Host events with the default route: the user's connections on every page, or admins
/// on every page.
pub(super) const TO_USER_EVENT: &str = "host:ping";
pub(super) const TO_ADMINS_EVENT: &str = "host:alert";
/// A host event for everyone (`emit_to_everyone`, default route).
pub(super) const TO_EVERYONE_EVENT: &str = "host:all";
/// A host event the hub is configured to route to users on every page and to admins on
/// `admin` only: sent with `emit_to_user`, it is mirrored to admins on `admin` (so an
/// admin who is that user, on `admin`, qualifies twice and must get it once); sent with
/// `emit_to_admins`, it reaches admins on `admin` only.
pub(super) const MIRRORED_EVENT: &str = "host:mirrored";
/// Random steps per case, after the prelude's nine.
pub(super) const STEPS: usize = 91;

pub(super) fn user_id(user: usize) -> String {
    (user + 1).to_string()
}

pub(super) fn user_number(user: usize) -> i64 {
    user as i64 + 1
}

/// The module a user's device token is for (one board per user, never a host-call
/// module, so device presence and host calls don't share a record).
/// Every module id a cursor may name: the host's modules and the devices' modules.
pub(super) fn cursor_module(index: usize) -> String {
    MODULES
        .get(index)
        .map_or_else(|| device_module(index - MODULES.len()), |m| (*m).to_owned())
}

pub(super) fn device_module(user: usize) -> String {
    format!("DEV-{}", user + 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum MRole {
    User,
    Admin,
    Device,
}

impl MRole {
    pub(super) fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
            Self::Device => "device",
        }
    }

    pub(super) fn flipped(self) -> Self {
        match self {
            Self::User => Self::Admin,
            Self::Admin => Self::User,
            Self::Device => Self::Device,
        }
    }
}

// ----- the property ------------------------------------------------------------------

fn token(received: &Received) -> String {
    match received {
        Received::Frame(frame) => frame.name().to_owned(),
        Received::Closed(reason) => format!("closed:{}", reason.as_str()),
    }
}

fn describe(conn: &MConn) -> String {
    match &conn.auth {
        None => "unauthenticated".to_owned(),
        Some(id) => format!(
            "user {} as {} (session {:?}) on page {}",
            user_id(id.user),
            id.role.name(),
            id.session.map(|s| SESSIONS[s]),
            PAGES[conn.page]
        ),
    }
}

/// Checks one connection's frames of one step against the three isolation rules and
/// the snapshot contents.
fn check_isolation(
    model: &Model,
    index: usize,
    received: &[Received],
    context: &str,
) -> Result<(), TestCaseError> {
    let conn = &model.conns[index];
    let who = describe(conn);
    for item in received {
        let Received::Frame(frame) = item else {
            continue;
        };
        let name = frame.name();
        match &conn.auth {
            None => prop_assert!(
                name == "auth:error",
                "ISOLATION rule 3 (an unauthenticated connection receives nothing but its \
                 own auth:error) broken: connection #{index} ({who}) received {name} {}\n{context}",
                frame.payload()
            ),
            Some(id) if id.role == MRole::Device => prop_assert!(
                name == "auth:ok" || name == "auth:error",
                "ISOLATION rule 3 (a device receives nothing but its auth replies) broken: \
                 connection #{index} ({who}) received {name} {}\n{context}",
                frame.payload()
            ),
            Some(id) if id.role != MRole::Admin => {
                prop_assert!(
                    !is_admin_only(frame),
                    "ISOLATION rule 2 (no admin event to a non-admin) broken: connection \
                     #{index} ({who}) received {name} {}\n{context}",
                    frame.payload()
                );
                if let Some(scope) = model.scope_of(frame) {
                    prop_assert!(
                        scope == user_id(id.user),
                        "ISOLATION rule 1 (no other user's event to a non-admin) broken: \
                         connection #{index} ({who}) received {name} scoped to user {scope}: \
                         {}\n{context}",
                        frame.payload()
                    );
                }
            }
            Some(_) => {}
        }
        snapshot::check_listing(model, index, name, frame.payload(), context)?;
    }
    Ok(())
}

fn run(actions: &[Action]) -> Result<(), TestCaseError> {
    let hub = Hub::builder()
        .jwt_secret(SECRET)
        // Zero grace: a device's module goes offline synchronously, as the model says.
        .device_offline_grace(std::time::Duration::ZERO)
        .route(MIRRORED_EVENT, &PAGES, &["admin"])
        .snapshot_page_size(SNAPSHOT_PAGE_SIZE)
        .build()
        .expect("default hub builds");
    let mut model = Model::default();
    let mut conns: Vec<Option<InProcessConnection>> = Vec::new();
    let mut history: Vec<String> = Vec::new();
    for (number, action) in prelude().iter().chain(actions).enumerate() {
        let step = model.resolve(action);
        history.push(format!("  {number}: {step:?}"));
        let actual = perform(&hub, &mut conns, &step);
        let expected = model.apply(&step);
        let tail = history.len().saturating_sub(12);
        let context = format!(
            "at step {number} (last steps):\n{}",
            history[tail..].join("\n")
        );
        for (index, slot) in conns.iter_mut().enumerate() {
            let Some(connection) = slot else {
                continue;
            };
            let received = connection.drain_now();
            check_isolation(&model, index, &received, &context)?;
            let got: Vec<String> = received.iter().map(token).collect();
            prop_assert_eq!(
                &got,
                &expected.received[index],
                "connection #{} ({}) received other events than the model expects (each \
                 exactly once, in order)\n{}",
                index,
                describe(&model.conns[index]),
                context
            );
        }
        if expected.outcome != Outcome::Any {
            prop_assert_eq!(
                &actual,
                &expected.outcome,
                "the call's result differs from the model's\n{}",
                context
            );
        }
    }
    Ok(())
}

/// Cases per run; `PROPTEST_CASES` overrides it for a deeper local run. 1024 cases of up
/// to 100 steps take well under a second in `--profile ci`.
const CASES: u32 = 1024;

fn config() -> ProptestConfig {
    let mut config = ProptestConfig {
        // A failure prints its minimal sequence; nothing is written next to the sources.
        failure_persistence: None,
        ..ProptestConfig::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = CASES;
    }
    config
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn connections_receive_exactly_their_events_under_random_interleavings(
        actions in proptest::collection::vec(action(), 1..=STEPS)
    ) {
        run(&actions)?;
    }
}
