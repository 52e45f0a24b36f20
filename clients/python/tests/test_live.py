"""Against a running gateway (env SEALGATE_URL) on the demo configuration, with its echo upstream
behind /api/. Skipped when SEALGATE_URL is unset; a failure instead with SEALGATE_REQUIRE_LIVE=1."""

from __future__ import annotations

import json
import logging
import os
import pathlib
import subprocess
import sys
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional

import pytest

from sealgate_client import (
    DEFAULT_TOKEN_PATH,
    Client,
    ErrorKind,
    GatewayTrust,
    HttpTransport,
    RawResponse,
    SealgateError,
)
from sealgate_client.encoding import b64url_decode, b64url_encode
from sealgate_client.errors import classify

from conftest import assert_no_secrets, describe, vectors_path

CHANNEL = os.environ.get("SEALGATE_CHANNEL", "MOB-APP-2001")
API_KEY = os.environ.get("SEALGATE_API_KEY", "MOB-APP")
SECRET = os.environ.get("SEALGATE_CLIENT_SECRET", "TEST123")


@dataclass
class Sent:
    method: str
    url: str
    headers: Dict[str, str] = field(repr=False)
    body: Optional[bytes] = field(repr=False)
    status: int = 0


class Wire:
    """The real transport, recording what is sent; optionally rewriting a request before it
    leaves, or sending every call twice (the second answer is returned)."""

    def __init__(
        self,
        rewrite: Optional[Callable[[Sent], None]] = None,
        twice: bool = False,
    ) -> None:
        self.inner = HttpTransport(timeout=10)
        self.rewrite = rewrite
        self.twice = twice
        self.sent: List[Sent] = []

    def send(self, method: str, url: str, headers: Mapping[str, str], body: Optional[bytes]) -> RawResponse:
        request = Sent(method, url, dict(headers), body)
        is_call = "/api/" in url
        if self.rewrite is not None and is_call:
            self.rewrite(request)
        self.sent.append(request)
        answer = self.inner.send(request.method, request.url, request.headers, request.body)
        if self.twice and is_call:
            answer = self.inner.send(request.method, request.url, request.headers, request.body)
        request.status = answer.status
        return answer

    def token_requests(self) -> List[Sent]:
        return [s for s in self.sent if s.url.endswith(DEFAULT_TOKEN_PATH)]

    def calls(self) -> List[Sent]:
        return [s for s in self.sent if "/api/" in s.url]


@pytest.fixture(scope="module")
def trust(gateway_url: str) -> GatewayTrust:
    return GatewayTrust.fetch(gateway_url)


def client(gateway_url: str, trust: Optional[GatewayTrust], wire: Optional[Wire] = None, **options: Any) -> Client:
    settings: Dict[str, Any] = dict(channel=CHANNEL, api_key=API_KEY, secret=SECRET, trust=trust, transport=wire or Wire())
    settings.update(options)
    return Client(gateway_url, **settings)


def refused(call: Callable[[], Any]) -> SealgateError:
    with pytest.raises(SealgateError) as caught:
        call()
    return caught.value


def test_live_jwks(trust: GatewayTrust) -> None:
    assert trust.signing_keys and trust.encryption_kid


def test_live_whole_flow(gateway_url: str, trust: GatewayTrust) -> None:
    wire = Wire()
    c = client(gateway_url, trust, wire)
    sent = {"amount": 100, "from": "python", "note": "é/ü"}
    answer = c.call("POST", "/api/echo?via=python", json.dumps(sent))
    assert answer.status == 200 and answer.sealed and answer.cty == "application/json"
    echoed = answer.json()
    assert echoed["body"] == sent
    assert (echoed["method"], echoed["path"], echoed["query"]) == ("POST", "/api/echo", "via=python")
    assert echoed["headers"]["x-client-id"] == API_KEY and echoed["headers"]["x-channel"] == CHANNEL
    assert echoed["headers"]["content-type"] == "application/json"
    assert "authorization" not in echoed["headers"]
    # The token request went sealed, with iat and chn, and the secret never in clear.
    [token_request] = wire.token_requests()
    assert token_request.headers["Content-Type"] == "application/jose"
    assert SECRET.encode() not in (token_request.body or b"")
    header = json.loads(b64url_decode((token_request.body or b"").decode().split(".")[0]))
    assert header["chn"] == CHANNEL and abs(header["iat"] - time.time()) < 30 and header["kid"] == trust.encryption_kid
    assert c.session().signed
    [call] = wire.calls()
    assert call.headers["Content-Type"] == "application/jose" and b"python" not in (call.body or b"")


