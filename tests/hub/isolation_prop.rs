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

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use microcoaster_realtime::{
    EmitOutcome, Hub, HubError, InProcessConnection, InboundError, OutboundEvent, Received, Reply,
};
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::TestCaseError;
use serde_json::{Value, json};

// ----- the world ---------------------------------------------------------------------

/// Users are indexes 0..4, with ids "1".."4" (sent as numbers by the host).
const USERS: usize = 4;
/// The role the host gives each user at login (a login may flip it).
const HOST_ROLE: [MRole; USERS] = [MRole::Admin, MRole::User, MRole::User, MRole::Admin];
/// Session ids, and the user each belongs to (a host never hands one user's session id
/// to another user; a JWT's `sid` is one of its user's sessions).
const SESSIONS: [&str; 6] = ["sess-a", "sess-b", "sess-c", "sess-d", "sess-e", "sess-f"];
const SESSION_OWNER: [usize; SESSIONS.len()] = [0, 1, 2, 3, 1, 0];
/// The default pages, in the hub's order.
const PAGES: [&str; 3] = ["modules", "admin", "dashboard"];
const MODULES_PAGE: usize = 0;
const ADMIN_PAGE: usize = 1;
const DASHBOARD_PAGE: usize = 2;
const MODULES: [&str; 5] = ["MC-0001", "MC-0002", "MC-0003", "MC-0004", "MC-0005"];
const MAINTENANCE_MESSAGES: [&str; 2] = ["", "Mise à jour"];
const SECRET: &[u8] = b"isolation-prop-secret";
const WRONG_SECRET: &[u8] = b"not-the-secret";
/// The hub's default `max_auth_failures`.
const MAX_AUTH_FAILURES: u32 = 5;
const MAX_OPEN_CONNECTIONS: usize = 8;
/// Modules per snapshot page: fewer than the modules there can be, so pages are cut.
const SNAPSHOT_PAGE_SIZE: usize = 3;
/// Host events with the default route: the user's connections on every page, or admins
/// on every page.
const TO_USER_EVENT: &str = "host:ping";
const TO_ADMINS_EVENT: &str = "host:alert";
/// A host event for everyone (`emit_to_everyone`, default route).
const TO_EVERYONE_EVENT: &str = "host:all";
/// A host event the hub is configured to route to users on every page and to admins on
/// `admin` only: sent with `emit_to_user`, it is mirrored to admins on `admin` (so an
/// admin who is that user, on `admin`, qualifies twice and must get it once); sent with
/// `emit_to_admins`, it reaches admins on `admin` only.
const MIRRORED_EVENT: &str = "host:mirrored";
/// Random steps per case, after the prelude's nine.
const STEPS: usize = 91;

fn user_id(user: usize) -> String {
    (user + 1).to_string()
}

fn user_number(user: usize) -> i64 {
    user as i64 + 1
}

/// The module a user's device token is for (one board per user, never a host-call
/// module, so device presence and host calls don't share a record).
/// Every module id a cursor may name: the host's modules and the devices' modules.
fn cursor_module(index: usize) -> String {
    MODULES
        .get(index)
        .map_or_else(|| device_module(index - MODULES.len()), |m| (*m).to_owned())
}

fn device_module(user: usize) -> String {
    format!("DEV-{}", user + 1)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum MRole {
    User,
    Admin,
    Device,
}

impl MRole {
    fn name(self) -> &'static str {
        match self {
            Self::User => "user",
            Self::Admin => "admin",
            Self::Device => "device",
        }
    }

    fn flipped(self) -> Self {
        match self {
            Self::User => Self::Admin,
            Self::Admin => Self::User,
            Self::Device => Self::Device,
        }
    }
}

// ----- generated actions -------------------------------------------------------------

/// A claim the client adds to its authenticate payload (checked by the hub, never
/// trusted).
#[derive(Debug, Clone, Copy)]
enum Claim<T> {
    Absent,
    /// The value the credential really carries.
    Matching,
    Given(T),
}

#[derive(Debug, Clone, Copy)]
enum PageArg {
    /// No page given (authenticate defaults to `modules`; `client:page` is malformed).
    Absent,
    Named(usize),
    /// A page the hub does not have.
    Unknown,
}

/// The `cursor` of a `client:snapshot`.
#[derive(Debug, Clone, Copy)]
enum CursorArg {
    /// No cursor (refused as `invalid_snapshot`).
    Missing,
    /// After this module ([`cursor_module`]), whoever owns it, or whether it exists.
    After(usize),
}

#[derive(Debug, Clone)]
enum Credential {
    Session(usize),
    Jwt {
        user: usize,
        role: MRole,
        session: Option<usize>,
        forged: bool,
    },
}

#[derive(Debug, Clone)]
enum Action {
    Connect,
    Disconnect(Index),
    Authenticate {
        conn: Index,
        credential: Credential,
        claim_user: Claim<usize>,
        claim_role: Claim<MRole>,
        page: PageArg,
    },
    ChangePage {
        conn: Index,
        page: PageArg,
    },
    MoreSnapshot {
        conn: Index,
        cursor: CursorArg,
    },
    Host(HostCall),
}

