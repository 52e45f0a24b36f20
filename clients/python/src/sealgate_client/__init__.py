"""sealgate-client: the Python client of the sealgate gateway.

It makes the authenticated handshake of docs/protocol.md §1.1 (the token request sealed to the
gateway's ``enc`` key, the signed answer checked before the session key is derived), keeps the
session and renews it a minute before it expires, seals every call bound to its method and
target, and opens the sealed answers (docs/protocol.md §4, §4.1).

    from sealgate_client import Client, GatewayTrust

    client = Client("https://gw.example", channel="MOB-APP-2001", api_key="MOB-APP",
                    secret=secret, trust=GatewayTrust.from_file("gateway-jwks.json"))
    answer = client.call("POST", "/api/transfer?from=1", b'{"amount":100}')
    answer.json()

Every failure is a :class:`SealgateError`; its ``kind`` (:class:`ErrorKind`) says what to do.
The lower-level steps (keys, KDFs, sealing, the signature check) are in
:mod:`sealgate_client.jose`.
"""

from .client import DEFAULT_TOKEN_PATH, IDEMPOTENT_METHODS, RENEW_BEFORE_SECONDS, Client, Response, Session
from .errors import ErrorKind, SealgateError
from .jose import Kdf
from .transport import Headers, HttpTransport, RawResponse, Transport
from .trust import JWKS_PATH, GatewayTrust

__version__ = "0.1.0"

__all__ = [
    "Client",
    "Session",
    "Response",
    "GatewayTrust",
    "Kdf",
    "SealgateError",
    "ErrorKind",
    "Transport",
    "HttpTransport",
    "RawResponse",
    "Headers",
    "DEFAULT_TOKEN_PATH",
    "RENEW_BEFORE_SECONDS",
    "IDEMPOTENT_METHODS",
    "JWKS_PATH",
    "__version__",
]
