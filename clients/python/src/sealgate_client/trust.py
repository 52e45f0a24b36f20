"""What the client knows of the gateway's keys (docs/protocol.md §1.1): every ``sig`` key, by
``kid``, to check signed token answers, and the first ``enc`` key, to seal token requests to.

Pin the JWK Set in the app (:meth:`GatewayTrust.from_jwks`, :meth:`GatewayTrust.from_file`),
or fetch it once over a connection you trust (:meth:`GatewayTrust.fetch`). A set fetched over
the very connection it is meant to protect is worth nothing against an attacker who is
already on that connection.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from os import PathLike
from typing import Any, Dict, List, Mapping, Optional, Tuple, Union

from cryptography.hazmat.primitives.asymmetric import ec

from .encoding import loads_object
from ._refusal import refusal
from .errors import ErrorKind, SealgateError
from .jose import parse_public_jwk, public_jwk_text
from .transport import HttpTransport, Transport, split_url

__all__ = ["GatewayTrust", "JWKS_PATH", "check_fetch_url"]

JWKS_PATH = "/.well-known/jwks.json"
"""Where a gateway publishes its JWK Set, on the listener of the token endpoint."""

_KID = re.compile(r"[A-Za-z0-9._-]{1,64}")
_MAX_JWKS_BYTES = 64 * 1024


_LOOPBACK_HOSTS = frozenset({"localhost", "127.0.0.1", "::1"})


def _invalid(message: str, status: int = 0) -> SealgateError:
    return SealgateError(ErrorKind.HANDSHAKE_INVALID, message, status=status)


def _host(authority: str) -> str:
    if authority.startswith("["):
        end = authority.find("]")
        return authority[1:end] if end > 0 else authority
    return authority.rsplit(":", 1)[0] if ":" in authority else authority


def check_fetch_url(base_url: str, allow_insecure_fetch: bool = False) -> None:
    """Refuses (:class:`ValueError`) to fetch a JWK Set over ``http://`` from a host other than
    ``localhost``, ``127.0.0.1`` or ``::1``, unless ``allow_insecure_fetch`` is True: whoever is
    on that path could hand over keys of their own, and every later handshake would trust them."""
    scheme, authority, _ = split_url(base_url)
    if scheme == "http" and _host(authority).lower() not in _LOOPBACK_HOSTS and not allow_insecure_fetch:
        raise ValueError(
            "the JWK Set would be fetched over http:// from a host other than localhost: "
            "use https://, pin the set, or pass allow_insecure_fetch=True"
        )


@dataclass(frozen=True, eq=False)
class GatewayTrust:
    """The gateway's public keys: ``signing_keys`` (``kid`` → key, in the order listed) and the
    ``enc`` key to seal token requests to, with its ``kid``.

    Build it with :meth:`from_jwks`, :meth:`from_file` or :meth:`fetch` rather than by hand.
    """

    signing_keys: Mapping[str, ec.EllipticCurvePublicKey]
    encryption_kid: str
    encryption_key: ec.EllipticCurvePublicKey

    def __post_init__(self) -> None:
        if not self.signing_keys:
            raise _invalid("no sig key: token answers could not be checked")

    @classmethod
    def from_jwks(cls, jwks: Union[str, bytes]) -> GatewayTrust:
        """From the text of a JWK Set (RFC 7517 §5), parsed strictly.

        Every key with ``use`` ``sig`` is trusted for signatures (its ``alg``, when given, must be
        ``ES256``); the first key with ``use`` ``enc`` (``alg`` ``ECDH-ES`` when given) is the one
        token requests are sealed to; keys with another ``use`` are skipped. The keys used must
        be P-256 public JWKs with a ``kid`` of 1 to 64 characters of ``A-Z a-z 0-9 . _ -``.

        Raises :class:`SealgateError` (:attr:`ErrorKind.HANDSHAKE_INVALID`) when the set is not
        JSON, repeats a member or a ``sig`` ``kid``, holds a bad key, or lacks a ``sig`` or an
        ``enc`` key.
        """
        try:
            document = loads_object(jwks)
        except ValueError as error:
            raise _invalid(f"JWK Set: {error}") from None
        keys = document.get("keys")
        if not isinstance(keys, list):
            raise _invalid("JWK Set: no keys array")
        signing: Dict[str, ec.EllipticCurvePublicKey] = {}
        enc: Optional[Tuple[str, ec.EllipticCurvePublicKey]] = None
        for key in keys:
            if not isinstance(key, dict):
                raise _invalid("JWK Set: a key is not an object")
            use = key.get("use")
            if use == "sig":
                kid = cls._kid(key, "ES256")
                if kid in signing:
                    raise _invalid("JWK Set: two sig keys share a kid")
                signing[kid] = parse_public_jwk(key)
            elif use == "enc" and enc is None:
                kid = cls._kid(key, "ECDH-ES")
                enc = (kid, parse_public_jwk(key))
        if not signing:
            raise _invalid("JWK Set: no sig key")
        if enc is None:
            raise _invalid("JWK Set: no enc key")
        return cls(signing_keys=signing, encryption_kid=enc[0], encryption_key=enc[1])

    @staticmethod
    def _kid(key: Mapping[str, Any], alg: str) -> str:
        kid = key.get("kid")
        if not isinstance(kid, str) or _KID.fullmatch(kid) is None:
            raise _invalid("JWK Set: a key without a valid kid")
        if "alg" in key and key["alg"] != alg:
            raise _invalid(f"JWK Set: a {key.get('use')} key whose alg is not {alg}")
        return kid

    @classmethod
    def from_file(cls, path: Union[str, "PathLike[str]"]) -> GatewayTrust:
        """:meth:`from_jwks` of a pinned JWK Set file."""
        with open(path, "rb") as file:
            return cls.from_jwks(file.read())

    @classmethod
    def fetch(
        cls,
        base_url: str,
        *,
        transport: Optional[Transport] = None,
        allow_insecure_fetch: bool = False,
    ) -> GatewayTrust:
        """Fetches ``<base_url>/.well-known/jwks.json`` and reads it with :meth:`from_jwks`.

        Only as trustworthy as the connection it is fetched over: prefer a pinned copy.
        Over ``http://`` only from ``localhost``, ``127.0.0.1`` or ``::1``, unless
        ``allow_insecure_fetch`` is True (:class:`ValueError` before anything is sent).
        A refusal is mapped like any gateway answer (a 503 is :attr:`ErrorKind.RETRY_LATER`);
        an I/O failure is :attr:`ErrorKind.TRANSPORT`; a set over 64 KiB is
        :attr:`ErrorKind.HANDSHAKE_INVALID`.
        """
        check_fetch_url(base_url, allow_insecure_fetch)
        sender = transport if transport is not None else HttpTransport()
        try:
            answer = sender.send("GET", base_url.rstrip("/") + JWKS_PATH, {"Accept": "application/jwk-set+json"}, None)
        except OSError as error:
            raise SealgateError(ErrorKind.TRANSPORT, f"HTTP exchange failed: {type(error).__name__}") from error
        if answer.status != 200:
            raise refusal(answer, "the JWK Set request")
        if len(answer.body) > _MAX_JWKS_BYTES:
            raise _invalid("JWK Set too large", answer.status)
        return cls.from_jwks(answer.body)

    def to_jwks(self) -> str:
        """A JWK Set text of these keys (to pin a fetched set): the ``sig`` keys, then the ``enc`` key."""
        keys: List[str] = []
        for kid, key in self.signing_keys.items():
            keys.append(public_jwk_text(key)[:-1] + f',"kid":"{kid}","use":"sig","alg":"ES256"}}')
        keys.append(
            public_jwk_text(self.encryption_key)[:-1] + f',"kid":"{self.encryption_kid}","use":"enc","alg":"ECDH-ES"}}'
        )
        return '{"keys":[' + ",".join(keys) + "]}"

    def __repr__(self) -> str:
        return f"GatewayTrust(sig={list(self.signing_keys)!r}, enc={self.encryption_kid!r})"
