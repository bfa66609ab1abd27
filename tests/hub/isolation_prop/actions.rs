//! The generated actions (connections, credentials, host calls; proptest strategies)
//! and the concrete steps both the model and the hub apply.

use proptest::prelude::*;
use proptest::sample::Index;

use super::{MAINTENANCE_MESSAGES, MODULES, MRole, PAGES, SESSION_OWNER, SESSIONS, USERS};

// ----- generated actions -------------------------------------------------------------

/// A claim the client adds to its authenticate payload (checked by the hub, never
/// trusted).
#[derive(Debug, Clone, Copy)]
pub(super) enum Claim<T> {
    Absent,
    /// The value the credential really carries.
    Matching,
    Given(T),
}

#[derive(Debug, Clone, Copy)]
pub(super) enum PageArg {
    /// No page given (authenticate defaults to `modules`; `client:page` is malformed).
    Absent,
    Named(usize),
    /// A page the hub does not have.
    Unknown,
}

/// The `cursor` of a `client:snapshot`.
#[derive(Debug, Clone, Copy)]
pub(super) enum CursorArg {
    /// No cursor (refused as `invalid_snapshot`).
    Missing,
    /// After this module (`cursor_module`), whoever owns it, or whether it exists.
    After(usize),
}

#[derive(Debug, Clone)]
pub(super) enum Credential {
    Session(usize),
    Jwt {
        user: usize,
        role: MRole,
        session: Option<usize>,
        forged: bool,
    },
}

#[derive(Debug, Clone)]
pub(super) enum Action {
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
pub(super) enum HostCall {
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

pub(super) fn claim<T: std::fmt::Debug + Clone + 'static>(
    given: impl Strategy<Value = T> + 'static,
) -> impl Strategy<Value = Claim<T>> {
    prop_oneof![
        4 => Just(Claim::Absent),
        4 => Just(Claim::Matching),
        1 => given.prop_map(Claim::Given),
    ]
}

pub(super) fn page_arg() -> impl Strategy<Value = PageArg> {
    prop_oneof![
        2 => Just(PageArg::Absent),
        12 => (0..PAGES.len()).prop_map(PageArg::Named),
        1 => Just(PageArg::Unknown),
    ]
}

pub(super) fn cursor_arg() -> impl Strategy<Value = CursorArg> {
    prop_oneof![
        1 => Just(CursorArg::Missing),
        8 => (0..MODULES.len() + USERS).prop_map(CursorArg::After),
    ]
}

pub(super) fn role() -> impl Strategy<Value = MRole> {
    prop_oneof![
        4 => Just(MRole::User),
        3 => Just(MRole::Admin),
        1 => Just(MRole::Device),
    ]
}

pub(super) fn credential() -> impl Strategy<Value = Credential> {
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

pub(super) fn host_call() -> impl Strategy<Value = HostCall> {
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

pub(super) fn action() -> impl Strategy<Value = Action> {
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
pub(super) fn prelude() -> Vec<Action> {
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
pub(super) enum Step {
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
