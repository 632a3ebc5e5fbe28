"""The outbound relay against the real broker, on SQLite and on PostgreSQL."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from uuid import UUID

import pytest

from api.streams import FeedItemOut, NotificatieOut
from infra.container import Container, build
from infra.kafka_outbound import NAME, Relay
from infra.settings import Settings
from infra.tracking import Claim, SqlTracking
from services.commands import BatchItem, CloseJourney, RecordStep, ReopenJourney, StartJourney, VoidEntry
from tests.conftest import days_ago
from tests.infra.kafka_support import first_arrivals, read_all, versions_by_journey, wait_until
from tests.services.test_journeys import by

pytestmark = pytest.mark.kafka
Make = Callable[..., Settings]
REPO = Path(__file__).resolve().parents[2]


def record_journeys(container: Container, n: int) -> dict[UUID, int]:
    """`n` journeys with interleaved facts, a backdated step, a void and a reopening; answers their versions."""
    journeys = container.journeys
    ids = [
        journeys.start(StartJourney(f"GEM-{i}", "noord", 2, days_ago(200)), by(container)).journey_id
        for i in range(n)
    ]
    for round_ in range(3):
        journeys.record_batch(
            [
                BatchItem(RecordStep(3 + (i + round_) % 3, days_ago(150 - 10 * round_)), by(container), jid)
                for i, jid in enumerate(ids)
            ]
        )
    journeys.record(ids[0], RecordStep(5, days_ago(190)), by(container))  # late: dated before the others
    journeys.record(ids[0], VoidEntry(2, "typed the wrong rung"), by(container))
    journeys.record(ids[1], CloseJourney("moved", days_ago(20)), by(container))
    journeys.record(ids[1], ReopenJourney(days_ago(10), "came back to the municipality"), by(container))
    return {jid: journeys.journey(jid).version for jid in ids}


def publish_all(relay: Relay) -> int:
    total = 0
    while n := relay.step():
        total += n
    return total


def assert_published_in_order(reads: list[Any], versions: dict[UUID, int], *, exactly_once: bool) -> None:
    by_journey = versions_by_journey(reads)
    assert set(by_journey) == {str(j) for j in versions}
    for jid, seen in by_journey.items():
        expected = list(range(1, versions[UUID(jid)] + 1))
        assert first_arrivals(seen) == expected, (jid, seen)
        if exactly_once:
            assert seen == expected
    for r in reads:
        assert r.key == r.json()["journey_id"].encode()
        assert (r.headers["journey_id"], int(r.headers["version"])) == (r.key, r.json()["version"])


def test_every_recorded_event_is_published_in_order_keyed_by_journey_and_pseudonymous(
    kafka_settings: Make, kafka_bootstrap: str
) -> None:
    settings = kafka_settings(kafka_relay_batch=7)
    container = build(settings)
    versions = record_journeys(container, 4)
    relay = Relay(settings, container.journeys, SqlTracking(container.journeys.recorder))
    try:
        assert publish_all(relay) == container.head_position()
    finally:
        relay.close()

    plain = read_all(kafka_bootstrap, settings.kafka_outbound_topic)
    assert_published_in_order(plain, versions, exactly_once=True)
    items = [FeedItemOut.model_validate_json(r.value) for r in plain]
    assert sorted(i.position for i in items) == list(range(1, container.head_position() + 1))
    started = next(i for i in items if i.type == "Started")
    assert started.facts == {"municipality": "Amersfoort", "team": "noord", "initial_rung": 2}
    everything = b"".join(r.value for r in plain)
    pseudonym = container.journeys.journey(started.journey_id).client_ref
    for secret in (b"client_ref", pseudonym.encode(), b"GEM-", b"cw-1", b"typed the wrong", b"came back"):
        assert secret not in everything

    reads = read_all(kafka_bootstrap, settings.kafka_notificaties_topic)
    notices = [NotificatieOut.model_validate_json(r.value) for r in reads]
    per_journey: dict[str, list[int]] = {}
    for r, notice in zip(reads, notices, strict=True):
        assert notice.hoofdObject == f"https://traject.example/v1/journeys/{r.key.decode()}"
        assert (
            notice.resourceUrl
            == f"https://traject.example/v1/events?after={int(notice.kenmerken.position) - 1}&limit=1"
        )
        per_journey.setdefault(r.key.decode(), []).append(int(notice.kenmerken.version))
    assert per_journey == {str(j): list(range(1, v + 1)) for j, v in versions.items()}
    assert SqlTracking(container.journeys.recorder).position(NAME) == container.head_position()
    container.close()


class Crash(BaseException):
    """The process dying: nothing after it runs, nothing catches it."""


class CrashBeforeRecording:
    """Tracking that dies between publishing a step and recording it, after `survive` good steps."""

    def __init__(self, inner: SqlTracking, survive: int) -> None:
        self.inner = inner
        self.survive = survive

    @contextmanager
    def claim(self, name: str) -> Iterator[Claim | None]:
        with self.inner.claim(name) as claim:
            yield None if claim is None else _Dying(claim, self)


class _Dying:
    def __init__(self, claim: Claim, owner: CrashBeforeRecording) -> None:
        self.claim = claim
        self.owner = owner
        self.position = claim.position

    def advance(self, position: int) -> None:
        if self.owner.survive == 0:
            raise Crash
        self.owner.survive -= 1
        self.claim.advance(position)


def test_a_relay_that_dies_between_publishing_and_recording_publishes_the_step_again(
    kafka_settings: Make, kafka_bootstrap: str
) -> None:
    settings = kafka_settings(kafka_relay_batch=5)
    container = build(settings)
    versions = record_journeys(container, 3)
    tracking = SqlTracking(container.journeys.recorder)
    doomed = Relay(settings, container.journeys, CrashBeforeRecording(tracking, survive=2))
    with pytest.raises(Crash):
        publish_all(doomed)
    doomed.close()
    assert tracking.position(NAME) == 10

    restarted = Relay(settings, container.journeys, tracking)
    try:
        publish_all(restarted)
    finally:
        restarted.close()

    reads = read_all(kafka_bootstrap, settings.kafka_outbound_topic)
    assert_published_in_order(reads, versions, exactly_once=False)
    positions = sorted(FeedItemOut.model_validate_json(r.value).position for r in reads)
    assert positions == sorted([*range(1, container.head_position() + 1), *range(11, 16)])
    container.close()


def test_a_relay_killed_mid_stream_resumes_and_publishes_everything_at_least_once(
    kafka_settings: Make, kafka_bootstrap: str
) -> None:
    settings = kafka_settings(kafka_relay_batch=1, kafka_outbound_form="plain")
    container = build(settings)
    versions = record_journeys(container, 60)
    head = container.head_position()
    tracking = SqlTracking(container.journeys.recorder)
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.infra.relay_process"],
        cwd=REPO,
        env=os.environ | settings_env(settings),
    )
    try:
        wait_until(lambda: tracking.position(NAME) >= 5, what="the relay to start publishing")
        process.send_signal(signal.SIGKILL)
        process.wait(timeout=10)
    finally:
        if process.poll() is None:
            process.kill()
    killed_at = tracking.position(NAME)
    assert killed_at < head, "the relay finished before it was killed; publish more events"

    restarted = Relay(settings, container.journeys, tracking)

    def caught_up() -> bool:
        publish_all(restarted)  # publishes nothing until PostgreSQL has dropped the dead relay's lock
        return tracking.position(NAME) == head

    try:
        wait_until(caught_up, what="the restarted relay to catch up")
    finally:
        restarted.close()
    assert_published_in_order(
        read_all(kafka_bootstrap, settings.kafka_outbound_topic), versions, exactly_once=False
    )
    container.close()


def settings_env(settings: Settings) -> dict[str, str]:
    """The settings as the TRAJECT_* environment a separate process reads them from."""
    return {
        f"TRAJECT_{name.upper()}": str(value)
        for name, value in settings.model_dump().items()
        if value is not None
    }


@pytest.mark.parametrize("backend", ["postgres"])  # SQLite is the single-process store
def test_on_postgres_a_second_relay_waits_while_the_first_holds_the_position(make_settings: Make) -> None:
    container = build(make_settings())
    tracking = SqlTracking(container.journeys.recorder)
    name = f"relay-{uuid.uuid4().hex[:6]}"
    with tracking.claim(name) as first:
        assert first is not None
        with tracking.claim(name) as second:
            assert second is None
        first.advance(42)
    with tracking.claim(name) as again:
        assert again is not None
        assert again.position == 42
    container.close()
