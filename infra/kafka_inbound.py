"""The inbound consumer: poll a batch, let the handler store it, dead-letter what it refused, commit.

At-least-once: offsets are committed only after the handler has stored the batch and the dead
letters are acknowledged, so a crash anywhere before the commit redelivers the batch, and the
handler's idempotency turns the redelivered events into duplicates. A failure that is not the
message's fault (database or broker away) rewinds to the start of the batch and retries it.
"""

from __future__ import annotations

import base64
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal

import orjson
from kafka.structs import OffsetAndMetadata, TopicPartition

from infra import kafka_clients
from infra.metrics import Counters
from infra.settings import Settings

log = logging.getLogger("traject.kafka.inbound")

Outcome = Literal["stored", "duplicate", "dead_lettered"]
OUTCOMES: tuple[Outcome, ...] = ("stored", "duplicate", "dead_lettered")
COUNTERS = (
    "inbound_consumed_total",
    *(f"inbound_{o}_total" for o in OUTCOMES),
    "inbound_retries_total",
    "inbound_commit_failures_total",
)
FLUSH_TIMEOUT_S = 60


@dataclass(frozen=True, slots=True)
class Message:
    """One inbound message as it came off the topic."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp_ms: int


@dataclass(frozen=True, slots=True)
class Verdict:
    """What became of one message; a dead letter carries its reason (a problem-details object)."""

    outcome: Outcome
    reason: Mapping[str, Any] | None = None


Handler = Callable[[Sequence[Message]], Sequence[Verdict]]


def dead_letter(message: Message, reason: Mapping[str, Any], now: datetime) -> bytes:
    """The dead-letter record (docs/schemas/dead-letter.schema.json): the original bytes, why, where from."""
    record = {
        "reason": dict(reason),
        "source": {
            "topic": message.topic,
            "partition": message.partition,
            "offset": message.offset,
            "timestamp_ms": message.timestamp_ms,
        },
        "key": base64.b64encode(message.key).decode() if message.key is not None else None,
        "original": base64.b64encode(message.value).decode(),
        "dead_lettered_at": now.isoformat(),
    }
    return orjson.dumps(record)


class InboundConsumer:
    """Reads the inbound topic in the consumer group; one instance per thread."""

    def __init__(self, settings: Settings, handler: Handler, counters: Counters | None = None) -> None:
        self.settings = settings
        self.handler = handler
        self.counters = counters or Counters(COUNTERS)
        self._consumer = kafka_clients.consumer(settings)
        self._uncommitted: dict[TopicPartition, OffsetAndMetadata] = {}
        self._producer = kafka_clients.producer(settings, "dead-letter")
        # Know the topic's partitions before the first join, so that the join does not start
        # without them and need a second one (see _recover_lost_join).
        self._consumer.partitions_for_topic(settings.kafka_inbound_topic)

    @property
    def assignment(self) -> set[tuple[str, int]]:
        return {(tp.topic, tp.partition) for tp in self._consumer.assignment()}

    def run(self, stop: threading.Event) -> None:
        """Poll until `stop` is set, then close; a failed batch is retried with a growing pause."""
        backoff_ms = 100
        try:
            while not stop.is_set():
                try:
                    self.poll_once()
                except Exception:  # the batch was rewound: whatever failed, it is tried again
                    log.exception("inbound batch failed; retrying in %d ms", backoff_ms)
                    self.counters.add("inbound_retries_total")
                    stop.wait(backoff_ms / 1000)
                    backoff_ms = min(backoff_ms * 2, self.settings.kafka_max_backoff_ms)
                else:
                    backoff_ms = 100
        finally:
            self.close()

    def poll_once(self) -> int:
        """Poll one batch and see it through to the commit; answers how many messages it held."""
        polled = self._consumer.poll(timeout_ms=self.settings.kafka_poll_timeout_ms)
        self._recover_lost_join()
        messages = [_message(r) for records in polled.values() for r in records]
        if not messages:
            return 0
        try:
            verdicts = list(self.handler(messages))
            if len(verdicts) != len(messages):
                msg = f"the handler judged {len(verdicts)} of {len(messages)} messages"
                raise RuntimeError(msg)
            self._dead_letter(messages, verdicts)
            # Counted before the commit: a batch redelivered after a lost commit is counted again
            # (as duplicates), so the counts may exceed the offsets but never fall short of them.
            self._count(verdicts)
            # Asynchronous: the next poll goes out while the broker records the offsets. A commit
            # that fails only redelivers what is already stored (as duplicates); a later commit
            # covers an earlier one, and `close` commits the last offsets and waits.
            self._uncommitted = _next_offsets(messages)
            self._consumer.commit_async(self._uncommitted, callback=self._committed)
        except Exception:
            self._rewind(messages)
            raise
        return len(messages)

    def _count(self, verdicts: Sequence[Verdict]) -> None:
        self.counters.add("inbound_consumed_total", len(verdicts))
        for outcome in OUTCOMES:
            self.counters.add(f"inbound_{outcome}_total", sum(v.outcome == outcome for v in verdicts))

    def _committed(self, offsets: Mapping[TopicPartition, OffsetAndMetadata], result: Any) -> None:
        # A commit refused after a rebalance lands here too: the group moved on without us, and
        # whoever owns these partitions now resumes from the last commit (duplicates, no loss).
        if isinstance(result, Exception):
            self.counters.add("inbound_commit_failures_total")
            log.warning("offset commit failed (%s); those messages may come again, as duplicates", result)

    def close(self) -> None:
        try:
            if self._uncommitted:
                self._consumer.commit(self._uncommitted)
        except Exception as e:  # noqa: BLE001 - at least once: the next owner starts a little earlier
            log.warning("last offset commit failed on close (%s)", e)
        finally:
            self._consumer.close(autocommit=False)
            self._producer.close(timeout=10)

    def _dead_letter(self, messages: Sequence[Message], verdicts: Sequence[Verdict]) -> None:
        now = datetime.now(UTC)
        futures = [
            self._producer.send(
                self.settings.kafka_dead_letter_topic,
                key=m.key,
                value=dead_letter(m, v.reason or {}, now),
            )
            for m, v in zip(messages, verdicts, strict=True)
            if v.outcome == "dead_lettered"
        ]
        if futures:
            self._producer.flush(timeout=FLUSH_TIMEOUT_S)
            for future in futures:
                future.get(timeout=FLUSH_TIMEOUT_S)  # raises if the broker did not take it

    def _recover_lost_join(self) -> None:
        """Work around kafka-python 3.0.12 dropping a group join that finishes after poll() gave up.

        When new topic metadata triggers the join, nothing waits for it any more once it ends:
        the consumer holds no partitions and sends no heartbeats, for good. A join left finished
        but unapplied is that state; asking for a fresh join recovers from it.
        """
        coordinator = getattr(self._consumer, "_coordinator", None)
        task = getattr(coordinator, "_join_task", None)
        if coordinator is not None and task is not None and task.is_done and not coordinator.need_rejoin():
            log.warning("kafka-python dropped a finished group join; joining again")
            coordinator.request_rejoin()

    def _rewind(self, messages: Sequence[Message]) -> None:
        """Seek back to the batch's first offsets so that the next poll delivers it again."""
        first: dict[TopicPartition, int] = {}
        for m in messages:
            first.setdefault(TopicPartition(m.topic, m.partition), m.offset)
        assigned = self._consumer.assignment()
        for tp, offset in first.items():
            if tp in assigned:
                self._consumer.seek(tp, offset)


def _message(record: Any) -> Message:
    return Message(
        topic=record.topic,
        partition=record.partition,
        offset=record.offset,
        key=record.key,
        value=record.value if record.value is not None else b"",
        timestamp_ms=record.timestamp,
    )


def _next_offsets(messages: Sequence[Message]) -> dict[TopicPartition, OffsetAndMetadata]:
    """The offset to resume from, per partition: one past the last message of the batch."""
    last: dict[TopicPartition, int] = {}
    for m in messages:
        tp = TopicPartition(m.topic, m.partition)
        last[tp] = max(last.get(tp, -1), m.offset)
    return {tp: OffsetAndMetadata(offset + 1, "", -1) for tp, offset in last.items()}
