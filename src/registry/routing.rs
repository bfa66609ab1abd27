//! Pages and the event → page routing table (configuration, with DESIGN §4's defaults).
//!
//! A page is one of the hub's configured page names (`modules`, `admin`, `dashboard` by
//! default, at most 64). A [`Route`] says on which pages the user part of an audience
//! receives an event and on which pages admins receive it; the registry applies it at
//! resolution time. This module must not know about connections.

use std::collections::HashMap;

use crate::event::{self, Audience};

/// Index of a page in the hub's page list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageIndex(pub(crate) u8);

/// A set of pages, as a bit mask over the page list.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct PageSet(u64);

impl PageSet {
    /// No page.
    pub const NONE: Self = Self(0);
    /// Every page, including pages configured later.
    pub const ALL: Self = Self(u64::MAX);

    /// Whether `page` is in the set.
    pub fn contains(self, page: PageIndex) -> bool {
        self.0 & (1 << page.0) != 0
    }

    /// Whether the set is every page.
    pub fn is_all(self) -> bool {
        self == Self::ALL
    }

    /// Whether the set is empty.
    pub fn is_empty(self) -> bool {
        self.0 == 0
    }

    fn with(self, page: PageIndex) -> Self {
        Self(self.0 | (1 << page.0))
    }
}

/// Where one event goes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// Pages on which the addressed users (or sessions, or everyone) receive it.
    pub user_pages: PageSet,
    /// Pages on which admins receive it: for a user-scoped event this mirrors it to
    /// admins (module status on `admin`); for an admin event it is its audience.
    pub admin_pages: PageSet,
}

/// The hub's pages and routing table.
#[derive(Debug, Clone)]
pub struct Routing {
    pages: Vec<String>,
    /// Looked up by every emit: foldhash (seeded per process) instead of SipHash, which
    /// cost 239 instructions per emit here, foldhash under 100 (`scripts/bench profile`).
    routes: HashMap<String, Route, foldhash::fast::RandomState>,
    /// Route of host events (`emit_to_user`, `emit_to_admins`) with no entry.
    custom: Route,
}

/// Why a routing configuration was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RoutingError {
    /// More than 64 pages.
    #[error("at most 64 pages, got {0}")]
    TooManyPages(usize),
    /// A route names a page that is not configured.
    #[error("route for {event} names unknown page {page:?}")]
    UnknownPage {
        /// The event.
        event: String,
        /// The page.
        page: String,
    },
    /// A required page is missing from the page list.
    #[error("page list must contain {0:?}")]
    MissingPage(&'static str),
}

/// The default page list.
pub const DEFAULT_PAGES: [&str; 3] = ["modules", "admin", "dashboard"];

impl Routing {
    /// The default pages and DESIGN §4's routes.
    pub fn with_pages(pages: &[&str]) -> Result<Self, RoutingError> {
        check_pages(pages)?;
        let mut routing = Self {
            pages: pages.iter().map(|p| (*p).to_owned()).collect(),
            routes: HashMap::default(),
            custom: Route {
                user_pages: PageSet::ALL,
                admin_pages: PageSet::ALL,
            },
        };
        routing.insert_module_routes();
        routing.insert_broadcast_routes();
        Ok(routing)
    }

    /// A module's status and telemetry reach its owner's module pages (`modules`, and
    /// `dashboard` when there is one); its status also reaches the `admin` page.
    fn insert_module_routes(&mut self) {
        let mut owner_pages = vec!["modules"];
        if self.pages.iter().any(|page| page == "dashboard") {
            owner_pages.push("dashboard");
        }
        self.routes.insert(
            event::MODULE_STATUS_CHANGED.into(),
            Route {
                user_pages: self.set(&owner_pages),
                admin_pages: self.set(&["admin"]),
            },
        );
        self.routes.insert(
            crate::event::MODULE_STATUS_BATCH.into(),
            Route {
                user_pages: self.set(&owner_pages),
                admin_pages: PageSet::NONE,
            },
        );
        self.routes.insert(
            event::MODULE_TELEMETRY_UPDATED.into(),
            Route {
                user_pages: self.set(&owner_pages),
                admin_pages: PageSet::NONE,
            },
        );
    }

    /// Per-user events reach every page; admin events only the `admin` page.
    fn insert_broadcast_routes(&mut self) {
        let any = Route {
            user_pages: PageSet::ALL,
            admin_pages: PageSet::NONE,
        };
        let admin_only = Route {
            user_pages: PageSet::NONE,
            admin_pages: self.set(&["admin"]),
        };
        for name in [
            event::USER_MODULE_ADDED,
            event::USER_MODULE_REMOVED,
            event::USER_SESSION_STARTED,
            event::USER_SESSION_ENDED,
            event::USER_PROFILE_UPDATED,
            event::SYSTEM_MAINTENANCE,
        ] {
            self.routes.insert(name.into(), any);
        }
        for name in [
            event::ADMIN_MODULE_ADDED,
            event::ADMIN_MODULE_REMOVED,
            event::ADMIN_USER_LOGGED_IN,
            event::ADMIN_USER_LOGGED_OUT,
            event::ADMIN_USER_REGISTERED,
            event::ADMIN_STATS_UPDATED,
            event::ADMIN_ACTION,
            crate::event::ADMIN_ACTIVITY,
            crate::event::ADMIN_ALERT,
            crate::event::ADMIN_ALERT_CLEARED,
            crate::event::ADMIN_SERVER_STATS,
        ] {
            self.routes.insert(name.into(), admin_only);
        }
    }

