"""The client: the authenticated handshake, the session and its renewal, sealed and bound calls.

    trust = GatewayTrust.from_file("gateway-jwks.json")        # pinned in the app
    client = Client("https://gw.example", channel="MOB-APP-2001", api_key="MOB-APP",
                    secret=secret_from_keystore(), trust=trust)
    answer = client.call("POST", "/api/transfer?from=1", b'{"amount":100}')
    print(answer.status, answer.json())
"""

from __future__ import annotations

import re
import threading
import time
from dataclasses import dataclass, field
from typing import Any, Callable, Dict, Mapping, Optional, Union

from cryptography.hazmat.primitives.asymmetric import ec

from ._refusal import refusal
from .encoding import b64url_decode, loads_object, loads_strict
from .errors import ErrorKind, SealgateError
from .jose import (
    Kdf,
    derive_key,
    ecdh,
    open_sealed,
    parse_public_jwk,
    seal,
    seal_token_request,
    token_request_plaintext,
    verify_handshake,
)
from .transport import Headers, HttpTransport, RawResponse, Transport, split_url
from .trust import GatewayTrust, check_fetch_url

__all__ = ["Client", "Session", "Response", "DEFAULT_TOKEN_PATH", "RENEW_BEFORE_SECONDS", "IDEMPOTENT_METHODS"]

DEFAULT_TOKEN_PATH = "/token-service/new/v2/token"
"""The token endpoint's default path (docs/protocol.md §1); the operator can change it."""

RENEW_BEFORE_SECONDS = 60
"""A session is renewed when less than this is left before its ``expiry``."""

# The gateway did not accept the token at all (missing, malformed, invalid): the call is not
# sent again (REQUEST_REFUSED), but the session is dropped, so the next call makes a new
# handshake. The same rule in every sealgate client library.
_SESSION_RESET_CODES = frozenset({"AUTH001", "AUTH002", "AUTH004"})

# A call refused with SESSION_EXPIRED is sent again (after a new handshake) only when its method
# is idempotent: the refusal comes in clear, so whoever terminates TLS could forge it after
# passing the call on, and a second run must then do no harm. The same rule in every library.
IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "PUT", "DELETE"})

_TOKEN = re.compile(r"[\x21-\x7e]{1,4096}")
_METHOD = re.compile(r"[!#$%&'*+.^_`|~0-9A-Za-z-]+")
_TARGET = re.compile(r"/[\x21-\x22\x24-\x7e]*")  # printable ASCII, no space, no '#'
_RESERVED_HEADERS = frozenset({"authorization", "x-request-seal", "content-type", "content-length", "host"})


@dataclass(frozen=True)
class Session:
    """A token and its session key ``K``, as one handshake made them.

    Attributes:
        token: the opaque token, sent back as ``Authorization: Bearer <token>``. A secret.
        expiry: when the token stops being valid, milliseconds since the Unix epoch.
        key: ``K``, the 32-byte AES-256-GCM key of the session. A secret.
        signed: whether the token answer's signature was checked (False only for the plain
            handshake that was explicitly asked for).

    Neither the token nor ``K`` appears in ``repr``. Keep a session in memory only.
    """

    token: str = field(repr=False)
    expiry: int
    key: bytes = field(repr=False)
    signed: bool = True

    def seconds_left(self, now: float) -> float:
        """Seconds from ``now`` (seconds since the epoch) to :attr:`expiry`."""
        return self.expiry / 1000.0 - now

    def __repr__(self) -> str:
        return f"Session(expiry={self.expiry}, signed={self.signed}, token=<hidden>, key=<hidden>)"


