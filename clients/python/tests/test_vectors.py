"""Every published vector (docs/protocol.md §5), byte for byte, and the generator still works."""

from __future__ import annotations

import copy
import json
import pathlib
import subprocess
import sys
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from sealgate_client import ErrorKind, Kdf, SealgateError
from sealgate_client.encoding import b64url_decode, b64url_encode
from sealgate_client.jose import (
    derive_key,
    ecdh,
    open_sealed,
    parse_public_jwk,
    public_jwk_text,
    seal,
    seal_token_request,
    sealed_token_request_header,
    thumbprint,
    verify_handshake,
)

from conftest import REPO


def private(d_hex: str) -> ec.EllipticCurvePrivateKey:
    return ec.derive_private_key(int(d_hex, 16), ec.SECP256R1())


@pytest.mark.parametrize("who", ["client", "server"])
def test_public_jwk_text_and_encoding(vectors: Any, who: str) -> None:
    key = private(vectors[who]["d"])
    assert public_jwk_text(key) == vectors[who]["jwk"]
    assert b64url_encode(public_jwk_text(key).encode()) == vectors[who]["encoded"]
    assert public_jwk_text(parse_public_jwk(vectors[who]["jwk"])) == vectors[who]["jwk"]


def test_z(vectors: Any) -> None:
    z = ecdh(private(vectors["client"]["d"]), parse_public_jwk(b64url_decode(vectors["server"]["encoded"])))
    assert z.hex() == vectors["z"]
    assert ecdh(private(vectors["server"]["d"]), parse_public_jwk(vectors["client"]["jwk"])).hex() == vectors["z"]


@pytest.mark.parametrize("kdf", [k.value for k in Kdf])
def test_k_for_each_kdf(vectors: Any, kdf: str) -> None:
    assert derive_key(kdf, bytes.fromhex(vectors["z"])).hex() == vectors["k"][kdf]


def test_every_kdf_has_a_vector(vectors: Any) -> None:
    assert sorted(vectors["k"]) == sorted(k.value for k in Kdf)


def key(vectors: Any) -> bytes:
    return bytes.fromhex(vectors["k"]["hkdf-sha256"])


def test_request_jwe(vectors: Any) -> None:
    r = vectors["request"]
    jwe = seal(key(vectors), r["plaintext"].encode(), cty="application/json", iv=bytes.fromhex(r["iv"]))
    assert jwe == r["jwe"]
    assert b64url_decode(jwe.split(".")[0]).decode() == r["protected"]


def test_response_opens(vectors: Any) -> None:
    header, plaintext = open_sealed(key(vectors), vectors["response"]["jwe"])
    assert plaintext.decode() == vectors["response"]["plaintext"]
    assert header["cty"] == vectors["response"]["cty"]


def test_untyped_response_refused_where_a_type_is_required(vectors: Any) -> None:
    with pytest.raises(SealgateError) as caught:
        open_sealed(key(vectors), vectors["response"]["jwe"], want_typ="response+jwe")
    assert caught.value.kind is ErrorKind.RESPONSE_INVALID


def test_client_thumbprint(vectors: Any) -> None:
    h = vectors["handshake"]
    assert thumbprint(vectors["client"]["jwk"]) == h["client_thumbprint"]
    assert thumbprint(private(vectors["client"]["d"]).public_key()) == h["client_thumbprint"]


def verify(vectors: Any, client_key: ec.EllipticCurvePublicKey, **changes: Any) -> None:
    h = vectors["handshake"]
    args: dict = dict(  # type: ignore[type-arg]
        signing_keys={h["gateway_sig"]["kid"]: parse_public_jwk(h["gateway_sig"]["jwk"])},
        client_public_key=client_key,
        server_public_key=vectors["server"]["encoded"],
        expiry=h["expiry"],
        channel=h["channel"],
    )
    args.update(changes)
    verify_handshake(h["signature"], **args)


def test_signature_accepted_with_the_clients_key(vectors: Any) -> None:
    verify(vectors, private(vectors["client"]["d"]).public_key())


def test_signed_payload_is_the_published_one(vectors: Any) -> None:
    h = vectors["handshake"]
    assert b64url_decode(h["signature"].split(".")[1]).decode() == h["signed_payload"]


