"""Regenerates ../test-vectors.json from fixed inputs with Python `cryptography`, an
implementation independent of sealgate's Rust code (and of the sealgate_client package, which
the vectors check). Run: python3 generate_vectors.py [OUT] (default: ../test-vectors.json)"""

import base64
import json
import pathlib
import struct
import sys

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.kdf.hkdf import HKDF


def b64u(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def key_pair(d_hex: str):
    private = ec.derive_private_key(int(d_hex, 16), ec.SECP256R1())
    numbers = private.public_key().public_numbers()
    jwk = {"kty": "EC", "crv": "P-256", "x": b64u(numbers.x.to_bytes(32, "big")), "y": b64u(numbers.y.to_bytes(32, "big"))}
    jwk_text = json.dumps(jwk, separators=(",", ":"))
    return private, {"d": d_hex, "jwk": jwk_text, "encoded": b64u(jwk_text.encode())}


def kdfs(z: bytes) -> dict:
    hkdf = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=b"token-service/v2 A256GCM").derive(z)
    other = struct.pack(">I", 7) + b"A256GCM" + struct.pack(">I", 0) + struct.pack(">I", 0) + struct.pack(">I", 256)
    concat = ConcatKDFHash(algorithm=hashes.SHA256(), length=32, otherinfo=other).derive(z)
    return {"hkdf-sha256": hkdf.hex(), "concat-kdf": concat.hex(), "raw": z.hex()}


def seal(key: bytes, iv: bytes, protected: str, plaintext: bytes) -> str:
    header = b64u(protected.encode())
    sealed = AESGCM(key).encrypt(iv, plaintext, header.encode())
    ciphertext, tag = sealed[:-16], sealed[-16:]
    return ".".join([header, "", b64u(iv), b64u(ciphertext), b64u(tag)])


client, client_out = key_pair("1f2e3d4c5b6a79880716253443526170f1e2d3c4b5a69788796a5b4c3d2e1f00")
server, server_out = key_pair("0a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f60718293a4b5c6d7e8f9")
z = client.exchange(ec.ECDH(), server.public_key())
assert z == server.exchange(ec.ECDH(), client.public_key())
keys = kdfs(z)
k = bytes.fromhex(keys["hkdf-sha256"])

request_header = '{"alg":"dir","enc":"A256GCM","cty":"application/json"}'
request_plaintext = '{"amount":100,"currency":"EUR","to":"ACC-42"}'
request_iv = bytes.fromhex("000102030405060708090a0b")
response_header = '{"alg":"dir","enc":"A256GCM","cty":"application/json"}'
response_plaintext = '{"status":"accepted","reference":"TX-7"}'
response_iv = bytes.fromhex("f0e1d2c3b4a5968778695a4b")

# docs/protocol.md §1.1: the gateway's long-term keys, the signed answer, the sealed token request.
gateway_sig, gateway_sig_out = key_pair("3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b")
gateway_enc, gateway_enc_out = key_pair("4d5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c")
epk, epk_out = key_pair("5e6f708192a3b4c5d6e7f8091a2b3c4d5e6f708192a3b4c5d6e7f8091a2b3c4d")


def thumbprint(jwk_text: str) -> str:
    jwk = json.loads(jwk_text)
    canonical = json.dumps({k: jwk[k] for k in ("crv", "kty", "x", "y")}, separators=(",", ":"))
    digest = hashes.Hash(hashes.SHA256())
    digest.update(canonical.encode())
    return b64u(digest.finalize())


