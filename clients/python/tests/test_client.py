"""The client against an in-process fake gateway: handshake, renewal, calls, error mapping,
automatic re-handshake, and no secret in errors, reprs or logs."""

from __future__ import annotations

import json
import logging
import time
from typing import Any, Dict, List, Optional

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from fake_gateway import TOKEN_PATH, Exchange, FakeGateway, error, plain, seal_raw
from sealgate_client import (
    Client,
    ErrorKind,
    GatewayTrust,
    Headers,
    RawResponse,
    Response,
    SealgateError,
    Session,
)
from sealgate_client.encoding import b64url_decode, b64url_encode
from sealgate_client.jose import public_jwk_text

from conftest import assert_no_secrets, describe

BASE = "https://gw.test:8080"


class Clock:
    def __init__(self) -> None:
        self.offset = 0.0

    def __call__(self) -> float:
        return time.time() + self.offset


def make(gateway: FakeGateway, **options: Any) -> Client:
    settings: Dict[str, Any] = dict(
        channel=gateway.channel, api_key=gateway.api_key, secret=gateway.secret, transport=gateway
    )
    if "trust" not in options and not options.get("plain_handshake") and not options.get("fetch_trust"):
        settings["trust"] = GatewayTrust.from_jwks(gateway.jwks())
    settings.update(options)
    return Client(BASE, **settings)


def kinds(call: Any) -> SealgateError:
    with pytest.raises(SealgateError) as caught:
        call()
    return caught.value


# --- the handshake --------------------------------------------------------------------------


def test_the_token_request_is_sealed_with_iat_and_chn_and_the_answer_checked() -> None:
    gateway = FakeGateway()
    client = make(gateway)
    session = client.session()
    assert gateway.handshakes == 1 and session.signed
    [request] = gateway.token_requests
    header = json.loads(request["_sealed_header"])
    assert list(header) == ["alg", "enc", "kid", "epk", "iat", "chn"]
    assert header["alg"] == "ECDH-ES" and header["enc"] == "A256GCM" and header["kid"] == "enc-1"
    assert header["chn"] == gateway.channel and abs(header["iat"] - time.time()) < 5
    assert header["epk"] != json.loads(b64url_decode(request["publicKey"]))  # not the session key
    exchange = gateway.exchanges[-1]
    assert exchange.headers["Content-Type"] == "application/jose"
    assert exchange.headers["X-API-KEY"] == gateway.channel
    assert b"TEST123" not in (exchange.body or b"")  # only the gateway can read the secret
    assert session.key == gateway.sessions[session.token][0]


def test_every_handshake_uses_new_keys() -> None:
    gateway = FakeGateway()
    client = make(gateway)
    client.handshake()
    client.handshake()
    first, second = gateway.token_requests
    assert first["publicKey"] != second["publicKey"]
    assert json.loads(first["_sealed_header"])["epk"] != json.loads(second["_sealed_header"])["epk"]


def test_with_fetch_trust_the_jwk_set_is_fetched_once() -> None:
    gateway = FakeGateway()
    client = make(gateway, fetch_trust=True)
    assert client.trust is None
    client.call("GET", "/api/x")
    client.handshake()
    fetched = [e for e in gateway.exchanges if e.url.endswith("/.well-known/jwks.json")]
    assert len(fetched) == 1 and client.trust is not None
    assert all(r.get("_sealed_header") for r in gateway.token_requests)


def test_a_trust_choice_is_required() -> None:
    """No silent trust on first use: without trust, fetch_trust=True or plain_handshake=True the
    client is refused, as is more than one of them."""
    gateway = FakeGateway()
    pinned = GatewayTrust.from_jwks(gateway.jwks())
    identity: Dict[str, Any] = dict(channel=gateway.channel, api_key=gateway.api_key, secret=gateway.secret, transport=gateway)
    choices: List[Dict[str, Any]] = [{}, {"trust": None}, {"trust": pinned, "fetch_trust": True}, {"fetch_trust": True, "plain_handshake": True}]
    for choice in choices:
        with pytest.raises(ValueError):
            Client(BASE, **identity, **choice)
    with pytest.raises(TypeError):
        Client(BASE, **identity, trust="fetch")  # type: ignore[arg-type]
    assert gateway.exchanges == []


