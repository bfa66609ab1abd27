//! Counting who is where, for the admin server stats: connections per page and role,
//! and how full the outbound queues are. Reads only; each call takes the registry's
//! read lock once and walks the connections, so it is meant for a stats tick (every
//! few seconds), never for the emit path. This module must not change any index.

use indexmap::IndexMap;

use super::Registry;
use super::routing::PageIndex;

/// Users and admins on one page.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub(crate) struct PageCount {
    pub(crate) users: usize,
    pub(crate) admins: usize,
}

/// The census of one stats tick.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub(crate) struct Census {
    /// Indexed by page index.
    pub(crate) pages: Vec<PageCount>,
    pub(crate) queue_depth_max: usize,
    pub(crate) queue_depth_total: usize,
}

impl Registry {
    /// Admin connections on `page` (one read of an index length).
    pub(crate) fn admins_on(&self, page: PageIndex) -> usize {
        self.inner
            .read()
            .admins
            .get(page.0 as usize)
            .map_or(0, IndexMap::len)
    }

    /// The users with at least one authenticated connection (for the cluster view).
    pub(crate) fn online_users(&self) -> Vec<String> {
        let inner = self.inner.read();
        let mut users: Vec<String> = inner
            .by_user
            .keys()
            .map(|u| u.as_str().to_owned())
            .collect();
        users.sort_unstable();
        users
    }

    /// Connections per page and role, and queue depths.
    pub(crate) fn census(&self) -> Census {
        let inner = self.inner.read();
        let mut pages = vec![PageCount::default(); self.page_count];
        for member in inner.everyone.values() {
            if let Some(count) = pages.get_mut(member.page.0 as usize) {
                count.users += 1;
            }
        }
        for (index, admins) in inner.admins.iter().enumerate() {
            if let Some(count) = pages.get_mut(index) {
                count.admins = admins.len();
                count.users = count.users.saturating_sub(admins.len());
            }
        }
        let (mut queue_depth_max, mut queue_depth_total) = (0, 0);
        for record in inner.records.values() {
            let depth = record.queue.len();
            queue_depth_max = queue_depth_max.max(depth);
            queue_depth_total += depth;
        }
        Census {
            pages,
            queue_depth_max,
            queue_depth_total,
        }
    }
}
