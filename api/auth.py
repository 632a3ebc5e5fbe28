"""Who may call what: bearer tokens, roles, and the one table that decides.

Every route names the permission it needs in its OpenAPI entry (`x-permission`); the `Caller`
dependency reads it from the matched route and checks it against POLICY, so a route that forgets
to name one fails closed and the whole matrix can be tested from the spec.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterable
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Any

import jwt
from fastapi import Depends, Request
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer
from jwt.utils import base64url_decode
from starlette.concurrency import run_in_threadpool

from api.text import invisible
from domain.teams import InvalidTeamError, team_slug
from projections.queries import Viewer

if TYPE_CHECKING:
    from infra.teams import StoredTeams

ROLES = ("caseworker", "teamlead", "reporting", "auditor", "admin")
PUBLIC = "public"

POLICY: dict[str, frozenset[str]] = {
    PUBLIC: frozenset(ROLES),
    "journeys:write": frozenset({"caseworker"}),
    "journeys:read": frozenset({"caseworker", "auditor"}),
    "outcomes:read": frozenset({"caseworker", "teamlead", "reporting", "auditor"}),
    "events:read": frozenset({"reporting", "auditor"}),
}


class Unauthenticated(Exception):
    """No token, or one that is expired, forged or malformed."""


class Forbidden(Exception):
    """A valid caller whose role does not carry the permission."""


@dataclass(frozen=True, slots=True)
class Principal:
    subject: str
    role: str
    teams: frozenset[str]

    @property
    def scope(self) -> frozenset[str] | None:
        """The teams whose journeys this caller may touch; None means all (auditors)."""
        return None if self.role == "auditor" else self.teams


def outcome_viewer(principal: Principal) -> Viewer:
    """Whose figures a caller sees exactly: auditors all, a team's members their own, others none."""
    if principal.role == "auditor":
        return Viewer(sees_all_exact=True)
    if principal.role in ("caseworker", "teamlead"):
        return Viewer(exact_teams=principal.teams)
    return Viewer()


def needs(permission: str) -> dict[str, Any]:
    """The route's declaration of the permission it needs (goes into its OpenAPI entry)."""
    assert permission in POLICY, permission
    return {"x-permission": permission}


class TokenCodec:
    """Issues and checks bearer tokens (JWT).

    A token that checked out is remembered with its expiry, so a client that sends the same token
    on every request pays for the signature check once: the same bytes carry the same claims, and
    only the clock can make them invalid, which is checked on every use.

    Beyond PyJWT's checks a token must say when it was issued, live no longer than
    `max_lifetime_minutes`, carry its times as numbers (PyJWT also takes "1700000000"), name a
    subject that is visible text, and name no claim twice (JSON parsers keep the last one, so a
    token could read differently to another system than to us).
    """

    REMEMBERED = 4096
    MAX_LIFETIME_MINUTES = 24 * 60

    def __init__(
        self, key: bytes, algorithm: str, issuer: str, max_lifetime_minutes: int = MAX_LIFETIME_MINUTES
    ) -> None:
        self.key = key
        self.algorithm = algorithm
        self.issuer = issuer
        self.max_lifetime_minutes = max_lifetime_minutes
        self._checked: dict[str, tuple[Principal, float]] = {}

    def issue(self, subject: str, role: str, teams: Iterable[str], ttl_minutes: int) -> str:
        if role not in ROLES:
            msg = f"role must be one of {', '.join(ROLES)}"
            raise ValueError(msg)
        if ttl_minutes > self.max_lifetime_minutes:
            msg = f"a token lives at most {self.max_lifetime_minutes} minutes"
            raise ValueError(msg)
        now = int(time.time())
        claims = {
            "sub": subject,
            "role": role,
            "teams": sorted(set(teams)),
            "iss": self.issuer,
            "iat": now,
            "exp": now + ttl_minutes * 60,
        }
        return jwt.encode(claims, self.key, algorithm=self.algorithm)

    def decode(self, token: str) -> Principal:
        checked = self._checked.get(token)
        if checked is not None:
            if time.time() < checked[1]:
                return checked[0]
            self._checked.pop(token, None)
        try:
            claims = jwt.decode(
                token,
                self.key,
                algorithms=[self.algorithm],
                issuer=self.issuer,
                options={"require": ["sub", "role", "exp", "iat", "iss"]},
            )
        except jwt.PyJWTError as e:
            raise Unauthenticated(str(e)) from None
        self._check_claims(token, claims)
        role, teams = claims.get("role"), claims.get("teams", [])
        if role not in ROLES or not isinstance(teams, list):
            raise Unauthenticated("token has no valid role or teams")
        principal = Principal(str(claims["sub"]), str(role), frozenset(str(t) for t in teams))
        if len(self._checked) >= self.REMEMBERED:
            self._checked.pop(next(iter(self._checked), ""), None)  # the oldest goes
        self._checked[token] = (principal, float(claims["exp"]))
        return principal

    def _check_claims(self, token: str, claims: dict[str, Any]) -> None:
        """What PyJWT lets pass: called once the signature is known good."""
        try:
            json.loads(base64url_decode(token.split(".")[1]), object_pairs_hook=_no_duplicates)
        except ValueError as e:
            raise Unauthenticated(str(e)) from None
        for name in ("exp", "iat", "nbf"):
            value = claims.get(name, 0)
            if isinstance(value, bool) or not isinstance(value, int | float):
                raise Unauthenticated(f"the {name} claim must be a number")
        subject = claims["sub"]
        if not isinstance(subject, str) or not subject.strip() or invisible(subject) is not None:
            raise Unauthenticated("the sub claim must be visible text")
        if claims["exp"] - claims["iat"] > self.max_lifetime_minutes * 60:
            raise Unauthenticated(f"the token lives longer than {self.max_lifetime_minutes} minutes")


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result = dict(pairs)
    if len(result) != len(pairs):
        raise ValueError("the token names a claim twice")
    return result


_bearer = HTTPBearer(auto_error=False)


async def current_caller(
    request: Request,
    credentials: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
) -> Principal:
    route = request.scope.get("route")
    extra = getattr(route, "openapi_extra", None) or {}
    permission = extra.get("x-permission")
    if permission not in POLICY:
        raise Forbidden("this operation declares no permission")
    if credentials is None:
        raise Unauthenticated("a bearer token is required")
    codec: TokenCodec = request.app.state.tokens
    principal = codec.decode(credentials.credentials)
    principal = await registered_teams(principal, request.app.state.container.teams)
    if principal.role not in POLICY[permission]:
        raise Forbidden(f"the {principal.role} role may not do this")
    return principal


async def registered_teams(principal: Principal, teams: StoredTeams) -> Principal:
    """The caller with its teams as registered slugs; a token that names any other team is refused,
    `*` (the municipality's own scope in the mirror) and look-alikes included."""
    if principal.teams <= teams.cached():
        return principal
    try:
        slugs = frozenset(team_slug(t) for t in principal.teams)
    except InvalidTeamError:
        raise Unauthenticated("the token's teams claim names something that is not a team") from None
    missing = slugs - teams.cached()
    unknown = (
        await run_in_threadpool(lambda: sorted(s for s in missing if not teams.known(s))) if missing else []
    )
    if unknown:
        raise Unauthenticated(f"the municipality has no team {', '.join(unknown)}")
    return replace(principal, teams=slugs)


# async, though a team this process has not seen is looked up (in a thread): a plain def dependency
# would cost each request a threadpool hop.
Caller = Annotated[Principal, Depends(current_caller)]
