"""What the recipes share: the service's settings on a recipe's schema, traject processes to start
and kill, PostgreSQL to crash and start again, and the stored events to check a record against."""

from __future__ import annotations

import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any
from uuid import UUID

import orjson
import psycopg

from api.auth import TokenCodec
from infra.container import Container, build
from infra.settings import Settings
from reliability.recipe import Env
from services.caseload import TEAMS

REPO = Path(__file__).resolve().parent.parent
JWT_SECRET = "reliability-jwt-secret-of-sufficient-length-0123456789"  # noqa: S105 - a throwaway server's
PSEUDONYM_KEY = "reliability-pseudonym-key"
TEAM = "noord"


def settings(env: Env, schema: str, **overrides: Any) -> Settings:
    """The service's settings on one recipe's schema (what TRAJECT_* would say to a process)."""
    values: dict[str, Any] = {
        "store": "postgres",
        "database_url": env.pg_url,
        "pg_schema": schema,
        "data_dir": env.work / "var",
        "jwt_secret": JWT_SECRET,
        "pseudonym_key": PSEUDONYM_KEY,
        # Registered at every start: the demo caseload's teams (TEAM among them).
        "teams": ",".join(f"{t}:Team {t.capitalize()}" for t in TEAMS),
    }
    return Settings(**(values | overrides))


def process_env(config: Settings) -> dict[str, str]:
    """The environment that gives a `traject` process these settings (and nothing of ours)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("TRAJECT_") and k != "PORT"}
    for key, value in config.model_dump().items():
        if value not in (None, ""):
            env["PORT" if key == "port" else f"TRAJECT_{key.upper()}"] = str(value)
    return env


@contextmanager
def container(env: Env, schema: str, **overrides: Any) -> Iterator[Container]:
    c = build(settings(env, schema, **overrides))
    try:
        yield c
    finally:
        c.close()


def drop_schema(env: Env, schema: str) -> None:
    with psycopg.connect(env.pg_url, autocommit=True) as conn:
        conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')


def token(role: str = "caseworker", *teams: str) -> str:
    return TokenCodec(JWT_SECRET.encode(), "HS256", "traject").issue(
        "reliability", role, teams or (TEAM,), 120
    )


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def rss_mb(pid: int) -> float | None:
    """A live process's resident memory now (VmRSS), in MiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except OSError:
        return None
    return None


# --- traject processes -----------------------------------------------------------------------------


PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here: the child only calls it


def die_with_parent() -> None:
    """In a child, before exec: the kernel SIGKILLs it when the thread that started it ends (the
    suite's main thread), however the suite ends: no traject process outlives a killed suite."""
    _prctl(PR_SET_PDEATHSIG, signal.SIGKILL)


class Traject:
    """One `traject ...` child process, restartable, its output appended to a log file."""

    def __init__(self, args: list[str], config: Settings, log: Path) -> None:
        self.args = args
        self.env = process_env(config)
        self.log_path = log
        self.proc: subprocess.Popen[bytes] | None = None
        self._log: IO[bytes] | None = None
        self.starts = 0

    def start(self) -> subprocess.Popen[bytes]:
        self._log = self.log_path.open("ab")
        cmd = [sys.executable, "-m", "api.cli", *self.args]
        self.proc = subprocess.Popen(
            cmd,
            env=self.env,
            cwd=REPO,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            preexec_fn=die_with_parent,  # noqa: PLW1509 - one prctl call, looked up before the fork
        )
        self.starts += 1
        return self.proc

    def kill(self) -> None:
        """SIGKILL: the process gets no chance to finish anything."""
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
        self._reap()

    def stop(self, timeout: float = 30) -> int | None:
        """SIGTERM, then SIGKILL if it has not ended within `timeout`; answers its exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.proc.kill()
        code = self.proc.wait()
        self._reap()
        return code

    def _reap(self) -> None:
        if self.proc is not None:
            self.proc.wait()
        if self._log is not None:
            self._log.close()
            self._log = None

    def tail(self, chars: int = 2000) -> str:
        return self.log_path.read_text(errors="replace")[-chars:]

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None


def wait_http(proc: Traject, url: str, timeout: float = 60) -> None:
    """Wait until `url` answers 200 from the process; fail with its log if it ended or never did."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not proc.alive():
            msg = f"traject {proc.args[0]} ended before it was ready:\n{proc.tail()}"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(url, timeout=2) as answer:  # noqa: S310 - our loopback URL
                if answer.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.05)
    msg = f"traject {proc.args[0]} not ready at {url} within {timeout:.0f}s:\n{proc.tail()}"
    raise RuntimeError(msg)


