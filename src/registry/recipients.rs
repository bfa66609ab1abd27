//! Audience resolution: which connections an event reaches
//! ([`Registry::for_each_recipient`]).
//!
//! Owns the isolation rules listed in the registry's header (a user-scoped audience
//! walks only that user's connections; admins come only from the per-page admin index;
//! a connection that qualifies twice is visited once). It must not push frames itself:
//! the caller's `deliver` does, under the registry's read lock. Guarded by
//! `tests/hub/isolation_prop.rs` and `tests/hub/events.rs`.

use std::sync::Arc;

use super::routing::{PageIndex, Route};
use super::{Inner, Member, Registry};
use crate::event::Audience;
use crate::ids::ConnectionId;
use crate::outbound::OutboundQueue;

impl Registry {
    /// Calls `deliver` once for every connection that `audience` reaches under `route`.
    /// Holds the read lock while visiting: `deliver` must only push into queues.
    pub(crate) fn for_each_recipient(
        &self,
        audience: &Audience,
        route: Route,
        mut deliver: impl FnMut(&Arc<OutboundQueue>),
    ) {
        let inner = self.inner.read();
        match audience {
            Audience::User {
                user,
                except_session,
            } => {
                let own = inner.by_user.get(user);
                let reaches_own = |member: &Member| {
                    route.user_pages.contains(member.page)
                        && (except_session.is_none() || member.session != *except_session)
                };
                if let Some(own) = own {
                    for member in own.values().filter(|m| reaches_own(m)) {
                        deliver(&member.queue);
                    }
                }
                self.visit_admins(&inner, route, |id, queue| {
                    let already = own.and_then(|own| own.get(&id)).is_some_and(reaches_own);
                    if !already {
                        deliver(queue);
                    }
                });
            }
            Audience::Session { user, session } => {
                if let Some(members) = inner.by_user.get(user) {
                    for member in members.values() {
                        if member.session.as_ref() == Some(session)
                            && route.user_pages.contains(member.page)
                        {
                            deliver(&member.queue);
                        }
                    }
                }
            }
            Audience::Admins => self.visit_admins(
                &inner,
                route,
                // So that a `deliver` inlined by its caller stays in the loop.
                #[inline(always)]
                |_, queue| deliver(queue),
            ),
            Audience::Everyone => {
                if route.user_pages.is_all() {
                    for member in inner.everyone.values() {
                        deliver(&member.queue);
                    }
                } else {
                    for member in inner.everyone.values() {
                        if route.user_pages.contains(member.page) {
                            deliver(&member.queue);
                        }
                    }
                }
            }
        }
    }

    fn visit_admins(
        &self,
        inner: &Inner,
        route: Route,
        mut visit: impl FnMut(ConnectionId, &Arc<OutboundQueue>),
    ) {
        if route.admin_pages.is_empty() {
            return;
        }
        for (index, admins) in inner.admins.iter().enumerate() {
            if route.admin_pages.contains(PageIndex(index as u8)) {
                for (id, queue) in admins {
                    visit(*id, queue);
                }
            }
        }
    }
}
