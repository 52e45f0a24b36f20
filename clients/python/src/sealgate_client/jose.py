"""The wire primitives of docs/protocol.md, usable on their own (and checked by the published
test vectors, docs/protocol.md §5).

- P-256 public JWKs: :func:`public_jwk_text`, :func:`parse_public_jwk`, :func:`thumbprint`.
- The session key: :func:`derive_key` (docs/protocol.md §2).
- Sealed messages under ``K``: :func:`seal`, :func:`open_sealed` (docs/protocol.md §4, §4.1).
- The authenticated handshake: :func:`seal_token_request`, :func:`verify_handshake`
  (docs/protocol.md §1.1).

Header and thumbprint texts are written by hand, members in a fixed order and no white space,
because the header segment is the AAD and the thumbprint hashes an exact text.
"""

from __future__ import annotations

import enum
import hashlib
import json
import os
import struct
from typing import Any, Dict, Mapping, NamedTuple, Optional, Tuple, Union

from cryptography.exceptions import InvalidSignature, InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.concatkdf import ConcatKDFHash
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from .encoding import b64url_decode, b64url_encode, is_int, loads_object
from .errors import ErrorKind, SealgateError

__all__ = [
    "Kdf",
    "Opened",
    "public_jwk_text",
    "parse_public_jwk",
    "thumbprint",
    "derive_key",
    "ecdh",
    "seal",
    "seal_with_header",
    "open_sealed",
    "token_request_plaintext",
    "sealed_token_request_header",
    "seal_token_request",
    "verify_handshake",
]

HKDF_INFO = b"token-service/v2 A256GCM"
"""The HKDF ``info`` of docs/protocol.md §2: 24 ASCII bytes, one space."""

_CONCAT_OTHER_INFO = struct.pack(">I", 7) + b"A256GCM" + struct.pack(">I", 0) * 2 + struct.pack(">I", 256)

#: Header members a receiver must understand to process a message; none is used by the
#: contract, so their presence means a message this client cannot read safely.
_FORBIDDEN_MEMBERS = ("zip", "crit", "jku", "x5u", "jwk", "x5c", "epk", "p2c", "p2s", "apu", "apv")

_HEADER_MAX = 1024  # characters of a header segment (docs/protocol.md §4)


class Kdf(str, enum.Enum):
    """The channel's KDF (docs/protocol.md §2); the gateway's operator says which."""

    HKDF_SHA256 = "hkdf-sha256"
    CONCAT_KDF = "concat-kdf"
    RAW = "raw"


def _handshake_error(message: str) -> SealgateError:
    return SealgateError(ErrorKind.HANDSHAKE_INVALID, message)


def _response_error(message: str) -> SealgateError:
    return SealgateError(ErrorKind.RESPONSE_INVALID, message)


def _coordinates(key: ec.EllipticCurvePublicKey) -> Tuple[str, str]:
    numbers = key.public_numbers()
    return b64url_encode(numbers.x.to_bytes(32, "big")), b64url_encode(numbers.y.to_bytes(32, "big"))


def public_jwk_text(key: Union[ec.EllipticCurvePublicKey, ec.EllipticCurvePrivateKey]) -> str:
    """The public JWK text ``{"kty":"EC","crv":"P-256","x":…,"y":…}``: these members, in this
    order, no white space, 32-byte coordinates (docs/protocol.md §1)."""
    public = key.public_key() if isinstance(key, ec.EllipticCurvePrivateKey) else key
    if not isinstance(public.curve, ec.SECP256R1):
        raise ValueError("not a P-256 key")
    x, y = _coordinates(public)
    return f'{{"kty":"EC","crv":"P-256","x":"{x}","y":"{y}"}}'


