"""sealgate reference client for Python: the handshake and an encrypted round trip.

Depends on `cryptography` only (HTTP through the standard library).
  python3 sealgate_client.py --vectors ../test-vectors.json     # check the published vectors
  python3 sealgate_client.py --url http://127.0.0.1:8080        # token + encrypted call to /api/echo
"""

import argparse
import base64
import json
import os
import struct
import sys
import urllib.error
import urllib.request

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

HKDF_INFO = b"token-service/v2 A256GCM"


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
        other = struct.pack(">I", 7) + b"A256GCM" + struct.pack(">I", 0) * 2 + struct.pack(">I", 256)
        return ConcatKDFHash(algorithm=hashes.SHA256(), length=32, otherinfo=other).derive(z)
    if kdf == "raw":
        return z
    raise ValueError(f"unknown kdf {kdf}")


def seal(key: bytes, plaintext: bytes, cty=None, iv=None) -> str:
    header = '{"alg":"dir","enc":"A256GCM"' + (f',"cty":{json.dumps(cty)}' if cty else "") + "}"
    protected = b64u_encode(header.encode())
    iv = iv or os.urandom(12)  # never reuse an IV with the same key
    sealed = AESGCM(key).encrypt(iv, plaintext, protected.encode())  # AAD: the encoded header
    return ".".join([protected, "", b64u_encode(iv), b64u_encode(sealed[:-16]), b64u_encode(sealed[-16:])])


def open_jwe(key: bytes, compact: str):
    parts = compact.split(".")
    if len(parts) != 5 or parts[1] != "":
        raise ValueError("not a dir compact JWE")
    header = json.loads(b64u_decode(parts[0]))
    if header.get("alg") != "dir" or header.get("enc") != "A256GCM":
        raise ValueError("unexpected alg/enc")
    iv, ciphertext, tag = (b64u_decode(p) for p in parts[2:])
    if len(iv) != 12 or len(tag) != 16:
        raise ValueError("bad IV or tag length")
    # AAD is the header segment exactly as received, not a re-encoding of it.
    return header, AESGCM(key).decrypt(iv, ciphertext + tag, parts[0].encode())


def post(url: str, body: bytes, headers: dict):
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.headers, response.read()
    except urllib.error.HTTPError as error:
        return error.code, error.headers, error.read()


def handshake(base: str, channel: str, api_key: str, secret: str, kdf: str):
    private = ec.generate_private_key(ec.SECP256R1())
    body = {"apiKey": api_key, "secret": secret, "publicKey": b64u_encode(public_jwk(private).encode())}
    status, _, data = post(base + "/token-service/new/v2/token", json.dumps(body).encode(), {"X-API-KEY": channel, "Content-Type": "application/json"})
    answer = json.loads(data)
    if status != 200 or answer.get("resCode") != "TOK200":
        raise RuntimeError(f"token refused: {status} {answer}")
    server = parse_public_jwk(b64u_decode(answer["serverPublicKey"]).decode())
    z = private.exchange(ec.ECDH(), server)  # 32-byte x-coordinate of the shared point
    return answer["token"], derive(kdf, z)


def check_vectors(path: str) -> None:
    v = json.load(open(path))
    client = ec.derive_private_key(int(v["client"]["d"], 16), ec.SECP256R1())
    server = ec.derive_private_key(int(v["server"]["d"], 16), ec.SECP256R1())
    assert public_jwk(client) == v["client"]["jwk"] and public_jwk(server) == v["server"]["jwk"]
    z = client.exchange(ec.ECDH(), parse_public_jwk(v["server"]["jwk"]))
    assert z.hex() == v["z"], "Z"
    for kdf, want in v["k"].items():
        assert derive(kdf, z).hex() == want, kdf
    key = bytes.fromhex(v["k"]["hkdf-sha256"])
    request = v["request"]
    assert seal(key, request["plaintext"].encode(), "application/json", bytes.fromhex(request["iv"])) == request["jwe"], "request JWE"
    header, plaintext = open_jwe(key, v["response"]["jwe"])
    assert plaintext.decode() == v["response"]["plaintext"] and header["cty"] == v["response"]["cty"], "response"
    print("python: test vectors OK")


def round_trip(args) -> None:
    token, key = handshake(args.url, args.channel, args.api_key, args.secret, args.kdf)
    sent = json.dumps({"amount": 100, "from": "python"}).encode()
    status, headers, data = post(args.url + "/api/echo", seal(key, sent, "application/json").encode(), {"Authorization": f"Bearer {token}", "Content-Type": "application/jose"})
    if status != 200 or headers.get("Content-Type") != "application/jose":
        raise RuntimeError(f"call failed: {status} {data[:200]!r}")
    _, plaintext = open_jwe(key, data.decode())
    echoed = json.loads(plaintext)
    assert echoed["body"] == json.loads(sent), echoed
    print(f"python: round trip OK, the upstream received {json.dumps(echoed['body'])}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--vectors")
    parser.add_argument("--url")
    parser.add_argument("--channel", default="MOB-APP-2001")
    parser.add_argument("--api-key", default="MOB-APP")
    parser.add_argument("--secret", default=os.environ.get("SEALGATE_CLIENT_SECRET", "TEST123"))
    parser.add_argument("--kdf", default="hkdf-sha256")
    args = parser.parse_args()
    if args.vectors:
        check_vectors(args.vectors)
    if args.url:
        round_trip(args)
    if not (args.vectors or args.url):
        parser.print_help()
        sys.exit(2)
