"""Bearer tokens: a remembered token is still refused once it expires, and a forged one never passes."""

from __future__ import annotations

from datetime import datetime, tzinfo

import jwt
import pytest

from api.auth import Principal, TokenCodec, Unauthenticated

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