def parse_public_jwk(jwk: Union[str, bytes, Mapping[str, Any]]) -> ec.EllipticCurvePublicKey:
    """A P-256 public key from its JWK (JSON text, parsed strictly, or an already parsed
    object): ``kty`` ``EC``, ``crv`` ``P-256``, ``x`` and ``y`` strict base64url of 32 bytes each,
    no private ``d``, and the point on the curve. Other members are ignored.

    Raises :class:`SealgateError` (:attr:`ErrorKind.HANDSHAKE_INVALID`) otherwise.
    """
    if isinstance(jwk, (str, bytes)):
        try:
            members: Mapping[str, Any] = loads_object(jwk)
        except ValueError as error:
            raise _handshake_error(f"public key: {error}") from None
    else:
        members = jwk
    if members.get("kty") != "EC" or members.get("crv") != "P-256":
        raise _handshake_error("public key is not a P-256 JWK")
    if "d" in members:
        raise _handshake_error("public key carries a private member")
    x, y = members.get("x"), members.get("y")
    if not isinstance(x, str) or not isinstance(y, str):
        raise _handshake_error("public key coordinates missing")
    try:
        xb, yb = b64url_decode(x), b64url_decode(y)
    except ValueError:
        raise _handshake_error("public key coordinates are not strict base64url") from None
    if len(xb) != 32 or len(yb) != 32:
        raise _handshake_error("public key coordinates are not 32 bytes")
    try:
        # Checks that the point is on the curve (which excludes the point at infinity).
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + xb + yb)
    except ValueError:
        raise _handshake_error("public key is not a point of P-256") from None


def thumbprint(key: Union[str, ec.EllipticCurvePublicKey]) -> str:
    """The RFC 7638 SHA-256 thumbprint, base64url: the hash of
    ``{"crv":"P-256","kty":"EC","x":…,"y":…}`` exactly (docs/protocol.md §1.1). ``key`` is a
    public key or its JWK text."""
    public = parse_public_jwk(key) if isinstance(key, str) else key
    x, y = _coordinates(public)
    canonical = f'{{"crv":"P-256","kty":"EC","x":"{x}","y":"{y}"}}'
    return b64url_encode(hashlib.sha256(canonical.encode("ascii")).digest())


def ecdh(private: ec.EllipticCurvePrivateKey, public: ec.EllipticCurvePublicKey) -> bytes:
    """``Z``: the 32-byte big-endian x-coordinate of the shared point."""
    return private.exchange(ec.ECDH(), public)


def derive_key(kdf: Union[Kdf, str], z: bytes) -> bytes:
    """``K`` from ``Z`` by the channel's KDF (docs/protocol.md §2)."""
    kind = Kdf(kdf)
    if kind is Kdf.HKDF_SHA256:
        return HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=HKDF_INFO).derive(z)
    if kind is Kdf.CONCAT_KDF:
        return ConcatKDFHash(algorithm=hashes.SHA256(), length=32, otherinfo=_CONCAT_OTHER_INFO).derive(z)
    return bytes(z)


def _quoted(value: str) -> str:
    return json.dumps(value)


def seal_with_header(key: bytes, header: str, plaintext: bytes, iv: Optional[bytes] = None) -> str:
    """A compact JWE of ``plaintext`` under the 32-byte ``key`` (AES-256-GCM) with ``header`` as its
    protected header text, as is: an empty encrypted key, a 12-byte IV (random unless given:
    never give the same one twice for one key), a 16-byte tag, and the ASCII of the header
    segment as AAD."""
    if len(key) != 32:
        raise ValueError("the key must be 32 bytes")
    protected = b64url_encode(header.encode("utf-8"))
    nonce = os.urandom(12) if iv is None else iv
    if len(nonce) != 12:
        raise ValueError("the IV must be 12 bytes")
    sealed = AESGCM(key).encrypt(nonce, plaintext, protected.encode("ascii"))
    return ".".join([protected, "", b64url_encode(nonce), b64url_encode(sealed[:-16]), b64url_encode(sealed[-16:])])