@dataclass(frozen=True)
class Response:
    """The answer to a call.

    Attributes:
        status: the HTTP status. For a sealed answer it is the upstream's status; note that the
            status and the headers travel in clear and are not covered by the seal.
        headers: the answer's header fields (read without regard to case).
        body: the plaintext of a sealed answer, or the body as received when it was in clear.
        cty: the media type of the plaintext: the sealed header's ``cty`` (the upstream's
            ``Content-Type``), or the ``Content-Type`` of an answer in clear. None when absent.
        sealed: whether the answer was sealed (and so opened and authenticated under ``K``).
    """

    status: int
    headers: Headers
    body: bytes = field(repr=False)
    cty: Optional[str]
    sealed: bool

    @property
    def ok(self) -> bool:
        """Whether :attr:`status` is 2xx."""
        return 200 <= self.status < 300

    def json(self) -> Any:
        """The body as JSON, parsed strictly (a repeated member is refused): :class:`ValueError`
        when it is not JSON."""
        return loads_strict(self.body)

    def text(self, encoding: str = "utf-8") -> str:
        """The body as text."""
        return self.body.decode(encoding)

    def __repr__(self) -> str:
        return f"Response(status={self.status}, sealed={self.sealed}, cty={self.cty!r}, body=<{len(self.body)} bytes>)"


def _media_type(value: Optional[str]) -> str:
    return (value or "").split(";", 1)[0].strip().lower()


