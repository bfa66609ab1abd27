"""A Flask backend that embeds the hub, as the seed's app.js embeds its RealTimeAPI.

- ``POST /login`` and ``GET /logout`` call the hub like the seed's ``routes/auth.js``:
  ``emit_user_logged_in(user, session_id)`` / ``emit_user_logged_out(user, session_id)``.
  The browser then authenticates its Socket.IO connection with the seed's unchanged
  payload ``{userId, userType, page, sessionId}``: the session id is the credential.
- ``POST /api/devices`` registers a module for the logged-in user and gives the board a
  device key; ``on_esp_register`` / ``on_esp_disconnect`` are the seed's
  ``websocket/handlers.js`` hooks for boards that still talk to the backend itself.
- The hub serves Socket.IO on its own port (``hub.serve``); the browser code of the seed
  connects there unchanged.

Run: ``pip install flask microcoaster-realtime`` then ``python app.py``.
"""

import secrets
import threading
from typing import Any, Dict, Optional, Tuple

from flask import Flask, jsonify, request, session
from flask.typing import ResponseReturnValue

from microcoaster_realtime import Hub, InvalidArgumentError

USERS: Dict[str, Dict[str, Any]] = {
    "ada": {"id": 123, "name": "Ada", "userType": "user", "password": "lovelace"},
    "root": {"id": 1, "name": "Root", "userType": "admin", "password": "toor"},
}
MODULES: Dict[str, Dict[str, Any]] = {}
_lock = threading.Lock()


def compute_stats() -> Dict[str, Any]:
    """The stats provider: the host's database computes the admin page's stats."""
    with _lock:
        return {"users": len(USERS), "modules": len(MODULES)}


def create_app(hub: Hub) -> Flask:
    """The Flask app; every route calls the hub the way the seed's routes do."""
    app = Flask(__name__)
    app.secret_key = secrets.token_hex(32)

    @app.post("/login")
    def login() -> ResponseReturnValue:
        body = request.get_json(silent=True) or {}
        user = USERS.get(str(body.get("username")))
        if user is None or user["password"] != body.get("password"):
            return jsonify(error="invalid credentials"), 401
        session_id = secrets.token_urlsafe(24)
        session["sid"] = session_id
        session["username"] = str(body["username"])
        public = {key: value for key, value in user.items() if key != "password"}
        hub.emit_user_logged_in(public, session_id)
        hub.emit_stats_update()
        # The browser passes these to io(url, {auth: {...}}), as the seed's front end does.
        return jsonify(userId=user["id"], userType=user["userType"], sessionId=session_id)

    @app.get("/logout")
    def logout() -> ResponseReturnValue:
        username, session_id = session.pop("username", None), session.pop("sid", None)
        if username in USERS and session_id:
            user = USERS[username]
            hub.emit_user_logged_out({"id": user["id"], "userType": user["userType"]}, session_id)
        return jsonify(ok=True)

    @app.post("/api/devices")
    def register_device() -> ResponseReturnValue:
        owner = current_user()
        if owner is None:
            return jsonify(error="log in first"), 401
        body = request.get_json(silent=True) or {}
        module = {
            "moduleId": str(body.get("moduleId", "")),
            "userId": owner["id"],
            "type": str(body.get("type", "Station")),
            "name": str(body.get("name", "")),
        }
        try:
            hub.emit_module_added(module)
        except (InvalidArgumentError, TypeError) as error:
            return jsonify(error=str(error)), 400
        key = secrets.token_urlsafe(24)
        # The board then connects to the hub's /ws with {"moduleId", "deviceKey"}: its
        # connection makes the module online, its disconnection (after a grace) offline.
        hub.register_device_key(module["moduleId"], owner["id"], key)
        with _lock:
            MODULES[module["moduleId"]] = module
        hub.emit_stats_update()
        return jsonify(moduleId=module["moduleId"], deviceKey=key), 201

    return app


def current_user() -> Optional[Dict[str, Any]]:
    """The logged-in user of this request, from the Flask session."""
    return USERS.get(str(session.get("username")))


def on_esp_register(hub: Hub, module_id: str, module_info: Dict[str, Any]) -> None:
    """The seed's ``onEspRegister``: a board that talks to the backend came online."""
    hub.emit_module_online(module_id, module_info)


def on_esp_disconnect(hub: Hub, module_id: str, module_info: Dict[str, Any]) -> None:
    """The seed's ``onEspDisconnect``."""
    hub.emit_module_offline(module_id, module_info)


def main(address: Tuple[str, int] = ("127.0.0.1", 3000)) -> None:
    """Serves Socket.IO on ``address`` and the Flask app on the next port."""
    hub = Hub(stats_provider=compute_stats, persist={"path": "microcoaster-realtime.db"})
    with hub.serve(*address) as server:
        print(f"Socket.IO on {server.url}; HTTP API on port {address[1] + 1}")
        create_app(hub).run(host=address[0], port=address[1] + 1)
    hub.shutdown()


if __name__ == "__main__":
    main()
