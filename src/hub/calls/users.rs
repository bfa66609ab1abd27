//! The host calls about users and sessions: `user_logged_in` ([`LogIn`]) and
//! `user_logged_out` ([`LogOut`]), which also feed the session authenticator,
//! `user_profile_updated` and `user_registered` ([`Registered`]).

use serde_json::{Map, Value, json};

use super::user_view;
use crate::auth::Role;
use crate::call::{Login, ProfileUpdate, Step};
use crate::event::{self, Audience, Event, now_ms, object};
use crate::hub::cluster::{Shared, field};
use crate::hub::run::{Apply, Audited, Mode};
use crate::hub::{Claimed, Hub, HubError};
use crate::ids::{SessionId, UserId};
use crate::input;
use crate::store::Store;

/// A user object's id, role and profile.
pub(in crate::hub) struct UserArgs {
    id: UserId,
    role: Role,
    profile: Map<String, Value>,
}

fn user_args(user: &Value) -> Result<UserArgs, HubError> {
    let (id, role, profile) = input::user_object(user)?;
    Ok(UserArgs { id, role, profile })
}

/// The user id named by a user object, for the audit (id only).
fn audited_user(user: &Value) -> Audited {
    let id = input::object("user", user)
        .ok()
        .and_then(|map| input::user_id(map).ok());
    (id, None)
}

/// A login's or a logout's checked arguments.
pub(in crate::hub) struct SessionArgs {
    user: UserArgs,
    session: SessionId,
    /// Whether the session was live before a logout.
    was_live: bool,
}

fn session_args(body: &Login<'_>) -> Result<SessionArgs, HubError> {
    Ok(SessionArgs {
        user: user_args(&body.user)?,
        session: SessionId::new(&body.session_id)?,
        was_live: false,
    })
}

fn admins_event(name: &'static str, user: &UserArgs) -> Event {
    let view = user_view(&user.id, user.role, &user.profile);
    Event::new(
        name,
        object(vec![("user", view)], now_ms()),
        Audience::Admins,
    )
}

/// `user_logged_in`: registers the session for the session authenticator.
pub(in crate::hub) struct LogIn<'c, 'a>(pub(in crate::hub) &'c Login<'a>);

impl Apply for LogIn<'_, '_> {
    type Args = SessionArgs;

    fn check(&self, _hub: &Hub) -> Result<SessionArgs, HubError> {
        session_args(self.0)
    }

    fn claim(
        &self,
        args: &mut SessionArgs,
        hub: &Hub,
        claimed: &mut Claimed,
    ) -> Result<Shared, HubError> {
        let (user, session) = (&args.user, &args.session);
        let key = || format!("session:{session}:{}", user.id);
        let fields = [field("role", user.role.as_str()), field("live", "1")];
        Ok(hub.claim(claimed, key, &fields))
    }

    fn apply(
        &self,
        args: &mut SessionArgs,
        hub: &Hub,
        store: &mut Store,
        mode: Mode,
    ) -> Result<bool, HubError> {
        let user = &args.user;
        store.remember_profile(&user.id, &user.profile);
        let sessions = &hub.inner.auth.sessions;
        if !sessions.log_in(args.session.clone(), user.id.clone(), user.role) && mode == Mode::Local
        {
            return Ok(false);
        }
        hub.save(|db| db.save_session(&args.session, &user.id, user.role));
        hub.save_user(store, &user.id);
        Ok(true)
    }

    fn steps(&self, args: SessionArgs, _store: &Store) -> Vec<Step> {
        let started = Event::new(
            event::USER_SESSION_STARTED,
            object(vec![("userId", json!(args.user.id))], now_ms()),
            Audience::User {
                user: args.user.id.clone(),
                except_session: Some(args.session),
            },
        );
        let admins = admins_event(event::ADMIN_USER_LOGGED_IN, &args.user);
        vec![Step::Event(started), Step::Event(admins)]
    }

    fn audited(&self) -> Audited {
        audited_user(&self.0.user)
    }
}

/// `user_logged_out`: ends the session on every node, after telling its connections.
pub(in crate::hub) struct LogOut<'c, 'a>(pub(in crate::hub) &'c Login<'a>);

impl Apply for LogOut<'_, '_> {
    type Args = SessionArgs;

    fn check(&self, _hub: &Hub) -> Result<SessionArgs, HubError> {
        session_args(self.0)
    }

    fn claim(
        &self,
        args: &mut SessionArgs,
        hub: &Hub,
        claimed: &mut Claimed,
    ) -> Result<Shared, HubError> {
        // The local table refuses another user's session first. The shared state is
        // keyed by session and user, and the events are addressed to that user's
        // connections with that session only, so a logout naming the wrong user cannot
        // end someone else's session. A session never logged in through a hub (a JWT
        // naming it) changes on its first logout, like on one node.
        args.was_live = hub
            .inner
            .auth
            .sessions
            .log_out(&args.session, &args.user.id)
            .map_err(|owner| HubError::SessionMismatch { owner })?;
        let key = || format!("session:{}:{}", args.session, args.user.id);
        Ok(hub.claim(claimed, key, &[field("live", "0")]))
    }

