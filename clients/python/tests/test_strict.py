"""Strict base64url and JSON, key checks, sealed-message and signature refusals, the JWK Set,
the error vocabulary and its mapping."""

from __future__ import annotations

import json
from typing import Any, Optional

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sealgate_client import ErrorKind, GatewayTrust, SealgateError
from sealgate_client.encoding import b64url_decode, b64url_encode, loads_object, loads_strict
from sealgate_client.errors import classify, parse_retry_after
from sealgate_client.jose import open_sealed, parse_public_jwk, public_jwk_text, seal, seal_with_header, verify_handshake

# --- base64url ------------------------------------------------------------------------------


@pytest.mark.parametrize("data", [b"", b"\x00", b"\xff\xfe", b"ab", b"abc", bytes(range(256))])
def test_b64url_round_trip(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text and "+" not in text and "/" not in text
    assert b64url_decode(text) == data


@pytest.mark.parametrize(
    "text",
    [
        "YQ==",  # padding
        "YQ=",
        "+/8",  # the standard alphabet
        "a/8",
        "YW Jj",  # white space
        " YWJj",
        "YWJj\n",
        "Y",  # an impossible length
        "YR",  # stray bits in the last character (YQ is the one text of b"a")
        "YWK",  # stray bits (YWI is b"ab")
        "YWJj\u00e9",  # not ASCII
        "YW.j",
    ],
)
def test_b64url_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(text)


# --- JSON -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "text",
    [
        '{"a":1,"a":2}',
        '{"a":{"b":1,"b":1}}',
        '[{"x":1,"x":1}]',
        '{"a":NaN}',
        '{"a":Infinity}',
        '{"a":-Infinity}',
        "{'a':1}",
        '{"a":1',
        "",
    ],
)
def test_json_refuses(text: str) -> None:
    with pytest.raises(ValueError):
        loads_strict(text)


def test_json_refuses_bytes_that_are_not_utf8() -> None:
    with pytest.raises(ValueError):
        loads_strict(b'{"a":"\xff"}')
    with pytest.raises(ValueError):
        loads_strict('{"a":1}'.encode("utf-16"))


def test_json_error_never_quotes_the_document() -> None:
    with pytest.raises(ValueError) as caught:
        loads_strict('{"secret":"hunter2hunter2",}')
    assert "hunter2" not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__


def test_json_object_required() -> None:
    assert loads_object('{"a":[1,2]}') == {"a": [1, 2]}
    with pytest.raises(ValueError):
        loads_object("[1]")


# --- keys -----------------------------------------------------------------------------------

KEY = ec.derive_private_key(0x1F2E3D4C5B6A79880716253443526170F1E2D3C4B5A69788796A5B4C3D2E1F00, ec.SECP256R1())


def jwk(**members: Any) -> str:
    base = json.loads(public_jwk_text(KEY))
    base.update(members)
    return json.dumps({k: v for k, v in base.items() if v is not None})


def test_an_off_curve_point_is_refused() -> None:
    x = b64url_decode(json.loads(public_jwk_text(KEY))["x"])
    y = b64url_decode(json.loads(public_jwk_text(KEY))["y"])
    bad_y = (int.from_bytes(y, "big") ^ 1).to_bytes(32, "big")
    with pytest.raises(SealgateError) as caught:
        parse_public_jwk(jwk(y=b64url_encode(bad_y)))
    assert caught.value.kind is ErrorKind.HANDSHAKE_INVALID
    with pytest.raises(SealgateError):  # (0, 0) is not on P-256; the infinity has no affine form
        parse_public_jwk(jwk(x=b64url_encode(bytes(32)), y=b64url_encode(bytes(32))))
    assert parse_public_jwk(jwk(x=b64url_encode(x))) is not None


@pytest.mark.parametrize(
    "members",
    [
        {"kty": "RSA"},
        {"crv": "P-384"},
        {"kty": None},
        {"x": None},
        {"d": "AAAA"},  # a private member
        {"x": "AAAA"},  # not 32 bytes
        {"x": b64url_encode(bytes(33))},
        {"x": b64url_encode(b"\x01" * 32) + "="},  # padded
        {"y": 5},
    ],
)
def test_bad_public_jwks_are_refused(members: Any) -> None:
    with pytest.raises(SealgateError) as caught:
        parse_public_jwk(jwk(**members))
    assert caught.value.kind is ErrorKind.HANDSHAKE_INVALID


