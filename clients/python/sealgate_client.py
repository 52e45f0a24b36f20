"""sealgate reference client for Python: the authenticated handshake and bound, encrypted calls.

Depends on `cryptography` only (HTTP through the standard library).
  python3 sealgate_client.py --vectors ../test-vectors.json     # check the published vectors
  python3 sealgate_client.py --url http://127.0.0.1:8080        # token + bound calls to /api/echo

With the gateway's JWK Set (fetched from /.well-known/jwks.json, or pinned with --jwks FILE)
the token request is sealed to its enc key, stamped with iat (now) and chn (the channel it
is sent on), and the signed answer is checked before K is derived. Every call is bound to
its method and target (htm, htp); a call without a body carries X-Request-Seal; the answer
must be sealed (one in clear is refused) and typed response+jwe. The token is renewed a
minute before it expires.

Prints "python: ALL CHECKS PASSED" last, only when everything asked for passed; exits 1 on a
failure, 2 on an unknown flag or a flag without its value. The checks are explicit, not
`assert`, so they also run under `python3 -O`.
"""

import argparse
import base64
import json
import os
import struct
import sys
import time
import traceback
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import hashes
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HKDF_INFO = b"token-service/v2 A256GCM"
CONCAT_OTHER_INFO = struct.pack(">I", 7) + b"A256GCM" + struct.pack(">I", 0) * 2 + struct.pack(">I", 256)
RENEW_BEFORE_MS = 60_000


class CheckFailed(Exception):
    """A vector or an answer is not what it must be."""


def check(ok: bool, what: str) -> None:
    # Not `assert`: `python3 -O` strips asserts, and these checks are the point of the client.
    if not ok:
        raise CheckFailed(f"mismatch: {what}")


def b64u_encode(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def public_jwk(private) -> str:
    n = private.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64u_encode(n.x.to_bytes(32, "big")), "y": b64u_encode(n.y.to_bytes(32, "big"))}
    return json.dumps(jwk, separators=(",", ":"))


def parse_public_jwk(text: str):
    jwk = json.loads(text)
    if jwk.get("kty") != "EC" or jwk.get("crv") != "P-256" or "d" in jwk:
        raise ValueError("not a public P-256 JWK")
    x, y = b64u_decode(jwk["x"]), b64u_decode(jwk["y"])
    if len(x) != 32 or len(y) != 32:
        raise ValueError("coordinates must be 32 bytes")
    # from_encoded_point checks that the point is on the curve.
    return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + x + y)


def derive(kdf: str, z: bytes) -> bytes:
    if kdf == "hkdf-sha256":
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(z)
    if kdf == "concat-kdf":
        return ConcatKDFHash(algorithm=hashes.SHA256(), length=32, otherinfo=CONCAT_OTHER_INFO).derive(z)
    if kdf == "raw":
        return z
    raise ValueError(f"unknown kdf {kdf}")


def seal(key: bytes, plaintext: bytes, cty=None, iv=None, typ=None, htm=None, htp=None) -> str:
    # The header text is the AAD: members in this order (the gateway writes the same order).
    header = '{"alg":"dir","enc":"A256GCM"'
    for name, value in (("cty", cty), ("typ", typ), ("htm", htm), ("htp", htp)):
        if value is not None:
            header += f',"{name}":{json.dumps(value)}'
    header += "}"
    return seal_protected(key, header, plaintext, iv)


def seal_protected(key: bytes, header: str, plaintext: bytes, iv=None) -> str:
    protected = b64u_encode(header.encode())
    iv = iv or os.urandom(12)  # never reuse an IV with the same key
    sealed = AESGCM(key).encrypt(iv, plaintext, protected.encode())  # AAD: the encoded header
    return ".".join([protected, "", b64u_encode(iv), b64u_encode(sealed[:-16]), b64u_encode(sealed[-16:])])


def thumbprint(jwk_text: str) -> str:
    """RFC 7638: SHA-256 of the required members only, in lexicographic order, no spaces."""
    jwk = json.loads(jwk_text)
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    digest = hashes.Hash(hashes.SHA256())
    digest.update(canonical.encode())
    return b64u_encode(digest.finalize())