def jws_es256(private, kid: str, typ: str, payload: str) -> str:
    header = json.dumps({"alg": "ES256", "kid": kid, "typ": typ}, separators=(",", ":"))
    signing_input = b64u(header.encode()) + "." + b64u(payload.encode())
    r, s = decode_dss_signature(private.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return signing_input + "." + b64u(r.to_bytes(32, "big") + s.to_bytes(32, "big"))


expiry = 1651216460918
signed_payload = json.dumps(
    {"cpk": thumbprint(client_out["jwk"]), "spk": server_out["encoded"], "exp": expiry, "chn": "MOB-APP-2001"},
    separators=(",", ":"),
)
token_request_plaintext = json.dumps(
    {"apiKey": "MOB-APP", "secret": "TEST123", "publicKey": client_out["encoded"]}, separators=(",", ":")
)
z_enc = epk.exchange(ec.ECDH(), gateway_enc.public_key())
sealed_request_key = ConcatKDFHash(
    algorithm=hashes.SHA256(),
    length=32,
    otherinfo=struct.pack(">I", 7) + b"A256GCM" + struct.pack(">I", 0) * 2 + struct.pack(">I", 256),
).derive(z_enc)
# docs/protocol.md §1.1: iat (when it was sealed, seconds since the epoch) and chn (the X-API-KEY it is
# sent with) follow epk; the protected header is the AAD, so both are authenticated.
sealed_request_iat = 1651216400
sealed_request_chn = "MOB-APP-2001"
sealed_request_header = json.dumps(
    {
        "alg": "ECDH-ES",
        "enc": "A256GCM",
        "kid": "enc-1",
        "epk": json.loads(epk_out["jwk"]),
        "iat": sealed_request_iat,
        "chn": sealed_request_chn,
    },
    separators=(",", ":"),
)
sealed_request_iv = bytes.fromhex("a0a1a2a3a4a5a6a7a8a9aaab")
bound_header = '{"alg":"dir","enc":"A256GCM","cty":"application/json","typ":"request+jwe","htm":"POST","htp":"/api/transfer?from=1"}'
bound_iv = bytes.fromhex("b0b1b2b3b4b5b6b7b8b9babb")
seal_header = '{"alg":"dir","enc":"A256GCM","typ":"request+jwe","htm":"GET","htp":"/api/account/7"}'
seal_iv = bytes.fromhex("c0c1c2c3c4c5c6c7c8c9cacb")
typed_response_header = '{"alg":"dir","enc":"A256GCM","cty":"application/json","typ":"response+jwe"}'
typed_response_iv = bytes.fromhex("d0d1d2d3d4d5d6d7d8d9dadb")

vectors = {
    "description": "sealgate wire-contract test vectors: P-256 ECDH, the three KDFs, JWE dir/A256GCM, the authenticated handshake and bound messages",
    "generator": "clients/python/generate_vectors.py (Python cryptography)",
    "client": client_out,
    "server": server_out,
    "z": z.hex(),
    "k": keys,
    "request": {
        "kdf": "hkdf-sha256",
        "protected": request_header,
        "iv": request_iv.hex(),
        "plaintext": request_plaintext,
        "jwe": seal(k, request_iv, request_header, request_plaintext.encode()),
    },
    "response": {
        "kdf": "hkdf-sha256",
        "jwe": seal(k, response_iv, response_header, response_plaintext.encode()),
        "cty": "application/json",
        "plaintext": response_plaintext,
    },
    "handshake": {
        "description": "docs/protocol.md §1.1: the RFC 7638 thumbprint of the client key, a signed token answer, a sealed token request",
        "gateway_sig": dict(gateway_sig_out, kid="sig-1"),
        "gateway_enc": dict(gateway_enc_out, kid="enc-1"),
        "client_thumbprint": thumbprint(client_out["jwk"]),
        "expiry": expiry,
        "channel": "MOB-APP-2001",
        "signed_payload": signed_payload,
        "signature": jws_es256(gateway_sig, "sig-1", "handshake+jws", signed_payload),
        "sealed_request": {
            "epk": epk_out,
            "iat": sealed_request_iat,
            "chn": sealed_request_chn,
            "protected": sealed_request_header,
            "cek": sealed_request_key.hex(),
            "iv": sealed_request_iv.hex(),
            "plaintext": token_request_plaintext,
            "jwe": seal(sealed_request_key, sealed_request_iv, sealed_request_header, token_request_plaintext.encode()),
        },
    },
    "binding": {
        "description": "docs/protocol.md §4.1 under K (hkdf-sha256): a bound body, an X-Request-Seal, a typed response",
        "body": {
            "protected": bound_header,
            "iv": bound_iv.hex(),
            "plaintext": request_plaintext,
            "jwe": seal(k, bound_iv, bound_header, request_plaintext.encode()),
        },
        "seal": {
            "protected": seal_header,
            "iv": seal_iv.hex(),
            "jwe": seal(k, seal_iv, seal_header, b""),
        },
        "response": {
            "protected": typed_response_header,
            "iv": typed_response_iv.hex(),
            "plaintext": response_plaintext,
            "jwe": seal(k, typed_response_iv, typed_response_header, response_plaintext.encode()),
        },
    },
}
out = pathlib.Path(sys.argv[1]) if len(sys.argv) > 1 else pathlib.Path(__file__).resolve().parent.parent / "test-vectors.json"
out.write_text(json.dumps(vectors, indent=2) + "\n")
print(f"wrote {out}")
