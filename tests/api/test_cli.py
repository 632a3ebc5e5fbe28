"""The `traject` command: tokens, the demo caseload (whose figures match the definitions), status."""

from __future__ import annotations

import gc
from collections.abc import Iterator
from pathlib import Path

import pytest

from api.auth import TokenCodec
from api.cli import main
from infra.container import build
from infra.runtime import THRESHOLDS
from infra.settings import Settings
from projections.months import month_of
from projections.outcomes import MonthFigures, figures
from tests.projections.oracle import oracle


@pytest.fixture(autouse=True)
def _gc_as_it_was() -> Iterator[None]:
    """`main` tunes the collector for the whole process; give the test process its own back."""
    before = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*before)


@pytest.fixture
def embedded(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Settings:
    monkeypatch.setenv("TRAJECT_DATA_DIR", str(tmp_path / "var"))
    return Settings()


def test_a_development_token_opens_the_api(embedded: Settings, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["teams", "add", "noord"]) == main(["teams", "add", "zuid"]) == 0
    capsys.readouterr()
    assert main(["token", "--role", "teamlead", "--team", "noord", "--team", "ZUID"]) == 0
    token = capsys.readouterr().out.strip()
    container = build(embedded)
    principal = TokenCodec(container.jwt_key, "HS256", "traject").decode(token)
    assert (principal.role, principal.teams) == ("teamlead", frozenset({"noord", "zuid"}))
    container.close()


def test_the_demo_caseload_loads_and_its_mirror_matches_the_definitions(
    embedded: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["demo"]) == 0
    assert "for 600 journeys" in capsys.readouterr().out
    assert main(["projections", "rebuild", "mirror"]) == 0
    assert "lag 0" in capsys.readouterr().out
    container = build(embedded)
    today = container.today()
    first, last = month_of(today.replace(year=today.year - 2)), month_of(today)
    ids = {n.originator_id for n in container.journeys.recorder.select_notifications(1, 100_000)}
    assert len(ids) == 600
    timelines = [container.journeys.journey(j).timeline for j in ids]
    teams = ("noord", "zuid", "centrum")
    expected = oracle(timelines, teams, first, last, today=today, sustained_months=6)
    got = figures(container.mirror.view.rows(first, last), first, last, today=today, sustained_months=6)
    for (team, month), want in expected.items():
        assert got[team].get(month, MonthFigures(month, want.complete)) == want, (team, month)
    assert sum(f.work_exits_total for f in expected.values()) > 50
    container.close()


def test_every_command_starts_with_the_services_garbage_collector_settings(
    embedded: Settings, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["token", "--role", "auditor"]) == 0
    assert gc.get_threshold() == THRESHOLDS
    assert gc.get_freeze_count() > 0  # what was alive at start is left out of collections
    assert capsys.readouterr().out.count(".") == 2  # and it still printed its token