def test_a_fetched_set_is_kept_even_when_a_signature_names_an_unknown_kid() -> None:
    gateway = FakeGateway()
    client = make(gateway, fetch_trust=True)
    client.handshake()
    gateway.sig_kid = "sig-2"  # an attacker arriving later, with keys of their own
    gateway.sig = ec.generate_private_key(ec.SECP256R1())
    for _ in range(2):
        assert kinds(client.handshake).kind is ErrorKind.HANDSHAKE_INVALID
    assert len([e for e in gateway.exchanges if e.url.endswith("/.well-known/jwks.json")]) == 1


@pytest.mark.parametrize("base", ["http://gw.test", "http://10.0.0.7:8080", "http://127.0.0.2", "http://localhost.gw.test"])
def test_fetching_the_jwk_set_over_http_is_refused_unless_allowed(base: str) -> None:
    gateway = FakeGateway()
    identity: Dict[str, Any] = dict(channel=gateway.channel, api_key=gateway.api_key, secret=gateway.secret, transport=gateway)
    with pytest.raises(ValueError, match="allow_insecure_fetch"):
        Client(base, fetch_trust=True, **identity)
    with pytest.raises(ValueError, match="allow_insecure_fetch"):
        GatewayTrust.fetch(base, transport=gateway)
    plain_client = Client(base, plain_handshake=True, **identity)
    with pytest.raises(ValueError, match="allow_insecure_fetch"):
        plain_client.fetch_trust()
    assert gateway.exchanges == []  # refused before anything was sent
    client = Client(base, fetch_trust=True, allow_insecure_fetch=True, **identity)
    assert client.session().signed and client.trust is not None
    assert GatewayTrust.fetch(base, transport=gateway, allow_insecure_fetch=True).encryption_kid == "enc-1"


@pytest.mark.parametrize("base", ["http://localhost:8080", "http://127.0.0.1:8080", "http://[::1]:8080", "http://LOCALHOST", "https://gw.test"])
def test_fetching_the_jwk_set_over_loopback_or_https_is_allowed(base: str) -> None:
    gateway = FakeGateway()
    client = Client(base, channel=gateway.channel, api_key=gateway.api_key, secret=gateway.secret, fetch_trust=True, transport=gateway)
    assert client.session().signed
    assert GatewayTrust.fetch(base, transport=gateway).encryption_kid == "enc-1"


def test_the_plain_handshake_only_when_asked() -> None:
    gateway = FakeGateway()
    client = make(gateway, plain_handshake=True)
    session = client.session()
    assert not session.signed
    assert gateway.exchanges[-1].headers["Content-Type"] == "application/json"
    assert json.loads(gateway.exchanges[-1].body or b"")["secret"] == gateway.secret
    assert not any(e.url.endswith("jwks.json") for e in gateway.exchanges)
    assert client.call("POST", "/api/x", b"{}").sealed
    with pytest.raises(ValueError):
        make(gateway, plain_handshake=True, trust=GatewayTrust.from_jwks(gateway.jwks()))


def spoof(answer: Dict[str, Any]) -> None:
    """A man in the middle puts its own key in serverPublicKey."""
    answer["serverPublicKey"] = b64url_encode(public_jwk_text(ec.generate_private_key(ec.SECP256R1())).encode())


def other_signer(gateway: FakeGateway) -> None:
    gateway.sig = ec.generate_private_key(ec.SECP256R1())  # the pinned set still has the old key


@pytest.mark.parametrize(
    "tamper",
    [
        spoof,
        lambda a: a.pop("signature"),
        lambda a: a.update(signature=None),
        lambda a: a.update(expiry=a["expiry"] + 1000),
        lambda a: a.update(expiry=str(a["expiry"])),
        lambda a: a.update(expiry=float(a["expiry"])),
        lambda a: a.update(token=""),
        lambda a: a.update(token="a b"),
        lambda a: a.update(token="x" * 4097),
        lambda a: a.update(token=7),
        lambda a: a.update(resCode="TOK003"),
        lambda a: a.pop("serverPublicKey"),
    ],
)
def test_a_bad_token_answer_is_refused_and_no_session_made(tamper: Any) -> None:
    gateway = FakeGateway(tamper=tamper)
    client = make(gateway)
    error_ = kinds(client.session)
    assert error_.kind is ErrorKind.HANDSHAKE_INVALID


def test_a_signature_by_an_untrusted_key_is_refused() -> None:
    gateway = FakeGateway()
    client = make(gateway)
    other_signer(gateway)
    assert kinds(client.session).kind is ErrorKind.HANDSHAKE_INVALID


