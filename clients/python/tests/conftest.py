from __future__ import annotations

import json
import os
import pathlib
import sys
import traceback
from typing import Any, Iterable, List, Union

import pytest

sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from sealgate_client.encoding import b64url_encode  # noqa: E402

REPO = pathlib.Path(__file__).resolve().parents[3]


def vectors_path() -> pathlib.Path:
    return pathlib.Path(os.environ.get("SEALGATE_VECTORS", str(REPO / "clients" / "test-vectors.json")))


@pytest.fixture(scope="session")
def vectors() -> Any:
    path = vectors_path()
    if not path.is_file():
        pytest.fail(f"the published vectors are not at {path} (set SEALGATE_VECTORS)")
    with open(path, encoding="utf-8") as file:
        return json.load(file)


@pytest.fixture(scope="session")
def gateway_url() -> str:
    """The live gateway's base URL (env SEALGATE_URL). Unset: the live tests are skipped, unless
    SEALGATE_REQUIRE_LIVE=1, when they fail (CI must not pass with them skipped)."""
    url = os.environ.get("SEALGATE_URL", "").strip()
    if not url:
        reason = "SEALGATE_URL is not set: no gateway to run the live tests against"
        if os.environ.get("SEALGATE_REQUIRE_LIVE") == "1":
            pytest.fail(reason + ", and SEALGATE_REQUIRE_LIVE=1 requires them", pytrace=False)
        pytest.skip(reason)
    return url.rstrip("/")


def secret_forms(secret: Union[str, bytes]) -> List[str]:
    """The ways a secret could show up in text: as is, hex, base64url, and as a bytes repr."""
    raw = secret.encode() if isinstance(secret, str) else secret
    forms = [raw.decode("latin-1"), raw.hex(), b64url_encode(raw), repr(raw)[2:-1]]
    return [f for f in forms if len(f) >= 6]


def assert_no_secrets(texts: Iterable[str], secrets: Iterable[Union[str, bytes]]) -> None:
    text = "\n".join(texts)
    for secret in secrets:
        for form in secret_forms(secret):
            assert form not in text, "a secret appears in an error message, a repr or a log"


def describe(error: BaseException) -> List[str]:
    """Everything an app could print about an exception: str, repr, and the whole traceback with
    its chained causes."""
    return [str(error), repr(error), "".join(traceback.format_exception(type(error), error, error.__traceback__))]