def wait_log(proc: Traject, text: str, timeout: float = 60) -> None:
    """Wait until the process's log (since its last start) says `text`."""
    start = proc.log_path.stat().st_size if proc.log_path.exists() else 0
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with proc.log_path.open("rb") as f:
            f.seek(start)
            if text.encode() in f.read():
                return
        if not proc.alive():
            msg = f"traject {proc.args[0]} ended before saying {text!r}:\n{proc.tail()}"
            raise RuntimeError(msg)
        time.sleep(0.02)
    msg = f"traject {proc.args[0]} did not say {text!r} within {timeout:.0f}s:\n{proc.tail()}"
    raise RuntimeError(msg)


# --- PostgreSQL: crash it, start it again ------------------------------------------------------------


def _pg_bin() -> Path:
    found = sorted(Path("/usr/lib/postgresql").glob("*/bin/pg_ctl"), key=lambda p: int(p.parts[-3]))
    if found:
        return found[-1].parent
    pg_config = subprocess.run(["pg_config", "--bindir"], capture_output=True, text=True, check=True)
    return Path(pg_config.stdout.strip())


def _pg_data(env: Env) -> Path:
    recorded = env.pg_dir / "pgdata"  # infra/pg/pg.sh writes where it put the data
    return Path(recorded.read_text().strip()) if recorded.exists() else env.pg_dir / "data"


def _as_owner(data: Path, cmd: list[str]) -> list[str]:
    """The command as the cluster's owner (PostgreSQL refuses to run as root)."""
    if os.geteuid() != 0:
        return cmd
    owner = data.owner()
    return ["runuser", "-u", owner, "--", *cmd]


def crash_postgres(env: Env) -> None:
    """`pg_ctl stop -m immediate`: every server process quits at once, without a checkpoint; the
    next start recovers from the write-ahead log (the OS page cache survives: not a power loss)."""
    data = _pg_data(env)
    cmd = [str(_pg_bin() / "pg_ctl"), "stop", "-D", str(data), "-m", "immediate", "-w", "-t", "30", "-s"]
    subprocess.run(_as_owner(data, cmd), cwd="/", check=True, capture_output=True)


def start_postgres(env: Env) -> None:
    """Start the server again on the same data and port; answers once it accepts connections."""
    data = _pg_data(env)
    log = data.parent / "postgres.log"  # where pg.sh logs: beside the data, which its owner can reach
    cmd = [str(_pg_bin() / "pg_ctl"), "start", "-D", str(data), "-l", str(log), "-w", "-t", "60", "-s"]
    done = subprocess.run(_as_owner(data, cmd), cwd="/", capture_output=True, text=True, check=False)
    if done.returncode != 0:
        msg = f"PostgreSQL did not start again: {done.stderr or done.stdout}"
        raise RuntimeError(msg)
    deadline = time.monotonic() + 60
    while True:
        try:
            with psycopg.connect(env.pg_url, connect_timeout=2) as conn:
                conn.execute("SELECT 1")
            return
        except psycopg.OperationalError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.1)


# --- the stored events, to check a record against ---------------------------------------------------


@dataclass(frozen=True)
class Stored:
    journey_id: UUID
    version: int
    event_id: UUID
    position: int


def stored_events(env: Env, schema: str) -> list[Stored]:
    """Every event in the schema's log, read straight from the table, in position order."""
    with psycopg.connect(env.pg_url) as conn:
        table = conn.execute(
            "SELECT table_name FROM information_schema.columns WHERE table_schema = %s "
            "AND column_name IN ('originator_version', 'notification_id') "
            "GROUP BY table_name HAVING count(*) = 2",
            (schema,),
        ).fetchone()
        if table is None:
            return []
        rows = conn.execute(
            f'SELECT originator_id, originator_version, state, notification_id FROM "{schema}"."{table[0]}" '  # noqa: S608
            "ORDER BY notification_id"
        ).fetchall()
    return [Stored(UUID(str(j)), int(v), UUID(orjson.loads(s)["event_id"]), int(p)) for j, v, s, p in rows]


def version_gaps(events: Iterable[Stored]) -> list[str]:
    """Each journey whose versions are not 1, 2, ... n, in words."""
    versions: dict[UUID, list[int]] = {}
    for e in events:
        versions.setdefault(e.journey_id, []).append(e.version)
    return [
        f"journey {j} has versions {sorted(vs)[:10]}..., not 1..{len(vs)}"
        for j, vs in versions.items()
        if sorted(vs) != list(range(1, len(vs) + 1))
    ]


def repeated_event_ids(events: Iterable[Stored]) -> list[UUID]:
    """Event ids stored more than once (an idempotency key must be stored at most once)."""
    return [e for e, n in Counter(e.event_id for e in events).items() if n > 1]
