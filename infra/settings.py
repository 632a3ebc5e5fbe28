"""One door for configuration: every setting is read here, once, from TRAJECT_* variables."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import AliasChoices, Field
from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="TRAJECT_", env_file=None, extra="ignore")

    # Where events live. "sqlite" is the embedded default; "postgres" is production.
    store: Literal["sqlite", "postgres"] = "sqlite"
    data_dir: Path = Path("var")
    sqlite_path: Path | None = None  # default: <data_dir>/traject.db
    database_url: str = ""  # postgresql://user:password@host:port/dbname
    pg_schema: str = ""  # PostgreSQL schema; empty means the user's default (public)
    pg_pool_size: int = 10

    # Whose data this is.
    municipality: str = "Amersfoort"
    timezone: str = "Europe/Amsterdam"  # the calendar "today" is judged in
    pseudonym_key: str = ""  # HMAC key for client references; generated under data_dir if empty

    # Who may call.
    jwt_secret: str = ""  # HS256 secret; generated under data_dir if empty (embedded only)
    jwt_public_key: str = ""  # PEM; when set, tokens are RS256/ES256 and verified with it
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "traject"
    token_ttl_minutes: int = 8 * 60

    # Edges.
    host: str = "127.0.0.1"
    port: int = Field(default=8000, validation_alias=AliasChoices("PORT", "TRAJECT_PORT"))
    max_body_bytes: int = 1_048_576
    aggregate_cache_size: int = 10_000

    @property
    def sqlite_file(self) -> Path:
        return self.sqlite_path or self.data_dir / "traject.db"
