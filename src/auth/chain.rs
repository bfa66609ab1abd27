//! The order in which a request is tried: the [`Authenticator`] hook, its
//! [`AuthDecision`], and the hub's [`AuthChain`] of built-in authenticators.
//!
//! Owns the order of DESIGN §6 (host authenticators, then JWT, then sessions, then
//! device keys) and the rule that a token naming a revoked session is refused. It must
//! not run host authenticators itself: the hub does, catching their panics.

use super::{
    AuthError, AuthRequest, DeviceKeys, HandshakeContext, Identity, JwtAuthenticator, SessionTable,
};
use crate::ids::SessionId;

/// What an authenticator says about a request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AuthDecision {
    /// The credential is valid: this is who the connection is.
    Accept(Identity),
    /// The credential is this authenticator's kind and is invalid: stop here.
    Refuse(AuthError),
    /// Not this authenticator's kind of credential: ask the next one.
    Pass,
}

/// Turns an authenticate request plus the connection's handshake context into an
/// identity. Runs on the thread that delivered the client's message (a transport thread
/// or the in-process caller), with no library lock held; it must not call `emit_*`
/// expecting to see its own connection authenticated. Closures
/// `Fn(&AuthRequest, &HandshakeContext) -> AuthDecision` implement it.
pub trait Authenticator: Send + Sync + 'static {
    /// Decides on one request.
    fn authenticate(&self, request: &AuthRequest, context: &HandshakeContext) -> AuthDecision;
}

impl<F> Authenticator for F
where
    F: Fn(&AuthRequest, &HandshakeContext) -> AuthDecision + Send + Sync + 'static,
{
    fn authenticate(&self, request: &AuthRequest, context: &HandshakeContext) -> AuthDecision {
        self(request, context)
    }
}

/// The chain the hub runs: host authenticators, then JWT, then sessions.
pub(crate) struct AuthChain {
    pub(crate) custom: Vec<Box<dyn Authenticator>>,
    pub(crate) jwt: Option<JwtAuthenticator>,
    pub(crate) sessions: SessionTable,
    pub(crate) devices: DeviceKeys,
}

impl AuthChain {
    /// Runs the built-in authenticators (the hub runs host ones first, catching panics).
    pub(crate) fn builtin(&self, request: &AuthRequest) -> Result<Identity, AuthError> {
        let identity = if let Some(token) = &request.token {
            let jwt = self.jwt.as_ref().ok_or(AuthError::JwtNotConfigured)?;
            let identity = jwt.verify(token)?;
            if identity
                .session_id
                .as_ref()
                .is_some_and(|sid| self.sessions.is_revoked(sid))
            {
                return Err(AuthError::UnknownSession);
            }
            identity
        } else if let Some(session) = &request.session_id {
            let (user_id, role) = self
                .sessions
                .lookup(session)
                .ok_or(AuthError::UnknownSession)?;
            Identity::user(user_id, role, Some(SessionId::new(session)?))
        } else if let (Some(key), Some(module)) = (&request.device_key, &request.module_id) {
            let owner = self
                .devices
                .verify(module, key)
                .ok_or(AuthError::UnknownDevice)?;
            Identity::device(module.clone(), owner)
        } else {
            return Err(AuthError::MissingCredentials);
        };
        request.check_claims(&identity)?;
        Ok(identity)
    }
}
