"""HTTP for the client: a small :class:`Transport` interface and its standard-library
implementation, :class:`HttpTransport` (``http.client``, one connection per exchange).

A transport moves bytes and nothing more: it does not follow redirects (a redirect would
carry the token elsewhere), does not decompress, and does not read proxy settings from the
environment. Supply your own object with a ``send`` method to use another HTTP stack, a
proxy, or to observe the traffic in tests.
"""

from __future__ import annotations

import http.client
import ssl
from typing import Iterable, Iterator, List, Mapping, Optional, Protocol, Tuple

from .errors import ErrorKind, SealgateError

__all__ = ["Headers", "RawResponse", "Transport", "HttpTransport", "split_url"]


class Headers(Mapping[str, str]):
    """Response header fields, read without regard to case. ``headers["content-type"]`` gives
    the first value; :meth:`get_all` gives every value of a repeated field."""

    __slots__ = ("_fields",)

    def __init__(self, fields: Iterable[Tuple[str, str]] = ()) -> None:
        self._fields: Tuple[Tuple[str, str], ...] = tuple((str(n), str(v)) for n, v in fields)

    def __getitem__(self, name: str) -> str:
        wanted = name.lower()
        for field, value in self._fields:
            if field.lower() == wanted:
                return value
        raise KeyError(name)

    def __iter__(self) -> Iterator[str]:
        seen: List[str] = []
        for field, _ in self._fields:
            if field.lower() not in seen:
                seen.append(field.lower())
        return iter(seen)

    def __len__(self) -> int:
        return len({field.lower() for field, _ in self._fields})

    def get_all(self, name: str) -> List[str]:
        """Every value of the field ``name``, in the order received."""
        wanted = name.lower()
        return [value for field, value in self._fields if field.lower() == wanted]

    def items_raw(self) -> Tuple[Tuple[str, str], ...]:
        """The fields as received: (name, value) pairs, repeated names included."""
        return self._fields

    def __repr__(self) -> str:
        return f"Headers({list(self._fields)!r})"


class RawResponse:
    """What came back over HTTP, before the client interprets it."""

    __slots__ = ("status", "headers", "body")

    def __init__(self, status: int, headers: Headers, body: bytes) -> None:
        self.status = status
        self.headers = headers
        self.body = body

    def __repr__(self) -> str:
        return f"RawResponse(status={self.status}, body=<{len(self.body)} bytes>)"


class Transport(Protocol):
    """Sends one HTTP request and returns its answer, whatever its status.

    ``url`` is absolute (``http://host:port/path?query``) and its target must go on the request
    line exactly as given: the sealed message is bound to it (docs/protocol.md §4.1). On an I/O
    failure raise :class:`OSError` or :class:`SealgateError` of kind
    :attr:`ErrorKind.TRANSPORT`.
    """

    def send(self, method: str, url: str, headers: Mapping[str, str], body: Optional[bytes]) -> RawResponse:
        ...


def split_url(url: str) -> Tuple[str, str, str]:
    """``(scheme, authority, target)`` of an absolute ``http``/``https`` URL, the target exactly as
    written (``/`` when the URL has no path)."""
    scheme, sep, rest = url.partition("://")
    scheme = scheme.lower()
    if not sep or scheme not in ("http", "https"):
        raise ValueError("the URL must start with http:// or https://")
    authority, slash, target = rest.partition("/")
    if "?" in authority or "#" in authority or not authority or "@" in authority:
        raise ValueError("the URL has no usable host (user information is not accepted)")
    return scheme, authority, "/" + target if slash else "/"


class HttpTransport:
    """:class:`Transport` over the standard library's ``http.client``: HTTP/1.1, a new connection
    for every exchange, no redirects, no proxy.

    Args:
        timeout: seconds allowed for connecting and for each read.
        ssl_context: for ``https://`` URLs; the default verifies certificates against the
            system's roots (``ssl.create_default_context()``).
        max_response_bytes: an answer with a longer body is refused (:attr:`ErrorKind.TRANSPORT`).
    """

    def __init__(
        self,
        *,
        timeout: float = 30.0,
        ssl_context: Optional[ssl.SSLContext] = None,
        max_response_bytes: int = 32 * 1024 * 1024,
    ) -> None:
        self.timeout = timeout
        self.ssl_context = ssl_context
        self.max_response_bytes = max_response_bytes

    def send(self, method: str, url: str, headers: Mapping[str, str], body: Optional[bytes]) -> RawResponse:
        scheme, authority, target = split_url(url)
        connection: http.client.HTTPConnection
        if scheme == "https":
            context = self.ssl_context if self.ssl_context is not None else ssl.create_default_context()
            connection = http.client.HTTPSConnection(authority, timeout=self.timeout, context=context)
        else:
            connection = http.client.HTTPConnection(authority, timeout=self.timeout)
        try:
            connection.request(method, target, body=body, headers=dict(headers))
            response = connection.getresponse()
            data = response.read(self.max_response_bytes + 1)
            if len(data) > self.max_response_bytes:
                raise SealgateError(ErrorKind.TRANSPORT, "the answer is larger than max_response_bytes")
            return RawResponse(response.status, Headers(response.getheaders()), data)
        except (OSError, http.client.HTTPException) as error:
            raise SealgateError(ErrorKind.TRANSPORT, f"HTTP exchange failed: {type(error).__name__}") from error
        finally:
            connection.close()
