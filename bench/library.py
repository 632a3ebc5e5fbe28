"""Baselines of the bare `eventsourcing` library on PostgreSQL: a trivial aggregate, library defaults.

No aggregate cache, no pre-ping, the default PostgresApplicationRecorder (which takes an EXCLUSIVE
lock on the events table and sends a NOTIFY in every write transaction). Event states are padded to
about the size of a journey event, so the raw rows compare like with like.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any
from uuid import UUID, uuid4

from eventsourcing.application import Application
from eventsourcing.domain import Aggregate

from bench.core import Ctx, Run, for_seconds

PAGE = 1000
NOTE = "a note of about the length of a journey event's own facts, " * 3  # ~180 chars


class Ticket(Aggregate):
    """Trivial aggregate with two event types; the command assigns in the event's apply, nothing else."""

    class Opened(Aggregate.Created):
        title: str
        note: str

    class Noted(Aggregate.Event):
        note: str

        def apply(self, aggregate: Any) -> None:
            aggregate.notes += 1
            aggregate.last_note = self.note

    def __init__(self, title: str, note: str) -> None:
        self.title = title
        self.notes = 0
        self.last_note = note

    @classmethod
    def open(cls, title: str) -> Ticket:
        return cls._create(cls.Opened, id=uuid4(), title=title, note=NOTE)

    def add_note(self, note: str) -> None:
        self.trigger_event(self.Noted, note=note)


class BareApp(Application[UUID]):
    name = "bare"


@contextmanager
def _app(ctx: Ctx) -> Iterator[BareApp]:
    app = BareApp(ctx.library_env())
    try:
        yield app
    finally:
        app.close()


def _state_bytes(app: BareApp, aggregate: Ticket) -> float:
    events = aggregate.collect_events()
    sizes = [len(app.mapper.to_stored_event(e).state) for e in events]
    return sum(sizes) / len(sizes)


def _seed(app: BareApp, aggregates: int, events_each: int) -> list[UUID]:
    """Store `aggregates` tickets of `events_each` events, 1000 events per save."""
    ids: list[UUID] = []
    pending: list[Ticket] = []
    per_save = max(1, 1000 // events_each)
    for n in range(aggregates):
        ticket = Ticket.open(f"ticket {n}")
        for _ in range(events_each - 1):
            ticket.add_note(NOTE)
        pending.append(ticket)
        ids.append(ticket.id)
        if len(pending) == per_save:
            app.save(*pending)
            pending = []
    if pending:
        app.save(*pending)
    return ids


@contextmanager
def lnew(ctx: Ctx) -> Iterator[Run]:
    """One save per new aggregate: one event, one transaction."""
    with _app(ctx) as app:
        ctx.notes["state_bytes"] = _state_bytes(app, Ticket.open("probe"))

        def one() -> int:
            app.save(Ticket.open("new"))
            return 1

        yield lambda: for_seconds(ctx.seconds, one)


@contextmanager
def lcmd(ctx: Ctx) -> Iterator[Run]:
    """Get (replay from the store, no cache) + command + save, on aggregates with 10 prior events."""
    with _app(ctx) as app:
        # Enough aggregates that each gets only a few more events during the runs.
        ids = _seed(app, ctx.scale(400, 4000), 10)
        ctx.notes["aggregates"] = len(ids)
        ctx.notes["prior_events"] = 10
        probe = Ticket.open("probe")
        probe.add_note(NOTE)
        ctx.notes["state_bytes"] = _state_bytes(app, probe)
        turn = iter(range(10**12))

        def one() -> int:
            ticket: Ticket = app.repository.get(ids[next(turn) % len(ids)])
            ticket.add_note(NOTE)
            app.save(ticket)
            return 1

        yield lambda: for_seconds(ctx.seconds, one)


@contextmanager
def l100(ctx: Ctx) -> Iterator[Run]:
    """save() of 100 new aggregates at once: 100 events in one transaction (creation included)."""
    with _app(ctx) as app:
        ctx.notes["state_bytes"] = _state_bytes(app, Ticket.open("probe"))

        def hundred() -> int:
            app.save(*[Ticket.open("new") for _ in range(100)])
            return 100

        yield lambda: for_seconds(ctx.seconds, hundred)


@contextmanager
def lread(ctx: Ctx) -> Iterator[Run]:
    """Read the whole notification log in pages of 1000 and decode every event (mapper + transcoder)."""
    with _app(ctx) as app:
        events = ctx.scale(10_000, 200_000)
        _seed(app, events // 2, 2)
        ctx.notes["events"] = events
        recorder = app.recorder
        mapper = app.mapper

        def all_events() -> int:
            seen, start = 0, 1
            while True:
                page = recorder.select_notifications(start, PAGE)
                if not page:
                    return seen
                for notification in page:
                    mapper.to_domain_event(notification)
                seen += len(page)
                start = page[-1].id + 1

        yield lambda: for_seconds(ctx.seconds, all_events)