def test_other_jwk_members_are_ignored_and_repeats_refused() -> None:
    parse_public_jwk(jwk(kid="k", ext=True, key_ops=["deriveBits"]))
    text = public_jwk_text(KEY)
    with pytest.raises(SealgateError):
        parse_public_jwk(text[:-1] + ',"kty":"EC"}')


# --- sealed messages ------------------------------------------------------------------------

K = bytes(range(32))


def header_jwe(header: str, plaintext: bytes = b"{}") -> str:
    return seal_with_header(K, header, plaintext)


@pytest.mark.parametrize(
    "compact",
    [
        "a.b.c.d",
        seal(K, b"x", typ="response+jwe") + ".",
        header_jwe('{"alg":"dir","enc":"A256GCM","typ":"response+jwe","typ":"response+jwe"}'),
        header_jwe('{"alg":"A256KW","enc":"A256GCM","typ":"response+jwe"}'),
        header_jwe('{"alg":"dir","enc":"A128GCM","typ":"response+jwe"}'),
        header_jwe('{"alg":"dir","enc":"A256GCM","typ":"response+jwe","zip":"DEF"}'),
        header_jwe('{"alg":"dir","enc":"A256GCM","typ":"response+jwe","crit":["x"]}'),
        header_jwe('{"alg":"dir","enc":"A256GCM","typ":"response+jwe","cty":7}'),
        header_jwe('{"alg":"dir","enc":"A256GCM","typ":"request+jwe"}'),
        header_jwe('{"alg":"dir","enc":"A256GCM"}'),
        header_jwe('{"alg":"dir","enc":"A256GCM","typ":"response+jwe","pad":"' + "x" * 800 + '"}'),
    ],
)
def test_open_refuses(compact: str) -> None:
    with pytest.raises(SealgateError) as caught:
        open_sealed(K, compact, want_typ="response+jwe")
    assert caught.value.kind is ErrorKind.RESPONSE_INVALID


def test_open_refuses_tampering() -> None:
    good = seal(K, b"hello", typ="response+jwe")
    assert open_sealed(K, good, want_typ="response+jwe").plaintext == b"hello"
    h, e, iv, ct, tag = good.split(".")
    other_header = b64url_encode(b'{"alg":"dir","enc":"A256GCM","typ":"response+jwe" }')
    for compact in (
        ".".join([other_header, e, iv, ct, tag]),  # the header is the AAD
        ".".join([h, "AAAA", iv, ct, tag]),  # an encrypted key
        ".".join([h, e, b64url_encode(bytes(12)), ct, tag]),
        ".".join([h, e, iv, b64url_encode(b"jello"), tag]),
        ".".join([h, e, iv, ct, tag[:-2]]),  # a short tag
        ".".join([h, e, b64url_encode(bytes(16)), ct, tag]),
        good + "\n",
    ):
        with pytest.raises(SealgateError):
            open_sealed(K, compact, want_typ="response+jwe")
    with pytest.raises(SealgateError):
        open_sealed(bytes(32), good, want_typ="response+jwe")


def test_seal_writes_the_header_exactly() -> None:
    compact = seal(K, b"x", cty="text/plain; charset=utf-8", typ="request+jwe", htm="PUT", htp="/a/b?c=d&e=/f")
    assert b64url_decode(compact.split(".")[0]).decode() == (
        '{"alg":"dir","enc":"A256GCM","cty":"text/plain; charset=utf-8","typ":"request+jwe","htm":"PUT","htp":"/a/b?c=d&e=/f"}'
    )
    assert seal(K, b"x").split(".")[2] != seal(K, b"x").split(".")[2]  # a fresh IV each time


# --- the handshake signature ----------------------------------------------------------------

SIG = ec.generate_private_key(ec.SECP256R1())


def jws(header: str, payload: str, der: bool = False) -> str:
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

    signing_input = b64url_encode(header.encode()) + "." + b64url_encode(payload.encode())
    signature = SIG.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256()))
    if not der:
        r, s = decode_dss_signature(signature)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return signing_input + "." + b64url_encode(signature)


def payload(exp: Any = 1000, **changes: Any) -> str:
    from sealgate_client.jose import thumbprint

    claims = {"cpk": thumbprint(KEY.public_key()), "spk": "SPK", "exp": exp, "chn": "CH"}
    claims.update(changes)
    return json.dumps(claims)


HEADER = '{"alg":"ES256","kid":"s1","typ":"handshake+jws"}'


def check(signature: object) -> None:
    verify_handshake(
        signature, signing_keys={"s1": SIG.public_key()}, client_public_key=KEY.public_key(),
        server_public_key="SPK", expiry=1000, channel="CH",
    )


def test_a_good_signature_passes() -> None:
    check(jws(HEADER, payload()))