#[derive(Debug, Clone)]
enum HostCall {
    LoggedIn {
        session: usize,
        flip_role: bool,
        name: Option<u8>,
    },
    LoggedOut {
        session: usize,
    },
    ModuleStatus {
        module: usize,
        online: bool,
        owner: Option<usize>,
    },
    ModuleAdded {
        module: usize,
        owner: Option<usize>,
        online: Option<bool>,
    },
    ModuleRemoved {
        module: usize,
        owner: Option<usize>,
    },
    Telemetry {
        module: usize,
        value: u8,
    },
    ProfileUpdated {
        user: usize,
        old: Option<u8>,
        new: u8,
    },
    Registered {
        user: usize,
        name: Option<u8>,
    },
    Stats(u8),
    AdminAction {
        admin: usize,
    },
    Maintenance {
        enabled: bool,
        message: usize,
    },
    ToUser {
        user: usize,
        mirrored: bool,
    },
    ToAdmins {
        mirrored: bool,
    },
    ToEveryone,
}

fn claim<T: std::fmt::Debug + Clone + 'static>(
    given: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Claim<T>> {
    prop_oneof![
        4 => Just(Claim::Absent),
        4 => Just(Claim::Matching),
        1 => given.prop_map(Claim::Given),
    ]
}

fn page_arg() -> impl Strategy<Value = PageArg> {
    prop_oneof![
        2 => Just(PageArg::Absent),
        12 => (0..PAGES.len()).prop_map(PageArg::Named),
        1 => Just(PageArg::Unknown),
    ]
}

fn cursor_arg() -> impl Strategy<Value = CursorArg> {
    prop_oneof![
        1 => Just(CursorArg::Missing),
        8 => (0..MODULES.len() + USERS).prop_map(CursorArg::After),
    ]
}

fn role() -> impl Strategy<Value = MRole> {
    prop_oneof![
        4 => Just(MRole::User),
        3 => Just(MRole::Admin),
        1 => Just(MRole::Device),
    ]
}

fn credential() -> impl Strategy<Value = Credential> {
    let jwt = (
        0..USERS,
        role(),
        proptest::option::of(any::<Index>()),
        proptest::bool::weighted(0.1),
    )
        .prop_map(|(user, role, session, forged)| {
            let own: Vec<usize> = (0..SESSIONS.len())
                .filter(|&s| SESSION_OWNER[s] == user)
                .collect();
            Credential::Jwt {
                user,
                role,
                // One of the user's sessions, or none; a device token names none.
                session: session
                    .filter(|_| role != MRole::Device)
                    .map(|index| own[index.index(own.len())]),
                forged,
            }
        });
    prop_oneof![
        3 => (0..SESSIONS.len()).prop_map(Credential::Session),
        1 => jwt,
    ]
}

fn host_call() -> impl Strategy<Value = HostCall> {
    let user = 0..USERS;
    let module = 0..MODULES.len();
    let owner = proptest::option::weighted(0.8, 0..USERS);
    prop_oneof![
        3 => (0..SESSIONS.len(), proptest::bool::weighted(0.15), proptest::option::of(0..3u8))
            .prop_map(|(session, flip_role, name)| HostCall::LoggedIn { session, flip_role, name }),
        2 => (0..SESSIONS.len()).prop_map(|session| HostCall::LoggedOut { session }),
        6 => (module.clone(), any::<bool>(), owner.clone())
            .prop_map(|(module, online, owner)| HostCall::ModuleStatus { module, online, owner }),
        3 => (module.clone(), owner.clone(), proptest::option::of(any::<bool>()))
            .prop_map(|(module, owner, online)| HostCall::ModuleAdded { module, owner, online }),
        2 => (module.clone(), proptest::option::weighted(0.5, 0..USERS))
            .prop_map(|(module, owner)| HostCall::ModuleRemoved { module, owner }),
        5 => (module, 0..3u8).prop_map(|(module, value)| HostCall::Telemetry { module, value }),
        2 => (user.clone(), proptest::option::of(0..3u8), 0..3u8)
            .prop_map(|(user, old, new)| HostCall::ProfileUpdated { user, old, new }),
        1 => (user.clone(), proptest::option::of(0..3u8))
            .prop_map(|(user, name)| HostCall::Registered { user, name }),
        2 => (0..3u8).prop_map(HostCall::Stats),
        1 => user.clone().prop_map(|admin| HostCall::AdminAction { admin }),
        2 => (any::<bool>(), 0..MAINTENANCE_MESSAGES.len())
            .prop_map(|(enabled, message)| HostCall::Maintenance { enabled, message }),
        3 => (user, any::<bool>()).prop_map(|(user, mirrored)| HostCall::ToUser { user, mirrored }),
        2 => any::<bool>().prop_map(|mirrored| HostCall::ToAdmins { mirrored }),
        1 => Just(HostCall::ToEveryone),
    ]
}

fn action() -> impl Strategy<Value = Action> {
    prop_oneof![
        5 => Just(Action::Connect),
        1 => any::<Index>().prop_map(Action::Disconnect),
        10 => (any::<Index>(), credential(), claim(0..USERS), claim(role()), page_arg()).prop_map(
            |(conn, credential, claim_user, claim_role, page)| Action::Authenticate {
                conn,
                credential,
                claim_user,
                claim_role,
                page,
            }
        ),
        4 => (any::<Index>(), page_arg()).prop_map(|(conn, page)| Action::ChangePage { conn, page }),
        3 => (any::<Index>(), cursor_arg())
            .prop_map(|(conn, cursor)| Action::MoreSnapshot { conn, cursor }),
        16 => host_call().prop_map(Action::Host),
    ]
}

