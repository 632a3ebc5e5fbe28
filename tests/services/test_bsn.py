"""The one BSN rule every channel shares (HTTP, batch, Kafka, and the service itself)."""

from __future__ import annotations

import pytest

from services.journeys import looks_like_bsn


@pytest.mark.parametrize(
    "value", ["111222333", "111 222 333", "111.222.333", "111-222-333", "BSN 111222333", "bsn: 111-222-333"]
)
def test_a_bsn_is_recognised_however_it_is_spelled(value: str) -> None:
    assert looks_like_bsn(value)


@pytest.mark.parametrize("value", ["GEM-000123", "111222334", "GEM-111222333", "12345"])
def test_municipal_numbers_are_not_taken_for_a_bsn(value: str) -> None:
    assert not looks_like_bsn(value)