@pytest.mark.parametrize(
    "signature",
    [
        None,
        "",
        "a.b",
        jws(HEADER, payload(), der=True),  # DER, not r || s
        jws('{"alg":"none","kid":"s1","typ":"handshake+jws"}', payload()),
        jws('{"alg":"ES256","kid":"s1","typ":"JWT"}', payload()),
        jws('{"alg":"ES256","kid":"s2","typ":"handshake+jws"}', payload()),
        jws('{"alg":"ES256","typ":"handshake+jws"}', payload()),
        jws('{"alg":"ES256","kid":"s1","typ":"handshake+jws","crit":["exp"]}', payload()),
        jws('{"alg":"ES256","kid":"s1","kid":"s1","typ":"handshake+jws"}', payload()),
        jws(HEADER, payload(exp="1000")),
        jws(HEADER, payload(exp=1000.0)),
        jws(HEADER, payload(exp=1001)),
        jws(HEADER, payload(chn="OTHER")),
        jws(HEADER, payload(spk="SPK2")),
        jws(HEADER, payload(cpk="x")),
        jws(HEADER, payload()[:-1] + ',"chn":"CH"}'),  # a repeated member
        jws(HEADER, payload()) + "=",
    ],
)
def test_bad_signatures_are_refused(signature: object) -> None:
    with pytest.raises(SealgateError) as caught:
        check(signature)
    assert caught.value.kind is ErrorKind.HANDSHAKE_INVALID


def test_a_tampered_payload_does_not_verify() -> None:
    h, _, s = jws(HEADER, payload()).split(".")
    with pytest.raises(SealgateError):
        check(".".join([h, b64url_encode(payload(exp=1000, extra=1).encode()), s]))


# --- the JWK Set ----------------------------------------------------------------------------

ENC = ec.generate_private_key(ec.SECP256R1())
SIG2 = ec.generate_private_key(ec.SECP256R1())


def member(key: ec.EllipticCurvePrivateKey, kid: Optional[str], use: str, alg: Optional[str]) -> str:
    extra = "".join(f',"{n}":"{v}"' for n, v in (("kid", kid), ("use", use), ("alg", alg)) if v is not None)
    return public_jwk_text(key)[:-1] + extra + "}"


def test_trust_from_jwks_keeps_every_sig_key_and_the_first_enc_key() -> None:
    text = '{"keys":[%s]}' % ",".join(
        [
            member(SIG, "sig-a", "sig", "ES256"),
            member(ENC, "enc-a", "enc", "ECDH-ES"),
            member(SIG2, "sig-b", "sig", None),
            member(SIG, "enc-b", "enc", "ECDH-ES"),
            '{"kty":"RSA","n":"x","e":"AQAB","use":"other"}',
        ]
    )
    trust = GatewayTrust.from_jwks(text)
    assert list(trust.signing_keys) == ["sig-a", "sig-b"]
    assert trust.encryption_kid == "enc-a"
    assert trust.encryption_key.public_numbers() == ENC.public_key().public_numbers()
    again = GatewayTrust.from_jwks(trust.to_jwks())
    assert list(again.signing_keys) == ["sig-a", "sig-b"] and again.encryption_kid == "enc-a"
    assert "sig-a" in repr(trust)


@pytest.mark.parametrize(
    "text",
    [
        "not json",
        "[]",
        '{"keys":{}}',
        '{"keys":[],"keys":[]}',
        '{"keys":[%s]}' % member(SIG, "s", "sig", "ES256"),  # no enc key
        '{"keys":[%s]}' % member(ENC, "e", "enc", "ECDH-ES"),  # no sig key
        '{"keys":[%s,%s,%s]}'
        % (member(SIG, "s", "sig", "ES256"), member(SIG2, "s", "sig", "ES256"), member(ENC, "e", "enc", None)),
        '{"keys":[%s,%s]}' % (member(SIG, None, "sig", "ES256"), member(ENC, "e", "enc", None)),
        '{"keys":[%s,%s]}' % (member(SIG, "bad kid!", "sig", "ES256"), member(ENC, "e", "enc", None)),
        '{"keys":[%s,%s]}' % (member(SIG, "k" * 65, "sig", "ES256"), member(ENC, "e", "enc", None)),
        '{"keys":[%s,%s]}' % (member(SIG, "s", "sig", "ES384"), member(ENC, "e", "enc", None)),
        '{"keys":[%s,%s]}' % (member(SIG, "s", "sig", None), member(ENC, "e", "enc", "RSA-OAEP")),
        '{"keys":[%s,%s]}' % (member(SIG, "s", "sig", None)[:-1] + ',"d":"AAAA"}', member(ENC, "e", "enc", None)),
        '{"keys":["x"]}',
    ],
)
def test_bad_jwk_sets_are_refused(text: str) -> None:
    with pytest.raises(SealgateError) as caught:
        GatewayTrust.from_jwks(text)
    assert caught.value.kind is ErrorKind.HANDSHAKE_INVALID


