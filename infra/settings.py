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

    # The mirror (docs/outcomes.md).
    projections: Literal["inline", "worker"] = "inline"  # inline: this process keeps views current
    projection_batch: int = 500  # events folded and committed per transaction
    small_cell_k: int = 5  # counts 1..k-1 are suppressed outside the team
    sustained_months: int = 6  # an exit is sustained when work did not end within this many months

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
    access_log: bool = False  # uvicorn's line per request
    aggregate_cache_size: int = 10_000

    # Kafka (docs/kafka.md): off while kafka_bootstrap is empty.
    kafka_bootstrap: str = ""  # host:port[,host:port...]
    kafka_client_id: str = "traject"
    kafka_group: str = "traject"  # the consumer group that reads the inbound topic
    kafka_inbound_topic: str = "traject.inbound-events"
    kafka_dead_letter_topic: str = "traject.inbound-events.dead-letter"
    kafka_outbound_topic: str = "traject.events"  # the plain form
    kafka_notificaties_topic: str = "traject.notificaties"  # the VNG Notificaties form
    kafka_outbound_form: Literal["plain", "notificaties", "both"] = "plain"
    kafka_kanaal: str = "trajecten"  # `kanaal` of the Notificaties form
    kafka_poll_records: int = 500  # the most messages stored in one transaction
    kafka_poll_timeout_ms: int = 1000
    kafka_session_timeout_ms: int = 45_000
    kafka_relay_batch: int = 500
    kafka_idle_ms: int = 500  # how long the relay waits when nothing new was recorded
    kafka_max_backoff_ms: int = 10_000  # the longest wait before retrying a failed batch
    public_base_url: str = "http://127.0.0.1:8000"  # where notification links point
    worker_metrics_port: int = 0  # the worker's /metrics port; 0 means none

    # The municipality's teams (infra/teams.py), registered at every start: `slug[:name]`, comma-separated.
    teams: str = ""

    # Edges, continued (docs/api.md, "Limits").
    token_max_lifetime_minutes: int = 24 * 60  # longer-lived tokens are refused, and never issued
    header_timeout_seconds: float = 10.0  # a request head must arrive within this, or the connection closes
    body_timeout_seconds: float = 30.0  # a request body must arrive within this after its head (408)

    # Readers waiting for a position (`min_position`, docs/outcomes.md); beyond these, 503.
    position_waiters: int = Field(default=256, ge=1)  # waiting at once in this process
    position_waiters_per_caller: int = Field(default=8, ge=1)  # of them, by one token subject

    @property
    def sqlite_file(self) -> Path:
        return self.sqlite_path or self.data_dir / "traject.db"