def seal(
    key: bytes,
    plaintext: bytes,
    *,
    cty: Optional[str] = None,
    typ: Optional[str] = None,
    htm: Optional[str] = None,
    htp: Optional[str] = None,
    iv: Optional[bytes] = None,
) -> str:
    """A message sealed under ``K`` (docs/protocol.md §4): header
    ``{"alg":"dir","enc":"A256GCM"}`` followed by whichever of ``cty``, ``typ``, ``htm``, ``htp``
    are given, in that order (docs/protocol.md §4.1)."""
    header = '{"alg":"dir","enc":"A256GCM"'
    for name, value in (("cty", cty), ("typ", typ), ("htm", htm), ("htp", htp)):
        if value is not None:
            header += f',"{name}":{_quoted(value)}'
    return seal_with_header(key, header + "}", plaintext, iv)


class Opened(NamedTuple):
    """An opened message: its protected header and its plaintext."""

    header: Dict[str, Any]
    plaintext: bytes


def open_sealed(key: bytes, compact: str, *, want_typ: Optional[str] = None) -> Opened:
    """Opens a compact JWE sealed under ``K`` (``dir`` + ``A256GCM``), with the header segment as
    received as AAD. With ``want_typ``, the header must carry that ``typ``.

    Strict: five segments, each strict base64url; a header of at most 1024 characters that is a
    JSON object without repeated members; ``alg`` ``dir``, ``enc`` ``A256GCM``; none of ``zip``,
    ``crit``, ``jku``, ``x5u``, ``jwk``, ``x5c``, ``epk``, ``p2c``, ``p2s``, ``apu``, ``apv``; ``cty``
    and ``typ`` strings when present; an empty encrypted key, a 12-byte IV, a 16-byte tag.

    Raises :class:`SealgateError` (:attr:`ErrorKind.RESPONSE_INVALID`) otherwise.
    """
    parts = compact.split(".")
    if len(parts) != 5:
        raise _response_error("not a compact JWE (five segments)")
    if len(parts[0]) > _HEADER_MAX:
        raise _response_error("JWE header too long")
    try:
        raw = [b64url_decode(p) for p in parts]
        header = loads_object(raw[0])
    except ValueError as error:
        raise _response_error(f"JWE: {error}") from None
    if header.get("alg") != "dir" or header.get("enc") != "A256GCM":
        raise _response_error("JWE is not alg dir, enc A256GCM")
    if any(name in header for name in _FORBIDDEN_MEMBERS):
        raise _response_error("JWE header carries a member this client does not accept")
    for name in ("cty", "typ"):
        if name in header and not isinstance(header[name], str):
            raise _response_error(f"JWE header {name} is not a string")
    if want_typ is not None and header.get("typ") != want_typ:
        raise _response_error(f"sealed message is not typed {want_typ}")
    _, encrypted_key, iv, ciphertext, tag = raw
    if encrypted_key or len(iv) != 12 or len(tag) != 16:
        raise _response_error("JWE encrypted key, IV or tag of the wrong length")
    try:
        plaintext = AESGCM(key).decrypt(iv, ciphertext + tag, parts[0].encode("ascii"))
    except InvalidTag:
        raise _response_error("sealed message does not open under the session key") from None
    return Opened(header, plaintext)


def token_request_plaintext(api_key: str, secret: str, client_public_key: ec.EllipticCurvePublicKey) -> bytes:
    """The token request's JSON object (docs/protocol.md §1): ``apiKey``, ``secret`` and
    ``publicKey`` (the base64url of the client's public JWK text)."""
    public = b64url_encode(public_jwk_text(client_public_key).encode("ascii"))
    text = json.dumps({"apiKey": api_key, "secret": secret, "publicKey": public}, separators=(",", ":"))
    return text.encode("utf-8")


def sealed_token_request_header(kid: str, epk: ec.EllipticCurvePublicKey, iat: int, channel: str) -> str:
    """The protected header of a sealed token request, members in the order
    ``alg``, ``enc``, ``kid``, ``epk``, ``iat``, ``chn`` (docs/protocol.md §1.1)."""
    if not is_int(iat):
        raise TypeError("iat must be an int (seconds)")
    return (
        f'{{"alg":"ECDH-ES","enc":"A256GCM","kid":{_quoted(kid)},"epk":{public_jwk_text(epk)},'
        f'"iat":{iat},"chn":{_quoted(channel)}}}'
    )


