//! The naive model: connections scanned once per event with DESIGN §4's rule applied
//! literally, and a store that knows just enough to tell whether a call changes
//! anything (the host calls themselves are `model/host.rs`). It never calls registry
//! code nor the library's routing table.

use microcoaster_realtime::OutboundEvent;
use proptest::sample::Index;

use super::actions::{Action, Claim, Credential, PageArg, Step};
use super::{
    ADMIN_PAGE, DASHBOARD_PAGE, MAX_AUTH_FAILURES, MAX_OPEN_CONNECTIONS, MIRRORED_EVENT, MODULES,
    MODULES_PAGE, MRole, SESSIONS, TO_ADMINS_EVENT, USERS,
};

mod host;

// ----- the naive model ---------------------------------------------------------------

#[derive(Debug, Clone, PartialEq)]
pub(super) struct MIdentity {
    pub(super) user: usize,
    pub(super) role: MRole,
    pub(super) session: Option<usize>,
}

#[derive(Debug, Clone)]
pub(super) struct MConn {
    pub(super) dropped: bool,
    pub(super) closed: Option<&'static str>,
    pub(super) auth: Option<MIdentity>,
    pub(super) page: usize,
    pub(super) failures: u32,
    /// The cursor of this step's `client:snapshot`, for checking its reply's listing.
    pub(super) cursor: Option<String>,
}

impl MConn {
    /// The identity if this connection is part of audiences: open, authenticated, and
    /// not a device.
    pub(super) fn audience_identity(&self) -> Option<&MIdentity> {
        if self.dropped || self.closed.is_some() {
            return None;
        }
        self.auth.as_ref().filter(|id| id.role != MRole::Device)
    }
}

#[derive(Debug, Clone)]
pub(super) struct MModule {
    pub(super) owner: usize,
    pub(super) online: bool,
    pub(super) added: bool,
    pub(super) telemetry: Option<u8>,
}

/// A user's board: how many of its device connections are live, and whether the hub
/// has seen (and so records) its module.
#[derive(Debug, Clone, Default)]
pub(super) struct MDevice {
    pub(super) connections: usize,
    pub(super) online: bool,
    pub(super) known: bool,
}

#[derive(Debug, Clone, Default)]
pub(super) struct MUser {
    pub(super) registered: bool,
    pub(super) name: Option<u8>,
    pub(super) known: bool,
}

impl MUser {
    pub(super) fn absorb(&mut self, name: Option<u8>) {
        if let Some(name) = name {
            self.name = Some(name);
            self.known = true;
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Outcome {
    /// Inbound message or no-op: not compared.
    Any,
    Unchanged,
    Delivered(usize),
    Refused(String),
    InboundOk,
}

#[derive(Debug, Default)]
pub(super) struct Model {
    pub(super) conns: Vec<MConn>,
    pub(super) modules: [Option<MModule>; MODULES.len()],
    pub(super) users: [MUser; USERS],
    pub(super) devices: [MDevice; USERS],
    pub(super) live_sessions: [Option<(usize, MRole)>; SESSIONS.len()],
    pub(super) revoked_sessions: [bool; SESSIONS.len()],
    pub(super) stats: Option<u8>,
    pub(super) maintenance: (bool, usize),
}

pub(super) struct Expected {
    /// Per connection (by index): what it receives in this step, in order.
    pub(super) received: Vec<Vec<String>>,
    pub(super) outcome: Outcome,
}

pub(super) fn is_owner_page(page: usize) -> bool {
    page == MODULES_PAGE || page == DASHBOARD_PAGE
}

pub(super) fn is_admin_on_admin_page(id: &MIdentity, page: usize) -> bool {
    id.role == MRole::Admin && page == ADMIN_PAGE
}

impl Model {
    pub(super) fn open_conns(&self) -> Vec<usize> {
        (0..self.conns.len())
            .filter(|&i| !self.conns[i].dropped)
            .collect()
    }

    pub(super) fn pick(&self, index: &Index) -> Option<usize> {
        let open = self.open_conns();
        (!open.is_empty()).then(|| open[index.index(open.len())])
    }

    pub(super) fn resolve(&self, action: &Action) -> Step {
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
    pub(super) fn deliver(
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

    pub(super) fn deliver_to_admin_page(&self, out: &mut [Vec<String>], name: &str) -> usize {
        self.deliver(out, name, is_admin_on_admin_page)
    }

    pub(super) fn apply(&mut self, step: &Step) -> Expected {
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
    pub(super) fn snapshot_replies(&self, out: &mut Vec<String>, role: MRole) {
        if role == MRole::Device {
            return;
        }
        out.push("page:snapshot".into());
        if self.maintenance.0 {
            out.push("system:maintenance".into());
        }
    }

    pub(super) fn refuse(&mut self, out: &mut [Vec<String>], conn: usize, code: &str) -> Outcome {
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
    pub(super) fn device_came(&mut self, out: &mut [Vec<String>], user: usize) {
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
    pub(super) fn device_gone(&mut self, out: &mut [Vec<String>], conn: usize) {
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

    pub(super) fn authenticate(
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

    pub(super) fn change_page(
        &mut self,
        out: &mut [Vec<String>],
        conn: usize,
        page: PageArg,
    ) -> Outcome {
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

    /// Creates the module if new (needs an owner); refuses another claimed owner.
    pub(super) fn ensure_module(
        &mut self,
        module: usize,
        owner: Option<usize>,
    ) -> Result<(), Outcome> {
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
}

pub(super) fn is_admin_only(frame: &OutboundEvent) -> bool {
    let name = frame.name();
    name.starts_with("admin:")
        || name == TO_ADMINS_EVENT
        || (name == MIRRORED_EVENT && frame.payload().get("to").is_none())
}
