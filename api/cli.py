"""The `traject` command: serve, token, demo, worker, projections, teams."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Sequence
from typing import Any

from api.auth import ROLES, TokenCodec
from domain.teams import InvalidTeamError, team_slug
from infra.container import Container, build
from infra.runtime import tune_gc
from infra.settings import Settings


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="traject", description=__doc__)
    sub = parser.add_subparsers(dest="command", required=True)

    serve = sub.add_parser("serve", help="run the HTTP API (the main job)")
    serve.add_argument("--host")
    serve.add_argument("--port", type=int)

    token = sub.add_parser("token", help="print a bearer token signed with the configured secret")
    token.add_argument("--role", choices=ROLES, required=True)
    token.add_argument("--team", action="append", default=[], help="repeat for several teams")
    token.add_argument("--subject", default="dev-user")
    token.add_argument("--minutes", type=int)

    demo = sub.add_parser("demo", help="load a synthetic caseload (no real person in it)")
    demo.add_argument("--journeys", type=int, default=600)
    demo.add_argument("--seed", type=int, default=7)

    sub.add_parser("worker", help="keep the views current, and run Kafka in and out when configured")

    projections = sub.add_parser("projections", help="operate the read-side views")
    projections.add_argument("action", choices=["rebuild", "status"])
    projections.add_argument("name", choices=["mirror"])

    _teams_parser(sub)

    args = parser.parse_args(argv)
    tune_gc()
    settings = Settings()
    if args.command == "serve":
        return _serve(settings, args.host, args.port)
    if args.command == "token":
        return _token(settings, args.role, args.team, args.subject, args.minutes)
    if args.command == "worker":
        return _worker(settings)
    if args.command == "projections":
        return _projections(settings, args.action)
    if args.command == "teams":
        return _teams(settings, args)
    return _demo(settings, args.journeys, args.seed)


def _worker(settings: Settings) -> int:
    import logging
    import signal
    import threading

    from api.ingest import Ingest
    from infra.worker import run_worker

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    logging.getLogger("kafka").setLevel(logging.WARNING)  # kafka-python is chatty at INFO
    container = build(settings)
    stop = threading.Event()
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: stop.set())
    print(f"traject worker: projections from position {container.mirror.view.position()}", flush=True)
    try:
        run_worker(
            settings,
            container.journeys,
            Ingest(container.journeys, container.today),
            stop,
            more=[container.mirror],
        )
    finally:
        container.close()
    return 1 if container.mirror.failure else 0


def _projections(settings: Settings, action: str) -> int:
    from infra.projection_runner import rebuild

    container = build(settings)
    try:
        view = container.mirror.view
        if action == "rebuild":
            done = rebuild(container.journeys, view)
            print(f"rebuilt mirror from {done} events; now at position {view.position()}")
        head = container.head_position()
        failure = view.failure()
        print(f"mirror: position {view.position()} of {head} (lag {head - view.position()})")
        if failure:
            print(f"mirror STOPPED: {failure}", file=sys.stderr)
            return 1
    finally:
        container.close()
    return 0


def _serve(settings: Settings, host: str | None, port: int | None) -> int:
    import uvicorn

    from api.app import create_app
    from api.server import config

    container = build(settings)
    host, port = host or settings.host, port or settings.port
    where = settings.sqlite_file if settings.store == "sqlite" else "PostgreSQL"
    print(f"traject on http://{host}:{port}  (store: {where}; API docs: /v1/docs)", flush=True)
    try:
        app = create_app(container)
        server = uvicorn.Server(config(app, host, port, settings))
        server.run()
    finally:
        container.close()
    return 0 if server.started else 3  # as uvicorn.run exits when it could not start


def _token(settings: Settings, role: str, teams: list[str], subject: str, minutes: int | None) -> int:
    if settings.jwt_public_key:
        print(
            "tokens are verified with a public key here; issue them with your identity provider",
            file=sys.stderr,
        )
        return 2
    container = build(settings)
    try:
        slugs = _registered(container, teams)
        if slugs is None:
            return 2
        codec = TokenCodec(
            container.jwt_key,
            settings.jwt_algorithm,
            settings.jwt_issuer,
            settings.token_max_lifetime_minutes,
        )
        print(codec.issue(subject, role, slugs, minutes or settings.token_ttl_minutes))
    except ValueError as e:
        print(f"traject token: {e}", file=sys.stderr)
        return 2
    finally:
        container.close()
    return 0


def _demo(settings: Settings, journeys: int, seed: int) -> int:
    from services.caseload import TEAMS, caseload

    container = build(settings)
    try:
        for team in TEAMS:  # synthetic teams for the synthetic caseload; a name given before stays
            if not container.teams.known(team):
                container.teams.add(team, f"Team {team.capitalize()}")
        written = 0
        batch = []
        for items in caseload(journeys=journeys, today=container.today(), seed=seed):
            batch.extend(items)
            if len(batch) >= 500:
                written += len(container.journeys.record_batch(batch))
                batch = []
        if batch:
            written += len(container.journeys.record_batch(batch))
        print(f"recorded {written} events for {journeys} journeys (seed {seed})")
    finally:
        container.close()
    return 0


def _teams_parser(sub: Any) -> None:
    teams = sub.add_parser("teams", help="the municipality's teams: journeys and tokens name only these")
    action = teams.add_subparsers(dest="action", required=True)
    add = action.add_parser("add", help="register a team, or rename one (its slug stays)")
    add.add_argument("slug", help="1 to 40 of a-z, 0-9 and inner hyphens, e.g. noord")
    add.add_argument("--name", default="", help='what people call it, e.g. "Team Noord"')
    action.add_parser("list", help="the registered teams")
    action.add_parser(
        "adopt", help="register the teams journeys already hold (a store from before the registry)"
    )


def _teams(settings: Settings, args: argparse.Namespace) -> int:
    from infra.teams import InvalidTeamName

    container = build(settings)
    try:
        teams = container.teams
        if args.action == "add":
            try:
                team = teams.add(args.slug, args.name)
            except (InvalidTeamError, InvalidTeamName) as e:
                print(f"traject teams add: {e}", file=sys.stderr)
                return 2
            print(f"{team.slug}\t{team.name}")
        elif args.action == "list":
            for team in teams.all():
                print(f"{team.slug}\t{team.name}")
        else:
            head, position = container.head_position(), container.mirror.view.position()
            if position < head:  # the teams in use are read from the mirror
                print(f"the mirror is at {position} of {head}: let it catch up first", file=sys.stderr)
                return 1
            adoption = teams.adopt(container.mirror.view.teams())
            for slug in adoption.added:
                print(f"registered {slug}")
            for name, why in adoption.refused.items():
                print(f"not registered {name!r}: {why}", file=sys.stderr)
            return 1 if adoption.refused else 0
    finally:
        container.close()
    return 0


def _registered(container: Container, teams: list[str]) -> list[str] | None:
    """The teams as registered slugs; None, having said why, if one is not a registered team."""
    slugs = []
    for name in teams:
        try:
            slug = team_slug(name)
        except InvalidTeamError as e:
            print(f"--team {name!r}: {e}", file=sys.stderr)
            return None
        if not container.teams.known(slug):
            print(
                f"--team {slug}: not a team here; register it with `traject teams add {slug}`",
                file=sys.stderr,
            )
            return None
        slugs.append(slug)
    return slugs


if __name__ == "__main__":
    sys.exit(main())