/// Every case starts by logging every session in (each user has one, users 2 and 1 a
/// second; users 1 and 4 are admins) and opening three connections.
fn prelude() -> Vec<Action> {
    (0..SESSIONS.len())
        .map(|session| {
            Action::Host(HostCall::LoggedIn {
                session,
                flip_role: false,
                name: None,
            })
        })
        .chain(std::iter::repeat_n(Action::Connect, 3))
        .collect()
}

// ----- resolved steps (concrete values both sides apply) -----------------------------

#[derive(Debug, Clone)]
enum Step {
    Nothing,
    Connect,
    Disconnect(usize),
    Authenticate {
        conn: usize,
        credential: Credential,
        claim_user: Option<usize>,
        claim_role: Option<MRole>,
        page: PageArg,
    },
    ChangePage {
        conn: usize,
        page: PageArg,
    },
    MoreSnapshot {
        conn: usize,
        cursor: CursorArg,
    },
    Host(HostCall),
}

// ----- the naive model ---------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
struct MIdentity {
    user: usize,
    role: MRole,
    session: Option<usize>,
}

#[derive(Debug, Clone)]
struct MConn {
    dropped: bool,
    closed: Option<&'static str>,
    auth: Option<MIdentity>,
    page: usize,
    failures: u32,
    /// The cursor of this step's `client:snapshot`, for checking its reply's listing.
    cursor: Option<String>,
}

impl MConn {
    /// The identity if this connection is part of audiences: open, authenticated, and
    /// not a device.
    fn audience_identity(&self) -> Option<&MIdentity> {
        if self.dropped || self.closed.is_some() {
            return None;
        }
        self.auth.as_ref().filter(|id| id.role != MRole::Device)
    }
}

#[derive(Debug, Clone)]
struct MModule {
    owner: usize,
    online: bool,
    added: bool,
    telemetry: Option<u8>,
}

/// A user's board: how many of its device connections are live, and whether the hub
/// has seen (and so records) its module.
#[derive(Debug, Clone, Default)]
struct MDevice {
    connections: usize,
    online: bool,
    known: bool,
}

#[derive(Debug, Clone, Default)]
struct MUser {
    registered: bool,
    name: Option<u8>,
    known: bool,
}

