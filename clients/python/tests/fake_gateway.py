"""An in-process stand-in for the gateway, used as the client's Transport in offline tests.

It speaks the contract's happy path (docs/protocol.md §1, §1.1, §4, §4.1) with its own keys,
written from the cryptography primitives, and lets a test script refusals and tampering.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, List, Mapping, Optional, Tuple

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealgate_client import Headers, RawResponse
from sealgate_client.encoding import b64url_decode, b64url_encode, loads_object
from sealgate_client.jose import derive_key, parse_public_jwk, public_jwk_text, thumbprint

TOKEN_PATH = "/token-service/new/v2/token"


def plain(status: int, body: Any, headers: Optional[Dict[str, str]] = None, content_type: str = "application/json") -> RawResponse:
    fields = [("Content-Type", content_type), ("Cache-Control", "no-store")]
    fields += list((headers or {}).items())
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    return RawResponse(status, Headers(fields), data)


def error(status: int, code: str, desc: str = "Failure", headers: Optional[Dict[str, str]] = None) -> RawResponse:
    return plain(status, {"resCode": code, "resDesc": desc}, headers)


def seal_raw(key: bytes, header: str, plaintext: bytes) -> str:
    protected = b64url_encode(header.encode())
    iv = os.urandom(12)
    out = AESGCM(key).encrypt(iv, plaintext, protected.encode())
    return ".".join([protected, "", b64url_encode(iv), b64url_encode(out[:-16]), b64url_encode(out[-16:])])


def open_raw(key: bytes, compact: str) -> Tuple[Dict[str, Any], bytes, bytes]:
    parts = compact.split(".")
    header = loads_object(b64url_decode(parts[0]))
    iv, ct, tag = (b64url_decode(p) for p in parts[2:])
    return header, AESGCM(key).decrypt(iv, ct + tag, parts[0].encode()), iv


@dataclass
class Exchange:
    method: str
    url: str
    headers: Dict[str, str]
    body: Optional[bytes]


@dataclass
class FakeGateway:
    channel: str = "MOB-APP-2001"
    api_key: str = "MOB-APP"
    secret: str = "TEST123"
    lifetime_ms: int = 1_800_000
    kdf: str = "hkdf-sha256"
    sig: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    enc: ec.EllipticCurvePrivateKey = field(default_factory=lambda: ec.generate_private_key(ec.SECP256R1()))
    sig_kid: str = "sig-1"
    # Scripted answers: popped, in order, instead of processing a token request or a call.
    token_script: List[RawResponse] = field(default_factory=list)
    route_script: List[Callable[[Exchange], Optional[RawResponse]]] = field(default_factory=list)
    # Changes the token answer (a dict) after it is signed.
    tamper: Optional[Callable[[Dict[str, Any]], None]] = None
    # What the route answers: (status, content type of the plaintext, headers of the sealed JWE).
    route_status: int = 200
    response_header: str = '{{"alg":"dir","enc":"A256GCM","cty":{cty},"typ":"response+jwe"}}'
    exchanges: List[Exchange] = field(default_factory=list)
    sessions: Dict[str, Tuple[bytes, int]] = field(default_factory=dict)
    received: List[Dict[str, Any]] = field(default_factory=list)
    token_requests: List[Dict[str, Any]] = field(default_factory=list)
    seen_ivs: set = field(default_factory=set)  # type: ignore[type-arg]

    # -- the JWK Set --------------------------------------------------------------------------

    def jwks(self) -> str:
        sig = public_jwk_text(self.sig)[:-1] + f',"kid":"{self.sig_kid}","use":"sig","alg":"ES256"}}'
        enc = public_jwk_text(self.enc)[:-1] + ',"kid":"enc-1","use":"enc","alg":"ECDH-ES"}'
        return '{"keys":[' + sig + "," + enc + "]}"

    @property
    def handshakes(self) -> int:
        return len(self.sessions)

    # -- Transport -----------------------------------------------------------------------------

    def send(self, method: str, url: str, headers: Mapping[str, str], body: Optional[bytes]) -> RawResponse:
        exchange = Exchange(method, url, dict(headers), body)
        self.exchanges.append(exchange)
        target = "/" + url.split("://", 1)[1].partition("/")[2]
        if target == "/.well-known/jwks.json":
            return plain(200, self.jwks().encode(), content_type="application/jwk-set+json")
        if target.endswith(TOKEN_PATH):
            if self.token_script:
                return self.token_script.pop(0)
            return self._token(exchange)
        if self.route_script:
            scripted = self.route_script.pop(0)(exchange)
            if scripted is not None:
                return scripted
        return self._route(exchange, target)

    def _token(self, exchange: Exchange) -> RawResponse:
        if exchange.headers.get("X-API-KEY") != self.channel:
            return error(401, "TOK002", "Invalid API Key Passed")
        assert exchange.body is not None
        if exchange.headers.get("Content-Type") == "application/jose":
            compact = exchange.body.decode()
            header_text = b64url_decode(compact.split(".")[0]).decode()
            header = loads_object(header_text)
            if header.get("chn") != self.channel or abs(header.get("iat", 0) - time.time()) > 60:
                return error(400, "TOK003")
            epk = parse_public_jwk(header["epk"])
            cek = derive_key("concat-kdf", self.enc.exchange(ec.ECDH(), epk))
            _, plaintext, _ = open_raw(cek, compact)
            request = loads_object(plaintext)
            request["_sealed_header"] = header_text
        else:
            request = loads_object(exchange.body)
        self.token_requests.append(request)
        if request.get("apiKey") != self.api_key:
            return error(401, "TOK002", "Invalid API Key Passed")
        if request.get("secret") != self.secret:
            return error(401, "TOK004", "Your credentials not allowed to generate token")
        client_jwk = b64url_decode(request["publicKey"]).decode()
        client_key = parse_public_jwk(client_jwk)
        server = ec.generate_private_key(ec.SECP256R1())
        spk = b64url_encode(public_jwk_text(server).encode())
        key = derive_key(self.kdf, server.exchange(ec.ECDH(), client_key))
        token = f"tok-{len(self.sessions) + 1}-{b64url_encode(os.urandom(8))}"
        expiry = (int(time.time()) * 1000) + self.lifetime_ms
        self.sessions[token] = (key, expiry)
        payload = json.dumps(
            {"cpk": thumbprint(client_key), "spk": spk, "exp": expiry, "chn": self.channel}, separators=(",", ":")
        )
        jws_header = json.dumps({"alg": "ES256", "kid": self.sig_kid, "typ": "handshake+jws"}, separators=(",", ":"))
        signing_input = b64url_encode(jws_header.encode()) + "." + b64url_encode(payload.encode())
        r, s = decode_dss_signature(self.sig.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
        signature = signing_input + "." + b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
        answer: Dict[str, Any] = {
            "resCode": "TOK200",
            "resDesc": "Success",
            "token": token,
            "expiry": expiry,
            "serverPublicKey": spk,
            "signature": signature,
        }
        if self.tamper is not None:
            self.tamper(answer)
        return plain(200, answer)

    def _route(self, exchange: Exchange, target: str) -> RawResponse:
        auth = exchange.headers.get("Authorization", "")
        token = auth[len("Bearer "):] if auth.startswith("Bearer ") else ""
        if not token:
            return error(401, "AUTH001", "Token missing")
        if token not in self.sessions:
            return error(401, "AUTH004", "Token invalid")
        key, _ = self.sessions[token]
        seal_text = exchange.headers.get("X-Request-Seal")
        compact = exchange.body.decode() if exchange.body else seal_text
        if compact is None:
            return error(400, "BODY008", "Request binding required")
        header, plaintext, iv = open_raw(key, compact)
        if header.get("typ", "request+jwe") != "request+jwe":
            return error(400, "BODY006", "Sealed message is not a request")
        if header.get("htm") != exchange.method or header.get("htp") != target:
            return error(400, "BODY007", "Sealed message is bound to another request")
        if (token, iv) in self.seen_ivs:
            return error(401, "AUTH008", "Request replayed")
        self.seen_ivs.add((token, iv))
        self.received.append(
            {"method": exchange.method, "target": target, "cty": header.get("cty"), "body": plaintext, "seal": seal_text is not None}
        )
        echo = json.dumps({"method": exchange.method, "target": target, "body": plaintext.decode()}).encode()
        sealed = seal_raw(key, self.response_header.format(cty=json.dumps("application/json")), echo)
        return RawResponse(
            self.route_status,
            Headers([("Content-Type", "application/jose"), ("Cache-Control", "no-store"), ("X-Request-Id", "r1")]),
            sealed.encode(),
        )