    fn set(&self, names: &[&str]) -> PageSet {
        names
            .iter()
            .filter_map(|name| self.page(name))
            .fold(PageSet::NONE, PageSet::with)
    }

    /// Sets the route of `event`: the pages on which its users and its admins receive it.
    pub fn set_route(
        &mut self,
        event: &str,
        user_pages: &[&str],
        admin_pages: &[&str],
    ) -> Result<(), RoutingError> {
        for page in user_pages.iter().chain(admin_pages) {
            if self.page(page).is_none() {
                return Err(RoutingError::UnknownPage {
                    event: event.to_owned(),
                    page: (*page).to_owned(),
                });
            }
        }
        let route = Route {
            user_pages: self.set(user_pages),
            admin_pages: self.set(admin_pages),
        };
        self.routes.insert(event.to_owned(), route);
        Ok(())
    }

    /// The page's index, if it is one of the hub's pages.
    pub fn page(&self, name: &str) -> Option<PageIndex> {
        self.pages
            .iter()
            .position(|page| page == name)
            .map(|index| PageIndex(index as u8))
    }

    /// The page's name.
    pub fn page_name(&self, page: PageIndex) -> &str {
        &self.pages[page.0 as usize]
    }

    /// Number of pages.
    pub fn page_count(&self) -> usize {
        self.pages.len()
    }

    /// The route of `event`: its configured entry, or the host-event default (every page
    /// for users and for admins).
    pub fn route(&self, event: &str) -> Route {
        self.routes.get(event).copied().unwrap_or(self.custom)
    }

    /// The route of `event` sent to `audience`. Same as [`Routing::route`], except that an
    /// unconfigured host event addressed to one user (`emit_to_user`) is not mirrored to
    /// admins: it reaches that user's connections only (DESIGN §4).
    pub fn route_for(&self, event: &str, audience: &Audience) -> Route {
        match self.routes.get(event) {
            Some(route) => *route,
            None if matches!(audience, Audience::User { .. }) => Route {
                user_pages: self.custom.user_pages,
                admin_pages: PageSet::NONE,
            },
            None => self.custom,
        }
    }
}

impl Default for Routing {
    fn default() -> Self {
        match Self::with_pages(&DEFAULT_PAGES) {
            Ok(routing) => routing,
            Err(error) => unreachable!("default pages are valid: {error}"),
        }
    }
}

/// Refuses a page list over 64 pages or without `modules` and `admin`.
fn check_pages(pages: &[&str]) -> Result<(), RoutingError> {
    if pages.len() > 64 {
        return Err(RoutingError::TooManyPages(pages.len()));
    }
    for required in ["modules", "admin"] {
        if !pages.contains(&required) {
            return Err(RoutingError::MissingPage(required));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn module_status_goes_to_owner_pages_and_admin_page() {
        let routing = Routing::default();
        let route = routing.route(event::MODULE_STATUS_CHANGED);
        let modules = routing.page("modules").unwrap();
        let admin = routing.page("admin").unwrap();
        let dashboard = routing.page("dashboard").unwrap();
        assert!(route.user_pages.contains(modules));
        assert!(route.user_pages.contains(dashboard));
        assert!(!route.user_pages.contains(admin));
        assert!(route.admin_pages.contains(admin));
        assert!(!route.admin_pages.contains(modules));
    }

    #[test]
    fn every_admin_event_is_admin_page_only() {
        let routing = Routing::default();
        let admin = routing.page("admin").unwrap();
        for name in [
            event::ADMIN_STATS_UPDATED,
            event::ADMIN_ACTION,
            event::ADMIN_USER_REGISTERED,
            crate::event::ADMIN_ACTIVITY,
            crate::event::ADMIN_ALERT,
            crate::event::ADMIN_ALERT_CLEARED,
            crate::event::ADMIN_SERVER_STATS,
        ] {
            let route = routing.route(name);
            assert!(route.user_pages.is_empty());
            assert!(route.admin_pages.contains(admin));
            assert!(!route.admin_pages.contains(routing.page("modules").unwrap()));
        }
    }

    #[test]
    fn routes_naming_unknown_pages_are_refused() {
        let mut routing = Routing::default();
        assert!(routing.set_route("x", &["nowhere"], &[]).is_err());
        assert!(Routing::with_pages(&["admin"]).is_err());
    }
}