@pytest.mark.parametrize("spk", ["padded", "off-curve", "private"])
def test_the_server_key_is_checked_even_when_signed(spk: str) -> None:
    """A signed but unusable serverPublicKey: padded base64, not a point of P-256, or with d."""
    gateway = FakeGateway()

    def tamper(answer: Dict[str, Any]) -> None:
        text = answer["serverPublicKey"]
        jwk = json.loads(b64url_decode(text))
        if spk == "padded":
            text += "="
        elif spk == "off-curve":
            jwk["y"] = b64url_encode(bytes(31) + b"\x01")
            text = b64url_encode(json.dumps(jwk).encode())
        else:
            jwk["d"] = b64url_encode(bytes(31) + b"\x01")
            text = b64url_encode(json.dumps(jwk).encode())
        resign(gateway, answer, text)

    gateway.tamper = tamper
    assert kinds(make(gateway).session).kind is ErrorKind.HANDSHAKE_INVALID


def resign(gateway: FakeGateway, answer: Dict[str, Any], spk: str) -> None:
    """Replaces serverPublicKey and signs the answer again with the gateway's key."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    head, payload_segment, _ = answer["signature"].split(".")
    payload = json.loads(b64url_decode(payload_segment))
    payload["spk"] = spk
    signing_input = head + "." + b64url_encode(json.dumps(payload).encode())
    r, s = decode_dss_signature(gateway.sig.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    answer["signature"] = signing_input + "." + b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    answer["serverPublicKey"] = spk


def test_a_resigned_answer_is_accepted() -> None:
    """The tampering helper itself is sound: re-signing the same key passes."""
    gateway = FakeGateway()
    gateway.tamper = lambda answer: resign(gateway, answer, answer["serverPublicKey"])
    assert make(gateway).session().signed


@pytest.mark.parametrize(
    "answer, kind, code",
    [
        (error(401, "TOK004", "Your credentials not allowed to generate token"), ErrorKind.CREDENTIALS_REFUSED, "TOK004"),
        (error(401, "TOK002", "Invalid API Key Passed"), ErrorKind.CREDENTIALS_REFUSED, "TOK002"),
        (error(400, "TOK003"), ErrorKind.REQUEST_REFUSED, "TOK003"),
        (error(429, "TOK003", headers={"Retry-After": "60"}), ErrorKind.RETRY_LATER, "TOK003"),
        (error(503, "TOK003", headers={"Retry-After": "5"}), ErrorKind.RETRY_LATER, "TOK003"),
        (error(500, "TOK003"), ErrorKind.GATEWAY_ERROR, "TOK003"),
        (plain(502, b"<html>bad gateway</html>", content_type="text/html"), ErrorKind.GATEWAY_ERROR, None),
        (plain(200, b"not json"), ErrorKind.HANDSHAKE_INVALID, None),
        (plain(200, b'{"resCode":"TOK200","resCode":"TOK200"}'), ErrorKind.HANDSHAKE_INVALID, None),
    ],
)
def test_token_refusals_are_mapped(answer: RawResponse, kind: ErrorKind, code: Optional[str]) -> None:
    gateway = FakeGateway(token_script=[answer])
    caught = kinds(make(gateway).session)
    assert caught.kind is kind and caught.res_code == code and caught.status == answer.status
    if answer.status in (429, 503):
        assert caught.retry_after_seconds == int(answer.headers["Retry-After"])
    else:
        assert caught.retry_after_seconds is None


def test_wrong_credentials() -> None:
    gateway = FakeGateway()
    caught = kinds(make(gateway, secret="WRONG-SECRET").session)
    assert caught.kind is ErrorKind.CREDENTIALS_REFUSED and caught.res_code == "TOK004"


# --- renewal --------------------------------------------------------------------------------


def test_the_session_is_kept_then_renewed_a_minute_before_expiry() -> None:
    gateway = FakeGateway()
    clock = Clock()
    client = make(gateway, clock=clock)
    first = client.session()
    clock.offset = 1800 - 61
    assert client.session() is first
    clock.offset = 1800 - 59
    second = client.session()
    assert second is not first and gateway.handshakes == 2
    clock.offset = 0  # the new token has its whole lifetime ahead
    assert client.call("GET", "/api/x").sealed
    assert gateway.handshakes == 2
    assert gateway.exchanges[-1].headers["Authorization"] == f"Bearer {second.token}"


def test_a_short_token_is_renewed_at_every_call() -> None:
    gateway = FakeGateway(lifetime_ms=30_000)
    client = make(gateway)
    client.call("GET", "/api/a")
    client.call("GET", "/api/b")
    assert gateway.handshakes == 2


def test_concurrent_calls_share_one_handshake() -> None:
    import threading

    gateway = FakeGateway()
    client = make(gateway)
    errors: List[BaseException] = []

    def work(n: int) -> None:
        try:
            assert client.call("POST", f"/api/n?{n}", b"{}").status == 200
        except BaseException as caught:  # reported below
            errors.append(caught)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert errors == [] and gateway.handshakes == 1 and len(gateway.received) == 8


# --- calls ----------------------------------------------------------------------------------


def test_a_call_with_a_body_is_sealed_and_bound() -> None:
    gateway = FakeGateway()
    client = make(gateway)
    answer = client.call("POST", "/api/echo?via=python", b'{"amount":100}')
    assert isinstance(answer, Response)
    assert answer.status == 200 and answer.sealed and answer.ok and answer.cty == "application/json"
    assert answer.json() == {"method": "POST", "target": "/api/echo?via=python", "body": '{"amount":100}'}
    [received] = gateway.received
    assert received == {"method": "POST", "target": "/api/echo?via=python", "cty": "application/json", "body": b'{"amount":100}', "seal": False}
    sent = gateway.exchanges[-1]
    assert sent.headers["Content-Type"] == "application/jose" and "X-Request-Seal" not in sent.headers
    header = json.loads(b64url_decode((sent.body or b"").decode().split(".")[0]))
    assert list(header) == ["alg", "enc", "cty", "typ", "htm", "htp"]
    assert header["typ"] == "request+jwe" and header["htm"] == "POST" and header["htp"] == "/api/echo?via=python"
    assert answer.headers["x-request-id"] == "r1"


def test_a_text_body_and_a_content_type() -> None:
    gateway = FakeGateway()
    make(gateway).call("PUT", "/api/t", "héllo", content_type="text/plain; charset=utf-8")
    assert gateway.received[0]["body"] == "héllo".encode() and gateway.received[0]["cty"] == "text/plain; charset=utf-8"
    make(gateway).call("PATCH", "/api/t", b"x", content_type=None)
    assert gateway.received[1]["cty"] is None


@pytest.mark.parametrize("body", [None, b""])
def test_a_bodyless_call_carries_x_request_seal(body: Optional[bytes]) -> None:
    gateway = FakeGateway()
    answer = make(gateway).call("GET", "/api/account/7", body)
    assert answer.json()["method"] == "GET"
    sent = gateway.exchanges[-1]
    assert sent.body is None and "Content-Type" not in sent.headers
    header = json.loads(b64url_decode(sent.headers["X-Request-Seal"].split(".")[0]))
    assert header == {"alg": "dir", "enc": "A256GCM", "typ": "request+jwe", "htm": "GET", "htp": "/api/account/7"}
    assert gateway.received[0]["seal"] and gateway.received[0]["body"] == b""


def test_a_base_path_is_part_of_the_target_and_of_htp() -> None:
    gateway = FakeGateway()
    client = make(gateway)
    client = Client(
        BASE + "/gw/", channel=gateway.channel, api_key=gateway.api_key, secret=gateway.secret,
        trust=client.trust, transport=gateway,
    )
    client.call("GET", "/api/x?y=1")
    assert gateway.exchanges[0].url == BASE + "/gw" + TOKEN_PATH
    assert gateway.exchanges[-1].url == BASE + "/gw/api/x?y=1"
    assert gateway.received[0]["target"] == "/gw/api/x?y=1"


def test_a_sealed_upstream_error_is_returned_not_raised() -> None:
    gateway = FakeGateway(route_status=404)
    answer = make(gateway).call("GET", "/api/missing")
    assert answer.status == 404 and answer.sealed and not answer.ok


def clear(status: int, body: bytes = b'{"ok":true}', content_type: str = "application/json") -> Any:
    return lambda exchange: plain(status, body, content_type=content_type)


@pytest.mark.parametrize("status", [200, 201, 204, 302])
def test_an_answer_in_clear_is_refused(status: int) -> None:
    gateway = FakeGateway(route_script=[clear(status)])
    caught = kinds(lambda: make(gateway).call("GET", "/api/x"))
    assert caught.kind is ErrorKind.RESPONSE_INVALID and caught.status == status


def test_an_answer_in_clear_is_returned_when_the_route_does_not_seal() -> None:
    gateway = FakeGateway(route_script=[clear(200, b"plain", "text/plain")])
    answer = make(gateway).call("GET", "/public/x", require_sealed=False)
    assert (answer.status, answer.sealed, answer.body, answer.cty) == (200, False, b"plain", "text/plain")


def test_head_is_refused_before_sending_unless_sealing_is_not_required() -> None:
    """A HEAD answer has no body, so it cannot be sealed: with require_sealed (the default) it is
    a ValueError before anything is sent, as in the JavaScript library."""
    gateway = FakeGateway()
    client = make(gateway)
    with pytest.raises(ValueError, match="HEAD"):
        client.call("HEAD", "/api/x")
    assert gateway.exchanges == []
    gateway.route_script.append(lambda e: RawResponse(200, Headers([("Content-Type", "application/jose")]), b""))
    answer = client.call("HEAD", "/api/x", require_sealed=False)
    assert (answer.status, answer.body, answer.sealed) == (200, b"", False)
    gateway.route_script.append(clear(200, b"", "text/plain"))
    assert not client.call("HEAD", "/public/x", require_sealed=False).sealed


def sealed_with(header: str, status: int = 200) -> Any:
    def answer(exchange: Exchange) -> RawResponse:
        token = exchange.headers["Authorization"].split(" ", 1)[1]
        return RawResponse(status, Headers([("Content-Type", "application/jose")]), seal_raw(scope[token], header, b"{}").encode())

    scope: Dict[str, bytes] = {}
    answer.scope = scope  # type: ignore[attr-defined]
    return answer


@pytest.mark.parametrize(
    "header",
    [
        '{"alg":"dir","enc":"A256GCM","cty":"application/json"}',
        '{"alg":"dir","enc":"A256GCM","typ":"request+jwe"}',
        '{"alg":"dir","enc":"A256GCM","typ":"response+jwe","typ":"response+jwe"}',
        '{"alg":"dir","enc":"A256GCM","typ":"response+jwe","zip":"DEF"}',
    ],
)
def test_a_sealed_answer_not_typed_response_is_refused(header: str) -> None:
    gateway = FakeGateway()
    client = make(gateway)
    session = client.session()
    script = sealed_with(header)
    script.scope[session.token] = session.key
    gateway.route_script.append(script)
    caught = kinds(lambda: client.call("GET", "/api/x"))
    assert caught.kind is ErrorKind.RESPONSE_INVALID and caught.status == 200


def test_a_sealed_answer_under_another_key_is_refused() -> None:
    gateway = FakeGateway()
    client = make(gateway)
    session = client.session()
    script = sealed_with('{"alg":"dir","enc":"A256GCM","typ":"response+jwe"}')
    script.scope[session.token] = bytes(32)
    gateway.route_script.append(script)
    assert kinds(lambda: client.call("GET", "/api/x")).kind is ErrorKind.RESPONSE_INVALID
    gateway.route_script.append(lambda e: RawResponse(200, Headers([("Content-Type", "application/jose")]), b"\xff"))
    assert kinds(lambda: client.call("GET", "/api/x")).kind is ErrorKind.RESPONSE_INVALID


@pytest.mark.parametrize(
    "answer, kind",
    [
        (error(400, "BODY007", "Sealed message is bound to another request"), ErrorKind.REQUEST_REFUSED),
        (error(401, "AUTH004", "Token invalid"), ErrorKind.REQUEST_REFUSED),
        (error(401, "AUTH006", "Token not yet valid"), ErrorKind.CLOCK_SKEW),
        (error(401, "AUTH008", "Request replayed"), ErrorKind.REPLAYED),
        (error(503, "GATEWAY503", "Service unavailable", {"Retry-After": "1"}), ErrorKind.RETRY_LATER),
        (error(502, "UPSTREAM001", "Upstream unreachable"), ErrorKind.GATEWAY_ERROR),
        (error(404, "ROUTE001", "No route"), ErrorKind.REQUEST_REFUSED),
        (plain(431, b""), ErrorKind.REQUEST_REFUSED),
    ],
)
def test_route_refusals_are_mapped_and_not_retried(answer: RawResponse, kind: ErrorKind) -> None:
    gateway = FakeGateway(route_script=[lambda e: answer])
    client = make(gateway)
    caught = kinds(lambda: client.call("POST", "/api/x", b"{}"))
    assert caught.kind is kind and caught.status == answer.status
    assert gateway.handshakes == 1 and len(gateway.exchanges) == 2  # one token request, one call
    if kind is ErrorKind.RETRY_LATER:
        assert caught.retry_after_seconds == 1


@pytest.mark.parametrize("code", ["AUTH001", "AUTH002", "AUTH004"])
def test_a_refused_token_drops_the_session_without_sending_again(code: str) -> None:
    gateway = FakeGateway(route_script=[lambda e: error(401, code, "refused")])
    client = make(gateway)
    refused_session = client.session()
    caught = kinds(lambda: client.call("POST", "/api/x", b'{"n":1}'))
    assert (caught.kind, caught.res_code, caught.status) == (ErrorKind.REQUEST_REFUSED, code, 401)
    assert gateway.handshakes == 1 and len(gateway.exchanges) == 2  # not sent again
    assert gateway.received == []
    # The next call makes a new handshake and goes through under the new token.
    answer = client.call("GET", "/api/x")
    assert answer.status == 200 and gateway.handshakes == 2
    assert client.session() is not refused_session
    first, second = [e for e in gateway.exchanges if not e.url.endswith(TOKEN_PATH)]
    assert first.headers["Authorization"] != second.headers["Authorization"]


def test_a_refused_token_drops_only_the_session_it_was_sent_with() -> None:
    gateway = FakeGateway()
    client = make(gateway)
    client.session()

    def refuse_after_a_new_handshake(exchange: Exchange) -> RawResponse:
        client.handshake()  # as another thread would, while this call is in flight
        return error(401, "AUTH004", "Token invalid")

    gateway.route_script.append(refuse_after_a_new_handshake)
    caught = kinds(lambda: client.call("GET", "/api/x"))
    assert caught.kind is ErrorKind.REQUEST_REFUSED and gateway.handshakes == 2
    newer = client.session()
    assert gateway.handshakes == 2  # the newer session was kept
    assert client.call("GET", "/api/x").status == 200 and client.session() is newer


SESSION_CODES = ["AUTH003", "AUTH005", "AUTH007", "AUTH009", "AUTH010", "AUTH011"]


def forged_after_forwarding(gateway: FakeGateway, code: str = "AUTH005") -> Any:
    """Whoever terminates TLS passes the call on (the gateway runs it upstream), then answers the
    app with a forged refusal in clear."""

    def answer(exchange: Exchange) -> RawResponse:
        target = "/" + exchange.url.split("://", 1)[1].partition("/")[2]
        gateway._route(exchange, target)
        return error(401, code, "Token expired")

    return answer


def route_calls(gateway: FakeGateway) -> List[Exchange]:
    return [e for e in gateway.exchanges if not e.url.endswith(TOKEN_PATH) and not e.url.endswith("jwks.json")]


@pytest.mark.parametrize("code", SESSION_CODES)
@pytest.mark.parametrize("method", ["GET", "PUT", "DELETE", "OPTIONS"])
def test_session_expired_on_an_idempotent_call_makes_a_new_handshake_and_sends_once_more(method: str, code: str) -> None:
    gateway = FakeGateway(route_script=[lambda e: error(401, code, "over")])
    client = make(gateway)
    refused_session = client.session()
    body = b'{"n":1}' if method == "PUT" else None
    answer = client.call(method, "/api/x", body)
    assert answer.status == 200 and gateway.handshakes == 2
    first, second = route_calls(gateway)
    assert first.headers["Authorization"] != second.headers["Authorization"]
    if body:
        assert first.body != second.body  # sealed again under the new K
    else:
        assert first.headers["X-Request-Seal"] != second.headers["X-Request-Seal"]
    assert gateway.received == [{"method": method, "target": "/api/x", "cty": "application/json" if body else None, "body": body or b"", "seal": not body}]
    assert client.session() is not refused_session and gateway.handshakes == 2


@pytest.mark.parametrize("code", SESSION_CODES)
@pytest.mark.parametrize("method", ["POST", "PATCH"])
def test_session_expired_on_a_non_idempotent_call_is_raised_without_sending_again(method: str, code: str) -> None:
    gateway = FakeGateway()
    gateway.route_script.append(forged_after_forwarding(gateway, code))
    client = make(gateway)
    refused_session = client.session()
    caught = kinds(lambda: client.call(method, "/api/pay", b'{"amount":100}'))
    assert (caught.kind, caught.res_code, caught.status) == (ErrorKind.SESSION_EXPIRED, code, 401)
    assert len(route_calls(gateway)) == 1 and len(gateway.received) == 1  # the upstream saw it once
    assert gateway.handshakes == 1  # no new handshake for nothing: the session is dropped
    assert client._session is None
    # The next call makes the new handshake.
    assert client.call("GET", "/api/x").status == 200
    assert gateway.handshakes == 2 and client.session() is not refused_session


def test_a_second_session_expired_is_raised_and_the_session_dropped() -> None:
    gateway = FakeGateway(route_script=[lambda e: error(401, "AUTH005", "Token expired")] * 2)
    client = make(gateway)
    caught = kinds(lambda: client.call("GET", "/api/x"))
    assert caught.kind is ErrorKind.SESSION_EXPIRED and caught.res_code == "AUTH005"
    assert gateway.handshakes == 2 and len(route_calls(gateway)) == 2
    assert client._session is None  # the second refused session is not kept either
    assert client.call("GET", "/api/x").status == 200
    assert gateway.handshakes == 3


def test_a_gateway_shaped_401_from_a_route_that_does_not_seal_is_not_sent_again() -> None:
    """With require_sealed=False a refusal cannot be told apart from the upstream's own answer:
    raised, the session dropped, never sent again, even for GET."""
    gateway = FakeGateway(route_script=[lambda e: error(401, "AUTH005", "Token expired")])
    client = make(gateway)
    caught = kinds(lambda: client.call("GET", "/public/x", require_sealed=False))
    assert (caught.kind, caught.res_code) == (ErrorKind.SESSION_EXPIRED, "AUTH005")
    assert len(route_calls(gateway)) == 1 and gateway.handshakes == 1


@pytest.mark.parametrize("require_sealed", [True, False])
@pytest.mark.parametrize(
    "answer, code",
    [
        (plain(401, {"error": "token expired", "resCode": "AUTH005"}), None),  # an upstream's JSON
        (plain(401, {"resCode": "AUTH005", "resDesc": "Token expired", "detail": "x"}), None),  # not the gateway's shape
        (plain(401, {"resCode": "AUTH005", "resDesc": None}), None),
        (plain(401, b'["AUTH005"]'), None),
        (plain(401, b"AUTH005", content_type="text/plain"), None),
        (error(403, "AUTH005", "Token expired"), "AUTH005"),  # a session code, but not with 401
        (error(400, "AUTH003", "Token key unknown"), "AUTH003"),
    ],
)
def test_an_answer_that_is_not_the_gateways_session_refusal_is_not_sent_again(
    answer: RawResponse, code: Optional[str], require_sealed: bool
) -> None:
    gateway = FakeGateway(route_script=[lambda e: answer])
    client = make(gateway)
    session = client.session()
    caught = kinds(lambda: client.call("GET", "/api/x", require_sealed=require_sealed))
    assert caught.kind is ErrorKind.REQUEST_REFUSED and caught.status == answer.status
    assert caught.res_code == code
    assert len(route_calls(gateway)) == 1 and gateway.handshakes == 1
    assert client.session() is session  # not a session refusal: the session is kept


def test_a_refused_re_handshake_is_raised_as_such() -> None:
    gateway = FakeGateway(route_script=[lambda e: error(401, "AUTH007", "Session revoked or unknown")])
    client = make(gateway)
    client.session()
    gateway.token_script.append(error(401, "TOK004", "Your credentials not allowed to generate token"))
    assert kinds(lambda: client.call("GET", "/api/x")).kind is ErrorKind.CREDENTIALS_REFUSED


class Down:
    def send(self, method: str, url: str, headers: Any, body: Optional[bytes]) -> RawResponse:
        raise ConnectionRefusedError(111, "Connection refused")


def test_io_errors_are_transport_errors() -> None:
    client = Client(BASE, channel="C", api_key="A", secret="S", plain_handshake=True, transport=Down())
    caught = kinds(client.session)
    assert caught.kind is ErrorKind.TRANSPORT and caught.status == 0
    caught = kinds(lambda: GatewayTrust.fetch(BASE, transport=Down()))
    assert caught.kind is ErrorKind.TRANSPORT


def test_the_real_transport_maps_a_refused_connection() -> None:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    client = Client(f"http://127.0.0.1:{port}", channel="C", api_key="A", secret="S", plain_handshake=True)
    assert kinds(client.session).kind is ErrorKind.TRANSPORT


def test_jwks_fetch_refusals_are_mapped() -> None:
    class Busy:
        def send(self, method: str, url: str, headers: Any, body: Optional[bytes]) -> RawResponse:
            return error(503, "GATEWAY503", "Service unavailable", {"Retry-After": "1"})

    caught = kinds(lambda: GatewayTrust.fetch(BASE, transport=Busy()))
    assert caught.kind is ErrorKind.RETRY_LATER and caught.retry_after_seconds == 1


@pytest.mark.parametrize(
    "method, target, headers",
    [
        ("GET", "api/x", None),
        ("GET", "/api/x y", None),
        ("GET", "/api/x#f", None),
        ("GET", "/api/\u00e9", None),
        ("GET", "/api/x\r\nX: y", None),
        ("G ET", "/api/x", None),
        ("GET", "/api/x", {"Authorization": "Bearer x"}),
        ("GET", "/api/x", {"x-request-seal": "x"}),
        ("GET", "/api/x", {"Content-Type": "x"}),
    ],
)
def test_bad_arguments_are_value_errors(method: str, target: str, headers: Any) -> None:
    gateway = FakeGateway()
    with pytest.raises(ValueError):
        make(gateway).call(method, target, headers=headers)
    assert gateway.exchanges == []


def test_extra_headers_are_sent() -> None:
    gateway = FakeGateway()
    make(gateway).call("GET", "/api/x", headers={"X-Request-Id": "abc"})
    assert gateway.exchanges[-1].headers["X-Request-Id"] == "abc"


@pytest.mark.parametrize("base", ["gw.test", "ftp://gw.test", "http://", "http://user:pw@gw.test", "http://gw.test/x?y"])
def test_bad_base_urls(base: str) -> None:
    with pytest.raises(ValueError):
        Client(base, channel="C", api_key="A", secret="S", plain_handshake=True)


# --- secrets --------------------------------------------------------------------------------


def test_no_secret_in_errors_reprs_or_logs(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "s3cret-" + "q" * 10
    body = b'{"card":"4111111111111111"}'
    gateway = FakeGateway(secret=secret)
    client = make(gateway, secret=secret)
    session = client.session()
    answer = client.call("POST", "/api/x", body)
    texts: List[str] = [repr(client), str(client), repr(session), str(session), repr(answer), str(answer), repr(client.trust)]
    sealed_elsewhere = seal_raw(bytes(32), '{"alg":"dir","enc":"A256GCM","typ":"response+jwe"}', body).encode()
    failures = [
        [lambda e: error(401, "AUTH008", "Request replayed")],
        [lambda e: error(401, "AUTH005", "Token expired")],  # a POST: raised, not sent again
        [lambda e: plain(200, body)],
        [lambda e: RawResponse(200, Headers([("Content-Type", "application/jose")]), sealed_elsewhere)],
        [lambda e: RawResponse(200, Headers([("Content-Type", "application/jose")]), body)],
        [lambda e: plain(400, body)],
    ]
    tokens = [session.token]
    keys = [session.key]
    for script in failures:
        gateway.route_script.extend(script)
        try:
            client.call("POST", "/api/x", body)
        except SealgateError as caught:
            texts += describe(caught)
        else:
            pytest.fail("the call should have failed")
        current = client.session()
        tokens.append(current.token)
        keys.append(current.key)
    gateway.token_script.append(error(401, "TOK004", "Your credentials not allowed to generate token"))
    try:
        client.handshake()
    except SealgateError as caught:
        texts += describe(caught)
    gateway.tamper = spoof
    try:
        client.handshake()
    except SealgateError as caught:
        texts += describe(caught)
    texts += [record.getMessage() for record in caplog.records]
    texts += [str(record.args) for record in caplog.records]
    assert_no_secrets(texts, [secret, body, *tokens, *keys])
    assert not [r for r in caplog.records if r.name.startswith("sealgate")]  # the package never logs


def test_session_and_response_reprs_hide_secrets() -> None:
    session = Session(token="tok-very-secret-token", expiry=1000, key=b"K" * 32)
    assert "tok-very" not in repr(session) and "KKKK" not in repr(session)
    response = Response(200, Headers(), b"private body", "text/plain", True)
    assert "private" not in repr(response)
    assert "TEST123" not in repr(Client(BASE, channel="C", api_key="A", secret="TEST123", plain_handshake=True))
