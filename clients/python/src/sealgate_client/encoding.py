"""Strict base64url and strict JSON, as docs/protocol.md requires of every JOSE part.

- base64url: the URL-safe alphabet, no ``=`` padding, no ``+`` or ``/``, no white space, and no
  stray bits in the last character, so one byte string has exactly one accepted text.
- JSON: UTF-8 text; a repeated member name is refused (two parsers must never read one header
  two ways); ``NaN`` and ``Infinity``, which are not JSON, are refused.

Both raise :class:`ValueError` with a message that never quotes the input.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from typing import Any, Dict, List, Tuple, Union

__all__ = ["b64url_encode", "b64url_decode", "loads_strict", "loads_object", "is_int"]

_B64URL = re.compile(r"[A-Za-z0-9_-]*")


def b64url_encode(data: bytes) -> str:
    """base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decodes strict base64url: the alphabet ``A-Z a-z 0-9 - _`` only, no padding, and the unused
    low bits of the last character zero. Raises :class:`ValueError` otherwise."""
    if not isinstance(text, str):
        raise TypeError("base64url text must be str")
    if _B64URL.fullmatch(text) is None:
        raise ValueError("not base64url (alphabet, padding or white space)")
    if len(text) % 4 == 1:
        raise ValueError("not base64url (impossible length)")
    try:
        data = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    except binascii.Error:
        raise ValueError("not base64url") from None
    if b64url_encode(data) != text:
        raise ValueError("not canonical base64url (stray bits in the last character)")
    return data


def _refuse_duplicates(pairs: List[Tuple[str, Any]]) -> Dict[str, Any]:
    out: Dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise ValueError("a JSON object repeats a member name")
        out[name] = value
    return out


def _refuse_constant(name: str) -> Any:
    raise ValueError("NaN and Infinity are not JSON")


def loads_strict(data: Union[str, bytes]) -> Any:
    """Parses JSON strictly: UTF-8 only, no repeated member, no ``NaN``/``Infinity``.
    Raises :class:`ValueError` (never quoting the input)."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8")
        except UnicodeDecodeError:
            raise ValueError("JSON text is not UTF-8") from None
    else:
        text = data
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicates, parse_constant=_refuse_constant)
    except json.JSONDecodeError as error:
        # The error object holds the whole document: do not chain it.
        raise ValueError(f"not JSON ({error.msg} at char {error.pos})") from None
    except RecursionError:
        raise ValueError("JSON nested too deeply") from None


def loads_object(data: Union[str, bytes]) -> Dict[str, Any]:
    """:func:`loads_strict`, and the value must be a JSON object."""
    value = loads_strict(data)
    if not isinstance(value, dict):
        raise ValueError("JSON text is not an object")
    return value


def is_int(value: object) -> bool:
    """A JSON integer: an ``int`` that is not a ``bool`` (``true`` is not ``1`` in the contract)."""
    return type(value) is int
