"""HTTP rows' plumbing: the load generator (wrk, a separate C process) and the server process.

The server and the load generator are separate processes from the worker that drives them, so
neither shares the Python interpreter (or its GIL) with the other.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import time
import urllib.request
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from bench.core import Ctx, Sample

LUA = Path(__file__).with_name("wrk.lua")
REPO = Path(__file__).resolve().parent.parent
MAX_ERROR_SHARE = 0.01


class Unavailable(Exception):
    """The load generator is missing and could not be installed."""


def ensure_wrk() -> str:
    """The path of wrk, installing Debian's package when it is missing (the suite runs as root in CI)."""
    found = shutil.which("wrk")
    if found:
        return found
    apt = shutil.which("apt-get")
    if apt is None or os.geteuid() != 0:
        msg = (
            "wrk is not installed and cannot be installed here (needs root and apt-get: apt-get install wrk)"
        )
        raise Unavailable(msg)
    env = os.environ | {"DEBIAN_FRONTEND": "noninteractive"}
    install = [apt, "install", "-y", "-q", "--no-install-recommends", "wrk"]
    if subprocess.run(install, env=env, capture_output=True, check=False).returncode != 0:
        subprocess.run([apt, "update", "-q"], env=env, capture_output=True, check=False)
        done = subprocess.run(install, env=env, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            tail = (done.stderr or done.stdout).strip().splitlines()[-1:] or ["?"]
            msg = f"apt-get install wrk failed: {tail[0]}"
            raise Unavailable(msg)
    found = shutil.which("wrk")
    if not found:
        msg = "wrk was installed but is not on PATH"
        raise Unavailable(msg)
    return found


def wrk_version(path: str) -> str:
    out = subprocess.run([path, "--version"], capture_output=True, text=True, check=False)
    first = (out.stdout or out.stderr).strip().splitlines()[:1]
    return first[0].split(" Copyright")[0] if first else "wrk"


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def peak_rss_mb(pid: int) -> float | None:
    """A live process's peak resident memory (VmHWM), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


def profiled(ctx: Ctx, cmd: Sequence[str], name: str) -> tuple[list[str], Path | None]:
    """Under --profile, a `python -m MODULE ...` command run by bench.profserve (every thread profiled)."""
    if not ctx.profile or len(cmd) < 3 or cmd[1] != "-m":
        return list(cmd), None
    out = ctx.work_dir / f"{name}.pstats"
    return [cmd[0], "-m", "bench.profserve", str(out), *cmd[2:]], out


def profile_from_here(ctx: Ctx, pid: int) -> None:
    """Under --profile, a process run by `profiled` forgets its start-up: its profile covers the runs."""
    if ctx.profile:
        os.kill(pid, signal.SIGUSR1)


def report_profile(out: Path | None, title: str) -> None:
    if out is not None and out.exists():
        from bench.profserve import print_stats

        print_stats(str(out), title)


@contextmanager
def server(ctx: Ctx, cmd: Sequence[str], env: dict[str, str], ready_url: str) -> Iterator[int]:
    """Run a server process until the block ends; yields its pid. Its output goes to a log file.

    Under --profile the server runs under cProfile in every thread; its profile goes to the log.
    """
    log_path = ctx.work_dir / "server.log"
    cmd, profile = profiled(ctx, cmd, "server")
    with log_path.open("wb") as log:
        proc = subprocess.Popen(list(cmd), env=env, cwd=REPO, stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_ready(proc, ready_url, log_path)
            yield proc.pid
            peak = peak_rss_mb(proc.pid)
            if peak is not None:
                ctx.notes["server_peak_rss_mb"] = round(peak, 1)
        finally:
            stop(proc)
    report_profile(profile, "the server process")


def _wait_ready(proc: subprocess.Popen[bytes], url: str, log_path: Path, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-2000:]
            msg = f"server exited with {proc.returncode} before it was ready:\n{tail}"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our own loopback URL
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.1)
    msg = f"server not ready at {url} within {timeout:.0f}s"
    raise RuntimeError(msg)


def wrk(
    ctx: Ctx, url: str, args: Sequence[str], *, seconds: float | None = None, expect: int = 200
) -> Sample:
    """One load-generator run; requests/s counts only responses with the expected status.

    A run where more than 1% of requests fail (socket errors or another status) is an error, not a number.
    """
    wrk_path = shutil.which("wrk")
    if wrk_path is None:
        msg = "wrk is not installed"
        raise Unavailable(msg)
    duration = max(1, round(seconds if seconds is not None else ctx.http_seconds))
    cmd = [
        wrk_path,
        "-t1",
        f"-c{ctx.connections}",
        f"-d{duration}s",
        "--timeout",
        "10s",
        "-s",
        str(LUA),
        url,
        "--",
        *args,
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, timeout=duration + 60, check=False)
    line = next((ln for ln in done.stdout.splitlines() if ln.startswith("BENCH-JSON ")), None)
    if done.returncode != 0 or line is None:
        msg = f"wrk failed ({done.returncode}): {done.stderr.strip() or done.stdout.strip()}"
        raise RuntimeError(msg)
    report = json.loads(line.removeprefix("BENCH-JSON "))
    requests = int(report["requests"])
    good = int(report["statuses"].get(str(expect), 0))
    socket_errors = sum(int(v) for k, v in report["errors"].items() if k != "status")
    bad = requests - good + socket_errors
    if requests == 0 or bad > MAX_ERROR_SHARE * requests:
        msg = (
            f"{bad} of {requests} requests failed (statuses {report['statuses']}, errors {report['errors']})"
        )
        raise RuntimeError(msg)
    elapsed = int(report["duration_us"]) / 1e6
    return Sample(
        good / elapsed,
        {
            "p50_ms": int(report["p50_us"]) / 1000,
            "p90_ms": int(report["p90_us"]) / 1000,
            "p99_ms": int(report["p99_us"]) / 1000,
            "max_ms": int(report["max_us"]) / 1000,
            "failed": float(bad),
            "units": float(good),
        },
    )


def stop(proc: subprocess.Popen[bytes]) -> None:
    """Ask a child process to end; kill it if it has not within 30 s."""
    proc.terminate()
    try:
        proc.wait(timeout=30)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait()