def verify_handshake(answer: dict, sig_key, client_jwk: str, channel: str) -> None:
    """docs/protocol.md §1.1: the signature verifies with the gateway's sig key and is over this
    client's key, this serverPublicKey, this expiry and this channel."""
    parts = answer.get("signature", "").split(".")
    if len(parts) != 3:
        raise ValueError("no handshake signature")
    header = json.loads(b64u_decode(parts[0]))
    if header.get("alg") != "ES256" or header.get("typ") != "handshake+jws":
        raise ValueError("not an ES256 handshake+jws signature")
    raw = b64u_decode(parts[2])
    if len(raw) != 64:
        raise ValueError("ES256 signatures are r || s, 64 bytes")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        sig_key.verify(der, f"{parts[0]}.{parts[1]}".encode(), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise ValueError("handshake signature does not verify") from None
    claims = json.loads(b64u_decode(parts[1]))
    want = {"cpk": thumbprint(client_jwk), "spk": answer["serverPublicKey"], "exp": answer["expiry"], "chn": channel}
    if any(claims.get(k) != v for k, v in want.items()):
        raise ValueError("signed for another key, server key, expiry or channel")


def seal_token_request(plaintext: bytes, kid: str, gateway_enc, channel: str, iat=None, epk=None, iv=None) -> str:
    """docs/protocol.md §1.1: ECDH-ES + A256GCM to the gateway's enc key (RFC 7518 4.6), sealed now
    (iat, seconds since the epoch) for `channel` (chn: the X-API-KEY it is sent with). The
    header is the AAD, so the gateway trusts both; it refuses the request on another
    channel, outside its clock leeway of iat, or a second time (a new epk every request)."""
    epk = epk or ec.generate_private_key(ec.SECP256R1())
    iat = int(time.time()) if iat is None else iat
    z = epk.exchange(ec.ECDH(), gateway_enc)
    cek = ConcatKDFHash(algorithm=hashes.SHA256(), length=32, otherinfo=CONCAT_OTHER_INFO).derive(z)
    # Members in this order (alg, enc, kid, epk, iat, chn), as the published vectors write them.
    header = json.dumps(
        {"alg": "ECDH-ES", "enc": "A256GCM", "kid": kid, "epk": json.loads(public_jwk(epk)), "iat": iat, "chn": channel},
        separators=(",", ":"),
    )
    return seal_protected(cek, header, plaintext, iv)


def open_jwe(key: bytes, compact: str, want_typ=None):
    parts = compact.split(".")
    if len(parts) != 5 or parts[1] != "":
        raise ValueError("not a dir compact JWE")
    header = json.loads(b64u_decode(parts[0]))
    if header.get("alg") != "dir" or header.get("enc") != "A256GCM":
        raise ValueError("unexpected alg/enc")
    if want_typ is not None and header.get("typ") != want_typ:
        raise ValueError(f"sealed message is not typed {want_typ}")
    iv, ciphertext, tag = (b64u_decode(p) for p in parts[2:])
    if len(iv) != 12 or len(tag) != 16:
        raise ValueError("bad IV or tag length")
    # AAD is the header segment exactly as received, not a re-encoding of it.
    return header, AESGCM(key).decrypt(iv, ciphertext + tag, parts[0].encode())


def request(method: str, url: str, body, headers: dict):
    req = urllib.request.Request(url, data=body, headers=headers, method=method)
    try:
        with urllib.request.urlopen(req) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def post(url: str, body: bytes, headers: dict):
    return request("POST", url, body, headers)


def fetch_jwks(base: str) -> dict:
    status, _, data = request("GET", base + "/.well-known/jwks.json", None, {})
    if status != 200:
        raise RuntimeError(f"no JWK Set: {status}")
    return json.loads(data)


def enc_key_of(jwks: dict):
    enc = next(k for k in jwks["keys"] if k.get("use") == "enc")
    return enc["kid"], parse_public_jwk(json.dumps(enc))


def sig_key_for(jwks: dict, answer: dict):
    """The listed sig key the signature's header names: every listed key is trusted, so the
    gateway can move to a newer one without breaking this client."""
    kid = json.loads(b64u_decode(answer.get("signature", "").split(".")[0] or "e30")).get("kid")
    for k in jwks["keys"]:
        if k.get("use") == "sig" and k.get("kid") == kid:
            return parse_public_jwk(json.dumps(k))
    raise ValueError("signed by a key that is not pinned")


def handshake(base: str, channel: str, api_key: str, secret: str, kdf: str, jwks=None):
    private = ec.generate_private_key(ec.SECP256R1())
    client_jwk = public_jwk(private)
    body = json.dumps({"apiKey": api_key, "secret": secret, "publicKey": b64u_encode(client_jwk.encode())}).encode()
    headers = {"X-API-KEY": channel, "Content-Type": "application/json"}
    if jwks is not None:
        kid, enc_key = enc_key_of(jwks)
        body = seal_token_request(body, kid, enc_key, channel).encode()  # chn = X-API-KEY
        headers["Content-Type"] = "application/jose"
    status, _, data = post(base + "/token-service/new/v2/token", body, headers)
    answer = json.loads(data)
    if status != 200 or answer.get("resCode") != "TOK200":
        raise RuntimeError(f"token refused: {status} {answer}")
    if jwks is not None:
        verify_handshake(answer, sig_key_for(jwks, answer), client_jwk, channel)  # before deriving K
    server = parse_public_jwk(b64u_decode(answer["serverPublicKey"]).decode())
    z = private.exchange(ec.ECDH(), server)  # 32-byte x-coordinate of the shared point
    return answer["token"], derive(kdf, z), answer["expiry"]


class Session:
    """A token and K, renewed a minute before the token expires."""

    def __init__(self, args, jwks):
        self.args, self.jwks, self.token, self.key, self.expiry = args, jwks, None, None, 0

    def current(self):
        if self.token is None or self.expiry - time.time() * 1000 < RENEW_BEFORE_MS:
            a = self.args
            self.token, self.key, self.expiry = handshake(a.url, a.channel, a.api_key, a.secret, a.kdf, self.jwks)
        return self.token, self.key

    def call(self, method: str, target: str, body: bytes = b"", cty="application/json"):
        """A bound call (htm, htp); without a body, bound by X-Request-Seal."""
        token, key = self.current()
        headers = {"Authorization": f"Bearer {token}"}
        if body:
            data = seal(key, body, cty, typ="request+jwe", htm=method, htp=target).encode()
            headers["Content-Type"] = "application/jose"
        else:
            data = None
            headers["X-Request-Seal"] = seal(key, b"", typ="request+jwe", htm=method, htp=target)
        status, response_headers, raw = request(method, self.args.url + target, data, headers)
        # A token route seals every upstream answer, whatever its status; only the gateway's
        # own errors come in clear. So an answer in clear is never data: refuse it.
        content_type = response_headers.get("Content-Type")
        if content_type != "application/jose":
            if status >= 400:
                raise RuntimeError(f"gateway error {status}: {raw[:200]!r}")
            raise CheckFailed(f"refused: the sealed route answered {status} in clear (Content-Type: {content_type}), not application/jose: {raw[:200]!r}")
        _, plaintext = open_jwe(key, raw.decode(), want_typ="response+jwe")
        return status, plaintext


def check_vectors(path: str) -> None:
    v = json.load(open(path))
    client = ec.derive_private_key(int(v["client"]["d"], 16), ec.SECP256R1())
    server = ec.derive_private_key(int(v["server"]["d"], 16), ec.SECP256R1())
    check(public_jwk(client) == v["client"]["jwk"] and public_jwk(server) == v["server"]["jwk"], "JWKs")
    z = client.exchange(ec.ECDH(), parse_public_jwk(v["server"]["jwk"]))
    check(z.hex() == v["z"], "Z")
    for kdf, want in v["k"].items():
        check(derive(kdf, z).hex() == want, kdf)
    key = bytes.fromhex(v["k"]["hkdf-sha256"])
    request = v["request"]
    check(seal(key, request["plaintext"].encode(), "application/json", bytes.fromhex(request["iv"])) == request["jwe"], "request JWE")
    header, plaintext = open_jwe(key, v["response"]["jwe"])
    check(plaintext.decode() == v["response"]["plaintext"] and header["cty"] == v["response"]["cty"], "response")
    h = v["handshake"]
    check(thumbprint(v["client"]["jwk"]) == h["client_thumbprint"], "thumbprint")
    sig_key = parse_public_jwk(h["gateway_sig"]["jwk"])
    answer = {"serverPublicKey": v["server"]["encoded"], "expiry": h["expiry"], "signature": h["signature"]}
    verify_handshake(answer, sig_key, v["client"]["jwk"], h["channel"])
    forged = False
    try:
        verify_handshake(answer, sig_key, v["server"]["jwk"], h["channel"])
        forged = True
    except ValueError:
        pass  # refused, as it must be
    check(not forged, "a signature over another client's key was accepted")
    r = h["sealed_request"]
    epk = ec.derive_private_key(int(r["epk"]["d"], 16), ec.SECP256R1())
    enc_key = parse_public_jwk(h["gateway_enc"]["jwk"])
    sealed = seal_token_request(r["plaintext"].encode(), "enc-1", enc_key, r["chn"], r["iat"], epk, bytes.fromhex(r["iv"]))
    check(b64u_decode(sealed.split(".")[0]).decode() == r["protected"], "sealed request header")
    check(sealed == r["jwe"], "sealed request")
    b = v["binding"]
    bound = seal(key, b["body"]["plaintext"].encode(), "application/json", bytes.fromhex(b["body"]["iv"]), "request+jwe", "POST", "/api/transfer?from=1")
    check(bound == b["body"]["jwe"], "bound body")
    check(seal(key, b"", None, bytes.fromhex(b["seal"]["iv"]), "request+jwe", "GET", "/api/account/7") == b["seal"]["jwe"], "seal")
    _, plaintext = open_jwe(key, b["response"]["jwe"], want_typ="response+jwe")
    check(plaintext.decode() == b["response"]["plaintext"], "typed response")
    print("python: test vectors OK")


def round_trip(args) -> None:
    jwks = json.load(open(args.jwks)) if args.jwks else fetch_jwks(args.url)
    session = Session(args, jwks)
    sent = json.dumps({"amount": 100, "from": "python"}).encode()
    status, plaintext = session.call("POST", "/api/echo?via=python", sent)
    if status != 200:
        raise RuntimeError(f"call failed: {status} {plaintext[:200]!r}")
    echoed = json.loads(plaintext)
    check(echoed["body"] == json.loads(sent), f"echoed body {echoed}")
    status, plaintext = session.call("GET", "/api/echo")
    check(status == 200 and json.loads(plaintext)["method"] == "GET", f"bodyless call {status} {plaintext[:200]!r}")
    print(f"python: authenticated handshake and bound round trips OK, the upstream received {json.dumps(echoed['body'])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(allow_abbrev=False)  # the same exact flags as the other clients
    parser.add_argument("--vectors")
    parser.add_argument("--url")
    parser.add_argument("--channel", default="MOB-APP-2001")
    parser.add_argument("--api-key", default="MOB-APP")
    parser.add_argument("--secret", default=os.environ.get("SEALGATE_CLIENT_SECRET", "TEST123"))
    parser.add_argument("--kdf", default="hkdf-sha256")
    parser.add_argument("--jwks", help="a pinned JWK Set file (default: fetched from the gateway)")
    args = parser.parse_args()  # an unknown argument or a missing value: usage, exit 2
    if args.vectors is None and args.url is None:
        parser.print_help()
        sys.exit(2)
    try:
        if args.vectors is not None:
            check_vectors(args.vectors)
        if args.url is not None:
            round_trip(args)
    except Exception as error:
        traceback.print_exc()
        print(f"python: FAILED: {error}", file=sys.stderr)
        sys.exit(1)
    # The last line, only when everything asked for passed: CI looks for it.
    print("python: ALL CHECKS PASSED")
