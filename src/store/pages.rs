//! Pages of modules for snapshots: every module (an admin's fleet view) or one owner's,
//! ordered by module id, `limit` at a time after a cursor (the last id of the previous
//! page). A page costs O(log n + limit): the ids are kept ordered beside the modules.
//! This module only reads the store; who may see which modules is decided by the hub
//! (`hub/snapshot.rs`). Guarded by the unit tests below and `tests/hub/snapshot.rs`.

use std::collections::BTreeSet;
use std::ops::Bound;

use super::{ModuleRecord, Store};
use crate::ids::ModuleId;

/// One page of modules in id order.
#[derive(Debug)]
pub struct ModulePage<'a> {
    /// The modules of this page.
    pub modules: Vec<&'a ModuleRecord>,
    /// How many modules the whole listing has.
    pub total: usize,
    /// The cursor of the next page (this page's last id), when more follow.
    pub next_cursor: Option<&'a ModuleId>,
}

impl Store {
    /// Every module, `limit` at a time after `after` (from the first when `None`).
    pub fn page_of_all(&self, after: Option<&str>, limit: usize) -> ModulePage<'_> {
        self.page(&self.ordered, after, limit)
    }

    /// `owner`'s modules, as [`Store::page_of_all`].
    pub fn page_of_owner(
        &self,
        owner: &crate::ids::UserId,
        after: Option<&str>,
        limit: usize,
    ) -> ModulePage<'_> {
        static NONE: BTreeSet<ModuleId> = BTreeSet::new();
        let ids = self.by_owner.get(owner).unwrap_or(&NONE);
        self.page(ids, after, limit)
    }

    fn page<'a>(
        &'a self,
        ids: &'a BTreeSet<ModuleId>,
        after: Option<&str>,
        limit: usize,
    ) -> ModulePage<'a> {
        let start = after.map_or(Bound::Unbounded, Bound::Excluded);
        let mut range = ids.range::<str, _>((start, Bound::Unbounded));
        let mut modules = Vec::with_capacity(limit.min(ids.len()));
        let mut last = None;
        for id in range.by_ref().take(limit.max(1)) {
            if let Some(record) = self.modules.get(id) {
                modules.push(record);
                last = Some(id);
            }
        }
        let more = range.next().is_some();
        ModulePage {
            modules,
            total: ids.len(),
            next_cursor: if more { last } else { None },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use crate::input::ModuleFields;

    fn store(modules: &[(&str, &str)]) -> Store {
        let mut store = Store::default();
        for (id, owner) in modules {
            let fields = ModuleFields {
                owner: Some(UserId::new(owner).unwrap()),
                ..ModuleFields::default()
            };
            store
                .add_module(&ModuleId::new(id).unwrap(), &fields, None, 1)
                .unwrap();
        }
        store
    }

    fn ids(page: &ModulePage<'_>) -> Vec<String> {
        page.modules.iter().map(|m| m.id.to_string()).collect()
    }

    #[test]
    fn pages_walk_every_module_in_id_order_once() {
        let store = store(&[
            ("M-3", "1"),
            ("M-1", "2"),
            ("M-2", "1"),
            ("M-5", "2"),
            ("M-4", "1"),
        ]);
        let first = store.page_of_all(None, 2);
        assert_eq!(
            (ids(&first), first.total),
            (vec!["M-1".into(), "M-2".into()], 5)
        );
        let cursor = first.next_cursor.map(ToString::to_string);
        assert_eq!(cursor.as_deref(), Some("M-2"));
        let second = store.page_of_all(cursor.as_deref(), 2);
        assert_eq!(ids(&second), ["M-3", "M-4"]);
        let last = store.page_of_all(Some("M-4"), 2);
        assert_eq!((ids(&last), last.next_cursor), (vec!["M-5".into()], None));
        // A cursor that is no module id still pages from the next id after it.
        assert_eq!(ids(&store.page_of_all(Some("M-35"), 9)), ["M-4", "M-5"]);
    }

    #[test]
    fn an_owners_pages_hold_only_its_modules_and_removed_ones_leave() {
        let mut store = store(&[("M-3", "1"), ("M-1", "2"), ("M-2", "1")]);
        let own = store.page_of_owner(&UserId::new("1").unwrap(), None, 10);
        assert_eq!(
            (ids(&own), own.total),
            (vec!["M-2".into(), "M-3".into()], 2)
        );
        let nobody = store.page_of_owner(&UserId::new("9").unwrap(), None, 10);
        assert_eq!((nobody.modules.len(), nobody.total), (0, 0));
        store
            .remove_module(&ModuleId::new("M-2").unwrap(), None)
            .unwrap();
        assert_eq!(ids(&store.page_of_all(None, 10)), ["M-1", "M-3"]);
    }
}
