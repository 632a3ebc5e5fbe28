"""How events are stored: compact JSON (orjson), typed back from each event class's own fields.

The library's default transcoder tags every UUID, date and datetime with a small JSON object and
restores them with a Python object hook, which dominates the cost of replaying a long journey. Our
events have plain field types (str, int, float, UUID, date, datetime, dict), so the stored JSON
stays plain and each field is turned back into its declared type on reading.

Every way a stored event is read (the aggregate, an audit replay, the mirror's runner and rebuild,
the feed and the Kafka relay) goes through `upcast` first, so an event stored at an older version
of its class is never read in its old form (docs/architecture.md, "Events readable forever").
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable
from datetime import date, datetime
from functools import cache
from typing import Any
from uuid import UUID

import orjson
from eventsourcing.persistence import Mapper, StoredEvent, Transcoder
from eventsourcing.utils import get_topic, resolve_topic

from domain.journey import Journey, own_fields
from domain.timeline import Entry

Convert = Callable[[Any], Any]


def upcast(cls: type, state: dict[str, Any]) -> dict[str, Any]:
    """A stored event's state brought from the version it was stored at to its class's current one.

    As the library's own Mapper does: the version is stored as `class_version` (absent for 1), and
    the class's `upcast_vN_vM` static methods take the state one version at a time.
    """
    current: int = getattr(cls, "class_version", 1)
    stored = state.pop("class_version", 1)
    if stored > current:
        msg = f"{cls.__qualname__} stored at version {stored}; this code reads up to {current}"
        raise ValueError(msg)
    while stored < current:
        getattr(cls, f"upcast_v{stored}_v{stored + 1}")(state)
        stored += 1
    return state


class OrjsonTranscoder(Transcoder):
    def encode(self, obj: Any) -> bytes:
        return orjson.dumps(obj)

    def decode(self, data: bytes) -> Any:
        return orjson.loads(data)


class TypedMapper(Mapper[UUID]):
    """Stores an event's fields as plain JSON; reads them back as the types the class declares."""

    def to_stored_event(self, domain_event: Any) -> StoredEvent:
        state = dict(vars(domain_event))
        originator_id = state.pop("originator_id")
        originator_version = state.pop("originator_version")
        class_version = getattr(type(domain_event), "class_version", 1)
        if class_version > 1:
            state["class_version"] = class_version
        return StoredEvent(
            originator_id=originator_id,
            originator_version=originator_version,
            topic=get_topic(type(domain_event)),
            state=orjson.dumps(state),
        )

    def to_domain_event(self, stored_event: StoredEvent) -> Any:
        cls = resolve_topic(stored_event.topic)
        state = upcast(cls, orjson.loads(stored_event.state))
        for name, convert in _converters(cls):
            if name in state:
                state[name] = convert(state[name])
        originator_id = stored_event.originator_id
        state["originator_id"] = originator_id if isinstance(originator_id, UUID) else UUID(originator_id)
        state["originator_version"] = stored_event.originator_version
        event = object.__new__(cls)
        object.__setattr__(event, "__dict__", state)
        return event

    def to_entry(self, stored_event: StoredEvent) -> tuple[Entry, datetime] | None:
        """A stored journey fact as its timeline entry and its recording time, without building the
        event (an audit replay reads a thousand); None for an event that is not a journey fact."""
        try:
            entry, data = _entry(stored_event.topic, stored_event.originator_version, stored_event.state)
        except TypeError:
            return None
        return entry, datetime.fromisoformat(data["timestamp"])


def entry_of(topic: str, version: int, state: bytes) -> Entry:
    """A stored journey event as a timeline entry, without building the event object.

    For reading the whole log fast (a rebuild); gives what `event.entry()` gives.
    """
    return _entry(topic, version, state)[0]


def _entry(topic: str, version: int, state: bytes) -> tuple[Entry, dict[str, Any]]:
    """The entry, and the stored fields it was read from; TypeError if `topic` is not a journey fact."""
    kind, own = _entry_fields(topic)
    data = upcast(resolve_topic(topic), orjson.loads(state))
    facts = {name: data[name] for name in own}
    for name, convert in _own_converters(topic):
        facts[name] = convert(facts[name])
    return Entry(version, kind, date.fromisoformat(data["effective_date"]), facts), data


@cache
def _entry_fields(topic: str) -> tuple[str, tuple[str, ...]]:
    cls = resolve_topic(topic)
    if not (isinstance(cls, type) and issubclass(cls, Journey.Fact)):
        msg = f"{topic} is not a journey fact"
        raise TypeError(msg)
    return cls.__name__, tuple(own_fields(cls))


@cache
def _own_converters(topic: str) -> tuple[tuple[str, Convert], ...]:
    own = set(_entry_fields(topic)[1])
    return tuple((n, c) for n, c in _converters(resolve_topic(topic)) if n in own)


_BY_TYPE: dict[Any, Convert] = {
    UUID: UUID,
    date: date.fromisoformat,
    datetime: datetime.fromisoformat,
}


@cache
def _converters(cls: type) -> tuple[tuple[str, Convert], ...]:
    """The fields of an event class that JSON does not give back as their declared type."""
    hints = typing.get_type_hints(cls)
    names = [f.name for f in dataclasses.fields(cls)] if dataclasses.is_dataclass(cls) else list(hints)
    return tuple((n, _BY_TYPE[hints[n]]) for n in names if hints.get(n) in _BY_TYPE)
