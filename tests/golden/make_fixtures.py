"""Write the golden fixtures: the stored form of every journey event class at its current version.

Run it only when an event class gets a NEW version (docs/architecture.md, "Events readable
forever"): `.venv/bin/python -m tests.golden.make_fixtures`. It writes `events/<Class>.v<N>.json`
for each class whose current version has no fixture yet, and adds the new files to
`manifest.json`. It never rewrites a file that exists: a fixture is what the code of its day wrote,
and tests/golden/test_golden.py checks every one against its recorded sha256 for as long as the
project lives.
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID

import orjson

from domain.journey import Journey, Provenance
from infra.codec import OrjsonTranscoder, TypedMapper

HERE = Path(__file__).parent
EVENTS = HERE / "events"
MANIFEST = HERE / "manifest.json"
TODAY = date(2025, 6, 30)
RECORDED = datetime(2025, 6, 30, 9, 0, tzinfo=UTC)  # each event one minute after the one before


def _by(n: int) -> Provenance:
    return Provenance(
        UUID(int=0x601DE0 + n), "cw-golden", "caseworker", TODAY, "golden", "http", f"golden-{n}"
    )


def journey_events() -> list[Any]:
    """One journey holding every event class, in an order the rules accept."""
    journey = Journey.start(
        client_ref="golden-client",
        municipality="Amersfoort",
        team="noord",
        initial_rung=2,
        effective_date=date(2025, 1, 6),
        by=_by(1),
    )
    journey.record_step(3, date(2025, 2, 3), _by(2))
    journey.record_reconnection("volunteering", date(2025, 2, 10), _by(3))
    journey.assess_self_reliance("2017", {"finances": 2, "time_use": 3}, date(2025, 2, 17), _by(4))
    journey.change_team("zuid", date(2025, 3, 3), _by(5))
    journey.record_work_exit("employment", 32, "temporary", date(2025, 3, 10), _by(6))
    journey.record_work_ended("contract_ended", date(2025, 4, 30), _by(7))
    journey.close("moved", date(2025, 5, 5), _by(8))
    journey.reopen("back on support after the move fell through", date(2025, 5, 19), _by(9))
    journey.void(3, "the volunteering was never taken up", _by(10))
    return list(journey.collect_events())


def stored_form(event: Any) -> dict[str, Any]:
    stored = TypedMapper(OrjsonTranscoder()).to_stored_event(event)
    state = orjson.loads(stored.state)
    state["timestamp"] = (RECORDED + timedelta(minutes=stored.originator_version)).isoformat()
    data = orjson.dumps(state)  # the same encoding, with a recorded time that does not change
    return {
        "topic": stored.topic,
        "class_version": getattr(type(event), "class_version", 1),
        "originator_id": str(stored.originator_id),
        "originator_version": stored.originator_version,
        "state": data.decode(),
        "state_sha256": hashlib.sha256(data).hexdigest(),
    }


def main() -> None:
    EVENTS.mkdir(exist_ok=True)
    manifest: dict[str, str] = json.loads(MANIFEST.read_text()) if MANIFEST.exists() else {}
    for event in journey_events():
        fixture = stored_form(event)
        path = EVENTS / f"{type(event).__name__}.v{fixture['class_version']}.json"
        if path.exists():
            continue  # never rewritten
        text = json.dumps(fixture, indent=2) + "\n"
        path.write_text(text)
        manifest[path.name] = hashlib.sha256(text.encode()).hexdigest()
        print(f"wrote {path.relative_to(HERE)}")
    MANIFEST.write_text(json.dumps(dict(sorted(manifest.items())), indent=2) + "\n")


if __name__ == "__main__":
    main()
