"""`traject teams`: an administrator registers the municipality's teams; tokens name only those."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.cli import main
from infra.container import build
from infra.settings import Settings
from tests.infra.test_teams import stored_without_registry


@pytest.fixture(autouse=True)
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Settings]:
    """The embedded store in a fresh folder; after the test, the collector as it was (`main` tunes it)."""
    monkeypatch.setenv("TRAJECT_DATA_DIR", str(tmp_path / "var"))
    thresholds = gc.get_threshold()
    yield Settings()
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def test_teams_are_added_renamed_and_listed(embedded: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["teams", "add", "noord", "--name", "Team Noord"]) == 0
    assert main(["teams", "add", "Zuid"]) == 0
    assert main(["teams", "add", "NOORD", "--name", "Noord"]) == 0  # the same team, renamed
    capsys.readouterr()
    assert main(["teams", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["noord\tNoord", "zuid\tZuid"]


@pytest.mark.parametrize(
    "args",
    [["*"], ["no\u200dord"], ["n\u043eord"], ["=cmd|' /C calc'!A0"], ["oost", "--name", "=HYPERLINK(1)"]],
)
def test_what_is_not_a_team_is_not_added(
    embedded: Settings, capsys: pytest.CaptureFixture[str], args: list[str]
) -> None:
    assert main(["teams", "add", *args]) == 2
    assert "traject teams add" in capsys.readouterr().err
    assert main(["teams", "list"]) == 0
    assert capsys.readouterr().out == ""


def test_no_token_is_issued_for_a_team_that_is_not_registered(
    embedded: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["teams", "add", "noord"]) == 0
    capsys.readouterr()
    for team in ("west", "*", "no\u200dord"):
        assert main(["token", "--role", "caseworker", "--team", "noord", "--team", team]) == 2
        out = capsys.readouterr()
        assert (out.out, "--team" in out.err) == ("", True)


def test_an_older_store_adopts_the_teams_its_journeys_hold(
    embedded: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    container = build(embedded)
    try:
        stored_without_registry(container, ["noord", "West", "west"])
    finally:
        container.close()
    assert main(["teams", "adopt"]) == 1  # the mirror has not seen them yet
    assert "catch up" in capsys.readouterr().err
    assert main(["projections", "rebuild", "mirror"]) == 0
    capsys.readouterr()
    assert main(["teams", "adopt"]) == 1  # one name is left out, and said so
    out = capsys.readouterr()
    assert out.out.splitlines() == ["registered noord", "registered west"]
    assert "'West': a look-alike of west" in out.err
    assert main(["teams", "list"]) == 0
    assert capsys.readouterr().out.splitlines() == ["noord\tnoord", "west\twest"]
