"""The exception hierarchy. Every library error is a ``RealtimeError`` with a stable
machine-readable ``code`` (the same codes as the HTTP API and the C ABI); errors caused by
an argument are also ``ValueError``\\ s, so ``except ValueError`` works as usual."""

from typing import Any, Dict, Optional


class RealtimeError(Exception):
    """Base class of every error the library raises.

    ``code`` is a stable identifier such as ``"unknown_module"``; ``str(error)`` explains
    what was expected and what arrived.
    """

    code: str

    def __init__(self, message: str, code: str = "error") -> None:
        super().__init__(message)
        self.code = code


class InvalidArgumentError(RealtimeError, ValueError):
    """An argument has the right Python type but a wrong value (a missing ``userId``, an
    empty module id, a session that belongs to someone else, a bad configuration)."""


class ReservedEventError(InvalidArgumentError):
    """``emit_to_user`` / ``emit_to_admins`` / ``emit_to_everyone`` with a name in a reserved
    prefix (``auth:``, ``page:``, ``system:``, ``admin:``, ``user:``, ``module:``)."""


class UnknownModuleError(RealtimeError):
    """Telemetry for a module the hub has never seen (its owner, hence its audience, is
    unknown): emit ``module_online`` or ``module_added`` first."""


class OwnerMismatchError(RealtimeError):
    """The call names another owner than the module has; transfer a module with
    ``emit_module_removed`` then ``emit_module_added``."""


class StatsProviderError(RealtimeError):
    """``emit_stats_update()`` without a stats provider, or the provider raised."""


class ReentrantEmitError(RealtimeError):
    """An ``emit_*`` from inside a before-emit filter (or a host frame callback), which runs
    under the emit lock."""


class ServeError(RealtimeError):
    """``Hub.serve`` could not bind the address or start its runtime."""


class PersistenceError(RealtimeError):
    """The SQLite database failed, or ``audit()`` was called on a hub without ``persist``."""


class MessageRefusedError(RealtimeError):
    """The hub refused a client message (failed authentication, unknown page, malformed
    frame). ``ack`` is the ``{code, message}`` body a client that asked for an ack gets."""

    ack: Dict[str, Any]

    def __init__(self, message: str, code: str = "refused", ack: Optional[Dict[str, Any]] = None) -> None:
        super().__init__(message, code)
        self.ack = ack if ack is not None else {"code": code, "message": message}


class ConnectionClosedError(RealtimeError):
    """The hub closed this connection (logout, too many failed authentications, slow
    consumer, shutdown); ``code`` is the reason."""


class AuthRefused(Exception):
    """Raise it from an authenticator hook to refuse a credential of your kind; the client
    gets ``auth:error {code, message}``. (Return ``None`` instead to let the next
    authenticator decide.)"""

    code: str
    message: str

    def __init__(self, code: str, message: str = "authentication refused") -> None:
        super().__init__(message)
        self.code = code
        self.message = message