# --- errors ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "status, code, kind",
    [
        (401, "TOK002", ErrorKind.CREDENTIALS_REFUSED),
        (401, "TOK004", ErrorKind.CREDENTIALS_REFUSED),
        (400, "TOK003", ErrorKind.REQUEST_REFUSED),
        (405, "TOK003", ErrorKind.REQUEST_REFUSED),
        (408, "TOK003", ErrorKind.REQUEST_REFUSED),
        (413, "TOK003", ErrorKind.REQUEST_REFUSED),
        (429, "TOK003", ErrorKind.RETRY_LATER),
        (503, "TOK003", ErrorKind.RETRY_LATER),
        (500, "TOK003", ErrorKind.GATEWAY_ERROR),
        (401, "AUTH001", ErrorKind.REQUEST_REFUSED),
        (401, "AUTH002", ErrorKind.REQUEST_REFUSED),
        (401, "AUTH003", ErrorKind.SESSION_EXPIRED),
        (401, "AUTH004", ErrorKind.REQUEST_REFUSED),
        (401, "AUTH005", ErrorKind.SESSION_EXPIRED),
        (401, "AUTH006", ErrorKind.CLOCK_SKEW),
        (401, "AUTH007", ErrorKind.SESSION_EXPIRED),
        (401, "AUTH008", ErrorKind.REPLAYED),
        (401, "AUTH009", ErrorKind.SESSION_EXPIRED),
        (401, "AUTH010", ErrorKind.SESSION_EXPIRED),
        (401, "AUTH011", ErrorKind.SESSION_EXPIRED),
        (400, "BODY001", ErrorKind.REQUEST_REFUSED),
        (400, "BODY002", ErrorKind.REQUEST_REFUSED),
        (413, "BODY003", ErrorKind.REQUEST_REFUSED),
        (408, "BODY004", ErrorKind.REQUEST_REFUSED),
        (400, "BODY005", ErrorKind.REQUEST_REFUSED),
        (400, "BODY006", ErrorKind.REQUEST_REFUSED),
        (400, "BODY007", ErrorKind.REQUEST_REFUSED),
        (400, "BODY008", ErrorKind.REQUEST_REFUSED),
        (400, "BODY009", ErrorKind.REQUEST_REFUSED),
        (404, "ROUTE001", ErrorKind.REQUEST_REFUSED),
        (501, "ROUTE002", ErrorKind.GATEWAY_ERROR),
        (400, "ROUTE003", ErrorKind.REQUEST_REFUSED),
        (503, "ROUTE004", ErrorKind.RETRY_LATER),
        (400, "ROUTE005", ErrorKind.REQUEST_REFUSED),
        (429, "RATE001", ErrorKind.RETRY_LATER),
        (400, "HEAD001", ErrorKind.REQUEST_REFUSED),
        (431, "HEAD002", ErrorKind.REQUEST_REFUSED),
        (502, "UPSTREAM001", ErrorKind.GATEWAY_ERROR),
        (502, "UPSTREAM002", ErrorKind.GATEWAY_ERROR),
        (502, "UPSTREAM003", ErrorKind.GATEWAY_ERROR),
        (504, "UPSTREAM004", ErrorKind.GATEWAY_ERROR),
        (502, "UPSTREAM005", ErrorKind.GATEWAY_ERROR),
        (503, "GATEWAY503", ErrorKind.RETRY_LATER),
        (503, "STATE001", ErrorKind.RETRY_LATER),
        (503, "STATE002", ErrorKind.RETRY_LATER),
        (500, "GATEWAY500", ErrorKind.GATEWAY_ERROR),
        (431, None, ErrorKind.REQUEST_REFUSED),  # the HTTP library's own refusal, no body
        (400, None, ErrorKind.REQUEST_REFUSED),
        (502, None, ErrorKind.GATEWAY_ERROR),
        (429, None, ErrorKind.RETRY_LATER),
    ],
)
def test_every_code_of_the_protocol_maps_to_its_kind(status: int, code: Optional[str], kind: ErrorKind) -> None:
    assert classify(status, code) is kind


