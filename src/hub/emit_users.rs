//! The host calls about users and sessions: `emit_user_logged_in` /
//! `emit_user_logged_out` (which also feed the session authenticator),
//! `emit_user_profile_updated` and `emit_user_registered`. Each decides change (in the
//! shared broker when there is one, else the store) under the emit lock and hands its
//! events to `deliver.rs`; none resolves audiences or encodes frames itself.

#[allow(clippy::wildcard_imports)]
use super::*;

use super::cluster::{Shared, field};
use super::emit::user_view;

impl Hub {
    /// A user logged in with `session_id` (seed: `emitUserLoggedIn(user, sid)`); `user`
    /// has `id`/`userId`, `role`/`userType` (default `user`) and profile fields. Registers
    /// the session for the session authenticator, then sends `user:session:started` to
    /// the user's other sessions and `admin:user:logged_in` to admins. The same session
    /// logging in twice is `Unchanged`.
    pub fn emit_user_logged_in(
        &self,
        user: &Value,
        session_id: &str,
    ) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let (id, role, profile) = input::user_object(user)?;
            let session = SessionId::new(session_id)?;
            let mut guard = self.lock()?;
            let shared = self.claim(
                &mut guard,
                || format!("session:{session}:{id}"),
                &[field("role", role.as_str()), field("live", "1")],
            );
            if shared == Shared::Unchanged {
                return Ok((None, guard));
            }
            guard.store.remember_profile(&id, &profile);
            if !self
                .inner
                .auth
                .sessions
                .log_in(session.clone(), id.clone(), role)
                && shared != Shared::Changed
            {
                return Ok((None, guard));
            }
            self.save(|db| db.save_session(&session, &id, role));
            self.save_user(&guard.store, &id);
            let now = now_ms();
            let events = vec![
                Event::new(
                    event::USER_SESSION_STARTED,
                    object(vec![("userId", json!(id))], now),
                    Audience::User {
                        user: id.clone(),
                        except_session: Some(session),
                    },
                ),
                Event::new(
                    event::ADMIN_USER_LOGGED_IN,
                    object(vec![("user", user_view(&id, role, &profile))], now),
                    Audience::Admins,
                ),
            ];
            Ok((Some(events), guard))
        })();
        self.finish(
            Emission {
                call: "user_logged_in",
                user: self.audited_user(user),
                module: None,
            },
            || json!({"user": user, "sessionId": session_id}),
            result,
        )
    }

    /// A session logged out (seed: `emitUserLoggedOut(user, sid)`). Sends
    /// `user:session:ended` to that session's connections, then closes them (reason
    /// `logged_out`), and `admin:user:logged_out` to admins. The session id is refused
    /// by both built-in authenticators afterwards. A session that is neither logged in
    /// nor connected is `Unchanged`.
    pub fn emit_user_logged_out(
        &self,
        user: &Value,
        session_id: &str,
    ) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let (id, role, profile) = input::user_object(user)?;
            let session = SessionId::new(session_id)?;
            let mut guard = self.lock()?;
            // The local table refuses another user's session first. The shared state is
            // keyed by session and user, and the events are addressed to that user's
            // connections with that session only, so a logout naming the wrong user
            // cannot end someone else's session. A session never logged in through a
            // hub (a JWT naming it) changes on its first logout, like on one node.
            let was_live = self
                .inner
                .auth
                .sessions
                .log_out(&session, &id)
                .map_err(|owner| HubError::SessionMismatch { owner })?;
            let shared = self.claim(
                &mut guard,
                || format!("session:{session}:{id}"),
                &[field("live", "0")],
            );
            if shared == Shared::Unchanged {
                return Ok((None, guard));
            }
            // Saved even when it was not live: a JWT may carry this sid, and the id must
            // stay refused after a restart.
            self.save(|db| db.remove_session(&session));
            let now = now_ms();
            let ended = Event::new(
                event::USER_SESSION_ENDED,
                object(vec![("userId", json!(id))], now),
                Audience::Session {
                    user: id.clone(),
                    session: session.clone(),
                },
            );
            if self.inner.shared {
                guard.delivered.push(ended.clone());
            }
            let reached = self.publish(ended);
            let closing = self.inner.registry.end_session(&id, &session);
            for queue in &closing {
                if queue.close(CloseReason::LoggedOut) {
                    self.audit_close(queue.id(), CloseReason::LoggedOut, Some(id.clone()));
                }
            }
            if !was_live && closing.is_empty() && shared != Shared::Changed {
                return Ok((None, guard));
            }
            let admins = Event::new(
                event::ADMIN_USER_LOGGED_OUT,
                object(vec![("user", user_view(&id, role, &profile))], now),
                Audience::Admins,
            );
            if self.inner.shared {
                guard.delivered.push(admins.clone());
            }
            let reached = reached + self.publish(admins);
            Ok((Some(reached), guard))
        })();
        let result = result.map(|(reached, guard)| (reached.map(Published::Done), guard));
        self.finish_published(
            Emission {
                call: "user_logged_out",
                user: self.audited_user(user),
                module: None,
            },
            || json!({"user": user, "sessionId": session_id}),
            result,
        )
    }

    /// A profile changed (seed: `emitUserProfileUpdated(old, new)`). Sends
    /// `user:profile:updated {userId, changes}` to the user's connections with only the
    /// fields that differ from the stored profile (or from `old` the first time);
    /// `Unchanged` when none differs.
    pub fn emit_user_profile_updated(
        &self,
        old: &Value,
        new: &Value,
    ) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let new_map = input::object("new", new)?;
            let old_map = input::object("old", old)?;
            let id = input::user_id(new_map).or_else(|_| input::user_id(old_map))?;
            let old_profile = input::profile_fields(old_map);
            let new_profile = input::profile_fields(new_map);
            let mut guard = self.lock()?;
            let shared = self.claim_profile(&mut guard, &id, &old_profile, &new_profile);
            let mut changes = guard.store.update_profile(&id, &old_profile, &new_profile);
            if let Some(fields) = shared {
                changes = fields
                    .iter()
                    .filter_map(|name| Some((name.clone(), new_profile.get(name)?.clone())))
                    .collect();
            }
            if changes.is_empty() {
                return Ok((None, guard));
            }
            self.save_user(&guard.store, &id);
            let now = now_ms();
            let event = Event::new(
                event::USER_PROFILE_UPDATED,
                object(
                    vec![("userId", json!(id)), ("changes", Value::Object(changes))],
                    now,
                ),
                Audience::User {
                    user: id,
                    except_session: None,
                },
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "user_profile_updated",
                user: None,
                module: None,
            },
            || json!({"old": old, "new": new}),
            result,
        )
    }

    /// A new account (seed: `emitUserRegistered(user)`). Sends `admin:user:registered
    /// {user}` to admins unless that user was already registered.
    pub fn emit_user_registered(&self, user: &Value) -> Result<EmitOutcome, HubError> {
        let result = (|| {
            let (id, role, profile) = input::user_object(user)?;
            let mut guard = self.lock()?;
            let shared = self.claim(
                &mut guard,
                || format!("user:{id}:registered"),
                &[field("registered", "1")],
            );
            if shared == Shared::Unchanged
                || !guard.store.register_user(&id, &profile) && shared != Shared::Changed
            {
                return Ok((None, guard));
            }
            self.save_user(&guard.store, &id);
            let event = Event::new(
                event::ADMIN_USER_REGISTERED,
                object(vec![("user", user_view(&id, role, &profile))], now_ms()),
                Audience::Admins,
            );
            Ok((Some(vec![event]), guard))
        })();
        self.finish(
            Emission {
                call: "user_registered",
                user: self.audited_user(user),
                module: None,
            },
            || user.clone(),
            result,
        )
    }
}