class Client:
    """A client of one sealgate gateway for one set of credentials.

    Args:
        base_url: ``http://`` or ``https://`` and the gateway's host, optionally a base path
            (then part of every request target, and so of ``htp``).
        channel: the ``X-API-KEY`` value (e.g. ``"MOB-APP-2001"``); it fixes the KDF and the
            token lifetime on the gateway.
        api_key: the client's ``apiKey`` (e.g. ``"MOB-APP"``).
        secret: the secret that goes with ``api_key``. Never shown in ``repr`` or errors.
        trust: the gateway's keys (:class:`GatewayTrust`), best pinned in the app.
        fetch_trust: instead of ``trust``, fetch the JWK Set from
            ``<base_url>/.well-known/jwks.json`` at the first handshake and keep it for the
            client's life. Only as safe as that first connection: prefer ``trust``.
        kdf: the channel's KDF (docs/protocol.md §2); ask the operator.
        token_path: the token endpoint's path.
        plain_handshake: instead of ``trust``, make the unsealed, unsigned token request of the
            original contract (the secret then relies on TLS alone and the answer is not
            authenticated). Refused by channels that require the sealed form.
        allow_insecure_fetch: with ``fetch_trust``, allow the fetch over ``http://`` from a host
            other than ``localhost``, ``127.0.0.1`` or ``::1`` (refused by default).
        clock: seconds since the epoch, for the renewal decision (tests inject their own).
            The ``iat`` of a sealed token request is always the system clock, since the
            gateway checks it against its own.
        transport: how HTTP is sent (default :class:`HttpTransport`, which also sets the
            timeout and TLS context).

    Exactly one of ``trust``, ``fetch_trust=True`` and ``plain_handshake=True`` must be given
    (:class:`ValueError` otherwise): the client never decides on its own how far to trust the
    gateway's keys.

    A client is safe to share between threads; renewal is serialized.
    """

    def __init__(
        self,
        base_url: str,
        *,
        channel: str,
        api_key: str,
        secret: str,
        trust: Optional[GatewayTrust] = None,
        fetch_trust: bool = False,
        kdf: Union[Kdf, str] = Kdf.HKDF_SHA256,
        token_path: str = DEFAULT_TOKEN_PATH,
        plain_handshake: bool = False,
        allow_insecure_fetch: bool = False,
        clock: Callable[[], float] = time.time,
        transport: Optional[Transport] = None,
    ) -> None:
        scheme, authority, base_path = split_url(base_url)
        if "?" in base_path or "#" in base_path:
            raise ValueError("base_url must not carry a query or a fragment")
        if trust is not None and not isinstance(trust, GatewayTrust):
            raise TypeError("trust must be a GatewayTrust (GatewayTrust.from_file, from_jwks or fetch)")
        if (trust is not None) + bool(fetch_trust) + bool(plain_handshake) != 1:
            raise ValueError(
                "choose exactly one of trust=GatewayTrust(...) (pinned), fetch_trust=True and plain_handshake=True"
            )
        if fetch_trust:
            check_fetch_url(base_url, allow_insecure_fetch)
        if _TARGET.fullmatch(token_path) is None:
            raise ValueError("token_path must be an absolute path")
        if not isinstance(channel, str) or not channel or not (channel.isascii() and channel.isprintable()):
            raise ValueError("channel must be a non-empty string of printable ASCII (it is a header value)")
        if not isinstance(api_key, str) or not api_key:
            raise ValueError("api_key must be a non-empty string")
        if not isinstance(secret, str):
            raise TypeError("secret must be str")
        self._origin = f"{scheme}://{authority}"
        self._base_path = base_path.rstrip("/")
        self._base = self._origin + self._base_path
        self._channel = channel
        self._api_key = api_key
        self._secret = secret
        self._trust = trust
        self._kdf = Kdf(kdf)
        self._token_path = token_path
        self._plain = bool(plain_handshake)
        self._fetch = bool(fetch_trust)
        self._allow_insecure_fetch = bool(allow_insecure_fetch)
        self._clock = clock
        self._transport: Transport = transport if transport is not None else HttpTransport()
        self._lock = threading.Lock()
        self._session: Optional[Session] = None

    def __repr__(self) -> str:
        return f"Client(base_url={self._base!r}, channel={self._channel!r}, api_key={self._api_key!r}, kdf={self._kdf.value!r})"

    @property
    def channel(self) -> str:
        """The channel (``X-API-KEY``) this client calls on."""
        return self._channel

    @property
    def trust(self) -> Optional[GatewayTrust]:
        """The gateway's keys in use: as given, or as fetched at the first handshake (then kept
        for the client's life); None before that fetch, and for the plain handshake."""
        return self._trust

    def fetch_trust(self) -> GatewayTrust:
        """Fetches the gateway's JWK Set now (``<base_url>/.well-known/jwks.json``) and uses it
        from now on. Prefer a pinned set (see :class:`GatewayTrust`). Over ``http://`` only from
        a loopback host, unless the client was made with ``allow_insecure_fetch=True``."""
        trust = GatewayTrust.fetch(self._base, transport=self._transport, allow_insecure_fetch=self._allow_insecure_fetch)
        with self._lock:
            self._trust = trust
            self._plain = False
        return trust

    # -- sessions ---------------------------------------------------------------------------

    def session(self) -> Session:
        """The current session, after a new handshake when there is none or when less than
        :data:`RENEW_BEFORE_SECONDS` are left before its expiry (by the injected clock)."""
        with self._lock:
            current = self._session
            if current is None or current.seconds_left(self._clock()) < RENEW_BEFORE_SECONDS:
                current = self._session = self._handshake()
            return current

    def handshake(self) -> Session:
        """Makes a new handshake now and uses its session from now on."""
        with self._lock:
            self._session = self._handshake()
            return self._session

    def _forget(self, refused: Session) -> None:
        # Only the refused session: another thread may already have replaced it.
        with self._lock:
            if self._session is refused:
                self._session = None

    def _renew_after(self, refused: Session) -> Session:
        # Another thread may already have replaced the refused session.
        with self._lock:
            if self._session is refused or self._session is None:
                self._session = self._handshake()
            return self._session

    def _send(self, method: str, url: str, headers: Mapping[str, str], body: Optional[bytes]) -> RawResponse:
        try:
            return self._transport.send(method, url, headers, body)
        except OSError as error:
            raise SealgateError(ErrorKind.TRANSPORT, f"HTTP exchange failed: {type(error).__name__}") from error

    def _handshake(self) -> Session:
        """One token request (docs/protocol.md §1, §1.1); the caller holds the lock."""
        trust = self._trust
        if trust is None and not self._plain:
            # fetch_trust=True: fetched once, then kept for the client's life (never fetched again,
            # so a later attacker on the path cannot swap in keys of their own).
            trust = self._trust = GatewayTrust.fetch(
                self._base, transport=self._transport, allow_insecure_fetch=self._allow_insecure_fetch
            )
        private = ec.generate_private_key(ec.SECP256R1())  # a new key pair for every token
        plaintext = token_request_plaintext(self._api_key, self._secret, private.public_key())
        headers = {"X-API-KEY": self._channel}
        if trust is not None:
            # A new epk and the current iat for every attempt: the gateway accepts one once.
            body = seal_token_request(
                plaintext, trust.encryption_kid, trust.encryption_key, self._channel, iat=int(time.time())
            ).encode("ascii")
            headers["Content-Type"] = "application/jose"
        else:
            body = plaintext
            headers["Content-Type"] = "application/json"
        raw = self._send("POST", self._base + self._token_path, headers, body)
        if raw.status != 200:
            raise refusal(raw, "the token request")
        try:
            answer = loads_object(raw.body)
        except ValueError as error:
            raise SealgateError(ErrorKind.HANDSHAKE_INVALID, f"token answer: {error}", status=200) from None
        token, expiry, server_key_text = answer.get("token"), answer.get("expiry"), answer.get("serverPublicKey")
        if (
            answer.get("resCode") != "TOK200"
            or not isinstance(token, str)
            or _TOKEN.fullmatch(token) is None
            or not isinstance(expiry, int)
            or isinstance(expiry, bool)
            or not isinstance(server_key_text, str)
        ):
            raise SealgateError(ErrorKind.HANDSHAKE_INVALID, "malformed token answer", status=200)
        if trust is not None:
            # Before anything is derived from the answer (docs/protocol.md §1.1).
            verify_handshake(
                answer.get("signature"),
                signing_keys=trust.signing_keys,
                client_public_key=private.public_key(),
                server_public_key=server_key_text,
                expiry=expiry,
                channel=self._channel,
            )
        try:
            server_jwk = b64url_decode(server_key_text)
        except ValueError:
            raise SealgateError(ErrorKind.HANDSHAKE_INVALID, "serverPublicKey is not strict base64url", status=200) from None
        server_key = parse_public_jwk(server_jwk)
        key = derive_key(self._kdf, ecdh(private, server_key))
        return Session(token=token, expiry=expiry, key=key, signed=trust is not None)

    # -- calls ------------------------------------------------------------------------------

    def call(
        self,
        method: str,
        path_and_query: str,
        body: Union[bytes, bytearray, memoryview, str, None] = None,
        content_type: Optional[str] = "application/json",
        *,
        headers: Optional[Mapping[str, str]] = None,
        require_sealed: bool = True,
    ) -> Response:
        """Sends one sealed, bound call and opens its answer.

        The body (``str`` is sent as UTF-8) is sealed under ``K`` with ``cty`` = ``content_type``
        (None leaves it out) and bound with ``typ`` ``request+jwe``, ``htm`` = ``method`` and
        ``htp`` = the request target; a call without a body (None or empty) carries the same
        binding in ``X-Request-Seal`` (docs/protocol.md §4, §4.1).

        The answer must be sealed and typed ``response+jwe``; it is returned opened, whatever its
        status (a sealed 404 is the upstream's 404). An answer in clear with a status of 400 or
        more is the gateway's own refusal and raises :class:`SealgateError` of the mapped kind;
        any other answer in clear raises :attr:`ErrorKind.RESPONSE_INVALID`, unless
        ``require_sealed`` is False (for a route configured not to seal its answers), when it is
        returned with ``sealed=False``. ``HEAD`` is refused (:class:`ValueError`, before anything is
        sent) unless ``require_sealed`` is False: its answer has no body, so a sealing route cannot
        seal it; with ``require_sealed=False`` it comes back with an empty body and ``sealed=False``.

        On :attr:`ErrorKind.SESSION_EXPIRED` (a ``401`` in clear with the gateway's
        ``{"resCode","resDesc"}`` and a session code) the session is dropped. A call whose method is
        idempotent (``GET``, ``HEAD``, ``OPTIONS``, ``PUT``, ``DELETE``) is then sent once more after
        a new handshake, and a second refusal is raised (that session is dropped too). Any other
        call (``POST``, ``PATCH``…), and any call with ``require_sealed=False``, is not sent again:
        the error is raised and the next call makes the new handshake (the refusal travels in
        clear, so it could be forged after the call reached the upstream). Nothing else is retried:
        :attr:`ErrorKind.REPLAYED` means the first attempt may have been delivered. On ``AUTH001``,
        ``AUTH002`` or ``AUTH004`` (raised as :attr:`ErrorKind.REQUEST_REFUSED`) the session is
        dropped, so the next call makes a new handshake.

        Args:
            method: the HTTP method, sent and bound as given (``"POST"``).
            path_and_query: the target after the base URL: ``/path`` and ``?query``, printable
                ASCII without spaces, sent and bound exactly as given.
            headers: extra header fields, sent in clear (not ``Authorization``,
                ``X-Request-Seal``, ``Content-Type``, ``Content-Length`` or ``Host``).
        """
        if not isinstance(method, str) or _METHOD.fullmatch(method) is None:
            raise ValueError("method must be an HTTP token such as POST")
        if not isinstance(path_and_query, str) or _TARGET.fullmatch(path_and_query) is None:
            raise ValueError("path_and_query must start with / and be printable ASCII without spaces or #")
        extra = dict(headers or {})
        if any(name.lower() in _RESERVED_HEADERS for name in extra):
            raise ValueError("headers must not set Authorization, X-Request-Seal, Content-Type, Content-Length or Host")
        if method == "HEAD" and require_sealed:
            raise ValueError(
                "a HEAD answer has no body, so a sealing route cannot seal it: use GET "
                "(or require_sealed=False on a route that does not seal its answers)"
            )
        if isinstance(body, str):
            data: Optional[bytes] = body.encode("utf-8")
        elif body is None:
            data = None
        else:
            data = bytes(body)
        target = self._base_path + path_and_query
        # Sent again after a session refusal only when running it twice does no harm, and only
        # when the refusal can be told apart from an upstream's answer (sealed answers required).
        may_resend = require_sealed and method in IDEMPOTENT_METHODS
        session = self.session()
        for attempt in (1, 2):
            try:
                return self._call_once(session, method, target, data, content_type, extra, require_sealed)
            except SealgateError as error:
                if error.kind is ErrorKind.SESSION_EXPIRED or error.res_code in _SESSION_RESET_CODES:
                    self._forget(session)  # the next call (or the attempt below) makes a new handshake
                if error.kind is not ErrorKind.SESSION_EXPIRED or attempt == 2 or not may_resend:
                    raise
            session = self._renew_after(session)
        raise AssertionError("unreachable")  # pragma: no cover

    def _call_once(
        self,
        session: Session,
        method: str,
        target: str,
        data: Optional[bytes],
        content_type: Optional[str],
        extra: Dict[str, str],
        require_sealed: bool,
    ) -> Response:
        headers = dict(extra)
        headers["Authorization"] = f"Bearer {session.token}"
        if data:
            sealed_body: Optional[bytes] = seal(
                session.key, data, cty=content_type, typ="request+jwe", htm=method, htp=target
            ).encode("ascii")
            headers["Content-Type"] = "application/jose"
        else:
            sealed_body = None
            headers["X-Request-Seal"] = seal(session.key, b"", typ="request+jwe", htm=method, htp=target)
        raw = self._send(method, self._origin + target, headers, sealed_body)
        content_type_received = raw.headers.get("Content-Type")
        if _media_type(content_type_received) == "application/jose":
            if method == "HEAD":
                # Only with require_sealed=False (call() refuses HEAD otherwise): an answer to HEAD
                # has no body, so nothing to open and nothing authenticated.
                return Response(raw.status, raw.headers, b"", None, False)
            try:
                compact = raw.body.decode("ascii")
            except UnicodeDecodeError:
                raise SealgateError(ErrorKind.RESPONSE_INVALID, "sealed answer is not ASCII", status=raw.status) from None
            try:
                header, plaintext = open_sealed(session.key, compact, want_typ="response+jwe")
            except SealgateError as error:
                raise SealgateError(error.kind, str(error.args[0]), status=raw.status) from None
            return Response(raw.status, raw.headers, plaintext, header.get("cty"), True)
        # Never the upstream's data on a sealing route: the gateway's own error, or to refuse.
        if raw.status >= 400:
            raise refusal(raw, "the call")
        if require_sealed:
            raise SealgateError(
                ErrorKind.RESPONSE_INVALID, "the sealing route answered in clear", status=raw.status
            )
        return Response(raw.status, raw.headers, raw.body, content_type_received, False)