def seal_token_request(
    plaintext: bytes,
    kid: str,
    gateway_enc_key: ec.EllipticCurvePublicKey,
    channel: str,
    *,
    iat: int,
    epk: Optional[ec.EllipticCurvePrivateKey] = None,
    iv: Optional[bytes] = None,
) -> str:
    """Seals a token request to the gateway's ``enc`` key (docs/protocol.md §1.1): ECDH-ES in
    direct key agreement with a fresh ``epk`` (random unless given), the content key by the
    Concat KDF, A256GCM, sealed at ``iat`` (seconds) for ``channel`` (the ``X-API-KEY`` it is sent
    with). Seal every attempt afresh: the gateway accepts one ``epk`` once."""
    ephemeral = ec.generate_private_key(ec.SECP256R1()) if epk is None else epk
    content_key = derive_key(Kdf.CONCAT_KDF, ecdh(ephemeral, gateway_enc_key))
    header = sealed_token_request_header(kid, ephemeral.public_key(), iat, channel)
    return seal_with_header(content_key, header, plaintext, iv)


def verify_handshake(
    signature: object,
    *,
    signing_keys: Mapping[str, ec.EllipticCurvePublicKey],
    client_public_key: ec.EllipticCurvePublicKey,
    server_public_key: str,
    expiry: int,
    channel: str,
) -> None:
    """Checks the ``signature`` of a token answer (docs/protocol.md §1.1) before anything is
    derived from it:

    1. a JWS of three strict base64url segments whose header is a JSON object with ``alg``
       ``ES256``, ``typ`` ``handshake+jws``, no ``crit``, and a ``kid`` naming one of
       ``signing_keys``;
    2. a 64-byte ``r || s`` signature that verifies with that key over ``header.payload``;
    3. a payload whose ``cpk`` is the thumbprint of ``client_public_key``, ``spk`` is
       ``server_public_key`` character for character, ``exp`` is ``expiry`` and ``chn`` is
       ``channel``.

    Raises :class:`SealgateError` (:attr:`ErrorKind.HANDSHAKE_INVALID`) on any failure.
    """
    if not isinstance(signature, str):
        raise _handshake_error("the token answer carries no signature")
    parts = signature.split(".")
    if len(parts) != 3:
        raise _handshake_error("the signature is not a compact JWS")
    try:
        header = loads_object(b64url_decode(parts[0]))
        payload_bytes = b64url_decode(parts[1])
        raw = b64url_decode(parts[2])
    except ValueError as error:
        raise _handshake_error(f"signature: {error}") from None
    if header.get("alg") != "ES256" or header.get("typ") != "handshake+jws" or "crit" in header:
        raise _handshake_error("not an ES256 handshake+jws signature")
    kid = header.get("kid")
    key = signing_keys.get(kid) if isinstance(kid, str) else None
    if key is None:
        raise _handshake_error("signed by a key that is not trusted")
    if len(raw) != 64:
        raise _handshake_error("an ES256 signature is r || s, 64 bytes")
    der = encode_dss_signature(int.from_bytes(raw[:32], "big"), int.from_bytes(raw[32:], "big"))
    try:
        key.verify(der, f"{parts[0]}.{parts[1]}".encode("ascii"), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        raise _handshake_error("the signature does not verify with the gateway's key") from None
    try:
        claims = loads_object(payload_bytes)
    except ValueError as error:
        raise _handshake_error(f"signed payload: {error}") from None
    exp = claims.get("exp")
    same = (
        claims.get("cpk") == thumbprint(client_public_key)
        and claims.get("spk") == server_public_key
        and is_int(exp)
        and exp == expiry
        and claims.get("chn") == channel
    )
    if not same:
        raise _handshake_error("signed for another client key, server key, expiry or channel")
