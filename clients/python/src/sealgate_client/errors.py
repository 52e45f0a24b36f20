"""The one exception of the package, :class:`SealgateError`, and what each gateway answer means.

Every failure of a handshake or a call is a :class:`SealgateError` whose :attr:`~SealgateError.kind`
says what the caller can do about it (the vocabulary is the same in every sealgate client
library). Wrong arguments (a path that does not start with ``/``, an unknown KDF) are
ordinary :class:`ValueError` or :class:`TypeError`: they are bugs, not outcomes.

No message of the package ever holds a secret: not the client secret, the token, the session
key, a private key or a body (docs/protocol.md §1, §4). Messages carry the HTTP status, the
gateway's ``resCode`` and a fixed description: what the code means by the contract's table,
never the ``resDesc`` text received.
"""

from __future__ import annotations

import email.utils
import enum
import time
from typing import Optional

__all__ = ["ErrorKind", "SealgateError", "classify", "parse_retry_after"]


class ErrorKind(enum.Enum):
    """What went wrong, in terms of what the caller can do about it."""

    CREDENTIALS_REFUSED = "CREDENTIALS_REFUSED"
    """``TOK002`` or ``TOK004``: the channel, ``apiKey`` or secret is wrong, or the client is
    disabled. Not retryable: report it."""

    REQUEST_REFUSED = "REQUEST_REFUSED"
    """The gateway refused the request as malformed: ``TOK003`` with 400, ``BODY001``/``002``/
    ``006``–``009``, ``AUTH001``/``002``/``004``, and any other 4xx of the gateway. Never sent
    again automatically; after ``AUTH001``/``002``/``004`` the client drops its session, so the
    next call makes a new handshake."""

    RETRY_LATER = "RETRY_LATER"
    """429 or 503: try again after :attr:`SealgateError.retry_after_seconds` when it is set."""

    SESSION_EXPIRED = "SESSION_EXPIRED"
    """``AUTH003``, ``AUTH005``, ``AUTH007``, ``AUTH009``, ``AUTH010``, ``AUTH011`` with status 401: the
    session is over, and :meth:`Client.call` has dropped it. A call whose method is idempotent
    (``GET``, ``HEAD``, ``OPTIONS``, ``PUT``, ``DELETE``) was already sent once more after a new
    handshake, and this kind means that second attempt was refused too. Any other call (``POST``,
    ``PATCH``…) is not sent again: the refusal travels in clear, so it could be forged after the
    call ran; the app decides, and its next call makes the new handshake."""

    REPLAYED = "REPLAYED"
    """``AUTH008``: these exact bytes were accepted before, so the first attempt may already have
    reached the upstream. Never retried automatically."""

    CLOCK_SKEW = "CLOCK_SKEW"
    """``AUTH006``: the token looks issued in the future; the gateway instances' clocks differ."""

    HANDSHAKE_INVALID = "HANDSHAKE_INVALID"
    """Client side: the token answer has no valid signature from a trusted key, is not over this
    client's key, expiry and channel, carries a bad server key, or is malformed; or the JWK Set
    is unusable. No session key was derived."""

    RESPONSE_INVALID = "RESPONSE_INVALID"
    """Client side: a sealed answer that does not open or is not typed ``response+jwe``, or a 2xx
    (or any non-error status) in clear from a route that seals its answers."""

    GATEWAY_ERROR = "GATEWAY_ERROR"
    """Any other error of the gateway (``UPSTREAM00x``, ``GATEWAY500``, ``ROUTE002``, a 5xx)."""

    TRANSPORT = "TRANSPORT"
    """The connection failed: refused, reset, timed out, TLS, or an answer too large."""


class SealgateError(Exception):
    """A handshake or a call failed.

    Attributes:
        kind: what went wrong (:class:`ErrorKind`).
        status: the HTTP status of the answer, 0 when there was none.
        res_code: the gateway's ``resCode`` (``"TOK004"``, ``"AUTH008"``…), when it sent one.
        retry_after_seconds: the ``Retry-After`` of a 429 or 503, in seconds, when sent.
    """

    kind: ErrorKind
    status: int
    res_code: Optional[str]
    retry_after_seconds: Optional[int]

    def __init__(
        self,
        kind: ErrorKind,
        message: str,
        *,
        status: int = 0,
        res_code: Optional[str] = None,
        retry_after_seconds: Optional[int] = None,
    ) -> None:
        super().__init__(message)
        self.kind = kind
        self.status = status
        self.res_code = res_code
        self.retry_after_seconds = retry_after_seconds

    def __str__(self) -> str:
        details = []
        if self.status:
            details.append(f"HTTP {self.status}")
        if self.res_code is not None:
            details.append(f"resCode {self.res_code}")
        if self.retry_after_seconds is not None:
            details.append(f"retry after {self.retry_after_seconds} s")
        text = f"{self.kind.value}: {super().__str__()}"
        return f"{text} ({', '.join(details)})" if details else text

    def __repr__(self) -> str:
        return (
            f"SealgateError(kind={self.kind.name}, status={self.status}, res_code={self.res_code!r}, "
            f"retry_after_seconds={self.retry_after_seconds!r}, message={super().__str__()!r})"
        )


_CREDENTIALS = frozenset({"TOK002", "TOK004"})
_SESSION = frozenset({"AUTH003", "AUTH005", "AUTH007", "AUTH009", "AUTH010", "AUTH011"})
_REFUSED = frozenset(
    {"BODY001", "BODY002", "BODY006", "BODY007", "BODY008", "BODY009", "AUTH001", "AUTH002", "AUTH004"}
)


def classify(status: int, res_code: Optional[str]) -> ErrorKind:
    """The kind of a refusal the gateway answered with ``status`` and ``res_code``.

    The order matters: a 429 or 503 is :attr:`ErrorKind.RETRY_LATER` whatever its code
    (``TOK003`` with 429, ``GATEWAY503``, ``STATE001``…); then the codes with a meaning of
    their own (the session codes only with 401, the status the gateway sends them with); then any other 4xx is :attr:`ErrorKind.REQUEST_REFUSED` and the rest
    :attr:`ErrorKind.GATEWAY_ERROR`.
    """
    if status in (429, 503):
        return ErrorKind.RETRY_LATER
    if res_code in _CREDENTIALS:
        return ErrorKind.CREDENTIALS_REFUSED
    if res_code in _SESSION and status == 401:
        return ErrorKind.SESSION_EXPIRED
    if res_code == "AUTH008":
        return ErrorKind.REPLAYED
    if res_code == "AUTH006":
        return ErrorKind.CLOCK_SKEW
    if res_code in _REFUSED or (res_code == "TOK003" and status == 400):
        return ErrorKind.REQUEST_REFUSED
    if 400 <= status < 500:
        return ErrorKind.REQUEST_REFUSED
    return ErrorKind.GATEWAY_ERROR


def parse_retry_after(value: Optional[str], now: Optional[float] = None) -> Optional[int]:
    """``Retry-After`` in whole seconds: delta-seconds as sent, or an HTTP-date counted from
    ``now`` (never negative). ``None`` when absent or unreadable."""
    if value is None:
        return None
    text = value.strip()
    if text.isascii() and text.isdigit():
        return int(text)
    try:
        when = email.utils.parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if when is None or when.tzinfo is None:
        return None
    current = time.time() if now is None else now
    return max(0, int(when.timestamp() - current + 0.999))
