"""Turns an answer in clear that is not a success into a :class:`SealgateError`."""

from __future__ import annotations

from typing import Dict, Optional

from .encoding import loads_object
from .errors import SealgateError, classify, parse_retry_after
from .transport import RawResponse

#: What each code means (docs/protocol.md, Errors). Messages use this text, never the
#: ``resDesc`` received, so that nothing a middlebox writes back can end up in a message.
DESCRIPTIONS: Dict[str, str] = {
    "TOK002": "Invalid API Key Passed",
    "TOK003": "Failure",
    "TOK004": "Your credentials not allowed to generate token",
    "AUTH001": "Token missing",
    "AUTH002": "Token malformed",
    "AUTH003": "Token key unknown",
    "AUTH004": "Token invalid",
    "AUTH005": "Token expired",
    "AUTH006": "Token not yet valid",
    "AUTH007": "Session revoked or unknown",
    "AUTH008": "Request replayed",
    "AUTH009": "Session request limit reached",
    "AUTH010": "Token issued before this instance started",
    "AUTH011": "Session evicted: make a new handshake",
    "BODY001": "Request body is not a valid JWE",
    "BODY002": "Request body does not decrypt",
    "BODY003": "Request body too large",
    "BODY004": "Request body not received in time",
    "BODY005": "Request body could not be read",
    "BODY006": "Sealed message is not a request",
    "BODY007": "Sealed message is bound to another request",
    "BODY008": "Request binding required",
    "BODY009": "X-Request-Seal is not an empty sealed message",
    "ROUTE001": "No route",
    "ROUTE002": "Method or upgrade not supported",
    "ROUTE003": "Path not acceptable",
    "ROUTE004": "Route busy",
    "ROUTE005": "Not a valid WebSocket handshake",
    "RATE001": "Rate limit reached",
    "HEAD001": "More than one Host header",
    "HEAD002": "Too many header fields",
    "UPSTREAM001": "Upstream unreachable",
    "UPSTREAM002": "Upstream sent an invalid response",
    "UPSTREAM003": "Upstream response too large",
    "UPSTREAM004": "Upstream timed out",
    "UPSTREAM005": "Upstream broke HTTP framing",
    "GATEWAY503": "Service unavailable",
    "STATE001": "Session state unavailable",
    "STATE002": "Replay memory full",
    "GATEWAY500": "Internal error",
}


def res_code(raw: RawResponse) -> Optional[str]:
    """The gateway's ``resCode`` when the body has the gateway's error shape: a JSON object with
    exactly the members ``resCode`` (a code such as ``AUTH005``) and ``resDesc`` (a string)
    (docs/protocol.md, Errors). Any other body (an upstream's JSON, a page of a proxy) has no
    code, so it is never taken for one of the gateway's own refusals."""
    if len(raw.body) > 4096:
        return None
    try:
        body = loads_object(raw.body)
    except ValueError:
        return None
    if set(body) != {"resCode", "resDesc"} or not isinstance(body["resDesc"], str):
        return None
    code = body["resCode"]
    if isinstance(code, str) and code.isascii() and code.isalnum() and len(code) <= 16:
        return code
    return None


def refusal(raw: RawResponse, what: str) -> SealgateError:
    """The error for a refusal: the kind from the status and ``resCode``, the ``Retry-After`` of
    a 429 or 503, and a message naming ``what`` was refused and what the code means. Nothing
    of the request or of the answer's text is quoted."""
    code = res_code(raw)
    kind = classify(raw.status, code)
    retry_after = parse_retry_after(raw.headers.get("Retry-After")) if raw.status in (429, 503) else None
    message = f"{what} was refused"
    if code is not None and code in DESCRIPTIONS:
        message += f": {DESCRIPTIONS[code]}"
    return SealgateError(kind, message, status=raw.status, res_code=code, retry_after_seconds=retry_after)