def test_live_bodyless_get_carries_x_request_seal(gateway_url: str, trust: GatewayTrust) -> None:
    wire = Wire()
    answer = client(gateway_url, trust, wire).call("GET", "/api/echo")
    assert answer.status == 200 and answer.sealed
    echoed = answer.json()
    assert echoed["method"] == "GET" and echoed["path"] == "/api/echo" and echoed["body"] in ("", None)
    assert "x-request-seal" not in echoed["headers"]  # checked and removed by the gateway
    [call] = wire.calls()
    assert call.body is None and "X-Request-Seal" in call.headers


def test_live_head_is_refused_unless_sealing_is_not_required(gateway_url: str, trust: GatewayTrust) -> None:
    wire = Wire()
    c = client(gateway_url, trust, wire)
    with pytest.raises(ValueError, match="HEAD"):
        c.call("HEAD", "/api/echo")
    assert wire.sent == []  # refused before anything was sent
    answer = c.call("HEAD", "/api/echo", require_sealed=False)
    assert (answer.status, answer.body, answer.sealed) == (200, b"", False)


def test_live_renewal_through_the_injected_clock(gateway_url: str, trust: GatewayTrust) -> None:
    offset = [0.0]
    wire = Wire()
    c = client(gateway_url, trust, wire, clock=lambda: time.time() + offset[0])
    first = c.session()
    assert c.call("GET", "/api/echo").status == 200
    assert len(wire.token_requests()) == 1
    # Jump to 59 s before expiry: the next call makes a new handshake first.
    offset[0] = first.expiry / 1000 - time.time() - 59
    assert c.call("POST", "/api/echo?renewed=1", b'{"n":2}').json()["query"] == "renewed=1"
    offset[0] = 0  # back to now: the new session has its whole lifetime ahead
    second = c.session()
    assert len(wire.token_requests()) == 2 and second.token != first.token and second.key != first.key
    assert wire.calls()[-1].headers["Authorization"] == f"Bearer {second.token}"


def test_live_wrong_secret(gateway_url: str, trust: GatewayTrust) -> None:
    bad = "WRONG-" + "x" * 12
    caught = refused(client(gateway_url, trust, secret=bad).session)
    assert caught.kind is ErrorKind.CREDENTIALS_REFUSED
    assert (caught.status, caught.res_code) == (401, "TOK004")
    assert_no_secrets(describe(caught), [bad])


def test_live_unknown_client_and_channel(gateway_url: str, trust: GatewayTrust) -> None:
    caught = refused(client(gateway_url, trust, api_key="NOBODY").session)
    assert (caught.kind, caught.res_code) == (ErrorKind.CREDENTIALS_REFUSED, "TOK002")
    caught = refused(client(gateway_url, trust, channel="NO-SUCH-CHANNEL").session)
    assert (caught.kind, caught.res_code) == (ErrorKind.CREDENTIALS_REFUSED, "TOK002")


def flip_token(request: Sent) -> None:
    """Changes one character inside the token's ciphertext."""
    token = request.headers["Authorization"][len("Bearer "):]
    parts = token.split(".")
    ciphertext = bytearray(b64url_decode(parts[3]))
    ciphertext[0] ^= 1
    parts[3] = b64url_encode(bytes(ciphertext))
    request.headers["Authorization"] = "Bearer " + ".".join(parts)


