//! Per-module device keys ([`DeviceKeys`]), the alternative to device JWTs.
//!
//! Owns the registered keys and their constant-time comparison. It must not build an
//! identity: the chain does, from the owner this returns.

use std::collections::HashMap;

use parking_lot::RwLock;

use crate::ids::{ModuleId, UserId};

/// Per-module device keys the host registers (`hub.register_device_key`), the
/// alternative to device JWTs for boards that cannot sign tokens.
#[derive(Default)]
pub struct DeviceKeys {
    keys: RwLock<HashMap<ModuleId, (UserId, String)>>,
}

impl DeviceKeys {
    /// Registers (or replaces) the key of `module`, owned by `owner`.
    pub fn register(&self, module: ModuleId, owner: UserId, key: String) {
        self.keys.write().insert(module, (owner, key));
    }

    /// Forgets the key of `module`; returns whether there was one.
    pub fn revoke(&self, module: &ModuleId) -> bool {
        self.keys.write().remove(module).is_some()
    }

    /// The owner of `module` if `key` is its key (compared in constant time).
    pub fn verify(&self, module: &ModuleId, key: &str) -> Option<UserId> {
        use subtle::ConstantTimeEq;
        let keys = self.keys.read();
        let (owner, expected) = keys.get(module)?;
        let equal: bool = expected.as_bytes().ct_eq(key.as_bytes()).into();
        equal.then(|| owner.clone())
    }
}
