"""The reference client's command line, over the library:

    python3 -m sealgate_client --vectors clients/test-vectors.json   # the published vectors
    python3 -m sealgate_client --url http://127.0.0.1:8080            # handshake + bound calls

``--url`` fetches the JWK Set from ``<url>/.well-known/jwks.json`` (or reads ``--jwks FILE``; over
``http://`` only from a loopback host, unless ``--allow-insecure-fetch``),
makes the sealed token request, checks the signed answer, sends a bound POST to
``/api/echo?via=python`` and a bodyless GET with ``X-Request-Seal``, and checks what the echo
upstream received. Options: ``--channel``, ``--api-key``, ``--kdf``, ``--jwks``, ``--allow-insecure-fetch``; the secret from
``--secret`` or ``SEALGATE_CLIENT_SECRET``.

The last line is ``python: ALL CHECKS PASSED``, printed only when everything asked for passed;
a failure exits 1; an unknown flag or a flag without its value prints the usage and exits 2.
The checks are explicit, not ``assert``, so ``python3 -O`` runs them too.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from typing import Any, List, Optional

from cryptography.hazmat.primitives.asymmetric import ec

from .client import Client
from .encoding import b64url_decode
from .errors import SealgateError
from .jose import (
    derive_key,
    ecdh,
    open_sealed,
    parse_public_jwk,
    public_jwk_text,
    seal,
    seal_token_request,
    thumbprint,
    verify_handshake,
)
from .trust import GatewayTrust


class CheckFailed(Exception):
    """A vector or an answer is not what it must be."""


def check(ok: bool, what: str) -> None:
    # Not `assert`: `python3 -O` strips asserts, and these checks are the point.
    if not ok:
        raise CheckFailed(f"mismatch: {what}")


def _private(d_hex: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int(d_hex, 16), ec.SECP256R1())


def check_vectors(path: str) -> None:
    """Checks every published vector (docs/protocol.md §5); raises on the first mismatch."""
    with open(path, encoding="utf-8") as file:
        v: Any = json.load(file)
    client, server = _private(v["client"]["d"]), _private(v["server"]["d"])
    check(public_jwk_text(client) == v["client"]["jwk"] and public_jwk_text(server) == v["server"]["jwk"], "JWKs")
    z = ecdh(client, parse_public_jwk(b64url_decode(v["server"]["encoded"])))
    check(z.hex() == v["z"], "Z")
    for kdf, want in v["k"].items():
        check(derive_key(kdf, z).hex() == want, kdf)
    key = bytes.fromhex(v["k"]["hkdf-sha256"])
    request = v["request"]
    sealed = seal(key, request["plaintext"].encode(), cty="application/json", iv=bytes.fromhex(request["iv"]))
    check(sealed == request["jwe"], "request JWE")
    header, plaintext = open_sealed(key, v["response"]["jwe"])
    check(plaintext.decode() == v["response"]["plaintext"] and header["cty"] == v["response"]["cty"], "response")
    h = v["handshake"]
    check(thumbprint(v["client"]["jwk"]) == h["client_thumbprint"], "thumbprint")
    keys = {h["gateway_sig"]["kid"]: parse_public_jwk(h["gateway_sig"]["jwk"])}

    def verify(client_key: ec.EllipticCurvePublicKey) -> None:
        verify_handshake(
            h["signature"], signing_keys=keys, client_public_key=client_key,
            server_public_key=v["server"]["encoded"], expiry=h["expiry"], channel=h["channel"],
        )

    verify(client.public_key())
    try:
        verify(server.public_key())  # the server's key standing in for the client's
        forged = True
    except SealgateError:
        forged = False  # refused, as it must be
    check(not forged, "a signature over another client's key was accepted")
    r = h["sealed_request"]
    enc_key = parse_public_jwk(h["gateway_enc"]["jwk"])
    sealed = seal_token_request(
        r["plaintext"].encode(), h["gateway_enc"]["kid"], enc_key, r["chn"],
        iat=r["iat"], epk=_private(r["epk"]["d"]), iv=bytes.fromhex(r["iv"]),
    )
    check(b64url_decode(sealed.split(".")[0]).decode() == r["protected"], "sealed request header")
    check(sealed == r["jwe"], "sealed request")
    b = v["binding"]
    bound = seal(
        key, b["body"]["plaintext"].encode(), cty="application/json", typ="request+jwe",
        htm="POST", htp="/api/transfer?from=1", iv=bytes.fromhex(b["body"]["iv"]),
    )
    check(bound == b["body"]["jwe"], "bound body")
    empty = seal(key, b"", typ="request+jwe", htm="GET", htp="/api/account/7", iv=bytes.fromhex(b["seal"]["iv"]))
    check(empty == b["seal"]["jwe"], "seal")
    _, plaintext = open_sealed(key, b["response"]["jwe"], want_typ="response+jwe")
    check(plaintext.decode() == b["response"]["plaintext"], "typed response")
    print("python: test vectors OK")


def round_trip(args: argparse.Namespace) -> None:
    """The calls of the reference clients against a gateway with the demo echo upstream."""
    if args.jwks:
        trust = GatewayTrust.from_file(args.jwks)
    else:
        trust = GatewayTrust.fetch(args.url, allow_insecure_fetch=args.allow_insecure_fetch)
    client = Client(args.url, channel=args.channel, api_key=args.api_key, secret=args.secret, trust=trust, kdf=args.kdf)
    sent = {"amount": 100, "from": "python"}
    answer = client.call("POST", "/api/echo?via=python", json.dumps(sent).encode())
    check(answer.status == 200 and answer.sealed, f"call answered {answer.status}")
    echoed = answer.json()
    check(echoed["body"] == sent, "the echoed body")
    check(echoed["method"] == "POST" and echoed["path"] == "/api/echo" and echoed["query"] == "via=python", "method and target")
    answer = client.call("GET", "/api/echo")
    check(answer.status == 200 and answer.sealed and answer.json()["method"] == "GET", f"bodyless call {answer.status}")
    print(f"python: authenticated handshake and bound round trips OK, the upstream received {json.dumps(echoed['body'])}")


def main(argv: Optional[List[str]] = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m sealgate_client", allow_abbrev=False)
    parser.add_argument("--vectors", help="check the published test vectors in this file")
    parser.add_argument("--url", help="the gateway's base URL: handshake and bound calls to /api/echo")
    parser.add_argument("--channel", default="MOB-APP-2001")
    parser.add_argument("--api-key", default="MOB-APP")
    parser.add_argument("--secret", default=os.environ.get("SEALGATE_CLIENT_SECRET", "TEST123"))
    parser.add_argument("--kdf", default="hkdf-sha256", choices=["hkdf-sha256", "concat-kdf", "raw"])
    parser.add_argument("--jwks", help="a pinned JWK Set file (default: fetched from the gateway)")
    parser.add_argument(
        "--allow-insecure-fetch", action="store_true",
        help="allow fetching the JWK Set over http:// from a host other than localhost, 127.0.0.1 or ::1",
    )
    args = parser.parse_args(argv)  # an unknown flag or a missing value: usage, exit 2
    if args.vectors is None and args.url is None:
        parser.print_help()
        return 2
    try:
        if args.vectors is not None:
            check_vectors(args.vectors)
        if args.url is not None:
            round_trip(args)
    except Exception as error:  # report any failure as one line, exit 1
        print(f"python: FAILED: {type(error).__name__}: {error}", file=sys.stderr)
        return 1
    # The last line, only when everything asked for passed: CI looks for it.
    print("python: ALL CHECKS PASSED")
    return 0


if __name__ == "__main__":
    sys.exit(main())
