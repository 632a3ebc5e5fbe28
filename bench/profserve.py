"""Run a module as `python -m MODULE ARGS...` under cProfile in EVERY thread, for `--profile` of rows
whose work happens in a server or consumer process (W3, Q1, K1).

    python -m bench.profserve OUT.pstats MODULE [ARGS...]     (SIGUSR1: start the profile afresh)

cProfile on its own sees only the thread that enabled it; a FastAPI app runs its plain-def routes
in a thread pool, so each new thread gets a profiler of its own here, and all of them are merged
into OUT.pstats when the module returns (uvicorn returns after SIGTERM). Times are each thread's
CPU time (time.thread_time), so threads waiting on locks, the database or the network add nothing:
the profile says where the process's CPU goes, which is what two cores shared three ways run out of.
"""

from __future__ import annotations

import cProfile
import pstats
import runpy
import signal
import sys
import threading
import time
from types import FrameType
from typing import Any

_profiles: list[cProfile.Profile] = []
_lock = threading.Lock()


def _start_in_thread(_frame: FrameType, _event: str, _arg: Any) -> None:
    """The first profile event in a new thread: swap this hook for a real profiler of the thread."""
    sys.setprofile(None)
    profile = cProfile.Profile(time.thread_time)
    with _lock:
        _profiles.append(profile)
    profile.enable()


def _stop(signum: int, _frame: FrameType | None) -> None:
    raise SystemExit(128 + signum)


def _reset(_signum: int, _frame: FrameType | None) -> None:
    """SIGUSR1: forget everything so far (start-up, set-up); the profile covers what follows."""
    with _lock:
        for profile in _profiles:
            profile.clear()


def main() -> int:
    out, module, *args = sys.argv[1:]
    sys.argv = [module, *args]
    # uvicorn re-raises the SIGTERM it caught once it has shut down; end then as an exit, not a kill.
    signal.signal(signal.SIGTERM, _stop)
    signal.signal(signal.SIGUSR1, _reset)
    threading.setprofile(_start_in_thread)
    main_profile = cProfile.Profile(time.thread_time)
    _profiles.append(main_profile)
    code = 0
    main_profile.enable()
    try:
        runpy.run_module(module, run_name="__main__", alter_sys=True)
    except SystemExit as e:
        code = e.code if isinstance(e.code, int) else 0
    finally:
        main_profile.disable()
        threading.setprofile(None)  # type: ignore[arg-type]
        with _lock:
            stats = pstats.Stats(*_profiles)
        stats.dump_stats(out)
    return code


def print_stats(path: str, title: str, top: int = 30) -> None:
    """The merged profile's top entries, by own time and by cumulative time, to stderr."""
    for order in ("tottime", "cumulative"):
        stats = pstats.Stats(path, stream=sys.stderr).strip_dirs().sort_stats(order)
        print(f"--- {title}: profile by {order} (all threads) ---", file=sys.stderr)
        stats.print_stats(top)


if __name__ == "__main__":
    sys.exit(main())
