"""The runner keeps the folds it committed, and trusts them only while the view stands where its
own last commit left it: another runner's commit, a rebuild's swap or a failed batch drop them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from uuid import UUID, uuid4

import pytest

from domain.journey import Provenance
from infra.container import Container
from infra.projection_runner import MirrorRunner, rebuild
from infra.views import MirrorView, StaleBatch
from projections.mirror import JourneyFold, Key
from services.commands import RecordStep, VoidEntry
from tests.projections.test_mirror_rebuild import clean, folds
from tests.projections.test_mirror_view import counts, load


def step_on(container: Container, journeys: list[UUID], rung: int) -> None:
    """One more fact on each journey: a step, backdated to its start (it changes every month)."""
    for journey_id in journeys:
        journey = container.journeys.journey(journey_id)
        by = Provenance(uuid4(), "cw", "caseworker", container.today())
        container.journeys.record(journey_id, RecordStep(rung, journey.start_date), by)


def void_a_step(container: Container, journeys: list[UUID]) -> None:
    for journey_id in journeys:
        journey = container.journeys.journey(journey_id)
        steps = [
            v
            for v, e in journey.entries.items()
            if e.kind == "LadderStepRecorded" and v not in journey.voided
        ]
        if steps:
            by = Provenance(uuid4(), "cw", "caseworker", container.today())
            container.journeys.record(journey_id, VoidEntry(steps[-1], "wrong"), by)


def assert_equals_a_clean_fold(view: MirrorView, container: Container) -> None:
    reference = clean(container)
    assert counts(view) == counts(reference)
    assert folds(view) == folds(reference)


def test_a_runner_keeping_folds_across_many_batches_ends_as_a_clean_fold(container: Container) -> None:
    ids = sorted(load(container, 30))
    runner = MirrorRunner(container.journeys, container.mirror.view, batch_size=5, cache_size=8)
    runner.catch_up()
    for rung in (2, 5):
        step_on(container, ids[:12], rung)
        runner.catch_up()
    void_a_step(container, ids[:6])
    runner.catch_up()
    assert runner._kept, "the runner kept nothing"
    assert len(runner._kept) <= 8
    assert_equals_a_clean_fold(container.mirror.view, container)


def test_a_second_runner_committing_in_between_makes_the_first_read_the_folds_again(
    container: Container,
) -> None:
    """As a second process would: it shares the view, not the first runner's memory."""
    ids = sorted(load(container, 10))
    first = MirrorRunner(container.journeys, container.mirror.view, batch_size=1000)
    second = MirrorRunner(container.journeys, container.mirror.view, batch_size=1000)
    first.catch_up()
    assert set(ids) <= set(first._kept)
    step_on(container, ids, 6)
    assert second.catch_up() == len(ids)  # the view's folds of these journeys move on; first's do not
    step_on(container, ids, 1)
    assert first.catch_up() == len(ids)
    assert_equals_a_clean_fold(container.mirror.view, container)


def test_a_rebuild_swapped_in_between_makes_the_runner_read_the_folds_again(container: Container) -> None:
    ids = sorted(load(container, 10))
    runner = MirrorRunner(container.journeys, container.mirror.view, batch_size=1000)
    runner.catch_up()
    step_on(container, ids, 6)
    rebuild(container.journeys, container.mirror.view)  # also takes the step, in fresh tables
    step_on(container, ids, 2)
    runner.catch_up()
    assert_equals_a_clean_fold(container.mirror.view, container)


def test_a_copy_swapped_in_behind_the_runner_is_projected_forward_with_nothing_new_written(
    container: Container,
) -> None:
    load(container, 10)
    runner = MirrorRunner(container.journeys, container.mirror.view, batch_size=1000)
    runner.catch_up()
    head = container.head_position()
    behind = MirrorView(container.journeys.recorder, name="behind")
    MirrorRunner(container.journeys, behind, batch_size=head // 2).step()  # half the log
    behind.swap_into(container.mirror.view)
    assert container.mirror.view.position() < head
    assert runner.catch_up() > 0  # not "caught up" at the position it remembers
    assert container.mirror.view.position() == head
    assert_equals_a_clean_fold(container.mirror.view, container)


class FailingCommits(MirrorView):
    """A view whose next commits fail as if another runner had moved it, after the batch was folded."""

    failures = 0

    def commit(
        self, start: tuple[int, int], end: int, delta: Mapping[Key, int], touched: dict[UUID, JourneyFold]
    ) -> None:
        if self.failures:
            self.failures -= 1
            raise StaleBatch("as if another runner had committed first")
        super().commit(start, end, delta, touched)


@pytest.mark.parametrize("failures", [1, 2])
def test_a_batch_whose_commit_fails_is_folded_again_from_the_view_not_from_memory(
    container: Container, failures: int
) -> None:
    """The first try goes on from where the runner left the view; a second reads where it stands."""
    ids = sorted(load(container, 10))
    view = FailingCommits(container.journeys.recorder)
    runner = MirrorRunner(container.journeys, view, batch_size=1000)
    runner.catch_up()
    step_on(container, ids, 6)
    view.failures = failures  # each failed try has folded the step into the kept folds
    if failures == 2:
        with pytest.raises(StaleBatch):
            runner.step()
    assert runner.catch_up() == len(ids)  # the same batch again: it must count once, not twice
    assert_equals_a_clean_fold(view, container)


def test_the_kept_folds_hold_no_client_reference(container: Container) -> None:
    load(container, 3)
    runner = MirrorRunner(container.journeys, container.mirror.view)
    runner.catch_up()
    facts: list[Any] = [e.facts for fold in runner._kept.values() for e in fold.entries.values()]
    assert facts
    assert not any("client_ref" in f for f in facts)
