"""The schema's ``jwt.jwks`` given as an ``http://`` URL, from Python: the hub fetches it
when it is built and again when a token names an unknown kid (``jwks_min_refresh_secs``
0 here, so every unknown kid may fetch); a failed fetch keeps the last good keys and is
counted in ``metrics()["jwks"]``. The endpoint is a real http.server on 127.0.0.1. Its
one key is the P-256 base point, a valid public key whose JWK needs no crypto library:
these tests watch the fetches, the signatures are covered by the Rust and Node suites."""

import base64
import hashlib
import hmac
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any, Dict, Iterator, List

import pytest

import microcoaster_realtime as mcrt
from conftest import JWT_SECRET, _b64, uid
from microcoaster_realtime import Hub

# The base point G of P-256 (FIPS 186-4, D.1.2.3), as JWK coordinates.
_GX = 0x6B17D1F2E12C4247F8BCE6E563A440F277037D812DEB33A0F4A13945D898C296
_GY = 0x4FE342E2FE1A7F9B8EE7EB4A7C0F9E162BCE33576B315ECECBB6406837BF51F5


def _coordinate(value: int) -> str:
    return base64.urlsafe_b64encode(value.to_bytes(32, "big")).rstrip(b"=").decode()


JWK = {"kty": "EC", "crv": "P-256", "kid": "idp-1", "x": _coordinate(_GX), "y": _coordinate(_GY)}


class Endpoint:
    """Serves ``{"keys": [JWK]}``, or HTTP 500 while ``down``; records each request."""

    def __init__(self) -> None:
        self.down = False
        self.requests: List[str] = []
        endpoint = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:  # noqa: N802 (http.server's name)
                endpoint.requests.append(self.path)
                body = b"down" if endpoint.down else json.dumps({"keys": [JWK]}).encode()
                self.send_response(500 if endpoint.down else 200)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/.well-known/jwks.json"
        threading.Thread(target=self.server.serve_forever, daemon=True).start()


@pytest.fixture
def endpoint() -> Iterator[Endpoint]:
    served = Endpoint()
    yield served
    served.server.shutdown()


def token_with_kid(kid: str) -> str:
    """An HS256 token naming ``kid`` (no key has it: only the kid lookup is exercised)."""
    claims = {"sub": uid("u"), "role": "user", "exp": 4102444800}
    signing_input = f"{_b64({'alg': 'HS256', 'typ': 'JWT', 'kid': kid})}.{_b64(claims)}"
    signature = hmac.new(JWT_SECRET.encode(), signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def jwks_stats(hub: Hub) -> Dict[str, int]:
    stats: Dict[str, int] = hub.metrics()["jwks"]
    return stats


def test_jwks_url_is_fetched_at_start_and_on_an_unknown_kid(endpoint: Endpoint) -> None:
    hub = Hub({"jwt_secret": JWT_SECRET, "jwt": {"jwks": endpoint.url, "jwks_min_refresh_secs": 0}})
    assert endpoint.requests == ["/.well-known/jwks.json"]
    assert jwks_stats(hub) == {"fetches": 1, "fetch_failures": 0, "keys": 1}
    with pytest.raises(mcrt.MessageRefusedError) as refused:
        hub.connect_in_process().authenticate({"token": token_with_kid("idp-2")})
    assert refused.value.code == "unknown_kid"
    assert len(endpoint.requests) == 2
    # The endpoint down: the failed fetch is counted and the last good key stays.
    endpoint.down = True
    with pytest.raises(mcrt.MessageRefusedError):
        hub.connect_in_process().authenticate({"token": token_with_kid("idp-3")})
    assert len(endpoint.requests) == 3
    assert jwks_stats(hub) == {"fetches": 2, "fetch_failures": 1, "keys": 1}
    hub.shutdown()


def test_jwks_url_settings_are_normalized_and_checked(endpoint: Endpoint) -> None:
    config = mcrt.normalize_config({"jwt": {"jwks": endpoint.url, "jwks_timeout_ms": 250}})
    assert config["jwt"]["jwks"] == endpoint.url
    assert (config["jwt"]["jwksTimeoutMs"], config["jwt"]["jwksRefreshSecs"]) == (250, 600)
    assert endpoint.requests == []  # reading a configuration fetches nothing
    with pytest.raises(ValueError, match="jwt.jwksRefreshSecs"):
        Hub({"jwt": {"jwks": endpoint.url, "jwks_refresh_secs": 0}})