def test_live_tampered_token(gateway_url: str, trust: GatewayTrust) -> None:
    wire = Wire(rewrite=flip_token)
    c = client(gateway_url, trust, wire)
    used = c.session()
    caught = refused(lambda: c.call("POST", "/api/echo", b"{}"))
    assert caught.status == 401 and caught.res_code is not None and caught.res_code.startswith("AUTH")
    assert caught.kind is classify(401, caught.res_code)
    print(f"tampered token: gateway answered {caught.status} {caught.res_code} -> {caught.kind.name}")
    if caught.kind is not ErrorKind.SESSION_EXPIRED:
        assert len(wire.token_requests()) == 1  # not retried
    if caught.res_code in ("AUTH001", "AUTH002", "AUTH004"):
        assert c.session() is not used and len(wire.token_requests()) == 2  # dropped, then a new handshake
    assert_no_secrets(describe(caught), [SECRET, used.token, used.key])


def unknown_kid(request: Sent) -> None:
    token = request.headers["Authorization"][len("Bearer "):]
    parts = token.split(".")
    parts[0] = b64url_encode(b'{"alg":"dir","enc":"A256GCM","kid":"withdrawn-key"}')
    request.headers["Authorization"] = "Bearer " + ".".join(parts)


def test_live_session_expired_renews_once_then_succeeds(gateway_url: str, trust: GatewayTrust) -> None:
    rewrites = [0]

    def first_only(request: Sent) -> None:
        if rewrites[0] == 0:
            unknown_kid(request)
        rewrites[0] += 1

    wire = Wire(rewrite=first_only)
    answer = client(gateway_url, trust, wire).call("PUT", "/api/echo?retry=1", b'{"n":1}')
    assert answer.status == 200 and answer.json()["body"] == {"n": 1} and answer.json()["method"] == "PUT"
    assert [c.status for c in wire.calls()] == [401, 200]
    assert len(wire.token_requests()) == 2


def test_live_session_expired_on_a_post_is_raised_not_sent_again(gateway_url: str, trust: GatewayTrust) -> None:
    rewrites = [0]

    def first_only(request: Sent) -> None:
        if rewrites[0] == 0:
            unknown_kid(request)
        rewrites[0] += 1

    wire = Wire(rewrite=first_only)
    c = client(gateway_url, trust, wire)
    caught = refused(lambda: c.call("POST", "/api/echo?retry=1", b'{"n":1}'))
    assert (caught.kind, caught.status, caught.res_code) == (ErrorKind.SESSION_EXPIRED, 401, "AUTH003")
    assert [s.status for s in wire.calls()] == [401] and len(wire.token_requests()) == 1
    # The app decides; the next call makes the new handshake.
    assert c.call("POST", "/api/echo?retry=2", b'{"n":2}').json()["body"] == {"n": 2}
    assert [s.status for s in wire.calls()] == [401, 200] and len(wire.token_requests()) == 2


def test_live_a_second_session_expired_is_raised(gateway_url: str, trust: GatewayTrust) -> None:
    wire = Wire(rewrite=unknown_kid)
    caught = refused(lambda: client(gateway_url, trust, wire).call("GET", "/api/echo"))
    assert (caught.kind, caught.status, caught.res_code) == (ErrorKind.SESSION_EXPIRED, 401, "AUTH003")
    assert len(wire.token_requests()) == 2 and len(wire.calls()) == 2


@pytest.mark.parametrize("body", [b'{"pay":1}', None])
def test_live_replayed_request(gateway_url: str, trust: GatewayTrust, body: Optional[bytes]) -> None:
    wire = Wire(twice=True)
    caught = refused(lambda: client(gateway_url, trust, wire).call("POST", "/api/echo", body))
    assert (caught.kind, caught.status, caught.res_code) == (ErrorKind.REPLAYED, 401, "AUTH008")
    assert len(wire.token_requests()) == 1  # never retried


def test_live_binding_to_another_target_is_refused(gateway_url: str, trust: GatewayTrust) -> None:
    def elsewhere(request: Sent) -> None:
        request.url = request.url.replace("via=python", "via=other")

    caught = refused(lambda: client(gateway_url, trust, Wire(rewrite=elsewhere)).call("POST", "/api/echo?via=python", b"{}"))
    assert (caught.kind, caught.res_code) == (ErrorKind.REQUEST_REFUSED, "BODY007")


def test_live_no_route(gateway_url: str, trust: GatewayTrust) -> None:
    caught = refused(lambda: client(gateway_url, trust).call("GET", "/nowhere"))
    assert (caught.kind, caught.status, caught.res_code) == (ErrorKind.REQUEST_REFUSED, 404, "ROUTE001")