    fn apply(
        &self,
        args: &mut SessionArgs,
        hub: &Hub,
        _store: &mut Store,
        mode: Mode,
    ) -> Result<bool, HubError> {
        if mode == Mode::Mirror {
            let _ = hub
                .inner
                .auth
                .sessions
                .log_out(&args.session, &args.user.id);
        }
        // Saved even when it was not live: a JWT may carry this sid, and the id must
        // stay refused after a restart.
        hub.save(|db| db.remove_session(&args.session));
        let connected = hub.inner.registry.has_session(&args.user.id, &args.session);
        Ok(args.was_live || connected || mode != Mode::Local)
    }

    fn steps(&self, args: SessionArgs, _store: &Store) -> Vec<Step> {
        let ended = Event::new(
            event::USER_SESSION_ENDED,
            object(vec![("userId", json!(args.user.id))], now_ms()),
            Audience::Session {
                user: args.user.id.clone(),
                session: args.session.clone(),
            },
        );
        let admins = admins_event(event::ADMIN_USER_LOGGED_OUT, &args.user);
        vec![
            Step::Event(ended),
            Step::EndSession {
                user: args.user.id,
                session: args.session,
            },
            Step::Event(admins),
        ]
    }

    fn audited(&self) -> Audited {
        audited_user(&self.0.user)
    }
}

/// A profile update's checked arguments and the changes found.
pub(in crate::hub) struct ProfileArgs {
    id: UserId,
    old: Map<String, Value>,
    new: Map<String, Value>,
    /// The fields the shared broker found changed (`None`: the local store decides).
    shared: Option<Vec<String>>,
    changes: Map<String, Value>,
}

impl Apply for ProfileUpdate<'_> {
    type Args = ProfileArgs;

    fn check(&self, _hub: &Hub) -> Result<ProfileArgs, HubError> {
        let new = input::object("new", &self.new)?;
        let old = input::object("old", &self.old)?;
        Ok(ProfileArgs {
            id: input::user_id(new).or_else(|_| input::user_id(old))?,
            old: input::profile_fields(old),
            new: input::profile_fields(new),
            shared: None,
            changes: Map::new(),
        })
    }

    fn claim(
        &self,
        args: &mut ProfileArgs,
        hub: &Hub,
        claimed: &mut Claimed,
    ) -> Result<Shared, HubError> {
        args.shared = hub.claim_profile(claimed, &args.id, &args.old, &args.new);
        Ok(match &args.shared {
            None => Shared::Local,
            Some(fields) if fields.is_empty() => Shared::Unchanged,
            Some(_) => Shared::Changed,
        })
    }

    fn apply(
        &self,
        args: &mut ProfileArgs,
        hub: &Hub,
        store: &mut Store,
        _mode: Mode,
    ) -> Result<bool, HubError> {
        args.changes = store.update_profile(&args.id, &args.old, &args.new);
        if let Some(fields) = &args.shared {
            args.changes = fields
                .iter()
                .filter_map(|name| Some((name.clone(), args.new.get(name)?.clone())))
                .collect();
        }
        if args.changes.is_empty() {
            return Ok(false);
        }
        hub.save_user(store, &args.id);
        Ok(true)
    }

    fn steps(&self, args: ProfileArgs, _store: &Store) -> Vec<Step> {
        let payload = object(
            vec![
                ("userId", json!(args.id)),
                ("changes", Value::Object(args.changes)),
            ],
            now_ms(),
        );
        let audience = Audience::User {
            user: args.id,
            except_session: None,
        };
        let name = event::USER_PROFILE_UPDATED;
        vec![Step::Event(Event::new(name, payload, audience))]
    }
}

/// `user_registered`: the user object.
pub(in crate::hub) struct Registered<'c>(pub(in crate::hub) &'c Value);

impl Apply for Registered<'_> {
    type Args = UserArgs;

    fn check(&self, _hub: &Hub) -> Result<UserArgs, HubError> {
        user_args(self.0)
    }

    fn claim(
        &self,
        args: &mut UserArgs,
        hub: &Hub,
        claimed: &mut Claimed,
    ) -> Result<Shared, HubError> {
        let key = || format!("user:{}:registered", args.id);
        Ok(hub.claim(claimed, key, &[field("registered", "1")]))
    }

    fn apply(
        &self,
        args: &mut UserArgs,
        hub: &Hub,
        store: &mut Store,
        mode: Mode,
    ) -> Result<bool, HubError> {
        if !store.register_user(&args.id, &args.profile) && mode == Mode::Local {
            return Ok(false);
        }
        hub.save_user(store, &args.id);
        Ok(true)
    }

    fn steps(&self, args: UserArgs, _store: &Store) -> Vec<Step> {
        vec![Step::Event(admins_event(
            event::ADMIN_USER_REGISTERED,
            &args,
        ))]
    }

    fn audited(&self) -> Audited {
        audited_user(self.0)
    }
}
