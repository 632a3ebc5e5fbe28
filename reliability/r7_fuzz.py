"""R7: fuzz the API from its own OpenAPI document, as every role, on SQLite and on PostgreSQL.

`traject serve` runs as users run it (uvicorn on a real socket, a fresh store); the schemathesis
command line reads `/v1/openapi.json` and sends what it generates: the document's edge values
(coverage), random valid and invalid input (fuzzing), and chains of calls that follow the links it
infers between operations (stateful). Every response is checked: no 5xx, a documented status code,
a documented content type and headers, a body that matches the documented schema, and a method the
path does not have answered 405 with an `Allow` header.

Callers: a caseworker and a teamlead of one team, reporting, an auditor, an admin, and no token at
all. They take turns request by request, so every operation meets every caller within one run
(a run per caller would take six times as long; tests/api walks the permission table itself).

This module is also schemathesis's hooks module (SCHEMATHESIS_HOOKS) in the fuzzing process, where
`before_call` gives each request its caller, sometimes the caller's own team (a random team name
would meet only 403s and leave the write path untested), and shortens a read-your-writes wait
(`timeout`, up to 30 s) to 50 ms, so that a run takes minutes, not hours.
"""

from __future__ import annotations

import base64
import itertools
import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.request
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from reliability.recipe import Env, Recipe, Result

ROOT = Path(__file__).resolve().parents[1]
TEAM = "noord"
CALLERS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("caseworker", (TEAM,)),
    ("teamlead", (TEAM,)),
    ("reporting", ()),
    ("auditor", ()),
    ("admin", ()),
    ("anonymous", ()),  # no token: every operation but the public ones must answer 401
)
CHECKS = (
    "not_a_server_error",
    "status_code_conformance",
    "content_type_conformance",
    "response_headers_conformance",
    "response_schema_conformance",
    "unsupported_method",  # a method the path does not have: 405, with an Allow header
    "allow_header_conformance",
)
CALLERS_ENV = "TRAJECT_R7_CALLERS"
ROLE_HEADER = "X-R7-Caller"  # names the caller in the report; the app ignores it
SHORT_WAIT = 0.05


@dataclass(frozen=True)
class Caller:
    role: str
    team: str  # "" for roles without a team
    token: str  # "" for an anonymous caller


# --- the parent: serve, fuzz, read the report ----------------------------------------------------


def run(env: Env) -> Result:
    examples = 5 if env.quick else 300
    result = Result("R7", holds=True)
    totals: Counter[str] = Counter()
    found: dict[str, list[str]] = {}  # a failure's description, and the stores it was found on
    for backend in ("sqlite", "postgres"):
        secret = secrets.token_urlsafe(32)
        with served(env, backend, secret) as base_url:
            callers = [issue(secret, role, teams) for role, teams in CALLERS]
            report = fuzz(env, base_url, callers, examples, backend)
        totals.update({f"{backend}_{k}": v for k, v in report.counts.items()})
        totals.update(report.counts)
        for failure in report.failures:
            found.setdefault(failure, []).append(backend)
        result.figures[f"{backend}_operations"] = report.operations
        result.figures[f"{backend}_seconds"] = round(report.seconds, 1)
    result.failures = [f"{' and '.join(backends)}: {failure}" for failure, backends in found.items()]
    result.figures |= dict(sorted(totals.items()))
    result.figures["examples_per_operation"] = examples
    result.holds = not result.failures
    return result


