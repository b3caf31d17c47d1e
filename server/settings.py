"""Settings, read once at start from `CHORUS_*` environment variables and an optional `.env`."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Literal

from pydantic import Field, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from trainer.example import MAX_OUTPUT_CHARS

LogFormat = Literal["text", "json"]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix="CHORUS_", env_file=".env", env_file_encoding="utf-8", extra="ignore"
    )

    database_url: str = "sqlite+aiosqlite:///./chorus.db"
    db_pool_size: int = Field(10, ge=1, le=1000)
    # Bursts wait in the admission queue, not for a connection: a request admitted finds one
    # at once unless it opens more than three at a time.
    db_pool_timeout_s: float = Field(10.0, gt=0)
    # Requests an API process runs at once (resolvers.admission); unset, CHORUS_DB_POOL_SIZE:
    # the pool lends three times its size, as many as that many requests hold at once when
    # each reads with up to three sessions side by side (a token, then two root fields).
    max_active_requests: int | None = Field(None, ge=1, le=100_000)
    # How long a request waits for its turn before it is told to try again: 200 readers at
    # about 20 ms of CPU each are 4 s of one core, and 200 subscribers that join a session
    # under way and replay its log at once take several times that.
    request_queue_timeout_s: float = Field(60.0, gt=0)
    broadcast_url: str = "memory://"
    queue_url: str = "memory://"
    queue_name: str = Field("chorus-sessions", min_length=1, pattern=r"^[A-Za-z0-9._-]+$")
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    # How far `chorus serve` lowers its CPU priority (Unix nice, added to what it was started
    # with): on a host it shares with workers, their sessions keep their pace while a crowd
    # of subscribers is served, whose events wait instead.
    api_nice: int = Field(0, ge=0, le=19)
    cors_origins: Annotated[list[str], NoDecode] = Field(default_factory=list)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: LogFormat = "text"
    # A plain listener serving /metrics without a token, for a scraper inside the cluster;
    # bound to `metrics_host`, else `host`.
    metrics_port: int | None = Field(None, ge=1, le=65535)
    metrics_host: str | None = None

    teachers_file: Path | None = None
    offline_latency_ms: int = Field(300, ge=0)
    max_concurrent_examples: int = Field(8, ge=1, le=256)
    max_running_sessions_per_user: int = Field(2, ge=1)
    max_queued_sessions_per_user: int = Field(20, ge=1)
    max_output_chars: int = Field(MAX_OUTPUT_CHARS, ge=1000)
    event_retention_days: int = Field(30, ge=1)
    data_dir: Path = Path("./chorus-data")
    fine_tune_backend: Literal["export", "openai"] = "export"
    fine_tune_base_url: str | None = None
    fine_tune_api_key_env: str = "OPENAI_API_KEY"
    fine_tune_base_model: str = "gpt-4o-mini-2024-07-18"
    dashboard_dir: Path = Path("client-examples/dashboard/dist")

    worker_sessions: int = Field(4, ge=1, le=256)
    session_lease_s: float = Field(15.0, ge=1)
    max_takeovers: int = Field(3, ge=0)
    worker_shutdown_s: float = Field(30.0, gt=0)
    ws_ping_interval_s: float = Field(15.0, gt=0)
    ws_max_subscriptions: int = Field(20, ge=1)
    subscriber_buffer: int = Field(2000, ge=10)

    # How long an API process keeps a token's user before looking it up again (0: never
    # keeps it): a token revoked elsewhere still works in a process for as long.
    token_cache_s: float = Field(5.0, ge=0, le=300)

    query_depth_limit: int = Field(12, ge=2)
    query_max_tokens: int = Field(2000, ge=100)
    query_max_aliases: int = Field(30, ge=1)

    @field_validator("queue_url")
    @classmethod
    def _known_queue(cls, value: str) -> str:
        if value != "memory://" and not value.startswith(("redis://", "rediss://")):
            raise ValueError("must be memory:// or a redis:// URL")
        return value

    @model_validator(mode="after")
    def _workers_share_the_broadcast(self) -> Settings:
        # Workers publish the live events of the sessions they run; API processes can only
        # hear them over a broadcast they all share.
        if self.queue_url != "memory://" and self.broadcast_url == "memory://":
            raise ValueError(
                "CHORUS_QUEUE_URL on Redis runs sessions on `chorus worker` processes, whose "
                "live events reach the API only over a shared broadcast: set "
                "CHORUS_BROADCAST_URL to a redis:// URL too"
            )
        return self

    @property
    def active_request_limit(self) -> int:
        return self.max_active_requests or self.db_pool_size

    @property
    def embedded_worker(self) -> bool:
        """Whether `chorus serve` runs sessions itself: with the in-process queue only."""
        return self.queue_url == "memory://"

    @field_validator("cors_origins", mode="before")
    @classmethod
    def _split_origins(cls, value: object) -> object:
        if isinstance(value, str):
            return [origin.strip() for origin in value.split(",") if origin.strip()]
        return value


class SettingsError(ValueError):
    """A `CHORUS_*` variable (or `.env` line) with a value Chorus cannot use."""


def load_settings() -> Settings:
    """The settings, or a SettingsError naming each variable that is wrong and why."""
    try:
        return Settings()
    except ValidationError as error:
        problems = "; ".join(_problem(item["loc"], item["msg"]) for item in error.errors())
        raise SettingsError(f"invalid settings: {problems}") from None


def _problem(location: tuple[int | str, ...], message: str) -> str:
    """One problem, named by its variable; one between variables is its message alone."""
    if not location:
        return message.removeprefix("Value error, ")
    return f"CHORUS_{'_'.join(str(part) for part in location).upper()}: {message}"