def test_live_a_clear_2xx_is_refused_unless_the_route_does_not_seal(gateway_url: str, trust: GatewayTrust) -> None:
    c = client(gateway_url, trust)
    caught = refused(lambda: c.call("GET", "/public/echo"))
    assert (caught.kind, caught.status) == (ErrorKind.RESPONSE_INVALID, 200)
    answer = c.call("GET", "/public/echo", require_sealed=False)
    assert answer.status == 200 and not answer.sealed and answer.json()["path"] == "/public/echo"


def test_live_pinned_jwk_set(gateway_url: str, trust: GatewayTrust, tmp_path: pathlib.Path) -> None:
    pinned = tmp_path / "jwks.json"
    pinned.write_text(trust.to_jwks())
    answer = client(gateway_url, GatewayTrust.from_file(pinned)).call("GET", "/api/echo")
    assert answer.status == 200


def test_live_trust_fetched_at_the_first_handshake(gateway_url: str) -> None:
    wire = Wire()
    c = client(gateway_url, None, wire, fetch_trust=True)
    assert c.call("GET", "/api/echo").status == 200
    assert c.trust is not None and c.session().signed
    assert wire.sent[0].url.endswith("/.well-known/jwks.json")


def test_live_plain_handshake_when_asked(gateway_url: str) -> None:
    wire = Wire()
    c = client(gateway_url, None, wire, plain_handshake=True)
    assert c.call("POST", "/api/echo", b'{"plain":true}').json()["body"] == {"plain": True}
    assert not c.session().signed
    assert wire.token_requests()[0].headers["Content-Type"] == "application/json"


def test_live_a_wrong_pinned_key_refuses_the_answer(gateway_url: str, trust: GatewayTrust) -> None:
    """A pinned set whose sig key is not the gateway's: the signature check fails, no session."""
    from cryptography.hazmat.primitives.asymmetric import ec

    other = GatewayTrust(
        signing_keys={kid: ec.generate_private_key(ec.SECP256R1()).public_key() for kid in trust.signing_keys},
        encryption_kid=trust.encryption_kid,
        encryption_key=trust.encryption_key,
    )
    assert refused(client(gateway_url, other).session).kind is ErrorKind.HANDSHAKE_INVALID


def test_live_a_wrong_enc_key_is_refused_by_the_gateway(gateway_url: str, trust: GatewayTrust) -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    other = GatewayTrust(
        signing_keys=trust.signing_keys,
        encryption_kid=trust.encryption_kid,
        encryption_key=ec.generate_private_key(ec.SECP256R1()).public_key(),
    )
    caught = refused(client(gateway_url, other).session)
    assert (caught.kind, caught.status, caught.res_code) == (ErrorKind.REQUEST_REFUSED, 400, "TOK003")


def test_live_no_secret_in_any_message_or_log(
    gateway_url: str, trust: GatewayTrust, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    body = b'{"card":"4111111111111111"}'
    texts: List[str] = []
    c = client(gateway_url, trust)
    session = c.session()
    answer = c.call("POST", "/api/echo", body)
    texts += [repr(c), repr(session), str(session), repr(answer), repr(trust)]
    for wire in (Wire(twice=True), Wire(rewrite=flip_token), Wire(rewrite=unknown_kid)):
        attempt = client(gateway_url, trust, wire)
        texts += describe(refused(lambda: attempt.call("POST", "/api/echo", body)))
    texts += describe(refused(client(gateway_url, trust, secret="WRONG-secret-value").session))
    texts += [r.getMessage() for r in caplog.records]
    assert_no_secrets(texts, [SECRET, "WRONG-secret-value", body, session.token, session.key])
    assert not [r for r in caplog.records if r.name.startswith("sealgate")]


def test_live_command_line(gateway_url: str) -> None:
    out = subprocess.run(
        [sys.executable, "-m", "sealgate_client", "--vectors", str(vectors_path()), "--url", gateway_url],
        capture_output=True, text=True, check=False, timeout=60,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "python: ALL CHECKS PASSED"