impl MUser {
    fn absorb(&mut self, name: Option<u8>) {
        if let Some(name) = name {
            self.name = Some(name);
            self.known = true;
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
enum Outcome {
    /// Inbound message or no-op: not compared.
    Any,
    Unchanged,
    Delivered(usize),
    Refused(String),
    InboundOk,
}

#[derive(Debug, Default)]
struct Model {
    conns: Vec<MConn>,
    modules: [Option<MModule>; MODULES.len()],
    users: [MUser; USERS],
    devices: [MDevice; USERS],
    live_sessions: [Option<(usize, MRole)>; SESSIONS.len()],
    revoked_sessions: [bool; SESSIONS.len()],
    stats: Option<u8>,
    maintenance: (bool, usize),
}

struct Expected {
    /// Per connection (by index): what it receives in this step, in order.
    received: Vec<Vec<String>>,
    outcome: Outcome,
}

fn is_owner_page(page: usize) -> bool {
    page == MODULES_PAGE || page == DASHBOARD_PAGE
}

fn is_admin_on_admin_page(id: &MIdentity, page: usize) -> bool {
    id.role == MRole::Admin && page == ADMIN_PAGE
}

impl Model {
    fn open_conns(&self) -> Vec<usize> {
        (0..self.conns.len())
            .filter(|&i| !self.conns[i].dropped)
            .collect()
    }

    fn pick(&self, index: &Index) -> Option<usize> {
        let open = self.open_conns();
        (!open.is_empty()).then(|| open[index.index(open.len())])
    }

    fn resolve(&self, action: &Action) -> Step {
        match action {
            Action::Connect => {
                if self.open_conns().len() >= MAX_OPEN_CONNECTIONS {
                    Step::Nothing
                } else {
                    Step::Connect
                }
            }
            Action::Disconnect(index) => self.pick(index).map_or(Step::Nothing, Step::Disconnect),
            Action::Authenticate {
                conn,
                credential,
                claim_user,
                claim_role,
                page,
            } => {
                let Some(conn) = self.pick(conn) else {
                    return Step::Nothing;
                };
                let real = match credential {
                    Credential::Session(session) => self.live_sessions[*session],
                    Credential::Jwt { user, role, .. } => Some((*user, *role)),
                };
                let claim_user = match claim_user {
                    Claim::Absent => None,
                    Claim::Matching => real.map(|(user, _)| user),
                    Claim::Given(user) => Some(*user),
                };
                let claim_role = match claim_role {
                    Claim::Absent => None,
                    Claim::Matching => real.map(|(_, role)| role),
                    Claim::Given(role) => Some(*role),
                };
                Step::Authenticate {
                    conn,
                    credential: credential.clone(),
                    claim_user,
                    claim_role,
                    page: *page,
                }
            }
            Action::ChangePage { conn, page } => self
                .pick(conn)
                .map_or(Step::Nothing, |conn| Step::ChangePage { conn, page: *page }),
            Action::MoreSnapshot { conn, cursor } => {
                self.pick(conn)
                    .map_or(Step::Nothing, |conn| Step::MoreSnapshot {
                        conn,
                        cursor: *cursor,
                    })
            }
            Action::Host(call) => Step::Host(call.clone()),
        }
    }

    /// Adds `name` to every audience connection `reaches` selects; returns how many.
    fn deliver(
        &self,
        out: &mut [Vec<String>],
        name: &str,
        reaches: impl Fn(&MIdentity, usize) -> bool,
    ) -> usize {
        let mut reached = 0;
        for (index, conn) in self.conns.iter().enumerate() {
            if let Some(id) = conn.audience_identity()
                && reaches(id, conn.page)
            {
                out[index].push(name.to_owned());
                reached += 1;
            }
        }
        reached
    }

    fn deliver_to_admin_page(&self, out: &mut [Vec<String>], name: &str) -> usize {
        self.deliver(out, name, is_admin_on_admin_page)
    }

    fn apply(&mut self, step: &Step) -> Expected {
        if matches!(step, Step::Connect) {
            self.conns.push(MConn {
                dropped: false,
                closed: None,
                auth: None,
                page: MODULES_PAGE,
                failures: 0,
                cursor: None,
            });
        }
        let mut out = vec![Vec::new(); self.conns.len()];
        let outcome = match step {
            Step::Nothing | Step::Connect => Outcome::Any,
            Step::Disconnect(conn) => {
                self.conns[*conn].dropped = true;
                if self.conns[*conn].closed.is_none() {
                    self.device_gone(&mut out, *conn);
                }
                Outcome::Any
            }
            Step::Authenticate {
                conn,
                credential,
                claim_user,
                claim_role,
                page,
            } => self.authenticate(&mut out, *conn, credential, *claim_user, *claim_role, *page),
            Step::ChangePage { conn, page } => self.change_page(&mut out, *conn, *page),
            Step::MoreSnapshot { conn, cursor } => self.more_snapshot(&mut out, *conn, *cursor),
            Step::Host(call) => self.host(&mut out, call),
        };
        Expected {
            received: out,
            outcome,
        }
    }

    /// The replies after a successful authenticate or page change.
    fn snapshot_replies(&self, out: &mut Vec<String>, role: MRole) {
        if role == MRole::Device {
            return;
        }
        out.push("page:snapshot".into());
        if self.maintenance.0 {
            out.push("system:maintenance".into());
        }
    }

    fn refuse(&mut self, out: &mut [Vec<String>], conn: usize, code: &str) -> Outcome {
        let c = &mut self.conns[conn];
        c.failures += 1;
        out[conn].push("auth:error".into());
        if c.failures >= MAX_AUTH_FAILURES {
            c.closed = Some("too_many_auth_failures");
            out[conn].push("closed:too_many_auth_failures".into());
            self.device_gone(out, conn);
        }
        Outcome::Refused(code.to_owned())
    }

    /// DESIGN §1: a device's connection makes its module online for its owner (module
    /// status routing: owner on modules/dashboard, admins on admin).
    fn device_came(&mut self, out: &mut [Vec<String>], user: usize) {
        let device = &mut self.devices[user];
        device.connections += 1;
        device.known = true;
        if !device.online {
            device.online = true;
            self.deliver(out, "module:status:changed", |id, page| {
                (id.user == user && is_owner_page(page)) || is_admin_on_admin_page(id, page)
            });
        }
    }

    /// A device connection went away (dropped, or closed by the hub): with the test
    /// hub's zero grace period, its module goes offline when it was the last one.
    fn device_gone(&mut self, out: &mut [Vec<String>], conn: usize) {
        let Some(user) = self.conns[conn]
            .auth
            .as_ref()
            .filter(|id| id.role == MRole::Device)
            .map(|id| id.user)
        else {
            return;
        };
        let device = &mut self.devices[user];
        device.connections -= 1;
        if device.connections == 0 && device.online {
            device.online = false;
            self.deliver(out, "module:status:changed", |id, page| {
                (id.user == user && is_owner_page(page)) || is_admin_on_admin_page(id, page)
            });
        }
    }

    fn authenticate(
        &mut self,
        out: &mut [Vec<String>],
        conn: usize,
        credential: &Credential,
        claim_user: Option<usize>,
        claim_role: Option<MRole>,
        page: PageArg,
    ) -> Outcome {
        if self.conns[conn].closed.is_some() {
            return Outcome::Refused("closed".into());
        }
        let page = match page {
            PageArg::Absent => MODULES_PAGE,
            PageArg::Named(page) => page,
            PageArg::Unknown => return self.refuse(out, conn, "unknown_page"),
        };
        let identity = match credential {
            Credential::Jwt {
                user,
                role,
                session,
                forged,
            } => {
                if *forged {
                    return self.refuse(out, conn, "bad_signature");
                }
                if session.is_some_and(|s| self.revoked_sessions[s]) {
                    return self.refuse(out, conn, "unknown_session");
                }
                MIdentity {
                    user: *user,
                    role: *role,
                    session: *session,
                }
            }
            Credential::Session(session) => match self.live_sessions[*session] {
                None => return self.refuse(out, conn, "unknown_session"),
                Some((user, role)) => MIdentity {
                    user,
                    role,
                    session: Some(*session),
                },
            },
        };
        if claim_user.is_some_and(|claimed| claimed != identity.user)
            || claim_role.is_some_and(|claimed| claimed != identity.role)
        {
            return self.refuse(out, conn, "claims_mismatch");
        }
        if let Some(current) = &self.conns[conn].auth
            && (current.user != identity.user
                || (current.role == MRole::Device) != (identity.role == MRole::Device))
        {
            return self.refuse(out, conn, "identity_change");
        }
        let role = identity.role;
        let user = identity.user;
        let c = &mut self.conns[conn];
        let was_device = c.auth.as_ref().is_some_and(|id| id.role == MRole::Device);
        c.auth = Some(identity);
        c.page = page;
        c.failures = 0;
        out[conn].push("auth:ok".into());
        let mut replies = Vec::new();
        self.snapshot_replies(&mut replies, role);
        out[conn].extend(replies);
        if role == MRole::Device && !was_device {
            self.device_came(out, user);
        }
        Outcome::InboundOk
    }

    fn change_page(&mut self, out: &mut [Vec<String>], conn: usize, page: PageArg) -> Outcome {
        if self.conns[conn].closed.is_some() {
            // Nothing can reach a closed connection; its refusal code is not specified.
            return Outcome::Any;
        }
        let Some(role) = self.conns[conn].auth.as_ref().map(|id| id.role) else {
            return self.refuse(out, conn, "not_authenticated");
        };
        let PageArg::Named(page) = page else {
            return Outcome::Refused("invalid_page".into());
        };
        self.conns[conn].page = page;
        self.snapshot_replies(&mut out[conn], role);
        Outcome::InboundOk
    }

    /// `client:snapshot`: the next page to a user or admin; a device's goes to the
    /// client-event hook (none here), so nothing comes back.
    fn more_snapshot(
        &mut self,
        out: &mut [Vec<String>],
        conn: usize,
        cursor: CursorArg,
    ) -> Outcome {
        if self.conns[conn].closed.is_some() {
            return Outcome::Any;
        }
        let Some(role) = self.conns[conn].auth.as_ref().map(|id| id.role) else {
            return self.refuse(out, conn, "not_authenticated");
        };
        if role == MRole::Device {
            return Outcome::InboundOk;
        }
        let CursorArg::After(module) = cursor else {
            return Outcome::Refused("invalid_snapshot".into());
        };
        self.conns[conn].cursor = Some(cursor_module(module));
        out[conn].push("page:snapshot:more".into());
        Outcome::InboundOk
    }

    /// Creates the module if new (needs an owner); refuses another claimed owner.
    fn ensure_module(&mut self, module: usize, owner: Option<usize>) -> Result<(), Outcome> {
        match (&self.modules[module], owner) {
            (Some(known), Some(claimed)) if known.owner != claimed => {
                Err(Outcome::Refused("owner_mismatch".into()))
            }
            (Some(_), _) => Ok(()),
            (None, None) => Err(Outcome::Refused("missing_owner".into())),
            (None, Some(owner)) => {
                self.modules[module] = Some(MModule {
                    owner,
                    online: false,
                    added: false,
                    telemetry: None,
                });
                Ok(())
            }
        }
    }

    fn host(&mut self, out: &mut [Vec<String>], call: &HostCall) -> Outcome {
        match *call {
            HostCall::ModuleStatus {
                module,
                online,
                owner,
            } => {
                if let Err(refused) = self.ensure_module(module, owner) {
                    return refused;
                }
                let record = self.modules[module].as_mut().expect("ensured");
                if record.online == online {
                    return Outcome::Unchanged;
                }
                record.online = online;
                let owner = record.owner;
                // Owner's connections on modules/dashboard, admins on admin: once each.
                Outcome::Delivered(self.deliver(out, "module:status:changed", |id, page| {
                    (id.user == owner && is_owner_page(page)) || is_admin_on_admin_page(id, page)
                }))
            }
            HostCall::ModuleAdded {
                module,
                owner,
                online,
            } => {
                if let Err(refused) = self.ensure_module(module, owner) {
                    return refused;
                }
                let record = self.modules[module].as_mut().expect("ensured");
                if record.added {
                    return Outcome::Unchanged;
                }
                record.added = true;
                if let Some(online) = online {
                    record.online = online;
                }
                let owner = record.owner;
                let n = self.deliver(out, "user:module:added", |id, _| id.user == owner);
                Outcome::Delivered(n + self.deliver_to_admin_page(out, "admin:module:added"))
            }
            HostCall::ModuleRemoved { module, owner } => {
                let Some(record) = &self.modules[module] else {
                    return Outcome::Unchanged;
                };
                if owner.is_some_and(|claimed| claimed != record.owner) {
                    return Outcome::Refused("owner_mismatch".into());
                }
                let owner = record.owner;
                self.modules[module] = None;
                let n = self.deliver(out, "user:module:removed", |id, _| id.user == owner);
                Outcome::Delivered(n + self.deliver_to_admin_page(out, "admin:module:removed"))
            }
            HostCall::Telemetry { module, value } => {
                let Some(record) = &mut self.modules[module] else {
                    return Outcome::Refused("unknown_module".into());
                };
                if record.telemetry == Some(value) {
                    return Outcome::Unchanged;
                }
                record.telemetry = Some(value);
                let owner = record.owner;
                Outcome::Delivered(self.deliver(out, "module:telemetry:updated", |id, page| {
                    id.user == owner && is_owner_page(page)
                }))
            }
            HostCall::LoggedIn {
                session,
                flip_role,
                name,
            } => {
                let user = SESSION_OWNER[session];
                self.users[user].absorb(name);
                let role = if flip_role {
                    HOST_ROLE[user].flipped()
                } else {
                    HOST_ROLE[user]
                };
                let changed = self.live_sessions[session] != Some((user, role));
                self.live_sessions[session] = Some((user, role));
                self.revoked_sessions[session] = false;
                if !changed {
                    return Outcome::Unchanged;
                }
                let n = self.deliver(out, "user:session:started", |id, _| {
                    id.user == user && id.session != Some(session)
                });
                Outcome::Delivered(n + self.deliver_to_admin_page(out, "admin:user:logged_in"))
            }
            HostCall::LoggedOut { session, .. } => {
                let was_live = self.live_sessions[session].take().is_some();
                self.revoked_sessions[session] = true;
                let ended = self.deliver(out, "user:session:ended", |id, _| {
                    id.session == Some(session)
                });
                let mut closing = 0;
                for (index, conn) in self.conns.iter_mut().enumerate() {
                    if conn
                        .audience_identity()
                        .is_some_and(|id| id.session == Some(session))
                    {
                        conn.closed = Some("logged_out");
                        out[index].push("closed:logged_out".into());
                        closing += 1;
                    }
                }
                if !was_live && closing == 0 {
                    return Outcome::Unchanged;
                }
                Outcome::Delivered(ended + self.deliver_to_admin_page(out, "admin:user:logged_out"))
            }
            HostCall::ProfileUpdated { user, old, new } => {
                let record = &mut self.users[user];
                if !record.known {
                    record.absorb(old);
                }
                let changed = record.name != Some(new);
                record.name = Some(new);
                record.known = true;
                if !changed {
                    return Outcome::Unchanged;
                }
                Outcome::Delivered(
                    self.deliver(out, "user:profile:updated", |id, _| id.user == user),
                )
            }
            HostCall::Registered { user, name } => {
                let record = &mut self.users[user];
                let newly = !record.registered;
                record.registered = true;
                record.absorb(name);
                if !newly {
                    return Outcome::Unchanged;
                }
                Outcome::Delivered(self.deliver_to_admin_page(out, "admin:user:registered"))
            }
            HostCall::Stats(value) => {
                if self.stats == Some(value) {
                    return Outcome::Unchanged;
                }
                self.stats = Some(value);
                Outcome::Delivered(self.deliver_to_admin_page(out, "admin:stats:updated"))
            }
            HostCall::AdminAction { .. } => {
                Outcome::Delivered(self.deliver_to_admin_page(out, "admin:action"))
            }
            HostCall::Maintenance { enabled, message } => {
                // DESIGN: "already in that state with that message"; while off the
                // message shows nowhere, so switching off again is no change.
                let (was_enabled, was_message) = self.maintenance;
                if was_enabled == enabled && (was_message == message || !enabled) {
                    return Outcome::Unchanged;
                }
                self.maintenance = (enabled, message);
                Outcome::Delivered(self.deliver(out, "system:maintenance", |_, _| true))
            }
            HostCall::ToUser {
                user,
                mirrored: false,
            } => Outcome::Delivered(self.deliver(out, TO_USER_EVENT, |id, _| id.user == user)),
            HostCall::ToUser {
                user,
                mirrored: true,
            } => Outcome::Delivered(self.deliver(out, MIRRORED_EVENT, |id, page| {
                id.user == user || is_admin_on_admin_page(id, page)
            })),
            HostCall::ToAdmins { mirrored: false } => {
                Outcome::Delivered(
                    self.deliver(out, TO_ADMINS_EVENT, |id, _| id.role == MRole::Admin),
                )
            }
            HostCall::ToAdmins { mirrored: true } => {
                Outcome::Delivered(self.deliver_to_admin_page(out, MIRRORED_EVENT))
            }
            // Every authenticated user and admin connection, on every page.
            HostCall::ToEveryone => {
                Outcome::Delivered(self.deliver(out, TO_EVERYONE_EVENT, |_, _| true))
            }
        }
    }

    /// The user a received event is about, for isolation rule 1 (read from the payload,
    /// or for telemetry from the model's owner of the module).
    fn scope_of(&self, frame: &OutboundEvent) -> Option<String> {
        let payload = frame.payload();
        let text = |value: &Value| value.as_str().unwrap_or("<not a string>").to_owned();
        match frame.name() {
            "module:status:changed"
            | "user:session:started"
            | "user:session:ended"
            | "user:profile:updated" => Some(text(&payload["userId"])),
            "user:module:added" | "user:module:removed" => Some(text(&payload["module"]["userId"])),
            "module:telemetry:updated" => Some(
                MODULES
                    .iter()
                    .position(|m| payload["moduleId"] == *m)
                    .and_then(|m| self.modules[m].as_ref())
                    .map_or_else(|| "<unknown module>".to_owned(), |m| user_id(m.owner)),
            ),
            TO_USER_EVENT | MIRRORED_EVENT if payload.get("to").is_some() => {
                Some(text(&payload["to"]))
            }
            _ => None,
        }
    }
}

fn is_admin_only(frame: &OutboundEvent) -> bool {
    let name = frame.name();
    name.starts_with("admin:")
        || name == TO_ADMINS_EVENT
        || (name == MIRRORED_EVENT && frame.payload().get("to").is_none())
}

// ----- the real hub ------------------------------------------------------------------

fn jwt(user: usize, role: MRole, session: Option<usize>, forged: bool) -> String {
    let exp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_secs()
        + 3600;
    let mut claims = json!({"sub": user_number(user), "role": role.name(), "exp": exp});
    if role == MRole::Device {
        claims["sub"] = json!(device_module(user));
        claims["owner"] = json!(user_number(user));
    }
    if let Some(session) = session {
        claims["sid"] = json!(SESSIONS[session]);
    }
    let secret = if forged { WRONG_SECRET } else { SECRET };
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(secret),
    )
    .expect("encode a test token")
}

fn inbound(result: Result<Reply, InboundError>) -> Outcome {
    match result {
        Ok(_) => Outcome::InboundOk,
        Err(error) => Outcome::Refused(
            error.ack_body()["code"]
                .as_str()
                .unwrap_or("<no code>")
                .to_owned(),
        ),
    }
}

fn emitted(result: Result<EmitOutcome, HubError>) -> Outcome {
    match result {
        Ok(EmitOutcome::Unchanged) => Outcome::Unchanged,
        Ok(EmitOutcome::Delivered { connections }) => Outcome::Delivered(connections),
        Ok(other) => Outcome::Refused(format!("unexpected outcome {other:?}")),
        Err(error) => Outcome::Refused(error.code().to_owned()),
    }
}

fn perform(hub: &Hub, conns: &mut Vec<Option<InProcessConnection>>, step: &Step) -> Outcome {
    match step {
        Step::Nothing => Outcome::Any,
        Step::Connect => {
            conns.push(Some(hub.connect_in_process()));
            Outcome::Any
        }
        Step::Disconnect(index) => {
            conns[*index] = None;
            Outcome::Any
        }
        Step::Authenticate {
            conn,
            credential,
            claim_user,
            claim_role,
            page,
        } => {
            let mut payload = match credential {
                Credential::Session(session) => json!({"sessionId": SESSIONS[*session]}),
                Credential::Jwt {
                    user,
                    role,
                    session,
                    forged,
                } => json!({"token": jwt(*user, *role, *session, *forged)}),
            };
            if let Some(user) = claim_user {
                payload["userId"] = json!(user_number(*user));
            }
            if let Some(role) = claim_role {
                payload["userType"] = json!(role.name());
            }
            match page {
                PageArg::Absent => {}
                PageArg::Named(page) => payload["page"] = json!(PAGES[*page]),
                PageArg::Unknown => payload["page"] = json!("lobby"),
            }
            let connection = conns[*conn].as_ref().expect("model picks open connections");
            inbound(connection.authenticate(payload))
        }
        Step::ChangePage { conn, page } => {
            let data = match page {
                PageArg::Absent => json!({}),
                PageArg::Named(page) => json!({"page": PAGES[*page]}),
                PageArg::Unknown => json!({"page": "lobby"}),
            };
            let connection = conns[*conn].as_ref().expect("model picks open connections");
            inbound(connection.send("client:page", data))
        }
        Step::MoreSnapshot { conn, cursor } => {
            let data = match cursor {
                CursorArg::Missing => json!({}),
                CursorArg::After(module) => json!({"cursor": cursor_module(*module)}),
            };
            let connection = conns[*conn].as_ref().expect("model picks open connections");
            inbound(connection.send("client:snapshot", data))
        }
        Step::Host(call) => emitted(host_call_on(hub, call)),
    }
}

fn host_call_on(hub: &Hub, call: &HostCall) -> Result<EmitOutcome, HubError> {
    let with_owner = |mut object: Value, owner: Option<usize>| {
        if let Some(owner) = owner {
            object["userId"] = json!(user_number(owner));
        }
        object
    };
    match *call {
        HostCall::LoggedIn {
            session,
            flip_role,
            name,
        } => {
            let user = SESSION_OWNER[session];
            let role = if flip_role {
                HOST_ROLE[user].flipped()
            } else {
                HOST_ROLE[user]
            };
            let mut object = json!({"id": user_number(user), "role": role.name()});
            if let Some(name) = name {
                object["name"] = json!(format!("name-{name}"));
            }
            hub.emit_user_logged_in(&object, SESSIONS[session])
        }
        HostCall::LoggedOut { session } => {
            let user = SESSION_OWNER[session];
            hub.emit_user_logged_out(&json!({"id": user_number(user)}), SESSIONS[session])
        }
        HostCall::ModuleStatus {
            module,
            online,
            owner,
        } => {
            let info = with_owner(json!({"type": "Station", "name": "Station"}), owner);
            if online {
                hub.emit_module_online(MODULES[module], &info)
            } else {
                hub.emit_module_offline(MODULES[module], &info)
            }
        }
        HostCall::ModuleAdded {
            module,
            owner,
            online,
        } => {
            let mut object = with_owner(json!({"id": MODULES[module], "type": "Lift"}), owner);
            if let Some(online) = online {
                object["online"] = json!(online);
            }
            hub.emit_module_added(&object)
        }
        HostCall::ModuleRemoved { module, owner } => {
            hub.emit_module_removed(&with_owner(json!({"moduleId": MODULES[module]}), owner))
        }
        HostCall::Telemetry { module, value } => {
            hub.emit_telemetry_update(MODULES[module], &json!({"speed": value}))
        }
        HostCall::ProfileUpdated { user, old, new } => {
            let mut old_object = json!({"id": user_number(user)});
            if let Some(old) = old {
                old_object["name"] = json!(format!("name-{old}"));
            }
            let new_object = json!({"id": user_number(user), "name": format!("name-{new}")});
            hub.emit_user_profile_updated(&old_object, &new_object)
        }
        HostCall::Registered { user, name } => {
            let mut object = json!({"id": user_number(user)});
            if let Some(name) = name {
                object["name"] = json!(format!("name-{name}"));
            }
            hub.emit_user_registered(&object)
        }
        HostCall::Stats(value) => hub.emit_stats_update_with(&json!({"users": value})),
        HostCall::AdminAction { admin } => {
            hub.emit_admin_action(user_number(admin), "user_promoted", &json!({"target": 2}))
        }
        HostCall::Maintenance { enabled, message } => {
            hub.emit_maintenance_mode(enabled, MAINTENANCE_MESSAGES[message], 1)
        }
        HostCall::ToUser { user, mirrored } => {
            let name = if mirrored {
                MIRRORED_EVENT
            } else {
                TO_USER_EVENT
            };
            hub.emit_to_user(user_number(user), name, &json!({"to": user_id(user)}))
        }
        HostCall::ToAdmins { mirrored } => {
            let name = if mirrored {
                MIRRORED_EVENT
            } else {
                TO_ADMINS_EVENT
            };
            hub.emit_to_admins(name, &json!({"level": "info"}))
        }
        HostCall::ToEveryone => hub.emit_to_everyone(TO_EVERYONE_EVENT, &json!({"all": true})),
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
        check_listing(model, index, name, &frame.payload(), context)?;
    }
    Ok(())
}

impl Model {
    /// The modules (id, owner) a connection of `user` lists in a snapshot, in id order:
    /// every module for the fleet, else the user's own.
    fn listable(&self, user: usize, fleet: bool) -> Vec<(String, usize)> {
        let mut visible: Vec<(String, usize)> = self
            .modules
            .iter()
            .enumerate()
            .filter_map(|(m, record)| record.as_ref().map(|r| (MODULES[m].to_owned(), r.owner)))
            .collect();
        for (owner, device) in self.devices.iter().enumerate() {
            if device.known {
                visible.push((device_module(owner), owner));
            }
        }
        visible.retain(|&(_, owner)| fleet || owner == user);
        visible.sort();
        visible
    }
}

/// Checks a `page:snapshot` or `page:snapshot:more` listing against the model: the
/// modules the connection may list (the fleet for an admin on `admin`, else its own),
/// in id order after the cursor, a page at a time, with `total` and `nextCursor`.
fn check_listing(
    model: &Model,
    index: usize,
    name: &str,
    payload: &Value,
    context: &str,
) -> Result<(), TestCaseError> {
    let conn = &model.conns[index];
    let who = describe(conn);
    let after = match name {
        "page:snapshot" => None,
        "page:snapshot:more" => Some(conn.cursor.clone().unwrap_or_default()),
        _ => return Ok(()),
    };
    let Some(id) = &conn.auth else {
        return Ok(());
    };
    let listed: Vec<String> = payload["modules"]
        .as_array()
        .map(|modules| {
            modules
                .iter()
                .map(|m| format!("{}@{}", m["moduleId"], m["userId"]))
                .collect()
        })
        .unwrap_or_default();
    // An admin on `admin` lists the fleet; everyone else their own modules.
    let fleet = id.role == MRole::Admin && conn.page == ADMIN_PAGE;
    let visible = model.listable(id.user, fleet);
    let total = visible.len();
    let rest: Vec<&(String, usize)> = visible
        .iter()
        .filter(|(module, _)| after.as_ref().is_none_or(|after| module > after))
        .collect();
    let expected: Vec<String> = rest
        .iter()
        .take(SNAPSHOT_PAGE_SIZE)
        .map(|(module, owner)| format!("\"{module}\"@\"{}\"", user_id(*owner)))
        .collect();
    let which = match (&after, fleet) {
        (None, true) => "the first page of every module".to_owned(),
        (None, false) => "the first page of its own modules".to_owned(),
        (Some(after), true) => format!("every module after {after}"),
        (Some(after), false) => format!("its own modules after {after}"),
    };
    prop_assert_eq!(
        &listed,
        &expected,
        "{} of connection #{} ({}) must list {} in id order\n{}",
        name,
        index,
        who,
        which,
        context
    );
    let next_cursor = if rest.len() > SNAPSHOT_PAGE_SIZE {
        json!(rest[SNAPSHOT_PAGE_SIZE - 1].0)
    } else {
        Value::Null
    };
    prop_assert_eq!(
        (&payload["total"], &payload["nextCursor"]),
        (&json!(total), &next_cursor),
        "{} total and nextCursor of connection #{} ({})\n{}",
        name,
        index,
        who,
        context
    );
    if after.is_none() {
        check_snapshot_extras(model, conn, id, payload, context)?;
    }
    Ok(())
}

/// A `page:snapshot`'s `stats` (admins on `admin`, once there are stats) and
/// `maintenance` (while it is on).
fn check_snapshot_extras(
    model: &Model,
    conn: &MConn,
    id: &MIdentity,
    payload: &Value,
    context: &str,
) -> Result<(), TestCaseError> {
    let who = describe(conn);
    let stats_expected =
        id.role == MRole::Admin && conn.page == ADMIN_PAGE && model.stats.is_some();
    prop_assert_eq!(
        payload.get("stats").is_some(),
        stats_expected,
        "page:snapshot stats presence for connection {}\n{}",
        who,
        context
    );
    prop_assert_eq!(
        payload.get("maintenance").is_some(),
        model.maintenance.0,
        "page:snapshot maintenance presence for connection {}\n{}",
        who,
        context
    );
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
