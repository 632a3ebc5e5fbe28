"""Bearer tokens: a remembered token is still refused once it expires, and a forged one never passes."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable
from datetime import datetime, tzinfo
from pathlib import Path

import jwt
import pytest
from fastapi.testclient import TestClient

from api.app import create_app
from api.auth import Principal, TokenCodec, Unauthenticated
from api.cli import main
from infra.container import build
from infra.settings import Settings

KEY = b"a-test-key-of-sufficient-length-0123456789"


def test_a_remembered_token_is_refused_once_it_expires(monkeypatch: pytest.MonkeyPatch) -> None:
    codec = TokenCodec(KEY, "HS256", "traject")
    token = codec.issue("cw", "caseworker", ["noord"], 1)
    assert codec.decode(token) == Principal("cw", "caseworker", frozenset({"noord"}))
    assert codec.decode(token) == Principal("cw", "caseworker", frozenset({"noord"}))  # remembered

    later = jwt.decode(token, KEY, algorithms=["HS256"])["exp"] + 1
    monkeypatch.setattr("api.auth.time.time", lambda: float(later))

    class Later(datetime):
        @classmethod
        def now(cls, tz: tzinfo | None = None) -> Later:
            return cls.fromtimestamp(later, tz)

    monkeypatch.setattr("jwt.api_jwt.datetime", Later)  # PyJWT's own clock moves on too
    with pytest.raises(Unauthenticated):  # the memory says expired; PyJWT, on its own clock, agrees
        codec.decode(token)
    assert token not in codec._checked


def test_a_token_signed_with_another_key_is_refused_even_after_a_good_one() -> None:
    codec = TokenCodec(KEY, "HS256", "traject")
    good = codec.issue("cw", "caseworker", ["noord"], 5)
    forged = TokenCodec(b"another-key-of-sufficient-length-0123456789", "HS256", "traject").issue(
        "cw", "caseworker", ["noord", "zuid"], 5
    )
    assert codec.decode(good).teams == frozenset({"noord"})
    with pytest.raises(Unauthenticated):
        codec.decode(forged)


def test_the_memory_of_checked_tokens_is_bounded() -> None:
    codec = TokenCodec(KEY, "HS256", "traject")
    codec.REMEMBERED = 3
    tokens = [codec.issue(f"cw{i}", "caseworker", ["noord"], 5) for i in range(5)]
    for token in tokens:
        codec.decode(token)
    assert len(codec._checked) == 3
    assert [codec.decode(t).subject for t in tokens] == [f"cw{i}" for i in range(5)]


def signed(payload: bytes, key: bytes = KEY) -> str:
    """A token over exactly these payload bytes (PyJWT would not write duplicate keys)."""
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","typ":"JWT"}').rstrip(b"=")
    body = base64.urlsafe_b64encode(payload).rstrip(b"=")
    signature = hmac.new(key, header + b"." + body, hashlib.sha256).digest()
    return b".".join([header, body, base64.urlsafe_b64encode(signature).rstrip(b"=")]).decode()


def claims(**overrides: object) -> dict[str, object]:
    now = int(time.time())
    return {
        "sub": "cw",
        "role": "caseworker",
        "teams": ["noord"],
        "iss": "traject",
        "iat": now,
        "exp": now + 600,
    } | overrides


def test_a_well_formed_hand_made_token_passes() -> None:
    assert TokenCodec(KEY, "HS256", "traject").decode(signed(json.dumps(claims()).encode())).subject == "cw"


@pytest.mark.parametrize(
    "payload",
    [
        json.dumps(claims(exp=str(int(time.time()) + 600))).encode(),  # a numeric string
        json.dumps(claims(iat=str(int(time.time())))).encode(),
        json.dumps(claims(exp=True)).encode(),
        json.dumps(claims(sub="")).encode(),
        json.dumps(claims(sub="   ")).encode(),
        json.dumps(claims(sub="cw\u202e")).encode(),
        json.dumps(claims(sub=42)).encode(),
        json.dumps({k: v for k, v in claims().items() if k != "iat"}).encode(),  # lifetime unknown
        json.dumps(claims(exp=int(time.time()) + 10 * 365 * 86400)).encode(),  # ten years
        json.dumps(claims()).encode()[:-1] + b', "role": "auditor"}',  # the same claim twice
        json.dumps(claims()).encode()[:-1] + b', "sub": "someone-else"}',
    ],
    ids=[
        "string exp",
        "string iat",
        "boolean exp",
        "empty sub",
        "blank sub",
        "sub with a format character",
        "numeric sub",
        "no iat",
        "ten-year lifetime",
        "duplicate role",
        "duplicate sub",
    ],
)
def test_a_token_with_malformed_claims_is_refused(payload: bytes) -> None:
    with pytest.raises(Unauthenticated):
        TokenCodec(KEY, "HS256", "traject").decode(signed(payload))


def test_a_token_longer_lived_than_the_configured_maximum_is_refused_and_never_issued() -> None:
    codec = TokenCodec(KEY, "HS256", "traject", max_lifetime_minutes=60)
    assert codec.decode(codec.issue("cw", "caseworker", ["noord"], 60)).subject == "cw"
    with pytest.raises(Unauthenticated):
        codec.decode(signed(json.dumps(claims(exp=int(time.time()) + 61 * 60)).encode()))
    with pytest.raises(ValueError, match="60 minutes"):
        codec.issue("cw", "caseworker", ["noord"], 61)


def test_the_token_command_issues_no_token_beyond_the_maximum_lifetime(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("TRAJECT_DATA_DIR", str(tmp_path / "var"))
    monkeypatch.setenv("TRAJECT_TOKEN_MAX_LIFETIME_MINUTES", "120")
    monkeypatch.setattr("api.cli.tune_gc", lambda: None)  # the collector is the test process's own
    assert main(["token", "--role", "caseworker", "--minutes", "121"]) == 2
    out = capsys.readouterr()
    assert (out.out, "120 minutes" in out.err) == ("", True)
    assert main(["token", "--role", "caseworker", "--minutes", "120"]) == 0
    token = capsys.readouterr().out.strip()
    lifetime = jwt.decode(token, options={"verify_signature": False})
    assert lifetime["exp"] - lifetime["iat"] == 120 * 60


def test_the_api_refuses_tokens_longer_lived_than_its_setting(make_settings: Callable[..., Settings]) -> None:
    container = build(make_settings(token_max_lifetime_minutes=10))
    codec = TokenCodec(container.jwt_key, "HS256", "traject")
    with TestClient(create_app(container)) as client:
        for minutes, status in ((10, 200), (11, 401)):
            token = codec.issue("rp", "reporting", [], minutes)
            response = client.get("/v1/events", headers={"Authorization": f"Bearer {token}"})
            assert response.status_code == status, response.text
    container.close()
