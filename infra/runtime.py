"""Process-wide settings every traject process starts with (the CLI and the benchmark's processes)."""

from __future__ import annotations

import gc

# Collect the youngest generation after 50,000 net allocations instead of 700, and the oldest far
# less often: recording an event allocates many short-lived objects that reference counting frees
# at once, while every full collection walks all cached journeys. Measured on W2 (batch ingest):
# the default thresholds spent ~17% of the CPU in the collector, these ~1%.
THRESHOLDS = (50_000, 20, 100)


def tune_gc() -> None:
    """Fewer, later garbage collections; what is alive at start (modules, schemas) is frozen out of them."""
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