def issue(secret: str, role: str, teams: tuple[str, ...]) -> Caller:
    from api.auth import TokenCodec

    if role == "anonymous":
        return Caller(role, "", "")
    token = TokenCodec(secret.encode(), "HS256", "traject").issue(f"r7-{role}", role, teams, 120)
    return Caller(role, teams[0] if teams else "", token)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def served(env: Env, backend: str, secret: str) -> Iterator[str]:
    """`traject serve` on a fresh store of this backend, until the block ends; yields its base URL."""
    port = free_port()
    data = env.work / f"r7-{backend}-{port}"
    data.mkdir(parents=True)
    settings = {
        "TRAJECT_STORE": backend,
        "TRAJECT_DATA_DIR": str(data),
        "TRAJECT_JWT_SECRET": secret,
        "TRAJECT_PSEUDONYM_KEY": secrets.token_urlsafe(16),
        "TRAJECT_TEAMS": f"{TEAM}:Team Noord",  # the callers' team: their writes reach the write paths
    }
    if backend == "postgres":
        settings |= {"TRAJECT_DATABASE_URL": env.pg_url, "TRAJECT_PG_SCHEMA": env.schema()}
    log = (data / "serve.log").open("wb")
    server = subprocess.Popen(
        [sys.executable, "-m", "api.cli", "serve", "--host", "127.0.0.1", "--port", str(port)],
        cwd=ROOT,
        env=os.environ | settings,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    base_url = f"http://127.0.0.1:{port}"
    try:
        wait_healthy(base_url, server)
        yield base_url
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()


def wait_healthy(base_url: str, server: subprocess.Popen[bytes], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            msg = f"traject serve exited with {server.returncode} before answering"
            raise RuntimeError(msg)
        try:
            with urllib.request.urlopen(f"{base_url}/healthz", timeout=2) as response:  # noqa: S310 - http, ours
                if response.status == 200:
                    return
        except OSError:
            time.sleep(0.2)
    msg = f"traject serve did not answer at {base_url} within {timeout} s"
    raise RuntimeError(msg)


@dataclass
class Report:
    operations: int
    seconds: float
    counts: Counter[str]  # requests, by status class, by caller; failures by code
    failures: list[str]  # one line per distinct failure: check, request, response


def fuzz(env: Env, base_url: str, callers: list[Caller], examples: int, name: str) -> Report:
    """One schemathesis run against the server; its NDJSON event log is read back."""
    out = env.work / f"r7-{name}"
    out.mkdir(parents=True, exist_ok=True)
    command = [
        str(Path(sys.executable).parent / "schemathesis"),
        "run",
        f"{base_url}/v1/openapi.json",
        "--checks",
        ",".join(CHECKS),
        "--max-examples",
        str(examples),
        "--generation-deterministic",  # the same requests on every run (and no example database)
        "--workers",
        "1",  # one request at a time: the callers take turns in a fixed order
        "--continue-on-failure",
        # The quick run (`make test`) sends valid input only, edge values and random, unminimised;
        # the full run adds invalid input and chains of calls, and minimises what fails.
        *(["--mode", "positive", "--phases", "coverage,fuzzing", "--no-shrink"] if env.quick else []),
        "--request-timeout",
        "20",
        "--report",
        "ndjson,json",
        "--report-ndjson-path",
        str(out / "events.ndjson"),
        "--report-json-path",
        str(out / "report.json"),
        "--no-color",
    ]
    callers_json = json.dumps([c.__dict__ for c in callers])
    started = time.monotonic()
    with (out / "output.txt").open("wb") as output:
        subprocess.run(
            command,
            cwd=out,  # schemathesis keeps state in its working directory
            env=os.environ
            | {"SCHEMATHESIS_HOOKS": __name__, CALLERS_ENV: callers_json, "PYTHONPATH": str(ROOT)},
            stdout=output,
            stderr=subprocess.STDOUT,
            timeout=3600,
            check=False,  # failures are read from the report; the exit code only says there were some
        )
    seconds = time.monotonic() - started
    if not (out / "report.json").exists():
        tail = (out / "output.txt").read_text(errors="replace")[-2000:]
        msg = f"schemathesis did not run:\n{tail}"
        raise RuntimeError(msg)
    summary = json.loads((out / "report.json").read_text())
    counts, failures = read_events(out / "events.ndjson", base_url)
    for error in summary.get("errors", []):  # a request that got no answer at all (a timeout, a reset)
        failures.append(f"{error['title']} ×{error['count']} (see {out / 'output.txt'})")
        counts[f"errors_{error['title']}"] += error["count"]
    return Report(summary["operations"]["tested"], seconds, counts, failures)


def read_events(path: Path, base_url: str) -> tuple[Counter[str], list[str]]:
    counts: Counter[str] = Counter()
    distinct: dict[tuple[str, str, int], str] = {}
    for line in path.read_text().splitlines():
        event = json.loads(line)
        if "ScenarioFinished" not in event:
            continue
        recorder = event["ScenarioFinished"]["recorder"]
        for case_id, interaction in recorder.get("interactions", {}).items():
            request, response = interaction["request"], interaction.get("response")
            caller = (request["headers"].get(ROLE_HEADER) or ["?"])[0]
            counts["requests"] += 1
            counts[f"requests_{caller}"] += 1
            if response is None:
                continue
            counts[f"status_{response['status_code'] // 100}xx"] += 1
            for check in recorder.get("checks", {}).get(case_id, []):
                if check["status"] != "failure":
                    continue
                failure = check["failure_info"]["failure"]
                if busy(check, response):
                    counts["busy_503_with_retry_after"] += 1
                    continue
                counts[f"failures_{failure['code']}"] += 1
                key = (failure["code"], failure["operation"], response["status_code"])
                if key not in distinct:
                    distinct[key] = describe(failure, request, response, caller, base_url)
    return counts, list(distinct.values())


def busy(check: dict[str, Any], response: dict[str, Any]) -> bool:
    """A declared 503 that says when to ask again (the mirror catching up with a read-your-writes
    wait, or a store without a free connection) is the service's documented answer, not a crash."""
    headers = {k.lower() for k in response.get("headers") or {}}
    name = check.get("name", "")
    return response["status_code"] == 503 and "retry-after" in headers and name == "not_a_server_error"


def describe(
    failure: dict[str, Any], request: dict[str, Any], response: dict[str, Any], caller: str, base_url: str
) -> str:
    content = response.get("content") or {}
    body = base64.b64decode(content["$base64"]).decode(errors="replace") if "$base64" in content else ""
    message = " ".join(failure["message"].split())
    uri = request["uri"].removeprefix(base_url)
    return (
        f"{failure['code']} {failure['title']} in {failure['operation']} ({message}): "
        f"{caller} {request['method']} {uri} -> {response['status_code']} {body[:300]}"
    )


RECIPE = Recipe(
    name="R7",
    fault="the API fuzzed from its OpenAPI document (schemathesis: edge values, random valid and "
    "invalid input, chains of calls) as every role and without a token, on SQLite and on PostgreSQL",
    must_hold="no 5xx; every response's status code, content type, headers and body as the OpenAPI "
    "document declares them; an undeclared method answered 405 with `Allow`",
    run=run,
    proves="what the generator reaches answers in the documented way: bad input of every shape the "
    "document allows a client to send gets a documented 4xx, never a 500, on both stores and for every "
    "caller; a client generated from the document can rely on it",
    does_not_prove="correctness of the answers (a well-formed wrong figure passes; the oracle and property "
    "tests check those); input the generator did not reach in its bounded examples; load, concurrency "
    "or timing; requests that do not follow the document's shapes beyond what schemathesis's negative "
    "mode builds (raw bytes, oversized bodies, slow clients); read-your-writes waits longer than 50 ms",
)


# --- the child: schemathesis's hooks, active only in the fuzzing process -------------------------


def _install_hooks() -> None:
    import schemathesis

    callers = [Caller(**c) for c in json.loads(os.environ[CALLERS_ENV])]
    turn = itertools.count()
    own_team = itertools.cycle((True, False))

    @schemathesis.hook
    def before_call(context: Any, case: Any, kwargs: dict[str, Any]) -> None:
        caller = callers[next(turn) % len(callers)]
        case.headers = dict(case.headers or {})
        case.headers.pop("Authorization", None)
        if caller.token:
            case.headers["Authorization"] = f"Bearer {caller.token}"
        case.headers[ROLE_HEADER] = caller.role
        if caller.team and next(own_team):
            _use_team(case, caller.team)
        _shorten_wait(case)


def _use_team(case: Any, team: str) -> None:
    """The caller's own team wherever a team is named, so the request can get past authorization."""
    if isinstance(case.path_parameters, dict) and "team" in case.path_parameters:
        case.path_parameters["team"] = team

    def walk(value: Any) -> None:
        if isinstance(value, dict):
            if isinstance(value.get("team"), str):
                value["team"] = team
            for item in value.values():
                walk(item)
        elif isinstance(value, list):
            for item in value:
                walk(item)

    walk(case.body)


def _shorten_wait(case: Any) -> None:
    """A valid `timeout` (0 < t <= 30) waits that long for a position that never comes: shorten it."""
    query = case.query if isinstance(case.query, dict) else {}
    value = query.get("timeout")
    try:
        seconds = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        return
    if SHORT_WAIT < seconds <= 30:
        query["timeout"] = SHORT_WAIT if isinstance(value, float | int) else str(SHORT_WAIT)


if os.environ.get("SCHEMATHESIS_HOOKS") == __name__ and CALLERS_ENV in os.environ:
    _install_hooks()