@pytest.mark.parametrize(
    "change",
    ["forged: the server key for the client's", "expiry", "channel", "spk", "unknown kid"],
)
def test_signature_refused(vectors: Any, change: str) -> None:
    client_key = private(vectors["client"]["d"]).public_key()
    changes: dict = {}  # type: ignore[type-arg]
    if change.startswith("forged"):
        client_key = private(vectors["server"]["d"]).public_key()
    elif change == "expiry":
        changes["expiry"] = vectors["handshake"]["expiry"] + 1
    elif change == "channel":
        changes["channel"] = "WEB-APP"
    elif change == "spk":
        changes["server_public_key"] = vectors["client"]["encoded"]
    else:
        changes["signing_keys"] = {"other": parse_public_jwk(vectors["handshake"]["gateway_sig"]["jwk"])}
    with pytest.raises(SealgateError) as caught:
        verify(vectors, client_key, **changes)
    assert caught.value.kind is ErrorKind.HANDSHAKE_INVALID


def test_sealed_token_request(vectors: Any) -> None:
    h = vectors["handshake"]
    r = h["sealed_request"]
    epk = private(r["epk"]["d"])
    assert sealed_token_request_header(h["gateway_enc"]["kid"], epk.public_key(), r["iat"], r["chn"]) == r["protected"]
    jwe = seal_token_request(
        r["plaintext"].encode(),
        h["gateway_enc"]["kid"],
        parse_public_jwk(h["gateway_enc"]["jwk"]),
        r["chn"],
        iat=r["iat"],
        epk=epk,
        iv=bytes.fromhex(r["iv"]),
    )
    assert jwe == r["jwe"]
    # The gateway's side: the enc key opens it with the content key of the vector.
    z = ecdh(private(h["gateway_enc"]["d"]), parse_public_jwk(r["epk"]["jwk"]))
    assert derive_key("concat-kdf", z).hex() == r["cek"]


def test_bound_body(vectors: Any) -> None:
    b = vectors["binding"]["body"]
    jwe = seal(
        key(vectors), b["plaintext"].encode(), cty="application/json", typ="request+jwe",
        htm="POST", htp="/api/transfer?from=1", iv=bytes.fromhex(b["iv"]),
    )
    assert jwe == b["jwe"]
    assert b64url_decode(jwe.split(".")[0]).decode() == b["protected"]


def test_request_seal(vectors: Any) -> None:
    s = vectors["binding"]["seal"]
    jwe = seal(key(vectors), b"", typ="request+jwe", htm="GET", htp="/api/account/7", iv=bytes.fromhex(s["iv"]))
    assert jwe == s["jwe"]
    assert b64url_decode(jwe.split(".")[0]).decode() == s["protected"]


def test_typed_response(vectors: Any) -> None:
    r = vectors["binding"]["response"]
    header, plaintext = open_sealed(key(vectors), r["jwe"], want_typ="response+jwe")
    assert plaintext.decode() == r["plaintext"]
    assert header["typ"] == "response+jwe"


def test_a_bound_request_is_not_a_response(vectors: Any) -> None:
    with pytest.raises(SealgateError) as caught:
        open_sealed(key(vectors), vectors["binding"]["body"]["jwe"], want_typ="response+jwe")
    assert caught.value.kind is ErrorKind.RESPONSE_INVALID


def test_the_command_line_passes_the_vectors() -> None:
    from conftest import vectors_path

    out = subprocess.run(
        [sys.executable, "-m", "sealgate_client", "--vectors", str(vectors_path())],
        capture_output=True, text=True, check=False,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip().splitlines()[-1] == "python: ALL CHECKS PASSED"


def test_the_command_line_usage_errors() -> None:
    for argv in ([], ["--nope"], ["--vectors"]):
        out = subprocess.run([sys.executable, "-m", "sealgate_client", *argv], capture_output=True, check=False)
        assert out.returncode == 2


def test_the_generator_still_writes_the_published_vectors(vectors: Any, tmp_path: pathlib.Path) -> None:
    """clients/python/generate_vectors.py, written to a scratch file, gives the published values.
    ECDSA signatures are randomized, so the signature is checked instead of compared."""
    script = REPO / "clients" / "python" / "generate_vectors.py"
    out = tmp_path / "vectors.json"
    subprocess.run([sys.executable, str(script), str(out)], check=True, capture_output=True)
    fresh = json.loads(out.read_text())
    published = copy.deepcopy(vectors)
    for document in (fresh, published):
        document.pop("generator")
        document["handshake"].pop("signature")
    assert fresh == published
    regenerated = json.loads(out.read_text())
    h = regenerated["handshake"]
    verify_handshake(
        h["signature"],
        signing_keys={h["gateway_sig"]["kid"]: parse_public_jwk(h["gateway_sig"]["jwk"])},
        client_public_key=parse_public_jwk(regenerated["client"]["jwk"]),
        server_public_key=regenerated["server"]["encoded"],
        expiry=h["expiry"],
        channel=h["channel"],
    )