@pytest.mark.parametrize("code", ["AUTH003", "AUTH005", "AUTH007", "AUTH009", "AUTH010", "AUTH011"])
def test_a_session_code_means_session_expired_only_with_401(code: str) -> None:
    assert classify(401, code) is ErrorKind.SESSION_EXPIRED
    assert classify(403, code) is ErrorKind.REQUEST_REFUSED
    assert classify(200, code) is ErrorKind.GATEWAY_ERROR
    assert classify(500, code) is ErrorKind.GATEWAY_ERROR


@pytest.mark.parametrize(
    "body, code",
    [
        (b'{"resCode":"AUTH005","resDesc":"Token expired"}', "AUTH005"),
        (b'{"resDesc":"Token expired","resCode":"AUTH005"}', "AUTH005"),
        (b'{"resCode":"AUTH005"}', None),
        (b'{"resCode":"AUTH005","resDesc":7}', None),
        (b'{"resCode":"AUTH005","resDesc":"Token expired","error":"x"}', None),
        (b'{"resCode":"AUTH 05","resDesc":"x"}', None),
        (b'{"resCode":"AUTH005","resCode":"AUTH005","resDesc":"x"}', None),
        (b'["AUTH005"]', None),
        (b"", None),
    ],
)
def test_only_the_gateways_error_shape_gives_a_res_code(body: bytes, code: Optional[str]) -> None:
    from sealgate_client import Headers, RawResponse
    from sealgate_client._refusal import res_code

    assert res_code(RawResponse(401, Headers(), body)) == code


def test_the_error_kinds_are_the_shared_vocabulary() -> None:
    assert [k.name for k in ErrorKind] == [
        "CREDENTIALS_REFUSED", "REQUEST_REFUSED", "RETRY_LATER", "SESSION_EXPIRED", "REPLAYED",
        "CLOCK_SKEW", "HANDSHAKE_INVALID", "RESPONSE_INVALID", "GATEWAY_ERROR", "TRANSPORT",
    ]
    error = SealgateError(ErrorKind.RETRY_LATER, "busy", status=503, res_code="GATEWAY503", retry_after_seconds=1)
    assert isinstance(error, Exception)
    assert (error.kind, error.status, error.res_code, error.retry_after_seconds) == (ErrorKind.RETRY_LATER, 503, "GATEWAY503", 1)
    assert str(error) == "RETRY_LATER: busy (HTTP 503, resCode GATEWAY503, retry after 1 s)"
    bare = SealgateError(ErrorKind.TRANSPORT, "down")
    assert (bare.status, bare.res_code, bare.retry_after_seconds, str(bare)) == (0, None, None, "TRANSPORT: down")


@pytest.mark.parametrize(
    "value, expected",
    [
        (None, None),
        ("60", 60),
        (" 5 ", 5),
        ("0", 0),
        ("-1", None),
        ("1.5", None),
        ("soon", None),
        ("Thu, 01 Jan 1970 00:01:40 GMT", 40),  # 100 s after the epoch, 60 s after now=60
        ("Thu, 01 Jan 1970 00:00:10 GMT", 0),  # in the past
    ],
)
def test_retry_after(value: Optional[str], expected: Optional[int]) -> None:
    assert parse_retry_after(value, now=60.0) == expected


def test_the_descriptions_are_the_contracts() -> None:
    """Every code of docs/protocol.md's Errors table, with its resDesc, is known; and only those."""
    import re

    from conftest import REPO
    from sealgate_client._refusal import DESCRIPTIONS

    text = (REPO / "docs" / "protocol.md").read_text(encoding="utf-8")
    table = text[text.index("## Errors"):]
    rows = re.findall(r"^\| `([A-Z]+[0-9]+)` \| [0-9]+ \| `([^`]+)` \|", table, re.MULTILINE)
    published = {code: desc for code, desc in rows if code != "TOK200"}
    assert published == DESCRIPTIONS


def test_a_refusal_never_quotes_the_answer() -> None:
    from sealgate_client import Headers, RawResponse
    from sealgate_client._refusal import refusal

    echo = json.dumps({"resCode": "AUTH004", "resDesc": "bad token Bearer eyJsecret-token-text"}).encode()
    error = refusal(RawResponse(401, Headers([("Content-Type", "application/json")]), echo), "the call")
    assert (error.kind, error.res_code) == (ErrorKind.REQUEST_REFUSED, "AUTH004")
    assert "secret-token" not in str(error) and "secret-token" not in repr(error)
    assert str(error) == "REQUEST_REFUSED: the call was refused: Token invalid (HTTP 401, resCode AUTH004)"
